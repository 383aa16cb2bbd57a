use moescope_records::*;

#[test]
fn npy_header_and_payload_follow_the_npy_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.npy");
    let data = [1.0, -2.5, 3.25, 0.0, 1e-300, 7.0];
    write_npy(&path, &[2, 3], &data).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    // NPY 1.0: magic, version, header length (u16 LE), ASCII dict padded to a multiple of 64.
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!((10 + hlen) % 64, 0);
    let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
    assert!(header.contains("'descr': '<f8'"), "{header}");
    assert!(header.contains("'fortran_order': False"), "{header}");
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .unwrap();
    let dims: Vec<&str> = shape.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    assert_eq!(dims, ["2", "3"], "{header}");
    let payload: Vec<f64> = bytes[10 + hlen..]
        .chunks(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(payload, data);
}

#[test]
fn npy_rejects_shape_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let err = write_npy(&dir.path().join("b.npy"), &[2, 2], &[1.0])
        .unwrap_err()
        .to_string();
    assert!(err.contains("needs 4 values, got 1"), "{err}");
}

#[test]
fn metrics_refuse_nan_and_write_csv() {
    let dir = tempfile::tempdir().unwrap();
    let bad = [MetricRow::new("soft", 3, Some(1), "x", f64::NAN)];
    assert!(write_metrics(dir.path(), &bad)
        .unwrap_err()
        .to_string()
        .contains("`x` of soft seed 3"));
    let rows = [
        MetricRow::new("soft", 3, Some(1), "x", 0.1),
        MetricRow::new("dense", 0, None, "y", 2.0),
    ];
    write_metrics(dir.path(), &rows).unwrap();
    let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
    assert_eq!(csv, "model,seed,expert,metric,value\nsoft,3,1,x,0.1\ndense,0,,y,2.0\n");
    assert_eq!(read_metrics_jsonl(&dir.path().join("metrics.jsonl")).unwrap(), rows);
}

#[test]
fn parse_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.jsonl");
    std::fs::write(
        &path,
        "{\"model\":\"a\",\"seed\":0,\"expert\":null,\"metric\":\"m\",\"value\":1}\nnot json\n",
    )
    .unwrap();
    let err = read_metrics_jsonl(&path).unwrap_err().to_string();
    assert!(err.contains("metrics.jsonl, line 2"), "{err}");
}

#[test]
fn npy_refuses_non_finite_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.npy");
    let err = write_npy(&path, &[2], &[1.0, f64::NAN]).unwrap_err().to_string();
    assert!(err.contains("non-finite value NaN at flat index 1"), "{err}");
    assert!(!path.exists(), "nothing half-written");
    write_npy(&path, &[3, 1], &[0.5, -1.0, 2.0]).unwrap();
    let a = read_npy(&path).unwrap();
    assert_eq!((a.shape, a.data), (vec![3, 1], vec![0.5, -1.0, 2.0]));
}
