//! Function geometry: per-point Jacobian spectra (SPEC §5.2), aggregated per expert with routing
//! weights and pooled over experts weighted by routing mass (SPEC §5.3).

use super::Rows;
use moescope_spectral::{singular_values_batch, spectrum_metrics, SpectrumMetrics, SpectrumOptions};

/// Names of the per-spectrum metrics, in [`values`] order.
pub(crate) const SPECTRUM_METRICS: [&str; 11] = [
    "sigma1",
    "frobenius",
    "rho_q",
    "rho_quarter",
    "energy_q",
    "alpha",
    "beta",
    "erank",
    "srank",
    "pr",
    "numerical_rank",
];

fn values(m: &SpectrumMetrics) -> [f64; 11] {
    [
        m.sigma1,
        m.frobenius,
        m.rho_q,
        m.rho_quarter,
        m.energy_q,
        m.alpha,
        m.beta,
        m.erank,
        m.srank,
        m.pr,
        m.numerical_rank as f64,
    ]
}

/// Weighted running mean of every spectrum metric over points. A metric that is undefined at a
/// point (NaN: a dead Jacobian, SPEC §5.1) is left out of that metric's mean and counted.
#[derive(Clone, Default)]
pub(crate) struct SpectrumAcc {
    sum: [f64; 11],
    weight: [f64; 11],
    undefined: usize,
    points: usize,
    sigma1: Vec<f64>,
}

impl SpectrumAcc {
    pub fn add(&mut self, m: &SpectrumMetrics, w: f64) {
        self.points += 1;
        if m.dead {
            self.undefined += 1;
        }
        for (k, v) in values(m).into_iter().enumerate() {
            if v.is_finite() {
                self.sum[k] += w * v;
                self.weight[k] += w;
            }
        }
        self.sigma1.push(m.sigma1);
    }

    /// Emits `family.metric` rows (and the dead-point count and σ1 median).
    pub fn emit(&self, rows: &mut Rows, family: &str, expert: Option<usize>) {
        if self.points == 0 {
            return;
        }
        for (k, name) in SPECTRUM_METRICS.iter().enumerate() {
            if self.weight[k] > 0.0 {
                rows.push(expert, &format!("{family}.{name}"), self.sum[k] / self.weight[k]);
            }
        }
        rows.push(expert, &format!("{family}.dead_points"), self.undefined as f64);
        rows.push(expert, &format!("{family}.points"), self.points as f64);
        rows.push(expert, &format!("{family}.sigma1_median"), median(&self.sigma1));
    }

    /// Emits only the norm-type metrics (σ1, ‖·‖_F): for gate-scaled Jacobians the ratio-type
    /// metrics equal those of the unscaled ones.
    pub fn emit_norms(&self, rows: &mut Rows, family: &str, expert: Option<usize>) {
        for (k, name) in SPECTRUM_METRICS.iter().enumerate().take(2) {
            if self.weight[k] > 0.0 {
                rows.push(expert, &format!("{family}.{name}"), self.sum[k] / self.weight[k]);
            }
        }
    }
}

pub(crate) fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// What the spectral stage needs from one chunk's expert Jacobians J_e (n × E × d × d), however
/// it was computed: on the host from the Jacobians themselves ([`Reduced::host`]), or on the
/// device, where only these come back (`job.rs`).
pub(crate) struct Reduced {
    /// Singular values, n × E × d, descending (only routed pairs are read).
    pub sv: Vec<f64>,
    /// Σ_i w_ie J_e(h_i), E × d × d (unrouted pairs have weight 0).
    pub jbar: Vec<f64>,
    /// ⟨J_e, J_f⟩_F per point, n × E × E (only co-routed e < f are read).
    pub dots: Vec<f64>,
}

impl Reduced {
    /// From the Jacobians on the host: SVDs (one batch per chunk) and inner products of the
    /// routed pairs only.
    pub fn host(
        jac: &[f64],
        weights: &[f64],
        selected: &[f64],
        e: usize,
        d: usize,
    ) -> moescope_spectral::Result<Reduced> {
        let (n, dd) = (weights.len() / e, d * d);
        let mut r = Reduced {
            sv: vec![0.0; n * e * d],
            jbar: vec![0.0; e * dd],
            dots: vec![0.0; n * e * e],
        };
        let routed = |k: usize| weights[k] > 0.0 && selected[k] != 0.0;
        let pairs: Vec<usize> = (0..n * e).filter(|&k| routed(k)).collect();
        let mats: Vec<&[f64]> = pairs.iter().map(|&k| &jac[k * dd..][..dd]).collect();
        let sv = singular_values_batch(&mats, d, d)?;
        for ((&k, j), s) in pairs.iter().zip(&mats).zip(sv.chunks(d)) {
            r.sv[k * d..][..d].copy_from_slice(s);
            for (acc, x) in r.jbar[(k % e) * dd..][..dd].iter_mut().zip(*j) {
                *acc += weights[k] * x;
            }
        }
        for i in 0..n {
            for a in (0..e).filter(|&a| routed(i * e + a)) {
                for b in (a + 1..e).filter(|&b| routed(i * e + b)) {
                    let (ja, jb) = (&jac[(i * e + a) * dd..][..dd], &jac[(i * e + b) * dd..][..dd]);
                    r.dots[(i * e + a) * e + b] = frobenius_dot(ja, jb);
                }
            }
        }
        Ok(r)
    }
}

