//! `sweep collect`: every finished cell's records merged into sweep-level tables (one row per
//! metric value, with the cell's axis values as columns), per-cell claims, and the sweep report.

use crate::error::io_err;
use crate::plan::inline;
use crate::store::{CellState, SweepDir};
use crate::{Error, Result};
use moescope_records::write_atomic;
use moescope_report::{table1, RunData, SweepCell, Table1Options};
use std::path::{Path, PathBuf};

/// Written first into a collect folder: the sweep its tables come from, so that collecting that
/// sweep again may replace them, and nothing else is taken for them.
const MARKER: &str = "collect.json";

/// What [`collect`] writes (figures go to `figures/sweep_*`).
const OUTPUTS: [&str; 5] = [
    "metrics.csv",
    "summary.csv",
    "claims.csv",
    "sweep_report.html",
    "figures",
];

/// What [`collect`] wrote.
#[derive(Debug, Clone)]
pub struct Collected {
    /// The output folder.
    pub dir: PathBuf,
    /// Cells merged (those with a run folder, including failed ones).
    pub merged: usize,
    /// Cells that failed.
    pub failed: usize,
    /// All cells.
    pub cells: usize,
    /// `sweep_report.html`.
    pub report: PathBuf,
}

/// Merges the finished cells of `dir` into `out` (default `<sweep>/collected`): `metrics.csv`
/// (every metric row), `summary.csv` (seed mean and sd of each model-level metric),
/// `claims.csv` (each hypothesis's verdict per cell) and `sweep_report.html` with the figures.
/// An `out` holding a run, a sweep, or tables not collected from this sweep is refused.
pub fn collect(dir: &SweepDir, out: Option<&Path>) -> Result<Collected> {
    let spec = dir.read_spec()?;
    let sweep = resolved(&dir.root)?;
    // One collect at a time per folder, and only into this sweep's own tables.
    let (out, _claim) = claim_out(&sweep, out)?;
    let keys: Vec<String> = spec.axes.iter().flat_map(|a| a.keys.clone()).collect();
    let mut cells = Vec::new();
    for (cell, state) in crate::status(dir)? {
        let cell_dir = dir.cell_dir(&cell.id);
        let run = if cell_dir.join("manifest.json").is_file() {
            Some(RunData::read(&cell_dir).map_err(|e| Error::Io {
                path: cell_dir.clone(),
                message: e.to_string(),
            })?)
        } else {
            None
        };
        // A failed cell's claims would be computed from the models that survived: not shown.
        let claims = match (&run, &state) {
            (Some(r), CellState::Done) => moescope_report::run_claims(r),
            _ => Vec::new(),
        };
        cells.push(SweepCell {
            id: cell.id.clone(),
            label: cell.label.clone(),
            axes: cell.assignment.iter().map(|(k, v)| (k.clone(), inline(v))).collect(),
            state: state.word().to_string(),
            run,
            claims,
        });
    }
    let columns = ["model", "seed", "expert", "metric", "value"];
    csv_table(&out.join("metrics.csv"), &keys, &columns, &metrics_rows(&cells, &keys))?;
    let columns = ["model", "metric", "n", "mean", "sd"];
    csv_table(&out.join("summary.csv"), &keys, &columns, &summary_rows(&cells, &keys))?;
    let columns = ["state", "hypothesis", "verdict", "reason"];
    csv_table(&out.join("claims.csv"), &keys, &columns, &claims_rows(&cells, &keys))?;
    let report = moescope_report::write_sweep_report(&spec.name, &cells, &keys, &out)?;
    Ok(Collected {
        dir: out,
        merged: cells.iter().filter(|c| c.run.is_some()).count(),
        failed: cells.iter().filter(|c| c.state == "failed").count(),
        cells: cells.len(),
        report,
    })
}

