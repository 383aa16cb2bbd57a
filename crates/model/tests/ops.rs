//! Routing and loss primitives against closed forms.

mod common;

use candle_core::{DType, Device, Tensor, Var, D};
use common::*;
use moescope_config::{Activation, Routing};
use moescope_model::{activation_derivative, switch_loss, topk_mask, z_loss, Model};

/// d/ds Σ_i p_i² with p = softmax(s) is 2 p_i (p_i − Σ_j p_j²). For s = [1, 2, 3]:
/// p = [0.0900306, 0.2447285, 0.6652410], Σp² = 0.5105431, grad = [-0.075718, -0.130105, 0.205823].
#[test]
fn softmax_gradient_and_the_softmax_last_dim_trap() {
    let s = Var::new(&[[1.0f64, 2.0, 3.0]], &Device::Cpu).unwrap();
    let loss = candle_nn::ops::softmax(s.as_tensor(), D::Minus1)
        .unwrap()
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap();
    let grads = loss.backward().unwrap();
    let g = vec(grads.get(s.as_tensor()).expect("softmax must propagate a gradient"));
    let want = [-0.075718, -0.130105, 0.205823];
    assert!(max_abs_diff(&g, &want) < 5e-7, "{g:?}");
    // The same closed form evaluated independently in plain f64.
    let e: Vec<f64> = [1.0f64, 2.0, 3.0].iter().map(|v| v.exp()).collect();
    let p: Vec<f64> = e.iter().map(|v| v / e.iter().sum::<f64>()).collect();
    let sp2: f64 = p.iter().map(|v| v * v).sum();
    let closed: Vec<f64> = p.iter().map(|pi| 2.0 * pi * (pi - sp2)).collect();
    assert!(max_abs_diff(&g, &closed) < 1e-12);

    // softmax_last_dim has no backward: the gradient is silently cut. This documents the trap
    // (if candle ever adds a backward, this assertion will flag it).
    let s2 = Var::new(&[[1.0f64, 2.0, 3.0]], &Device::Cpu).unwrap();
    let loss2 = candle_nn::ops::softmax_last_dim(s2.as_tensor())
        .unwrap()
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap();
    let grads2 = loss2.backward().unwrap();
    let cut = grads2
        .get(s2.as_tensor())
        .map(|t| vec(t).iter().all(|v| *v == 0.0))
        .unwrap_or(true);
    assert!(cut, "softmax_last_dim now has a gradient; the trap note is stale");
}

