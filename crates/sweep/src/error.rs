use std::path::PathBuf;

/// Everything that can go wrong in a sweep.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The sweep file or a command-line axis is malformed.
    #[error("{file}: `{key}`: {message}")]
    Spec {
        /// The sweep file (or `command line`).
        file: String,
        /// The offending key.
        key: String,
        /// What was expected.
        message: String,
    },
    /// A cell's config does not validate. (The cause is in the message, not a `source`, so
    /// chained error printing does not repeat it.)
    #[error("cell {cell}: {cause}")]
    Cell {
        /// The cell label.
        cell: String,
        /// Why.
        cause: moescope_config::Error,
    },
    /// The base config does not parse or validate.
    #[error(transparent)]
    Config(#[from] moescope_config::Error),
    /// A file or folder could not be read or written.
    #[error("{}: {message}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// Another process holds a lock this command needs.
    #[error("{0}")]
    Busy(String),
    /// The sweep folder does not match what this binary expands its spec to.
    #[error("{}: {message}", dir.display())]
    Inconsistent {
        /// The sweep folder.
        dir: PathBuf,
        /// What differs.
        message: String,
    },
    /// Submitting to the scheduler failed.
    #[error("slurm: {0}")]
    Scheduler(String),
    /// The device of the cells cannot be opened.
    #[error(transparent)]
    Engine(#[from] moescope_engine::Error),
    /// Records could not be read or written.
    #[error(transparent)]
    Records(#[from] moescope_records::Error),
    /// The sweep report could not be drawn.
    #[error(transparent)]
    Report(#[from] moescope_report::Error),
}

/// Shorthand.
pub type Result<T> = std::result::Result<T, Error>;

/// Maps an I/O error on `path` to [`Error::Io`].
pub(crate) fn io_err(path: &std::path::Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}
