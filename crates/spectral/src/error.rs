//! The crate's error type. Every fallible function validates its input up front, so a
//! non-finite value, a shape mismatch or an empty input is reported here and never turns
//! into a NaN further down.

/// Everything that can go wrong in `moescope-spectral`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- input shape ----
    /// An input has no elements (or a dimension is zero).
    #[error("{what}: empty input (expected at least one element / a nonzero dimension)")]
    Empty {
        /// Which input.
        what: &'static str,
    },
    /// A slice length does not match the dimensions passed with it.
    #[error("{what}: expected length {expected}, got {got}")]
    LengthMismatch {
        /// Which input.
        what: &'static str,
        /// Length implied by the dimensions.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// An integer argument is outside its valid range.
    #[error("{what} = {value} is invalid: expected {expected}")]
    InvalidArgument {
        /// Which argument.
        what: &'static str,
        /// The value passed (as f64 so one variant covers counts and tolerances).
        value: f64,
        /// Human-readable description of the valid range.
        expected: &'static str,
    },

    // ---- input values ----
    /// An input element is NaN or infinite.
    #[error("{what}: non-finite value {value} at index {index}")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Flat (row-major) index of the first offending element.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// An input that must be nonnegative (weights, singular values) has a negative element.
    #[error("{what}: negative value {value} at index {index} (expected >= 0)")]
    Negative {
        /// Which input.
        what: &'static str,
        /// Index of the first offending element.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// Singular values passed to a spectrum metric are not in descending order.
    #[error("{what}: not sorted in descending order at index {index}")]
    NotDescending {
        /// Which input.
        what: &'static str,
        /// First index `i` with `v[i] > v[i-1]`.
        index: usize,
    },
    /// A matrix that must be symmetric is not (relative to its largest entry).
    #[error("{what}: not symmetric, max |a_ij - a_ji| / max|a| = {relative_asymmetry:e}")]
    NotSymmetric {
        /// Which input.
        what: &'static str,
        /// Largest asymmetry relative to the largest absolute entry.
        relative_asymmetry: f64,
    },
    /// A basis that must have orthonormal columns does not.
    #[error("{what}: columns are not orthonormal, max |QᵀQ - I| = {deviation:e}")]
    NotOrthonormal {
        /// Which input.
        what: &'static str,
        /// Largest entry of |QᵀQ − I|.
        deviation: f64,
    },
    /// A quantity is undefined because an input has zero norm (e.g. a dead expert's Jacobian).
    #[error("{what} has zero norm, so the quantity is undefined")]
    ZeroNorm {
        /// Which input.
        what: &'static str,
    },
    /// The weights sum to zero, so the weighted mean is undefined.
    #[error("{what}: total weight is zero")]
    ZeroTotalWeight {
        /// Which input.
        what: &'static str,
    },
    /// The reliability-weights denominator `V1 − V2/V1` is not positive (n_eff <= 1).
    #[error("unbiased weighted covariance undefined: V1 - V2/V1 = {denominator:e} <= 0 (Kish n_eff = {n_eff})")]
    DegenerateWeights {
        /// The offending denominator.
        denominator: f64,
        /// Kish effective sample size of the weights.
        n_eff: f64,
    },

    // ---- numerical ----
    /// An iterative decomposition did not converge within its iteration cap.
    #[error("{op}: did not converge within {max_iter} iterations")]
    NoConvergence {
        /// Which decomposition.
        op: &'static str,
        /// The iteration cap.
        max_iter: usize,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
