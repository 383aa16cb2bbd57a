//! `summary.md`, `table1.csv`, `table2.csv` and `claims.csv` of a run folder.

use crate::claims::{claims, Claim, ClaimOptions, VERDICT_RULE};
use crate::data::RunData;
use crate::tables::{comparisons, paired_table, per_seed, table1, PairedRow, Table1, Table1Options, TABLE1_METRICS};
use crate::Result;
use moescope_records::{write_atomic, Manifest, MetricRow};
use std::fmt::Write;
use std::path::Path;

/// Reads `dir`'s manifest and metrics and writes `summary.md` (fit check, failures, claims,
/// Table 1, Table 2), `table1.csv`, `table2.csv` and `claims.csv` into `dir`.
pub fn write_summary(dir: &Path) -> Result<()> {
    let run = RunData::read(dir)?;
    let claims = run_claims(&run);
    write_summary_files(&run, &claims, dir)
}

/// The claims of a run, with its `stats` settings.
pub(crate) fn run_claims(run: &RunData) -> Vec<Claim> {
    let opts = ClaimOptions {
        alpha: run.stat("alpha", 0.05),
        resamples: run.stat("bootstrap", 10_000.0) as usize,
        level: 0.95,
    };
    claims(&run.rows, &run.models, &run.failed, &opts)
}

/// Writes summary.md and the CSV tables of `run` into `out`.
pub(crate) fn write_summary_files(run: &RunData, claims: &[Claim], out: &Path) -> Result<()> {
    let (manifest, rows, models) = (&run.manifest, &run.rows, &run.models);
    let level = 0.95;
    let t1 = table1(rows, models, &Table1Options { level });
    let resamples = run.stat("bootstrap", 10_000.0) as usize;
    let t2 = paired_table(rows, &comparisons(models), resamples, level);

    let mut md = header(manifest);
    md.push_str(&fit_check_text(run));
    md.push_str(&failures(manifest));
    md.push_str(&claims_markdown(claims));
    md.push_str(&table1_markdown(&t1, models, &run.failed));
    md.push_str(&table2_markdown(&t2));
    write_atomic(&out.join("summary.md"), md.as_bytes())?;
    write_atomic(&out.join("table1.csv"), table1_csv(&t1, models).as_bytes())?;
    write_atomic(&out.join("table2.csv"), table2_csv(&t2).as_bytes())?;
    write_atomic(&out.join("claims.csv"), claims_csv(claims).as_bytes())?;
    Ok(())
}

/// The fit-check paragraph (markdown) of a run.
pub(crate) fn fit_check_text(run: &RunData) -> String {
    fit_check(&run.rows, &run.models, run.stat("fit_margin", 0.2))
}

fn header(m: &Manifest) -> String {
    let mut s = format!("# moescope run `{}`\n\n", m.name);
    let _ = writeln!(s, "- seeds: {:?}", m.seeds);
    let _ = writeln!(s, "- device: {}", m.device);
    let _ = writeln!(
        s,
        "- moescope {} (commit {})",
        m.versions.get("moescope").map_or("?", |v| v.as_str()),
        m.git_commit
    );
    let _ = writeln!(s, "- task: {}", m.config["task"]["kind"].as_str().unwrap_or("?"));
    s.push('\n');
    s
}

/// SPEC §3: geometry is only comparable when the fits are.
fn fit_check(rows: &[MetricRow], models: &[String], margin: f64) -> String {
    let means: Vec<(String, f64)> = models
        .iter()
        .filter_map(|m| {
            let v: Vec<f64> = per_seed(rows, m, "fit.val_loss").into_values().collect();
            (!v.is_empty()).then(|| (m.clone(), v.iter().sum::<f64>() / v.len() as f64))
        })
        .collect();
    let (Some(lo), Some(hi)) = (
        means.iter().min_by(|a, b| a.1.total_cmp(&b.1)),
        means.iter().max_by(|a, b| a.1.total_cmp(&b.1)),
    ) else {
        return String::new();
    };
    let gap = (hi.1 - lo.1) / lo.1.abs().max(f64::MIN_POSITIVE);
    if gap > margin {
        format!(
            "> **Fit check failed:** mean validation loss of `{}` ({}) is {:.0}% above `{}` ({}), more than the {:.0}% margin; geometry differences are confounded with fit quality (SPEC §3).\n\n",
            hi.0, fmt(hi.1), 100.0 * gap, lo.0, fmt(lo.1), 100.0 * margin
        )
    } else {
        format!(
            "Fit check passed: mean validation losses are within {:.0}% of each other (margin {:.0}%).\n\n",
            100.0 * gap,
            100.0 * margin
        )
    }
}

