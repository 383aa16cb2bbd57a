//! Across-seed statistics: t intervals, paired t, Wilcoxon signed-rank, Holm, bootstrap.
//!
//! SPEC §8: the unit of analysis is one scalar per seed. [`summarize`] gives mean ± sd and the
//! t-interval of such a sample, [`paired`] compares two conditions seed by seed (paired t,
//! Wilcoxon signed-rank, Cohen's d_z, sign counts) into a [`PairedTest`], [`holm`] adjusts a
//! family of p-values, and [`bootstrap_mean_ci`] gives a seeded percentile interval.
//! Quantities that are undefined for the input (n < 2, zero variance) are `None`, never NaN.
//!
//! This crate is a leaf: it knows nothing about models or files.
//!
//! ```
//! use moescope_stats::{paired, summarize};
//!
//! let s = summarize(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.95).unwrap();
//! assert_eq!(s.mean, 3.0);
//! assert!((s.t_crit.unwrap() - 2.776445).abs() < 1e-6);
//!
//! // Five seeds, all in the claimed direction: the exact two-sided Wilcoxon p is 2/32.
//! let test = paired(&[2.0, 3.0, 5.0, 6.0, 9.0], &[1.0, 1.0, 2.0, 2.0, 4.0]).unwrap();
//! assert_eq!(test.n_pos, 5);
//! assert!(test.wilcoxon_exact);
//! assert_eq!(test.p_wilcoxon, Some(0.0625));
//! ```
#![deny(missing_docs)]

mod bootstrap;
mod dist;
mod error;
mod holm;
mod paired;
mod rank;
mod summary;
mod wilcoxon;

pub use bootstrap::bootstrap_mean_ci;
pub use dist::{normal_cdf, normal_sf, t_cdf, t_quantile, t_sf};
pub use error::{Result, StatsError};
pub use holm::{holm, holm_opt};
pub use paired::{paired, PairedTest, TIE_ULPS};
pub use rank::spearman;
pub use summary::{summarize, Summary};
pub use wilcoxon::WILCOXON_EXACT_MAX_N;
