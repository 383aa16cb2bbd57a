//! Loaders on the real files in `<repo>/../shared/data`, checked against values read
//! independently with numpy (`fixtures/make_real_data.py` → `fixtures/real_data.txt`).

use moescope_config::{CsvTask, IdxTask, Problem, SplitSizes, TaskSpec};
use moescope_data::{build, read_csv, read_idx, Targets};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn data(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel);
    assert!(
        p.exists(),
        "test data {} is missing (expected shared/ beside the repository)",
        p.display()
    );
    p
}

/// `key -> list of rows of words` from the fixture.
fn fixture() -> HashMap<String, Vec<Vec<String>>> {
    let text = include_str!("fixtures/real_data.txt");
    let mut map: HashMap<String, Vec<Vec<String>>> = HashMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut words = line.split_whitespace().map(str::to_string);
        let key = words.next().unwrap();
        map.entry(key).or_default().push(words.collect());
    }
    map
}

fn nums<T: std::str::FromStr>(row: &[String]) -> Vec<T>
where
    T::Err: std::fmt::Debug,
{
    row.iter().map(|w| w.parse().unwrap()).collect()
}

fn counts(labels: &[u32], classes: usize) -> Vec<usize> {
    let mut c = vec![0; classes];
    labels.iter().for_each(|&l| c[l as usize] += 1);
    c
}

#[test]
fn mnist_t10k_matches_numpy() {
    let fx = fixture();
    let img = read_idx(&data("mnist/t10k-images-idx3-ubyte.gz")).unwrap();
    let lab = read_idx(&data("mnist/t10k-labels-idx1-ubyte.gz")).unwrap();
    assert_eq!(img.dims, nums::<usize>(&fx["mnist_dims"][0]));
    assert_eq!(lab.dims, nums::<usize>(&fx["mnist_label_dims"][0]));
    assert_eq!(img.data.len(), 10000 * 784);
    for row in &fx["mnist_pixel"] {
        let v: Vec<usize> = nums(row);
        assert_eq!(
            usize::from(img.data[v[0] * 784 + v[1] * 28 + v[2]]),
            v[3],
            "pixel {row:?}"
        );
    }
    for row in &fx["mnist_pixel_sum"] {
        let v: Vec<usize> = nums(row);
        let sum: usize = img.data[v[0] * 784..(v[0] + 1) * 784]
            .iter()
            .map(|&p| usize::from(p))
            .sum();
        assert_eq!(sum, v[1], "pixel sum of image {}", v[0]);
    }
    let first: Vec<u8> = nums(&fx["mnist_labels_first"][0]);
    assert_eq!(&lab.data[..20], first.as_slice());
    let expected: Vec<usize> = nums(&fx["mnist_label_counts"][0]);
    let got = counts(&lab.data.iter().map(|&l| u32::from(l)).collect::<Vec<_>>(), 10);
    assert_eq!(got, expected);
}

#[test]
fn mnist_task_splits_scale_and_standardise() {
    let task = |standardize| {
        TaskSpec::Idx(IdxTask {
            images: data("mnist/t10k-images-idx3-ubyte.gz"),
            labels: data("mnist/t10k-labels-idx1-ubyte.gz"),
            sizes: SplitSizes {
                train: 2000,
                val: 500,
                probe: 500,
            },
            standardize,
        })
    };
    let raw = build(&task(false), 3).unwrap();
    assert_eq!((raw.train.n, raw.train.d_in, raw.train.d_out()), (2000, 784, 10));
    assert!(raw.train.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
    // Pixel 255 maps to exactly 1.0, and every value is a multiple of 1/255.
    assert!(raw.train.x.contains(&1.0));
    assert!(raw
        .train
        .x
        .iter()
        .all(|&v| ((v * 255.0).round() / 255.0 - v).abs() < 1e-6));
    let std = build(&task(true), 3).unwrap();
    assert_eq!(
        std.train.targets, raw.train.targets,
        "standardisation must not touch labels"
    );
    check_standardised(&std.train.x, 784);
}

/// Columns with spread have mean ≈ 0 and population sd ≈ 1; constant columns become exactly 0.
fn check_standardised(x: &[f32], d: usize) {
    let n = x.len() / d;
    for j in 0..d {
        let col: Vec<f64> = (0..n).map(|i| f64::from(x[i * d + j])).collect();
        let mean = col.iter().sum::<f64>() / n as f64;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 1e-4, "column {j}: mean {mean}");
        assert!(
            var == 0.0 || (var.sqrt() - 1.0).abs() < 1e-3,
            "column {j}: sd {}",
            var.sqrt()
        );
    }
}

