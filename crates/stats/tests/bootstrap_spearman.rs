//! Bootstrap CI behaviour and Spearman edge cases.

use moescope_stats::{bootstrap_mean_ci, spearman, summarize, StatsError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Irwin–Hall: the sum of 12 U(0,1) minus 6 has mean 0, variance 1 and is close to normal.
fn normalish(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| (0..12).map(|_| rng.random::<f64>()).sum::<f64>() - 6.0)
        .collect()
}

#[test]
fn bootstrap_is_deterministic_for_a_seed() {
    let xs = normalish(30, 1);
    let a = bootstrap_mean_ci(&xs, 2000, 0.95, 42).unwrap();
    let b = bootstrap_mean_ci(&xs, 2000, 0.95, 42).unwrap();
    assert_eq!(a, b);
    let c = bootstrap_mean_ci(&xs, 2000, 0.95, 43).unwrap();
    assert_ne!(a, c, "a different seed should draw different resamples");
}

#[test]
fn bootstrap_close_to_t_interval_for_large_normalish_sample() {
    // n = 400, sd ≈ 1: the t half-width is ≈ 1.966/20 ≈ 0.098. The percentile interval's
    // half-width is ≈ 1.960·sd·√((n−1)/n)/√n, within 0.001 of that, and the Monte Carlo error
    // of a 2.5 % quantile from B = 10 000 resamples is √(0.025·0.975/B)/density ≈ 0.0013
    // (density of the bootstrap mean at its 2.5 % point ≈ φ(1.96)/0.05 ≈ 1.17). Sampling
    // skewness is small for Irwin–Hall data. So 0.01 (~10 % of the half-width, > 7 MC sd)
    // is loose yet would catch a wrong scale (e.g. sd instead of sd/√n) or a shifted centre.
    let xs = normalish(400, 7);
    let s = summarize(&xs, 0.95).unwrap();
    let (tlo, thi) = s.ci.unwrap();
    let (blo, bhi) = bootstrap_mean_ci(&xs, 10_000, 0.95, 2026).unwrap();
    assert!((blo - tlo).abs() < 0.01, "lower: bootstrap {blo}, t {tlo}");
    assert!((bhi - thi).abs() < 0.01, "upper: bootstrap {bhi}, t {thi}");
    assert!(blo < s.mean && s.mean < bhi);
}

#[test]
fn bootstrap_contains_mean_and_handles_edges() {
    let xs = [0.3, 1.7, 0.9, 2.4, 1.1];
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    let (lo, hi) = bootstrap_mean_ci(&xs, 10_000, 0.95, 0).unwrap();
    assert!(lo < mean && mean < hi, "({lo}, {hi}) vs {mean}");
    // Resampled means can never leave [min, max].
    assert!(lo >= 0.3 && hi <= 2.4);
    assert_eq!(bootstrap_mean_ci(&[2.5], 100, 0.95, 0).unwrap(), (2.5, 2.5));
    assert!(matches!(
        bootstrap_mean_ci(&xs, 0, 0.95, 0),
        Err(StatsError::BadParameter { .. })
    ));
    assert!(matches!(
        bootstrap_mean_ci(&[], 10, 0.95, 0),
        Err(StatsError::TooFew { .. })
    ));
    assert!(matches!(
        bootstrap_mean_ci(&xs, 10, 1.0, 0),
        Err(StatsError::BadParameter { .. })
    ));
}

#[test]
fn spearman_closed_forms_and_errors() {
    // Monotone increasing and decreasing transforms give ±1.
    let x = [0.1, 0.5, 0.2, 3.0, 1.0];
    let y: Vec<f64> = x.iter().map(|v: &f64| v.exp()).collect();
    assert!((spearman(&x, &y).unwrap() - 1.0).abs() < 1e-15);
    let z: Vec<f64> = x.iter().map(|v| -v * v * v).collect();
    assert!((spearman(&x, &z).unwrap() + 1.0).abs() < 1e-15);
    // No ties: ρ = 1 − 6Σd²/(n(n²−1)); ranks x = [1,2,3,4], y = [2,1,4,3] → Σd² = 4 → ρ = 0.6.
    let rho = spearman(&[1.0, 2.0, 3.0, 4.0], &[20.0, 10.0, 40.0, 30.0]).unwrap();
    assert!((rho - 0.6).abs() < 1e-15);
    assert!(matches!(
        spearman(&[1.0, 1.0], &[1.0, 2.0]),
        Err(StatsError::Undefined { .. })
    ));
    assert!(matches!(spearman(&[1.0], &[1.0]), Err(StatsError::TooFew { .. })));
    assert!(matches!(
        spearman(&[1.0, 2.0], &[1.0]),
        Err(StatsError::LengthMismatch { .. })
    ));
}
