//! Finiteness guard for Jacobian chunks (STYLE rule 18: numerical health is an error).

use crate::{Error, Result};
use candle_core::{DType, Tensor};

/// Returns `Err(NonFinite { stage, count })` if `t` holds any NaN or ±inf.
///
/// The fast path is one reduction with no temporary: a NaN or ±inf entry makes the sum NaN or
/// ±inf, so a finite sum proves every entry finite. A non-finite sum is either such an entry or
/// an overflow of finite ones; the exact count tells which.
pub(crate) fn check_finite(t: &Tensor, stage: &'static str) -> Result<()> {
    let s = t.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    if s.is_finite() {
        return Ok(());
    }
    // NaN: x != x. inf: |x| == inf. Counted on the device, one scalar back.
    let nan = t.ne(t)?.to_dtype(DType::U32)?;
    let inf = t.abs()?.to_dtype(DType::F64)?.eq(f64::INFINITY)?.to_dtype(DType::U32)?;
    match (nan + inf)?.sum_all()?.to_scalar::<u32>()? as usize {
        0 => Ok(()), // the sum overflowed
        count => Err(Error::NonFinite { stage, count }),
    }
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
        // Huge but finite values pass: their sum overflows, and the count finds nothing.
        check_finite(
            &Tensor::new(&[f64::MAX, f64::MAX, -f64::MAX], &Device::Cpu)?,
            "jacobian",
        )?;
        check_finite(&Tensor::new(&[1.0f32, 2.0], &Device::Cpu)?, "jacobian")
    }
}
