//! The sweep spec: a base experiment, fixed settings, and axes (a grid, plus zipped groups that
//! move together), from a YAML file and/or command-line `key=v1,v2` arguments.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};
use std::path::Path;

/// Short names for the keys swept most often on the command line (`experts=2,4,8`).
const ALIASES: [(&str, &str); 8] = [
    ("experts", "model.experts"),
    ("temperature", "model.temperature"),
    ("capacity", "model.capacity"),
    ("task", "task.kind"),
    ("clusters", "task.clusters"),
    ("lr", "train.lr"),
    ("steps", "train.steps"),
    ("routing", "architectures"),
];

/// Keys that cannot be axes: whole sections (use a key inside) and the sweep tables' columns.
const RESERVED: [&str; 13] = [
    "model", "task", "train", "probe", "stats", "output", "seed", "expert", "metric", "value", "cell", "state",
    "verdict",
];

/// A sweep file as written (`sweep:` at the top level).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    sweep: RawSweep,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawSweep {
    /// Sweep name (folder prefix).
    name: Option<String>,
    /// Base experiment config, relative to the sweep file.
    base: String,
    /// `key.path: value` applied to every cell.
    #[serde(default)]
    set: Mapping,
    /// `key.path: [values]`, crossed in order (the first key varies slowest).
    #[serde(default)]
    grid: Mapping,
    /// Groups of `key.path: [values]` of equal length that move together; each group is one axis.
    #[serde(default)]
    zip: Vec<Mapping>,
}

/// One axis: one key (grid) or several keys moving together (zip), with its points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    /// The config keys this axis sets.
    pub keys: Vec<String>,
    /// Points: one value per key.
    pub points: Vec<Vec<Value>>,
}

/// A sweep, fully materialised: the base config tree (file contents, not a path, so the sweep
/// folder is self-contained), fixed settings and axes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepSpec {
    /// Sweep name.
    pub name: String,
    /// Where the base config came from (for the record).
    pub base_file: String,
    /// The base experiment config as a YAML tree.
    pub base: Value,
    /// Fixed `key.path` settings, in order.
    pub set: Vec<(String, Value)>,
    /// Axes, in order; cells are their cartesian product.
    pub axes: Vec<Axis>,
    /// The folder the sweep was created from: relative data paths in the config are relative
    /// to it, so every worker (and Slurm task) runs there.
    #[serde(default)]
    pub working_dir: String,
}

