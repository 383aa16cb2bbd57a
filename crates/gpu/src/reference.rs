//! CPU reference solvers on plain slices: batched one-sided Jacobi singular values (the exact
//! algorithm of `kernels/jacobi_svd.cu`) and batched cyclic Jacobi symmetric eigenvalues.

use crate::{Error, Result};
use std::fmt::Debug;
use std::ops::{Add, Div, Mul, Neg, Sub};

/// Sweeps after which a matrix that still needs rotations is reported as not converged.
/// Jacobi converges quadratically; well-scaled inputs need well under 20 sweeps.
pub const MAX_SWEEPS: usize = 64;

/// The floating-point element types the solvers run in (`f32`, `f64`).
pub trait Real:
    Copy
    + Debug
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + Send
    + Sync
    + 'static
{
    /// Machine epsilon.
    const EPS: Self;
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// Conversion of a (small) count.
    fn from_usize(n: usize) -> Self;
    /// Neither NaN nor infinite.
    fn is_finite(self) -> bool;
}

macro_rules! impl_real {
    ($t:ty) => {
        impl Real for $t {
            const EPS: Self = <$t>::EPSILON;
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            fn from_usize(n: usize) -> Self {
                n as $t
            }
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
        }
    };
}
impl_real!(f32);
impl_real!(f64);

/// Singular values of each matrix of a row-major `(batch, m, n)` slice, sorted descending.
///
/// Returns `batch · min(m, n)` values. Errors on a length that is not `batch·m·n`, on `m` or
/// `n` of zero, on non-finite input and when a matrix needs more than [`MAX_SWEEPS`] sweeps.
pub fn jacobi_singular_values<T: Real>(a: &[T], batch: usize, m: usize, n: usize) -> Result<Vec<T>> {
    check_len(a.len(), batch, m, n)?;
    check_finite(a)?;
    let (cols, len) = (m.min(n), m.max(n));
    let mut out = Vec::with_capacity(batch * cols);
    let mut w = vec![T::ZERO; cols * len];
    for (b, mat) in a.chunks_exact(m * n).enumerate() {
        // Column j of `w` (contiguous, length len) is column j of A, or row j when A is wide.
        for j in 0..cols {
            for i in 0..len {
                w[j * len + i] = if m >= n { mat[i * n + j] } else { mat[j * n + i] };
            }
        }
        if one_sided_jacobi(&mut w, cols, len).is_none() {
            return Err(Error::NotConverged {
                index: b,
                sweeps: MAX_SWEEPS,
            });
        }
        let mut norms: Vec<T> = w.chunks_exact(len).map(|c| dot(c, c).sqrt()).collect();
        norms.sort_by(|x, y| y.partial_cmp(x).unwrap_or(std::cmp::Ordering::Equal));
        out.extend(norms);
    }
    Ok(out)
}

/// Eigenvalues of each symmetric matrix of a row-major `(batch, n, n)` slice, sorted ascending.
///
/// Only the lower triangle (row ≥ column) is read, as cuSOLVER's `syevjBatched` does on the
/// CUDA path. Errors like [`jacobi_singular_values`].
pub fn jacobi_sym_eigenvalues<T: Real>(a: &[T], batch: usize, n: usize) -> Result<Vec<T>> {
    check_len(a.len(), batch, n, n)?;
    check_finite(a)?;
    let mut out = Vec::with_capacity(batch * n);
    let mut s = vec![T::ZERO; n * n];
    for (b, mat) in a.chunks_exact(n * n).enumerate() {
        for i in 0..n {
            for j in 0..=i {
                s[i * n + j] = mat[i * n + j];
                s[j * n + i] = mat[i * n + j];
            }
        }
        if two_sided_jacobi(&mut s, n).is_none() {
            return Err(Error::NotConverged {
                index: b,
                sweeps: MAX_SWEEPS,
            });
        }
        let mut diag: Vec<T> = (0..n).map(|i| s[i * n + i]).collect();
        diag.sort_by(|x, y| x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal));
        out.extend(diag);
    }
    Ok(out)
}

fn check_len(len: usize, batch: usize, m: usize, n: usize) -> Result<()> {
    if m == 0 || n == 0 {
        return Err(Error::Shape {
            op: "reference",
            message: format!("matrix dims must be >= 1, got {m}x{n}"),
        });
    }
    if len != batch * m * n {
        return Err(Error::Shape {
            op: "reference",
            message: format!("slice of {len} elements is not batch·m·n = {batch}·{m}·{n}"),
        });
    }
    Ok(())
}

fn check_finite<T: Real>(a: &[T]) -> Result<()> {
    match a.iter().position(|&x| !x.is_finite()) {
        Some(i) => Err(Error::NonFinite { index: i }),
        None => Ok(()),
    }
}

fn dot<T: Real>(x: &[T], y: &[T]) -> T {
    x.iter().zip(y).fold(T::ZERO, |acc, (&a, &b)| acc + a * b)
}

/// Circle-method tournament: table `slot` of round `round` among `players` (even) slots.
/// Every round pairs each slot exactly once; `players − 1` rounds cover every pair once.
pub(crate) fn tournament_pair(players: usize, round: usize, slot: usize) -> (usize, usize) {
    let r = players - 1;
    if slot == 0 {
        (round % r, r)
    } else {
        ((round + slot) % r, (round + r - slot) % r)
    }
}

