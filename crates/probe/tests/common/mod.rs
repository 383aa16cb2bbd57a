//! Shared test fixtures: tiny f64 MLP-MoE models with hand-made parameters, and an independent
//! host-side reference forward written straight from SPEC §2 (plain loops, no candle), so that
//! finite differences of it are an oracle that does not share code with the model crate.
#![allow(dead_code)]

use candle_core::{DType, Device, Tensor};
use moescope_config::{Activation, Routing};
use moescope_model::{Model, ModelSpec, Params};

/// SplitMix64: deterministic test data without an RNG dependency.
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-scale, scale), rounded to f32 so f32 and f64 copies of a model agree exactly.
    pub fn uniform(&mut self, scale: f64) -> f64 {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((2.0 * u - 1.0) * scale) as f32 as f64
    }
    pub fn vec(&mut self, len: usize, scale: f64) -> Vec<f64> {
        (0..len).map(|_| self.uniform(scale)).collect()
    }
}

/// The model kinds every Jacobian test runs over.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Dense,
    Top1,
    Top1NoRenorm,
    Top2Renorm,
    Top2NoRenorm,
    Soft,
}

/// Host copy of every parameter (same layout as `moescope_model::Params`, row-major).
#[derive(Debug, Clone)]
pub struct HostModel {
    pub kind: Kind,
    pub act: Activation,
    pub encoder: bool,
    pub residual: bool,
    pub tau: f64,
    pub d_in: usize,
    pub d: usize,
    pub d_out: usize,
    pub e: usize,
    pub m: usize,
    pub w0: Vec<f64>,   // (d, d_in)
    pub b0: Vec<f64>,   // (d)
    pub w1: Vec<f64>,   // (E, m, d)
    pub b1: Vec<f64>,   // (E, m)
    pub w2: Vec<f64>,   // (E, d, m)
    pub b2: Vec<f64>,   // (E, d)
    pub wr: Vec<f64>,   // (E, d)
    pub br: Vec<f64>,   // (E)
    pub wout: Vec<f64>, // (d_out, d)
    pub bout: Vec<f64>, // (d_out)
}

impl HostModel {
    /// d_in 5, d 4, d_out 3, E 4 × m 3 (dense: H 8), encoder + residual, τ = 0.8.
    pub fn new(kind: Kind, act: Activation, seed: u64) -> Self {
        let (e, m) = match kind {
            Kind::Dense => (1, 8),
            Kind::Soft => (3, 4),
            _ => (4, 3),
        };
        let (d_in, d, d_out) = (5, 4, 3);
        let mut r = Rng::new(seed);
        HostModel {
            kind,
            act,
            encoder: true,
            residual: true,
            tau: if kind == Kind::Dense { 1.0 } else { 0.8 },
            d_in,
            d,
            d_out,
            e,
            m,
            w0: r.vec(d * d_in, 0.9),
            b0: r.vec(d, 0.3),
            w1: r.vec(e * m * d, 1.0),
            b1: r.vec(e * m, 0.3),
            w2: r.vec(e * d * m, 0.8),
            b2: r.vec(e * d, 0.5),
            // Large router weights so gates vary strongly and the gate term matters.
            wr: r.vec(e * d, 1.5),
            br: r.vec(e, 0.3),
            wout: r.vec(d_out * d, 0.8),
            bout: r.vec(d_out, 0.2),
        }
    }

    /// Experts act directly on x (h = x), no residual.
    pub fn without_encoder(mut self) -> Self {
        self.encoder = false;
        self.residual = false;
        self.d_in = self.d;
        self
    }

    pub fn routing(&self) -> Routing {
        match self.kind {
            Kind::Dense => Routing::Dense,
            Kind::Top1 | Kind::Top1NoRenorm => Routing::TopK { k: 1 },
            Kind::Top2Renorm | Kind::Top2NoRenorm => Routing::TopK { k: 2 },
            Kind::Soft => Routing::Soft,
        }
    }

    fn k(&self) -> usize {
        match self.kind {
            Kind::Top1 | Kind::Top1NoRenorm => 1,
            Kind::Top2Renorm | Kind::Top2NoRenorm => 2,
            _ => self.e,
        }
    }

