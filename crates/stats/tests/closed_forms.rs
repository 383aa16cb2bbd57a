//! Hand-worked and closed-form checks (values derived independently of this crate's code).

use moescope_stats::{holm, holm_opt, paired, summarize, t_cdf, t_quantile, StatsError};
use std::f64::consts::PI;

fn close(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= tol
}

#[test]
fn spec_t_critical_values() {
    // SPEC §8: t_{0.975,4} = 2.776445 and t_{0.975,9} = 2.262157 (6 d.p.).
    assert!(close(t_quantile(0.975, 4.0), 2.776445, 5e-7));
    assert!(close(t_quantile(0.975, 9.0), 2.262157, 5e-7));
}

#[test]
fn t_quantile_matches_closed_forms_for_df_1_and_2() {
    for &p in &[1e-6, 0.01, 0.2, 0.5, 0.7, 0.975, 0.999] {
        // df = 1 is the Cauchy distribution: F⁻¹(p) = tan(π(p − ½)).
        let cauchy = (PI * (p - 0.5)).tan();
        assert!(
            close(t_quantile(p, 1.0), cauchy, 1e-9 * cauchy.abs().max(1.0)),
            "df=1 p={p}"
        );
        // df = 2: F⁻¹(p) = (2p − 1) / √(2p(1 − p)).
        let two = (2.0 * p - 1.0) / (2.0 * p * (1.0 - p)).sqrt();
        assert!(close(t_quantile(p, 2.0), two, 1e-9 * two.abs().max(1.0)), "df=2 p={p}");
    }
    // df → ∞ is the standard normal: Φ⁻¹(0.975) = 1.959963984540054.
    assert!(close(t_quantile(0.975, f64::INFINITY), 1.959963984540054, 1e-9));
}

#[test]
fn t_cdf_matches_cauchy_closed_form() {
    for &x in &[-50.0, -2.0, -0.1, 0.0, 0.4, 3.0, 1e3] {
        let want = 0.5 + f64::atan(x) / PI;
        assert!(close(t_cdf(x, 1.0), want, 1e-12), "x={x}");
    }
}

#[test]
fn t_quantile_degenerate_inputs() {
    assert_eq!(t_quantile(0.0, 3.0), f64::NEG_INFINITY);
    assert_eq!(t_quantile(1.0, 3.0), f64::INFINITY);
    assert!(t_quantile(1.5, 3.0).is_nan());
    assert!(t_quantile(0.5, 0.0).is_nan());
    assert!(t_quantile(f64::NAN, 3.0).is_nan());
}

#[test]
fn summary_of_one_to_five() {
    let s = summarize(&[5.0, 1.0, 4.0, 2.0, 3.0], 0.95).unwrap();
    assert_eq!(s.n, 5);
    assert_eq!(s.mean, 3.0);
    assert_eq!(s.median, 3.0);
    // Σ(x − 3)² = 10, so s² = 10/4 = 2.5.
    assert!(close(s.sd.unwrap(), 2.5f64.sqrt(), 1e-12));
    // Half-width t·s/√n = 2.7764451051977934·√(2.5/5); t from scipy.stats.t.ppf(0.975, 4).
    let half = 2.776_445_105_197_793_4 * 0.5f64.sqrt();
    let (lo, hi) = s.ci.unwrap();
    assert!(close(lo, 3.0 - half, 1e-9) && close(hi, 3.0 + half, 1e-9));
    assert!(close(lo, 1.036757, 5e-7) && close(hi, 4.963243, 5e-7));
    assert!(close(s.t_crit.unwrap(), 2.776445, 5e-7));
}

#[test]
fn summary_other_level_and_even_median() {
    // 90 % with n = 4: t_{0.95,3} = 2.353363 (standard table value).
    let s = summarize(&[2.0, 4.0, 6.0, 10.0], 0.90).unwrap();
    assert_eq!(s.median, 5.0);
    assert!(close(s.t_crit.unwrap(), 2.353363, 5e-7));
}

#[test]
fn summary_of_one_value_has_no_spread() {
    let s = summarize(&[4.2], 0.95).unwrap();
    assert_eq!((s.n, s.mean, s.median), (1, 4.2, 4.2));
    assert_eq!((s.sd, s.ci, s.t_crit), (None, None, None));
}

