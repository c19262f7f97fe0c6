//! Linear convergence and the lazy regime (docs/theory.md §5 "Convergence", §7 "Lazy regime"):
//! observed rate against the predicted one, distance travelled against the path-length
//! bound.
//!
//! ## The statements checked
//! Gradient flow with the PL inequality `‖∇L‖² ≥ μL`: `L(t) ≤ L₀e^{−μt}` and
//! `∫‖∇L‖ ≤ 2√(L₀/μ)` (from `d√L/dt = −‖∇L‖²/(2√L) ≤ −(√μ/2)‖∇L‖`).
//!
//! Gradient descent `θ_{t+1} = θ_t − ηG_t` (in the parameter metric) with a sufficient
//! decrease `L_{t+1} ≤ L_t − cη‖G_t‖²` — `c = ½` whenever `η ≤ 1/β` (descent lemma) —
//! gives `L_{t+1} ≤ (1 − cημ)L_t`, i.e. the per-step rate `1 − ημ/2` of docs/theory.md §5, and
//! `√L_t − √L_{t+1} ≥ cη‖G_t‖²/(2√L_t) ≥ (c/2)√μ·η‖G_t‖`, hence the discrete path length
//! `Σ_t η‖G_t‖ ≤ (1/c)·2√(L₀/μ)` and `‖θ_T − θ₀‖ ≤ Σ_t η‖G_t‖`.
//! The constant `c` actually achieved is measured ([`sufficient_decrease_constant`]), so
//! the GD bound reported is rigorous given the PL inequality along the path.

use serde::{Deserialize, Serialize};

use crate::error::TheoryError;
use crate::report::{CheckReport, Relation};
use crate::stats::{LinearFit, linear_fit};

/// A fit of `log L_t ≈ a + t log r`: the observed per-step linear rate `r`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateFit {
    /// The least-squares fit of `log L_t` against `t`.
    pub fit: LinearFit,
    /// Observed per-step rate `r = exp(slope)`.
    pub rate: f64,
    /// Standard error of `r` (delta method: `r · se(slope)`).
    pub rate_se: f64,
    /// The worst single-step ratio `max_t L_{t+1}/L_t` over consecutive iterations
    /// (NaN when no two consecutive iterations were given).
    pub worst_step_ratio: f64,
}

/// Fits `log L_t` against the iteration `t` by least squares: the observed per-step
/// rate `exp(slope)` with its standard error, and the worst single-step ratio.
///
/// # Errors
/// As [`linear_fit`]; [`TheoryError::NotPositive`] for a loss `≤ 0` (a zero loss has
/// no logarithm: cut the series where the loss reached rounding level).
///
/// ```
/// use plres_theory::convergence::fit_linear_rate;
/// let t: Vec<f64> = (0..20).map(f64::from).collect();
/// let l: Vec<f64> = t.iter().map(|&t| 3.0 * 0.9f64.powf(t)).collect();
/// let fit = fit_linear_rate(&t, &l).unwrap();
/// assert!((fit.rate - 0.9).abs() < 1e-13);
/// ```
pub fn fit_linear_rate(iterations: &[f64], losses: &[f64]) -> Result<RateFit, TheoryError> {
    let logs = crate::stats::logs(losses, "loss")?;
    let fit = linear_fit(iterations, &logs)?;
    let rate = fit.slope.exp();
    let mut worst = f64::NAN;
    for i in 1..losses.len() {
        if iterations[i] - iterations[i - 1] == 1.0 {
            let r = losses[i] / losses[i - 1];
            worst = if worst.is_nan() { r } else { worst.max(r) };
        }
    }
    Ok(RateFit {
        fit,
        rate,
        rate_se: rate * fit.slope_se,
        worst_step_ratio: worst,
    })
}

/// The rate docs/theory.md §5 predicts for GD with step `η ≤ 1/β` under PL with constant `μ`:
/// `1 − ημ/2` per step (clamped at 0).
pub fn predicted_gd_rate(eta: f64, mu: f64) -> f64 {
    (1.0 - eta * mu / 2.0).max(0.0)
}

/// The gradient-flow path-length bound `2√(L₀/μ)` (docs/theory.md §5).
pub fn path_length_bound(l0: f64, mu: f64) -> f64 {
    2.0 * (l0 / mu).sqrt()
}

/// The GD path-length bound `(1/c)·2√(L₀/μ)` for a run whose every step achieved the
/// sufficient decrease `L_{t+1} ≤ L_t − cη‖G_t‖²` (module docs); `+∞` when `c ≤ 0`.
pub fn gd_path_length_bound(l0: f64, mu: f64, c: f64) -> f64 {
    if c > 0.0 {
        path_length_bound(l0, mu) / c
    } else {
        f64::INFINITY
    }
}

