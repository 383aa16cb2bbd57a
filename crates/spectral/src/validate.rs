//! Input checks shared by every public function, plus row-major <-> nalgebra conversion.

use crate::{Error, Result};
use nalgebra::DMatrix;

/// Fails unless `v` is nonempty and every element is finite.
pub(crate) fn finite(what: &'static str, v: &[f64]) -> Result<()> {
    if v.is_empty() {
        return Err(Error::Empty { what });
    }
    match v.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(Error::NonFinite {
            what,
            index,
            value: v[index],
        }),
        None => Ok(()),
    }
}

/// Fails unless `v` is nonempty, finite and nonnegative.
pub(crate) fn nonneg(what: &'static str, v: &[f64]) -> Result<()> {
    finite(what, v)?;
    match v.iter().position(|&x| x < 0.0) {
        Some(index) => Err(Error::Negative {
            what,
            index,
            value: v[index],
        }),
        None => Ok(()),
    }
}

/// Fails unless both dimensions are nonzero and `v.len() == rows * cols`.
pub(crate) fn shape(what: &'static str, v: &[f64], rows: usize, cols: usize) -> Result<()> {
    if rows == 0 || cols == 0 {
        return Err(Error::Empty { what });
    }
    let expected = rows.checked_mul(cols).ok_or(Error::InvalidArgument {
        what: "rows * cols",
        value: f64::INFINITY,
        expected: "a product that fits in usize",
    })?;
    if v.len() != expected {
        return Err(Error::LengthMismatch {
            what,
            expected,
            got: v.len(),
        });
    }
    Ok(())
}

/// Validated row-major `rows x cols` slice -> nalgebra matrix (nalgebra is column-major).
pub(crate) fn matrix(what: &'static str, v: &[f64], rows: usize, cols: usize) -> Result<DMatrix<f64>> {
    shape(what, v, rows, cols)?;
    finite(what, v)?;
    Ok(DMatrix::from_row_slice(rows, cols, v))
}

/// nalgebra matrix -> row-major `Vec`.
pub(crate) fn row_major(m: &DMatrix<f64>) -> Vec<f64> {
    m.transpose().as_slice().to_vec()
}

/// Fails if `value` is zero (a count or dimension that must be >= 1).
pub(crate) fn positive_count(what: &'static str, value: usize) -> Result<()> {
    if value == 0 {
        return Err(Error::InvalidArgument {
            what,
            value: 0.0,
            expected: ">= 1",
        });
    }
    Ok(())
}
