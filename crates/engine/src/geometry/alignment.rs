//! Alignment among expert Jacobians (SPEC §7): A1 Frobenius cosine of the expert-average
//! Jacobians, A3 overlap of their top-r singular subspaces, A4 scaled-copy residual, with chance
//! levels. A2 (pointwise) is accumulated in [`super::function::ExpertJacobians`].

use super::{Array, Rows};
use moescope_spectral::{
    alignment_chance, compare_subspaces, frobenius_cosine, scaled_copy_residual, top_singular_subspaces,
};

/// Emits `family.*` rows for the given average Jacobians (`None` = expert never routed) and
/// returns the signed E × E A1 matrix.
pub(crate) fn emit(
    jbars: &[Option<Vec<f64>>],
    d: usize,
    r: usize,
    rows: &mut Rows,
    family: &str,
) -> moescope_spectral::Result<Array> {
    let e_count = jbars.len();
    let mut a1 = vec![0.0; e_count * e_count];
    let live: Vec<(usize, &Vec<f64>)> = jbars
        .iter()
        .enumerate()
        .filter_map(|(e, j)| j.as_ref().map(|j| (e, j)))
        .collect();
    let subspaces = live
        .iter()
        .map(|(_, j)| top_singular_subspaces(j, d, d, r))
        .collect::<moescope_spectral::Result<Vec<_>>>()?;
    let (mut abs_sum, mut res_sum, mut in_sum, mut out_sum, mut pairs) = (0.0, 0.0, 0.0, 0.0, 0usize);
    for (a, (ea, ja)) in live.iter().enumerate() {
        a1[ea * e_count + ea] = 1.0;
        for (b, (eb, jb)) in live.iter().enumerate().skip(a + 1) {
            let Ok(cos) = frobenius_cosine(ja, jb) else { continue };
            a1[ea * e_count + eb] = cos;
            a1[eb * e_count + ea] = cos;
            abs_sum += cos.abs();
            res_sum += scaled_copy_residual(ja, jb)?;
            out_sum += compare_subspaces(&subspaces[a].0, &subspaces[b].0, d, r)?.overlap;
            in_sum += compare_subspaces(&subspaces[a].1, &subspaces[b].1, d, r)?.overlap;
            pairs += 1;
        }
    }
    if pairs > 0 {
        let p = pairs as f64;
        rows.push(None, &format!("{family}.a1_mean_abs"), abs_sum / p);
        rows.push(None, &format!("{family}.a1_chance"), alignment_chance(d));
        rows.push(None, &format!("{family}.a3_in_overlap"), in_sum / p);
        rows.push(None, &format!("{family}.a3_out_overlap"), out_sum / p);
        rows.push(None, &format!("{family}.a3_chance"), r as f64 / d as f64);
        rows.push(None, &format!("{family}.a4_residual"), res_sum / p);
    }
    Ok(Array {
        name: format!("{family}_a1"),
        shape: vec![e_count, e_count],
        data: a1,
    })
}
