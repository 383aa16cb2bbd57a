//! [`Model`]: parameters plus the forward pass of SPEC §2.1.

use crate::error::{invalid, Error, Result};
use crate::ops::{activation, dims2, shape_err, topk_mask};
use crate::spec::{ModelSpec, ParamCounts};
use candle_core::{DType, Device, Tensor, Var, D};
use moescope_config::Routing;

/// The parameters, in the math convention of SPEC §2 (weights are (out, in)). The checkpoint
/// names are given per field.
#[derive(Debug, Clone)]
pub struct Params {
    /// `encoder.weight` (d, d_in); `None` without an encoder.
    pub w0: Option<Tensor>,
    /// `encoder.bias` (d).
    pub b0: Option<Tensor>,
    /// `ffn.w1` (E, m, d): first layer of every expert, stacked.
    pub w1: Tensor,
    /// `ffn.b1` (E, m).
    pub b1: Tensor,
    /// `ffn.w2` (E, d, m): second layer of every expert, stacked.
    pub w2: Tensor,
    /// `ffn.b2` (E, d).
    pub b2: Tensor,
    /// `router.weight` (E, d); `None` for dense.
    pub wr: Option<Tensor>,
    /// `router.bias` (E).
    pub br: Option<Tensor>,
    /// `readout.weight` (d_out, d).
    pub wout: Tensor,
    /// `readout.bias` (d_out).
    pub bout: Tensor,
}

impl Params {
    /// (checkpoint name, tensor) of every parameter present, in a fixed order.
    pub fn named(&self) -> Vec<(&'static str, &Tensor)> {
        let mut out = Vec::with_capacity(10);
        let optional = [("encoder.weight", &self.w0), ("encoder.bias", &self.b0)];
        out.extend(optional.into_iter().filter_map(|(n, t)| t.as_ref().map(|t| (n, t))));
        out.extend([
            ("ffn.w1", &self.w1),
            ("ffn.b1", &self.b1),
            ("ffn.w2", &self.w2),
            ("ffn.b2", &self.b2),
        ]);
        let router = [("router.weight", &self.wr), ("router.bias", &self.br)];
        out.extend(router.into_iter().filter_map(|(n, t)| t.as_ref().map(|t| (n, t))));
        out.extend([("readout.weight", &self.wout), ("readout.bias", &self.bout)]);
        out
    }

    /// Applies `f` to every tensor present (same structure out).
    pub(crate) fn try_map(&self, mut f: impl FnMut(&Tensor) -> Result<Tensor>) -> Result<Params> {
        let mut opt = |t: &Option<Tensor>| t.as_ref().map(&mut f).transpose();
        Ok(Params {
            w0: opt(&self.w0)?,
            b0: opt(&self.b0)?,
            wr: opt(&self.wr)?,
            br: opt(&self.br)?,
            w1: f(&self.w1)?,
            b1: f(&self.b1)?,
            w2: f(&self.w2)?,
            b2: f(&self.b2)?,
            wout: f(&self.wout)?,
            bout: f(&self.bout)?,
        })
    }

    /// Combines the same parameter of every `ps` with `f` (e.g. stacks them), present where it is
    /// present in all of them; `ps` must hold the parameters of one spec.
    pub(crate) fn try_zip_map(ps: &[&Params], mut f: impl FnMut(&[&Tensor]) -> Result<Tensor>) -> Result<Params> {
        let mut field = |get: fn(&Params) -> Option<&Tensor>| -> Result<Option<Tensor>> {
            match ps.iter().map(|p| get(p)).collect::<Option<Vec<_>>>() {
                Some(ts) if !ts.is_empty() => f(&ts).map(Some),
                _ => Ok(None),
            }
        };
        let (w0, b0) = (field(|p| p.w0.as_ref())?, field(|p| p.b0.as_ref())?);
        let (wr, br) = (field(|p| p.wr.as_ref())?, field(|p| p.br.as_ref())?);
        let (w1, b1) = (field(|p| Some(&p.w1))?, field(|p| Some(&p.b1))?);
        let (w2, b2) = (field(|p| Some(&p.w2))?, field(|p| Some(&p.b2))?);
        let (wout, bout) = (field(|p| Some(&p.wout))?, field(|p| Some(&p.bout))?);
        let req = |t: Option<Tensor>| t.ok_or_else(|| invalid("params", "at least one set of parameters", 0));
        Ok(Params {
            w0,
            b0,
            wr,
            br,
            w1: req(w1)?,
            b1: req(b1)?,
            w2: req(w2)?,
            b2: req(b2)?,
            wout: req(wout)?,
            bout: req(bout)?,
        })
    }