/// The incomplete-run warning, when some planned jobs never finished (an interrupted run).
pub(crate) fn pending_text(m: &Manifest) -> Option<String> {
    let pending: Vec<String> = m
        .pending()
        .map(|(model, seed)| format!("`{model}` seed {seed}"))
        .collect();
    if pending.is_empty() {
        return None;
    }
    Some(format!(
        "**INCOMPLETE:** {} of {} jobs never finished (the run was interrupted, or is still running): {}. \
         Tables, figures and claims use only the finished jobs.",
        pending.len(),
        m.jobs.len(),
        pending.join(", ")
    ))
}

fn failures(m: &Manifest) -> String {
    let mut s = pending_text(m).map_or(String::new(), |text| format!("> {text}\n\n"));
    let failed = s.len();
    for (model, seed, stage, msg) in m.failures() {
        let _ = writeln!(s, "> **FAILED:** `{model}` seed {seed} at stage `{stage}`: {msg}");
    }
    if s.len() > failed {
        s.push_str("\nFailed jobs are left out of every table below (never counted as zeros).\n\n");
    }
    s
}

/// Text for a Markdown table cell: a literal `|` (as in `|A1|`) would split the cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn describe(metric: &str) -> &str {
    TABLE1_METRICS.iter().find(|(m, _)| *m == metric).map_or("", |(_, d)| d)
}

