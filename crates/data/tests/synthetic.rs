//! Statistics of the synthetic tasks against their definitions (SPEC §3), with tolerances of
//! five standard errors so that a correct generator fails with probability < 1e-5.

use moescope_config::{SplitSizes, SyntheticTask, TaskKind, TaskSpec};
use moescope_data::{build, cluster_means, Splits, Targets};

fn task(kind: TaskKind, probe: usize) -> SyntheticTask {
    SyntheticTask {
        kind,
        d_in: 4,
        d_out: if kind == TaskKind::T4Clusters { 3 } else { 2 },
        clusters: 3,
        separation: 3.0,
        noise: 0.01,
        soft_targets: false,
        teacher_hidden: 16,
        manifold_dim: 2,
        sizes: SplitSizes {
            train: 10,
            val: 10,
            probe,
        },
    }
}

fn run(t: &SyntheticTask, seed: u64) -> Splits {
    build(&TaskSpec::Synthetic(t.clone()), seed).unwrap()
}

fn values(s: &moescope_data::Dataset) -> &[f32] {
    match &s.targets {
        Targets::Regression { values, .. } => values,
        Targets::Classes { .. } => panic!("expected regression"),
    }
}

#[test]
fn t1_cluster_means_weights_and_spread() {
    let t = task(TaskKind::T1Regimes, 30_000);
    let s = run(&t, 11);
    let means = cluster_means(&t, 11).unwrap();
    let comps = s.cluster_of_probe.as_ref().unwrap();
    let (n, d, c) = (s.probe.n, t.d_in, t.clusters);
    // Means μ_c ~ N(0, I)·3: all 12 coordinates within 5·3 of 0, and not all tiny.
    assert_eq!(means.len(), c * d);
    assert!(means.iter().all(|m| m.abs() < 15.0) && means.iter().any(|m| m.abs() > 0.5));
    for k in 0..c {
        let rows: Vec<usize> = (0..n).filter(|&i| comps[i] as usize == k).collect();
        let nk = rows.len() as f64;
        // π_c = 1/C: binomial standard error.
        let p = 1.0 / c as f64;
        assert!(
            (nk / n as f64 - p).abs() < 5.0 * (p * (1.0 - p) / n as f64).sqrt(),
            "weight of {k}"
        );
        for j in 0..d {
            let col: Vec<f64> = rows.iter().map(|&i| f64::from(s.probe.x[i * d + j])).collect();
            let mean = col.iter().sum::<f64>() / nk;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / nk;
            // σ_c = 1: the sample mean has standard error 1/√n_c, the variance √(2/n_c).
            assert!(
                (mean - means[k * d + j]).abs() < 5.0 / nk.sqrt(),
                "cluster {k} coord {j}: {mean}"
            );
            assert!(
                (var - 1.0).abs() < 5.0 * (2.0 / nk).sqrt(),
                "cluster {k} coord {j}: var {var}"
            );
        }
    }
}

fn nearest(x: &[f32], means: &[f64]) -> u32 {
    let d = x.len();
    let dist = |m: &[f64]| x.iter().zip(m).map(|(a, b)| (f64::from(*a) - b).powi(2)).sum::<f64>();
    let mut best = 0;
    for (k, m) in means.chunks_exact(d).enumerate() {
        if dist(m) < dist(&means[best * d..(best + 1) * d]) {
            best = k;
        }
    }
    best as u32
}

#[test]
fn t4_labels_are_the_nearest_mean_cluster() {
    let mut t = task(TaskKind::T4Clusters, 3000);
    t.separation = 1.0; // overlapping clusters, so posterior argmax and drawn component differ
    let s = run(&t, 4);
    let means = cluster_means(&t, 4).unwrap();
    let Targets::Classes { labels, classes: 3 } = &s.probe.targets else {
        panic!("3 classes")
    };
    assert_eq!(s.probe.d_out(), 3);
    for (i, &label) in labels.iter().enumerate() {
        assert_eq!(label, nearest(s.probe.row(i), &means), "point {i}");
    }
    let comps = s.cluster_of_probe.unwrap();
    let differ = labels.iter().zip(&comps).filter(|(a, b)| a != b).count();
    assert!(
        differ > 0 && differ < s.probe.n / 2,
        "{differ} of {} labels differ from components",
        s.probe.n
    );
}

