//! Closed-form Jacobians of the MLP-MoE (SPEC §4), as batched tensor ops on the model's device.
//!
//! Shapes: router inputs `h (n, d)`; experts stacked `W1 (E, m, d)`, `b1 (E, m)`, `W2 (E, d, m)`,
//! router `W_r (E, d)`. Outputs `(n, E, d, d)` per expert and `(n, d, d)` for the layer.
//!
//! - expert:    J_e(h) = W2_e diag(φ'(a_e)) W1_e,  a_e = W1_e h + b1_e          (SPEC §4.1)
//! - gate term: Σ_e E_e(h) (∇_h g_e)ᵀ                                           (SPEC §4.3)
//! - layer:     J_F(h) = Σ_e g_e J_e(h) + gate term
//!
//! The three §4.3 gate derivatives share one form. With g the model's gates (zero outside the
//! selected set S) and q the distribution the gate is normalised over,
//! `∂g_e/∂h = (1/τ) g_e (W_r[e,:] − qᵀ W_r)`:
//! soft (q = g = p), Top-k renormalised (q = g, rows outside S vanish because g_e = 0 there),
//! Top-k non-renormalised (q = p, the full softmax, and g_e = p_e on S, 0 elsewhere).

use crate::finite::check_finite;
use crate::{Error, Result};
use candle_core::{DType, Tensor, D};
use moescope_model::{activation_derivative, FfnTrace, Model};

/// Closed-form Jacobians of the FFN block at one chunk of router inputs.
#[derive(Debug, Clone)]
pub struct LayerJacobians {
    /// `(n, E, d, d)`: J_e(h) = W2_e diag(φ'(a_e)) W1_e for every expert, not gate-scaled.
    pub expert: Tensor,
    /// `(n, d, d)`: Σ_e E_e(h) (∇_h g_e)ᵀ; zero for the dense model.
    pub gate_term: Tensor,
    /// `(n, d, d)`: J_F = Σ_e g_e J_e + gate_term (the FFN part, without the residual I).
    pub full: Tensor,
    /// `(n, E)`: the gates g(h) (ones `(n, 1)` for dense).
    pub gates: Tensor,
    /// `(n, E)`: 1.0 where e ∈ S(h) (all ones for soft and dense).
    pub selected: Tensor,
    /// `(n, E, d)`: E_e(h), every expert's output whatever the routing (from the same FFN pass,
    /// so callers need not run it again).
    pub expert_out: Tensor,
    /// `(n,)`: Top-k routing margin s_(k) − s_(k+1), i.e. min selected logit − max unselected
    /// logit; `None` for soft, dense, or k = E (no unselected expert).
    pub margin: Option<Tensor>,
}

/// Checks that `t` is `(n, width)` and returns `n`.
pub(crate) fn check_rows(t: &Tensor, width: usize, what: &'static str) -> Result<usize> {
    match t.dims() {
        [n, w] if *w == width => Ok(*n),
        dims => Err(Error::Shape {
            what,
            expected: format!("(n, {width})"),
            got: dims.to_vec(),
        }),
    }
}

/// Checks that the model's parameters and `t` share a dtype (the probe never casts silently).
fn check_dtype(model: &Model, t: &Tensor, what: &'static str) -> Result<()> {
    if t.dtype() != model.dtype() {
        return Err(Error::InvalidArgument {
            name: what,
            msg: format!(
                "dtype {:?} differs from the model's {:?}; convert one of them",
                t.dtype(),
                model.dtype()
            ),
        });
    }
    Ok(())
}

/// J_e for stacked experts: `h (n, d)`, `w1 (E, m, d)`, `b1 (E, m)`, `w2 (E, d, m)` → `(n, E, d, d)`.
///
/// Batched over E (not n): the per-point diagonal scales W2_e's columns, then one matmul per
/// expert with the point rows stacked, `(E, n·d, m) @ (E, m, d)`.
fn stacked_expert_jacobians(model: &Model, h: &Tensor, w1: &Tensor, b1: &Tensor, w2: &Tensor) -> Result<Tensor> {
    let (e, m, d) = w1.dims3()?;
    let n = h.dim(0)?;
    let a = h
        .matmul(&w1.reshape((e * m, d))?.t()?)?
        .broadcast_add(&b1.reshape((1, e * m))?)?; // (n, E·m)
    let dphi = activation_derivative(&a, model.spec().activation)?.reshape((n, e, m))?;
    // W2_e diag(φ'(a_e)), written straight in the expert-major order the matmul wants (the
    // broadcast's output is fresh and contiguous, so no permuting copy of this n·E·d·m tensor).
    let dphi = dphi.transpose(0, 1)?.unsqueeze(2)?; // (E, n, 1, m), a strided view
    let scaled = dphi.broadcast_mul(&w2.unsqueeze(1)?)?.reshape((e, n * d, m))?; // (E, n·d, m)
    let jac = scaled.matmul(&w1.contiguous()?)?; // (E, n·d, d)
    Ok(jac.reshape((e, n, d, d))?.permute((1, 0, 2, 3))?.contiguous()?)
}

