//! Training: the loss goes down, runs are reproducible, init is paired, divergence is an error.

mod common;

use candle_core::{Device, Tensor};
use common::*;
use moescope_config::{Activation, Routing};
use moescope_model::train::{evaluate, train, TargetTensor, TrainData, TrainOptions};
use moescope_model::{Error, Model, ModelSpec};

fn opts(steps: usize) -> TrainOptions {
    TrainOptions {
        steps,
        batch: 32,
        lr: 1e-2,
        betas: (0.9, 0.999),
        eps: 1e-8,
        weight_decay: 1e-4,
        cosine_decay: true,
        load_balance: 0.01,
        balance_soft: false,
        z_loss: 1e-3,
        eval_every: 20,
        patience: 0,
    }
}

/// y = (sin x0 + x1·x2, x0 − x2) on 128 + 64 seeded points.
fn data() -> TrainData {
    let make = |seed: u64, n: usize| {
        let x = randn(seed, n, 3);
        let v = vec(&x);
        let y: Vec<f32> = v
            .chunks(3)
            .flat_map(|r| [(r[0].sin() + r[1] * r[2]) as f32, (r[0] - r[2]) as f32])
            .collect();
        (
            x,
            TargetTensor::Regression(Tensor::from_vec(y, (n, 2), &Device::Cpu).unwrap()),
        )
    };
    let ((x_train, y_train), (x_val, y_val)) = (make(100, 128), make(101, 64));
    TrainData {
        x_train,
        y_train,
        x_val,
        y_val,
    }
}

fn all_params(m: &Model) -> Vec<Vec<f64>> {
    m.params().named().into_iter().map(|(_, t)| vec(t)).collect()
}

#[test]
fn training_reduces_the_loss_and_is_reproducible() {
    let data = data();
    let s = spec(Routing::TopK { k: 2 }, 4, Activation::Gelu);
    let mut a = Model::new(s.clone(), 7, &Device::Cpu).unwrap();
    let before = evaluate(&a, &data.x_val, &data.y_val).unwrap();
    let mut calls = 0;
    let report = train(&mut a, &data, &opts(120), 7, &mut |_, total| {
        calls += 1;
        assert_eq!(total, 120)
    })
    .unwrap();
    assert_eq!((calls, report.steps_run, report.curve.len()), (120, 120, 6));
    assert!(
        report.final_val_loss < 0.5 * before,
        "{before} -> {}",
        report.final_val_loss
    );
    assert!(report.final_train_loss < 0.5 * before);
    assert_eq!(report.curve.last().unwrap().val_loss, report.final_val_loss);
    let mut b = Model::new(s, 7, &Device::Cpu).unwrap();
    train(&mut b, &data, &opts(120), 7, &mut |_, _| {}).unwrap();
    assert_eq!(
        all_params(&a),
        all_params(&b),
        "identical seeds give bit-identical weights"
    );
}

#[test]
fn classification_trains_and_patience_stops() {
    let mut d = data();
    let labels = |x: &Tensor| {
        let v: Vec<u32> = vec(x).chunks(3).map(|r| u32::from(r[0] > 0.0)).collect();
        let n = v.len();
        TargetTensor::Classes(Tensor::from_vec(v, n, &Device::Cpu).unwrap())
    };
    (d.y_train, d.y_val) = (labels(&d.x_train), labels(&d.x_val));
    let mut m = Model::new(spec(Routing::Soft, 3, Activation::Relu), 1, &Device::Cpu).unwrap();
    let before = evaluate(&m, &d.x_val, &d.y_val).unwrap();
    let mut o = opts(100);
    o.balance_soft = true;
    let r = train(&mut m, &d, &o, 1, &mut |_, _| {}).unwrap();
    assert!(r.final_val_loss < 0.7 * before, "{before} -> {}", r.final_val_loss);
    // lr so small nothing improves after the first evaluation: patience ends the run.
    (o.lr, o.eval_every, o.patience, o.steps) = (1e-12, 5, 10, 200);
    let r = train(&mut m, &d, &o, 1, &mut |_, _| {}).unwrap();
    assert!(r.stopped_early && r.steps_run < 200, "{r:?}");
}

#[test]
fn encoder_and_readout_init_are_shared_across_architectures() {
    let get = |routing: Routing, e: usize, seed: u64| {
        let mut s: ModelSpec = spec(routing, e, Activation::Gelu);
        s.hidden = 20 / e;
        let m = Model::new(s, seed, &Device::Cpu).unwrap();
        let p = m.params();
        [
            vec(p.w0.as_ref().unwrap()),
            vec(p.b0.as_ref().unwrap()),
            vec(&p.wout),
            vec(&p.bout),
        ]
    };
    let dense = get(Routing::Dense, 1, 4);
    assert_eq!(dense, get(Routing::TopK { k: 2 }, 4, 4));
    assert_eq!(dense, get(Routing::Soft, 2, 4));
    assert_ne!(dense[0], get(Routing::Dense, 1, 5)[0], "another seed, another encoder");
}

#[test]
fn divergence_and_nan_inputs_are_non_finite_errors() {
    let d = data();
    let mut o = opts(50);
    o.lr = 1e30;
    let mut m = Model::new(spec(Routing::TopK { k: 1 }, 4, Activation::Gelu), 0, &Device::Cpu).unwrap();
    let err = train(&mut m, &d, &o, 0, &mut |_, _| {}).unwrap_err();
    assert!(matches!(err, Error::NonFinite { .. }), "{err}");

    let mut bad = d.clone();
    let mut xs: Vec<f32> = vec(&bad.x_train).into_iter().map(|v| v as f32).collect();
    xs[0] = f32::NAN;
    bad.x_train = Tensor::from_vec(xs, (128, 3), &Device::Cpu).unwrap();
    let mut o = opts(10);
    o.batch = 128; // every batch holds the NaN row
    let mut m = Model::new(spec(Routing::Dense, 1, Activation::Gelu), 0, &Device::Cpu).unwrap();
    let err = train(&mut m, &bad, &o, 0, &mut |_, _| {}).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NonFinite {
                stage: "train",
                step: 1
            }
        ),
        "{err}"
    );
}

#[test]
fn bad_options_and_data_are_errors() {
    let d = data();
    let mut m = Model::new(spec(Routing::Dense, 1, Activation::Gelu), 0, &Device::Cpu).unwrap();
    let mut o = opts(5);
    o.batch = 0;
    assert!(train(&mut m, &d, &o, 0, &mut |_, _| {}).is_err());
    let mut bad = d.clone();
    bad.y_val = bad.y_train.clone();
    assert!(
        train(&mut m, &bad, &opts(5), 0, &mut |_, _| {}).is_err(),
        "64 val inputs, 128 targets"
    );
}
