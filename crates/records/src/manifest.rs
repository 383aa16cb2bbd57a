//! `manifest.json`: what makes a run folder self-describing.

use crate::error::io_err;
use crate::{write_atomic, Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Bumped whenever a file format of the run folder changes incompatibly.
pub const SCHEMA_VERSION: u32 = 1;

/// The run manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// Experiment name.
    pub name: String,
    /// Start time, seconds since the Unix epoch.
    pub started_unix: u64,
    /// The resolved experiment (config after overrides and validation), as JSON.
    pub config: serde_json::Value,
    /// Seeds in order.
    pub seeds: Vec<u64>,
    /// Device the run asked for and got (`cpu`, `cuda:0`).
    pub device: String,
    /// Extra device facts (driver and CUDA versions on GPU; CPU model and threads on CPU).
    pub device_info: BTreeMap<String, String>,
    /// moescope and key dependency versions.
    pub versions: BTreeMap<String, String>,
    /// Git commit of the build (`unknown` outside a checkout).
    pub git_commit: String,
    /// Command line that started the run.
    pub command: Vec<String>,
    /// Working directory of that command (relative data paths in the config are relative to it).
    #[serde(default)]
    pub working_dir: String,
    /// Parameter counts per architecture (SPEC §2.4).
    pub params: Vec<ParamCountRecord>,
    /// The data of each seed as built (task or file, dimensions, parameters).
    #[serde(default)]
    pub data: Vec<DataRecord>,
    /// Wall time per stage, summed over jobs.
    pub stages: Vec<StageTime>,
    /// One entry per (architecture, seed).
    pub jobs: Vec<JobRecord>,
    /// Wall time in seconds: of the whole run once it ends, of the run so far while it runs (or
    /// when it was interrupted; then some jobs are `pending`).
    pub wall_seconds: f64,
}

/// Parameter counts of one architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamCountRecord {
    /// Architecture name.
    pub model: String,
    /// All parameters of the network.
    pub total: usize,
    /// Parameters used per input (Top-k uses k of E experts).
    pub active: usize,
    /// FFN parameters (the matched part).
    pub ffn_total: usize,
    /// Router parameters (E·d + E; excluded from matching).
    pub router: usize,
}

/// The data one seed used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRecord {
    /// Seed.
    pub seed: u64,
    /// One line from the data crate: the task or file and its parameters and dimensions.
    pub description: String,
}

/// Time spent in one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageTime {
    /// `data`, `train`, `probe`, `spectral`, `report`.
    pub stage: String,
    /// Seconds (summed over parallel jobs: CPU-seconds of that stage).
    pub seconds: f64,
}

/// State of one (architecture, seed) job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum JobStatus {
    /// All stages ran and the metrics are in `metrics.jsonl`.
    Done,
    /// A stage failed; metrics of this job are absent.
    Failed {
        /// The stage that failed (`train`, `probe`, …).
        stage: String,
        /// The error, in full.
        message: String,
    },
    /// Not finished: the run is still going, or it was interrupted before this job ended. Every
    /// planned job is listed from the start, so a stopped run shows what it never did.
    Pending,
}

/// One job of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Architecture name.
    pub model: String,
    /// Seed.
    pub seed: u64,
    /// Outcome.
    pub status: JobStatus,
    /// Seconds spent.
    pub seconds: f64,
}

impl Manifest {
    /// Writes `manifest.json` into `dir`, atomically.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join("manifest.json");
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Parse {
            path: path.clone(),
            line: 0,
            message: e.to_string(),
        })?;
        write_atomic(&path, text.as_bytes())
    }

    /// Reads `manifest.json` from `dir`.
    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
        serde_json::from_str(&text).map_err(|e| Error::Parse {
            path,
            line: e.line(),
            message: e.to_string(),
        })
    }

    /// The failed jobs, as (model, seed, stage, message).
    pub fn failures(&self) -> impl Iterator<Item = (&str, u64, &str, &str)> {
        self.jobs.iter().filter_map(|j| match &j.status {
            JobStatus::Failed { stage, message } => Some((j.model.as_str(), j.seed, stage.as_str(), message.as_str())),
            JobStatus::Done | JobStatus::Pending => None,
        })
    }

    /// The jobs that never finished, as (model, seed).
    pub fn pending(&self) -> impl Iterator<Item = (&str, u64)> {
        self.jobs
            .iter()
            .filter(|j| j.status == JobStatus::Pending)
            .map(|j| (j.model.as_str(), j.seed))
    }

    /// How many jobs finished (done or failed).
    pub fn finished_jobs(&self) -> usize {
        self.jobs.iter().filter(|j| j.status != JobStatus::Pending).count()
    }
}
