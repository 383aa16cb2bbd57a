//! Weighted PCA of routed hidden states (SPEC §6.1–§6.2, §13.9).
//!
//! Shape contract: points `x` are row-major `n x d` (one point per row), weights `w` have
//! length `n`; covariances are `d x d` (symmetric, so storage order is immaterial).
//!
//! The dead-covariance policy is documented on [`Pca`].

use crate::decomp::sym_eigen;
use crate::spectrum::{entropy_rank, DEAD_SIGMA};
use crate::validate::{matrix, nonneg};
use crate::{Error, Result};
use nalgebra::DMatrix;

/// Weighted mean and covariance of one expert's points (SPEC §6.1).
#[derive(Debug, Clone, PartialEq)]
pub struct WeightedCov {
    /// Weighted mean μ = Σ w_i x_i / W (length `d`).
    pub mean: Vec<f64>,
    /// Weighted covariance, `d x d`, exactly symmetric.
    pub cov: Vec<f64>,
    /// Dimension of the points.
    pub d: usize,
    /// W = Σ w_i.
    pub total_weight: f64,
    /// Kish effective sample size W² / Σ w_i².
    pub n_eff: f64,
}

/// SPEC §6.1 weighted mean and covariance of `n x d` row-major points with weights `w`.
///
/// `unbiased = false` divides by W ("frequency" form); `unbiased = true` by the
/// reliability-weights denominator `W − Σw²/W`, which errors with `DegenerateWeights` when
/// it is not positive (n_eff <= 1). Errors on shape mismatch, non-finite values, negative
/// weights or zero total weight.
pub fn weighted_covariance(x: &[f64], n: usize, d: usize, w: &[f64], unbiased: bool) -> Result<WeightedCov> {
    let mut y = matrix("weighted_covariance: points", x, n, d)?; // n x d
    nonneg("weighted_covariance: weights", w)?;
    if w.len() != n {
        return Err(Error::LengthMismatch {
            what: "weighted_covariance: weights",
            expected: n,
            got: w.len(),
        });
    }
    let (total, n_eff) = weight_sums(w)?;
    let mean = (y.tr_mul(&DMatrix::from_column_slice(n, 1, w)) / total).transpose(); // 1 x d
                                                                                     // Y_i = sqrt(w_i)(x_i − μ), so that YᵀY = Σ w_i (x_i − μ)(x_i − μ)ᵀ.
    for (i, mut row) in y.row_iter_mut().enumerate() {
        row -= &mean;
        row *= w[i].sqrt();
    }
    let denom = if unbiased {
        // V1 − V2/V1 written as W(1 − 1/n_eff) to avoid forming Σw² twice.
        total * (1.0 - 1.0 / n_eff)
    } else {
        total
    };
    if denom <= 0.0 || (unbiased && n_eff <= 1.0) {
        return Err(Error::DegenerateWeights {
            denominator: denom,
            n_eff,
        });
    }
    let mut cov = y.tr_mul(&y) / denom; // d x d
                                        // The GEMM may round (i,j) and (j,i) differently; make symmetry exact.
    let sym = (&cov + cov.transpose()) * 0.5;
    cov.copy_from(&sym);
    Ok(WeightedCov {
        mean: mean.iter().copied().collect(),
        cov: cov.as_slice().to_vec(),
        d,
        total_weight: total,
        n_eff,
    })
}

/// (W, Kish n_eff) of validated nonnegative weights; errors if W = 0.
fn weight_sums(w: &[f64]) -> Result<(f64, f64)> {
    let max = w.iter().copied().fold(0.0_f64, f64::max);
    if max == 0.0 {
        return Err(Error::ZeroTotalWeight {
            what: "weighted_covariance: weights",
        });
    }
    let total: f64 = w.iter().sum();
    // Scale by the max weight so Σw² neither overflows nor underflows.
    let s1: f64 = w.iter().map(|v| v / max).sum();
    let s2: f64 = w.iter().map(|v| (v / max).powi(2)).sum();
    Ok((total, s1 * s1 / s2))
}

/// Minimum Kish support for a trustworthy `d`-dimensional covariance: `max(5d, 50)` (SPEC §6.1).
pub fn min_support(d: usize) -> f64 {
    (5.0 * d as f64).max(50.0)
}

