//! Training (SPEC §2.6, §3): AdamW in the model's dtype, seeded batch order, early stopping.

use crate::error::{invalid, Error, Result};
use crate::model::{Model, Routed};
use crate::ops::{switch_loss, z_loss};
use crate::spec::ModelSpec;
use candle_core::{DType, Tensor, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use moescope_config::{derive_seed, Routing, TrainConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Training targets.
#[derive(Debug, Clone)]
pub enum TargetTensor {
    /// (n, d_out) float targets; the task loss is the MSE averaged over all n·d_out entries.
    Regression(Tensor),
    /// (n,) u32 class ids in 0..d_out; the task loss is the mean cross-entropy.
    Classes(Tensor),
}

impl TargetTensor {
    /// Number of rows.
    pub fn len(&self) -> Result<usize> {
        Ok(match self {
            TargetTensor::Regression(t) | TargetTensor::Classes(t) => t.dim(0)?,
        })
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    pub(crate) fn select(&self, idx: &Tensor) -> Result<TargetTensor> {
        Ok(match self {
            TargetTensor::Regression(t) => TargetTensor::Regression(t.index_select(idx, 0)?),
            TargetTensor::Classes(t) => TargetTensor::Classes(t.index_select(idx, 0)?),
        })
    }
}

/// Train and validation splits.
#[derive(Debug, Clone)]
pub struct TrainData {
    /// (n_train, d_in) inputs.
    pub x_train: Tensor,
    /// n_train targets.
    pub y_train: TargetTensor,
    /// (n_val, d_in) inputs.
    pub x_val: Tensor,
    /// n_val targets.
    pub y_val: TargetTensor,
}

/// Optimiser and loss options (SPEC §2.6, §3).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    /// Maximum number of optimiser steps.
    pub steps: usize,
    /// Batch size (capped at the training-set size).
    pub batch: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Adam (β1, β2).
    pub betas: (f64, f64),
    /// Adam ε.
    pub eps: f64,
    /// Decoupled weight decay (AdamW); 0 = plain Adam.
    pub weight_decay: f64,
    /// Cosine decay of the learning rate from lr to 0.1·lr over `steps`.
    pub cosine_decay: bool,
    /// Switch load-balancing coefficient α (Top-k; soft only with `balance_soft`).
    pub load_balance: f64,
    /// Apply the balancing loss to soft routing too.
    pub balance_soft: bool,
    /// Router z-loss coefficient (0 = off).
    pub z_loss: f64,
    /// Evaluate the validation loss every this many steps (and after the last).
    pub eval_every: usize,
    /// Stop when the validation loss has not improved for this many steps (0 = never); checked at
    /// evaluation points.
    pub patience: usize,
}

impl From<&TrainConfig> for TrainOptions {
    fn from(c: &TrainConfig) -> Self {
        TrainOptions {
            steps: c.steps,
            batch: c.batch,
            lr: c.lr,
            betas: (c.betas[0], c.betas[1]),
            eps: c.eps,
            weight_decay: c.weight_decay,
            cosine_decay: c.cosine_decay,
            load_balance: c.load_balance,
            balance_soft: c.balance_soft,
            z_loss: c.z_loss,
            eval_every: c.eval_every,
            patience: c.patience,
        }
    }
}

/// One evaluation point of the learning curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    /// Optimiser steps done.
    pub step: usize,
    /// Mean task loss of the training batches since the previous point.
    pub train_loss: f64,
    /// Task loss on the whole validation set.
    pub val_loss: f64,
}

/// Outcome of [`train`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrainReport {
    /// Learning curve, one point per evaluation.
    pub curve: Vec<CurvePoint>,
    /// Task loss on the whole training set with the final weights.
    pub final_train_loss: f64,
    /// Task loss on the whole validation set with the final weights.
    pub final_val_loss: f64,
    /// Optimiser steps done.
    pub steps_run: usize,
    /// Whether patience ended the run before `steps`.
    pub stopped_early: bool,
}

