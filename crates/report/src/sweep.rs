//! The sweep-level report: metrics against each numeric swept axis (SPEC Fig 9, S1), against
//! mean normalised routing entropy (Fig 8, S2), ensemble diversity against Jacobian alignment
//! with Spearman's ρ (S3), and the claim map: each hypothesis's verdict in every cell.

use crate::claims::{Claim, Verdict, HYPOTHESES};
use crate::data::RunData;
use crate::figdata::{Figure, FigureKind, LinePanel, Series};
use crate::html::{esc, strip_xml_decl, STYLE};
use crate::tables::per_seed;
use crate::{render_svg, svg_to_png, Result};
use moescope_records::write_atomic;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// One cell of a sweep, as the report sees it.
#[derive(Debug, Clone)]
pub struct SweepCell {
    /// Stable cell id.
    pub id: String,
    /// `experts=4 …`.
    pub label: String,
    /// Axis values: (key, inline YAML value).
    pub axes: Vec<(String, String)>,
    /// `pending`, `running`, `done` or `failed`.
    pub state: String,
    /// The cell's records, when it has finished.
    pub run: Option<RunData>,
    /// Its claims (empty when unfinished).
    pub claims: Vec<Claim>,
}

/// Metrics drawn against the axes: (metric, fallback for models without it, panel title).
const SWEEP_METRICS: [(&str, &str, &str); 5] = [
    ("jac_expert.sigma1", "jac_full.sigma1", "σ1(J_e)"),
    ("jac_expert.erank", "jac_full.erank", "erank(J_e)"),
    ("rep.erank", "rep_global.erank", "erank(Σ_e)"),
    ("align.a1_mean_abs", "", "mean |A1|"),
    ("fit.val_loss", "", "validation loss"),
];

/// Seed mean of a model-level metric (with its fallback), or `None`.
fn seed_mean(run: &RunData, model: &str, metric: &str, fallback: &str) -> Option<f64> {
    let mut v = per_seed(&run.rows, model, metric);
    if v.is_empty() && !fallback.is_empty() {
        v = per_seed(&run.rows, model, fallback);
    }
    let vals: Vec<f64> = v.values().copied().filter(|x| x.is_finite()).collect();
    (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64)
}

/// Architectures in first-seen order over the finished cells.
fn models(cells: &[SweepCell]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for run in cells.iter().filter_map(|c| c.run.as_ref()) {
        for m in &run.models {
            if !out.contains(m) {
                out.push(m.clone());
            }
        }
    }
    out
}

/// Metrics against one numeric axis: per model, the mean over seeds and over the cells that
/// share the axis value.
fn against_axis(cells: &[SweepCell], key: &str) -> Option<Figure> {
    let x_of = |c: &SweepCell| {
        c.axes
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.parse::<f64>().ok())
    };
    if cells.iter().any(|c| x_of(c).is_none()) {
        return None;
    }
    let models = models(cells);
    let panels = SWEEP_METRICS
        .iter()
        .map(|(metric, fallback, title)| {
            let series = models
                .iter()
                .filter_map(|m| {
                    let mut by_x: BTreeMap<i64, (f64, f64, usize)> = BTreeMap::new();
                    for c in cells {
                        let (Some(x), Some(run)) = (x_of(c), c.run.as_ref()) else {
                            continue;
                        };
                        if let Some(y) = seed_mean(run, m, metric, fallback) {
                            let e = by_x.entry((x * 1e6).round() as i64).or_insert((x, 0.0, 0));
                            e.1 += y;
                            e.2 += 1;
                        }
                    }
                    (!by_x.is_empty()).then(|| Series {
                        label: Some(m.clone()),
                        style: m.clone(),
                        x: by_x.values().map(|v| v.0).collect(),
                        y: by_x.values().map(|v| v.1 / v.2 as f64).collect(),
                        sd: None,
                        width: 2,
                    })
                })
                .collect();
            LinePanel {
                title: title.to_string(),
                series,
            }
        })
        .filter(|p| !p.series.is_empty())
        .collect::<Vec<_>>();
    let short = key.rsplit('.').next().unwrap_or(key);
    (!panels.is_empty()).then(|| Figure {
        name: format!("sweep_vs_{}", short.replace(|c: char| !c.is_ascii_alphanumeric(), "_")),
        title: format!("Metrics against {key}"),
        caption: format!(
            "Seed means per architecture at each value of {key}, averaged over the other axes. \
             Dense has no expert-local maps: its σ1 and erank are those of the full layer, its erank(Σ) the global one."
        ),
        x_label: key.to_string(),
        y_label: "seed mean".into(),
        kind: FigureKind::Lines { panels, log_y: false },
    })
}

