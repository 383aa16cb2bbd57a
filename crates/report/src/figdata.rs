//! The numbers behind every figure (SPEC §11), computed from a [`RunData`] and exposed so tests
//! can compare them with the metric rows. Drawing is in `plot.rs`.

use crate::data::RunData;
use crate::tables::per_seed;
use crate::Result;
use moescope_records::NpyArray as Array;

/// One line of a line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend label (`None`: not in the legend, e.g. the 2nd…E-th thin expert line).
    pub label: Option<String>,
    /// Style key: the model (or reference) name; fixes colour, dash and marker.
    pub style: String,
    /// x values.
    pub x: Vec<f64>,
    /// y values (seed mean).
    pub y: Vec<f64>,
    /// ±1 sd over seeds, if drawn as a band.
    pub sd: Option<Vec<f64>>,
    /// Bold (weighted mean) or thin (single expert) line.
    pub width: u32,
}

/// A panel of a line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct LinePanel {
    /// Panel title.
    pub title: String,
    /// Lines.
    pub series: Vec<Series>,
}

/// A bar in a bar chart: seed mean with a 95 % t-interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Axis label.
    pub label: String,
    /// Style key (model name).
    pub style: String,
    /// Seeds with a value.
    pub n: usize,
    /// Seed mean (`None` when no seed has a value, e.g. a failed model).
    pub mean: Option<f64>,
    /// 95 % t-interval.
    pub ci: Option<(f64, f64)>,
    /// The model has failed jobs.
    pub failed: bool,
}

/// A panel of a bar chart (one metric).
#[derive(Debug, Clone, PartialEq)]
pub struct BarPanel {
    /// Panel title.
    pub title: String,
    /// Metric names shown (per bar family).
    pub metric: String,
    /// Bars.
    pub bars: Vec<Bar>,
}

/// An E × E heatmap (seed mean).
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    /// Panel title.
    pub title: String,
    /// E.
    pub size: usize,
    /// Row-major E × E values.
    pub values: Vec<f64>,
    /// Chance level, marked on the colour bar.
    pub chance: Option<f64>,
}

/// The input plane of a 2-D model coloured by winning expert.
#[derive(Debug, Clone, PartialEq)]
pub struct GatePlane {
    /// Panel title.
    pub title: String,
    /// Experts.
    pub experts: usize,
    /// Grid points (x1, x2).
    pub points: Vec<(f64, f64)>,
    /// Winning expert per point.
    pub winner: Vec<usize>,
    /// Its gate, in [0, 1].
    pub gate: Vec<f64>,
}

/// What a figure shows.
#[derive(Debug, Clone, PartialEq)]
pub enum FigureKind {
    /// Line charts.
    Lines {
        /// Panels.
        panels: Vec<LinePanel>,
        /// Log-scaled y axis.
        log_y: bool,
    },
    /// Bar charts with CIs.
    Bars(Vec<BarPanel>),
    /// Heatmaps, colour scale [0, vmax].
    Heatmaps {
        /// Panels.
        panels: Vec<Heatmap>,
        /// Top of the colour scale.
        vmax: f64,
    },
    /// Input-plane charts.
    Planes(Vec<GatePlane>),
}

/// One figure of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// File stem, e.g. `fig1_spectra`.
    pub name: String,
    /// Title.
    pub title: String,
    /// Caption (what is plotted, how it was averaged).
    pub caption: String,
    /// x-axis label with units.
    pub x_label: String,
    /// y-axis label with units.
    pub y_label: String,
    /// Content.
    pub kind: FigureKind,
}

impl Figure {
    /// The legend entries (line charts) or bar/panel labels the figure must show.
    pub fn labels(&self) -> Vec<String> {
        match &self.kind {
            FigureKind::Lines { panels, .. } => {
                let mut l: Vec<String> = Vec::new();
                for label in panels
                    .iter()
                    .flat_map(|p| p.series.iter().filter_map(|s| s.label.clone()))
                {
                    if !l.contains(&label) {
                        l.push(label);
                    }
                }
                l
            }
            FigureKind::Bars(p) => p
                .first()
                .map_or(vec![], |p| p.bars.iter().map(|b| b.label.clone()).collect()),
            FigureKind::Heatmaps { panels, .. } => panels.iter().map(|p| p.title.clone()).collect(),
            FigureKind::Planes(p) => p.iter().map(|p| p.title.clone()).collect(),
        }
    }
}

