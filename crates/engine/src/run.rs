//! The run: a folder, data per seed, jobs over (architecture, seed) on worker threads, records
//! rewritten after every job (so a crash keeps what finished), and the summary at the end.

use crate::job::{self, JobOutput, StageFailure};
use crate::tensors::SeedTensors;
use crate::{budget, device, Error, Result};
use candle_core::Device;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use moescope_config::Experiment;
use moescope_records::{
    write_curves, write_metrics, write_npy, Claim, CurveRow, DataRecord, JobRecord, JobStatus, Manifest, MetricRow,
    ParamCountRecord, StageTime, CLAIM_FILE,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// How to run (everything that is not the experiment itself).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The run folder; `None` = `<output.root>/<name>-<UTC time>`.
    pub out: Option<PathBuf>,
    /// Jobs run at once (each single-threaded).
    pub jobs: usize,
    /// The command line, for the manifest.
    pub command: Vec<String>,
    /// Versions of moescope and its key dependencies, for the manifest.
    pub versions: BTreeMap<String, String>,
    /// Git commit of the build.
    pub git_commit: String,
    /// Draw progress bars.
    pub progress: bool,
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The run folder.
    pub dir: PathBuf,
    /// Number of (architecture, seed) jobs.
    pub jobs: usize,
    /// Failed jobs: (model, seed, stage, message).
    pub failed: Vec<(String, u64, String, String)>,
}

/// Runs `exp` and writes its folder. Job failures are recorded, not returned; setup, data and
/// I/O failures are errors.
pub fn run(exp: &Experiment, opts: &RunOptions) -> Result<RunOutcome> {
    let started = Instant::now();
    let device = device::open(exp.device)?;
    // Data first: bad input files fail before anything is written.
    let t = Instant::now();
    let (exp, data) = prepare_data(exp, &device)?;
    let exp = &exp;
    let data_seconds = t.elapsed().as_secs_f64();
    let claim = prepare_dir(exp, opts)?;
    let dir = claim.dir().to_path_buf();
    let mut manifest = initial_manifest(exp, opts, &device);
    manifest.data = exp
        .seeds
        .iter()
        .zip(&data)
        .map(|(&seed, d)| DataRecord {
            seed,
            description: d.description.clone(),
        })
        .collect();
    manifest.stages.push(StageTime {
        stage: "data".into(),
        seconds: data_seconds,
    });
    // The manifest first, listing every job as pending: a run stopped from here on says what
    // it never did.
    let plan = Plan::new(exp);
    manifest.jobs = plan.pending_records(exp);
    manifest.write(&dir)?;
    moescope_records::write_atomic(&dir.join("config.yaml"), exp.to_yaml().as_bytes())?;
    tracing::info!(dir = %dir.display(), device = %exp.device, "run started");
    let state = Mutex::new(Collected::new(plan.jobs.len(), manifest, started));
    let bars = Bars::new(plan.jobs.len(), opts.progress);
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.clamp(1, plan.groups.len()) {
            scope.spawn(|| worker(exp, &plan, &data, &device, &next, &state, &bars, &dir));
        }
    });
    bars.main.finish_and_clear();
    let mut collected = state.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = collected.io_error.take() {
        return Err(e);
    }
    // The report shows the wall time: write the manifest with it (up to here) first, then again
    // with the report's own time added.
    collected.manifest.wall_seconds = started.elapsed().as_secs_f64();
    collected.manifest.write(&dir)?;
    let t = Instant::now();
    moescope_report::write_report(&dir, None)?;
    collected.add_stage("report", t.elapsed().as_secs_f64());
    collected.manifest.wall_seconds = started.elapsed().as_secs_f64();
    collected.manifest.write(&dir)?;
    drop(claim); // the folder is complete: give it back
    let failed = collected
        .manifest
        .failures()
        .map(|(m, s, st, msg)| (m.to_string(), s, st.to_string(), msg.to_string()))
        .collect();
    Ok(RunOutcome {
        dir,
        jobs: plan.jobs.len(),
        failed,
    })
}

