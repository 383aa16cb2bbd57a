//! Stacked-seed training: the models of one spec (one seed each) trained as one batched graph.
//!
//! One small model cannot fill a GPU, so the S seeds of an architecture are stacked along a new
//! leading model axis: every parameter becomes one (S, ·) [`Var`], every batch (S, B, ·), and the
//! forward pass is the single model's ([`Net`] is written over leading axes), with batched
//! matmuls. The objective is the sum over the seeds of each seed's own objective; since no op
//! mixes the model axis and AdamW is elementwise, the gradient and update of seed s's slice are
//! exactly those of training seed s alone (up to float reassociation).
//!
//! Per-seed bookkeeping mirrors [`train`](crate::train::train): batch order, learning curve,
//! patience. A seed that stops early or fails keeps computing (its slice cannot be removed from
//! the optimiser's state) but with weight 0 in the summed loss; its parameters are snapshot when
//! it ends and written back at the end.

use crate::error::{invalid, Error, Result};
use crate::model::{Model, Net, Params};
use crate::train::{
    check_data, evaluate, finite, objective_of, task_loss, BatchOrder, CurvePoint, TargetTensor, TrainData,
    TrainOptions, TrainReport,
};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer};

/// One seed of a stacked run: its model (initialised for that seed; overwritten with the trained
/// parameters), its data and its seed (which fixes its batch order, as in
/// [`train`](crate::train::train)).
#[derive(Debug)]
pub struct StackedRun<'a> {
    /// The model to train in place.
    pub model: &'a mut Model,
    /// This seed's train and validation splits.
    pub data: &'a TrainData,
    /// The seed of the batch order.
    pub seed: u64,
}

/// How a seed's training ended before the last step: its parameters at that point and, for a
/// failure, the error.
enum End {
    Stopped(Params),
    Failed(Error, Params),
}

/// Per-seed state of the training loop (the locals of [`train`](crate::train::train)).
struct SeedRun {
    order: BatchOrder,
    curve: Vec<CurvePoint>,
    best: f64,
    best_step: usize,
    running: f64,
    count: usize,
    steps_run: usize,
    stopped_early: bool,
    end: Option<End>,
}

impl SeedRun {
    fn active(&self) -> bool {
        self.end.is_none()
    }
}

/// The seeds' data stacked on the models' device and dtype. Training sets are flattened to
/// (S·n, ·) so one `index_select` with offset indices s·n + i gathers every seed's batch.
struct StackedData {
    n: usize,
    x_train: Tensor,       // (S·n, d_in)
    y_train: TargetTensor, // (S·n, d_out) or (S·n)
    x_val: Tensor,         // (S, n_val, d_in)
    y_val: TargetTensor,   // (S, n_val, d_out) or (S, n_val)
}

