//! `remove_unfinished_streams` acts on every open stream of the process, so it has a test binary
//! (a process) of its own: the unit tests' streams cannot be caught by it.

use moescope_records::{remove_unfinished_streams, NpyStream};

#[test]
fn unfinished_streams_are_removed_at_once_and_finished_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let count = || std::fs::read_dir(dir.path()).unwrap().count();
    let mut done = NpyStream::create(&dir.path().join("done.npy"), &[1, 2]).unwrap();
    done.append(&[1.0, 2.0]).unwrap();
    done.finish().unwrap();
    let a = NpyStream::create(&dir.path().join("a.npy"), &[2, 1]).unwrap();
    let b = NpyStream::create(&dir.path().join("b.npy"), &[2, 1]).unwrap();
    assert_eq!(count(), 3); // done.npy and two hidden partial files
    assert_eq!(remove_unfinished_streams(), 2);
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["done.npy".to_string()]);
    assert_eq!(remove_unfinished_streams(), 0, "the list is emptied");
    // What an exiting process does: no destructors.
    std::mem::forget((a, b));
}
