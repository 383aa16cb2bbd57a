//! MNIST-style IDX files (<http://yann.lecun.com/exdb/mnist/>): a big-endian header
//! `00 00 <type> <ndims>`, `ndims` big-endian u32 sizes, then the elements row-major. Only u8
//! elements (type 0x08) are read; files may be gzip-compressed (detected by the magic `1f 8b`).

use crate::dataset::{split_loaded, Dataset, Splits, Targets};
use crate::{Error, Result};
use flate2::read::MultiGzDecoder;
use moescope_config::IdxTask;
use std::io::Read;
use std::path::Path;

/// The contents of an IDX file of u8 elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Sizes from the header, outermost first (e.g. `[10000, 28, 28]`).
    pub dims: Vec<usize>,
    /// The elements, row-major; `data.len()` is the product of `dims`.
    pub data: Vec<u8>,
}

/// Reads the whole file, decompressing it when it starts with the gzip magic `1f 8b`.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let raw = std::fs::read(path).map_err(io)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        MultiGzDecoder::new(raw.as_slice()).read_to_end(&mut out).map_err(io)?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Reads an IDX file of u8 elements (gzip or raw). Errors name the file and say what was
/// expected: the magic number (0x00000801 for labels, 0x00000803 for images, in general
/// 0x000008NN), the header length, and the body length (product of the dims, in bytes).
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let bytes = read_maybe_gz(path)?;
    let bad = |message: String| Error::Idx {
        path: path.to_path_buf(),
        message,
    };
    if bytes.len() < 4 {
        return Err(bad(format!(
            "truncated header: expected at least 4 bytes, found {}",
            bytes.len()
        )));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let ndims = usize::from(bytes[3]);
    if bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 || ndims == 0 {
        return Err(bad(format!(
            "wrong magic number: expected 0x00000801 (labels) or 0x00000803 (images), \
             i.e. 0x000008NN for u8 data with NN ≥ 1 dimensions, found 0x{magic:08x}"
        )));
    }
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(bad(format!(
            "truncated header: {ndims} dimensions need {header} header bytes, found {}",
            bytes.len()
        )));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    // u128: three u32 sizes cannot overflow it, so the message can say how many bytes they mean.
    let expected = dims.iter().try_fold(1u128, |acc, &d| acc.checked_mul(d as u128));
    let found = bytes.len() - header;
    match expected {
        Some(n) if n == found as u128 => Ok(IdxArray {
            dims,
            data: bytes[header..].to_vec(),
        }),
        Some(n) if n < found as u128 => Err(bad(format!(
            "body too long: dims {dims:?} need {n} bytes after the header, found {found}"
        ))),
        Some(n) if n <= PLAUSIBLE_SHORTFALL * found.max(1) as u128 => Err(bad(format!(
            "truncated body: dims {dims:?} need {n} bytes after the header, found {found}"
        ))),
        _ => Err(bad(implausible(&dims, expected, bytes.len(), header))),
    }
}

/// A header whose sizes ask for more than this many times the bytes the file holds is not a
/// truncated download but the wrong file (e.g. a labels file, or another format, whose bytes
/// were read as sizes).
const PLAUSIBLE_SHORTFALL: u128 = 1024;

fn implausible(dims: &[usize], need: Option<u128>, len: usize, header: usize) -> String {
    let need = need.map_or("more than 2^128".to_string(), |n| n.to_string());
    format!(
        "the header's dims {dims:?} are implausible for the file's size: their product is {need} bytes, \
         but the file holds {len} bytes ({} after the {header}-byte header); is this the right file \
         (e.g. a labels file given as images)?",
        len - header
    )
}

/// Reads images and labels into one dataset: each image flattened to `h·w` features scaled to
/// [0, 1] (pixel / 255), classes = max label + 1.
pub(crate) fn load_idx(images: &Path, labels: &Path) -> Result<Dataset> {
    let img = read_idx(images)?;
    let lab = read_idx(labels)?;
    if img.dims.len() != 3 {
        return Err(Error::Idx {
            path: images.to_path_buf(),
            message: format!(
                "expected an images file with 3 dims (count, rows, cols), found dims {:?}",
                img.dims
            ),
        });
    }
    if lab.dims.len() != 1 {
        return Err(Error::Idx {
            path: labels.to_path_buf(),
            message: format!("expected a labels file with 1 dim (count), found dims {:?}", lab.dims),
        });
    }
    if img.dims.contains(&0) {
        return Err(Error::Idx {
            path: images.to_path_buf(),
            message: format!(
                "images file with a zero dimension, dims {:?}: expected count, rows and cols all ≥ 1",
                img.dims
            ),
        });
    }
    let (n, d_in) = (img.dims[0], img.dims[1] * img.dims[2]);
    if lab.dims[0] != n {
        return Err(Error::Data {
            source_desc: format!("{} and {}", images.display(), labels.display()),
            message: format!("image/label count mismatch: {n} images but {} labels", lab.dims[0]),
        });
    }
    let x = img.data.iter().map(|&p| f32::from(p) / 255.0).collect();
    let labels_u32: Vec<u32> = lab.data.iter().map(|&l| u32::from(l)).collect();
    check_two_classes(&labels_u32, labels)?;
    let classes = labels_u32.iter().max().map_or(0, |&m| m as usize + 1);
    Ok(Dataset {
        x,
        n,
        d_in,
        targets: Targets::Classes {
            labels: labels_u32,
            classes,
        },
    })
}

/// Classification needs two distinct labels: with one, every loss is 0 and the geometry is noise.
fn check_two_classes(labels: &[u32], path: &Path) -> Result<()> {
    match labels.first() {
        Some(&first) if labels.iter().any(|&l| l != first) => Ok(()),
        first => Err(Error::Idx {
            path: path.to_path_buf(),
            message: format!(
                "classification needs at least 2 classes, but the labels file has {}",
                first.map_or("no labels".to_string(), |l| format!("only the label {l}"))
            ),
        }),
    }
}

/// Builds the splits of an IDX task.
pub(crate) fn build_idx(task: &IdxTask, seed: u64) -> Result<Splits> {
    let all = load_idx(&task.images, &task.labels)?;
    let source = format!("{} and {}", task.images.display(), task.labels.display());
    let (train, val, probe) = split_loaded(&all, task.sizes, seed, task.standardize, &source)?;
    let description = format!(
        "IDX images {} ({} rows of {} features, {} classes){}",
        task.images.display(),
        all.n,
        all.d_in,
        all.d_out(),
        if task.standardize {
            ", standardised with train statistics"
        } else {
            ""
        }
    );
    Ok(Splits {
        train,
        val,
        probe,
        description,
        cluster_of_probe: None,
    })
}
