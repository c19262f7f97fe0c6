//! PyTorch's `Flatten` between the channel-major layout of the layers (`c × n × hw`) and
//! the sample-major feature matrix `n × (c·hw)` (feature `ci·hw + s`).

use crate::Real;

/// `out[b, ci·hw + s] = x[ci, b, s]`.
pub fn flatten<T: Real>(x: &[T], c: usize, n: usize, hw: usize, out: &mut [T]) {
    for ci in 0..c {
        for b in 0..n {
            let src = &x[(ci * n + b) * hw..][..hw];
            out[b * c * hw + ci * hw..][..hw].copy_from_slice(src);
        }
    }
}

/// The inverse (and adjoint) of [`flatten`]: `x[ci, b, s] = out[b, ci·hw + s]`.
pub fn unflatten<T: Real>(flat: &[T], c: usize, n: usize, hw: usize, x: &mut [T]) {
    for ci in 0..c {
        for b in 0..n {
            x[(ci * n + b) * hw..][..hw].copy_from_slice(&flat[b * c * hw + ci * hw..][..hw]);
        }
    }
}
