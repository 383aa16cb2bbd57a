//! `sweep collect`: every finished cell's records merged into sweep-level tables (one row per
//! metric value, with the cell's axis values as columns), per-cell claims, and the sweep report.

use crate::plan::inline;
use crate::store::{CellState, SweepDir};
use crate::{Error, Result};
use moescope_records::write_atomic;
use moescope_report::{RunData, SweepCell};
use std::fmt::Write;
use std::path::{Path, PathBuf};

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
pub fn collect(dir: &SweepDir, out: Option<&Path>) -> Result<Collected> {
    let out = out.map_or_else(|| dir.root.join("collected"), Path::to_path_buf);
    let spec = dir.read_spec()?;
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
    write_atomic(&out.join("metrics.csv"), metrics_csv(&cells, &keys).as_bytes())?;
    write_atomic(&out.join("summary.csv"), summary_csv(&cells, &keys).as_bytes())?;
    write_atomic(&out.join("claims.csv"), claims_csv(&cells, &keys).as_bytes())?;
    let report = moescope_report::write_sweep_report(&spec.name, &cells, &keys, &out)?;
    Ok(Collected {
        dir: out,
        merged: cells.iter().filter(|c| c.run.is_some()).count(),
        failed: cells.iter().filter(|c| c.state == "failed").count(),
        cells: cells.len(),
        report,
    })
}

/// A CSV field, quoted when it holds a separator, quote or newline.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn header(keys: &[String], rest: &str) -> String {
    let mut h = String::from("cell");
    for k in keys {
        let _ = write!(h, ",{}", field(k));
    }
    let _ = writeln!(h, ",{rest}");
    h
}

fn prefix(c: &SweepCell, keys: &[String]) -> String {
    let mut p = field(&c.id);
    for k in keys {
        let v = c.axes.iter().find(|(key, _)| key == k).map_or("", |(_, v)| v.as_str());
        let _ = write!(p, ",{}", field(v));
    }
    p
}

fn metrics_csv(cells: &[SweepCell], keys: &[String]) -> String {
    let mut s = header(keys, "model,seed,expert,metric,value");
    for c in cells {
        let Some(run) = &c.run else { continue };
        let p = prefix(c, keys);
        for r in &run.rows {
            let expert = r.expert.map_or(String::new(), |e| e.to_string());
            let _ = writeln!(
                s,
                "{p},{},{},{expert},{},{}",
                field(&r.model),
                r.seed,
                field(&r.metric),
                r.value
            );
        }
    }
    s
}

fn summary_csv(cells: &[SweepCell], keys: &[String]) -> String {
    let mut s = header(keys, "model,metric,n,mean,sd");
    for c in cells {
        let Some(run) = &c.run else { continue };
        let p = prefix(c, keys);
        let mut groups: std::collections::BTreeMap<(usize, &str), Vec<f64>> = Default::default();
        for r in run.rows.iter().filter(|r| r.expert.is_none()) {
            let order = run.models.iter().position(|m| m == &r.model).unwrap_or(usize::MAX);
            groups.entry((order, r.metric.as_str())).or_default().push(r.value);
        }
        for ((order, metric), v) in groups {
            let model = run.models.get(order).map_or("?", String::as_str);
            let n = v.len() as f64;
            let mean = v.iter().sum::<f64>() / n;
            let sd = if v.len() > 1 {
                (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
            } else {
                f64::NAN
            };
            let sd = if sd.is_finite() { sd.to_string() } else { String::new() };
            let _ = writeln!(s, "{p},{},{},{},{mean},{sd}", field(model), field(metric), v.len());
        }
    }
    s
}

fn claims_csv(cells: &[SweepCell], keys: &[String]) -> String {
    let mut s = header(keys, "state,hypothesis,verdict,reason");
    for c in cells {
        let p = prefix(c, keys);
        if c.claims.is_empty() {
            let _ = writeln!(s, "{p},{},,,", c.state);
        }
        for cl in &c.claims {
            let _ = writeln!(
                s,
                "{p},{},{},{},{}",
                c.state,
                cl.id,
                cl.verdict.as_str(),
                field(&cl.reason)
            );
        }
    }
    s
}
