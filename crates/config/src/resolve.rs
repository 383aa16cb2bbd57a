//! `RawConfig` → `Experiment`: every check on values lives here, and each failure names the key.

use crate::experiment::*;
use crate::kinds::*;
use crate::raw::{ProbeConfig, RawConfig, RawTask, Seeds, DEFAULT_D};
use crate::{Error, Result};

/// Validates `raw` (read from `file`) into an [`Experiment`].
pub fn resolve(mut raw: RawConfig, file: &str) -> Result<Experiment> {
    let bad = |key: &str, expected: &str, got: String| Error::Invalid {
        file: file.to_string(),
        key: key.to_string(),
        expected: expected.to_string(),
        got,
    };
    if raw.name.trim().is_empty() || raw.name.contains(['/', '\\']) {
        return Err(bad(
            "name",
            "a non-empty name without slashes",
            format!("{:?}", raw.name),
        ));
    }
    let seeds = resolve_seeds(&raw.seeds, &bad)?;
    let device =
        parse_device(&raw.device).ok_or_else(|| bad("device", "`cpu` or `cuda:N`", format!("{:?}", raw.device)))?;
    let model = resolve_model(&raw, &bad)?;
    // The stored config (manifest, `config show`) shows the width actually routed.
    if model.encoder || known_d_in(&raw.task).is_some() {
        raw.model.d = Some(model.d);
    }
    let task = resolve_task(&raw.task, model.experts, &bad)?;
    if raw.task.n_probe < model.experts.max(2) {
        // The cluster-matched dense control fits E mixture components to the probe points.
        let expected = format!("at least max(2, model.experts = {}) probe points", model.experts);
        return Err(bad("task.n_probe", &expected, raw.task.n_probe.to_string()));
    }
    let architectures = resolve_architectures(&raw, &model, &bad)?;
    check_train(&raw, &bad)?;
    check_probe(&raw, &bad)?;
    if let Some(dim) = routed_dim(&raw, &model) {
        check_dim_settings(&raw.probe, &dim, &bad)?;
    }
    Ok(Experiment {
        file: file.to_string(),
        name: raw.name.clone(),
        seeds,
        device,
        task,
        model,
        architectures,
        train: raw.train.clone(),
        probe: raw.probe.clone(),
        stats: raw.stats.clone(),
        output: raw.output.clone(),
        raw,
    })
}

type Bad<'a> = dyn Fn(&str, &str, String) -> Error + 'a;

fn resolve_seeds(seeds: &Seeds, bad: &Bad) -> Result<Vec<u64>> {
    let seeds: Vec<u64> = match seeds {
        Seeds::Count(0) => return Err(bad("seeds", "at least one seed", "0".into())),
        Seeds::Count(n) => (0..u64::from(*n)).collect(),
        Seeds::List(v) if v.is_empty() => return Err(bad("seeds", "at least one seed", "[]".into())),
        Seeds::List(v) => v.clone(),
    };
    let mut sorted = seeds.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != seeds.len() {
        return Err(bad("seeds", "distinct seeds", format!("{seeds:?}")));
    }
    Ok(seeds)
}

/// The input dimension when the config fixes it (synthetic tasks); files set their own.
fn known_d_in(t: &RawTask) -> Option<usize> {
    (!matches!(t.kind, TaskKind::Idx | TaskKind::Csv)).then_some(t.d_in)
}

/// The routed width d and how to name it in messages, when known before the data is loaded.
fn routed_dim(raw: &RawConfig, model: &ModelShape) -> Option<RoutedDim> {
    if model.encoder {
        return Some(RoutedDim {
            d: model.d,
            label: format!("model.d = {}", model.d),
        });
    }
    known_d_in(&raw.task).map(|d| RoutedDim {
        d,
        label: format!("d = task.d_in = {d} (model.encoder = false routes x itself)"),
    })
}

/// The routed width d (rows and columns of the layer Jacobians) and its name for messages.
pub(crate) struct RoutedDim {
    pub(crate) d: usize,
    pub(crate) label: String,
}

