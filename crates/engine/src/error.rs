use std::path::PathBuf;

/// Errors of a run. Job-level failures (a model that diverged) are not errors of the run: they
/// are recorded in the manifest and the run goes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- setup ---
    /// The config asked for CUDA in a build without the `cuda` feature.
    #[error("device `{device}` requested, but this moescope binary was built without CUDA support (rebuild with `--features cuda`)")]
    CudaNotCompiled {
        /// The requested device.
        device: String,
    },
    /// CUDA is compiled in but the device cannot be opened.
    #[error("device `{device}` requested but not available: {message}")]
    DeviceUnavailable {
        /// The requested device.
        device: String,
        /// Why.
        message: String,
    },
    /// The output folder cannot be created or written.
    #[error("cannot write run folder {path}: {message}")]
    Output {
        /// The folder.
        path: PathBuf,
        /// Why.
        message: String,
    },
    // --- stages ---
    /// Data could not be built or loaded.
    #[error("data for seed {seed}")]
    Data {
        /// Seed.
        seed: u64,
        /// Cause.
        source: moescope_data::Error,
    },
    /// A stage of one job failed.
    #[error("{model} seed {seed}, stage `{stage}`: {message}")]
    Stage {
        /// Architecture.
        model: String,
        /// Seed.
        seed: u64,
        /// `train`, `probe`, `spectral`.
        stage: &'static str,
        /// The cause, in full.
        message: String,
    },
    /// The run's sizes cannot fit in this machine's memory (checked before anything is written).
    #[error("the run is too large for this machine: {message}; lower them")]
    TooLarge {
        /// What needs how much, naming the keys, and what is available.
        message: String,
    },
    /// The config does not fit the loaded data (a file task's input dimension).
    #[error(transparent)]
    Config(#[from] moescope_config::Error),
    /// Writing records failed.
    #[error(transparent)]
    Records(#[from] moescope_records::Error),
    /// Writing the summary failed.
    #[error(transparent)]
    Report(#[from] moescope_report::Error),
    /// A tensor operation failed outside a job.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