/// Metrics against each routed model's mean normalised routing entropy (one point per cell and
/// model), the x axis of SPEC Fig 8.
fn against_entropy(cells: &[SweepCell]) -> Option<Figure> {
    let models = models(cells);
    let panels: Vec<LinePanel> = SWEEP_METRICS[..4]
        .iter()
        .map(|(metric, _, title)| LinePanel {
            title: title.to_string(),
            series: models
                .iter()
                .filter_map(|m| {
                    let pts: Vec<(f64, f64)> = cells
                        .iter()
                        .filter_map(|c| c.run.as_ref())
                        .filter_map(|r| {
                            Some((
                                seed_mean(r, m, "routing.entropy_norm", "")?,
                                seed_mean(r, m, metric, "")?,
                            ))
                        })
                        .collect();
                    scatter(m, pts)
                })
                .collect(),
        })
        .filter(|p| !p.series.is_empty())
        .collect();
    (!panels.is_empty()).then(|| Figure {
        name: "sweep_vs_entropy".into(),
        title: "Metrics against mean normalised routing entropy".into(),
        caption: "One point per cell and routed architecture (seed means); x is the mean normalised \
                  routing entropy H(g)/log E over the probe set (SPEC Fig 8)."
            .into(),
        x_label: "mean normalised routing entropy".into(),
        y_label: "seed mean".into(),
        kind: FigureKind::Lines { panels, log_y: false },
    })
}

/// One model's points as a scatter series (width 0: markers only), sorted by x; `None` if empty.
fn scatter(model: &str, mut pts: Vec<(f64, f64)>) -> Option<Series> {
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    (!pts.is_empty()).then(|| Series {
        label: Some(model.to_string()),
        style: model.to_string(),
        x: pts.iter().map(|p| p.0).collect(),
        y: pts.iter().map(|p| p.1).collect(),
        sd: None,
        width: 0,
    })
}

/// Ensemble diversity against mean |A1| (one point per cell, model and seed), with Spearman's ρ
/// over all points (SPEC §9.2 S3).
fn diversity(cells: &[SweepCell]) -> Option<(Figure, f64, usize)> {
    let models = models(cells);
    let mut all = Vec::new();
    let series: Vec<Series> = models
        .iter()
        .filter_map(|m| {
            let mut pts = Vec::new();
            for run in cells.iter().filter_map(|c| c.run.as_ref()) {
                let a = per_seed(&run.rows, m, "align.a1_mean_abs");
                let d = per_seed(&run.rows, m, "ensemble.diversity");
                pts.extend(a.iter().filter_map(|(s, x)| d.get(s).map(|y| (*x, *y))));
            }
            pts.retain(|p| p.0.is_finite() && p.1.is_finite());
            all.extend(pts.iter().copied());
            scatter(m, pts)
        })
        .collect();
    if all.len() < 3 {
        return None;
    }
    let (x, y): (Vec<f64>, Vec<f64>) = all.iter().copied().unzip();
    let rho = moescope_stats::spearman(&x, &y).ok()?;
    let fig = Figure {
        name: "sweep_diversity_alignment".into(),
        title: format!(
            "Ensemble diversity against Jacobian alignment (Spearman ρ = {rho:.3}, n = {})",
            all.len()
        ),
        caption: "One point per cell, routed architecture and seed: diversity D of the experts' outputs \
                  (SPEC §9.2 S3) against mean |A1|; ρ is Spearman's rank correlation over all points."
            .into(),
        x_label: "mean |A1|".into(),
        y_label: "diversity D".into(),
        kind: FigureKind::Lines {
            panels: vec![LinePanel {
                title: "D against mean |A1|".into(),
                series,
            }],
            log_y: false,
        },
    };
    Some((fig, rho, all.len()))
}

