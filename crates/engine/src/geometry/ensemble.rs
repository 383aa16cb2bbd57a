//! SPEC §9.2 S3: the experts as an ensemble.
//!
//! - **Diversity** on the probe set, in the "functional" view (every expert evaluated on every
//!   point, whatever the routing): D = mean_i mean_{e<f} ‖E_e(h_i) − E_f(h_i)‖² /
//!   mean_i mean_e ‖E_e(h_i)‖².
//! - **Krogh–Vedelsby ambiguity decomposition** on the validation split (the probe set is carried
//!   to the engine without targets). Member e is the whole model with the FFN output replaced by
//!   expert e alone (gate weight 1 on e, same residual and readout): f_e(x) = W_out(h + E_e(h)) +
//!   b_out (without the residual: W_out E_e(h) + b_out). The readout is affine in the layer output
//!   u, so the uniform average f̄ = mean_e f_e is itself the model with u = mean_e E_e(h), i.e.
//!   the uniform-gate mixture, and the decomposition at the model output is exact:
//!   mean_i ‖f̄ − y‖² = mean_e mean_i ‖f_e − y‖² − mean_e mean_i ‖f_e − f̄‖².
//!   For classification the members are their class-probability vectors softmax(f_e) against the
//!   one-hot label (Brier form), with f̄ the mean probability vector: the identity holds for any
//!   members under squared error, but there f̄ is not the uniform-gate model (softmax is not
//!   affine).
//!
//! The functional-diversity check 1 − mean|A_ef| of SPEC §9.2 is not repeated here: it is
//! `1 − align.a1_mean_abs` (pointwise: `align.a2_mean_abs`) from [`super::alignment`].

use super::Rows;
use candle_core::{Tensor, D};
use moescope_model::{Model, TargetTensor};

/// Running sums for the diversity D over probe chunks.
#[derive(Debug, Default)]
pub(crate) struct Diversity {
    pair_sq: f64,
    norm_sq: f64,
    points: usize,
}

impl Diversity {
    /// Adds `out`, E_e(h_i) for a chunk laid out (n, E, d) row-major.
    pub fn add(&mut self, out: &[f64], experts: usize, d: usize) {
        for point in out.chunks_exact(experts * d) {
            let rows: Vec<&[f64]> = point.chunks_exact(d).collect();
            let mut pair = 0.0;
            for (e, a) in rows.iter().enumerate() {
                for b in &rows[e + 1..] {
                    pair += sq_dist(a, b);
                }
            }
            let pairs = (experts * experts.saturating_sub(1) / 2).max(1);
            self.pair_sq += pair / pairs as f64;
            self.norm_sq += rows.iter().map(|r| sq_norm(r)).sum::<f64>() / experts as f64;
            self.points += 1;
        }
    }

    /// D, or NaN with no points or all-zero expert outputs (then no row is written).
    pub fn value(&self) -> f64 {
        if self.points == 0 || self.norm_sq <= 0.0 {
            return f64::NAN;
        }
        self.pair_sq / self.norm_sq
    }
}

/// Running sums of the ambiguity decomposition.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Ambiguity {
    /// Σ_i mean_e ‖f_e − y‖².
    member: f64,
    /// Σ_i mean_e ‖f_e − f̄‖².
    ambiguity: f64,
    /// Σ_i ‖f̄ − y‖².
    average: f64,
    points: usize,
}

impl Ambiguity {
    /// Adds members `f` (n, E, o) and targets `y` (n, o), both row-major.
    pub fn add(&mut self, f: &[f64], y: &[f64], experts: usize, o: usize) {
        for (fi, yi) in f.chunks_exact(experts * o).zip(y.chunks_exact(o)) {
            let mut mean = vec![0.0; o];
            for fe in fi.chunks_exact(o) {
                mean.iter_mut().zip(fe).for_each(|(m, v)| *m += v / experts as f64);
            }
            let members = fi.chunks_exact(o);
            self.member += members.clone().map(|fe| sq_dist(fe, yi)).sum::<f64>() / experts as f64;
            self.ambiguity += members.map(|fe| sq_dist(fe, &mean)).sum::<f64>() / experts as f64;
            self.average += sq_dist(&mean, yi);
            self.points += 1;
        }
    }

    /// (member error, ambiguity, average error), each a mean over the points.
    pub fn means(&self) -> (f64, f64, f64) {
        let n = self.points as f64;
        (self.member / n, self.ambiguity / n, self.average / n)
    }

