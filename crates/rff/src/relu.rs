//! Random ReLU features: the hidden layer of the reference study (docs/theory.md §3.2).
//!
//! `φ(x) = √(2/p) relu(Wx + c)`, `W_jl, c_j ~ N(0, 1)` i.i.d. Writing `x̃ = (x, 1)` and
//! `w̃_j = (w_j, c_j) ~ N(0, I_{d+1})`, `φ(x)·φ(y) = (2/p) Σ_j relu(w̃_j·x̃) relu(w̃_j·ỹ)`,
//! whose expectation is the degree-1 arc-cosine kernel of the augmented inputs
//! (Cho & Saul 2009): `k(x, y) = (1/π)‖x̃‖‖ỹ‖(sin α + (π − α) cos α)`
//! ([`plres_kernels::ArcCosine1`]).
//!
//! Derivative for the backward pass: `∂/∂z √(2/p) relu(z) = √(2/p) 1[z > 0]` (the value
//! 0 is taken at the kink `z = 0`).

use faer::linalg::matmul::matmul;
use faer::prelude::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, MatRef, Par};
use plres_kernels::KernelSpec;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::error::RffError;
use crate::fourier::check_finite_parts;
use crate::map::{
    ColumnActivation, Columnwise, FeatureMap, check_backward, check_forward, effective_par,
    forward_columnwise, hadamard_in_place,
};
use crate::size::{check_size, try_vec, try_zeros};
use crate::spec::FeatureSpec;

/// Random ReLU features `φ(x) = √(2/p) relu(Wx + c)` (module docs); limit kernel
/// [`KernelSpec::ArcCosine1`].
///
/// ```
/// use plres_rff::{FeatureMap, RandomReluFeatures};
/// use rand::SeedableRng;
/// use rand_chacha::ChaCha8Rng;
///
/// let relu = RandomReluFeatures::sample(3, 512, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
/// let phi = relu.apply(faer::mat![[1.0, -2.0, 0.5]].as_ref());
/// assert_eq!(phi.shape(), (1, 512));
/// assert!(phi.col_iter().all(|c| c[0] >= 0.0));
/// ```
#[derive(Clone, Debug)]
pub struct RandomReluFeatures {
    w: Mat<f64>,
    c: Vec<f64>,
    par: Par,
}

impl RandomReluFeatures {
    /// Samples `p` features on `R^d`: for `j = 1..p`, the row `w_j` (`d` standard normals)
    /// then `c_j` (one standard normal), in this order, so a seeded `rand_chacha`
    /// generator gives bitwise the same features on every machine.
    ///
    /// # Errors
    /// [`RffError::EmptyShape`] if `d = 0` or `p = 0`, [`RffError::TooLarge`] above
    /// [`MAX_FEATURES`](crate::MAX_FEATURES) features or [`MAX_WEIGHTS`](crate::MAX_WEIGHTS)
    /// weights (checked before any allocation), [`RffError::OutOfMemory`] if the weights
    /// cannot be allocated.
    pub fn sample(d: usize, p: usize, rng: &mut impl Rng) -> Result<Self, RffError> {
        if d == 0 || p == 0 {
            return Err(RffError::EmptyShape { d, p });
        }
        check_size(d, p, p)?;
        let mut w = try_zeros(p, d)?;
        let mut c = try_vec(p)?;
        for j in 0..p {
            for l in 0..d {
                w[(j, l)] = StandardNormal.sample(rng);
            }
            c.push(StandardNormal.sample(rng));
        }
        Ok(Self {
            w,
            c,
            par: faer::get_global_parallelism(),
        })
    }

    /// Rebuilds the map from its parts (checkpoint loading): `w` is `p×d`, `c` has `p`
    /// entries.
    ///
    /// # Errors
    /// [`RffError::PartsShape`] if the shapes disagree or are empty,
    /// [`RffError::TooLarge`] as for [`sample`](Self::sample),
    /// [`RffError::NonFinite`] for NaN or infinite entries.
    pub fn from_parts(w: Mat<f64>, c: Vec<f64>) -> Result<Self, RffError> {
        let (p, d) = w.shape();
        if c.len() != p || p == 0 || d == 0 {
            return Err(RffError::PartsShape {
                rows: p,
                cols: d,
                bias_len: c.len(),
                expected_rows: c.len().max(1),
                expected_bias: p.max(1),
            });
        }
        check_size(d, p, p)?;
        check_finite_parts(w.as_ref(), &c)?;
        Ok(Self {
            w,
            c,
            par: faer::get_global_parallelism(),
        })
    }

    crate::map::parallelism_methods!();

    /// `√(2/p)`.
    pub fn scale(&self) -> f64 {
        (2.0 / self.w.nrows() as f64).sqrt()
    }

    /// The forward pass ([`forward_columnwise`] with `σ = relu`).
    fn forward(&self, x: MatRef<'_, f64>, phi: MatMut<'_, f64>, cache: Option<MatMut<'_, f64>>) {
        let (w, act) = (self.w.as_ref(), ColumnActivation::Relu);
        forward_columnwise(
            x,
            w,
            &self.c,
            self.scale(),
            act,
            phi,
            cache,
            self.par,
            usize::MAX,
        );
    }
}

impl FeatureMap for RandomReluFeatures {
    fn input_dim(&self) -> usize {
        self.w.ncols()
    }

    fn output_dim(&self) -> usize {
        self.w.nrows()
    }

    /// `Φ = √(2/p) relu(XWᵀ + 1cᵀ)`.
    fn apply_in_place(&self, x: MatRef<'_, f64>, phi: MatMut<'_, f64>) {
        check_forward(
            "RandomReluFeatures",
            self.input_dim(),
            self.output_dim(),
            x,
            phi.rb(),
        );
        self.forward(x, phi, None);
    }

    fn cache_dim(&self) -> usize {
        self.output_dim()
    }

    /// Cache: `√(2/p) 1[XWᵀ + c > 0]`.
    fn apply_with_cache(&self, x: MatRef<'_, f64>, phi: MatMut<'_, f64>, cache: MatMut<'_, f64>) {
        let (d, p) = (self.input_dim(), self.output_dim());
        check_forward("RandomReluFeatures", d, p, x, phi.rb());
        check_forward("RandomReluFeatures cache", d, p, x, cache.rb());
        self.forward(x, phi, Some(cache));
    }

    /// `φ_j = √(2/p) relu(w_j·x + c_j)` column by column.
    fn columnwise(&self) -> Option<Columnwise<'_>> {
        Some(Columnwise {
            weights: self.w.as_ref(),
            bias: &self.c,
            scale: self.scale(),
            activation: ColumnActivation::Relu,
        })
    }

    /// `∇_X = (V ⊙ cache) W`.
    fn vjp_in_place(
        &self,
        cache: MatRef<'_, f64>,
        mut v: MatMut<'_, f64>,
        grad_x: MatMut<'_, f64>,
        accum: Accum,
    ) {
        let (d, p) = (self.input_dim(), self.output_dim());
        check_backward("RandomReluFeatures", d, p, cache, v.rb(), grad_x.rb());
        hadamard_in_place(v.rb_mut(), cache);
        let par = effective_par(self.par, v.nrows(), p);
        matmul(grad_x, accum, v.rb(), self.w.as_ref(), 1.0, par);
    }

    fn limit_kernel(&self) -> KernelSpec {
        KernelSpec::ArcCosine1
    }

    fn weights(&self) -> MatRef<'_, f64> {
        self.w.as_ref()
    }

    fn bias(&self) -> &[f64] {
        &self.c
    }

    fn spec(&self) -> FeatureSpec {
        FeatureSpec::Relu
    }
}
