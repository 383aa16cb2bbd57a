//! Maps the config's device to a candle `Device`, never falling back silently.

use crate::{Error, Result};
use candle_core::Device;
use moescope_config::DeviceSpec;
use std::collections::BTreeMap;

/// Opens the requested device or fails with a message naming what is missing.
pub fn open(spec: DeviceSpec) -> Result<Device> {
    match spec {
        DeviceSpec::Cpu => Ok(Device::Cpu),
        DeviceSpec::Cuda { ordinal } => {
            if !candle_core::utils::cuda_is_available() {
                return Err(Error::CudaNotCompiled {
                    device: spec.to_string(),
                });
            }
            let unavailable = |message: String| Error::DeviceUnavailable {
                device: spec.to_string(),
                message,
            };
            let device = Device::new_cuda(ordinal).map_err(|e| unavailable(e.to_string()))?;
            // Before any kernel runs: a driver too old for the PTX fails later with a bare code.
            moescope_gpu::check_driver(&device).map_err(|e| unavailable(e.to_string()))?;
            Ok(device)
        }
    }
}

/// Facts about the device for the manifest: the host always, and on CUDA the GPU, driver and
/// toolkit versions (`moescope_gpu::device_facts`; a failed query is recorded, not fatal).
pub fn describe(device: &Device) -> BTreeMap<String, String> {
    let mut info = BTreeMap::new();
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    info.insert("host_threads".into(), threads.to_string());
    info.insert("avx".into(), candle_core::utils::with_avx().to_string());
    info.insert(
        "cuda_compiled".into(),
        candle_core::utils::cuda_is_available().to_string(),
    );
    if let Ok(model) = std::fs::read_to_string("/proc/cpuinfo") {
        if let Some(line) = model.lines().find(|l| l.starts_with("model name")) {
            info.insert("cpu".into(), line.split(':').nth(1).unwrap_or("").trim().to_string());
        }
    }
    info.insert(
        "kind".into(),
        if device.is_cuda() { "cuda".into() } else { "cpu".into() },
    );
    match moescope_gpu::device_facts(device) {
        Ok(facts) => info.extend(facts),
        Err(e) => {
            info.insert("device_query_error".into(), e.to_string());
        }
    }
    info
}
