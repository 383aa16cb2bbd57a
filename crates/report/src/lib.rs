//! Reads a run folder's records and renders what a researcher reads: `summary.md` with the
//! SPEC §11 Table 1 (every metric, mean ± sd and 95 % t-interval over seeds, per architecture)
//! and Table 2 (paired tests against dense and Top-k against soft), and the same tables as CSV.
//!
//! It never links candle: everything comes from `manifest.json` and `metrics.jsonl`.
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

mod error;
mod markdown;
mod tables;

pub use error::{Error, Result};
pub use markdown::write_summary;
pub use tables::{comparisons, paired_table, table1, Cell, Comparison, PairedRow, Table1, Table1Options};