/// The probe settings bounded by d: r ≤ d for the subspaces, q ≤ d for σ_q of the d × d layer
/// Jacobians.
pub(crate) fn check_dim_settings(p: &ProbeConfig, dim: &RoutedDim, bad: &Bad) -> Result<()> {
    if p.subspace_rank > dim.d {
        return Err(bad(
            "probe.subspace_rank",
            &format!("1 ≤ r ≤ {}", dim.label),
            p.subspace_rank.to_string(),
        ));
    }
    if p.decay_q > dim.d {
        return Err(bad(
            "probe.decay_q",
            &format!("1 ≤ q ≤ {} (σ_q of the d × d layer Jacobians)", dim.label),
            p.decay_q.to_string(),
        ));
    }
    Ok(())
}

/// `cpu` or `cuda:N` (plain `cuda` means `cuda:0`).
pub fn parse_device(word: &str) -> Option<DeviceSpec> {
    match word.trim() {
        "cpu" => Some(DeviceSpec::Cpu),
        "cuda" => Some(DeviceSpec::Cuda { ordinal: 0 }),
        w => Some(DeviceSpec::Cuda {
            ordinal: w.strip_prefix("cuda:")?.parse().ok()?,
        }),
    }
}

fn resolve_model(raw: &RawConfig, bad: &Bad) -> Result<ModelShape> {
    let m = &raw.model;
    let d = resolve_width(raw, bad)?;
    if m.experts == 0 {
        return Err(bad("model.experts", "at least 1 expert", "0".into()));
    }
    if m.dense_hidden == 0 {
        return Err(bad("model.dense_hidden", "a positive width", "0".into()));
    }
    // Training is f32: logits are divided by τ there, so τ must be a normal f32.
    if !(m.temperature > 0.0 && (m.temperature as f32).is_normal()) {
        return Err(bad(
            "model.temperature",
            "a positive number that is a normal f32 (1.2e-38 ≤ τ ≤ 3.4e38)",
            num(m.temperature),
        ));
    }
    if !(fits_f32(m.router_init_std) && m.router_init_std >= 0.0) {
        return Err(bad(
            "model.router_init_std",
            &format!("a non-negative number {F32_RANGE}"),
            num(m.router_init_std),
        ));
    }
    Ok(ModelShape {
        d,
        dense_hidden: m.dense_hidden,
        experts: m.experts,
        capacity: m.capacity,
        activation: m.activation,
        encoder: m.encoder,
        residual: m.residual,
        temperature: m.temperature,
        topk_renorm: m.topk_renorm,
        router_init_std: m.router_init_std,
    })
}

fn resolve_architectures(raw: &RawConfig, shape: &ModelShape, bad: &Bad) -> Result<Vec<Architecture>> {
    if raw.architectures.is_empty() {
        return Err(bad("architectures", "at least one of dense, soft, top<k>", "[]".into()));
    }
    let (e, h) = (shape.experts, shape.dense_hidden);
    if h % e != 0 {
        // The dense-partition control (SPEC §5.4) splits H into E groups of m = H / E.
        return Err(bad(
            "model.dense_hidden",
            &format!("a width divisible by model.experts = {e} (m = H / E)"),
            h.to_string(),
        ));
    }
    let mut out: Vec<Architecture> = Vec::new();
    for (i, word) in raw.architectures.iter().enumerate() {
        let key = format!("architectures[{i}]");
        let routing = parse_architecture(word).ok_or_else(|| {
            bad(
                &key,
                "dense, soft or top<k> (e.g. top2; k in plain digits, no sign or leading zero)",
                format!("{word:?}"),
            )
        })?;
        let divisor = match (routing, shape.capacity) {
            (Routing::Dense, _) => 1,
            (Routing::TopK { k }, _) if k == 0 || k > e => {
                return Err(bad(
                    &key,
                    &format!("top<k> with 1 ≤ k ≤ model.experts = {e}"),
                    format!("k = {k}"),
                ))
            }
            (Routing::TopK { k }, Capacity::Compute) => k,
            (Routing::Soft, Capacity::Compute) => e,
            (_, Capacity::Parameter) => e,
        };
        if h % divisor != 0 {
            return Err(bad(
                "model.dense_hidden",
                &format!(
                    "a width divisible by {divisor} so that `{word}` matches capacity ({} capacity)",
                    shape.capacity_word()
                ),
                h.to_string(),
            ));
        }
        if let Some(first) = out.iter().find(|a| a.routing == routing) {
            return Err(bad(
                &key,
                "each architecture once",
                format!("{word:?} repeats {:?}", first.name),
            ));
        }
        let experts = if routing == Routing::Dense { 1 } else { e };
        out.push(Architecture {
            name: word.clone(),
            routing,
            experts,
            hidden: h / divisor,
        });
    }
    Ok(out)
}

