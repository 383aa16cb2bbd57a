//! Running a sweep's unfinished cells: each cell in its own worker process (its own thread
//! budget and log file, sharing nothing but the folder), `jobs` at a time, with an overall
//! progress bar and one line per active cell.
//!
//! A worker watches its stdin, a pipe from this process: when this process dies (even by
//! SIGKILL) the pipe closes and the worker exits, so no orphan keeps writing into the folder.

use crate::cell::CellOutcome;
use crate::plan::Cell;
use crate::store::{cell_lock, CellState, SweepDir};
use crate::{Error, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Exit code of a worker whose cell another process holds.
pub const EXIT_BUSY: u8 = 3;

/// Environment variable that tells a worker to exit when its stdin closes.
pub const WATCH_STDIN_ENV: &str = "MOESCOPE_WATCH_STDIN";

/// Which part of the sweep this process runs: cells at positions `index`, `index + count`, …
/// of the (optionally frozen) cell list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based shard index.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl Shard {
    /// The whole sweep.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parses `i/n` (0 ≤ i < n).
    pub fn parse(s: &str) -> Result<Shard> {
        let bad = |message: String| Error::Spec {
            file: "command line".into(),
            key: format!("--shard {s}"),
            message,
        };
        let (i, n) = s.split_once('/').ok_or_else(|| bad("expected i/n, e.g. 0/4".into()))?;
        let parse = |x: &str| x.trim().parse::<usize>().map_err(|e| bad(format!("`{x}`: {e}")));
        let (index, count) = (parse(i)?, parse(n)?);
        if count == 0 || index >= count {
            return Err(bad(format!("need 0 <= i < n, got i={index}, n={count}")));
        }
        Ok(Shard { index, count })
    }
}

/// How to run the unfinished cells.
#[derive(Debug, Clone)]
pub struct ResumeOptions {
    /// Worker processes at once.
    pub workers: usize,
    /// Engine jobs (threads) per worker.
    pub threads: usize,
    /// The part of the sweep to run.
    pub shard: Shard,
    /// A frozen list of cell ids to shard (written by `slurm submit`); `None` = all cells.
    pub cell_list: Option<PathBuf>,
    /// The moescope executable that runs a cell (`<exe> sweep cell DIR ID --jobs N`).
    pub exe: PathBuf,
    /// Draw progress bars.
    pub progress: bool,
}

/// What a resume did.
#[derive(Debug, Clone, Default)]
pub struct ResumeReport {
    /// Cells of this shard that were already done.
    pub already_done: usize,
    /// Cells run to completion now.
    pub done: Vec<String>,
    /// Cells that failed now: (label, reason).
    pub failed: Vec<(String, String)>,
    /// Cells skipped because another process is running them.
    pub busy: Vec<String>,
}

/// Runs every cell of `opts.shard` that is not done. Refuses to start when another process is
/// already running the same shard of this folder.
pub fn resume(dir: &SweepDir, opts: &ResumeOptions) -> Result<ResumeReport> {
    let lock_name = shard_lock_name(opts);
    let Some(_shard_lock) = dir.try_lock(&lock_name)? else {
        return Err(Error::Busy(format!(
            "{} is already being run by another moescope process (shard {}/{}); wait for it to finish, or see `moescope sweep status {}`",
            dir.root.display(),
            opts.shard.index,
            opts.shard.count,
            dir.root.display()
        )));
    };
    let spec = dir.read_spec()?;
    let cells = crate::plan::cells(&spec)?;
    let base = dir.read_manifest()?;
    let selected = select(&cells, opts, dir)?;
    dir.remove_stale_temp()?;
    let mut report = ResumeReport::default();
    let mut known_done = std::collections::BTreeSet::new();
    let todo = triage(dir, selected, &mut report)?;
    dir.write_manifest(&cells, &base, &mut known_done)?;
    let mut pool = Pool::new(dir, opts, todo.len());
    pool.workdir = Some(PathBuf::from(&spec.working_dir)).filter(|d| d.is_dir());
    let mut queue = todo.into_iter();
    loop {
        while pool.active.len() < opts.workers.max(1) {
            let Some(cell) = queue.next() else { break };
            pool.spawn(cell)?;
        }
        if pool.active.is_empty() {
            break;
        }
        for (cell, outcome) in pool.reap()? {
            match outcome {
                CellOutcome::Done => report.done.push(cell.label.clone()),
                CellOutcome::Failed(reason) => report.failed.push((cell.label.clone(), reason)),
                CellOutcome::Busy => report.busy.push(cell.label.clone()),
            }
            dir.write_manifest(&cells, &base, &mut known_done)?;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    pool.main.finish_and_clear();
    dir.write_manifest(&cells, &base, &mut known_done)?;
    Ok(report)
}

/// Cleans up after dead attempts and sorts the cells: done ones are counted, ones another live
/// process holds are skipped, the rest (pending, failed) are returned to run.
fn triage<'a>(dir: &SweepDir, selected: Vec<&'a Cell>, report: &mut ResumeReport) -> Result<Vec<&'a Cell>> {
    let mut todo = Vec::new();
    for cell in selected {
        if let Some(_lock) = dir.try_lock(&cell_lock(&cell.id))? {
            dir.remove_stale(&cell.id)?;
        }
        match dir.state(cell)? {
            CellState::Done => report.already_done += 1,
            CellState::Running => report.busy.push(cell.label.clone()),
            CellState::Pending | CellState::Failed { .. } => todo.push(cell),
        }
    }
    Ok(todo)
}

