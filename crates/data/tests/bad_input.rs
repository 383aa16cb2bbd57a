//! Every kind of bad input is an `Err` whose message names the file and what was wrong.

use flate2::{write::GzEncoder, Compression};
use moescope_config::{CsvTask, IdxTask, Problem, SplitSizes, TaskSpec};
use moescope_data::{build, read_csv, read_idx, Targets};
use std::io::Write;
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// An IDX file of u8 elements with the given dims and body.
fn idx_bytes(dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, dims.len() as u8];
    dims.iter().for_each(|d| b.extend(d.to_be_bytes()));
    b.extend(body);
    b
}

fn assert_msg(err: impl std::fmt::Display, path: &Path, parts: &[&str]) {
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "message does not name {}: {msg}",
        path.display()
    );
    for p in parts {
        assert!(msg.contains(p), "message lacks {p:?}: {msg}");
    }
}

#[test]
fn missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nope.idx");
    let err = read_idx(&p).unwrap_err();
    // The OS reason is the error's source (printed by the CLI's `{:#}` chain), not repeated in it.
    let source = std::error::Error::source(&err)
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(source.contains("No such file"), "{source}");
    assert_msg(err, &p, &["cannot read"]);
    let p = dir.path().join("nope.csv");
    assert_msg(
        read_csv(&p, None, -1, Problem::Regression).unwrap_err(),
        &p,
        &["cannot read"],
    );
}

#[test]
fn idx_wrong_magic() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "bad.idx", &[0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 9]);
    assert_msg(
        read_idx(&p).unwrap_err(),
        &p,
        &["magic", "0x00000801", "0x00000803", "found 0x12345678"],
    );
    // Right layout but a float element type (0x0D) is refused too.
    let p = write(dir.path(), "float.idx", &[0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]);
    assert_msg(read_idx(&p).unwrap_err(), &p, &["found 0x00000d01"]);
}

#[test]
fn idx_truncated_header_and_body() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "short.idx", &[0, 0, 8]);
    assert_msg(read_idx(&p).unwrap_err(), &p, &["truncated header", "found 3"]);
    let p = write(dir.path(), "short_dims.idx", &[0, 0, 8, 3, 0, 0, 0, 2]);
    assert_msg(
        read_idx(&p).unwrap_err(),
        &p,
        &["truncated header", "16 header bytes", "found 8"],
    );
    let body = idx_bytes(&[4, 2, 2], &[1; 13]);
    let p = write(dir.path(), "short_body.idx", &body);
    assert_msg(
        read_idx(&p).unwrap_err(),
        &p,
        &["truncated body", "[4, 2, 2]", "16 bytes", "found 13"],
    );
    // The same through gzip.
    let p = write(dir.path(), "short_body.idx.gz", &gz(&body));
    assert_msg(
        read_idx(&p).unwrap_err(),
        &p,
        &["truncated body", "16 bytes", "found 13"],
    );
    // And a body that is too long.
    let p = write(dir.path(), "long.idx", &idx_bytes(&[2], &[1, 2, 3]));
    assert_msg(read_idx(&p).unwrap_err(), &p, &["2 bytes", "found 3"]);
    // A valid gzip file reads back.
    let p = write(dir.path(), "ok.idx.gz", &gz(&idx_bytes(&[2, 1, 2], &[1, 2, 3, 4])));
    let a = read_idx(&p).unwrap();
    assert_eq!((a.dims, a.data), (vec![2, 1, 2], vec![1, 2, 3, 4]));
}

fn idx_task(images: PathBuf, labels: PathBuf, sizes: SplitSizes) -> TaskSpec {
    TaskSpec::Idx(IdxTask {
        images,
        labels,
        sizes,
        standardize: true,
    })
}

