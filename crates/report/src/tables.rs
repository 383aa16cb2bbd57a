//! Table 1 (per-architecture summaries) and Table 2 (paired tests) from metric rows.

use moescope_records::MetricRow;
use std::collections::BTreeMap;

/// Model-level metrics shown in Table 1, in order, with a short description.
pub const TABLE1_METRICS: &[(&str, &str)] = &[
    ("fit.train_loss", "final training loss"),
    ("fit.val_loss", "final validation loss"),
    ("params.total", "parameters, total"),
    ("params.active", "parameters, active per input"),
    ("params.router", "router parameters"),
    ("jac_expert.sigma1", "σ1 of expert-local J_e (dense: J_D)"),
    ("jac_expert.sigma1_median", "median σ1 of J_e"),
    ("jac_expert.frobenius", "‖J_e‖_F"),
    ("jac_expert.rho_q", "decay ratio σ_q/σ1"),
    ("jac_expert.energy_q", "top-q energy fraction"),
    ("jac_expert.alpha", "power-law decay α"),
    ("jac_expert.beta", "exponential decay β"),
    ("jac_expert.erank", "erank(J_e)"),
    ("jac_expert.srank", "stable rank(J_e)"),
    ("jac_expert.pr", "participation ratio(J_e)"),
    ("jac_expert.dead_points", "dead (σ1 ≈ 0) points"),
    ("jac_scaled.sigma1", "σ1 of gate-scaled g_e J_e"),
    ("jac_group.sigma1", "σ1 of dense-partition groups J_{D,g}"),
    ("jac_group.erank", "erank of J_{D,g}"),
    ("jac_full.sigma1", "σ1 of full layer J_F"),
    ("jac_full.erank", "erank(J_F)"),
    ("jac_model.sigma1", "σ1 of end-to-end ∂y/∂x"),
    ("rep.erank", "weighted-PCA erank(Σ_e)"),
    ("rep.pr", "weighted-PCA PR(Σ_e)"),
    ("rep.k90", "weighted-PCA k_90"),
    ("rep.under_supported", "under-supported experts"),
    ("rep_global.erank", "global PCA erank(Σ)"),
    ("rep_global.pr", "global PCA PR(Σ)"),
    ("rep_cluster.erank", "cluster-matched dense control erank"),
    ("align.a1_mean_abs", "mean |A1| (average-Jacobian cosine)"),
    ("align.a1_chance", "A1 chance level"),
    ("align.a2_mean_abs", "mean |A2| (pointwise)"),
    ("align.a3_in_overlap", "A3 input-subspace overlap"),
    ("align.a4_residual", "A4 scaled-copy residual"),
    ("align_group.a1_mean_abs", "dense groups: mean |A1|"),
    ("subspace.overlap", "representation subspace overlap"),
    ("subspace.grassmann", "Grassmann distance"),
    ("subspace.chance", "overlap chance level r/d"),
    ("routing.entropy_norm", "routing entropy / ln E"),
    ("routing.load_entropy_norm", "load entropy / ln E"),
    ("routing.near_boundary_fraction", "near-boundary fraction"),
];

/// Options of Table 1.
#[derive(Debug, Clone)]
pub struct Table1Options {
    /// Confidence level of the t-interval.
    pub level: f64,
}

/// One cell of Table 1: a metric of one model over its seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Seeds with a value.
    pub n: usize,
    /// Mean over seeds.
    pub mean: f64,
    /// Sample standard deviation (`None` for one seed).
    pub sd: Option<f64>,
    /// t-interval (`None` for one seed).
    pub ci: Option<(f64, f64)>,
}

/// Table 1: metric → model → cell.
#[derive(Debug, Clone, Default)]
pub struct Table1 {
    /// Metrics in display order (only those present in the rows).
    pub metrics: Vec<String>,
    cells: BTreeMap<(String, String), Cell>,
}

impl Table1 {
    /// The cell of `metric` for `model`, if any seed has it.
    pub fn cell(&self, metric: &str, model: &str) -> Option<&Cell> {
        self.cells.get(&(metric.to_string(), model.to_string()))
    }
}

/// Per-seed model-level values of `metric` for `model`, keyed by seed.
pub(crate) fn per_seed(rows: &[MetricRow], model: &str, metric: &str) -> BTreeMap<u64, f64> {
    rows.iter()
        .filter(|r| r.expert.is_none() && r.model == model && r.metric == metric)
        .map(|r| (r.seed, r.value))
        .collect()
}

