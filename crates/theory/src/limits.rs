//! The limits of docs/theory.md §7 as fitted slopes with their uncertainty.
//!
//! * Depth: the ResNet output with `L` layers against the ODE flow (or a fine reference)
//!   has error `≈ C h^q`, `h = 1/L`, with `q = 1` for Euler, `2` for midpoint/Heun, `4`
//!   for RK4 (smooth `θ(s)`). The order is the slope of `log err` against `log h`.
//! * Width: the RFF kernel error `‖K_p − K‖` is `O(p^{−1/2})` (Monte Carlo); the slope of
//!   `log err` against `log p` is `−1/2`.
//!
//! Slopes are ordinary least squares on log-log data ([`crate::stats::log_log_fit`]),
//! reported as `slope ± standard error`; the experiments (`depth`, `width`) turn them into
//! checks with tolerances derived from their seed spread.

use faer::{Mat, MatRef};
use plres_kernels::{Kernel, KernelSpec};
use plres_rff::{FeatureMap, FourierVariant, RandomFourierFeatures};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::TheoryError;
use crate::stats::{LinearFit, log_log_fit};

/// An integrator of the ResNet forward map and its classical order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegratorOrder {
    /// Forward Euler (the ResNet itself): order 1.
    Euler,
    /// Explicit midpoint: order 2.
    Midpoint,
    /// Heun (explicit trapezoid): order 2.
    Heun,
    /// Classical Runge–Kutta: order 4.
    Rk4,
}

impl IntegratorOrder {
    /// The classical order `q`.
    pub fn order(self) -> f64 {
        match self {
            IntegratorOrder::Euler => 1.0,
            IntegratorOrder::Midpoint | IntegratorOrder::Heun => 2.0,
            IntegratorOrder::Rk4 => 4.0,
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            IntegratorOrder::Euler => "euler",
            IntegratorOrder::Midpoint => "midpoint",
            IntegratorOrder::Heun => "heun",
            IntegratorOrder::Rk4 => "rk4",
        }
    }
}

/// The observed depth order: the least-squares slope of `log err` against `log h`.
///
/// # Errors
/// As [`log_log_fit`] (positive, finite values, at least two distinct steps).
pub fn depth_order(steps: &[f64], errors: &[f64]) -> Result<LinearFit, TheoryError> {
    log_log_fit(steps, errors)
}

/// The Frobenius distance `‖A − B‖_F` of two equally shaped matrices (e.g. ResNet
/// outputs against a reference).
///
/// # Panics
/// When the shapes differ.
pub fn frobenius_distance(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    assert!(
        a.nrows() == b.nrows() && a.ncols() == b.ncols(),
        "frobenius_distance: {}×{} vs {}×{}",
        a.nrows(),
        a.ncols(),
        b.nrows(),
        b.ncols()
    );
    let mut s = 0.0;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            let d = a[(i, j)] - b[(i, j)];
            s += d * d;
        }
    }
    s.sqrt()
}

/// The RFF kernel error sweep of docs/theory.md §7 (Width): for each width `p`, the mean over
/// `seeds` draws of `‖K_p − K‖_op` at the points `X` (`K_p = ΦΦᵀ`, `Φ = φ(X)` with
/// random Fourier features of `kernel`), then the log-log slope (expected `−1/2`).
/// Returns the per-width mean errors and the fit.
///
/// # Errors
/// [`TheoryError::Model`] when the features cannot be sampled (non-stationary kernel,
/// odd `p` for paired features, …); fit errors as [`log_log_fit`].
pub fn rff_kernel_error_sweep(
    kernel: &KernelSpec,
    x: MatRef<'_, f64>,
    widths: &[usize],
    seeds: usize,
    variant: FourierVariant,
    rng: &mut impl Rng,
) -> Result<(Vec<f64>, LinearFit), TheoryError> {
    let k: Box<dyn Kernel> = kernel
        .build()
        .map_err(|e| TheoryError::Model(e.to_string()))?;
    let n = x.nrows();
    let gram = k.gram(x);
    let mut errs = Vec::with_capacity(widths.len());
    let mut diff = Mat::<f64>::zeros(n, n);
    for &p in widths {
        let mut acc = 0.0;
        let mut phi = Mat::<f64>::zeros(n, p);
        for _ in 0..seeds.max(1) {
            let map = RandomFourierFeatures::sample(kernel, x.ncols(), p, variant, rng)
                .map_err(|e| TheoryError::Model(e.to_string()))?;
            map.apply_in_place(x, phi.as_mut());
            crate::linalg::gram_in_place(phi.as_ref(), diff.as_mut(), faer::Par::Seq);
            for j in 0..n {
                for i in 0..n {
                    diff[(i, j)] -= gram[(i, j)];
                }
            }
            acc += crate::linalg::spectral_norm_sym(diff.as_ref())?;
        }
        errs.push(acc / seeds.max(1) as f64);
    }
    let ps: Vec<f64> = widths.iter().map(|&p| p as f64).collect();
    let fit = log_log_fit(&ps, &errs)?;
    Ok((errs, fit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_of_synthetic_errors() {
        let hs = [0.5, 0.25, 0.125, 0.0625];
        for q in [1, 2, 4] {
            // err = C h^q (1 + h): the pre-asymptotic term biases the slope up by < 0.3
            let e: Vec<f64> = hs
                .iter()
                .map(|&h: &f64| 0.3 * h.powi(q) * (1.0 + h))
                .collect();
            let fit = depth_order(&hs, &e).unwrap();
            assert!((fit.slope - q as f64).abs() < 0.3, "{fit:?}");
        }
        // exactly C h: slope 1 to rounding
        let e1: Vec<f64> = hs.iter().map(|&h| 0.3 * h).collect();
        assert!((depth_order(&hs, &e1).unwrap().slope - 1.0).abs() < 1e-13);
    }
}

#[cfg(test)]
mod sweep_tests {
    use super::*;
    use rand::SeedableRng;

    /// E‖K_p − K‖ ∝ p^{−1/2}: the fitted slope over p = 16..1024 with 8 draws each is
    /// −1/2 within 3 standard errors + 0.1.
    #[test]
    fn rff_kernel_error_decays_like_inverse_sqrt_width() {
        let x = Mat::from_fn(6, 2, |i, j| ((i * 3 + j) as f64 * 0.7).sin() * 2.0);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let (errs, fit) = rff_kernel_error_sweep(
            &KernelSpec::Gaussian { sigma: 1.0 },
            x.as_ref(),
            &[16, 64, 256, 1024],
            8,
            FourierVariant::CosineWithPhase,
            &mut rng,
        )
        .unwrap();
        assert_eq!(errs.len(), 4);
        assert!(
            (fit.slope + 0.5).abs() <= 3.0 * fit.slope_se + 0.1,
            "{fit:?} {errs:?}"
        );
    }
}
