//! Stacked-seed training against the reference: `train` run on each seed one at a time (the
//! single-model path, itself checked against finite differences and closed forms in
//! gradients.rs / train.rs). Tolerance: every final parameter within 1e-5·(1 + |w|), every loss
//! (curve points, final losses) within 1e-5 relative, the same steps and stopping.

mod common;

use candle_core::{Device, Tensor};
use common::*;
use moescope_config::{Activation, Routing};
use moescope_model::train::{train, TargetTensor, TrainData, TrainOptions, TrainReport};
use moescope_model::{train_stacked, Error, Model, ModelSpec, StackedRun};

const N_TRAIN: usize = 32;
const N_VAL: usize = 16;

fn opts(steps: usize) -> TrainOptions {
    TrainOptions {
        steps,
        batch: 8,
        lr: 1e-2,
        betas: (0.9, 0.999),
        eps: 1e-8,
        weight_decay: 1e-4,
        cosine_decay: true,
        load_balance: 0.05,
        balance_soft: true,
        z_loss: 1e-2,
        eval_every: 10,
        patience: 0,
    }
}

/// y = (sin x0 + x1·x2, x0 − x2) + small seeded noise on n seeded points.
fn regression(seed: u64, n: usize) -> (Tensor, TargetTensor) {
    let x = randn(seed, n, 3);
    let noise = vec(&randn(seed + 1000, n, 2));
    let y: Vec<f32> = vec(&x)
        .chunks(3)
        .zip(noise.chunks(2))
        .flat_map(|(r, e)| {
            [
                (r[0].sin() + r[1] * r[2] + 0.1 * e[0]) as f32,
                (r[0] - r[2] + 0.1 * e[1]) as f32,
            ]
        })
        .collect();
    let y = Tensor::from_vec(y, (n, 2), &Device::Cpu).unwrap();
    (x, TargetTensor::Regression(y))
}

/// Class = which of 3 bins x0 + x1 falls in.
fn classes(seed: u64, n: usize) -> (Tensor, TargetTensor) {
    let x = randn(seed, n, 3);
    let c: Vec<u32> = vec(&x)
        .chunks(3)
        .map(|r| match r[0] + r[1] {
            s if s < -0.7 => 0,
            s if s < 0.7 => 1,
            _ => 2,
        })
        .collect();
    (x, TargetTensor::Classes(Tensor::from_vec(c, n, &Device::Cpu).unwrap()))
}

fn data(seed: u64, make: fn(u64, usize) -> (Tensor, TargetTensor)) -> TrainData {
    let (x_train, y_train) = make(10 * seed, N_TRAIN);
    let (x_val, y_val) = make(10 * seed + 5, N_VAL);
    TrainData {
        x_train,
        y_train,
        x_val,
        y_val,
    }
}

fn rel_close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-5 * b.abs().max(1e-12),
        "{what}: stacked {a} vs one-at-a-time {b}"
    );
}

fn assert_params_close(stacked: &Model, single: &Model, what: &str) {
    for ((name, a), (_, b)) in stacked.params().named().into_iter().zip(single.params().named()) {
        assert_eq!(a.dims(), b.dims(), "{what} {name}");
        assert!(!a.is_variable(), "{what} {name}: should be a plain tensor");
        for (x, y) in vec(a).into_iter().zip(vec(b)) {
            assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{what} {name}: {x} vs {y}");
        }
    }
}

fn assert_reports_close(a: &TrainReport, b: &TrainReport, what: &str) {
    assert_eq!(
        (a.steps_run, a.stopped_early, a.curve.len()),
        (b.steps_run, b.stopped_early, b.curve.len()),
        "{what}"
    );
    for (p, q) in a.curve.iter().zip(&b.curve) {
        assert_eq!(p.step, q.step, "{what}");
        rel_close(p.train_loss, q.train_loss, &format!("{what} curve train @{}", p.step));
        rel_close(p.val_loss, q.val_loss, &format!("{what} curve val @{}", p.step));
    }
    rel_close(a.final_train_loss, b.final_train_loss, &format!("{what} final train"));
    rel_close(a.final_val_loss, b.final_val_loss, &format!("{what} final val"));
}

/// Trains fresh models of `spec` for `seeds` stacked and one at a time; returns
/// (stacked models, stacked results, single models, single results, on_step calls).
#[allow(clippy::type_complexity)]
fn both(
    spec: &ModelSpec,
    seeds: &[u64],
    datas: &[TrainData],
    o: &TrainOptions,
) -> (
    Vec<Model>,
    Vec<Result<TrainReport, Error>>,
    Vec<Model>,
    Vec<Result<TrainReport, Error>>,
    usize,
) {
    let fresh = || -> Vec<Model> {
        let new = |&s: &u64| Model::new(spec.clone(), s, &Device::Cpu).unwrap();
        seeds.iter().map(new).collect()
    };
    let mut stacked = fresh();
    let mut calls = 0;
    let results = {
        let mut runs: Vec<StackedRun> = stacked
            .iter_mut()
            .zip(datas)
            .zip(seeds)
            .map(|((model, data), &seed)| StackedRun { model, data, seed })
            .collect();
        train_stacked(&mut runs, o, &mut |_, _| calls += 1).unwrap()
    };
    let mut single = fresh();
    let singles = single
        .iter_mut()
        .zip(datas)
        .zip(seeds)
        .map(|((m, d), &s)| train(m, d, o, s, &mut |_, _| {}))
        .collect();
    (stacked, results, single, singles, calls)
}

