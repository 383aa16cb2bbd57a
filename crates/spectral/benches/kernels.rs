//! Hot spectral kernels of the probe at the paper config's sizes (d = 32, a 256-point chunk,
//! a 2 048-point probe set): batched singular values, batched symmetric eigenproblems, and the
//! weighted covariance of the routed hidden states. Inputs are deterministic pseudo-random.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use moescope_spectral::{
    pca, singular_values, singular_values_batch, spectrum_metrics, sym_eigen, weighted_covariance, SpectrumOptions,
};

const D: usize = 32;
const CHUNK: usize = 256;
const PROBE: usize = 2048;

/// Uniform values in [-1, 1) from a fixed 64-bit LCG (no dev-dependency on a RNG crate).
fn values(count: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..count)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

fn bench_svd(c: &mut Criterion) {
    let mats = values(CHUNK * D * D, 1);
    let opts = SpectrumOptions::default();
    c.bench_function("svd+metrics 256 x (32x32)", |b| {
        b.iter(|| {
            for m in mats.chunks(D * D) {
                let sv = singular_values(black_box(m), D, D).expect("finite input");
                black_box(spectrum_metrics(&sv, (D, D), &opts).expect("valid spectrum"));
            }
        })
    });
}

/// The probe's two ways to the singular values alone: one nalgebra SVD per matrix, or the
/// lane-interleaved batch.
fn bench_svd_values(c: &mut Criterion) {
    let mats = values(CHUNK * D * D, 1);
    c.bench_function("singular values 256 x (32x32): nalgebra, one by one", |b| {
        b.iter(|| {
            for m in mats.chunks(D * D) {
                black_box(singular_values(black_box(m), D, D).expect("finite input"));
            }
        })
    });
    c.bench_function("singular values 256 x (32x32): singular_values_batch", |b| {
        let mats: Vec<&[f64]> = mats.chunks(D * D).collect();
        b.iter(|| black_box(singular_values_batch(black_box(&mats), D, D).expect("finite input")))
    });
}

fn bench_eig(c: &mut Criterion) {
    // Symmetric positive semi-definite inputs A Aᵀ, like covariances.
    let raw = values(CHUNK * D * D, 2);
    let sym: Vec<Vec<f64>> = raw
        .chunks(D * D)
        .map(|a| {
            let mut s = vec![0.0; D * D];
            for i in 0..D {
                for j in 0..D {
                    s[i * D + j] = (0..D).map(|k| a[i * D + k] * a[j * D + k]).sum();
                }
            }
            s
        })
        .collect();
    c.bench_function("sym_eigen 256 x (32x32)", |b| {
        b.iter(|| {
            for s in &sym {
                black_box(sym_eigen(black_box(s), D).expect("symmetric input"));
            }
        })
    });
    c.bench_function("pca 32x32", |b| {
        b.iter(|| black_box(pca(black_box(&sym[0]), D).expect("symmetric input")))
    });
}

fn bench_covariance(c: &mut Criterion) {
    let x = values(PROBE * D, 3);
    let w: Vec<f64> = values(PROBE, 4).iter().map(|v| v.abs()).collect();
    c.bench_function("weighted_covariance 2048 x 32", |b| {
        b.iter(|| black_box(weighted_covariance(black_box(&x), PROBE, D, black_box(&w), false).expect("valid input")))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench_svd, bench_svd_values, bench_eig, bench_covariance
}
criterion_main!(benches);
