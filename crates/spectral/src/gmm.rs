//! Deterministic diagonal-covariance Gaussian mixture, fitted by EM, for the cluster-matched
//! dense control (SPEC §6.3): its responsibilities serve as soft weights w_ie in §6.1.
//!
//! Shape contract: points `x` row-major `n x d`; responsibilities row-major `n x K`, each
//! row summing to 1; means and variances row-major `K x d`.
//!
//! Determinism (no RNG): centres are initialised by **maximin farthest-point** selection —
//! the first centre is the point nearest the data mean, each next centre is the point
//! farthest (squared Euclidean) from its nearest chosen centre, lowest index on ties — then
//! refined by at most [`LLOYD_ITERS`] Lloyd (hard k-means) steps. The first M-step uses those
//! hard assignments. The same input and options therefore always give the same output.

use crate::validate::{matrix, positive_count};
use crate::{Error, Result};

/// Lloyd refinement steps before EM (stops early once assignments are stable).
pub const LLOYD_ITERS: usize = 20;

/// Options for [`fit_diagonal_gmm`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GmmOptions {
    /// Number of mixture components K (1 <= K <= n).
    pub components: usize,
    /// Maximum EM iterations (>= 1).
    pub max_iter: usize,
    /// Stop when the mean per-point log-likelihood changes by at most this (>= 0).
    pub tol: f64,
    /// Added to every variance (> 0), as scikit-learn's `reg_covar`; keeps variances positive.
    pub reg: f64,
}

impl GmmOptions {
    /// `components` with defaults `max_iter = 200`, `tol = 1e-8`, `reg = 1e-6`.
    pub fn new(components: usize) -> Self {
        Self {
            components,
            max_iter: 200,
            tol: 1e-8,
            reg: 1e-6,
        }
    }
}

/// A fitted diagonal GMM.
#[derive(Debug, Clone, PartialEq)]
pub struct GmmFit {
    /// Posterior responsibilities, row-major `n x K` (rows sum to 1), under the final parameters.
    pub responsibilities: Vec<f64>,
    /// Component means, row-major `K x d`.
    pub means: Vec<f64>,
    /// Component variances (including `reg`), row-major `K x d`.
    pub variances: Vec<f64>,
    /// Mixing weights (length K, sum 1).
    pub weights: Vec<f64>,
    /// Mean per-point log-likelihood under the final parameters.
    pub log_likelihood: f64,
    /// EM iterations run.
    pub iterations: usize,
    /// Whether the `tol` criterion was met within `max_iter`.
    pub converged: bool,
}

/// Responsibilities (`n x K`, row-major) of a deterministic diagonal GMM fitted to `n x d` points.
pub fn diagonal_gmm_responsibilities(x: &[f64], n: usize, d: usize, opts: &GmmOptions) -> Result<Vec<f64>> {
    Ok(fit_diagonal_gmm(x, n, d, opts)?.responsibilities)
}

/// Fits a diagonal-covariance GMM by EM with the deterministic initialisation in the module docs.
pub fn fit_diagonal_gmm(x: &[f64], n: usize, d: usize, opts: &GmmOptions) -> Result<GmmFit> {
    matrix("fit_diagonal_gmm: points", x, n, d)?;
    validate_options(opts, n)?;
    let pts = Points { x, n, d };
    let k = opts.components;
    let global_var = pts.global_variance();
    let labels = lloyd(&pts, farthest_point_centres(&pts, k), k);
    let mut hard = vec![0.0; n * k];
    for (i, &l) in labels.iter().enumerate() {
        hard[i * k + l] = 1.0;
    }
    let mut params = m_step(&pts, &hard, k, opts.reg, &global_var, None);
    let (mut resp, mut ll) = e_step(&pts, &params);
    let (mut iterations, mut converged) = (0, false);
    while iterations < opts.max_iter {
        iterations += 1;
        params = m_step(&pts, &resp, k, opts.reg, &global_var, Some(&params.means));
        let (r, l) = e_step(&pts, &params);
        let delta = (l - ll).abs();
        (resp, ll) = (r, l);
        if delta <= opts.tol {
            converged = true;
            break;
        }
    }
    Ok(GmmFit {
        responsibilities: resp,
        means: params.means,
        variances: params.variances,
        weights: params.weights,
        log_likelihood: ll,
        iterations,
        converged,
    })
}

