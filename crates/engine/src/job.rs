//! One job: one architecture trained and probed on one seed.
//!
//! Stages: `train` → `probe` (Jacobians and hidden states, chunked) → `spectral` (metrics), then
//! the S3 ensemble decomposition (counted in `probe`) and, with `probe.robustness`, `robustness`.
//! Every stage boundary checks finiteness; a failure names the stage and ends this job only.

use crate::geometry::ensemble::{self, Diversity};
use crate::geometry::function::{ExpertJacobians, Reduced, SpectrumAcc};
use crate::geometry::representation::{accumulate, add_columns, global_pca, weighted_pca, PcaOptions};
use crate::geometry::robustness::{self, Perturbations};
use crate::geometry::{alignment, routing, Array, Rows};
use crate::tensors::{host_f64, with_host_f64, SeedTensors};
use candle_core::{DType, Device, Tensor};
use moescope_config::{
    Architecture, AvgWeight, Experiment, GroupOrder, JacobianPath, Precision, Routing, SpectraOn, WeightMode,
};
use moescope_model::{Model, ModelSpec, StackedRun, TrainOptions, TrainReport};
use moescope_probe::LayerJacobians;
use moescope_records::{CurveRow, MetricRow, NpyStream};
use moescope_spectral::{
    diagonal_gmm_responsibilities, singular_values_batch, spectrum_metrics, CovarianceAcc, GmmOptions, SpectrumOptions,
};
use std::path::Path;
use std::time::Instant;

/// Points per side of the input-plane gate grid written for 2-D inputs.
const GATE_GRID: usize = 64;