/// Trains the models of `runs` (same spec, one seed and data set each) as one batched graph, with
/// the semantics of [`train`](crate::train::train) per seed: same batch order, objective, AdamW
/// updates, learning-rate schedule, curve and patience. A seed stopped by patience keeps its
/// parameters of that step while the others continue; the loop ends when every seed has ended.
///
/// The outer error is for setup problems (no runs, bad options, specs, dtypes, devices or data
/// shapes that differ between the seeds) and device errors; the inner one is each seed's own
/// outcome, e.g. [`Error::NonFinite`] for a diverging seed, which does not affect the others.
/// Afterwards each model holds its own trained parameters as plain tensors (those of the step
/// before the failure, for a seed whose batch loss became non-finite). `on_step(step, steps)` is
/// called after every optimiser step.
pub fn train_stacked(
    runs: &mut [StackedRun<'_>],
    opts: &TrainOptions,
    on_step: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Result<TrainReport>>> {
    opts.validate()?;
    check_runs(runs)?;
    let models: Vec<&Model> = runs.iter().map(|r| &*r.model).collect();
    let spec = models[0].spec().clone();
    let (dtype, device) = (models[0].dtype(), models[0].device().clone());
    let data = StackedData::new(runs, dtype, &device)?;
    let (vars, params) = stacked_vars(&models)?;
    let mut opt = AdamW::new(vars, opts.adamw())?;
    let batch = opts.batch.min(data.n);
    let mut seeds: Vec<SeedRun> = runs.iter().map(|r| seed_run(r.seed, data.n, batch)).collect();
    let net = Net {
        spec: &spec,
        params: &params,
    };
    for step in 1..=opts.steps {
        if !seeds.iter().any(SeedRun::active) {
            break;
        }
        opt.set_learning_rate(opts.lr_at(step - 1));
        let (xb, yb) = data.batch(&mut seeds)?;
        let (pred, routed) = net.forward_lean(&xb)?;
        let (total, task) = objective_of(&spec, &pred, &routed, &yb, opts)?; // (S) each
        let values = Tensor::stack(&[&total, &task], 0)?
            .to_dtype(DType::F64)?
            .to_vec2::<f64>()?;
        for (s, seed) in seeds.iter_mut().enumerate() {
            if seed.active() && !values[0][s].is_finite() {
                let err = Error::NonFinite { stage: "train", step };
                seed.end = Some(End::Failed(err, unstack(&params, s)?));
            }
        }
        if !seeds.iter().any(SeedRun::active) {
            break;
        }
        opt.backward_step(&masked_sum(&total, &seeds)?)?;
        for (seed, task_v) in seeds.iter_mut().zip(&values[1]).filter(|(s, _)| s.active()) {
            (seed.running, seed.count, seed.steps_run) = (seed.running + task_v, seed.count + 1, step);
        }
        on_step(step, opts.steps);
        if step % opts.eval_every == 0 || step == opts.steps {
            eval_point(net, &data, &mut seeds, step, opts)?;
        }
    }
    finish(runs, &params, seeds)
}

fn seed_run(seed: u64, n: usize, batch: usize) -> SeedRun {
    SeedRun {
        order: BatchOrder::new(seed, n, batch),
        curve: Vec::new(),
        best: f64::INFINITY,
        best_step: 0,
        running: 0.0,
        count: 0,
        steps_run: 0,
        stopped_early: false,
        end: None,
    }
}

/// Σ_s over the active seeds of total_s, a scalar. `where_cond` rather than a 0/1 product, so an
/// ended seed's NaN or inf loss contributes an exact 0 (NaN·0 would poison the sum); the
/// backward of an ended seed then only reaches its own slices of the parameters.
fn masked_sum(total: &Tensor, seeds: &[SeedRun]) -> Result<Tensor> {
    let mask: Vec<u8> = seeds.iter().map(|s| u8::from(s.active())).collect();
    let mask = Tensor::from_vec(mask, seeds.len(), total.device())?;
    Ok(mask.where_cond(total, &total.zeros_like()?)?.sum_all()?)
}

/// The validation losses of every seed at `step`, then each active seed's curve point and
/// patience check, as in [`train`](crate::train::train).
fn eval_point(net: Net<'_>, data: &StackedData, seeds: &mut [SeedRun], step: usize, opts: &TrainOptions) -> Result<()> {
    let (pred, _) = net.forward_lean(&data.x_val)?;
    let vals = task_loss(&pred, &data.y_val)?.to_dtype(DType::F64)?.to_vec1::<f64>()?; // (S)
    for (s, (seed, val)) in seeds.iter_mut().zip(vals).enumerate() {
        if !seed.active() {
            continue;
        }
        let val = match finite(val, step) {
            Ok(v) => v,
            Err(e) => {
                seed.end = Some(End::Failed(e, unstack(net.params, s)?));
                continue;
            }
        };
        seed.curve.push(CurvePoint {
            step,
            train_loss: seed.running / seed.count as f64,
            val_loss: val,
        });
        (seed.running, seed.count) = (0.0, 0);
        if val < seed.best {
            (seed.best, seed.best_step) = (val, step);
        } else if opts.patience > 0 && step - seed.best_step >= opts.patience {
            seed.stopped_early = step < opts.steps;
            seed.end = Some(End::Stopped(unstack(net.params, s)?));
        }
    }
    Ok(())
}

/// Writes each seed's parameters (its snapshot, or its slice of the stack) into its model and
/// computes its final losses on them, exactly as [`train`](crate::train::train) does.
fn finish(runs: &mut [StackedRun<'_>], params: &Params, seeds: Vec<SeedRun>) -> Result<Vec<Result<TrainReport>>> {
    let mut reports = Vec::with_capacity(runs.len());
    for (s, (run, seed)) in runs.iter_mut().zip(seeds).enumerate() {
        let (own, failure) = match seed.end {
            Some(End::Stopped(p)) => (p, None),
            Some(End::Failed(e, p)) => (p, Some(e)),
            None => (unstack(params, s)?, None),
        };
        *run.model = Model::from_params(run.model.spec().clone(), own)?;
        if let Some(e) = failure {
            reports.push(Err(e));
            continue;
        }
        let (model, data, steps_run) = (&*run.model, run.data, seed.steps_run);
        let losses = evaluate(model, &data.x_train, &data.y_train)
            .and_then(|t| finite(t, steps_run))
            .and_then(|t| Ok((t, finite(evaluate(model, &data.x_val, &data.y_val)?, steps_run)?)));
        reports.push(losses.map(|(final_train_loss, final_val_loss)| {
            tracing::debug!(
                seed = s,
                steps_run,
                final_train_loss,
                final_val_loss,
                "trained (stacked)"
            );
            TrainReport {
                curve: seed.curve,
                final_train_loss,
                final_val_loss,
                steps_run,
                stopped_early: seed.stopped_early,
            }
        }));
    }
    Ok(reports)
}

/// Every parameter of the models stacked along a new leading axis, as one [`Var`] each, and the
/// [`Params`] view of those Vars (shapes (S, ·)).
fn stacked_vars(models: &[&Model]) -> Result<(Vec<Var>, Params)> {
    let ps: Vec<&Params> = models.iter().map(|m| m.params()).collect();
    let mut vars = Vec::with_capacity(10);
    let params = Params::try_zip_map(&ps, |ts| {
        let ts: Vec<Tensor> = ts.iter().map(|t| t.detach()).collect();
        let var = Var::from_tensor(&Tensor::stack(&ts, 0)?)?; // (S, ·), own storage
        let t = var.as_tensor().clone();
        vars.push(var);
        Ok(t)
    })?;
    Ok((vars, params))
}

/// Seed s's parameters from the stack, as plain tensors with storage of their own (a copy: the
/// stacked Vars keep being updated in place).
fn unstack(params: &Params, s: usize) -> Result<Params> {
    params.try_map(|t| Ok(t.get(s)?.detach().force_contiguous()?.detach()))
}

impl StackedData {
    fn new(runs: &[StackedRun<'_>], dtype: DType, device: &Device) -> Result<StackedData> {
        let n = runs[0].data.x_train.dim(0)?;
        if runs.len().saturating_mul(n) > u32::MAX as usize {
            return Err(invalid(
                "runs",
                "S·n_train ≤ 2³² − 1 (u32 batch indices)",
                runs.len() * n,
            ));
        }
        let x = |f: fn(&TrainData) -> &Tensor| -> Result<Tensor> {
            let ts = runs
                .iter()
                .map(|r| Ok(f(r.data).to_device(device)?.to_dtype(dtype)?))
                .collect::<Result<Vec<_>>>()?;
            Ok(Tensor::stack(&ts, 0)?) // (S, n, ·)
        };
        let y = |f: fn(&TrainData) -> &TargetTensor| -> Result<TargetTensor> {
            let ts = runs
                .iter()
                .map(|r| {
                    Ok(match f(r.data) {
                        TargetTensor::Regression(t) => t.to_device(device)?.to_dtype(dtype)?,
                        TargetTensor::Classes(t) => t.to_device(device)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let stacked = Tensor::stack(&ts, 0)?; // (S, n, ·)
            Ok(match f(runs[0].data) {
                TargetTensor::Regression(_) => TargetTensor::Regression(stacked),
                TargetTensor::Classes(_) => TargetTensor::Classes(stacked),
            })
        };
        Ok(StackedData {
            n,
            x_train: x(|d| &d.x_train)?.flatten_to(1)?,
            y_train: map_target(&y(|d| &d.y_train)?, |t| Ok(t.flatten_to(1)?))?,
            x_val: x(|d| &d.x_val)?,
            y_val: y(|d| &d.y_val)?,
        })
    }

    /// The next batch of every seed, (S, B, d_in) and (S, B, d_out) or (S, B).
    fn batch(&self, seeds: &mut [SeedRun]) -> Result<(Tensor, TargetTensor)> {
        let mut idx = Vec::new();
        for (s, seed) in seeds.iter_mut().enumerate() {
            let offset = (s * self.n) as u32; // fits: checked in `new`
            idx.extend(seed.order.next().iter().map(|i| offset + i));
        }
        let (s, b) = (seeds.len(), idx.len() / seeds.len().max(1));
        let idx = Tensor::from_vec(idx, s * b, self.x_train.device())?;
        let unflatten = |t: &Tensor| -> Result<Tensor> {
            let mut dims = vec![s, b];
            dims.extend_from_slice(&t.dims()[1..]);
            Ok(t.reshape(dims)?)
        };
        let xb = unflatten(&self.x_train.index_select(&idx, 0)?)?;
        let yb = map_target(&self.y_train.select(&idx)?, unflatten)?;
        Ok((xb, yb))
    }
}

fn map_target(t: &TargetTensor, f: impl Fn(&Tensor) -> Result<Tensor>) -> Result<TargetTensor> {
    Ok(match t {
        TargetTensor::Regression(t) => TargetTensor::Regression(f(t)?),
        TargetTensor::Classes(t) => TargetTensor::Classes(f(t)?),
    })
}

/// Setup checks: at least one run; each run's data fits its model (as in `train`); and every run
/// has the spec, dtype, device and data shapes of `runs[0]`.
fn check_runs(runs: &[StackedRun<'_>]) -> Result<()> {
    let first = runs
        .first()
        .ok_or_else(|| invalid("runs", "at least one model to train", 0))?;
    for (i, run) in runs.iter().enumerate() {
        check_data(run.model, run.data).map_err(|e| prefixed(e, i))?;
        let (spec, spec0) = (run.model.spec(), first.model.spec());
        if spec != spec0 {
            let (got, expected) = spec_diff(spec, spec0);
            return Err(invalid(
                &format!("runs[{i}].model.spec"),
                format!("the spec of runs[0] ({expected})"),
                got,
            ));
        }
        let (m, m0) = (&*run.model, &*first.model);
        if m.dtype() != m0.dtype() || !m.device().same_device(m0.device()) {
            return Err(Error::Shape {
                name: format!("runs[{i}].model"),
                expected: format!("dtype {:?} on {:?} like runs[0]", m0.dtype(), m0.device()),
                got: format!("{:?} on {:?}", m.dtype(), m.device()),
            });
        }
        check_same_shapes(run.data, first.data, i)?;
    }
    Ok(())
}

/// Every tensor of `data` has the shape (and, for targets, the kind and dtype) of `first`'s.
fn check_same_shapes(data: &TrainData, first: &TrainData, i: usize) -> Result<()> {
    let describe = |t: &TargetTensor| match t {
        TargetTensor::Regression(t) => format!("regression targets {:?}", t.dims()),
        TargetTensor::Classes(t) => format!("class ids {:?} {:?}", t.dims(), t.dtype()),
    };
    let pairs = [
        (
            "x_train",
            format!("{:?}", data.x_train.dims()),
            format!("{:?}", first.x_train.dims()),
        ),
        ("y_train", describe(&data.y_train), describe(&first.y_train)),
        (
            "x_val",
            format!("{:?}", data.x_val.dims()),
            format!("{:?}", first.x_val.dims()),
        ),
        ("y_val", describe(&data.y_val), describe(&first.y_val)),
    ];
    for (name, got, expected) in pairs {
        if got != expected {
            return Err(Error::Shape {
                name: format!("runs[{i}].data.{name}"),
                expected: format!("{expected} like runs[0].data.{name} (seeds are stacked)"),
                got,
            });
        }
    }
    Ok(())
}

/// "field = value" of the fields where `spec` and `spec0` differ, for each of them.
fn spec_diff(spec: &crate::spec::ModelSpec, spec0: &crate::spec::ModelSpec) -> (String, String) {
    let fields = |s| match serde_json::to_value(s) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let (a, b) = (fields(spec), fields(spec0));
    let differing: Vec<_> = a.iter().filter(|(k, v)| b.get(*k) != Some(v)).collect();
    let show = |m: &serde_json::Map<String, serde_json::Value>| {
        let parts: Vec<String> = differing
            .iter()
            .map(|(k, _)| format!("{k} = {}", m.get(*k).map_or("?".into(), |v| v.to_string())))
            .collect();
        parts.join(", ")
    };
    (show(&a), show(&b))
}

/// Prefixes the tensor name of a shape error with `runs[i].data.`.
fn prefixed(e: Error, i: usize) -> Error {
    match e {
        Error::Shape { name, expected, got } => Error::Shape {
            name: format!("runs[{i}].data.{name}"),
            expected,
            got,
        },
        e => e,
    }
}
