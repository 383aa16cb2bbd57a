use std::path::PathBuf;

/// Everything that can be wrong with a config. Every variant names where (file and key path) and
/// what was expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- reading ---
    /// The file cannot be read.
    #[error("cannot read config file {path}")]
    Io {
        /// The config file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The YAML does not parse into the schema (unknown key, wrong type, unknown word).
    #[error("{file}: at `{key}`: {message}")]
    Parse {
        /// The config file.
        file: String,
        /// Dotted key path (`model.experts`).
        key: String,
        /// serde's message, which says what was expected.
        message: String,
    },
    // --- command-line overrides ---
    /// A `key.path=value` argument is malformed.
    #[error("override `{arg}`: {message}")]
    Override {
        /// The argument as given.
        arg: String,
        /// What is wrong.
        message: String,
    },
    // --- validation ---
    /// A value parses but is not allowed (k > E, zero experts, unmatched widths, …).
    #[error("{file}: `{key}` = {got}: expected {expected}")]
    Invalid {
        /// The config file.
        file: String,
        /// Dotted key path.
        key: String,
        /// What is allowed.
        expected: String,
        /// What was found.
        got: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
