//! Spectral metrics of one matrix from its singular values (SPEC §5.1–§5.2, §13.1–§13.4).
//!
//! Shape contract: `sv` holds the `n = min(rows, cols)` singular values of a `rows x cols`
//! matrix, descending and nonnegative (as returned by [`crate::singular_values`]).
//!
//! The dead-spectrum / undefined-value policy is documented on [`SpectrumMetrics`].

use crate::validate::{nonneg, positive_count};
use crate::{Error, Result};

/// σ_1 at or below this marks a dead spectrum (SPEC §5.1).
pub const DEAD_SIGMA: f64 = 1e-12;

/// Knobs for [`spectrum_metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpectrumOptions {
    /// `q` for the decay ratio `ρ_q` and energy fraction `ε_q` (1-based; SPEC §5.2 default 4).
    pub decay_q: usize,
}

impl Default for SpectrumOptions {
    /// SPEC §5.2 default, `q = 4`.
    fn default() -> Self {
        Self { decay_q: 4 }
    }
}

/// All SPEC §5.2 metrics of one spectrum.
///
/// # Dead-matrix and "undefined" policy
/// * A spectrum is **dead** when `σ_1 <= DEAD_SIGMA` (1e-12), e.g. an expert whose units are
///   all inactive at a point. Then `dead = true`, `numerical_rank = 0`, `fit_points = 0`, and
///   every ratio-type metric (`rho_q`, `rho_quarter`, `energy_q`, `alpha`, `beta`, `erank`,
///   `srank`, `pr`) is NaN. `sigma1` and `frobenius` keep their computed values (exactly 0 for
///   an all-zero matrix; at most ~1e-12 otherwise), never NaN.
/// * Callers must **count** dead spectra and never average NaN into a mean.
/// * `alpha` and `beta` are NaN exactly when the fit is undefined: dead, or fewer than two
///   singular values above `tol` (`fit_points < 2`, e.g. a rank-1 matrix). For a live
///   spectrum NaN therefore means "numerical rank 1"; check `fit_points` to tell.
/// * Values `<= tol = max(rows, cols)·ε·σ_1` count as exactly 0 in every metric (NumPy
///   `matrix_rank` convention).
/// * `ρ_q` with `q > n` is NaN: σ_q does not exist (a 1 × 16 end-to-end Jacobian has one
///   singular value), and a zero there would pass for infinitely fast decay. `ε_q` with `q ≥ n`
///   is 1: the top q values hold all the energy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpectrumMetrics {
    /// Leading singular value σ_1 (spectral norm).
    pub sigma1: f64,
    /// Frobenius norm sqrt(Σ σ_i²).
    pub frobenius: f64,
    /// Decay ratio σ_q/σ_1 at `q = decay_q`.
    pub rho_q: f64,
    /// Decay ratio σ_q/σ_1 at `q = ⌈n/4⌉`.
    pub rho_quarter: f64,
    /// Top-q energy fraction Σ_{i<=q} σ_i² / Σ σ_i² at `q = decay_q`.
    pub energy_q: f64,
    /// Power-law decay exponent: minus the OLS slope of log σ_i on log i, i = 1..fit_points.
    pub alpha: f64,
    /// Exponential decay rate: minus the OLS slope of log(σ_i/σ_1) on i, i = 1..fit_points.
    pub beta: f64,
    /// Roy–Vetterli effective rank exp(H(σ/Σσ)).
    pub erank: f64,
    /// Stable rank Σ σ_i² / σ_1².
    pub srank: f64,
    /// Participation ratio of σ²: (Σ σ_i²)² / Σ σ_i⁴.
    pub pr: f64,
    /// #{σ_i > tol}.
    pub numerical_rank: usize,
    /// Number of points in the α/β fits (`= numerical_rank`; the fits need >= 2).
    pub fit_points: usize,
    /// σ_1 <= [`DEAD_SIGMA`]; all ratio metrics are then NaN.
    pub dead: bool,
}

/// Computes every SPEC §5.2 metric of one spectrum (dead/NaN policy: see [`SpectrumMetrics`]).
///
/// `sv`: the `min(rows, cols)` singular values, descending, finite, nonnegative.
/// `dims = (rows, cols)` of the matrix, used for `tol = max(rows, cols)·ε·σ_1`.
/// Errors on empty/non-finite/negative/unsorted `sv`, a length other than `min(rows, cols)`,
/// or `decay_q == 0`.
pub fn spectrum_metrics(sv: &[f64], dims: (usize, usize), opts: &SpectrumOptions) -> Result<SpectrumMetrics> {
    validate_spectrum(sv, dims)?;
    positive_count("SpectrumOptions::decay_q", opts.decay_q)?;
    let n = sv.len();
    let sigma1 = sv[0];
    let frobenius = sv.iter().map(|s| s * s).sum::<f64>().sqrt();
    if sigma1 <= DEAD_SIGMA {
        return Ok(dead_metrics(sigma1, frobenius));
    }
    let tol = dims.0.max(dims.1) as f64 * f64::EPSILON * sigma1;
    // Relative spectrum s_i = σ_i/σ_1 with sub-tol values zeroed; every ratio metric is
    // scale-free, and working relative to σ_1 keeps σ⁴ sums far from overflow.
    let s: Vec<f64> = sv.iter().map(|&x| if x > tol { x / sigma1 } else { 0.0 }).collect();
    let rank = s.iter().filter(|&&x| x > 0.0).count();
    let e2: f64 = s.iter().map(|x| x * x).sum();
    let e4: f64 = s.iter().map(|x| x.powi(4)).sum();
    let (alpha, beta) = decay_fits(&s[..rank]);
    Ok(SpectrumMetrics {
        sigma1,
        frobenius,
        rho_q: rho(&s, opts.decay_q),
        rho_quarter: rho(&s, n.div_ceil(4)),
        energy_q: s.iter().take(opts.decay_q).map(|x| x * x).sum::<f64>() / e2,
        alpha,
        beta,
        erank: entropy_rank(&s),
        srank: e2,
        pr: e2 * e2 / e4,
        numerical_rank: rank,
        fit_points: rank,
        dead: false,
    })
}

