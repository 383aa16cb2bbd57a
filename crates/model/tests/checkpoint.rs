//! Checkpoint round trips: same forward, spec read back from the file's metadata.

mod common;

use candle_core::{DType, Device};
use common::*;
use moescope_config::{Activation, Routing};
use moescope_model::{Error, Model, SPEC_KEY};

#[test]
fn save_load_round_trip_keeps_spec_and_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let x = randn(3, 9, 3);
    for (i, (routing, e)) in [(Routing::Dense, 1), (Routing::TopK { k: 2 }, 4), (Routing::Soft, 3)]
        .into_iter()
        .enumerate()
    {
        let mut s = spec(routing, e, Activation::Relu);
        s.temperature = 0.5;
        s.topk_renorm = i % 2 == 0;
        let model = Model::new(s.clone(), 2, &Device::Cpu).unwrap();
        for m in [model.clone(), model.to_dtype(DType::F64).unwrap()] {
            let path = dir.path().join(format!("m{i}-{:?}.safetensors", m.dtype()));
            m.save(&path).unwrap();
            let back = Model::load(&path, &Device::Cpu).unwrap();
            assert_eq!(back.spec(), &s);
            assert_eq!(back.dtype(), m.dtype());
            assert_eq!(vec(&back.forward(&x).unwrap().y), vec(&m.forward(&x).unwrap().y));
            // The file is plain safetensors: candle's loader reads the same tensors.
            let raw = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
            assert_eq!(raw.len(), m.params().named().len());
            assert_eq!(raw["ffn.w1"].dims(), &[e, 5, 4]);
            let head = std::fs::read(&path).unwrap();
            assert!(String::from_utf8_lossy(&head).contains(SPEC_KEY));
        }
    }
}

#[test]
fn files_without_a_spec_are_checkpoint_errors() {
    let dir = tempfile::tempdir().unwrap();
    let model = Model::new(spec(Routing::Soft, 2, Activation::Gelu), 0, &Device::Cpu).unwrap();
    let map: std::collections::HashMap<&str, candle_core::Tensor> = model
        .params()
        .named()
        .into_iter()
        .map(|(n, t)| (n, t.clone()))
        .collect();
    let path = dir.path().join("plain.safetensors");
    candle_core::safetensors::save(&map, &path).unwrap();
    assert!(matches!(
        Model::load(&path, &Device::Cpu),
        Err(Error::Checkpoint { .. })
    ));
    let missing = dir.path().join("missing.safetensors");
    assert!(matches!(
        Model::load(&missing, &Device::Cpu),
        Err(Error::Checkpoint { .. })
    ));
    std::fs::write(&path, b"abc").unwrap();
    assert!(matches!(
        Model::load(&path, &Device::Cpu),
        Err(Error::Checkpoint { .. })
    ));
}
