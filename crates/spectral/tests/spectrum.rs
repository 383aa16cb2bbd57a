//! SPEC §5 spectra and metrics against closed forms.
mod common;

use common::{close, close_all, matmul, orthogonal, transpose};
use moescope_spectral::{
    effective_rank, participation_ratio, singular_values, spectrum_metrics, stable_rank, Error, Result, SpectrumOptions,
};

const OPTS: SpectrumOptions = SpectrumOptions { decay_q: 4 };

#[test]
fn two_one_spectrum_closed_forms() -> Result<()> {
    // p = (2/3, 1/3): exp(−(2/3 ln 2/3 + 1/3 ln 1/3)) = 1.889882…
    close(effective_rank(&[2.0, 1.0])?, 1.889882, 5e-7, "erank");
    // (4 + 1)² / (16 + 1) = 25/17.
    close(participation_ratio(&[4.0, 1.0])?, 25.0 / 17.0, 1e-15, "pr");
    close(participation_ratio(&[4.0, 1.0])?, 1.470588, 5e-7, "pr 6dp");
    close(stable_rank(&[2.0, 1.0])?, 1.25, 1e-15, "srank");
    let m = spectrum_metrics(&[2.0, 1.0], (2, 2), &OPTS)?;
    close(m.erank, 1.889882, 5e-7, "metrics erank");
    close(m.pr, 25.0 / 17.0, 1e-14, "metrics pr");
    close(m.srank, 1.25, 1e-15, "metrics srank");
    close(m.frobenius, 5f64.sqrt(), 1e-15, "frobenius");
    // q = 4 > n = 2: σ_4 does not exist, so ρ_4 is undefined; all the energy is in the top 4.
    assert!(m.rho_q.is_nan(), "rho_q = {}", m.rho_q);
    assert_eq!(m.energy_q, 1.0);
    // ⌈2/4⌉ = 1, so ρ_quarter = σ_1/σ_1.
    close(m.rho_quarter, 1.0, 0.0, "rho_quarter");
    Ok(())
}

#[test]
fn erank_of_flat_and_single_spike() -> Result<()> {
    close(effective_rank(&[3.0, 0.0, 0.0])?, 1.0, 1e-15, "spike");
    close(effective_rank(&[1.0, 1.0, 1.0, 1.0])?, 4.0, 1e-13, "flat");
    Ok(())
}

#[test]
fn identity_has_full_erank_and_srank() -> Result<()> {
    let n = 6;
    let sv = singular_values(&common::identity(n), n, n)?;
    close_all(&sv, &[1.0; 6], 1e-14, "sv(I)");
    let m = spectrum_metrics(&sv, (n, n), &OPTS)?;
    close(m.erank, 6.0, 1e-12, "erank");
    close(m.srank, 6.0, 1e-12, "srank");
    close(m.pr, 6.0, 1e-12, "pr");
    assert_eq!(m.numerical_rank, 6);
    close(m.alpha, 0.0, 1e-12, "flat alpha");
    close(m.beta, 0.0, 1e-12, "flat beta");
    Ok(())
}

#[test]
fn rank_one_matrix_has_erank_one_and_undefined_fits() -> Result<()> {
    // u vᵀ with u = (1, 2, 3), v = (1, −1, 0, 2): σ_1 = ‖u‖‖v‖ = sqrt(14)·sqrt(6).
    let u = [1.0, 2.0, 3.0];
    let v = [1.0, -1.0, 0.0, 2.0];
    let m: Vec<f64> = u.iter().flat_map(|a| v.iter().map(move |b| a * b)).collect();
    let sv = singular_values(&m, 3, 4)?;
    close(sv[0], (14.0f64 * 6.0).sqrt(), 1e-13, "σ_1");
    let met = spectrum_metrics(&sv, (3, 4), &OPTS)?;
    assert_eq!(met.numerical_rank, 1);
    close(met.erank, 1.0, 1e-12, "erank");
    close(met.srank, 1.0, 1e-12, "srank");
    assert!(!met.dead && met.alpha.is_nan() && met.beta.is_nan() && met.fit_points == 1);
    Ok(())
}

