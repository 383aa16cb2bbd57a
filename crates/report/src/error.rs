/// Errors while building a report; each names the file involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A record file could not be read or written.
    #[error(transparent)]
    Records(#[from] moescope_records::Error),
    /// A statistic could not be computed.
    #[error("statistics for `{metric}` ({models}): {message}")]
    Stats {
        /// Metric.
        metric: String,
        /// Models involved.
        models: String,
        /// Cause.
        message: String,
    },
    /// The run folder holds no finished job yet.
    #[error("{dir}: no job of this run has finished (no metrics.jsonl), so there is nothing to report yet")]
    NothingFinished {
        /// The run folder.
        dir: std::path::PathBuf,
    },
    /// A figure could not be drawn or rendered.
    #[error("figure `{figure}`: {message}")]
    Plot {
        /// Figure name.
        figure: String,
        /// Cause.
        message: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
