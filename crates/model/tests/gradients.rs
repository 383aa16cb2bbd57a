//! Router gradients (task loss + auxiliary losses) against central finite differences in f64.

mod common;

use candle_core::{DType, Device, Tensor};
use common::*;
use moescope_config::{Activation, Routing};
use moescope_model::train::{objective, TargetTensor, TrainOptions};
use moescope_model::Model;

fn opts() -> TrainOptions {
    TrainOptions {
        steps: 1,
        batch: 8,
        lr: 1e-3,
        betas: (0.9, 0.999),
        eps: 1e-8,
        weight_decay: 0.0,
        cosine_decay: false,
        load_balance: 0.5,
        balance_soft: true,
        z_loss: 0.1,
        eval_every: 1,
        patience: 0,
    }
}

fn loss_with_wr(model: &Model, wr: &[f64], x: &Tensor, y: &TargetTensor) -> f64 {
    let mut p = model.params().clone();
    p.wr = Some(Tensor::from_vec(wr.to_vec(), p.wr.as_ref().unwrap().dims(), &Device::Cpu).unwrap());
    let m = Model::from_params(model.spec().clone(), p).unwrap();
    objective(&m, x, y, &opts()).unwrap().0.to_scalar::<f64>().unwrap()
}

#[test]
fn router_gradients_match_finite_differences() {
    let x = randn(21, 8, 3).to_dtype(DType::F64).unwrap();
    let y = TargetTensor::Regression(randn(22, 8, 2).to_dtype(DType::F64).unwrap());
    for routing in [Routing::Soft, Routing::TopK { k: 2 }] {
        let mut model = Model::new(spec(routing, 4, Activation::Gelu), 3, &Device::Cpu)
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap();
        let vars = model.trainable_vars().unwrap();
        let (total, _) = objective(&model, &x, &y, &opts()).unwrap();
        let grads = total.backward().unwrap();
        let wr = model.params().wr.clone().unwrap();
        assert!(vars.iter().any(|v| v.as_tensor().id() == wr.id()), "W_r is trained");
        let g = vec(grads.get(&wr).expect("router weight has a gradient"));
        let w0 = vec(&wr);
        let h = 1e-6;
        let fd: Vec<f64> = (0..w0.len())
            .map(|i| {
                let (mut plus, mut minus) = (w0.clone(), w0.clone());
                plus[i] += h;
                minus[i] -= h;
                (loss_with_wr(&model, &plus, &x, &y) - loss_with_wr(&model, &minus, &x, &y)) / (2.0 * h)
            })
            .collect();
        let scale = g.iter().map(|v| v.abs()).fold(0.0, f64::max);
        assert!(scale > 1e-3, "{routing:?}: router gradient is (near) zero: {g:?}");
        assert!(
            max_abs_diff(&g, &fd) < 1e-7 * scale.max(1.0),
            "{routing:?}: autograd {g:?} vs FD {fd:?}"
        );
        let br = model.params().br.clone().unwrap();
        assert!(vec(grads.get(&br).expect("router bias has a gradient"))
            .iter()
            .any(|v| v.abs() > 1e-6));
    }
}