/// What one finished job hands back to the run.
pub(crate) struct JobOutput {
    pub rows: Vec<MetricRow>,
    pub curve: Vec<CurveRow>,
    pub arrays: Vec<Array>,
    pub stage_seconds: Vec<(&'static str, f64)>,
    pub model: Model,
    /// The per-point spectra, streamed to disk during the probe; the run finishes (publishes)
    /// them with the job's other outputs. Empty with `output.npy: false`.
    pub streams: Vec<NpyStream>,
}

/// A failed stage and its message.
#[derive(Clone)]
pub(crate) struct StageFailure {
    pub stage: &'static str,
    pub message: String,
}

fn fail<E: std::fmt::Display>(stage: &'static str) -> impl Fn(E) -> StageFailure {
    move |e| StageFailure {
        stage,
        message: e.to_string(),
    }
}

/// A model trained on one seed, ready for its probe.
pub(crate) struct Trained {
    pub model: Model,
    pub report: TrainReport,
    pub seconds: f64,
}

/// Trains `arch` on each of `seeds` (with its data): one model at a time for a single seed, else
/// all of them as one batched graph (`train.stack`). One result per seed, in order; a seed that
/// fails does not fail the others. Each seed is charged an equal share of a group's time.
pub(crate) fn train_group(
    exp: &Experiment,
    arch: &Architecture,
    seeds: &[(u64, &SeedTensors)],
    device: &Device,
    on_step: &mut dyn FnMut(&str, usize, usize),
) -> Vec<Result<Trained, StageFailure>> {
    let t0 = Instant::now();
    let opts = TrainOptions::from(&exp.train);
    let models: Result<Vec<Model>, StageFailure> = seeds
        .iter()
        .map(|&(seed, data)| {
            let spec = ModelSpec::new(&exp.model, arch, data.d_in, data.d_out).map_err(fail("train"))?;
            Model::new(spec, seed, device).map_err(fail("train"))
        })
        .collect();
    let mut models = match models {
        Ok(m) => m,
        Err(f) => return seeds.iter().map(|_| Err(f.clone())).collect(),
    };
    let mut progress = |s, n| on_step("train", s, n);
    let reports: Vec<moescope_model::Result<TrainReport>> = match models.as_mut_slice() {
        [model] => vec![moescope_model::train(
            model,
            &seeds[0].1.train,
            &opts,
            seeds[0].0,
            &mut progress,
        )],
        many => {
            let mut runs: Vec<StackedRun> = many
                .iter_mut()
                .zip(seeds)
                .map(|(model, &(seed, data))| StackedRun {
                    model,
                    data: &data.train,
                    seed,
                })
                .collect();
            match moescope_model::train_stacked(&mut runs, &opts, &mut progress) {
                Ok(reports) => reports,
                Err(e) => return seeds.iter().map(|_| Err(fail("train")(&e))).collect(),
            }
        }
    };
    let seconds = t0.elapsed().as_secs_f64() / seeds.len() as f64;
    models
        .into_iter()
        .zip(reports)
        .map(|(model, report)| {
            let report = report.map_err(fail("train"))?;
            Ok(Trained { model, report, seconds })
        })
        .collect()
}

/// Trains and probes `arch` on `seed` (one model at a time).
#[cfg(test)]
pub(crate) fn run(
    exp: &Experiment,
    arch: &Architecture,
    seed: u64,
    data: &SeedTensors,
    device: &Device,
    spectra: Option<&Path>,
    on_step: &mut dyn FnMut(&str, usize, usize),
) -> Result<JobOutput, StageFailure> {
    let trained = train_group(exp, arch, &[(seed, data)], device, on_step).remove(0)?;
    probe(exp, arch, seed, trained, data, spectra, on_step)
}

/// Probes a trained model of `arch` on `seed`. `spectra` is where the per-point spectra stream
/// to (`<folder>/<prefix><name>.npy`), or `None` to not keep them. `on_step(stage, done, total)`
/// reports progress.
pub(crate) fn probe(
    exp: &Experiment,
    arch: &Architecture,
    seed: u64,
    trained: Trained,
    data: &SeedTensors,
    spectra: Option<&Path>,
    on_step: &mut dyn FnMut(&str, usize, usize),
) -> Result<JobOutput, StageFailure> {
    let Trained { model, report, seconds } = trained;
    let mut stage_seconds = vec![("train", seconds)];
    let mut rows = Rows::new(&arch.name, seed);
    fit_rows(&mut rows, &report, &model, arch, model.spec().d);
    let curve = report
        .curve
        .iter()
        .map(|p| CurveRow {
            model: arch.name.clone(),
            seed,
            step: p.step,
            train_loss: p.train_loss,
            val_loss: p.val_loss,
        })
        .collect();
    let mut probe = Probe::new(exp, arch, seed, &model, &data.x_probe).map_err(fail("probe"))?;
    let (arrays, streams) = probe.run(&mut rows, spectra, on_step)?;
    probe.ensemble(&mut rows, data)?;
    if let Some(seconds) = probe.robustness(&mut rows, data, on_step)? {
        stage_seconds.push(("robustness", seconds));
    }
    stage_seconds.push(("probe", probe.probe_seconds));
    stage_seconds.push(("spectral", probe.spectral_seconds));
    Ok(JobOutput {
        rows: rows.rows,
        curve,
        arrays,
        stage_seconds,
        model,
        streams,
    })
}

fn fit_rows(rows: &mut Rows, report: &TrainReport, model: &Model, arch: &Architecture, d: usize) {
    rows.push(None, "fit.train_loss", report.final_train_loss);
    rows.push(None, "fit.val_loss", report.final_val_loss);
    rows.push(None, "fit.steps", report.steps_run as f64);
    let counts = model.param_counts();
    rows.push(None, "params.total", counts.total as f64);
    rows.push(None, "params.active", counts.active as f64);
    let (ffn_total, ffn_active) = arch.ffn_params(d);
    rows.push(None, "params.ffn_total", ffn_total as f64);
    rows.push(None, "params.ffn_active", ffn_active as f64);
    rows.push(None, "params.router", arch.router_params(d) as f64);
}

/// The probe of one trained model: streams the probe set in chunks.
struct Probe<'a> {
    exp: &'a Experiment,
    arch: &'a Architecture,
    seed: u64,
    model: Model,
    x: Tensor,
    spectrum: SpectrumOptions,
    /// Take the singular values on the run's device (`probe.spectra`), not on the host.
    device_spectra: bool,
    probe_seconds: f64,
    spectral_seconds: f64,
}

impl<'a> Probe<'a> {
    fn new(
        exp: &'a Experiment,
        arch: &'a Architecture,
        seed: u64,
        model: &Model,
        x_probe: &Tensor,
    ) -> candle_core::Result<Self> {
        let dtype = match exp.probe.precision {
            Precision::F64 => DType::F64,
            Precision::F32 => DType::F32,
        };
        let model = model
            .to_dtype(dtype)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let x = x_probe.to_dtype(dtype)?;
        let spectrum = SpectrumOptions {
            decay_q: exp.probe.decay_q,
        };
        let device_spectra = match exp.probe.spectra {
            SpectraOn::Auto => model.device().is_cuda(),
            SpectraOn::Host => false,
            SpectraOn::Device => true,
        };
        Ok(Probe {
            exp,
            arch,
            seed,
            model,
            x,
            spectrum,
            device_spectra,
            probe_seconds: 0.0,
            spectral_seconds: 0.0,
        })
    }