    fn renorm(&self) -> bool {
        !matches!(self.kind, Kind::Top1NoRenorm | Kind::Top2NoRenorm)
    }

    pub fn spec(&self) -> ModelSpec {
        ModelSpec {
            routing: self.routing(),
            d_in: self.d_in,
            d: self.d,
            d_out: self.d_out,
            experts: self.e,
            hidden: self.m,
            activation: self.act,
            encoder: self.encoder,
            residual: self.residual,
            temperature: self.tau,
            topk_renorm: self.renorm(),
            router_init_std: 0.01,
        }
    }

    /// The model built through `from_params` in f32, then converted with `to_dtype(F64)`
    /// (the probe's documented usage). Parameters are f32-representable, so nothing is lost.
    pub fn build(&self, dev: &Device) -> Model {
        let t = |v: &[f64], shape: &[usize]| {
            let v32: Vec<f32> = v.iter().map(|&x| x as f32).collect();
            Tensor::from_vec(v32, shape, dev).expect("param tensor")
        };
        let routed = self.kind != Kind::Dense;
        let (e, m, d) = (self.e, self.m, self.d);
        let params = Params {
            w0: self.encoder.then(|| t(&self.w0[..d * self.d_in], &[d, self.d_in])),
            b0: self.encoder.then(|| t(&self.b0, &[d])),
            w1: t(&self.w1, &[e, m, d]),
            b1: t(&self.b1, &[e, m]),
            w2: t(&self.w2, &[e, d, m]),
            b2: t(&self.b2, &[e, d]),
            wr: routed.then(|| t(&self.wr, &[e, d])),
            br: routed.then(|| t(&self.br, &[e])),
            wout: t(&self.wout, &[self.d_out, d]),
            bout: t(&self.bout, &[self.d_out]),
        };
        let model = Model::from_params(self.spec(), params).expect("from_params");
        model.to_dtype(DType::F64).expect("to_dtype(F64)")
    }

