//! The [`Kernel`] trait and the spectral measures of stationary kernels (Bochner).

use std::fmt::Debug;

use faer::prelude::Reborrow;
use faer::{Accum, Mat, MatMut, MatRef};
use serde::{Deserialize, Serialize};

use crate::validate::{check_batch, check_dim};
use crate::{KernelError, KernelSpec};

/// A positive-definite kernel `k: R^d × R^d → R` (docs/theory.md §3.1: the scalar part of the
/// matrix kernel `K(x, x') = k(x, x') I_d`).
///
/// Batches are row-major in meaning: `X ∈ R^{N×d}` holds one point per row.
///
/// Besides values and Gram matrices a kernel gives its gradient in the first argument,
/// `∇_x k(x, y)`, which is all that is needed for the Jacobian of a vector field
/// `θ = Σ_c k(·, c) a_c`: `Dθ(x) = Σ_c a_c ∇_x k(x, c)ᵀ` (see
/// [`crate::expansion::KernelExpansion`]), and its batched, weighted form
/// [`Kernel::weighted_grad_in_place`] for vector–Jacobian products.
pub trait Kernel: Debug + Send + Sync {
    /// Short lower-case name (`"gaussian"`, `"laplace"`, …), the `kind` tag of
    /// [`KernelSpec`].
    fn name(&self) -> &'static str;

    /// `k(x, y)`.
    ///
    /// # Panics
    /// If `x.len() != y.len()`.
    fn eval(&self, x: &[f64], y: &[f64]) -> f64;

    /// `∇_x k(x, y)`, written into `out` (length `d`).
    ///
    /// # Panics
    /// If `x`, `y`, `out` do not all have the same length.
    fn grad_x(&self, x: &[f64], y: &[f64], out: &mut [f64]);

    /// The Gram matrix `out_ij = k(x_i, x_j)` (`N×N`), exactly symmetric.
    ///
    /// # Panics
    /// If `out` is not `N×N` for `x` of `N` rows.
    fn gram_in_place(&self, x: MatRef<'_, f64>, out: MatMut<'_, f64>);