    fn run(
        &mut self,
        rows: &mut Rows,
        spectra: Option<&Path>,
        on_step: &mut dyn FnMut(&str, usize, usize),
    ) -> Result<(Vec<Array>, Vec<NpyStream>), StageFailure> {
        // The model's d, not the config's: without an encoder, d = d_in.
        let (n, d) = (self.x.dim(0).map_err(fail("probe"))?, self.model.spec().d);
        let experts = self.arch.experts;
        let groups = self.is_dense().then_some(self.exp.model.experts);
        let weighting = (self.exp.probe.weight_mode, self.exp.probe.gate_power);
        let mut state = ProbeState::new(experts, d, groups, weighting);
        if let Some(prefix) = spectra {
            state.sinks = Sinks::create(prefix, n, experts, d, groups).map_err(fail("probe"))?;
        }
        let chunk = self.exp.probe.chunk;
        for start in (0..n).step_by(chunk) {
            let len = chunk.min(n - start);
            let x = self.x.narrow(0, start, len).map_err(fail("probe"))?;
            self.chunk(&x, &mut state)?;
            on_step("probe", start + len, n);
        }
        let t = Instant::now();
        let streams = std::mem::take(&mut state.sinks).into_streams();
        let mut arrays = self.finish(state, rows).map_err(fail("spectral"))?;
        self.spectral_seconds += t.elapsed().as_secs_f64();
        arrays.extend(self.gate_grid().map_err(fail("probe"))?);
        Ok((arrays, streams))
    }

    /// For 2-D inputs and routed models, the gates on a `GATE_GRID`² grid over the probe inputs'
    /// bounding box, for the report's input-plane figure: rows (x1, x2, g_1 … g_E), x1 fastest.
    fn gate_grid(&self) -> moescope_model::Result<Option<Array>> {
        let (n, d_in) = self.x.dims2()?;
        if d_in != 2 || self.is_dense() || n == 0 {
            return Ok(None);
        }
        let x = host_f64(&self.x)?; // (n, 2)
        let span = |c: usize| {
            let v = x.iter().skip(c).step_by(2);
            v.clone().fold(f64::INFINITY, |a, &b| a.min(b))..=v.fold(f64::NEG_INFINITY, |a, &b| a.max(b))
        };
        let (sx, sy) = (span(0), span(1));
        let at = |r: &std::ops::RangeInclusive<f64>, i: usize| {
            r.start() + (r.end() - r.start()) * i as f64 / (GATE_GRID - 1) as f64
        };
        let grid: Vec<f64> = (0..GATE_GRID * GATE_GRID)
            .flat_map(|k| [at(&sx, k % GATE_GRID), at(&sy, k / GATE_GRID)])
            .collect();
        let g =
            Tensor::from_vec(grid.clone(), (GATE_GRID * GATE_GRID, 2), self.x.device())?.to_dtype(self.x.dtype())?;
        let gates = host_f64(&self.model.forward(&g)?.ffn.gates)?; // (G², E)
        let e = self.arch.experts;
        let data = grid
            .chunks(2)
            .zip(gates.chunks(e))
            .flat_map(|(p, g)| p.iter().chain(g).copied())
            .collect();
        Ok(Some(Array {
            name: "gate_grid".into(),
            shape: vec![GATE_GRID * GATE_GRID, 2 + e],
            data,
        }))
    }

    /// SPEC §9.2 S3 ambiguity decomposition, on the validation split: the probe set reaches the
    /// engine without targets (see [`ensemble`]). Routed models only.
    fn ensemble(&mut self, rows: &mut Rows, data: &SeedTensors) -> Result<(), StageFailure> {
        if self.is_dense() || self.arch.experts < 2 {
            return Ok(());
        }
        let t = Instant::now();
        let (x, y) = (&data.train.x_val, &data.train.y_val);
        ensemble::ambiguity(&self.model, x, y, self.exp.probe.chunk)
            .map_err(fail("probe"))?
            .emit(rows);
        self.probe_seconds += t.elapsed().as_secs_f64();
        Ok(())
    }

    /// SPEC §9.2 S4 when `probe.robustness` is set: a second pass over the probe set for the
    /// perturbation metrics, then the shifted-T1 loss. Returns the seconds it took.
    fn robustness(
        &self,
        rows: &mut Rows,
        data: &SeedTensors,
        on_step: &mut dyn FnMut(&str, usize, usize),
    ) -> Result<Option<f64>, StageFailure> {
        let Some(cfg) = &self.exp.probe.robustness else {
            return Ok(None);
        };
        let t = Instant::now();
        let (n, d_in) = self.x.dims2().map_err(fail("robustness"))?;
        let x = host_f64(&self.x).map_err(fail("robustness"))?;
        let (autograd, chunk) = (self.exp.probe.jacobian == JacobianPath::Autograd, self.exp.probe.chunk);
        let mut acc = Perturbations::new(&cfg.sigmas, cfg.samples, self.seed);
        let mut eval = |p: &[f64]| robustness::model_eval(&self.model, p, autograd, chunk);
        for (c, part) in x.chunks(chunk * d_in).enumerate() {
            acc.add(part, d_in, &mut eval).map_err(fail("robustness"))?;
            on_step("robustness", (c * chunk + chunk).min(n), n);
        }
        acc.emit(rows);
        let (x_val, y_val) = (&data.train.x_val, &data.train.y_val);
        let val_loss = moescope_model::evaluate(&self.model, x_val, y_val).map_err(fail("robustness"))?;
        robustness::emit_shift_loss(&self.model, &self.exp.task, self.seed, cfg.shift, val_loss, rows)
            .map_err(fail("robustness"))?;
        Ok(Some(t.elapsed().as_secs_f64()))
    }

