//! The ops through candle, on every compiled device (`test_device!`: CPU always, CUDA with the
//! `cuda` feature), against nalgebra's SVD / symmetric eigendecomposition and closed forms.
//!
//! Shapes cover both CUDA paths: ≤ 32 × 32 (cuSOLVER) and larger (the Jacobi PTX kernel), tall
//! and wide, and a single row/column.

use candle_core::{DType, Device, Tensor};
use moescope_gpu::{singular_values, singular_values_with, sym_eigenvalues, Error, SvdMethod};
use moescope_testkit::{assert_close, test_device};
use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

type TestResult = Result<(), Error>;

const SHAPES: [(usize, usize, usize); 7] = [
    (3, 5, 4),
    (2, 4, 7),
    (2, 32, 32),
    (2, 33, 40),
    (1, 50, 35),
    (4, 1, 6),
    (3, 6, 1),
];

fn random(len: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// nalgebra's singular values of each row-major m×n matrix, descending.
fn nalgebra_sv(a: &[f64], m: usize, n: usize) -> Vec<f64> {
    a.chunks_exact(m * n)
        .flat_map(|mat| {
            let mut s: Vec<f64> = DMatrix::from_row_slice(m, n, mat)
                .singular_values()
                .iter()
                .copied()
                .collect();
            s.sort_by(|x, y| y.total_cmp(x));
            s
        })
        .collect()
}

/// nalgebra's eigenvalues of the symmetric matrix built from each lower triangle, ascending.
fn nalgebra_eig(a: &[f64], n: usize) -> Vec<f64> {
    a.chunks_exact(n * n)
        .flat_map(|mat| {
            let s = DMatrix::from_fn(n, n, |i, j| mat[i.max(j) * n + i.min(j)]);
            let mut e: Vec<f64> = s.symmetric_eigen().eigenvalues.iter().copied().collect();
            e.sort_by(|x, y| x.total_cmp(y));
            e
        })
        .collect()
}

fn flat(t: &Tensor) -> Result<Vec<f64>, Error> {
    Ok(t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?)
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

fn check_sv(dev: &Device, dtype: DType, method: SvdMethod, rel_tol: f64) -> TestResult {
    for (k, &(b, m, n)) in SHAPES.iter().enumerate() {
        let a = random(b * m * n, 10 + k as u64);
        let t = Tensor::from_vec(a.clone(), (b, m, n), dev)?.to_dtype(dtype)?;
        let s = singular_values_with(&t, method)?;
        assert_eq!(s.dims(), &[b, m.min(n)], "shape for {b}x{m}x{n}");
        assert_eq!(s.dtype(), dtype);
        let want = nalgebra_sv(&a, m, n);
        let what = format!("{dtype:?} {method:?} singular values of {b}x{m}x{n}");
        assert_close(&flat(&s)?, &want, rel_tol * max_abs(&want), 0.0, &what);
    }
    Ok(())
}

fn sv_f64_random(dev: &Device) -> TestResult {
    check_sv(dev, DType::F64, SvdMethod::Auto, 1e-12)
}
test_device!(sv_f64_random, sv_f64_random_cpu, sv_f64_random_cuda);

fn sv_f32_random(dev: &Device) -> TestResult {
    check_sv(dev, DType::F32, SvdMethod::Auto, 2e-5)
}
test_device!(sv_f32_random, sv_f32_random_cpu, sv_f32_random_cuda);

fn sv_jacobi_random(dev: &Device) -> TestResult {
    // Forces the PTX kernel on CUDA for the small shapes too (CPU: same reference as Auto).
    check_sv(dev, DType::F64, SvdMethod::Jacobi, 1e-12)?;
    check_sv(dev, DType::F32, SvdMethod::Jacobi, 2e-5)
}
test_device!(sv_jacobi_random, sv_jacobi_random_cpu, sv_jacobi_random_cuda);

fn sv_rank_deficient(dev: &Device) -> TestResult {
    // A = X Yᵀ with X: m×r, Y: n×r has exactly r nonzero singular values.
    for &(m, n, r) in &[(6usize, 5usize, 2usize), (40, 36, 3), (20, 45, 1)] {
        let (x, y) = (random(m * r, 1), random(n * r, 2));
        let a: Vec<f64> = (0..m * n)
            .map(|idx| (0..r).map(|k| x[(idx / n) * r + k] * y[(idx % n) * r + k]).sum())
            .collect();
        let s = flat(&singular_values(&Tensor::from_vec(a.clone(), (1, m, n), dev)?)?)?;
        let want = nalgebra_sv(&a, m, n);
        let scale = max_abs(&want);
        assert_close(&s[..r], &want[..r], 1e-12 * scale, 0.0, "nonzero singular values");
        assert_close(
            &s[r..],
            &vec![0.0; s.len() - r],
            1e-12 * scale,
            0.0,
            "zero singular values",
        );
    }
    Ok(())
}
test_device!(sv_rank_deficient, sv_rank_deficient_cpu, sv_rank_deficient_cuda);

fn sv_closed_forms(dev: &Device) -> TestResult {
    // diag(3, −1, 2, 0): |d| sorted.
    let d = Tensor::new(
        &[[
            [3.0f64, 0., 0., 0.],
            [0., -1., 0., 0.],
            [0., 0., 2., 0.],
            [0., 0., 0., 0.],
        ]],
        dev,
    )?;
    assert_close(&flat(&singular_values(&d)?)?, &[3.0, 2.0, 1.0, 0.0], 1e-15, 0.0, "diag");
    // [[3, 0], [4, 5]]: AᵀA = [[25, 20], [20, 25]], eigenvalues 45 and 5.
    let a = Tensor::new(&[[[3.0f64, 0.], [4., 5.]]], dev)?;
    assert_close(
        &flat(&singular_values(&a)?)?,
        &[45f64.sqrt(), 5f64.sqrt()],
        1e-14,
        0.0,
        "2x2",
    );
    // 2·R(θ) for a rotation R: both singular values are 2; a 3×2 slice of the identity: 1, 1.
    let (c, s) = (0.3f64.cos(), 0.3f64.sin());
    let rot = Tensor::new(&[[[2. * c, -2. * s], [2. * s, 2. * c]]], dev)?;
    assert_close(&flat(&singular_values(&rot)?)?, &[2.0, 2.0], 1e-14, 0.0, "2R");
    let e = Tensor::new(&[[[1.0f64, 0.], [0., 1.], [0., 0.]]], dev)?;
    assert_close(&flat(&singular_values(&e)?)?, &[1.0, 1.0], 1e-15, 0.0, "3x2 identity");
    // A 1×n row has one singular value, its Euclidean norm: ‖(1, 2, 2)‖ = 3.
    let row = Tensor::new(&[[[1.0f64, 2., 2.]]], dev)?;
    assert_close(&flat(&singular_values(&row)?)?, &[3.0], 1e-15, 0.0, "row");
    Ok(())
}
test_device!(sv_closed_forms, sv_closed_forms_cpu, sv_closed_forms_cuda);

fn sv_non_contiguous_input(dev: &Device) -> TestResult {
    // A transposed view: the singular values of Aᵀ are those of A.
    let a = random(2 * 7 * 5, 3);
    let t = Tensor::from_vec(a.clone(), (2, 7, 5), dev)?.transpose(1, 2)?;
    assert!(!t.is_contiguous());
    assert_close(
        &flat(&singular_values(&t)?)?,
        &nalgebra_sv(&a, 7, 5),
        1e-12,
        0.0,
        "transposed view",
    );
    Ok(())
}
test_device!(
    sv_non_contiguous_input,
    sv_non_contiguous_input_cpu,
    sv_non_contiguous_input_cuda
);

fn eig_random(dev: &Device) -> TestResult {
    for (k, &(b, n)) in [(3usize, 1usize), (4, 5), (2, 17), (2, 32)].iter().enumerate() {
        // Upper triangle deliberately not the mirror of the lower: only the lower one may be read.
        let a = random(b * n * n, 20 + k as u64);
        let want = nalgebra_eig(&a, n);
        for dtype in [DType::F64, DType::F32] {
            let t = Tensor::from_vec(a.clone(), (b, n, n), dev)?.to_dtype(dtype)?;
            let e = sym_eigenvalues(&t)?;
            assert_eq!(e.dims(), &[b, n]);
            let tol = if dtype == DType::F64 { 1e-12 } else { 2e-5 } * max_abs(&want);
            assert_close(
                &flat(&e)?,
                &want,
                tol,
                0.0,
                &format!("{dtype:?} eigenvalues {b}x{n}x{n}"),
            );
        }
    }
    Ok(())
}
test_device!(eig_random, eig_random_cpu, eig_random_cuda);

/// tridiag(−1, 2, −1) of size n: eigenvalues 2 − 2cos(kπ/(n+1)), k = 1..n (ascending).
fn toeplitz_case(n: usize, dev: &Device) -> TestResult {
    let a: Vec<f64> = (0..n * n)
        .map(|idx| match (idx / n).abs_diff(idx % n) {
            0 => 2.0,
            1 => -1.0,
            _ => 0.0,
        })
        .collect();
    let want: Vec<f64> = (1..=n)
        .map(|k| 2.0 - 2.0 * (k as f64 * std::f64::consts::PI / (n as f64 + 1.0)).cos())
        .collect();
    let e = sym_eigenvalues(&Tensor::from_vec(a, (1, n, n), dev)?)?;
    assert_close(&flat(&e)?, &want, 1e-13, 0.0, &format!("tridiagonal Toeplitz n={n}"));
    Ok(())
}

fn eig_closed_form(dev: &Device) -> TestResult {
    toeplitz_case(8, dev)?;
    toeplitz_case(32, dev)?;
    // [[a, b], [b, c]]: (a+c)/2 ± sqrt(((a−c)/2)² + b²).
    let (a, b, c) = (1.5f64, -0.7, 0.25);
    let r = (((a - c) / 2.0).powi(2) + b * b).sqrt();
    let t = Tensor::new(&[[[a, b], [b, c]]], dev)?;
    assert_close(
        &flat(&sym_eigenvalues(&t)?)?,
        &[(a + c) / 2.0 - r, (a + c) / 2.0 + r],
        1e-15,
        0.0,
        "2x2",
    );
    Ok(())
}
test_device!(eig_closed_form, eig_closed_form_cpu, eig_closed_form_cuda);

#[test]
fn eig_larger_than_cusolver_limit_on_cpu() -> TestResult {
    toeplitz_case(45, &Device::Cpu)
}

#[test]
fn rejects_bad_shapes_and_dtypes() -> TestResult {
    let dev = Device::Cpu;
    let two_d = Tensor::zeros((3, 3), DType::F64, &dev)?;
    assert!(matches!(singular_values(&two_d), Err(Error::Shape { .. })));
    let empty = Tensor::zeros((0, 3, 3), DType::F64, &dev)?;
    assert!(matches!(singular_values(&empty), Err(Error::Shape { .. })));
    let ints = Tensor::zeros((1, 3, 3), DType::U32, &dev)?;
    assert!(matches!(singular_values(&ints), Err(Error::DType { .. })));
    let rect = Tensor::zeros((1, 3, 4), DType::F64, &dev)?;
    assert!(matches!(sym_eigenvalues(&rect), Err(Error::Shape { .. })));
    Ok(())
}

#[test]
fn rejects_non_finite_input() -> TestResult {
    let t = Tensor::new(&[[[1.0f64, f64::NAN], [0.0, 1.0]]], &Device::Cpu)?;
    let e = singular_values(&t).expect_err("NaN input must fail");
    assert!(e.to_string().contains("not finite"), "{e}");
    Ok(())
}
