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
