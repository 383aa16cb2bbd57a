//! The forward pass against a loop-based f64 reference of SPEC §2.1.

mod common;

use candle_core::{DType, Device};
use common::*;
use moescope_config::{Activation, Architecture, Routing};
use moescope_model::{Model, ModelSpec};

fn phi(a: f64, act: Activation) -> f64 {
    match act {
        Activation::Relu => a.max(0.0),
        Activation::Gelu => 0.5 * a * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (a + 0.044715 * a.powi(3))).tanh()),
    }
}

/// W (rows, cols) row-major times v, plus b.
fn affine(w: &[f64], b: &[f64], v: &[f64]) -> Vec<f64> {
    b.iter()
        .enumerate()
        .map(|(r, bi)| bi + v.iter().enumerate().map(|(c, x)| w[r * v.len() + c] * x).sum::<f64>())
        .collect()
}

/// Reference output for one input: (gates, expert outputs E×d, y).
fn reference(spec: &ModelSpec, model: &Model, x: &[f64]) -> (Vec<f64>, Vec<Vec<f64>>, Vec<f64>) {
    let p = model.params();
    let (e, m, d) = (spec.experts, spec.hidden, spec.d);
    let h: Vec<f64> = affine(&vec(p.w0.as_ref().unwrap()), &vec(p.b0.as_ref().unwrap()), x)
        .into_iter()
        .map(|a| phi(a, spec.activation))
        .collect();
    let (w1, b1, w2, b2) = (vec(&p.w1), vec(&p.b1), vec(&p.w2), vec(&p.b2));
    let experts: Vec<Vec<f64>> = (0..e)
        .map(|k| {
            let a: Vec<f64> = affine(&w1[k * m * d..(k + 1) * m * d], &b1[k * m..(k + 1) * m], &h)
                .into_iter()
                .map(|v| phi(v, spec.activation))
                .collect();
            affine(&w2[k * d * m..(k + 1) * d * m], &b2[k * d..(k + 1) * d], &a)
        })
        .collect();
    let gates: Vec<f64> = match spec.routing {
        Routing::Dense => vec![1.0],
        _ => {
            let s: Vec<f64> = affine(&vec(p.wr.as_ref().unwrap()), &vec(p.br.as_ref().unwrap()), &h)
                .iter()
                .map(|v| v / spec.temperature)
                .collect();
            let z: f64 = s.iter().map(|v| v.exp()).sum();
            let probs: Vec<f64> = s.iter().map(|v| v.exp() / z).collect();
            match spec.routing {
                Routing::TopK { k } => {
                    let mut order: Vec<usize> = (0..e).collect();
                    order.sort_by(|&a, &b| s[b].partial_cmp(&s[a]).unwrap().then(a.cmp(&b)));
                    let chosen = &order[..k];
                    let zs: f64 = chosen.iter().map(|&i| s[i].exp()).sum();
                    (0..e)
                        .map(|i| match (chosen.contains(&i), spec.topk_renorm) {
                            (false, _) => 0.0,
                            (true, true) => s[i].exp() / zs,
                            (true, false) => probs[i],
                        })
                        .collect()
                }
                _ => probs,
            }
        }
    };
    let u: Vec<f64> = (0..d)
        .map(|j| (0..gates.len()).map(|k| gates[k] * experts[k][j]).sum())
        .collect();
    let z: Vec<f64> = (0..d).map(|j| if spec.residual { h[j] + u[j] } else { u[j] }).collect();
    (gates, experts, affine(&vec(&p.wout), &vec(&p.bout), &z))
}