    /// `ensemble.member_error`, `ensemble.ambiguity`, `ensemble.average_error`.
    pub fn emit(&self, rows: &mut Rows) {
        if self.points == 0 {
            return;
        }
        let (member, ambiguity, average) = self.means();
        rows.push(None, "ensemble.member_error", member);
        rows.push(None, "ensemble.ambiguity", ambiguity);
        rows.push(None, "ensemble.average_error", average);
    }
}

/// Member outputs f_e(x) (n, E, d_out): the model with expert e alone as its FFN output.
pub(crate) fn member_outputs(model: &Model, x: &Tensor) -> moescope_model::Result<Tensor> {
    let t = model.forward(x)?;
    let (n, e, d) = t.ffn.expert_out.dims3()?;
    let z = match model.spec().residual {
        true => t.ffn.expert_out.broadcast_add(&t.h.unsqueeze(1)?)?, // (n, E, d)
        false => t.ffn.expert_out,
    };
    let p = model.params();
    let o = p.wout.dim(0)?;
    let y = z.reshape((n * e, d))?.matmul(&p.wout.t()?)?.broadcast_add(&p.bout)?; // (n·E, o)
    Ok(y.reshape((n, e, o))?)
}

/// Host members (n, E, o) and targets (n, o) for the decomposition: regression as is,
/// classification as softmax probabilities against one-hot labels.
fn host_members(f: &Tensor, y: &TargetTensor) -> moescope_model::Result<(Vec<f64>, Vec<f64>)> {
    let host = |t: &Tensor| crate::tensors::host_f64(t);
    Ok(match y {
        TargetTensor::Regression(t) => (host(f)?, host(t)?),
        TargetTensor::Classes(labels) => {
            let o = f.dim(2)?;
            let probs = softmax_last(f)?;
            let labels = labels.to_dtype(candle_core::DType::U32)?.to_vec1::<u32>()?;
            let onehot = labels
                .iter()
                .flat_map(|&c| (0..o).map(move |j| if j == c as usize { 1.0 } else { 0.0 }))
                .collect();
            (host(&probs)?, onehot)
        }
    })
}

