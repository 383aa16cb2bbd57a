//! End to end: `moescope run` on the tiny config writes a complete, self-describing run folder.

mod common;
use common::*;

fn tiny_run(extra: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut args = vec!["run", "configs/test/tiny.yaml", "--out", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = moescope(&args);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), dir.to_str().unwrap());
    (tmp, dir)
}

#[test]
fn run_folder_is_self_describing() {
    let (_tmp, dir) = tiny_run(&["--jobs", "2"]);
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["seeds"], serde_json::json!([0, 1, 2]));
    assert_eq!(m["device"], "cpu");
    assert!(
        m["versions"]["candle-core"].is_string() && m["versions"]["moescope"].is_string(),
        "{}",
        m["versions"]
    );
    assert!(m["git_commit"].is_string());
    assert_eq!(m["working_dir"].as_str().unwrap(), root().display().to_string());
    assert_eq!(m["config"]["model"]["experts"], 4);
    let data = m["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert!(data[0]["description"].as_str().unwrap().contains("T1"), "{data:?}");
    let jobs = m["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 12);
    assert!(jobs.iter().all(|j| j["status"]["state"] == "done"), "{jobs:?}");
    // Plan order (seed-major, architectures as configured), whatever order two workers finished in.
    let order: Vec<(String, u64)> = jobs
        .iter()
        .map(|j| (j["model"].as_str().unwrap().to_string(), j["seed"].as_u64().unwrap()))
        .collect();
    let plan: Vec<(String, u64)> = (0..3)
        .flat_map(|s| ["dense", "top1", "top2", "soft"].map(|a| (a.to_string(), s)))
        .collect();
    assert_eq!(order, plan);
    assert!(m["wall_seconds"].as_f64().unwrap() > 0.0);
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        !html.contains(" 0.0 s wall"),
        "the report was drawn before the wall time was known"
    );
    let stages: Vec<&str> = m["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    for s in ["data", "train", "probe", "spectral", "report"] {
        assert!(stages.contains(&s), "{stages:?}");
    }
    // SPEC §2.4: both parameter counts per architecture; parameter-matched FFNs differ only in b2.
    let params = m["params"].as_array().unwrap();
    assert_eq!(params.len(), 4);
    let top1 = params.iter().find(|p| p["model"] == "top1").unwrap();
    assert_eq!(top1["router"], 4 * 6 + 4); // E·d + E
                                           // config.yaml is a loadable config.
    let show = moescope(&["config", "show", dir.join("config.yaml").to_str().unwrap()]);
    assert_eq!(show.status.code(), Some(0), "{}", describe(&show));
    // Long-format metrics.
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert!(csv.starts_with("model,seed,expert,metric,value\n"));
    for model in ["dense", "top1", "top2", "soft"] {
        assert!(metric(&dir, model, 2, "jac_expert.sigma1").is_some(), "{model}");
    }
    assert_eq!(std::fs::read_dir(dir.join("checkpoints")).unwrap().count(), 12);
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(
        summary.contains("## Table 1") && summary.contains("## Table 2"),
        "{summary}"
    );
    assert!(summary.contains("| metric | dense | top1 | top2 | soft |"), "{summary}");
    // Every row of every Markdown table has as many cells as its header (a stray `|` in a
    // description such as "mean |A1|" would split a cell).
    let cells = |line: &str| line.replace("\\|", "").matches('|').count();
    for block in summary.split("\n\n") {
        let rows: Vec<&str> = block.lines().filter(|l| l.starts_with('|')).collect();
        if let Some(head) = rows.first() {
            for row in &rows {
                assert_eq!(cells(row), cells(head), "row {row:?} vs header {head:?}");
            }
        }
    }
}