    /// The shape every parameter must have under `spec` (None: must be absent).
    fn expected(spec: &ModelSpec) -> Vec<(&'static str, Option<Vec<usize>>)> {
        let (d, e, m, o) = (spec.d, spec.experts, spec.hidden, spec.d_out);
        let enc = |s: Vec<usize>| spec.encoder.then_some(s);
        let rt = |s: Vec<usize>| spec.has_router().then_some(s);
        vec![
            ("encoder.weight", enc(vec![d, spec.d_in])),
            ("encoder.bias", enc(vec![d])),
            ("ffn.w1", Some(vec![e, m, d])),
            ("ffn.b1", Some(vec![e, m])),
            ("ffn.w2", Some(vec![e, d, m])),
            ("ffn.b2", Some(vec![e, d])),
            ("router.weight", rt(vec![e, d])),
            ("router.bias", rt(vec![e])),
            ("readout.weight", Some(vec![o, d])),
            ("readout.bias", Some(vec![o])),
        ]
    }

    /// Checks presence, shapes, dtype (f32 or f64, all equal) and device against `spec`.
    pub(crate) fn validate(&self, spec: &ModelSpec) -> Result<()> {
        let named = self.named();
        let (dtype, device) = (self.w1.dtype(), self.w1.device());
        if !matches!(dtype, DType::F32 | DType::F64) {
            return Err(Error::Shape {
                name: "ffn.w1".into(),
                expected: "dtype f32 or f64".into(),
                got: format!("{dtype:?}"),
            });
        }
        for (name, shape) in Self::expected(spec) {
            let found = named.iter().find(|(n, _)| *n == name).map(|(_, t)| *t);
            match (shape, found) {
                (None, None) => {}
                (Some(s), Some(t)) if t.dims() != s.as_slice() => return Err(shape_err(name, &s, t.dims())),
                (Some(_), Some(t)) if t.dtype() != dtype || !t.device().same_device(device) => {
                    return Err(Error::Shape {
                        name: name.into(),
                        expected: format!("dtype {dtype:?} on {device:?} like ffn.w1"),
                        got: format!("{:?} on {:?}", t.dtype(), t.device()),
                    })
                }
                (Some(_), Some(_)) => {}
                (s, _) => {
                    return Err(Error::Shape {
                        name: name.into(),
                        expected: if s.is_some() {
                            "present for this spec"
                        } else {
                            "absent for this spec"
                        }
                        .into(),
                        got: if s.is_some() { "absent" } else { "present" }.into(),
                    })
                }
            }
        }
        Ok(())
    }
}

/// A network: its spec and parameters. Cheap to clone (tensors are reference counted).
#[derive(Debug, Clone)]
pub struct Model {
    spec: ModelSpec,
    params: Params,
}

/// What the FFN block computed on router inputs h (n, d).
#[derive(Debug, Clone)]
pub struct FfnTrace {
    /// (n, E) router logits s = (W_r h + b_r)/τ; `None` for dense.
    pub logits: Option<Tensor>,
    /// (n, E) full softmax of s; `None` for dense.
    pub probs: Option<Tensor>,
    /// (n, E) gates g: soft = probs; Top-k = softmax over S (or raw probs on S), 0 elsewhere;
    /// dense = ones (n, 1).
    pub gates: Tensor,
    /// (n, E) 1.0 where e ∈ S(h) (all ones for soft and dense), same dtype as the model.
    pub selected: Tensor,
    /// (n, E, d) E_e(h) for every expert, computed densely.
    pub expert_out: Tensor,
    /// (n, d) u = Σ_e g_e E_e(h).
    pub out: Tensor,
}

