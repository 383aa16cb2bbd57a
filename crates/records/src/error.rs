use std::path::PathBuf;

/// Errors reading or writing run-folder files; each names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file system refused.
    #[error("{path}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An output folder is claimed by another writer, or one that was stopped (see
    /// [`crate::Claim`]).
    #[error(
        "{dir}: another moescope command is writing into it, or one was stopped there \
         ({file} exists; delete it once no command is running)",
        file = crate::CLAIM_FILE
    )]
    Busy {
        /// The folder.
        dir: PathBuf,
    },
    /// An output folder holds what another writer made for someone else (see
    /// [`crate::Claim::take_for`]).
    #[error("{dir}: {reason}")]
    Owned {
        /// The folder.
        dir: PathBuf,
        /// What it holds.
        reason: String,
    },
    /// An output folder's path names a file.
    #[error("{dir}: is a file, not a folder")]
    NotAFolder {
        /// The path.
        dir: PathBuf,
    },
    /// A file exists but does not parse.
    #[error("{path}, line {line}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when not line-based).
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// A value that must be finite is not (rows never carry NaN: undefined values are counted).
    #[error("non-finite value {value} for metric `{metric}` of {model} seed {seed}")]
    NonFinite {
        /// Model name.
        model: String,
        /// Seed.
        seed: u64,
        /// Metric name.
        metric: String,
        /// The value.
        value: f64,
    },
    /// An array whose data does not match its shape.
    #[error("array for {path}: shape {shape:?} needs {expected} values, got {got}")]
    Shape {
        /// The file.
        path: PathBuf,
        /// Declared shape.
        shape: Vec<usize>,
        /// Product of the shape.
        expected: usize,
        /// Values given.
        got: usize,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}
