//! Singular values of many small matrices at once: the probe's hot spot (one SVD per routed
//! point and expert, 32 × 32 at the paper's sizes).
//!
//! Why not one nalgebra SVD per matrix: at these sizes a LAPACK-style SVD is a chain of short
//! dot products, rank-one updates and dependent Givens rotations, which no single-matrix code
//! keeps a vector unit busy with. Here as many matrices as a SIMD register holds f64 lanes
//! (8 with AVX-512, 4 with AVX2, 1 otherwise; `pulp` picks at run time) are interleaved element
//! by element, and every arithmetic step works on all of them at once:
//!
//! 1. Householder bidiagonalisation (Golub & Van Loan, *Matrix Computations*, Alg. 5.4.2): the
//!    steps are identical for every matrix, only the numbers differ.
//! 2. Golub–Kahan implicit-shift QR sweeps on the bidiagonal (Alg. 8.6.1–8.6.2), values only, in
//!    lockstep: each lane keeps its own unreduced block `lo..=hi` and Wilkinson shift, and a
//!    sweep runs over the union of the blocks with every update masked to the lanes whose
//!    block contains the step. Deflation, splitting and the rare zero-diagonal chase are done
//!    lane by lane between sweeps. A sweep is one long chain of dependent square roots and
//!    divisions, so it is latency-bound: [`GROUPS`] registers' worth of bidiagonals are swept
//!    together, their independent chains interleaved step by step for the out-of-order core.
//!
//! Accuracy is that of any backward stable SVD, absolute error of order ε·σ₁ (tested against
//! closed forms, numpy and nalgebra).

use crate::error::{Error, Result};
use crate::validate::finite;
use pulp::{bytemuck, Arch, Scalar, Simd, WithSimd};

/// Singular values of row-major `rows × cols` matrices: `mats.len() × min(rows, cols)` values,
/// each matrix's in descending order. The matrices need not be contiguous, so a caller can pass
/// the routed subset of a chunk without copying it.
///
/// Errors on a zero dimension, a matrix whose length is not `rows · cols`, non-finite input,
/// or a QR sweep that does not converge. An empty batch gives an empty result.
pub fn singular_values_batch(mats: &[&[f64]], rows: usize, cols: usize) -> Result<Vec<f64>> {
    if rows == 0 || cols == 0 {
        return Err(Error::Empty {
            what: "singular_values_batch: matrix dimensions",
        });
    }
    for m in mats {
        if m.len() != rows * cols {
            return Err(Error::LengthMismatch {
                what: "singular_values_batch: matrix",
                expected: rows * cols,
                got: m.len(),
            });
        }
        finite("singular_values_batch: matrix", m)?;
    }
    Arch::new().dispatch(Batch { mats, rows, cols })
}

/// The batch as a `pulp` kernel: `with_simd` runs with the detected instruction set enabled,
/// so everything it calls is `#[inline(always)]`.
struct Batch<'a> {
    mats: &'a [&'a [f64]],
    rows: usize,
    cols: usize,
}

/// Registers' worth of matrices whose QR sweeps run interleaved (see the module docs). On 256
/// matrices of 32 × 32 with AVX-512 (criterion, `kernels`): one 5.5 ms, two 5.0 ms, four 4.3 ms.
const GROUPS: usize = 4;

impl WithSimd for Batch<'_> {
    type Output = Result<Vec<f64>>;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> Result<Vec<f64>> {
        self.run::<S, GROUPS>(simd)
    }
}

