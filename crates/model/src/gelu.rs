//! Fused GELU (tanh approximation) for CPU tensors: one pass forward, one pass backward.
//!
//! φ(a) = ½ a (1 + tanh u), u = c (a + k a³), c = √(2/π), k = 0.044715. Since ½(1 + tanh u) is
//! the logistic σ(2u), φ(a) = a σ(2u) = a / (1 + e), e = exp(−2u): one `exp` per element
//! instead of libm's scalar `tanh` plus ~8 separate candle elementwise passes. The sigmoid form
//! is also more accurate than ½ a (1 + tanh u) for negative a, where 1 + tanh u cancels.
//!
//! The derivative, with s = σ(2u) and 1 − s = e s (no cancellation):
//! φ'(a) = ½(1 + tanh u) + ½ a (1 − tanh² u) u'(a) = s + 2 a s (1 − s) c (1 + 3k a²).
//! The backward uses these exact constants (candle's fused `gelu` backward uses 6-digit ones).

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};

/// √(2/π) to full f64 precision (rounded once to f32 for f32 tensors).
const C: f64 = 0.797_884_560_802_865_4;
/// The tanh-approximation cubic coefficient.
const K: f64 = 0.044715;

/// Generates the scalar φ and φ' for one float type, with `$exp` as the exponential.
/// `max_exp_arg` keeps exp(−2u) finite, so 1 − s = e s never becomes ∞ · 0 (past it s and φ'
/// are below the type's smallest normal).
macro_rules! gelu_scalars {
    ($t:ty, $phi:ident, $dphi:ident, $exp:path, $max_exp_arg:expr) => {
        #[inline(always)]
        fn $phi(a: $t) -> $t {
            let u = (C as $t) * (a + (K as $t) * a * a * a);
            a / (1.0 + $exp((-2.0 * u).min($max_exp_arg)))
        }

        #[inline(always)]
        fn $dphi(a: $t) -> $t {
            let a2 = a * a;
            let u = (C as $t) * (a + (K as $t) * a2 * a);
            let e = $exp((-2.0 * u).min($max_exp_arg));
            let s = 1.0 / (1.0 + e);
            let du = (C as $t) * (1.0 + (3.0 * K as $t) * a2);
            s + 2.0 * a * s * (e * s) * du
        }
    };
}

gelu_scalars!(f32, phi_f32, dphi_f32, exp_f32, 88.0);
gelu_scalars!(f64, phi_f64, dphi_f64, f64::exp, 709.0);

/// exp(x) for f32 without a libm call, so the loops over a tensor vectorise (training spends
/// most of its GELU time in scalar `expf` otherwise). Cephes' `expf` scheme: x = n ln 2 + r with
/// |r| ≤ ½ ln 2 (ln 2 split in two so n ln 2 is exact), e^r by its degree-7 minimax polynomial,
/// 2ⁿ by building the exponent bits. Branch-free; about 1 ulp on [−87, 88], the range the
/// callers clamp to. Written here because no maintained crate offers a vectorisable `exp` with
/// run-time CPU dispatch on stable Rust (`wide` fixes the SIMD width at compile time, `sleef`
/// needs nightly `std::simd`); `multiversion` below supplies the dispatch.
#[inline(always)]
fn exp_f32(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2²³: adding it rounds to the nearest integer
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    // The integer n read from the mantissa bits (no float → int cast, whose saturation checks
    // would be scalar code inside the vector loop).
    let n_int = shifted.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    for c in [1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.5] {
        p = p * r + c;
    }
    let er = p * r * r + r + 1.0;
    // n ∈ [−126, 127] after the clamp, so the biased exponent is a normal one.
    er * f32::from_bits(((n_int + 127) as u32) << 23)
}

/// `f` over a slice. Multiversioned: compiled for AVX-512, AVX2 and the baseline, and picked at
/// run time, so the inlined `exp_f32` runs 8–16 lanes wide on machines that have them.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+avx512dq+avx512bw", "x86_64+avx2+fma", "aarch64+neon"))]
fn map_f32<F: Fn(f32) -> f32>(src: &[f32], f: F) -> Vec<f32> {
    // A plain loop, not `iter().map(closure)`: the closure would be a separate function without
    // the target features, and LLVM leaves it out of line (one call per element).
    let mut out = vec![0.0; src.len()];
    for (o, &a) in out.iter_mut().zip(src) {
        *o = f(a);
    }
    out
}

