//! Batched small-matrix solvers for the probe's spectra, as candle ops that run on CPU and CUDA.
//!
//! - [`singular_values`]: singular values of every matrix of a `(B, m, n)` tensor, `(B, min(m,n))`,
//!   sorted descending. CPU: one-sided (Hestenes) Jacobi ([`reference::jacobi_singular_values`]).
//!   CUDA (`cuda` feature): cuSOLVER `gesvdjBatched` for matrices up to 32 × 32, otherwise the
//!   same Jacobi algorithm as a PTX kernel (`kernels/jacobi_svd.cu`, one thread block per matrix).
//! - [`sym_eigenvalues`]: eigenvalues of every symmetric matrix of a `(B, n, n)` tensor, `(B, n)`,
//!   ascending, reading the lower triangle. CPU: cyclic Jacobi; CUDA: cuSOLVER `syevjBatched`
//!   (n ≤ 32).
//!
//! Both accept `f32` and `f64` and return the input's dtype on the input's device.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! // [[3, 0], [4, 5]]: AᵀA = [[25, 20], [20, 25]] has eigenvalues 45 and 5.
//! let a = Tensor::new(&[[[3.0f64, 0.0], [4.0, 5.0]]], &Device::Cpu)?;
//! let s = moescope_gpu::singular_values(&a)?.to_vec2::<f64>()?;
//! assert!((s[0][0] - 45f64.sqrt()).abs() < 1e-12 && (s[0][1] - 5f64.sqrt()).abs() < 1e-12);
//! # Ok::<(), moescope_gpu::Error>(())
//! ```
#![deny(missing_docs)]

#[cfg(feature = "cuda")]
mod cuda;
mod facts;
mod ops;
pub mod reference;

pub use facts::{check_driver, cuda_version, device_facts, driver_supports, nvidia_driver_version, CUDA_TOOLKIT};

pub use ops::{
    singular_values, singular_values_with, sym_eigenvalues, BatchedSingularValues, SvdMethod, SymmetricEigenvalues,
};

/// Largest matrix dimension the cuSOLVER batched Jacobi solvers (`gesvdjBatched`,
/// `syevjBatched`) accept; larger singular-value problems use the PTX kernel on CUDA.
pub const CUSOLVER_MAX_DIM: usize = 32;

/// What can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input's shape does not fit the operation.
    #[error("{op}: {message}")]
    Shape {
        /// The operation.
        op: &'static str,
        /// What was wrong, naming the shape and what was expected.
        message: String,
    },
    /// The input's dtype is not `f32` or `f64`.
    #[error("{op}: dtype {dtype:?} is not supported, expected f32 or f64")]
    DType {
        /// The operation.
        op: &'static str,
        /// The dtype given.
        dtype: candle_core::DType,
    },
    /// A matrix still needed rotations after the sweep limit.
    #[error("matrix {index} of the batch did not converge within {sweeps} Jacobi sweeps")]
    NotConverged {
        /// Index of the matrix in the batch.
        index: usize,
        /// The sweep limit.
        sweeps: usize,
    },
    /// The input holds NaN or ±inf.
    #[error("input element {index} (flat index) is not finite")]
    NonFinite {
        /// Flat index of the first offending element.
        index: usize,
    },
    /// The CUDA driver cannot serve this build (too old for its PTX) or could not be queried.
    #[error("CUDA driver: {0}")]
    Driver(String),
    /// An error from candle (also carries CUDA driver / cuSOLVER failures).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// This crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
