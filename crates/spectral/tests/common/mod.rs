//! Helpers shared by the integration tests (small dense linear algebra written out by hand,
//! so tests do not depend on the code under test).
#![allow(dead_code)]

/// Asserts |a − b| <= tol, NaN-aware (NaN only equals NaN).
pub fn close(a: f64, b: f64, tol: f64, what: &str) {
    if a.is_nan() || b.is_nan() {
        assert!(a.is_nan() && b.is_nan(), "{what}: {a} vs {b}");
        return;
    }
    assert!(
        (a - b).abs() <= tol,
        "{what}: {a} vs {b} (|diff| = {:e} > {tol:e})",
        (a - b).abs()
    );
}

/// Element-wise [`close`] on slices of equal length.
pub fn close_all(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        close(*x, *y, tol, &format!("{what}[{i}]"));
    }
}

/// Row-major product of `a (n x k)` and `b (k x m)`.
pub fn matmul(a: &[f64], b: &[f64], n: usize, k: usize, m: usize) -> Vec<f64> {
    let mut c = vec![0.0; n * m];
    for i in 0..n {
        for t in 0..k {
            for j in 0..m {
                c[i * m + j] += a[i * k + t] * b[t * m + j];
            }
        }
    }
    c
}

/// Row-major transpose of an `n x m` matrix.
pub fn transpose(a: &[f64], n: usize, m: usize) -> Vec<f64> {
    let mut t = vec![0.0; n * m];
    for i in 0..n {
        for j in 0..m {
            t[j * n + i] = a[i * m + j];
        }
    }
    t
}

/// Orthogonal `n x n` matrix: a product of Householder reflections I − 2vvᵀ/‖v‖² with
/// fixed, deterministic vectors built from `seed`.
pub fn orthogonal(n: usize, seed: u64) -> Vec<f64> {
    let mut q = identity(n);
    for r in 0..3 {
        let v: Vec<f64> = (0..n)
            .map(|i| ((seed + 7 * r + 3 * i as u64) as f64 * 1.37).sin() + 0.1)
            .collect();
        let vv: f64 = v.iter().map(|x| x * x).sum();
        let mut h = identity(n);
        for i in 0..n {
            for j in 0..n {
                h[i * n + j] -= 2.0 * v[i] * v[j] / vv;
            }
        }
        q = matmul(&q, &h, n, n, n);
    }
    q
}

/// `n x n` identity, row-major.
pub fn identity(n: usize) -> Vec<f64> {
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        a[i * n + i] = 1.0;
    }
    a
}

/// Deterministic pseudo-random numbers in [−1, 1) (a 64-bit LCG), for test data only.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }

    pub fn vec(&mut self, len: usize) -> Vec<f64> {
        (0..len).map(|_| self.next()).collect()
    }
}
