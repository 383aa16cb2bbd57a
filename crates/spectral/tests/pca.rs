//! SPEC §6.1–§6.2 weighted covariance and PCA against closed forms.
mod common;

use common::{close, close_all, Lcg};
use moescope_spectral::{min_support, pca, weighted_covariance, Error, Result};

/// Plain (unweighted) covariance of the rows of `x` listed in `rows`, written out directly.
fn plain_cov(x: &[f64], d: usize, rows: &[usize], ddof: f64) -> (Vec<f64>, Vec<f64>) {
    let m = rows.len() as f64;
    let mut mean = vec![0.0; d];
    for &i in rows {
        for t in 0..d {
            mean[t] += x[i * d + t] / m;
        }
    }
    let mut cov = vec![0.0; d * d];
    for &i in rows {
        for a in 0..d {
            for b in 0..d {
                cov[a * d + b] += (x[i * d + a] - mean[a]) * (x[i * d + b] - mean[b]) / (m - ddof);
            }
        }
    }
    (mean, cov)
}

#[test]
fn equal_weights_give_the_plain_covariance() -> Result<()> {
    let (n, d) = (30, 4);
    let x = Lcg(1).vec(n * d);
    let all: Vec<usize> = (0..n).collect();
    let (mean, cov) = plain_cov(&x, d, &all, 0.0);
    let wc = weighted_covariance(&x, n, d, &[0.3; 30], false)?;
    close_all(&wc.mean, &mean, 1e-14, "mean");
    close_all(&wc.cov, &cov, 1e-14, "cov (biased)");
    close(wc.n_eff, n as f64, 1e-12, "n_eff of equal weights = n");
    close(wc.total_weight, 9.0, 1e-13, "W");
    // Equal weights: V1 − V2/V1 = W(1 − 1/n), i.e. the usual n − 1 after normalising.
    let (_, cov1) = plain_cov(&x, d, &all, 1.0);
    close_all(
        &weighted_covariance(&x, n, d, &[0.3; 30], true)?.cov,
        &cov1,
        1e-14,
        "cov (ddof 1)",
    );
    Ok(())
}

#[test]
fn indicator_weights_give_the_subset_covariance() -> Result<()> {
    let (n, d) = (20, 3);
    let x = Lcg(2).vec(n * d);
    let subset = [1, 4, 5, 9, 13, 17, 18];
    let mut w = vec![0.0; n];
    subset.iter().for_each(|&i| w[i] = 1.0);
    let (mean, cov) = plain_cov(&x, d, &subset, 0.0);
    let wc = weighted_covariance(&x, n, d, &w, false)?;
    close_all(&wc.mean, &mean, 1e-14, "subset mean");
    close_all(&wc.cov, &cov, 1e-14, "subset cov");
    close(wc.n_eff, subset.len() as f64, 1e-12, "n_eff = subset size");
    Ok(())
}

#[test]
fn kish_n_eff_and_reliability_denominator() -> Result<()> {
    // Two points in 1-D, x = 0 and 1, weights 1 and 3.
    // W = 4, Σw² = 10, n_eff = 16/10; μ = 3/4; Σ w (x−μ)² = 1·9/16 + 3·1/16 = 3/4.
    let w = [1.0, 3.0];
    let f = weighted_covariance(&[0.0, 1.0], 2, 1, &w, false)?;
    close(f.n_eff, 1.6, 1e-15, "n_eff");
    close(f.mean[0], 0.75, 1e-15, "mean");
    close(f.cov[0], 0.75 / 4.0, 1e-15, "frequency cov");
    let u = weighted_covariance(&[0.0, 1.0], 2, 1, &w, true)?;
    close(u.cov[0], 0.75 / (4.0 - 10.0 / 4.0), 1e-15, "unbiased cov");
    // A single point with weight: V1 − V2/V1 = 0.
    assert!(matches!(
        weighted_covariance(&[0.0, 1.0], 2, 1, &[0.0, 2.0], true),
        Err(Error::DegenerateWeights { .. })
    ));
    Ok(())
}

#[test]
fn bad_weights_are_errors() {
    let x = [0.0, 1.0, 2.0];
    assert!(matches!(
        weighted_covariance(&x, 3, 1, &[0.0; 3], false),
        Err(Error::ZeroTotalWeight { .. })
    ));
    assert!(matches!(
        weighted_covariance(&x, 3, 1, &[1.0, -1.0, 1.0], false),
        Err(Error::Negative { index: 1, .. })
    ));
    assert!(matches!(
        weighted_covariance(&x, 3, 1, &[1.0, 1.0], false),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        weighted_covariance(&[0.0, f64::INFINITY, 2.0], 3, 1, &[1.0; 3], false),
        Err(Error::NonFinite { index: 1, .. })
    ));
}

#[test]
fn pca_of_a_diagonal_covariance() -> Result<()> {
    // λ = (4, 3, 2, 1) in shuffled diagonal order; Σλ = 10.
    let mut cov = vec![0.0; 16];
    for (i, l) in [2.0, 4.0, 1.0, 3.0].iter().enumerate() {
        cov[i * 4 + i] = *l;
    }
    let p = pca(&cov, 4)?;
    close_all(&p.eigenvalues, &[4.0, 3.0, 2.0, 1.0], 1e-14, "λ");
    close_all(&p.evr, &[0.4, 0.3, 0.2, 0.1], 1e-14, "evr");
    close_all(&p.cev, &[0.4, 0.7, 0.9, 1.0], 1e-14, "cev");
    // CEV_3 = 0.9 exactly (up to rounding) reaches the 90% threshold.
    assert_eq!((p.k90, p.k95), (3, 4));
    let h: f64 = [0.4f64, 0.3, 0.2, 0.1].iter().map(|p| -p * p.ln()).sum();
    close(p.erank, h.exp(), 1e-13, "erank");
    let sq = [2.0, 3f64.sqrt(), 2f64.sqrt(), 1.0];
    let s: f64 = sq.iter().sum();
    let hs: f64 = sq.iter().map(|v| -(v / s) * (v / s).ln()).sum();
    close(p.erank_sigma, hs.exp(), 1e-13, "erank_sigma");
    close(p.pr, 100.0 / 30.0, 1e-13, "pr");
    close(p.total_variance, 10.0, 0.0, "trace");
    // Eigenvector of λ_1 = 4 is e_2 (index 1), sign convention makes it +1.
    close_all(
        &(0..4).map(|r| p.eigenvectors[r * 4]).collect::<Vec<_>>(),
        &[0.0, 1.0, 0.0, 0.0],
        1e-14,
        "u_1",
    );
    Ok(())
}

#[test]
fn pca_of_zero_covariance_is_dead() -> Result<()> {
    let p = pca(&[0.0; 9], 3)?;
    assert!(p.dead && p.erank.is_nan() && p.pr.is_nan() && p.evr.iter().all(|v| v.is_nan()));
    assert_eq!((p.k90, p.k95), (0, 0));
    assert_eq!(p.eigenvalues, vec![0.0; 3]);
    Ok(())
}

#[test]
fn min_support_is_max_of_5d_and_50() {
    assert_eq!(min_support(4), 50.0);
    assert_eq!(min_support(10), 50.0);
    assert_eq!(min_support(64), 320.0);
}
