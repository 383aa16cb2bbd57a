//! Shared helpers for the model tests: tiny specs, tensor <-> Vec conversion, seeded data.
#![allow(dead_code)]

use candle_core::{DType, Device, Tensor};
use moescope_config::{Activation, Routing};
use moescope_model::ModelSpec;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A tiny spec: d_in 3, d 4, d_out 2, m 5.
pub fn spec(routing: Routing, experts: usize, activation: Activation) -> ModelSpec {
    ModelSpec {
        routing,
        d_in: 3,
        d: 4,
        d_out: 2,
        experts,
        hidden: 5,
        activation,
        encoder: true,
        residual: true,
        temperature: 1.0,
        topk_renorm: true,
        router_init_std: 0.8,
    }
}

/// All entries of a tensor as f64, row-major.
pub fn vec(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

/// (n, cols) standard-normal-ish matrix (uniform sum) from a seeded stream, f32.
pub fn randn(seed: u64, n: usize, cols: usize) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let v: Vec<f32> = (0..n * cols)
        .map(|_| (0..4).map(|_| rng.random::<f32>() - 0.5).sum::<f32>() * 1.7)
        .collect();
    Tensor::from_vec(v, (n, cols), &Device::Cpu).unwrap()
}

pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}