/// Per-expert Jacobians J_e of all probe points: spectra, gate-scaled spectra, expert averages
/// J̄_e (SPEC §4.5) and pointwise alignment A2 (SPEC §7).
pub(crate) struct ExpertJacobians {
    pub d: usize,
    pub experts: Vec<SpectrumAcc>,
    pub pooled: SpectrumAcc,
    pub scaled: SpectrumAcc,
    /// Σ_i w_ie J_e(h_i), E × d × d.
    pub jbar_sum: Vec<f64>,
    /// Σ_i w_ie, per expert.
    pub mass: Vec<f64>,
    /// Σ g_e g_f |cos(J_e, J_f)| and Σ g_e g_f over co-active pairs.
    a2: (f64, f64),
    /// This chunk's per-point singular values, n × E × d (zeros where the expert is not
    /// routed); the probe moves them to their `.npy` stream after every chunk.
    pub per_point: Vec<f64>,
}

impl ExpertJacobians {
    pub fn new(experts: usize, d: usize) -> Self {
        ExpertJacobians {
            d,
            experts: vec![SpectrumAcc::default(); experts],
            pooled: SpectrumAcc::default(),
            scaled: SpectrumAcc::default(),
            jbar_sum: vec![0.0; experts * d * d],
            mass: vec![0.0; experts],
            a2: (0.0, 0.0),
            per_point: Vec::new(),
        }
    }

    /// Adds one chunk, reduced as `r`; `weights`, `gates` and `selected` are n × E.
    pub fn add_chunk(
        &mut self,
        r: &Reduced,
        weights: &[f64],
        gates: &[f64],
        selected: &[f64],
        opts: &SpectrumOptions,
    ) -> moescope_spectral::Result<()> {
        let (d, e_count) = (self.d, self.experts.len());
        let n = weights.len() / e_count;
        // ‖J_e‖_F at the current point (from its singular values), 0 where not routed.
        let mut norms = vec![0.0; e_count];
        for i in 0..n {
            norms.fill(0.0);
            for (e, norm) in norms.iter_mut().enumerate() {
                let k = i * e_count + e;
                let w = weights[k];
                if w <= 0.0 || selected[k] == 0.0 {
                    self.per_point.extend(std::iter::repeat_n(0.0, d));
                    continue;
                }
                let sv = &r.sv[k * d..][..d];
                let m = spectrum_metrics(sv, (d, d), opts)?;
                *norm = m.frobenius;
                self.experts[e].add(&m, w);
                self.pooled.add(&m, w);
                self.scaled.add(&scale_metrics(&m, gates[k]), w);
                self.per_point.extend_from_slice(sv);
                self.mass[e] += w;
            }
            let dots = &r.dots[i * e_count * e_count..][..e_count * e_count];
            self.add_pointwise_alignment(dots, &gates[i * e_count..][..e_count], &norms);
        }
        for (acc, x) in self.jbar_sum.iter_mut().zip(&r.jbar) {
            *acc += x;
        }
        Ok(())
    }

    /// A2 over the co-active pairs of one point: `dots` E × E inner products ⟨J_e, J_f⟩_F,
    /// `norms` ‖J_e‖_F (0 where e is not routed or J_e = 0; such pairs are skipped, as SPEC §7
    /// leaves the cosine undefined). Each pair is one division: the norms come from the singular
    /// values already computed (E(E−1)/2 pairs per point, the hot loop at large E).
    fn add_pointwise_alignment(&mut self, dots: &[f64], gates: &[f64], norms: &[f64]) {
        let e_count = gates.len();
        for e in 0..e_count {
            for f in e + 1..e_count {
                let c = dots[e * e_count + f] / (norms[e] * norms[f]);
                if norms[e] == 0.0 || norms[f] == 0.0 || !c.is_finite() {
                    continue;
                }
                let w = gates[e] * gates[f];
                self.a2.0 += w * c.clamp(-1.0, 1.0).abs();
                self.a2.1 += w;
            }
        }
    }