/// `model.d`: as given, or 32. Without an encoder the router sees x (h = x), so d is task.d_in
/// when the config knows it (synthetic tasks), and a given `model.d` must equal it. File tasks
/// learn d_in on loading: the engine checks then with `Experiment::validate_against_dim`.
fn resolve_width(raw: &RawConfig, bad: &Bad) -> Result<usize> {
    let given = raw.model.d;
    if given == Some(0) {
        return Err(bad("model.d", "a positive width", "0".into()));
    }
    match (raw.model.encoder, known_d_in(&raw.task)) {
        (false, Some(0)) => Err(bad("task.d_in", "a positive input dimension", "0".into())),
        (false, Some(d_in)) => match given {
            Some(d) if d != d_in => Err(bad("model.d", &no_encoder_width(d_in, "task.d_in"), d.to_string())),
            _ => Ok(d_in),
        },
        _ => Ok(given.unwrap_or(DEFAULT_D)),
    }
}

/// What `model.d` may be without an encoder, `d_in` being named `source` (a key or the data).
pub(crate) fn no_encoder_width(d_in: usize, source: &str) -> String {
    format!("{d_in} (= {source}) or no model.d: with model.encoder = false the router sees x itself, so d = d_in")
}

/// Finite, also once rounded to f32 (training is f32: 1e39 is ∞ there).
fn fits_f32(v: f64) -> bool {
    v.is_finite() && (v as f32).is_finite()
}

/// A float as messages show it: `1e300`, not 301 digits.
fn num(v: f64) -> String {
    format!("{v:?}")
}

/// How messages say "finite in f32".
const F32_RANGE: &str = "that fits in f32 (|v| ≤ 3.4e38)";

impl ModelShape {
    fn capacity_word(&self) -> &'static str {
        match self.capacity {
            Capacity::Parameter => "parameter",
            Capacity::Compute => "compute",
        }
    }
}

fn resolve_task(t: &RawTask, experts: usize, bad: &Bad) -> Result<TaskSpec> {
    let sizes = SplitSizes {
        train: t.n_train,
        val: t.n_val,
        probe: t.n_probe,
    };
    for (key, n) in [
        ("task.n_train", t.n_train),
        ("task.n_val", t.n_val),
        ("task.n_probe", t.n_probe),
    ] {
        if n == 0 {
            return Err(bad(key, "a positive number of points", "0".into()));
        }
    }
    let need = |key: &str, v: &Option<std::path::PathBuf>| {
        v.clone().ok_or_else(|| {
            bad(
                key,
                &format!("a file path (required for task.kind = {})", t.kind),
                "missing".into(),
            )
        })
    };
    Ok(match t.kind {
        TaskKind::Idx => TaskSpec::Idx(IdxTask {
            images: need("task.images", &t.images)?,
            labels: need("task.labels", &t.labels)?,
            sizes,
            standardize: t.standardize,
        }),
        TaskKind::Csv => TaskSpec::Csv(CsvTask {
            path: need("task.path", &t.path)?,
            header: t.header,
            label_column: t.label_column,
            problem: t.problem.ok_or_else(|| {
                bad(
                    "task.problem",
                    "`classification` or `regression` (required for csv)",
                    "missing".into(),
                )
            })?,
            sizes,
            standardize: t.standardize,
        }),
        kind => {
            if t.d_in == 0 {
                return Err(bad("task.d_in", "a positive input dimension", "0".into()));
            }
            if t.d_out == 0 {
                return Err(bad("task.d_out", "a positive output dimension", "0".into()));
            }
            // The generated data is stored as f32.
            if !fits_f32(t.separation) {
                return Err(bad(
                    "task.separation",
                    &format!("a number {F32_RANGE}"),
                    num(t.separation),
                ));
            }
            if !(fits_f32(t.noise) && t.noise >= 0.0) {
                return Err(bad(
                    "task.noise",
                    &format!("a non-negative number {F32_RANGE}"),
                    num(t.noise),
                ));
            }
            if t.teacher_hidden == 0 {
                return Err(bad("task.teacher_hidden", "a positive width", "0".into()));
            }
            let clusters = if t.clusters == 0 { experts } else { t.clusters };
            if kind == TaskKind::T4Clusters && clusters < 2 {
                return Err(bad(
                    "task.clusters",
                    "at least 2 classes for t4_clusters",
                    clusters.to_string(),
                ));
            }
            if kind == TaskKind::T3Manifold && t.manifold_dim == 0 {
                return Err(bad("task.manifold_dim", "a positive latent dimension", "0".into()));
            }
            TaskSpec::Synthetic(SyntheticTask {
                kind,
                d_in: t.d_in,
                d_out: if kind == TaskKind::T4Clusters {
                    clusters
                } else {
                    t.d_out
                },
                clusters,
                separation: t.separation,
                noise: t.noise,
                soft_targets: t.soft_targets,
                teacher_hidden: t.teacher_hidden,
                manifold_dim: t.manifold_dim,
                sizes,
            })
        }
    })
}