#[test]
fn dead_zero_matrix_gives_exact_zero_singular_values() -> Result<()> {
    let sv = singular_values(&[0.0; 12], 3, 4)?;
    assert_eq!(sv, vec![0.0; 3]);
    assert!(sv.iter().all(|s| s.is_sign_positive()));
    let m = spectrum_metrics(&sv, (3, 4), &OPTS)?;
    assert!(m.dead);
    assert_eq!((m.sigma1, m.frobenius, m.numerical_rank), (0.0, 0.0, 0));
    for (name, v) in [
        ("erank", m.erank),
        ("srank", m.srank),
        ("pr", m.pr),
        ("rho_q", m.rho_q),
        ("rho_quarter", m.rho_quarter),
        ("energy_q", m.energy_q),
        ("alpha", m.alpha),
        ("beta", m.beta),
    ] {
        assert!(v.is_nan(), "{name} should be NaN for a dead spectrum, got {v}");
    }
    // Just below the 1e-12 threshold is still dead.
    assert!(spectrum_metrics(&[1e-13, 0.0], (2, 2), &OPTS)?.dead);
    assert!(!spectrum_metrics(&[1e-11, 0.0], (2, 2), &OPTS)?.dead);
    Ok(())
}

#[test]
fn svd_of_rotated_diagonal_recovers_the_diagonal() -> Result<()> {
    let (rows, cols) = (5, 4);
    let diag = [7.0, 3.0, 0.5, 0.01];
    let u = orthogonal(rows, 1);
    let v = orthogonal(cols, 2);
    let mut s = vec![0.0; rows * cols]; // rows x cols, diag on the main diagonal
    for (i, d) in diag.iter().enumerate() {
        s[i * cols + i] = *d;
    }
    let m = matmul(
        &matmul(&u, &s, rows, rows, cols),
        &transpose(&v, cols, cols),
        rows,
        cols,
        cols,
    );
    close_all(&singular_values(&m, rows, cols)?, &diag, 1e-13, "σ(U S Vᵀ)");
    // Wide matrix: the transpose has the same singular values.
    close_all(
        &singular_values(&transpose(&m, rows, cols), cols, rows)?,
        &diag,
        1e-13,
        "σ(Mᵀ)",
    );
    Ok(())
}

#[test]
fn diagonal_matrices_sort_absolute_values() -> Result<()> {
    let m = [-1.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 2.0];
    assert_eq!(singular_values(&m, 3, 3)?, vec![3.0, 2.0, 1.0]);
    Ok(())
}

#[test]
fn power_law_and_exponential_decay_are_recovered_exactly() -> Result<()> {
    let pow: Vec<f64> = (1..=12).map(|i| (i as f64).powi(-2)).collect();
    close(spectrum_metrics(&pow, (12, 12), &OPTS)?.alpha, 2.0, 1e-12, "alpha");
    let exp: Vec<f64> = (1..=12).map(|i| (-0.5 * i as f64).exp()).collect();
    let m = spectrum_metrics(&exp, (12, 20), &OPTS)?;
    close(m.beta, 0.5, 1e-12, "beta");
    // ρ_4 = e^{−1.5}; ρ_{⌈12/4⌉ = 3} = e^{−1}; ε_4 = Σ_{i<=4} e^{−i} / Σ_{i<=12} e^{−i}.
    close(m.rho_q, (-1.5f64).exp(), 1e-14, "rho_4");
    close(m.rho_quarter, (-1.0f64).exp(), 1e-14, "rho_quarter");
    let e = |k: i32| (1..=k).map(|i| (-(i as f64)).exp()).sum::<f64>();
    close(m.energy_q, e(4) / e(12), 1e-14, "energy_4");
    Ok(())
}

#[test]
fn values_at_or_below_tol_count_as_zero() -> Result<()> {
    // tol = 3·ε·1; 1e-17 is below it and must not count towards the rank or the fit.
    let m = spectrum_metrics(&[1.0, 0.25, 1e-17], (3, 3), &OPTS)?;
    assert_eq!((m.numerical_rank, m.fit_points), (2, 2));
    close(m.alpha, 2.0, 1e-12, "two-point power law 1, 2^-2");
    Ok(())
}

#[test]
fn invalid_input_is_an_error_naming_the_index() {
    let err = singular_values(&[1.0, f64::NAN, 0.0, 1.0], 2, 2).unwrap_err();
    assert!(matches!(err, Error::NonFinite { index: 1, .. }), "{err}");
    assert!(matches!(
        singular_values(&[1.0; 5], 2, 3),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(singular_values(&[], 0, 3), Err(Error::Empty { .. })));
    assert!(matches!(
        spectrum_metrics(&[1.0, 2.0], (2, 2), &OPTS),
        Err(Error::NotDescending { index: 1, .. })
    ));
    assert!(matches!(
        spectrum_metrics(&[2.0, 1.0], (2, 3), &SpectrumOptions { decay_q: 0 }),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        spectrum_metrics(&[2.0, 1.0], (3, 3), &OPTS),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        effective_rank(&[1.0, -0.5]),
        Err(Error::Negative { index: 1, .. })
    ));
    assert!(effective_rank(&[0.0, 0.0]).is_ok_and(f64::is_nan));
}
