//! Jacobian probe over a [`moescope_model::Model`] (SPEC §4): closed form and autograd VJP.
//!
//! - [`layer_jacobians`] → [`LayerJacobians`]: per-expert J_e(h), the gate-derivative term and the
//!   full FFN-layer Jacobian J_F(h), with gates, selection and the Top-k routing margin.
//! - [`dense_group_jacobians`]: the §5.4 dense-partition control J_{D,g}.
//! - [`model_jacobian`]: the end-to-end dy/dx in closed form; [`model_jacobian_from_layer`] reuses
//!   an already computed layer Jacobian.
//! - [`vjp_jacobian`] and its model wrappers: the general autograd path (the test oracle).
//!
//! Everything runs in the model's dtype on the model's device; probe with an F64 copy
//! (`model.to_dtype(DType::F64)`). The crate does no I/O and keeps no state.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! // f(x) = x Aᵀ has the Jacobian A at every row.
//! let dev = Device::Cpu;
//! let a = Tensor::new(&[[1.0f64, 2.0, 3.0], [4.0, 5.0, 6.0]], &dev)?; // (d_out, d_in)
//! let x = Tensor::new(&[[0.1f64, 0.2, 0.3], [1.0, -1.0, 2.0]], &dev)?;  // (n, d_in)
//! let f = |t: &Tensor| t.matmul(&a.t()?);
//! let j = moescope_probe::vjp_jacobian(&f, &x, 1)?; // (n, d_out, d_in)
//! assert_eq!(j.dims(), &[2, 2, 3]);
//! assert_eq!(j.get(1)?.to_vec2::<f64>()?, a.to_vec2::<f64>()?);
//! # Ok::<(), moescope_probe::Error>(())
//! ```
#![deny(missing_docs)]

mod autograd;
mod closed_form;
mod error;
mod finite;

pub use autograd::{
    expert_jacobian_autograd, layer_jacobian_autograd, layer_jacobians_autograd, model_jacobian_autograd, vjp_jacobian,
};
pub use closed_form::{
    dense_group_jacobians, layer_jacobians, model_jacobian, model_jacobian_from_layer, LayerJacobians,
};
pub use error::{Error, Result};