/// A legend label that says when a model failed, so it is never read as a real zero.
fn model_label(run: &RunData, model: &str) -> String {
    let failed: Vec<u64> = run
        .manifest
        .failures()
        .filter(|(m, ..)| *m == model)
        .map(|(_, s, ..)| s)
        .collect();
    match failed.len() {
        0 => model.to_string(),
        n if n == run.seeds().len() => format!("{model} (failed)"),
        _ => format!("{model} (failed on seeds {failed:?})"),
    }
}

/// Mean and sample sd over seeds, elementwise; curves of unequal length are cut to the shortest.
fn mean_sd(curves: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
    let len = curves.iter().map(Vec::len).min().unwrap_or(0);
    let n = curves.len() as f64;
    let mean: Vec<f64> = (0..len).map(|i| curves.iter().map(|c| c[i]).sum::<f64>() / n).collect();
    let sd = (0..len)
        .map(|i| match curves.len() {
            0 | 1 => 0.0,
            _ => (curves.iter().map(|c| (c[i] - mean[i]).powi(2)).sum::<f64>() / (n - 1.0)).sqrt(),
        })
        .collect();
    (mean, sd)
}

/// Weighted mean of spectra fed one at a time (one per point and expert); with `normalise`
/// each spectrum is divided by its σ1 first and dead ones (σ1 ≤ 1e-12) are skipped.
#[derive(Debug, Clone)]
pub struct MeanSpectrum {
    acc: Vec<f64>,
    total: f64,
    normalise: bool,
}

impl MeanSpectrum {
    /// An empty mean.
    pub fn new(normalise: bool) -> MeanSpectrum {
        MeanSpectrum {
            acc: Vec::new(),
            total: 0.0,
            normalise,
        }
    }

    /// Adds spectrum `s` (descending) with weight `w` (≤ 0: ignored).
    pub fn add(&mut self, s: &[f64], w: f64) {
        if w <= 0.0 || s.is_empty() || (self.normalise && s[0] <= 1e-12) {
            return;
        }
        if self.acc.len() != s.len() {
            self.acc = vec![0.0; s.len()];
        }
        let scale = if self.normalise { 1.0 / s[0] } else { 1.0 };
        self.acc.iter_mut().zip(s).for_each(|(a, v)| *a += w * v * scale);
        self.total += w;
    }

    /// The mean, or `None` when nothing had positive weight.
    pub fn finish(&self) -> Option<Vec<f64>> {
        (self.total > 0.0).then(|| self.acc.iter().map(|a| a / self.total).collect())
    }
}

/// The routing-weighted mean spectrum of one (model, seed) from its per-point array
/// `spectra/<model>_s<seed>_<array>.npy` (N, E, d), streamed row by row (the array can be far
/// larger than memory needs to be), weighted by the gates (N, E) when `gated`.
fn streamed_mean_spectrum(
    run: &RunData,
    model: &str,
    seed: u64,
    array: &str,
    gated: bool,
    normalise: bool,
) -> Result<Option<Vec<f64>>> {
    let gates = if gated { run.array(model, seed, "gates")? } else { None };
    let mut mean = MeanSpectrum::new(normalise);
    let mut i = 0;
    let shape = run.for_each_row(model, seed, array, &mut |s| {
        let w = gates.as_ref().map_or(1.0, |g| g.data.get(i).copied().unwrap_or(0.0));
        mean.add(s, w);
        i += 1;
    })?;
    Ok(match shape.as_deref() {
        Some([_, _, _]) => mean.finish(),
        _ => None,
    })
}

/// The spectra families of Fig 1/2: (label, style, model, array, weighted by gates, alpha metric).
fn spectrum_families(run: &RunData) -> Vec<(String, String, String, &'static str, bool, &'static str)> {
    let mut out = Vec::new();
    for m in &run.models {
        let label = model_label(run, m);
        if m == "dense" {
            out.push((
                label.clone(),
                m.clone(),
                m.clone(),
                "jac_expert_sv",
                true,
                "jac_expert.alpha",
            ));
            let g = format!("{label} groups J_D,g");
            out.push((
                g,
                "dense groups".into(),
                m.clone(),
                "jac_group_sv",
                false,
                "jac_group.alpha",
            ));
        } else {
            out.push((label, m.clone(), m.clone(), "jac_expert_sv", true, "jac_expert.alpha"));
        }
    }
    out
}

