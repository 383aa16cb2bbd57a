//! Compiles `kernels/jacobi_svd.cu` to PTX with nvcc, only when the `cuda` feature is on.
//!
//! The PTX is embedded with `include_str!` and JIT-compiled by the driver on first use, the same
//! scheme candle-kernels uses. A CPU build never looks for nvcc.
//!
//! Environment: `CUDA_COMPUTE_CAP` (`90`, `9.0`, `sm_90`, `90a`; otherwise `nvidia-smi` is asked),
//! `NVCC` (path to nvcc; otherwise `nvcc` on PATH, then `$CUDA_HOME/bin/nvcc`, `$CUDA_PATH/bin/nvcc`,
//! `/usr/local/cuda/bin/nvcc`), `NVCC_CCBIN` (host compiler for nvcc).

use std::env;
use std::path::{Path, PathBuf};
use std::process::{exit, Command};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    for var in [
        "NVCC",
        "NVCC_CCBIN",
        "CUDA_HOME",
        "CUDA_PATH",
        "CUDA_COMPUTE_CAP",
        "PATH",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| fail("CARGO_MANIFEST_DIR unset")));
    let kernel = manifest.join("../../kernels/jacobi_svd.cu");
    println!("cargo:rerun-if-changed={}", kernel.display());
    if !kernel.is_file() {
        fail(&format!("kernel source {} not found", kernel.display()));
    }
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap_or_else(|_| fail("OUT_DIR unset")));
    let ptx = out_dir.join("jacobi_svd.ptx");
    let cap = compute_cap().unwrap_or_else(|msg| fail(&msg));
    let nvcc = find_nvcc().unwrap_or_else(|| {
        fail("nvcc not found: set NVCC, put nvcc on PATH or set CUDA_HOME (see scripts/build-cuda.sh)")
    });
    compile_ptx(&nvcc, &kernel, &ptx, &cap);
    // The toolkit release the kernels were built with, for the manifest and the driver check.
    let release = toolkit_release(&nvcc)
        .unwrap_or_else(|| fail("`nvcc --version` names no release (expected e.g. 'release 13.0')"));
    println!("cargo:rustc-env=MOESCOPE_CUDA_TOOLKIT={release}");
}

/// `X.Y` from the "release X.Y, VX.Y.Z" line of `nvcc --version`.
fn toolkit_release(nvcc: &Path) -> Option<String> {
    let out = Command::new(nvcc).arg("--version").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let after = text.split("release ").nth(1)?;
    let version: String = after.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    Some(version).filter(|v| v.contains('.'))
}

/// Runs `nvcc --ptx` for the virtual architecture `compute_<cap>` (forward-JIT-able PTX).
fn compile_ptx(nvcc: &Path, src: &Path, ptx: &Path, cap: &str) {
    let mut cmd = Command::new(nvcc);
    cmd.arg("--ptx")
        .arg(format!("-arch=compute_{cap}"))
        .arg("-std=c++17")
        .arg("-O3")
        .arg("-o")
        .arg(ptx)
        .arg(src);
    if let Ok(ccbin) = env::var("NVCC_CCBIN") {
        cmd.arg("-ccbin").arg(ccbin).arg("-allow-unsupported-compiler");
    }
    match cmd.status() {
        Ok(status) if status.success() && ptx.is_file() => {}
        Ok(status) => fail(&format!("{cmd:?} failed with {status}")),
        Err(e) => fail(&format!("could not run {}: {e}", nvcc.display())),
    }
}

/// `CUDA_COMPUTE_CAP` normalised to nvcc's digits (+ optional feature suffix), e.g. `90`, `90a`.
fn compute_cap() -> Result<String, String> {
    let raw = match env::var("CUDA_COMPUTE_CAP") {
        Ok(v) => v,
        Err(_) => query_nvidia_smi().ok_or_else(|| {
            "CUDA_COMPUTE_CAP is not set and nvidia-smi gave no compute capability; \
             set it, e.g. CUDA_COMPUTE_CAP=90 for H100/H200"
                .to_string()
        })?,
    };
    let trimmed = raw.trim();
    let bare = trimmed
        .trim_start_matches("sm_")
        .trim_start_matches("compute_")
        .replace('.', "");
    let digits: String = bare.chars().take_while(char::is_ascii_digit).collect();
    let suffix = &bare[digits.len()..];
    if digits.len() < 2 || !(suffix.is_empty() || suffix == "a" || suffix == "f") {
        return Err(format!(
            "CUDA_COMPUTE_CAP={trimmed:?} is not a compute capability (expected e.g. 90, 9.0, sm_90, 90a)"
        ));
    }
    Ok(format!("{digits}{suffix}"))
}

fn query_nvidia_smi() -> Option<String> {
    let out = Command::new("nvidia-smi")
        .args(["--query-gpu=compute_cap", "--format=csv,noheader"])
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.lines().next().map(str::to_string).filter(|_| out.status.success())
}

fn find_nvcc() -> Option<PathBuf> {
    if let Some(p) = env::var_os("NVCC") {
        return Some(PathBuf::from(p));
    }
    let on_path = Command::new("nvcc").arg("--version").output();
    if matches!(on_path, Ok(ref o) if o.status.success()) {
        return Some(PathBuf::from("nvcc"));
    }
    let roots = ["CUDA_HOME", "CUDA_PATH"]
        .iter()
        .filter_map(|v| env::var_os(v).map(PathBuf::from))
        .chain([PathBuf::from("/usr/local/cuda")]);
    roots.map(|r| r.join("bin/nvcc")).find(|p| p.is_file())
}

fn fail(msg: &str) -> ! {
    eprintln!("moescope-gpu build.rs: {msg}");
    println!("cargo:warning=moescope-gpu: {msg}");
    exit(1)
}
