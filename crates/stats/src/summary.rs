//! Mean, sample standard deviation, t-interval and median of one sample (SPEC §8 "Report").

use crate::dist::t_quantile;
use crate::error::{check_level, check_sample, Result};

/// Descriptive statistics of one across-seed sample.
///
/// Fields that need at least two values (`sd`, `ci`, `t_crit`) are `None` for n = 1, so that no
/// NaN can leak into later averages or tables.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (divisor n − 1); `None` for n = 1.
    pub sd: Option<f64>,
    /// Two-sided t-interval `mean ± t_crit · sd / √n`; `None` for n = 1.
    pub ci: Option<(f64, f64)>,
    /// The critical value t_{(1+level)/2, n−1}; `None` for n = 1.
    pub t_crit: Option<f64>,
    /// Median (mean of the two middle values for even n).
    pub median: f64,
}

/// Arithmetic mean of a non-empty slice.
pub(crate) fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Sample standard deviation (n − 1 divisor) around `m`; `None` for fewer than two values.
pub(crate) fn sample_sd(xs: &[f64], m: f64) -> Option<f64> {
    if xs.len() < 2 {
        return None;
    }
    let ss: f64 = xs.iter().map(|x| (x - m) * (x - m)).sum();
    Some((ss / (xs.len() - 1) as f64).sqrt())
}

/// Median of a non-empty slice of finite values.
pub(crate) fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Summarizes `xs` with a two-sided t confidence interval at `level` (e.g. 0.95).
///
/// Errors on an empty sample, on any NaN/infinite value (the error names its index), and on a
/// level outside (0, 1).
pub fn summarize(xs: &[f64], level: f64) -> Result<Summary> {
    check_sample("summarize", xs, 1)?;
    check_level(level)?;
    let n = xs.len();
    let m = mean(xs);
    let sd = sample_sd(xs, m);
    let t_crit = sd.map(|_| t_quantile(0.5 + level / 2.0, (n - 1) as f64));
    let ci = match (sd, t_crit) {
        (Some(s), Some(t)) => {
            let half = t * s / (n as f64).sqrt();
            Some((m - half, m + half))
        }
        _ => None,
    };
    Ok(Summary {
        n,
        mean: m,
        sd,
        ci,
        t_crit,
        median: median(xs),
    })
}
