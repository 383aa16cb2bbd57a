//! Reads a run folder's records and renders what a researcher reads: a self-contained
//! `report.html` (inline SVG figures of SPEC §11, a verdict on each hypothesis H1–H6 of SPEC
//! §9.1, Table 1), each figure as SVG and PNG, `summary.md`, and the tables as CSV.
//!
//! Main items: [`write_report`] (everything), [`write_summary`] (markdown and CSV only),
//! [`RunData`] (a run folder in memory), [`figures`] / [`Figure`] (the numbers behind each
//! figure) and [`claims`] / [`Claim`] (the verdicts). It never links candle: everything comes
//! from `manifest.json`, `metrics.jsonl`, `curves.jsonl` and `spectra/*.npy`.
//!
//! ```
//! use moescope_report::{table1, Table1Options};
//! use moescope_records::MetricRow;
//! let rows: Vec<MetricRow> = (0..3).map(|s| MetricRow::new("dense", s, None, "fit.val_loss", 1.0 + s as f64)).collect();
//! let t = table1(&rows, &["dense".to_string()], &Table1Options { level: 0.95 });
//! let cell = t.cell("fit.val_loss", "dense").unwrap();
//! assert_eq!((cell.n, cell.mean), (3, 2.0));
//! ```
#![deny(missing_docs)]

mod claims;
mod data;
mod error;
mod figdata;
mod html;
mod markdown;
mod plot;
mod sweep;
mod tables;

pub use claims::{
    claim_specs, claims, Claim, ClaimOptions, ClaimRow, ClaimSpec, Direction, Side, Verdict, HYPOTHESES, VERDICT_RULE,
};
pub use data::RunData;
pub use error::{Error, Result};
pub use figdata::{
    bar, figures, Bar, BarPanel, Figure, FigureKind, GatePlane, Heatmap, LinePanel, MeanSpectrum, Series,
};
pub use markdown::write_summary;
pub use moescope_records::{read_npy, NpyArray as Array};
pub use plot::{render_svg, svg_to_png};
pub use sweep::{diversity_alignment_spearman, sweep_figures, write_sweep_report, SweepCell};
pub use tables::{comparisons, paired_table, table1, Cell, Comparison, PairedRow, Table1, Table1Options};

use std::path::{Path, PathBuf};

/// The verdicts on H1–H6 for a run, with the run's own test settings (alpha, bootstrap
/// resamples) as its report uses them.
pub fn run_claims(run: &RunData) -> Vec<Claim> {
    markdown::run_claims(run)
}

/// The files [`write_report`] wrote.
#[derive(Debug, Clone)]
pub struct ReportPaths {
    /// `report.html`.
    pub html: PathBuf,
    /// `summary.md`.
    pub summary: PathBuf,
    /// `figures/<name>.svg` and `.png`, per figure.
    pub figures: Vec<(PathBuf, PathBuf)>,
    /// `table1.csv`, `table2.csv`, `claims.csv`.
    pub tables: Vec<PathBuf>,
}

/// Marks a report's `--out` folder (not the run's own) with the run it reports
/// (`records::Claim::take_for`): only that run may be reported there again.
const REPORT_MARKER: &str = "report.json";

/// What a report writes into its folder (and what another writer's files there would be).
const REPORT_FILES: [&str; 6] = [
    "report.html",
    "summary.md",
    "table1.csv",
    "table2.csv",
    "claims.csv",
    "figures",
];

/// `p` with links and `..` resolved (as given if it does not exist).
fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

/// Reads the run folder `run_dir` and writes, into `out` (default: `run_dir`), `report.html`,
/// `figures/<name>.{svg,png}`, `summary.md`, `table1.csv`, `table2.csv` and `claims.csv`.
/// An `out` holding another run, a sweep, another run's report or files a report would replace
/// is refused before anything is written.
pub fn write_report(run_dir: &Path, out: Option<&Path>) -> Result<ReportPaths> {
    let run = RunData::read(run_dir)?;
    // Into another folder: claimed (one writer at a time) and marked with the run it reports.
    let elsewhere = out.filter(|o| canonical(o) != canonical(run_dir));
    let _claim = elsewhere
        .map(|o| moescope_records::Claim::take_for(o, REPORT_MARKER, &canonical(run_dir), &REPORT_FILES))
        .transpose()?;
    let out = out.unwrap_or(run_dir);
    let claims = markdown::run_claims(&run);
    markdown::write_summary_files(&run, &claims, out)?;
    let mut rendered = Vec::new();
    let mut paths = Vec::new();
    for fig in figures(&run)? {
        let svg = render_svg(&fig)?;
        let png = svg_to_png(&svg, &fig.name)?;
        let (s, p) = (
            out.join("figures").join(format!("{}.svg", fig.name)),
            out.join("figures").join(format!("{}.png", fig.name)),
        );
        moescope_records::write_atomic(&s, svg.as_bytes())?;
        moescope_records::write_atomic(&p, &png)?;
        paths.push((s, p));
        rendered.push((fig, svg));
    }
    let html = out.join("report.html");
    moescope_records::write_atomic(&html, html::page(&run, &rendered, &claims).as_bytes())?;
    Ok(ReportPaths {
        html,
        summary: out.join("summary.md"),
        figures: paths,
        tables: ["table1.csv", "table2.csv", "claims.csv"]
            .iter()
            .map(|t| out.join(t))
            .collect(),
    })
}
