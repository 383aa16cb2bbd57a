//! Routing statistics: entropy of gate vectors and expert load (SPEC §6.4).
//!
//! Shape contract: gates `g` are row-major `n x E` (one probability vector per point).
//! Natural logarithms throughout; `0·ln 0 = 0` (SPEC §5.1).

use crate::validate::{nonneg, shape};
use crate::{Error, Result};

/// Shannon entropy `−Σ p_i ln p_i` (nats) of `p / Σp`.
///
/// `p` is normalised by its sum, so counts or loads may be passed directly. Errors on empty,
/// non-finite or negative input, or a zero sum.
pub fn entropy(p: &[f64]) -> Result<f64> {
    nonneg("entropy: p", p)?;
    let total: f64 = p.iter().sum();
    if total <= 0.0 {
        return Err(Error::ZeroTotalWeight { what: "entropy: p" });
    }
    Ok(p.iter()
        .filter(|&&x| x > 0.0)
        .map(|&x| {
            let q = x / total;
            -q * q.ln()
        })
        .sum())
}

/// Entropy normalised by its maximum, `H(p) / ln len(p)` ∈ [0, 1]. Needs `len(p) >= 2`.
pub fn normalized_entropy(p: &[f64]) -> Result<f64> {
    if p.len() < 2 {
        return Err(Error::InvalidArgument {
            what: "normalized_entropy: len(p)",
            value: p.len() as f64,
            expected: ">= 2 (ln 1 = 0)",
        });
    }
    Ok(entropy(p)? / (p.len() as f64).ln())
}

/// Chart-overlap statistics of one model's gates (SPEC §6.4).
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingStats {
    /// Mean over points of H(g(h)) in nats.
    pub mean_entropy: f64,
    /// `mean_entropy / ln E`.
    pub mean_entropy_normalized: f64,
    /// Expert load f_e = mean_i g_e(h_i) (length E).
    pub load: Vec<f64>,
    /// Entropy of the load vector (nats).
    pub load_entropy: f64,
    /// `load_entropy / ln E`.
    pub load_entropy_normalized: f64,
}

/// Routing entropy and load statistics of `n x E` row-major gates. Needs `E >= 2`; each row
/// must have a positive sum (rows are normalised by their sum for the entropy).
pub fn routing_stats(g: &[f64], n: usize, e: usize) -> Result<RoutingStats> {
    shape("routing_stats: gates", g, n, e)?;
    nonneg("routing_stats: gates", g)?;
    if e < 2 {
        return Err(Error::InvalidArgument {
            what: "routing_stats: E",
            value: e as f64,
            expected: ">= 2",
        });
    }
    let mut load = vec![0.0; e];
    let mut sum_h = 0.0;
    for row in g.chunks_exact(e) {
        sum_h += entropy(row)?;
        for (l, v) in load.iter_mut().zip(row) {
            *l += v;
        }
    }
    load.iter_mut().for_each(|l| *l /= n as f64);
    let ln_e = (e as f64).ln();
    let mean_entropy = sum_h / n as f64;
    let load_entropy = entropy(&load)?;
    Ok(RoutingStats {
        mean_entropy,
        mean_entropy_normalized: mean_entropy / ln_e,
        load,
        load_entropy,
        load_entropy_normalized: load_entropy / ln_e,
    })
}
