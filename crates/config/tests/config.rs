//! Config parsing, overrides and validation: every error names the file, the key and what was
//! expected.

use moescope_config::{from_str, load, Capacity, Routing, TaskSpec};

const BASE: &str = "name: t\nseeds: 3\ntask: {kind: t1_regimes}\nmodel: {experts: 8, dense_hidden: 256}\narchitectures: [dense, top1, top2, soft]\n";

fn err(yaml: &str, overrides: &[&str]) -> String {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    from_str(yaml, "exp.yaml", &o).unwrap_err().to_string()
}

#[test]
fn paper_config_resolves_with_matched_widths() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/paper.yaml");
    let exp = load(&path, &[]).unwrap();
    assert!(exp.seeds.len() >= 3);
    let names: Vec<&str> = exp.architectures.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["dense", "top1", "top2", "soft"]);
    // Parameter-matched (SPEC §2.4): H = E·m.
    for a in &exp.architectures {
        assert_eq!(a.experts * a.hidden, exp.model.dense_hidden, "{}", a.name);
    }
    assert!(matches!(exp.task, TaskSpec::Synthetic(ref t) if t.clusters == exp.model.experts));
}

#[test]
fn compute_matched_capacity_uses_h_over_k() {
    let exp = from_str(BASE, "exp.yaml", &["model.capacity=compute".into()]).unwrap();
    assert_eq!(exp.model.capacity, Capacity::Compute);
    let top2 = exp
        .architectures
        .iter()
        .find(|a| a.routing == Routing::TopK { k: 2 })
        .unwrap();
    assert_eq!(top2.hidden, 128);
    // Same active width as dense (k·m = H); active parameters differ only by the k - 1 extra
    // output biases b2 (SPEC §2.4: "minus a small difference in b2").
    let dense = &exp.architectures[0];
    assert_eq!(top2.ffn_params(32).1, dense.ffn_params(32).1 + 32);
}

#[test]
fn overrides_change_values_and_types_are_checked() {
    let exp = from_str(BASE, "exp.yaml", &["train.steps=7".into(), "seeds=[4, 9]".into()]).unwrap();
    assert_eq!(exp.train.steps, 7);
    assert_eq!(exp.seeds, vec![4, 9]);
    let e = err(BASE, &["train.steps=many"]);
    assert!(
        e.contains("exp.yaml") && e.contains("train.steps") && e.contains("invalid type"),
        "{e}"
    );
    let e = err(BASE, &["trian.steps=3"]);
    assert!(e.contains("unknown field `trian`"), "{e}");
    let e = err(BASE, &["nonsense"]);
    assert!(e.contains("override `nonsense`") && e.contains("key.path=value"), "{e}");
    // Named options: a wrong name lists the names; a number says a name was expected.
    let e = err(BASE, &["probe.spectra=gpu"]);
    assert!(
        e.contains("probe.spectra") && e.contains("`auto`, `host`, `device`"),
        "{e}"
    );
    let e = err(BASE, &["probe.spectra=1"]);
    assert!(
        e.contains("probe.spectra") && e.contains("one of the option's names"),
        "{e}"
    );
    assert!(!e.contains("Value::Tagged"), "{e}");
    let e = err(BASE, &["train.stack=0"]);
    assert!(e.contains("train.stack") && e.contains("at least 1"), "{e}");
}

#[test]
fn unknown_keys_are_rejected_with_their_path() {
    let e = err(&BASE.replace("experts: 8", "experts: 8, expert: 2"), &[]);
    assert!(
        e.contains("exp.yaml: at `model.expert`") && e.contains("unknown field `expert`"),
        "{e}"
    );
    let e = err(&BASE.replace("t1_regimes", "t9"), &[]);
    assert!(e.contains("task.kind") && e.contains("t1_regimes"), "{e}");
}

