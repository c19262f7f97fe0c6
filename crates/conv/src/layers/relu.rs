//! `ReLU(x) = max(x, 0)`; its backward multiplies by the mask `1[y > 0]` read from the
//! output (so the output can overwrite the input). A NaN passes through both, as in
//! PyTorch, so that a diverging run shows a non-finite loss.

use crate::Real;

/// `x ← max(x, 0)` in place.
#[inline]
pub fn relu_in_place<T: Real>(x: &mut [T]) {
    for v in x {
        if *v < T::ZERO {
            *v = T::ZERO;
        }
    }
}

/// `dx ← dy ⊙ 1[y > 0]` in place on `dy` (the subgradient 0 at 0, as PyTorch).
#[inline]
pub fn relu_backward_in_place<T: Real>(y: &[T], dy: &mut [T]) {
    for (g, &v) in dy.iter_mut().zip(y) {
        if v <= T::ZERO {
            *g = T::ZERO;
        }
    }
}