fn check_train(raw: &RawConfig, bad: &Bad) -> Result<()> {
    let t = &raw.train;
    if t.steps == 0 {
        return Err(bad("train.steps", "at least 1 step", "0".into()));
    }
    if t.batch == 0 {
        return Err(bad("train.batch", "a positive batch size", "0".into()));
    }
    // The optimiser runs in f32: a value must survive rounding to f32 (1e-50 is 0 there).
    if !(fits_f32(t.lr) && t.lr as f32 > 0.0) {
        return Err(bad(
            "train.lr",
            &format!("a positive learning rate {F32_RANGE} and is not 0 there"),
            num(t.lr),
        ));
    }
    for (i, b) in t.betas.iter().enumerate() {
        // β = 1 in f32 makes Adam's bias correction 1 − βᵗ zero.
        if !((0.0..1.0).contains(b) && (*b as f32) < 1.0) {
            return Err(bad(
                &format!("train.betas[{i}]"),
                "a value in [0, 1) that stays below 1 in f32 (≤ 0.99999994)",
                num(*b),
            ));
        }
    }
    // ε divides Adam's update: it must be a positive normal f32, not 0 or subnormal.
    if !(t.eps > 0.0 && (t.eps as f32).is_normal()) {
        return Err(bad(
            "train.eps",
            "a positive number that is a normal f32 (1.2e-38 ≤ ε ≤ 3.4e38)",
            num(t.eps),
        ));
    }
    for (key, v) in [
        ("train.weight_decay", t.weight_decay),
        ("train.load_balance", t.load_balance),
        ("train.z_loss", t.z_loss),
    ] {
        if !(fits_f32(v) && v >= 0.0) {
            return Err(bad(key, &format!("a non-negative number {F32_RANGE}"), num(v)));
        }
    }
    if t.eval_every == 0 {
        return Err(bad("train.eval_every", "a positive number of steps", "0".into()));
    }
    if t.stack == 0 {
        return Err(bad("train.stack", "at least 1 seed per stacked group", "0".into()));
    }
    Ok(())
}

