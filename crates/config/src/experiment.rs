//! The validated experiment (`Experiment`): what every crate downstream of `config` receives.

use crate::kinds::*;
use crate::raw::{OutputConfig, ProbeConfig, RawConfig, StatsConfig, TrainConfig};
use crate::resolve::{check_dim_settings, no_encoder_width, RoutedDim};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A checked experiment. Build it with [`crate::load`] or [`crate::resolve`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)] // fields mirror `RawConfig`, documented there
pub struct Experiment {
    /// The config file as errors name it (with "(with command-line overrides)" when there were
    /// any); used by [`Experiment::validate_against_dim`].
    #[serde(default)]
    pub file: String,
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
    /// Routed width: `model.d` (default 32), or task.d_in without an encoder for synthetic
    /// tasks. For a file task without an encoder the data's d_in replaces it once loaded (see
    /// [`Experiment::routed_dim`] and [`Experiment::validate_against_dim`]).
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

/// Parses an architecture word: `dense`, `soft`, or `top<k>` with k in plain decimal (no sign,
/// no leading zero), so that each architecture has exactly one spelling (`top02` and `top+2`
/// would otherwise train Top-2 again under another name).
pub(crate) fn parse_architecture(word: &str) -> Option<Routing> {
    match word {
        "dense" => Some(Routing::Dense),
        "soft" => Some(Routing::Soft),
        _ => {
            let digits = word.strip_prefix("top")?;
            let plain = !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'));
            let k: usize = digits.parse().ok().filter(|_| plain)?;
            Some(Routing::TopK { k })
        }
    }
}

impl Experiment {
    /// The width the router sees when the data has `d_in` features: `model.d` with an encoder,
    /// `d_in` without one (h = x).
    pub fn routed_dim(&self, d_in: usize) -> usize {
        if self.model.encoder {
            self.model.d
        } else {
            d_in
        }
    }

    /// Checks the settings bounded by the routed width against data with `d_in` features, for
    /// file tasks (CSV, IDX), whose d_in is known only once loaded: without an encoder, a
    /// `model.d` in the config must equal d_in, and `probe.subspace_rank` and `probe.decay_q`
    /// must be at most d. Passing the model's routed d instead of d_in gives the same answer.
    /// Synthetic tasks were checked by [`crate::resolve`] already (calling this is harmless).
    pub fn validate_against_dim(&self, d_in: usize) -> Result<()> {
        let bad = |key: &str, expected: &str, got: String| Error::Invalid {
            file: self.file.clone(),
            key: key.to_string(),
            expected: expected.to_string(),
            got,
        };
        if !self.model.encoder {
            if let Some(d) = self.raw.model.d.filter(|&d| d != d_in) {
                let source = "the input dimension of the data";
                return Err(bad("model.d", &no_encoder_width(d_in, source), d.to_string()));
            }
        }
        let dim = RoutedDim {
            d: self.routed_dim(d_in),
            label: if self.model.encoder {
                format!("model.d = {}", self.model.d)
            } else {
                format!("d = {d_in}, the input dimension of the data (model.encoder = false routes x itself)")
            },
        };
        check_dim_settings(&self.probe, &dim, &bad)
    }

    /// This experiment with the routed width fixed by loaded data of `d_in` features: without
    /// an encoder d = d_in, also in `raw`, so that the run's `config.yaml` and manifest show the
    /// d actually used (a file task's d_in is unknown when the config is resolved).
    pub fn with_loaded_dim(&self, d_in: usize) -> Experiment {
        let mut exp = self.clone();
        if !exp.model.encoder {
            exp.model.d = d_in;
            exp.raw.model.d = Some(d_in);
        }
        exp
    }

    /// The file-free view of the resolved config (used as the run's `config.yaml`).
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(&self.raw).unwrap_or_else(|e| format!("# cannot render: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_has_one_spelling() {
        assert_eq!(parse_architecture("top2"), Some(Routing::TopK { k: 2 }));
        assert_eq!(parse_architecture("top10"), Some(Routing::TopK { k: 10 }));
        // k = 0 parses; the range check in `resolve` says why it is refused.
        assert_eq!(parse_architecture("top0"), Some(Routing::TopK { k: 0 }));
        for word in [
            "top02", "top00", "top+2", "top-2", "top", "top 2", "top2 ", "top२", "Top2",
        ] {
            assert_eq!(parse_architecture(word), None, "{word}");
        }
    }
}
