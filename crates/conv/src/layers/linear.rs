//! Fully connected layer (PyTorch's `Linear`): `Z = X Wᵀ + 1 bᵀ` for `X` (`n × d_in`,
//! one sample per row), `W` (`d_out × d_in`). Backward: `∂W = ∂Zᵀ X`, `∂b = ∂Zᵀ 1`,
//! `∂X = ∂Z W`.

use faer::linalg::matmul::matmul;
use faer::{Accum, Par};

use super::{rm, rm_mut};
use crate::Real;

/// A linear layer with weight `d_out × d_in` (row-major) and bias `d_out`.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear<T> {
    /// Input features.
    pub d_in: usize,
    /// Output features.
    pub d_out: usize,
    /// Weight, row-major `d_out × d_in`.
    pub weight: Vec<T>,
    /// Bias.
    pub bias: Vec<T>,
}

impl<T: Real> Linear<T> {
    /// `z ← X Wᵀ + b` (`z` row-major `n × d_out`).
    pub fn forward(&self, x: &[T], n: usize, z: &mut [T], par: Par) {
        matmul(
            rm_mut(z, n, self.d_out),
            Accum::Replace,
            rm(x, n, self.d_in),
            rm(&self.weight, self.d_out, self.d_in).transpose(),
            T::ONE,
            par,
        );
        for row in z[..n * self.d_out].chunks_exact_mut(self.d_out) {
            for (v, &b) in row.iter_mut().zip(&self.bias) {
                *v += b;
            }
        }
    }

    /// Adds `∂Zᵀ X` to `dweight` and `∂Zᵀ 1` to `dbias`; if `dx` is given, `dx ← ∂Z W`.
    pub fn backward(
        &self,
        dz: &[T],
        x: &[T],
        n: usize,
        dweight: &mut [T],
        dbias: &mut [T],
        dx: Option<&mut [T]>,
        par: Par,
    ) {
        matmul(
            rm_mut(dweight, self.d_out, self.d_in),
            Accum::Add,
            rm(dz, n, self.d_out).transpose(),
            rm(x, n, self.d_in),
            T::ONE,
            par,
        );
        for row in dz[..n * self.d_out].chunks_exact(self.d_out) {
            for (g, &v) in dbias.iter_mut().zip(row) {
                *g += v;
            }
        }
        if let Some(dx) = dx {
            matmul(
                rm_mut(dx, n, self.d_in),
                Accum::Replace,
                rm(dz, n, self.d_out),
                rm(&self.weight, self.d_out, self.d_in),
                T::ONE,
                par,
            );
        }
    }
}