pub(crate) fn fmt(x: f64) -> String {
    if x != 0.0 && (x.abs() >= 1e4 || x.abs() < 1e-3) {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

fn table1_markdown(t: &Table1, models: &[String], failed: &[String]) -> String {
    let mut s =
        String::from("## Table 1: metrics per architecture (mean ± sd [95% CI] over seeds; n = seeds)\n\n| metric | ");
    let heads: Vec<String> = models
        .iter()
        .map(|m| match failed.contains(m) {
            true => format!("{m} (failed)"),
            false => m.clone(),
        })
        .collect();
    s.push_str(&heads.join(" | "));
    s.push_str(" |\n|---|");
    s.push_str(&"---|".repeat(models.len()));
    s.push('\n');
    for metric in t.metrics.iter().filter(|m| !describe(m).is_empty()) {
        let _ = write!(s, "| `{metric}` {} |", cell(describe(metric)));
        for model in models {
            let cell = match t.cell(metric, model) {
                None if failed.contains(model) => " failed |".to_string(),
                None => " — |".to_string(),
                Some(c) => match (c.sd, c.ci) {
                    (Some(sd), Some((lo, hi))) => format!(
                        " {} ± {} [{}, {}] (n={}) |",
                        fmt(c.mean),
                        fmt(sd),
                        fmt(lo),
                        fmt(hi),
                        c.n
                    ),
                    _ => format!(" {} (n={}) |", fmt(c.mean), c.n),
                },
            };
            s.push_str(&cell);
        }
        s.push('\n');
    }
    s.push_str("\nAll metrics, including per-expert values, are in `metrics.csv` and `table1.csv`.\n\n");
    s
}

fn opt(x: Option<f64>) -> String {
    x.map_or("—".into(), fmt)
}

fn table2_markdown(t: &[PairedRow]) -> String {
    let mut s = String::from("## Table 2: paired tests across seeds (Δ = a − b per seed)\n\n");
    s.push_str("| a | b | mean Δ | bootstrap 95% CI | t | p (t) | p (Wilcoxon) | d_z | Δ>0 / Δ<0 / n |\n|---|---|---|---|---|---|---|---|---|\n");
    for r in t {
        let c = &r.comparison;
        let ci = r
            .bootstrap_ci
            .map_or("—".into(), |(lo, hi)| format!("[{}, {}]", fmt(lo), fmt(hi)));
        let _ = writeln!(
            s,
            "| {} `{}` | {} `{}` | {} | {} | {} | {} | {} | {} | {} / {} / {} |",
            c.model_a,
            c.metric_a,
            c.model_b,
            c.metric_b,
            fmt(r.test.mean_diff),
            ci,
            opt(r.test.t),
            opt(r.test.p_t),
            opt(r.test.p_wilcoxon),
            opt(r.test.cohen_dz),
            r.test.n_pos,
            r.test.n_neg,
            r.test.n
        );
    }
    s.push_str("\np-values are two-sided and unadjusted; d_z = mean Δ / sd Δ.\n");
    s
}

fn table1_csv(t: &Table1, models: &[String]) -> String {
    let mut s = String::from("metric,model,n,mean,sd,ci_low,ci_high\n");
    for metric in &t.metrics {
        for model in models {
            if let Some(c) = t.cell(metric, model) {
                let (lo, hi) = c.ci.map_or((String::new(), String::new()), |(a, b)| {
                    (format!("{a:?}"), format!("{b:?}"))
                });
                let _ = writeln!(
                    s,
                    "{metric},{model},{},{:?},{},{lo},{hi}",
                    c.n,
                    c.mean,
                    c.sd.map_or(String::new(), |v| format!("{v:?}"))
                );
            }
        }
    }
    s
}

fn table2_csv(t: &[PairedRow]) -> String {
    let mut s = String::from(
        "model_a,metric_a,model_b,metric_b,n,mean_diff,boot_low,boot_high,t,p_t,p_wilcoxon,cohen_dz,n_pos,n_neg\n",
    );
    let o = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v:?}"));
    for r in t {
        let c = &r.comparison;
        let (lo, hi) = (o(r.bootstrap_ci.map(|x| x.0)), o(r.bootstrap_ci.map(|x| x.1)));
        let _ = writeln!(
            s,
            "{},{},{},{},{},{:?},{lo},{hi},{},{},{},{},{},{}",
            c.model_a,
            c.metric_a,
            c.model_b,
            c.metric_b,
            r.test.n,
            r.test.mean_diff,
            o(r.test.t),
            o(r.test.p_t),
            o(r.test.p_wilcoxon),
            o(r.test.cohen_dz),
            r.test.n_pos,
            r.test.n_neg
        );
    }
    s
}

fn claims_markdown(claims: &[Claim]) -> String {
    let mut s = String::from("## Claims (SPEC §9.1)\n\n| hypothesis | verdict | why |\n|---|---|---|\n");
    for c in claims {
        let _ = writeln!(
            s,
            "| **{}** {} | **{}** | {} |",
            c.id,
            cell(c.statement),
            c.verdict.as_str(),
            cell(&c.reason)
        );
    }
    s.push_str("\n| H | a | claim | b | primary | seeds in direction | mean Δ | bootstrap 95% CI | p t (Holm) | p Wilcoxon (Holm) | d_z | verdict |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in claims.iter().flat_map(|c| &c.rows) {
        let ci = r
            .bootstrap_ci
            .map_or("—".into(), |(lo, hi)| format!("[{}, {}]", fmt(lo), fmt(hi)));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {}/{} | {} | {} | {} ({}) | {} ({}) | {} | {}: {} |",
            r.spec.hypothesis,
            cell(&r.spec.a.label()),
            r.spec.direction.symbol(),
            cell(&r.spec.b.label()),
            if r.spec.primary { "yes" } else { "no" },
            r.n_claimed,
            r.n,
            opt(r.mean_diff),
            ci,
            opt(r.p_t),
            opt(r.p_t_holm),
            opt(r.p_wilcoxon),
            opt(r.p_wilcoxon_holm),
            opt(r.cohen_dz),
            r.verdict.as_str(),
            cell(&r.reason)
        );
    }
    let _ = write!(
        s,
        "\nOne-sided p-values in the claimed direction; Holm across each hypothesis. Rule: {VERDICT_RULE}\n\n"
    );
    s
}

fn claims_csv(claims: &[Claim]) -> String {
    let mut s = String::from(
        "hypothesis,hypothesis_verdict,a,direction,b,primary,n,n_claimed,mean_diff,boot_low,boot_high,p_t,p_t_holm,p_wilcoxon,p_wilcoxon_holm,cohen_dz,verdict,reason\n",
    );
    let o = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v:?}"));
    for c in claims {
        for r in &c.rows {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},\"{}\"",
                c.id,
                c.verdict.as_str(),
                r.spec.a.label(),
                r.spec.direction.symbol(),
                r.spec.b.label(),
                r.spec.primary,
                r.n,
                r.n_claimed,
                o(r.mean_diff),
                o(r.bootstrap_ci.map(|x| x.0)),
                o(r.bootstrap_ci.map(|x| x.1)),
                o(r.p_t),
                o(r.p_t_holm),
                o(r.p_wilcoxon),
                o(r.p_wilcoxon_holm),
                o(r.cohen_dz),
                r.verdict.as_str(),
                r.reason.replace('"', "'")
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_escape_pipes() {
        assert_eq!(cell("mean |A1| (cosine)"), "mean \\|A1\\| (cosine)");
    }
}
