//! `moescope`: the command-line front end. Parses arguments, sets up logging and threads,
//! calls the engine or the report, and chooses the exit code:
//! 0 = success, 1 = the run completed but some jobs failed, 2 = error (bad input, I/O).

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

mod sweep;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the C enum's value in both mimalloc v2 and v3, which keep
/// deprecated entries so the numbering is stable; the Rust bindings do not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory in the process instead of returning it to the OS after 10 ms. Every candle
/// op allocates a fresh buffer (the probe's Jacobian chunks are ~17 MB), so with purging the
/// same pages were faulted in and zeroed again and again: 44 000 page faults and ~15% of the
/// CPU time in the kernel's `clear_page` on a one-model run, 480 faults without (BENCHMARKS.md).
/// Peak memory is unchanged; the process just does not shrink back after a peak.
fn keep_freed_pages() {
    // SAFETY: `mi_option_set` only stores the value in mimalloc's option table (options.c);
    // purge decisions read it from there. No pointers are involved.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

/// The default experiment, used when no config is named.
const DEFAULT_CONFIG: &str = "configs/paper.yaml";

#[derive(Parser)]
#[command(
    name = "moescope",
    version,
    about = "Dual Jacobian-PCA geometry of Mixture-of-Experts networks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train every architecture on every seed, probe them, and write a run folder.
    Run {
        /// Experiment config (YAML).
        #[arg(default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Run folder (default: <output.root>/<name>-<time>). Must not hold a run already.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Device, overriding the config (`cpu`, `cuda:0`).
        #[arg(long)]
        device: Option<String>,
        /// Jobs at once (default: available cores).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
        jobs: Option<u16>,
        /// Overrides, `key.path=value`.
        overrides: Vec<String>,
    },
    /// Sweeps: many runs over the values of config keys, resumable, shardable.
    Sweep {
        #[command(subcommand)]
        command: sweep::SweepCommand,
    },
    /// Submit a sweep to Slurm as one job array.
    Slurm {
        #[command(subcommand)]
        command: sweep::SlurmCommand,
    },
    /// Inspect configs.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Rebuild `report.html`, the figures, `summary.md` and the tables of a run folder from its records.
    Report {
        /// The run folder.
        run_dir: PathBuf,
        /// Where to write the report (default: the run folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the resolved config (after defaults and overrides) as YAML.
    Show {
        /// Experiment config (YAML).
        #[arg(default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Overrides, `key.path=value`.
        overrides: Vec<String>,
    },
}

/// On Ctrl-C or SIGTERM (what Slurm sends at a time limit or `scancel`): remove the hidden partial
/// per-point arrays of the jobs in progress, which the abrupt exit would otherwise leave behind
/// (no destructors run), and exit 130 like any interrupted program. Finished jobs are on disk.
fn clean_up_on_interrupt() {
    let installed = ctrlc::set_handler(|| {
        let n = moescope_records::remove_unfinished_streams();
        eprintln!("interrupted: removed {n} unfinished per-point arrays; finished jobs are kept");
        std::process::exit(130);
    });
    if let Err(e) = installed {
        tracing::warn!("no interrupt handler ({e}): an interrupted run may leave hidden *.partial.* files");
    }
}

fn main() -> ExitCode {
    keep_freed_pages();
    // candle's CPU thread pool spins; with one model per thread and jobs in parallel it is
    // fastest single-threaded (shared/notes/candle_cpu.md). Set before any candle call.
    // candle's elementwise ops and gemm also run on rayon's global pool: one thread there too
    // made a single job's training 2.4× faster here, and 2 parallel jobs ~15% faster.
    for var in ["CANDLE_NUM_THREADS", "RAYON_NUM_THREADS"] {
        if std::env::var_os(var).is_none() {
            std::env::set_var(var, "1");
        }
    }
    // tiny_skia and usvg (under resvg, rasterising figure PNGs) warn about zero-length strokes and
    // one-point polylines they skip;
    // the PNGs are complete, so that noise stays out of the user's log.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,moescope=info,tiny_skia=error,usvg=error".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    clean_up_on_interrupt();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Sweep { command } => sweep::sweep(command, provenance()),
        Command::Slurm { command } => sweep::slurm(command, provenance()),
        Command::Config {
            command: ConfigCommand::Show { config, overrides },
        } => {
            let (config, overrides) = config_and_overrides(config, overrides);
            let exp = moescope_config::load(&config, &overrides)?;
            print!("{}", exp.to_yaml());
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { run_dir, out } => {
            let paths = moescope_report::write_report(&run_dir, out.as_deref())
                .with_context(|| format!("report for {}", run_dir.display()))?;
            println!("{}", paths.html.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            config,
            out,
            device,
            jobs,
            overrides,
        } => {
            let (config, mut overrides) = config_and_overrides(config, overrides);
            if let Some(d) = device {
                overrides.push(format!("device={d}"));
            }
            let exp = moescope_config::load(&config, &overrides)?;
            if let Some((out, sweep)) = out
                .as_deref()
                .and_then(|o| Some((o, moescope_sweep::SweepDir::enclosing(o)?)))
            {
                anyhow::bail!(
                    "--out {}: is inside the sweep folder {}, where a run would be taken for one of its cells; \
                     choose a folder outside it (cells are run by `moescope sweep resume`)",
                    out.display(),
                    sweep.display()
                );
            }
            let opts = moescope_engine::RunOptions {
                out,
                jobs: jobs.map_or_else(
                    || std::thread::available_parallelism().map_or(1, |n| n.get()),
                    usize::from,
                ),
                command: std::env::args().collect(),
                versions: versions(),
                git_commit: env!("MOESCOPE_GIT_COMMIT").to_string(),
                progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            };
            let outcome = moescope_engine::run(&exp, &opts)?;
            println!("{}", outcome.dir.display());
            if outcome.failed.is_empty() {
                return Ok(ExitCode::SUCCESS);
            }
            for (model, seed, stage, msg) in &outcome.failed {
                eprintln!("failed: {model} seed {seed} at stage `{stage}`: {msg}");
            }
            let dir = outcome.dir.display();
            match outcome.failed.len() {
                n if n == outcome.jobs => eprintln!("all {n} jobs failed; the run folder is {dir}"),
                n => eprintln!("{n} of {} jobs failed; the others' results are in {dir}", outcome.jobs),
            }
            Ok(ExitCode::from(1))
        }
    }
}

/// `moescope run [CONFIG] [key.path=value ...]`: clap gives the first positional argument to
/// CONFIG even when it is an override, so one that holds `=` and names no file is put back at
/// the head of the overrides and the default config is used, as with no arguments at all.
fn config_and_overrides(config: PathBuf, mut overrides: Vec<String>) -> (PathBuf, Vec<String>) {
    let arg = config.to_string_lossy();
    if !arg.contains('=') || config.exists() {
        return (config, overrides);
    }
    overrides.insert(0, arg.into_owned());
    (PathBuf::from(DEFAULT_CONFIG), overrides)
}

fn provenance() -> moescope_sweep::Provenance {
    moescope_sweep::Provenance {
        command: std::env::args().collect(),
        versions: versions(),
        git_commit: env!("MOESCOPE_GIT_COMMIT").to_string(),
    }
}

fn versions() -> std::collections::BTreeMap<String, String> {
    let mut v: std::collections::BTreeMap<String, String> = env!("MOESCOPE_DEP_VERSIONS")
        .split(',')
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    v.insert("moescope".into(), env!("CARGO_PKG_VERSION").into());
    v
}
