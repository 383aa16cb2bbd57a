//! [`NpyStream`]: a `.npy` file written a block of rows at a time, so a probe of any size keeps
//! only one chunk of its per-point arrays in memory.

use crate::error::io_err;
use crate::io::{publish, temp_beside};
use crate::{Error, Result};
use npyz::WriterBuilder;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Temporary files of the streams open in this process, for [`remove_unfinished_streams`].
static OPEN: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn open_list() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    OPEN.lock().unwrap_or_else(|p| p.into_inner())
}

/// Deletes the temporary file of every stream still open in this process and returns how many
/// there were. For an interrupt handler about to end the process (no destructors run then), so
/// an interrupted run leaves no hidden partial arrays behind. The streams must not be used after.
pub fn remove_unfinished_streams() -> usize {
    let mut open = open_list();
    for tmp in open.iter() {
        let _ = std::fs::remove_file(tmp);
    }
    std::mem::take(&mut *open).len()
}

/// A C-order f64 `.npy` file of known shape, filled row block by row block.
///
/// The data goes to a hidden temporary file next to `path`; [`NpyStream::finish`] checks that
/// every row arrived, fsyncs and renames it into place, so readers never see a partial array.
/// Dropping an unfinished stream removes the temporary file.
pub struct NpyStream {
    path: PathBuf,
    tmp: PathBuf,
    /// The open temporary file, kept for the final fsync (the writer owns a clone of it).
    file: File,
    writer: Option<npyz::NpyWriter<f64, BufWriter<File>>>,
    shape: Vec<usize>,
    row_len: usize,
    rows_written: usize,
}

impl NpyStream {
    /// Starts `path` with `shape` (the first axis counts rows); writes the header now.
    pub fn create(path: &Path, shape: &[usize]) -> Result<NpyStream> {
        let tmp = temp_beside(path, "partial")?;
        let file = File::create(&tmp).map_err(io_err(&tmp))?;
        open_list().push(tmp.clone());
        let clone = file.try_clone().map_err(io_err(&tmp))?;
        let shape_u64: Vec<u64> = shape.iter().map(|&s| s as u64).collect();
        let writer = npyz::WriteOptions::<f64>::new()
            .default_dtype()
            .shape(&shape_u64)
            .writer(BufWriter::new(clone))
            .begin_nd()
            .map_err(io_err(&tmp))?;
        Ok(NpyStream {
            path: path.to_path_buf(),
            tmp,
            file,
            writer: Some(writer),
            shape: shape.to_vec(),
            row_len: shape.iter().skip(1).product(),
            rows_written: 0,
        })
    }

    /// Appends whole rows (`data.len()` a multiple of the row length, C order). Non-finite
    /// values and rows beyond the declared shape are errors naming the file.
    pub fn append(&mut self, data: &[f64]) -> Result<()> {
        let rows = data.len().checked_div(self.row_len).unwrap_or(0);
        if rows * self.row_len != data.len() || self.rows_written + rows > self.shape.first().copied().unwrap_or(0) {
            return Err(self.shape_error(self.rows_written * self.row_len + data.len()));
        }
        if let Some(i) = data.iter().position(|x| !x.is_finite()) {
            return Err(Error::Parse {
                path: self.path.clone(),
                line: 0,
                message: format!(
                    "refusing to write non-finite value {} at flat index {}",
                    data[i],
                    self.rows_written * self.row_len + i
                ),
            });
        }
        // Always present: only `finish` (which consumes the stream) and Drop take it.
        if let Some(writer) = self.writer.as_mut() {
            writer.extend(data.iter().copied()).map_err(io_err(&self.tmp))?;
        }
        self.rows_written += rows;
        Ok(())
    }

    /// Checks the row count, then flushes, fsyncs and renames the file into place.
    pub fn finish(mut self) -> Result<PathBuf> {
        if Some(&self.rows_written) != self.shape.first() {
            return Err(self.shape_error(self.rows_written * self.row_len));
        }
        if let Some(writer) = self.writer.take() {
            writer.finish().map_err(io_err(&self.tmp))?;
        }
        self.file.sync_all().map_err(io_err(&self.tmp))?;
        publish(&self.tmp, &self.path)?;
        open_list().retain(|p| p != &self.tmp);
        self.tmp = PathBuf::new(); // nothing left for Drop to remove
        Ok(self.path.clone())
    }

    fn shape_error(&self, got: usize) -> Error {
        Error::Shape {
            path: self.path.clone(),
            shape: self.shape.clone(),
            expected: self.shape.iter().product(),
            got,
        }
    }
}

impl Drop for NpyStream {
    fn drop(&mut self) {
        // Unfinished: the writer's own drop pads nothing (its shape check fails); remove the file.
        drop(self.writer.take());
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
            open_list().retain(|p| p != &self.tmp);
        }
    }
}

impl std::fmt::Debug for NpyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NpyStream")
            .field("path", &self.path)
            .field("shape", &self.shape)
            .field("rows_written", &self.rows_written)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read_npy;

    #[test]
    fn rows_in_blocks_read_back_as_one_array() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy");
        let mut s = NpyStream::create(&path, &[5, 2, 3]).unwrap();
        let all: Vec<f64> = (0..30).map(|i| i as f64 * 0.5 - 3.0).collect();
        s.append(&all[..12]).unwrap(); // rows 0–1
        assert!(!path.exists(), "visible before finish");
        s.append(&all[12..18]).unwrap(); // row 2
        s.append(&all[18..]).unwrap(); // rows 3–4
        assert_eq!(s.finish().unwrap(), path);
        let back = read_npy(&path).unwrap();
        assert_eq!((back.shape, back.data), (vec![5, 2, 3], all.clone()));
        let mut rows = Vec::new();
        let shape = crate::for_each_npy_row(&path, &mut |r| rows.push(r.to_vec())).unwrap();
        assert_eq!(shape, vec![5, 2, 3]);
        assert_eq!(rows, all.chunks(3).map(|c| c.to_vec()).collect::<Vec<_>>());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "temporary file left");
    }

    #[test]
    fn short_extra_partial_and_non_finite_rows_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.npy");
        let mut s = NpyStream::create(&path, &[2, 2]).unwrap();
        let err = s.append(&[1.0, 2.0, 3.0]).unwrap_err().to_string(); // not whole rows
        assert!(err.contains("b.npy") && err.contains("[2, 2]"), "{err}");
        let err = s.append(&[1.0, f64::NAN]).unwrap_err().to_string();
        assert!(err.contains("non-finite") && err.contains("index 1"), "{err}");
        s.append(&[1.0, 2.0]).unwrap();
        assert!(s.append(&[1.0, 2.0, 3.0, 4.0]).is_err(), "rows beyond the shape");
        let err = s.finish().unwrap_err().to_string(); // one row of two
        assert!(err.contains("needs 4 values, got 2"), "{err}");
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "temporary file left");
    }

    #[test]
    fn row_reader_rejects_non_finite_values_by_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.npy");
        crate::write_npy(&path, &[2, 2], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 8..].copy_from_slice(&f64::NAN.to_le_bytes()); // the last value
        std::fs::write(&path, bytes).unwrap();
        let mut seen = 0;
        let err = crate::for_each_npy_row(&path, &mut |_| seen += 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("d.npy") && err.contains("flat index 3"), "{err}");
        assert_eq!(seen, 1, "only the finite first row reached the callback");
    }

    #[test]
    fn dropping_an_unfinished_stream_removes_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = NpyStream::create(&dir.path().join("c.npy"), &[3, 1]).unwrap();
        s.append(&[1.0]).unwrap();
        drop(s);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
