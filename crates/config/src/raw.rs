//! The YAML schema, as close to the file as possible (`RawConfig`).
//!
//! Every struct rejects unknown keys. Defaults live here, on the raw side, so that a config file
//! only has to name what differs from SPEC §2–§6; `resolve` turns this into a checked `Experiment`.

use crate::kinds::*;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Top level of an experiment file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping of experiment settings (name, seeds, task, model, architectures, …)"
)]
pub struct RawConfig {
    /// Short name used for the run folder.
    pub name: String,
    /// Seeds: either a list (`[0, 1, 2]`) or a count starting at 0 (`3`).
    pub seeds: Seeds,
    /// `cpu` or `cuda:N`.
    #[serde(default = "default_device")]
    pub device: String,
    /// The data (SPEC §3).
    pub task: RawTask,
    /// Shapes shared by all architectures (SPEC §2).
    pub model: RawModel,
    /// The architectures to train and compare, e.g. `[dense, top1, top2, soft]`.
    pub architectures: Vec<String>,
    /// Optimiser and losses.
    #[serde(default)]
    pub train: TrainConfig,
    /// Probe and spectral-stage options.
    #[serde(default)]
    pub probe: ProbeConfig,
    /// Across-seed statistics.
    #[serde(default)]
    pub stats: StatsConfig,
    /// What the run writes, and where.
    #[serde(default)]
    pub output: OutputConfig,
}

/// Routed width d when the config names none and there is an encoder.
pub(crate) const DEFAULT_D: usize = 32;

fn default_device() -> String {
    "cpu".into()
}

/// `seeds: 3` or `seeds: [0, 4, 7]`. Deserialised by hand so that a wrong value gets a plain
/// message instead of serde's "did not match any variant of untagged enum".
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Seeds {
    /// Seeds 0..n.
    Count(u32),
    /// These seeds.
    List(Vec<u64>),
}

impl<'de> Deserialize<'de> for Seeds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_yaml::Value::deserialize(d)?;
        seeds_from(&value).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expected a count (e.g. 3) or a list of non-negative integers, got {}",
                show(&value)
            ))
        })
    }
}

fn seeds_from(value: &serde_yaml::Value) -> Option<Seeds> {
    use serde_yaml::Value;
    match value {
        Value::Number(n) => Some(Seeds::Count(u32::try_from(n.as_u64()?).ok()?)),
        Value::Sequence(items) => Some(Seeds::List(
            items.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>()?,
        )),
        _ => None,
    }
}

/// A YAML value on one line, for messages (`-1`, `[0, -2]`, `"x"`).
pub(crate) fn show(value: &serde_yaml::Value) -> String {
    use serde_yaml::Value;
    match value {
        Value::Null => "nothing (null)".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Sequence(items) => format!("[{}]", items.iter().map(show).collect::<Vec<_>>().join(", ")),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(t) => format!("{} {}", t.tag, show(&t.value)),
    }
}

/// SPEC §3: which task, and its sizes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping of task settings (kind, d_in, n_train, …)"
)]
pub struct RawTask {
    /// `t1_regimes`, `t2_teacher`, `t3_manifold`, `t4_clusters`, `idx` or `csv`.
    pub kind: TaskKind,
    /// Input dimension of the synthetic tasks (files set their own).
    #[serde(default = "d16")]
    pub d_in: usize,
    /// Output dimension of the synthetic regression tasks.
    #[serde(default = "one")]
    pub d_out: usize,
    /// Number of clusters C for T1/T4; `0` means C = number of experts.
    #[serde(default)]
    pub clusters: usize,
    /// Cluster-mean scale r_sep.
    #[serde(default = "three")]
    pub separation: f64,
    /// Target noise standard deviation.
    #[serde(default = "noise")]
    pub noise: f64,
    /// T1: posterior-weighted teacher mixture instead of the argmax teacher.
    #[serde(default)]
    pub soft_targets: bool,
    /// Hidden width of the random teacher MLPs.
    #[serde(default = "teacher")]
    pub teacher_hidden: usize,
    /// T3 latent dimension q.
    #[serde(default = "two")]
    pub manifold_dim: usize,
    /// Training points.
    #[serde(default = "n_train")]
    pub n_train: usize,
    /// Validation points.
    #[serde(default = "n_small")]
    pub n_val: usize,
    /// Probe points, held out, shared by all architectures of a seed.
    #[serde(default = "n_small")]
    pub n_probe: usize,
    /// IDX: path of the images file (gzip or raw).
    #[serde(default)]
    pub images: Option<PathBuf>,
    /// IDX: path of the labels file (gzip or raw).
    #[serde(default)]
    pub labels: Option<PathBuf>,
    /// CSV: path of the table (gzip or raw).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// CSV: whether the first row is a header; `None` = detect.
    #[serde(default)]
    pub header: Option<bool>,
    /// CSV: label column index; negative counts from the end (`-1` = last).
    #[serde(default = "minus_one")]
    pub label_column: i64,
    /// CSV: `classification` or `regression` (required for CSV).
    #[serde(default)]
    pub problem: Option<Problem>,
    /// Standardise inputs (and regression targets) with train-split statistics.
    #[serde(default = "yes")]
    pub standardize: bool,
}

