//! The claims table: a verdict on each hypothesis H1–H6 of SPEC §9.1, from the run's numbers.
//!
//! Each hypothesis is a family of paired comparisons (one per routed model and metric). Every
//! comparison Δ_s = a_s − b_s over the seeds both sides share is tested one-sided in the claimed
//! direction (paired t and Wilcoxon signed-rank), and the p-values are Holm-adjusted across the
//! hypothesis' family. See [`VERDICT_RULE`] for how a verdict is decided.

use crate::tables::per_seed;
use moescope_records::MetricRow;
use std::collections::BTreeMap;

/// The decision rule, as printed in the report and the docs.
pub const VERDICT_RULE: &str = "A comparison **holds** when every seed's difference is in the claimed direction and its \
Holm-adjusted one-sided paired-t p-value is below stats.alpha; it **fails** when the mean difference is in the opposite \
direction and the Holm-adjusted one-sided p-value for that opposite direction is below stats.alpha; otherwise it is \
**inconclusive** (also when fewer than 2 seeds are paired or a model failed). A hypothesis holds when all its primary \
comparisons hold, fails when any primary comparison fails, and is inconclusive otherwise. Holm adjustment runs across all \
comparisons of the hypothesis (primary and secondary). Wilcoxon p-values are shown (also Holm-adjusted) but do not decide: \
with n seeds their smallest one-sided value is 2^-n.";

/// The direction a claim predicts for Δ = a − b.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// a < b.
    Less,
    /// a > b.
    Greater,
}

impl Direction {
    /// `<` or `>`.
    pub fn symbol(self) -> &'static str {
        match self {
            Direction::Less => "<",
            Direction::Greater => ">",
        }
    }
}

/// One side of a comparison: a model's metric, optionally scaled (`scale · value`), or a constant.
#[derive(Debug, Clone, PartialEq)]
pub enum Side {
    /// `scale` × the per-seed value of `metric` for `model`.
    Metric {
        /// Model.
        model: String,
        /// Metric name.
        metric: String,
        /// Multiplier (1 for the plain value).
        scale: f64,
    },
    /// A constant (e.g. 1 for "much smaller than 1").
    Constant(f64),
}

impl Side {
    fn metric(model: &str, metric: &str) -> Side {
        Side::Metric {
            model: model.into(),
            metric: metric.into(),
            scale: 1.0,
        }
    }

    /// Readable label, e.g. `top1 jac_expert.sigma1` or `2 × top1 align.a1_chance`.
    pub fn label(&self) -> String {
        match self {
            Side::Metric { model, metric, scale } if *scale == 1.0 => format!("{model} {metric}"),
            Side::Metric { model, metric, scale } => format!("{scale} × {model} {metric}"),
            Side::Constant(c) => format!("{c}"),
        }
    }

    fn model(&self) -> Option<&str> {
        match self {
            Side::Metric { model, .. } => Some(model),
            Side::Constant(_) => None,
        }
    }
}

/// One comparison of a hypothesis' family.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimSpec {
    /// Hypothesis id, `H1` … `H6`.
    pub hypothesis: &'static str,
    /// Left side a.
    pub a: Side,
    /// Right side b.
    pub b: Side,
    /// Claimed direction of a − b.
    pub direction: Direction,
    /// Whether this comparison decides the hypothesis (secondary ones are reported only).
    pub primary: bool,
}

/// The result of one comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRow {
    /// What was compared.
    pub spec: ClaimSpec,
    /// Seeds paired.
    pub n: usize,
    /// Seeds whose Δ is in the claimed direction.
    pub n_claimed: usize,
    /// Mean Δ = a − b.
    pub mean_diff: Option<f64>,
    /// One-sided paired-t p-value in the claimed direction (unadjusted).
    pub p_t: Option<f64>,
    /// One-sided Wilcoxon p-value in the claimed direction (unadjusted).
    pub p_wilcoxon: Option<f64>,
    /// Holm-adjusted `p_t` across the family.
    pub p_t_holm: Option<f64>,
    /// Holm-adjusted `p_wilcoxon` across the family.
    pub p_wilcoxon_holm: Option<f64>,
    /// Holm-adjusted one-sided t p-value in the opposite direction.
    pub p_t_opposite_holm: Option<f64>,
    /// Cohen's d_z of Δ.
    pub cohen_dz: Option<f64>,
    /// Seeded bootstrap percentile CI of mean Δ.
    pub bootstrap_ci: Option<(f64, f64)>,
    /// Verdict of this comparison.
    pub verdict: Verdict,
    /// Why, in words.
    pub reason: String,
}