/// Every seed's data, and the experiment checked against it: sizes against memory, and a file's
/// input dimension (known only once loaded) against the d-bounded settings; without an encoder
/// the returned experiment records the d that dimension fixes.
fn prepare_data(exp: &Experiment, device: &Device) -> Result<(Experiment, Vec<SeedTensors>)> {
    budget::check_data(exp)?;
    let data = build_data(exp, device)?;
    // The config guarantees at least one seed.
    let (d_in, d_out) = data.first().map_or((0, 0), |d| (d.d_in, d.d_out));
    exp.validate_against_dim(d_in)?;
    let exp = exp.with_loaded_dim(d_in);
    budget::check_model(&exp, d_in, d_out)?;
    Ok((exp, data))
}

fn build_data(exp: &Experiment, device: &Device) -> Result<Vec<SeedTensors>> {
    exp.seeds
        .iter()
        .map(|&seed| {
            let splits = moescope_data::build(&exp.task, seed).map_err(|source| Error::Data { seed, source })?;
            Ok(SeedTensors::new(&splits, device)?)
        })
        .collect()
}

/// The jobs, one per (architecture, seed), seed-major so the first results cover every
/// architecture; and the training groups, each an architecture and up to `train.stack` seeds,
/// as indices into `jobs`.
struct Plan {
    jobs: Vec<(usize, usize)>,
    groups: Vec<Vec<usize>>,
}

impl Plan {
    /// Every job as `Pending`, in plan order: the manifest lists them all from the start.
    fn pending_records(&self, exp: &Experiment) -> Vec<JobRecord> {
        let record = |&(a, s): &(usize, usize)| JobRecord {
            model: exp.architectures[a].name.clone(),
            seed: exp.seeds[s],
            status: JobStatus::Pending,
            seconds: 0.0,
        };
        self.jobs.iter().map(record).collect()
    }

    fn new(exp: &Experiment) -> Plan {
        let archs = exp.architectures.len();
        let jobs = (0..exp.seeds.len())
            .flat_map(|s| (0..archs).map(move |a| (a, s)))
            .collect();
        let seeds: Vec<usize> = (0..exp.seeds.len()).collect();
        let groups = seeds
            .chunks(exp.train.stack.max(1))
            .flat_map(|chunk| (0..archs).map(move |a| chunk.iter().map(|&s| s * archs + a).collect()))
            .collect();
        Plan { jobs, groups }
    }
}

#[allow(clippy::too_many_arguments)]
fn worker(
    exp: &Experiment,
    plan: &Plan,
    data: &[SeedTensors],
    device: &Device,
    next: &AtomicUsize,
    state: &Mutex<Collected>,
    bars: &Bars,
    dir: &Path,
) {
    let bar = bars.worker();
    while let Some(group) = plan.groups.get(next.fetch_add(1, Ordering::SeqCst)) {
        let arch = &exp.architectures[plan.jobs[group[0]].0];
        let seeds: Vec<(u64, &SeedTensors)> = group
            .iter()
            .map(|&i| (exp.seeds[plan.jobs[i].1], &data[plan.jobs[i].1]))
            .collect();
        let label = match seeds.as_slice() {
            [(seed, _)] => format!("seed {seed}"),
            many => format!("{} seeds", many.len()),
        };
        let t = Instant::now();
        let trained = job::train_group(exp, arch, &seeds, device, &mut |stage, done, total| {
            bar.set_message(format!("{} {label}: {stage} {done}/{total}", arch.name));
        });
        // Each seed is charged an equal share of its group's training, failed or not.
        let train_share = t.elapsed().as_secs_f64() / seeds.len() as f64;
        for ((&i, (seed, data)), trained) in group.iter().zip(seeds).zip(trained) {
            let t = Instant::now();
            let result = trained.and_then(|tr| {
                let spectra = exp
                    .output
                    .npy
                    .then(|| dir.join("spectra").join(format!("{}_s{seed}_", arch.name)));
                job::probe(
                    exp,
                    arch,
                    seed,
                    tr,
                    data,
                    spectra.as_deref(),
                    &mut |stage, done, total| {
                        bar.set_message(format!("{} seed {seed}: {stage} {done}/{total}", arch.name));
                    },
                )
            });
            let seconds = train_share + t.elapsed().as_secs_f64();
            if let Err(f) = &result {
                tracing::error!(model = %arch.name, seed, stage = f.stage, "{}", f.message);
            }
            let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
            st.finish(i, &arch.name, seed, seconds, result, dir);
            bars.main.inc(1);
        }
    }
    bar.finish_and_clear();
}

