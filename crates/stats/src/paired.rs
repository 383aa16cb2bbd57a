//! Paired comparison of two across-seed samples (SPEC §8 "Paired comparisons").

use crate::dist::{t_cdf, t_sf};
use crate::error::{check_sample, Result, StatsError};
use crate::summary::{mean, sample_sd};
use crate::wilcoxon::signed_rank;

/// Paired comparison of `a` against `b` on the differences Δ_s = a_s − b_s.
///
/// "less"/"greater" are the one-sided alternatives mean(Δ) < 0 / mean(Δ) > 0 (scipy's
/// `alternative="less"/"greater"` for `ttest_rel(a, b)` and `wilcoxon(a, b)`).
///
/// `None` marks a quantity that is undefined for this input, never NaN:
/// * n < 2: `sd_diff`, `t`, the t p-values and `cohen_dz` are `None`;
/// * zero-variance differences (all Δ equal, `sd_diff == Some(0.0)`): `t`, its p-values and
///   `cohen_dz` are `None` (t would be ±∞ or 0/0);
/// * all Δ zero: the Wilcoxon p-values are `None` (no non-zero difference is left to rank).
#[derive(Debug, Clone, PartialEq)]
pub struct PairedTest {
    /// Number of pairs (including zero differences).
    pub n: usize,
    /// mean(Δ).
    pub mean_diff: f64,
    /// Sample standard deviation of Δ; `None` for n < 2.
    pub sd_diff: Option<f64>,
    /// Paired t statistic mean(Δ) / (sd(Δ)/√n).
    pub t: Option<f64>,
    /// Degrees of freedom n − 1 (0 for n = 1).
    pub df: usize,
    /// Two-sided paired t-test p-value.
    pub p_t: Option<f64>,
    /// One-sided t p-value for mean(Δ) < 0.
    pub p_t_less: Option<f64>,
    /// One-sided t p-value for mean(Δ) > 0.
    pub p_t_greater: Option<f64>,
    /// Wilcoxon W+: sum of the ranks of |Δ| over positive Δ, zeros dropped, ties averaged.
    pub wilcoxon_w_plus: f64,
    /// Two-sided Wilcoxon signed-rank p-value.
    pub p_wilcoxon: Option<f64>,
    /// One-sided Wilcoxon p-value for Δ tending negative.
    pub p_wilcoxon_less: Option<f64>,
    /// One-sided Wilcoxon p-value for Δ tending positive.
    pub p_wilcoxon_greater: Option<f64>,
    /// `true` if the exact null distribution was used (≤ [`crate::WILCOXON_EXACT_MAX_N`]
    /// non-zero Δ and no ties among |Δ|); `false` for the tie-corrected normal approximation
    /// without continuity correction, or when the p-values are `None`.
    pub wilcoxon_exact: bool,
    /// Cohen's d_z = mean(Δ) / sd(Δ).
    pub cohen_dz: Option<f64>,
    /// Number of pairs with Δ > 0.
    pub n_pos: usize,
    /// Number of pairs with Δ < 0.
    pub n_neg: usize,
    /// Number of pairs with Δ = 0 (dropped by the Wilcoxon test).
    pub n_zero: usize,
}

/// t statistic and (two-sided, less, greater) p-values; `None` when sd is missing or zero.
fn t_test(m: f64, sd: Option<f64>, n: usize) -> Option<(f64, f64, f64, f64)> {
    let s = sd.filter(|&s| s > 0.0)?;
    let t = m / (s / (n as f64).sqrt());
    let df = (n - 1) as f64;
    let p_less = t_cdf(t, df);
    let p_greater = t_sf(t, df);
    let p_two = (2.0 * t_sf(t.abs(), df)).min(1.0);
    Some((t, p_two, p_less, p_greater))
}

/// Differences within this many ulps of the larger operand count as exact ties.
pub const TIE_ULPS: f64 = 16.0;

/// Compares `a` with `b` pair by pair (paired t, Wilcoxon signed-rank, d_z, sign counts).
/// Differences at rounding-noise level ([`TIE_ULPS`]) are exact ties.
///
/// Errors when the inputs are empty, differ in length, or hold a non-finite value (the error
/// names the input and index).
pub fn paired(a: &[f64], b: &[f64]) -> Result<PairedTest> {
    if a.len() != b.len() {
        return Err(StatsError::LengthMismatch {
            what: "paired",
            left: a.len(),
            right: b.len(),
        });
    }
    check_sample("paired a", a, 1)?;
    check_sample("paired b", b, 1)?;
    // A difference within a few ulps of its operands is rounding noise (e.g. a routing-mass
    // weighted mean of integer k90 values that comes out as 2.9999999999999996): a tie, not
    // evidence. Without this, noise-level differences give huge t statistics.
    let d: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| {
            let diff = x - y;
            if diff.abs() <= TIE_ULPS * f64::EPSILON * x.abs().max(y.abs()) {
                0.0
            } else {
                diff
            }
        })
        .collect();
    // Finite minus finite can still overflow to ±∞.
    check_sample("paired a - b", &d, 1)?;
    let n = d.len();
    let m = mean(&d);
    let sd = sample_sd(&d, m);
    let tt = t_test(m, sd, n);
    let w = signed_rank(&d);
    let positive_sd = sd.filter(|&s| s > 0.0);
    Ok(PairedTest {
        n,
        mean_diff: m,
        sd_diff: sd,
        t: tt.map(|x| x.0),
        df: n - 1,
        p_t: tt.map(|x| x.1),
        p_t_less: tt.map(|x| x.2),
        p_t_greater: tt.map(|x| x.3),
        wilcoxon_w_plus: w.w_plus,
        p_wilcoxon: w.p_two,
        p_wilcoxon_less: w.p_less,
        p_wilcoxon_greater: w.p_greater,
        wilcoxon_exact: w.exact,
        cohen_dz: positive_sd.map(|s| m / s),
        n_pos: d.iter().filter(|&&x| x > 0.0).count(),
        n_neg: d.iter().filter(|&&x| x < 0.0).count(),
        n_zero: d.iter().filter(|&&x| x == 0.0).count(),
    })
}
