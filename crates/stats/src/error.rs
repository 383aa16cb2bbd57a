//! The crate's single error type.

/// Errors from the statistics routines: all of them are bad input.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum StatsError {
    /// The sample was empty (or too short for the requested statistic).
    #[error("{what}: need at least {need} value(s), got {got}")]
    TooFew {
        /// Which statistic was requested.
        what: &'static str,
        /// Minimum number of values needed.
        need: usize,
        /// Number of values supplied.
        got: usize,
    },
    /// A value was NaN or infinite.
    #[error("{what}: value at index {index} is {value}, expected a finite number")]
    NonFinite {
        /// Which input held the value.
        what: &'static str,
        /// Position of the offending value.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// Two inputs that must be paired have different lengths.
    #[error("{what}: inputs have lengths {left} and {right}, expected equal lengths")]
    LengthMismatch {
        /// Which statistic was requested.
        what: &'static str,
        /// Length of the first input.
        left: usize,
        /// Length of the second input.
        right: usize,
    },
    /// A parameter was outside its valid range.
    #[error("{what} = {value} is invalid, expected {expected}")]
    BadParameter {
        /// Parameter name.
        what: &'static str,
        /// The value supplied.
        value: f64,
        /// Description of the valid range.
        expected: &'static str,
    },
    /// The statistic is undefined for this input (e.g. correlation of a constant).
    #[error("{what}: undefined because {reason}")]
    Undefined {
        /// Which statistic was requested.
        what: &'static str,
        /// Why it is undefined.
        reason: &'static str,
    },
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, StatsError>;

/// Checks that `xs` has at least `need` values and that all of them are finite.
pub(crate) fn check_sample(what: &'static str, xs: &[f64], need: usize) -> Result<()> {
    if xs.len() < need {
        return Err(StatsError::TooFew {
            what,
            need,
            got: xs.len(),
        });
    }
    match xs.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(StatsError::NonFinite {
            what,
            index,
            value: xs[index],
        }),
        None => Ok(()),
    }
}

/// Checks that a confidence level lies strictly inside (0, 1).
pub(crate) fn check_level(level: f64) -> Result<()> {
    if level > 0.0 && level < 1.0 {
        Ok(())
    } else {
        Err(StatsError::BadParameter {
            what: "level",
            value: level,
            expected: "a confidence level strictly between 0 and 1, e.g. 0.95",
        })
    }
}
