//! SPEC §6.5 principal angles and distances against closed forms.
mod common;

use common::{close, close_all, matmul, orthogonal, transpose};
use moescope_spectral::{compare_subspaces, top_singular_subspaces, Error, Result};

/// Columns `0..k` of a row-major `n x n` matrix as a row-major `n x k` matrix.
fn cols(q: &[f64], n: usize, k: usize) -> Vec<f64> {
    (0..n).flat_map(|i| q[i * n..i * n + k].to_vec()).collect()
}

#[test]
fn identical_subspaces_have_zero_angles() -> Result<()> {
    let q = orthogonal(6, 3);
    let a = cols(&q, 6, 3);
    let c = compare_subspaces(&a, &a, 6, 3)?;
    close_all(&c.angles, &[0.0; 3], 1e-14, "angles");
    close(c.overlap, 1.0, 1e-14, "overlap");
    close(c.grassmann, 0.0, 1e-14, "d_G");
    close(c.projection, 0.0, 1e-14, "d_P");
    Ok(())
}

#[test]
fn orthogonal_subspaces_have_zero_overlap() -> Result<()> {
    // span(e1, e2) vs span(e3, e4) in R^5.
    let mut a = vec![0.0; 10];
    let mut b = vec![0.0; 10];
    (a[0], a[3]) = (1.0, 1.0);
    (b[4], b[7]) = (1.0, 1.0);
    let c = compare_subspaces(&a, &b, 5, 2)?;
    close(c.overlap, 0.0, 1e-15, "overlap");
    close_all(&c.angles, &[std::f64::consts::FRAC_PI_2; 2], 1e-15, "angles");
    close(c.projection, 2f64.sqrt(), 1e-15, "d_P = sqrt(r)");
    Ok(())
}

#[test]
fn rotation_by_t_gives_angle_t() -> Result<()> {
    for t in [1e-7_f64, 0.3, 1.2] {
        // Lines in R²: e1 vs (cos t, sin t).
        let c = compare_subspaces(&[1.0, 0.0], &[t.cos(), t.sin()], 2, 1)?;
        close(c.angles[0], t, 1e-15, "angle");
        close(c.grassmann, t, 1e-15, "d_G");
        close(c.overlap, t.cos().powi(2), 1e-15, "overlap");
        // d_P = sqrt(1 − cos² t) = sin t; compared with sin t because evaluating
        // sqrt(1 − cos² t) itself loses ~8 digits at t = 1e-7.
        close(c.projection, t.sin(), 1e-15, "d_P");
    }
    Ok(())
}

#[test]
fn projection_distance_matches_both_formulas() -> Result<()> {
    let (d, r) = (7, 3);
    let a = cols(&orthogonal(d, 10), d, r);
    let b = cols(&orthogonal(d, 20), d, r);
    let c = compare_subspaces(&a, &b, d, r)?;
    let m = matmul(&transpose(&a, d, r), &b, r, d, r); // AᵀB
    let fro2: f64 = m.iter().map(|v| v * v).sum();
    close(c.projection, (r as f64 - fro2).sqrt(), 1e-12, "sqrt(r − ‖AᵀB‖²)");
    close(c.overlap, fro2 / r as f64, 1e-14, "overlap");
    let pa = matmul(&a, &transpose(&a, d, r), d, r, d);
    let pb = matmul(&b, &transpose(&b, d, r), d, r, d);
    let diff: f64 = pa.iter().zip(&pb).map(|(x, y)| (x - y).powi(2)).sum();
    close(c.projection, (diff / 2.0).sqrt(), 1e-12, "‖AAᵀ − BBᵀ‖/√2");
    let g: f64 = c.angles.iter().map(|t| t * t).sum::<f64>().sqrt();
    close(c.grassmann, g, 1e-15, "d_G = ‖θ‖");
    assert!(c.angles.windows(2).all(|w| w[0] <= w[1]), "ascending");
    Ok(())
}

#[test]
fn non_orthonormal_bases_and_bad_r_are_errors() {
    assert!(matches!(
        compare_subspaces(&[2.0, 0.0], &[1.0, 0.0], 2, 1),
        Err(Error::NotOrthonormal { .. })
    ));
    assert!(matches!(
        compare_subspaces(&[1.0, 0.0], &[1.0, 0.0], 2, 2),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        compare_subspaces(&[1.0, 0.0, 0.0], &[1.0, 0.0], 2, 1),
        Err(Error::LengthMismatch { .. })
    ));
}

#[test]
fn top_singular_subspaces_of_a_rotated_diagonal() -> Result<()> {
    // M = U diag(5, 2, 1) Vᵀ (4 x 3): top-2 subspaces are the first two columns of U and V.
    let (rows, cols_n) = (4, 3);
    let u = orthogonal(rows, 5);
    let v = orthogonal(cols_n, 6);
    let mut s = vec![0.0; rows * cols_n];
    (s[0], s[4], s[8]) = (5.0, 2.0, 1.0);
    let m = matmul(
        &matmul(&u, &s, rows, rows, cols_n),
        &transpose(&v, cols_n, cols_n),
        rows,
        cols_n,
        cols_n,
    );
    let (ur, vr) = top_singular_subspaces(&m, rows, cols_n, 2)?;
    let cu = compare_subspaces(&ur, &cols(&u, rows, 2), rows, 2)?;
    let cv = compare_subspaces(&vr, &cols(&v, cols_n, 2), cols_n, 2)?;
    close(cu.overlap, 1.0, 1e-12, "U overlap");
    close(cv.overlap, 1.0, 1e-12, "V overlap");
    // u_k σ_k = M v_k for each returned pair (consistent signs).
    let mv = matmul(&m, &vr, rows, cols_n, 2);
    for k in 0..2 {
        let sigma = [5.0, 2.0][k];
        for i in 0..rows {
            close(mv[i * 2 + k], sigma * ur[i * 2 + k], 1e-12, "M v = σ u");
        }
    }
    assert!(top_singular_subspaces(&m, rows, cols_n, 4).is_err());
    Ok(())
}
