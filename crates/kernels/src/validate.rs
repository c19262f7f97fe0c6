//! Input checks shared by the validated (`try_*`) entry points.
//!
//! Everything that comes from a user or a file goes through these before it reaches a
//! `*_in_place` routine, which then may assume shape consistency and finiteness.

use faer::MatRef;

use crate::KernelError;

/// Checks that `x` is non-empty (≥ 1 row and ≥ 1 column) and that every entry is finite.
///
/// # Errors
/// [`KernelError::Empty`] or [`KernelError::NonFinite`] (naming the first offending entry,
/// in column-major order).
pub fn check_batch(what: &'static str, x: MatRef<'_, f64>) -> Result<(), KernelError> {
    if x.nrows() == 0 || x.ncols() == 0 {
        return Err(KernelError::Empty {
            what,
            rows: x.nrows(),
            cols: x.ncols(),
        });
    }
    check_finite(what, x)
}

/// Checks that every entry of `x` is finite (an empty matrix passes).
///
/// # Errors
/// [`KernelError::NonFinite`] naming the first offending entry (column-major order).
pub fn check_finite(what: &'static str, x: MatRef<'_, f64>) -> Result<(), KernelError> {
    first_non_finite(x).map_or(Ok(()), |(row, col, value)| {
        Err(KernelError::NonFinite {
            what,
            row,
            col,
            value,
        })
    })
}

/// The first entry of `x` that is NaN or infinite, in column-major order, as
/// `(row, col, value)`; `None` when every entry is finite. The one finiteness scan that the
/// typed checks of this crate and of the crates above it (each with its own error type)
/// share.
pub fn first_non_finite(x: MatRef<'_, f64>) -> Option<(usize, usize, f64)> {
    (0..x.ncols()).find_map(|j| {
        (0..x.nrows()).find_map(|i| {
            let value = x[(i, j)];
            (!value.is_finite()).then_some((i, j, value))
        })
    })
}

/// Checks that a slice (one point) is non-empty and finite.
///
/// # Errors
/// [`KernelError::Empty`] or [`KernelError::NonFinite`] (row 0, column = index).
pub fn check_point(what: &'static str, x: &[f64]) -> Result<(), KernelError> {
    check_batch(what, MatRef::from_row_major_slice(x, 1, x.len()))
}

/// Checks `got == expected`.
///
/// # Errors
/// [`KernelError::DimensionMismatch`] carrying both numbers.
pub fn check_dim(what: &'static str, expected: usize, got: usize) -> Result<(), KernelError> {
    if expected == got {
        Ok(())
    } else {
        Err(KernelError::DimensionMismatch {
            what,
            expected,
            got,
        })
    }
}

/// Checks that a kernel hyper-parameter is finite and strictly positive.
///
/// # Errors
/// [`KernelError::InvalidParameter`].
pub fn check_param(name: &'static str, value: f64) -> Result<f64, KernelError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(KernelError::InvalidParameter { name, value })
    }
}
