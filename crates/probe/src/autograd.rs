//! The general Jacobian path (SPEC §12): per-output vector-Jacobian products through candle
//! autograd. It needs no closed form, so it is the oracle for [`crate::layer_jacobians`].
//!
//! For f: `(c, d_in) → (c, d_out)` acting row by row, Σ_rows f_i is a scalar whose gradient
//! with respect to the input is row i of every sample's Jacobian, so one backward pass per output
//! coordinate gives `(c, d_out, d_in)`. The forward graph is built once per chunk and reused.

use crate::closed_form::check_rows;
use crate::finite::check_finite;
use crate::{Error, LayerJacobians, Result};
use candle_core::{Tensor, Var};
use moescope_model::Model;

/// Jacobians `(n, d_out, d_in)` of a row-wise map `f: (n, d_in) → (n, d_out)` at the rows of `x`.
///
/// Processes `chunk` rows at a time (memory is one forward graph of `chunk` rows). `f` must treat
/// rows independently, otherwise the result is the Jacobian of the row sums. Weights inside `f`
/// should be detached so that backward only walks to `x`. Errors: `x` not 2-D, `chunk == 0`,
/// `f` returning something other than `(c, d_out)`; `NonFinite { stage: "jacobian" }`.
pub fn vjp_jacobian(f: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>, x: &Tensor, chunk: usize) -> Result<Tensor> {
    let (n, d_in) = x.dims2().map_err(|_| Error::Shape {
        what: "x (Jacobian inputs)",
        expected: "(n, d_in)".into(),
        got: x.dims().to_vec(),
    })?;
    if chunk == 0 {
        return Err(Error::InvalidArgument {
            name: "chunk",
            msg: "must be at least 1 row".into(),
        });
    }
    let mut parts = Vec::with_capacity(n.div_ceil(chunk));
    for start in (0..n).step_by(chunk) {
        let rows = chunk.min(n - start);
        let part = vjp_chunk(f, &x.narrow(0, start, rows)?, d_in)?;
        check_finite(&part, "jacobian")?;
        parts.push(part);
    }
    if parts.is_empty() {
        // n = 0: learn d_out from one evaluation on an empty batch.
        let d_out = f(&x.detach())?.dim(1)?;
        return Ok(Tensor::zeros((0, d_out, d_in), x.dtype(), x.device())?);
    }
    Ok(Tensor::cat(&parts, 0)?)
}

/// One chunk `(c, d_in)` → `(c, d_out, d_in)`: one forward, `d_out` backward passes.
fn vjp_chunk(f: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>, x: &Tensor, d_in: usize) -> Result<Tensor> {
    let c = x.dim(0)?;
    let var = Var::from_tensor(&x.detach())?;
    let y = f(var.as_tensor())?;
    let d_out = match y.dims() {
        [rows, d_out] if *rows == c => *d_out,
        dims => {
            return Err(Error::Shape {
                what: "f(x) (Jacobian outputs)",
                expected: format!("({c}, d_out)"),
                got: dims.to_vec(),
            })
        }
    };
    let mut rows = Vec::with_capacity(d_out);
    for i in 0..d_out {
        let grads = y.narrow(1, i, 1)?.sum_all()?.backward()?;
        // No gradient entry means output i does not depend on x at all.
        let row = match grads.get(var.as_tensor()) {
            Some(g) => g.clone(),
            None => Tensor::zeros((c, d_in), x.dtype(), x.device())?,
        };
        rows.push(row); // (c, d_in)
    }
    Ok(Tensor::stack(&rows, 1)?) // (c, d_out, d_in)
}

/// A copy of the model whose parameters are plain (detached) tensors, so backward stops at x.
fn detached(model: &Model) -> Result<Model> {
    Ok(model.to_dtype(model.dtype())?)
}

/// Autograd Jacobian of the FFN output u = F(h) at `h (n, d)` → `(n, d, d)`.
///
/// Top-k selection is computed by the model on detached logits, so this differentiates the
/// gates on the fixed selected set (the straight-through convention of SPEC §2.7).
pub fn layer_jacobian_autograd(model: &Model, h: &Tensor, chunk: usize) -> Result<Tensor> {
    check_rows(h, model.spec().d, "h (router inputs)")?;
    let m = detached(model)?;
    let f = |t: &Tensor| -> candle_core::Result<Tensor> { m.ffn(t).map(|tr| tr.out).map_err(candle_core::Error::wrap) };
    vjp_jacobian(&f, h, chunk)
}

/// Autograd Jacobian of expert `expert`'s own output E_e(h) at `h (n, d)` → `(n, d, d)`.
pub fn expert_jacobian_autograd(model: &Model, h: &Tensor, expert: usize, chunk: usize) -> Result<Tensor> {
    check_rows(h, model.spec().d, "h (router inputs)")?;
    let experts = model.params().w1.dim(0)?;
    if expert >= experts {
        return Err(Error::InvalidArgument {
            name: "expert",
            msg: format!("index {expert} but the model has {experts} expert(s)"),
        });
    }
    let m = detached(model)?;
    let f = |t: &Tensor| -> candle_core::Result<Tensor> {
        let tr = m.ffn(t).map_err(candle_core::Error::wrap)?;
        tr.expert_out.narrow(1, expert, 1)?.squeeze(1) // (c, d)
    };
    vjp_jacobian(&f, h, chunk)
}

/// Autograd Jacobian of the whole network y(x) at `x (n, d_in)` → `(n, d_out, d_in)`.
pub fn model_jacobian_autograd(model: &Model, x: &Tensor, chunk: usize) -> Result<Tensor> {
    check_rows(x, model.spec().d_in, "x (model inputs)")?;
    let m = detached(model)?;
    let f =
        |t: &Tensor| -> candle_core::Result<Tensor> { m.forward(t).map(|tr| tr.y).map_err(candle_core::Error::wrap) };
    vjp_jacobian(&f, x, chunk)
}

/// Every field of [`LayerJacobians`] through autograd: each J_e and J_F by per-output VJPs,
/// and the gate-derivative term as J_F − Σ_e g_e J_e. The general path behind
/// `probe.jacobian: autograd`; it agrees with [`crate::layer_jacobians`] to 1e-6 (tests).
pub fn layer_jacobians_autograd(model: &Model, h: &Tensor, chunk: usize) -> Result<LayerJacobians> {
    check_rows(h, model.spec().d, "h (router inputs)")?;
    let trace = model.ffn(h)?;
    let experts = model.params().w1.dim(0)?;
    let per_expert = (0..experts)
        .map(|e| expert_jacobian_autograd(model, h, e, chunk))
        .collect::<Result<Vec<_>>>()?; // E × (n, d, d)
    let expert = Tensor::stack(&per_expert, 1)?; // (n, E, d, d)
    let full = layer_jacobian_autograd(model, h, chunk)?; // (n, d, d)
    let g = trace.gates.contiguous()?; // (n, E)
    let gate_term = (&full - crate::closed_form::gate_mix(&g, &expert)?)?;
    let margin = crate::closed_form::routing_margin(&trace)?;
    Ok(LayerJacobians {
        expert,
        gate_term,
        full,
        gates: g,
        selected: trace.selected,
        expert_out: trace.expert_out,
        margin,
    })
}
