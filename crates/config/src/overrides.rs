//! `key.path=value` overrides, applied to the YAML tree before it is typed, so that they go
//! through exactly the same parsing and validation as the file.

use crate::{Error, Result};
use serde_yaml::{Mapping, Value};

/// Sets each `key.path=value` in `tree`. The value is read as YAML (`3`, `0.5`, `true`, `[1,2]`,
/// `gelu`). Intermediate mappings are created as needed; unknown keys are caught later by the
/// typed parse, with their full path.
pub fn apply(tree: &mut Value, overrides: &[String]) -> Result<()> {
    for arg in overrides {
        let (path, raw) = arg.split_once('=').ok_or_else(|| Error::Override {
            arg: arg.clone(),
            message: "expected key.path=value".into(),
        })?;
        let keys: Vec<&str> = path.trim().split('.').collect();
        if keys.iter().any(|k| k.is_empty()) {
            return Err(Error::Override {
                arg: arg.clone(),
                message: "empty key in path".into(),
            });
        }
        let value: Value = serde_yaml::from_str(raw).map_err(|e| Error::Override {
            arg: arg.clone(),
            message: format!("value is not valid YAML: {e}"),
        })?;
        set(tree, &keys, value).map_err(|message| Error::Override {
            arg: arg.clone(),
            message,
        })?;
    }
    Ok(())
}

/// Sets one `key.path` to an already parsed value.
pub(crate) fn set_value(tree: &mut Value, path: &str, value: Value) -> Result<()> {
    let keys: Vec<&str> = path.trim().split('.').collect();
    if keys.iter().any(|k| k.is_empty()) {
        return Err(Error::Override {
            arg: path.to_string(),
            message: "empty key in path".into(),
        });
    }
    set(tree, &keys, value).map_err(|message| Error::Override {
        arg: path.to_string(),
        message,
    })
}

fn set(tree: &mut Value, keys: &[&str], value: Value) -> std::result::Result<(), String> {
    let (first, rest) = keys.split_first().expect("non-empty path");
    if tree.is_null() {
        *tree = Value::Mapping(Mapping::new());
    }
    let map = tree
        .as_mapping_mut()
        .ok_or_else(|| format!("`{first}` is inside a value that is not a mapping"))?;
    let key = Value::String((*first).to_string());
    if rest.is_empty() {
        map.insert(key, value);
        return Ok(());
    }
    let child = map.entry(key).or_insert(Value::Null);
    set(child, rest, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_nested_and_creates_missing() {
        let mut v: Value = serde_yaml::from_str("a: {b: 1}\nc: 2").unwrap();
        apply(&mut v, &["a.b=5".into(), "d.e=[1, 2]".into(), "c=x".into()]).unwrap();
        assert_eq!(v["a"]["b"], Value::from(5));
        assert_eq!(v["d"]["e"][1], Value::from(2));
        assert_eq!(v["c"], Value::from("x"));
    }

    #[test]
    fn rejects_missing_equals_and_scalar_parent() {
        let mut v: Value = serde_yaml::from_str("a: 1").unwrap();
        assert!(apply(&mut v, &["a".into()]).is_err());
        let err = apply(&mut v, &["a.b=2".into()]).unwrap_err().to_string();
        assert!(err.contains("not a mapping"), "{err}");
    }
}
