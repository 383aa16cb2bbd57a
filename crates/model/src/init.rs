//! Parameter initialisation (SPEC §3): one ChaCha8 stream per parameter group, so that the
//! encoder and readout of a seed are identical across architectures (paired comparisons).

use crate::error::{invalid, Result};
use crate::model::Params;
use crate::spec::ModelSpec;
use candle_core::{Device, Tensor};
use moescope_config::{derive_seed, Activation};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Uniform bound of a weight (fan_in → fan_out). Layers followed by ReLU get Kaiming-uniform
/// (√(6/fan_in)); layers followed by GELU, and the linear output layers (W2, readout), Xavier
/// (√(6/(fan_in + fan_out))).
fn bound(act: Option<Activation>, fan_in: usize, fan_out: usize) -> f64 {
    match act {
        Some(Activation::Relu) => (6.0 / fan_in as f64).sqrt(),
        _ => (6.0 / (fan_in + fan_out) as f64).sqrt(),
    }
}

fn uniform(rng: &mut ChaCha8Rng, count: usize, b: f64) -> Vec<f32> {
    (0..count)
        .map(|_| (b * (2.0 * rng.random::<f64>() - 1.0)) as f32)
        .collect()
}

fn stream(seed: u64, purpose: &str) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(derive_seed(seed, purpose))
}

/// Fresh f32 parameters for `spec`; biases start at 0, router weights ~ N(0, std²).
pub(crate) fn init_params(spec: &ModelSpec, seed: u64, dev: &Device) -> Result<Params> {
    let (d, e, m, act) = (spec.d, spec.experts, spec.hidden, spec.activation);
    let (w0, b0) = if spec.encoder {
        let mut rng = stream(seed, "init/encoder");
        let w = uniform(&mut rng, d * spec.d_in, bound(Some(act), spec.d_in, d));
        (
            Some(Tensor::from_vec(w, (d, spec.d_in), dev)?),
            Some(Tensor::zeros(d, candle_core::DType::F32, dev)?),
        )
    } else {
        (None, None)
    };
    let mut rng = stream(seed, "init/ffn");
    let w1 = uniform(&mut rng, e * m * d, bound(Some(act), d, m));
    let w2 = uniform(&mut rng, e * d * m, bound(None, m, d));
    let (wr, br) = if spec.has_router() {
        let mut rng = stream(seed, "init/router");
        let normal = Normal::new(0.0, spec.router_init_std)
            .map_err(|_| invalid("router_init_std", "a finite std ≥ 0", spec.router_init_std))?;
        let w: Vec<f32> = (0..e * d).map(|_| normal.sample(&mut rng) as f32).collect();
        (Some(Tensor::from_vec(w, (e, d), dev)?), Some(zeros(e, dev)?))
    } else {
        (None, None)
    };
    let mut rng = stream(seed, "init/readout");
    let wout = uniform(&mut rng, spec.d_out * d, bound(None, d, spec.d_out));
    Ok(Params {
        w0,
        b0,
        w1: Tensor::from_vec(w1, (e, m, d), dev)?,
        b1: Tensor::zeros((e, m), candle_core::DType::F32, dev)?,
        w2: Tensor::from_vec(w2, (e, d, m), dev)?,
        b2: Tensor::zeros((e, d), candle_core::DType::F32, dev)?,
        wr,
        br,
        wout: Tensor::from_vec(wout, (spec.d_out, d), dev)?,
        bout: zeros(spec.d_out, dev)?,
    })
}

fn zeros(n: usize, dev: &Device) -> Result<Tensor> {
    Ok(Tensor::zeros(n, candle_core::DType::F32, dev)?)
}
