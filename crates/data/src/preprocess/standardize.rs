//! Standardisation: `z_ij = (x_ij − m_j) / s_j` with the mean `m_j` and the population
//! standard deviation `s_j = √((1/N) Σ_i (x_ij − m_j)²)` of column `j` of the *training*
//! inputs, then applied unchanged to any other inputs (the test set).
//!
//! A column is treated as constant, and gets `s_j = 1` (so it is only centred and
//! becomes 0 on the training set instead of `0/0 = NaN`), when
//! `s_j ≤ N·ε·max_i |x_ij|`: below that bound the computed deviation is rounding noise
//! of the mean (whose error is at most about `N·ε·max|x|`), not a property of the data.

use faer::prelude::ReborrowMut;
use faer::{Mat, MatMut, MatRef};

use crate::{DataError, Dataset};

/// A fitted standardisation: per-column `mean` and `scale` (`z = (x − mean) / scale`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Standardizer {
    /// Column means `m_j` of the fitting data.
    pub mean: Vec<f64>,
    /// Column standard deviations `s_j`, or `1.0` for (numerically) constant columns.
    pub scale: Vec<f64>,
    /// `true` for the columns treated as constant.
    pub constant: Vec<bool>,
}

impl Standardizer {
    /// Fits on `x` (`N × d`, `N ≥ 1`): two-pass mean and variance with the
    /// Chan–Golub–LeVeque correction
    /// `var = (1/N) Σ (x−m)² − ((1/N) Σ (x−m))²`, which removes most of the mean's
    /// rounding error from the variance.
    ///
    /// # Errors
    /// [`DataError::InvalidParameter`] when `x` has no rows; [`DataError::NonFinite`]
    /// naming the first NaN or ±∞ entry (column by column).
    pub fn fit(x: MatRef<'_, f64>) -> Result<Self, DataError> {
        let (n, d) = (x.nrows(), x.ncols());
        if n == 0 {
            return Err(DataError::param("rows", 0, "at least one sample to fit on"));
        }
        let nf = n as f64;
        let mut mean = vec![0.0; d];
        let mut scale = vec![1.0; d];
        let mut constant = vec![false; d];
        for j in 0..d {
            let col = x.col(j);
            let mut sum = 0.0;
            let mut max_abs: f64 = 0.0;
            for i in 0..n {
                if !col[i].is_finite() {
                    return Err(DataError::NonFinite {
                        what: "standardizer fit input",
                        row: i,
                        column: j,
                        value: col[i],
                    });
                }
                sum += col[i];
                max_abs = max_abs.max(col[i].abs());
            }
            let m = sum / nf;
            let (mut sq, mut lin) = (0.0, 0.0);
            for i in 0..n {
                let dev = col[i] - m;
                sq += dev * dev;
                lin += dev;
            }
            let var = (sq / nf - (lin / nf) * (lin / nf)).max(0.0);
            let s = var.sqrt();
            mean[j] = m;
            if s <= nf * f64::EPSILON * max_abs {
                constant[j] = true;
            } else {
                scale[j] = s;
            }
        }
        Ok(Standardizer {
            mean,
            scale,
            constant,
        })
    }

    /// Number of columns it was fitted on.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// `x_ij ← (x_ij − m_j) / s_j`, in place.
    ///
    /// # Panics
    /// If `x.ncols() != self.dim()` (the message names both).
    #[track_caller]
    pub fn transform_in_place(&self, x: MatMut<'_, f64>) {
        self.map_columns("transform_in_place", x, |v, m, s| (v - m) / s);
    }

    /// The standardised copy of `x`.
    ///
    /// # Panics
    /// As [`Standardizer::transform_in_place`].
    pub fn transform(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        let mut out = x.to_owned();
        self.transform_in_place(out.as_mut());
        out
    }

    /// Undoes the transform: `x_ij ← m_j + s_j x_ij`, in place.
    ///
    /// # Panics
    /// As [`Standardizer::transform_in_place`].
    #[track_caller]
    pub fn inverse_transform_in_place(&self, x: MatMut<'_, f64>) {
        self.map_columns("inverse_transform_in_place", x, |v, m, s| m + s * v);
    }

    /// `x_ij ← f(x_ij, m_j, s_j)` for every entry, after checking the column count.
    #[track_caller]
    fn map_columns(&self, what: &str, mut x: MatMut<'_, f64>, f: impl Fn(f64, f64, f64) -> f64) {
        assert_eq!(
            x.ncols(),
            self.dim(),
            "Standardizer::{what}: x has {} columns, fitted on {}",
            x.ncols(),
            self.dim()
        );
        for j in 0..x.ncols() {
            let (m, s) = (self.mean[j], self.scale[j]);
            let mut col = x.rb_mut().col_mut(j);
            for i in 0..col.nrows() {
                col[i] = f(col[i], m, s);
            }
        }
    }
}

/// Fits a [`Standardizer`] on `train.x` and applies it to the inputs of both `train`
/// and `test`, returning it. Targets are left alone.
///
/// # Errors
/// As [`Standardizer::fit`] (empty training set).
///
/// # Panics
/// If `train` and `test` have different input dimensions.
pub fn standardize_train_test(
    train: &mut Dataset,
    test: &mut Dataset,
) -> Result<Standardizer, DataError> {
    let s = Standardizer::fit(train.x.as_ref())?;
    s.transform_in_place(train.x.as_mut());
    s.transform_in_place(test.x.as_mut());
    Ok(s)
}
