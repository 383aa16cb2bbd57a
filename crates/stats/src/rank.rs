//! Average ranks and Spearman rank correlation.

use crate::error::{check_sample, Result, StatsError};
use crate::summary::mean;

/// 1-based average ranks of `xs` (ties share the mean of their positions) and the sizes of all
/// tie groups with more than one member. Values must be finite.
pub(crate) fn average_ranks(xs: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_by(|&i, &j| xs[i].total_cmp(&xs[j]));
    let mut ranks = vec![0.0; xs.len()];
    let mut ties = Vec::new();
    let mut start = 0;
    while start < order.len() {
        // `==` (not total_cmp) so that -0.0 and 0.0 tie, as in numpy.
        let mut end = start + 1;
        while end < order.len() && xs[order[end]] == xs[order[start]] {
            end += 1;
        }
        // Positions start+1 ..= end share their average rank.
        let avg = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = avg;
        }
        if end - start > 1 {
            ties.push(end - start);
        }
        start = end;
    }
    (ranks, ties)
}

/// Pearson correlation of two equal-length slices; `None` when either is constant.
fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let (mx, my) = (mean(x), mean(y));
    let mut sxy = 0.0;
    let mut sxx = 0.0;
    let mut syy = 0.0;
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        return None;
    }
    Some((sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0))
}

/// Spearman rank correlation: the Pearson correlation of the average ranks (ties get average
/// ranks, as `scipy.stats.spearmanr` does).
///
/// Errors when the lengths differ, n < 2, a value is not finite, or either input is constant
/// (the correlation is then undefined).
pub fn spearman(x: &[f64], y: &[f64]) -> Result<f64> {
    if x.len() != y.len() {
        return Err(StatsError::LengthMismatch {
            what: "spearman",
            left: x.len(),
            right: y.len(),
        });
    }
    check_sample("spearman x", x, 2)?;
    check_sample("spearman y", y, 2)?;
    let (rx, _) = average_ranks(x);
    let (ry, _) = average_ranks(y);
    pearson(&rx, &ry).ok_or(StatsError::Undefined {
        what: "spearman",
        reason: "one input is constant (all ranks tie)",
    })
}