/// SPEC §2: shapes shared by every architecture.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping of model settings (d, dense_hidden, experts, …)"
)]
pub struct RawModel {
    /// Routed hidden width d. Absent: 32 with an encoder, task.d_in without one (h = x).
    /// `resolve` writes the width it chose back here, so the stored config shows the d used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<usize>,
    /// Dense FFN hidden width H.
    #[serde(default = "h256")]
    pub dense_hidden: usize,
    /// Number of experts E.
    #[serde(default = "e8")]
    pub experts: usize,
    /// `parameter` (m = H/E) or `compute` (m = H/k).
    #[serde(default)]
    pub capacity: Capacity,
    /// `gelu` (tanh approximation) or `relu`.
    #[serde(default)]
    pub activation: Activation,
    /// Shared encoder h = φ(W0 x + b0); `false` routes x itself.
    #[serde(default = "yes")]
    pub encoder: bool,
    /// z = h + u instead of z = u.
    #[serde(default = "yes")]
    pub residual: bool,
    /// Router temperature τ.
    #[serde(default = "one_f")]
    pub temperature: f64,
    /// Top-k: renormalise over the selected experts.
    #[serde(default = "yes")]
    pub topk_renorm: bool,
    /// Router weight init standard deviation.
    #[serde(default = "router_std")]
    pub router_init_std: f64,
}

/// SPEC §3 optimiser and §2.6 losses.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping of training settings (steps, batch, lr, …)"
)]
pub struct TrainConfig {
    /// Optimiser steps.
    #[serde(default = "steps")]
    pub steps: usize,
    /// Minibatch size.
    #[serde(default = "batch")]
    pub batch: usize,
    /// Learning rate.
    #[serde(default = "lr")]
    pub lr: f64,
    /// Adam β1, β2.
    #[serde(default = "betas")]
    pub betas: [f64; 2],
    /// Adam ε.
    #[serde(default = "adam_eps")]
    pub eps: f64,
    /// Decoupled weight decay (AdamW).
    #[serde(default)]
    pub weight_decay: f64,
    /// Cosine decay of the learning rate to 0.1·lr.
    #[serde(default)]
    pub cosine_decay: bool,
    /// Switch load-balancing coefficient α (Top-k; soft only with `balance_soft`).
    #[serde(default = "alpha")]
    pub load_balance: f64,
    /// Apply the P-based balancing loss to soft routing too.
    #[serde(default)]
    pub balance_soft: bool,
    /// Router z-loss coefficient (0 = off).
    #[serde(default)]
    pub z_loss: f64,
    /// Evaluate the validation loss every this many steps.
    #[serde(default = "eval_every")]
    pub eval_every: usize,
    /// Stop when the validation loss has not improved for this many steps (0 = never).
    #[serde(default)]
    pub patience: usize,
    /// Seeds of one architecture trained together as one batched graph (a leading model axis);
    /// 1 = one model at a time. Same numbers either way (within f32 rounding). On a GPU, where
    /// one small model cannot fill the device, set it to the number of seeds.
    #[serde(default = "one")]
    pub stack: usize,
}