/// The sweep's figures (those its metrics allow).
pub fn sweep_figures(cells: &[SweepCell], axes: &[String]) -> Vec<Figure> {
    let mut out: Vec<Figure> = axes.iter().filter_map(|k| against_axis(cells, k)).collect();
    out.extend(against_entropy(cells));
    out.extend(diversity(cells).map(|d| d.0));
    out
}

/// Spearman's ρ between mean |A1| and diversity over all cells, models and seeds, and the number
/// of points (S3); `None` with fewer than 3 points or no diversity rows.
pub fn diversity_alignment_spearman(cells: &[SweepCell]) -> Option<(f64, usize)> {
    diversity(cells).map(|(_, rho, n)| (rho, n))
}

/// Writes `sweep_report.html` (figures inline, claim map) and `figures/*.{svg,png}` into `out`.
pub fn write_sweep_report(title: &str, cells: &[SweepCell], axes: &[String], out: &Path) -> Result<PathBuf> {
    let mut h = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = write!(
        h,
        "<title>moescope sweep: {0}</title><style>{STYLE}{MAP_STYLE}</style></head><body>",
        esc(title)
    );
    let _ = write!(h, "<h1>moescope sweep <code>{}</code></h1>", esc(title));
    let done = cells.iter().filter(|c| c.state == "done").count();
    let _ = write!(
        h,
        "<p class=\"meta\">{} cells · {done} done · axes: {}</p>",
        cells.len(),
        esc(&axes.join(", "))
    );
    h.push_str(&claim_map(cells));
    for fig in sweep_figures(cells, axes) {
        let svg = render_svg(&fig)?;
        let png = svg_to_png(&svg, &fig.name)?;
        write_atomic(&out.join("figures").join(format!("{}.svg", fig.name)), svg.as_bytes())?;
        write_atomic(&out.join("figures").join(format!("{}.png", fig.name)), &png)?;
        let _ = write!(
            h,
            "<figure id=\"{0}\">{1}<figcaption><strong>{2}.</strong> {3} Files: <code>figures/{0}.svg</code>, \
             <code>figures/{0}.png</code>.</figcaption></figure>",
            esc(&fig.name),
            strip_xml_decl(&svg),
            esc(&fig.title),
            esc(&fig.caption)
        );
    }
    h.push_str("<p class=\"meta\">Tables: <code>metrics.csv</code>, <code>summary.csv</code>, <code>claims.csv</code>. Each cell's own report: <code>cells/&lt;id&gt;/report.html</code>.</p></body></html>\n");
    let path = out.join("sweep_report.html");
    write_atomic(&path, h.as_bytes())?;
    Ok(path)
}

const MAP_STYLE: &str = ".holds{background:#cdeccd}.fails{background:#f6c9c4}.inconclusive{background:#f3ecc2}\
.nottested{background:#e6e6e6}table.map td{text-align:center}table.grid{margin-top:12px}\
.badge{display:inline-block;padding:1px 4px;margin:1px;border-radius:3px;font-size:12px}";

