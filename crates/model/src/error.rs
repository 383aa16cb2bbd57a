//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while building, running, training or saving a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from candle (tensor op, device, dtype).
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// A loss or output became NaN or infinite (e.g. a divergent learning rate or a NaN input).
    #[error("non-finite value during `{stage}` at step {step}")]
    NonFinite {
        /// Which stage noticed it: `"train"` (the batch loss) or `"eval"` (a validation/final loss).
        stage: &'static str,
        /// The 1-based optimiser step (0 = before training).
        step: usize,
    },
    /// A tensor has the wrong shape or dtype.
    #[error("tensor `{name}`: expected {expected}, got {got}")]
    Shape {
        /// Which tensor (parameter name or argument).
        name: String,
        /// What was expected, e.g. `(4, 16, 32)`.
        expected: String,
        /// What was found.
        got: String,
    },
    /// A model spec, option or argument value is out of range.
    #[error("invalid `{field}` = {got}: expected {expected}")]
    Invalid {
        /// The field or argument.
        field: String,
        /// What was expected.
        expected: String,
        /// What was given.
        got: String,
    },
    /// A checkpoint file cannot be read, written or understood.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn invalid(field: &str, expected: impl Into<String>, got: impl std::fmt::Display) -> Error {
    Error::Invalid {
        field: field.to_string(),
        expected: expected.into(),
        got: got.to_string(),
    }
}
