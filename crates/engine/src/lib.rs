//! Runs a moescope experiment end to end.
//!
//! [`run`] takes a validated [`moescope_config::Experiment`] and [`RunOptions`], builds each
//! seed's data once, trains and probes every architecture on every seed (jobs on worker
//! threads), turns Jacobians and hidden states into metric rows (SPEC §5–§7), and writes a
//! self-describing run folder through `moescope-records`, ending with `summary.md` from
//! `moescope-report`. It is the only crate that combines the compute crates.
//!
//! ```no_run
//! let exp = moescope_config::load(std::path::Path::new("configs/paper.yaml"), &[]).unwrap();
//! let opts = moescope_engine::RunOptions { out: None, jobs: 2, command: vec![], versions: Default::default(), git_commit: "unknown".into(), progress: false };
//! let outcome = moescope_engine::run(&exp, &opts).unwrap();
//! println!("{}", outcome.dir.display());
//! ```
#![deny(missing_docs)]

mod budget;
mod device;
mod error;
mod geometry;
mod job;
mod run;
mod tensors;

pub use device::open as open_device;
pub use error::{Error, Result};
pub use run::{run, RunOptions, RunOutcome};
