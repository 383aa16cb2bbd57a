//! Plain row-major arrays (`Dataset`), the three splits (`Splits`), and the split and
//! standardisation helpers shared by the file loaders.

use crate::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Targets of a dataset, aligned with its rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// Real-valued targets, `n × dim` row-major.
    Regression {
        /// The values, `n × dim` row-major.
        values: Vec<f32>,
        /// Output dimension.
        dim: usize,
    },
    /// Class labels in `0..classes`.
    Classes {
        /// One label per row.
        labels: Vec<u32>,
        /// Number of classes.
        classes: usize,
    },
}

/// `n` examples with `d_in` features each, row-major, and their targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Inputs, `n × d_in` row-major.
    pub x: Vec<f32>,
    /// Number of rows.
    pub n: usize,
    /// Number of input features.
    pub d_in: usize,
    /// Targets, one per row.
    pub targets: Targets,
}

/// Train, validation and probe sets of one seed (SPEC §3): disjoint, same distribution.
#[derive(Debug, Clone, PartialEq)]
pub struct Splits {
    /// Training set.
    pub train: Dataset,
    /// Validation set.
    pub val: Dataset,
    /// Held-out probe set, identical for every architecture of a seed.
    pub probe: Dataset,
    /// One-line description, e.g. `"T1 mixture of regimes, C=8, ..."`.
    pub description: String,
    /// For T1/T4, the mixture component each probe point was drawn from (for the report).
    pub cluster_of_probe: Option<Vec<u32>>,
}

impl Dataset {
    /// Output dimension: the regression `dim` or the number of classes.
    pub fn d_out(&self) -> usize {
        match &self.targets {
            Targets::Regression { dim, .. } => *dim,
            Targets::Classes { classes, .. } => *classes,
        }
    }

    /// Row `i` of the inputs.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.x[i * self.d_in..(i + 1) * self.d_in]
    }

    /// The rows `idx`, in that order.
    pub(crate) fn select(&self, idx: &[usize]) -> Dataset {
        let d = self.d_in;
        let x = idx
            .iter()
            .flat_map(|&i| self.x[i * d..(i + 1) * d].iter().copied())
            .collect();
        let targets = match &self.targets {
            Targets::Regression { values, dim } => Targets::Regression {
                values: idx
                    .iter()
                    .flat_map(|&i| values[i * dim..(i + 1) * dim].iter().copied())
                    .collect(),
                dim: *dim,
            },
            Targets::Classes { labels, classes } => Targets::Classes {
                labels: idx.iter().map(|&i| labels[i]).collect(),
                classes: *classes,
            },
        };
        Dataset {
            x,
            n: idx.len(),
            d_in: d,
            targets,
        }
    }
}

/// A uniformly random permutation of `0..n` (Fisher–Yates, drawing from `rng`).
pub(crate) fn permutation(n: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        p.swap(i, j);
    }
    p
}

/// Shuffles the rows of `all` with the `"data/split"` stream of `seed` and cuts train, val and
/// probe in that order; standardises with train statistics when `standardize`.
pub(crate) fn split_loaded(
    all: &Dataset,
    sizes: moescope_config::SplitSizes,
    seed: u64,
    standardize: bool,
    source: &str,
) -> Result<(Dataset, Dataset, Dataset)> {
    let need = sizes.train + sizes.val + sizes.probe;
    if need > all.n {
        return Err(Error::Data {
            source_desc: source.to_string(),
            message: format!(
                "too few rows: train {} + val {} + probe {} = {need} needed, but the data has {} rows",
                sizes.train, sizes.val, sizes.probe, all.n
            ),
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(moescope_config::derive_seed(seed, "data/split"));
    let perm = permutation(all.n, &mut rng);
    let (a, b) = (sizes.train, sizes.train + sizes.val);
    let mut train = all.select(&perm[..a]);
    let mut val = all.select(&perm[a..b]);
    let mut probe = all.select(&perm[b..need]);
    if standardize {
        standardize_with_train(&mut train, &mut val, &mut probe);
    }
    Ok((train, val, probe))
}

/// Standardises inputs, and regression targets, of all three sets with the train statistics
/// (class labels are left alone).
fn standardize_with_train(train: &mut Dataset, val: &mut Dataset, probe: &mut Dataset) {
    let (mean, sd) = column_stats(&train.x, train.d_in);
    for ds in [&mut *train, &mut *val, &mut *probe] {
        apply_stats(&mut ds.x, &mean, &sd);
    }
    let target_stats = match &train.targets {
        Targets::Regression { values, dim } => Some(column_stats(values, *dim)),
        Targets::Classes { .. } => None,
    };
    if let Some((mean, sd)) = target_stats {
        for ds in [train, val, probe] {
            if let Targets::Regression { values, .. } = &mut ds.targets {
                apply_stats(values, &mean, &sd);
            }
        }
    }
}

/// Per-column mean and population standard deviation (divisor n) of an `n × d` array, in f64.
/// A column whose sd is 0 (or not finite) gets sd 1, so that it is centred but not blown up.
pub(crate) fn column_stats(x: &[f32], d: usize) -> (Vec<f64>, Vec<f64>) {
    let n = x.len().checked_div(d).unwrap_or(0);
    let mut mean = vec![0.0f64; d];
    for row in x.chunks_exact(d.max(1)) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += f64::from(v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    let mut var = vec![0.0f64; d];
    for row in x.chunks_exact(d.max(1)) {
        for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
            *s += (f64::from(v) - m).powi(2);
        }
    }
    let sd = var
        .iter()
        .map(|s| {
            let sd = (s / n.max(1) as f64).sqrt();
            if sd > 0.0 && sd.is_finite() {
                sd
            } else {
                1.0
            }
        })
        .collect();
    (mean, sd)
}

/// x ← (x − mean) / sd, column-wise.
pub(crate) fn apply_stats(x: &mut [f32], mean: &[f64], sd: &[f64]) {
    let d = mean.len();
    if d == 0 {
        return;
    }
    for row in x.chunks_exact_mut(d) {
        for ((v, m), s) in row.iter_mut().zip(mean).zip(sd) {
            *v = ((f64::from(*v) - m) / s) as f32;
        }
    }
}
