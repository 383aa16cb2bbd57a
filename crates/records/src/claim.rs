//! One writer per output folder. Every command that writes a folder (a run, a report into
//! `--out`, a sweep collect) first claims it with a file created `O_EXCL`, so of two commands
//! aimed at one folder exactly one writes it; the claim is removed when the writer is done.
//! A process killed or interrupted mid-write leaves its claim, and with it a folder no other
//! command takes until a person has looked (the error says which file to delete).

use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The claim file's name inside a claimed folder.
pub const CLAIM_FILE: &str = ".moescope-claim";

/// A folder claimed for writing; dropping it gives the folder back.
#[derive(Debug)]
pub struct Claim {
    path: PathBuf,
}

impl Claim {
    /// Creates `dir` (and its parents) if missing and claims it. Errors: `dir` is a file, or
    /// another command holds it (or was stopped while holding it).
    pub fn take(dir: &Path) -> Result<Claim> {
        if dir.is_file() {
            return Err(Error::NotAFolder { dir: dir.to_path_buf() });
        }
        std::fs::create_dir_all(dir).map_err(crate::error::io_err(dir))?;
        let path = dir.join(CLAIM_FILE);
        match std::fs::File::create_new(&path) {
            Ok(_) => Ok(Claim { path }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::Busy { dir: dir.to_path_buf() }),
            Err(e) => Err(Error::Io { path, source: e }),
        }
    }

    /// The claimed folder.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_claim_at_a_time_and_given_back_on_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        let first = Claim::take(&dir).unwrap();
        assert_eq!(first.dir(), dir);
        assert!(dir.join(CLAIM_FILE).is_file());
        let second = Claim::take(&dir).unwrap_err().to_string();
        assert!(
            second.contains("another moescope command is writing into it"),
            "{second}"
        );
        drop(first);
        assert!(!dir.join(CLAIM_FILE).exists());
        assert!(Claim::take(&dir).is_ok());
    }

    #[test]
    fn a_file_is_not_a_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, "mine").unwrap();
        let msg = Claim::take(&file).unwrap_err().to_string();
        assert!(msg.ends_with("is a file, not a folder"), "{msg}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
    }
}