/// SPEC §4–§7 probe options.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping of probe settings (chunk, subspace_rank, decay_q, …)"
)]
pub struct ProbeConfig {
    /// `closed_form` (default) or `autograd` (per-output VJPs).
    #[serde(default)]
    pub jacobian: JacobianPath,
    /// Probe points per chunk; bounds memory.
    #[serde(default = "chunk")]
    pub chunk: usize,
    /// `f64` (default) or `f32`.
    #[serde(default)]
    pub precision: Precision,
    /// Where the Jacobians' singular values are taken: `auto` (default), `host` or `device`.
    #[serde(default)]
    pub spectra: SpectraOn,
    /// Dense-partition groups: `index` or `random`.
    #[serde(default)]
    pub dense_groups: GroupOrder,
    /// Expert-average weights: `gate` or `uniform_routed`.
    #[serde(default)]
    pub avg_weight: AvgWeight,
    /// Weighted-PCA weights: `gate`, `hard_argmax` or `gate_power`.
    #[serde(default)]
    pub weight_mode: WeightMode,
    /// γ for `gate_power`.
    #[serde(default = "one_f")]
    pub gate_power: f64,
    /// Reliability-weights unbiased covariance.
    #[serde(default)]
    pub unbiased: bool,
    /// Subspace rank r for §6.5 and A3.
    #[serde(default = "four")]
    pub subspace_rank: usize,
    /// Decay index q for ρ_q and ε_q.
    #[serde(default = "four")]
    pub decay_q: usize,
    /// Routing margin under which a Top-k point counts as near a boundary.
    #[serde(default = "margin")]
    pub boundary_margin: f64,
    /// SPEC §9.2 S4 local-robustness metrics; absent or `null` = off (they cost a second
    /// Jacobian pass over the probe set).
    #[serde(default)]
    pub robustness: Option<RobustnessConfig>,
}

/// SPEC §9.2 S4: input-perturbation sensitivity, finite-difference curvature and (T1 only) the
/// loss under shifted cluster means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping of robustness settings (sigmas, samples, shift)"
)]
pub struct RobustnessConfig {
    /// Perturbation scales σ_δ: δ ~ N(0, σ_δ² I) in input space.
    #[serde(default = "sigmas")]
    pub sigmas: Vec<f64>,
    /// Draws of δ per probe point and σ_δ.
    #[serde(default = "four")]
    pub samples: usize,
    /// T1: length of the shift applied to every cluster mean (along one seeded unit direction).
    #[serde(default = "one_f")]
    pub shift: f64,
}

/// SPEC §8.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping of statistics settings (bootstrap, fit_margin, alpha)"
)]
pub struct StatsConfig {
    /// Bootstrap resamples for the CI of paired differences.
    #[serde(default = "bootstrap")]
    pub bootstrap: usize,
    /// Relative validation-loss gap above which fit quality is flagged.
    #[serde(default = "fit_margin")]
    pub fit_margin: f64,
    /// Significance level of the claim verdicts.
    #[serde(default = "alpha_level")]
    pub alpha: f64,
}

/// What a run writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping of output settings (root, npy, checkpoints)"
)]
pub struct OutputConfig {
    /// Parent folder of run folders.
    #[serde(default = "runs")]
    pub root: PathBuf,
    /// Write per-point spectra as `.npy`.
    #[serde(default = "yes")]
    pub npy: bool,
    /// Write safetensors checkpoints.
    #[serde(default = "yes")]
    pub checkpoints: bool,
}

macro_rules! defaults {
    ($($name:ident: $ty:ty = $val:expr;)*) => { $(fn $name() -> $ty { $val })* };
}
defaults! {
    d16: usize = 16; h256: usize = 256; e8: usize = 8; one: usize = 1;
    two: usize = 2; four: usize = 4; teacher: usize = 64; n_train: usize = 16384;
    n_small: usize = 2048; steps: usize = 5000; batch: usize = 256; eval_every: usize = 100;
    chunk: usize = 256; bootstrap: usize = 10_000; three: f64 = 3.0; noise: f64 = 0.01;
    one_f: f64 = 1.0; router_std: f64 = 0.01; lr: f64 = 1e-3; betas: [f64; 2] = [0.9, 0.999];
    adam_eps: f64 = 1e-8; alpha: f64 = 0.01; margin: f64 = 1e-3; fit_margin: f64 = 0.2;
    alpha_level: f64 = 0.05; minus_one: i64 = -1; yes: bool = true;
    runs: PathBuf = "runs".into(); sigmas: Vec<f64> = vec![0.01, 0.1];
}

impl Default for TrainConfig {
    fn default() -> Self {
        serde_yaml::from_str("{}").expect("TrainConfig defaults are complete")
    }
}
impl Default for ProbeConfig {
    fn default() -> Self {
        serde_yaml::from_str("{}").expect("ProbeConfig defaults are complete")
    }
}
impl Default for StatsConfig {
    fn default() -> Self {
        serde_yaml::from_str("{}").expect("StatsConfig defaults are complete")
    }
}
impl Default for OutputConfig {
    fn default() -> Self {
        serde_yaml::from_str("{}").expect("OutputConfig defaults are complete")
    }
}