/// SPEC §5.3: the model-level expert metric is the routing-weighted mean over points and experts.
/// Recomputed here from the per-point spectra and gates the run wrote as `.npy`.
#[test]
fn expert_sigma1_is_the_gate_weighted_mean_of_per_point_spectra() {
    let (_tmp, dir) = tiny_run(&[]);
    for model in ["soft", "top2"] {
        let (shape, sv) = read_npy(&dir.join(format!("spectra/{model}_s1_jac_expert_sv.npy")));
        let (gshape, gates) = read_npy(&dir.join(format!("spectra/{model}_s1_gates.npy")));
        let (n, e, d) = (shape[0], shape[1], shape[2]);
        assert_eq!(gshape, vec![n, e]);
        let (mut num, mut den) = (0.0, 0.0);
        for i in 0..n {
            for x in 0..e {
                let g = gates[i * e + x];
                num += g * sv[(i * e + x) * d]; // σ1 is the first singular value
                den += g;
            }
        }
        let want = num / den;
        let got = metric(&dir, model, 1, "jac_expert.sigma1").unwrap();
        assert!((got - want).abs() <= 1e-12 * want.abs(), "{model}: {got} vs {want}");
        let (_, full) = read_npy(&dir.join(format!("spectra/{model}_s1_jac_full_sv.npy")));
        let full_mean = (0..n).map(|i| full[i * d]).sum::<f64>() / n as f64;
        let got = metric(&dir, model, 1, "jac_full.sigma1").unwrap();
        assert!(
            (got - full_mean).abs() <= 1e-12 * full_mean,
            "{model} J_F: {got} vs {full_mean}"
        );
    }
    // The per-point spectra stream to hidden temporary files chunk by chunk; none may be left.
    let hidden: Vec<_> = std::fs::read_dir(dir.join("spectra"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "temporary files left: {hidden:?}");
}

#[test]
fn results_do_not_depend_on_the_number_of_workers() {
    let (_a, one) = tiny_run(&["--jobs", "1"]);
    let (_b, two) = tiny_run(&["--jobs", "2"]);
    let read = |d: &std::path::Path| std::fs::read_to_string(d.join("metrics.jsonl")).unwrap();
    assert_eq!(read(&one), read(&two));
}

#[test]
fn an_existing_run_is_never_overwritten() {
    let (_tmp, dir) = tiny_run(&[]);
    let before = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    let out = moescope(&["run", "configs/test/tiny.yaml", "--out", dir.to_str().unwrap()]);
    expect_exit(&out, 2, "already holds a run");
    assert_eq!(std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap(), before);
}

/// `--out` takes only a new or empty folder: the user's files are never mixed with a run's.
#[test]
fn a_run_goes_only_into_a_new_or_empty_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let busy = tmp.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("keep.txt"), "mine").unwrap();
    let quick = ["seeds=1", "train.steps=5", "architectures=[soft]"];
    let mut args = vec!["run", "configs/test/tiny.yaml", "--out", busy.to_str().unwrap()];
    args.extend(quick);
    let out = moescope(&args);
    expect_exit(&out, 2, "is not empty (holds keep.txt)");
    let left: Vec<_> = std::fs::read_dir(&busy)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["keep.txt"]);
    assert_eq!(std::fs::read_to_string(busy.join("keep.txt")).unwrap(), "mine");

    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    args[3] = empty.to_str().unwrap();
    let out = moescope(&args);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(empty.join("manifest.json").is_file());
    assert!(
        !empty.join(".moescope-claim").exists(),
        "the claim is released when the run ends"
    );
}

/// Two runs started at once into one new folder: exactly one writes it, the other is refused
/// before writing anything (its task differs, so any file of its would show in the manifest).
#[test]
fn of_two_runs_into_one_folder_exactly_one_writes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shared");
    let spawn = |task: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_moescope"))
            .args([
                "run",
                "configs/test/tiny.yaml",
                "--out",
                dir.to_str().unwrap(),
                "seeds=1",
            ])
            .arg("train.steps=20")
            .arg(format!("task.kind={task}"))
            .current_dir(root())
            .env("RUST_LOG", "warn")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("t1_regimes"), spawn("t2_teacher"));
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let codes: Vec<_> = outs.iter().map(|o| o.status.code()).collect();
    assert!(codes.contains(&Some(0)) && codes.contains(&Some(2)), "{codes:?}");
    let (winner, loser) = if codes[0] == Some(0) { (0, 1) } else { (1, 0) };
    let loser_err = String::from_utf8_lossy(&outs[loser].stderr);
    assert!(
        loser_err.contains("another moescope command is writing into it") || loser_err.contains("already holds a run"),
        "{loser_err}"
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let task = ["t1_regimes", "t2_teacher"][winner];
    assert_eq!(m["config"]["task"]["kind"], task);
    let saved = std::fs::read_to_string(dir.join("config.yaml")).unwrap();
    assert!(saved.contains(task), "config.yaml is the winner's");
}

