//! Cells: each assignment of the axes resolved into an [`Experiment`], with a stable id derived
//! from the resolved config.

use crate::spec::SweepSpec;
use crate::{Error, Result};
use moescope_config::Experiment;
use serde_yaml::Value;
use sha2::{Digest, Sha256};

/// One cell of a sweep.
#[derive(Debug, Clone)]
pub struct Cell {
    /// Position in the sweep (axis order, first axis slowest).
    pub index: usize,
    /// Stable id: a readable slug of the assignment and 10 hex digits of the SHA-256 of the
    /// resolved config (name and output root excluded), so the same settings always map to the
    /// same folder and different settings never share one.
    pub id: String,
    /// `experts=4 temperature=0.5`.
    pub label: String,
    /// SHA-256 (hex, 10 digits) of the resolved config: two cells with equal hashes are the same
    /// experiment, however their values were written.
    pub hash: String,
    /// The axis values of this cell, `(key, value)`.
    pub assignment: Vec<(String, Value)>,
    /// The resolved experiment.
    pub experiment: Experiment,
}

impl Cell {
    /// Architectures × seeds: the engine jobs this cell runs.
    pub fn jobs(&self) -> usize {
        self.experiment.architectures.len() * self.experiment.seeds.len()
    }
}

/// Resolves every cell of `spec`; a cell whose config does not validate is an error naming it
/// (before anything runs), and two cells that resolve to the same config are an error too.
pub fn cells(spec: &SweepSpec) -> Result<Vec<Cell>> {
    spec.validate()?;
    let mut out: Vec<Cell> = Vec::new();
    for (index, assignment) in spec.assignments().into_iter().enumerate() {
        // The experiment name and the folder slug may not hold a path's slashes.
        let short = label(&assignment, |v| inline(&without_dirs(v)));
        let label = label(&assignment, inline);
        let experiment = resolve(spec, &assignment, &label, &short)?;
        let hash = config_hash(&experiment);
        if let Some(other) = out.iter().find(|c| c.hash == hash) {
            return Err(Error::Spec {
                file: spec.base_file.clone(),
                key: format!("cell {index} ({label})"),
                message: format!(
                    "resolves to the same config as cell {} ({}); drop the duplicate axis value",
                    other.index, other.label
                ),
            });
        }
        out.push(Cell {
            index,
            id: cell_id(&hash, &short),
            label,
            hash,
            assignment,
            experiment,
        });
    }
    Ok(out)
}

/// `label` names the cell in errors; `short` (no slashes) goes into the experiment's name.
fn resolve(spec: &SweepSpec, assignment: &[(String, Value)], label: &str, short: &str) -> Result<Experiment> {
    let wrap = |cause| Error::Cell {
        cell: if label.is_empty() {
            "(single cell)".into()
        } else {
            label.to_string()
        },
        cause,
    };
    let mut tree = spec.base.clone();
    for (key, value) in spec.set.iter().chain(assignment) {
        moescope_config::set_key(&mut tree, key, value.clone()).map_err(wrap)?;
    }
    let name = if short.is_empty() {
        spec.name.clone()
    } else {
        format!("{} [{short}]", spec.name)
    };
    moescope_config::set_key(&mut tree, "name", Value::from(name)).map_err(wrap)?;
    let file = format!("sweep `{}` from {}", spec.name, spec.base_file);
    moescope_config::from_tree(tree, &file, &[]).map_err(wrap)
}

