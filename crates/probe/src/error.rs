//! The probe's error type.

/// Everything that can go wrong while probing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- inputs ---
    /// A tensor argument has the wrong shape.
    #[error("{what}: expected shape {expected}, got {got:?}")]
    Shape {
        /// Which argument.
        what: &'static str,
        /// The expected shape, in words.
        expected: String,
        /// The shape that was passed.
        got: Vec<usize>,
    },
    /// A non-tensor argument is out of range or inconsistent with the model.
    #[error("invalid argument `{name}`: {msg}")]
    InvalidArgument {
        /// The argument's name.
        name: &'static str,
        /// What was wrong and what was expected.
        msg: String,
    },

    // --- numerics ---
    /// A computed Jacobian holds NaN or ±inf entries.
    #[error("non-finite values at stage `{stage}`: {count} entries")]
    NonFinite {
        /// The stage whose output was checked ("jacobian").
        stage: &'static str,
        /// How many entries were not finite.
        count: usize,
    },

    // --- wrapped ---
    /// An error from the model crate (forward, dtype conversion).
    #[error(transparent)]
    Model(#[from] moescope_model::Error),
    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// The probe's result type.
pub type Result<T> = std::result::Result<T, Error>;
