//! [`CovarianceAcc`]: the weighted covariance of SPEC §6.1 over points that arrive in chunks,
//! in O(d²) memory however many points there are.

use crate::pca::WeightedCov;
use crate::validate::{matrix, nonneg};
use crate::{Error, Result};
use nalgebra::{DMatrix, DVector};

/// Running sums for one weighted covariance. Same result as
/// [`weighted_covariance`](crate::weighted_covariance) on all the points at once, to rounding.
///
/// The sums are taken about a shift c (the first chunk's unweighted mean), so that
/// Σw(x−c)(x−c)ᵀ − W(μ−c)(μ−c)ᵀ does not cancel catastrophically when ‖μ‖ ≫ the spread:
/// with c close to μ the correction term is small.
#[derive(Debug, Clone)]
pub struct CovarianceAcc {
    d: usize,
    shift: Option<DVector<f64>>,
    /// W = Σ w.
    total: f64,
    /// Largest weight so far, and Σ (w / max)² relative to it (overflow-safe Kish n_eff).
    max_w: f64,
    scaled_sq: f64,
    /// Σ w (x − c), length d.
    first: DVector<f64>,
    /// Σ w (x − c)(x − c)ᵀ, d × d.
    second: DMatrix<f64>,
}

impl CovarianceAcc {
    /// An empty accumulator for `d`-dimensional points.
    pub fn new(d: usize) -> CovarianceAcc {
        CovarianceAcc {
            d,
            shift: None,
            total: 0.0,
            max_w: 0.0,
            scaled_sq: 0.0,
            first: DVector::zeros(d),
            second: DMatrix::zeros(d, d),
        }
    }

    /// Adds `n × d` row-major points `x` with weights `w` (length n). Errors on shape mismatch,
    /// non-finite values or negative weights; nothing is added then.
    pub fn add(&mut self, x: &[f64], w: &[f64]) -> Result<()> {
        let n = w.len();
        let mut y = matrix("CovarianceAcc::add: points", x, n, self.d)?; // n × d
        nonneg("CovarianceAcc::add: weights", w)?;
        let shift = self
            .shift
            .get_or_insert_with(|| y.row_mean().transpose()) // d
            .clone();
        for (i, mut row) in y.row_iter_mut().enumerate() {
            row -= shift.transpose();
            self.first.axpy(w[i], &row.transpose(), 1.0);
            row *= w[i].sqrt(); // so that YᵀY = Σ w (x − c)(x − c)ᵀ
        }
        self.second += y.tr_mul(&y);
        for &wi in w {
            self.add_weight(wi);
        }
        Ok(())
    }

    /// W = Σ w so far.
    pub fn total_weight(&self) -> f64 {
        self.total
    }

    fn add_weight(&mut self, w: f64) {
        if w > self.max_w {
            let r = if self.max_w > 0.0 { self.max_w / w } else { 0.0 };
            self.scaled_sq *= r * r;
            self.max_w = w;
        }
        if self.max_w > 0.0 {
            self.scaled_sq += (w / self.max_w).powi(2);
        }
        self.total += w;
    }

    /// The weighted mean and covariance so far (`unbiased` as in `weighted_covariance`). Errors
    /// with `ZeroTotalWeight` when no weight arrived and `DegenerateWeights` like the batch form.
    pub fn finish(&self, unbiased: bool) -> Result<WeightedCov> {
        let (Some(shift), true) = (&self.shift, self.total > 0.0) else {
            return Err(Error::ZeroTotalWeight {
                what: "CovarianceAcc: weights",
            });
        };
        let n_eff = (self.total / self.max_w).powi(2) / self.scaled_sq;
        let denom = if unbiased {
            self.total * (1.0 - 1.0 / n_eff)
        } else {
            self.total
        };
        if denom <= 0.0 || (unbiased && n_eff <= 1.0) {
            return Err(Error::DegenerateWeights {
                denominator: denom,
                n_eff,
            });
        }
        let offset = &self.first / self.total; // μ − c
        let centred = &self.second - &offset * offset.transpose() * self.total;
        let cov = (&centred + centred.transpose()) * (0.5 / denom); // exactly symmetric
        Ok(WeightedCov {
            mean: (shift + offset).iter().copied().collect(),
            cov: cov.as_slice().to_vec(),
            d: self.d,
            total_weight: self.total,
            n_eff,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// x = 1e8 ± 1 (1-D, unit weights): variance 1 exactly (frequency form), 2 (unbiased). The
    /// shift keeps it exact where raw sums Σx² − (Σx)²/n would lose every digit.
    #[test]
    fn far_from_the_origin_stays_exact() {
        let mut acc = CovarianceAcc::new(1);
        acc.add(&[1e8 - 1.0], &[1.0]).unwrap();
        acc.add(&[1e8 + 1.0], &[1.0]).unwrap();
        let (f, u) = (acc.finish(false).unwrap(), acc.finish(true).unwrap());
        assert_eq!((f.mean[0], f.cov[0], u.cov[0], f.n_eff), (1e8, 1.0, 2.0, 2.0));
    }

    #[test]
    fn zero_and_degenerate_weights_are_errors() {
        let mut acc = CovarianceAcc::new(2);
        assert!(matches!(acc.finish(false), Err(Error::ZeroTotalWeight { .. })));
        acc.add(&[1.0, 2.0, 3.0, 4.0], &[0.0, 0.0]).unwrap();
        assert!(matches!(acc.finish(false), Err(Error::ZeroTotalWeight { .. })));
        acc.add(&[5.0, 6.0], &[0.5]).unwrap(); // one weighted point: n_eff = 1
        assert!(acc.finish(false).is_ok());
        assert!(matches!(acc.finish(true), Err(Error::DegenerateWeights { .. })));
        assert!(acc.add(&[1.0, 2.0], &[-1.0]).is_err());
        assert!(acc.add(&[1.0, f64::NAN], &[1.0]).is_err());
        assert!(acc.add(&[1.0, 2.0, 3.0], &[1.0]).is_err()); // not n × d
        assert_eq!(acc.total_weight(), 0.5, "a rejected chunk adds nothing");
    }
}
