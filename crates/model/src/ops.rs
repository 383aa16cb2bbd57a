//! Routing and loss primitives shared by the model, the training loop and the probe.

use crate::error::{invalid, Error, Result};
use crate::gelu::{GeluTanh, GeluTanhDerivative};
use candle_core::{DType, Tensor, D};
use moescope_config::Activation;

/// Top-k selection mask (…, n, E) with ties broken toward the lower index, computed on the
/// device without host round trips: rank_e = #{j: s_j > s_e} + #{j < e: s_j = s_e}; selected iff
/// rank_e < k. Leading axes (e.g. a stack of models) are independent rows. The result has the
/// logits' dtype (1.0 selected, 0.0 not) and carries no gradient.
pub fn topk_mask(logits: &Tensor, k: usize) -> Result<Tensor> {
    let e = last_dim("logits", logits)?;
    if k == 0 || k > e {
        return Err(invalid("k", format!("1 ≤ k ≤ E = {e}"), k));
    }
    let s = logits.detach().flatten_to(D::Minus2)?; // (rows, E); a no-op for rank 2
    let s_e = s.unsqueeze(2)?; // (rows, E, 1): the candidate e
    let s_j = s.unsqueeze(1)?; // (rows, 1, E): its competitor j
    let greater = s_j.broadcast_gt(&s_e)?.to_dtype(DType::F32)?; // (rows, E, E)
    let equal = s_j.broadcast_eq(&s_e)?.to_dtype(DType::F32)?; // (rows, E, E)
    let lower: Vec<f32> = (0..e * e).map(|i| if i % e < i / e { 1.0 } else { 0.0 }).collect();
    let lower = Tensor::from_vec(lower, (e, e), s.device())?; // [e, j] = 1 iff j < e
    let rank = (greater + equal.broadcast_mul(&lower)?)?.sum(D::Minus1)?; // (rows, E)
    Ok(rank.lt(k as f64)?.to_dtype(logits.dtype())?.reshape(logits.dims())?)
}

/// Switch load-balancing loss (SPEC §2.6, without α): E · Σ_e f_e P_e, with
/// f_e = mean_i selected_ie / k (no gradient) and P_e = mean_i probs_ie, the means over the
/// points axis. probs and selected are (n, E) → scalar tensor, or (S, n, E) for a stack of S
/// models → (S), one loss per model.
pub fn switch_loss(probs: &Tensor, selected: &Tensor, k: usize) -> Result<Tensor> {
    let e = last_dim("probs", probs)?;
    if selected.dims() != probs.dims() {
        return Err(shape_err("selected", probs.dims(), selected.dims()));
    }
    if k == 0 {
        return Err(invalid("k", "k ≥ 1", k));
    }
    let points = probs.rank() - 2;
    let f = (selected.detach().to_dtype(probs.dtype())?.mean(points)? / k as f64)?; // (…, E)
    let p = probs.mean(points)?; // (…, E)
    Ok(((f * p)?.sum(D::Minus1)? * e as f64)?)
}

/// Router z-loss (ST-MoE): mean_i (logsumexp_e s_ie)². logits (n, E) → scalar tensor, or
/// (S, n, E) → (S), one loss per model.
pub fn z_loss(logits: &Tensor) -> Result<Tensor> {
    last_dim("logits", logits)?;
    let lse2 = logits.log_sum_exp(D::Minus1)?.sqr()?; // (…, n)
    Ok((lse2.sum(D::Minus1)? / lse2.dim(D::Minus1)? as f64)?) // = mean_all for rank 2
}

/// The last dimension of a tensor of rank ≥ 2 (…, n, E), or a shape error naming it.
fn last_dim(name: &str, t: &Tensor) -> Result<usize> {
    if t.rank() < 2 {
        return Err(Error::Shape {
            name: name.to_string(),
            expected: "a tensor of rank ≥ 2 (…, n, E)".into(),
            got: format!("{:?}", t.dims()),
        });
    }
    Ok(t.dim(D::Minus1)?)
}

/// φ(a) elementwise: GELU (tanh approximation) or ReLU.
///
/// GELU on CPU F32/F64 is one fused op (module `gelu`) whose backward is the exact φ'(a)
/// below; elsewhere it is built from elementary ops. Not candle's fused `gelu`: candle 0.11's
/// gelu backward uses 6-digit constants (≈2e-6 relative error), which would make the autograd
/// Jacobian disagree with the exact closed form beyond the 1e-6 the probe promises.
pub fn activation(a: &Tensor, act: Activation) -> Result<Tensor> {
    Ok(match act {
        Activation::Gelu if fused_gelu(a) => a.contiguous()?.apply_op1(GeluTanh)?,
        Activation::Gelu => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            let u = ((a * ((a.sqr()? * 0.044715)? + 1.0)?)? * c)?;
            ((a * 0.5)? * (u.tanh()? + 1.0)?)?
        }
        Activation::Relu => a.relu()?,
    })
}

/// Whether the fused CPU GELU kernels handle `a` (F32/F64 on the CPU).
fn fused_gelu(a: &Tensor) -> bool {
    a.device().is_cpu() && matches!(a.dtype(), DType::F32 | DType::F64)
}

/// φ'(a), same shape and dtype as `a`. ReLU uses 1[a ≥ 0], the convention of candle's autograd,
/// so the closed-form and autograd Jacobians agree even at a = 0. GELU (tanh approximation):
/// with u = c(a + 0.044715 a³), c = √(2/π), φ'(a) = ½(1 + tanh u) + ½ a (1 − tanh² u) c (1 + 3·0.044715 a²).
/// On CPU F32/F64 this is the same fused kernel the GELU backward uses (no gradient through it).
pub fn activation_derivative(a: &Tensor, act: Activation) -> Result<Tensor> {
    match act {
        Activation::Relu => Ok(a.ge(0.0)?.to_dtype(a.dtype())?),
        Activation::Gelu if fused_gelu(a) => Ok(a.contiguous()?.apply_op1_no_bwd(&GeluTanhDerivative)?),
        Activation::Gelu => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            let a2 = a.sqr()?;
            let u = ((a * ((&a2 * 0.044715)? + 1.0)?)? * c)?;
            let t = u.tanh()?;
            let first = ((&t + 1.0)? * 0.5)?;
            let sech2 = (1.0 - t.sqr()?)?; // 1 − tanh² u
            let du = ((a2 * (3.0 * 0.044715 * c))? + c)?; // du/da
            let second = ((a * sech2)? * du)?.affine(0.5, 0.0)?;
            Ok((first + second)?)
        }
    }
}

/// (rows, cols) of a rank-2 tensor, or a shape error naming it.
pub(crate) fn dims2(name: &str, t: &Tensor) -> Result<(usize, usize)> {
    t.dims2().map_err(|_| Error::Shape {
        name: name.to_string(),
        expected: "a rank-2 tensor (n, ·)".into(),
        got: format!("{:?}", t.dims()),
    })
}

pub(crate) fn shape_err(name: &str, expected: &[usize], got: &[usize]) -> Error {
    Error::Shape {
        name: name.to_string(),
        expected: format!("{expected:?}"),
        got: format!("{got:?}"),
    }
}
