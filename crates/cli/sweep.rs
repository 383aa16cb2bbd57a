//! `moescope sweep …` and `moescope slurm submit`: thin wrappers over `moescope-sweep`.

use clap::{Args, Subcommand};
use moescope_sweep::{Provenance, ResumeOptions, ResumeReport, Shard, SweepDir, SweepSpec};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum SweepCommand {
    /// Create a sweep folder and run every cell, then collect the results.
    Run {
        #[command(flatten)]
        new: NewSweep,
        #[command(flatten)]
        workers: Workers,
    },
    /// Create a sweep folder without running it (for `resume --shard`, Slurm or Kubernetes).
    Init {
        #[command(flatten)]
        new: NewSweep,
    },
    /// Run the cells of a sweep folder that are not done (after a crash, or one shard of many).
    Resume {
        /// The sweep folder.
        dir: PathBuf,
        #[command(flatten)]
        workers: Workers,
        /// Run only shard i of n (cells at positions i, i+n, … of the sweep or of --cells).
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// A frozen cell-id list to shard (written by `slurm submit`).
        #[arg(long, value_name = "FILE")]
        cells: Option<PathBuf>,
    },
    /// Show every cell's state.
    Status {
        /// The sweep folder.
        dir: PathBuf,
    },
    /// Merge the finished cells into sweep tables, figures and the claim map.
    Collect {
        /// The sweep folder.
        dir: PathBuf,
        /// Output folder (default: <sweep>/collected).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run one cell (what a worker process does).
    #[command(hide = true)]
    Cell {
        dir: PathBuf,
        id: String,
        #[arg(long, default_value_t = 1)]
        jobs: usize,
    },
}

#[derive(Args)]
pub struct NewSweep {
    /// A sweep file (top-level `sweep:`) or an experiment config.
    config: PathBuf,
    /// `key=value` sets a key in every cell; `key=v1,v2,…` adds a grid axis. Short keys:
    /// experts, temperature, capacity, task, clusters, lr, steps, routing (= architectures).
    axes: Vec<String>,
    /// Sweep folder (default: <output.root>/<name>-<time>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Device for every cell (`cpu`, `cuda:0`).
    #[arg(long)]
    device: Option<String>,
}

#[derive(Args)]
pub struct Workers {
    /// Cells at once, each in its own worker process (default: available cores / --threads).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// Threads (parallel engine jobs) per worker.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    threads: u16,
}

#[derive(Subcommand)]
pub enum SlurmCommand {
    /// Submit the sweep's unfinished cells as one Slurm job array.
    Submit {
        /// A sweep folder, or a sweep file (initialised first).
        sweep: PathBuf,
        /// At most P array tasks at once.
        #[arg(long, value_name = "P", value_parser = clap::value_parser!(u32).range(1..))]
        array_parallel: Option<u32>,
        /// Array tasks (default: one per unfinished cell).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        tasks: Option<u32>,
        /// CPUs (parallel engine jobs) per task.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
        threads: u16,
        /// Extra sbatch options, after `--` (e.g. `-- --partition=gpu --time=02:00:00`).
        #[arg(last = true)]
        sbatch: Vec<String>,
    },
}

pub fn sweep(cmd: SweepCommand, prov: Provenance) -> anyhow::Result<ExitCode> {
    match cmd {
        SweepCommand::Run { new, workers } => {
            let dir = init(new, &prov)?;
            let report = resume(&dir, &workers, Shard::ALL, None)?;
            finish(&dir, &report, true)
        }
        SweepCommand::Init { new } => {
            let dir = init(new, &prov)?;
            println!("{}", dir.root.display());
            Ok(ExitCode::SUCCESS)
        }
        SweepCommand::Resume {
            dir,
            workers,
            shard,
            cells,
        } => {
            let dir = SweepDir::open(&dir)?;
            let shard = shard.as_deref().map_or(Ok(Shard::ALL), Shard::parse)?;
            let report = resume(&dir, &workers, shard, cells)?;
            finish(&dir, &report, shard == Shard::ALL)
        }
        SweepCommand::Status { dir } => status(&SweepDir::open(&dir)?),
        SweepCommand::Collect { dir, out } => {
            let c = moescope_sweep::collect(&SweepDir::open(&dir)?, out.as_deref())?;
            eprintln!("merged {} of {} cells ({} failed)", c.merged, c.cells, c.failed);
            println!("{}", c.report.display());
            Ok(ExitCode::SUCCESS)
        }
        SweepCommand::Cell { dir, id, jobs } => {
            watch_parent();
            match moescope_sweep::run_cell(&SweepDir::open(&dir)?, &id, jobs.max(1), &prov)? {
                moescope_sweep::CellOutcome::Done => Ok(ExitCode::SUCCESS),
                moescope_sweep::CellOutcome::Failed(_) => Ok(ExitCode::from(1)),
                moescope_sweep::CellOutcome::Busy => Ok(ExitCode::from(moescope_sweep::EXIT_BUSY)),
            }
        }
    }
}

pub fn slurm(cmd: SlurmCommand, prov: Provenance) -> anyhow::Result<ExitCode> {
    let SlurmCommand::Submit {
        sweep,
        array_parallel,
        tasks,
        threads,
        sbatch,
    } = cmd;
    let dir = if sweep.is_dir() {
        SweepDir::open(&sweep)?
    } else if sweep.is_file() {
        let spec = SweepSpec::load(&sweep, &[])?;
        moescope_sweep::init(&spec, None, &prov)?.0
    } else {
        anyhow::bail!(
            "{}: neither a sweep folder nor a sweep file; expected the folder `sweep init` made, or a sweep config",
            sweep.display()
        );
    };
    let opts = moescope_sweep::slurm::SubmitOptions {
        tasks: tasks.map(|t| t as usize),
        array_parallel: array_parallel.map(|p| p as usize),
        threads: usize::from(threads),
        exe: std::env::current_exe()?,
        sbatch: std::env::var("MOESCOPE_SBATCH").unwrap_or_else(|_| "sbatch".into()),
        sbatch_args: sbatch,
    };
    let s = moescope_sweep::slurm::submit(&dir, &opts)?;
    eprintln!(
        "submitted job {} : {} cells in {} array tasks (script {}); follow with `moescope sweep status {}`",
        s.job_id,
        s.cells,
        s.tasks,
        s.script.display(),
        dir.root.display()
    );
    println!("{}", s.job_id);
    Ok(ExitCode::SUCCESS)
}

fn init(new: NewSweep, prov: &Provenance) -> anyhow::Result<SweepDir> {
    let mut spec = SweepSpec::load(&new.config, &new.axes)?;
    if let Some(d) = new.device {
        spec.add_arg(&format!("device={d}"))?;
    }
    let (dir, cells) = moescope_sweep::init(&spec, new.out.as_deref(), prov)?;
    eprintln!("sweep {} : {} cells in {}", spec.name, cells.len(), dir.root.display());
    Ok(dir)
}

fn resume(dir: &SweepDir, w: &Workers, shard: Shard, cells: Option<PathBuf>) -> anyhow::Result<ResumeReport> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = usize::from(w.threads);
    let opts = ResumeOptions {
        workers: w.jobs.map_or((cores / threads).max(1), usize::from),
        threads,
        shard,
        cell_list: cells,
        exe: std::env::current_exe()?,
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    Ok(moescope_sweep::resume(dir, &opts)?)
}

/// Prints what happened; collects when the whole sweep is done.
fn finish(dir: &SweepDir, r: &ResumeReport, whole: bool) -> anyhow::Result<ExitCode> {
    eprintln!(
        "{} cells run now, {} were already done, {} failed, {} running elsewhere",
        r.done.len(),
        r.already_done,
        r.failed.len(),
        r.busy.len()
    );
    for (label, reason) in &r.failed {
        eprintln!("failed: {label}: {reason}");
    }
    // The whole sweep run here, or the last shard to finish: merge the cells (after any shard
    // that finished at the same moment and is collecting).
    if (whole && r.busy.is_empty()) || moescope_sweep::all_done(dir)? {
        let c = moescope_sweep::collect_waiting(dir, std::time::Duration::from_secs(600))?;
        eprintln!(
            "collected {} of {} cells ({} failed): {}",
            c.merged,
            c.cells,
            c.failed,
            c.report.display()
        );
    }
    println!("{}", dir.root.display());
    Ok(if r.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn status(dir: &SweepDir) -> anyhow::Result<ExitCode> {
    let cells = moescope_sweep::status(dir)?;
    let width = cells.iter().map(|(c, _)| c.label.len()).max().unwrap_or(4).max(4);
    println!("{:<5} {:<8} {:<width$} id", "cell", "state", "axes");
    let mut counts = std::collections::BTreeMap::new();
    for (c, s) in &cells {
        *counts.entry(s.word()).or_insert(0) += 1;
        let reason = match s {
            moescope_sweep::CellState::Failed { reason } => format!("  ({reason})"),
            moescope_sweep::CellState::Running => dir
                .jobs_in_progress(&c.id)
                .map_or(String::new(), |j| format!("  ({j}/{} jobs)", c.jobs())),
            _ => String::new(),
        };
        println!("{:<5} {:<8} {:<width$} {}{reason}", c.index, s.word(), c.label, c.id);
    }
    let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    println!("{} cells: {}", cells.len(), summary.join(", "));
    Ok(ExitCode::SUCCESS)
}

/// A worker exits when the process that started it dies: its stdin (a pipe from the parent)
/// reaches end of file.
fn watch_parent() {
    if std::env::var_os(moescope_sweep::WATCH_STDIN_ENV).is_none() {
        return;
    }
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        eprintln!("moescope worker: the sweep process that started this cell is gone; stopping");
        std::process::exit(137);
    });
}
