use crate::error::io_err;
use crate::{Error, Result};
use npyz::WriterBuilder;
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsync, rename, fsync
/// of the folder.
/// Readers see either the old file or the complete new one, never a prefix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_beside(path, "tmp")?;
    let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    drop(f);
    publish(&tmp, path)
}

/// The folder of `path` ("." for a bare name).
fn folder(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A hidden name next to `path` for its data in progress, `.<name>.<tag>.<pid>`, after creating
/// the folder.
pub(crate) fn temp_beside(path: &Path, tag: &str) -> Result<std::path::PathBuf> {
    let dir = folder(path);
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(dir.join(format!(".{name}.{tag}.{}", std::process::id())))
}

/// Renames the complete, fsynced `tmp` to `path`, then fsyncs the folder: the rename itself is
/// durable only once the folder's entry is on disk.
pub(crate) fn publish(tmp: &Path, path: &Path) -> Result<()> {
    std::fs::rename(tmp, path).map_err(io_err(path))?;
    let dir = folder(path);
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))
}

/// Writes a C-order f64 array as `.npy` (format 1.0, little-endian `<f8`), atomically.
pub fn write_npy(path: &Path, shape: &[usize], data: &[f64]) -> Result<()> {
    let expected: usize = shape.iter().product();
    if expected != data.len() {
        return Err(Error::Shape {
            path: path.to_path_buf(),
            shape: shape.to_vec(),
            expected,
            got: data.len(),
        });
    }
    if let Some(i) = data.iter().position(|x| !x.is_finite()) {
        let message = format!("refusing to write non-finite value {} at flat index {i}", data[i]);
        return Err(Error::Parse {
            path: path.to_path_buf(),
            line: 0,
            message,
        });
    }
    let mut bytes = Vec::with_capacity(128 + 8 * data.len());
    let shape_u64: Vec<u64> = shape.iter().map(|&s| s as u64).collect();
    let mut writer = npyz::WriteOptions::<f64>::new()
        .default_dtype()
        .shape(&shape_u64)
        .writer(&mut bytes)
        .begin_nd()
        .map_err(io_err(path))?;
    writer.extend(data.iter().copied()).map_err(io_err(path))?;
    writer.finish().map_err(io_err(path))?;
    write_atomic(path, &bytes)
}

/// A dense array read from a `.npy` file, as f64 in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// Shape.
    pub shape: Vec<usize>,
    /// Row-major data.
    pub data: Vec<f64>,
}

/// Reads a C-order `.npy` file of f64 (or f32, widened) values. Non-finite values are an error:
/// the engine never writes them.
pub fn read_npy(path: &Path) -> Result<NpyArray> {
    let bad = |message: String| Error::Parse {
        path: path.to_path_buf(),
        line: 0,
        message,
    };
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| bad(e.to_string()))?;
    if npy.order() != npyz::Order::C {
        return Err(bad("Fortran-order arrays are not supported".into()));
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&s| s as usize).collect();
    let is_f32 =
        matches!(npy.dtype(), npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 4);
    let data: Vec<f64> = if is_f32 {
        npy.into_vec::<f32>()
            .map_err(|e| bad(e.to_string()))?
            .into_iter()
            .map(f64::from)
            .collect()
    } else {
        npy.into_vec::<f64>()
            .map_err(|e| bad(format!("{e} (expected float64)")))?
    };
    if data.len() != shape.iter().product::<usize>() {
        return Err(bad(format!("{} values for shape {shape:?}", data.len())));
    }
    if let Some(i) = data.iter().position(|x| !x.is_finite()) {
        return Err(bad(format!("non-finite value {} at flat index {i}", data[i])));
    }
    Ok(NpyArray { shape, data })
}

/// Calls `f` with each row (run along the last axis) of a C-order float64 `.npy` file, reading
/// it as a stream, so a per-point array of any size needs one row of memory; returns the shape.
/// Errors like [`read_npy`] (float32 files are not accepted here); a non-finite value is an
/// error naming its flat index, raised before the row holding it reaches `f`.
pub fn for_each_npy_row(path: &Path, f: &mut dyn FnMut(&[f64])) -> Result<Vec<usize>> {
    let bad = |message: String| Error::Parse {
        path: path.to_path_buf(),
        line: 0,
        message,
    };
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    let npy = npyz::NpyFile::new(std::io::BufReader::new(file)).map_err(|e| bad(e.to_string()))?;
    if npy.order() != npyz::Order::C {
        return Err(bad("Fortran-order arrays are not supported".into()));
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&s| s as usize).collect();
    let row_len = shape.last().copied().unwrap_or(1).max(1);
    let mut row = Vec::with_capacity(row_len);
    let values = npy.data::<f64>().map_err(|e| bad(format!("{e} (expected float64)")))?;
    for (i, v) in values.enumerate() {
        let v = v.map_err(io_err(path))?;
        if !v.is_finite() {
            return Err(bad(format!("non-finite value {v} at flat index {i}")));
        }
        row.push(v);
        if row.len() == row_len {
            f(&row);
            row.clear();
        }
    }
    if !row.is_empty() {
        return Err(bad(format!(
            "{} trailing values do not fill a row of {row_len}",
            row.len()
        )));
    }
    Ok(shape)
}