/// Fig 1 (raw, log y) or Fig 2 (normalised σ_i/σ_1, α in the legend).
pub fn spectra_figure(run: &RunData, normalise: bool) -> Result<Figure> {
    let mut series = Vec::new();
    for (label, style, model, array, gated, alpha) in spectrum_families(run) {
        let mut curves = Vec::new();
        for &seed in run.seeds() {
            curves.extend(streamed_mean_spectrum(run, &model, seed, array, gated, normalise)?);
        }
        let (y, sd) = mean_sd(&curves);
        let label = match normalise {
            true => {
                let a: Vec<f64> = per_seed(&run.rows, &model, alpha).into_values().collect();
                let mean = (!a.is_empty()).then(|| a.iter().sum::<f64>() / a.len() as f64);
                format!("{label}, α = {}", mean.map_or("—".into(), |a| format!("{a:.2}")))
            }
            false => label,
        };
        series.push(Series {
            label: Some(label),
            style,
            x: (1..=y.len()).map(|i| i as f64).collect(),
            y,
            sd: Some(sd),
            width: 2,
        });
    }
    let (name, title, y_label) = match normalise {
        false => (
            "fig1_spectra",
            "Fig 1. Jacobian singular-value spectra",
            "σ_i (output units per input unit)",
        ),
        true => (
            "fig2_normalised",
            "Fig 2. Normalised spectra σ_i/σ_1",
            "σ_i / σ_1 (dimensionless)",
        ),
    };
    Ok(Figure {
        name: name.into(),
        title: title.into(),
        caption: format!(
            "Routing-weighted mean over probe points and experts (gate weights; dense groups uniform), \
             then the mean over seeds; the band is ±1 sd over seeds. Log y axis.{}",
            match run.has_per_point_arrays() {
                true => "",
                false =>
                    " Not drawn: the run was made with output.npy: false, so the per-point spectra were not written.",
            }
        ),
        x_label: "singular-value index i".into(),
        y_label: y_label.into(),
        kind: FigureKind::Lines {
            panels: vec![LinePanel {
                title: String::new(),
                series,
            }],
            log_y: true,
        },
    })
}

/// A bar: the seed mean of `metric` for `model` with a 95 % t-interval.
pub fn bar(run: &RunData, label: String, style: &str, model: &str, metric: &str) -> Bar {
    let xs: Vec<f64> = per_seed(&run.rows, model, metric).into_values().collect();
    let s = moescope_stats::summarize(&xs, 0.95).ok();
    Bar {
        label,
        style: style.into(),
        n: xs.len(),
        mean: s.as_ref().map(|s| s.mean),
        ci: s.and_then(|s| s.ci),
        failed: run.is_failed(model),
    }
}

/// Fig 3: σ1, ‖J‖_F, erank, srank of the expert-local Jacobians per architecture.
pub fn jacobian_bars(run: &RunData) -> Figure {
    let panels = [
        ("sigma1", "σ1"),
        ("frobenius", "‖J‖_F"),
        ("erank", "erank"),
        ("srank", "srank"),
    ]
    .iter()
    .map(|(x, t)| {
        let mut bars = Vec::new();
        for m in &run.models {
            let label = model_label(run, m);
            bars.push(bar(run, label.clone(), m, m, &format!("jac_expert.{x}")));
            if m == "dense" {
                bars.push(bar(run, "groups".into(), "dense groups", m, &format!("jac_group.{x}")));
            }
        }
        BarPanel {
            title: t.to_string(),
            metric: format!("jac_expert.{x}"),
            bars,
        }
    })
    .collect();
    Figure {
        name: "fig3_jacobian_bars".into(),
        title: "Fig 3. Expert-local Jacobian size and rank".into(),
        caption: "Seed mean of the routing-weighted per-seed value (Table 1) with its 95 % t-interval over seeds. \
                  σ1 and ‖J‖_F in output units per input unit; erank and srank are dimensionless."
            .into(),
        x_label: "architecture".into(),
        y_label: "value".into(),
        kind: FigureKind::Bars(panels),
    }
}