fn shard_lock_name(opts: &ResumeOptions) -> String {
    let list = opts
        .cell_list
        .as_deref()
        .and_then(Path::file_stem)
        .map_or(String::from("all"), |s| s.to_string_lossy().into_owned());
    format!("shard-{list}-{}-of-{}", opts.shard.index, opts.shard.count)
}

/// The cells of this shard, in sweep order.
fn select<'a>(cells: &'a [Cell], opts: &ResumeOptions, dir: &SweepDir) -> Result<Vec<&'a Cell>> {
    let ids: Vec<String> = match &opts.cell_list {
        Some(path) => read_cell_list(path)?,
        None => cells.iter().map(|c| c.id.clone()).collect(),
    };
    let mut out = Vec::new();
    for (pos, id) in ids.iter().enumerate() {
        if pos % opts.shard.count != opts.shard.index {
            continue;
        }
        let cell = cells.iter().find(|c| &c.id == id).ok_or_else(|| Error::Inconsistent {
            dir: dir.root.clone(),
            message: format!("cell list names `{id}`, which this sweep does not have"),
        })?;
        out.push(cell);
    }
    Ok(out)
}

/// A frozen cell list: one id per line; blank lines and `#` comments skipped, repeats dropped.
fn read_cell_list(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        message: format!("cannot read the cell list (--cells): {e}"),
    })?;
    let mut ids: Vec<String> = Vec::new();
    for line in text.lines().map(str::trim) {
        if !line.is_empty() && !line.starts_with('#') && !ids.iter().any(|i| i == line) {
            ids.push(line.to_string());
        }
    }
    if ids.is_empty() {
        return Err(Error::Io {
            path: path.to_path_buf(),
            message: "the cell list (--cells) names no cells".into(),
        });
    }
    Ok(ids)
}

/// A running worker.
struct Active<'a> {
    cell: &'a Cell,
    child: Child,
    bar: ProgressBar,
    started: Instant,
}

/// The worker processes and their progress lines.
struct Pool<'a> {
    dir: &'a SweepDir,
    opts: &'a ResumeOptions,
    multi: MultiProgress,
    main: ProgressBar,
    active: Vec<Active<'a>>,
    /// Where workers run: the folder the sweep was created from (relative data paths).
    workdir: Option<PathBuf>,
}