impl Batch<'_> {
    /// The batch with `W` registers of matrices per QR sweep.
    #[inline(always)]
    fn run<S: Simd, const W: usize>(self, simd: S) -> Result<Vec<f64>> {
        let Batch { mats, rows, cols } = self;
        // Bidiagonalise the tall orientation (p ≥ q); Mᵀ has the same singular values as M.
        let (p, q) = (rows.max(cols), rows.min(cols));
        let zero = simd.splat_f64s(0.0);
        let (mut a, mut s) = (vec![zero; p * q], vec![zero; q]);
        let (mut d1, mut e1) = (vec![zero; q], vec![zero; q]);
        // The W bidiagonals, register w of entry k at k·W + w.
        let (mut d, mut e) = (vec![zero; q * W], vec![zero; q * W]);
        let mut out = vec![0.0; mats.len() * q];
        let per_block = W * S::F64_LANES;
        for (block, out) in mats.chunks(per_block).zip(out.chunks_mut(per_block * q)) {
            let scales: Vec<i32> = block.iter().map(|m| unit_scale(m)).collect();
            for w in 0..W {
                // Register w's matrices (none in the unused registers of the last block).
                let start = (w * S::F64_LANES).min(block.len());
                let end = (start + S::F64_LANES).min(block.len());
                pack::<S>(&mut a, &block[start..end], &scales[start..end], rows, cols);
                bidiagonalize(simd, &mut a, p, q, &mut d1, &mut e1, &mut s);
                for k in 0..q {
                    (d[k * W + w], e[k * W + w]) = (d1[k], e1[k]);
                }
            }
            bidiagonal_values::<S, W>(simd, &mut d, &mut e)?;
            for ((m, sv), k) in out.chunks_mut(q).enumerate().zip(&scales) {
                let (w, l) = (m / S::F64_LANES, m % S::F64_LANES);
                let half = k / 2;
                for (k, sv) in sv.iter_mut().enumerate() {
                    // `abs` also turns −0.0 into +0.0; then undo pack's scaling.
                    *sv = lane::<S>(&d[k * W + w], l).abs() * pow2(half) * pow2(half);
                }
                sv.sort_by(|a, b| b.total_cmp(a));
            }
        }
        Ok(out)
    }
}

/// Lane `l` of a vector.
#[inline(always)]
fn lane<S: Simd>(v: &S::f64s, l: usize) -> f64 {
    bytemuck::cast_slice::<S::f64s, f64>(std::slice::from_ref(v))[l]
}

/// Lane `l` of a vector, mutably.
#[inline(always)]
fn lane_mut<S: Simd>(v: &mut S::f64s, l: usize) -> &mut f64 {
    &mut bytemuck::cast_slice_mut::<S::f64s, f64>(std::slice::from_mut(v))[l]
}

/// Interleaves up to one register's worth of row-major `rows × cols` matrices into `a` (p × q
/// vectors, the tall orientation; wide matrices are stored transposed); unused lanes are zero.
/// Matrix `l` is scaled by 2^−k, k = `scales[l]` from [`unit_scale`], so that the squares of
/// its entries neither overflow nor underflow (as LAPACK scales); a power of four is exact in
/// every operation here, square roots included, so the scaling adds no rounding of its own.
#[inline(always)]
fn pack<S: Simd>(a: &mut [S::f64s], mats: &[&[f64]], scales: &[i32], rows: usize, cols: usize) {
    let q = rows.min(cols);
    a.fill(bytemuck::Zeroable::zeroed());
    for (l, (mat, k)) in mats.iter().zip(scales).enumerate() {
        let half = -k / 2;
        let (f, g) = (pow2(half), pow2(half)); // 2^−k in two exact steps: 2^±1074 is out of range
        for i in 0..rows {
            for j in 0..cols {
                let (r, c) = if rows >= cols { (i, j) } else { (j, i) };
                *lane_mut::<S>(&mut a[r * q + c], l) = mat[i * cols + j] * f * g;
            }
        }
    }
}

/// The even k with max |m_ij| · 2^−k in [1/4, 1) (0 for a zero matrix).
fn unit_scale(mat: &[f64]) -> i32 {
    let max = mat.iter().fold(0.0f64, |acc, x| acc.max(x.abs()));
    if max == 0.0 {
        return 0;
    }
    // max ∈ [2^(e−1), 2^e); subnormals are brought into the normal range first.
    let (norm, shift) = match max < f64::MIN_POSITIVE {
        true => (max * pow2(64), 64),
        false => (max, 0),
    };
    let e = ((norm.to_bits() >> 52) & 0x7ff) as i32 - 1022 - shift;
    e + (e & 1)
}

/// 2^k for |k| ≤ 1022, exactly.
fn pow2(k: i32) -> f64 {
    f64::from_bits(((1023 + k) as u64) << 52)
}

