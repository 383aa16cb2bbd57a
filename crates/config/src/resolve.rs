//! `RawConfig` → `Experiment`: every check on values lives here, and each failure names the key.

use crate::experiment::*;
use crate::kinds::*;
use crate::raw::{RawConfig, RawTask, Seeds};
use crate::{Error, Result};

/// Validates `raw` (read from `file`) into an [`Experiment`].
pub fn resolve(raw: RawConfig, file: &str) -> Result<Experiment> {
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
    let seeds = match &raw.seeds {
        Seeds::Count(0) => return Err(bad("seeds", "at least one seed", "0".into())),
        Seeds::Count(n) => (0..*n as u64).collect(),
        Seeds::List(v) if v.is_empty() => return Err(bad("seeds", "at least one seed", "[]".into())),
        Seeds::List(v) => v.clone(),
    };
    let mut sorted = seeds.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != seeds.len() {
        return Err(bad("seeds", "distinct seeds", format!("{seeds:?}")));
    }
    let device =
        parse_device(&raw.device).ok_or_else(|| bad("device", "`cpu` or `cuda:N`", format!("{:?}", raw.device)))?;
    let model = resolve_model(&raw, &bad)?;
    let task = resolve_task(&raw.task, model.experts, &bad)?;
    if raw.task.n_probe < model.experts.max(2) {
        // The cluster-matched dense control fits E mixture components to the probe points.
        let expected = format!("at least max(2, model.experts = {}) probe points", model.experts);
        return Err(bad("task.n_probe", &expected, raw.task.n_probe.to_string()));
    }
    let architectures = resolve_architectures(&raw, &model, &bad)?;
    check_train(&raw, &bad)?;
    check_probe(&raw, &task, &bad)?;
    Ok(Experiment {
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
    if m.d == 0 {
        return Err(bad("model.d", "a positive width", "0".into()));
    }
    if m.experts == 0 {
        return Err(bad("model.experts", "at least 1 expert", "0".into()));
    }
    if m.dense_hidden == 0 {
        return Err(bad("model.dense_hidden", "a positive width", "0".into()));
    }
    if !(m.temperature.is_finite() && m.temperature > 0.0) {
        return Err(bad(
            "model.temperature",
            "a positive finite number",
            m.temperature.to_string(),
        ));
    }
    if !(m.router_init_std.is_finite() && m.router_init_std >= 0.0) {
        return Err(bad(
            "model.router_init_std",
            "a non-negative number",
            m.router_init_std.to_string(),
        ));
    }
    Ok(ModelShape {
        d: m.d,
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
        let routing = parse_architecture(word)
            .ok_or_else(|| bad(&key, "dense, soft or top<k> (e.g. top2)", format!("{word:?}")))?;
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
        if out.iter().any(|a| a.name == *word) {
            return Err(bad(&key, "each architecture once", format!("{word:?} repeated")));
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
                &format!("a file path (required for task.kind = {:?})", t.kind),
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
            if !t.separation.is_finite() {
                return Err(bad("task.separation", "a finite number", t.separation.to_string()));
            }
            if !(t.noise.is_finite() && t.noise >= 0.0) {
                return Err(bad("task.noise", "a finite non-negative number", t.noise.to_string()));
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
    if !(t.lr.is_finite() && t.lr > 0.0) {
        return Err(bad("train.lr", "a positive learning rate", t.lr.to_string()));
    }
    for (i, b) in t.betas.iter().enumerate() {
        if !(0.0..1.0).contains(b) {
            return Err(bad(&format!("train.betas[{i}]"), "a value in [0, 1)", b.to_string()));
        }
    }
    for (key, v) in [
        ("train.weight_decay", t.weight_decay),
        ("train.load_balance", t.load_balance),
        ("train.z_loss", t.z_loss),
        ("train.eps", t.eps),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(bad(key, "a finite non-negative number", v.to_string()));
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

fn check_probe(raw: &RawConfig, task: &TaskSpec, bad: &Bad) -> Result<()> {
    let p = &raw.probe;
    if p.chunk == 0 {
        return Err(bad("probe.chunk", "a positive chunk size", "0".into()));
    }
    if p.subspace_rank == 0 || p.subspace_rank > raw.model.d {
        return Err(bad(
            "probe.subspace_rank",
            &format!("1 ≤ r ≤ model.d = {}", raw.model.d),
            p.subspace_rank.to_string(),
        ));
    }
    if !(p.boundary_margin.is_finite() && p.boundary_margin >= 0.0) {
        return Err(bad(
            "probe.boundary_margin",
            "a finite non-negative margin",
            p.boundary_margin.to_string(),
        ));
    }
    if p.decay_q == 0 {
        return Err(bad("probe.decay_q", "q ≥ 1", "0".into()));
    }
    if !(p.gate_power.is_finite() && p.gate_power > 0.0) {
        return Err(bad("probe.gate_power", "a positive exponent", p.gate_power.to_string()));
    }
    if raw.stats.bootstrap == 0 {
        return Err(bad("stats.bootstrap", "at least 1 resample", "0".into()));
    }
    if !(raw.stats.fit_margin.is_finite() && raw.stats.fit_margin >= 0.0) {
        return Err(bad(
            "stats.fit_margin",
            "a non-negative fraction",
            raw.stats.fit_margin.to_string(),
        ));
    }
    if !(raw.stats.alpha > 0.0 && raw.stats.alpha < 1.0) {
        return Err(bad("stats.alpha", "a level in (0, 1)", raw.stats.alpha.to_string()));
    }
    let _ = task;
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
    if let Some(s) = r.sigmas.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(bad(
            "probe.robustness.sigmas",
            "finite perturbation scales σ > 0",
            s.to_string(),
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
    if !r.shift.is_finite() {
        return Err(bad("probe.robustness.shift", "a finite shift", r.shift.to_string()));
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
