//! Test helpers shared by the moescope crates (a dev-dependency only).
//!
//! - [`central_difference_jacobian`]: the finite-difference oracle for every Jacobian test.
//! - [`assert_close`]: elementwise `|a - b| <= atol + rtol·|b|`, panicking with the worst index.
//! - [`test_device!`]: writes a device test once, as a CPU test plus a `cuda`-gated CUDA test.
//!
//! ```
//! use moescope_testkit::{assert_close, central_difference_jacobian};
//! // f(x) = (x0·x1, 3·x0): J = [[x1, x0], [3, 0]]
//! let f = |x: &[f64]| vec![x[0] * x[1], 3.0 * x[0]];
//! let j = central_difference_jacobian(&f, &[2.0, 5.0], 1e-6);
//! assert_close(&j, &[5.0, 2.0, 3.0, 0.0], 1e-8, 1e-8, "J of x0·x1");
//! ```
#![deny(missing_docs)]

/// Re-exported so that [`test_device!`] expands in crates that name candle differently.
pub use candle_core;

/// Central finite differences `(f(x + ε e_j) − f(x − ε e_j)) / 2ε`.
///
/// Returns the Jacobian row-major as `(out, in)`: entry `[i * x.len() + j]` is ∂f_i/∂x_j.
/// Panics (this is test code) if `f` changes its output length between evaluations.
pub fn central_difference_jacobian(f: &dyn Fn(&[f64]) -> Vec<f64>, x: &[f64], eps: f64) -> Vec<f64> {
    let d_in = x.len();
    let d_out = f(x).len();
    let mut jac = vec![0.0; d_out * d_in];
    let mut xp = x.to_vec();
    for j in 0..d_in {
        xp[j] = x[j] + eps;
        let plus = f(&xp);
        xp[j] = x[j] - eps;
        let minus = f(&xp);
        xp[j] = x[j];
        assert!(
            plus.len() == d_out && minus.len() == d_out,
            "central_difference_jacobian: f returned {} / {} values, expected {d_out}",
            plus.len(),
            minus.len()
        );
        for i in 0..d_out {
            jac[i * d_in + j] = (plus[i] - minus[i]) / (2.0 * eps);
        }
    }
    jac
}

/// Asserts `|a_i − b_i| <= atol + rtol·|b_i|` for every `i` (`b` is the reference).
///
/// Panics naming `what`, the worst index (by excess over its tolerance), both values and the
/// largest absolute difference. Non-finite values always fail. Lengths must agree.
pub fn assert_close(a: &[f64], b: &[f64], atol: f64, rtol: f64, what: &str) {
    assert_eq!(
        a.len(),
        b.len(),
        "{what}: length {} vs reference length {}",
        a.len(),
        b.len()
    );
    let mut worst: Option<(usize, f64)> = None;
    let mut max_abs = 0.0f64;
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        let diff = (x - y).abs();
        // NaN compares false everywhere, so treat it as an infinitely bad entry explicitly.
        let excess = if diff.is_finite() {
            diff - (atol + rtol * y.abs())
        } else {
            f64::INFINITY
        };
        if diff.is_finite() {
            max_abs = max_abs.max(diff);
        }
        if excess > 0.0 && worst.is_none_or(|(_, w)| excess > w) {
            worst = Some((i, excess));
        }
    }
    if let Some((i, _)) = worst {
        panic!(
            "{what}: mismatch at index {i}: got {}, expected {} (|diff| = {}, atol {atol}, rtol {rtol}; max finite |diff| {max_abs})",
            a[i],
            b[i],
            (a[i] - b[i]).abs()
        );
    }
}

/// Expands `fn case(dev: &Device) -> Result<..>` into a CPU test and a CUDA test.
///
/// `test_device!(case, case_cpu, case_cuda)` defines `#[test] fn case_cpu()` on `Device::Cpu`
/// and, when the *calling* crate has a `cuda` feature turned on, `#[test] fn case_cuda()` on
/// `Device::new_cuda(0)`. The test returns whatever `case` returns (any `Result<(), E: Debug>`).
#[macro_export]
macro_rules! test_device {
    ($fn:ident, $name_cpu:ident, $name_cuda:ident) => {
        #[test]
        fn $name_cpu() -> impl ::std::process::Termination {
            $fn(&$crate::candle_core::Device::Cpu)
        }

        #[cfg(feature = "cuda")]
        #[test]
        fn $name_cuda() -> impl ::std::process::Termination {
            let dev = $crate::candle_core::Device::new_cuda(0).expect("CUDA device 0 for a cuda test");
            $fn(&dev)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_of_linear_map_is_the_matrix() {
        // f(x) = A x with A = [[1, 2, 3], [4, 5, 6]]; central differences are exact up to rounding.
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let f = |x: &[f64]| (0..2).map(|i| (0..3).map(|j| a[i * 3 + j] * x[j]).sum()).collect();
        let j = central_difference_jacobian(&f, &[0.3, -1.0, 2.0], 1e-5);
        assert_close(&j, &a, 1e-9, 0.0, "linear map");
    }

    #[test]
    fn fd_of_sin_matches_cos() {
        let f = |x: &[f64]| vec![x[0].sin()];
        let j = central_difference_jacobian(&f, &[0.7], 1e-6);
        assert_close(&j, &[0.7f64.cos()], 1e-9, 0.0, "sin'");
    }

    #[test]
    fn assert_close_accepts_within_tolerance() {
        assert_close(&[1.0, 2.0 + 1e-9], &[1.0, 2.0], 0.0, 1e-8, "within rtol");
    }

    #[test]
    #[should_panic(expected = "mismatch at index 1")]
    fn assert_close_reports_worst_index() {
        assert_close(&[1.0, 5.0, 2.1], &[1.0, 2.0, 2.0], 1e-3, 0.0, "worst");
    }

    #[test]
    #[should_panic(expected = "mismatch at index 0")]
    fn assert_close_rejects_nan() {
        assert_close(&[f64::NAN], &[1.0], 1.0, 1.0, "nan");
    }

    fn device_case(dev: &candle_core::Device) -> candle_core::Result<()> {
        let t = candle_core::Tensor::new(&[1.0f64, 2.0], dev)?;
        assert_close(&t.to_vec1::<f64>()?, &[1.0, 2.0], 0.0, 0.0, "device tensor");
        Ok(())
    }
    crate::test_device!(device_case, device_case_cpu, device_case_cuda);
}