/// Householder bidiagonalisation of the p × q (p ≥ q) lane matrices in `a` (destroyed): the
/// diagonal into `d` (q), the superdiagonal into `e` (q − 1 used). Every update walks rows
/// of `a` (contiguous), with the left reflector's inner products gathered in `s` (q).
#[inline(always)]
fn bidiagonalize<S: Simd>(
    simd: S,
    a: &mut [S::f64s],
    p: usize,
    q: usize,
    d: &mut [S::f64s],
    e: &mut [S::f64s],
    s: &mut [S::f64s],
) {
    let zero = simd.splat_f64s(0.0);
    for k in 0..q {
        // Left reflector: zero column k below the diagonal; v overwrites a[k.., k].
        let (alpha, beta) = reflector(simd, a, (k..p).map(|i| i * q + k));
        d[k] = alpha;
        // s_j = β vᵀ a_j for the columns j > k, then a_j −= s_j v.
        let s = &mut s[k + 1..q];
        s.fill(zero);
        for i in k..p {
            let v = a[i * q + k];
            for (s, x) in s.iter_mut().zip(&a[i * q + k + 1..(i + 1) * q]) {
                *s = simd.mul_add_f64s(v, *x, *s);
            }
        }
        s.iter_mut().for_each(|s| *s = simd.mul_f64s(*s, beta));
        for i in k..p {
            let v = a[i * q + k];
            for (x, s) in a[i * q + k + 1..(i + 1) * q].iter_mut().zip(s.iter()) {
                *x = simd.negate_mul_add_f64s(*s, v, *x);
            }
        }
        if k + 2 > q {
            continue;
        }
        if k + 2 == q {
            e[k] = a[k * q + k + 1]; // one element: nothing to zero
            continue;
        }
        // Right reflector: zero row k right of the superdiagonal; v overwrites a[k, k+1..].
        let (alpha, beta) = reflector(simd, a, (k + 1..q).map(|j| k * q + j));
        e[k] = alpha;
        let (head, tail) = a.split_at_mut((k + 1) * q);
        let v = &head[k * q + k + 1..(k + 1) * q];
        for row in tail.chunks_exact_mut(q) {
            let row = &mut row[k + 1..];
            let t = row.iter().zip(v).fold(zero, |t, (x, v)| simd.mul_add_f64s(*x, *v, t));
            let t = simd.mul_f64s(t, beta);
            for (x, v) in row.iter_mut().zip(v) {
                *x = simd.negate_mul_add_f64s(t, *v, *x);
            }
        }
    }
}

/// The Householder reflector H = I − β v vᵀ with H x = α e₁ for the vector x at `idx` in `a`,
/// in every lane: overwrites x with v (v = x − α e₁), returns (α, β). α = −sign(x₀)‖x‖ avoids
/// cancellation; a zero x gives β = 0 (H = I).
#[inline(always)]
fn reflector<S: Simd>(simd: S, a: &mut [S::f64s], idx: impl Iterator<Item = usize> + Clone) -> (S::f64s, S::f64s) {
    let first = idx.clone().next().expect("a reflector of at least one element");
    let norm2 = idx.fold(simd.splat_f64s(0.0), |n, i| simd.mul_add_f64s(a[i], a[i], n));
    let (x0, minus_zero) = (a[first], simd.splat_f64s(-0.0));
    // α = −copysign(‖x‖, x₀): the sign bit of x₀ on ‖x‖, then flipped.
    let alpha = simd.xor_f64s(
        simd.or_f64s(simd.sqrt_f64s(norm2), simd.and_f64s(x0, minus_zero)),
        minus_zero,
    );
    let v0 = simd.sub_f64s(x0, alpha);
    let vnorm2 = simd.mul_add_f64s(v0, v0, simd.negate_mul_add_f64s(x0, x0, norm2));
    let positive = simd.greater_than_f64s(vnorm2, simd.splat_f64s(0.0));
    let beta = simd.select_f64s(
        positive,
        simd.div_f64s(simd.splat_f64s(2.0), vnorm2),
        simd.splat_f64s(0.0),
    );
    a[first] = v0;
    (alpha, beta)
}