/// Arrays with one row per probe point (written only with `output.npy: true`), besides the
/// streamed per-point spectra.
const PER_POINT: [&str; 1] = ["gates"];

/// Results gathered so far; rewritten to disk after every job, in plan order.
struct Collected {
    manifest: Manifest,
    rows: Vec<Vec<MetricRow>>,
    curves: Vec<Vec<CurveRow>>,
    stages: BTreeMap<&'static str, f64>,
    io_error: Option<Error>,
    /// When the run started: every rewrite records the wall time so far.
    started: Instant,
}

impl Collected {
    fn new(jobs: usize, manifest: Manifest, started: Instant) -> Self {
        Collected {
            manifest,
            rows: vec![Vec::new(); jobs],
            curves: vec![Vec::new(); jobs],
            stages: BTreeMap::new(),
            io_error: None,
            started,
        }
    }

    fn add_stage(&mut self, stage: &str, seconds: f64) {
        match self.manifest.stages.iter_mut().find(|s| s.stage == stage) {
            Some(s) => s.seconds += seconds,
            None => self.manifest.stages.push(StageTime {
                stage: stage.into(),
                seconds,
            }),
        }
    }

    fn finish(
        &mut self,
        i: usize,
        model: &str,
        seed: u64,
        seconds: f64,
        result: std::result::Result<JobOutput, StageFailure>,
        dir: &Path,
    ) {
        let status = match result {
            Ok(out) => match self.save_job(i, model, seed, out, dir) {
                Ok(()) => JobStatus::Done,
                Err(e) => JobStatus::Failed {
                    stage: "write".into(),
                    message: e.to_string(),
                },
            },
            Err(f) => JobStatus::Failed {
                stage: f.stage.into(),
                message: f.message,
            },
        };
        // Plan order, not completion order, so the file (and the report's failure list) does
        // not depend on scheduling.
        self.manifest.jobs[i] = JobRecord {
            model: model.to_string(),
            seed,
            status,
            seconds,
        };
        if let Err(e) = self.flush(dir) {
            self.io_error.get_or_insert(e);
        }
    }

    fn save_job(&mut self, i: usize, model: &str, seed: u64, out: JobOutput, dir: &Path) -> Result<()> {
        if self.manifest.config["output"]["checkpoints"].as_bool().unwrap_or(true) {
            let path = dir.join("checkpoints").join(format!("{model}_s{seed}.safetensors"));
            save_checkpoint(&out.model, &path)?;
        }
        for stream in out.streams {
            stream.finish()?;
        }
        // `output.npy: false` drops the per-point arrays (streamed ones never started, and the
        // gates); the small summary arrays stay, since the report's figures are drawn from them.
        let no_per_point = !self.manifest.config["output"]["npy"].as_bool().unwrap_or(true);
        for a in &out.arrays {
            if no_per_point && PER_POINT.contains(&a.name.as_str()) {
                continue;
            }
            let path = dir.join("spectra").join(format!("{model}_s{seed}_{}.npy", a.name));
            write_npy(&path, &a.shape, &a.data)?;
        }
        for (stage, s) in &out.stage_seconds {
            *self.stages.entry(stage).or_default() += s;
        }
        self.rows[i] = out.rows;
        self.curves[i] = out.curve;
        if !self.manifest.params.iter().any(|p| p.model == model) {
            self.manifest.params.push(param_record(model, &self.rows[i]));
            let order = |m: &str| {
                self.manifest.config["architectures"]
                    .as_array()
                    .and_then(|a| a.iter().position(|x| x == m))
            };
            let mut params = std::mem::take(&mut self.manifest.params);
            params.sort_by_key(|p| order(&p.model));
            self.manifest.params = params;
        }
        Ok(())
    }

    fn flush(&mut self, dir: &Path) -> Result<()> {
        for (stage, s) in std::mem::take(&mut self.stages) {
            self.add_stage(stage, s);
        }
        let rows: Vec<MetricRow> = self.rows.iter().flatten().cloned().collect();
        write_metrics(dir, &rows)?;
        write_curves(dir, &self.curves.iter().flatten().cloned().collect::<Vec<_>>())?;
        self.manifest.wall_seconds = self.started.elapsed().as_secs_f64();
        self.manifest.write(dir)?;
        Ok(())
    }
}

