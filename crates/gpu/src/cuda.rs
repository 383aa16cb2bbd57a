//! CUDA paths of the ops: the Jacobi PTX kernel and cuSOLVER's batched Jacobi solvers.
//!
//! Compiled only with the `cuda` feature. Buffers come from candle's `CudaStorage` (same cudarc
//! version as candle, so the types are shared); every call is enqueued on candle's stream.

use crate::reference::MAX_SWEEPS;
use crate::{SvdMethod, CUSOLVER_MAX_DIM};
use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::{CudaStorageSlice, WrapErr};
use candle_core::{CudaDevice, CudaStorage, Layout, Result, Shape};
use cudarc::cusolver::{sys, DnHandle};
use cudarc::driver::{CudaSlice, CudaView, DevicePtrMut, DeviceRepr, LaunchConfig, PushKernelArg};

/// `kernels/jacobi_svd.cu`, compiled to PTX by build.rs, JIT-compiled by the driver on first use.
const JACOBI_PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/jacobi_svd.ptx"));
const JACOBI_MODULE: &str = "moescope_jacobi_svd";
/// Threads per block (8 warps, one column pair per warp at a time).
const THREADS_PER_BLOCK: u32 = 256;

fn err(msg: String) -> candle_core::Error {
    candle_core::Error::Cuda(msg.into())
}

fn to_i32(what: &str, v: usize) -> Result<i32> {
    i32::try_from(v).map_err(|_| err(format!("{what} = {v} does not fit the CUDA API's int")))
}

/// Singular values of a contiguous `(b, m, n)` tensor on CUDA → `(b, min(m, n))` descending.
pub(crate) fn singular_values(
    storage: &CudaStorage,
    layout: &Layout,
    (b, m, n): (usize, usize, usize),
    method: SvdMethod,
) -> Result<(CudaStorage, Shape)> {
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| err("BatchedSingularValues: input must be contiguous".into()))?;
    let dev = storage.device().clone();
    let small = method == SvdMethod::Auto && m <= CUSOLVER_MAX_DIM && n <= CUSOLVER_MAX_DIM;
    let slice = match &storage.slice {
        CudaStorageSlice::F32(s) if small => CudaStorageSlice::F32(gesvdj_f32(&dev, &s.slice(start..end), b, m, n)?),
        CudaStorageSlice::F64(s) if small => CudaStorageSlice::F64(gesvdj_f64(&dev, &s.slice(start..end), b, m, n)?),
        CudaStorageSlice::F32(s) => {
            CudaStorageSlice::F32(jacobi_kernel(&dev, "jacobi_sv_f32", &s.slice(start..end), b, m, n)?)
        }
        CudaStorageSlice::F64(s) => {
            CudaStorageSlice::F64(jacobi_kernel(&dev, "jacobi_sv_f64", &s.slice(start..end), b, m, n)?)
        }
        other => {
            return Err(err(format!(
                "BatchedSingularValues: dtype {:?} not supported",
                other_dtype(other)
            )))
        }
    };
    Ok((CudaStorage { slice, device: dev }, Shape::from((b, m.min(n)))))
}

/// Eigenvalues of a contiguous `(b, n, n)` symmetric tensor on CUDA → `(b, n)` ascending.
pub(crate) fn sym_eigenvalues(
    storage: &CudaStorage,
    layout: &Layout,
    (b, n): (usize, usize),
) -> Result<(CudaStorage, Shape)> {
    if n > CUSOLVER_MAX_DIM {
        return Err(err(format!(
            "SymmetricEigenvalues on CUDA supports n <= {CUSOLVER_MAX_DIM} (cuSOLVER syevjBatched), got n = {n}; \
             move the tensor to the CPU for larger matrices"
        )));
    }
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| err("SymmetricEigenvalues: input must be contiguous".into()))?;
    let dev = storage.device().clone();
    let slice = match &storage.slice {
        CudaStorageSlice::F32(s) => CudaStorageSlice::F32(syevj_f32(&dev, &s.slice(start..end), b, n)?),
        CudaStorageSlice::F64(s) => CudaStorageSlice::F64(syevj_f64(&dev, &s.slice(start..end), b, n)?),
        other => {
            return Err(err(format!(
                "SymmetricEigenvalues: dtype {:?} not supported",
                other_dtype(other)
            )))
        }
    };
    Ok((CudaStorage { slice, device: dev }, Shape::from((b, n))))
}

fn other_dtype(slice: &CudaStorageSlice) -> &'static str {
    match slice {
        CudaStorageSlice::BF16(_) => "bf16",
        CudaStorageSlice::F16(_) => "f16",
        _ => "non-float",
    }
}

