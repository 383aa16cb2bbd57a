//! Sweeps: many experiments over the values of config keys, run so that a crash costs nothing
//! but the cells in flight.
//!
//! A [`SweepSpec`] (a base config, fixed settings, grid and zipped axes) expands into [`Cell`]s,
//! each a resolved [`moescope_config::Experiment`] with a stable id derived from its config.
//! [`init`] validates every cell and writes the sweep folder ([`SweepDir`]); [`resume`] runs the
//! cells that are not done, each in a worker process writing into a private folder that is
//! renamed into place when complete, under `flock` locks that die with their process. The same
//! [`Shard`] partition serves `--shard i/n` and Slurm job arrays ([`slurm`]); [`collect`] merges
//! the finished cells into sweep-level tables, figures and the claim map.
//!
//! ```
//! let mut spec = moescope_sweep::SweepSpec {
//!     name: "demo".into(),
//!     base_file: "inline".into(),
//!     base: serde_yaml::from_str("name: demo\nseeds: 2\ntask: {kind: t2_teacher}\nmodel: {experts: 4}\narchitectures: [dense, soft]").unwrap(),
//!     set: vec![],
//!     axes: vec![],
//!     working_dir: String::new(),
//! };
//! spec.add_arg("experts=2,4,8").unwrap();
//! let cells = moescope_sweep::cells(&spec).unwrap();
//! assert_eq!(cells.len(), 3);
//! assert_eq!(cells[2].experiment.model.experts, 8);
//! ```
#![deny(missing_docs)]

mod cell;
mod collect;
mod error;
mod plan;
mod runner;
pub mod slurm;
mod spec;
mod store;

pub use cell::{run_cell, CellOutcome, Provenance};
pub use collect::{collect, collect_waiting, Collected};
pub use error::{Error, Result};
pub use plan::{cells, Cell};
pub use runner::{resume, ResumeOptions, ResumeReport, Shard, EXIT_BUSY, WATCH_STDIN_ENV};
pub use spec::{Axis, SweepSpec};
pub use store::{CellRecord, CellState, SweepDir, SweepManifest, SWEEP_SCHEMA};

use std::path::Path;

/// Validates every cell of `spec` (nothing is written if one is bad), then creates the sweep
/// folder (`out`, or a new `<output.root>/<name>-<time>`) with its spec and manifest.
pub fn init(spec: &SweepSpec, out: Option<&Path>, prov: &Provenance) -> Result<(SweepDir, Vec<Cell>)> {
    let cells = cells(spec)?;
    // A device that cannot be opened fails here, before the folder exists.
    let mut devices: Vec<_> = cells.iter().map(|c| c.experiment.device).collect();
    devices.dedup();
    for d in devices {
        moescope_engine::open_device(d)?;
    }
    if cells.is_empty() {
        return Err(Error::Spec {
            file: spec.base_file.clone(),
            key: "sweep".into(),
            message: "has no cells".into(),
        });
    }
    let dir = match out {
        Some(d) => SweepDir::create_at(d)?,
        None => {
            let root = cells[0].experiment.output.root.clone();
            SweepDir::create_unique(&root, &spec.name)?
        }
    };
    dir.write_spec(spec)?;
    let base = SweepManifest {
        schema_version: SWEEP_SCHEMA,
        name: spec.name.clone(),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        command: prov.command.clone(),
        versions: prov.versions.clone(),
        git_commit: prov.git_commit.clone(),
        axes: spec.axes.iter().map(|a| a.keys.clone()).collect(),
        cells: Vec::new(),
    };
    dir.write_manifest(&cells, &base, &mut Default::default())?;
    Ok((dir, cells))
}

/// Whether every cell of the sweep is done.
pub fn all_done(dir: &SweepDir) -> Result<bool> {
    Ok(status(dir)?.iter().all(|(_, s)| *s == CellState::Done))
}

/// The sweep's cells with their current state (for `sweep status`).
pub fn status(dir: &SweepDir) -> Result<Vec<(Cell, CellState)>> {
    let spec = dir.read_spec()?;
    cells(&spec)?
        .into_iter()
        .map(|c| {
            let s = dir.state(&c)?;
            Ok((c, s))
        })
        .collect()
}