#[test]
fn invalid_values_name_key_and_expectation() {
    let e = err(BASE, &["architectures=[dense, top9]"]);
    assert!(
        e.contains("`architectures[1]`") && e.contains("1 ≤ k ≤ model.experts = 8") && e.contains("k = 9"),
        "{e}"
    );
    let e = err(BASE, &["model.experts=0"]);
    assert!(
        e.contains("`model.experts` = 0") && e.contains("at least 1 expert"),
        "{e}"
    );
    let e = err(BASE, &["model.experts=3"]);
    assert!(
        e.contains("`model.dense_hidden` = 256") && e.contains("divisible by model.experts = 3"),
        "{e}"
    );
    let e = err(
        BASE,
        &[
            "model.capacity=compute",
            "model.experts=4",
            "model.dense_hidden=16",
            "architectures=[top1, top3]",
        ],
    );
    assert!(e.contains("divisible by 3"), "{e}");
    let e = err(BASE, &["architectures=[dense, mystery]"]);
    assert!(e.contains("dense, soft or top<k>"), "{e}");
    let e = err(BASE, &["device=gpu"]);
    assert!(e.contains("`device`") && e.contains("cpu` or `cuda:N"), "{e}");
    let e = err(BASE, &["seeds=0"]);
    assert!(e.contains("at least one seed"), "{e}");
    let e = err(BASE, &["task.kind=csv"]);
    assert!(e.contains("`task.path`") && e.contains("file path"), "{e}");
}

#[test]
fn missing_file_is_named() {
    let e = load(std::path::Path::new("/no/such/exp.yaml"), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("/no/such/exp.yaml"), "{e}");
}

#[test]
fn resolved_yaml_round_trips() {
    let exp = from_str(BASE, "exp.yaml", &["model.d=16".into()]).unwrap();
    let again = from_str(&exp.to_yaml(), "resolved.yaml", &[]).unwrap();
    assert_eq!(again.model.d, 16);
    assert_eq!(again.architectures, exp.architectures);
}

/// Every config shipped in `configs/` (and `configs/test/`) resolves.
#[test]
fn shipped_configs_resolve() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut seen = 0;
    for dir in [root.clone(), root.join("test")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                load(&path, &[]).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                seen += 1;
            }
        }
    }
    assert!(seen >= 7, "found {seen} configs");
}

/// Regression (fresh-user test): `seeds=-1` said "did not match any variant of untagged enum
/// Seeds"; the message now says what `seeds` takes.
#[test]
fn bad_seeds_say_what_seeds_take() {
    let expect = |value: &str, got: &str| {
        assert_eq!(
            err(BASE, &[&format!("seeds={value}")]),
            format!(
                "exp.yaml (with command-line overrides): at `seeds`: expected a count (e.g. 3) or a list of \
                 non-negative integers, got {got}"
            )
        );
    };
    expect("-1", "-1");
    expect("[0, -2]", "[0, -2]");
    expect("many", "\"many\"");
    expect("1.5", "1.5");
    let exp = from_str(BASE, "exp.yaml", &["seeds=[7, 2]".into()]).unwrap();
    assert_eq!(exp.seeds, vec![7, 2]);
}

/// Regression (fresh-user test): a scalar where a section belongs said "expected struct
/// RawModel", a list as the whole file "expected struct RawConfig".
#[test]
fn wrong_section_types_are_described_in_plain_words() {
    assert_eq!(
        err(BASE, &["model=3"]),
        "exp.yaml (with command-line overrides): at `model`: invalid type: integer `3`, expected a mapping \
         of model settings (d, dense_hidden, experts, …)"
    );
    assert_eq!(
        err("- name: t\n- seeds: 3\n", &[]),
        "exp.yaml: at `<document>`: invalid type: sequence, expected a mapping of experiment settings \
         (name, seeds, task, model, architectures, …)"
    );
    for section in ["task", "train", "probe", "probe.robustness", "stats", "output"] {
        let e = err(BASE, &[&format!("{section}=3")]);
        assert!(
            e.contains(&format!("at `{section}`")) && e.contains("expected a mapping of"),
            "{e}"
        );
        assert!(!e.contains("struct"), "{e}");
    }
}

/// Regression (fresh-user test): "required for task.kind = Csv" used the Rust name.
#[test]
fn task_kinds_are_spelled_as_in_yaml() {
    let e = err(BASE, &["task.kind=csv"]);
    assert!(
        e.ends_with("`task.path` = missing: expected a file path (required for task.kind = csv)"),
        "{e}"
    );
    let e = err(BASE, &["task.kind=idx"]);
    assert!(
        e.ends_with("`task.images` = missing: expected a file path (required for task.kind = idx)"),
        "{e}"
    );
}