/// What the whole network computed on inputs x (n, d_in).
#[derive(Debug, Clone)]
pub struct ForwardTrace {
    /// (n, d) router input h.
    pub h: Tensor,
    /// The FFN block on h.
    pub ffn: FfnTrace,
    /// (n, d) z = h + u (or u without the residual).
    pub z: Tensor,
    /// (n, d_out) readout y = W_out z + b_out.
    pub y: Tensor,
}

/// Router outputs: logits, probs (None for dense), gates and selection (n, E).
pub(crate) struct Routed {
    pub logits: Option<Tensor>,
    pub probs: Option<Tensor>,
    pub gates: Tensor,
    pub selected: Tensor,
}

/// x (…, n, in) · wᵀ (…, in, out) + b (…, out) → (…, n, out), for a single model (no leading
/// axis) or a stack (leading axis S on x, w and b: batched matmuls). The bias enters as
/// ones(…, n, 1)·b (…, 1, out), so its gradient is a matmul rather than candle's slow strided
/// batch-dim sum.
pub(crate) fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    let ones = Tensor::ones(lead_shape(x, &[x.dim(D::Minus2)?, 1])?, x.dtype(), x.device())?;
    let b_row = b.unsqueeze(b.rank() - 1)?; // (…, 1, out)
    Ok((x.matmul(&w.t()?)? + ones.matmul(&b_row)?)?)
}

/// The leading (model) axes of `t` — all but its last two — followed by `tail`.
fn lead_shape(t: &Tensor, tail: &[usize]) -> Result<Vec<usize>> {
    let lead = t.rank().checked_sub(2).ok_or_else(|| Error::Shape {
        name: "input".into(),
        expected: "a tensor of rank ≥ 2 (…, n, ·)".into(),
        got: format!("{:?}", t.dims()),
    })?;
    Ok([&t.dims()[..lead], tail].concat())
}

/// The forward-pass internals on parameters that are either one model's (shapes as in
/// [`Params`]) or S models' stacked along a new leading axis (every shape prefixed by S). Inputs
/// are then (n, ·) or (S, n, ·) respectively; every op below is written over "leading axes, then
/// the points axis, then features", so one code path serves both, and the single-model path
/// runs exactly the ops it always did.
#[derive(Clone, Copy)]
pub(crate) struct Net<'a> {
    pub spec: &'a ModelSpec,
    pub params: &'a Params,
}