/// One lane's place in the QR iteration: its unreduced block `lo..=hi` (`hi = 0`: done) and
/// its deflation threshold.
struct LaneState {
    lo: usize,
    hi: usize,
    tol: f64,
}

/// Entry `k` of lane `m` of `W` interleaved registers of bidiagonals (register `m / lanes`,
/// lane `m % lanes`, stored at `k · W + register`).
#[inline(always)]
fn at<S: Simd, const W: usize>(v: &[S::f64s], k: usize, m: usize) -> f64 {
    lane::<S>(&v[k * W + m / S::F64_LANES], m % S::F64_LANES)
}

/// [`at`], mutably.
#[inline(always)]
fn at_mut<S: Simd, const W: usize>(v: &mut [S::f64s], k: usize, m: usize) -> &mut f64 {
    lane_mut::<S>(&mut v[k * W + m / S::F64_LANES], m % S::F64_LANES)
}

/// Singular values (up to sign, unsorted) of the upper bidiagonal matrices in `W` interleaved
/// registers (see [`at`]) with diagonal `d` (n entries per lane) and superdiagonal `e` (n − 1
/// used; entry n − 1 is ignored), left in `d`; `e` is scratch.
#[inline(always)]
fn bidiagonal_values<S: Simd, const W: usize>(simd: S, d: &mut [S::f64s], e: &mut [S::f64s]) -> Result<()> {
    let n = d.len() / W;
    e[(n - 1) * W..].fill(simd.splat_f64s(0.0));
    let max_sweeps = 75 * n;
    let mut lanes: Vec<LaneState> = (0..W * S::F64_LANES)
        .map(|m| {
            // Absolute deflation threshold: the bidiagonalisation's own error is of order ε‖M‖.
            let norm = (0..n)
                .map(|k| at::<S, W>(d, k, m).abs() + at::<S, W>(e, k, m).abs())
                .fold(0.0, f64::max);
            LaneState {
                lo: 0,
                hi: n - 1,
                tol: f64::EPSILON * norm,
            }
        })
        .collect();
    for sweeps in 0..=max_sweeps {
        for (m, state) in lanes.iter_mut().enumerate() {
            deflate::<S, W>(e, m, state);
        }
        for (w, lanes) in lanes.chunks_mut(S::F64_LANES).enumerate() {
            find_blocks::<S, W>(simd, d, e, w, lanes);
        }
        if lanes.iter().all(|state| state.hi == 0) {
            return Ok(());
        }
        if sweeps < max_sweeps {
            sweep::<S, W>(simd, d, e, &lanes);
        }
    }
    // A lane still busy has been busy for every sweep: the bound holds per lane.
    Err(Error::NoConvergence {
        op: "bidiagonal SVD",
        max_iter: max_sweeps,
    })
}

/// Deflates lane `m`'s converged values off the bottom of its block.
#[inline(always)]
fn deflate<S: Simd, const W: usize>(e: &mut [S::f64s], m: usize, state: &mut LaneState) {
    while state.hi > 0 && at::<S, W>(e, state.hi - 1, m).abs() <= state.tol {
        *at_mut::<S, W>(e, state.hi - 1, m) = 0.0;
        state.hi -= 1;
    }
}

