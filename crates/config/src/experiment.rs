//! The validated experiment (`Experiment`): what every crate downstream of `config` receives.

use crate::kinds::*;
use crate::raw::{OutputConfig, ProbeConfig, RawConfig, StatsConfig, TrainConfig};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A checked experiment. Build it with [`crate::load`] or [`crate::resolve`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)] // fields mirror `RawConfig`, documented there
pub struct Experiment {
    pub name: String,
    /// The seeds, in order; each seed pairs all architectures (SPEC §3).
    pub seeds: Vec<u64>,
    pub device: DeviceSpec,
    pub task: TaskSpec,
    pub model: ModelShape,
    pub architectures: Vec<Architecture>,
    pub train: TrainConfig,
    pub probe: ProbeConfig,
    pub stats: StatsConfig,
    pub output: OutputConfig,
    /// The raw config after overrides, for the manifest.
    pub raw: RawConfig,
}

/// Where the data comes from (SPEC §3).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TaskSpec {
    /// T1–T4.
    Synthetic(SyntheticTask),
    /// MNIST-style IDX files.
    Idx(IdxTask),
    /// A CSV table.
    Csv(CsvTask),
}

/// Sizes of the three splits.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct SplitSizes {
    /// Training points.
    pub train: usize,
    /// Validation points.
    pub val: usize,
    /// Held-out probe points (identical for every architecture of a seed).
    pub probe: usize,
}

/// T1–T4 with every parameter resolved (C is a number, never "same as E").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)] // fields mirror `RawTask`/`RawModel`, documented there
pub struct SyntheticTask {
    pub kind: TaskKind,
    pub d_in: usize,
    pub d_out: usize,
    pub clusters: usize,
    pub separation: f64,
    pub noise: f64,
    pub soft_targets: bool,
    pub teacher_hidden: usize,
    pub manifold_dim: usize,
    pub sizes: SplitSizes,
}

/// MNIST-style IDX files (classification).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)] // fields mirror `RawTask`/`RawModel`, documented there
pub struct IdxTask {
    pub images: PathBuf,
    pub labels: PathBuf,
    pub sizes: SplitSizes,
    pub standardize: bool,
}

/// A CSV table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)] // fields mirror `RawTask`/`RawModel`, documented there
pub struct CsvTask {
    pub path: PathBuf,
    pub header: Option<bool>,
    pub label_column: i64,
    pub problem: Problem,
    pub sizes: SplitSizes,
    pub standardize: bool,
}

impl TaskSpec {
    /// Split sizes, whatever the source.
    pub fn sizes(&self) -> SplitSizes {
        match self {
            TaskSpec::Synthetic(t) => t.sizes,
            TaskSpec::Idx(t) => t.sizes,
            TaskSpec::Csv(t) => t.sizes,
        }
    }
}

/// Shapes and options shared by every architecture; `d_in`/`d_out` come from the data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)] // fields mirror `RawTask`/`RawModel`, documented there
pub struct ModelShape {
    pub d: usize,
    pub dense_hidden: usize,
    pub experts: usize,
    pub capacity: Capacity,
    pub activation: Activation,
    pub encoder: bool,
    pub residual: bool,
    pub temperature: f64,
    pub topk_renorm: bool,
    pub router_init_std: f64,
}

/// One architecture to train: its name, routing and resolved widths (SPEC §2.4).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Architecture {
    /// `dense`, `top1`, `top2`, …, `soft`.
    pub name: String,
    /// How it routes.
    pub routing: Routing,
    /// Number of FFN experts (1 for dense).
    pub experts: usize,
    /// Hidden width per expert (H for dense).
    pub hidden: usize,
}

impl Architecture {
    /// FFN parameters (total, active per input), router excluded; SPEC §2.4.
    pub fn ffn_params(&self, d: usize) -> (usize, usize) {
        let per_expert = 2 * d * self.hidden + self.hidden + d;
        let active = match self.routing {
            Routing::Dense => 1,
            Routing::TopK { k } => k,
            Routing::Soft => self.experts,
        };
        (per_expert * self.experts, per_expert * active)
    }

    /// Router parameters E·d + E (0 for dense).
    pub fn router_params(&self, d: usize) -> usize {
        match self.routing {
            Routing::Dense => 0,
            _ => self.experts * d + self.experts,
        }
    }
}

/// Parses an architecture word: `dense`, `soft`, or `top<k>`.
pub(crate) fn parse_architecture(word: &str) -> Option<Routing> {
    match word {
        "dense" => Some(Routing::Dense),
        "soft" => Some(Routing::Soft),
        _ => {
            let k: usize = word.strip_prefix("top")?.parse().ok()?;
            Some(Routing::TopK { k })
        }
    }
}

impl Experiment {
    /// The file-free view of the resolved config (used as the run's `config.yaml`).
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(&self.raw).unwrap_or_else(|e| format!("# cannot render: {e}"))
    }
}