/// A verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Supported by the run.
    Holds,
    /// Contradicted by the run.
    Fails,
    /// Neither.
    Inconclusive,
}

impl Verdict {
    /// `holds`, `fails` or `inconclusive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Fails => "fails",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// A hypothesis with its comparisons and overall verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// `H1` … `H6`.
    pub id: &'static str,
    /// The claim in words.
    pub statement: &'static str,
    /// Its comparisons.
    pub rows: Vec<ClaimRow>,
    /// Overall verdict.
    pub verdict: Verdict,
    /// Why, in words.
    pub reason: String,
}

/// Settings of the claims table (from the run's `stats` config).
#[derive(Debug, Clone)]
pub struct ClaimOptions {
    /// Significance level (stats.alpha).
    pub alpha: f64,
    /// Bootstrap resamples (stats.bootstrap).
    pub resamples: usize,
    /// Bootstrap CI level.
    pub level: f64,
}

/// The statements of H1–H6 (SPEC §9.1).
pub const HYPOTHESES: &[(&str, &str)] = &[
    (
        "H1",
        "σ1(J_e) < σ1(J_D) for Top-k and soft (also reported against J_{D,g} and J_F)",
    ),
    (
        "H2",
        "ρ_q(J_e) < ρ_q(J_D) and α(J_e) > α(J_D) (erank, srank, PR of J_e lower: secondary)",
    ),
    (
        "H3",
        "erank, PR and k90 of Σ_e > those of the dense Σ_D (cluster-matched control: secondary)",
    ),
    (
        "H4",
        "mean|A1| is near chance (below 2 × chance) and much smaller than 1",
    ),
    ("H5", "erank(Σ_e) and erank(J_e) lower for Top-k than for soft"),
    ("H6", "mean|A1| lower for Top-k than for soft"),
];

/// The comparisons of H1–H6 for the architectures `models` (config order).
pub fn claim_specs(models: &[String]) -> Vec<ClaimSpec> {
    use Direction::{Greater, Less};
    let routed: Vec<&str> = models.iter().map(String::as_str).filter(|m| *m != "dense").collect();
    let topk: Vec<&str> = routed.iter().copied().filter(|m| m.starts_with("top")).collect();
    let has = |m: &str| models.iter().any(|x| x == m);
    let mut out = Vec::new();
    let mut push = |h, a, b, direction, primary| {
        out.push(ClaimSpec {
            hypothesis: h,
            a,
            b,
            direction,
            primary,
        })
    };
    for &m in &routed {
        if has("dense") {
            let s = "jac_expert.sigma1";
            push("H1", Side::metric(m, s), Side::metric("dense", s), Less, true);
            push(
                "H1",
                Side::metric(m, s),
                Side::metric("dense", "jac_group.sigma1"),
                Less,
                false,
            );
            push(
                "H1",
                Side::metric(m, s),
                Side::metric("dense", "jac_full.sigma1"),
                Less,
                false,
            );
            for (x, dir, primary) in [
                ("rho_q", Less, true),
                ("alpha", Greater, true),
                ("erank", Less, false),
                ("srank", Less, false),
                ("pr", Less, false),
            ] {
                let metric = format!("jac_expert.{x}");
                push(
                    "H2",
                    Side::metric(m, &metric),
                    Side::metric("dense", &metric),
                    dir,
                    primary,
                );
            }
            for x in ["erank", "pr", "k90"] {
                let global = format!("rep_global.{x}");
                push(
                    "H3",
                    Side::metric(m, &format!("rep.{x}")),
                    Side::metric("dense", &global),
                    Greater,
                    true,
                );
            }
            let cluster = Side::metric("dense", "rep_cluster.erank");
            push("H3", Side::metric(m, "rep.erank"), cluster, Greater, false);
        }
        let a1 = "align.a1_mean_abs";
        let chance2 = Side::Metric {
            model: m.into(),
            metric: "align.a1_chance".into(),
            scale: 2.0,
        };
        push("H4", Side::metric(m, a1), chance2, Less, true);
        push("H4", Side::metric(m, a1), Side::Constant(1.0), Less, true);
    }
    if has("soft") {
        for &m in &topk {
            push(
                "H5",
                Side::metric(m, "rep.erank"),
                Side::metric("soft", "rep.erank"),
                Less,
                true,
            );
            push(
                "H5",
                Side::metric(m, "jac_expert.erank"),
                Side::metric("soft", "jac_expert.erank"),
                Less,
                true,
            );
            push(
                "H6",
                Side::metric(m, "align.a1_mean_abs"),
                Side::metric("soft", "align.a1_mean_abs"),
                Less,
                true,
            );
        }
    }
    out.sort_by_key(|s| s.hypothesis);
    out
}

