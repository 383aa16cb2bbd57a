//! SPEC §9.2 S4, local robustness (behind `probe.robustness`):
//!
//! - `robust.sensitivity_s<σ>` = mean_i mean_draws ‖f(x_i + δ) − f(x_i)‖ / ‖δ‖,
//! - `robust.curvature_s<σ>` = mean_i mean_draws ‖J(x_i + δ) − J(x_i)‖_F / ‖δ‖,
//!
//! with δ ~ N(0, σ² I) in input space, f the model output and J its input Jacobian (d_out × d_in).
//! Both use the same draws. Draw s of level σ_j comes from its own ChaCha8 stream seeded with
//! `derive_seed(derive_seed(seed, "robustness"), "<j>/<s>")`, consumed in probe-point order, so
//! the values do not depend on the chunk size.
//!
//! - `robust.shift_loss`, `robust.shift_loss_ratio`: T1 only, the task loss on a fresh set from
//!   [`moescope_data::shifted_t1`] (every cluster mean moved by `shift` along a seeded unit
//!   direction, targets from the unshifted rule) and its ratio to the validation loss of the same
//!   model. The other tasks have no cluster means to move, so they get no row.

use super::Rows;
use candle_core::{Device, Tensor};
use moescope_config::{derive_seed, TaskSpec};
use moescope_model::{Model, TargetTensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Running sums of one perturbation scale.
struct Level {
    sigma: f64,
    /// One stream per draw, so that point i always gets the same δ whatever the chunking.
    streams: Vec<ChaCha8Rng>,
    sensitivity: f64,
    curvature: f64,
    count: usize,
}

/// The S4 perturbation metrics over all probe chunks.
pub(crate) struct Perturbations {
    levels: Vec<Level>,
}

/// f and J at a batch of points (n, d_in) row-major: (outputs (n, d_out), Jacobians
/// (n, d_out, d_in)), both row-major.
pub(crate) type Eval<'a, E> = dyn FnMut(&[f64]) -> Result<(Vec<f64>, Vec<f64>), E> + 'a;

impl Perturbations {
    pub fn new(sigmas: &[f64], samples: usize, seed: u64) -> Self {
        let base = derive_seed(seed, "robustness");
        let levels = sigmas
            .iter()
            .enumerate()
            .map(|(j, &sigma)| Level {
                sigma,
                streams: (0..samples)
                    .map(|s| ChaCha8Rng::seed_from_u64(derive_seed(base, &format!("{j}/{s}"))))
                    .collect(),
                sensitivity: 0.0,
                curvature: 0.0,
                count: 0,
            })
            .collect();
        Perturbations { levels }
    }

    /// Adds the chunk `x` (n, d_in); `eval` gives f and J at any batch of points.
    pub fn add<E>(&mut self, x: &[f64], d_in: usize, eval: &mut Eval<'_, E>) -> Result<(), E> {
        let (f0, j0) = eval(x)?;
        let n = x.len() / d_in.max(1);
        let (o, jw) = (f0.len() / n.max(1), j0.len() / n.max(1));
        for level in &mut self.levels {
            for stream in &mut level.streams {
                let z: Vec<f64> = (0..x.len()).map(|_| StandardNormal.sample(stream)).collect();
                let moved: Vec<f64> = x.iter().zip(&z).map(|(v, z)| v + level.sigma * z).collect();
                let (f1, j1) = eval(&moved)?;
                for i in 0..n {
                    let delta = level.sigma * norm(&z[i * d_in..(i + 1) * d_in]);
                    // ‖δ‖ = 0 has probability 0; such a draw carries no direction.
                    if delta == 0.0 {
                        continue;
                    }
                    level.sensitivity += dist(&f1[i * o..(i + 1) * o], &f0[i * o..(i + 1) * o]) / delta;
                    level.curvature += dist(&j1[i * jw..(i + 1) * jw], &j0[i * jw..(i + 1) * jw]) / delta;
                    level.count += 1;
                }
            }
        }
        Ok(())
    }

    /// (σ, sensitivity, curvature) per level; NaN without draws.
    pub fn means(&self) -> Vec<(f64, f64, f64)> {
        self.levels
            .iter()
            .map(|l| {
                let c = l.count as f64;
                (l.sigma, l.sensitivity / c, l.curvature / c)
            })
            .collect()
    }

    /// `robust.sensitivity_s<σ>` and `robust.curvature_s<σ>` rows.
    pub fn emit(&self, rows: &mut Rows) {
        for (sigma, sens, curv) in self.means() {
            rows.push(None, &format!("robust.sensitivity_s{sigma}"), sens);
            rows.push(None, &format!("robust.curvature_s{sigma}"), curv);
        }
    }
}

fn norm(a: &[f64]) -> f64 {
    a.iter().map(|v| v * v).sum::<f64>().sqrt()
}

fn dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt()
}

