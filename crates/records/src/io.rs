use crate::error::io_err;
use crate::{Error, Result};
use npyz::WriterBuilder;
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsync, rename.
/// Readers see either the old file or the complete new one, never a prefix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io_err(path))
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
