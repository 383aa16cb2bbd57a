//! Sweeps end to end: a 6-cell grid killed with SIGKILL mid-cell and resumed ends identical to
//! an uninterrupted run; a second resume of a running sweep is refused; a failing cell keeps
//! its error while the others finish; shards and a Slurm submission (with a stand-in sbatch)
//! cover the sweep exactly once.

mod common;

use common::{describe, expect_exit, moescope, root};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// 6 cells (2 × 3), 3 architectures × 2 seeds each, long enough per job to be caught mid-cell.
const GRID: [&str; 5] = [
    "experts=2,4",
    "train.lr=0.01,0.02,0.03",
    "seeds=2",
    "routing=[dense, top1, soft]",
    "steps=200",
];

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_moescope"))
        .args(args)
        .current_dir(root())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the moescope binary starts")
}

fn init(dir: &Path, extra: &[&str]) {
    let mut args = vec![
        "sweep",
        "init",
        "configs/test/tiny.yaml",
        "--out",
        dir.to_str().unwrap(),
    ];
    args.extend(extra);
    let out = moescope(&args);
    assert!(out.status.success(), "{}", describe(&out));
}

/// Entries of `cells/`: (finished ids, in-progress names).
fn cell_entries(dir: &Path) -> (Vec<String>, Vec<String>) {
    let mut done = Vec::new();
    let mut partial = Vec::new();
    for e in std::fs::read_dir(dir.join("cells")).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            partial.push(name);
        } else {
            done.push(name);
        }
    }
    done.sort();
    (done, partial)
}