/// Orthogonalises the `cols` columns (each `len` long, contiguous) of `w` in place.
/// Returns the sweeps used, or `None` if still rotating after [`MAX_SWEEPS`].
fn one_sided_jacobi<T: Real>(w: &mut [T], cols: usize, len: usize) -> Option<usize> {
    let tol = T::EPS * T::from_usize(len);
    let players = cols + cols % 2;
    for sweep in 0..MAX_SWEEPS {
        let mut rotated = false;
        for round in 0..players - 1 {
            for slot in 0..players / 2 {
                let (p, q) = tournament_pair(players, round, slot);
                if p < cols && q < cols {
                    rotated |= rotate_columns(w, len, p, q, tol);
                }
            }
        }
        if !rotated {
            return Some(sweep + 1);
        }
    }
    None
}

/// The Jacobi rotation angle: `t = tan θ` solving `t² + 2ζt − 1 = 0`, the smaller root.
fn jacobi_tangent<T: Real>(zeta: T) -> T {
    let az = zeta.abs();
    // sqrt(1 + ζ²) would overflow for huge |ζ|; there t ≈ 1/(2ζ).
    if az > T::ONE / T::EPS {
        return T::ONE / (zeta + zeta);
    }
    let sign = if zeta >= T::ZERO { T::ONE } else { -T::ONE };
    sign / (az + (T::ONE + zeta * zeta).sqrt())
}

/// Rotates columns `p` and `q` so they become orthogonal; false (no change) if they already are
/// to within `|a_p·a_q| <= tol·‖a_p‖‖a_q‖`.
fn rotate_columns<T: Real>(w: &mut [T], len: usize, p: usize, q: usize, tol: T) -> bool {
    let (alpha, beta, gamma) = {
        let (cp, cq) = (&w[p * len..(p + 1) * len], &w[q * len..(q + 1) * len]);
        (dot(cp, cp), dot(cq, cq), dot(cp, cq))
    };
    if gamma == T::ZERO || gamma.abs() <= tol * alpha.sqrt() * beta.sqrt() {
        return false;
    }
    let t = jacobi_tangent((beta - alpha) / (gamma + gamma));
    let c = T::ONE / (T::ONE + t * t).sqrt();
    let s = c * t;
    for i in 0..len {
        let (x, y) = (w[p * len + i], w[q * len + i]);
        w[p * len + i] = c * x - s * y;
        w[q * len + i] = s * x + c * y;
    }
    true
}

/// Diagonalises the symmetric `n × n` row-major `s` in place by cyclic two-sided Jacobi.
fn two_sided_jacobi<T: Real>(s: &mut [T], n: usize) -> Option<usize> {
    let frob = dot(s, s).sqrt();
    // Off-diagonal entries below eps²·‖S‖_F cannot move any eigenvalue by a representable amount.
    let negligible = T::EPS * T::EPS * frob;
    for sweep in 0..MAX_SWEEPS {
        let mut rotated = false;
        for p in 0..n {
            for q in p + 1..n {
                let apq = s[p * n + q];
                let (app, aqq) = (s[p * n + p], s[q * n + q]);
                if apq.abs() <= negligible || apq.abs() <= T::EPS * (app.abs() * aqq.abs()).sqrt() {
                    continue;
                }
                let t = jacobi_tangent((aqq - app) / (apq + apq));
                let c = T::ONE / (T::ONE + t * t).sqrt();
                rotate_symmetric(s, n, p, q, c, c * t);
                rotated = true;
            }
        }
        if !rotated {
            return Some(sweep + 1);
        }
    }
    None
}

/// `S ← Jᵀ S J` for the Givens rotation J in the (p, q) plane (c at pp, qq; s at pq; −s at qp).
fn rotate_symmetric<T: Real>(s: &mut [T], n: usize, p: usize, q: usize, c: T, sn: T) {
    for k in 0..n {
        let (x, y) = (s[k * n + p], s[k * n + q]);
        s[k * n + p] = c * x - sn * y;
        s[k * n + q] = sn * x + c * y;
    }
    for k in 0..n {
        let (x, y) = (s[p * n + k], s[q * n + k]);
        s[p * n + k] = c * x - sn * y;
        s[q * n + k] = sn * x + c * y;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tournament_covers_every_pair_once() {
        for players in [2usize, 4, 6, 10, 34] {
            let mut seen = vec![0u32; players * players];
            for round in 0..players - 1 {
                let mut used = vec![false; players];
                for slot in 0..players / 2 {
                    let (p, q) = tournament_pair(players, round, slot);
                    assert!(p != q && !used[p] && !used[q], "round {round} reuses a slot");
                    used[p] = true;
                    used[q] = true;
                    seen[p.min(q) * players + p.max(q)] += 1;
                }
            }
            for p in 0..players {
                for q in p + 1..players {
                    assert_eq!(seen[p * players + q], 1, "pair ({p},{q}) of {players}");
                }
            }
        }
    }

    #[test]
    fn tangent_zeroes_the_off_diagonal() {
        // After rotation, γ' = cs(α − β) + (c² − s²)γ must vanish; check for several ζ.
        for &(alpha, beta, gamma) in &[(3.0f64, 1.0, 0.5), (1.0, 1.0, 0.2), (1e-3, 5.0, -0.01)] {
            let t = jacobi_tangent((beta - alpha) / (2.0 * gamma));
            let c = 1.0 / (1.0 + t * t).sqrt();
            let s = c * t;
            let g = c * s * (alpha - beta) + (c * c - s * s) * gamma;
            assert!(g.abs() < 1e-15, "γ' = {g}");
        }
    }
}
