//! CSV tables: one row per example, one column of labels (classification) or targets
//! (regression), every other column a numeric feature.
//!
//! - Header: `Some(true)` skips the first row, `Some(false)` reads it as data, `None` detects it:
//!   the first row is a header if one of its feature cells is not a number, or if its label cell
//!   is not a number while every label below it is. A text label alone does not make a header
//!   (string class labels are data). The header row is skipped without checking its width, so
//!   files such as scikit-learn's `iris.csv`, whose first line is
//!   `150,4,setosa,versicolor,virginica`, load as they are.
//! - Features and regression targets are f32: a value that is not finite there (`1e39`, `nan`,
//!   `inf`) is an error naming its line and column.
//! - Cells are trimmed of surrounding whitespace; blank lines are skipped.
//! - The label column may be negative, counting from the end (`-1` = last).
//! - Classification labels: if every label is a non-negative integer (`3` or `3.0`), the distinct
//!   values are numbered 0..C in numeric order (0..C-1 stay as they are; 1-based or sparse ids are
//!   compacted); otherwise the distinct label strings are sorted (byte-wise) and numbered 0..C.
//!   Fewer than 2 or more than [`MAX_CLASSES`] classes is an error (the latter is a regression
//!   target read as classes).
//! - Regression targets must be numeric; the target dimension is 1.

use crate::dataset::{split_loaded, Dataset, Splits, Targets};
use crate::idx::read_maybe_gz;
use crate::{Error, Result};
use moescope_config::{CsvTask, Problem};
use std::collections::BTreeMap;
use std::path::Path;

/// A parsed CSV table: `(x, rows, cols, targets)` with `x` the `rows × cols` features row-major
/// (label column removed).
pub type CsvTable = (Vec<f32>, usize, usize, Targets);

/// One data row: its 1-based line number in the file and its cells.
type Row = (u64, Vec<String>);

/// Reads a CSV table (gzip-compressed if it starts with `1f 8b`); see the module docs for the
/// header, label-column and label conventions. Errors name the file, the line and the column.
pub fn read_csv(path: &Path, header: Option<bool>, label_column: i64, problem: Problem) -> Result<CsvTable> {
    let bad = |message: String| Error::Csv {
        path: path.to_path_buf(),
        message,
    };
    let mut rows = read_rows(path)?;
    if rows.is_empty() {
        return Err(bad("empty file: no rows".into()));
    }
    let has_header = header.unwrap_or_else(|| looks_like_header(&rows, label_column));
    if has_header {
        rows.remove(0);
    }
    let Some((first_line, first)) = rows.first() else {
        return Err(bad("empty file: a header but no data rows".into()));
    };
    let (first_line, ncols) = (*first_line, first.len());
    for (line, cells) in &rows {
        if cells.len() != ncols {
            return Err(bad(format!(
                "ragged row at line {line}: expected {ncols} cells (as in line {first_line}), found {}",
                cells.len()
            )));
        }
    }
    let label = resolve_label_column(label_column, ncols).map_err(bad)?;
    let x = parse_features(&rows, label).map_err(bad)?;
    let targets = match problem {
        Problem::Regression => parse_regression(&rows, label).map_err(bad)?,
        Problem::Classification => parse_classes(&rows, label).map_err(bad)?,
    };
    Ok((x, rows.len(), ncols - 1, targets))
}

/// Every non-blank record with its line number; no width check yet (the csv reader is flexible).
fn read_rows(path: &Path) -> Result<Vec<Row>> {
    let bytes = read_maybe_gz(path)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes.as_slice());
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| Error::Csv {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let line = record.position().map_or(0, |p| p.line());
        rows.push((line, record.iter().map(str::to_string).collect()));
    }
    Ok(rows)
}

/// A finite number, or `None`.
fn parse_num(cell: &str) -> Option<f64> {
    cell.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Text, not a number (`nan`, `inf` and `1e39` are numbers here: bad data, not a header).
fn is_text(cell: &str) -> bool {
    cell.parse::<f64>().is_err()
}

/// Whether the first row is a header: a text feature cell, or a text label over numeric labels.
/// The label cell alone must not decide, or a first row with a string class label is dropped.
fn looks_like_header(rows: &[Row], label_column: i64) -> bool {
    let first = &rows[0].1;
    let Ok(label) = resolve_label_column(label_column, first.len()) else {
        return first.iter().any(|c| is_text(c));
    };
    if first.iter().enumerate().any(|(j, c)| j != label && is_text(c)) {
        return true;
    }
    let numeric_below = |(_, cells): &Row| cells.get(label).is_some_and(|c| !is_text(c));
    is_text(&first[label]) && rows.len() > 1 && rows[1..].iter().all(numeric_below)
}

/// Maps a possibly negative label column to an index in `0..ncols`.
fn resolve_label_column(given: i64, ncols: usize) -> std::result::Result<usize, String> {
    let n = ncols as i64;
    if ncols < 2 {
        return Err(format!("need at least 2 columns (features and a label), found {ncols}"));
    }
    let idx = if given < 0 { n + given } else { given };
    if (0..n).contains(&idx) {
        Ok(idx as usize)
    } else {
        Err(format!(
            "label column {given} out of range for {ncols} columns (valid: -{ncols}..={})",
            n - 1
        ))
    }
}

fn not_numeric(line: u64, col: usize, text: &str) -> String {
    format!(
        "non-numeric cell at line {line}, column {} (1-based): {text:?}",
        col + 1
    )
}

/// One feature or target cell as f32, which must be finite (training is f32, and an ∞ here
/// would otherwise surface as a training failure).
fn parse_f32(line: u64, col: usize, cell: &str) -> std::result::Result<f32, String> {
    let v = cell.parse::<f64>().map_err(|_| not_numeric(line, col, cell))? as f32;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!(
            "value at line {line}, column {} (1-based) is not a finite f32: {cell:?} (expected |v| ≤ 3.4e38)",
            col + 1
        ))
    }
}

