//! Host arrays from `moescope-data` → device tensors, once per seed.

use candle_core::{DType, Device, Tensor};
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
