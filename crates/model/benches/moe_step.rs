//! MoE forward and forward + backward on one training batch (B = 256, f32) at the paper config's
//! sizes: d_in = 16, d = 32, E = 8 experts of m = 32 (dense: H = 256), GELU, encoder + residual.

use candle_core::{DType, Device, Tensor};
use criterion::{black_box, criterion_group, Criterion};
use moescope_config::{Activation, Routing};
use moescope_model::train::objective;
use moescope_model::{Model, ModelSpec, TargetTensor, TrainOptions};

const BATCH: usize = 256;

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
        router_init_std: 0.01,
    }
}

fn options() -> TrainOptions {
    TrainOptions {
        steps: 1,
        batch: BATCH,
        lr: 1e-3,
        betas: (0.9, 0.999),
        eps: 1e-8,
        weight_decay: 0.0,
        cosine_decay: false,
        load_balance: 0.01,
        balance_soft: false,
        z_loss: 0.0,
        eval_every: 1,
        patience: 0,
    }
}

fn bench_step(c: &mut Criterion) {
    let dev = Device::Cpu;
    let x = Tensor::randn(0.0f32, 1.0, (BATCH, 16), &dev).expect("inputs");
    let y = TargetTensor::Regression(Tensor::randn(0.0f32, 1.0, (BATCH, 1), &dev).expect("targets"));
    let opts = options();
    for (name, routing) in [
        ("dense", Routing::Dense),
        ("top2", Routing::TopK { k: 2 }),
        ("soft", Routing::Soft),
    ] {
        let mut model = Model::new(spec(routing), 0, &dev).expect("model");
        model.trainable_vars().expect("vars");
        assert_eq!(model.dtype(), DType::F32);
        c.bench_function(&format!("forward {name} B=256"), |b| {
            b.iter(|| black_box(objective(&model, black_box(&x), &y, &opts).expect("forward")))
        });
        c.bench_function(&format!("forward+backward {name} B=256"), |b| {
            b.iter(|| {
                let (total, _) = objective(&model, black_box(&x), &y, &opts).expect("forward");
                black_box(total.backward().expect("backward"))
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench_step
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
