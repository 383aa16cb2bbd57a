//! SPEC §3 synthetic tasks T1–T4, generated in f64 and stored as f32.
//!
//! - **T1** mixture of regimes: component c ~ U{0..C}, x = μ_c + N(0, I) (σ_c = 1, π_c = 1/C),
//!   μ_c ~ N(0, I)·r_sep; y = T_{c*(x)}(x) + ε with c*(x) the posterior-argmax cluster (equal
//!   σ and π make it the nearest mean), or with `soft_targets` y = Σ_c p(c|x) T_c(x) + ε.
//! - **T2** x ~ N(0, I), y = T(x) + ε with a single teacher.
//! - **T3** t ~ U[-1, 1]^q, ψ(t) = √(2/F)·cos(Ω t + b) with F = [`FOURIER_FEATURES`] = 64,
//!   Ω_ij ~ N(0, 1)·[`FOURIER_SCALE`] (= π, so a feature turns about half a period across the
//!   box) and b ~ U[0, 2π); x = A ψ(t) with A_ij ~ N(0, 1). Since |ψ|² ≈ 1 on average, each x_i
//!   has roughly unit scale. y = T(x) + ε.
//! - **T4** T1's inputs with the posterior-argmax cluster as class label (C classes, no noise).
//!
//! Teachers are d_in → teacher_hidden → d_out MLPs, tanh hidden layer and linear output,
//! weights Xavier-uniform (U(±√(6/(fan_in + fan_out)))), biases 0. ε ~ N(0, noise²).
//!
//! Streams (each `ChaCha8Rng::seed_from_u64(derive_seed(seed, purpose))`): `"data/task"` draws
//! the means, Ω, b, A and the teachers, in that order, so they depend on the seed only;
//! `"data/<split>"` draws a split's inputs (and components) and `"data/<split>/noise"` its noise,
//! for split in train, val, probe. Because the noise has its own stream, the same seed with a
//! different noise level gives the same inputs. The shifted T1 set of SPEC §9.2 S4
//! ([`shifted_t1`]) uses `"data/shift/direction"`, `"data/shift"` and `"data/shift/noise"`.

