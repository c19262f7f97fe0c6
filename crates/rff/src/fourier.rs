//! Random Fourier features for stationary kernels (docs/theory.md §3.2; Rahimi & Recht 2007).
//!
//! Bochner: a stationary kernel with `k(0) = 1` is `k(x, y) = E_ω cos(ω·(x − y))` for
//! `ω` drawn from its spectral measure. With `b ~ U[0, 2π)` independent of `ω`,
//! `E_b 2 cos(ω·x + b) cos(ω·y + b) = cos(ω·(x − y))`, so
//!
//! * [`FourierVariant::CosineWithPhase`]: `φ(x) = √(2/p) cos(Ωx + b)` (`Ω` is `p×d`),
//! * [`FourierVariant::Paired`]: `φ(x) = √(2/p) [cos(Ωx), sin(Ωx)]` (`Ω` is `p/2 × d`),
//!   using `cos a cos c + sin a sin c = cos(a − c)`,
//!
//! both satisfy `E φ(x)·φ(y) = k(x, y)` with `O(1/√p)` fluctuations.
//!
//! Derivatives for the backward pass, with `z = Ωx (+ b)`:
//! `∂/∂z √(2/p) cos z = −√(2/p) sin z` and `∂/∂z √(2/p) sin z = √(2/p) cos z`.

use faer::linalg::matmul::matmul;
use faer::prelude::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, MatRef, Par};
use plres_kernels::validate::first_non_finite;
use plres_kernels::{KernelSpec, SpectralMeasure};
use rand::{Rng, RngExt};
use rand_distr::{ChiSquared, Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::RffError;
use crate::fused::{self, Activation};
use crate::map::{
    ColumnActivation, Columnwise, FeatureMap, Slab, check_backward, check_forward, effective_par,
    for_each_col2, forward_blocked, forward_columnwise, hadamard_in_place, scaled_copy,
};
use crate::size::{check_size, try_vec, try_zeros};
use crate::spec::FeatureSpec;
use crate::trig::{self, Backend};

/// Which random Fourier feature map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FourierVariant {
    /// `φ(x) = √(2/p) cos(Ωx + b)`, `Ω ∈ R^{p×d}`, `b_j ~ U[0, 2π)`.
    CosineWithPhase,
    /// `φ(x) = [cos(Ωx), sin(Ωx)] / √(p/2)`, `Ω ∈ R^{(p/2)×d}`, `p` even, no bias.
    Paired,
}

/// Random Fourier features `φ: R^d → R^p` of a stationary kernel (module docs).
///
/// ```
/// use plres_kernels::KernelSpec;
/// use plres_rff::{FeatureMap, FourierVariant, RandomFourierFeatures};
/// use rand::SeedableRng;
/// use rand_chacha::ChaCha8Rng;
///
/// let kernel = KernelSpec::Gaussian { sigma: 1.0 };
/// let mut rng = ChaCha8Rng::seed_from_u64(7);
/// let rff = RandomFourierFeatures::sample(&kernel, 2, 4096, FourierVariant::CosineWithPhase, &mut rng)
///     .unwrap();
/// let x = faer::mat![[0.0, 0.0], [0.5, -0.5]];
/// let phi = rff.apply(x.as_ref());
/// let k_p: f64 = (0..4096).map(|j| phi[(0, j)] * phi[(1, j)]).sum();
/// // k = exp(−‖x − y‖²/2) = exp(−0.25); the error is O(1/√p)
/// assert!((k_p - (-0.25f64).exp()).abs() < 0.1);
/// ```
#[derive(Clone, Debug)]
pub struct RandomFourierFeatures {
    kernel: KernelSpec,
    variant: FourierVariant,
    omega: Mat<f64>,
    bias: Vec<f64>,
    p: usize,
    par: Par,
}

/// One frequency `ω ~` `measure` in dimension `d`, written into `row`.
fn sample_frequency<R: Rng + ?Sized>(
    measure: SpectralMeasure,
    chi2: Option<&ChiSquared<f64>>,
    row: &mut [f64],
    rng: &mut R,
) {
    for v in row.iter_mut() {
        *v = StandardNormal.sample(rng);
    }
    let scale = match (measure, chi2) {
        (SpectralMeasure::Gaussian { sigma }, _) => 1.0 / sigma,
        (SpectralMeasure::StudentT { dof, lengthscale }, Some(chi2)) => {
            let u: f64 = chi2.sample(rng);
            1.0 / (lengthscale * (u / dof).sqrt())
        }
        (SpectralMeasure::StudentT { .. }, None) => unreachable!("chi-squared built for Student-t"),
    };
    for v in row.iter_mut() {
        *v *= scale;
    }
}

