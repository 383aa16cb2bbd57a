//! Finiteness guard for Jacobian chunks (STYLE rule 18: numerical health is an error).

use crate::{Error, Result};
use candle_core::{DType, Tensor};

/// Returns `Err(NonFinite { stage, count })` if `t` holds any NaN or ±inf.
///
/// The fast path is one reduction: `sum(t · 0)` is 0 exactly when every entry is finite
/// (finite · 0 = 0, while NaN · 0 and inf · 0 are NaN), and it cannot overflow. Only on failure
/// is the exact count computed.
pub(crate) fn check_finite(t: &Tensor, stage: &'static str) -> Result<()> {
    let s = t
        .affine(0.0, 0.0)?
        .sum_all()?
        .to_dtype(DType::F64)?
        .to_scalar::<f64>()?;
    if s == 0.0 {
        return Ok(());
    }
    // NaN: x != x. inf: |x| == inf. Counted on the device, one scalar back.
    let nan = t.ne(t)?.to_dtype(DType::U32)?;
    let inf = t.abs()?.to_dtype(DType::F64)?.eq(f64::INFINITY)?.to_dtype(DType::U32)?;
    let count = (nan + inf)?.sum_all()?.to_scalar::<u32>()? as usize;
    Err(Error::NonFinite {
        stage,
        count: count.max(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn counts_nan_and_both_infinities() -> Result<()> {
        let t = Tensor::new(
            &[[1.0f64, f64::NAN, 3.0], [f64::INFINITY, 0.0, f64::NEG_INFINITY]],
            &Device::Cpu,
        )?;
        match check_finite(&t, "jacobian") {
            Err(Error::NonFinite {
                stage: "jacobian",
                count: 3,
            }) => {}
            other => panic!("expected 3 non-finite entries, got {other:?}"),
        }
        // Huge but finite values pass (the fast path must not overflow).
        check_finite(
            &Tensor::new(&[f64::MAX, f64::MAX, -f64::MAX], &Device::Cpu)?,
            "jacobian",
        )?;
        check_finite(&Tensor::new(&[1.0f32, 2.0], &Device::Cpu)?, "jacobian")
    }
}