/// After [`deflate`]: the top `lo` of each lane's unreduced block in register `w`, found for all
/// its lanes at once (the scan is most of the bookkeeping between sweeps); a negligible
/// superdiagonal entry above `hi` splits the block there and is set to zero. The rare lane with
/// a negligible diagonal entry in its block goes through the scalar [`settle`].
#[inline(always)]
fn find_blocks<S: Simd, const W: usize>(
    simd: S,
    d: &mut [S::f64s],
    e: &mut [S::f64s],
    w: usize,
    lanes: &mut [LaneState],
) {
    let Some(top) = lanes.iter().map(|st| st.hi).max().filter(|&hi| hi > 0) else {
        return;
    };
    let (mut hi_v, mut tol_v, mut lo_v) = (simd.splat_f64s(0.0), simd.splat_f64s(0.0), simd.splat_f64s(0.0));
    for (l, st) in lanes.iter().enumerate() {
        *lane_mut::<S>(&mut hi_v, l) = st.hi as f64;
        *lane_mut::<S>(&mut tol_v, l) = st.tol;
    }
    let one = simd.splat_f64s(1.0);
    let mut searching = simd.greater_than_or_equal_f64s(hi_v, one);
    // e[hi − 1] is not negligible (deflated): scan e[k] for k = hi − 2 down to 0.
    for k in (0..top - 1).rev() {
        let k1 = simd.splat_f64s((k + 1) as f64);
        let inside = simd.less_than_f64s(k1, hi_v);
        let negligible = simd.less_than_or_equal_f64s(simd.abs_f64s(e[k * W + w]), tol_v);
        let hit = simd.and_m64s(searching, simd.and_m64s(inside, negligible));
        lo_v = simd.select_f64s(hit, k1, lo_v);
        e[k * W + w] = simd.select_f64s(hit, simd.splat_f64s(0.0), e[k * W + w]);
        searching = simd.xor_m64s(searching, hit);
        if simd.first_true_m64s(searching) == S::F64_LANES {
            break;
        }
    }
    // Any negligible diagonal entry in a busy lane's block, lo ≤ k ≤ hi.
    let busy = simd.greater_than_or_equal_f64s(hi_v, one);
    let mut zero_diagonal = simd.less_than_f64s(one, one); // all false
    for k in 0..=top {
        let kf = simd.splat_f64s(k as f64);
        let inside = simd.and_m64s(
            simd.less_than_or_equal_f64s(lo_v, kf),
            simd.less_than_or_equal_f64s(kf, hi_v),
        );
        let negligible = simd.less_than_or_equal_f64s(simd.abs_f64s(d[k * W + w]), tol_v);
        zero_diagonal = simd.or_m64s(zero_diagonal, simd.and_m64s(inside, negligible));
    }
    let zero_diagonal = simd.and_m64s(busy, zero_diagonal);
    let chase = simd.select_f64s(zero_diagonal, one, simd.splat_f64s(0.0));
    for (l, st) in lanes.iter_mut().enumerate().filter(|(_, st)| st.hi > 0) {
        st.lo = lane::<S>(&lo_v, l) as usize;
        if lane::<S>(&chase, l) != 0.0 {
            settle::<S, W>(d, e, w * S::F64_LANES + l, st);
        }
    }
}

/// Brings lane `m` to an unreduced block, one lane at a time: deflates converged values off the
/// bottom, finds the block's top, and chases out zeros on its diagonal. Leaves `state.hi = 0`
/// when the lane is done.
#[inline(always)]
fn settle<S: Simd, const W: usize>(d: &mut [S::f64s], e: &mut [S::f64s], m: usize, state: &mut LaneState) {
    let tol = state.tol;
    while state.hi > 0 {
        let hi = state.hi;
        if at::<S, W>(e, hi - 1, m).abs() <= tol {
            *at_mut::<S, W>(e, hi - 1, m) = 0.0;
            state.hi -= 1;
            continue;
        }
        let mut lo = hi - 1;
        while lo > 0 && at::<S, W>(e, lo - 1, m).abs() > tol {
            lo -= 1;
        }
        if lo > 0 {
            *at_mut::<S, W>(e, lo - 1, m) = 0.0;
        }
        state.lo = lo;
        if at::<S, W>(d, hi, m).abs() <= tol {
            *at_mut::<S, W>(d, hi, m) = 0.0;
            on_lane::<S, W>(d, e, m, lo, hi, |d, e| zero_last_column(d, e, 0, hi - lo));
        } else if let Some(i) = (lo..hi).find(|&i| at::<S, W>(d, i, m).abs() <= tol) {
            *at_mut::<S, W>(d, i, m) = 0.0;
            on_lane::<S, W>(d, e, m, lo, hi, |d, e| zero_row(d, e, i - lo, hi - lo));
        } else {
            return;
        }
    }
}

