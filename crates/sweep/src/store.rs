//! The sweep folder: layout, the sweep manifest, each cell's state as read from disk, and the
//! advisory locks (`flock`, released by the kernel when a process dies, so a crash never leaves
//! a stale lock).
//!
//! ```text
//! <sweep>/sweep.yaml            the spec, base config inlined (self-contained)
//! <sweep>/sweep.json            manifest: every cell with its state
//! <sweep>/cells/<id>/           a finished cell: a complete run folder, moved in by rename
//! <sweep>/cells/.partial-<id>-<pid>/   a cell being run (deleted on resume if its owner died)
//! <sweep>/failures/<id>.json    why the last attempt at a cell failed before finishing
//! <sweep>/logs/<id>.log         the log of every attempt at a cell
//! <sweep>/locks/                lock files
//! ```

use crate::error::io_err;
use crate::plan::{inline, Cell};
use crate::spec::SweepSpec;
use crate::{Error, Result};
use moescope_records::write_atomic;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

/// Schema version of `sweep.json`.
pub const SWEEP_SCHEMA: u32 = 1;

/// Where a cell stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum CellState {
    /// Not run yet (or its last attempt died before finishing).
    Pending,
    /// Locked by a live process.
    Running,
    /// Finished; every job succeeded.
    Done,
    /// Finished with failed jobs, or the run itself failed.
    Failed {
        /// Why.
        reason: String,
    },
}

impl CellState {
    /// `pending`, `running`, `done`, `failed`.
    pub fn word(&self) -> &'static str {
        match self {
            CellState::Pending => "pending",
            CellState::Running => "running",
            CellState::Done => "done",
            CellState::Failed { .. } => "failed",
        }
    }
}

/// One cell in `sweep.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellRecord {
    /// Position in the sweep.
    pub index: usize,
    /// Stable id (folder name under `cells/`).
    pub id: String,
    /// `experts=4 …`.
    pub label: String,
    /// Axis values, as inline YAML.
    pub assignment: BTreeMap<String, String>,
    /// Engine jobs (architectures × seeds).
    pub jobs: usize,
    /// State when the manifest was written.
    #[serde(flatten)]
    pub state: CellState,
}

/// `sweep.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepManifest {
    /// [`SWEEP_SCHEMA`].
    pub schema_version: u32,
    /// Sweep name.
    pub name: String,
    /// Creation time, UNIX seconds.
    pub created_unix: u64,
    /// Command line that created it.
    pub command: Vec<String>,
    /// moescope and dependency versions.
    pub versions: BTreeMap<String, String>,
    /// Git commit of the build.
    pub git_commit: String,
    /// Axis keys, in order (zipped keys share an axis).
    pub axes: Vec<Vec<String>>,
    /// Every cell.
    pub cells: Vec<CellRecord>,
}

/// An open sweep folder.
#[derive(Debug, Clone)]
pub struct SweepDir {
    /// The folder.
    pub root: PathBuf,
}

impl SweepDir {
    /// Creates a new sweep folder under `parent` named `<name>-<UTC time>`; a folder created at
    /// the same moment by another process makes this one take the next suffix (`-2`, …), since
    /// `create_dir` either creates or fails atomically.
    pub fn create_unique(parent: &Path, name: &str) -> Result<SweepDir> {
        let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            .to_string()
            .replace(':', "-");
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        for i in 1.. {
            let dir = if i == 1 {
                parent.join(format!("{name}-{stamp}"))
            } else {
                parent.join(format!("{name}-{stamp}-{i}"))
            };
            match std::fs::create_dir(&dir) {
                Ok(()) => {
                    File::create_new(dir.join("sweep.yaml")).map_err(io_err(&dir))?;
                    return Ok(SweepDir { root: absolute(&dir)? });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err(&dir)(e)),
            }
        }
        unreachable!("the suffix loop only ends by returning")
    }