/// Builds Table 1 for `models` (in display order) from model-level rows.
pub fn table1(rows: &[MetricRow], models: &[String], opts: &Table1Options) -> Table1 {
    let mut t = Table1::default();
    let mut metrics: Vec<String> = TABLE1_METRICS.iter().map(|(m, _)| m.to_string()).collect();
    let mut extra: Vec<String> = rows
        .iter()
        .filter(|r| r.expert.is_none())
        .map(|r| r.metric.clone())
        .filter(|m| !metrics.contains(m))
        .collect();
    extra.sort();
    extra.dedup();
    metrics.extend(extra);
    for metric in metrics {
        let mut any = false;
        for model in models {
            let xs: Vec<f64> = per_seed(rows, model, &metric).into_values().collect();
            if let Ok(s) = moescope_stats::summarize(&xs, opts.level) {
                t.cells.insert(
                    (metric.clone(), model.clone()),
                    Cell {
                        n: s.n,
                        mean: s.mean,
                        sd: s.sd,
                        ci: s.ci,
                    },
                );
                any = true;
            }
        }
        if any {
            t.metrics.push(metric);
        }
    }
    t
}

/// One paired comparison: `metric_a` of `model_a` against `metric_b` of `model_b`, seed by seed.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Model whose value is a.
    pub model_a: String,
    /// Metric of model a.
    pub metric_a: String,
    /// Baseline model.
    pub model_b: String,
    /// Metric of model b (differs from a for representation ranks: Σ_e against Σ_D).
    pub metric_b: String,
}

/// The comparisons of SPEC §8: every routed model against dense, and each Top-k against soft.
pub fn comparisons(models: &[String]) -> Vec<Comparison> {
    let same = [
        "jac_expert.sigma1",
        "jac_expert.frobenius",
        "jac_expert.rho_q",
        "jac_expert.energy_q",
        "jac_expert.alpha",
        "jac_expert.erank",
        "jac_expert.srank",
        "jac_expert.pr",
        "jac_full.sigma1",
        "fit.val_loss",
    ];
    let rep = [
        ("rep.erank", "rep_global.erank"),
        ("rep.erank", "rep_cluster.erank"),
        ("rep.pr", "rep_global.pr"),
        ("rep.k90", "rep_global.k90"),
    ];
    let mut out = Vec::new();
    let cmp = |a: &str, ma: &str, b: &str, mb: &str| Comparison {
        model_a: a.into(),
        metric_a: ma.into(),
        model_b: b.into(),
        metric_b: mb.into(),
    };
    let routed: Vec<&String> = models.iter().filter(|m| m.as_str() != "dense").collect();
    if models.iter().any(|m| m == "dense") {
        for m in &routed {
            out.extend(same.iter().map(|x| cmp(m, x, "dense", x)));
            out.extend(rep.iter().map(|(a, b)| cmp(m, a, "dense", b)));
        }
    }
    if models.iter().any(|m| m == "soft") {
        for m in routed.iter().filter(|m| m.starts_with("top")) {
            for x in [
                "rep.erank",
                "jac_expert.erank",
                "align.a1_mean_abs",
                "align.a3_in_overlap",
                "subspace.overlap",
            ] {
                out.push(cmp(m, x, "soft", x));
            }
        }
    }
    out
}

/// A row of Table 2.
#[derive(Debug, Clone)]
pub struct PairedRow {
    /// What was compared.
    pub comparison: Comparison,
    /// The paired statistics of Δ = a − b.
    pub test: moescope_stats::PairedTest,
    /// Bootstrap percentile CI of mean Δ.
    pub bootstrap_ci: Option<(f64, f64)>,
}

/// Runs every comparison whose two sides share at least two seeds.
pub fn paired_table(rows: &[MetricRow], comparisons: &[Comparison], resamples: usize, level: f64) -> Vec<PairedRow> {
    let mut out = Vec::new();
    for (i, c) in comparisons.iter().enumerate() {
        let a = per_seed(rows, &c.model_a, &c.metric_a);
        let b = per_seed(rows, &c.model_b, &c.metric_b);
        let (xa, xb): (Vec<f64>, Vec<f64>) = a.iter().filter_map(|(s, va)| b.get(s).map(|vb| (*va, *vb))).unzip();
        if xa.len() < 2 {
            continue;
        }
        let Ok(test) = moescope_stats::paired(&xa, &xb) else {
            continue;
        };
        let diffs: Vec<f64> = xa.iter().zip(&xb).map(|(x, y)| x - y).collect();
        // One fixed seed per comparison: the report is reproducible.
        let bootstrap_ci = moescope_stats::bootstrap_mean_ci(&diffs, resamples, level, 0x5eed + i as u64).ok();
        out.push(PairedRow {
            comparison: c.clone(),
            test,
            bootstrap_ci,
        });
    }
    out
}
