//! Principal angles and distances between subspaces (SPEC §6.5, §7 A3, §13.8).
//!
//! Shape contract: bases are row-major `d x k` matrices with orthonormal columns (`k >= r`);
//! only columns `0..r` are used. Reference: Björck & Golub (1973), cos θ_j = σ_j(AᵀB);
//! Edelman, Arias & Smith (1998), d_G = ‖θ‖₂.

use crate::singular_values;
use crate::validate::{finite, positive_count, row_major};
use crate::{Error, Result};
use nalgebra::DMatrix;

/// Largest |QᵀQ − I| entry accepted as "orthonormal". Eigenvector bases from f64 solvers
/// sit near 1e-14; 1e-6 only rejects genuinely wrong input.
const ORTHONORMAL_TOL: f64 = 1e-6;

/// Comparison of two r-dimensional subspaces of R^d.
#[derive(Debug, Clone, PartialEq)]
pub struct SubspaceComparison {
    /// Principal angles θ_1 <= … <= θ_r in radians (ascending; θ_j pairs with the j-th
    /// largest singular value of AᵀB).
    pub angles: Vec<f64>,
    /// Overlap ‖AᵀB‖_F² / r ∈ [0, 1] (chance level r/d).
    pub overlap: f64,
    /// Grassmann geodesic distance sqrt(Σ θ_j²).
    pub grassmann: f64,
    /// Projection distance ‖AAᵀ − BBᵀ‖_F/√2 = sqrt(r − ‖AᵀB‖_F²) = sqrt(Σ sin² θ_j).
    pub projection: f64,
}

/// Compares the subspaces spanned by columns `0..r` of two row-major `d x k` orthonormal bases.
///
/// Small angles are computed from sines (σ((I − AAᵀ)B)) and large ones from cosines, as
/// `scipy.linalg.subspace_angles` does, so identical subspaces give angles of exactly ~0
/// rather than the ~1e-8 that `acos` of a rounded 1 would give. The projection distance is
/// evaluated as sqrt(Σ sin² θ_j) for the same reason (it equals sqrt(r − ‖AᵀB‖_F²)).
/// Errors on shape problems, non-finite input, `r` outside `1..=min(k_a, k_b)` or
/// non-orthonormal columns.
pub fn compare_subspaces(a: &[f64], b: &[f64], d: usize, r: usize) -> Result<SubspaceComparison> {
    let qa = leading_columns("compare_subspaces: a", a, d, r)?; // d x r
    let qb = leading_columns("compare_subspaces: b", b, d, r)?; // d x r
    let m = qa.tr_mul(&qb); // r x r, AᵀB
    let cosines: Vec<f64> = singular_values(&row_major(&m), r, r)?
        .into_iter()
        .map(|c| c.min(1.0))
        .collect();
    let residual = &qb - &qa * &m; // d x r, (I − AAᵀ)B
    let mut sines: Vec<f64> = singular_values(&row_major(&residual), d, r)?
        .into_iter()
        .map(|s| s.min(1.0))
        .collect();
    sines.reverse(); // ascending, to pair with descending cosines
    let angles: Vec<f64> = cosines
        .iter()
        .zip(&sines)
        .map(|(&c, &s)| if c * c >= 0.5 { s.asin() } else { c.acos() })
        .collect();
    let overlap = m.norm_squared() / r as f64;
    let grassmann = angles.iter().map(|t| t * t).sum::<f64>().sqrt();
    let projection = angles.iter().map(|t| t.sin().powi(2)).sum::<f64>().sqrt();
    Ok(SubspaceComparison {
        angles,
        overlap,
        grassmann,
        projection,
    })
}

/// Columns `0..r` of a validated row-major `d x k` basis, checked to be orthonormal.
fn leading_columns(what: &'static str, q: &[f64], d: usize, r: usize) -> Result<DMatrix<f64>> {
    positive_count("compare_subspaces: d", d)?;
    positive_count("compare_subspaces: r", r)?;
    finite(what, q)?;
    if !q.len().is_multiple_of(d) {
        return Err(Error::LengthMismatch {
            what,
            expected: d * q.len().div_ceil(d),
            got: q.len(),
        });
    }
    let k = q.len() / d;
    if r > k || r > d {
        return Err(Error::InvalidArgument {
            what: "compare_subspaces: r",
            value: r as f64,
            expected: "r <= number of basis columns (and <= d)",
        });
    }
    let full = DMatrix::from_row_slice(d, k, q);
    let cols = full.columns(0, r).into_owned(); // d x r
    let gram = cols.tr_mul(&cols) - DMatrix::<f64>::identity(r, r);
    let deviation = gram.amax();
    if deviation > ORTHONORMAL_TOL {
        return Err(Error::NotOrthonormal { what, deviation });
    }
    Ok(cols)
}
