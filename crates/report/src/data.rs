//! A run folder read into memory: manifest, metric rows, curves and the `.npy` arrays.

use crate::Result;
use moescope_records::{
    for_each_npy_row, read_curves, read_metrics_jsonl, read_npy, CurveRow, Manifest, MetricRow, NpyArray as Array,
};
use std::path::{Path, PathBuf};

/// Everything the report reads from a run folder.
#[derive(Debug, Clone)]
pub struct RunData {
    /// The run folder.
    pub dir: PathBuf,
    /// `manifest.json`.
    pub manifest: Manifest,
    /// `metrics.jsonl`.
    pub rows: Vec<MetricRow>,
    /// `curves.jsonl` (empty if absent).
    pub curves: Vec<CurveRow>,
    /// Architectures in config order.
    pub models: Vec<String>,
    /// Architectures with at least one failed job.
    pub failed: Vec<String>,
}

impl RunData {
    /// Reads `dir`.
    pub fn read(dir: &Path) -> Result<RunData> {
        let manifest = Manifest::read(dir)?;
        let metrics = dir.join("metrics.jsonl");
        if !metrics.exists() {
            return Err(crate::Error::NothingFinished { dir: dir.to_path_buf() });
        }
        let rows = read_metrics_jsonl(&metrics)?;
        let curves_path = dir.join("curves.jsonl");
        let curves = if curves_path.exists() {
            read_curves(&curves_path)?
        } else {
            Vec::new()
        };
        let models: Vec<String> = manifest.config["architectures"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
            .unwrap_or_default();
        let mut failed: Vec<String> = manifest.failures().map(|(m, ..)| m.to_string()).collect();
        failed.sort();
        failed.dedup();
        Ok(RunData {
            dir: dir.to_path_buf(),
            manifest,
            rows,
            curves,
            models,
            failed,
        })
    }

    /// Seeds of the run.
    pub fn seeds(&self) -> &[u64] {
        &self.manifest.seeds
    }

    /// Whether `model` has a failed job.
    pub fn is_failed(&self, model: &str) -> bool {
        self.failed.iter().any(|m| m == model)
    }

    /// Whether the run wrote its per-point arrays (`output.npy`, default true).
    pub fn has_per_point_arrays(&self) -> bool {
        self.manifest.config["output"]["npy"].as_bool().unwrap_or(true)
    }

    /// A number from the run's `stats` config, or `default`.
    pub fn stat(&self, key: &str, default: f64) -> f64 {
        self.manifest.config["stats"][key].as_f64().unwrap_or(default)
    }

    /// `spectra/<model>_s<seed>_<name>.npy`, or `None` when the file does not exist.
    pub fn array(&self, model: &str, seed: u64, name: &str) -> Result<Option<Array>> {
        let path = self.array_path(model, seed, name);
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(read_npy(&path)?))
    }

    /// Streams the rows (last axis) of `spectra/<model>_s<seed>_<name>.npy` through `f`; the
    /// shape, or `None` when the file does not exist.
    pub fn for_each_row(
        &self,
        model: &str,
        seed: u64,
        name: &str,
        f: &mut dyn FnMut(&[f64]),
    ) -> Result<Option<Vec<usize>>> {
        let path = self.array_path(model, seed, name);
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(for_each_npy_row(&path, f)?))
    }

    fn array_path(&self, model: &str, seed: u64, name: &str) -> std::path::PathBuf {
        self.dir.join("spectra").join(format!("{model}_s{seed}_{name}.npy"))
    }
}