#[test]
fn idx_image_label_mismatch_and_too_few_rows() {
    let dir = tempfile::tempdir().unwrap();
    let images = write(dir.path(), "img.idx", &idx_bytes(&[3, 2, 2], &[7; 12]));
    let labels = write(dir.path(), "lab.idx", &idx_bytes(&[4], &[0, 1, 2, 1]));
    let sizes = SplitSizes {
        train: 1,
        val: 1,
        probe: 1,
    };
    let err = build(&idx_task(images.clone(), labels.clone(), sizes), 0).unwrap_err();
    assert_msg(&err, &images, &["3 images", "4 labels"]);
    assert_msg(&err, &labels, &[]);
    // Labels passed as images: wrong number of dims, named.
    let err = build(&idx_task(labels.clone(), labels.clone(), sizes), 0).unwrap_err();
    assert_msg(err, &labels, &["3 dims", "[4]"]);
    let labels = write(dir.path(), "lab3.idx", &idx_bytes(&[3], &[0, 1, 2]));
    let big = SplitSizes {
        train: 2,
        val: 1,
        probe: 1,
    };
    let err = build(&idx_task(images.clone(), labels, big), 0).unwrap_err();
    assert_msg(err, &images, &["train 2", "val 1", "probe 1", "4 needed", "3 rows"]);
}

fn csv(dir: &Path, text: &str) -> PathBuf {
    write(dir, "t.csv", text.as_bytes())
}

#[test]
fn csv_ragged_rows() {
    let dir = tempfile::tempdir().unwrap();
    let p = csv(dir.path(), "a,b,y\n1,2,0\n3,4,1\n5,1\n");
    let err = read_csv(&p, None, -1, Problem::Classification).unwrap_err();
    assert_msg(err, &p, &["ragged", "line 4", "expected 3 cells", "found 2"]);
}

#[test]
fn csv_non_numeric_cells() {
    let dir = tempfile::tempdir().unwrap();
    let p = csv(dir.path(), "1,2,0\n3,abc,1\n");
    let err = read_csv(&p, Some(false), -1, Problem::Classification).unwrap_err();
    assert_msg(err, &p, &["non-numeric", "line 2", "column 2", "\"abc\""]);
    // Regression targets must be numeric.
    let p = csv(dir.path(), "1,2,0.5\n3,4,high\n");
    let err = read_csv(&p, None, -1, Problem::Regression).unwrap_err();
    assert_msg(err, &p, &["line 2", "column 3", "\"high\""]);
    // An explicit header=false makes a text first row an error rather than a header.
    let p = csv(dir.path(), "x,y,z\n1,2,3\n");
    let err = read_csv(&p, Some(false), -1, Problem::Regression).unwrap_err();
    assert_msg(err, &p, &["line 1", "column 1", "\"x\""]);
}

#[test]
fn csv_label_column_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let p = csv(dir.path(), "1,2,0\n3,4,1\n");
    for given in [3i64, -4] {
        let err = read_csv(&p, None, given, Problem::Classification).unwrap_err();
        assert_msg(err, &p, &[&format!("label column {given}"), "3 columns"]);
    }
    // -3 is the first column: labels 1 and 3, compacted to class ids 0 and 1.
    let (x, _, cols, t) = read_csv(&p, None, -3, Problem::Classification).unwrap();
    assert_eq!((x, cols), (vec![2.0, 0.0, 4.0, 1.0], 2));
    assert_eq!(
        t,
        moescope_data::Targets::Classes {
            labels: vec![0, 1],
            classes: 2
        }
    );
}

#[test]
fn csv_empty_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = csv(dir.path(), "");
    assert_msg(read_csv(&p, None, -1, Problem::Regression).unwrap_err(), &p, &["empty"]);
    let p = csv(dir.path(), "a,b,y\n");
    assert_msg(
        read_csv(&p, None, -1, Problem::Regression).unwrap_err(),
        &p,
        &["empty", "no data rows"],
    );
}

#[test]
fn csv_too_few_rows_for_the_splits() {
    let dir = tempfile::tempdir().unwrap();
    let p = csv(dir.path(), "1,2,0\n3,4,1\n5,6,0\n");
    let task = TaskSpec::Csv(CsvTask {
        path: p.clone(),
        header: None,
        label_column: -1,
        problem: Problem::Classification,
        sizes: SplitSizes {
            train: 2,
            val: 1,
            probe: 1,
        },
        standardize: false,
    });
    assert_msg(
        build(&task, 0).unwrap_err(),
        &p,
        &["too few rows", "4 needed", "3 rows"],
    );
}

