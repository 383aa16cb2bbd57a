//! Bad input: a clear message naming the file, key or value, exit code 2, never a panic.

mod common;
use common::*;
use std::path::Path;

fn expect_error(args: &[&str], needles: &[&str]) {
    let out = moescope(args);
    let text = describe(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    for n in needles {
        assert!(text.contains(n), "missing {n:?} in\n{text}");
    }
}

#[test]
fn config_errors_name_the_key() {
    let cfg = "configs/test/tiny.yaml";
    expect_error(
        &["run", cfg, "model.expertz=3"],
        &["tiny.yaml", "model.expertz", "unknown field `expertz`"],
    );
    expect_error(&["run", cfg, "train.steps=ten"], &["train.steps", "invalid type"]);
    expect_error(
        &["run", cfg, "architectures=[top5]"],
        &["architectures[0]", "1 ≤ k ≤ model.experts = 4"],
    );
    expect_error(
        &["run", cfg, "model.experts=0"],
        &["model.experts", "at least 1 expert"],
    );
    expect_error(
        &["run", cfg, "model.dense_hidden=10"],
        &["model.dense_hidden", "divisible"],
    );
    expect_error(&["run", "configs/test/nope.yaml"], &["configs/test/nope.yaml"]);
    expect_error(
        &["config", "show", cfg, "probe.subspace_rank=99"],
        &["probe.subspace_rank", "model.d = 6"],
    );
}

#[test]
fn cuda_is_never_a_silent_fallback() {
    expect_error(
        &[
            "run",
            "configs/test/tiny.yaml",
            "--device",
            "cuda:0",
            "--out",
            "/tmp/moescope-never-written",
        ],
        &["cuda:0", "without CUDA support"],
    );
    assert!(!Path::new("/tmp/moescope-never-written/manifest.json").exists());
}

fn run_with_files(overrides: &[String], needles: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut args = vec![
        "run".to_string(),
        "configs/test/tiny.yaml".into(),
        "--out".into(),
        out.display().to_string(),
    ];
    args.extend_from_slice(overrides);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    expect_error(&refs, needles);
}

#[test]
fn data_file_errors_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name);
    // IDX with the wrong magic number, and one truncated.
    std::fs::write(p("bad-magic.idx"), [0u8, 0, 9, 9, 0, 0, 0, 1, 1]).unwrap();
    std::fs::write(p("labels.idx"), [0u8, 0, 8, 1, 0, 0, 0, 2, 1, 2]).unwrap();
    let mut truncated = vec![0u8, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2];
    truncated.extend([7u8; 5]); // needs 8 bytes
    std::fs::write(p("truncated.idx"), truncated).unwrap();
    let idx = |images: &str| {
        vec![
            "task.kind=idx".to_string(),
            format!("task.images={}", p(images).display()),
            format!("task.labels={}", p("labels.idx").display()),
        ]
    };
    run_with_files(&idx("bad-magic.idx"), &["bad-magic.idx", "magic"]);
    run_with_files(&idx("truncated.idx"), &["truncated.idx", "8 bytes"]);
    run_with_files(&idx("missing.idx"), &["missing.idx"]);
    // CSV: ragged rows, a non-numeric cell, a label column out of range.
    std::fs::write(p("ragged.csv"), "1,2,3\n4,5\n").unwrap();
    std::fs::write(p("text.csv"), "1,2,3\n4,oops,6\n").unwrap();
    let csv = |file: &str, col: i64| {
        vec![
            "task.kind=csv".to_string(),
            format!("task.path={}", p(file).display()),
            "task.problem=regression".into(),
            format!("task.label_column={col}"),
        ]
    };
    run_with_files(&csv("ragged.csv", -1), &["ragged.csv", "line 2"]);
    run_with_files(&csv("text.csv", -1), &["text.csv", "oops"]);
    run_with_files(&csv("text.csv", 7), &["text.csv", "7"]);
}

#[test]
fn an_output_root_that_is_a_file_is_named_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("afile");
    std::fs::write(&file, "mine").unwrap();
    let root = format!("output.root={}", file.display());
    expect_error(
        &["run", "configs/test/tiny.yaml", "seeds=1", &root],
        &["afile", "is a file, not a folder (output.root"],
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
}

/// Sizes that cannot fit in memory are refused from the config (an allocation failure would
/// abort without a message and leave a half-made folder), naming the keys; nothing is written.
#[test]
fn sizes_beyond_memory_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let out = out.to_str().unwrap();
    for (key, needle) in [
        ("task.n_train=2000000000", "task.n_train"),
        ("model.dense_hidden=400000000", "model.dense_hidden"),
    ] {
        expect_error(
            &["run", "configs/test/tiny.yaml", "--out", out, key],
            &["too large for this machine", needle, "GiB available"],
        );
        assert!(!Path::new(out).exists(), "{key}: nothing is written");
    }
}

#[test]
fn an_out_that_is_a_file_is_named_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("afile");
    std::fs::write(&file, "mine").unwrap();
    expect_error(
        &[
            "run",
            "configs/test/tiny.yaml",
            "seeds=1",
            "--out",
            file.to_str().unwrap(),
        ],
        &["afile: is a file, not a folder"],
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
}