impl<'a> Pool<'a> {
    fn new(dir: &'a SweepDir, opts: &'a ResumeOptions, cells: usize) -> Self {
        let target = if opts.progress {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let style = ProgressStyle::with_template("{bar:30} {pos}/{len} cells  {elapsed_precise} (eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        let main = multi.add(ProgressBar::new(cells as u64).with_style(style));
        Pool {
            dir,
            opts,
            multi,
            main,
            active: Vec::new(),
            workdir: None,
        }
    }

    fn spawn(&mut self, cell: &'a Cell) -> Result<()> {
        let log_path = self.dir.log_path(&cell.id);
        let logs = log_path.parent().unwrap_or(&self.dir.root);
        std::fs::create_dir_all(logs).map_err(crate::error::io_err(logs))?;
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(crate::error::io_err(&log_path))?;
        let mut command = Command::new(&self.opts.exe);
        if let Some(d) = &self.workdir {
            command.current_dir(d);
        }
        let child = command
            .args(["sweep", "cell"])
            .arg(&self.dir.root)
            .arg(&cell.id)
            .args(["--jobs", &self.opts.threads.to_string()])
            .env(WATCH_STDIN_ENV, "1")
            .env("CANDLE_NUM_THREADS", "1")
            .env("RAYON_NUM_THREADS", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| Error::Io {
                path: self.opts.exe.clone(),
                message: format!("cannot start a worker: {e}"),
            })?;
        let style =
            ProgressStyle::with_template("  {spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = self.multi.add(ProgressBar::new_spinner().with_style(style));
        bar.enable_steady_tick(Duration::from_millis(200));
        bar.set_message(format!("{}: starting", cell.label));
        if !self.opts.progress {
            tracing::info!(cell = %cell.label, id = %cell.id, pid = child.id(), "cell started");
        }
        self.active.push(Active {
            cell,
            child,
            bar,
            started: Instant::now(),
        });
        Ok(())
    }

    /// Collects finished workers and refreshes the progress lines of the others.
    fn reap(&mut self) -> Result<Vec<(&'a Cell, CellOutcome)>> {
        let mut finished = Vec::new();
        let mut i = 0;
        while i < self.active.len() {
            let a = &mut self.active[i];
            let status = a.child.try_wait().map_err(|e| Error::Io {
                path: self.dir.log_path(&a.cell.id),
                message: format!("lost track of the worker: {e}"),
            })?;
            let Some(status) = status else {
                let jobs = self.dir.jobs_in_progress(&a.cell.id).unwrap_or(0);
                a.bar
                    .set_message(format!("{}: {jobs}/{} jobs", a.cell.label, a.cell.jobs()));
                i += 1;
                continue;
            };
            let a = self.active.swap_remove(i);
            a.bar.finish_and_clear();
            let outcome = self.outcome(a.cell, status)?;
            let seconds = a.started.elapsed().as_secs_f64();
            self.note(a.cell, seconds, &outcome);
            if outcome != CellOutcome::Busy {
                self.main.inc(1);
            }
            finished.push((a.cell, outcome));
        }
        Ok(finished)
    }

    /// One line per finished cell: above the bars on a terminal (log lines would tear them),
    /// as a log event otherwise.
    fn note(&self, cell: &Cell, seconds: f64, outcome: &CellOutcome) {
        let what = match outcome {
            CellOutcome::Done => "done".to_string(),
            CellOutcome::Failed(reason) => format!("FAILED: {reason}"),
            CellOutcome::Busy => "running elsewhere, skipped".to_string(),
        };
        if self.opts.progress {
            self.main.println(format!("{} ({:.0} s): {what}", cell.label, seconds));
        } else {
            tracing::info!(cell = %cell.label, id = %cell.id, seconds, "cell {what}");
        }
    }

    /// Reads how a worker ended; a worker that died without a record (a crash, a signal) gets
    /// a failure record so the cell shows as failed with the reason.
    fn outcome(&self, cell: &Cell, status: std::process::ExitStatus) -> Result<CellOutcome> {
        if status.code() == Some(i32::from(EXIT_BUSY)) {
            return Ok(CellOutcome::Busy);
        }
        match self.dir.state(cell)? {
            CellState::Done => Ok(CellOutcome::Done),
            CellState::Failed { reason } => Ok(CellOutcome::Failed(reason)),
            CellState::Running => Ok(CellOutcome::Busy),
            CellState::Pending => {
                if let Some(_l) = self.dir.try_lock(&cell_lock(&cell.id))? {
                    self.dir.remove_stale(&cell.id)?;
                }
                let reason = format!(
                    "worker {status} without finishing; see {}",
                    self.dir.log_path(&cell.id).display()
                );
                let record = serde_json::json!({ "id": cell.id, "reason": reason });
                moescope_records::write_atomic(&self.dir.failure_path(&cell.id), record.to_string().as_bytes())?;
                Ok(CellOutcome::Failed(reason))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_parsing() {
        assert_eq!(Shard::parse("2/5").unwrap(), Shard { index: 2, count: 5 });
        for bad in ["5/5", "1/0", "x/2", "3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }
}
