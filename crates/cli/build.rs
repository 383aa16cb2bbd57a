//! Embeds the git commit and the versions of key dependencies (from Cargo.lock) so that every
//! run manifest says exactly what produced it.

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    let commit = if dirty && commit != "unknown" {
        format!("{commit}-dirty")
    } else {
        commit
    };
    println!("cargo:rustc-env=MOESCOPE_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/index");

    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    // Every locked version of each crate (a crate can appear twice, e.g. nalgebra via statrs).
    let mut versions = Vec::new();
    for name in ["candle-core", "candle-nn", "nalgebra", "statrs", "gemm"] {
        let needle = format!("name = \"{name}\"\nversion = \"");
        let found: Vec<&str> = lock
            .match_indices(&needle)
            .filter_map(|(i, _)| lock[i + needle.len()..].split('"').next())
            .collect();
        if !found.is_empty() {
            versions.push(format!("{name}={}", found.join("/")));
        }
    }
    println!("cargo:rustc-env=MOESCOPE_DEP_VERSIONS={}", versions.join(","));
    println!("cargo:rerun-if-changed=Cargo.lock");
}
