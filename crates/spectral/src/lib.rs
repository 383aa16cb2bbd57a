//! Pure f64 linear algebra for the probe: spectra, effective ranks, weighted PCA, subspaces,
//! alignment and routing statistics. A leaf crate: matrices in (row-major `&[f64]` with
//! explicit dimensions), numbers out; it knows nothing about models, configs or files.
//!
//! Main entry points:
//! * [`singular_values`] + [`spectrum_metrics`] → [`SpectrumMetrics`] (SPEC §5);
//! * [`weighted_covariance`] → [`WeightedCov`], then [`pca`] → [`Pca`] (SPEC §6.1–§6.2);
//! * [`compare_subspaces`] → [`SubspaceComparison`] (SPEC §6.5, §7 A3);
//! * [`frobenius_cosine`] / [`scaled_copy_residual`] (SPEC §7), [`routing_stats`] (§6.4),
//!   [`diagonal_gmm_responsibilities`] (§6.3).
//!
//! **Undefined values.** Non-finite or malformed input is always an [`Error`]. A *dead*
//! spectrum (σ_1 <= 1e-12) yields NaN ratio metrics with `dead = true`; callers count dead
//! cases and never average NaN (see [`SpectrumMetrics`]).
//!
//! ```
//! use moescope_spectral::{singular_values, spectrum_metrics, SpectrumOptions};
//! // diag(2, 1): σ = [2, 1], stable rank (4 + 1)/4 = 1.25.
//! let sv = singular_values(&[2.0, 0.0, 0.0, 1.0], 2, 2)?;
//! assert_eq!(sv, vec![2.0, 1.0]);
//! let m = spectrum_metrics(&sv, (2, 2), &SpectrumOptions::default())?;
//! assert!((m.srank - 1.25).abs() < 1e-12 && !m.dead);
//! # Ok::<(), moescope_spectral::Error>(())
//! ```
#![deny(missing_docs)]

mod alignment;
mod batch_svd;
mod cov_stream;
mod decomp;
mod error;
mod gmm;
mod pca;
mod routing;
mod spectrum;
mod subspace;
mod validate;

pub use alignment::{alignment_chance, frobenius_cosine, scaled_copy_residual};
pub use batch_svd::singular_values_batch;
pub use cov_stream::CovarianceAcc;
pub use decomp::{singular_values, sym_eigen, top_singular_subspaces};
pub use error::{Error, Result};
pub use gmm::{diagonal_gmm_responsibilities, fit_diagonal_gmm, GmmFit, GmmOptions, LLOYD_ITERS};
pub use pca::{min_support, pca, weighted_covariance, Pca, WeightedCov};
pub use routing::{entropy, normalized_entropy, routing_stats, RoutingStats};
pub use spectrum::{
    effective_rank, participation_ratio, spectrum_metrics, stable_rank, SpectrumMetrics, SpectrumOptions, DEAD_SIGMA,
};
pub use subspace::{compare_subspaces, SubspaceComparison};
