//! Slurm job arrays: the pending cells are frozen into a list, an sbatch script is written into
//! the sweep folder, and one array is submitted whose task `i` runs shard `i/n` of that list
//! (`moescope sweep resume DIR --shard i/n --cells LIST`), the same command any other scheduler
//! can run.

use crate::error::io_err;
use crate::store::{CellState, SweepDir};
use crate::{Error, Result};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How to submit.
#[derive(Debug, Clone)]
pub struct SubmitOptions {
    /// Array tasks (shards); default: one per pending cell.
    pub tasks: Option<usize>,
    /// At most this many tasks at once (`--array=…%P`).
    pub array_parallel: Option<usize>,
    /// Engine jobs (and CPUs) per task.
    pub threads: usize,
    /// The moescope executable the tasks run (absolute).
    pub exe: PathBuf,
    /// The sbatch program (`sbatch`, or a path).
    pub sbatch: String,
    /// Extra sbatch options, passed before the script.
    pub sbatch_args: Vec<String>,
}

/// A submitted array.
#[derive(Debug, Clone)]
pub struct Submission {
    /// Slurm job id.
    pub job_id: String,
    /// The sbatch script.
    pub script: PathBuf,
    /// The frozen cell list.
    pub cell_list: PathBuf,
    /// Array tasks.
    pub tasks: usize,
    /// Cells submitted.
    pub cells: usize,
}

/// Freezes the pending (and failed) cells of `dir`, writes the script and submits it.
pub fn submit(dir: &SweepDir, opts: &SubmitOptions) -> Result<Submission> {
    if let Some(a) = opts
        .sbatch_args
        .iter()
        .find(|a| a.starts_with("--array") || *a == "-a" || a.starts_with("-a"))
    {
        return Err(Error::Scheduler(format!(
            "`{a}`: moescope sets the array itself (one task per shard); use --tasks and --array-parallel"
        )));
    }
    let pending: Vec<String> = crate::status(dir)?
        .into_iter()
        .filter(|(_, s)| matches!(s, CellState::Pending | CellState::Failed { .. }))
        .map(|(c, _)| c.id)
        .collect();
    if pending.is_empty() {
        return Err(Error::Scheduler(format!(
            "nothing to submit: every cell of {} is done or running",
            dir.root.display()
        )));
    }
    let tasks = opts.tasks.unwrap_or(pending.len()).clamp(1, pending.len());
    let root = std::path::absolute(&dir.root).map_err(io_err(&dir.root))?;
    let (cell_list, stem) = freeze(&root.join("slurm"), &pending)?;
    let script_path = root.join("slurm").join(format!("{stem}.sbatch"));
    let workdir = dir.read_spec()?.working_dir;
    let text = script(&root, &cell_list, &stem, tasks, &workdir, opts);
    moescope_records::write_atomic(&script_path, text.as_bytes())?;
    let job_id = run_sbatch(&script_path, &cell_list, opts)?;
    let record = serde_json::json!({
        "job_id": job_id, "script": script_path, "cells": cell_list, "tasks": tasks, "count": pending.len(),
    });
    append_line(&root.join("slurm").join("submissions.jsonl"), &record.to_string())?;
    Ok(Submission {
        job_id,
        script: script_path,
        cell_list,
        tasks,
        cells: pending.len(),
    })
}

/// Runs `sbatch --parsable [args] script` and returns the job id.
fn run_sbatch(script: &Path, cell_list: &Path, opts: &SubmitOptions) -> Result<String> {
    let output = Command::new(&opts.sbatch)
        .arg("--parsable")
        .args(&opts.sbatch_args)
        .arg(script)
        .output();
    let output = match output {
        Ok(o) if o.status.success() => o,
        failed => {
            // Nothing was submitted: leave no script or list that looks like a submission.
            let _ = std::fs::remove_file(script);
            let _ = std::fs::remove_file(cell_list);
            return Err(match failed {
                Err(e) => Error::Scheduler(format!("cannot run `{}`: {e} (is Slurm installed?)", opts.sbatch)),
                Ok(o) => Error::Scheduler(format!(
                    "`{} {}` failed ({}): {}",
                    opts.sbatch,
                    script.display(),
                    o.status,
                    String::from_utf8_lossy(&o.stderr).trim()
                )),
            });
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    // sbatch succeeded, so a job may be queued whose tasks read the script and the cell list:
    // those stay; only the record of a submission is withheld.
    job_id(&stdout).ok_or_else(|| {
        Error::Scheduler(format!(
            "`{}` exited 0 but printed no job id: {:?}; expected `Submitted batch job <N>`, `<N>` or `<N>;<cluster>`. \
             Nothing was recorded as submitted; if a job was queued (see `squeue`), it runs {} over {}",
            opts.sbatch,
            stdout.trim(),
            script.display(),
            cell_list.display()
        ))
    })
}

/// The job id in sbatch's output: `<N>` or `<N>;<cluster>` (`--parsable`), or
/// `Submitted batch job <N>` (a wrapper that drops `--parsable`), on the last non-empty line so
/// that notices printed before it do not matter. Anything else is not an id.
fn job_id(stdout: &str) -> Option<String> {
    let line = stdout.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    let id = match line.strip_prefix("Submitted batch job ") {
        // `… on cluster <name>` follows the id on federated clusters.
        Some(rest) => match rest.split_once(' ') {
            Some((id, cluster)) if cluster.starts_with("on cluster ") => id,
            Some(_) => return None,
            None => rest,
        },
        None => line.split_once(';').map_or(line, |(id, _cluster)| id),
    };
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_digit())).then(|| id.to_string())
}

