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