    pub fn phi(&self, a: f64) -> f64 {
        match self.act {
            Activation::Relu => a.max(0.0),
            _ => 0.5 * a * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (a + 0.044715 * a * a * a)).tanh()),
        }
    }

    /// h = φ(W0 x + b0), or x without an encoder; also returns the pre-activations.
    pub fn encode(&self, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
        if !self.encoder {
            return (x.to_vec(), vec![]);
        }
        let pre: Vec<f64> = (0..self.d)
            .map(|i| self.b0[i] + (0..self.d_in).map(|j| self.w0[i * self.d_in + j] * x[j]).sum::<f64>())
            .collect();
        (pre.iter().map(|&a| self.phi(a)).collect(), pre)
    }

    /// Expert e's pre-activations a_e = W1_e h + b1_e.
    pub fn expert_pre(&self, e: usize, h: &[f64]) -> Vec<f64> {
        let (m, d) = (self.m, self.d);
        (0..m)
            .map(|j| self.b1[e * m + j] + (0..d).map(|i| self.w1[(e * m + j) * d + i] * h[i]).sum::<f64>())
            .collect()
    }

    /// E_e(h) = W2_e φ(a_e) + b2_e, restricted to the hidden units `units` (all for the expert).
    pub fn expert_out_units(&self, e: usize, h: &[f64], units: &[usize], with_bias: bool) -> Vec<f64> {
        let (m, d) = (self.m, self.d);
        let act: Vec<f64> = self.expert_pre(e, h).iter().map(|&a| self.phi(a)).collect();
        (0..d)
            .map(|i| {
                let b = if with_bias { self.b2[e * d + i] } else { 0.0 };
                b + units
                    .iter()
                    .map(|&j| self.w2[(e * d + i) * m + j] * act[j])
                    .sum::<f64>()
            })
            .collect()
    }

    pub fn expert_out(&self, e: usize, h: &[f64]) -> Vec<f64> {
        self.expert_out_units(e, h, &(0..self.m).collect::<Vec<_>>(), true)
    }

    /// Router logits s = (W_r h + b_r)/τ.
    pub fn logits(&self, h: &[f64]) -> Vec<f64> {
        (0..self.e)
            .map(|e| (self.br[e] + (0..self.d).map(|i| self.wr[e * self.d + i] * h[i]).sum::<f64>()) / self.tau)
            .collect()
    }

    /// Selected set (ties toward the lower index), gates and Top-k margin (k < E only).
    pub fn route(&self, h: &[f64]) -> (Vec<bool>, Vec<f64>, Option<f64>) {
        if self.kind == Kind::Dense {
            return (vec![true], vec![1.0], None);
        }
        let s = self.logits(h);
        let mx = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let ex: Vec<f64> = s.iter().map(|&v| (v - mx).exp()).collect();
        let z: f64 = ex.iter().sum();
        let p: Vec<f64> = ex.iter().map(|&v| v / z).collect();
        let mut order: Vec<usize> = (0..self.e).collect();
        order.sort_by(|&a, &b| s[b].partial_cmp(&s[a]).expect("finite logits").then(a.cmp(&b)));
        let k = self.k();
        let mut sel = vec![false; self.e];
        for &i in &order[..k] {
            sel[i] = true;
        }
        let margin = (k < self.e).then(|| s[order[k - 1]] - s[order[k]]);
        let mass: f64 = (0..self.e).filter(|&i| sel[i]).map(|i| p[i]).sum();
        let g = (0..self.e)
            .map(|i| match (sel[i], self.renorm()) {
                (false, _) => 0.0,
                (true, true) => p[i] / mass,
                (true, false) => p[i],
            })
            .collect();
        (sel, g, margin)
    }

    /// u = F(h) = Σ_e g_e E_e(h).
    pub fn ffn(&self, h: &[f64]) -> Vec<f64> {
        let (_, g, _) = self.route(h);
        let mut u = vec![0.0; self.d];
        for (e, &ge) in g.iter().enumerate() {
            for (ui, oi) in u.iter_mut().zip(self.expert_out(e, h)) {
                *ui += ge * oi;
            }
        }
        u
    }

    /// y = W_out (h·[residual] + F(h)) + b_out.
    pub fn forward(&self, x: &[f64]) -> Vec<f64> {
        let (h, _) = self.encode(x);
        let u = self.ffn(&h);
        let z: Vec<f64> = (0..self.d)
            .map(|i| u[i] + if self.residual { h[i] } else { 0.0 })
            .collect();
        (0..self.d_out)
            .map(|o| self.bout[o] + (0..self.d).map(|i| self.wout[o * self.d + i] * z[i]).sum::<f64>())
            .collect()
    }

    /// True when x is safely away from every ReLU kink (|a| > 1e-4) and routing boundary
    /// (margin > 1e-3), so finite differences see a smooth function.
    pub fn is_smooth_at(&self, x: &[f64]) -> bool {
        let (h, pre) = self.encode(x);
        let relu = self.act == Activation::Relu;
        let kink_free = |a: &[f64]| !relu || a.iter().all(|v| v.abs() > 1e-4);
        let experts_ok = (0..self.e).all(|e| kink_free(&self.expert_pre(e, &h)));
        let margin_ok = self.route(&h).2.is_none_or(|mg| mg > 1e-3);
        kink_free(&pre) && experts_ok && margin_ok
    }

    /// `n` model inputs (row-major (n, d_in)) at which the network is smooth.
    pub fn smooth_inputs(&self, n: usize, seed: u64) -> Vec<f64> {
        let mut r = Rng::new(seed);
        let mut out = Vec::with_capacity(n * self.d_in);
        let mut tries = 0;
        while out.len() < n * self.d_in {
            tries += 1;
            assert!(tries < 10_000, "could not find {n} smooth points");
            let x = r.vec(self.d_in, 1.5);
            if self.is_smooth_at(&x) {
                out.extend(x);
            }
        }
        out
    }
}

/// Flattens any f64 tensor to a host vector.
pub fn host(t: &Tensor) -> Vec<f64> {
    t.flatten_all().expect("flatten").to_vec1::<f64>().expect("to_vec1 f64")
}

/// max |a − b| ≤ tol · max |b| (SPEC §4.4's relative max-abs error).
pub fn assert_rel_max_abs(a: &[f64], b: &[f64], tol: f64, what: &str) {
    let scale = b.iter().fold(0.0f64, |acc, v| acc.max(v.abs())).max(1e-300);
    moescope_testkit::assert_close(a, b, tol * scale, 0.0, what);
}
