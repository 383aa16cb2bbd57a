//! Wilcoxon signed-rank test on paired differences (matching `scipy.stats.wilcoxon` with its
//! defaults `zero_method="wilcox"`, `correction=False`).

use crate::dist::{normal_cdf, normal_sf};
use crate::rank::average_ranks;

/// Largest number of non-zero differences for which the exact null distribution is used
/// (when there are also no ties among |Δ|).
pub const WILCOXON_EXACT_MAX_N: usize = 25;

/// Outcome of the signed-rank test; p-values are `None` when no non-zero difference is left.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Wilcoxon {
    pub w_plus: f64,
    pub p_two: Option<f64>,
    pub p_less: Option<f64>,
    pub p_greater: Option<f64>,
    pub exact: bool,
}

/// Runs the test on finite differences `d`. Zeros are dropped first (Wilcoxon's convention).
pub(crate) fn signed_rank(d: &[f64]) -> Wilcoxon {
    let nz: Vec<f64> = d.iter().copied().filter(|&x| x != 0.0).collect();
    let abs: Vec<f64> = nz.iter().map(|x| x.abs()).collect();
    let (ranks, ties) = average_ranks(&abs);
    let w_plus: f64 = nz.iter().zip(&ranks).filter(|(x, _)| **x > 0.0).map(|(_, r)| r).sum();
    let n = nz.len();
    if n == 0 {
        return Wilcoxon {
            w_plus,
            p_two: None,
            p_less: None,
            p_greater: None,
            exact: false,
        };
    }
    let exact = n <= WILCOXON_EXACT_MAX_N && ties.is_empty();
    let (p_less, p_greater) = if exact {
        // Without ties every rank is an integer, so w_plus is an exact integer.
        exact_tails(n, w_plus.round() as usize)
    } else {
        normal_tails(n, &ties, w_plus)
    };
    Wilcoxon {
        w_plus,
        p_two: Some((2.0 * p_less.min(p_greater)).min(1.0)),
        p_less: Some(p_less),
        p_greater: Some(p_greater),
        exact,
    }
}

/// Number of sign assignments of ranks 1..=n whose positive-rank sum is s, for every s.
fn rank_sum_counts(n: usize) -> Vec<u64> {
    let max = n * (n + 1) / 2;
    let mut counts = vec![0u64; max + 1];
    counts[0] = 1;
    // Subset-sum DP: add rank r, iterating sums downwards so each rank is used at most once.
    for r in 1..=n {
        for s in (r..=max).rev() {
            counts[s] += counts[s - r];
        }
    }
    counts
}

/// Exact (P(W+ ≤ w), P(W+ ≥ w)) under H0 for n untied non-zero differences.
fn exact_tails(n: usize, w: usize) -> (f64, f64) {
    let counts = rank_sum_counts(n);
    let total = 2f64.powi(n as i32);
    let w = w.min(counts.len() - 1);
    let below: u64 = counts[..=w].iter().sum();
    let above: u64 = counts[w..].iter().sum();
    (below as f64 / total, above as f64 / total)
}

/// Normal-approximation (P(W+ ≤ w), P(W+ ≥ w)) with tie correction, no continuity correction.
fn normal_tails(n: usize, ties: &[usize], w: f64) -> (f64, f64) {
    let nf = n as f64;
    let mean = nf * (nf + 1.0) / 4.0;
    let tie_sum: f64 = ties.iter().map(|&t| (t as f64).powi(3) - t as f64).sum();
    let var = (nf * (nf + 1.0) * (2.0 * nf + 1.0) - tie_sum / 2.0) / 24.0;
    // var > 0 whenever n ≥ 1 (even if all |Δ| tie), so z is finite.
    let z = (w - mean) / var.sqrt();
    (normal_cdf(z), normal_sf(z))
}
