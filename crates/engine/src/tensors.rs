//! Host arrays from `moescope-data` → device tensors, once per seed.

use candle_core::{DType, Device, Storage, Tensor};
use moescope_data::{Dataset, Splits, Targets};
use moescope_model::{TargetTensor, TrainData};

/// One seed's data on the device, shared by every architecture of that seed.
pub(crate) struct SeedTensors {
    pub train: TrainData,
    /// Probe inputs (n, d_in), f32.
    pub x_probe: Tensor,
    pub d_in: usize,
    pub d_out: usize,
    /// What the data is (task, sizes, classes), for the manifest.
    pub description: String,
}

impl SeedTensors {
    pub fn new(splits: &Splits, device: &Device) -> candle_core::Result<Self> {
        let (x_train, y_train) = to_tensors(&splits.train, device)?;
        let (x_val, y_val) = to_tensors(&splits.val, device)?;
        let x_probe = inputs(&splits.probe, device)?;
        Ok(SeedTensors {
            train: TrainData {
                x_train,
                y_train,
                x_val,
                y_val,
            },
            x_probe,
            d_in: splits.train.d_in,
            d_out: splits.train.d_out(),
            description: splits.description.clone(),
        })
    }
}

fn inputs(ds: &Dataset, device: &Device) -> candle_core::Result<Tensor> {
    Tensor::from_slice(&ds.x, (ds.n, ds.d_in), device)
}

fn to_tensors(ds: &Dataset, device: &Device) -> candle_core::Result<(Tensor, TargetTensor)> {
    let x = inputs(ds, device)?;
    let y = match &ds.targets {
        Targets::Regression { values, dim } => {
            TargetTensor::Regression(Tensor::from_slice(values, (ds.n, *dim), device)?)
        }
        Targets::Classes { labels, .. } => TargetTensor::Classes(Tensor::from_slice(labels, ds.n, device)?),
    };
    Ok((x, y))
}

/// Copies a tensor of any float dtype to a host `Vec<f64>` in row-major order.
pub(crate) fn host_f64(t: &Tensor) -> candle_core::Result<Vec<f64>> {
    t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()
}

/// Runs `f` on a tensor's values as a host f64 slice in row-major order: borrowed when the
/// tensor already is a contiguous f64 CPU tensor (the probe's Jacobians, 16 MB per chunk at the
/// paper's sizes, which would otherwise be copied only to be read once), copied otherwise.
pub(crate) fn with_host_f64<R>(t: &Tensor, f: impl FnOnce(&[f64]) -> R) -> candle_core::Result<R> {
    if t.dtype() == DType::F64 {
        if let Some((start, end)) = t.layout().contiguous_offsets() {
            let (storage, _) = t.storage_and_layout();
            if let Storage::Cpu(cpu) = &*storage {
                return Ok(f(&cpu.as_slice::<f64>()?[start..end]));
            }
        }
    }
    Ok(f(&host_f64(t)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_slices_are_row_major_whatever_the_layout_or_dtype() -> candle_core::Result<()> {
        let t = Tensor::arange(0.0f64, 24.0, &Device::Cpu)?.reshape((2, 3, 4))?;
        let want: Vec<f64> = (0..24).map(f64::from).collect();
        // Borrowed: contiguous f64, also at an offset into its storage.
        assert_eq!(with_host_f64(&t, <[f64]>::to_vec)?, want);
        assert_eq!(with_host_f64(&t.narrow(0, 1, 1)?, <[f64]>::to_vec)?, want[12..]);
        // Copied: a transposed view and an f32 tensor.
        let tt = t.transpose(1, 2)?;
        let want_t: Vec<f64> = (0..2)
            .flat_map(|a| (0..4).flat_map(move |c| (0..3).map(move |b| (a * 12 + b * 4 + c) as f64)))
            .collect();
        assert_eq!(with_host_f64(&tt, <[f64]>::to_vec)?, want_t);
        assert_eq!(with_host_f64(&t.to_dtype(DType::F32)?, <[f64]>::to_vec)?, want);
        Ok(())
    }
}