/// The feature cells (all but `label`), row-major.
fn parse_features(rows: &[Row], label: usize) -> std::result::Result<Vec<f32>, String> {
    let mut x = Vec::with_capacity(rows.len() * rows[0].1.len().saturating_sub(1));
    for (line, cells) in rows {
        for (j, cell) in cells.iter().enumerate().filter(|(j, _)| *j != label) {
            x.push(parse_f32(*line, j, cell)?);
        }
    }
    Ok(x)
}

fn parse_regression(rows: &[Row], label: usize) -> std::result::Result<Targets, String> {
    let values = rows
        .iter()
        .map(|(line, cells)| parse_f32(*line, label, &cells[label]))
        .collect::<std::result::Result<Vec<f32>, String>>()?;
    Ok(Targets::Regression { values, dim: 1 })
}

/// Most classes a classification label column may have; more almost always means a regression
/// target was read as classes.
pub const MAX_CLASSES: usize = 1000;

/// Class ids 0..C: distinct integer labels in numeric order (so 0..C-1 stay as they are, and
/// 1-based or sparse ids are compacted), otherwise distinct strings in byte order.
fn parse_classes(rows: &[Row], label: usize) -> std::result::Result<Targets, String> {
    let as_int = |s: &str| parse_num(s).filter(|v| *v >= 0.0 && v.fract() == 0.0 && *v <= f64::from(u32::MAX - 1));
    let ints: Option<Vec<u32>> = rows.iter().map(|(_, c)| as_int(&c[label]).map(|v| v as u32)).collect();
    let labels: Vec<u32> = match ints {
        Some(raw) => {
            let ids: BTreeMap<u32, u32> = raw.iter().map(|&v| (v, 0)).collect();
            let ids: BTreeMap<u32, u32> = ids.into_keys().enumerate().map(|(i, v)| (v, i as u32)).collect();
            raw.iter().map(|v| ids[v]).collect()
        }
        None => {
            let ids: BTreeMap<&str, u32> = rows.iter().map(|(_, c)| (c[label].as_str(), 0)).collect();
            let ids: BTreeMap<&str, u32> = ids.into_keys().enumerate().map(|(i, v)| (v, i as u32)).collect();
            rows.iter().map(|(_, c)| ids[c[label].as_str()]).collect()
        }
    };
    let classes = labels.iter().max().map_or(0, |&m| m as usize + 1);
    if classes < 2 {
        // One class: every loss is exactly 0 and the geometry tables describe nothing.
        return Err(format!(
            "classification needs at least 2 classes, but label column {} holds only {:?} \
             (check task.label_column, or set task.problem: regression)",
            label + 1,
            rows[0].1[label]
        ));
    }
    if classes > MAX_CLASSES {
        return Err(format!(
            "label column {} has {classes} distinct values (more than {MAX_CLASSES}); is it a regression target? (set task.problem: regression)",
            label + 1
        ));
    }
    Ok(Targets::Classes { labels, classes })
}

/// Builds the splits of a CSV task.
pub(crate) fn build_csv(task: &CsvTask, seed: u64) -> Result<Splits> {
    let (x, n, d_in, targets) = read_csv(&task.path, task.header, task.label_column, task.problem)?;
    let all = Dataset { x, n, d_in, targets };
    let source = task.path.display().to_string();
    let (train, val, probe) = split_loaded(&all, task.sizes, seed, task.standardize, &source)?;
    let kind = match task.problem {
        Problem::Regression => "regression".to_string(),
        Problem::Classification => format!("{} classes", all.d_out()),
    };
    let description = format!(
        "CSV table {} ({n} rows of {d_in} features, {kind}){}",
        task.path.display(),
        if task.standardize {
            ", standardised with train statistics"
        } else {
            ""
        }
    );
    Ok(Splits {
        train,
        val,
        probe,
        description,
        cluster_of_probe: None,
    })
}
