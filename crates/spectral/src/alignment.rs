//! Alignment between (average) expert Jacobians (SPEC §7 A1, A2, A4).
//!
//! Shape contract: both matrices are flattened the same way (any consistent order), equal
//! length. Frobenius inner products are order-independent.

use crate::validate::finite;
use crate::{Error, Result};

/// Frobenius cosine ⟨A, B⟩_F / (‖A‖_F ‖B‖_F) ∈ [−1, 1] (signed; SPEC §7 A1/A2).
///
/// Errors with `ZeroNorm` when either matrix is exactly zero (the cosine is undefined, e.g.
/// for a dead expert: count it, do not average it), and on length mismatch, empty or
/// non-finite input.
pub fn frobenius_cosine(a: &[f64], b: &[f64]) -> Result<f64> {
    check_pair(a, b)?;
    let (na, nb) = (
        scaled_norm(a, "frobenius_cosine: a")?,
        scaled_norm(b, "frobenius_cosine: b")?,
    );
    // Divide by the max-abs scales first so huge or tiny entries cannot overflow the dot.
    let dot: f64 = a.iter().zip(b).map(|(x, y)| (x / na.0) * (y / nb.0)).sum();
    Ok((dot / (na.1 * nb.1)).clamp(-1.0, 1.0))
}

/// Relative residual of the best scalar fit of A by B (SPEC §7 A4):
/// `c* = ⟨A,B⟩/‖B‖²`, result `‖A − c*B‖_F / ‖A‖_F ∈ [0, 1]`, equal to sqrt(1 − cos²).
///
/// Computed from the residual itself (not from the cosine), which stays accurate when A is
/// nearly a scaled copy of B. Errors as [`frobenius_cosine`].
pub fn scaled_copy_residual(a: &[f64], b: &[f64]) -> Result<f64> {
    check_pair(a, b)?;
    let (sa, na) = scaled_norm(a, "scaled_copy_residual: a")?;
    let (sb, nb) = scaled_norm(b, "scaled_copy_residual: b")?;
    // Work with unit-max copies: the residual ratio is invariant to scaling A and B.
    let dot: f64 = a.iter().zip(b).map(|(x, y)| (x / sa) * (y / sb)).sum();
    let c = dot / (nb * nb);
    let res2: f64 = a.iter().zip(b).map(|(x, y)| (x / sa - c * (y / sb)).powi(2)).sum();
    Ok((res2.sqrt() / na).min(1.0))
}

/// Chance level of |A1| for independent isotropic random `d x d` matrices: sqrt(2/(π d²))
/// (SPEC §7; the large-D approximation of E|cos| with D = d² entries). `d = 0` gives +∞.
pub fn alignment_chance(d: usize) -> f64 {
    (2.0 / std::f64::consts::PI).sqrt() / d as f64
}

fn check_pair(a: &[f64], b: &[f64]) -> Result<()> {
    finite("alignment: a", a)?;
    finite("alignment: b", b)?;
    if a.len() != b.len() {
        return Err(Error::LengthMismatch {
            what: "alignment: b (must match a)",
            expected: a.len(),
            got: b.len(),
        });
    }
    Ok(())
}

/// (max |v_i|, ‖v / max|v_i|‖₂); errors if v is all zeros.
fn scaled_norm(v: &[f64], what: &'static str) -> Result<(f64, f64)> {
    let scale = v.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    if scale == 0.0 {
        return Err(Error::ZeroNorm { what });
    }
    Ok((scale, v.iter().map(|x| (x / scale).powi(2)).sum::<f64>().sqrt()))
}