/// Why the shifted-set loss could not be computed.
#[derive(Debug)]
pub(crate) struct ShiftError(pub String);

impl std::fmt::Display for ShiftError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "shifted T1 set: {}", self.0)
    }
}

/// `robust.shift_loss` and `robust.shift_loss_ratio` (T1 only; no rows for other tasks). The set
/// has as many points as the validation split; `val_loss` is the same model's in-distribution
/// validation loss.
pub(crate) fn emit_shift_loss(
    model: &Model,
    task: &TaskSpec,
    seed: u64,
    shift: f64,
    val_loss: f64,
    rows: &mut Rows,
) -> Result<(), ShiftError> {
    let TaskSpec::Synthetic(t) = task else { return Ok(()) };
    if t.kind != moescope_config::TaskKind::T1Regimes {
        return Ok(());
    }
    let err = |e: &dyn std::fmt::Display| ShiftError(e.to_string());
    let ds = moescope_data::shifted_t1(t, seed, shift, t.sizes.val).map_err(|e| err(&e))?;
    let moescope_data::Targets::Regression { values, dim } = &ds.targets else {
        return Err(ShiftError("T1 targets are not regression values".into()));
    };
    let device: &Device = model.device();
    let x = Tensor::from_slice(&ds.x, (ds.n, ds.d_in), device).map_err(|e| err(&e))?;
    let y = Tensor::from_slice(values, (ds.n, *dim), device).map_err(|e| err(&e))?;
    let loss = moescope_model::evaluate(model, &x, &TargetTensor::Regression(y)).map_err(|e| err(&e))?;
    rows.push(None, "robust.shift_loss", loss);
    if val_loss > 0.0 {
        rows.push(None, "robust.shift_loss_ratio", loss / val_loss);
    }
    Ok(())
}

