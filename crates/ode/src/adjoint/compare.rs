//! How far the continuous adjoint is from the exact (discrete) gradient on a given problem.

use faer::{Mat, MatRef};

use crate::adjoint::Gradients;
use crate::adjoint::continuous::continuous_adjoint;
use crate::adjoint::stored::StoredTape;
use crate::error::OdeError;
use crate::field::VectorField;
use crate::grid::Grid;
use crate::tableau::ButcherTableau;

/// Discrete vs continuous adjoint on one problem.
#[derive(Debug, Clone)]
pub struct AdjointComparison {
    /// `‖∂L/∂x_0 (continuous) − ∂L/∂x_0 (discrete)‖_F / ‖∂L/∂x_0 (discrete)‖_F`.
    pub state_rel_diff: f64,
    /// `‖∂L/∂θ (continuous) − ∂L/∂θ (discrete)‖_2 / ‖∂L/∂θ (discrete)‖_2` (0 without
    /// parameters).
    pub params_rel_diff: f64,
    /// The exact gradient of the computed map.
    pub discrete: Gradients,
    /// The continuous-adjoint approximation.
    pub continuous: Gradients,
}

/// Relative difference `‖u − v‖/‖u‖`, or the absolute `‖u − v‖` when `u = 0`.
fn rel(diff_sq: f64, ref_sq: f64) -> f64 {
    if ref_sq > 0.0 {
        (diff_sq / ref_sq).sqrt()
    } else {
        diff_sq.sqrt()
    }
}

/// Runs the forward pass from `x0` on `grid`, takes `λ_n = dloss(x_n)` (the gradient of the
/// loss at the final state), and compares the discrete adjoint (exact for the computed map)
/// with the continuous adjoint (same tableau, reversed grid). The difference is `O(h^p)` for a
/// method of order `p` (both approximate the gradient of the exact flow to that order).
///
/// # Errors
/// [`OdeError::NonFinite`] from the forward pass.
pub fn compare_adjoints<F: VectorField + ?Sized>(
    field: &F,
    tableau: &ButcherTableau,
    grid: &Grid,
    x0: MatRef<'_, f64>,
    dloss: impl FnOnce(MatRef<'_, f64>) -> Mat<f64>,
) -> Result<AdjointComparison, OdeError> {
    let tape = StoredTape::record(field, tableau, grid, x0)?;
    let lambda = dloss(tape.final_state());
    let discrete = tape.backward(field, lambda.as_ref());
    let continuous = continuous_adjoint(field, tableau, grid, tape.final_state(), lambda.as_ref());
    let ds = (&continuous.state - &discrete.state).squared_norm_l2();
    let state_rel_diff = rel(ds, discrete.state.squared_norm_l2());
    let dp: f64 = continuous
        .params
        .iter()
        .zip(&discrete.params)
        .map(|(a, b)| (a - b) * (a - b))
        .sum();
    let rp: f64 = discrete.params.iter().map(|a| a * a).sum();
    Ok(AdjointComparison {
        state_rel_diff,
        params_rel_diff: rel(dp, rp),
        discrete,
        continuous,
    })
}