/// Regression (fresh-user test): `moescope run` on a sweep file said only "unknown field sweep".
#[test]
fn a_sweep_file_run_as_an_experiment_gets_a_hint() {
    let e = err(&format!("{BASE}sweep: {{axes: {{model.experts: [2, 4]}}}}\n"), &[]);
    assert!(e.starts_with("exp.yaml: at `sweep`: unknown field `sweep`"), "{e}");
    assert!(
        e.ends_with("; this is a sweep file: use `moescope sweep run FILE`"),
        "{e}"
    );
    // Other unknown keys get no such hint.
    assert!(!err(BASE, &["sweeps=1"]).contains("sweep file"));
}

/// Regression (fresh-user test): `[dense, top2, top02, top+2, soft]` trained Top-2 three times.
#[test]
fn architectures_have_one_spelling_and_appear_once() {
    for word in ["top02", "top+2", "top 2", "top-1", "top", "Top2"] {
        let e = err(BASE, &[&format!("architectures=[dense, top2, \"{word}\"]")]);
        assert!(
            e.ends_with(&format!(
                "`architectures[2]` = {word:?}: expected dense, soft or top<k> (e.g. top2; k in plain digits, \
                 no sign or leading zero)"
            )),
            "{e}"
        );
    }
    let e = err(BASE, &["architectures=[dense, top2, soft, top2]"]);
    assert!(
        e.ends_with("`architectures[3]` = \"top2\" repeats \"top2\": expected each architecture once"),
        "{e}"
    );
    // k = 0 parses and is refused by the range check, which says why.
    let e = err(BASE, &["architectures=[top0]"]);
    assert!(e.contains("`architectures[0]` = k = 0"), "{e}");
    let exp = from_str(BASE, "exp.yaml", &["architectures=[top1, top8]".into()]).unwrap();
    assert_eq!(exp.architectures[1].routing, Routing::TopK { k: 8 });
}

/// Regression (fresh-user test): values beyond f32 passed the config and failed in training
/// ("non-finite value during train"); `train.eps=1e-300` (0 in f32) gave NaN at step 2.
#[test]
fn floats_used_in_f32_must_fit_f32() {
    let f32_range = "that fits in f32 (|v| ≤ 3.4e38)";
    for (arg, key, got, expected) in [
        (
            "task.separation=1e300",
            "task.separation",
            "1e300",
            format!("a number {f32_range}"),
        ),
        (
            "task.separation=-1e39",
            "task.separation",
            "-1e39",
            format!("a number {f32_range}"),
        ),
        (
            "task.noise=1e300",
            "task.noise",
            "1e300",
            format!("a non-negative number {f32_range}"),
        ),
        (
            "train.weight_decay=1e39",
            "train.weight_decay",
            "1e39",
            format!("a non-negative number {f32_range}"),
        ),
        (
            "train.z_loss=1e39",
            "train.z_loss",
            "1e39",
            format!("a non-negative number {f32_range}"),
        ),
        (
            "train.lr=1e-50",
            "train.lr",
            "1e-50",
            format!("a positive learning rate {f32_range} and is not 0 there"),
        ),
        (
            "train.eps=1e-300",
            "train.eps",
            "1e-300",
            "a positive number that is a normal f32 (1.2e-38 ≤ ε ≤ 3.4e38)".into(),
        ),
        // Subnormal in f32 (the smallest normal is 1.18e-38).
        (
            "train.eps=1e-40",
            "train.eps",
            "1e-40",
            "a positive number that is a normal f32 (1.2e-38 ≤ ε ≤ 3.4e38)".into(),
        ),
        (
            "train.betas=[0.9, 0.99999999]",
            "train.betas[1]",
            "0.99999999",
            "a value in [0, 1) that stays below 1 in f32 (≤ 0.99999994)".into(),
        ),
        (
            "model.temperature=1e-50",
            "model.temperature",
            "1e-50",
            "a positive number that is a normal f32 (1.2e-38 ≤ τ ≤ 3.4e38)".into(),
        ),
        (
            "probe.robustness={shift: 1e39}",
            "probe.robustness.shift",
            "1e39",
            format!("a finite shift {f32_range}"),
        ),
    ] {
        let e = err(BASE, &[arg]);
        assert!(
            e.ends_with(&format!("`{key}` = {got}: expected {expected}")),
            "{arg}: {e}"
        );
    }
    // The limits themselves are accepted.
    let ok = [
        "task.separation=3.4e38",
        "train.eps=1.2e-38",
        "train.betas=[0, 0.99999994]",
    ];
    from_str(BASE, "exp.yaml", &ok.map(String::from)).unwrap();
}