/// f and J of `model` at host points `x` (n, d_in), in the model's dtype, on its device;
/// `autograd` picks the VJP Jacobian (in chunks of `chunk` rows) over the closed form.
pub(crate) fn model_eval(
    model: &Model,
    x: &[f64],
    autograd: bool,
    chunk: usize,
) -> moescope_probe::Result<(Vec<f64>, Vec<f64>)> {
    let d_in = model.spec().d_in;
    let xt = Tensor::from_slice(x, (x.len() / d_in, d_in), model.device())?.to_dtype(model.dtype())?;
    let y = model.forward(&xt)?.y; // (n, d_out)
    let j = match autograd {
        true => moescope_probe::model_jacobian_autograd(model, &xt, chunk)?,
        false => moescope_probe::model_jacobian(model, &xt)?,
    }; // (n, d_out, d_in)
    Ok((crate::tensors::host_f64(&y)?, crate::tensors::host_f64(&j)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    /// Runs `eval` over `x` (n, d_in) in chunks of `chunk` rows.
    fn run(
        x: &[f64],
        d_in: usize,
        chunk: usize,
        sigmas: &[f64],
        eval: &mut Eval<'_, Infallible>,
    ) -> Vec<(f64, f64, f64)> {
        let mut p = Perturbations::new(sigmas, 3, 7);
        for c in x.chunks(chunk * d_in) {
            p.add(c, d_in, eval).unwrap();
        }
        p.means()
    }

    #[test]
    fn scaled_identity_has_sensitivity_c_and_zero_curvature() {
        // f(x) = c·x + b is affine: ‖f(x+δ) − f(x)‖/‖δ‖ = |c| for every δ, and J = c·I is constant.
        let c = -2.5;
        let mut eval = |x: &[f64]| -> Result<_, Infallible> {
            let f = x.iter().map(|v| c * v + 1.0).collect();
            let j = x
                .chunks(3)
                .flat_map(|_| [c, 0.0, 0.0, 0.0, c, 0.0, 0.0, 0.0, c])
                .collect();
            Ok((f, j))
        };
        let x: Vec<f64> = (0..15).map(|i| i as f64 * 0.3 - 2.0).collect();
        for (sigma, sens, curv) in run(&x, 3, 2, &[0.01, 0.5], &mut eval) {
            assert!((sens - 2.5).abs() < 1e-12, "σ = {sigma}: {sens}");
            assert_eq!(curv, 0.0);
        }
    }

    #[test]
    fn quadratic_has_curvature_c_whatever_the_chunking() {
        // f(x) = (c/2)·xᵀx: J(x) = c·xᵀ, so ‖J(x+δ) − J(x)‖_F/‖δ‖ = |c| exactly; and
        // |f(x+δ) − f(x)|/‖δ‖ = |c·xᵀδ/‖δ‖ + c‖δ‖/2| → |c|·|xᵀu| for small σ.
        let c = 3.0;
        let mut eval = |x: &[f64]| -> Result<_, Infallible> {
            let f = x.chunks(2).map(|p| 0.5 * c * (p[0] * p[0] + p[1] * p[1])).collect();
            Ok((f, x.iter().map(|v| c * v).collect()))
        };
        let x = [1.0, 0.0, 0.0, -2.0, 0.5, 0.5];
        let whole = run(&x, 2, 3, &[0.1], &mut eval);
        let (_, _, curv) = whole[0];
        assert!((curv - 3.0).abs() < 1e-12, "{curv}");
        // Same draws per point whatever the chunk size.
        let split = run(&x, 2, 1, &[0.1], &mut eval);
        assert!((split[0].1 - whole[0].1).abs() < 1e-12);
    }

    #[test]
    fn anisotropic_linear_map_matches_the_angular_average() {
        // f(x) = diag(a, b)·x in 2-D: ‖Aδ‖/‖δ‖ depends on the angle θ of δ only, and θ of an
        // isotropic Gaussian is uniform, so the mean is (1/2π)∫ √(a² cos²θ + b² sin²θ) dθ,
        // here by the midpoint rule (independent of the sampler). Monte Carlo over 3 draws ×
        // 4000 points has a standard error below 0.01 for a = 1, b = 3.
        let (a, b) = (1.0, 3.0);
        let k = 100_000;
        let exact = (0..k)
            .map(|i| {
                let t = std::f64::consts::TAU * (i as f64 + 0.5) / k as f64;
                (a * a * t.cos().powi(2) + b * b * t.sin().powi(2)).sqrt()
            })
            .sum::<f64>()
            / k as f64;
        let mut eval = |x: &[f64]| -> Result<_, Infallible> {
            let f = x.chunks(2).flat_map(|p| [a * p[0], b * p[1]]).collect();
            Ok((f, x.chunks(2).flat_map(|_| [a, 0.0, 0.0, b]).collect()))
        };
        let x = vec![0.0; 8000];
        let (_, sens, curv) = run(&x, 2, 512, &[0.2], &mut eval)[0];
        assert!((sens - exact).abs() < 0.05, "{sens} vs {exact}");
        assert_eq!(curv, 0.0);
    }

    /// No encoder, d_in = d = d_out = 2, soft routing over two experts whose W2 is 0 and whose b2
    /// are equal: u = Σ_e g_e b2 = b2 whatever the gates, so y = c·(x + b2) + b_out is affine.
    fn affine_model(c: f64) -> Model {
        use moescope_config::{Activation, Routing};
        use moescope_model::{ModelSpec, Params};
        let dev = Device::Cpu;
        let t = |v: Vec<f64>, s: &[usize]| Tensor::from_vec(v, s, &dev).unwrap();
        let spec = ModelSpec {
            routing: Routing::Soft,
            d_in: 2,
            d: 2,
            d_out: 2,
            experts: 2,
            hidden: 3,
            activation: Activation::Gelu,
            encoder: false,
            residual: true,
            temperature: 1.0,
            topk_renorm: true,
            router_init_std: 0.0,
        };
        let params = Params {
            w0: None,
            b0: None,
            w1: t((0..12).map(|i| i as f64 * 0.1 - 0.5).collect(), &[2, 3, 2]),
            b1: t(vec![0.1; 6], &[2, 3]),
            w2: t(vec![0.0; 12], &[2, 2, 3]),
            b2: t(vec![0.3, -0.2, 0.3, -0.2], &[2, 2]),
            wr: Some(t(vec![1.0, -0.5, -0.7, 0.4], &[2, 2])),
            br: Some(t(vec![0.2, 0.0], &[2])),
            wout: t(vec![c, 0.0, 0.0, c], &[2, 2]),
            bout: t(vec![1.0, 2.0], &[2]),
        };
        Model::from_params(spec, params).unwrap()
    }

    #[test]
    fn an_affine_model_has_sensitivity_c_and_zero_curvature() {
        let model = affine_model(-1.5);
        let x: Vec<f64> = (0..10).map(|i| (i as f64 * 0.7).sin()).collect();
        for autograd in [false, true] {
            let mut p = Perturbations::new(&[0.01, 0.1], 2, 3);
            let mut eval = |x: &[f64]| model_eval(&model, x, autograd, 4);
            p.add(&x, 2, &mut eval).unwrap();
            for (sigma, sens, curv) in p.means() {
                assert!((sens - 1.5).abs() < 1e-12, "σ = {sigma}: {sens}");
                assert!(curv.abs() < 1e-12, "σ = {sigma}: {curv}");
            }
        }
    }
}
