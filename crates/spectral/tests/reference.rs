//! Comparison with numpy/scipy reference values in `fixtures/reference.json`, produced by
//! `fixtures/make_fixtures.py` (committed together). Tolerance 1e-10 throughout.
mod common;

use common::{close, close_all, matmul, transpose};
use moescope_spectral::{
    compare_subspaces, frobenius_cosine, pca, scaled_copy_residual, singular_values, spectrum_metrics, sym_eigen,
    top_singular_subspaces, weighted_covariance, CovarianceAcc, Result, SpectrumOptions,
};
use serde_json::Value;

const TOL: f64 = 1e-10;

fn fixture() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference.json");
    let text = std::fs::read_to_string(path).expect("read reference.json");
    serde_json::from_str(&text).expect("parse reference.json")
}

fn f(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} is not a number"))
}

fn u(v: &Value, key: &str) -> usize {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} is not an integer")) as usize
}

fn vecf(v: &Value, key: &str) -> Vec<f64> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is not an array"))
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn cases<'a>(root: &'a Value, key: &str) -> &'a Vec<Value> {
    root[key].as_array().unwrap_or_else(|| panic!("missing {key}"))
}

#[test]
fn singular_values_and_metrics_match_numpy() -> Result<()> {
    let root = fixture();
    for c in cases(&root, "svd") {
        let (rows, cols) = (u(c, "rows"), u(c, "cols"));
        let sv = singular_values(&vecf(c, "m"), rows, cols)?;
        close_all(&sv, &vecf(c, "sv"), TOL, "sv");
        let m = spectrum_metrics(&sv, (rows, cols), &SpectrumOptions { decay_q: 4 })?;
        assert_eq!(m.numerical_rank, u(c, "numerical_rank"));
        assert_eq!(m.numerical_rank, u(c, "numpy_matrix_rank"));
        for (name, got) in [
            ("sigma1", m.sigma1),
            ("frobenius", m.frobenius),
            ("rho_q", m.rho_q),
            ("rho_quarter", m.rho_quarter),
            ("energy_q", m.energy_q),
            ("alpha", m.alpha),
            ("beta", m.beta),
            ("erank", m.erank),
            ("srank", m.srank),
            ("pr", m.pr),
        ] {
            let what = format!("{rows}x{cols} {name}");
            match c[name].is_null() {
                // Undefined in the reference (ρ_4 of a matrix with fewer than 4 singular values).
                true => assert!(got.is_nan(), "{what}: undefined in the reference, got {got}"),
                false => close(got, f(c, name), TOL, &what),
            }
        }
    }
    Ok(())
}

#[test]
fn eigendecomposition_matches_numpy_eigh() -> Result<()> {
    let root = fixture();
    for c in cases(&root, "eigh") {
        let n = u(c, "n");
        let (vals, vecs) = sym_eigen(&vecf(c, "a"), n)?;
        close_all(&vals, &vecf(c, "eigenvalues"), TOL, "eigenvalues");
        // Eigenvectors of the positive (non-clipped) eigenvalues are unique up to sign, and
        // both sides use the same sign rule; clipped ones may mix in the null space.
        let reference = vecf(c, "eigenvectors");
        for j in (0..n).filter(|&j| vals[j] > 1e-8) {
            for i in 0..n {
                close(vecs[i * n + j], reference[i * n + j], TOL, "eigenvector");
            }
        }
    }
    Ok(())
}