#[test]
fn summary_rejects_bad_input() {
    assert!(matches!(summarize(&[], 0.95), Err(StatsError::TooFew { .. })));
    let err = summarize(&[1.0, f64::NAN, 2.0], 0.95).unwrap_err();
    assert!(matches!(err, StatsError::NonFinite { index: 1, .. }), "{err}");
    assert!(err.to_string().contains("index 1"), "{err}");
    assert!(matches!(
        summarize(&[1.0, 2.0], 95.0),
        Err(StatsError::BadParameter { what: "level", .. })
    ));
}

#[test]
fn holm_hand_worked_example() {
    // Sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → running max 0.06.
    let adj = holm(&[0.01, 0.04, 0.03, 0.005]);
    let want = [0.03, 0.06, 0.06, 0.02];
    for (g, w) in adj.iter().zip(want) {
        assert!(close(*g, w, 1e-15), "{adj:?}");
    }
}

#[test]
fn holm_caps_at_one_and_handles_missing() {
    assert_eq!(holm(&[0.5, 0.6]), vec![1.0, 1.0]);
    assert!(holm(&[]).is_empty());
    // None is left out of the family: m = 2, so 0.02 → 0.04 and 0.03 → 0.04 (running max).
    let adj = holm_opt(&[Some(0.03), None, Some(0.02)]);
    assert_eq!(adj[1], None);
    assert!(close(adj[0].unwrap(), 0.04, 1e-15) && close(adj[2].unwrap(), 0.04, 1e-15));
    let with_nan = holm(&[0.01, f64::NAN]);
    assert!(close(with_nan[0], 0.02, 1e-15) && with_nan[1].is_nan());
}

#[test]
fn wilcoxon_exact_all_positive_n5() {
    // All 5 differences positive: W+ = 15, the maximum; P(W+ ≥ 15) = 1/32, two-sided 2/32.
    let r = paired(&[3.0, 5.0, 4.0, 9.0, 8.0], &[2.0, 3.0, 1.0, 5.0, 3.0]).unwrap();
    assert!(r.wilcoxon_exact);
    assert_eq!(r.wilcoxon_w_plus, 15.0);
    assert_eq!(r.p_wilcoxon, Some(2.0 / 32.0));
    assert_eq!(r.p_wilcoxon_greater, Some(1.0 / 32.0));
    assert_eq!(r.p_wilcoxon_less, Some(1.0));
    assert_eq!((r.n_pos, r.n_neg, r.n_zero), (5, 0, 0));
}

#[test]
fn wilcoxon_exact_n3_by_enumeration() {
    // Δ = [1, -2, 3] → W+ = 1 + 3 = 4. The 8 sign patterns of ranks {1,2,3} give rank sums
    // 0,1,2,3,3,4,5,6: P(W+ ≤ 4) = 6/8, P(W+ ≥ 4) = 3/8, two-sided 2·3/8 = 0.75.
    let r = paired(&[1.0, -2.0, 3.0], &[0.0, 0.0, 0.0]).unwrap();
    assert_eq!(r.wilcoxon_w_plus, 4.0);
    assert_eq!(r.p_wilcoxon_less, Some(0.75));
    assert_eq!(r.p_wilcoxon_greater, Some(0.375));
    assert_eq!(r.p_wilcoxon, Some(0.75));
}

#[test]
fn paired_t_hand_worked() {
    // Δ = [1, 2, 3]: mean 2, sd 1, t = 2/(1/√3) = 2√3, d_z = 2.
    let r = paired(&[2.0, 4.0, 6.0], &[1.0, 2.0, 3.0]).unwrap();
    assert_eq!((r.n, r.df), (3, 2));
    assert!(close(r.t.unwrap(), 2.0 * 3f64.sqrt(), 1e-12));
    assert!(close(r.cohen_dz.unwrap(), 2.0, 1e-12));
    // df = 2 closed form: P(T > t) = ½(1 − t/√(t² + 2)).
    let t = 2.0 * 3f64.sqrt();
    let upper = 0.5 * (1.0 - t / (t * t + 2.0).sqrt());
    assert!(close(r.p_t_greater.unwrap(), upper, 1e-12));
    assert!(close(r.p_t.unwrap(), 2.0 * upper, 1e-12));
    assert!(close(r.p_t_less.unwrap(), 1.0 - upper, 1e-12));
}

