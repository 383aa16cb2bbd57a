//! Positional arguments of `run` and `config show`: the README's `moescope run [CONFIG]
//! [key.path=value ...]` lets the overrides come first, with the default config.

mod common;

use common::{describe, moescope, root};
use std::path::Path;
use std::process::{Command, Output};

/// Runs `moescope args…` from `dir`.
fn moescope_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_moescope"))
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the moescope binary runs")
}

/// Regression (fresh-user trial): `moescope config show seeds=2` failed with "cannot read config file seeds=2".
#[test]
fn config_show_takes_overrides_without_a_config() {
    let short = moescope(&["config", "show", "seeds=2", "train.steps=50"]);
    assert!(short.status.success(), "{}", describe(&short));
    let long = moescope(&["config", "show", "configs/paper.yaml", "seeds=2", "train.steps=50"]);
    assert!(long.status.success(), "{}", describe(&long));
    assert_eq!(
        String::from_utf8_lossy(&short.stdout),
        String::from_utf8_lossy(&long.stdout)
    );
    let yaml = String::from_utf8_lossy(&short.stdout);
    assert!(
        yaml.starts_with("name: paper\nseeds: 2\n") && yaml.contains("\n  steps: 50\n"),
        "{yaml}"
    );
}

/// Regression (fresh-user trial). The default config is the one `run` uses with no arguments (relative to the
/// working folder), here a tiny one so that the run takes seconds; a file whose name holds `=`
/// is still a config.
#[test]
fn run_takes_overrides_without_a_config() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("configs")).unwrap();
    let tiny = std::fs::read_to_string(root().join("configs/test/tiny.yaml")).unwrap();
    std::fs::write(tmp.path().join("configs/paper.yaml"), &tiny).unwrap();
    std::fs::write(tmp.path().join("k=v.yaml"), tiny.replace("name: tiny", "name: eq")).unwrap();

    let out = moescope_in(
        tmp.path(),
        &[
            "run",
            "seeds=1",
            "train.steps=20",
            "architectures=[dense, soft]",
            "--out",
            "r",
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let config = std::fs::read_to_string(tmp.path().join("r/config.yaml")).unwrap();
    assert!(
        config.starts_with("name: tiny\nseeds: 1\n") && config.contains("\n  steps: 20\n"),
        "{config}"
    );

    let shown = moescope_in(tmp.path(), &["config", "show", "k=v.yaml", "seeds=4"]);
    assert!(shown.status.success(), "{}", describe(&shown));
    let yaml = String::from_utf8_lossy(&shown.stdout);
    assert!(yaml.starts_with("name: eq\nseeds: 4\n"), "{yaml}");
}