    /// Mean |A2| (NaN when no two experts are ever co-active, e.g. Top-1).
    pub fn a2_mean_abs(&self) -> f64 {
        self.a2.0 / self.a2.1
    }

    /// J̄_e = Σ_i w_ie J_e / Σ_i w_ie, or `None` for an expert that received no mass.
    pub fn jbar(&self, e: usize) -> Option<Vec<f64>> {
        let dd = self.d * self.d;
        (self.mass[e] > 0.0).then(|| self.jbar_sum[e * dd..][..dd].iter().map(|x| x / self.mass[e]).collect())
    }
}

/// Σ a_k b_k with four independent accumulators, so the loop vectorises (a single running sum
/// is a serial dependency chain).
fn frobenius_dot(a: &[f64], b: &[f64]) -> f64 {
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    let mut acc = [0.0; 4];
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Metrics of g·J from those of J: singular values scale by g, ratios do not change.
fn scale_metrics(m: &SpectrumMetrics, g: f64) -> SpectrumMetrics {
    let mut s = *m;
    s.sigma1 *= g;
    s.frobenius *= g;
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use moescope_spectral::SpectrumOptions;

    fn metrics(sv: &[f64]) -> SpectrumMetrics {
        spectrum_metrics(sv, (sv.len(), sv.len()), &SpectrumOptions { decay_q: 2 }).unwrap()
    }

    /// A dead point (all-zero Jacobian) is counted, its undefined ratios are left out of the
    /// means, and its σ1 = 0 still counts in the σ1 mean (SPEC §5.1).
    #[test]
    fn dead_points_are_counted_not_averaged() {
        let mut acc = SpectrumAcc::default();
        acc.add(&metrics(&[2.0, 1.0]), 1.0);
        acc.add(&metrics(&[0.0, 0.0]), 3.0);
        let mut rows = Rows::new("m", 0);
        acc.emit(&mut rows, "j", None);
        let get = |name: &str| rows.rows.iter().find(|r| r.metric == name).map(|r| r.value);
        assert_eq!(get("j.dead_points"), Some(1.0));
        assert_eq!(get("j.points"), Some(2.0));
        // erank of [2, 1] (Roy–Vetterli, closed form) — the dead point does not dilute it.
        let p = [2.0 / 3.0, 1.0 / 3.0];
        let erank = (-(p[0] * f64::ln(p[0]) + p[1] * f64::ln(p[1]))).exp();
        assert!((get("j.erank").unwrap() - erank).abs() < 1e-12);
        // σ1 is defined at the dead point (0): weighted mean (1·2 + 3·0) / 4.
        assert!((get("j.sigma1").unwrap() - 0.5).abs() < 1e-12);
        assert!(rows.rows.iter().all(|r| r.value.is_finite()));
    }

    /// A2 by hand: J0 = I, J1 = −e1e1ᵀ, J2 = e1e2ᵀ (d = 2) give |cos| = 1/√2, 0, 0 for the pairs
    /// (0,1), (0,2), (1,2), weighted by g_e g_f; an unrouted expert drops out of every pair.
    #[test]
    fn pointwise_alignment_by_hand() {
        let jac = [1.0, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0];
        let gates = [0.5, 0.3, 0.2];
        let opts = SpectrumOptions { decay_q: 1 };
        let reduce = |sel: &[f64]| Reduced::host(&jac, &gates, sel, 3, 2).unwrap();
        let mut all = ExpertJacobians::new(3, 2);
        all.add_chunk(&reduce(&[1.0; 3]), &gates, &gates, &[1.0; 3], &opts)
            .unwrap();
        let want = 0.15 * 0.5f64.sqrt() / (0.15 + 0.1 + 0.06);
        assert!((all.a2_mean_abs() - want).abs() < 1e-15, "{}", all.a2_mean_abs());
        let mut two = ExpertJacobians::new(3, 2);
        let sel = [1.0, 1.0, 0.0];
        two.add_chunk(&reduce(&sel), &gates, &gates, &sel, &opts).unwrap();
        assert!((two.a2_mean_abs() - 0.5f64.sqrt()).abs() < 1e-15);
    }

    #[test]
    fn frobenius_dot_of_odd_lengths() {
        for n in [0usize, 1, 3, 4, 7, 1024] {
            let a: Vec<f64> = (1..=n).map(|k| k as f64).collect();
            let want = (n * (n + 1) * (2 * n + 1) / 6) as f64; // Σ k²
            assert_eq!(frobenius_dot(&a, &a), want, "n = {n}");
        }
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