    fn is_dense(&self) -> bool {
        self.arch.routing == Routing::Dense
    }

    /// One chunk: Jacobians on the device (`probe`), then their reduction, on the host or the
    /// device, and the host accumulators (`spectral`).
    fn chunk(&mut self, x: &Tensor, st: &mut ProbeState) -> Result<(), StageFailure> {
        let t = Instant::now();
        let jac = self.jacobians(x).map_err(fail("probe"))?;
        self.probe_seconds += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let host = self.reduce(jac)?;
        st.add(host, &self.spectrum, self.exp.probe.avg_weight, self.dims())
            .map_err(fail("spectral"))?;
        st.spill().map_err(fail("spectral"))?;
        self.spectral_seconds += t.elapsed().as_secs_f64();
        Ok(())
    }

    fn dims(&self) -> (usize, usize, usize) {
        let s = self.model.spec();
        (s.d, s.d_out, s.d_in)
    }

    /// One chunk's Jacobians and routing, on the model's device.
    fn jacobians(&self, x: &Tensor) -> moescope_probe::Result<DeviceChunk> {
        let h = self.model.encode(x)?; // (n, d)
        let lj = match self.exp.probe.jacobian {
            JacobianPath::ClosedForm => moescope_probe::layer_jacobians(&self.model, &h)?,
            JacobianPath::Autograd => moescope_probe::layer_jacobians_autograd(&self.model, &h, self.exp.probe.chunk)?,
        };
        let model = match self.exp.probe.jacobian {
            // Reuses the layer Jacobian above instead of computing it a second time.
            JacobianPath::ClosedForm => moescope_probe::model_jacobian_from_layer(&self.model, x, &lj.full)?,
            JacobianPath::Autograd => moescope_probe::model_jacobian_autograd(&self.model, x, self.exp.probe.chunk)?,
        };
        let groups = match self.is_dense() {
            true => Some(self.dense_groups(&h)?),
            false => None,
        };
        Ok(DeviceChunk { h, lj, model, groups })
    }

    /// What the host accumulators need from a chunk. Host spectra: the Jacobians are copied and
    /// decomposed here. Device spectra: batched solvers on the device, and only singular values,
    /// expert-average sums and pairwise inner products are copied (never the Jacobians).
    fn reduce(&self, c: DeviceChunk) -> Result<HostChunk, StageFailure> {
        let copy = |t: &Tensor| host_f64(t).map_err(fail("probe"));
        let (gates, selected) = (copy(&c.lj.gates)?, copy(&c.lj.selected)?);
        let weights = match self.exp.probe.avg_weight {
            AvgWeight::Gate => (&c.lj.gates, &gates),
            AvgWeight::UniformRouted => (&c.lj.selected, &selected),
        };
        let (expert, full_sv, model_sv, groups) = match self.device_spectra {
            true => on_device(&c, weights.0, &routed_pairs(weights.1, &selected)).map_err(fail("spectral"))?,
            false => self.on_host(&c, weights.1, &selected)?,
        };
        let expert_out = match self.is_dense() {
            true => None,                           // SPEC §9.2 S3 diversity: routed models only
            false => Some(copy(&c.lj.expert_out)?), // (n, E, d)
        };
        Ok(HostChunk {
            h: copy(&c.h)?,
            expert,
            full_sv,
            model_sv,
            gates,
            selected,
            margin: c.lj.margin.as_ref().map(copy).transpose()?,
            groups,
            expert_out,
        })
    }

    /// The host path of [`Probe::reduce`]: copy the Jacobians, batched SVDs of the routed pairs.
    fn on_host(&self, c: &DeviceChunk, weights: &[f64], selected: &[f64]) -> Result<Reductions, StageFailure> {
        let spec = self.model.spec();
        let (e, d) = (self.arch.experts, spec.d);
        let sv_all = |j: &[f64], r: usize, c: usize| singular_values_batch(&j.chunks(r * c).collect::<Vec<_>>(), r, c);
        let expert = host_view(&c.lj.expert, |j| Reduced::host(j, weights, selected, e, d))?;
        let groups = match &c.groups {
            Some(g) => {
                let k = g.dim(1).map_err(fail("probe"))?;
                let ones = vec![1.0; selected.len() / e * k];
                Some(host_view(g, |j| Reduced::host(j, &ones, &ones, k, d))?)
            }
            None => None,
        };
        let full = host_view(&c.lj.full, |j| sv_all(j, d, d))?;
        let model = host_view(&c.model, |j| sv_all(j, spec.d_out, spec.d_in))?;
        Ok((expert, full, model, groups))
    }