/// `key=value` pairs with the last key segment as the name, space-separated, each value written
/// by `show`.
fn label(assignment: &[(String, Value)], show: impl Fn(&Value) -> String) -> String {
    assignment
        .iter()
        .map(|(k, v)| format!("{}={}", k.rsplit('.').next().unwrap_or(k), show(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A YAML value on one line (`[dense, top1]`).
pub(crate) fn inline(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Sequence(items) => format!("[{}]", items.iter().map(inline).collect::<Vec<_>>().join(", ")),
        Value::Mapping(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", inline(k), inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
    }
}

/// `v` with every string that holds a path cut to its last component (`data/iris.csv` →
/// `iris.csv`): the file name is what tells such cells apart, and it survives the slug's cut at
/// 48 characters where a long directory would not. Values without slashes are unchanged, so
/// the ids of sweeps over other keys stay what they were.
fn without_dirs(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(file_name(s)),
        Value::Sequence(items) => Value::Sequence(items.iter().map(without_dirs).collect()),
        Value::Mapping(m) => Value::Mapping(m.iter().map(|(k, v)| (without_dirs(k), without_dirs(v))).collect()),
        Value::Tagged(t) => Value::Tagged(Box::new(serde_yaml::value::TaggedValue {
            tag: t.tag.clone(),
            value: without_dirs(&t.value),
        })),
        other => other.clone(),
    }
}

/// The last non-empty component of a `/` or `\` separated path; a path without one (`/`) has
/// its separators replaced by `_`.
fn file_name(s: &str) -> String {
    match s.trim_end_matches(['/', '\\']).rsplit(['/', '\\']).next() {
        Some(last) if !last.is_empty() => last.to_string(),
        _ => s.replace(['/', '\\'], "_"),
    }
}

/// SHA-256 of the resolved config without its name and output root (which change no number).
fn config_hash(exp: &Experiment) -> String {
    let mut raw = exp.raw.clone();
    raw.name = String::new();
    raw.output.root = Default::default();
    let canonical = serde_json::to_string(&raw).unwrap_or_default();
    Sha256::digest(canonical.as_bytes())
        .iter()
        .take(5)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A readable slug of the assignment, then the config hash.
fn cell_id(hex: &str, label: &str) -> String {
    let slug: String = label
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' => c,
            _ => '_',
        })
        .collect::<String>()
        .split('_')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    let slug: String = slug.chars().take(48).collect();
    if slug.is_empty() {
        hex.to_string()
    } else {
        format!("{slug}-{hex}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "name: b\nseeds: 1\ntask: {kind: t2_teacher, d_in: 4, n_train: 64, n_val: 32, n_probe: 16}\nmodel: {d: 8, dense_hidden: 16, experts: 4}\narchitectures: [dense, top1, soft]\ntrain: {steps: 2, batch: 8}\n";

    fn spec(args: &[&str]) -> SweepSpec {
        let mut s = SweepSpec {
            name: "sw".into(),
            base_file: "base.yaml".into(),
            base: moescope_config::parse_tree(BASE, "base.yaml").unwrap(),
            set: Vec::new(),
            axes: Vec::new(),
            working_dir: String::new(),
        };
        for a in args {
            s.add_arg(a).unwrap();
        }
        s
    }

    #[test]
    fn ids_follow_the_resolved_config() {
        let a = cells(&spec(&["experts=2,4"])).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].experiment.model.experts, 2);
        assert_eq!(a[1].experiment.architectures[1].hidden, 16 / 4);
        assert!(a[0].id.starts_with("experts_2-"), "{}", a[0].id);
        assert_ne!(a[0].id, a[1].id);
        // Same settings reached another way (a different sweep name, an extra axis value
        // elsewhere in the order) give the same id.
        let mut renamed = spec(&["experts=4,2"]);
        renamed.name = "other".into();
        let b = cells(&renamed).unwrap();
        assert_eq!(b[1].id, a[0].id);
        // A setting that changes the numbers changes the id.
        let c = cells(&spec(&["experts=2,4", "train.lr=0.5"])).unwrap();
        assert_ne!(c[0].id, a[0].id);
        assert_eq!(a[0].experiment.name, "sw [experts=2]");
    }

    #[test]
    fn bad_cell_and_duplicate_cells_are_errors_naming_the_cell() {
        let e = cells(&spec(&["experts=2,0"])).unwrap_err().to_string();
        assert!(e.contains("experts=0") && e.contains("model.experts"), "{e}");
        let e = cells(&spec(&["train.lr=0.001,1.0e-3"])).unwrap_err().to_string();
        assert!(
            e.contains("cell 1 (lr=0.001)") && e.contains("same config as cell 0"),
            "{e}"
        );
        // Values written differently but resolving equal are the same experiment.
        let e = cells(&spec(&["temperature=1,1.0"])).unwrap_err().to_string();
        assert!(e.contains("same config"), "{e}");
        let e = cells(&spec(&["name=a,b"])).unwrap_err().to_string();
        assert!(e.contains("same config"), "{e}");
    }

    // Regression (fresh-user trial): a path-valued axis failed, blaming `name`, which holds no slash.
    #[test]
    fn path_values_are_named_by_their_file() {
        let mut s = spec(&["task.kind=csv", "task.problem=classification"]);
        s.add_arg("task.path=../data/sets/iris.csv,/tmp/x/other.csv,dir\\win.csv,/")
            .unwrap();
        let c = cells(&s).unwrap();
        let names: Vec<&str> = c.iter().map(|c| c.experiment.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "sw [path=iris.csv]",
                "sw [path=other.csv]",
                "sw [path=win.csv]",
                "sw [path=_]"
            ]
        );
        assert!(c[0].id.starts_with("path_iris.csv-"), "{}", c[0].id);
        assert!(c[1].id.starts_with("path_other.csv-"), "{}", c[1].id);
        // The label (status, sweep.json) keeps the whole path.
        assert_eq!(c[0].label, "path=../data/sets/iris.csv");
        // The hash, not the shortened name, tells two files of the same name apart.
        let mut s = spec(&["task.kind=csv", "task.problem=classification"]);
        s.add_arg("task.path=a/iris.csv,b/iris.csv").unwrap();
        let c = cells(&s).unwrap();
        assert_eq!(c[0].experiment.name, c[1].experiment.name);
        assert_ne!(c[0].id, c[1].id);
        assert_eq!(c[0].id, cell_id(&c[0].hash, "path=iris.csv"));
    }
}
