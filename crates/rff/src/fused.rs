//! The fused pre-activation and activation for small input dimensions (private): the
//! kernel is [`plres_simd::fused`]; this wrapper decides how many threads the work is worth.

use faer::{MatMut, MatRef, Par};

pub(crate) use plres_simd::fused::Activation;

use crate::map::effective_par;

/// `Φ = act(X Wᵀ + b)` (and the cache) with the fused kernel, if the layouts and `d`
/// allow it ([`plres_simd::fused::try_forward`]); returns `false` (having written nothing)
/// otherwise. Runs on one thread when the output is too small to be worth splitting.
#[allow(clippy::too_many_arguments)] // private; mirrors the maths' list of operands
pub(crate) fn try_forward(
    x: MatRef<'_, f64>,
    w: MatRef<'_, f64>,
    bias: &[f64],
    scale: f64,
    act: Activation,
    phi: MatMut<'_, f64>,
    cache: Option<MatMut<'_, f64>>,
    par: Par,
) -> bool {
    let q = w.nrows();
    let outputs = if act == Activation::Paired { 2 * q } else { q };
    let par = effective_par(par, x.nrows(), outputs);
    plres_simd::fused::try_forward(x, w, bias, scale, act, phi, cache, par)
}