    fn dense_groups(&self, h: &Tensor) -> moescope_probe::Result<Tensor> {
        let g = self.exp.model.experts;
        let perm = match self.exp.probe.dense_groups {
            GroupOrder::Index => None,
            GroupOrder::Random => Some(permutation(
                self.arch.hidden,
                moescope_config::derive_seed(self.seed, "probe/groups"),
            )),
        };
        moescope_probe::dense_group_jacobians(&self.model, h, g, perm.as_deref())
    }

    fn finish(&self, st: ProbeState, rows: &mut Rows) -> moescope_spectral::Result<Vec<Array>> {
        let d = self.model.spec().d;
        let r = self.exp.probe.subspace_rank;
        let mut arrays = st.emit_function(rows, self.is_dense());
        let jbars: Vec<Option<Vec<f64>>> = (0..st.expert.mass.len()).map(|e| st.expert.jbar(e)).collect();
        if !self.is_dense() {
            arrays.push(alignment::emit(&jbars, d, r, rows, "align")?);
        }
        if let Some(groups) = &st.groups {
            let gbars: Vec<Option<Vec<f64>>> = (0..groups.mass.len()).map(|e| groups.jbar(e)).collect();
            arrays.push(alignment::emit(&gbars, d, r, rows, "align_group")?);
        }
        arrays.extend(self.representation(&st, rows)?);
        if !self.is_dense() {
            routing::emit(
                &st.gates,
                self.arch.experts,
                st.margin.as_deref(),
                self.exp.probe.boundary_margin,
                rows,
            )?;
        }
        Ok(arrays)
    }

    /// SPEC §6: weighted PCA per expert (or the cluster-matched control for dense), plus the
    /// unweighted global PCA.
    fn representation(&self, st: &ProbeState, rows: &mut Rows) -> moescope_spectral::Result<Vec<Array>> {
        let d = self.model.spec().d;
        let opts = PcaOptions {
            unbiased: self.exp.probe.unbiased,
            subspace_rank: self.exp.probe.subspace_rank,
        };
        let mut arrays = vec![global_pca(&st.global, d, rows, "rep_global")?];
        if self.is_dense() {
            // The cluster-matched control needs every point at once (EM), so dense keeps h.
            let (k, n) = (self.exp.model.experts, st.h.len() / d);
            let resp = diagonal_gmm_responsibilities(&st.h, n, d, &GmmOptions::new(k))?;
            let covs = accumulate(&st.h, d, &resp, k)?;
            arrays.extend(weighted_pca(
                &covs,
                d,
                &opts,
                rows,
                ("rep_cluster", "subspace_cluster"),
            )?);
        } else {
            arrays.extend(weighted_pca(&st.covs, d, &opts, rows, ("rep", "subspace"))?);
        }
        Ok(arrays)
    }
}

/// SPEC §6.1 `weight_mode`.
fn pca_weights(gates: &[f64], experts: usize, mode: WeightMode, gamma: f64) -> Vec<f64> {
    match mode {
        WeightMode::Gate => gates.to_vec(),
        WeightMode::GatePower => gates.iter().map(|g| g.powf(gamma)).collect(),
        WeightMode::HardArgmax => gates
            .chunks(experts)
            .flat_map(|g| {
                // Ties go to the lower index, as in routing.
                let best = g.iter().enumerate().fold(0, |b, (e, &v)| if v > g[b] { e } else { b });
                (0..experts).map(move |e| if e == best { 1.0 } else { 0.0 })
            })
            .collect(),
    }
}

/// A seeded Fisher–Yates permutation (for random dense-partition groups).
fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    let mut s = seed;
    for i in (1..n).rev() {
        s = moescope_config::derive_seed(s, "shuffle");
        p.swap(i, (s % (i as u64 + 1)) as usize);
    }
    p
}

/// One chunk's Jacobians and routing, still on the model's device.
struct DeviceChunk {
    /// (n, d) router inputs.
    h: Tensor,
    lj: LayerJacobians,
    /// (n, d_out, d_in) end-to-end Jacobians.
    model: Tensor,
    /// (n, G, d, d) dense-partition group Jacobians (dense only).
    groups: Option<Tensor>,
}