#[test]
fn forward_matches_loop_reference_in_f64() {
    let cases = [
        (Routing::Dense, 1, true),
        (Routing::TopK { k: 1 }, 4, true),
        (Routing::TopK { k: 2 }, 4, true),
        (Routing::TopK { k: 2 }, 4, false),
        (Routing::Soft, 4, true),
    ];
    let x = randn(7, 6, 3);
    let xs = vec(&x);
    for act in [Activation::Gelu, Activation::Relu] {
        for (i, &(routing, e, renorm)) in cases.iter().enumerate() {
            let mut s = spec(routing, e, act);
            s.topk_renorm = renorm;
            s.temperature = 0.7;
            s.residual = i % 2 == 0;
            let model = Model::new(s.clone(), 11 + i as u64, &Device::Cpu)
                .unwrap()
                .to_dtype(DType::F64)
                .unwrap();
            let trace = model.forward(&x.to_dtype(DType::F64).unwrap()).unwrap();
            let (gates, eo, y) = (vec(&trace.ffn.gates), vec(&trace.ffn.expert_out), vec(&trace.y));
            for r in 0..6 {
                let (g_ref, eo_ref, y_ref) = reference(&s, &model, &xs[r * 3..r * 3 + 3]);
                let tag = format!("{act:?} {routing:?} renorm={renorm} row {r}");
                assert!(
                    max_abs_diff(&gates[r * g_ref.len()..(r + 1) * g_ref.len()], &g_ref) < 1e-12,
                    "gates {tag}"
                );
                assert!(
                    max_abs_diff(&eo[r * e * 4..(r + 1) * e * 4], &eo_ref.concat()) < 1e-12,
                    "experts {tag}"
                );
                assert!(max_abs_diff(&y[r * 2..r * 2 + 2], &y_ref) < 1e-12, "y {tag}");
            }
            let u = vec(&trace.ffn.out);
            let sum = vec(&trace
                .ffn
                .gates
                .unsqueeze(1)
                .unwrap()
                .matmul(&trace.ffn.expert_out)
                .unwrap());
            assert!(max_abs_diff(&u, &sum) < 1e-12, "u = Σ g_e E_e");
        }
    }
}

/// SPEC §12: fully soft with E = 1 equals the dense model with H = m (same parameters).
#[test]
fn soft_with_one_expert_equals_dense() {
    let dense = Model::new(spec(Routing::Dense, 1, Activation::Gelu), 5, &Device::Cpu).unwrap();
    let soft_spec = spec(Routing::Soft, 1, Activation::Gelu);
    let mut p = dense.params().clone();
    let soft_init = Model::new(soft_spec.clone(), 9, &Device::Cpu).unwrap();
    p.wr = soft_init.params().wr.clone();
    p.br = soft_init.params().br.clone();
    let soft = Model::from_params(soft_spec, p).unwrap();
    let x = randn(2, 16, 3);
    let (a, b) = (dense.forward(&x).unwrap(), soft.forward(&x).unwrap());
    assert!(max_abs_diff(&vec(&a.y), &vec(&b.y)) < 1e-6);
    assert!(max_abs_diff(&vec(&a.ffn.out), &vec(&b.ffn.out)) < 1e-6);
    assert!(vec(&b.ffn.gates).iter().all(|g| (g - 1.0).abs() < 1e-7));
}

#[test]
fn param_counts_match_the_config_formulas() {
    for (routing, e, m) in [
        (Routing::Dense, 1, 20),
        (Routing::TopK { k: 2 }, 4, 5),
        (Routing::Soft, 4, 5),
    ] {
        let mut s = spec(routing, e, Activation::Gelu);
        s.hidden = m;
        let arch = Architecture {
            name: "x".into(),
            routing,
            experts: e,
            hidden: m,
        };
        let (ffn, ffn_active) = arch.ffn_params(4);
        let c = Model::new(s, 0, &Device::Cpu).unwrap().param_counts();
        assert_eq!(
            (c.ffn, c.ffn_active, c.router),
            (ffn, ffn_active, arch.router_params(4))
        );
        let (enc, readout) = (4 * 3 + 4, 2 * 4 + 2);
        assert_eq!(c.total, enc + ffn + arch.router_params(4) + readout);
        assert_eq!(c.active, enc + ffn_active + arch.router_params(4) + readout);
    }
}

#[test]
fn bad_specs_and_params_are_errors() {
    let good = spec(Routing::TopK { k: 2 }, 4, Activation::Gelu);
    let mut s = good.clone();
    s.routing = Routing::TopK { k: 5 };
    assert!(Model::new(s, 0, &Device::Cpu).is_err());
    let mut s = good.clone();
    s.encoder = false;
    assert!(
        Model::new(s.clone(), 0, &Device::Cpu).is_err(),
        "d ≠ d_in without encoder"
    );
    s.d = 3;
    let m = Model::new(s, 0, &Device::Cpu).unwrap();
    assert_eq!(vec(&m.encode(&randn(1, 2, 3)).unwrap()), vec(&randn(1, 2, 3)));
    let model = Model::new(good.clone(), 0, &Device::Cpu).unwrap();
    let mut p = model.params().clone();
    p.w1 = p.w1.narrow(1, 0, 4).unwrap();
    let err = Model::from_params(good.clone(), p).unwrap_err().to_string();
    assert!(err.contains("ffn.w1"), "{err}");
    let mut p = model.params().clone();
    p.wr = None;
    assert!(Model::from_params(good, p).is_err());
    assert!(model.forward(&randn(1, 2, 4)).is_err(), "wrong input width");
}