impl Net<'_> {
    /// h = φ(W0 x + b0) (…, n, d), or x itself without an encoder; x already checked/converted.
    pub(crate) fn encode(&self, x: &Tensor) -> Result<Tensor> {
        match (&self.params.w0, &self.params.b0) {
            (Some(w), Some(b)) => activation(&linear(x, w, b)?, self.spec.activation),
            _ => Ok(x.clone()),
        }
    }

    /// Routing on h (…, n, d): logits, probs, gates and selection (…, n, E).
    pub(crate) fn route(&self, h: &Tensor) -> Result<Routed> {
        let (wr, br) = match (&self.params.wr, &self.params.br, self.spec.routing) {
            (Some(w), Some(b), r) if r != Routing::Dense => (w, b),
            _ => {
                let ones = Tensor::ones(lead_shape(h, &[h.dim(D::Minus2)?, 1])?, h.dtype(), h.device())?;
                return Ok(Routed {
                    logits: None,
                    probs: None,
                    gates: ones.clone(),
                    selected: ones,
                });
            }
        };
        let logits = (linear(h, wr, br)? / self.spec.temperature)?; // (…, n, E)
        let probs = candle_nn::ops::softmax(&logits, D::Minus1)?; // NOT softmax_last_dim: no backward
        let (gates, selected) = match self.spec.routing {
            Routing::TopK { k } => {
                let selected = topk_mask(&logits, k)?; // selection itself not differentiated (SPEC §2.7)
                let masked = (&probs * &selected)?;
                let gates = if self.spec.topk_renorm {
                    masked.broadcast_div(&masked.sum_keepdim(D::Minus1)?)? // = softmax over S
                } else {
                    masked
                };
                (gates, selected)
            }
            _ => (probs.clone(), probs.ones_like()?),
        };
        Ok(Routed {
            logits: Some(logits),
            probs: Some(probs),
            gates,
            selected,
        })
    }

    /// The parameters' leading (model) axes: [] for one model, [S] for a stack.
    fn lead(&self) -> &[usize] {
        let w1 = self.params.w1.dims(); // (…, E, m, d)
        &w1[..w1.len().saturating_sub(3)]
    }

    /// Hidden activations of every expert, φ(W1_e h + b1_e), side by side: (…, n, E·m).
    fn expert_hidden(&self, h: &Tensor) -> Result<Tensor> {
        let (e, m, d) = (self.spec.experts, self.spec.hidden, self.spec.d);
        let w1 = self.params.w1.reshape([self.lead(), &[e * m, d]].concat())?; // (…, E·m, d)
        let b1 = self.params.b1.reshape([self.lead(), &[e * m]].concat())?; // (…, E·m)
        activation(&linear(h, &w1, &b1)?, self.spec.activation)
    }

    /// u = Σ_e g_e (W2_e a_e + b2_e) from a (…, n, E·m) and g (…, n, E), as one matmul: the gates
    /// scale the hidden units, and W2 is laid out as (…, E·m, d).
    fn mix(&self, act: &Tensor, gates: &Tensor) -> Result<Tensor> {
        let n = act.dim(D::Minus2)?;
        let (e, m, d) = (self.spec.experts, self.spec.hidden, self.spec.d);
        let scaled = match self.spec.routing {
            Routing::Dense => act.clone(),
            _ => act
                .reshape(lead_shape(act, &[n, e, m])?)?
                .broadcast_mul(&gates.unsqueeze(gates.rank())?)?
                .reshape(lead_shape(act, &[n, e * m])?)?,
        };
        let w2 = self.params.w2.transpose(D::Minus2, D::Minus1)?.contiguous()?; // (…, E, m, d)
        let w2 = w2.reshape([self.lead(), &[e * m, d]].concat())?; // (…, E·m, d)
        Ok((scaled.matmul(&w2)? + gates.matmul(&self.params.b2)?)?) // (…, n, d)
    }

    /// z = h + u (or u) → y = W_out z + b_out.
    fn readout(&self, h: &Tensor, u: &Tensor) -> Result<(Tensor, Tensor)> {
        let z = if self.spec.residual { (h + u)? } else { u.clone() };
        let y = linear(&z, &self.params.wout, &self.params.bout)?;
        Ok((z, y))
    }

    /// The network without the per-expert outputs (training and evaluation) on x (…, n, d_in)
    /// already in the parameters' dtype: y (…, n, d_out) and the routing.
    pub(crate) fn forward_lean(&self, x: &Tensor) -> Result<(Tensor, Routed)> {
        let h = self.encode(x)?;
        let r = self.route(&h)?;
        let u = self.mix(&self.expert_hidden(&h)?, &r.gates)?;
        Ok((self.readout(&h, &u)?.1, r))
    }
}

impl Model {
    /// f32 parameters on `device`, initialised from `seed` (see the crate docs for the scheme).
    pub fn new(spec: ModelSpec, seed: u64, device: &Device) -> Result<Model> {
        spec.validate()?;
        let params = crate::init::init_params(&spec, seed, device)?;
        Model::from_params(spec, params)
    }

    /// Wraps given parameters after checking them against `spec`.
    pub fn from_params(spec: ModelSpec, params: Params) -> Result<Model> {
        spec.validate()?;
        params.validate(&spec)?;
        Ok(Model { spec, params })
    }

    /// The spec.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The device of the parameters.
    pub fn device(&self) -> &Device {
        self.params.w1.device()
    }