use crate::dataset::{Dataset, Splits, Targets};
use crate::{Error, Result};
use moescope_config::{derive_seed, SyntheticTask, TaskKind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Number of random Fourier features F of the T3 map ψ.
pub const FOURIER_FEATURES: usize = 64;
/// Scale of the T3 frequencies: Ω_ij ~ N(0, 1)·FOURIER_SCALE.
pub const FOURIER_SCALE: f64 = std::f64::consts::PI;

fn rng(seed: u64, purpose: &str) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(derive_seed(seed, purpose))
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// Random tanh MLP teacher: y = W2 tanh(W1 x + b1) + b2.
struct Teacher {
    w1: Vec<f64>, // h × d_in
    b1: Vec<f64>, // h
    w2: Vec<f64>, // d_out × h
    b2: Vec<f64>, // d_out
    d_in: usize,
}

impl Teacher {
    fn new(d_in: usize, hidden: usize, d_out: usize, rng: &mut ChaCha8Rng) -> Self {
        let xavier = |fan_in: usize, fan_out: usize, rng: &mut ChaCha8Rng| {
            let a = (6.0 / (fan_in + fan_out) as f64).sqrt();
            (0..fan_in * fan_out)
                .map(|_| rng.random_range(-a..a))
                .collect::<Vec<f64>>()
        };
        let w1 = xavier(d_in, hidden, rng);
        let w2 = xavier(hidden, d_out, rng);
        Teacher {
            w1,
            b1: vec![0.0; hidden],
            w2,
            b2: vec![0.0; d_out],
            d_in,
        }
    }

    /// T(x) ∈ R^{d_out}.
    fn eval(&self, x: &[f64]) -> Vec<f64> {
        let hid: Vec<f64> = self
            .w1
            .chunks_exact(self.d_in)
            .zip(&self.b1)
            .map(|(w, b)| (dot(w, x) + b).tanh())
            .collect();
        self.w2
            .chunks_exact(hid.len())
            .zip(&self.b2)
            .map(|(w, b)| dot(w, &hid) + b)
            .collect()
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Everything drawn from the `"data/task"` stream.
struct TaskParams {
    means: Vec<f64>, // C × d_in (T1/T4)
    omega: Vec<f64>, // F × q (T3)
    phase: Vec<f64>, // F (T3)
    proj: Vec<f64>,  // d_in × F (T3)
    teachers: Vec<Teacher>,
}

impl TaskParams {
    fn draw(t: &SyntheticTask, seed: u64) -> Self {
        let mut r = rng(seed, "data/task");
        let clustered = matches!(t.kind, TaskKind::T1Regimes | TaskKind::T4Clusters);
        let c = if clustered { t.clusters } else { 0 };
        let means = (0..c * t.d_in).map(|_| normal(&mut r) * t.separation).collect();
        let (f, q) = if t.kind == TaskKind::T3Manifold {
            (FOURIER_FEATURES, t.manifold_dim)
        } else {
            (0, 0)
        };
        let omega = (0..f * q).map(|_| normal(&mut r) * FOURIER_SCALE).collect();
        let phase = (0..f).map(|_| r.random_range(0.0..std::f64::consts::TAU)).collect();
        let proj = (0..t.d_in * f).map(|_| normal(&mut r)).collect();
        let n_teachers = match t.kind {
            TaskKind::T1Regimes => t.clusters,
            TaskKind::T4Clusters => 0,
            _ => 1,
        };
        let teachers = (0..n_teachers)
            .map(|_| Teacher::new(t.d_in, t.teacher_hidden, t.d_out, &mut r))
            .collect();
        TaskParams {
            means,
            omega,
            phase,
            proj,
            teachers,
        }
    }

    /// Posterior p(c | x) under equal weights and unit variances: softmax of −|x − μ_c|²/2.
    fn posterior(&self, x: &[f64]) -> Vec<f64> {
        let logits: Vec<f64> = self.means.chunks_exact(x.len()).map(|m| -0.5 * sq_dist(x, m)).collect();
        let top = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = logits.iter().map(|l| (l - top).exp()).collect();
        let z: f64 = e.iter().sum();
        e.into_iter().map(|v| v / z).collect()
    }

    /// x = A ψ(t), ψ(t) = √(2/F) cos(Ω t + b).
    fn manifold_point(&self, t: &[f64]) -> Vec<f64> {
        let f = self.phase.len();
        let psi: Vec<f64> = self
            .omega
            .chunks_exact(t.len())
            .zip(&self.phase)
            .map(|(w, b)| (2.0 / f as f64).sqrt() * (dot(w, t) + b).cos())
            .collect();
        self.proj.chunks_exact(f).map(|a| dot(a, &psi)).collect()
    }
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum()
}

/// Index of the largest value (the lowest index on ties).
fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .fold(0, |best, (i, &x)| if x > v[best] { i } else { best })
}

/// The T1/T4 cluster means μ_c of `seed`, `clusters × d_in` row-major (empty for T2/T3): drawn
/// from the same `"data/task"` stream as [`crate::build`], for reports and tests.
pub fn cluster_means(task: &SyntheticTask, seed: u64) -> Result<Vec<f64>> {
    check(task)?;
    Ok(TaskParams::draw(task, seed).means)
}

/// A seeded unit direction u ∈ R^{d_in} (the `"data/shift/direction"` stream): a standard
/// normal draw divided by its norm, so the direction is uniform on the sphere.
pub fn shift_direction(d_in: usize, seed: u64) -> Vec<f64> {
    let mut r = rng(seed, "data/shift/direction");
    loop {
        let v: Vec<f64> = (0..d_in).map(|_| normal(&mut r)).collect();
        let norm = dot(&v, &v).sqrt();
        // A zero draw has probability 0; redraw rather than divide by it.
        if norm > 0.0 {
            return v.into_iter().map(|x| x / norm).collect();
        }
    }
}

/// SPEC §9.2 S4: a fresh T1 set of `n` points (streams `"data/shift"` and
/// `"data/shift/noise"`) whose inputs come from the seed's mixture with every cluster mean moved
/// by `shift · u`, u = [`shift_direction`]. The targets follow the UNSHIFTED task rule
/// (teacher of the posterior-argmax cluster under the original means, or the posterior mixture
/// with `soft_targets`): the function to learn is unchanged and only the inputs move
/// (covariate shift). `shift = 0` gives a fresh in-distribution set.
pub fn shifted_t1(task: &SyntheticTask, seed: u64, shift: f64, n: usize) -> Result<Dataset> {
    check(task)?;
    if task.kind != TaskKind::T1Regimes || !shift.is_finite() {
        return Err(Error::Task {
            task: task.kind.to_string(),
            message: format!("shifted set with shift = {shift:?}: expected task t1_regimes and a finite shift"),
        });
    }
    let p = TaskParams::draw(task, seed);
    let u = shift_direction(task.d_in, seed);
    let moved = TaskParams {
        means: p
            .means
            .iter()
            .zip(u.iter().cycle())
            .map(|(m, v)| m + shift * v)
            .collect(),
        omega: Vec::new(),
        phase: Vec::new(),
        proj: Vec::new(),
        teachers: Vec::new(),
    };
    let (x, _) = draw_inputs(task, &moved, n, &mut rng(seed, "data/shift"));
    let targets = targets(task, &p, &x, &mut rng(seed, "data/shift/noise"));
    let shifted = Dataset {
        x: x.iter().map(|&v| v as f32).collect(),
        n,
        d_in: task.d_in,
        targets,
    };
    check_finite(task, &[("shifted", &shifted)])?;
    Ok(shifted)
}

/// Rejects specs this module cannot generate (the config validates most of these already).
fn check(t: &SyntheticTask) -> Result<()> {
    let bad = |message: String| {
        Err(Error::Task {
            task: t.kind.to_string(),
            message,
        })
    };
    let clustered = matches!(t.kind, TaskKind::T1Regimes | TaskKind::T4Clusters);
    if matches!(t.kind, TaskKind::Idx | TaskKind::Csv) {
        return bad("a file task cannot be generated; use TaskSpec::Idx or TaskSpec::Csv".into());
    }
    if t.d_in == 0 || t.d_out == 0 {
        return bad(format!(
            "d_in = {} and d_out = {}: expected both positive",
            t.d_in, t.d_out
        ));
    }
    if clustered && t.clusters == 0 {
        return bad("clusters = 0: expected at least 1 cluster".into());
    }
    if t.kind == TaskKind::T4Clusters && t.d_out != t.clusters {
        return bad(format!(
            "d_out = {}: expected d_out = clusters = {} for T4",
            t.d_out, t.clusters
        ));
    }
    if t.kind != TaskKind::T4Clusters && t.teacher_hidden == 0 {
        return bad("teacher_hidden = 0: expected a positive teacher width".into());
    }
    if t.kind == TaskKind::T3Manifold && t.manifold_dim == 0 {
        return bad("manifold_dim = 0: expected a positive latent dimension".into());
    }
    if !(t.separation.is_finite() && t.noise.is_finite() && t.noise >= 0.0) {
        return bad(format!(
            "separation = {}, noise = {}: expected finite, noise ≥ 0",
            t.separation, t.noise
        ));
    }
    Ok(())
}

/// Stage boundary: what the generator stored (f32) must be finite, else the error names the
/// config keys that scale it, rather than training failing later on an ∞.
fn check_finite(t: &SyntheticTask, sets: &[(&str, &Dataset)]) -> Result<()> {
    for (split, ds) in sets {
        // Inputs are N(0, 1) draws, bounded manifold points or cluster means (× separation) plus
        // N(0, 1); targets are bounded teachers plus noise.
        let keys = format!("task.separation = {:?}", t.separation);
        non_finite(t, split, "inputs", &ds.x, ds.d_in, &keys)?;
        if let Targets::Regression { values, dim } = &ds.targets {
            let keys = format!("task.noise = {:?} (or task.separation = {:?})", t.noise, t.separation);
            non_finite(t, split, "targets", values, *dim, &keys)?;
        }
    }
    Ok(())
}

/// An error for the first non-finite value of `values` (`cols` per row), naming `keys`.
fn non_finite(t: &SyntheticTask, split: &str, what: &str, values: &[f32], cols: usize, keys: &str) -> Result<()> {
    let Some(i) = values.iter().position(|v| !v.is_finite()) else {
        return Ok(());
    };
    Err(Error::Task {
        task: t.kind.to_string(),
        message: format!(
            "generated {what} are not finite in f32 ({split} row {}, column {} is {}): expected |v| ≤ 3.4e38; \
             lower {keys}",
            i / cols,
            i % cols,
            values[i]
        ),
    })
}

/// One split's inputs (f64, `n × d_in`) and, for T1/T4, the drawn components.
fn draw_inputs(t: &SyntheticTask, p: &TaskParams, n: usize, r: &mut ChaCha8Rng) -> (Vec<f64>, Vec<u32>) {
    let d = t.d_in;
    let mut x = Vec::with_capacity(n * d);
    let mut comps = Vec::new();
    for _ in 0..n {
        match t.kind {
            TaskKind::T1Regimes | TaskKind::T4Clusters => {
                let c = r.random_range(0..t.clusters);
                comps.push(c as u32);
                x.extend(p.means[c * d..(c + 1) * d].iter().map(|m| m + normal(r)));
            }
            TaskKind::T3Manifold => {
                let latent: Vec<f64> = (0..t.manifold_dim).map(|_| r.random_range(-1.0..1.0)).collect();
                x.extend(p.manifold_point(&latent));
            }
            _ => x.extend((0..d).map(|_| normal(r))),
        }
    }
    (x, comps)
}

/// Targets of one split: teacher outputs plus noise, or T4's class labels.
fn targets(t: &SyntheticTask, p: &TaskParams, x: &[f64], noise: &mut ChaCha8Rng) -> Targets {
    let rows = x.chunks_exact(t.d_in);
    if t.kind == TaskKind::T4Clusters {
        let labels = rows.map(|xi| argmax(&p.posterior(xi)) as u32).collect();
        return Targets::Classes {
            labels,
            classes: t.clusters,
        };
    }
    let mut values = Vec::with_capacity(x.len() / t.d_in * t.d_out);
    for xi in rows {
        let clean = match t.kind {
            TaskKind::T1Regimes if t.soft_targets => {
                let post = p.posterior(xi);
                let mut y = vec![0.0; t.d_out];
                for (teacher, w) in p.teachers.iter().zip(&post) {
                    teacher
                        .eval(xi)
                        .iter()
                        .zip(y.iter_mut())
                        .for_each(|(v, acc)| *acc += w * v);
                }
                y
            }
            TaskKind::T1Regimes => p.teachers[argmax(&p.posterior(xi))].eval(xi),
            _ => p.teachers[0].eval(xi),
        };
        values.extend(clean.iter().map(|v| (v + t.noise * normal(noise)) as f32));
    }
    Targets::Regression { values, dim: t.d_out }
}

fn make_split(t: &SyntheticTask, p: &TaskParams, n: usize, seed: u64, split: &str) -> (Dataset, Vec<u32>) {
    let (x, comps) = draw_inputs(t, p, n, &mut rng(seed, &format!("data/{split}")));
    let targets = targets(t, p, &x, &mut rng(seed, &format!("data/{split}/noise")));
    let x = x.iter().map(|&v| v as f32).collect();
    (
        Dataset {
            x,
            n,
            d_in: t.d_in,
            targets,
        },
        comps,
    )
}

fn describe(t: &SyntheticTask) -> String {
    let (c, d_in, d_out, teacher) = (t.clusters, t.d_in, t.d_out, t.teacher_hidden);
    let (r, noise) = (t.separation, t.noise);
    let rule = if t.soft_targets {
        "posterior-weighted"
    } else {
        "posterior-argmax"
    };
    match t.kind {
        TaskKind::T1Regimes => format!(
            "T1 mixture of regimes, C={c}, d_in={d_in}, d_out={d_out}, r_sep={r}, {rule} teacher ({teacher} tanh units), noise={noise}"
        ),
        TaskKind::T2Teacher => format!("T2 global teacher, x~N(0,I), d_in={d_in}, d_out={d_out}, teacher {teacher} tanh units, noise={noise}"),
        TaskKind::T3Manifold => format!(
            "T3 manifold, q={}, {FOURIER_FEATURES} Fourier features, d_in={d_in}, d_out={d_out}, teacher {teacher} tanh units, noise={noise}",
            t.manifold_dim
        ),
        _ => format!("T4 cluster classification, C={c}, d_in={d_in}, r_sep={r}"),
    }
}

/// Builds T1–T4 splits for one seed.
pub(crate) fn build_synthetic(t: &SyntheticTask, seed: u64) -> Result<Splits> {
    check(t)?;
    let p = TaskParams::draw(t, seed);
    let (train, _) = make_split(t, &p, t.sizes.train, seed, "train");
    let (val, _) = make_split(t, &p, t.sizes.val, seed, "val");
    let (probe, comps) = make_split(t, &p, t.sizes.probe, seed, "probe");
    check_finite(t, &[("train", &train), ("val", &val), ("probe", &probe)])?;
    let clustered = matches!(t.kind, TaskKind::T1Regimes | TaskKind::T4Clusters);
    Ok(Splits {
        train,
        val,
        probe,
        description: describe(t),
        cluster_of_probe: clustered.then_some(comps),
    })
}