impl TrainOptions {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.batch == 0 {
            return Err(invalid("batch", "a positive batch size", self.batch));
        }
        if self.eval_every == 0 {
            return Err(invalid("eval_every", "a positive number of steps", self.eval_every));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(invalid("lr", "a finite learning rate > 0", self.lr));
        }
        for (field, v) in [
            ("load_balance", self.load_balance),
            ("z_loss", self.z_loss),
            ("weight_decay", self.weight_decay),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(field, "a finite coefficient ≥ 0", v));
            }
        }
        Ok(())
    }

    /// candle-nn's AdamW settings for these options (the learning rate is reset every step).
    pub(crate) fn adamw(&self) -> ParamsAdamW {
        ParamsAdamW {
            lr: self.lr,
            beta1: self.betas.0,
            beta2: self.betas.1,
            eps: self.eps,
            weight_decay: self.weight_decay,
        }
    }

    /// Learning rate at 0-based step `t`: cosine from lr to 0.1·lr when enabled.
    pub(crate) fn lr_at(&self, t: usize) -> f64 {
        if !self.cosine_decay || self.steps <= 1 {
            return self.lr;
        }
        let frac = t as f64 / (self.steps - 1) as f64;
        self.lr * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * frac).cos()))
    }
}

/// Task loss of predictions y (…, n, d_out): a scalar tensor for one model, (S) for a stack of S
/// models (leading axis on y and the targets). For one model this is exactly candle-nn's `mse`
/// and `cross_entropy` (same ops in the same order), written over the last two axes.
pub(crate) fn task_loss(y: &Tensor, target: &TargetTensor) -> Result<Tensor> {
    let r = y.rank();
    let (n, cols) = (y.dim(D::Minus2)?, y.dim(D::Minus1)?);
    Ok(match target {
        TargetTensor::Regression(t) => {
            let sq = (y - t.to_dtype(y.dtype())?)?.sqr()?; // (…, n, d_out)
            (sq.sum(vec![r - 2, r - 1])? / (n * cols) as f64)?
        }
        TargetTensor::Classes(t) => {
            let logp = candle_nn::ops::log_softmax(y, D::Minus1)?; // (…, n, C)
            let picked = logp.gather(&t.unsqueeze(t.rank())?, D::Minus1)?; // (…, n, 1)
            picked.sum(vec![r - 2, r - 1])?.affine(-1f64 / n as f64, 0.)?
        }
    })
}

/// The training objective on one batch: task loss + α·switch loss (Top-k, and soft with
/// `balance_soft`) + z-loss coefficient · z-loss (routed models). Returns (total, task).
pub fn objective(model: &Model, x: &Tensor, y: &TargetTensor, opts: &TrainOptions) -> Result<(Tensor, Tensor)> {
    let (pred, routed) = model.forward_lean(x)?;
    objective_of(model.spec(), &pred, &routed, y, opts)
}

/// [`objective`] from the forward pass's outputs: scalars for one model, (S) per-model losses for
/// a stack of S models.
pub(crate) fn objective_of(
    spec: &ModelSpec,
    pred: &Tensor,
    routed: &Routed,
    y: &TargetTensor,
    opts: &TrainOptions,
) -> Result<(Tensor, Tensor)> {
    let task = task_loss(pred, y)?;
    let mut total = task.clone();
    let k = match spec.routing {
        Routing::TopK { k } => Some(k),
        Routing::Soft if opts.balance_soft => Some(spec.experts),
        _ => None,
    };
    if let (Some(k), Some(probs), true) = (k, &routed.probs, opts.load_balance > 0.0) {
        total = (total + (switch_loss(probs, &routed.selected, k)? * opts.load_balance)?)?;
    }
    if let (Some(logits), true) = (&routed.logits, opts.z_loss > 0.0) {
        total = (total + (z_loss(logits)? * opts.z_loss)?)?;
    }
    Ok((total, task))
}

/// Task loss only (MSE or cross-entropy) of the model on (x, y), as f64.
pub fn evaluate(model: &Model, x: &Tensor, y: &TargetTensor) -> Result<f64> {
    let (pred, _) = model.forward_lean(x)?;
    scalar(&task_loss(&pred, y)?)
}

pub(crate) fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

/// Batch indices: a fresh ChaCha8 permutation of 0..n each epoch, cut into consecutive batches
/// (a short tail is dropped). Depends only on (seed, n, batch), so it is shared by every
/// architecture of a seed.
pub(crate) struct BatchOrder {
    rng: ChaCha8Rng,
    perm: Vec<u32>,
    pos: usize,
    batch: usize,
}

