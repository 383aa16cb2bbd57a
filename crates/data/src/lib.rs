//! Deterministic data for moescope (SPEC §3): the synthetic tasks T1–T4 and loaders for
//! MNIST-style IDX files and CSV tables, cut into train / validation / probe [`Splits`] of plain
//! row-major f32 [`Dataset`]s (no tensor library here).
//!
//! [`build`] is the entry point: the same `(task, seed)` always gives bit-identical arrays, so
//! every architecture of a seed trains and is probed on the same data. Each random stream is its
//! own `ChaCha8Rng` seeded with `derive_seed(seed, "data/<purpose>")`.
//!
//! Loaded data is shuffled with the `"data/split"` stream and cut into train, val and probe in
//! that order. With `standardize`, inputs (and regression targets) are standardised with the
//! TRAIN per-column mean and population standard deviation; a constant column gets sd 1 (it is
//! centred, not scaled). IDX images are flattened and scaled to [0, 1] first.
//!
//! ```
//! use moescope_config::{SplitSizes, SyntheticTask, TaskKind, TaskSpec};
//! let task = TaskSpec::Synthetic(SyntheticTask {
//!     kind: TaskKind::T1Regimes, d_in: 4, d_out: 1, clusters: 3, separation: 3.0, noise: 0.01,
//!     soft_targets: false, teacher_hidden: 8, manifold_dim: 2,
//!     sizes: SplitSizes { train: 64, val: 16, probe: 16 },
//! });
//! let splits = moescope_data::build(&task, 0).unwrap();
//! assert_eq!((splits.train.n, splits.train.d_in, splits.train.d_out()), (64, 4, 1));
//! assert_eq!(splits.train.x.len(), 64 * 4);
//! assert_eq!(splits, moescope_data::build(&task, 0).unwrap()); // deterministic
//! ```
#![deny(missing_docs)]

mod dataset;
mod error;
mod idx;
mod synthetic;
mod table;

pub use dataset::{Dataset, Splits, Targets};
pub use error::{Error, Result};
pub use idx::{read_idx, IdxArray};
pub use synthetic::{cluster_means, shift_direction, shifted_t1, FOURIER_FEATURES, FOURIER_SCALE};
pub use table::{read_csv, CsvTable, MAX_CLASSES};

use moescope_config::TaskSpec;

/// Builds the train / val / probe splits of `task` for `seed`. Deterministic: the same
/// `(task, seed)` gives bit-identical arrays.
pub fn build(task: &TaskSpec, seed: u64) -> Result<Splits> {
    match task {
        TaskSpec::Synthetic(t) => synthetic::build_synthetic(t, seed),
        TaskSpec::Idx(t) => idx::build_idx(t, seed),
        TaskSpec::Csv(t) => table::build_csv(t, seed),
    }
}