    /// The cross Gram matrix `out_ij = k(x_i, y_j)` (`N×M`).
    ///
    /// # Panics
    /// If `x` and `y` have different numbers of columns or `out` is not `N×M`.
    fn cross_gram_in_place(&self, x: MatRef<'_, f64>, y: MatRef<'_, f64>, out: MatMut<'_, f64>);

    /// Owning wrapper around [`Kernel::gram_in_place`].
    ///
    /// # Panics
    /// Never for shape reasons; see [`Kernel::try_gram`] for validated input.
    fn gram(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        let mut out = Mat::zeros(x.nrows(), x.nrows());
        self.gram_in_place(x, out.as_mut());
        out
    }

    /// Owning wrapper around [`Kernel::cross_gram_in_place`].
    ///
    /// # Panics
    /// If `x` and `y` have different numbers of columns.
    fn cross_gram(&self, x: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Mat<f64> {
        let mut out = Mat::zeros(x.nrows(), y.nrows());
        self.cross_gram_in_place(x, y, out.as_mut());
        out
    }

    /// The spectral measure `μ` with `k(x, y) = E_{ω~μ} cos(ω·(x − y))` (Bochner), for the
    /// stationary kernels with `k(x, x) = 1` whose measure is one of the
    /// [`SpectralMeasure`] families; `None` otherwise (the default, for the kernels that are
    /// not stationary).
    fn spectral_measure(&self) -> Option<SpectralMeasure> {
        None
    }

    /// The serialisable description of this kernel, when it has one.
    fn spec(&self) -> Option<KernelSpec> {
        None
    }

    /// Weighted sum of gradients: `out_i (⊕)= Σ_j w_ij ∇_x k(x_i, y_j)` (`N×d`), with
    /// `accum` = [`Accum::Replace`] (`=`) or [`Accum::Add`] (`+=`).
    ///
    /// This is the kernel part of a vector–Jacobian product: for
    /// `θ = Σ_c k(·, c) a_c`, `Dθ(x_i)ᵀ v_i = Σ_c ∇_x k(x_i, c) (a_c · v_i)`, i.e. this
    /// routine with `y = C` and `w = V Aᵀ`.
    ///
    /// `scratch` (`N×M`) is workspace that GEMM-based implementations overwrite; the
    /// provided per-pair implementation ignores it.
    ///
    /// # Panics
    /// If `x` is not `N×d`, `y` not `M×d`, `w` or `scratch` not `N×M`, `out` not `N×d`.
    fn weighted_grad_in_place(
        &self,
        x: MatRef<'_, f64>,
        y: MatRef<'_, f64>,
        w: MatRef<'_, f64>,
        scratch: MatMut<'_, f64>,
        out: MatMut<'_, f64>,
        accum: Accum,
    ) {
        weighted_grad_per_pair(self, x, y, w, scratch, out, accum);
    }

    /// Validated Gram matrix: rejects an empty or non-finite `x`.
    ///
    /// # Errors
    /// [`KernelError::Empty`], [`KernelError::NonFinite`].
    fn try_gram(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>, KernelError> {
        check_batch("x", x)?;
        Ok(self.gram(x))
    }

    /// Validated cross Gram matrix: rejects empty, non-finite or dimension-mismatched
    /// inputs.
    ///
    /// # Errors
    /// [`KernelError::Empty`], [`KernelError::NonFinite`],
    /// [`KernelError::DimensionMismatch`].
    fn try_cross_gram(
        &self,
        x: MatRef<'_, f64>,
        y: MatRef<'_, f64>,
    ) -> Result<Mat<f64>, KernelError> {
        check_batch("x", x)?;
        check_batch("y", y)?;
        check_dim("columns of y (= columns of x)", x.ncols(), y.ncols())?;
        Ok(self.cross_gram(x, y))
    }

    /// Validated `k(x, y)`.
    ///
    /// # Errors
    /// [`KernelError::Empty`], [`KernelError::NonFinite`],
    /// [`KernelError::DimensionMismatch`].
    fn try_eval(&self, x: &[f64], y: &[f64]) -> Result<f64, KernelError> {
        crate::validate::check_point("x", x)?;
        crate::validate::check_point("y", y)?;
        check_dim("length of y (= length of x)", x.len(), y.len())?;
        Ok(self.eval(x, y))
    }
}

/// Panics unless the two points of a pointwise evaluation have the same dimension
/// (the message names `what` and both lengths).
#[track_caller]
pub(crate) fn check_pair(what: &str, x: &[f64], y: &[f64]) {
    assert!(
        x.len() == y.len(),
        "{what}: x has length {}, y has length {}",
        x.len(),
        y.len()
    );
}

/// Panics unless `x`, `y` and the gradient `out` of a pointwise [`Kernel::grad_x`] have the
/// same length (the message names all three).
#[track_caller]
pub(crate) fn check_grad_x(x: &[f64], y: &[f64], out: &[f64]) {
    assert!(
        x.len() == y.len() && out.len() == x.len(),
        "grad_x: x has length {}, y has length {}, out has length {}",
        x.len(),
        y.len(),
        out.len()
    );
}

/// Checks the shapes of a [`Kernel::weighted_grad_in_place`] call; returns `(N, M, d)`.
pub(crate) fn check_weighted_grad_shapes(
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    w: MatRef<'_, f64>,
    scratch: MatRef<'_, f64>,
    out: MatRef<'_, f64>,
) -> (usize, usize, usize) {
    let (n, d, m) = (x.nrows(), x.ncols(), y.nrows());
    assert!(
        y.ncols() == d
            && w.nrows() == n
            && w.ncols() == m
            && scratch.nrows() == n
            && scratch.ncols() == m
            && out.nrows() == n
            && out.ncols() == d,
        "weighted_grad_in_place: x is {n}×{d}, y is {m}×{}, w is {}×{}, scratch is {}×{}, \
         out is {}×{}; need y M×d, w and scratch N×M, out N×d",
        y.ncols(),
        w.nrows(),
        w.ncols(),
        scratch.nrows(),
        scratch.ncols(),
        out.nrows(),
        out.ncols()
    );
    (n, m, d)
}

/// The per-pair reference implementation of [`Kernel::weighted_grad_in_place`] (three
/// length-`d` buffers per call, none per pair).
pub(crate) fn weighted_grad_per_pair<K: Kernel + ?Sized>(
    kernel: &K,
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    w: MatRef<'_, f64>,
    scratch: MatMut<'_, f64>,
    mut out: MatMut<'_, f64>,
    accum: Accum,
) {
    let (n, m, d) = check_weighted_grad_shapes(x, y, w, scratch.rb(), out.rb());
    let mut xi = vec![0.0; d];
    let mut yj = vec![0.0; d];
    let mut g = vec![0.0; d];
    for i in 0..n {
        for (l, v) in xi.iter_mut().enumerate() {
            *v = x[(i, l)];
        }
        if accum == Accum::Replace {
            for l in 0..d {
                out[(i, l)] = 0.0;
            }
        }
        for j in 0..m {
            let wij = w[(i, j)];
            if wij == 0.0 {
                continue;
            }
            for (l, v) in yj.iter_mut().enumerate() {
                *v = y[(j, l)];
            }
            kernel.grad_x(&xi, &yj, &mut g);
            for l in 0..d {
                out[(i, l)] += wij * g[l];
            }
        }
    }
}

/// Bochner: `k(x, y) = E_ω cos(ω·(x − y))` for `ω` drawn from this measure.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum SpectralMeasure {
    /// `ω ~ N(0, σ⁻² I_d)` — the Gaussian kernel `exp(−‖x − y‖²/(2σ²))`.
    Gaussian {
        /// Kernel bandwidth `σ`.
        sigma: f64,
    },
    /// Multivariate Student-t with `dof` degrees of freedom and scale `1/lengthscale`:
    /// `ω = z / (lengthscale · sqrt(u / dof))`, `z ~ N(0, I_d)`, `u ~ χ²(dof)`.
    ///
    /// Laplace `exp(−‖x − y‖/ℓ)` ↔ `dof = 1` (multivariate Cauchy); Matérn `ν` ↔
    /// `dof = 2ν` (density `∝ (1 + ℓ²‖ω‖²/(2ν))^{−(2ν+d)/2}`).
    StudentT {
        /// Degrees of freedom (`1` Laplace, `3` Matérn 3/2, `5` Matérn 5/2).
        dof: f64,
        /// Kernel length-scale `ℓ`.
        lengthscale: f64,
    },
}

impl SpectralMeasure {
    /// `E‖ω‖²` in dimension `d` (the `σ_ω²` of the uniform RFF bound, docs/theory.md §6):
    /// `d/σ²` for the Gaussian, `d · dof / ((dof − 2) ℓ²)` for the Student-t, `+∞` when
    /// `dof ≤ 2` (Laplace, Matérn ≤ 1).
    pub fn second_moment(&self, d: usize) -> f64 {
        let d = d as f64;
        match *self {
            SpectralMeasure::Gaussian { sigma } => d / (sigma * sigma),
            SpectralMeasure::StudentT { dof, lengthscale } => {
                if dof <= 2.0 {
                    f64::INFINITY
                } else {
                    d * dof / ((dof - 2.0) * lengthscale * lengthscale)
                }
            }
        }
    }
}
