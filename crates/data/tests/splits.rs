//! Determinism, disjointness and train-statistics standardisation of the splits.

use moescope_config::{CsvTask, Problem, SplitSizes, SyntheticTask, TaskKind, TaskSpec};
use moescope_data::{build, Dataset, Targets};
use std::path::Path;

fn t1(sizes: SplitSizes) -> SyntheticTask {
    SyntheticTask {
        kind: TaskKind::T1Regimes,
        d_in: 5,
        d_out: 2,
        clusters: 4,
        separation: 3.0,
        noise: 0.01,
        soft_targets: false,
        teacher_hidden: 16,
        manifold_dim: 2,
        sizes,
    }
}

fn bits(ds: &Dataset) -> (Vec<u32>, Vec<u32>) {
    let y = match &ds.targets {
        Targets::Regression { values, .. } => values.iter().map(|v| v.to_bits()).collect(),
        Targets::Classes { labels, .. } => labels.clone(),
    };
    (ds.x.iter().map(|v| v.to_bits()).collect(), y)
}

#[test]
fn synthetic_is_bit_identical_per_seed_and_differs_across_seeds() {
    let sizes = SplitSizes {
        train: 300,
        val: 50,
        probe: 70,
    };
    for kind in [
        TaskKind::T1Regimes,
        TaskKind::T2Teacher,
        TaskKind::T3Manifold,
        TaskKind::T4Clusters,
    ] {
        let mut t = t1(sizes);
        t.kind = kind;
        if kind == TaskKind::T4Clusters {
            t.d_out = t.clusters;
        }
        let task = TaskSpec::Synthetic(t);
        let (a, b, c) = (
            build(&task, 7).unwrap(),
            build(&task, 7).unwrap(),
            build(&task, 8).unwrap(),
        );
        for (x, y) in [(&a.train, &b.train), (&a.val, &b.val), (&a.probe, &b.probe)] {
            assert_eq!(bits(x), bits(y), "{kind:?}");
        }
        assert_eq!(a.cluster_of_probe, b.cluster_of_probe);
        assert_ne!(a.train.x, c.train.x, "{kind:?}: seeds 7 and 8 gave the same inputs");
        assert_ne!(a.probe.x, c.probe.x, "{kind:?}");
        assert_eq!((a.train.n, a.val.n, a.probe.n), (300, 50, 70));
        assert_eq!(a.train.x.len(), 300 * 5);
    }
}

#[test]
fn synthetic_splits_are_disjoint_and_independent_of_other_sizes() {
    let s = build(
        &TaskSpec::Synthetic(t1(SplitSizes {
            train: 400,
            val: 100,
            probe: 100,
        })),
        0,
    )
    .unwrap();
    let rows = |d: &Dataset| {
        (0..d.n)
            .map(|i| d.row(i).iter().map(|v| v.to_bits()).collect())
            .collect::<Vec<Vec<u32>>>()
    };
    let (tr, va, pr) = (rows(&s.train), rows(&s.val), rows(&s.probe));
    assert!(pr.iter().all(|r| !tr.contains(r) && !va.contains(r)));
    assert!(va.iter().all(|r| !tr.contains(r)));
    // The probe set has its own stream: a bigger training set leaves it unchanged.
    let s2 = build(
        &TaskSpec::Synthetic(t1(SplitSizes {
            train: 900,
            val: 100,
            probe: 100,
        })),
        0,
    )
    .unwrap();
    assert_eq!(bits(&s.probe), bits(&s2.probe));
    assert_eq!(s.cluster_of_probe, s2.cluster_of_probe);
    assert_eq!(bits(&s.train), bits(&s2.train.select_prefix(400)));
}

trait Prefix {
    fn select_prefix(&self, n: usize) -> Dataset;
}
impl Prefix for Dataset {
    fn select_prefix(&self, n: usize) -> Dataset {
        let targets = match &self.targets {
            Targets::Regression { values, dim } => Targets::Regression {
                values: values[..n * dim].to_vec(),
                dim: *dim,
            },
            Targets::Classes { labels, classes } => Targets::Classes {
                labels: labels[..n].to_vec(),
                classes: *classes,
            },
        };
        Dataset {
            x: self.x[..n * self.d_in].to_vec(),
            n,
            d_in: self.d_in,
            targets,
        }
    }
}