impl RandomFourierFeatures {
    /// Samples `p` features for `kernel` on `R^d`: for `j = 1..p` (`p/2` for
    /// [`FourierVariant::Paired`]), `ω_j` from the kernel's spectral measure (`d` standard
    /// normals, scaled by `1/σ` for the Gaussian kernel or by `1/(ℓ√(u/ν))`, `u ~ χ²(ν)`,
    /// for the Student-t measures of Laplace and Matérn), then `b_j ~ U[0, 2π)`.
    /// The draws happen in exactly this order, so a seeded `rand_chacha` generator gives
    /// bitwise the same features on every machine.
    ///
    /// # Errors
    /// [`RffError::EmptyShape`] if `d = 0` or `p = 0`, [`RffError::OddPairedWidth`],
    /// [`RffError::TooLarge`] above [`MAX_FEATURES`](crate::MAX_FEATURES) features or
    /// [`MAX_WEIGHTS`](crate::MAX_WEIGHTS) weights (checked before any allocation),
    /// [`RffError::OutOfMemory`] if the weights cannot be allocated,
    /// [`RffError::Kernel`] for invalid kernel parameters, [`RffError::NoSpectralMeasure`]
    /// for a kernel without spectral measure (arc-cosine, linear, inverse multiquadric).
    pub fn sample(
        kernel: &KernelSpec,
        d: usize,
        p: usize,
        variant: FourierVariant,
        rng: &mut impl Rng,
    ) -> Result<Self, RffError> {
        let (measure, rows) = Self::check_config(kernel, d, p, variant)?;
        let chi2 =
            match measure {
                SpectralMeasure::StudentT { dof, .. } => Some(ChiSquared::new(dof).map_err(
                    |_| RffError::NoSpectralMeasure {
                        kernel: kernel.kind(),
                    },
                )?),
                SpectralMeasure::Gaussian { .. } => None,
            };
        let mut omega = try_zeros(rows, d)?;
        let mut bias = try_vec(if variant == FourierVariant::Paired {
            0
        } else {
            p
        })?;
        let mut row = try_vec(d)?;
        row.resize(d, 0.0);
        for j in 0..rows {
            sample_frequency(measure, chi2.as_ref(), &mut row, rng);
            for (l, &v) in row.iter().enumerate() {
                omega[(j, l)] = v;
            }
            if variant == FourierVariant::CosineWithPhase {
                bias.push(rng.random_range(0.0..std::f64::consts::TAU));
            }
        }
        Ok(Self::assemble(kernel, variant, omega, bias, p))
    }

    /// The map from checked parts, with faer's global parallelism.
    fn assemble(
        kernel: &KernelSpec,
        variant: FourierVariant,
        omega: Mat<f64>,
        bias: Vec<f64>,
        p: usize,
    ) -> Self {
        Self {
            kernel: *kernel,
            variant,
            omega,
            bias,
            p,
            par: faer::get_global_parallelism(),
        }
    }

    /// Rebuilds a feature map from its parts (checkpoint loading): `omega` (`p×d` with a
    /// bias of length `p`, or `p/2 × d` with an empty bias for the paired variant).
    ///
    /// # Errors
    /// [`RffError::PartsShape`] if the shapes disagree, [`RffError::NonFinite`] for NaN or
    /// infinite entries, and the errors of [`sample`](Self::sample) for the kernel.
    pub fn from_parts(
        omega: Mat<f64>,
        bias: Vec<f64>,
        kernel: &KernelSpec,
        variant: FourierVariant,
    ) -> Result<Self, RffError> {
        let (rows, d) = omega.shape();
        let (p, expected_bias) = match variant {
            FourierVariant::CosineWithPhase => (rows, rows),
            // a 0-column matrix can claim any number of rows: 2·rows may overflow
            FourierVariant::Paired => (rows.saturating_mul(2), 0),
        };
        if bias.len() != expected_bias || rows == 0 || d == 0 {
            return Err(RffError::PartsShape {
                rows,
                cols: d,
                bias_len: bias.len(),
                expected_rows: if variant == FourierVariant::Paired {
                    p / 2
                } else {
                    p
                },
                expected_bias,
            });
        }
        Self::check_config(kernel, d, p, variant)?;
        check_finite_parts(omega.as_ref(), &bias)?;
        Ok(Self::assemble(kernel, variant, omega, bias, p))
    }