/// `(n, E, d)`: ∂g_e/∂h for every expert (the unified §4.3 form in the module docs).
fn gate_gradients(model: &Model, trace: &FfnTrace, wr: &Tensor) -> Result<Tensor> {
    let spec = model.spec();
    let missing = |what: &str| Error::InvalidArgument {
        name: "model",
        msg: format!("routed model's FFN trace has no {what}"),
    };
    let probs = trace.probs.as_ref().ok_or_else(|| missing("probs"))?;
    let g = &trace.gates; // (n, E)
    let q = if spec.topk_renorm { g } else { probs };
    let q_wr = q.matmul(wr)?.unsqueeze(1)?; // (n, 1, d): qᵀ W_r
    let centred = wr.unsqueeze(0)?.broadcast_sub(&q_wr)?; // (n, E, d): W_r[e,:] − qᵀ W_r
    let grad = centred.broadcast_mul(&g.unsqueeze(2)?)?; // (n, E, d)
    Ok((grad / spec.temperature)?)
}

/// Σ_e g_e J_e for gates `(n, E)` and expert Jacobians `(n, E, d, d)` → `(n, d, d)`.
pub(crate) fn gate_mix(g: &Tensor, expert: &Tensor) -> Result<Tensor> {
    let (n, e, d, _) = expert.dims4()?;
    Ok(g.unsqueeze(1)?
        .matmul(&expert.reshape((n, e, d * d))?)?
        .reshape((n, d, d))?)
}

/// `(n,)` margin min_{e∈S} s_e − max_{e∉S} s_e, or `None` when every expert is selected.
pub(crate) fn routing_margin(trace: &FfnTrace) -> Result<Option<Tensor>> {
    let Some(logits) = trace.logits.as_ref() else {
        return Ok(None);
    };
    let sel = &trace.selected; // (n, E), same dtype as the logits
                               // One scalar back to the host: does any unselected expert exist (k < E)?
    let unselected = sel
        .affine(-1.0, 1.0)?
        .sum_all()?
        .to_dtype(DType::F64)?
        .to_scalar::<f64>()?;
    if unselected == 0.0 {
        return Ok(None);
    }
    let mask = sel.ne(0.0)?; // u8 (n, E)
    let pos_inf = Tensor::full(f64::INFINITY, logits.shape(), logits.device())?.to_dtype(logits.dtype())?;
    let neg_inf = pos_inf.neg()?;
    let min_sel = mask.where_cond(logits, &pos_inf)?.min(D::Minus1)?; // (n,)
    let max_unsel = mask.where_cond(&neg_inf, logits)?.max(D::Minus1)?; // (n,)
    Ok(Some((min_sel - max_unsel)?))
}