/// Host data of one chunk: reductions of the Jacobians, never the Jacobians themselves.
struct HostChunk {
    h: Vec<f64>,
    expert: Reduced,
    /// (n, d) singular values of J_F.
    full_sv: Vec<f64>,
    /// (n, min(d_out, d_in)) singular values of the end-to-end Jacobian.
    model_sv: Vec<f64>,
    gates: Vec<f64>,
    selected: Vec<f64>,
    margin: Option<Vec<f64>>,
    groups: Option<Reduced>,
    /// (n, E, d) E_e(h) for every expert; `None` for dense.
    expert_out: Option<Vec<f64>>,
}

/// A chunk's expert reduction, J_F and end-to-end singular values, and dense-group reduction.
type Reductions = (Reduced, Vec<f64>, Vec<f64>, Option<Reduced>);

/// The device path of [`Probe::reduce`]: batched solvers where the Jacobians are; only the
/// reductions are copied. `weights` (n, E) on the device, `routed` as in [`device_reduce`].
fn on_device(c: &DeviceChunk, weights: &Tensor, routed: &[u32]) -> moescope_gpu::Result<Reductions> {
    let expert = device_reduce(&c.lj.expert, weights, routed)?;
    let groups = match &c.groups {
        Some(g) => {
            let (n, k, _, _) = g.dims4()?;
            let all: Vec<u32> = (0..(n * k) as u32).collect(); // uniform weights: every group
            Some(device_reduce(g, &Tensor::ones((n, k), g.dtype(), g.device())?, &all)?)
        }
        None => None,
    };
    Ok((expert, device_sv(&c.lj.full)?, device_sv(&c.model)?, groups))
}

/// Singular values of every matrix of a (…, r, c) device tensor, computed there; host (…, min(r, c)).
fn device_sv(t: &Tensor) -> moescope_gpu::Result<Vec<f64>> {
    let dims = t.dims();
    let (r, c) = (dims[dims.len() - 2], dims[dims.len() - 1]);
    let batch = t.elem_count() / (r * c).max(1);
    let sv = moescope_gpu::singular_values(&t.reshape((batch, r, c))?)?;
    Ok(host_f64(&sv)?)
}

/// [`Reduced`] of expert Jacobians `jac` (n, E, d, d) with weights (n, E), computed on their
/// device: batched singular values of the routed pairs only (`routed`: flat indices i·E + e,
/// from the host copies of the weights and selection; Top-k leaves most pairs out), Σ_i w_ie J_e
/// and the per-point Gram matrix of the J_e.
fn device_reduce(jac: &Tensor, weights: &Tensor, routed: &[u32]) -> moescope_gpu::Result<Reduced> {
    let (n, e, d, _) = jac.dims4()?;
    let w = weights.to_dtype(jac.dtype())?.reshape((n, e, 1, 1))?;
    let jbar = jac.broadcast_mul(&w)?.sum(0)?; // (E, d, d)
    let flat = jac.reshape((n, e, d * d))?;
    let dots = flat.matmul(&flat.transpose(1, 2)?.contiguous()?)?; // (n, E, E)
    let mut sv = vec![0.0; n * e * d];
    if !routed.is_empty() {
        let idx = Tensor::from_slice(routed, routed.len(), jac.device())?;
        let picked = jac.reshape((n * e, d, d))?.index_select(&idx, 0)?; // (m, d, d)
        for (&k, s) in routed.iter().zip(device_sv(&picked)?.chunks(d)) {
            sv[k as usize * d..][..d].copy_from_slice(s);
        }
    }
    Ok(Reduced {
        sv,
        jbar: host_f64(&jbar)?,
        dots: host_f64(&dots)?,
    })
}

/// `f` on the values of a Jacobian tensor, read in place when they are in host memory (see
/// [`with_host_f64`]): a failed copy is the probe's, a failed decomposition the spectral stage's.
fn host_view<R>(t: &Tensor, f: impl FnOnce(&[f64]) -> moescope_spectral::Result<R>) -> Result<R, StageFailure> {
    with_host_f64(t, f).map_err(fail("probe"))?.map_err(fail("spectral"))
}

/// Flat indices i·E + e of the routed (weight > 0, selected) pairs of host (n, E) arrays.
fn routed_pairs(weights: &[f64], selected: &[f64]) -> Vec<u32> {
    (0..weights.len())
        .filter(|&k| weights[k] > 0.0 && selected[k] != 0.0)
        .map(|k| k as u32)
        .collect()
}

/// The per-point spectra files of one job: `<prefix>jac_expert_sv.npy` (n, E, d),
/// `<prefix>jac_full_sv.npy` (n, d) and, for dense, `<prefix>jac_group_sv.npy` (n, G, d).
#[derive(Default)]
struct Sinks {
    expert: Option<NpyStream>,
    full: Option<NpyStream>,
    groups: Option<NpyStream>,
}

