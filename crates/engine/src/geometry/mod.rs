//! The spectral stage: turns Jacobians and hidden states into metric rows (SPEC §5–§7).
//!
//! Everything here works on host `f64` slices; the probe has already produced the tensors.

pub(crate) mod alignment;
pub(crate) mod ensemble;
pub(crate) mod function;
pub(crate) mod representation;
pub(crate) mod robustness;
pub(crate) mod routing;

use moescope_records::MetricRow;

/// Collects the metric rows of one (model, seed).
pub(crate) struct Rows {
    model: String,
    seed: u64,
    pub rows: Vec<MetricRow>,
}

impl Rows {
    pub fn new(model: &str, seed: u64) -> Self {
        Rows {
            model: model.to_string(),
            seed,
            rows: Vec::new(),
        }
    }

    /// Adds a value. Undefined (NaN) aggregates are skipped: their undefined points are counted
    /// in a `*.undefined_points` row by the caller, never averaged in.
    pub fn push(&mut self, expert: Option<usize>, metric: &str, value: f64) {
        if value.is_finite() {
            self.rows
                .push(MetricRow::new(&self.model, self.seed, expert, metric, value));
        }
    }
}

/// One `.npy` array to write under `spectra/`.
pub(crate) struct Array {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}
