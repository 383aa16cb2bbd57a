//! The closed-form Jacobian probe (SPEC §4) on one 256-point f64 chunk at the paper config's
//! sizes: d_in = 16, d = 32, E = 8 experts of m = 32 (dense: H = 256), GELU, encoder + residual.

use candle_core::{DType, Device, Tensor};
use criterion::{black_box, criterion_group, Criterion};
use moescope_config::{Activation, Routing};
use moescope_model::{Model, ModelSpec};
use moescope_probe::{layer_jacobians, model_jacobian};

const CHUNK: usize = 256;

fn spec(routing: Routing) -> ModelSpec {
    let (experts, hidden) = match routing {
        Routing::Dense => (1, 256),
        _ => (8, 32),
    };
    ModelSpec {
        routing,
        d_in: 16,
        d: 32,
        d_out: 1,
        experts,
        hidden,
        activation: Activation::Gelu,
        encoder: true,
        residual: true,
        temperature: 1.0,
        topk_renorm: true,
        router_init_std: 0.5,
    }
}

fn bench_layer(c: &mut Criterion) {
    let dev = Device::Cpu;
    let x = Tensor::randn(0.0, 1.0, (CHUNK, 16), &dev)
        .and_then(|t| t.to_dtype(DType::F64))
        .expect("probe inputs");
    for (name, routing) in [
        ("dense", Routing::Dense),
        ("top2", Routing::TopK { k: 2 }),
        ("soft", Routing::Soft),
    ] {
        let model = Model::new(spec(routing), 0, &dev)
            .and_then(|m| m.to_dtype(DType::F64))
            .expect("model");
        let h = model.encode(&x).expect("encoder");
        c.bench_function(&format!("layer_jacobians {name} 256 pts"), |b| {
            b.iter(|| black_box(layer_jacobians(&model, black_box(&h)).expect("jacobians")))
        });
        c.bench_function(&format!("model_jacobian {name} 256 pts"), |b| {
            b.iter(|| black_box(model_jacobian(&model, black_box(&x)).expect("jacobian")))
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench_layer
}

fn main() {
    // As the CLI does (crates/cli/main.rs): candle's spinning thread pool and rayon with one
    // thread, since moescope runs one job per core; must happen before the first candle call.
    for var in ["CANDLE_NUM_THREADS", "RAYON_NUM_THREADS"] {
        if std::env::var_os(var).is_none() {
            std::env::set_var(var, "1");
        }
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