/// [`collect`] into the sweep's own `collected/`, waiting up to `wait` while another process
/// holds it: the last shards of a sweep can finish together, and each then collects; the one
/// that waits collects again once the other is done, so the tables are complete either way.
pub fn collect_waiting(dir: &SweepDir, wait: std::time::Duration) -> Result<Collected> {
    let start = std::time::Instant::now();
    loop {
        match collect(dir, None) {
            Err(Error::Records(moescope_records::Error::Busy { .. })) if start.elapsed() < wait => {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

/// The folder to collect into, claimed and marked for this sweep (`records::Claim::take_for`):
/// the sweep's own `collected/`, or an `--out` that holds nothing of a run's, another sweep's or
/// another report's, outside every sweep folder (where a folder would pass for part of a sweep).
fn claim_out(sweep: &Path, out: Option<&Path>) -> Result<(PathBuf, moescope_records::Claim)> {
    let own = sweep.join("collected");
    let out = match out {
        Some(o) => resolved(o)?,
        None => own.clone(),
    };
    let instead = format!("choose a new folder, or omit --out to write {}", own.display());
    let refuse = |message: String| Error::Io {
        path: out.clone(),
        message: format!("{message}; {instead}"),
    };
    // A run or a sweep is refused below as what it is; any other folder inside a sweep here.
    let plain = !["manifest.json", "sweep.json"].iter().any(|f| out.join(f).exists());
    if out != own && plain {
        if let Some(other) = SweepDir::enclosing(&out) {
            return Err(refuse(format!(
                "is inside the sweep folder {}, where sweep tables go only to its own collected/",
                other.display()
            )));
        }
    }
    match moescope_records::Claim::take_for(&out, MARKER, sweep, &OUTPUTS) {
        Ok(claim) => Ok((out, claim)),
        Err(moescope_records::Error::Owned { reason, .. }) => Err(refuse(reason)),
        Err(moescope_records::Error::NotAFolder { .. }) => Err(refuse("is a file, not a folder".into())),
        Err(e) => Err(e.into()),
    }
}

/// `p` made absolute, with links and `..` resolved in the part that exists, so that two
/// spellings of one folder compare equal.
fn resolved(p: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(p).map_err(io_err(p))?;
    let mut missing = Vec::new();
    let mut base = abs.as_path();
    loop {
        if let Ok(real) = base.canonicalize() {
            return Ok(missing.iter().rev().fold(real, |acc, name| acc.join(name)));
        }
        match (base.parent(), base.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name);
                base = parent;
            }
            _ => return Ok(abs),
        }
    }
}

/// Writes one CSV table (header `cell, <axes…>, <rest…>`) through the csv crate.
fn csv_table(path: &Path, keys: &[String], rest: &[&str], rows: &[Vec<String>]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = std::iter::once("cell")
        .chain(keys.iter().map(String::as_str))
        .chain(rest.iter().copied());
    let bad = |e: csv::Error| Error::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    w.write_record(header).map_err(bad)?;
    for r in rows {
        w.write_record(r).map_err(bad)?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(write_atomic(path, &bytes)?)
}

/// The cell id and its value of every axis key (empty where the cell lacks it).
fn prefix(c: &SweepCell, keys: &[String]) -> Vec<String> {
    let value = |k: &String| {
        c.axes
            .iter()
            .find(|(key, _)| key == k)
            .map_or(String::new(), |(_, v)| v.clone())
    };
    std::iter::once(c.id.clone()).chain(keys.iter().map(value)).collect()
}

fn metrics_rows(cells: &[SweepCell], keys: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for c in cells {
        let Some(run) = &c.run else { continue };
        for r in &run.rows {
            let mut row = prefix(c, keys);
            let expert = r.expert.map_or(String::new(), |e| e.to_string());
            row.extend([
                r.model.clone(),
                r.seed.to_string(),
                expert,
                r.metric.clone(),
                r.value.to_string(),
            ]);
            out.push(row);
        }
    }
    out
}

/// Seed mean and sd of every model-level metric: each cell's Table 1 (SPEC §11), as its own
/// report computes it.
fn summary_rows(cells: &[SweepCell], keys: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for c in cells {
        let Some(run) = &c.run else { continue };
        let t = table1(&run.rows, &run.models, &Table1Options { level: 0.95 });
        for model in &run.models {
            for metric in &t.metrics {
                let Some(cell) = t.cell(metric, model) else { continue };
                let mut row = prefix(c, keys);
                let sd = cell.sd.map_or(String::new(), |s| s.to_string());
                row.extend([
                    model.clone(),
                    metric.clone(),
                    cell.n.to_string(),
                    cell.mean.to_string(),
                    sd,
                ]);
                out.push(row);
            }
        }
    }
    out
}

fn claims_rows(cells: &[SweepCell], keys: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for c in cells {
        if c.claims.is_empty() {
            let mut row = prefix(c, keys);
            row.extend([c.state.clone(), String::new(), String::new(), String::new()]);
            out.push(row);
        }
        for cl in &c.claims {
            let mut row = prefix(c, keys);
            row.extend([
                c.state.clone(),
                cl.id.to_string(),
                cl.verdict.as_str().to_string(),
                cl.reason.clone(),
            ]);
            out.push(row);
        }
    }
    out
}
