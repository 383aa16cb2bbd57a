//! Thin, validated wrappers around nalgebra's SVD and symmetric eigensolver (SPEC §5.1).
//!
//! Shape contract: matrices are row-major `&[f64]` with explicit `(rows, cols)`. Outputs are
//! sorted descending; vector outputs are row-major with one vector per column.
//!
//! Sign convention (for reproducible output, since eigen/singular vectors are only defined up
//! to sign): each returned eigenvector, and each left singular vector, has its
//! largest-magnitude entry positive (the first such entry on ties); the matching right
//! singular vector is flipped with it.

use crate::validate::{finite, matrix, positive_count, row_major, shape};
use crate::{Error, Result};
use nalgebra::{DMatrix, SymmetricEigen, SVD};

/// Iteration cap for the implicit-shift QR sweeps: generous (typical use needs a few per
/// value) but finite, so pathological input becomes `NoConvergence` instead of a hang.
fn iteration_cap(dim: usize) -> usize {
    10_000 + 1_000 * dim
}

/// Relative asymmetry above which `sym_eigen` rejects its input. Covariances accumulated in
/// f64 are symmetric to ~1e-16; anything far above that is a caller bug.
const SYMMETRY_TOL: f64 = 1e-8;

/// Singular values (descending, all `>= 0`) of a `rows x cols` row-major matrix, from a full
/// SVD. An all-zero matrix gives exact zeros (never NaN).
pub fn singular_values(m: &[f64], rows: usize, cols: usize) -> Result<Vec<f64>> {
    shape("singular_values: matrix", m, rows, cols)?;
    finite("singular_values: matrix", m)?;
    // Read as column-major, the row-major slice is Mᵀ, which has the same singular values: a
    // plain copy instead of a transposing one (this runs once per routed point and expert).
    let mat = DMatrix::from_column_slice(cols, rows, m);
    let dim = rows.min(cols);
    let svd =
        SVD::try_new_unordered(mat, false, false, f64::EPSILON, iteration_cap(dim)).ok_or(Error::NoConvergence {
            op: "SVD",
            max_iter: iteration_cap(dim),
        })?;
    // `abs` also turns any -0.0 into +0.0.
    let mut sv: Vec<f64> = svd.singular_values.iter().map(|s| s.abs()).collect();
    sv.sort_by(|a, b| b.total_cmp(a));
    Ok(sv)
}

/// Symmetric eigendecomposition of an `n x n` row-major matrix.
///
/// Returns `(eigenvalues, eigenvectors)`: eigenvalues descending with negatives clipped to 0
/// (SPEC §5.1), eigenvectors as the columns of a row-major `n x n` matrix in the same order.
/// The input must be symmetric to a relative 1e-8 (else `Error::NotSymmetric`); it is
/// symmetrised exactly before decomposition.
pub fn sym_eigen(a: &[f64], n: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let mut mat = matrix("sym_eigen: matrix", a, n, n)?;
    symmetrize_checked("sym_eigen: matrix", &mut mat)?;
    let eig = SymmetricEigen::try_new(mat, f64::EPSILON, iteration_cap(n)).ok_or(Error::NoConvergence {
        op: "symmetric eigendecomposition",
        max_iter: iteration_cap(n),
    })?;
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| eig.eigenvalues[j].total_cmp(&eig.eigenvalues[i]));
    let values = order.iter().map(|&i| eig.eigenvalues[i].max(0.0)).collect();
    let mut vecs = DMatrix::<f64>::zeros(n, n);
    for (k, &i) in order.iter().enumerate() {
        let mut col = eig.eigenvectors.column(i).into_owned();
        if sign_flip(col.as_slice()) {
            col.neg_mut();
        }
        vecs.set_column(k, &col);
    }
    Ok((values, row_major(&vecs)))
}

/// Top-`r` left and right singular subspaces of a `rows x cols` row-major matrix (SPEC §7 A3).
///
/// Returns `(U, V)`: `U` is row-major `rows x r` (output directions), `V` is row-major
/// `cols x r` (input directions), columns ordered by descending singular value, so that
/// `M ≈ U diag(σ_1..σ_r) Vᵀ`. Requires `1 <= r <= min(rows, cols)`.
pub fn top_singular_subspaces(m: &[f64], rows: usize, cols: usize, r: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let mat = matrix("top_singular_subspaces: matrix", m, rows, cols)?;
    let dim = rows.min(cols);
    positive_count("top_singular_subspaces: r", r)?;
    if r > dim {
        return Err(Error::InvalidArgument {
            what: "top_singular_subspaces: r",
            value: r as f64,
            expected: "r <= min(rows, cols)",
        });
    }
    let svd = SVD::try_new(mat, true, true, f64::EPSILON, iteration_cap(dim)).ok_or(Error::NoConvergence {
        op: "SVD",
        max_iter: iteration_cap(dim),
    })?;
    let (Some(u), Some(v_t)) = (svd.u, svd.v_t) else {
        // Unreachable in practice: both were requested above.
        return Err(Error::NoConvergence {
            op: "SVD (vectors)",
            max_iter: 0,
        });
    };
    let mut u_r = DMatrix::<f64>::zeros(rows, r); // rows x r
    let mut v_r = DMatrix::<f64>::zeros(cols, r); // cols x r
    for k in 0..r {
        let mut uk = u.column(k).into_owned();
        let mut vk = v_t.row(k).transpose();
        if sign_flip(uk.as_slice()) {
            uk.neg_mut();
            vk.neg_mut();
        }
        u_r.set_column(k, &uk);
        v_r.set_column(k, &vk);
    }
    Ok((row_major(&u_r), row_major(&v_r)))
}

/// Whether `v` must be negated so that its largest-magnitude entry (first on ties) is positive.
fn sign_flip(v: &[f64]) -> bool {
    let mut best = 0.0_f64;
    let mut negative = false;
    for &x in v {
        if x.abs() > best {
            best = x.abs();
            negative = x < 0.0;
        }
    }
    negative
}

/// Checks symmetry relative to the largest entry, then replaces `m` by `(m + mᵀ)/2`.
fn symmetrize_checked(what: &'static str, m: &mut DMatrix<f64>) -> Result<()> {
    let scale = m.amax();
    let n = m.nrows();
    let mut worst = 0.0_f64;
    for i in 0..n {
        for j in 0..i {
            let (a, b) = (m[(i, j)], m[(j, i)]);
            worst = worst.max((a - b).abs());
            let mean = 0.5 * (a + b);
            m[(i, j)] = mean;
            m[(j, i)] = mean;
        }
    }
    if scale > 0.0 && worst / scale > SYMMETRY_TOL {
        return Err(Error::NotSymmetric {
            what,
            relative_asymmetry: worst / scale,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_flip_picks_largest_magnitude_entry() {
        assert!(sign_flip(&[0.1, -0.9, 0.3]));
        assert!(!sign_flip(&[-0.1, 0.9, 0.3]));
        // Ties: the first of equal magnitudes decides.
        assert!(sign_flip(&[-0.5, 0.5]));
        assert!(!sign_flip(&[0.0, 0.0]));
    }

    #[test]
    fn asymmetric_input_is_rejected() {
        let err = sym_eigen(&[1.0, 2.0, 0.0, 1.0], 2).unwrap_err();
        assert!(matches!(err, Error::NotSymmetric { .. }), "{err}");
    }
}