/// Regression (fresh-user test): a huge integer label made `max + 1` classes and exhausted memory;
/// 1-based labels made an empty class. Distinct labels are now compacted, and too many classes
/// is an error pointing at `task.problem`.
#[test]
fn class_labels_are_compacted_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let sparse = dir.path().join("sparse.csv");
    std::fs::write(&sparse, "0.5,1\n1.5,1000000000\n2.5,3\n").unwrap();
    let (_, _, _, t) = read_csv(&sparse, Some(false), -1, Problem::Classification).unwrap();
    assert_eq!(
        t,
        Targets::Classes {
            labels: vec![0, 2, 1],
            classes: 3
        }
    );
    let many = dir.path().join("many.csv");
    let text: String = (0..1001).map(|i| format!("{i}.0,{}.5\n", i)).collect();
    std::fs::write(&many, text).unwrap();
    let err = read_csv(&many, Some(false), -1, Problem::Classification)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("many.csv") && err.contains("1001 distinct values") && err.contains("regression"),
        "{err}"
    );
}

/// Regression (fresh-user test): a cell of `1e39` or `1e308` became ∞ in f32 and the run failed
/// "during train at step 1". Values must be finite once converted to f32.
#[test]
fn csv_values_beyond_f32_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let p = csv(dir.path(), "1,1e39,0\n2,3,1\n");
    assert_eq!(
        read_csv(&p, None, -1, Problem::Classification).unwrap_err().to_string(),
        format!(
            "CSV file {}: value at line 1, column 2 (1-based) is not a finite f32: \"1e39\" (expected |v| ≤ 3.4e38)",
            p.display()
        )
    );
    // A regression target, and `nan` (which must not make line 1 a header).
    let p = csv(dir.path(), "1,2,0.5\n3,4,-1e308\n");
    assert_msg(
        read_csv(&p, None, -1, Problem::Regression).unwrap_err(),
        &p,
        &["line 2, column 3", "not a finite f32: \"-1e308\""],
    );
    let p = csv(dir.path(), "nan,2,0\n3,4,1\n");
    assert_msg(
        read_csv(&p, None, -1, Problem::Classification).unwrap_err(),
        &p,
        &["line 1, column 1", "not a finite f32: \"nan\""],
    );
    // The largest f32 itself is fine.
    let p = csv(dir.path(), "3.4e38,2,0\n3,4,1\n");
    let (x, ..) = read_csv(&p, None, -1, Problem::Classification).unwrap();
    assert_eq!(x[0], 3.4e38f32);
}

/// Regression (fresh-user test): with string labels, a first line `0.9417,…,-1.0163,cat` was taken
/// for a header and dropped. Only the feature cells decide (or a text label over numeric ones).
#[test]
fn csv_header_detection_ignores_string_labels() {
    let dir = tempfile::tempdir().unwrap();
    let p = csv(dir.path(), "0.9417,-1.0163,cat\n0.5,0.25,dog\n0.125,0.75,cat\n");
    let (x, rows, cols, t) = read_csv(&p, None, -1, Problem::Classification).unwrap();
    assert_eq!((rows, cols), (3, 2));
    assert_eq!(x[..2], [0.9417f32, -1.0163]);
    assert_eq!(
        t,
        Targets::Classes {
            labels: vec![0, 1, 0],
            classes: 2
        }
    );
    // Headers are still found: text feature names, or a text label name over numeric labels.
    for text in ["a,b,species\n1,2,cat\n3,4,dog\n", "0,1,label\n1,2,1\n3,4,0\n"] {
        let p = csv(dir.path(), text);
        let (x, rows, ..) = read_csv(&p, None, -1, Problem::Classification).unwrap();
        assert_eq!((rows, x), (2, vec![1.0, 2.0, 3.0, 4.0]), "{text}");
    }
    // The label column counts, wherever it is: here the first, a string.
    let p = csv(dir.path(), "cat,0.5,0.25\ndog,1,2\n");
    assert_eq!(read_csv(&p, None, 0, Problem::Classification).unwrap().1, 2);
}