/// Runs a scalar routine on lane `m` of the block `lo..=hi` (copied out and back: the
/// zero-diagonal chases it serves are rare).
#[inline(always)]
fn on_lane<S: Simd, const W: usize>(
    d: &mut [S::f64s],
    e: &mut [S::f64s],
    m: usize,
    lo: usize,
    hi: usize,
    f: impl FnOnce(&mut [f64], &mut [f64]),
) {
    let mut dl: Vec<f64> = (lo..=hi).map(|k| at::<S, W>(d, k, m)).collect();
    let mut el: Vec<f64> = (lo..=hi).map(|k| at::<S, W>(e, k, m)).collect();
    f(&mut dl, &mut el);
    for (k, (x, y)) in (lo..=hi).zip(dl.into_iter().zip(el)) {
        *at_mut::<S, W>(d, k, m) = x;
        *at_mut::<S, W>(e, k, m) = y;
    }
}

/// One implicit QR sweep in every lane with work left, on its block lo..=hi, shifted by the
/// eigenvalue of the trailing 2 × 2 of BᵀB nearer its last diagonal entry (Wilkinson's
/// shift). Steps outside a lane's block leave that lane untouched.
#[inline(always)]
fn sweep<S: Simd, const W: usize>(simd: S, d: &mut [S::f64s], e: &mut [S::f64s], lanes: &[LaneState]) {
    let zero = simd.splat_f64s(0.0);
    // Lane bounds as f64 vectors, for the masks; a finished lane has lo = hi = 0: never active.
    let (mut lo_v, mut hi_v, mut y, mut z) = ([zero; W], [zero; W], [zero; W], [zero; W]);
    let (mut first, mut last) = (usize::MAX, 0);
    for (m, st) in lanes.iter().enumerate().filter(|(_, st)| st.hi > 0) {
        let (lo, hi) = (st.lo, st.hi);
        let at = |v: &[S::f64s], k: usize| at::<S, W>(v, k, m);
        let em1 = if hi - 1 > lo { at(e, hi - 2) } else { 0.0 };
        let mu = wilkinson_shift(at(d, hi - 1), at(d, hi), at(e, hi - 1), em1);
        // The first column of BᵀB − μI, restricted to the block.
        let (w, l) = (m / S::F64_LANES, m % S::F64_LANES);
        *lane_mut::<S>(&mut y[w], l) = at(d, lo) * at(d, lo) - mu;
        *lane_mut::<S>(&mut z[w], l) = at(d, lo) * at(e, lo);
        *lane_mut::<S>(&mut lo_v[w], l) = lo as f64;
        *lane_mut::<S>(&mut hi_v[w], l) = hi as f64;
        (first, last) = (first.min(lo), last.max(hi));
    }
    for k in first..last {
        let kf = simd.splat_f64s(k as f64);
        // The W registers' chains are independent: unrolled, their latencies overlap.
        for w in 0..W {
            let active = simd.and_m64s(
                simd.less_than_or_equal_f64s(lo_v[w], kf),
                simd.less_than_f64s(kf, hi_v[w]),
            );
            let (i, i1) = (k * W + w, (k + 1) * W + w);
            // Right rotation of columns k, k+1: zeroes the bulge in row k−1 (or starts the chase).
            let (c, s, r) = givens(simd, y[w], z[w]);
            if k > 0 {
                let chasing = simd.and_m64s(active, simd.less_than_f64s(lo_v[w], kf));
                e[i - W] = simd.select_f64s(chasing, r, e[i - W]);
            }
            let (dk, ek, dk1) = (d[i], e[i], d[i1]);
            let y1 = simd.mul_add_f64s(c, dk, simd.mul_f64s(s, ek));
            let ek1 = simd.negate_mul_add_f64s(s, dk, simd.mul_f64s(c, ek));
            let z1 = simd.mul_f64s(s, dk1);
            let dk1 = simd.mul_f64s(c, dk1);
            // Left rotation of rows k, k+1: zeroes the bulge below the diagonal and makes the
            // next one at (k, k+2). At a lane's last step e[k+1] = 0 (deflated), so that stays 0.
            let (c, s, r) = givens(simd, y1, z1);
            d[i] = simd.select_f64s(active, r, dk);
            let y2 = simd.mul_add_f64s(c, ek1, simd.mul_f64s(s, dk1));
            d[i1] = simd.select_f64s(active, simd.negate_mul_add_f64s(s, ek1, simd.mul_f64s(c, dk1)), d[i1]);
            e[i] = simd.select_f64s(active, y2, ek);
            let ek2 = e[i1];
            e[i1] = simd.select_f64s(active, simd.mul_f64s(c, ek2), ek2);
            y[w] = simd.select_f64s(active, y2, y[w]);
            z[w] = simd.select_f64s(active, simd.mul_f64s(s, ek2), z[w]);
        }
    }
}

