//! Safetensors checkpoints with the [`ModelSpec`] as JSON in the header metadata.
//!
//! candle's own `safetensors::save` cannot write metadata, and the `safetensors` crate that
//! candle links (0.8) differs from the workspace's pinned 0.4, so the (simple) format is written
//! here directly: an 8-byte little-endian header length, a JSON header
//! `{name: {dtype, shape, data_offsets}, "__metadata__": {...}}` padded with spaces to a multiple
//! of 8 bytes, then the raw little-endian tensor bytes. Reading goes through candle's loader,
//! which validates the file.

use crate::error::{Error, Result};
use crate::model::{Model, Params};
use crate::spec::ModelSpec;
use candle_core::{DType, Device, Tensor};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::Path;

/// Metadata key holding the spec JSON.
pub const SPEC_KEY: &str = "moescope.model_spec";
/// Metadata key holding the format tag.
const FORMAT_KEY: &str = "moescope.format";
const FORMAT: &str = "moescope-model/1";

fn ckpt_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Little-endian bytes and the safetensors dtype name of a tensor (f32 or f64).
fn tensor_bytes(t: &Tensor) -> Result<(&'static str, Vec<u8>)> {
    let flat = t.flatten_all()?;
    Ok(match t.dtype() {
        DType::F64 => (
            "F64",
            flat.to_vec1::<f64>()?.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        _ => (
            "F32",
            flat.to_dtype(DType::F32)?
                .to_vec1::<f32>()?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
    })
}

impl Model {
    /// Writes the parameters (in their dtype) and the spec to a safetensors file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let spec_json = serde_json::to_string(self.spec()).map_err(|e| ckpt_err(path, e.to_string()))?;
        let mut header = Map::new();
        header.insert(
            "__metadata__".into(),
            json!({ SPEC_KEY: spec_json, FORMAT_KEY: FORMAT }),
        );
        let mut data = Vec::new();
        for (name, t) in self.params().named() {
            let (dtype, bytes) = tensor_bytes(t)?;
            let start = data.len();
            data.extend_from_slice(&bytes);
            header.insert(
                name.into(),
                json!({ "dtype": dtype, "shape": t.dims(), "data_offsets": [start, data.len()] }),
            );
        }
        let mut head = serde_json::to_vec(&Value::Object(header)).map_err(|e| ckpt_err(path, e.to_string()))?;
        head.resize(head.len().div_ceil(8) * 8, b' ');
        let mut file = Vec::with_capacity(8 + head.len() + data.len());
        file.extend_from_slice(&(head.len() as u64).to_le_bytes());
        file.extend_from_slice(&head);
        file.extend_from_slice(&data);
        std::fs::write(path, file).map_err(|e| ckpt_err(path, format!("cannot write: {e}")))
    }

    /// Reads a file written by [`Model::save`]: the spec from the metadata, the parameters in
    /// the dtype they were saved in, on `device`.
    pub fn load(path: &Path, device: &Device) -> Result<Model> {
        let bytes = std::fs::read(path).map_err(|e| ckpt_err(path, format!("cannot read: {e}")))?;
        let spec = read_spec(path, &bytes)?;
        let mut tensors = candle_core::safetensors::load_buffer(&bytes, device)
            .map_err(|e| ckpt_err(path, format!("not a valid safetensors file: {e}")))?;
        let mut take = |name: &str| tensors.remove(name);
        let required =
            |t: Option<Tensor>, name: &str| t.ok_or_else(|| ckpt_err(path, format!("missing tensor `{name}`")));
        let params = Params {
            w0: take("encoder.weight"),
            b0: take("encoder.bias"),
            w1: required(take("ffn.w1"), "ffn.w1")?,
            b1: required(take("ffn.b1"), "ffn.b1")?,
            w2: required(take("ffn.w2"), "ffn.w2")?,
            b2: required(take("ffn.b2"), "ffn.b2")?,
            wr: take("router.weight"),
            br: take("router.bias"),
            wout: required(take("readout.weight"), "readout.weight")?,
            bout: required(take("readout.bias"), "readout.bias")?,
        };
        if let Some(extra) = tensors.keys().next() {
            return Err(ckpt_err(path, format!("unexpected tensor `{extra}`")));
        }
        Model::from_params(spec, params)
    }
}

/// The spec stored in a checkpoint's header metadata.
fn read_spec(path: &Path, bytes: &[u8]) -> Result<ModelSpec> {
    let len = bytes
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| ckpt_err(path, "shorter than the 8-byte header length"))?;
    let head = usize::try_from(len)
        .ok()
        .and_then(|len| bytes.get(8..8usize.checked_add(len)?))
        .ok_or_else(|| ckpt_err(path, format!("header length {len} exceeds the file")))?;
    let header: HashMap<String, Value> =
        serde_json::from_slice(head).map_err(|e| ckpt_err(path, format!("bad JSON header: {e}")))?;
    let spec = header
        .get("__metadata__")
        .and_then(|m| m.get(SPEC_KEY))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ckpt_err(
                path,
                format!("no `{SPEC_KEY}` in the header metadata (not a moescope checkpoint)"),
            )
        })?;
    serde_json::from_str(spec).map_err(|e| ckpt_err(path, format!("bad model spec in metadata: {e}")))
}
