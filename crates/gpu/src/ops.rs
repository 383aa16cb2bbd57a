//! The candle custom ops and their tensor-level entry points.

use crate::reference::{jacobi_singular_values, jacobi_sym_eigenvalues};
use crate::{Error, Result};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor};

/// Which solver the CUDA path of [`singular_values_with`] uses. The CPU always runs the
/// Jacobi reference; the choice only matters on CUDA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SvdMethod {
    /// cuSOLVER `gesvdjBatched` when both dims are ≤ [`crate::CUSOLVER_MAX_DIM`], else the
    /// Jacobi PTX kernel.
    #[default]
    Auto,
    /// Always the Jacobi PTX kernel (any size).
    Jacobi,
}

/// Custom op: `(B, m, n)` → `(B, min(m, n))` singular values, descending, input dtype.
#[derive(Debug, Clone, Copy, Default)]
pub struct BatchedSingularValues {
    /// Solver choice on CUDA.
    pub method: SvdMethod,
}

/// Custom op: `(B, n, n)` symmetric (lower triangle read) → `(B, n)` eigenvalues, ascending.
#[derive(Debug, Clone, Copy, Default)]
pub struct SymmetricEigenvalues;

const SV_OP: &str = "BatchedSingularValues";
const EIG_OP: &str = "SymmetricEigenvalues";

/// Singular values of each matrix of `t: (B, m, n)` (f32/f64) → `(B, min(m, n))`, descending.
///
/// Runs on `t`'s device with [`SvdMethod::Auto`]; see the crate docs for the solvers.
pub fn singular_values(t: &Tensor) -> Result<Tensor> {
    singular_values_with(t, SvdMethod::Auto)
}

/// [`singular_values`] with an explicit CUDA solver choice.
pub fn singular_values_with(t: &Tensor, method: SvdMethod) -> Result<Tensor> {
    batch_dims(SV_OP, t.shape(), false)?;
    check_dtype(SV_OP, t.dtype())?;
    Ok(t.contiguous()?.apply_op1_no_bwd(&BatchedSingularValues { method })?)
}

/// Eigenvalues of each symmetric matrix of `t: (B, n, n)` (f32/f64) → `(B, n)`, ascending.
///
/// Only the lower triangle (row ≥ column) is read. On CUDA, n must be ≤
/// [`crate::CUSOLVER_MAX_DIM`] (cuSOLVER `syevjBatched`); larger n is an error there.
pub fn sym_eigenvalues(t: &Tensor) -> Result<Tensor> {
    batch_dims(EIG_OP, t.shape(), true)?;
    check_dtype(EIG_OP, t.dtype())?;
    Ok(t.contiguous()?.apply_op1_no_bwd(&SymmetricEigenvalues)?)
}

/// `(B, m, n)` with B, m, n ≥ 1 (and m = n when `square`), else a shape error.
pub(crate) fn batch_dims(op: &'static str, shape: &Shape, square: bool) -> Result<(usize, usize, usize)> {
    let bad = |what: &str| Error::Shape {
        op,
        message: format!("input shape {shape:?}: {what}"),
    };
    let &[b, m, n] = shape.dims() else {
        return Err(bad("expected rank 3 (batch, rows, cols)"));
    };
    if b == 0 || m == 0 || n == 0 {
        return Err(bad("every dimension must be >= 1"));
    }
    if square && m != n {
        return Err(bad("expected square matrices (batch, n, n)"));
    }
    Ok((b, m, n))
}

fn check_dtype(op: &'static str, dtype: DType) -> Result<()> {
    match dtype {
        DType::F32 | DType::F64 => Ok(()),
        _ => Err(Error::DType { op, dtype }),
    }
}

/// The op's input as one contiguous slice (the public fns make it contiguous first).
fn contiguous<'a, T>(op: &'static str, v: &'a [T], layout: &Layout) -> Result<&'a [T]> {
    let (start, end) = layout.contiguous_offsets().ok_or_else(|| Error::Shape {
        op,
        message: format!("input must be contiguous, got strides {:?}", layout.stride()),
    })?;
    Ok(&v[start..end])
}

/// Carries our typed error through candle's op interface (as its message).
fn wrap(e: Error) -> candle_core::Error {
    candle_core::Error::wrap(e)
}

impl CustomOp1 for BatchedSingularValues {
    fn name(&self) -> &'static str {
        SV_OP
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, m, n) = batch_dims(SV_OP, layout.shape(), false).map_err(wrap)?;
        let out = match storage {
            CpuStorage::F32(v) => CpuStorage::F32(
                contiguous(SV_OP, v, layout)
                    .and_then(|a| jacobi_singular_values(a, b, m, n))
                    .map_err(wrap)?,
            ),
            CpuStorage::F64(v) => CpuStorage::F64(
                contiguous(SV_OP, v, layout)
                    .and_then(|a| jacobi_singular_values(a, b, m, n))
                    .map_err(wrap)?,
            ),
            other => {
                return Err(wrap(Error::DType {
                    op: SV_OP,
                    dtype: other.dtype(),
                }))
            }
        };
        Ok((out, Shape::from((b, m.min(n)))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        storage: &candle_core::CudaStorage,
        layout: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let (b, m, n) = batch_dims(SV_OP, layout.shape(), false).map_err(wrap)?;
        crate::cuda::singular_values(storage, layout, (b, m, n), self.method)
    }
}

impl CustomOp1 for SymmetricEigenvalues {
    fn name(&self) -> &'static str {
        EIG_OP
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, n, _) = batch_dims(EIG_OP, layout.shape(), true).map_err(wrap)?;
        let out = match storage {
            CpuStorage::F32(v) => CpuStorage::F32(
                contiguous(EIG_OP, v, layout)
                    .and_then(|a| jacobi_sym_eigenvalues(a, b, n))
                    .map_err(wrap)?,
            ),
            CpuStorage::F64(v) => CpuStorage::F64(
                contiguous(EIG_OP, v, layout)
                    .and_then(|a| jacobi_sym_eigenvalues(a, b, n))
                    .map_err(wrap)?,
            ),
            other => {
                return Err(wrap(Error::DType {
                    op: EIG_OP,
                    dtype: other.dtype(),
                }))
            }
        };
        Ok((out, Shape::from((b, n))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        storage: &candle_core::CudaStorage,
        layout: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let (b, n, _) = batch_dims(EIG_OP, layout.shape(), true).map_err(wrap)?;
        crate::cuda::sym_eigenvalues(storage, layout, (b, n))
    }
}