#[test]
fn t2_noise_has_the_requested_level() {
    let (sigma, n) = (0.1f64, 20_000usize);
    let mut t = task(TaskKind::T2Teacher, n);
    t.noise = sigma;
    let noisy = run(&t, 9);
    t.noise = 0.0;
    let clean = run(&t, 9);
    // Same inputs (noise has its own stream), so the target difference is exactly ε.
    assert_eq!(noisy.probe.x, clean.probe.x);
    let eps: Vec<f64> = values(&noisy.probe)
        .iter()
        .zip(values(&clean.probe))
        .map(|(a, b)| f64::from(*a) - f64::from(*b))
        .collect();
    let m = eps.len() as f64;
    let mean = eps.iter().sum::<f64>() / m;
    let sd = (eps.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / m).sqrt();
    assert!(mean.abs() < 5.0 * sigma / m.sqrt(), "noise mean {mean}");
    assert!(
        (sd - sigma).abs() < 5.0 * sigma / (2.0 * m).sqrt() + 1e-6,
        "noise sd {sd}"
    );
    // x ~ N(0, I): unit variance per coordinate.
    let x = &clean.probe.x;
    let var = x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64;
    assert!(
        (var - 1.0).abs() < 5.0 * (2.0 / x.len() as f64).sqrt(),
        "input variance {var}"
    );
}

#[test]
fn t1_soft_targets_equal_hard_targets_when_clusters_are_far_apart() {
    let mut t = task(TaskKind::T1Regimes, 500);
    t.noise = 0.0;
    t.separation = 40.0; // posteriors are one-hot to within exp(-hundreds)
    let hard = run(&t, 2);
    t.soft_targets = true;
    let soft = run(&t, 2);
    assert_eq!(hard.probe.x, soft.probe.x);
    for (a, b) in values(&hard.probe).iter().zip(values(&soft.probe)) {
        assert!((a - b).abs() < 1e-6);
    }
    // With overlapping clusters the posterior mixture differs from the argmax teacher.
    t.separation = 0.5;
    let soft = run(&t, 2);
    t.soft_targets = false;
    let hard = run(&t, 2);
    let gap = values(&hard.probe)
        .iter()
        .zip(values(&soft.probe))
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(gap > 1e-3, "soft and hard targets agree everywhere ({gap})");
}

/// Median distance from each of the first 300 points to its nearest neighbour among all points.
fn median_nn(x: &[f32], d: usize) -> f64 {
    let n = x.len() / d;
    let mut nn: Vec<f64> = (0..300)
        .map(|i| {
            (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    (0..d)
                        .map(|k| f64::from(x[i * d + k] - x[j * d + k]).powi(2))
                        .sum::<f64>()
                })
                .fold(f64::INFINITY, f64::min)
                .sqrt()
        })
        .collect();
    nn.sort_by(f64::total_cmp);
    nn[150]
}

#[test]
fn t3_inputs_have_unit_scale_and_low_intrinsic_dimension() {
    let mut t = task(TaskKind::T3Manifold, 3000);
    t.d_in = 16;
    t.manifold_dim = 1;
    let curve = run(&t, 1);
    let x = &curve.probe.x;
    let ms = x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64;
    assert!((0.25..4.0).contains(&ms), "mean square of x = {ms}, expected roughly 1");
    // On a 1-d curve of length L, 3000 points are ~L/3000 apart; 16-d Gaussian points of the same
    // scale are O(1) apart (T2 with the same d_in).
    let curve_nn = median_nn(x, 16);
    t.kind = TaskKind::T2Teacher;
    let blob_nn = median_nn(&run(&t, 1).probe.x, 16);
    assert!(
        curve_nn < 0.05 * blob_nn,
        "nearest-neighbour distance {curve_nn} on the curve vs {blob_nn} in R^16"
    );
    assert!(curve.cluster_of_probe.is_none());
}

