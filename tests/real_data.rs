//! The main job on real data sets from `../shared/data` (MNIST IDX and California housing CSV),
//! at a small size, through the shipped example configs.

mod common;
use common::*;

fn run_config(config: &str, overrides: &[String]) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut args = vec![
        "run".to_string(),
        config.into(),
        "--out".into(),
        dir.display().to_string(),
    ];
    // Small sizes: the point is the data path, not the science.
    for o in [
        "seeds=2",
        "model.d=8",
        "model.dense_hidden=16",
        "model.experts=4",
        "train.steps=40",
        "train.batch=64",
        "probe.subspace_rank=2",
        "stats.bootstrap=100",
    ] {
        args.push(o.into());
    }
    args.extend_from_slice(overrides);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = moescope(&refs);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    (tmp, dir)
}

#[test]
fn mnist_idx_runs_end_to_end() {
    let images = shared_data("mnist/t10k-images-idx3-ubyte.gz");
    let labels = shared_data("mnist/t10k-labels-idx1-ubyte.gz");
    let o = vec![
        format!("task.images={}", images.display()),
        format!("task.labels={}", labels.display()),
        "task.n_train=600".into(),
        "task.n_val=100".into(),
        "task.n_probe=60".into(),
    ];
    let (_tmp, dir) = run_config("configs/mnist.yaml", &o);
    // 10 classes read from the labels file; the end-to-end Jacobian is 10 × 784.
    let (shape, _) = read_npy(&dir.join("spectra/soft_s0_jac_full_sv.npy"));
    assert_eq!(shape, vec![60, 8]);
    let loss = metric(&dir, "dense", 0, "fit.val_loss").unwrap();
    assert!(loss.is_finite() && loss < (10f64).ln() * 1.5, "cross-entropy {loss}");
    assert!(metric(&dir, "top2", 1, "jac_model.sigma1").unwrap() > 0.0);
}

#[test]
fn california_housing_csv_runs_end_to_end() {
    let path = shared_data("california_housing/cal_housing.data");
    let o = vec![
        format!("task.path={}", path.display()),
        "task.n_train=800".into(),
        "task.n_val=200".into(),
        "task.n_probe=64".into(),
    ];
    let (_tmp, dir) = run_config("configs/california_housing.yaml", &o);
    let loss = metric(&dir, "soft", 1, "fit.val_loss").unwrap();
    // Targets are standardised, so predicting the mean scores about 1.
    assert!(loss.is_finite() && loss < 1.5, "MSE {loss}");
    assert!(std::fs::read_to_string(dir.join("summary.md"))
        .unwrap()
        .contains("## Table 2"));
}