/// Borrowed `n x d` row-major points.
struct Points<'a> {
    x: &'a [f64],
    n: usize,
    d: usize,
}

impl Points<'_> {
    fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.d..(i + 1) * self.d]
    }

    fn mean(&self) -> Vec<f64> {
        let mut m = vec![0.0; self.d];
        for i in 0..self.n {
            m.iter_mut().zip(self.row(i)).for_each(|(a, b)| *a += b);
        }
        m.iter_mut().for_each(|a| *a /= self.n as f64);
        m
    }

    /// Per-dimension (biased) variance of all points; the fallback for empty components.
    fn global_variance(&self) -> Vec<f64> {
        let mean = self.mean();
        let mut v = vec![0.0; self.d];
        for i in 0..self.n {
            for ((a, x), m) in v.iter_mut().zip(self.row(i)).zip(&mean) {
                *a += (x - m) * (x - m);
            }
        }
        v.iter_mut().for_each(|a| *a /= self.n as f64);
        v
    }
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Index of the first minimum (lowest index on ties; NaN-free input assumed).
fn argmin(v: impl Iterator<Item = f64>) -> usize {
    let mut best = (0, f64::INFINITY);
    for (i, x) in v.enumerate() {
        if x < best.1 {
            best = (i, x);
        }
    }
    best.0
}

/// Maximin farthest-point centres (as `K x d` row-major), see module docs.
fn farthest_point_centres(pts: &Points, k: usize) -> Vec<f64> {
    let mean = pts.mean();
    let first = argmin((0..pts.n).map(|i| sq_dist(pts.row(i), &mean)));
    let mut centres = pts.row(first).to_vec();
    let mut nearest: Vec<f64> = (0..pts.n).map(|i| sq_dist(pts.row(i), pts.row(first))).collect();
    for _ in 1..k {
        // argmax == argmin of the negation, keeping the lowest-index tie rule.
        let next = argmin(nearest.iter().map(|v| -v));
        let c = pts.row(next).to_vec();
        for (i, dist) in nearest.iter_mut().enumerate() {
            *dist = dist.min(sq_dist(pts.row(i), &c));
        }
        centres.extend_from_slice(&c);
    }
    centres
}

/// Lloyd iterations from `centres`; returns hard labels (length n).
fn lloyd(pts: &Points, mut centres: Vec<f64>, k: usize) -> Vec<usize> {
    let d = pts.d;
    let assign = |c: &[f64]| -> Vec<usize> {
        (0..pts.n)
            .map(|i| argmin((0..k).map(|j| sq_dist(pts.row(i), &c[j * d..(j + 1) * d]))))
            .collect()
    };
    let mut labels = assign(&centres);
    for _ in 0..LLOYD_ITERS {
        let mut sums = vec![0.0; k * d];
        let mut counts = vec![0usize; k];
        for (i, &l) in labels.iter().enumerate() {
            counts[l] += 1;
            sums[l * d..(l + 1) * d]
                .iter_mut()
                .zip(pts.row(i))
                .for_each(|(a, b)| *a += b);
        }
        for j in (0..k).filter(|&j| counts[j] > 0) {
            for t in 0..d {
                // An empty cluster keeps its previous centre.
                centres[j * d + t] = sums[j * d + t] / counts[j] as f64;
            }
        }
        let next = assign(&centres);
        if next == labels {
            break;
        }
        labels = next;
    }
    labels
}

/// Mixture parameters: means/variances `K x d`, weights `K`.
struct Params {
    means: Vec<f64>,
    variances: Vec<f64>,
    weights: Vec<f64>,
}

/// Component mass below which a component is treated as empty.
const EMPTY_MASS: f64 = 1e-10;