/// Closed-form Jacobians of u = F(h) at router inputs `h (n, d)` (SPEC §4.1–4.3).
///
/// Runs in the model's dtype and on its device; pass an F64 copy (`model.to_dtype(DType::F64)`)
/// for the §4.4 accuracy. Top-k uses the straight-through convention: the selection at `h` is
/// held fixed. Errors: wrong shape or dtype of `h`; `NonFinite { stage: "jacobian" }`.
pub fn layer_jacobians(model: &Model, h: &Tensor) -> Result<LayerJacobians> {
    let spec = model.spec();
    let d = spec.d;
    let n = check_rows(h, d, "h (router inputs)")?;
    check_dtype(model, h, "h")?;
    let p = model.params();
    let trace = model.ffn(h)?;
    let expert = stacked_expert_jacobians(model, h, &p.w1, &p.b1, &p.w2)?; // (n, E, d, d)
    let g = trace.gates.contiguous()?; // (n, E)
    let mixed = gate_mix(&g, &expert)?; // Σ_e g_e J_e
    let (gate_term, margin) = match p.wr.as_ref() {
        None => (Tensor::zeros((n, d, d), h.dtype(), h.device())?, None),
        Some(wr) => {
            let grad = gate_gradients(model, &trace, wr)?; // (n, E, d)
            let outs_t = trace.expert_out.transpose(1, 2)?.contiguous()?; // (n, d, E)
            (outs_t.matmul(&grad)?, routing_margin(&trace)?)
        }
    };
    let full = (mixed + &gate_term)?;
    check_finite(&expert, "jacobian")?;
    check_finite(&full, "jacobian")?;
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

/// Validates a hidden-unit permutation of length `hidden`.
fn check_permutation(perm: &[usize], hidden: usize) -> Result<()> {
    let mut seen = vec![false; hidden];
    if perm.len() != hidden {
        return Err(Error::InvalidArgument {
            name: "perm",
            msg: format!("length {} but the dense hidden width is {hidden}", perm.len()),
        });
    }
    for &i in perm {
        if i >= hidden || std::mem::replace(&mut seen[i], true) {
            return Err(Error::InvalidArgument {
                name: "perm",
                msg: format!("not a permutation of 0..{hidden}: entry {i} is out of range or repeated"),
            });
        }
    }
    Ok(())
}

/// SPEC §5.4 dense-partition groups J_{D,g} = W2[:,g] diag(φ'(a_g)) W1[g,:] → `(n, G, d, d)`.
///
/// The H dense hidden units (optionally reordered by the permutation `perm`) are split into
/// `groups` consecutive groups of m = H / groups units; Σ_g J_{D,g} = J_D. Dense models only.
pub fn dense_group_jacobians(model: &Model, h: &Tensor, groups: usize, perm: Option<&[usize]>) -> Result<Tensor> {
    let p = model.params();
    let (e, hidden, d) = p.w1.dims3()?;
    if p.wr.is_some() || e != 1 {
        return Err(Error::InvalidArgument {
            name: "model",
            msg: format!("dense model expected, got {e} routed experts"),
        });
    }
    if groups == 0 || hidden % groups != 0 {
        return Err(Error::InvalidArgument {
            name: "groups",
            msg: format!("{groups} does not divide the dense hidden width {hidden}"),
        });
    }
    check_rows(h, d, "h (router inputs)")?;
    check_dtype(model, h, "h")?;
    let (mut w1, mut b1, mut w2) = (p.w1.squeeze(0)?, p.b1.squeeze(0)?, p.w2.squeeze(0)?); // (H,d) (H) (d,H)
    if let Some(perm) = perm {
        check_permutation(perm, hidden)?;
        let idx: Vec<u32> = perm.iter().map(|&i| i as u32).collect();
        let idx = Tensor::from_vec(idx, hidden, h.device())?;
        w1 = w1.index_select(&idx, 0)?;
        b1 = b1.index_select(&idx, 0)?;
        w2 = w2.index_select(&idx, 1)?;
    }
    let m = hidden / groups;
    let w1g = w1.reshape((groups, m, d))?;
    let b1g = b1.reshape((groups, m))?;
    let w2g = w2.reshape((d, groups, m))?.transpose(0, 1)?.contiguous()?; // (G, d, m)
    let jac = stacked_expert_jacobians(model, h, &w1g, &b1g, &w2g)?;
    check_finite(&jac, "jacobian")?;
    Ok(jac)
}

/// End-to-end dy/dx `(n, d_out, d_in)` in closed form (SPEC §4.3):
/// W_out (I·[residual] + J_F(h)) diag(φ'(W0 x + b0)) W0, with the encoder factor dropped when
/// the model has no encoder (h = x).
pub fn model_jacobian(model: &Model, x: &Tensor) -> Result<Tensor> {
    check_rows(x, model.spec().d_in, "x (model inputs)")?;
    check_dtype(model, x, "x")?;
    let h = model.encode(x)?; // (n, d)
    let layer = layer_jacobians(model, &h)?.full; // (n, d, d)
    model_jacobian_from_layer(model, x, &layer)
}

/// [`model_jacobian`] from an already computed layer Jacobian `layer (n, d, d)`, the `full`
/// field of [`layer_jacobians`] at h = encode(x), so a caller that needs both computes the
/// layer Jacobians once. `layer` must come from the same `x` (only its shape is checked).
pub fn model_jacobian_from_layer(model: &Model, x: &Tensor, layer: &Tensor) -> Result<Tensor> {
    let spec = model.spec();
    let n = check_rows(x, spec.d_in, "x (model inputs)")?;
    check_dtype(model, x, "x")?;
    check_dtype(model, layer, "layer")?;
    if layer.dims() != [n, spec.d, spec.d] {
        return Err(Error::Shape {
            what: "layer (layer Jacobian)",
            expected: format!("({n}, {}, {})", spec.d, spec.d),
            got: layer.dims().to_vec(),
        });
    }
    let p = model.params();
    let block = match spec.residual {
        true => layer.broadcast_add(&Tensor::eye(spec.d, x.dtype(), x.device())?)?,
        false => layer.clone(),
    }; // (n, d, d)
    let out = p.wout.broadcast_matmul(&block)?; // (n, d_out, d)
    let jac = match (p.w0.as_ref(), p.b0.as_ref()) {
        (Some(w0), Some(b0)) => {
            let pre = x.matmul(&w0.t()?)?.broadcast_add(b0)?; // (n, d)
            let dphi = activation_derivative(&pre, spec.activation)?; // (n, d)
            let enc = dphi.unsqueeze(2)?.broadcast_mul(&w0.unsqueeze(0)?)?; // (n, d, d_in)
            out.matmul(&enc)?
        }
        _ => out,
    };
    debug_assert_eq!(jac.dims(), &[n, spec.d_out, spec.d_in]);
    check_finite(&jac, "jacobian")?;
    Ok(jac)
}