fn assert_all_close(spec: &ModelSpec, seeds: &[u64], datas: &[TrainData], o: &TrainOptions) {
    let (stacked, results, single, singles, calls) = both(spec, seeds, datas, o);
    assert_eq!(calls, o.steps, "on_step once per step");
    for (i, (a, b)) in results.iter().zip(&singles).enumerate() {
        let what = format!("{:?} seed {}", spec.routing, seeds[i]);
        assert_reports_close(a.as_ref().unwrap(), b.as_ref().unwrap(), &what);
        assert_params_close(&stacked[i], &single[i], &what);
    }
}

#[test]
fn stacked_equals_one_at_a_time_for_dense_topk_and_soft() {
    let seeds = [1, 2, 3];
    let datas: Vec<TrainData> = seeds.iter().map(|&s| data(s, regression)).collect();
    for (routing, experts, act) in [
        (Routing::Dense, 1, Activation::Gelu),
        (Routing::TopK { k: 2 }, 4, Activation::Gelu),
        (Routing::Soft, 3, Activation::Relu),
    ] {
        assert_all_close(&spec(routing, experts, act), &seeds, &datas, &opts(40));
    }
}

#[test]
fn stacked_equals_one_at_a_time_for_classification() {
    let seeds = [4, 5, 6];
    let datas: Vec<TrainData> = seeds.iter().map(|&s| data(s, classes)).collect();
    let mut sp = spec(Routing::TopK { k: 1 }, 3, Activation::Gelu);
    sp.d_out = 3;
    sp.topk_renorm = false;
    assert_all_close(&sp, &seeds, &datas, &opts(30));
}

#[test]
fn single_seed_stack_equals_train() {
    let datas = [data(7, regression)];
    assert_all_close(
        &spec(Routing::TopK { k: 2 }, 4, Activation::Gelu),
        &[7],
        &datas,
        &opts(25),
    );
}

#[test]
fn a_seed_stopped_by_patience_keeps_its_own_result() {
    let seeds = [1, 2, 3];
    let mut datas: Vec<TrainData> = seeds.iter().map(|&s| data(s, regression)).collect();
    // Seed 2 validates on (half of) its training inputs with negated targets: fitting the
    // training set moves the predictions away from them, so its validation loss gets worse.
    let d = &mut datas[1];
    let TargetTensor::Regression(y) = &d.y_train else {
        unreachable!()
    };
    d.y_val = TargetTensor::Regression(y.narrow(0, 0, N_VAL).unwrap().neg().unwrap());
    d.x_val = d.x_train.narrow(0, 0, N_VAL).unwrap();
    let o = TrainOptions {
        eval_every: 5,
        patience: 10,
        ..opts(60)
    };
    let sp = spec(Routing::Soft, 3, Activation::Gelu);
    let (stacked, results, single, singles, calls) = both(&sp, &seeds, &datas, &o);
    let steps: Vec<usize> = singles.iter().map(|r| r.as_ref().unwrap().steps_run).collect();
    // The scenario itself: seed 2 stops early, another seed trains on past it.
    assert!(singles[1].as_ref().unwrap().stopped_early, "{steps:?}");
    assert!(steps.iter().any(|&s| s > steps[1]), "{steps:?}");
    assert_eq!(calls, *steps.iter().max().unwrap());
    for i in 0..3 {
        let what = format!("seed {}", seeds[i]);
        assert_reports_close(results[i].as_ref().unwrap(), singles[i].as_ref().unwrap(), &what);
        assert_params_close(&stacked[i], &single[i], &what);
    }
}

