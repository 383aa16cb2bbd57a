//! Typed experiment configuration for moescope.
//!
//! A YAML file is read into [`RawConfig`] (serde, unknown keys rejected), command-line
//! `key.path=value` overrides are applied to the YAML tree first, and [`resolve`] validates it
//! into an [`Experiment`], the only config type the rest of the engine sees. Every error names
//! the file, the key path and what was expected.
//!
//! ```
//! let yaml = "name: demo\nseeds: 2\ntask: {kind: t2_teacher}\nmodel: {experts: 4}\narchitectures: [dense, top2, soft]\n";
//! let exp = moescope_config::from_str(yaml, "demo.yaml", &["model.d=16".to_string()]).unwrap();
//! assert_eq!(exp.seeds, vec![0, 1]);
//! assert_eq!(exp.architectures[1].hidden, 256 / 4); // parameter-matched: m = H / E
//! ```
#![deny(missing_docs)]

mod error;
mod experiment;
mod kinds;
mod overrides;
mod raw;
mod resolve;
mod seed;

pub use error::{Error, Result};
pub use experiment::{Architecture, CsvTask, Experiment, IdxTask, ModelShape, SplitSizes, SyntheticTask, TaskSpec};
pub use kinds::{
    Activation, AvgWeight, Capacity, DeviceSpec, GroupOrder, JacobianPath, Precision, Problem, Routing, SpectraOn,
    TaskKind, WeightMode,
};
pub use raw::{
    OutputConfig, ProbeConfig, RawConfig, RawModel, RawTask, RobustnessConfig, Seeds, StatsConfig, TrainConfig,
};
pub use resolve::{parse_device, resolve};
pub use seed::derive_seed;

use std::path::Path;

/// Reads `path`, applies `overrides` and validates.
pub fn load(path: &Path, overrides: &[String]) -> Result<Experiment> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    from_str(&text, &path.display().to_string(), overrides)
}

/// Parses YAML text (named `file` in errors), applies `overrides` and validates.
pub fn from_str(text: &str, file: &str, overrides: &[String]) -> Result<Experiment> {
    let tree = parse_tree(text, file)?;
    from_tree(tree, file, overrides)
}

/// Parses YAML text (named `file` in errors) into an untyped tree, for callers that edit it
/// (sweeps) before [`from_tree`].
pub fn parse_tree(text: &str, file: &str) -> Result<serde_yaml::Value> {
    serde_yaml::from_str(text).map_err(|e| Error::Parse {
        file: file.to_string(),
        key: "<document>".into(),
        message: e.to_string(),
    })
}

/// Sets `key.path` to `value` in an untyped tree, creating intermediate mappings (the same
/// rule as a command-line override).
pub fn set_key(tree: &mut serde_yaml::Value, key: &str, value: serde_yaml::Value) -> Result<()> {
    overrides::set_value(tree, key, value)
}

/// Applies `overrides` to an untyped tree (named `file` in errors) and validates it.
pub fn from_tree(mut tree: serde_yaml::Value, file: &str, overrides: &[String]) -> Result<Experiment> {
    overrides::apply(&mut tree, overrides)?;
    // A value may come from the command line rather than the file: say so in every message.
    let label = if overrides.is_empty() {
        file.to_string()
    } else {
        format!("{file} (with command-line overrides)")
    };
    let file = label.as_str();
    let raw: RawConfig = serde_path_to_error::deserialize(tree).map_err(|e| parse_error(file, &e))?;
    resolve(raw, file)
}

/// A typed-parse failure in plain words: the key path (`<document>` for the top level), serde's
/// message without serde_yaml's jargon, and a hint when a sweep file is run as an experiment.
fn parse_error(file: &str, e: &serde_path_to_error::Error<serde_yaml::Error>) -> Error {
    let key = match e.path().to_string() {
        k if k == "." => "<document>".to_string(),
        k => k,
    };
    // serde_yaml's wording for a non-string where a named option belongs is its own jargon.
    let mut message = e.inner().to_string().replace(
        "expected a Value::Tagged enum",
        "expected one of the option's names (a string)",
    );
    if key == "sweep" && message.starts_with("unknown field `sweep`") {
        message.push_str("; this is a sweep file: use `moescope sweep run FILE`");
    }
    Error::Parse {
        file: file.to_string(),
        key,
        message,
    }
}