/// Fig 5: weighted-PCA erank, PR and k90 per architecture and the dense references.
pub fn representation_bars(run: &RunData) -> Figure {
    let panels = [("erank", "erank(Σ)"), ("pr", "PR(Σ)"), ("k90", "k90 (components)")]
        .iter()
        .map(|(x, t)| {
            let mut bars = Vec::new();
            for m in &run.models {
                let label = model_label(run, m);
                if m == "dense" {
                    bars.push(bar(run, label, "dense", m, &format!("rep_global.{x}")));
                    bars.push(bar(
                        run,
                        "cluster ctl".into(),
                        "dense groups",
                        m,
                        &format!("rep_cluster.{x}"),
                    ));
                } else {
                    bars.push(bar(run, label, m, m, &format!("rep.{x}")));
                }
            }
            BarPanel {
                title: t.to_string(),
                metric: format!("rep.{x}"),
                bars,
            }
        })
        .collect();
    Figure {
        name: "fig5_representation_bars".into(),
        title: "Fig 5. Representation effective rank".into(),
        caption: "Routed models: routing-mass mean over experts of the weighted-PCA value; dense: global PCA and \
                  the cluster-matched control. Seed mean with 95 % t-interval."
            .into(),
        x_label: "architecture".into(),
        y_label: "dimensions".into(),
        kind: FigureKind::Bars(panels),
    }
}

/// Routing mass per expert from a (N, E) gates array.
fn routing_mass(gates: &Array) -> Vec<f64> {
    let e = gates.shape.get(1).copied().unwrap_or(1).max(1);
    let mut mass = vec![0.0; e];
    for (i, g) in gates.data.iter().enumerate() {
        mass[i % e] += g;
    }
    mass
}

/// Rows of an (E, d) array averaged with `weights` (uniform when `None`).
fn weighted_rows(a: &Array, weights: Option<&[f64]>) -> Vec<f64> {
    let d = *a.shape.last().unwrap_or(&0);
    let e = a.data.len() / d.max(1);
    // An all-zero row is an expert without a defined curve (no routing mass, or zero variance):
    // it takes no part in the mean.
    let defined = |i: usize| a.data[i * d..(i + 1) * d].iter().any(|&x| x != 0.0);
    let w: Vec<f64> = (0..e)
        .map(|i| {
            if defined(i) {
                weights.map_or(1.0, |w| w.get(i).copied().unwrap_or(0.0))
            } else {
                0.0
            }
        })
        .collect();
    let total: f64 = w.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    (0..d)
        .map(|j| (0..e).map(|i| w[i] * a.data[i * d + j]).sum::<f64>() / total)
        .collect()
}

fn line(label: Option<String>, style: &str, y: Vec<f64>, width: u32) -> Series {
    Series {
        label,
        style: style.into(),
        x: (1..=y.len()).map(|i| i as f64).collect(),
        y,
        sd: None,
        width,
    }
}

/// The dense references of Fig 4 (global PCA, cluster-matched control), seed means.
fn dense_cev(run: &RunData) -> Result<Vec<Series>> {
    if !run.models.iter().any(|m| m == "dense") {
        return Ok(vec![]);
    }
    let (mut global, mut cluster) = (Vec::new(), Vec::new());
    for &s in run.seeds() {
        global.extend(run.array("dense", s, "rep_global_cev")?.map(|a| a.data));
        cluster.extend(
            run.array("dense", s, "rep_cluster_cev")?
                .map(|a| weighted_rows(&a, None)),
        );
    }
    let label = model_label(run, "dense");
    Ok(vec![
        line(Some(format!("{label}: global PCA")), "dense", mean_sd(&global).0, 2),
        line(
            Some(format!("{label}: cluster-matched")),
            "dense groups",
            mean_sd(&cluster).0,
            2,
        ),
    ])
}

