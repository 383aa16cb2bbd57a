//! Running one cell (in its own process, see `runner.rs`): lock it, run the engine into a
//! private in-progress folder, and move the finished folder into place with one rename.

use crate::store::{cell_lock, replace_dir, SweepDir};
use crate::{Error, Result};
use moescope_engine::RunOptions;
use std::collections::BTreeMap;

/// What the engine needs to describe a run besides the experiment.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// The command line.
    pub command: Vec<String>,
    /// moescope and dependency versions.
    pub versions: BTreeMap<String, String>,
    /// Git commit of the build.
    pub git_commit: String,
}

/// How a cell ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CellOutcome {
    /// Every job succeeded.
    Done,
    /// The cell finished with failed jobs, or the run failed; the reason is recorded.
    Failed(String),
    /// Another live process holds the cell.
    Busy,
}

/// Runs cell `id` of the sweep in `dir` with `jobs` engine jobs at once.
pub fn run_cell(dir: &SweepDir, id: &str, jobs: usize, prov: &Provenance) -> Result<CellOutcome> {
    let spec = dir.read_spec()?;
    let cells = crate::plan::cells(&spec)?;
    let cell = cells.iter().find(|c| c.id == id).ok_or_else(|| Error::Inconsistent {
        dir: dir.root.clone(),
        message: format!("no cell `{id}` in this sweep (was it made by another moescope version?)"),
    })?;
    let Some(_lock) = dir.try_lock(&cell_lock(id))? else {
        return Ok(CellOutcome::Busy);
    };
    dir.remove_stale(id)?;
    let partial = dir.partial_dir(id);
    let opts = RunOptions {
        out: Some(partial.clone()),
        jobs,
        command: prov.command.clone(),
        versions: prov.versions.clone(),
        git_commit: prov.git_commit.clone(),
        progress: false,
    };
    tracing::info!(cell = %cell.label, id, "cell started");
    match moescope_engine::run(&cell.experiment, &opts) {
        Ok(outcome) => {
            let aside = dir.root.join("cells").join(format!(".old-{id}-{}", std::process::id()));
            replace_dir(&partial, &dir.cell_dir(id), &aside)?;
            let failure = dir.failure_path(id);
            if failure.exists() {
                std::fs::remove_file(&failure).map_err(crate::error::io_err(&failure))?;
            }
            if outcome.failed.is_empty() {
                tracing::info!(id, "cell done");
                Ok(CellOutcome::Done)
            } else {
                let reason = format!("{} of {} jobs failed", outcome.failed.len(), outcome.jobs);
                tracing::error!(id, "{reason}");
                Ok(CellOutcome::Failed(reason))
            }
        }
        Err(e) => {
            let reason = chain(&e);
            tracing::error!(id, "cell failed: {reason}");
            let record = serde_json::json!({ "id": id, "reason": reason, "pid": std::process::id() });
            moescope_records::write_atomic(&dir.failure_path(id), record.to_string().as_bytes())?;
            if partial.exists() {
                std::fs::remove_dir_all(&partial).map_err(crate::error::io_err(&partial))?;
            }
            Ok(CellOutcome::Failed(reason))
        }
    }
}

/// An error and its causes, `a: b: c`, skipping a cause its parent already printed.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text = format!("{text}: {part}");
        }
        source = s.source();
    }
    text
}
