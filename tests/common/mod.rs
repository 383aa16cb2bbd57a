//! Helpers for the end-to-end tests: run the `moescope` binary and read what it wrote.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The project root (where `configs/` lives).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The real data sets shipped beside the repository (`../shared/data`).
pub fn shared_data(rel: &str) -> PathBuf {
    let p = root().join("../shared/data").join(rel);
    assert!(
        p.exists(),
        "test data {} missing: shared/ must sit beside the repository",
        p.display()
    );
    p
}

/// Runs `moescope args…` from the project root, with progress bars off and one thread per job.
pub fn moescope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_moescope"))
        .args(args)
        .current_dir(root())
        .env("RUST_LOG", "warn")
        .output()
        .expect("the moescope binary runs")
}

/// Exit code, stdout and stderr, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts that a command exited with `code` and said `needle` on stderr (never a panic).
pub fn expect_exit(out: &Output, code: i32, needle: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", describe(out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(needle) && !err.contains("panicked"),
        "missing {needle:?} in\n{}",
        describe(out)
    );
}

/// Reads a little-endian f64 C-order `.npy` file (format 1.0) into (shape, data), parsing the
/// header independently of the writer.
pub fn read_npy(path: &Path) -> (Vec<usize>, Vec<f64>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{}", path.display());
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
    assert!(
        header.contains("'<f8'") && header.contains("'fortran_order': False"),
        "{header}"
    );
    let inner = header.split("'shape': (").nth(1).unwrap().split(')').next().unwrap();
    let shape: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let data: Vec<f64> = bytes[10 + hlen..]
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(data.len(), shape.iter().product::<usize>(), "{}", path.display());
    (shape, data)
}

/// Model-level value of `metric` for `model`/`seed` from `metrics.jsonl`.
pub fn metric(dir: &Path, model: &str, seed: u64, metric: &str) -> Option<f64> {
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find_map(|r| {
            (r["model"] == model && r["seed"] == seed && r["expert"].is_null() && r["metric"] == metric)
                .then(|| r["value"].as_f64().unwrap())
        })
}