/// Jobs finished in an in-progress cell folder (the manifest lists every planned job from the
/// start, the unfinished ones as pending).
fn partial_jobs(dir: &Path, name: &str) -> usize {
    std::fs::read_to_string(dir.join("cells").join(name).join("manifest.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|m| {
            let jobs = m["jobs"].as_array()?;
            Some(jobs.iter().filter(|j| j["status"]["state"] != "pending").count())
        })
        .unwrap_or(0)
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit(')').next().is_some_and(|r| !r.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

fn sweep_states(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("sweep.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["state"].as_str().unwrap().to_string())
        .collect()
}

/// Every finished cell's metrics, keyed by cell id.
fn metrics_of(dir: &Path) -> Vec<(String, String)> {
    cell_entries(dir)
        .0
        .into_iter()
        .map(|id| {
            let m = std::fs::read_to_string(dir.join("cells").join(&id).join("metrics.csv")).unwrap();
            (id, m)
        })
        .collect()
}

#[test]
fn killed_sweep_resumes_to_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    let (reference, killed) = (tmp.path().join("reference"), tmp.path().join("killed"));
    init(&reference, &GRID);
    init(&killed, &GRID);
    let reference_run = spawn(&["sweep", "resume", reference.to_str().unwrap(), "--jobs", "1"]);
    let mut run = spawn(&["sweep", "resume", killed.to_str().unwrap(), "--jobs", "1"]);

    // While it runs, a second resume of the same folder is refused.
    let deadline = Instant::now() + Duration::from_secs(300);
    while cell_entries(&killed).1.is_empty() {
        assert!(Instant::now() < deadline, "no cell started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = moescope(&["sweep", "resume", killed.to_str().unwrap()]);
    expect_exit(&second, 2, "already being run");

    let status = moescope(&["sweep", "status", killed.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains(" running ") && text.contains("/6 jobs)"), "{text}");

    // SIGKILL once 3 cells are finished and the 4th has finished some but not all of its jobs.
    let worker = loop {
        assert!(Instant::now() < deadline, "never reached 3 done + 1 half-done");
        let (done, partial) = cell_entries(&killed);
        if let (3, [p]) = (done.len(), partial.as_slice()) {
            if (1..6).contains(&partial_jobs(&killed, p)) {
                break p.rsplit('-').next().unwrap().parse::<u32>().unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    run.kill().unwrap();
    run.wait().unwrap();
    // The worker notices its parent is gone and stops: nothing keeps writing into the folder.
    let deadline = Instant::now() + Duration::from_secs(20);
    while alive(worker) {
        assert!(Instant::now() < deadline, "worker {worker} outlived its killed parent");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (done, partial) = cell_entries(&killed);
    assert_eq!((done.len(), partial.len()), (3, 1), "{done:?} {partial:?}");

    // The crashed process left no stuck lock: resume runs exactly the 3 unfinished cells.
    let out = moescope(&["sweep", "resume", killed.to_str().unwrap(), "--jobs", "1"]);
    assert!(out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("3 cells run now, 3 were already done, 0 failed"), "{err}");
    let (done, partial) = cell_entries(&killed);
    assert_eq!(done.len(), 6, "{done:?}");
    assert!(partial.is_empty(), "half-written folders left: {partial:?}");
    assert_eq!(sweep_states(&killed), vec!["done"; 6]);

    let reference_out = reference_run.wait_with_output().unwrap();
    assert!(reference_out.status.success(), "{}", describe(&reference_out));
    // Same cells (ids from the resolved configs), same numbers, byte for byte.
    assert_eq!(metrics_of(&killed), metrics_of(&reference));
    let collected = std::fs::read_to_string(killed.join("collected/claims.csv")).unwrap();
    assert_eq!(collected.lines().count(), 1 + 6 * 6, "{collected}");
    // summary.csv's seed mean equals the mean of the merged per-seed rows (computed here).
    let csv = |name: &str| -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(killed.join("collected").join(name)).unwrap();
        text.lines()
            .skip(1)
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect()
    };
    let first = &cell_entries(&killed).0[0];
    let seeds: Vec<f64> = csv("metrics.csv")
        .iter()
        .filter(|r| &r[0] == first && r[3] == "soft" && r[5].is_empty() && r[6] == "jac_expert.sigma1")
        .map(|r| r[7].parse().unwrap())
        .collect();
    assert_eq!(seeds.len(), 2);
    let summary = csv("summary.csv");
    let row = summary
        .iter()
        .find(|r| &r[0] == first && r[3] == "soft" && r[4] == "jac_expert.sigma1")
        .unwrap();
    let mean: f64 = row[6].parse().unwrap();
    assert!(
        (mean - (seeds[0] + seeds[1]) / 2.0).abs() < 1e-12,
        "{row:?} vs {seeds:?}"
    );
    let report = std::fs::read_to_string(killed.join("collected/sweep_report.html")).unwrap();
    for part in [
        "Claim map",
        "id=\"sweep_vs_experts\"",
        "id=\"sweep_vs_lr\"",
        "id=\"sweep_vs_entropy\"",
    ] {
        assert!(report.contains(part), "sweep report lacks {part}");
    }
    assert!(killed.join("collected/figures/sweep_vs_experts.png").is_file());
}

#[test]
fn a_failing_cell_keeps_its_error_and_the_others_finish() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let d = dir.to_str().unwrap();
    // lr = 1e30 makes training diverge: a non-finite loss fails every job of that cell.
    let out = moescope(&[
        "sweep",
        "run",
        "configs/test/tiny.yaml",
        "train.lr=0.01,1e30",
        "seeds=1",
        "routing=[dense, soft]",
        "--out",
        d,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("failed: lr=1e30") || err.contains("failed: lr=1.0e30"),
        "{err}"
    );
    assert_eq!(sweep_states(&dir), ["done", "failed"]);
    let status = moescope(&["sweep", "status", d]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("failed") && text.contains("non-finite"), "{text}");
    assert!(text.contains("1 done, 1 failed"), "{text}");
    // The finished cell is in the sweep tables; the failed one is listed with its state.
    let summary = std::fs::read_to_string(dir.join("collected/summary.csv")).unwrap();
    assert!(summary.lines().skip(1).all(|l| l.contains(",0.01,")), "{summary}");
    assert!(dir.join("collected/sweep_report.html").is_file());
    // The failed cell shows as failed in the claim table, not as an inconclusive result.
    let claims = std::fs::read_to_string(dir.join("collected/claims.csv")).unwrap();
    let failed: Vec<&str> = claims.lines().filter(|l| l.contains(",1e30,")).collect();
    assert_eq!(
        failed,
        [format!("{},1e30,failed,,,", failed_id(&dir)).as_str()],
        "{claims}"
    );
}

fn failed_id(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("sweep.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["cells"][1]["id"].as_str().unwrap().to_string()
}

#[test]
fn relative_data_paths_resolve_where_the_sweep_was_made() {
    // configs/iris.yaml reads ../shared/data/… relative to the repository root, where the sweep
    // is created; resuming from elsewhere must still find it.
    let tmp = tempfile::tempdir().unwrap();
    let out = moescope(&[
        "sweep",
        "init",
        "configs/iris.yaml",
        "experts=2,4",
        "seeds=1",
        "steps=20",
        "routing=[dense, soft]",
        "--out",
        tmp.path().join("iris").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let resumed = Command::new(env!("CARGO_BIN_EXE_moescope"))
        .args(["sweep", "resume", tmp.path().join("iris").to_str().unwrap()])
        .current_dir(tmp.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(resumed.status.success(), "{}", describe(&resumed));
    assert_eq!(sweep_states(&tmp.path().join("iris")), ["done", "done"]);
}

#[test]
fn shards_cover_the_sweep_once_and_slurm_submits_one_array() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let d = dir.to_str().unwrap();
    init(&dir, &["experts=2,4,8", "seeds=1", "routing=[dense, top2, soft]"]);

    // A stand-in sbatch records its arguments and prints a job id, as `sbatch --parsable` does.
    let sbatch = tmp.path().join("sbatch");
    let log = tmp.path().join("sbatch.args");
    std::fs::write(
        &sbatch,
        format!("#!/bin/sh\necho \"$@\" > '{}'\necho 4242\n", log.display()),
    )
    .unwrap();
    Command::new("chmod")
        .args(["+x", sbatch.to_str().unwrap()])
        .status()
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_moescope"))
        .args(["slurm", "submit", d, "--array-parallel", "2", "--", "--partition=debug"])
        .env("MOESCOPE_SBATCH", &sbatch)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "4242");
    let args = std::fs::read_to_string(&log).unwrap();
    assert!(args.starts_with("--parsable --partition=debug "), "{args}");
    let script_path = PathBuf::from(args.split_whitespace().last().unwrap());
    let script = std::fs::read_to_string(&script_path).unwrap();
    assert!(script.contains("#SBATCH --array=0-2%2"), "{script}");
    let cells = std::fs::read_to_string(dir.join("slurm/submit-1.cells")).unwrap();
    assert_eq!(cells.lines().count(), 3);

    // What each array task would run: shard i/3 of the frozen list, here one after another
    // with the task id set the way Slurm sets it.
    for task in 0..3 {
        let out = Command::new("bash")
            .arg(&script_path)
            .env("SLURM_ARRAY_TASK_ID", task.to_string())
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(out.status.success(), "task {task}: {}", describe(&out));
        let ran = String::from_utf8_lossy(&out.stderr);
        assert!(
            ran.contains("1 cells run now, 0 were already done"),
            "task {task}: {ran}"
        );
    }
    assert_eq!(sweep_states(&dir), vec!["done"; 3]);
    // Rerunning a shard does nothing new.
    let again = moescope(&[
        "sweep",
        "resume",
        d,
        "--shard",
        "1/3",
        "--cells",
        dir.join("slurm/submit-1.cells").to_str().unwrap(),
    ]);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("0 cells run now, 1 were already done"),
        "{}",
        describe(&again)
    );
    // Nothing left to submit.
    let none = Command::new(env!("CARGO_BIN_EXE_moescope"))
        .args(["slurm", "submit", d])
        .env("MOESCOPE_SBATCH", &sbatch)
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(2), "{}", describe(&none));
    assert!(String::from_utf8_lossy(&none.stderr).contains("nothing to submit"));
}

#[test]
fn bad_sweeps_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let d = dir.to_str().unwrap();
    let out = moescope(&["sweep", "init", "configs/test/tiny.yaml", "experts=2,0", "--out", d]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("experts=0") && err.contains("model.experts"), "{err}");
    assert!(!dir.exists(), "nothing may be written for a bad sweep");

    let out = moescope(&[
        "sweep",
        "init",
        "configs/test/tiny.yaml",
        "experts=2,4",
        "--out",
        "/proc/moescope-sweep",
    ]);
    expect_exit(&out, 2, "/proc/moescope-sweep");

    // A device this build cannot open is refused before the folder exists.
    let out = moescope(&[
        "sweep",
        "init",
        "configs/test/tiny.yaml",
        "experts=2,4",
        "--device",
        "cuda:0",
        "--out",
        d,
    ]);
    expect_exit(&out, 2, "cuda");
    assert!(!dir.exists());

    // --out must be new or empty: a folder with other files is refused and left as it was.
    let busy = tmp.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("notes.txt"), "mine").unwrap();
    let out = moescope(&[
        "sweep",
        "init",
        "configs/test/tiny.yaml",
        "experts=2,4",
        "--out",
        busy.to_str().unwrap(),
    ]);
    expect_exit(&out, 2, "not empty");
    assert_eq!(std::fs::read_dir(&busy).unwrap().count(), 1);

    // Two inits into the same --out at once: exactly one wins, the other is refused.
    let same = tmp.path().join("same");
    let s = same.to_str().unwrap();
    let a = spawn(&["sweep", "init", "configs/test/tiny.yaml", "experts=2,4", "--out", s]);
    let b = spawn(&[
        "sweep",
        "init",
        "configs/test/tiny.yaml",
        "train.lr=0.01,0.02,0.03",
        "--out",
        s,
    ]);
    let codes = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()].map(|o| o.status.code());
    assert!(codes.contains(&Some(0)) && codes.contains(&Some(2)), "{codes:?}");

    // Two sweeps started at the same moment into one output root get distinct folders.
    let runs = tmp.path().join("runs");
    let root_arg = format!("output.root={}", runs.display());
    let a = spawn(&["sweep", "init", "configs/test/tiny.yaml", "experts=2,4", &root_arg]);
    let b = spawn(&["sweep", "init", "configs/test/tiny.yaml", "experts=2,4", &root_arg]);
    assert!(a.wait_with_output().unwrap().status.success());
    assert!(b.wait_with_output().unwrap().status.success());
    let made: Vec<_> = std::fs::read_dir(&runs).unwrap().flatten().collect();
    assert_eq!(made.len(), 2, "{made:?}");
    for m in made {
        assert!(m.path().join("sweep.yaml").is_file());
    }
}

/// A stand-in sbatch that prints `stdout` and exits 0, at `dir/sbatch`.
fn fake_sbatch(dir: &Path, stdout: &str) -> PathBuf {
    let sbatch = dir.join("sbatch");
    std::fs::write(&sbatch, format!("#!/bin/sh\nprintf '%s\\n' '{stdout}'\n")).unwrap();
    Command::new("chmod")
        .args(["+x", sbatch.to_str().unwrap()])
        .status()
        .unwrap();
    sbatch
}

/// Regression (fresh-user trial): whatever sbatch printed was taken as the job id and recorded.
#[test]
fn a_submission_without_a_job_id_is_an_error_and_not_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let d = dir.to_str().unwrap();
    init(&dir, &["experts=2,4", "seeds=1"]);
    let submit = |sbatch: &Path| {
        Command::new(env!("CARGO_BIN_EXE_moescope"))
            .args(["slurm", "submit", d])
            .env("MOESCOPE_SBATCH", sbatch)
            .output()
            .unwrap()
    };
    let out = submit(&fake_sbatch(tmp.path(), "hello"));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("printed no job id: \"hello\"") && err.contains("Submitted batch job <N>"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    assert!(!dir.join("slurm/submissions.jsonl").exists());

    // The plain sbatch message is read too, and that submission alone is recorded.
    let out = submit(&fake_sbatch(tmp.path(), "Submitted batch job 4243"));
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "4243\n");
    let log = std::fs::read_to_string(dir.join("slurm/submissions.jsonl")).unwrap();
    let ids: Vec<String> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["job_id"].to_string())
        .collect();
    assert_eq!(ids, ["\"4243\""], "{log}");
}

/// Regression (fresh-user trial): a sweep over `task.path` failed, blaming `name`.
#[test]
fn a_sweep_over_data_files_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("data").join("iris_copy.csv");
    std::fs::create_dir(tmp.path().join("data")).unwrap();
    std::fs::copy(common::shared_data("sklearn/iris.csv"), &copy).unwrap();
    let dir = tmp.path().join("s");
    let paths = format!("task.path=../shared/data/sklearn/iris.csv,{}", copy.display());
    let out = moescope(&[
        "sweep",
        "run",
        "configs/iris.yaml",
        &paths,
        "seeds=1",
        "steps=20",
        "routing=[dense, soft]",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(sweep_states(&dir), ["done", "done"]);
    let (ids, _) = cell_entries(&dir);
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids[0].starts_with("path_iris.csv-"), "{ids:?}");
    assert!(ids[1].starts_with("path_iris_copy.csv-"), "{ids:?}");
    let manifest = std::fs::read_to_string(dir.join("cells").join(&ids[1]).join("config.yaml")).unwrap();
    assert!(manifest.starts_with("name: iris [path=iris_copy.csv]\n"), "{manifest}");
    // The status and the tables show the whole path.
    let status = moescope(&["sweep", "status", dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains(&format!("path={}", copy.display())), "{text}");
    let metrics = std::fs::read_to_string(dir.join("collected/metrics.csv")).unwrap();
    assert!(metrics.starts_with("cell,task.path,model,"), "{metrics}");
    assert!(metrics.contains(&format!(",{},", copy.display())), "{metrics}");
}

/// Regression (fresh-user trial): `sweep collect --out RUN` replaced the run's own metrics.csv.
#[test]
fn collect_refuses_an_out_that_holds_a_run_or_a_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let d = dir.to_str().unwrap();
    let out = moescope(&[
        "sweep",
        "run",
        "configs/test/tiny.yaml",
        "experts=2,4",
        "seeds=1",
        "steps=20",
        "routing=[dense, soft]",
        "--out",
        d,
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let cell = dir.join("cells").join(&cell_entries(&dir).0[0]);
    let other = tmp.path().join("other");
    init(&other, &["experts=2,4"]);
    let run = tmp.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::write(run.join("manifest.json"), "{}").unwrap();
    std::fs::write(run.join("metrics.csv"), "mine").unwrap();
    let mine = tmp.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("summary.csv"), "mine").unwrap();

    let before = snapshot(tmp.path());
    for (target, why) in [
        (cell.clone(), "holds a run (manifest.json)"),
        (run.clone(), "holds a run (manifest.json)"),
        (dir.clone(), "holds a sweep"),
        (other.clone(), "holds a sweep"),
        (dir.join("cells"), "is inside the sweep folder"),
        (mine.clone(), "holds summary.csv, which would be replaced"),
    ] {
        let out = moescope(&["sweep", "collect", d, "--out", target.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}: {}", target.display(), describe(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("{}: {why}", target.display())) && err.contains("omit --out"),
            "{err}"
        );
    }
    assert_eq!(snapshot(tmp.path()), before, "a refused collect changed files");

    // Re-collecting the same sweep, into its own folder or a folder it collected to, works.
    let ext = tmp.path().join("ext");
    for target in [None, Some(dir.join("collected")), Some(ext.clone()), Some(ext.clone())] {
        let mut args = vec!["sweep", "collect", d];
        if let Some(t) = &target {
            args.extend(["--out", t.to_str().unwrap()]);
        }
        let out = moescope(&args);
        assert!(out.status.success(), "{target:?}: {}", describe(&out));
    }
    assert!(ext.join("sweep_report.html").is_file());
    // …but another sweep may not replace them.
    let out = moescope(&[
        "sweep",
        "collect",
        other.to_str().unwrap(),
        "--out",
        ext.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}: holds what was written for", ext.display())),
        "{err}"
    );
}

/// Every file under `dir` with its contents, sorted.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// A plain run aimed inside a sweep folder (e.g. at a pending cell's path) would be taken for
/// that cell by `resume` and `collect`: it is refused, and the cell stays pending.
#[test]
fn a_run_inside_a_sweep_folder_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let sweep = tmp.path().join("s");
    let s = sweep.to_str().unwrap();
    let out = moescope(&["sweep", "init", "configs/test/tiny.yaml", "experts=2,4", "--out", s]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let cell = sweep.join("cells").join("some-cell");
    let out = moescope(&[
        "run",
        "configs/test/tiny.yaml",
        "seeds=1",
        "--out",
        cell.to_str().unwrap(),
    ]);
    expect_exit(&out, 2, "is inside the sweep folder");
    assert!(!cell.exists());
    let status = moescope(&["sweep", "status", s]);
    assert!(
        !String::from_utf8_lossy(&status.stdout).contains(" done"),
        "{}",
        describe(&status)
    );
}

/// The last shards of a sweep can finish at the same moment, and each then collects. The one
/// that finds `collected/` held by the other waits and collects again once it is free, instead
/// of failing its task (seen on a real Slurm array).
#[test]
fn a_shard_finishing_while_another_collects_waits_for_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    init(&dir, &["experts=2,4", "seeds=1", "train.steps=5"]);
    let s = dir.to_str().unwrap();
    let out = moescope(&["sweep", "resume", s, "--jobs", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let claim = dir.join("collected").join(".moescope-claim");
    std::fs::write(&claim, "").unwrap(); // another collect in progress
    std::fs::remove_file(dir.join("collected").join("metrics.csv")).unwrap();
    let mut child = spawn(&["sweep", "resume", s, "--jobs", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(child.try_wait().unwrap().is_none(), "it waits while the folder is held");
    assert!(!dir.join("collected").join("metrics.csv").exists());
    std::fs::remove_file(&claim).unwrap(); // the other collect is done
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        dir.join("collected").join("metrics.csv").is_file(),
        "collected once free"
    );
    assert!(!claim.exists());
}