    fn check_config(
        kernel: &KernelSpec,
        d: usize,
        p: usize,
        variant: FourierVariant,
    ) -> Result<(SpectralMeasure, usize), RffError> {
        if d == 0 || p == 0 {
            return Err(RffError::EmptyShape { d, p });
        }
        if variant == FourierVariant::Paired && !p.is_multiple_of(2) {
            return Err(RffError::OddPairedWidth { p });
        }
        kernel.validate()?;
        let measure = kernel
            .spectral_measure()
            .ok_or(RffError::NoSpectralMeasure {
                kernel: kernel.kind(),
            })?;
        let rows = if variant == FourierVariant::Paired {
            p / 2
        } else {
            p
        };
        check_size(d, p, rows)?;
        Ok((measure, rows))
    }

    /// The variant.
    pub fn variant(&self) -> FourierVariant {
        self.variant
    }

    crate::map::parallelism_methods!(
        ///
        /// Batches with fewer than 2¹⁶ output entries always run on one thread.
    );

    /// `√(2/p)`, the scale of every feature.
    pub fn scale(&self) -> f64 {
        (2.0 / self.p as f64).sqrt()
    }

    /// The forward pass: the cosine variant is [`forward_columnwise`]; paired features
    /// write `s cos` into the first half of `Φ` and `s sin` into the second.
    fn forward(
        &self,
        x: MatRef<'_, f64>,
        mut phi: MatMut<'_, f64>,
        mut cache: Option<MatMut<'_, f64>>,
    ) {
        let s = self.scale();
        let w = self.omega.as_ref();
        if self.variant == FourierVariant::CosineWithPhase {
            let act = ColumnActivation::Cos;
            forward_columnwise(x, w, &self.bias, s, act, phi, cache, self.par, usize::MAX);
            return;
        }
        let cache_view = cache.as_mut().map(|c| c.rb_mut());
        if fused::try_forward(
            x,
            w,
            &self.bias,
            s,
            Activation::Paired,
            phi.rb_mut(),
            cache_view,
            fused::fused_par(self.par, x.nrows(), w.nrows(), Activation::Paired),
        ) {
            return;
        }
        let backend = Backend::detect();
        let rows = self.omega.nrows();
        let (p_cos, p_sin) = phi.split_at_col_mut(rows);
        let (c_cos, c_sin) = cache.map(|c| c.split_at_col_mut(rows)).unzip();
        let slab = Slab {
            w,
            shift: &[],
            z: p_cos,
            extra: [Some(p_sin), c_cos, c_sin],
        };
        let act = |slab: Slab<'_>| {
            let [Some(mut p_sin), c_cos, c_sin] = slab.extra else {
                unreachable!("the sin half is always present")
            };
            let mut p_cos = slab.z;
            for_each_col2(p_cos.rb_mut(), p_sin.rb_mut(), |_, z, sn| {
                trig::cos_sin_in_place_with(backend, z, 0.0, s, s, sn);
            });
            // ∂φ_cos/∂z = −φ_sin, ∂φ_sin/∂z = φ_cos
            if let (Some(c_cos), Some(c_sin)) = (c_cos, c_sin) {
                scaled_copy(c_cos, p_sin.rb(), -1.0);
                scaled_copy(c_sin, p_cos.rb(), 1.0);
            }
        };
        forward_blocked(x, slab, self.par, &act);
    }
}

/// Rejects NaN and infinities in checkpointed weights and bias.
pub(crate) fn check_finite_parts(w: MatRef<'_, f64>, bias: &[f64]) -> Result<(), RffError> {
    if let Some((i, j, value)) = first_non_finite(w) {
        return Err(RffError::NonFinite {
            what: "weight",
            index: j * w.nrows() + i,
            value,
        });
    }
    if let Some((index, &value)) = bias.iter().enumerate().find(|(_, b)| !b.is_finite()) {
        return Err(RffError::NonFinite {
            what: "bias",
            index,
            value,
        });
    }
    Ok(())
}

