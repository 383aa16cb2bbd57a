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

    /// Claims `dir` to write `outputs` for `owner` (a run's report, a sweep's tables), and marks
    /// it so: `marker` (one of [`OWNER_MARKERS`]) names the owner. Refused, with the folder left
    /// as it was, when it holds a run, a sweep, what was written for another owner, or any of
    /// `outputs` that no marker of `owner` vouches for. The check runs under the claim, so a
    /// writer that started earlier and finished first is seen.
    pub fn take_for(dir: &Path, marker: &str, owner: &Path, outputs: &[&str]) -> Result<Claim> {
        let claim = Claim::take(dir)?;
        if let Err(reason) = check_owner(dir, marker, owner, outputs) {
            return Err(Error::Owned {
                dir: dir.to_path_buf(),
                reason,
            }); // the claim is given back as it drops
        }
        let text = serde_json::json!({ "owner": owner.to_string_lossy() });
        crate::write_atomic(&dir.join(marker), format!("{text:#}\n").as_bytes())?;
        Ok(claim)
    }

    /// The claimed folder.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }
}

/// The files that name whom an output folder was written for (see [`Claim::take_for`]).
pub const OWNER_MARKERS: [&str; 2] = ["report.json", "collect.json"];

/// Why `dir` may not be written for `owner` under `marker`, if it may not.
fn check_owner(dir: &Path, marker: &str, owner: &Path, outputs: &[&str]) -> std::result::Result<(), String> {
    if dir.join("manifest.json").exists() {
        return Err("holds a run (manifest.json)".into());
    }
    if let Some(f) = ["sweep.json", "sweep.yaml"].iter().find(|f| dir.join(f).exists()) {
        return Err(format!("holds a sweep ({f})"));
    }
    // A marked folder belongs to its marker's owner, whatever else it holds.
    if let Some(m) = OWNER_MARKERS.iter().find(|m| dir.join(m).exists()) {
        return match read_owner(&dir.join(m)) {
            Some(of) if *m == marker && of == owner => Ok(()),
            Some(of) => Err(format!("holds what was written for {} ({m})", of.display())),
            None => Err(format!("holds {m}, which does not say whom it was written for")),
        };
    }
    match outputs.iter().find(|f| dir.join(f).exists()) {
        Some(f) => Err(format!(
            "holds {f}, which would be replaced and was not written for {}",
            owner.display()
        )),
        None => Ok(()),
    }
}

fn read_owner(marker: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(marker).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["owner"].as_str().map(PathBuf::from)
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
    fn an_owned_folder_takes_only_its_owner() {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, a, b) = (tmp.path().join("rep"), Path::new("/runs/a"), Path::new("/runs/b"));
        drop(Claim::take_for(&dir, "report.json", a, &["summary.md"]).unwrap());
        std::fs::write(dir.join("summary.md"), "a's").unwrap();
        assert!(
            Claim::take_for(&dir, "report.json", a, &["summary.md"]).is_ok(),
            "its owner again"
        );
        let refused = |owner: &Path, marker: &str| {
            Claim::take_for(&dir, marker, owner, &["summary.md"])
                .unwrap_err()
                .to_string()
        };
        assert!(refused(b, "report.json").ends_with("holds what was written for /runs/a (report.json)"));
        assert!(refused(a, "collect.json").contains("holds what was written for /runs/a"));
        assert_eq!(std::fs::read_to_string(dir.join("summary.md")).unwrap(), "a's");
        assert!(!dir.join(CLAIM_FILE).exists(), "a refusal gives the claim back");

        let plain = tmp.path().join("plain");
        std::fs::create_dir(&plain).unwrap();
        std::fs::write(plain.join("summary.md"), "mine").unwrap();
        let msg = Claim::take_for(&plain, "report.json", a, &["summary.md"])
            .unwrap_err()
            .to_string();
        assert!(
            msg.ends_with("holds summary.md, which would be replaced and was not written for /runs/a"),
            "{msg}"
        );
        std::fs::write(plain.join("manifest.json"), "{}").unwrap();
        let msg = Claim::take_for(&plain, "report.json", a, &[]).unwrap_err().to_string();
        assert!(msg.ends_with("holds a run (manifest.json)"), "{msg}");
        assert!(!plain.join("report.json").exists());
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
