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
use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

/// √(2/π) to full f64 precision (rounded once to f32 for f32 tensors).
const C: f64 = 0.797_884_560_802_865_4;
/// The tanh-approximation cubic coefficient.
const K: f64 = 0.044715;

/// Generates the scalar φ and φ' for one float type. `max_exp_arg` keeps exp(−2u) finite, so
/// 1 − s = e s never becomes ∞ · 0 (past it s and φ' are below the type's smallest normal).
macro_rules! gelu_scalars {
    ($t:ty, $phi:ident, $dphi:ident, $max_exp_arg:expr) => {
        #[inline]
        fn $phi(a: $t) -> $t {
            let u = (C as $t) * (a + (K as $t) * a * a * a);
            a / (1.0 + (-2.0 * u).exp())
        }

        #[inline]
        fn $dphi(a: $t) -> $t {
            let a2 = a * a;
            let u = (C as $t) * (a + (K as $t) * a2 * a);
            let e = (-2.0 * u).min($max_exp_arg).exp();
            let s = 1.0 / (1.0 + e);
            let du = (C as $t) * (1.0 + (3.0 * K as $t) * a2);
            s + 2.0 * a * s * (e * s) * du
        }
    };
}

gelu_scalars!(f32, phi_f32, dphi_f32, 88.0);
gelu_scalars!(f64, phi_f64, dphi_f64, 709.0);

/// Applies `f32`/`f64` maps to a contiguous CPU storage; other dtypes are an error.
fn map_cpu(
    name: &str,
    storage: &CpuStorage,
    layout: &Layout,
    f32_map: fn(f32) -> f32,
    f64_map: fn(f64) -> f64,
) -> candle_core::Result<(CpuStorage, Shape)> {
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("{name}: expects a contiguous tensor (call .contiguous() first)")
    };
    let out = match storage {
        CpuStorage::F32(v) => CpuStorage::F32(v[start..end].iter().map(|&a| f32_map(a)).collect()),
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
        let dphi = arg.contiguous()?.apply_op1_no_bwd(&GeluTanhDerivative)?;
        Ok(Some(grad_res.mul(&dphi)?))
    }
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
    fn other_dtypes_are_a_clear_error() {
        let t = Tensor::zeros((2, 3), candle_core::DType::BF16, &candle_core::Device::Cpu).unwrap();
        let err = t.apply_op1(GeluTanh).unwrap_err().to_string();
        assert!(err.contains("supports F32 and F64") && err.contains("BF16"), "{err}");
    }
}
