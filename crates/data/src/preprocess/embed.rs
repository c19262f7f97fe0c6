//! A fixed random linear input embedding `A: R^{d_in} → R^d`, `A_kl ~ N(0, 1/d_in)`
//! i.i.d. (Gaussian entries scaled by `1/√d_in`).
//!
//! It lifts (or projects) inputs to the state dimension `d` of the ResNet (docs/theory.md
//! §3, the state `x ∈ R^d`). With this scaling each embedded coordinate
//! `(A x)_k = Σ_l A_kl x_l` has variance `‖x‖²/d_in`: standardised inputs (unit variance
//! per feature) give embedded coordinates of unit variance, whatever `d_in`. For
//! `d ≥ d_in`, `A` is injective with probability 1, so distinct inputs stay distinct.
//! On a batch (one sample per row) the map is `Z = X Aᵀ`.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{DataError, Dataset};

/// The embedding matrix `A` (`d × d_in`).
#[derive(Debug, Clone, PartialEq)]
pub struct RandomEmbedding {
    /// `A`, `d × d_in`, entries `N(0, 1/d_in)`.
    pub a: Mat<f64>,
}

impl RandomEmbedding {
    /// `A` drawn from `ChaCha8Rng::seed_from_u64(seed)`.
    ///
    /// # Errors
    /// [`DataError::InvalidParameter`] if `d_in == 0` or `d == 0`.
    pub fn new(d_in: usize, d: usize, seed: u64) -> Result<Self, DataError> {
        Self::from_rng(d_in, d, &mut ChaCha8Rng::seed_from_u64(seed))
    }

    /// `A` drawn from `rng`, entries in row-major order.
    ///
    /// # Errors
    /// As [`RandomEmbedding::new`].
    pub fn from_rng<R: Rng + ?Sized>(
        d_in: usize,
        d: usize,
        rng: &mut R,
    ) -> Result<Self, DataError> {
        if d_in == 0 {
            return Err(DataError::param("d_in", d_in, "at least 1"));
        }
        if d == 0 {
            return Err(DataError::param("d", d, "at least 1"));
        }
        let scale = 1.0 / (d_in as f64).sqrt();
        let mut a = Mat::zeros(d, d_in);
        for k in 0..d {
            for l in 0..d_in {
                a[(k, l)] = scale * crate::rng_util::gaussian(rng);
            }
        }
        Ok(RandomEmbedding { a })
    }

    /// Input dimension `d_in`.
    pub fn d_in(&self) -> usize {
        self.a.ncols()
    }

    /// Output dimension `d`.
    pub fn d_out(&self) -> usize {
        self.a.nrows()
    }

    /// `out ← X Aᵀ` (each row `x_i ↦ A x_i`), with faer's GEMM.
    ///
    /// # Panics
    /// If `x` is not `N × d_in` or `out` is not `N × d` (the message names all).
    pub fn apply_in_place(&self, x: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        assert!(
            x.ncols() == self.d_in() && out.nrows() == x.nrows() && out.ncols() == self.d_out(),
            "RandomEmbedding::apply_in_place: x is {}×{}, out is {}×{}, A is {}×{} (d×d_in)",
            x.nrows(),
            x.ncols(),
            out.nrows(),
            out.ncols(),
            self.d_out(),
            self.d_in()
        );
        matmul(out, Accum::Replace, x, self.a.transpose(), 1.0, Par::Seq);
    }

    /// `X Aᵀ`, owned.
    ///
    /// # Panics
    /// If `x.ncols() != d_in`.
    pub fn apply(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        let mut out = Mat::zeros(x.nrows(), self.d_out());
        self.apply_in_place(x, out.as_mut());
        out
    }

    /// The dataset with inputs embedded (targets unchanged).
    ///
    /// # Panics
    /// If `data.d_in() != d_in`.
    pub fn embed(&self, data: &Dataset) -> Dataset {
        Dataset {
            x: self.apply(data.x.as_ref()),
            y: data.y.clone(),
        }
    }
}