#[test]
fn topk_mask_breaks_ties_toward_lower_index() {
    let s = Tensor::new(
        &[[1.0f32, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [0.0, -1.0, 5.0, 4.0]],
        &Device::Cpu,
    )
    .unwrap();
    assert_eq!(
        vec(&topk_mask(&s, 1).unwrap()),
        [0., 1., 0., 0., 1., 0., 0., 0., 0., 0., 1., 0.]
    );
    assert_eq!(
        vec(&topk_mask(&s, 2).unwrap()),
        [0., 1., 1., 0., 1., 1., 0., 0., 0., 0., 1., 1.]
    );
    assert_eq!(
        vec(&topk_mask(&s, 3).unwrap()),
        [1., 1., 1., 0., 1., 1., 1., 0., 1., 0., 1., 1.]
    );
    assert!(topk_mask(&s, 0).is_err());
    assert!(topk_mask(&s, 5).is_err());
}

/// All router logits equal (W_r = 0, b_r = 0), E = 4, k = 2: S = {0, 1}, gates [½, ½, 0, 0].
#[test]
fn equal_logits_select_the_first_k_experts_with_equal_gates() {
    let model = Model::new(spec(Routing::TopK { k: 2 }, 4, Activation::Gelu), 1, &Device::Cpu).unwrap();
    let mut p = model.params().clone();
    p.wr = Some(p.wr.unwrap().zeros_like().unwrap());
    let model = Model::from_params(model.spec().clone(), p).unwrap();
    let trace = model.forward(&randn(3, 5, 3)).unwrap();
    assert_eq!(vec(&trace.ffn.selected), [1.0, 1.0, 0.0, 0.0].repeat(5));
    assert_eq!(vec(&trace.ffn.gates), [0.5, 0.5, 0.0, 0.0].repeat(5));
}

/// T = 8 tokens, E = 4. All logits [10, 0, 0, 0], k = 1: f = [1, 0, 0, 0], P_0 = e¹⁰/(e¹⁰ + 3), so
/// the loss is 4·P_0 = 3.999455. Round robin (token t has logit 10 on expert t mod 4): f_e = ¼ and
/// P_e = ¼(p + 3q) = ¼ since p + 3q = 1 for each token, so E·Σ_e f_e P_e = 4·4·(1/16) = 1.
#[test]
fn switch_loss_closed_forms() {
    let dev = Device::Cpu;
    let collapsed = Tensor::new(&[[10.0f64, 0.0, 0.0, 0.0]], &dev)
        .unwrap()
        .repeat((8, 1))
        .unwrap();
    let probs = candle_nn::ops::softmax(&collapsed, D::Minus1).unwrap();
    let sel = topk_mask(&collapsed, 1).unwrap();
    let l = switch_loss(&probs, &sel, 1).unwrap().to_scalar::<f64>().unwrap();
    let e10 = 10f64.exp();
    assert!((l - 4.0 * e10 / (e10 + 3.0)).abs() < 1e-12);
    assert!((l - 3.999455).abs() < 5e-7, "{l}");

    let rr: Vec<f64> = (0..8)
        .flat_map(|t| (0..4).map(move |e| if e == t % 4 { 10.0 } else { 0.0 }))
        .collect();
    let rr = Tensor::from_vec(rr, (8, 4), &dev).unwrap();
    let probs = candle_nn::ops::softmax(&rr, D::Minus1).unwrap();
    let l = switch_loss(&probs, &topk_mask(&rr, 1).unwrap(), 1)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    assert!((l - 1.0).abs() < 1e-3, "{l}");
    assert!(switch_loss(&probs, &topk_mask(&rr, 1).unwrap().narrow(0, 0, 4).unwrap(), 1).is_err());
}

/// Rows [0, 0] → lse = ln 2; [ln 3, ln 1] → lse = ln 4: z = ((ln 2)² + (ln 4)²)/2 = 2.5 (ln 2)².
#[test]
fn z_loss_closed_form() {
    let s = Tensor::new(&[[0.0f64, 0.0], [3f64.ln(), 0.0]], &Device::Cpu).unwrap();
    let z = z_loss(&s).unwrap().to_scalar::<f64>().unwrap();
    assert!((z - 2.5 * 2f64.ln().powi(2)).abs() < 1e-12, "{z}");
    // Large logits stay finite (max-shifted): lse([1000, 1000]) = 1000 + ln 2.
    let big = Tensor::new(&[[1000.0f32, 1000.0]], &Device::Cpu).unwrap();
    let z = z_loss(&big)
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    assert!((z - (1000.0 + 2f64.ln()).powi(2)).abs() / z < 1e-6);
}

/// φ'(a) against central differences of candle's own φ (gelu tanh / relu away from 0), in f64.
#[test]
fn activation_derivative_matches_finite_differences() {
    let pts: Vec<f64> = (-30..=30).map(|i| i as f64 * 0.17 + 0.013).collect();
    let a = Tensor::from_vec(pts.clone(), pts.len(), &Device::Cpu).unwrap();
    for act in [Activation::Gelu, Activation::Relu] {
        let d = vec(&activation_derivative(&a, act).unwrap());
        let h = 1e-6;
        let f = |shift: f64| vec(&moescope_model::activation(&(&a + shift).unwrap(), act).unwrap());
        let (fp, fm) = (f(h), f(-h));
        let fd: Vec<f64> = fp.iter().zip(&fm).map(|(p, m)| (p - m) / (2.0 * h)).collect();
        assert!(max_abs_diff(&d, &fd) < 1e-8, "{act:?}");
    }
    // GELU tanh closed form at a = 1: 0.5(1+tanh u) + 0.5(1 − tanh²u)·c(1 + 3·0.044715), u = c·1.044715.
    let c = (2.0 / std::f64::consts::PI).sqrt();
    let t = (c * 1.044715f64).tanh();
    let want = 0.5 * (1.0 + t) + 0.5 * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715);
    let one = Tensor::new(&[1.0f64], &Device::Cpu).unwrap();
    assert!((vec(&activation_derivative(&one, Activation::Gelu).unwrap())[0] - want).abs() < 1e-12);
}

/// The textbook GELU-tanh ½ a (1 + tanh(√(2/π)(a + 0.044715 a³))) in plain f64.
fn gelu_ref(a: f64) -> f64 {
    0.5 * a * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (a + 0.044715 * a * a * a)).tanh())
}

/// The fused GELU's forward against the tanh form, and its backward (autograd of
/// Σ w_i φ(a_i)) against central differences of that reference, in f64 and f32, on a
/// non-contiguous (transposed) input.
#[test]
fn fused_gelu_backward_matches_finite_differences() {
    let vals: Vec<f64> = (0..48).map(|i| -6.0 + 0.25 * i as f64 + 0.01).collect(); // [-6, 6)
    let weights: Vec<f64> = (0..48).map(|i| 1.0 + 0.1 * (i % 5) as f64).collect();
    for (dtype, fwd_tol, grad_tol) in [(DType::F64, 1e-14, 1e-9), (DType::F32, 2e-6, 2e-6)] {
        let a = Var::from_tensor(
            &Tensor::from_vec(vals.clone(), (6, 8), &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap(),
        )
        .unwrap();
        let w = Tensor::from_vec(weights.clone(), (8, 6), &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        let at = a.as_tensor().t().unwrap(); // (8, 6), strided
        let y = moescope_model::activation(&at, Activation::Gelu).unwrap();
        let grads = (y.clone() * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let g = vec(grads.get(a.as_tensor()).expect("gelu must propagate a gradient")); // (6, 8)
        let y = vec(&y.t().unwrap());
        let w = vec(&Tensor::from_vec(weights.clone(), (8, 6), &Device::Cpu)
            .unwrap()
            .t()
            .unwrap());
        // Compare at the values the tensor actually holds (f32-rounded for F32).
        let held = vec(a.as_tensor());
        for i in 0..held.len() {
            let x = held[i];
            let want = gelu_ref(x);
            assert!(
                (y[i] - want).abs() <= fwd_tol * (1.0 + want.abs()),
                "{dtype:?} φ({x}) = {} vs {want}",
                y[i]
            );
            let h = 1e-5;
            let fd = w[i] * (gelu_ref(x + h) - gelu_ref(x - h)) / (2.0 * h);
            assert!(
                (g[i] - fd).abs() <= grad_tol * (1.0 + fd.abs()),
                "{dtype:?} grad at {x}: {} vs FD {fd}",
                g[i]
            );
        }
    }
}