fn param_record(model: &str, rows: &[MetricRow]) -> ParamCountRecord {
    let get = |m: &str| {
        rows.iter()
            .find(|r| r.metric == m && r.expert.is_none())
            .map_or(0, |r| r.value as usize)
    };
    ParamCountRecord {
        model: model.to_string(),
        total: get("params.total"),
        active: get("params.active"),
        ffn_total: get("params.ffn_total"),
        router: get("params.router"),
    }
}

/// Saves through a temporary name so a crash never leaves a truncated checkpoint.
fn save_checkpoint(model: &moescope_model::Model, path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::Output {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let tmp = path.with_extension("safetensors.tmp");
    model.save(&tmp).map_err(|e| Error::Output {
        path: tmp.clone(),
        message: e.to_string(),
    })?;
    std::fs::rename(&tmp, path).map_err(|e| Error::Output {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// The run folder, claimed for this run (`records::Claim`): `--out` as given, which must be new
/// or empty, or a new `<output.root>/<name>-<UTC time>`.
fn prepare_dir(exp: &Experiment, opts: &RunOptions) -> Result<Claim> {
    let Some(dir) = &opts.out else {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let stamp = humantime::format_rfc3339_seconds(UNIX_EPOCH + std::time::Duration::from_secs(secs))
            .to_string()
            .replace(':', "-");
        let dir = create_unique(&exp.output.root.join(format!("{}-{stamp}", exp.name)))?;
        return Ok(Claim::take(&dir)?);
    };
    let claim = Claim::take(dir)?;
    let others: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Error::Output {
            path: dir.clone(),
            message: e.to_string(),
        })?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|name| name != CLAIM_FILE)
        .collect();
    if others.is_empty() {
        return Ok(claim);
    }
    // Not ours: the claim is given back (dropped) and the folder left as it was.
    Err(Error::Output {
        path: dir.clone(),
        message: match others.iter().any(|n| n == "manifest.json") {
            true => "already holds a run (manifest.json); choose another --out so nothing is overwritten".into(),
            false => format!(
                "is not empty (holds {}); a run goes into a new or empty folder, so choose another --out",
                others[0]
            ),
        },
    })
}

/// Creates `base`, or `base-2`, `base-3`, … if taken. `create_dir` either creates or fails, so two
/// runs started in the same second never share a folder.
fn create_unique(base: &Path) -> Result<PathBuf> {
    let err = |path: &Path, e: std::io::Error| Error::Output {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    if let Some(parent) = base.parent() {
        if parent.is_file() {
            return Err(Error::Output {
                path: parent.to_path_buf(),
                message: "is a file, not a folder (output.root names the parent of run folders)".into(),
            });
        }
        std::fs::create_dir_all(parent).map_err(|e| err(parent, e))?;
    }
    let mut i = 1;
    loop {
        let dir = if i == 1 {
            base.to_path_buf()
        } else {
            PathBuf::from(format!("{}-{i}", base.display()))
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => i += 1,
            Err(e) => return Err(err(&dir, e)),
        }
    }
}

fn initial_manifest(exp: &Experiment, opts: &RunOptions, device: &Device) -> Manifest {
    Manifest {
        schema_version: moescope_records::SCHEMA_VERSION,
        name: exp.name.clone(),
        started_unix: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        config: serde_json::to_value(&exp.raw).unwrap_or_default(),
        seeds: exp.seeds.clone(),
        device: exp.device.to_string(),
        device_info: device::describe(device),
        versions: opts.versions.clone(),
        git_commit: opts.git_commit.clone(),
        command: opts.command.clone(),
        working_dir: std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
        params: Vec::new(),
        data: Vec::new(),
        stages: Vec::new(),
        jobs: Vec::new(),
        wall_seconds: 0.0,
    }
}

/// The overall bar and one spinner line per worker.
struct Bars {
    multi: MultiProgress,
    main: ProgressBar,
}

impl Bars {
    fn new(jobs: usize, show: bool) -> Self {
        let multi = MultiProgress::with_draw_target(if show {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let style = ProgressStyle::with_template("{bar:30} {pos}/{len} jobs  {elapsed_precise} (eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        let main = multi.add(ProgressBar::new(jobs as u64).with_style(style));
        Bars { multi, main }
    }

    fn worker(&self) -> ProgressBar {
        let style =
            ProgressStyle::with_template("  {spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = self.multi.add(ProgressBar::new_spinner().with_style(style));
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    }
}