impl SweepSpec {
    /// Reads `path`: a sweep file (top-level `sweep:`) or a plain experiment config (no axes
    /// yet), then adds command-line `args` (`key=value` sets, `key=v1,v2,…` grid axes).
    pub fn load(path: &Path, args: &[String]) -> Result<SweepSpec> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(crate::error::io_err(path))?;
        let tree = moescope_config::parse_tree(&text, &file)?;
        let mut spec = if tree.get("sweep").is_some() {
            from_sweep_file(tree, path)?
        } else {
            let name = tree.get("name").and_then(Value::as_str).unwrap_or("sweep").to_string();
            SweepSpec {
                name,
                base_file: file,
                base: tree,
                set: Vec::new(),
                axes: Vec::new(),
                working_dir: String::new(),
            }
        };
        spec.working_dir = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        for arg in args {
            spec.add_arg(arg)?;
        }
        Ok(spec)
    }

    /// Adds one command-line argument: `key=value` sets, `key=v1,v2,…` adds a grid axis
    /// (commas inside `[]` or `{}` do not split: `routing=[dense,top1],[dense,soft]`).
    pub fn add_arg(&mut self, arg: &str) -> Result<()> {
        let bad = |message: &str| Error::Spec {
            file: "command line".into(),
            key: arg.to_string(),
            message: message.to_string(),
        };
        let (key, raw) = arg
            .split_once('=')
            .ok_or_else(|| bad("expected key=value or key=v1,v2,…"))?;
        let key = resolve_alias(key.trim());
        if key.is_empty() {
            return Err(bad("empty key"));
        }
        let mut values = Vec::new();
        for piece in split_top_level(raw) {
            let v: Value = serde_yaml::from_str(piece).map_err(|e| bad(&format!("`{piece}` is not YAML: {e}")))?;
            values.push(v);
        }
        let swept = self.axes.iter().position(|a| a.keys.contains(&key));
        match (values.len(), swept) {
            (1, Some(i)) => Err(bad(&format!(
                "axis {} already sweeps `{key}`; give several values to replace that axis, or drop it from the sweep file",
                i + 1
            ))),
            (1, None) => {
                self.set.retain(|(k, _)| k != &key);
                self.set.push((key, values.remove(0)));
                Ok(())
            }
            (_, Some(i)) if self.axes[i].keys.len() > 1 => Err(bad(&format!(
                "`{key}` moves with {:?} in a zipped axis of the sweep file; change it there",
                self.axes[i].keys
            ))),
            (_, _) => {
                // A command-line axis replaces a grid axis on the same key.
                self.axes.retain(|a| a.keys != [key.clone()]);
                self.set.retain(|(k, _)| k != &key);
                self.axes.push(Axis {
                    keys: vec![key],
                    points: values.into_iter().map(|v| vec![v]).collect(),
                });
                Ok(())
            }
        }
    }

    /// Checks that no key is set or swept twice (also as a parent and a child, like `model` and
    /// `model.experts`), and that no axis is named like a column of the sweep tables.
    pub fn validate(&self) -> Result<()> {
        let mut keys: Vec<(&str, &str)> = self.set.iter().map(|(k, _)| (k.as_str(), "set")).collect();
        keys.extend(
            self.axes
                .iter()
                .flat_map(|a| a.keys.iter().map(|k| (k.as_str(), "an axis"))),
        );
        for (i, (a, wa)) in keys.iter().enumerate() {
            if RESERVED.contains(a) {
                return Err(self.spec_err(
                    a,
                    format!("`{a}` names a whole section or a table column; sweep a key inside it, e.g. `{a}.<key>`"),
                ));
            }
            for (b, wb) in &keys[i + 1..] {
                let nested = |x: &str, y: &str| y.strip_prefix(x).is_some_and(|r| r.starts_with('.'));
                if a == b || nested(a, b) || nested(b, a) {
                    return Err(self.spec_err(
                        b,
                        format!("`{b}` ({wb}) overlaps `{a}` ({wa}); a key may be set or swept once"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn spec_err(&self, key: &str, message: String) -> Error {
        Error::Spec {
            file: self.base_file.clone(),
            key: key.to_string(),
            message,
        }
    }

    /// Number of cells (the product of the axis lengths; 1 with no axes).
    pub fn len(&self) -> usize {
        self.axes.iter().map(|a| a.points.len()).product()
    }

    /// Whether the sweep has no cells (an axis with no points).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The assignments of every cell, in order (the first axis varies slowest).
    pub fn assignments(&self) -> Vec<Vec<(String, Value)>> {
        let mut out: Vec<Vec<(String, Value)>> = vec![Vec::new()];
        for axis in &self.axes {
            out = out
                .into_iter()
                .flat_map(|prefix| {
                    axis.points.iter().map(move |point| {
                        let mut a = prefix.clone();
                        a.extend(axis.keys.iter().cloned().zip(point.iter().cloned()));
                        a
                    })
                })
                .collect();
        }
        out
    }
}

fn from_sweep_file(tree: Value, path: &Path) -> Result<SweepSpec> {
    let file = path.display().to_string();
    let parsed: SweepFile = serde_path_to_error::deserialize(tree).map_err(|e| {
        let key = e.path().to_string();
        let mut message = e
            .inner()
            .to_string()
            .replace("struct RawSweep", "a mapping (name, base, set, grid, zip)");
        if key == "sweep.zip" {
            message.push_str("; `zip` is a list of groups, e.g. `zip: [{task.kind: [a, b], task.clusters: [4, 0]}]`");
        }
        Error::Spec {
            file: file.clone(),
            key,
            message,
        }
    })?;
    let raw = parsed.sweep;
    let base_path = path.parent().unwrap_or(Path::new(".")).join(&raw.base);
    let text = std::fs::read_to_string(&base_path).map_err(|e| Error::Spec {
        file: file.clone(),
        key: "sweep.base".into(),
        message: format!("cannot read {}: {e}", base_path.display()),
    })?;
    let base = moescope_config::parse_tree(&text, &base_path.display().to_string())?;
    let name = raw
        .name
        .or_else(|| base.get("name").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| "sweep".into());
    let set = keyed(&raw.set, &file, "sweep.set")?;
    let mut axes = Vec::new();
    for (key, values) in keyed(&raw.grid, &file, "sweep.grid")? {
        let points = list(&values, &file, &format!("sweep.grid.{key}"))?;
        axes.push(Axis {
            keys: vec![key],
            points: points.into_iter().map(|v| vec![v]).collect(),
        });
    }
    for (i, group) in raw.zip.iter().enumerate() {
        axes.push(zip_axis(group, &file, i)?);
    }
    Ok(SweepSpec {
        name,
        base_file: format!("{file} (base {})", base_path.display()),
        base,
        set,
        axes,
        working_dir: String::new(),
    })
}

fn zip_axis(group: &Mapping, file: &str, i: usize) -> Result<Axis> {
    let mut keys = Vec::new();
    let mut columns = Vec::new();
    for (key, values) in keyed(group, file, &format!("sweep.zip[{i}]"))? {
        columns.push(list(&values, file, &format!("sweep.zip[{i}].{key}"))?);
        keys.push(key);
    }
    let len = columns.first().map_or(0, Vec::len);
    if let Some(k) = columns.iter().position(|c| c.len() != len) {
        return Err(Error::Spec {
            file: file.to_string(),
            key: format!("sweep.zip[{i}].{}", keys[k]),
            message: format!(
                "has {} values; zipped keys need equal lengths ({len})",
                columns[k].len()
            ),
        });
    }
    let points = (0..len)
        .map(|p| columns.iter().map(|c| c[p].clone()).collect())
        .collect();
    Ok(Axis { keys, points })
}

/// A mapping's entries as (resolved key, value), rejecting non-string keys.
fn keyed(map: &Mapping, file: &str, at: &str) -> Result<Vec<(String, Value)>> {
    map.iter()
        .map(|(k, v)| match k.as_str() {
            Some(k) if !k.trim().is_empty() => Ok((resolve_alias(k.trim()), v.clone())),
            _ => Err(Error::Spec {
                file: file.to_string(),
                key: at.to_string(),
                message: format!("keys must be config key paths such as `model.experts`, got {k:?}"),
            }),
        })
        .collect()
}

fn list(values: &Value, file: &str, at: &str) -> Result<Vec<Value>> {
    match values.as_sequence() {
        Some(s) if !s.is_empty() => Ok(s.clone()),
        _ => Err(Error::Spec {
            file: file.to_string(),
            key: at.to_string(),
            message: "expected a non-empty list of values".into(),
        }),
    }
}

fn resolve_alias(key: &str) -> String {
    ALIASES
        .iter()
        .find(|(short, _)| *short == key)
        .map_or(key, |(_, long)| long)
        .to_string()
}

/// Splits at commas that are not inside brackets, braces or quotes.
fn split_top_level(s: &str) -> Vec<&str> {
    let (mut depth, mut quote, mut start) = (0i32, None, 0);
    let mut out = Vec::new();
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth -= 1,
            (None, ',') if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SweepSpec {
        SweepSpec {
            name: "t".into(),
            base_file: "b.yaml".into(),
            base: Value::Null,
            set: Vec::new(),
            axes: Vec::new(),
            working_dir: String::new(),
        }
    }

    #[test]
    fn command_line_axes_and_sets() {
        let mut s = spec();
        s.add_arg("experts=2,4,8").unwrap();
        s.add_arg("routing=[dense,top1],[dense, soft]").unwrap();
        s.add_arg("train.lr=0.01").unwrap();
        assert_eq!(s.axes[0].keys, ["model.experts"]);
        assert_eq!(s.axes[1].points.len(), 2);
        assert_eq!(
            s.axes[1].points[1][0],
            serde_yaml::from_str::<Value>("[dense, soft]").unwrap()
        );
        assert_eq!(s.set, vec![("train.lr".to_string(), Value::from(0.01))]);
        // 3 × 2 cells, first axis slowest.
        let a = s.assignments();
        assert_eq!(a.len(), 6);
        assert_eq!(a[1][0].1, Value::from(2));
        assert_eq!(a[2][0].1, Value::from(4));
        assert!(s.add_arg("experts").is_err());
        assert!(s.add_arg("x=[1,").is_err());
    }

    #[test]
    fn a_key_is_set_or_swept_once() {
        let mut s = spec();
        s.add_arg("experts=2,4").unwrap();
        let e = s.add_arg("experts=8").unwrap_err().to_string();
        assert!(e.contains("already sweeps `model.experts`"), "{e}");
        // Several values replace the axis.
        s.add_arg("experts=8,16").unwrap();
        assert_eq!(s.axes.len(), 1);
        assert_eq!(s.axes[0].points, vec![vec![Value::from(8)], vec![Value::from(16)]]);
        s.add_arg("model={experts: 2}").unwrap();
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("`model` names a whole section"), "{e}");
        let mut s = spec();
        s.add_arg("model.d=8").unwrap();
        s.add_arg("model.d.x=1,2").unwrap();
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("overlaps `model.d`"), "{e}");
    }

    #[test]
    fn split_respects_brackets_and_quotes() {
        assert_eq!(
            split_top_level("1, [a,b], {x: 1, y: 2}, 'c,d'"),
            ["1", "[a,b]", "{x: 1, y: 2}", "'c,d'"]
        );
        assert_eq!(split_top_level("5"), ["5"]);
    }

    #[test]
    fn sweep_file_grid_and_zip() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("base.yaml"), "name: b\nseeds: 2\n").unwrap();
        let f = dir.path().join("s.yaml");
        std::fs::write(
            &f,
            "sweep:\n  base: base.yaml\n  set: {seeds: 1}\n  grid: {experts: [2, 4]}\n  zip:\n    - {task.kind: [t1_regimes, t2_teacher, t3_regression], clusters: [4, 0, 0]}\n",
        )
        .unwrap();
        let s = SweepSpec::load(&f, &[]).unwrap();
        assert_eq!(s.name, "b");
        assert_eq!(s.len(), 6);
        assert_eq!(s.axes[1].keys, ["task.kind", "task.clusters"]);
        let a = s.assignments();
        // zipped keys move together
        assert_eq!(a[4][1], ("task.kind".to_string(), Value::from("t2_teacher")));
        assert_eq!(a[4][2], ("task.clusters".to_string(), Value::from(0)));
        assert_eq!(a[4][0].1, Value::from(4));

        std::fs::write(&f, "sweep:\n  base: base.yaml\n  zip:\n    - {a: [1, 2], b: [1]}\n").unwrap();
        let e = SweepSpec::load(&f, &[]).unwrap_err().to_string();
        assert!(e.contains("sweep.zip[0].b") && e.contains("equal lengths"), "{e}");
        std::fs::write(
            &f,
            "sweep:\n  base: base.yaml\n  grid: {experts: [2, 4]}\n  zip: [{experts: [2, 4], lr: [1, 2]}]\n",
        )
        .unwrap();
        let e = SweepSpec::load(&f, &[]).unwrap().validate().unwrap_err().to_string();
        assert!(
            e.contains("`model.experts` (an axis) overlaps `model.experts` (an axis)"),
            "{e}"
        );
        let e = SweepSpec::load(&f, &["lr=0.5".into()]).unwrap_err().to_string();
        assert!(e.contains("already sweeps `train.lr`"), "{e}");
        std::fs::write(&f, "sweep:\n  base: base.yaml\n  zip: {a: [1]}\n").unwrap();
        let e = SweepSpec::load(&f, &[]).unwrap_err().to_string();
        assert!(e.contains("sweep.zip") && e.contains("list of groups"), "{e}");
        std::fs::write(&f, "sweep:\n  base: base.yaml\n  grids: {a: [1]}\n").unwrap();
        let e = SweepSpec::load(&f, &[]).unwrap_err().to_string();
        assert!(e.contains("grids"), "{e}");
        std::fs::write(&f, "sweep:\n  base: missing.yaml\n").unwrap();
        let e = SweepSpec::load(&f, &[]).unwrap_err().to_string();
        assert!(e.contains("sweep.base") && e.contains("missing.yaml"), "{e}");
    }
}