/// Per-expert PCA quantities (SPEC §6.2).
///
/// Dead policy (as SPEC §5.1): a covariance whose top eigenvalue is `<= DEAD_SIGMA` (1e-12)
/// has undefined ratio metrics: `dead = true`, `evr`/`cev`/`erank`/`erank_sigma`/`pr` are NaN
/// and `k90 = k95 = 0`; `eigenvalues`, `eigenvectors` and `total_variance` stay finite.
/// Callers count dead experts and never average NaN. Eigenvalues `<= d·ε·λ_1` count as 0 in
/// every ratio metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    /// Eigenvalues λ_1 >= … >= λ_d >= 0 (negatives clipped, not thresholded).
    pub eigenvalues: Vec<f64>,
    /// Principal directions: row-major `d x d`, column j is the eigenvector of λ_j.
    pub eigenvectors: Vec<f64>,
    /// Explained-variance ratios λ_j / Σλ.
    pub evr: Vec<f64>,
    /// Cumulative explained variance CEV_q = Σ_{j<=q} λ_j / Σλ (entry q−1).
    pub cev: Vec<f64>,
    /// Smallest k with CEV_k >= 0.90 (0 if dead).
    pub k90: usize,
    /// Smallest k with CEV_k >= 0.95 (0 if dead).
    pub k95: usize,
    /// Roy–Vetterli effective rank of the covariance, exp(H(λ/Σλ)) (primary).
    pub erank: f64,
    /// exp(H(√λ/Σ√λ)): effective rank of the centred √w-weighted data matrix.
    pub erank_sigma: f64,
    /// Participation ratio (Σλ)² / Σλ².
    pub pr: f64,
    /// tr Σ (sum of the covariance diagonal).
    pub total_variance: f64,
    /// λ_1 <= 1e-12: ratio metrics are NaN.
    pub dead: bool,
}

/// Slack on the CEV threshold so that a CEV of exactly 0.9 that rounds to 0.8999… still counts.
const CEV_SLACK: f64 = 1e-12;

/// SPEC §6.2 quantities of a `d x d` covariance (must be symmetric to a relative 1e-8).
pub fn pca(cov: &[f64], d: usize) -> Result<Pca> {
    let (eigenvalues, eigenvectors) = sym_eigen(cov, d)?;
    let total_variance = (0..d).map(|i| cov[i * d + i]).sum();
    let lambda1 = eigenvalues[0];
    let dead = lambda1 <= DEAD_SIGMA;
    let nan = vec![f64::NAN; d];
    if dead {
        return Ok(Pca {
            eigenvalues,
            eigenvectors,
            evr: nan.clone(),
            cev: nan,
            k90: 0,
            k95: 0,
            erank: f64::NAN,
            erank_sigma: f64::NAN,
            pr: f64::NAN,
            total_variance,
            dead,
        });
    }
    let tol = d as f64 * f64::EPSILON * lambda1;
    // Relative, thresholded eigenvalues: scale-free metrics, no overflow in squares.
    let rel: Vec<f64> = eigenvalues
        .iter()
        .map(|&l| if l > tol { l / lambda1 } else { 0.0 })
        .collect();
    let sum: f64 = rel.iter().sum();
    let evr: Vec<f64> = rel.iter().map(|l| l / sum).collect();
    let cev: Vec<f64> = evr
        .iter()
        .scan(0.0, |acc, v| {
            *acc += v;
            Some(*acc)
        })
        .collect();
    let sqrt: Vec<f64> = rel.iter().map(|l| l.sqrt()).collect();
    let sum_sq: f64 = rel.iter().map(|l| l * l).sum();
    Ok(Pca {
        k90: components_for(&cev, 0.90),
        k95: components_for(&cev, 0.95),
        erank: entropy_rank(&rel),
        erank_sigma: entropy_rank(&sqrt),
        pr: sum * sum / sum_sq,
        eigenvalues,
        eigenvectors,
        evr,
        cev,
        total_variance,
        dead,
    })
}

impl Pca {
    /// Smallest k with CEV_k >= `fraction` (0 if dead or `fraction` is not finite).
    pub fn components_for(&self, fraction: f64) -> usize {
        if self.dead || !fraction.is_finite() {
            return 0;
        }
        components_for(&self.cev, fraction)
    }
}

fn components_for(cev: &[f64], fraction: f64) -> usize {
    cev.iter()
        .position(|&c| c >= fraction - CEV_SLACK)
        .map_or(cev.len(), |i| i + 1)
}