/// A run folder whose manifest still lists pending jobs (an interrupted run) is reported as
/// incomplete, naming the jobs that never finished.
#[test]
fn an_incomplete_run_is_reported_as_such() {
    let (_tmp, dir) = tiny_run(&[]);
    let path = dir.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let last = m["jobs"].as_array_mut().unwrap().last_mut().unwrap();
    last["status"] = serde_json::json!({"state": "pending"});
    let (model, seed) = (
        last["model"].as_str().unwrap().to_string(),
        last["seed"].as_u64().unwrap(),
    );
    std::fs::write(&path, serde_json::to_string(&m).unwrap()).unwrap();
    let out = moescope(&["report", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let expected = format!("**INCOMPLETE:** 1 of 12 jobs never finished (the run was interrupted, or is still running): `{model}` seed {seed}.");
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(summary.contains(&expected), "{summary}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains("id=\"incomplete\""),
        "no incomplete banner in report.html"
    );
}

/// `report --out` never writes over another run's (or a sweep's) files.
#[test]
fn a_report_never_overwrites_another_run() {
    let (tmp, source) = tiny_run(&["seeds=1"]);
    let (_b, victim) = tiny_run(&["seeds=2"]);
    let before = std::fs::read_to_string(victim.join("summary.md")).unwrap();
    let out = moescope(&["report", source.to_str().unwrap(), "--out", victim.to_str().unwrap()]);
    expect_exit(&out, 2, "holds a run (manifest.json)");
    assert_eq!(std::fs::read_to_string(victim.join("summary.md")).unwrap(), before);
    // Its own folder, named by another path, is still fine.
    let same = source.join("..").join("run");
    let out = moescope(&["report", source.to_str().unwrap(), "--out", same.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));

    // A separate report folder belongs to the run it reports: that run may rewrite it, another
    // may not, and neither may write into a folder another command holds.
    let rep = tmp.path().join("rep");
    let report = |run: &std::path::Path| moescope(&["report", run.to_str().unwrap(), "--out", rep.to_str().unwrap()]);
    assert_eq!(report(&source).status.code(), Some(0));
    let first = std::fs::read_to_string(rep.join("summary.md")).unwrap();
    let out = report(&victim);
    expect_exit(&out, 2, "holds what was written for");
    assert_eq!(std::fs::read_to_string(rep.join("summary.md")).unwrap(), first);
    assert_eq!(report(&source).status.code(), Some(0), "the same run may report again");
    let held = tmp.path().join("held");
    std::fs::create_dir(&held).unwrap();
    std::fs::write(held.join(".moescope-claim"), "").unwrap();
    let out = moescope(&["report", source.to_str().unwrap(), "--out", held.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another moescope command is writing into it"));
    assert!(!held.join("summary.md").exists());
}

/// Two reports started at once into one new folder: exactly one writes it.
#[test]
fn of_two_reports_into_one_folder_exactly_one_writes_it() {
    let (tmp, run) = tiny_run(&["seeds=1"]);
    let rep = tmp.path().join("rep");
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_moescope"))
            .args(["report", run.to_str().unwrap(), "--out", rep.to_str().unwrap()])
            .current_dir(root())
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children: Vec<_> = (0..3).map(|_| spawn()).collect();
    let codes: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap().status.code())
        .collect();
    // The winner writes; a loser is refused by the claim, or (if it started after the winner
    // ended) writes the same run's report again: never anything else.
    assert!(codes.iter().all(|c| *c == Some(0) || *c == Some(2)), "{codes:?}");
    assert!(codes.contains(&Some(0)), "{codes:?}");
    assert!(rep.join("report.html").is_file() && !rep.join(".moescope-claim").exists());
}

/// A CSV task without an encoder: the data fixes d = d_in, and the run's config says so.
#[test]
fn a_file_task_without_an_encoder_records_the_d_it_used() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let out = moescope(&[
        "run",
        "configs/iris.yaml",
        "--out",
        dir.to_str().unwrap(),
        "seeds=1",
        "train.steps=20",
        "model.encoder=false",
        "model.d=null",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["config"]["model"]["d"], 4, "iris has 4 features");
    let saved = std::fs::read_to_string(dir.join("config.yaml")).unwrap();
    assert!(saved.contains("d: 4"), "{saved}");
}

/// A model that meets non-finite values fails at its stage; the others' results are kept.
/// An absurd load-balancing coefficient (near the largest f32; 1e39 is refused by the config)
/// overflows f32 only in the Top-k losses, the only ones that carry the switch loss.
#[test]
fn a_diverging_model_fails_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let out = moescope(&[
        "run",
        "configs/test/tiny.yaml",
        "--out",
        dir.to_str().unwrap(),
        "seeds=2",
        "train.load_balance=3.4e38",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("top1 seed 0 at stage `train`") && err.to_lowercase().contains("non-finite"),
        "{err}"
    );
    for model in ["dense", "soft"] {
        assert!(metric(&dir, model, 1, "jac_expert.sigma1").is_some(), "{model} kept");
    }
    assert!(
        metric(&dir, "top2", 0, "fit.val_loss").is_none(),
        "failed model has no rows"
    );
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(
        summary.contains("**FAILED:** `top2` seed 1 at stage `train`"),
        "{summary}"
    );
}

/// Regression (fresh-user test): without an encoder the router input is x itself, so the probe
/// must use d = d_in, not `model.d` (this used to panic with an out-of-range slice). Also covers
/// the unbiased covariance, whose degenerate experts are under-supported, not job failures.
#[test]
fn no_encoder_and_unbiased_covariance_run_cleanly() {
    let (_tmp, dir) = tiny_run(&["seeds=1", "model.encoder=false", "model.d=null", "probe.unbiased=true"]);
    let (shape, _) = read_npy(&dir.join("spectra/soft_s0_jac_full_sv.npy"));
    assert_eq!(shape, vec![64, 4], "d = d_in = 4");
    assert!(metric(&dir, "top1", 0, "rep.under_supported").is_some());
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["config"]["model"]["d"], 4, "the manifest shows the d actually used");
}

/// A file task's input dimension is known only once loaded: without an encoder (d = d_in = 4
/// for iris), a `probe.decay_q` above it is refused before the run folder is made.
#[test]
fn file_tasks_check_d_bounded_settings_against_the_loaded_data() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let out = moescope(&[
        "run",
        "configs/iris.yaml",
        "--out",
        dir.to_str().unwrap(),
        "model.encoder=false",
        "model.d=null",
        "probe.decay_q=5",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("probe.decay_q") && err.contains("d = 4"),
        "{}",
        describe(&out)
    );
    assert!(!dir.exists(), "nothing is written");
}

/// `train.stack: 3` trains the three seeds of each architecture as one batched graph; the run
/// must give what one model at a time gives (f32 rounding apart) for every model and seed.
#[test]
fn stacked_seeds_match_one_at_a_time() {
    let (_a, single) = tiny_run(&[]);
    let (_b, stacked) = tiny_run(&["train.stack=3"]);
    for model in ["dense", "top1", "top2", "soft"] {
        for seed in 0..3 {
            for name in ["fit.val_loss", "fit.train_loss", "jac_full.sigma1", "rep_global.erank"] {
                let (a, b) = (
                    metric(&single, model, seed, name).unwrap(),
                    metric(&stacked, model, seed, name).unwrap(),
                );
                assert!((a - b).abs() <= 1e-4 * a.abs(), "{model} s{seed} {name}: {a} vs {b}");
            }
        }
    }
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(stacked.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["config"]["train"]["stack"], 3);
    assert_eq!(m["jobs"].as_array().unwrap().len(), 12);
}

/// `probe.spectra: device` takes the singular values with the batched solvers on the run's device
/// (here the CPU Jacobi reference of moescope-gpu) and copies back only reductions; every metric
/// row must match the host path (the batched Golub–Kahan SVD of `moescope-spectral`).
#[test]
fn device_spectra_match_host_spectra() {
    let (_a, host) = tiny_run(&["train.steps=20"]);
    let (_b, device) = tiny_run(&["train.steps=20", "probe.spectra=device"]);
    let rows = |dir: &std::path::Path| -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let (h, d) = (rows(&host), rows(&device));
    assert_eq!(h.len(), d.len());
    // The metrics that count or fit the singular values above the numerical-rank threshold
    // (rank, fit points, the α/β fits, which take logs of the smallest values) are where two
    // correct SVD algorithms differ most: a value at the threshold may fall either side
    // (BENCHMARKS.md, GPU section). A looser tolerance for them, a tight one for the rest.
    let mut worst = [(0.0, String::new()), (0.0, String::new())];
    for (a, b) in h.iter().zip(&d) {
        let key = |r: &serde_json::Value| format!("{} s{} e{} {}", r["model"], r["seed"], r["expert"], r["metric"]);
        assert_eq!(key(a), key(b));
        let (x, y) = (a["value"].as_f64().unwrap(), b["value"].as_f64().unwrap());
        let rel = (x - y).abs() / x.abs().max(1e-3);
        let name = a["metric"].as_str().unwrap();
        let fit = usize::from(
            [".alpha", ".beta", ".numerical_rank", ".fit_points"]
                .iter()
                .any(|m| name.ends_with(m)),
        );
        if rel > worst[fit].0 {
            worst[fit] = (rel, key(a));
        }
    }
    assert!(
        worst[0].0 <= 1e-9,
        "worst relative difference {:e} at {}",
        worst[0].0,
        worst[0].1
    );
    assert!(
        worst[1].0 <= 1e-4,
        "worst fit difference {:e} at {}",
        worst[1].0,
        worst[1].1
    );
    let (_, sv_h) = read_npy(&host.join("spectra/soft_s1_jac_expert_sv.npy"));
    let (_, sv_d) = read_npy(&device.join("spectra/soft_s1_jac_expert_sv.npy"));
    assert!(sv_h
        .iter()
        .zip(&sv_d)
        .all(|(a, b)| (a - b).abs() <= 1e-10 * (1.0 + a.abs())));
}

/// `output.npy: false` drops the per-point arrays but keeps the small ones the report draws from,
/// and the spectra figures say why they are empty.
#[test]
fn without_npy_the_report_keeps_its_summary_arrays() {
    let (_tmp, dir) = tiny_run(&["output.npy=false", "train.steps=10"]);
    let names: Vec<String> = std::fs::read_dir(dir.join("spectra"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n == "soft_s0_rep_cev.npy"), "{names:?}");
    assert!(names.iter().any(|n| n == "soft_s0_subspace_overlap.npy"), "{names:?}");
    for n in &names {
        assert!(
            !n.contains("_sv.npy") && !n.ends_with("_gates.npy") && !n.starts_with('.'),
            "{n}"
        );
    }
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains("output.npy: false"),
        "no note on the empty spectra figures"
    );
}

