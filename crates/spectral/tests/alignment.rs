//! SPEC §7 alignment and §6.4 routing statistics against closed forms.
mod common;

use common::{close, Lcg};
use moescope_spectral::{
    alignment_chance, entropy, frobenius_cosine, normalized_entropy, routing_stats, scaled_copy_residual, Error, Result,
};

#[test]
fn scaled_copy_residual_equals_sqrt_one_minus_cos_squared() -> Result<()> {
    let mut rng = Lcg(7);
    for _ in 0..5 {
        let a = rng.vec(16);
        let b: Vec<f64> = a.iter().zip(rng.vec(16)).map(|(x, y)| 0.5 * x + y).collect();
        let c = frobenius_cosine(&a, &b)?;
        close(scaled_copy_residual(&a, &b)?, (1.0 - c * c).sqrt(), 1e-13, "A4");
    }
    Ok(())
}

#[test]
fn cosine_closed_forms() -> Result<()> {
    close(frobenius_cosine(&[1.0, 0.0], &[0.0, 3.0])?, 0.0, 0.0, "orthogonal");
    close(
        frobenius_cosine(&[1.0, 2.0], &[-2.0, -4.0])?,
        -1.0,
        1e-15,
        "anti-parallel",
    );
    // (1,1)·(1,0) / (√2 · 1) = 1/√2.
    close(frobenius_cosine(&[1.0, 1.0], &[1.0, 0.0])?, 0.5f64.sqrt(), 1e-15, "45°");
    // A scaled copy has zero residual; tiny entries must not underflow.
    close(
        scaled_copy_residual(&[1e-200, 2e-200], &[3.0, 6.0])?,
        0.0,
        1e-15,
        "copy",
    );
    close(
        scaled_copy_residual(&[1.0, 0.0], &[0.0, 1.0])?,
        1.0,
        0.0,
        "orthogonal residual",
    );
    Ok(())
}

#[test]
fn zero_norm_and_mismatch_are_errors() {
    assert!(matches!(
        frobenius_cosine(&[0.0, 0.0], &[1.0, 0.0]),
        Err(Error::ZeroNorm { .. })
    ));
    assert!(matches!(
        scaled_copy_residual(&[1.0, 0.0], &[0.0, 0.0]),
        Err(Error::ZeroNorm { .. })
    ));
    assert!(matches!(
        frobenius_cosine(&[1.0], &[1.0, 0.0]),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        frobenius_cosine(&[f64::NAN], &[1.0]),
        Err(Error::NonFinite { .. })
    ));
}

#[test]
fn chance_level() {
    close(
        alignment_chance(8),
        (2.0 / (std::f64::consts::PI * 64.0)).sqrt(),
        1e-16,
        "d = 8",
    );
}

#[test]
fn entropy_closed_forms() -> Result<()> {
    close(entropy(&[0.25; 4])?, 4f64.ln(), 1e-15, "uniform");
    close(entropy(&[1.0, 0.0, 0.0])?, 0.0, 0.0, "one-hot (0 log 0 = 0)");
    close(normalized_entropy(&[0.5, 0.5, 0.0, 0.0])?, 0.5, 1e-15, "ln2/ln4");
    // Counts are normalised: (1, 3) -> (1/4, 3/4).
    let h = -(0.25f64 * 0.25f64.ln() + 0.75 * 0.75f64.ln());
    close(entropy(&[1.0, 3.0])?, h, 1e-15, "counts");
    assert!(matches!(entropy(&[0.0, 0.0]), Err(Error::ZeroTotalWeight { .. })));
    Ok(())
}

#[test]
fn routing_stats_of_two_points() -> Result<()> {
    // Point 1 one-hot on expert 0, point 2 uniform over 2 experts.
    let s = routing_stats(&[1.0, 0.0, 0.5, 0.5], 2, 2)?;
    close(s.mean_entropy, 2f64.ln() / 2.0, 1e-15, "mean H");
    close(s.mean_entropy_normalized, 0.5, 1e-15, "mean H / ln 2");
    assert_eq!(s.load, vec![0.75, 0.25]);
    let h = -(0.25f64 * 0.25f64.ln() + 0.75 * 0.75f64.ln());
    close(s.load_entropy, h, 1e-15, "load H");
    close(s.load_entropy_normalized, h / 2f64.ln(), 1e-15, "load H / ln 2");
    Ok(())
}
