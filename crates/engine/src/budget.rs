//! Sizes that cannot fit in memory are refused from the config, before anything is allocated or
//! written: an allocation that fails aborts the process (no error message, a half-made folder).
//!
//! The estimates are lower bounds of what a run holds at once (data of every seed; one training
//! group's parameters, gradients and Adam moments plus its batch activations; one probe chunk's
//! Jacobians), so a refusal is never a false alarm; what they leave out is small next to them.

use crate::{Error, Result};
use moescope_config::{Experiment, TaskSpec};

const F32: u128 = 4;
const F64: u128 = 8;

/// Bytes of every seed's data held at once: the host splits and their device copies, f32.
pub(crate) fn data_bytes(seeds: usize, points: usize, d_in: usize, d_out: usize) -> u128 {
    2 * seeds as u128 * points as u128 * (d_in + d_out) as u128 * F32
}

/// Bytes of the largest training group or probe chunk of the run, for data of width d_in → d_out.
pub(crate) fn model_bytes(exp: &Experiment, d_in: usize, d_out: usize) -> u128 {
    let d = exp.routed_dim(d_in) as u128;
    let stack = exp.train.stack.min(exp.seeds.len()).max(1) as u128;
    // A batch never exceeds the training split, a chunk never the probe set.
    let sizes = exp.task.sizes();
    let batch = exp.train.batch.min(sizes.train) as u128;
    let chunk = exp.probe.chunk.min(sizes.probe) as u128;
    let largest = |f: &dyn Fn(u128, u128) -> u128| {
        let sizes = exp.architectures.iter().map(|a| (a.experts as u128, a.hidden as u128));
        sizes.map(|(e, m)| f(e, m)).max().unwrap_or(0)
    };
    // Weights, gradients and two Adam moments; the batch's hidden activations (every expert's,
    // an upper bound on what Top-k computes, but soft and dense compute them all).
    let train = largest(&|e, m| {
        let params = e * (2 * d * m + m + d) + d * (d_in as u128 + 1) + e * (d + 1) + d_out as u128 * (d + 1);
        stack * (4 * params + batch * e * m) * F32
    });
    // A chunk of expert Jacobians (n, E, d, d) in f64, the probe's largest tensor.
    let probe = largest(&|e, _| chunk * e * d * d * F64);
    train.max(probe)
}

/// Refuses `needed` bytes when the OS reports less available memory; `what` names the keys.
pub(crate) fn check(needed: u128, what: &str) -> Result<()> {
    let Some(available) = available_bytes() else {
        return Ok(()); // not Linux, or no /proc: nothing to compare with
    };
    if needed <= available {
        return Ok(());
    }
    let gib = |b: u128| b as f64 / (1u64 << 30) as f64;
    Err(Error::TooLarge {
        message: format!(
            "{what} need at least {:.1} GiB of memory, more than the {:.1} GiB available",
            gib(needed),
            gib(available)
        ),
    })
}

/// The data's lower bound before it is built, for tasks whose sizes the config fixes.
pub(crate) fn check_data(exp: &Experiment) -> Result<()> {
    let TaskSpec::Synthetic(t) = &exp.task else {
        return Ok(()); // a file's rows bound its splits; loading checks the counts
    };
    let points = t.sizes.train + t.sizes.val + t.sizes.probe;
    let what = format!(
        "the data of {} seeds ({points} points of task.d_in = {} from task.n_train, n_val and n_probe)",
        exp.seeds.len(),
        t.d_in
    );
    check(data_bytes(exp.seeds.len(), points, t.d_in, t.d_out), &what)
}

/// The model's lower bound once the data's widths are known.
pub(crate) fn check_model(exp: &Experiment, d_in: usize, d_out: usize) -> Result<()> {
    let what = "the models (model.dense_hidden, model.experts, model.d, train.batch, train.stack and probe.chunk)";
    check(model_bytes(exp, d_in, d_out), what)
}

/// `MemAvailable` of /proc/meminfo, in bytes.
fn available_bytes() -> Option<u128> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u128 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_bytes_count_host_and_device_copies_of_inputs_and_targets() {
        // 2 copies × 3 seeds × 120 points × (4 + 1) values × 4 bytes.
        assert_eq!(data_bytes(3, 120, 4, 1), 14_400);
    }

    #[test]
    fn model_bytes_of_the_paper_config_are_a_few_megabytes() {
        let exp = moescope_config::load(std::path::Path::new("../../configs/paper.yaml"), &[]).unwrap();
        // d = 32, H = 256, E = 8 (m = 32), batch 256, chunk 256, d_in 16, d_out 1.
        // Soft: params 8·(2·32·32 + 32 + 32) + 32·17 + 8·33 + 33 = 17 737; ×4 + 256·8·32 = 136 484
        // values (dense: 4·17 282 + 256·256 = 134 664). Probe: 256·8·32·32·8 = 16 777 216 bytes,
        // the largest.
        assert_eq!(model_bytes(&exp, 16, 1), 16_777_216);
        let big = moescope_config::load(
            std::path::Path::new("../../configs/paper.yaml"),
            &[
                "probe.chunk=1".into(),
                "train.batch=100000".into(),
                "task.n_train=200000".into(),
            ],
        )
        .unwrap();
        // Now training dominates: soft's 4·17 737 + 100 000·256 = 25 670 948 values × 4 bytes.
        assert_eq!(model_bytes(&big, 16, 1), 25_670_948 * 4);
        // A batch larger than the training split (16 384 points) counts as the split.
        let clamped = moescope_config::load(
            std::path::Path::new("../../configs/paper.yaml"),
            &["probe.chunk=1".into(), "train.batch=100000".into()],
        )
        .unwrap();
        assert_eq!(model_bytes(&clamped, 16, 1), (4 * 17_737 + 16_384 * 8 * 32) * 4);
    }

    #[test]
    fn what_fits_passes_and_what_cannot_is_refused_with_the_keys() {
        assert!(check(1, "one byte").is_ok());
        if available_bytes().is_some() {
            let msg = check(u128::MAX / 2, "the data (task.n_train)").unwrap_err().to_string();
            assert!(
                msg.contains("the data (task.n_train) need at least") && msg.contains("GiB available"),
                "{msg}"
            );
        }
    }
}