/// Ctrl-C (SIGINT) mid-probe: exit 130, and the hidden partial per-point arrays of the job in
/// progress are removed (the process ends without running destructors).
#[test]
fn an_interrupted_run_leaves_no_partial_arrays() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let args = [
        "run",
        "configs/test/tiny.yaml",
        "--out",
        dir.to_str().unwrap(),
        "seeds=1",
        "train.steps=5",
        "task.n_probe=400000",
        "architectures=[soft]",
    ];
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_moescope"))
        .args(args)
        .current_dir(root())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let hidden = || -> Vec<String> {
        std::fs::read_dir(dir.join("spectra"))
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect::<Vec<String>>()
            })
            .unwrap_or_default()
            .into_iter()
            .filter(|n| n.starts_with('.'))
            .collect()
    };
    let start = std::time::Instant::now();
    while hidden().is_empty() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before its probe was interrupted"
        );
        assert!(start.elapsed().as_secs() < 120, "no partial arrays appeared");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    assert!(kill.unwrap().success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
    assert!(hidden().is_empty(), "left behind: {:?}", hidden());
    // The manifest lists the job that never finished.
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["jobs"][0]["status"]["state"], "pending", "{}", m["jobs"]);
    // No job finished, so `moescope report` has nothing to draw, and says so.
    let report = moescope(&["report", dir.to_str().unwrap()]);
    assert_eq!(report.status.code(), Some(2), "{}", describe(&report));
    assert!(String::from_utf8_lossy(&report.stderr).contains("no job of this run has finished"));
}