/// Applies `f32`/`f64` maps to a contiguous CPU storage; other dtypes are an error. Generic
/// (not `fn` pointers) so the maps inline into the vectorised loops.
fn map_cpu<F32: Fn(f32) -> f32, F64: Fn(f64) -> f64>(
    name: &str,
    storage: &CpuStorage,
    layout: &Layout,
    f32_map: F32,
    f64_map: F64,
) -> candle_core::Result<(CpuStorage, Shape)> {
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("{name}: expects a contiguous tensor (call .contiguous() first)")
    };
    let out = match storage {
        CpuStorage::F32(v) => CpuStorage::F32(map_f32(&v[start..end], f32_map)),
        CpuStorage::F64(v) => CpuStorage::F64(v[start..end].iter().map(|&a| f64_map(a)).collect()),
        other => candle_core::bail!("{name}: supports F32 and F64 tensors, got {:?}", other.dtype()),
    };
    Ok((out, layout.shape().clone()))
}

/// φ(a) with an exact backward (`grad · φ'(a)`). CPU only: other devices get candle's
/// "no implementation" error, so callers route them to the composite form.
pub(crate) struct GeluTanh;

impl CustomOp1 for GeluTanh {
    fn name(&self) -> &'static str {
        "moescope-gelu-tanh"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        map_cpu(self.name(), storage, layout, phi_f32, phi_f64)
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (a, g) = (arg.contiguous()?, grad_res.contiguous()?);
        Ok(Some(a.apply_op2_no_bwd(&g, &GeluTanhBackward)?))
    }
}

/// grad · φ'(a) in one pass (arguments: a, grad), instead of φ'(a) then a separate multiply.
struct GeluTanhBackward;

impl CustomOp2 for GeluTanhBackward {
    fn name(&self) -> &'static str {
        "moescope-gelu-tanh-backward"
    }

    fn cpu_fwd(
        &self,
        a: &CpuStorage,
        a_layout: &Layout,
        g: &CpuStorage,
        g_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let name = self.name();
        let (Some((a0, a1)), Some((g0, g1))) = (a_layout.contiguous_offsets(), g_layout.contiguous_offsets()) else {
            candle_core::bail!("{name}: expects contiguous tensors (call .contiguous() first)")
        };
        if a_layout.shape() != g_layout.shape() {
            candle_core::bail!(
                "{name}: shapes differ: {:?} and {:?}",
                a_layout.shape(),
                g_layout.shape()
            )
        }
        let out = match (a, g) {
            (CpuStorage::F32(a), CpuStorage::F32(g)) => CpuStorage::F32(backward_f32(&a[a0..a1], &g[g0..g1])),
            (CpuStorage::F64(a), CpuStorage::F64(g)) => CpuStorage::F64(
                a[a0..a1]
                    .iter()
                    .zip(&g[g0..g1])
                    .map(|(&a, &g)| g * dphi_f64(a))
                    .collect(),
            ),
            _ => candle_core::bail!(
                "{name}: supports F32 and F64 tensors of one dtype, got {:?} and {:?}",
                a.dtype(),
                g.dtype()
            ),
        };
        Ok((out, a_layout.shape().clone()))
    }
}

/// grad · φ'(a) over f32 slices of equal length; multiversioned like [`map_f32`].
#[multiversion::multiversion(targets("x86_64+avx512f+avx512vl+avx512dq+avx512bw", "x86_64+avx2+fma", "aarch64+neon"))]
fn backward_f32(a: &[f32], g: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; a.len()];
    for ((o, &a), &g) in out.iter_mut().zip(a).zip(g) {
        *o = g * dphi_f32(a);
    }
    out
}

/// φ'(a) elementwise, no gradient of its own (nothing differentiates it twice).
pub(crate) struct GeluTanhDerivative;