    /// Creates the sweep folder at exactly `dir`, which must be absent or empty. The folder is
    /// claimed by creating `sweep.yaml` exclusively, so of two processes creating the same
    /// folder at once exactly one succeeds.
    pub fn create_at(dir: &Path) -> Result<SweepDir> {
        let refuse = |message: &str| Error::Io {
            path: dir.to_path_buf(),
            message: message.to_string(),
        };
        if dir.exists() && !dir.is_dir() {
            return Err(refuse("exists and is not a folder; --out needs a new or empty folder"));
        }
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let dir = absolute(dir)?;
        let claim = dir.join("sweep.yaml");
        match File::create_new(&claim) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(refuse(
                    "already holds a sweep (sweep.yaml); resume it with `moescope sweep resume`",
                ))
            }
            Err(e) => return Err(io_err(&claim)(e)),
        }
        let others = std::fs::read_dir(&dir)
            .map_err(io_err(&dir))?
            .flatten()
            .any(|e| e.file_name() != "sweep.yaml");
        if others {
            std::fs::remove_file(&claim).map_err(io_err(&claim))?;
            return Err(refuse(
                "is not empty; --out needs a new or empty folder so nothing is overwritten",
            ));
        }
        Ok(SweepDir { root: dir })
    }

    /// The sweep folder that `path` is inside (or is), recognised by its `sweep.json`: a run
    /// written there would be taken for one of its cells.
    pub fn enclosing(path: &Path) -> Option<PathBuf> {
        let abs = std::path::absolute(path).ok()?;
        abs.ancestors()
            .find(|a| a.join("sweep.json").is_file())
            .map(Path::to_path_buf)
    }

    /// Opens an existing sweep folder.
    pub fn open(dir: &Path) -> Result<SweepDir> {
        if !dir.join("sweep.yaml").is_file() {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                message: "is not a sweep folder (no sweep.yaml)".into(),
            });
        }
        Ok(SweepDir { root: absolute(dir)? })
    }

    /// Removes temporary files (`.<name>.tmp.<pid>`) that a killed process left in the sweep
    /// folder and in `collected/` (their owner is no longer running).
    pub fn remove_stale_temp(&self) -> Result<()> {
        for folder in [self.root.clone(), self.root.join("collected")] {
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let pid = name.starts_with('.').then(|| name.rsplit_once(".tmp.")).flatten();
                let Some(pid) = pid.and_then(|(_, p)| p.parse::<u32>().ok()) else {
                    continue;
                };
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    let path = entry.path();
                    std::fs::remove_file(&path).map_err(io_err(&path))?;
                }
            }
        }
        Ok(())
    }

    /// Writes the spec (`sweep.yaml`).
    pub fn write_spec(&self, spec: &SweepSpec) -> Result<()> {
        let text = serde_yaml::to_string(spec).map_err(|e| Error::Io {
            path: self.root.join("sweep.yaml"),
            message: e.to_string(),
        })?;
        Ok(write_atomic(&self.root.join("sweep.yaml"), text.as_bytes())?)
    }

    /// Reads the spec back.
    pub fn read_spec(&self) -> Result<SweepSpec> {
        let path = self.root.join("sweep.yaml");
        let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
        serde_yaml::from_str(&text).map_err(|e| Error::Io {
            path,
            message: format!("not a sweep spec written by moescope: {e}"),
        })
    }

    /// The finished folder of a cell.
    pub fn cell_dir(&self, id: &str) -> PathBuf {
        self.root.join("cells").join(id)
    }

    /// A fresh in-progress folder for a cell, owned by this process.
    pub fn partial_dir(&self, id: &str) -> PathBuf {
        self.root
            .join("cells")
            .join(format!(".partial-{id}-{}", std::process::id()))
    }

    /// The failure record of a cell's last unfinished attempt.
    pub fn failure_path(&self, id: &str) -> PathBuf {
        self.root.join("failures").join(format!("{id}.json"))
    }

    /// A cell's log file.
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.root.join("logs").join(format!("{id}.log"))
    }

    /// Takes the named lock without waiting: `Ok(None)` if another process holds it.
    pub fn try_lock(&self, name: &str) -> Result<Option<File>> {
        let dir = self.root.join("locks");
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let path = dir.join(format!("{name}.lock"));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(io_err(&path)(e)),
        }
    }

    /// Takes the named lock, waiting for it.
    pub fn lock(&self, name: &str) -> Result<File> {
        let dir = self.root.join("locks");
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let path = dir.join(format!("{name}.lock"));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        file.lock().map_err(io_err(&path))?;
        Ok(file)
    }

    /// The state of `cell` as the disk shows it now.
    pub fn state(&self, cell: &Cell) -> Result<CellState> {
        if self.try_lock(&cell_lock(&cell.id))?.is_none() {
            return Ok(CellState::Running);
        }
        let dir = self.cell_dir(&cell.id);
        if dir.join("manifest.json").is_file() {
            let manifest = moescope_records::Manifest::read(&dir)?;
            let failures: Vec<String> = manifest
                .failures()
                .map(|(m, s, st, msg)| format!("{m} seed {s} at {st}: {msg}"))
                .collect();
            return Ok(if failures.is_empty() {
                CellState::Done
            } else {
                CellState::Failed {
                    reason: failures.join("; "),
                }
            });
        }
        let failure = self.failure_path(&cell.id);
        if let Ok(text) = std::fs::read_to_string(&failure) {
            let reason = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["reason"].as_str().map(str::to_string))
                .unwrap_or(text);
            return Ok(CellState::Failed { reason });
        }
        Ok(CellState::Pending)
    }

    /// Rewrites `sweep.json` from the disk state of every cell, under the manifest lock so that
    /// concurrent shards never interleave their writes. `done` remembers the cells already seen
    /// done (a finished cell stays finished), so a long sweep does not re-read every cell's
    /// manifest after each completion.
    pub fn write_manifest(&self, cells: &[Cell], base: &SweepManifest, done: &mut BTreeSet<String>) -> Result<()> {
        let _guard = self.lock("manifest")?;
        let mut manifest = base.clone();
        manifest.cells = cells
            .iter()
            .map(|c| {
                let state = if done.contains(&c.id) {
                    CellState::Done
                } else {
                    self.state(c)?
                };
                if state == CellState::Done {
                    done.insert(c.id.clone());
                }
                Ok(CellRecord {
                    index: c.index,
                    id: c.id.clone(),
                    label: c.label.clone(),
                    assignment: c.assignment.iter().map(|(k, v)| (k.clone(), inline(v))).collect(),
                    jobs: c.jobs(),
                    state,
                })
            })
            .collect::<Result<_>>()?;
        let json = serde_json::to_string_pretty(&manifest).map_err(|e| Error::Io {
            path: self.root.join("sweep.json"),
            message: e.to_string(),
        })?;
        Ok(write_atomic(&self.root.join("sweep.json"), json.as_bytes())?)
    }

    /// Reads `sweep.json`.
    pub fn read_manifest(&self) -> Result<SweepManifest> {
        let path = self.root.join("sweep.json");
        let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
        serde_json::from_str(&text).map_err(|e| Error::Io {
            path,
            message: format!("not a sweep manifest: {e}"),
        })
    }

    /// Jobs finished so far by the attempt running cell `id` (from its in-progress folder's
    /// manifest), if one is running.
    pub fn jobs_in_progress(&self, id: &str) -> Option<usize> {
        let entries = std::fs::read_dir(self.root.join("cells")).ok()?;
        entries.flatten().find_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let (owner, _pid) = name.strip_prefix(".partial-")?.rsplit_once('-')?;
            (owner == id).then(|| moescope_records::Manifest::read(&e.path()).map_or(0, |m| m.finished_jobs()))
        })
    }

    /// Deletes in-progress folders of `id` left by processes that died (the caller holds the
    /// cell's lock, so no live process owns them).
    pub fn remove_stale(&self, id: &str) -> Result<()> {
        let cells = self.root.join("cells");
        let Ok(entries) = std::fs::read_dir(&cells) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let owned = [".partial-", ".old-"].iter().any(|p| {
                name.strip_prefix(p)
                    .and_then(|r| r.rsplit_once('-'))
                    .is_some_and(|(i, _)| i == id)
            });
            if owned {
                let path = entry.path();
                std::fs::remove_dir_all(&path).map_err(io_err(&path))?;
            }
        }
        Ok(())
    }
}

fn absolute(dir: &Path) -> Result<PathBuf> {
    std::path::absolute(dir).map_err(io_err(dir))
}

/// The lock a cell's runner holds for as long as it runs.
pub fn cell_lock(id: &str) -> String {
    format!("cell-{id}")
}

/// Renames `from` over `to` (a finished cell replacing an earlier failed one): the old folder is
/// moved aside first, so at every moment `to` is absent or complete. Then fsyncs the parent.
pub(crate) fn replace_dir(from: &Path, to: &Path, aside: &Path) -> Result<()> {
    if to.exists() {
        std::fs::rename(to, aside).map_err(io_err(to))?;
    }
    std::fs::rename(from, to).map_err(io_err(to))?;
    if aside.exists() {
        std::fs::remove_dir_all(aside).map_err(io_err(aside))?;
    }
    if let Some(parent) = to.parent() {
        File::open(parent).and_then(|d| d.sync_all()).map_err(io_err(parent))?;
    }
    Ok(())
}