/// Launches `kernels/jacobi_svd.cu` (`kernel` = `jacobi_sv_f32` / `jacobi_sv_f64`): one block per
/// matrix, a global-memory workspace of `b · min(m,n) · max(m,n)` elements.
fn jacobi_kernel<T: DeviceRepr>(
    dev: &CudaDevice,
    kernel: &str,
    a: &CudaView<'_, T>,
    b: usize,
    m: usize,
    n: usize,
) -> Result<CudaSlice<T>> {
    let (cols, len) = (m.min(n), m.max(n));
    let func = dev.get_or_load_custom_func(kernel, JACOBI_MODULE, JACOBI_PTX)?;
    // SAFETY: the kernel writes every element of `work` before reading it and every element of `out`.
    let work = unsafe { dev.alloc::<T>(b * cols * len)? };
    // SAFETY: as above; ranks are a permutation of 0..cols per matrix.
    let out = unsafe { dev.alloc::<T>(b * cols)? };
    let sweeps = dev.alloc_zeros::<i32>(b)?;
    let grid = u32::try_from(b).map_err(|_| err(format!("batch {b} exceeds the CUDA grid")))?;
    let cfg = LaunchConfig {
        grid_dim: (grid, 1, 1),
        block_dim: (THREADS_PER_BLOCK, 1, 1),
        shared_mem_bytes: 0,
    };
    let (m_arg, n_arg, max_arg) = (to_i32("m", m)?, to_i32("n", n)?, to_i32("max sweeps", MAX_SWEEPS)?);
    let mut builder = func.builder();
    builder.arg(a);
    builder.arg(&work);
    builder.arg(&out);
    builder.arg(&sweeps);
    builder.arg(&m_arg);
    builder.arg(&n_arg);
    builder.arg(&max_arg);
    // SAFETY: argument list matches the kernel's signature; buffers sized as documented above.
    unsafe { builder.launch(cfg) }.w()?;
    let used = dev.clone_dtoh(&sweeps)?;
    if let Some(index) = used.iter().position(|&s| s < 0) {
        return Err(err(format!(
            "Jacobi kernel: matrix {index} of the batch did not converge within {MAX_SWEEPS} sweeps"
        )));
    }
    Ok(out)
}

fn check(status: sys::cusolverStatus_t, call: &str) -> Result<()> {
    if status == sys::cusolverStatus_t::CUSOLVER_STATUS_SUCCESS {
        Ok(())
    } else {
        Err(err(format!("cuSOLVER {call} failed: {status:?}")))
    }
}

/// cuSOLVER's per-matrix `info`: 0 = success, > 0 = no convergence, < 0 = bad parameter.
fn check_info(info: &[i32], call: &str) -> Result<()> {
    match info.iter().position(|&i| i != 0) {
        None => Ok(()),
        Some(index) => Err(err(format!(
            "cuSOLVER {call}: matrix {index} of the batch returned info = {} (> 0: not converged, < 0: bad argument)",
            info[index]
        ))),
    }
}

/// Owns a `gesvdjInfo_t` (tolerance/sweeps/sort settings for gesvdjBatched).
struct GesvdjInfo(sys::gesvdjInfo_t);

impl GesvdjInfo {
    fn new() -> Result<Self> {
        let mut p: sys::gesvdjInfo_t = std::ptr::null_mut();
        // SAFETY: out-pointer to a local.
        check(unsafe { sys::cusolverDnCreateGesvdjInfo(&mut p) }, "CreateGesvdjInfo")?;
        let info = Self(p);
        let sweeps = to_i32("max sweeps", MAX_SWEEPS)?;
        // SAFETY: `p` is a live gesvdjInfo_t.
        check(
            unsafe { sys::cusolverDnXgesvdjSetMaxSweeps(p, sweeps) },
            "XgesvdjSetMaxSweeps",
        )?;
        // Descending, like the CPU reference and the kernel.
        check(unsafe { sys::cusolverDnXgesvdjSetSortEig(p, 1) }, "XgesvdjSetSortEig")?;
        Ok(info)
    }
}

impl Drop for GesvdjInfo {
    fn drop(&mut self) {
        // SAFETY: created by cusolverDnCreateGesvdjInfo, destroyed once.
        unsafe { sys::cusolverDnDestroyGesvdjInfo(self.0) };
    }
}

/// Owns a `syevjInfo_t` (settings for syevjBatched).
struct SyevjInfo(sys::syevjInfo_t);