impl BatchOrder {
    pub(crate) fn new(seed: u64, n: usize, batch: usize) -> Self {
        let perm = (0..n as u32).collect();
        let rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, "batches"));
        BatchOrder {
            rng,
            perm,
            pos: n,
            batch,
        }
    }

    pub(crate) fn next(&mut self) -> &[u32] {
        if self.pos + self.batch > self.perm.len() {
            for i in (1..self.perm.len()).rev() {
                let j = self.rng.random_range(0..=i); // Fisher–Yates
                self.perm.swap(i, j);
            }
            self.pos = 0;
        }
        self.pos += self.batch;
        &self.perm[self.pos - self.batch..self.pos]
    }
}

pub(crate) fn check_data(model: &Model, data: &TrainData) -> Result<()> {
    let spec = model.spec();
    for (name, x, y) in [
        ("x_train", &data.x_train, &data.y_train),
        ("x_val", &data.x_val, &data.y_val),
    ] {
        let (n, c) = crate::ops::dims2(name, x)?;
        if c != spec.d_in || n == 0 || y.len()? != n {
            return Err(Error::Shape {
                name: name.into(),
                expected: format!("(n > 0, d_in = {}) with n targets", spec.d_in),
                got: format!("{:?} with {} targets", x.dims(), y.len()?),
            });
        }
        if let TargetTensor::Regression(t) = y {
            if t.dims() != [n, spec.d_out] {
                return Err(crate::ops::shape_err(name, &[n, spec.d_out], t.dims()));
            }
        }
    }
    Ok(())
}

/// Trains `model` in place. The batch order comes from ChaCha8(derive_seed(seed, "batches")), so
/// it is identical across architectures of one seed. A non-finite batch loss is
/// [`Error::NonFinite`] with stage `"train"`, a non-finite validation or final loss stage `"eval"`.
/// `on_step(step, steps)` is called after every step.
pub fn train(
    model: &mut Model,
    data: &TrainData,
    opts: &TrainOptions,
    seed: u64,
    on_step: &mut dyn FnMut(usize, usize),
) -> Result<TrainReport> {
    opts.validate()?;
    check_data(model, data)?;
    let x_train = data.x_train.to_dtype(model.dtype())?;
    let n = x_train.dim(0)?;
    let mut opt = AdamW::new(model.trainable_vars()?, opts.adamw())?;
    let mut order = BatchOrder::new(seed, n, opts.batch.min(n));
    let (mut curve, mut best, mut best_step) = (Vec::new(), f64::INFINITY, 0);
    let (mut running, mut count, mut steps_run, mut stopped_early) = (0.0, 0usize, 0, false);
    for step in 1..=opts.steps {
        opt.set_learning_rate(opts.lr_at(step - 1));
        let idx = Tensor::new(order.next(), x_train.device())?;
        let (total, task) = objective(
            model,
            &x_train.index_select(&idx, 0)?,
            &data.y_train.select(&idx)?,
            opts,
        )?;
        let (total_v, task_v) = (scalar(&total)?, scalar(&task)?);
        if !total_v.is_finite() {
            return Err(Error::NonFinite { stage: "train", step });
        }
        opt.backward_step(&total)?;
        (running, count, steps_run) = (running + task_v, count + 1, step);
        on_step(step, opts.steps);
        if step % opts.eval_every == 0 || step == opts.steps {
            let val = finite(evaluate(model, &data.x_val, &data.y_val)?, step)?;
            curve.push(CurvePoint {
                step,
                train_loss: running / count as f64,
                val_loss: val,
            });
            (running, count) = (0.0, 0);
            if val < best {
                (best, best_step) = (val, step);
            } else if opts.patience > 0 && step - best_step >= opts.patience {
                stopped_early = step < opts.steps;
                break;
            }
        }
    }
    let final_train_loss = finite(evaluate(model, &x_train, &data.y_train)?, steps_run)?;
    let final_val_loss = finite(evaluate(model, &data.x_val, &data.y_val)?, steps_run)?;
    tracing::debug!(steps_run, final_train_loss, final_val_loss, "trained");
    Ok(TrainReport {
        curve,
        final_train_loss,
        final_val_loss,
        steps_run,
        stopped_early,
    })
}

pub(crate) fn finite(v: f64, step: usize) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::NonFinite { stage: "eval", step })
    }
}
