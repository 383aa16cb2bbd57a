//! SPEC §6.3 cluster-matched control: deterministic diagonal GMM.
mod common;

use common::Lcg;
use moescope_spectral::{diagonal_gmm_responsibilities, fit_diagonal_gmm, GmmOptions, Result};

/// Two blobs in R³ centred at 0 and at (8, 8, 8), unit-ish spread, interleaved.
fn blobs(n_per: usize) -> (Vec<f64>, Vec<usize>) {
    let mut rng = Lcg(42);
    let mut x = Vec::new();
    let mut labels = Vec::new();
    for i in 0..2 * n_per {
        let c = (i % 2) as f64 * 8.0;
        x.extend((0..3).map(|_| c + rng.next()));
        labels.push(i % 2);
    }
    (x, labels)
}

#[test]
fn two_separated_blobs_are_recovered() -> Result<()> {
    let (x, labels) = blobs(50);
    let n = labels.len();
    let resp = diagonal_gmm_responsibilities(&x, n, 3, &GmmOptions::new(2))?;
    assert_eq!(resp.len(), n * 2);
    for row in resp.chunks_exact(2) {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12, "row sums to 1");
        assert!(row.iter().all(|r| (0.0..=1.0).contains(r)));
    }
    // Component numbering is arbitrary: map it from the first point.
    let comp_of_label0 = if resp[0] > resp[1] { 0 } else { 1 };
    for (i, &l) in labels.iter().enumerate() {
        let k = if l == 0 { comp_of_label0 } else { 1 - comp_of_label0 };
        assert!(resp[i * 2 + k] > 0.99, "point {i}: responsibility {}", resp[i * 2 + k]);
    }
    Ok(())
}

#[test]
fn fit_is_deterministic_and_estimates_the_blob_means() -> Result<()> {
    let (x, labels) = blobs(50);
    let n = labels.len();
    let opts = GmmOptions::new(2);
    let a = fit_diagonal_gmm(&x, n, 3, &opts)?;
    let b = fit_diagonal_gmm(&x, n, 3, &opts)?;
    assert_eq!(a, b);
    assert!(a.converged);
    // The fitted means are the per-blob sample means (responsibilities ~ hard labels).
    for blob in 0..2 {
        let idx: Vec<usize> = (0..n).filter(|&i| labels[i] == blob).collect();
        let mean0: f64 = idx.iter().map(|&i| x[i * 3]).sum::<f64>() / idx.len() as f64;
        let found = (0..2).any(|k| (a.means[k * 3] - mean0).abs() < 1e-6);
        assert!(found, "blob {blob} mean {mean0} not in {:?}", a.means);
    }
    assert!((a.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    Ok(())
}

#[test]
fn invalid_options_are_errors() {
    let (x, _) = blobs(5);
    assert!(diagonal_gmm_responsibilities(&x, 10, 3, &GmmOptions::new(0)).is_err());
    assert!(diagonal_gmm_responsibilities(&x, 10, 3, &GmmOptions::new(11)).is_err());
    let bad_reg = GmmOptions {
        reg: 0.0,
        ..GmmOptions::new(2)
    };
    assert!(diagonal_gmm_responsibilities(&x, 10, 3, &bad_reg).is_err());
    // Degenerate data (all points equal) still gives finite, normalised responsibilities.
    let same = vec![1.0; 30];
    let r = diagonal_gmm_responsibilities(&same, 10, 3, &GmmOptions::new(3)).expect("fit");
    assert!(r.iter().all(|v| v.is_finite()));
    assert!(r
        .chunks_exact(3)
        .all(|row| (row.iter().sum::<f64>() - 1.0).abs() < 1e-12));
}