impl SyevjInfo {
    fn new() -> Result<Self> {
        let mut p: sys::syevjInfo_t = std::ptr::null_mut();
        // SAFETY: out-pointer to a local.
        check(unsafe { sys::cusolverDnCreateSyevjInfo(&mut p) }, "CreateSyevjInfo")?;
        let info = Self(p);
        let sweeps = to_i32("max sweeps", MAX_SWEEPS)?;
        // SAFETY: `p` is a live syevjInfo_t.
        check(
            unsafe { sys::cusolverDnXsyevjSetMaxSweeps(p, sweeps) },
            "XsyevjSetMaxSweeps",
        )?;
        // Ascending, like the CPU reference.
        check(unsafe { sys::cusolverDnXsyevjSetSortEig(p, 1) }, "XsyevjSetSortEig")?;
        Ok(info)
    }
}

impl Drop for SyevjInfo {
    fn drop(&mut self) {
        // SAFETY: created by cusolverDnCreateSyevjInfo, destroyed once.
        unsafe { sys::cusolverDnDestroySyevjInfo(self.0) };
    }
}

fn dn_handle(dev: &CudaDevice) -> Result<DnHandle> {
    DnHandle::new(dev.cuda_stream()).map_err(|e| err(format!("cuSOLVER handle: {e:?}")))
}

macro_rules! cusolver_batched {
    ($t:ty, $gesvdj:ident, $syevj:ident, $gesvdj_buf:ident, $gesvdj_run:ident, $syevj_buf:ident, $syevj_run:ident) => {
        /// Singular values by `gesvdjBatched` (m, n ≤ 32), descending.
        fn $gesvdj(dev: &CudaDevice, a: &CudaView<'_, $t>, b: usize, m: usize, n: usize) -> Result<CudaSlice<$t>> {
            let handle = dn_handle(dev)?;
            let stream = dev.cuda_stream();
            // Row-major m×n read as column-major is the n×m matrix Aᵀ: same singular values.
            let (rows, cols, batch) = (to_i32("n", n)?, to_i32("m", m)?, to_i32("batch", b)?);
            let mut mat = unsafe { dev.alloc::<$t>(b * m * n)? }; // overwritten by the copy below
            dev.memcpy_dtod(a, &mut mat)?; // gesvdj destroys its input
            let mut s = dev.alloc_zeros::<$t>(b * m.min(n))?;
            // Vectors are not computed (NOVECTOR) but the arrays are still passed, sized per the docs.
            let mut u = dev.alloc_zeros::<$t>(b * n * n)?;
            let mut v = dev.alloc_zeros::<$t>(b * m * m)?;
            let mut info = dev.alloc_zeros::<i32>(b)?;
            let params = GesvdjInfo::new()?;
            let jobz = sys::cusolverEigMode_t::CUSOLVER_EIG_MODE_NOVECTOR;
            {
                let (pa, _ga) = mat.device_ptr_mut(&stream);
                let (ps, _gs) = s.device_ptr_mut(&stream);
                let (pu, _gu) = u.device_ptr_mut(&stream);
                let (pv, _gv) = v.device_ptr_mut(&stream);
                let (pi, _gi) = info.device_ptr_mut(&stream);
                let mut lwork: i32 = 0;
                // SAFETY: device pointers sized as documented for gesvdjBatched; lda = rows, ldu = rows, ldv = cols.
                check(
                    unsafe {
                        sys::$gesvdj_buf(
                            handle.cu(),
                            jobz,
                            rows,
                            cols,
                            pa as *const $t,
                            rows,
                            ps as *const $t,
                            pu as *const $t,
                            rows,
                            pv as *const $t,
                            cols,
                            &mut lwork,
                            params.0,
                            batch,
                        )
                    },
                    stringify!($gesvdj_buf),
                )?;
                let mut work = dev.alloc_zeros::<$t>(usize::try_from(lwork).unwrap_or(0).max(1))?;
                let (pw, _gw) = work.device_ptr_mut(&stream);
                // SAFETY: as above, with a workspace of the size cuSOLVER asked for.
                check(
                    unsafe {
                        sys::$gesvdj_run(
                            handle.cu(),
                            jobz,
                            rows,
                            cols,
                            pa as *mut $t,
                            rows,
                            ps as *mut $t,
                            pu as *mut $t,
                            rows,
                            pv as *mut $t,
                            cols,
                            pw as *mut $t,
                            lwork,
                            pi as *mut i32,
                            params.0,
                            batch,
                        )
                    },
                    stringify!($gesvdj_run),
                )?;
            }
            check_info(&dev.clone_dtoh(&info)?, stringify!($gesvdj_run))?;
            Ok(s)
        }

        /// Eigenvalues by `syevjBatched` (n ≤ 32), ascending; reads the row-major lower triangle.
        fn $syevj(dev: &CudaDevice, a: &CudaView<'_, $t>, b: usize, n: usize) -> Result<CudaSlice<$t>> {
            let handle = dn_handle(dev)?;
            let stream = dev.cuda_stream();
            let (n_arg, batch) = (to_i32("n", n)?, to_i32("batch", b)?);
            let mut mat = unsafe { dev.alloc::<$t>(b * n * n)? }; // overwritten by the copy below
            dev.memcpy_dtod(a, &mut mat)?; // syevj destroys its input
            let mut w = dev.alloc_zeros::<$t>(b * n)?;
            let mut info = dev.alloc_zeros::<i32>(b)?;
            let params = SyevjInfo::new()?;
            let jobz = sys::cusolverEigMode_t::CUSOLVER_EIG_MODE_NOVECTOR;
            // Column-major upper triangle = row-major lower triangle.
            let uplo = sys::cublasFillMode_t::CUBLAS_FILL_MODE_UPPER;
            {
                let (pa, _ga) = mat.device_ptr_mut(&stream);
                let (pw, _gw) = w.device_ptr_mut(&stream);
                let (pi, _gi) = info.device_ptr_mut(&stream);
                let mut lwork: i32 = 0;
                // SAFETY: device pointers sized as documented for syevjBatched; lda = n.
                check(
                    unsafe {
                        sys::$syevj_buf(
                            handle.cu(),
                            jobz,
                            uplo,
                            n_arg,
                            pa as *const $t,
                            n_arg,
                            pw as *const $t,
                            &mut lwork,
                            params.0,
                            batch,
                        )
                    },
                    stringify!($syevj_buf),
                )?;
                let mut work = dev.alloc_zeros::<$t>(usize::try_from(lwork).unwrap_or(0).max(1))?;
                let (pk, _gk) = work.device_ptr_mut(&stream);
                // SAFETY: as above, with a workspace of the size cuSOLVER asked for.
                check(
                    unsafe {
                        sys::$syevj_run(
                            handle.cu(),
                            jobz,
                            uplo,
                            n_arg,
                            pa as *mut $t,
                            n_arg,
                            pw as *mut $t,
                            pk as *mut $t,
                            lwork,
                            pi as *mut i32,
                            params.0,
                            batch,
                        )
                    },
                    stringify!($syevj_run),
                )?;
            }
            check_info(&dev.clone_dtoh(&info)?, stringify!($syevj_run))?;
            Ok(w)
        }
    };
}