impl CustomOp1 for GeluTanhDerivative {
    fn name(&self) -> &'static str {
        "moescope-gelu-tanh-derivative"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        map_cpu(self.name(), storage, layout, dphi_f32, dphi_f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook tanh form in f64, an independent reference for the sigmoid rewrite.
    fn phi_ref(a: f64) -> f64 {
        0.5 * a * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (a + 0.044715 * a * a * a)).tanh())
    }

    #[test]
    fn scalars_match_tanh_form_and_finite_differences() {
        for i in -400..=400 {
            let a = i as f64 * 0.02; // [-8, 8]
            let want = phi_ref(a);
            // Absolute: the reference's 1 + tanh u cancels for a < 0.
            assert!((phi_f64(a) - want).abs() <= 1e-15 * (1.0 + a.abs()), "a = {a}");
            let h = 1e-5;
            let fd = (phi_ref(a + h) - phi_ref(a - h)) / (2.0 * h);
            assert!((dphi_f64(a) - fd).abs() < 1e-9, "a = {a}: {} vs FD {fd}", dphi_f64(a));
            let a32 = a as f32;
            assert!((phi_f32(a32) as f64 - phi_ref(a32 as f64)).abs() < 1e-6 * (1.0 + want.abs()));
            assert!((dphi_f32(a32) as f64 - dphi_f64(a32 as f64)).abs() < 1e-6);
        }
        // Far tails: finite, and the limits φ → 0 / a, φ' → 0 / 1.
        for a in [-1e4_f64, -50.0, 50.0, 1e4] {
            assert!(dphi_f64(a).is_finite() && dphi_f32(a as f32).is_finite());
            let (lim, dlim) = if a < 0.0 { (0.0, 0.0) } else { (a, 1.0) };
            assert!((phi_f64(a) - lim).abs() < 1e-12 && (dphi_f64(a) - dlim).abs() < 1e-12);
        }
    }

    #[test]
    fn exp_f32_is_within_two_ulp_of_f64_exp() {
        let mut worst = 0.0_f64;
        for i in 0..175_000 {
            let x = -87.0 + i as f32 * 1e-3; // [-87, 88): the clamp's range
            let want = (x as f64).exp();
            worst = worst.max(((exp_f32(x) as f64) - want).abs() / want);
        }
        assert!(worst < 2.0 * f32::EPSILON as f64, "worst relative error {worst:e}");
        // Past the clamp: finite, and saturating towards 0 and e⁸⁸.
        assert!(exp_f32(-1e4) < 2e-38 && exp_f32(1e4).is_finite() && exp_f32(1e4) > 1e38);
    }

    #[test]
    fn fused_backward_is_grad_times_derivative() {
        let dev = candle_core::Device::Cpu;
        let a: Vec<f64> = (0..120).map(|i| (i as f64 - 60.0) * 0.1).collect(); // [-6, 6)
        let g: Vec<f64> = (0..120).map(|i| ((i * 37) % 11) as f64 - 5.0).collect();
        // (12, 10) transposed: a non-contiguous layout, made contiguous by the caller.
        let at = Tensor::from_vec(a.clone(), (10, 12), &dev).unwrap().t().unwrap();
        let gt = Tensor::from_vec(g.clone(), (10, 12), &dev).unwrap().t().unwrap();
        let want = |r: usize, c: usize| g[c * 12 + r] * dphi_f64(a[c * 12 + r]);
        for dtype in [candle_core::DType::F64, candle_core::DType::F32] {
            let (a, g) = (at.to_dtype(dtype).unwrap(), gt.to_dtype(dtype).unwrap());
            let got = GeluTanh.bwd(&a, &a, &g).unwrap().unwrap(); // the result is not used
            let got: Vec<Vec<f64>> = got.to_dtype(candle_core::DType::F64).unwrap().to_vec2().unwrap();
            let tol = if dtype == candle_core::DType::F64 { 1e-15 } else { 1e-6 };
            for (r, row) in got.iter().enumerate() {
                for (c, &v) in row.iter().enumerate() {
                    assert!(
                        (v - want(r, c)).abs() <= tol * (1.0 + want(r, c).abs()),
                        "{dtype:?} [{r},{c}]"
                    );
                }
            }
        }
    }

    #[test]
    fn other_dtypes_are_a_clear_error() {
        let t = Tensor::zeros((2, 3), candle_core::DType::BF16, &candle_core::Device::Cpu).unwrap();
        let err = t.apply_op1(GeluTanh).unwrap_err().to_string();
        assert!(err.contains("supports F32 and F64") && err.contains("BF16"), "{err}");
    }
}
