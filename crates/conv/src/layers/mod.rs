//! The layers, each with a forward pass and the exact backward pass (vector–Jacobian
//! products w.r.t. inputs and parameters).
//!
//! **Layout.** Activations are *channel-major*: a batch of `n` images with `c` channels of
//! `h × w` pixels is one slice, entry `(ci, b, y, x)` at `((ci·n + b)·h + y)·w + x`, i.e. a
//! row-major `c × (n·h·w)` matrix. A convolution is then one GEMM over the whole batch,
//! `Y = W · col(X)` with `W` the PyTorch weight `(c_out, c_in, k, k)` read as a row-major
//! `c_out × c_in·k²` matrix, and batch normalisation works on contiguous rows. Only
//! [`flatten`] leaves this layout, to the sample-major `n × (c·h·w)` matrix of PyTorch's
//! `Flatten` (feature index `(ci·h + y)·w + x`).

pub mod batchnorm;
pub mod conv2d;
pub mod flatten;
pub mod linear;
pub mod loss;
pub mod relu;

use faer::{MatMut, MatRef};

/// Row-major `rows × cols` view of `s`.
#[inline]
pub(crate) fn rm<T>(s: &[T], rows: usize, cols: usize) -> MatRef<'_, T> {
    MatRef::from_row_major_slice(&s[..rows * cols], rows, cols)
}

/// Row-major mutable `rows × cols` view of `s`.
#[inline]
pub(crate) fn rm_mut<T>(s: &mut [T], rows: usize, cols: usize) -> MatMut<'_, T> {
    MatMut::from_row_major_slice_mut(&mut s[..rows * cols], rows, cols)
}