impl Sinks {
    fn create(prefix: &Path, n: usize, e: usize, d: usize, groups: Option<usize>) -> moescope_records::Result<Sinks> {
        let file = |name: &str| {
            let mut p = prefix.as_os_str().to_owned();
            p.push(format!("{name}.npy"));
            std::path::PathBuf::from(p)
        };
        Ok(Sinks {
            expert: Some(NpyStream::create(&file("jac_expert_sv"), &[n, e, d])?),
            full: Some(NpyStream::create(&file("jac_full_sv"), &[n, d])?),
            groups: groups
                .map(|g| NpyStream::create(&file("jac_group_sv"), &[n, g, d]))
                .transpose()?,
        })
    }

    fn into_streams(self) -> Vec<NpyStream> {
        [self.expert, self.full, self.groups].into_iter().flatten().collect()
    }
}

/// Accumulators over all chunks of the probe set.
struct ProbeState {
    expert: ExpertJacobians,
    groups: Option<ExpertJacobians>,
    full: SpectrumAcc,
    model: SpectrumAcc,
    full_sv: Vec<f64>,
    /// Router inputs h, n × d: kept only for dense (its GMM control needs every point).
    h: Vec<f64>,
    /// Unit-weight covariance of all h, and (routed) one per expert under the PCA weights.
    global: CovarianceAcc,
    covs: Vec<CovarianceAcc>,
    /// SPEC §6.1 `weight_mode` and `gate_power`.
    weighting: (WeightMode, f64),
    gates: Vec<f64>,
    margin: Option<Vec<f64>>,
    diversity: Diversity,
    /// Where the per-point spectra go after each chunk (so they never pile up in memory).
    sinks: Sinks,
    /// Probe points seen so far.
    points: usize,
}

impl ProbeState {
    fn new(experts: usize, d: usize, groups: Option<usize>, weighting: (WeightMode, f64)) -> Self {
        ProbeState {
            global: CovarianceAcc::new(d),
            covs: match groups {
                Some(_) => Vec::new(),
                None => vec![CovarianceAcc::new(d); experts],
            },
            weighting,
            expert: ExpertJacobians::new(experts, d),
            groups: groups.map(|g| ExpertJacobians::new(g, d)),
            full: SpectrumAcc::default(),
            model: SpectrumAcc::default(),
            full_sv: Vec::new(),
            h: Vec::new(),
            gates: Vec::new(),
            margin: None,
            diversity: Diversity::default(),
            sinks: Sinks::default(),
            points: 0,
        }
    }

    /// Moves this chunk's per-point spectra to their streams (or drops them without streams).
    fn spill(&mut self) -> moescope_records::Result<()> {
        let groups = self.groups.as_mut().map(|g| &mut g.per_point);
        let pairs = [
            (self.sinks.expert.as_mut(), Some(&mut self.expert.per_point)),
            (self.sinks.full.as_mut(), Some(&mut self.full_sv)),
            (self.sinks.groups.as_mut(), groups),
        ];
        for (sink, buf) in pairs {
            let Some(buf) = buf else { continue };
            if let Some(sink) = sink {
                sink.append(buf)?;
            }
            buf.clear();
        }
        Ok(())
    }

    fn add(
        &mut self,
        c: HostChunk,
        opts: &SpectrumOptions,
        avg: AvgWeight,
        (d, d_out, d_in): (usize, usize, usize),
    ) -> moescope_spectral::Result<()> {
        let weights = match avg {
            AvgWeight::Gate => &c.gates,
            AvgWeight::UniformRouted => &c.selected,
        };
        self.expert.add_chunk(&c.expert, weights, &c.gates, &c.selected, opts)?;
        if let (Some(acc), Some(r)) = (self.groups.as_mut(), c.groups.as_ref()) {
            let ones = vec![1.0; c.h.len() / d * acc.mass.len()];
            acc.add_chunk(r, &ones, &ones, &ones, opts)?;
        }
        for sv in c.full_sv.chunks(d) {
            self.full.add(&spectrum_metrics(sv, (d, d), opts)?, 1.0);
            self.full_sv.extend_from_slice(sv);
        }
        for sv in c.model_sv.chunks(d_out.min(d_in)) {
            self.model.add(&spectrum_metrics(sv, (d_out, d_in), opts)?, 1.0);
        }
        if let Some(out) = &c.expert_out {
            self.diversity.add(out, self.expert.experts.len(), d);
        }
        let n = c.h.len() / d;
        self.points += n;
        self.global.add(&c.h, &vec![1.0; n])?;
        if self.groups.is_some() {
            self.h.extend_from_slice(&c.h);
        } else {
            let (mode, gamma) = self.weighting;
            let w = pca_weights(&c.gates, self.covs.len(), mode, gamma);
            add_columns(&mut self.covs, &c.h, &w, n)?;
        }
        self.gates.extend_from_slice(&c.gates);
        if let Some(m) = c.margin {
            self.margin.get_or_insert_with(Vec::new).extend_from_slice(&m);
        }
        Ok(())
    }