/// Writes `submit-<k>.cells` with the first free k (`create_new`, so concurrent submissions
/// never share a list).
fn freeze(slurm_dir: &Path, ids: &[String]) -> Result<(PathBuf, String)> {
    std::fs::create_dir_all(slurm_dir).map_err(io_err(slurm_dir))?;
    for k in 1.. {
        let stem = format!("submit-{k}");
        let path = slurm_dir.join(format!("{stem}.cells"));
        match std::fs::File::create_new(&path) {
            Ok(mut f) => {
                let body: String = ids.iter().map(|id| format!("{id}\n")).collect();
                f.write_all(body.as_bytes()).map_err(io_err(&path))?;
                f.sync_all().map_err(io_err(&path))?;
                return Ok((path, stem));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err(&path)(e)),
        }
    }
    unreachable!("the loop only ends by returning")
}

/// The sbatch script for an array of `tasks` shards over `cell_list`.
pub fn script(root: &Path, cell_list: &Path, stem: &str, tasks: usize, workdir: &str, opts: &SubmitOptions) -> String {
    let mut s = String::from("#!/bin/bash\n");
    let name = root
        .file_name()
        .map_or("sweep".into(), |n| n.to_string_lossy().into_owned());
    let _ = writeln!(s, "#SBATCH --job-name=moescope-{}", sanitize(&name));
    let limit = opts.array_parallel.map_or(String::new(), |p| format!("%{p}"));
    let _ = writeln!(s, "#SBATCH --array=0-{}{limit}", tasks - 1);
    let _ = writeln!(s, "#SBATCH --cpus-per-task={}", opts.threads);
    let _ = writeln!(s, "#SBATCH --output=\"{}/slurm/{stem}-%a.out\"", root.display());
    s.push_str("# Written by `moescope slurm submit`. Task i runs shard i of the frozen cell list; a task\n");
    s.push_str("# that is requeued or rerun skips the cells already done.\nset -euo pipefail\n");
    if !workdir.is_empty() {
        // Relative data paths in the config are relative to where the sweep was created.
        let _ = writeln!(s, "cd {}", quote(workdir));
    }
    let _ = writeln!(
        s,
        "exec {} sweep resume {} --shard \"${{SLURM_ARRAY_TASK_ID}}/{tasks}\" --cells {} --jobs 1 --threads {}",
        quote(&opts.exe.display().to_string()),
        quote(&root.display().to_string()),
        quote(&cell_list.display().to_string()),
        opts.threads
    );
    s
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Single-quotes a word for bash.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn append_line(path: &Path, line: &str) -> Result<()> {
    let mut f = std::fs::File::options()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_err(path))?;
    writeln!(f, "{line}").map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_numeric_job_id_is_accepted() {
        assert_eq!(job_id("4242\n").as_deref(), Some("4242"));
        assert_eq!(job_id("4242;cluster_a\n").as_deref(), Some("4242"));
        assert_eq!(job_id("Submitted batch job 77\n").as_deref(), Some("77"));
        assert_eq!(job_id("Submitted batch job 77 on cluster b\n").as_deref(), Some("77"));
        assert_eq!(job_id("notice: queue busy\n\n  88  \n").as_deref(), Some("88"));
        for bad in [
            "hello\n",
            "",
            "\n\n",
            "Submitted batch job\n",
            "Submitted batch job x1\n",
            "12a\n",
            ";cluster\n",
            "4242 extra\n",
            "4242\nhello\n",
            "Submitted batch job 77 maybe\n",
        ] {
            assert_eq!(job_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn script_runs_one_shard_per_task() {
        let opts = SubmitOptions {
            tasks: None,
            array_parallel: Some(2),
            threads: 3,
            exe: PathBuf::from("/opt/it's/moescope"),
            sbatch: "sbatch".into(),
            sbatch_args: vec![],
        };
        let s = script(
            Path::new("/runs/s1-x"),
            Path::new("/runs/s1-x/slurm/submit-1.cells"),
            "submit-1",
            4,
            "/home/me/project",
            &opts,
        );
        assert!(s.contains("\ncd '/home/me/project'\n"), "{s}");
        assert!(
            s.contains("#SBATCH --output=\"/runs/s1-x/slurm/submit-1-%a.out\"\n"),
            "{s}"
        );
        assert!(s.contains("#SBATCH --array=0-3%2\n"), "{s}");
        assert!(s.contains("#SBATCH --cpus-per-task=3\n"));
        assert!(s.contains("--shard \"${SLURM_ARRAY_TASK_ID}/4\""));
        assert!(s.contains(r"'/opt/it'\''s/moescope' sweep resume '/runs/s1-x'"), "{s}");
        // bash reads the quoted path back unchanged
        let out = Command::new("bash")
            .args(["-c", &format!("printf %s {}", quote("/opt/it's/moescope"))])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "/opt/it's/moescope");
    }
}
