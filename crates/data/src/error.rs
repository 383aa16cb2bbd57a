//! The crate's one error type: every variant names the file (or task) and what was wrong.

use std::path::PathBuf;

/// Everything that can go wrong while building or reading data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be opened or read (missing, unreadable, bad gzip stream).
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An IDX file is malformed (magic number, header, body length, element type).
    #[error("IDX file {}: {message}", path.display())]
    Idx {
        /// The file.
        path: PathBuf,
        /// What was wrong, with the expected and found values.
        message: String,
    },
    /// A CSV file is malformed (ragged row, non-numeric cell, bad label column, empty).
    #[error("CSV file {}: {message}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// What was wrong, with row and column where it applies.
        message: String,
    },
    /// The images and labels of an IDX task disagree, or a dataset has too few rows.
    #[error("{source_desc}: {message}")]
    Data {
        /// The file(s) involved.
        source_desc: String,
        /// What was wrong.
        message: String,
    },
    /// A task spec this crate cannot build (e.g. a zero dimension).
    #[error("task {task}: {message}")]
    Task {
        /// The task kind.
        task: String,
        /// What was wrong.
        message: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