    /// Function-geometry rows and per-point spectra arrays.
    fn emit_function(&self, rows: &mut Rows, dense: bool) -> Vec<Array> {
        let e_count = self.expert.experts.len();
        for (e, acc) in self.expert.experts.iter().enumerate() {
            if !dense {
                acc.emit(rows, "jac_expert", Some(e));
            }
        }
        self.expert.pooled.emit(rows, "jac_expert", None);
        self.expert.scaled.emit_norms(rows, "jac_scaled", None);
        self.full.emit(rows, "jac_full", None);
        self.model.emit(rows, "jac_model", None);
        if !dense {
            rows.push(None, "align.a2_mean_abs", self.expert.a2_mean_abs());
            rows.push(None, "ensemble.diversity", self.diversity.value());
        }
        let arrays = vec![Array {
            name: "gates".into(),
            shape: vec![self.points, e_count],
            data: self.gates.clone(),
        }];
        if let Some(g) = &self.groups {
            for (e, acc) in g.experts.iter().enumerate() {
                acc.emit(rows, "jac_group", Some(e));
            }
            g.pooled.emit(rows, "jac_group", None);
        }
        arrays
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_argmax_weights_break_ties_to_the_lower_index() {
        let gates = [0.5, 0.5, 0.0, 0.2, 0.3, 0.5];
        assert_eq!(
            pca_weights(&gates, 3, WeightMode::HardArgmax, 1.0),
            vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
        );
        let sq = pca_weights(&gates, 3, WeightMode::GatePower, 2.0);
        assert!((sq[3] - 0.04).abs() < 1e-15);
    }

    /// A tiny T1 run of `arch` with robustness on: the S3/S4 rows by name.
    fn tiny_rows(arch: &str) -> std::collections::BTreeMap<String, f64> {
        let yaml = format!(
            "name: t\nseeds: 1\ntask: {{kind: t1_regimes, d_in: 3, clusters: 2, n_train: 32, n_val: 12, n_probe: 10}}\n\
             model: {{d: 4, experts: 2, dense_hidden: 8}}\narchitectures: [{arch}]\n\
             train: {{steps: 3, batch: 16, eval_every: 1}}\n\
             probe: {{chunk: 4, robustness: {{sigmas: [0.01, 0.1], samples: 2, shift: 2.0}}}}\n"
        );
        let exp = moescope_config::from_str(&yaml, "tiny.yaml", &[]).unwrap();
        let splits = moescope_data::build(&exp.task, 0).unwrap();
        let data = SeedTensors::new(&splits, &Device::Cpu).unwrap();
        let out = run(
            &exp,
            &exp.architectures[0],
            0,
            &data,
            &Device::Cpu,
            None,
            &mut |_, _, _| {},
        )
        .unwrap_or_else(|f| panic!("{}: {}", f.stage, f.message));
        assert!(out.stage_seconds.iter().any(|(s, _)| *s == "robustness"));
        out.rows
            .iter()
            .filter(|r| r.expert.is_none())
            .map(|r| (r.metric.clone(), r.value))
            .collect()
    }

    #[test]
    fn a_tiny_t1_run_writes_the_ensemble_and_robustness_rows() {
        let soft = tiny_rows("soft");
        for name in [
            "ensemble.diversity",
            "robust.sensitivity_s0.01",
            "robust.curvature_s0.1",
            "robust.shift_loss",
        ] {
            assert!(soft.contains_key(name), "{name} missing: {:?}", soft.keys());
        }
        // Krogh–Vedelsby holds exactly on the trained model too.
        let (m, a, avg) = (
            soft["ensemble.member_error"],
            soft["ensemble.ambiguity"],
            soft["ensemble.average_error"],
        );
        assert!((avg - (m - a)).abs() <= 1e-9 * m, "{avg} vs {m} - {a}");
        // The ratio is the shift loss over the validation loss of the same (f64) model, which
        // the trainer's f32 `fit.val_loss` matches to f32 precision.
        let ratio = soft["robust.shift_loss"] / soft["fit.val_loss"];
        assert!((soft["robust.shift_loss_ratio"] / ratio - 1.0).abs() < 1e-4);
        // Dense: no ensemble rows, but the robustness rows.
        let dense = tiny_rows("dense");
        assert!(!dense.keys().any(|k| k.starts_with("ensemble.")));
        assert!(dense.contains_key("robust.sensitivity_s0.1"));
    }

    #[test]
    fn group_permutation_is_a_deterministic_permutation() {
        let p = permutation(16, 7);
        let mut sorted = p.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..16).collect::<Vec<_>>());
        assert_eq!(p, permutation(16, 7));
        assert_ne!(p, permutation(16, 8));
    }
}