/// Probe and stats settings that do not depend on d (see [`check_dim_settings`] for those that do).
fn check_probe(raw: &RawConfig, bad: &Bad) -> Result<()> {
    let p = &raw.probe;
    if p.chunk == 0 {
        return Err(bad("probe.chunk", "a positive chunk size", "0".into()));
    }
    if p.subspace_rank == 0 {
        return Err(bad("probe.subspace_rank", "r ≥ 1", "0".into()));
    }
    if !(p.boundary_margin.is_finite() && p.boundary_margin >= 0.0) {
        return Err(bad(
            "probe.boundary_margin",
            "a finite non-negative margin",
            num(p.boundary_margin),
        ));
    }
    if p.decay_q == 0 {
        return Err(bad("probe.decay_q", "q ≥ 1", "0".into()));
    }
    if !(p.gate_power.is_finite() && p.gate_power > 0.0) {
        return Err(bad("probe.gate_power", "a positive exponent", num(p.gate_power)));
    }
    if raw.stats.bootstrap == 0 {
        return Err(bad("stats.bootstrap", "at least 1 resample", "0".into()));
    }
    if !(raw.stats.fit_margin.is_finite() && raw.stats.fit_margin >= 0.0) {
        return Err(bad(
            "stats.fit_margin",
            "a non-negative fraction",
            num(raw.stats.fit_margin),
        ));
    }
    if !(raw.stats.alpha > 0.0 && raw.stats.alpha < 1.0) {
        return Err(bad("stats.alpha", "a level in (0, 1)", num(raw.stats.alpha)));
    }
    check_robustness(raw, bad)
}

/// `probe.robustness`: σ_δ finite and positive, at least one draw, a finite shift.
fn check_robustness(raw: &RawConfig, bad: &Bad) -> Result<()> {
    let Some(r) = &raw.probe.robustness else {
        return Ok(());
    };
    if r.sigmas.is_empty() {
        return Err(bad("probe.robustness.sigmas", "at least one σ > 0", "[]".into()));
    }
    // Perturbed inputs are f32 like the data.
    if let Some(s) = r.sigmas.iter().find(|s| !(fits_f32(**s) && **s > 0.0)) {
        return Err(bad(
            "probe.robustness.sigmas",
            &format!("perturbation scales σ > 0 {F32_RANGE}"),
            num(*s),
        ));
    }
    // Each σ names its own metric rows (`robust.sensitivity_s<σ>`), so they must differ.
    if let Some((i, s)) = r.sigmas.iter().enumerate().find(|(i, s)| r.sigmas[..*i].contains(s)) {
        return Err(bad(
            "probe.robustness.sigmas",
            "distinct perturbation scales",
            format!("{s} repeated at index {i}"),
        ));
    }
    if r.samples == 0 {
        return Err(bad("probe.robustness.samples", "at least 1 draw per point", "0".into()));
    }
    if !fits_f32(r.shift) {
        return Err(bad(
            "probe.robustness.shift",
            &format!("a finite shift {F32_RANGE}"),
            num(r.shift),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    const BASE: &str =
        "name: t\nseeds: 1\ntask: {kind: t1_regimes}\nmodel: {experts: 4}\narchitectures: [dense, soft]\n";

    fn with(overrides: &[&str]) -> crate::Result<crate::Experiment> {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        crate::from_str(BASE, "exp.yaml", &o)
    }

    #[test]
    fn robustness_is_off_by_default_and_fills_defaults_when_named() {
        assert!(with(&[]).unwrap().probe.robustness.is_none());
        let exp = with(&["probe.robustness={samples: 2}"]).unwrap();
        let r = exp.probe.robustness.unwrap();
        assert_eq!((r.sigmas, r.samples, r.shift), (vec![0.01, 0.1], 2, 1.0));
    }

    #[test]
    fn bad_robustness_values_name_their_key() {
        for (value, key) in [
            ("{sigmas: [0.1, -0.5]}", "probe.robustness.sigmas"),
            ("{sigmas: [.nan]}", "probe.robustness.sigmas"),
            ("{sigmas: []}", "probe.robustness.sigmas"),
            ("{sigmas: [0.1, 0.1]}", "probe.robustness.sigmas"),
            ("{samples: 0}", "probe.robustness.samples"),
            ("{shift: .inf}", "probe.robustness.shift"),
        ] {
            let e = with(&[&format!("probe.robustness={value}")]).unwrap_err().to_string();
            assert!(e.contains(key), "{value}: {e}");
        }
        let e = with(&["probe.robustness={sigma: [0.1]}"]).unwrap_err().to_string();
        assert!(e.contains("unknown field `sigma`"), "{e}");
    }
}