#[test]
fn weighted_covariance_and_pca_match_numpy() -> Result<()> {
    let root = fixture();
    for c in cases(&root, "weighted_cov") {
        let (n, d) = (u(c, "n"), u(c, "d"));
        let (x, w) = (vecf(c, "x"), vecf(c, "w"));
        let freq = weighted_covariance(&x, n, d, &w, false)?;
        close_all(&freq.mean, &vecf(c, "mean"), TOL, "mean");
        close_all(&freq.cov, &vecf(c, "cov_frequency"), TOL, "cov_frequency");
        close(freq.total_weight, f(c, "total_weight"), TOL, "W");
        close(freq.n_eff, f(c, "n_eff"), TOL, "n_eff");
        let unb = weighted_covariance(&x, n, d, &w, true)?;
        close_all(&unb.cov, &vecf(c, "cov_unbiased"), TOL, "cov_unbiased");
        // The streaming form, fed in uneven chunks (1 point, 2 points, the rest).
        let mut acc = CovarianceAcc::new(d);
        let cuts = [0, 1.min(n), 3.min(n), n];
        for win in cuts.windows(2).filter(|c| c[1] > c[0]) {
            acc.add(&x[win[0] * d..win[1] * d], &w[win[0]..win[1]])?;
        }
        let (sf, su) = (acc.finish(false)?, acc.finish(true)?);
        close_all(&sf.mean, &vecf(c, "mean"), TOL, "streamed mean");
        close_all(&sf.cov, &vecf(c, "cov_frequency"), TOL, "streamed cov_frequency");
        close_all(&su.cov, &vecf(c, "cov_unbiased"), TOL, "streamed cov_unbiased");
        close(sf.total_weight, f(c, "total_weight"), TOL, "streamed W");
        close(sf.n_eff, f(c, "n_eff"), TOL, "streamed n_eff");

        let p = pca(&freq.cov, d)?;
        let r = &c["pca"];
        close_all(&p.eigenvalues, &vecf(r, "eigenvalues"), TOL, "λ");
        close_all(&p.evr, &vecf(r, "evr"), TOL, "evr");
        close_all(&p.cev, &vecf(r, "cev"), TOL, "cev");
        assert_eq!((p.k90, p.k95), (u(r, "k90"), u(r, "k95")));
        for (name, got) in [
            ("erank", p.erank),
            ("erank_sigma", p.erank_sigma),
            ("pr", p.pr),
            ("total_variance", p.total_variance),
        ] {
            close(got, f(r, name), TOL, name);
        }
    }
    Ok(())
}

#[test]
fn principal_angles_match_scipy() -> Result<()> {
    let root = fixture();
    for c in cases(&root, "subspace") {
        let (d, r) = (u(c, "d"), u(c, "r"));
        let s = compare_subspaces(&vecf(c, "a"), &vecf(c, "b"), d, r)?;
        close_all(&s.angles, &vecf(c, "angles"), TOL, "angles");
        for (name, got) in [
            ("overlap", s.overlap),
            ("grassmann", s.grassmann),
            ("projection", s.projection),
        ] {
            close(got, f(c, name), TOL, name);
        }
    }
    Ok(())
}

#[test]
fn top_singular_subspaces_match_numpy_projectors() -> Result<()> {
    let root = fixture();
    for c in cases(&root, "top_subspace") {
        let (rows, cols, r) = (u(c, "rows"), u(c, "cols"), u(c, "r"));
        let (ur, vr) = top_singular_subspaces(&vecf(c, "m"), rows, cols, r)?;
        // Projectors U Uᵀ are basis- and sign-independent.
        let pu = matmul(&ur, &transpose(&ur, rows, r), rows, r, rows);
        let pv = matmul(&vr, &transpose(&vr, cols, r), cols, r, cols);
        close_all(&pu, &vecf(c, "u_proj"), TOL, "U Uᵀ");
        close_all(&pv, &vecf(c, "v_proj"), TOL, "V Vᵀ");
    }
    Ok(())
}

#[test]
fn alignment_matches_numpy() -> Result<()> {
    let root = fixture();
    for c in cases(&root, "alignment") {
        let (a, b) = (vecf(c, "a"), vecf(c, "b"));
        close(frobenius_cosine(&a, &b)?, f(c, "cosine"), TOL, "cosine");
        close(scaled_copy_residual(&a, &b)?, f(c, "residual"), TOL, "residual");
    }
    Ok(())
}