/// Regression (fresh-user test): a one-class classification table trained to losses of exactly 0.
#[test]
fn classification_needs_two_classes() {
    let dir = tempfile::tempdir().unwrap();
    let p = csv(dir.path(), "1,2,cat\n3,4,cat\n");
    assert_eq!(
        read_csv(&p, None, -1, Problem::Classification).unwrap_err().to_string(),
        format!(
            "CSV file {}: classification needs at least 2 classes, but label column 3 holds only \"cat\" (check \
             task.label_column, or set task.problem: regression)",
            p.display()
        )
    );
    let p = csv(dir.path(), "1,2,5\n3,4,5.0\n");
    assert_msg(
        read_csv(&p, None, -1, Problem::Classification).unwrap_err(),
        &p,
        &["at least 2 classes", "only \"5\""],
    );
    let dir = tempfile::tempdir().unwrap();
    let images = write(dir.path(), "img.idx", &idx_bytes(&[3, 1, 1], &[0, 9, 255]));
    let labels = write(dir.path(), "lab.idx", &idx_bytes(&[3], &[4, 4, 4]));
    let sizes = SplitSizes {
        train: 1,
        val: 1,
        probe: 1,
    };
    assert_eq!(
        build(&idx_task(images, labels.clone(), sizes), 0)
            .unwrap_err()
            .to_string(),
        format!(
            "IDX file {}: classification needs at least 2 classes, but the labels file has only the label 4",
            labels.display()
        )
    );
}

/// Regression (fresh-user test): images with dims [10000, 0, 28] loaded, and jobs failed later
/// with "invalid d_in = 0".
#[test]
fn idx_images_with_a_zero_dimension_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let images = write(dir.path(), "img.idx", &idx_bytes(&[3, 0, 2], &[]));
    let labels = write(dir.path(), "lab.idx", &idx_bytes(&[3], &[0, 1, 2]));
    let sizes = SplitSizes {
        train: 1,
        val: 1,
        probe: 1,
    };
    assert_eq!(
        build(&idx_task(images.clone(), labels, sizes), 0)
            .unwrap_err()
            .to_string(),
        format!(
            "IDX file {}: images file with a zero dimension, dims [3, 0, 2]: expected count, rows and cols all ≥ 1",
            images.display()
        )
    );
}

/// Regression (fresh-user test): a labels file with the images magic (MNIST t10k labels: count
/// 10000, then labels 7 2 1 0 4 1 4 9 … read as sizes) said "overflow the address space".
/// 10 · 0x07020100 · 0x04010409 = 10 · 117571840 · 67175433 = 78979392606067200.
#[test]
fn idx_header_sizes_implausible_for_the_file_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = vec![0, 0, 8, 3, 0, 0, 0, 10];
    bytes.extend([7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    let p = write(dir.path(), "labels-as-images.idx", &bytes);
    assert_eq!(
        read_idx(&p).unwrap_err().to_string(),
        format!(
            "IDX file {}: the header's dims [10, 117571840, 67175433] are implausible for the file's size: their \
             product is 78979392606067200 bytes, but the file holds 18 bytes (2 after the 16-byte header); is \
             this the right file (e.g. a labels file given as images)?",
            p.display()
        )
    );
    // The line between a truncated file and a wrong one: 1024 times the bytes present.
    let p = write(dir.path(), "short.idx", &idx_bytes(&[2048], &[1, 2]));
    assert_msg(
        read_idx(&p).unwrap_err(),
        &p,
        &["truncated body", "2048 bytes", "found 2"],
    );
    let p = write(dir.path(), "wrong.idx", &idx_bytes(&[2049], &[1, 2]));
    assert_msg(read_idx(&p).unwrap_err(), &p, &["implausible", "product is 2049 bytes"]);
}