/// Fig 4: weighted-PCA cumulative explained variance, one panel per routed model.
pub fn cev_figure(run: &RunData) -> Result<Figure> {
    let refs = dense_cev(run)?;
    let mut panels = Vec::new();
    for m in run.models.iter().filter(|m| *m != "dense") {
        let (mut experts, mut means) = (Vec::<Vec<Vec<f64>>>::new(), Vec::new());
        for &s in run.seeds() {
            let (Some(cev), Some(g)) = (run.array(m, s, "rep_cev")?, run.array(m, s, "gates")?) else {
                continue;
            };
            let d = *cev.shape.last().unwrap_or(&0);
            experts.push(cev.data.chunks(d.max(1)).map(<[f64]>::to_vec).collect());
            means.push(weighted_rows(&cev, Some(&routing_mass(&g))));
        }
        let e = experts.iter().map(Vec::len).min().unwrap_or(0);
        let mut series: Vec<Series> = (0..e)
            .map(|i| {
                let per_seed: Vec<Vec<f64>> = experts.iter().map(|x| x[i].clone()).collect();
                line(
                    (i == 0).then(|| "single experts (thin)".into()),
                    "expert",
                    mean_sd(&per_seed).0,
                    1,
                )
            })
            .collect();
        let label = model_label(run, m);
        series.push(line(Some("routing-mass mean (bold)".into()), m, mean_sd(&means).0, 3));
        series.extend(refs.iter().cloned());
        panels.push(LinePanel { title: label, series });
    }
    Ok(Figure {
        name: "fig4_cev".into(),
        title: "Fig 4. Weighted-PCA cumulative explained variance".into(),
        caption: "Per expert: PCA of the hidden states weighted by that expert's gate (thin); bold: mean weighted \
                  by routing mass; references: dense global PCA and the cluster-matched dense control. Seed means."
            .into(),
        x_label: "number of components q".into(),
        y_label: "CEV_q (fraction of variance)".into(),
        kind: FigureKind::Lines { panels, log_y: false },
    })
}

/// Seed-mean |matrix| of `array` for `model`, with the seed-mean `chance` metric.
fn heatmap(run: &RunData, model: &str, array: &str, chance: &str, title: String) -> Result<Option<Heatmap>> {
    let mut mats = Vec::new();
    let mut size = 0;
    for &s in run.seeds() {
        if let Some(a) = run.array(model, s, array)? {
            size = a.shape.first().copied().unwrap_or(0);
            mats.push(a.data.iter().map(|v| v.abs()).collect::<Vec<f64>>());
        }
    }
    if mats.is_empty() {
        return Ok(None);
    }
    let c: Vec<f64> = per_seed(&run.rows, model, chance).into_values().collect();
    Ok(Some(Heatmap {
        title,
        size,
        values: mean_sd(&mats).0,
        chance: (!c.is_empty()).then(|| c.iter().sum::<f64>() / c.len() as f64),
    }))
}

/// Fig 6 (`alignment = true`: |A1| of the average Jacobians) or Fig 7 (subspace overlap).
pub fn heatmap_figure(run: &RunData, alignment: bool) -> Result<Figure> {
    let mut panels = Vec::new();
    for m in &run.models {
        let label = model_label(run, m);
        let p = match (alignment, m == "dense") {
            (true, true) => heatmap(
                run,
                m,
                "align_group_a1",
                "align_group.a1_chance",
                format!("{label} groups"),
            )?,
            (true, false) => heatmap(run, m, "align_a1", "align.a1_chance", label)?,
            (false, true) => heatmap(
                run,
                m,
                "subspace_cluster_overlap",
                "subspace_cluster.chance",
                format!("{label} clusters"),
            )?,
            (false, false) => heatmap(run, m, "subspace_overlap", "subspace.chance", label)?,
        };
        panels.extend(p);
    }
    let (name, title, caption) = match alignment {
        true => (
            "fig6_alignment",
            "Fig 6. Jacobian alignment |A1| between experts",
            "|cos| between the experts' routing-weighted average Jacobians, seed mean. The colour bar marks the \
             chance level (align.a1_chance, seed mean).",
        ),
        false => (
            "fig7_subspace_overlap",
            "Fig 7. Representation subspace overlap O_ef",
            "Overlap of the experts' top-r weighted-PCA subspaces, seed mean; chance level r/d marked on the colour bar.",
        ),
    };
    Ok(Figure {
        name: name.into(),
        title: title.into(),
        caption: caption.into(),
        x_label: "expert f".into(),
        y_label: "expert e".into(),
        kind: FigureKind::Heatmaps { panels, vmax: 1.0 },
    })
}

