//! Student t and standard normal tail probabilities and quantiles.
//!
//! Tail probabilities are always computed on the small side (via symmetry) so that tiny p-values
//! keep full relative precision instead of being lost in `1 - x`.

use statrs::distribution::{Continuous, ContinuousCDF, StudentsT};
use statrs::function::{beta, erf};

/// Lower-tail probability P(T ≤ x) of a Student t with `df` degrees of freedom, for x ≤ 0.
fn t_lower_tail(x: f64, df: f64) -> f64 {
    if df.is_infinite() {
        return normal_cdf(x);
    }
    // P(T ≤ x) = I_{df/(df+x²)}(df/2, 1/2) / 2 for x ≤ 0.
    0.5 * beta::beta_reg(df / 2.0, 0.5, df / (df + x * x))
}

fn df_valid(df: f64) -> bool {
    df > 0.0 && !df.is_nan()
}

/// CDF P(T ≤ x) of the Student t distribution with `df` (> 0, may be fractional) degrees of
/// freedom. Returns NaN when `x` is NaN or `df` is not positive.
pub fn t_cdf(x: f64, df: f64) -> f64 {
    if x.is_nan() || !df_valid(df) {
        return f64::NAN;
    }
    if x <= 0.0 {
        t_lower_tail(x, df)
    } else {
        1.0 - t_lower_tail(-x, df)
    }
}

/// Survival function P(T > x) = `t_cdf(-x, df)`, accurate in the far upper tail.
pub fn t_sf(x: f64, df: f64) -> f64 {
    t_cdf(-x, df)
}

/// Standard normal CDF Φ(z).
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erf::erfc(-z / std::f64::consts::SQRT_2)
}

/// Standard normal survival function 1 − Φ(z), accurate in the far upper tail.
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erf::erfc(z / std::f64::consts::SQRT_2)
}

/// Quantile (inverse CDF) of the Student t distribution: the x with P(T ≤ x) = p.
///
/// `t_quantile(0.975, 4.0)` is the 2.776445 of a 95 % interval with five seeds. `p = 0` and
/// `p = 1` give ∓∞; `p` outside [0, 1], NaN, or `df ≤ 0` give NaN (this is a pure numeric
/// helper; the `Result`-returning functions validate their inputs before calling it).
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) || !df_valid(df) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    if p > 0.5 {
        // 1 - p is exact for p in [0.5, 1] (Sterbenz), so symmetry loses nothing.
        return -lower_quantile(1.0 - p, df);
    }
    lower_quantile(p, df)
}

/// Quantile for 0 < q ≤ 0.5 (result ≤ 0).
///
/// statrs' inverse CDF (through the inverse incomplete beta) is only accurate to roughly 1e-9,
/// so its answer is polished by Newton steps on the lower-tail CDF, which statrs evaluates to
/// near machine precision.
fn lower_quantile(q: f64, df: f64) -> f64 {
    if q == 0.5 {
        return 0.0;
    }
    if df.is_infinite() {
        // statrs' inverse incomplete beta does not terminate for an infinite shape parameter.
        return normal_lower_quantile(q);
    }
    let dist = match StudentsT::new(0.0, 1.0, df) {
        Ok(d) => d,
        Err(_) => return f64::NAN,
    };
    let mut x = dist.inverse_cdf(q);
    if !x.is_finite() || x > 0.0 {
        x = -1.0;
    }
    for _ in 0..50 {
        let f = t_lower_tail(x, df) - q;
        let dens = dist.pdf(x);
        if dens <= 0.0 || !dens.is_finite() {
            break;
        }
        let step = f / dens;
        // Newton on a convex-in-the-tail CDF; keep the iterate on the negative side.
        let next = (x - step).min(0.0);
        let done = (next - x).abs() <= 1e-15 * x.abs().max(1e-300);
        x = next;
        if done {
            break;
        }
    }
    x
}

/// Standard normal quantile for 0 < q < 0.5 by Newton on Φ from a safe start (Φ is convex on
/// the negative axis, so Newton from the right converges monotonically).
fn normal_lower_quantile(q: f64) -> f64 {
    let mut x = 0.0_f64;
    for _ in 0..200 {
        let dens = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
        if dens <= 0.0 {
            break;
        }
        let next = x - (normal_cdf(x) - q) / dens;
        let done = (next - x).abs() <= 1e-15 * x.abs().max(1e-300);
        x = next;
        if done {
            break;
        }
    }
    x
}
