//! Chart-overlap statistics (SPEC §6.4): routing entropy, expert load, load entropy, and the
//! fraction of Top-k probe points near a routing boundary (SPEC §4.3).

use super::Rows;
use moescope_spectral::routing_stats;

/// Emits `routing.*` rows from the gates (n × E) and, for Top-k, the routing margins.
pub(crate) fn emit(
    gates: &[f64],
    experts: usize,
    margins: Option<&[f64]>,
    boundary: f64,
    rows: &mut Rows,
) -> moescope_spectral::Result<()> {
    let n = gates.len() / experts;
    if experts < 2 || n == 0 {
        return Ok(());
    }
    let s = routing_stats(gates, n, experts)?;
    rows.push(None, "routing.entropy", s.mean_entropy);
    rows.push(None, "routing.entropy_norm", s.mean_entropy_normalized);
    for (e, l) in s.load.iter().enumerate() {
        rows.push(Some(e), "routing.load", *l);
    }
    rows.push(None, "routing.load_entropy", s.load_entropy);
    rows.push(None, "routing.load_entropy_norm", s.load_entropy_normalized);
    if let Some(m) = margins {
        let near = m.iter().filter(|&&x| x < boundary).count();
        rows.push(
            None,
            "routing.near_boundary_fraction",
            near as f64 / m.len().max(1) as f64,
        );
    }
    Ok(())
}
