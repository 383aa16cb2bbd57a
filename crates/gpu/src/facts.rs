//! What a run's manifest records about a CUDA device and the build that drives it, and the one
//! check that cannot wait for the first kernel launch: a driver older than the toolkit the PTX
//! was built with rejects that PTX (with an error that names neither version).

use candle_core::Device;
use std::collections::BTreeMap;

/// The CUDA toolkit release (`X.Y`) this binary's kernels were compiled with; `None` in a build
/// without the `cuda` feature.
pub const CUDA_TOOLKIT: Option<&str> = option_env!("MOESCOPE_CUDA_TOOLKIT");

/// Facts about `device` for a run's manifest: for CUDA the GPU's name, compute capability and
/// memory, the NVIDIA driver version, the CUDA version the driver supports and the toolkit the
/// kernels were built with. Empty for the CPU.
pub fn device_facts(device: &Device) -> crate::Result<BTreeMap<String, String>> {
    match device {
        #[cfg(feature = "cuda")]
        Device::Cuda(dev) => crate::cuda::facts(dev),
        _ => Ok(BTreeMap::new()),
    }
}

/// Refuses a CUDA device whose driver is older than the toolkit the kernels were built with
/// (its JIT rejects newer PTX); `Ok` for the CPU.
pub fn check_driver(device: &Device) -> crate::Result<()> {
    match device {
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => driver_supports(crate::cuda::driver_version()?, CUDA_TOOLKIT.unwrap_or("0.0")),
        _ => Ok(()),
    }
}

/// `cuDriverGetVersion`'s integer (1000·major + 10·minor) as `major.minor`.
pub fn cuda_version(raw: i32) -> String {
    format!("{}.{}", raw / 1000, raw % 1000 / 10)
}

/// The driver version (`570.86.15`) from the first line of `/proc/driver/nvidia/version`.
pub fn nvidia_driver_version(proc_text: &str) -> Option<String> {
    let line = proc_text.lines().next()?;
    let dotted = |t: &&str| {
        t.contains('.')
            && t.split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    line.split_whitespace().find(dotted).map(str::to_string)
}

/// Errors when a driver supporting CUDA `driver_raw` (as from `cuDriverGetVersion`) cannot load
/// PTX from toolkit release `toolkit` (`X.Y`).
pub fn driver_supports(driver_raw: i32, toolkit: &str) -> crate::Result<()> {
    let parse = |s: &str| s.split('.').map(|p| p.parse::<i32>().ok()).collect::<Option<Vec<_>>>();
    let want = match parse(toolkit).as_deref() {
        Some([major, minor, ..]) => major * 1000 + minor * 10,
        _ => return Err(crate::Error::Driver(format!("toolkit release {toolkit:?} is not X.Y"))),
    };
    if driver_raw >= want {
        return Ok(());
    }
    Err(crate::Error::Driver(format!(
        "the NVIDIA driver supports CUDA {} but this binary's kernels were built with CUDA {toolkit}, \
         whose PTX that driver rejects: update the driver, or rebuild with an nvcc no newer than {} \
         (scripts/build-cuda.sh, NVCC=...)",
        cuda_version(driver_raw),
        cuda_version(driver_raw)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_integers_read_as_major_minor() {
        assert_eq!(cuda_version(13000), "13.0");
        assert_eq!(cuda_version(12080), "12.8");
        assert_eq!(cuda_version(11020), "11.2");
    }

    #[test]
    fn the_driver_version_is_the_dotted_number_of_the_first_line() {
        let proprietary = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  570.86.15  Wed Jan 22 2025\n\
                           GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n";
        assert_eq!(nvidia_driver_version(proprietary).as_deref(), Some("570.86.15"));
        let open =
            "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build  (dvs-builder@U16)";
        assert_eq!(nvidia_driver_version(open).as_deref(), Some("580.65.06"));
        assert_eq!(nvidia_driver_version("no version here\n580.1"), None);
        assert_eq!(nvidia_driver_version(""), None);
    }

    #[test]
    fn a_driver_older_than_the_toolkit_is_refused_with_both_versions() {
        assert!(driver_supports(13000, "13.0").is_ok());
        assert!(driver_supports(13010, "13.0").is_ok());
        assert!(driver_supports(12080, "12.4").is_ok());
        let msg = driver_supports(12080, "13.0").unwrap_err().to_string();
        assert!(msg.contains("CUDA 12.8") && msg.contains("CUDA 13.0"), "{msg}");
        assert!(driver_supports(12040, "12.8").is_err());
        assert!(driver_supports(13000, "thirteen").is_err());
    }

    #[test]
    fn the_cpu_has_no_facts_and_passes_the_driver_check() {
        assert!(device_facts(&Device::Cpu).unwrap().is_empty());
        assert!(check_driver(&Device::Cpu).is_ok());
    }
}