#[test]
fn shifted_t1_moves_every_input_by_shift_times_a_unit_direction() {
    use moescope_data::{shift_direction, shifted_t1};
    let t = task(TaskKind::T1Regimes, 10);
    let u = shift_direction(t.d_in, 5);
    let norm: f64 = u.iter().map(|v| v * v).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-12, "{norm}");
    assert_ne!(u, shift_direction(t.d_in, 6));
    // Same streams, two shifts: the drawn components and N(0, I) parts are shared, so the inputs
    // differ by exactly (s2 − s1)·u (up to f32 storage).
    let (a, b) = (
        shifted_t1(&t, 5, 0.5, 200).unwrap(),
        shifted_t1(&t, 5, 2.5, 200).unwrap(),
    );
    assert_eq!((a.n, a.d_in), (200, 4));
    for (i, (xa, xb)) in a.x.iter().zip(&b.x).enumerate() {
        let want = 2.0 * u[i % 4];
        assert!(((xb - xa) as f64 - want).abs() < 1e-5, "row {} col {}", i / 4, i % 4);
    }
    // One cluster: x ~ N(μ_0 + s·u, I), so the sample mean is within 5 standard errors.
    let one = SyntheticTask {
        clusters: 1,
        ..t.clone()
    };
    let n = 20_000;
    let s = shifted_t1(&one, 3, 4.0, n).unwrap();
    let mu = cluster_means(&one, 3).unwrap();
    let u = shift_direction(4, 3);
    for j in 0..4 {
        let mean = s.x.iter().skip(j).step_by(4).map(|&v| v as f64).sum::<f64>() / n as f64;
        let want = mu[j] + 4.0 * u[j];
        assert!(
            (mean - want).abs() < 5.0 / (n as f64).sqrt(),
            "col {j}: {mean} vs {want}"
        );
    }
    assert!(shifted_t1(&task(TaskKind::T2Teacher, 10), 5, 1.0, 10).is_err());
    assert!(shifted_t1(&t, 5, f64::NAN, 10).is_err());
}

/// Regression (fresh-user test): `task.separation=1e300` or `task.noise=1e300` produced ∞ in the
/// f32 data and the failure was blamed on training. The generator's output is checked, and the
/// error names the key. With these scales every stored value is ±∞ (|z|·1e300 > 3.4e38 for any
/// draw that is not astronomically small), so the first one is train row 0, column 0.
#[test]
fn non_finite_generated_data_names_the_scaling_key() {
    let message = |t: &SyntheticTask| build(&TaskSpec::Synthetic(t.clone()), 0).unwrap_err().to_string();
    let far = SyntheticTask {
        separation: 1e300,
        ..task(TaskKind::T1Regimes, 10)
    };
    let e = message(&far);
    let expect = |v: &str| {
        format!(
            "task t1_regimes: generated inputs are not finite in f32 (train row 0, column 0 is {v}): expected \
             |v| ≤ 3.4e38; lower task.separation = 1e300"
        )
    };
    assert!(e == expect("inf") || e == expect("-inf"), "{e}");
    let noisy = SyntheticTask {
        noise: 1e300,
        ..task(TaskKind::T2Teacher, 10)
    };
    let e = message(&noisy);
    let expect = |v: &str| {
        format!(
            "task t2_teacher: generated targets are not finite in f32 (train row 0, column 0 is {v}): expected \
             |v| ≤ 3.4e38; lower task.noise = 1e300 (or task.separation = 3.0)"
        )
    };
    assert!(e == expect("inf") || e == expect("-inf"), "{e}");
}