/// The eigenvalue of [[t11, t12], [t12, t22]] = the trailing 2 × 2 of BᵀB nearer t22, from
/// B's entries d_{n−1} = `dm`, d_n = `dn`, e_{n−1} = `em` and e_{n−2} = `em1`.
#[inline(always)]
fn wilkinson_shift(dm: f64, dn: f64, em: f64, em1: f64) -> f64 {
    let (t11, t12, t22) = (dm * dm + em1 * em1, dm * em, dn * dn + em * em);
    let delta = (t11 - t22) / 2.0;
    match t12 == 0.0 {
        true => t22,
        false => t22 - t12 * t12 / (delta + delta.signum() * delta.hypot(t12)),
    }
}

/// (c, s, r) with [c s; −s c] (y, z)ᵀ = (r, 0)ᵀ in every lane; y = z = 0 gives (1, 0, 0).
#[inline(always)]
fn givens<S: Simd>(simd: S, y: S::f64s, z: S::f64s) -> (S::f64s, S::f64s, S::f64s) {
    let zero = simd.splat_f64s(0.0);
    let r2 = simd.mul_add_f64s(y, y, simd.mul_f64s(z, z));
    let mut r = simd.sqrt_f64s(r2);
    // √(y² + z²) is exact enough while y² + z² is a normal number; outside that range (never
    // at the probe's scales) libm's `hypot` avoids the overflow or underflow.
    let tiny = simd.and_m64s(
        simd.less_than_f64s(r2, simd.splat_f64s(f64::MIN_POSITIVE)),
        simd.greater_than_f64s(r2, zero),
    );
    let huge = simd.greater_than_f64s(r2, simd.splat_f64s(f64::MAX));
    if simd.first_true_m64s(simd.or_m64s(tiny, huge)) < S::F64_LANES {
        for l in 0..S::F64_LANES {
            let r2 = lane::<S>(&r2, l);
            if (r2 > 0.0 && r2 < f64::MIN_POSITIVE) || r2 > f64::MAX {
                *lane_mut::<S>(&mut r, l) = lane::<S>(&y, l).hypot(lane::<S>(&z, l));
            }
        }
    }
    let nonzero = simd.greater_than_f64s(r, zero);
    let inv = simd.div_f64s(simd.splat_f64s(1.0), r);
    (
        simd.select_f64s(nonzero, simd.mul_f64s(y, inv), simd.splat_f64s(1.0)),
        simd.select_f64s(nonzero, simd.mul_f64s(z, inv), zero),
        r,
    )
}

/// With d[i] = 0 (i < hi): rotations of row i against rows i+1..=hi push e[i] out of the
/// block, splitting it at i.
#[inline(always)]
fn zero_row(d: &mut [f64], e: &mut [f64], i: usize, hi: usize) {
    let mut f = std::mem::take(&mut e[i]);
    for j in i + 1..=hi {
        let (c, s, r) = givens(Scalar, d[j], f);
        d[j] = r;
        if j < hi {
            f = -s * e[j];
            e[j] *= c;
        }
    }
}