cusolver_batched!(
    f32,
    gesvdj_f32,
    syevj_f32,
    cusolverDnSgesvdjBatched_bufferSize,
    cusolverDnSgesvdjBatched,
    cusolverDnSsyevjBatched_bufferSize,
    cusolverDnSsyevjBatched
);
cusolver_batched!(
    f64,
    gesvdj_f64,
    syevj_f64,
    cusolverDnDgesvdjBatched_bufferSize,
    cusolverDnDgesvdjBatched,
    cusolverDnDsyevjBatched_bufferSize,
    cusolverDnDsyevjBatched
);

/// The CUDA version the installed driver supports, as `cuDriverGetVersion` gives it.
pub(crate) fn driver_version() -> crate::Result<i32> {
    let mut raw = 0;
    // SAFETY: cuDriverGetVersion writes one int through a valid pointer and needs no context.
    unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut raw) }
        .result()
        .map_err(|e| crate::Error::Driver(format!("cuDriverGetVersion: {e:?}")))?;
    Ok(raw)
}

/// The manifest's facts about an open CUDA device (see [`crate::device_facts`]).
pub(crate) fn facts(dev: &CudaDevice) -> crate::Result<std::collections::BTreeMap<String, String>> {
    let stream = dev.cuda_stream();
    let ctx = stream.context();
    let query = |what: &str, e: cudarc::driver::DriverError| crate::Error::Driver(format!("{what}: {e:?}"));
    let (major, minor) = ctx.compute_capability().map_err(|e| query("compute capability", e))?;
    let mut info = std::collections::BTreeMap::new();
    info.insert("gpu".into(), ctx.name().map_err(|e| query("device name", e))?);
    info.insert("gpu_ordinal".into(), ctx.ordinal().to_string());
    info.insert("compute_capability".into(), format!("{major}.{minor}"));
    let bytes = ctx.total_mem().map_err(|e| query("total memory", e))?;
    info.insert(
        "gpu_memory_gib".into(),
        format!("{:.1}", bytes as f64 / (1u64 << 30) as f64),
    );
    info.insert("cuda_driver_version".into(), crate::cuda_version(driver_version()?));
    info.insert("cuda_toolkit".into(), crate::CUDA_TOOLKIT.unwrap_or("unknown").into());
    if let Some(v) = std::fs::read_to_string("/proc/driver/nvidia/version")
        .ok()
        .and_then(|t| crate::nvidia_driver_version(&t))
    {
        info.insert("nvidia_driver".into(), v);
    }
    Ok(info)
}