/// 100 rows: id i, 2i + 5, the constant 7, and target i % 3 (class) or 3i (regression).
fn table(dir: &Path) -> std::path::PathBuf {
    let mut text = String::from("id,double,const,y\n");
    for i in 0..100 {
        text += &format!("{i},{},7,{}\n", 2 * i + 5, i % 3);
    }
    let p = dir.join("t.csv");
    std::fs::write(&p, text).unwrap();
    p
}

fn csv_task(path: &Path, standardize: bool, problem: Problem) -> TaskSpec {
    TaskSpec::Csv(CsvTask {
        path: path.to_path_buf(),
        header: None,
        label_column: 3,
        problem,
        sizes: SplitSizes {
            train: 60,
            val: 25,
            probe: 15,
        },
        standardize,
    })
}

#[test]
fn loaded_splits_are_disjoint_deterministic_and_shuffled() {
    let dir = tempfile::tempdir().unwrap();
    let path = table(dir.path());
    let task = csv_task(&path, false, Problem::Classification);
    let s = build(&task, 5).unwrap();
    let ids = |d: &Dataset| (0..d.n).map(|i| d.row(i)[0] as usize).collect::<Vec<_>>();
    let mut all: Vec<usize> = [ids(&s.train), ids(&s.val), ids(&s.probe)].concat();
    assert_ne!(ids(&s.train), (0..60).collect::<Vec<_>>(), "rows were not shuffled");
    all.sort_unstable();
    assert_eq!(all, (0..100).collect::<Vec<_>>(), "splits must partition the rows");
    // Rows stay intact: label = id % 3.
    let Targets::Classes { labels, classes: 3 } = &s.train.targets else {
        panic!()
    };
    assert!(ids(&s.train).iter().zip(labels).all(|(&i, &l)| l as usize == i % 3));
    assert_eq!(build(&task, 5).unwrap(), s);
    assert_ne!(ids(&build(&task, 6).unwrap().train), ids(&s.train));
}

#[test]
fn standardisation_uses_train_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let path = table(dir.path());
    for problem in [Problem::Classification, Problem::Regression] {
        let raw = build(&csv_task(&path, false, problem), 2).unwrap();
        let std = build(&csv_task(&path, true, problem), 2).unwrap();
        // Closed form: mean and population sd of the raw train columns, computed here.
        let d = 3;
        for j in 0..d {
            let col: Vec<f64> = (0..60).map(|i| f64::from(raw.train.x[i * d + j])).collect();
            let mean = col.iter().sum::<f64>() / 60.0;
            let sd = (col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 60.0).sqrt();
            let sd = if sd == 0.0 { 1.0 } else { sd };
            for (r, s) in [(&raw.train, &std.train), (&raw.val, &std.val), (&raw.probe, &std.probe)] {
                for i in 0..r.n {
                    let want = (f64::from(r.x[i * d + j]) - mean) / sd;
                    assert!((f64::from(s.x[i * d + j]) - want).abs() < 1e-5, "col {j} row {i}");
                }
            }
            let z: Vec<f64> = (0..60).map(|i| f64::from(std.train.x[i * d + j])).collect();
            let zm = z.iter().sum::<f64>() / 60.0;
            let zsd = (z.iter().map(|v| (v - zm).powi(2)).sum::<f64>() / 60.0).sqrt();
            assert!(zm.abs() < 1e-6);
            // The constant column (j = 2) is centred to exactly 0 with sd 1: no NaN.
            if j == 2 {
                assert!(z.iter().all(|&v| v == 0.0));
            } else {
                assert!((zsd - 1.0).abs() < 1e-5, "col {j}: sd {zsd}");
            }
        }
        match (&raw.train.targets, &std.train.targets) {
            (Targets::Classes { .. }, t) => assert_eq!(t, &raw.train.targets),
            (Targets::Regression { values: rv, .. }, Targets::Regression { values: sv, .. }) => {
                let v: Vec<f64> = rv.iter().map(|&x| f64::from(x)).collect();
                let m = v.iter().sum::<f64>() / 60.0;
                let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / 60.0).sqrt();
                for (r, s) in rv.iter().zip(sv) {
                    assert!((f64::from(*s) - (f64::from(*r) - m) / sd).abs() < 1e-5);
                }
            }
            _ => panic!("target kinds differ"),
        }
    }
}
