//! The vector-field interface every integrator and adjoint in this crate consumes.
//!
//! A field maps a time and a batch of states `X ∈ R^{N×d}` (one sample per row) to the batch
//! of velocities `F ∈ R^{N×d}`, row by row: `F_i = f(t, x_i; θ)`. The gradient routines need
//! two vector–Jacobian products per stage (DESIGN §4): with respect to the state,
//! `(∂f/∂x)ᵀ v`, and with respect to the flat parameter vector `θ ∈ R^P`, `(∂f/∂θ)ᵀ v`.

use faer::{MatMut, MatRef};

/// A time-dependent vector field acting on a batch of states, row by row.
///
/// Implementations must be *deterministic*: the same `(t, X)` must give the same bits.
/// The bitwise equality of the stored and checkpointed discrete adjoints relies on it.
///
/// Shapes (all `N × d`, the caller guarantees them; implementations may panic otherwise):
/// `x`, `v` and `out`.
pub trait VectorField {
    /// Number of trainable parameters `P` (length of the flat gradient vector; 0 if none).
    fn n_params(&self) -> usize;

    /// `out_i = f(t, x_i)` for every row `i` (written, not accumulated).
    fn eval(&self, t: f64, x: MatRef<'_, f64>, out: MatMut<'_, f64>);

    /// `out = Vᵀ ∂f/∂x`, row by row: `out_i = (∂f/∂x(t, x_i))ᵀ v_i` (written, `Replace`).
    fn vjp_state(&self, t: f64, x: MatRef<'_, f64>, v: MatRef<'_, f64>, out: MatMut<'_, f64>);

    /// `grad += Σ_i (∂f(t, x_i)/∂θ)ᵀ v_i` (flat parameter vector of length
    /// [`n_params`](VectorField::n_params); accumulated, never cleared).
    fn vjp_params(&self, t: f64, x: MatRef<'_, f64>, v: MatRef<'_, f64>, grad: &mut [f64]);
}

impl<F: VectorField + ?Sized> VectorField for &F {
    fn n_params(&self) -> usize {
        (**self).n_params()
    }
    fn eval(&self, t: f64, x: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        (**self).eval(t, x, out)
    }
    fn vjp_state(&self, t: f64, x: MatRef<'_, f64>, v: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        (**self).vjp_state(t, x, v, out)
    }
    fn vjp_params(&self, t: f64, x: MatRef<'_, f64>, v: MatRef<'_, f64>, grad: &mut [f64]) {
        (**self).vjp_params(t, x, v, grad)
    }
}

impl<F: VectorField + ?Sized> VectorField for Box<F> {
    fn n_params(&self) -> usize {
        (**self).n_params()
    }
    fn eval(&self, t: f64, x: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        (**self).eval(t, x, out)
    }
    fn vjp_state(&self, t: f64, x: MatRef<'_, f64>, v: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        (**self).vjp_state(t, x, v, out)
    }
    fn vjp_params(&self, t: f64, x: MatRef<'_, f64>, v: MatRef<'_, f64>, grad: &mut [f64]) {
        (**self).vjp_params(t, x, v, grad)
    }
}
