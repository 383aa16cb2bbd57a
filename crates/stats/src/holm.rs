//! Holm–Bonferroni step-down adjustment across a family of hypotheses (SPEC §8).

/// Holm–Bonferroni adjusted p-values, returned in the input order.
///
/// With the p-values sorted ascending, p_(1) ≤ … ≤ p_(m), the adjusted value is
/// max_{j ≤ i} min(1, (m − j + 1)·p_(j)): monotone in the sorted order and capped at 1.
/// Rejecting where the adjusted value is ≤ α is Holm's procedure at level α.
///
/// Inputs should be p-values in [0, 1]. A NaN entry counts towards m (conservative), stays NaN
/// in the output and does not affect the other entries. An empty input gives an empty output.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    // total_cmp puts (positive) NaN last, so it never enters the running maximum below.
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let mut adjusted = vec![f64::NAN; m];
    let mut running = 0.0_f64;
    for (rank, &i) in order.iter().enumerate() {
        if p[i].is_nan() {
            continue;
        }
        let scaled = ((m - rank) as f64 * p[i]).min(1.0);
        running = running.max(scaled);
        adjusted[i] = running;
    }
    adjusted
}

/// [`holm`] over the p-values that exist: `None` entries (untestable comparisons, e.g. a
/// zero-variance t-test) are left out of the family, so m counts only the `Some` entries,
/// and stay `None` in the output.
pub fn holm_opt(p: &[Option<f64>]) -> Vec<Option<f64>> {
    let present: Vec<f64> = p.iter().flatten().copied().collect();
    let mut adjusted = holm(&present).into_iter();
    p.iter().map(|x| x.and_then(|_| adjusted.next())).collect()
}