/// Training and validation loss per model (seed mean at each logged step).
pub fn loss_figure(run: &RunData) -> Figure {
    let mut train = Vec::new();
    let mut val = Vec::new();
    for m in &run.models {
        let rows: Vec<_> = run.curves.iter().filter(|c| &c.model == m).collect();
        let mut steps: Vec<usize> = rows.iter().map(|c| c.step).collect();
        steps.sort_unstable();
        steps.dedup();
        let at = |step: usize, f: fn(&moescope_records::CurveRow) -> f64| {
            let v: Vec<f64> = rows.iter().filter(|c| c.step == step).map(|c| f(c)).collect();
            v.iter().sum::<f64>() / v.len().max(1) as f64
        };
        let x: Vec<f64> = steps.iter().map(|&s| s as f64).collect();
        let label = Some(model_label(run, m));
        for (out, f) in [
            (
                &mut train,
                (|c: &moescope_records::CurveRow| c.train_loss) as fn(&_) -> f64,
            ),
            (&mut val, |c| c.val_loss),
        ] {
            out.push(Series {
                label: label.clone(),
                style: m.clone(),
                x: x.clone(),
                y: steps.iter().map(|&s| at(s, f)).collect(),
                sd: None,
                width: 2,
            });
        }
    }
    Figure {
        name: "fig_loss".into(),
        title: "Training and validation loss".into(),
        caption:
            "Seed mean of the loss logged every train.eval_every steps (training loss averaged since the last log)."
                .into(),
        x_label: "training step".into(),
        y_label: "loss (task loss units)".into(),
        kind: FigureKind::Lines {
            panels: vec![
                LinePanel {
                    title: "training".into(),
                    series: train,
                },
                LinePanel {
                    title: "validation".into(),
                    series: val,
                },
            ],
            log_y: true,
        },
    }
}

/// The input plane of each routed model (first seed with a `gate_grid`), for d_in = 2.
pub fn gate_plane_figure(run: &RunData) -> Result<Option<Figure>> {
    let mut panels = Vec::new();
    for m in run.models.iter().filter(|m| *m != "dense") {
        for &s in run.seeds() {
            let Some(a) = run.array(m, s, "gate_grid")? else {
                continue;
            };
            let cols = a.shape.get(1).copied().unwrap_or(0);
            if cols < 3 {
                continue;
            }
            let (mut points, mut winner, mut gate) = (Vec::new(), Vec::new(), Vec::new());
            for row in a.data.chunks(cols) {
                let g = &row[2..];
                let (w, best) = g
                    .iter()
                    .enumerate()
                    .fold((0, f64::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
                points.push((row[0], row[1]));
                winner.push(w);
                gate.push(best.clamp(0.0, 1.0));
            }
            let title = format!("{} (seed {s})", model_label(run, m));
            panels.push(GatePlane {
                title,
                experts: cols - 2,
                points,
                winner,
                gate,
            });
            break;
        }
    }
    Ok((!panels.is_empty()).then(|| Figure {
        name: "fig10_gate_plane".into(),
        title: "Fig 10. Input plane coloured by the winning expert".into(),
        caption: "Colour: argmax gate on a 64 × 64 grid over the probe inputs' bounding box; opacity: its gate value \
                  (faint = shared between experts: the overlapping charts)."
            .into(),
        x_label: "input x1 (standardised units)".into(),
        y_label: "input x2 (standardised units)".into(),
        kind: FigureKind::Planes(panels),
    }))
}

/// Every figure of the report, in order.
pub fn figures(run: &RunData) -> Result<Vec<Figure>> {
    let mut f = vec![
        spectra_figure(run, false)?,
        spectra_figure(run, true)?,
        jacobian_bars(run),
        cev_figure(run)?,
        representation_bars(run),
        heatmap_figure(run, true)?,
        heatmap_figure(run, false)?,
        loss_figure(run),
    ];
    f.extend(gate_plane_figure(run)?);
    Ok(f)
}

#[cfg(test)]
mod mean_spectrum_tests {
    use super::MeanSpectrum;

    /// By hand: raw (1·[2, 1] + 3·[4, 2] + 4·[0, 0]) / 8 = [14/8, 7/8] (the dead spectrum counts);
    /// normalised both live spectra are [1, 0.5] and the dead one is skipped (σ1 = 0); weight 0
    /// is ignored either way.
    #[test]
    fn weighted_and_normalised_means() {
        let mut raw = MeanSpectrum::new(false);
        let mut norm = MeanSpectrum::new(true);
        for (s, w) in [
            (&[2.0, 1.0], 1.0),
            (&[4.0, 2.0], 3.0),
            (&[0.0, 0.0], 4.0),
            (&[9.0, 9.0], 0.0),
        ] {
            raw.add(s, w);
            norm.add(s, w);
        }
        assert_eq!(raw.finish(), Some(vec![14.0 / 8.0, 7.0 / 8.0]));
        assert_eq!(norm.finish(), Some(vec![1.0, 0.5]));
        assert_eq!(MeanSpectrum::new(true).finish(), None);
    }
}