/// The sufficient-decrease constant a GD run achieved:
/// `c = min_t (L_t − L_{t+1}) / (η‖G_t‖²)` over the steps (`‖G_t‖²` in the metric).
/// Steps with `‖G_t‖² = 0` are skipped.
///
/// # Errors
/// [`TheoryError::LengthMismatch`] unless `grad_norm_sq.len() + 1 == losses.len()` or
/// `grad_norm_sq.len() == losses.len()` (the last gradient is then unused);
/// [`TheoryError::TooFewPoints`] for fewer than two losses.
pub fn sufficient_decrease_constant(
    losses: &[f64],
    grad_norm_sq: &[f64],
    eta: f64,
) -> Result<f64, TheoryError> {
    if losses.len() < 2 {
        return Err(TheoryError::TooFewPoints {
            what: "sufficient decrease",
            needed: 2,
            got: losses.len(),
        });
    }
    if grad_norm_sq.len() + 1 != losses.len() && grad_norm_sq.len() != losses.len() {
        return Err(TheoryError::LengthMismatch {
            what: "losses and gradient norms",
            left: losses.len(),
            right: grad_norm_sq.len(),
        });
    }
    let mut c = f64::INFINITY;
    for t in 0..losses.len() - 1 {
        let g = grad_norm_sq[t];
        if g > 0.0 {
            c = c.min((losses[t] - losses[t + 1]) / (eta * g));
        }
    }
    Ok(c)
}

/// Check: the distance travelled (or path length) is at most a path-length bound.
/// `tolerance` is absolute (rounding of the accumulated norms).
pub fn path_report(travelled: f64, bound: f64, tolerance: f64, claim: &str) -> CheckReport {
    CheckReport::new(
        claim,
        "docs/theory.md §5 Convergence, §7 Lazy regime",
        travelled,
        bound,
        tolerance,
        Relation::AtMost,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_of_noisy_geometric_sequence() {
        // L_t = 0.8^t · e^{ε_t}, ε alternating ±0.01: the slope is within a few se of ln 0.8
        let t: Vec<f64> = (0..40).map(f64::from).collect();
        let l: Vec<f64> = t
            .iter()
            .map(|&t| 0.8f64.powf(t) * (if (t as i32) % 2 == 0 { 0.01f64 } else { -0.01 }).exp())
            .collect();
        let fit = fit_linear_rate(&t, &l).unwrap();
        assert!((fit.rate - 0.8).abs() < 4.0 * fit.rate_se + 1e-3, "{fit:?}");
        assert!(fit.rate_se > 0.0);
        // worst single step: 0.8 e^{0.02}
        assert!((fit.worst_step_ratio - 0.8 * 0.02f64.exp()).abs() < 1e-13);
        // predicted 0.75: observed 0.8 is slower by more than 3 se; predicted 0.85 holds
        assert!(fit.rate > predicted_gd_rate(1.0, 0.5) + 3.0 * fit.rate_se);
        assert!(fit.rate <= predicted_gd_rate(1.0, 0.3));
    }

    /// Exact GD on L(θ) = (μ/4)‖θ‖² … a quadratic with ‖∇L‖² = μL exactly:
    /// the sufficient-decrease constant and the path-length bound in closed form.
    #[test]
    fn quadratic_gd_path_and_decrease() {
        // L = (a/2)θ², ∇L = aθ, ‖∇L‖²/L = 2a = μ; GD θ ← (1 − ηa)θ.
        let (a, eta, theta0) = (0.5f64, 0.4, 3.0);
        let mu = 2.0 * a;
        let mut theta = theta0;
        let (mut losses, mut gns, mut path) = (vec![], vec![], 0.0);
        for _ in 0..200 {
            losses.push(0.5 * a * theta * theta);
            let g = a * theta;
            gns.push(g * g);
            path += eta * g.abs();
            theta -= eta * g;
        }
        let c = sufficient_decrease_constant(&losses, &gns, eta).unwrap();
        // L_t − L_{t+1} = (a/2)θ²(1 − (1−ηa)²) = ηa²θ²(1 − ηa/2) → c = 1 − ηa/2 exactly
        assert!((c - (1.0 - eta * a / 2.0)).abs() < 1e-12);
        let bound = gd_path_length_bound(losses[0], mu, c);
        assert!(path <= bound, "{path} vs {bound}");
        // path = θ0 (sum of a geometric series): the bound is within a factor 2/c of it
        assert!((path - theta0).abs() < 1e-12);
        assert!(path_report(path, bound, 0.0, "path").holds());
        let fit = fit_linear_rate(&(0..200).map(f64::from).collect::<Vec<_>>(), &losses).unwrap();
        // rate (1 − ηa)² = 0.64 ≤ 1 − ημ/2 = 0.8
        assert!((fit.rate - 0.64).abs() < 1e-12);
        assert!(fit.rate <= predicted_gd_rate(eta, mu));
    }
}