#[test]
fn a_diverging_seed_fails_alone() {
    let seeds = [1, 2, 3];
    let sp = spec(Routing::TopK { k: 2 }, 4, Activation::Gelu);
    let o = opts(30);
    // Poison one training target of seed 2 with inf; pick a row that is not in the first batch,
    // so the failure comes after some training (found with the reference `train`).
    let poisoned = |row: usize| {
        let mut d = data(2, regression);
        let TargetTensor::Regression(y) = &d.y_train else {
            unreachable!()
        };
        let mut v: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
        v[2 * row] = f32::INFINITY;
        d.y_train = TargetTensor::Regression(Tensor::from_vec(v, (N_TRAIN, 2), &Device::Cpu).unwrap());
        d
    };
    let fail_step = |d: &TrainData| {
        let mut m = Model::new(sp.clone(), 2, &Device::Cpu).unwrap();
        match train(&mut m, d, &o, 2, &mut |_, _| {}) {
            Err(Error::NonFinite { stage: "train", step }) => step,
            other => panic!("expected a train-stage NonFinite, got {other:?}"),
        }
    };
    let row = (0..N_TRAIN).find(|&r| fail_step(&poisoned(r)) >= 3).unwrap();
    let datas = vec![data(1, regression), poisoned(row), data(3, regression)];
    let (stacked, results, single, singles, calls) = both(&sp, &seeds, &datas, &o);
    assert_eq!(calls, o.steps);
    let step = fail_step(&datas[1]);
    assert!(matches!(results[1], Err(Error::NonFinite { stage: "train", step: s }) if s == step));
    // The failed seed's model holds its parameters from before the failing step, like `train`'s.
    assert_params_close(&stacked[1], &single[1], "failed seed");
    for i in [0, 2] {
        let what = format!("seed {}", seeds[i]);
        assert_reports_close(results[i].as_ref().unwrap(), singles[i].as_ref().unwrap(), &what);
        assert_params_close(&stacked[i], &single[i], &what);
    }
}

fn setup_error(models: &mut [Model], datas: &[TrainData]) -> String {
    let mut runs: Vec<StackedRun> = models
        .iter_mut()
        .zip(datas)
        .map(|(model, data)| StackedRun { model, data, seed: 0 })
        .collect();
    train_stacked(&mut runs, &opts(5), &mut |_, _| {})
        .unwrap_err()
        .to_string()
}

#[test]
fn setup_errors_name_what_differs() {
    let dev = Device::Cpu;
    let sp = spec(Routing::Soft, 3, Activation::Gelu);
    let mut other = sp.clone();
    other.experts = 4;
    let datas = [data(1, regression), data(2, regression)];
    let mut models = [
        Model::new(sp.clone(), 1, &dev).unwrap(),
        Model::new(other, 2, &dev).unwrap(),
    ];
    let msg = setup_error(&mut models, &datas);
    assert!(
        msg.contains("runs[1].model.spec") && msg.contains("experts = 4") && msg.contains("experts = 3"),
        "{msg}"
    );

    let new = |s| Model::new(sp.clone(), s, &dev).unwrap();
    let mut short = data(2, regression);
    short.x_train = short.x_train.narrow(0, 0, 30).unwrap();
    short.y_train = regression(20, 30).1;
    let msg = setup_error(&mut [new(1), new(2)], &[data(1, regression), short]);
    assert!(
        msg.contains("runs[1].data.x_train") && msg.contains("[30, 3]") && msg.contains("[32, 3]"),
        "{msg}"
    );

    let mut bad = data(2, regression);
    bad.x_val = randn(3, N_VAL, 2); // d_in 2 instead of 3: caught per run, as `train` does
    let msg = setup_error(&mut [new(1), new(2)], &[data(1, regression), bad]);
    assert!(msg.contains("runs[1].data.x_val"), "{msg}");

    let msg = setup_error(&mut [new(1), new(2)], &[data(1, regression), data(2, classes)]);
    assert!(
        msg.contains("runs[1].data.y_train") && msg.contains("class ids"),
        "{msg}"
    );

    let msg = setup_error(&mut [], &[]);
    assert!(msg.contains("runs"), "{msg}");
}

#[test]
fn stacked_routing_ops_equal_their_per_model_slices() {
    use moescope_model::{switch_loss, topk_mask, z_loss};
    // (S = 2, n = 6, E = 4) logits, with a 3-way tie in row 0 of model 1 (lower indices win).
    let mut v = vec(&randn(42, 12, 4));
    v[24..28].copy_from_slice(&[0.5, 0.5, 0.5, -1.0]);
    let f: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    let logits = Tensor::from_vec(f, (2, 6, 4), &Device::Cpu).unwrap();
    let probs = candle_nn::ops::softmax(&logits, candle_core::D::Minus1).unwrap();
    let mask = topk_mask(&logits, 2).unwrap();
    assert_eq!(mask.dims(), &[2, 6, 4]);
    let sw = vec(&switch_loss(&probs, &mask, 2).unwrap());
    let z = vec(&z_loss(&logits).unwrap());
    for s in 0..2 {
        let (l, p) = (logits.get(s).unwrap(), probs.get(s).unwrap());
        let m = topk_mask(&l, 2).unwrap();
        assert_eq!(vec(&mask.get(s).unwrap()), vec(&m));
        assert_eq!(sw[s], vec(&switch_loss(&p, &m, 2).unwrap())[0]);
        assert_eq!(z[s], vec(&z_loss(&l).unwrap())[0]);
    }
    assert_eq!(
        vec(&mask.get(1).unwrap())[..4],
        [1.0, 1.0, 0.0, 0.0],
        "tie → lower index"
    );
}
