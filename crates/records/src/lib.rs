//! The on-disk formats of a moescope run folder, and nothing else.
//!
//! A run folder holds:
//! - `manifest.json` ([`Manifest`]): resolved config, seeds, device, versions, git commit, wall
//!   time per stage, parameter counts and the status of every (architecture, seed) job;
//! - `config.yaml`: the resolved config, loadable by `moescope run`;
//! - `metrics.jsonl` and `metrics.csv` ([`MetricRow`], long format: model, seed, expert, metric, value);
//! - `curves.jsonl` ([`CurveRow`]): training and validation loss per step;
//! - `spectra/*.npy`: per-point arrays, readable by `numpy.load`;
//! - `checkpoints/*.safetensors`.
//!
//! Every file is written atomically (temporary file, fsync, rename), so a crash never leaves a
//! half-written file behind.
//!
//! ```
//! use moescope_records::{MetricRow, read_metrics_jsonl, write_metrics};
//! let dir = tempfile::tempdir().unwrap();
//! let rows = vec![MetricRow::new("dense", 0, None, "jac.sigma1", 1.5)];
//! write_metrics(dir.path(), &rows).unwrap();
//! assert_eq!(read_metrics_jsonl(&dir.path().join("metrics.jsonl")).unwrap(), rows);
//! ```
#![deny(missing_docs)]

mod claim;
mod error;
mod io;
mod manifest;
mod metrics;
mod stream;

pub use claim::{Claim, CLAIM_FILE, OWNER_MARKERS};
pub use error::{Error, Result};
pub use io::{for_each_npy_row, read_npy, write_atomic, write_npy, NpyArray};
pub use manifest::{DataRecord, JobRecord, JobStatus, Manifest, ParamCountRecord, StageTime, SCHEMA_VERSION};
pub use metrics::{read_curves, read_metrics_jsonl, write_curves, write_metrics, CurveRow, MetricRow};
pub use stream::{remove_unfinished_streams, NpyStream};