impl FeatureMap for RandomFourierFeatures {
    fn input_dim(&self) -> usize {
        self.omega.ncols()
    }

    fn output_dim(&self) -> usize {
        self.p
    }

    /// `Φ = √(2/p) cos(XΩᵀ + 1bᵀ)` (or `[cos XΩᵀ, sin XΩᵀ]/√(p/2)` for paired features):
    /// for `d ≤ 64` and column-major matrices one fused pass computing `b + Ωx` and its
    /// SIMD cosine in registers (`Φ` written once); otherwise faer's GEMM on column blocks,
    /// each followed by the vectorised cosine ([`crate::trig`]) while it is in cache.
    fn apply_in_place(&self, x: MatRef<'_, f64>, phi: MatMut<'_, f64>) {
        check_forward(
            "RandomFourierFeatures",
            self.input_dim(),
            self.p,
            x,
            phi.rb(),
        );
        self.forward(x, phi, None);
    }

    fn cache_dim(&self) -> usize {
        self.p
    }

    /// Cache: `−√(2/p) sin(XΩᵀ + b)` (cosine variant, from the same range reduction as
    /// the cosine), or `[−φ_sin, φ_cos]` (paired variant): `∂φ/∂z` column by column.
    fn apply_with_cache(&self, x: MatRef<'_, f64>, phi: MatMut<'_, f64>, cache: MatMut<'_, f64>) {
        check_forward(
            "RandomFourierFeatures",
            self.input_dim(),
            self.p,
            x,
            phi.rb(),
        );
        check_forward(
            "RandomFourierFeatures cache",
            self.input_dim(),
            self.p,
            x,
            cache.rb(),
        );
        self.forward(x, phi, Some(cache));
    }

    /// `φ_j = √(2/p) cos(ω_j·x + b_j)` column by column for the cosine-with-phase variant;
    /// `None` for paired features.
    fn columnwise(&self) -> Option<Columnwise<'_>> {
        (self.variant == FourierVariant::CosineWithPhase).then(|| Columnwise {
            weights: self.omega.as_ref(),
            bias: &self.bias,
            scale: self.scale(),
            activation: ColumnActivation::Cos,
        })
    }

    /// `∇_X = (V ⊙ cache) Ω` (cosine) or `(V_cos ⊙ cache_cos + V_sin ⊙ cache_sin) Ω` (paired).
    fn vjp_in_place(
        &self,
        cache: MatRef<'_, f64>,
        mut v: MatMut<'_, f64>,
        grad_x: MatMut<'_, f64>,
        accum: Accum,
    ) {
        let (d, p) = (self.input_dim(), self.p);
        check_backward("RandomFourierFeatures", d, p, cache, v.rb(), grad_x.rb());
        let par = effective_par(self.par, v.nrows(), p);
        match self.variant {
            FourierVariant::CosineWithPhase => {
                hadamard_in_place(v.rb_mut(), cache);
                matmul(grad_x, accum, v.rb(), self.omega.as_ref(), 1.0, par);
            }
            FourierVariant::Paired => {
                let h = p / 2;
                let (mut v_cos, mut v_sin) = v.rb_mut().split_at_col_mut(h);
                let (c_cos, c_sin) = cache.split_at_col(h);
                hadamard_in_place(v_cos.rb_mut(), c_cos);
                hadamard_in_place(v_sin.rb_mut(), c_sin);
                for j in 0..h {
                    for i in 0..v_cos.nrows() {
                        v_cos[(i, j)] += v_sin[(i, j)];
                    }
                }
                matmul(grad_x, accum, v_cos.rb(), self.omega.as_ref(), 1.0, par);
            }
        }
    }

    fn limit_kernel(&self) -> KernelSpec {
        self.kernel
    }

    fn weights(&self) -> MatRef<'_, f64> {
        self.omega.as_ref()
    }

    fn bias(&self) -> &[f64] {
        &self.bias
    }

    fn spec(&self) -> FeatureSpec {
        FeatureSpec::Fourier {
            kernel: self.kernel,
            variant: self.variant,
        }
    }
}