/// M-step from `n x K` responsibilities. An (almost) empty component keeps its previous
/// mean (or the data mean) and gets the global variance, so nothing becomes 0/0.
fn m_step(pts: &Points, resp: &[f64], k: usize, reg: f64, global_var: &[f64], prev_means: Option<&[f64]>) -> Params {
    let (n, d) = (pts.n, pts.d);
    let mut mass = vec![0.0; k];
    let mut means = vec![0.0; k * d];
    for i in 0..n {
        for j in 0..k {
            let r = resp[i * k + j];
            mass[j] += r;
            means[j * d..(j + 1) * d]
                .iter_mut()
                .zip(pts.row(i))
                .for_each(|(a, b)| *a += r * b);
        }
    }
    let data_mean = pts.mean();
    let mut variances = vec![0.0; k * d];
    for j in 0..k {
        let m = &mut means[j * d..(j + 1) * d];
        if mass[j] > EMPTY_MASS {
            m.iter_mut().for_each(|a| *a /= mass[j]);
        } else {
            m.copy_from_slice(prev_means.map_or(&data_mean[..], |p| &p[j * d..(j + 1) * d]));
        }
    }
    for i in 0..n {
        for j in (0..k).filter(|&j| mass[j] > EMPTY_MASS) {
            let r = resp[i * k + j];
            for (t, x) in pts.row(i).iter().enumerate() {
                variances[j * d + t] += r * (x - means[j * d + t]).powi(2);
            }
        }
    }
    for j in 0..k {
        for t in 0..d {
            let v = &mut variances[j * d + t];
            *v = if mass[j] > EMPTY_MASS {
                *v / mass[j]
            } else {
                global_var[t]
            } + reg;
        }
    }
    // Floor keeps ln(weight) finite for an empty component.
    let weights = mass.iter().map(|m| (m / n as f64).max(f64::MIN_POSITIVE)).collect();
    Params {
        means,
        variances,
        weights,
    }
}

/// E-step: (`n x K` responsibilities, mean per-point log-likelihood), via log-sum-exp.
fn e_step(pts: &Points, p: &Params) -> (Vec<f64>, f64) {
    let (n, d, k) = (pts.n, pts.d, p.weights.len());
    let ln_2pi = (2.0 * std::f64::consts::PI).ln();
    // Per-component constant ln π_k − ½ Σ_t ln(2π v_kt).
    let konst: Vec<f64> = (0..k)
        .map(|j| {
            let lv: f64 = p.variances[j * d..(j + 1) * d].iter().map(|v| v.ln()).sum();
            p.weights[j].ln() - 0.5 * (d as f64 * ln_2pi + lv)
        })
        .collect();
    let mut resp = vec![0.0; n * k];
    let mut total_ll = 0.0;
    for i in 0..n {
        let row = &mut resp[i * k..(i + 1) * k];
        for (j, out) in row.iter_mut().enumerate() {
            let maha: f64 = pts
                .row(i)
                .iter()
                .zip(&p.means[j * d..(j + 1) * d])
                .zip(&p.variances[j * d..(j + 1) * d])
                .map(|((x, m), v)| (x - m) * (x - m) / v)
                .sum();
            *out = konst[j] - 0.5 * maha;
        }
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = row.iter().map(|l| (l - max).exp()).sum();
        let lse = max + sum.ln();
        row.iter_mut().for_each(|l| *l = (*l - lse).exp());
        total_ll += lse;
    }
    (resp, total_ll / n as f64)
}

fn validate_options(opts: &GmmOptions, n: usize) -> Result<()> {
    positive_count("GmmOptions::components", opts.components)?;
    positive_count("GmmOptions::max_iter", opts.max_iter)?;
    if opts.components > n {
        return Err(Error::InvalidArgument {
            what: "GmmOptions::components",
            value: opts.components as f64,
            expected: "<= number of points n",
        });
    }
    if !(opts.tol.is_finite() && opts.tol >= 0.0) {
        return Err(Error::InvalidArgument {
            what: "GmmOptions::tol",
            value: opts.tol,
            expected: "finite and >= 0",
        });
    }
    if !(opts.reg.is_finite() && opts.reg > 0.0) {
        return Err(Error::InvalidArgument {
            what: "GmmOptions::reg",
            value: opts.reg,
            expected: "finite and > 0",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn farthest_point_init_is_deterministic_and_spread() {
        // 1-D points; mean 2.2 -> nearest is 2.0 (index 2); farthest from it is 10.0.
        let x = [0.0, 1.0, 2.0, 0.0, 10.0];
        let pts = Points { x: &x, n: 5, d: 1 };
        assert_eq!(farthest_point_centres(&pts, 2), vec![2.0, 10.0]);
        // Third centre: distances to {2, 10} are 2,1,0,2,0 -> first max is index 0.
        assert_eq!(farthest_point_centres(&pts, 3), vec![2.0, 10.0, 0.0]);
    }
}