/// SPEC §5: σ_q of the d × d layer Jacobians exists only for q ≤ d.
#[test]
fn decay_q_is_at_most_d() {
    let e = err(BASE, &["model.d=8", "probe.decay_q=9"]);
    assert!(
        e.ends_with("`probe.decay_q` = 9: expected 1 ≤ q ≤ model.d = 8 (σ_q of the d × d layer Jacobians)"),
        "{e}"
    );
    let exp = from_str(BASE, "exp.yaml", &["model.d=8".into(), "probe.decay_q=8".into()]).unwrap();
    assert_eq!(exp.probe.decay_q, 8);
}

/// Regression (fresh-user test): with `model.encoder=false` the model routes x (d = d_in), but the
/// config kept `model.d` for its checks and in the stored config.
#[test]
fn without_an_encoder_d_is_d_in() {
    let no_enc = |extra: &[&str]| {
        let mut o = vec![
            "model.encoder=false",
            "task.d_in=3",
            "probe.subspace_rank=2",
            "probe.decay_q=3",
        ];
        o.extend_from_slice(extra);
        let o: Vec<String> = o.iter().map(|s| s.to_string()).collect();
        from_str(BASE, "exp.yaml", &o)
    };
    let exp = no_enc(&[]).unwrap();
    assert_eq!(exp.model.d, 3);
    assert_eq!(exp.raw.model.d, Some(3), "the stored config shows the d used");
    assert!(exp.to_yaml().contains("  d: 3\n"), "{}", exp.to_yaml());
    // A model.d that agrees is fine; one that does not is an error naming model.d.
    assert_eq!(no_enc(&["model.d=3"]).unwrap().model.d, 3);
    let e = no_enc(&["model.d=6"]).unwrap_err().to_string();
    assert!(
        e.ends_with(
            "`model.d` = 6: expected 3 (= task.d_in) or no model.d: with model.encoder = false the router sees \
             x itself, so d = d_in"
        ),
        "{e}"
    );
    // The probe settings are checked against d = d_in = 3, not the default 32.
    let e = no_enc(&["probe.subspace_rank=4"]).unwrap_err().to_string();
    assert!(
        e.ends_with(
            "`probe.subspace_rank` = 4: expected 1 ≤ r ≤ d = task.d_in = 3 (model.encoder = false routes x itself)"
        ),
        "{e}"
    );
    let e = no_enc(&["probe.decay_q=4"]).unwrap_err().to_string();
    assert!(
        e.contains("`probe.decay_q` = 4: expected 1 ≤ q ≤ d = task.d_in = 3"),
        "{e}"
    );
    // With an encoder model.d stays (default 32).
    assert_eq!(from_str(BASE, "exp.yaml", &[]).unwrap().model.d, 32);
}

/// File tasks learn d_in on loading: `validate_against_dim` is the check the engine runs then.
#[test]
fn file_tasks_are_checked_against_the_loaded_dimension() {
    let csv = [
        "task={kind: csv, path: t.csv, problem: classification}",
        "model.encoder=false",
    ];
    let load = |extra: &[&str]| {
        let o: Vec<String> = csv.iter().chain(extra).map(|s| s.to_string()).collect();
        from_str(BASE, "exp.yaml", &o).unwrap()
    };
    let exp = load(&[]);
    assert_eq!(exp.raw.model.d, None, "d is unknown until the file is read");
    assert_eq!(exp.routed_dim(3), 3);
    assert_eq!(
        exp.validate_against_dim(3).unwrap_err().to_string(),
        "exp.yaml (with command-line overrides): `probe.subspace_rank` = 4: expected 1 ≤ r ≤ d = 3, the input \
         dimension of the data (model.encoder = false routes x itself)"
    );
    exp.validate_against_dim(4).unwrap();
    let exp = load(&["model.d=8"]);
    assert_eq!(
        exp.validate_against_dim(5).unwrap_err().to_string(),
        "exp.yaml (with command-line overrides): `model.d` = 8: expected 5 (= the input dimension of the data) \
         or no model.d: with model.encoder = false the router sees x itself, so d = d_in"
    );
    exp.validate_against_dim(8).unwrap();
    // With an encoder the routed width is model.d whatever the data.
    let exp = from_str(BASE, "exp.yaml", &[csv[0].to_string(), "model.d=6".into()]).unwrap();
    assert_eq!(exp.routed_dim(2), 6);
    exp.validate_against_dim(2).unwrap();
}
