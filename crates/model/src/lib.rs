//! MLP-MoE models (dense, Top-k, soft) on candle: the forward pass of SPEC §2, training
//! (SPEC §2.6, §3) and safetensors checkpoints.
//!
//! The main types are [`ModelSpec`] (sizes and options), [`Model`] (spec + [`Params`], with
//! [`Model::forward`] returning a [`ForwardTrace`] that exposes h, the router logits/probs/gates,
//! every expert's output, z and y) and, in [`train`], the training loop; [`train_stacked`] trains
//! the seeds of one spec as one batched graph (a leading model axis), with the same numbers.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use moescope_config::{Activation, Routing};
//! use moescope_model::{Model, ModelSpec};
//!
//! let spec = ModelSpec {
//!     routing: Routing::TopK { k: 2 }, d_in: 3, d: 4, d_out: 1, experts: 4, hidden: 5,
//!     activation: Activation::Gelu, encoder: true, residual: true,
//!     temperature: 1.0, topk_renorm: true, router_init_std: 0.01,
//! };
//! let model = Model::new(spec, 0, &Device::Cpu)?;
//! let x = Tensor::zeros((6, 3), candle_core::DType::F32, &Device::Cpu)?;
//! let trace = model.forward(&x)?;
//! assert_eq!(trace.ffn.expert_out.dims(), &[6, 4, 4]); // (n, E, d)
//! assert_eq!(trace.y.dims(), &[6, 1]);
//! # Ok::<(), moescope_model::Error>(())
//! ```
//!
//! # Checkpoint layout
//!
//! A checkpoint is a safetensors file; the [`ModelSpec`] is JSON under the header metadata key
//! `moescope.model_spec`. Tensors are stored in the model's dtype (f32 after training):
//!
//! | name | shape | meaning |
//! |---|---|---|
//! | `encoder.weight` | (d, d_in) | W0 (absent without an encoder) |
//! | `encoder.bias` | (d) | b0 (absent without an encoder) |
//! | `ffn.w1` | (E, m, d) | W1_e of every expert, stacked |
//! | `ffn.b1` | (E, m) | b1_e |
//! | `ffn.w2` | (E, d, m) | W2_e |
//! | `ffn.b2` | (E, d) | b2_e |
//! | `router.weight` | (E, d) | W_r (absent for dense) |
//! | `router.bias` | (E) | b_r (absent for dense) |
//! | `readout.weight` | (d_out, d) | W_out |
//! | `readout.bias` | (d_out) | b_out |
//!
//! The dense model is E = 1, m = H, with no router.
//!
//! # Initialisation
//!
//! Each parameter group draws from its own ChaCha8 stream seeded with
//! `derive_seed(seed, "init/encoder" | "init/ffn" | "init/router" | "init/readout")`, so the
//! encoder and readout of a seed are identical across architectures. Weights feeding φ (W0, W1)
//! are Kaiming-uniform U(±√(6/fan_in)) for ReLU and Xavier-uniform U(±√(6/(fan_in+fan_out))) for
//! GELU; the linear layers W2 and W_out are Xavier-uniform; W_r ~ N(0, router_init_std²); all
//! biases start at 0.
#![deny(missing_docs)]

mod checkpoint;
mod error;
mod gelu;
mod init;
mod model;
mod ops;
mod spec;
mod stack;
pub mod train;

pub use checkpoint::SPEC_KEY;
pub use error::{Error, Result};
pub use model::{FfnTrace, ForwardTrace, Model, Params};
pub use ops::{activation, activation_derivative, switch_loss, topk_mask, z_loss};
pub use spec::{ModelSpec, ParamCounts};
pub use stack::{train_stacked, StackedRun};
pub use train::{evaluate, train, CurvePoint, TargetTensor, TrainData, TrainOptions, TrainReport};

// Only to turn on the gemm crate's AVX-512 kernels (feature unification); see notes/candle_cpu.md.
use gemm as _;