/// With d[hi] = 0: rotations of column hi against columns hi−1..=lo push e[hi−1] out of the
/// block, deflating σ = 0.
#[inline(always)]
fn zero_last_column(d: &mut [f64], e: &mut [f64], lo: usize, hi: usize) {
    let mut f = std::mem::take(&mut e[hi - 1]);
    for j in (lo..hi).rev() {
        let (c, s, r) = givens(Scalar, d[j], f);
        d[j] = r;
        if j > lo {
            f = -s * e[j - 1];
            e[j - 1] *= c;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulp::{Scalar256b, Scalar512b};

    /// Singular values of a bidiagonal matrix through the dense path (nalgebra).
    fn dense(d: &[f64], e: &[f64]) -> Vec<f64> {
        let n = d.len();
        let mut m = vec![0.0; n * n];
        for i in 0..n {
            m[i * n + i] = d[i];
            if i + 1 < n {
                m[i * n + i + 1] = e[i];
            }
        }
        crate::singular_values(&m, n, n).unwrap()
    }

    /// Bidiagonals with zeros inside and at the end of the diagonal (both zero-chasing paths),
    /// an all-zero diagonal, and widely spread entries.
    const BIDIAGONALS: [(&[f64], &[f64]); 5] = [
        (&[3.0, 0.0, 2.0, 1.0, 4.0], &[1.0, 0.5, 0.25, 2.0, 0.0]),
        (&[3.0, 1.0, 2.0, 5.0, 0.0], &[1.0, 0.5, 0.25, 3.0, 0.0]),
        (&[0.0, 0.0, 0.0, 0.0, 0.0], &[1.0, 2.0, 3.0, 4.0, 0.0]),
        (&[1e-3, 5.0, 1e3, 2.0, 7.0], &[4.0, 1e-9, 3.0, 2.0, 0.0]),
        (&[1.0, 1.0, 1.0, 1.0, 1.0], &[0.0, 0.0, 0.0, 0.0, 0.0]),
    ];

    /// The lockstep QR on [`BIDIAGONALS`] packed into `W` registers of `S` (several per register
    /// where it has lanes to spare, so lanes with different deflation histories share sweeps).
    fn lockstep<S: Simd, const W: usize>(simd: S) {
        let n = 5;
        for start in 0..BIDIAGONALS.len() {
            let cases: Vec<_> = (0..W * S::F64_LANES)
                .map(|m| BIDIAGONALS[(start + m) % BIDIAGONALS.len()])
                .collect();
            let zero = simd.splat_f64s(0.0);
            let (mut d, mut e) = (vec![zero; n * W], vec![zero; n * W]);
            for (m, (dc, ec)) in cases.iter().enumerate() {
                for k in 0..n {
                    *at_mut::<S, W>(&mut d, k, m) = dc[k];
                    *at_mut::<S, W>(&mut e, k, m) = ec[k];
                }
            }
            bidiagonal_values::<S, W>(simd, &mut d, &mut e).unwrap();
            for (m, (dc, ec)) in cases.iter().enumerate() {
                let mut got: Vec<f64> = (0..n).map(|k| at::<S, W>(&d, k, m).abs()).collect();
                got.sort_by(|a, b| b.total_cmp(a));
                let want = dense(dc, ec);
                for (a, b) in got.iter().zip(&want) {
                    assert!((a - b).abs() <= 1e-13 * want[0], "{dc:?} {ec:?}: {got:?} vs {want:?}");
                }
            }
        }
    }

    #[test]
    fn bidiagonal_qr_matches_nalgebra_in_every_lane_width() {
        lockstep::<_, 1>(Scalar);
        lockstep::<_, 3>(Scalar);
        lockstep::<_, 1>(Scalar256b);
        lockstep::<_, GROUPS>(Scalar256b);
        lockstep::<_, 1>(Scalar512b);
        lockstep::<_, GROUPS>(Scalar512b);
        // The machine's own width (`Arch::new()`) runs in the integration tests.
    }

    #[test]
    fn every_lane_width_gives_the_same_values() {
        // 1, 4 and 8 lanes, one register or GROUPS swept together, run the same operations per
        // matrix (fused multiply-adds included), so they agree to the last bit.
        let m: Vec<f64> = (0..19 * 6 * 4).map(|i| ((i * 37 % 101) as f64 - 50.0) / 7.0).collect();
        let mats: Vec<&[f64]> = m.chunks(6 * 4).collect();
        let batch = || Batch {
            mats: &mats,
            rows: 6,
            cols: 4,
        };
        let one = batch().run::<_, 1>(Scalar).unwrap();
        assert_eq!(one, batch().with_simd(Scalar).unwrap());
        assert_eq!(one, batch().with_simd(Scalar256b).unwrap());
        assert_eq!(one, batch().run::<_, 1>(Scalar512b).unwrap());
        assert_eq!(one, batch().with_simd(Scalar512b).unwrap());
        assert_eq!(one, singular_values_batch(&mats, 6, 4).unwrap());
    }
}