#[test]
fn digits_csv_gz_loads() {
    let fx = fixture();
    let (x, rows, cols, targets) = read_csv(&data("sklearn/digits.csv.gz"), None, -1, Problem::Classification).unwrap();
    let shape: Vec<usize> = nums(&fx["digits_shape"][0]);
    assert_eq!((rows, cols + 1), (shape[0], shape[1]));
    let sum: f64 = x.iter().map(|&v| f64::from(v)).sum();
    assert_eq!(sum, fx["digits_feature_sum"][0][0].parse::<f64>().unwrap());
    let Targets::Classes { labels, classes } = targets else {
        panic!("expected classes")
    };
    assert_eq!(classes, 10);
    assert_eq!(counts(&labels, 10), nums::<usize>(&fx["digits_label_counts"][0]));
}

#[test]
fn california_housing_regression_loads_and_standardises() {
    let fx = fixture();
    let path = data("california_housing/cal_housing.data");
    let (x, rows, cols, targets) = read_csv(&path, Some(false), -1, Problem::Regression).unwrap();
    let shape: Vec<usize> = nums(&fx["cal_shape"][0]);
    assert_eq!((rows, cols + 1), (shape[0], shape[1]));
    let means: Vec<f64> = nums(&fx["cal_feature_means"][0]);
    for (j, m) in means.iter().enumerate() {
        let got = (0..rows).map(|i| f64::from(x[i * cols + j])).sum::<f64>() / rows as f64;
        assert!(
            (got - m).abs() <= 1e-5 * m.abs().max(1.0),
            "column {j}: {got} vs numpy {m}"
        );
    }
    let Targets::Regression { values, dim: 1 } = &targets else {
        panic!("expected 1-d regression")
    };
    let target_mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / rows as f64;
    let want: f64 = fx["cal_target_mean"][0][0].parse().unwrap();
    assert!((target_mean - want).abs() < 1e-6 * want);
    // Header detection agrees: the first line is numeric, so None reads it as data.
    assert_eq!(read_csv(&path, None, 8, Problem::Regression).unwrap().1, rows);

    let task = TaskSpec::Csv(CsvTask {
        path,
        header: None,
        label_column: -1,
        problem: Problem::Regression,
        sizes: SplitSizes {
            train: 4000,
            val: 1000,
            probe: 1000,
        },
        standardize: true,
    });
    let s = build(&task, 1).unwrap();
    check_standardised(&s.train.x, 8);
    let Targets::Regression { values, .. } = &s.train.targets else {
        panic!()
    };
    check_standardised(values, 1);
}

#[test]
fn iris_integer_and_string_labels_agree() {
    let fx = fixture();
    let path = data("sklearn/iris.csv");
    // The first line `150,4,setosa,...` is detected as a header.
    let (x, rows, cols, targets) = read_csv(&path, None, -1, Problem::Classification).unwrap();
    let shape: Vec<usize> = nums(&fx["iris_shape"][0]);
    assert_eq!((rows, cols + 1), (shape[0], shape[1]));
    let Targets::Classes { labels, classes: 3 } = targets else {
        panic!("expected 3 classes")
    };
    assert_eq!(counts(&labels, 3), nums::<usize>(&fx["iris_label_counts"][0]));
    // Rewrite the labels as the names of the header (sorted order setosa < versicolor <
    // virginica equals 0 < 1 < 2) and put the label first.
    let names = ["setosa", "versicolor", "virginica"];
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = String::from("species,a,b,c,d\n");
    for line in text.lines().skip(1) {
        let (feats, label) = line.rsplit_once(',').unwrap();
        out += &format!("{},{feats}\n", names[label.parse::<usize>().unwrap()]);
    }
    let dir = tempfile::tempdir().unwrap();
    let named = dir.path().join("iris_named.csv");
    std::fs::write(&named, out).unwrap();
    let (x2, rows2, cols2, t2) = read_csv(&named, None, 0, Problem::Classification).unwrap();
    assert_eq!((x2, rows2, cols2), (x, rows, cols));
    assert_eq!(t2, Targets::Classes { labels, classes: 3 });
}