#[test]
fn paired_zero_variance_gives_none_not_nan() {
    // Every Δ = 1: sd = 0, so t and d_z are undefined; the Wilcoxon test is still defined.
    let r = paired(&[2.0, 3.0, 4.0, 5.0], &[1.0, 2.0, 3.0, 4.0]).unwrap();
    assert_eq!(r.sd_diff, Some(0.0));
    assert_eq!(
        (r.t, r.p_t, r.p_t_less, r.p_t_greater, r.cohen_dz),
        (None, None, None, None, None)
    );
    assert_eq!(r.mean_diff, 1.0);
    // All |Δ| tie (one group of 4), so the normal approximation is used:
    // var = (4·5·9 − (4³ − 4)/2)/24 = 6.25, z = (W+ − 4·5/4)/2.5 = (10 − 5)/2.5 = 2,
    // two-sided p = 2(1 − Φ(2)) = 0.04550026389635839 (scipy: 2*norm.sf(2)).
    assert!(!r.wilcoxon_exact);
    let p = r.p_wilcoxon.unwrap();
    // statrs' erfc is good to ~1e-11 relative here, hence 1e-10.
    assert!(close(p, 0.045_500_263_896_358_39, 1e-10), "{p}");
}

#[test]
fn paired_all_zero_and_single_pair() {
    let z = paired(&[1.0, 2.0], &[1.0, 2.0]).unwrap();
    assert_eq!(z.n_zero, 2);
    assert_eq!(
        (z.p_wilcoxon, z.p_wilcoxon_less, z.p_wilcoxon_greater),
        (None, None, None)
    );
    assert!(!z.wilcoxon_exact);
    assert_eq!((z.t, z.cohen_dz), (None, None));

    let one = paired(&[3.0], &[1.0]).unwrap();
    assert_eq!((one.n, one.df, one.mean_diff), (1, 0, 2.0));
    assert_eq!((one.sd_diff, one.t, one.p_t, one.cohen_dz), (None, None, None, None));
    // One positive difference: P(W+ ≥ 1) = 1/2, P(W+ ≤ 1) = 1, two-sided min(1, 2·½) = 1.
    assert_eq!(one.p_wilcoxon, Some(1.0));
}

#[test]
fn paired_is_antisymmetric() {
    let a = [1.3, 2.9, 0.4, 5.5, 3.3, 2.2];
    let b = [1.0, 2.0, 0.9, 4.1, 3.0, 1.1];
    let ab = paired(&a, &b).unwrap();
    let ba = paired(&b, &a).unwrap();
    assert_eq!(ab.p_t_less, ba.p_t_greater);
    assert_eq!(ab.p_wilcoxon_less, ba.p_wilcoxon_greater);
    assert_eq!(ab.p_t, ba.p_t);
    assert_eq!(ab.p_wilcoxon, ba.p_wilcoxon);
    assert_eq!((ab.n_pos, ab.n_neg), (ba.n_neg, ba.n_pos));
}

#[test]
fn paired_rejects_bad_input() {
    assert!(matches!(
        paired(&[1.0], &[1.0, 2.0]),
        Err(StatsError::LengthMismatch { .. })
    ));
    assert!(matches!(paired(&[], &[]), Err(StatsError::TooFew { .. })));
    let err = paired(&[1.0, 2.0], &[1.0, f64::INFINITY]).unwrap_err();
    assert!(
        matches!(
            err,
            StatsError::NonFinite {
                what: "paired b",
                index: 1,
                ..
            }
        ),
        "{err}"
    );
}

/// Regression: a mass-weighted mean of integer k90 values (2.9999999999999996) against 3 is a
/// tie, not a "significant" difference with t = 2 (found by a fresh-user test of the engine).
#[test]
fn rounding_noise_differences_are_ties() {
    let r = paired(&[2.9999999999999996, 3.0, 2.9999999999999996], &[3.0, 3.0, 3.0]).unwrap();
    assert_eq!((r.n_zero, r.n_pos, r.n_neg), (3, 0, 0));
    assert_eq!(r.mean_diff, 0.0);
    assert_eq!(r.t, None);
    // A real difference of 1e-9 on values near 3 is kept.
    let r = paired(&[3.000000001, 3.000000002], &[3.0, 3.0]).unwrap();
    assert_eq!(r.n_pos, 2);
}
