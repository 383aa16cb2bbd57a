//! Representation geometry (SPEC §6): weighted PCA of the routed hidden states h, with routing
//! weights as soft-cluster responsibilities, the support rule, and between-expert subspaces.

use super::{Array, Rows};
use moescope_spectral::{compare_subspaces, min_support, pca, CovarianceAcc, Pca};

/// Options of the weighted PCA.
pub(crate) struct PcaOptions {
    pub unbiased: bool,
    pub subspace_rank: usize,
}

/// Covariance accumulators of n row-major points of dimension d under responsibilities `w`
/// (n × k): one per column of `w`.
pub(crate) fn accumulate(h: &[f64], d: usize, w: &[f64], k: usize) -> moescope_spectral::Result<Vec<CovarianceAcc>> {
    let n = w.len() / k.max(1);
    let mut accs = vec![CovarianceAcc::new(d); k];
    add_columns(&mut accs, h, w, n)?;
    Ok(accs)
}

/// Adds n points `h` to `accs[e]` with weights w[·, e] (`w` n × accs.len()).
pub(crate) fn add_columns(accs: &mut [CovarianceAcc], h: &[f64], w: &[f64], n: usize) -> moescope_spectral::Result<()> {
    let k = accs.len();
    for (e, acc) in accs.iter_mut().enumerate() {
        let we: Vec<f64> = (0..n).map(|i| w[i * k + e]).collect();
        acc.add(h, &we)?;
    }
    Ok(())
}

/// Per-expert PCA from each expert's covariance accumulator. Emits `families.0.*` rows per
/// expert and their routing-mass-weighted means over supported experts, the subspace overlaps
/// among supported experts (`families.1.*`), and returns arrays for the figures.
pub(crate) fn weighted_pca(
    covs: &[CovarianceAcc],
    d: usize,
    opts: &PcaOptions,
    rows: &mut Rows,
    (family, subspace_family): (&str, &str),
) -> moescope_spectral::Result<Vec<Array>> {
    let k = covs.len();
    let mut supported: Vec<(usize, f64, Pca)> = Vec::new();
    let mut under = 0usize;
    let mut cev = vec![0.0; k * d];
    for (e, acc) in covs.iter().enumerate() {
        let mass = acc.total_weight();
        if mass <= 0.0 {
            under += 1;
            rows.push(Some(e), &format!("{family}.n_eff"), 0.0);
            continue;
        }
        let cov = match acc.finish(opts.unbiased) {
            // The unbiased (reliability-weights) form is undefined at n_eff ≤ 1: such an expert
            // is under-supported, not an error of the job.
            Err(moescope_spectral::Error::DegenerateWeights { n_eff, .. }) => {
                under += 1;
                rows.push(Some(e), &format!("{family}.n_eff"), n_eff);
                continue;
            }
            other => other?,
        };
        rows.push(Some(e), &format!("{family}.n_eff"), cov.n_eff);
        let p = pca(&cov.cov, d)?;
        // A zero-variance expert has no defined CEV curve; its row stays all zeros, like an
        // expert with no routing mass (the figures skip all-zero rows).
        if !p.dead {
            cev[e * d..][..d].copy_from_slice(&p.cev);
        }
        if cov.n_eff < min_support(d) {
            under += 1;
            continue;
        }
        emit_pca(rows, family, Some(e), &p);
        supported.push((e, mass, p));
    }
    rows.push(None, &format!("{family}.under_supported"), under as f64);
    rows.push(None, &format!("{family}.supported"), supported.len() as f64);
    emit_weighted_means(rows, family, &supported);
    let overlap = subspace_overlaps(&supported, d, k, opts.subspace_rank, rows, subspace_family)?;
    Ok(vec![
        Array {
            name: format!("{family}_cev"),
            shape: vec![k, d],
            data: cev,
        },
        Array {
            name: format!("{subspace_family}_overlap"),
            shape: vec![k, k],
            data: overlap,
        },
    ])
}

/// Unweighted PCA of all probe points, from their unit-weight accumulator (SPEC §6.3 Σ_D,
/// §6.4 Σ_all).
pub(crate) fn global_pca(
    all: &CovarianceAcc,
    d: usize,
    rows: &mut Rows,
    family: &str,
) -> moescope_spectral::Result<Array> {
    let p = pca(&all.finish(false)?.cov, d)?;
    emit_pca(rows, family, None, &p);
    Ok(Array {
        name: format!("{family}_cev"),
        shape: vec![d],
        data: p.cev.clone(),
    })
}

fn emit_pca(rows: &mut Rows, family: &str, expert: Option<usize>, p: &Pca) {
    for (name, v) in pca_values(p) {
        rows.push(expert, &format!("{family}.{name}"), v);
    }
}

fn pca_values(p: &Pca) -> [(&'static str, f64); 6] {
    [
        ("erank", p.erank),
        ("erank_sigma", p.erank_sigma),
        ("pr", p.pr),
        ("k90", p.k90 as f64),
        ("k95", p.k95 as f64),
        ("total_variance", p.total_variance),
    ]
}

fn emit_weighted_means(rows: &mut Rows, family: &str, supported: &[(usize, f64, Pca)]) {
    let total: f64 = supported.iter().map(|s| s.1).sum();
    if supported.is_empty() || total <= 0.0 {
        return;
    }
    for k in 0..6 {
        let mean = supported.iter().map(|(_, m, p)| m * pca_values(p)[k].1).sum::<f64>() / total;
        rows.push(None, &format!("{family}.{}", pca_values(&supported[0].2)[k].0), mean);
    }
}

/// Pairwise §6.5 comparisons of the top-r principal subspaces; returns the k × k overlap matrix
/// (1 on the diagonal, 0 where an expert is under-supported).
fn subspace_overlaps(
    supported: &[(usize, f64, Pca)],
    d: usize,
    k: usize,
    r: usize,
    rows: &mut Rows,
    family: &str,
) -> moescope_spectral::Result<Vec<f64>> {
    let mut matrix = vec![0.0; k * k];
    let (mut sum_o, mut sum_g, mut sum_p, mut pairs) = (0.0, 0.0, 0.0, 0usize);
    for (a, (ea, _, pa)) in supported.iter().enumerate() {
        matrix[ea * k + ea] = 1.0;
        for (eb, _, pb) in &supported[a + 1..] {
            let c = compare_subspaces(&pa.eigenvectors, &pb.eigenvectors, d, r)?;
            matrix[ea * k + eb] = c.overlap;
            matrix[eb * k + ea] = c.overlap;
            sum_o += c.overlap;
            sum_g += c.grassmann;
            sum_p += c.projection;
            pairs += 1;
        }
    }
    if pairs > 0 {
        let p = pairs as f64;
        rows.push(None, &format!("{family}.overlap"), sum_o / p);
        rows.push(None, &format!("{family}.grassmann"), sum_g / p);
        rows.push(None, &format!("{family}.projection"), sum_p / p);
        rows.push(None, &format!("{family}.chance"), r as f64 / d as f64);
    }
    Ok(matrix)
}