/// Softmax over the last axis (the engine does not depend on candle-nn).
fn softmax_last(f: &Tensor) -> candle_core::Result<Tensor> {
    let shifted = f.broadcast_sub(&f.max_keepdim(D::Minus1)?)?;
    let e = shifted.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

/// The decomposition over `x` (n, d_in) and `y` in chunks of `chunk` rows.
pub(crate) fn ambiguity(
    model: &Model,
    x: &Tensor,
    y: &TargetTensor,
    chunk: usize,
) -> moescope_model::Result<Ambiguity> {
    let n = x.dim(0)?;
    let e = model.spec().experts;
    let mut acc = Ambiguity::default();
    for start in (0..n).step_by(chunk.max(1)) {
        let len = chunk.min(n - start);
        let yc = match y {
            TargetTensor::Regression(t) => TargetTensor::Regression(t.narrow(0, start, len)?),
            TargetTensor::Classes(t) => TargetTensor::Classes(t.narrow(0, start, len)?),
        };
        let f = member_outputs(model, &x.narrow(0, start, len)?)?;
        let (f, yh) = host_members(&f, &yc)?;
        acc.add(&f, &yh, e, yh.len() / len);
    }
    Ok(acc)
}

fn sq_norm(a: &[f64]) -> f64 {
    a.iter().map(|v| v * v).sum()
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use moescope_config::{Activation, Routing};
    use moescope_model::{ModelSpec, Params};

    #[test]
    fn diversity_of_constant_experts_matches_the_closed_form() {
        // Two points, three experts with outputs a = (1, 0), b = (0, 2), c = (0, 0) at both.
        // Pairs: |a−b|² = 5, |a−c|² = 1, |b−c|² = 4 → mean 10/3; norms 1, 4, 0 → mean 5/3. D = 2.
        let point = [1.0, 0.0, 0.0, 2.0, 0.0, 0.0];
        let mut acc = Diversity::default();
        acc.add(&[point, point].concat(), 3, 2);
        assert!((acc.value() - 2.0).abs() < 1e-15, "{}", acc.value());
        // Identical experts have D = 0; all-zero outputs leave D undefined.
        let mut same = Diversity::default();
        same.add(&[3.0, 3.0, 3.0, 3.0], 2, 2);
        assert_eq!(same.value(), 0.0);
        let mut zero = Diversity::default();
        zero.add(&[0.0; 4], 2, 2);
        assert!(zero.value().is_nan());
    }

    #[test]
    fn ambiguity_of_two_scalar_members_matches_the_closed_form() {
        // f_1 = 1, f_2 = 3, y = 0: member error (1 + 9)/2 = 5, f̄ = 2, ambiguity 1, average 4.
        let mut acc = Ambiguity::default();
        acc.add(&[1.0, 3.0], &[0.0], 2, 1);
        assert_eq!(acc.means(), (5.0, 1.0, 4.0));
    }

    /// d_in = d = 1, no encoder, ReLU, E = 2 experts with m = 1: E_e(h) = c_e·relu(h) + b2_e, a
    /// residual and y = w (h + u) + b.
    fn scalar_model(residual: bool) -> Model {
        let dev = Device::Cpu;
        let t = |v: &[f64], s: &[usize]| Tensor::from_vec(v.to_vec(), s, &dev).unwrap();
        let spec = ModelSpec {
            routing: Routing::Soft,
            d_in: 1,
            d: 1,
            d_out: 1,
            experts: 2,
            hidden: 1,
            activation: Activation::Relu,
            encoder: false,
            residual,
            temperature: 1.0,
            topk_renorm: true,
            router_init_std: 0.0,
        };
        let params = Params {
            w0: None,
            b0: None,
            w1: t(&[1.0, 1.0], &[2, 1, 1]),
            b1: t(&[0.0, 0.0], &[2, 1]),
            w2: t(&[2.0, -1.0], &[2, 1, 1]),
            b2: t(&[0.5, 0.0], &[2, 1]),
            wr: Some(t(&[0.3, -0.3], &[2, 1])),
            br: Some(t(&[0.0, 0.0], &[2])),
            wout: t(&[3.0], &[1, 1]),
            bout: t(&[1.0], &[1]),
        };
        Model::from_params(spec, params).unwrap()
    }

    #[test]
    fn members_of_a_hand_built_model_match_the_hand_computation() {
        // x = 1, y = 0. E_1 = 2·1 + 0.5 = 2.5, E_2 = −1. With the residual, f_1 = 3(1 + 2.5) + 1
        // = 11.5 and f_2 = 3(1 − 1) + 1 = 1; f̄ = 6.25. Member error (132.25 + 1)/2 = 66.625,
        // ambiguity 5.25² = 27.5625, average error 39.0625 = 66.625 − 27.5625.
        // x = −2, y = 1: relu = 0, E_1 = 0.5, E_2 = 0; f_1 = 3(−1.5) + 1 = −3.5, f_2 = −5.
        // f̄ = −4.25; member ((−4.5)² + 36)/2 = 28.125, ambiguity 0.75² = 0.5625, average 27.5625.
        let dev = Device::Cpu;
        let x = Tensor::from_vec(vec![1.0f64, -2.0], (2, 1), &dev).unwrap();
        let y = TargetTensor::Regression(Tensor::from_vec(vec![0.0f64, 1.0], (2, 1), &dev).unwrap());
        // Chunks of one row: the sums must not depend on the chunking.
        let acc = ambiguity(&scalar_model(true), &x, &y, 1).unwrap();
        let (m, a, avg) = acc.means();
        let close = |got: f64, want: f64| assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        close(m, (66.625 + 28.125) / 2.0);
        close(a, (27.5625 + 0.5625) / 2.0);
        close(avg, (39.0625 + 27.5625) / 2.0);
        close(avg, m - a);
        // Without the residual at x = 1: f_1 = 3·2.5 + 1 = 8.5, f_2 = −2.
        let f = member_outputs(&scalar_model(false), &x.narrow(0, 0, 1).unwrap()).unwrap();
        assert_eq!(f.flatten_all().unwrap().to_vec1::<f64>().unwrap(), vec![8.5, -2.0]);
    }

    #[test]
    fn classification_members_use_probabilities_and_keep_the_identity() {
        // Logits (0, 0) and (ln 3, 0): probabilities (1/2, 1/2) and (3/4, 1/4); label 0.
        // Member errors: 2·(1/2)² = 1/2 and (1/4)² + (1/4)² = 1/8 → 5/16. f̄ = (5/8, 3/8):
        // average 2·(3/8)² = 9/32; ambiguity 2·(1/8)² for each member = 1/32.
        let dev = Device::Cpu;
        let f = Tensor::from_vec(vec![0.0f64, 0.0, 3f64.ln(), 0.0], (1, 2, 2), &dev).unwrap();
        let y = TargetTensor::Classes(Tensor::from_vec(vec![0u32], 1, &dev).unwrap());
        let (fh, yh) = host_members(&f, &y).unwrap();
        let mut acc = Ambiguity::default();
        acc.add(&fh, &yh, 2, 2);
        let (m, a, avg) = acc.means();
        assert!((m - 5.0 / 16.0).abs() < 1e-15 && (a - 1.0 / 32.0).abs() < 1e-15);
        assert!((avg - 9.0 / 32.0).abs() < 1e-15, "{avg}");
    }
}
