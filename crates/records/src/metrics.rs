//! Long-format metric rows and loss curves.

use crate::error::io_err;
use crate::{write_atomic, Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One number: `metric` of `model` in `seed`, for one `expert` or for the whole model (`None`).
///
/// Values are always finite. A metric that is undefined for some points (a dead Jacobian's
/// effective rank) is averaged over the defined points only, and the count of undefined points
/// is its own row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRow {
    /// Architecture name (`dense`, `top2`, …).
    pub model: String,
    /// Seed.
    pub seed: u64,
    /// Expert index, or `None` for a model-level value.
    pub expert: Option<usize>,
    /// Dotted metric name, e.g. `jac_expert.sigma1`.
    pub metric: String,
    /// The value.
    pub value: f64,
}

impl MetricRow {
    /// Builds a row.
    pub fn new(model: &str, seed: u64, expert: Option<usize>, metric: &str, value: f64) -> Self {
        MetricRow {
            model: model.to_string(),
            seed,
            expert,
            metric: metric.to_string(),
            value,
        }
    }
}

/// One point of a loss curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurveRow {
    /// Architecture name.
    pub model: String,
    /// Seed.
    pub seed: u64,
    /// Optimiser step.
    pub step: usize,
    /// Training loss (mean over the last `eval_every` steps).
    pub train_loss: f64,
    /// Validation loss at this step.
    pub val_loss: f64,
}

/// Writes `metrics.jsonl` and `metrics.csv` into `dir` (atomically). Refuses non-finite values.
pub fn write_metrics(dir: &Path, rows: &[MetricRow]) -> Result<()> {
    if let Some(r) = rows.iter().find(|r| !r.value.is_finite()) {
        return Err(Error::NonFinite {
            model: r.model.clone(),
            seed: r.seed,
            metric: r.metric.clone(),
            value: r.value,
        });
    }
    let mut jsonl = String::new();
    let mut csv = String::from("model,seed,expert,metric,value\n");
    for r in rows {
        jsonl.push_str(&serde_json::to_string(r).expect("rows serialise"));
        jsonl.push('\n');
        let expert = r.expert.map(|e| e.to_string()).unwrap_or_default();
        // `{:?}` prints the shortest representation that round-trips exactly.
        csv.push_str(&format!(
            "{},{},{},{},{:?}\n",
            r.model, r.seed, expert, r.metric, r.value
        ));
    }
    write_atomic(&dir.join("metrics.jsonl"), jsonl.as_bytes())?;
    write_atomic(&dir.join("metrics.csv"), csv.as_bytes())
}

/// Reads metric rows from a JSONL file.
pub fn read_metrics_jsonl(path: &Path) -> Result<Vec<MetricRow>> {
    read_jsonl(path)
}

/// Writes `curves.jsonl` into `dir`.
pub fn write_curves(dir: &Path, rows: &[CurveRow]) -> Result<()> {
    let mut text = String::new();
    for r in rows {
        text.push_str(&serde_json::to_string(r).expect("rows serialise"));
        text.push('\n');
    }
    write_atomic(&dir.join("curves.jsonl"), text.as_bytes())
}

/// Reads `curves.jsonl` rows.
pub fn read_curves(path: &Path) -> Result<Vec<CurveRow>> {
    read_jsonl(path)
}

fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| Error::Parse {
                path: path.to_path_buf(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}