/// The claim map: one row per cell (its axis values), one column per hypothesis, coloured by
/// verdict.
fn claim_map(cells: &[SweepCell]) -> String {
    let keys: Vec<&str> = cells
        .first()
        .map(|c| c.axes.iter().map(|(k, _)| k.as_str()).collect())
        .unwrap_or_default();
    let mut h = String::from(
        "<h2>Claim map</h2><p class=\"meta\">Each hypothesis's verdict (paired tests across seeds, Holm-corrected) \
         in every cell: where the paper's claims hold and where they do not.</p><table class=\"map\"><tr>",
    );
    for k in &keys {
        let _ = write!(h, "<th>{}</th>", esc(k));
    }
    for (id, statement) in HYPOTHESES {
        let _ = write!(h, "<th title=\"{}\">{id}</th>", esc(statement));
    }
    h.push_str("</tr>");
    for c in cells {
        h.push_str("<tr>");
        for (_, v) in &c.axes {
            let _ = write!(h, "<td>{}</td>", esc(v));
        }
        for (id, _) in HYPOTHESES {
            let (word, class, reason) = match c.claims.iter().find(|cl| cl.id == *id) {
                Some(cl) => (cl.verdict.as_str(), verdict_class(cl.verdict), cl.reason.as_str()),
                None if c.state == "done" => ("n/a", "nottested", "not testable with these architectures"),
                None => (c.state.as_str(), "nottested", "cell not finished"),
            };
            let _ = write!(h, "<td class=\"{class}\" title=\"{}\">{}</td>", esc(reason), esc(word));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    h.push_str(&claim_grid(cells, &keys));
    h
}

/// With exactly two axes, the same verdicts as a 2-D grid (rows: first axis, columns: second),
/// each grid cell showing H1–H6 as coloured badges.
fn claim_grid(cells: &[SweepCell], keys: &[&str]) -> String {
    let [k0, k1] = keys else { return String::new() };
    let values = |i: usize| {
        let mut v: Vec<&str> = Vec::new();
        for c in cells {
            if let Some((_, x)) = c.axes.get(i) {
                if !v.contains(&x.as_str()) {
                    v.push(x);
                }
            }
        }
        v
    };
    let (rows, cols) = (values(0), values(1));
    let mut h = format!("<table class=\"map grid\"><tr><th>{} \\ {}</th>", esc(k0), esc(k1));
    for c in &cols {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr>");
    for r in &rows {
        let _ = write!(h, "<tr><th>{}</th>", esc(r));
        for col in &cols {
            h.push_str("<td>");
            let found = cells
                .iter()
                .find(|c| c.axes.len() == 2 && c.axes[0].1 == *r && c.axes[1].1 == *col);
            for (id, _) in HYPOTHESES {
                let (class, word) = match found.and_then(|c| c.claims.iter().find(|cl| cl.id == *id)) {
                    Some(cl) => (verdict_class(cl.verdict), cl.verdict.as_str()),
                    None => ("nottested", "not tested"),
                };
                let _ = write!(h, "<span class=\"badge {class}\" title=\"{id}: {word}\">{id}</span> ");
            }
            h.push_str("</td>");
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    h
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Holds => "holds",
        Verdict::Fails => "fails",
        Verdict::Inconclusive => "inconclusive",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moescope_records::{Manifest, MetricRow};

    fn run(rows: Vec<MetricRow>) -> RunData {
        let manifest = Manifest {
            schema_version: 1,
            name: "t".into(),
            started_unix: 0,
            config: serde_json::Value::Null,
            seeds: vec![0, 1],
            device: "cpu".into(),
            device_info: Default::default(),
            versions: Default::default(),
            git_commit: String::new(),
            command: Vec::new(),
            working_dir: String::new(),
            params: Vec::new(),
            data: Vec::new(),
            stages: Vec::new(),
            jobs: Vec::new(),
            wall_seconds: 0.0,
        };
        RunData {
            dir: PathBuf::new(),
            manifest,
            rows,
            curves: Vec::new(),
            models: vec!["dense".into(), "soft".into()],
            failed: Vec::new(),
        }
    }

    /// A cell at `experts`, `lr` whose soft σ1 over seeds 0, 1 is (a, b), dense σ1 (of the full
    /// layer) is 10, soft entropy e and soft alignment/diversity per seed as given.
    fn cell(experts: u32, lr: &str, (a, b): (f64, f64), e: f64, align_div: [(f64, f64); 2]) -> SweepCell {
        let mut rows = Vec::new();
        for (s, v) in [(0, a), (1, b)] {
            rows.push(MetricRow::new("soft", s, None, "jac_expert.sigma1", v));
            rows.push(MetricRow::new("dense", s, None, "jac_full.sigma1", 10.0));
            rows.push(MetricRow::new("soft", s, None, "routing.entropy_norm", e));
            rows.push(MetricRow::new(
                "soft",
                s,
                None,
                "align.a1_mean_abs",
                align_div[s as usize].0,
            ));
            rows.push(MetricRow::new(
                "soft",
                s,
                None,
                "ensemble.diversity",
                align_div[s as usize].1,
            ));
        }
        SweepCell {
            id: format!("c{experts}{lr}"),
            label: String::new(),
            axes: vec![
                ("model.experts".into(), experts.to_string()),
                ("train.lr".into(), lr.into()),
            ],
            state: "done".into(),
            run: Some(run(rows)),
            claims: Vec::new(),
        }
    }

    fn panel<'a>(fig: &'a Figure, title: &str) -> &'a LinePanel {
        let FigureKind::Lines { panels, .. } = &fig.kind else {
            panic!("line figure expected")
        };
        panels.iter().find(|p| p.title == title).unwrap()
    }

    #[test]
    fn axis_figure_averages_seeds_then_cells_sharing_the_value() {
        let cells = [
            cell(2, "0.1", (1.0, 3.0), 0.2, [(0.1, 0.9), (0.2, 0.8)]),
            cell(2, "0.2", (5.0, 7.0), 0.4, [(0.3, 0.7), (0.4, 0.6)]),
            cell(4, "0.1", (0.5, 0.5), 0.6, [(0.5, 0.5), (0.6, 0.4)]),
        ];
        let figs = sweep_figures(&cells, &["model.experts".into(), "train.lr".into()]);
        let names: Vec<&str> = figs.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "sweep_vs_experts",
                "sweep_vs_lr",
                "sweep_vs_entropy",
                "sweep_diversity_alignment"
            ]
        );
        let p = panel(&figs[0], "σ1(J_e)");
        let soft = p.series.iter().find(|s| s.style == "soft").unwrap();
        // E = 2: cells with seed means 2 and 6 → 4; E = 4: 0.5.
        assert_eq!((soft.x.clone(), soft.y.clone()), (vec![2.0, 4.0], vec![4.0, 0.5]));
        let dense = p.series.iter().find(|s| s.style == "dense").unwrap();
        assert_eq!(dense.y, vec![10.0, 10.0], "dense falls back to the full-layer σ1");
        // lr = 0.1: cells with seed means 2 and 0.5 → 1.25; lr = 0.2: 6.
        let lr = panel(&figs[1], "σ1(J_e)")
            .series
            .iter()
            .find(|s| s.style == "soft")
            .unwrap()
            .clone();
        assert_eq!((lr.x, lr.y), (vec![0.1, 0.2], vec![1.25, 6.0]));
        // Entropy: one point per cell, sorted by entropy.
        let ent = panel(&figs[2], "σ1(J_e)")
            .series
            .iter()
            .find(|s| s.style == "soft")
            .unwrap()
            .clone();
        assert_eq!((ent.x, ent.y), (vec![0.2, 0.4, 0.6], vec![2.0, 6.0, 0.5]));
        // Diversity falls strictly as alignment rises over all 6 points: Spearman ρ = −1.
        let (rho, n) = diversity_alignment_spearman(&cells).unwrap();
        assert_eq!(n, 6);
        assert!((rho + 1.0).abs() < 1e-12, "{rho}");
    }

    #[test]
    fn non_numeric_axes_get_no_axis_figure_and_the_map_shows_states() {
        let mut c = cell(2, "x", (1.0, 1.0), 0.5, [(0.1, 0.2), (0.2, 0.1)]);
        c.axes[1].1 = "[dense, soft]".into();
        let pending = SweepCell {
            run: None,
            state: "pending".into(),
            ..c.clone()
        };
        let figs = sweep_figures(&[c.clone(), pending.clone()], &["train.lr".into()]);
        assert!(figs.iter().all(|f| f.name != "sweep_vs_lr"));
        let map = claim_map(&[c, pending]);
        assert_eq!(
            map.matches("<tr>").count(),
            3 + 2,
            "list: header + 2 cells; grid: header + 1 row"
        );
        assert!(map.contains(">pending</td>") && map.contains(">n/a</td>"), "{map}");
        // Two axes: also a grid, one row per experts value, one column per lr value.
        assert!(map.contains("model.experts \\ train.lr"), "{map}");
        assert_eq!(map.matches("class=\"badge").count(), 6, "one grid cell × H1–H6");
    }
}