/// Roy–Vetterli effective rank `exp(−Σ p_i ln p_i)`, `p = v/Σv`, `0·ln 0 = 0` (SPEC §13.1).
///
/// `values` are nonnegative (singular values, or covariance eigenvalues for §6.2). No
/// threshold is applied. Returns `Ok(NaN)` (undefined) when every value is 0; errors on
/// empty, non-finite or negative input.
pub fn effective_rank(values: &[f64]) -> Result<f64> {
    nonneg("effective_rank: values", values)?;
    Ok(entropy_rank(values))
}

/// Participation ratio `(Σ λ)² / Σ λ²` (SPEC §13.3). Pass σ² for the §5.2 PR of a matrix,
/// covariance eigenvalues for §6.2. `Ok(NaN)` when all values are 0; errors as
/// [`effective_rank`].
pub fn participation_ratio(eigs: &[f64]) -> Result<f64> {
    nonneg("participation_ratio: values", eigs)?;
    let max = eigs.iter().copied().fold(0.0_f64, f64::max);
    if max == 0.0 {
        return Ok(f64::NAN);
    }
    // Scale by the max so the squares cannot overflow or underflow.
    let s1: f64 = eigs.iter().map(|l| l / max).sum();
    let s2: f64 = eigs.iter().map(|l| (l / max).powi(2)).sum();
    Ok(s1 * s1 / s2)
}

/// Stable rank `Σ σ_i² / max σ_i²` (SPEC §13.4). `Ok(NaN)` when all values are 0; errors as
/// [`effective_rank`]. Order of `sv` does not matter.
pub fn stable_rank(sv: &[f64]) -> Result<f64> {
    nonneg("stable_rank: singular values", sv)?;
    let max = sv.iter().copied().fold(0.0_f64, f64::max);
    if max == 0.0 {
        return Ok(f64::NAN);
    }
    Ok(sv.iter().map(|s| (s / max).powi(2)).sum())
}

/// exp(Shannon entropy) of `v/Σv`; NaN if the sum is 0. `v` is already validated.
pub(crate) fn entropy_rank(v: &[f64]) -> f64 {
    let total: f64 = v.iter().sum();
    if total <= 0.0 {
        return f64::NAN;
    }
    let h: f64 = v
        .iter()
        .filter(|&&x| x > 0.0)
        .map(|&x| {
            let p = x / total;
            -p * p.ln()
        })
        .sum();
    h.exp()
}

/// ρ_q on the relative spectrum (1-based q; NaN, undefined, beyond n).
fn rho(s: &[f64], q: usize) -> f64 {
    s.get(q - 1).copied().unwrap_or(f64::NAN)
}

/// (α, β) from OLS on the strictly positive relative spectrum `s_1..s_k`; NaN if k < 2.
fn decay_fits(s: &[f64]) -> (f64, f64) {
    if s.len() < 2 {
        return (f64::NAN, f64::NAN);
    }
    let y: Vec<f64> = s.iter().map(|x| x.ln()).collect();
    let log_i: Vec<f64> = (1..=s.len()).map(|i| (i as f64).ln()).collect();
    let lin_i: Vec<f64> = (1..=s.len()).map(|i| i as f64).collect();
    // log σ_i and log(σ_i/σ_1) differ by a constant, so one y serves both fits.
    (-ols_slope(&log_i, &y), -ols_slope(&lin_i, &y))
}

/// Ordinary-least-squares slope of y on x (centred form for accuracy).
fn ols_slope(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
    sxy / sxx
}

fn dead_metrics(sigma1: f64, frobenius: f64) -> SpectrumMetrics {
    SpectrumMetrics {
        sigma1,
        frobenius,
        rho_q: f64::NAN,
        rho_quarter: f64::NAN,
        energy_q: f64::NAN,
        alpha: f64::NAN,
        beta: f64::NAN,
        erank: f64::NAN,
        srank: f64::NAN,
        pr: f64::NAN,
        numerical_rank: 0,
        fit_points: 0,
        dead: true,
    }
}

fn validate_spectrum(sv: &[f64], (rows, cols): (usize, usize)) -> Result<()> {
    nonneg("spectrum_metrics: singular values", sv)?;
    if rows == 0 || cols == 0 {
        return Err(Error::Empty {
            what: "spectrum_metrics: dims",
        });
    }
    if sv.len() != rows.min(cols) {
        return Err(Error::LengthMismatch {
            what: "spectrum_metrics: singular values (min(rows, cols))",
            expected: rows.min(cols),
            got: sv.len(),
        });
    }
    match sv.windows(2).position(|w| w[1] > w[0]) {
        Some(i) => Err(Error::NotDescending {
            what: "spectrum_metrics: singular values",
            index: i + 1,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ols_slope_of_a_line_is_exact() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let y: Vec<f64> = x.iter().map(|v| 3.0 - 0.25 * v).collect();
        assert!((ols_slope(&x, &y) + 0.25).abs() < 1e-15);
    }

    #[test]
    fn rho_is_undefined_beyond_n() {
        assert_eq!(rho(&[1.0, 0.5], 2), 0.5);
        assert!(rho(&[1.0, 0.5], 3).is_nan());
    }
}