fn side_values(rows: &[MetricRow], side: &Side, seeds: &[u64]) -> BTreeMap<u64, f64> {
    match side {
        Side::Metric { model, metric, scale } => per_seed(rows, model, metric)
            .into_iter()
            .map(|(s, v)| (s, scale * v))
            .collect(),
        Side::Constant(c) => seeds.iter().map(|&s| (s, *c)).collect(),
    }
}

/// Per-seed differences Δ = a − b over the seeds both sides have.
fn differences(rows: &[MetricRow], spec: &ClaimSpec) -> Vec<f64> {
    let mut seeds: Vec<u64> = rows.iter().map(|r| r.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let a = side_values(rows, &spec.a, &seeds);
    let b = side_values(rows, &spec.b, &seeds);
    a.iter().filter_map(|(s, va)| b.get(s).map(|vb| va - vb)).collect()
}

/// Evaluates every hypothesis. `failed` lists models with a failed job: their comparisons are
/// reported as not tested, never computed from the seeds that survived.
pub fn claims(rows: &[MetricRow], models: &[String], failed: &[String], opts: &ClaimOptions) -> Vec<Claim> {
    let specs = claim_specs(models);
    HYPOTHESES
        .iter()
        .map(|(id, statement)| {
            let family: Vec<ClaimSpec> = specs.iter().filter(|s| s.hypothesis == *id).cloned().collect();
            let rows = evaluate_family(rows, &family, failed, opts);
            let (verdict, reason) = overall(&rows);
            Claim {
                id,
                statement,
                rows,
                verdict,
                reason,
            }
        })
        .collect()
}

/// Tests one family and applies Holm across it.
fn evaluate_family(rows: &[MetricRow], family: &[ClaimSpec], failed: &[String], opts: &ClaimOptions) -> Vec<ClaimRow> {
    let mut out: Vec<ClaimRow> = family
        .iter()
        .enumerate()
        .map(|(i, spec)| test_one(rows, spec, failed, opts, i as u64))
        .collect();
    let p_t: Vec<Option<f64>> = out.iter().map(|r| r.p_t).collect();
    let p_w: Vec<Option<f64>> = out.iter().map(|r| r.p_wilcoxon).collect();
    let opposite: Vec<Option<f64>> = out.iter().map(|r| r.p_t_opposite_holm).collect();
    let (ht, hw, ho) = (
        moescope_stats::holm_opt(&p_t),
        moescope_stats::holm_opt(&p_w),
        moescope_stats::holm_opt(&opposite),
    );
    for (i, r) in out.iter_mut().enumerate() {
        r.p_t_holm = ht[i];
        r.p_wilcoxon_holm = hw[i];
        r.p_t_opposite_holm = ho[i];
        if r.reason.is_empty() {
            (r.verdict, r.reason) = decide(r, opts.alpha);
        }
    }
    out
}

/// One comparison, unadjusted. The opposite-direction p is parked in `p_t_opposite_holm`
/// until the family is adjusted.
fn test_one(rows: &[MetricRow], spec: &ClaimSpec, failed: &[String], opts: &ClaimOptions, index: u64) -> ClaimRow {
    let mut row = ClaimRow {
        spec: spec.clone(),
        n: 0,
        n_claimed: 0,
        mean_diff: None,
        p_t: None,
        p_wilcoxon: None,
        p_t_holm: None,
        p_wilcoxon_holm: None,
        p_t_opposite_holm: None,
        cohen_dz: None,
        bootstrap_ci: None,
        verdict: Verdict::Inconclusive,
        reason: String::new(),
    };
    let dead: Vec<&str> = [spec.a.model(), spec.b.model()]
        .into_iter()
        .flatten()
        .filter(|m| failed.iter().any(|f| f == m))
        .collect();
    if !dead.is_empty() {
        row.reason = format!("not tested: model {} failed", dead.join(", "));
        return row;
    }
    let diffs = differences(rows, spec);
    row.n = diffs.len();
    if diffs.len() < 2 {
        row.reason = format!("not tested: {} paired seed(s), need at least 2", diffs.len());
        return row;
    }
    let zeros = vec![0.0; diffs.len()];
    let Ok(t) = moescope_stats::paired(&diffs, &zeros) else {
        row.reason = "not tested: non-finite values".into();
        return row;
    };
    let (p_t, p_w, p_opp, n_claimed) = match spec.direction {
        Direction::Less => (t.p_t_less, t.p_wilcoxon_less, t.p_t_greater, t.n_neg),
        Direction::Greater => (t.p_t_greater, t.p_wilcoxon_greater, t.p_t_less, t.n_pos),
    };
    row.n_claimed = n_claimed;
    row.mean_diff = Some(t.mean_diff);
    (row.p_t, row.p_wilcoxon, row.p_t_opposite_holm) = (p_t, p_w, p_opp);
    row.cohen_dz = t.cohen_dz;
    // A fixed seed per comparison keeps the report reproducible.
    row.bootstrap_ci = moescope_stats::bootstrap_mean_ci(&diffs, opts.resamples, opts.level, 0xc1a1 + index).ok();
    row
}

fn decide(r: &ClaimRow, alpha: f64) -> (Verdict, String) {
    let sig = |p: Option<f64>| p.is_some_and(|p| p < alpha);
    let mean = r.mean_diff.unwrap_or(0.0);
    let opposite = match r.spec.direction {
        Direction::Less => mean > 0.0,
        Direction::Greater => mean < 0.0,
    };
    if r.n_claimed == r.n && sig(r.p_t_holm) {
        let why = format!(
            "{}/{} seeds in the claimed direction, Holm p = {}",
            r.n_claimed,
            r.n,
            p_str(r.p_t_holm)
        );
        (Verdict::Holds, why)
    } else if opposite && sig(r.p_t_opposite_holm) {
        let why = format!(
            "mean Δ in the opposite direction, Holm p (opposite) = {}",
            p_str(r.p_t_opposite_holm)
        );
        (Verdict::Fails, why)
    } else {
        let why = format!(
            "{}/{} seeds in the claimed direction, Holm p = {} (α = {alpha})",
            r.n_claimed,
            r.n,
            p_str(r.p_t_holm)
        );
        (Verdict::Inconclusive, why)
    }
}

fn p_str(p: Option<f64>) -> String {
    p.map_or("—".into(), |p| format!("{p:.3}"))
}

fn overall(rows: &[ClaimRow]) -> (Verdict, String) {
    let primary: Vec<&ClaimRow> = rows.iter().filter(|r| r.spec.primary).collect();
    if primary.is_empty() {
        return (
            Verdict::Inconclusive,
            "not testable: the run lacks the models it compares".into(),
        );
    }
    let count = |v: Verdict| primary.iter().filter(|r| r.verdict == v).count();
    let (holds, fails) = (count(Verdict::Holds), count(Verdict::Fails));
    let tally = format!("{holds} of {} primary comparisons hold, {fails} fail", primary.len());
    if fails > 0 {
        (Verdict::Fails, tally)
    } else if holds == primary.len() {
        (Verdict::Holds, tally)
    } else {
        (Verdict::Inconclusive, tally)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> ClaimOptions {
        ClaimOptions {
            alpha: 0.05,
            resamples: 500,
            level: 0.95,
        }
    }

    fn rows_for(metric: &str, a: &[f64], b: &[f64]) -> Vec<MetricRow> {
        let mut rows = Vec::new();
        for (s, (x, y)) in a.iter().zip(b).enumerate() {
            rows.push(MetricRow::new("top1", s as u64, None, metric, *x));
            rows.push(MetricRow::new("soft", s as u64, None, metric, *y));
        }
        rows
    }

    fn h6(a: &[f64], b: &[f64]) -> Claim {
        let models = vec!["top1".to_string(), "soft".to_string()];
        let rows = rows_for("align.a1_mean_abs", a, b);
        claims(&rows, &models, &[], &opts()).remove(5)
    }

    #[test]
    fn h6_verdicts_worked_by_hand() {
        // Δ = (-1, -2, -3): mean −2, sd 1, t = −2/(1/√3) = −3.4641; df 2:
        // one-sided p = t_cdf(−3.4641, 2) = 0.5(1 − √12/√14) = 0.037090 < 0.05.
        let c = h6(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]);
        assert_eq!(c.id, "H6");
        let r = &c.rows[0];
        let p_hand = 0.5 * (1.0 - 12f64.sqrt() / 14f64.sqrt()); // 0.037090
        assert_eq!((r.n, r.n_claimed), (3, 3));
        assert!((r.p_t.unwrap() - p_hand).abs() < 1e-9, "{:?}", r.p_t);
        // A single comparison: Holm leaves it unchanged. Wilcoxon exact: 1/8.
        assert!((r.p_t_holm.unwrap() - p_hand).abs() < 1e-9);
        assert!((r.p_wilcoxon.unwrap() - 0.125).abs() < 1e-12);
        assert_eq!((r.verdict, c.verdict), (Verdict::Holds, Verdict::Holds));
        // The mirror image fails: mean Δ = +2, opposite p = 0.037.
        let c = h6(&[2.0, 4.0, 6.0], &[1.0, 2.0, 3.0]);
        assert_eq!((c.rows[0].verdict, c.verdict), (Verdict::Fails, Verdict::Fails));
        // Mixed signs: Δ = (−1, +1, −3), not all seeds agree: inconclusive.
        let c = h6(&[1.0, 3.0, 3.0], &[2.0, 2.0, 6.0]);
        assert_eq!((c.rows[0].n_claimed, c.verdict), (2, Verdict::Inconclusive));
    }

    #[test]
    fn holm_across_a_family_worked_by_hand() {
        // H5 with one Top-k has two comparisons. rep.erank Δ = (−1,−2,−3): p = 0.037090;
        // jac_expert.erank Δ = (−1,−1.1,−1.2): mean −1.1, sd 0.1, t = −19.0526,
        // p = 0.5(1 − 19.0526/√(19.0526² + 2)) = 0.0013689.
        // Holm: sorted (0.0013689, 0.037090) → (2 × 0.0013689, max(0.0027378, 1 × 0.037090)).
        let models = vec!["top1".to_string(), "soft".to_string()];
        let mut rows = rows_for("rep.erank", &[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]);
        rows.extend(rows_for("jac_expert.erank", &[1.0, 1.0, 1.0], &[2.0, 2.1, 2.2]));
        let c = claims(&rows, &models, &[], &opts()).remove(4);
        assert_eq!(c.id, "H5");
        let p: Vec<f64> = c.rows.iter().map(|r| r.p_t.unwrap()).collect();
        let h: Vec<f64> = c.rows.iter().map(|r| r.p_t_holm.unwrap()).collect();
        let t = 1.1 / (0.1 / 3f64.sqrt());
        let p_small = 0.5 * (1.0 - t / (t * t + 2.0).sqrt());
        let p_big = 0.5 * (1.0 - 12f64.sqrt() / 14f64.sqrt());
        assert!((p[0] - p_big).abs() < 1e-9 && (p[1] - p_small).abs() < 1e-9, "{p:?}");
        assert!(
            (h[0] - p_big).abs() < 1e-9 && (h[1] - 2.0 * p_small).abs() < 1e-9,
            "{h:?}"
        );
        assert_eq!(c.verdict, Verdict::Holds);
    }

    #[test]
    fn a_failed_model_is_not_tested() {
        let models = vec!["top1".to_string(), "soft".to_string()];
        let rows = rows_for("align.a1_mean_abs", &[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]);
        let c = claims(&rows, &models, &["soft".to_string()], &opts()).remove(5);
        assert_eq!(c.verdict, Verdict::Inconclusive);
        assert!(c.rows[0].reason.contains("soft failed"), "{}", c.rows[0].reason);
        assert_eq!(c.rows[0].p_t, None);
    }
}
