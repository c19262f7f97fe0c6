//! The vector-field interface every integrator and adjoint in this crate consumes.
//!
//! A field maps a time and a batch of states `X ∈ R^{N×d}` (one sample per row) to the batch
//! of velocities `F ∈ R^{N×d}`, row by row: `F_i = f(t, x_i; θ)`. The gradient routines need
//! two vector–Jacobian products per stage (docs/theory.md §4): with respect to the state,
//! `(∂f/∂x)ᵀ v`, and with respect to the flat parameter vector `θ ∈ R^P`, `(∂f/∂θ)ᵀ v`.

use faer::{MatMut, MatRef};

/// A time-dependent vector field acting on a batch of states, row by row.
///
/// Implementations must be *deterministic*: the same `(t, X)` must give the same bits.
/// The bitwise equality of the stored and checkpointed discrete adjoints relies on it.
///
/// The field must act *row by row* (`out_i` depends on `x_i` only): the fixed-grid solvers and
/// the tapes evaluate it on blocks of consecutive rows
/// ([`row_block`](crate::stepper::row_block)), and the fixed-grid solvers sweep all steps of
/// one block before the next, so calls need not come in time order across blocks. The
/// gradient routines call the vector–Jacobian products on the whole batch.
///
/// An implementation that runs faer products and then scalar code (libm `sin`, `tanh`, …)
/// should call [`clear_upper_state`](plres_simd::clear_upper_state) in between (see
/// [`plres_simd::hygiene`]: a 10× slowdown otherwise on AVX-512 machines).
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

/// A shared or boxed field is a field: every method forwards to the pointee (one body for
/// both pointer types).
macro_rules! forward_field {
    ($($ptr:ty),*) => {$(
        impl<F: VectorField + ?Sized> VectorField for $ptr {
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
    )*};
}

forward_field!(&F, Box<F>);

/// `pub(crate) fn name(field, args…)`: `field.name(args…)`, then
/// [`clear_upper_state`](plres_simd::clear_upper_state) so that the integrator's own code
/// after it runs at full speed (see [`plres_simd::hygiene`]).
macro_rules! then_clear_upper_state {
    ($($(#[$attr:meta])* fn $name:ident($($arg:ident: $ty:ty),*);)*) => {$(
        $(#[$attr])*
        #[inline]
        pub(crate) fn $name<F: VectorField + ?Sized>(field: &F, $($arg: $ty),*) {
            field.$name($($arg),*);
            plres_simd::clear_upper_state();
        }
    )*};
}

then_clear_upper_state! {
    /// `field.eval`, then `vzeroupper`.
    fn eval(t: f64, x: MatRef<'_, f64>, out: MatMut<'_, f64>);
    /// `field.vjp_state`, then `vzeroupper`.
    fn vjp_state(t: f64, x: MatRef<'_, f64>, v: MatRef<'_, f64>, out: MatMut<'_, f64>);
    /// `field.vjp_params`, then `vzeroupper`.
    fn vjp_params(t: f64, x: MatRef<'_, f64>, v: MatRef<'_, f64>, grad: &mut [f64]);
}