    /// The dtype of the parameters (f32 or f64).
    pub fn dtype(&self) -> DType {
        self.params.w1.dtype()
    }

    /// Parameter counts of the spec.
    pub fn param_counts(&self) -> ParamCounts {
        self.spec.param_counts()
    }

    /// A detached copy with every parameter in `dtype` (f32 or f64).
    pub fn to_dtype(&self, dtype: DType) -> Result<Model> {
        let params = self.params.try_map(|t| Ok(t.detach().to_dtype(dtype)?.detach()))?;
        Model::from_params(self.spec.clone(), params)
    }

    /// Makes every parameter a trainable [`Var`] (a no-op for those that already are) and returns
    /// the Vars; the model's tensors are the Vars' own, so optimiser updates show in the model.
    pub fn trainable_vars(&mut self) -> Result<Vec<Var>> {
        let mut vars = Vec::with_capacity(10);
        self.params = self.params.try_map(|t| {
            let v = Var::from_tensor(t)?;
            let out = v.as_tensor().clone();
            vars.push(v);
            Ok(out)
        })?;
        Ok(vars)
    }

    /// x (n, d_in) in any float dtype (converted to the model's) → the model's dtype, checked.
    fn input(&self, x: &Tensor, name: &str, cols: usize) -> Result<Tensor> {
        let (_, c) = dims2(name, x)?;
        if c != cols {
            return Err(Error::Shape {
                name: name.into(),
                expected: format!("(n, {cols})"),
                got: format!("{:?}", x.dims()),
            });
        }
        Ok(x.to_dtype(self.dtype())?)
    }

    /// The forward-pass internals on this model's parameters.
    pub(crate) fn net(&self) -> Net<'_> {
        Net {
            spec: &self.spec,
            params: &self.params,
        }
    }

    /// h = φ(W0 x + b0) (n, d), or x itself without an encoder.
    pub fn encode(&self, x: &Tensor) -> Result<Tensor> {
        self.net().encode(&self.input(x, "x", self.spec.d_in)?)
    }

    /// E_e(h) for every expert from a (n, E·m): (n, E, d), one batched matmul over the experts.
    fn expert_outputs(&self, act: &Tensor) -> Result<Tensor> {
        let (n, _) = act.dims2()?;
        let (e, m) = (self.spec.experts, self.spec.hidden);
        let a = act.reshape((n, e, m))?.transpose(0, 1)?.contiguous()?; // (E, n, m)
        let w2t = self.params.w2.transpose(1, 2)?; // (E, m, d)
        let out = a.matmul(&w2t)?.broadcast_add(&self.params.b2.unsqueeze(1)?)?; // (E, n, d)
        Ok(out.transpose(0, 1)?.contiguous()?) // (n, E, d)
    }

    /// The FFN block alone on router inputs h (n, d).
    pub fn ffn(&self, h: &Tensor) -> Result<FfnTrace> {
        let h = self.input(h, "h", self.spec.d)?;
        let net = self.net();
        let r = net.route(&h)?;
        let act = net.expert_hidden(&h)?;
        Ok(FfnTrace {
            expert_out: self.expert_outputs(&act)?,
            out: net.mix(&act, &r.gates)?,
            logits: r.logits,
            probs: r.probs,
            gates: r.gates,
            selected: r.selected,
        })
    }

    /// The whole network on x (n, d_in), in the parameters' dtype.
    pub fn forward(&self, x: &Tensor) -> Result<ForwardTrace> {
        let h = self.encode(x)?;
        let ffn = self.ffn(&h)?;
        let (z, y) = self.net().readout(&h, &ffn.out)?;
        Ok(ForwardTrace { h, ffn, z, y })
    }

    /// The network without the per-expert outputs (training and evaluation): y and the routing.
    pub(crate) fn forward_lean(&self, x: &Tensor) -> Result<(Tensor, Routed)> {
        self.net().forward_lean(&self.input(x, "x", self.spec.d_in)?)
    }
}
