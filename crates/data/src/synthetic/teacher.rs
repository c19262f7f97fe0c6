//! Targets from a random "teacher" flow, so that a zero-loss solution exists.
//!
//! The teacher is the autonomous vector field (a fixed random smooth field of small
//! amplitude)
//!
//! `v(x) = Σ_{j=1}^m a_j cos(ω_j·x + b_j)`,  `ω_j ~ N(0, σ⁻² I_d)`, `b_j ~ U[0, 2π)`,
//! `a_j ~ N(0, (α²/m) I_d)`,
//!
//! and the target of `x` is the endpoint `Φ(x) = z(1)` of `ż = v(z)`, `z(0) = x`,
//! integrated with classical RK4 (Kutta 1901; tableau `c = (0, ½, ½, 1)`,
//! `b = (1, 2, 2, 1)/6`, plres-ode's [`ButcherTableau::rk4`]) at `steps` equal steps:
//! global error `O(steps⁻⁴)`. The field is evaluated as `v(X) = φ(X) U*ᵀ` with
//! plres-rff's [`RandomFourierFeatures`] (below): the workspace's one cosine-feature map
//! and one integrator, not private copies.
//!
//! **Why a ResNet can reach it.** With the random Fourier feature map of the same
//! frequencies, `φ(x) = √(2/m) cos(Ωx + b)` (docs/theory.md §3.2), the field is exactly
//! `v(x) = U* φ(x)` with `U* = √(m/2) Aᵀ` ([`TeacherFlow::rff_weights`]). So the
//! continuous model of §3.1 with these features has the exact zero-loss solution
//! `θ_s ≡ U*` for all `s`, of norm `‖θ‖ = ‖U*‖_F`, and the Euler ResNet with the same
//! features and `U_k = U*` reaches loss `O(h²)` (Euler's `O(h)` error, squared). A
//! student with *other* random features (or the Gaussian kernel of bandwidth `σ`, whose
//! spectral measure the `ω_j` are drawn from) represents `v` only approximately; the
//! teacher then certifies that targets are reachable by a flow of a smooth field, and
//! the PL argument (§5) gives zero loss for any targets under the expressivity
//! condition. `v` is Lipschitz with constant `≤ Σ_j ‖a_j‖‖ω_j‖`
//! ([`TeacherFlow::lipschitz_bound`]), so `Φ` is a diffeomorphism and distinct inputs
//! keep distinct targets.

use std::cell::RefCell;

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use plres_kernels::KernelSpec;
use plres_ode::{ButcherTableau, FixedSolver, Grid, VectorField};
use plres_rff::{FeatureMap, FourierVariant, RandomFourierFeatures};
use rand::Rng;

use crate::rng_util::{gaussian, uniform01};
use crate::{DataError, Dataset, Targets};

/// Parameters of a random teacher field.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TeacherConfig {
    /// Number of cosine terms `m ≥ 1`. Default 32.
    pub features: usize,
    /// Bandwidth `σ > 0`: frequencies `ω_j ~ N(0, σ⁻² I)`. Default 1.
    pub bandwidth: f64,
    /// Amplitude `α ≥ 0`: `a_j ~ N(0, (α²/m) I)`, so each coordinate of `v(x)` has
    /// variance `α²/2` over the draw. Default 0.5.
    pub amplitude: f64,
    /// RK4 steps on `[0, 1]`, `≥ 1`. Default 200.
    pub steps: usize,
}

impl Default for TeacherConfig {
    fn default() -> Self {
        TeacherConfig {
            features: 32,
            bandwidth: 1.0,
            amplitude: 0.5,
            steps: 200,
        }
    }
}

/// A drawn teacher field `v(x) = Σ_j a_j cos(ω_j·x + b_j) = U* φ(x)` and its RK4 step
/// count: the cosine features `φ(x) = √(2/m) cos(Ωx + b)` (plres-rff) and the weights
/// `U* = √(m/2) Aᵀ`.
#[derive(Debug, Clone)]
pub struct TeacherFlow {
    /// `φ`, `m` cosine-with-phase features on `R^d` (`Ω` is `m × d`, `b` has `m` entries).
    features: RandomFourierFeatures,
    /// `U*ᵀ = √(m/2) A`, `m × d` (row `j` is `√(m/2) a_j`).
    weights_t: Mat<f64>,
    /// RK4 steps used by [`TeacherFlow::flow`].
    steps: usize,
}

/// Equal when the frequencies, phases, weights, step counts and limit kernels are.
impl PartialEq for TeacherFlow {
    fn eq(&self, other: &Self) -> bool {
        self.omega() == other.omega()
            && self.bias() == other.bias()
            && self.weights_t == other.weights_t
            && self.steps == other.steps
            && self.features.spec() == other.features.spec()
    }
}

impl TeacherFlow {
    /// Draws a teacher on `R^dim`: `Ω` (row-major), then `b`, then `A` (row-major). `Ω` is
    /// a draw from the spectral measure of the Gaussian kernel of bandwidth `σ`, which the
    /// feature map records as its limit kernel.
    ///
    /// # Errors
    /// [`DataError::InvalidParameter`] for `dim = 0`, `features = 0`, `steps = 0`,
    /// a non-positive or non-finite bandwidth, a negative or non-finite amplitude.
    pub fn sample<R: Rng + ?Sized>(
        dim: usize,
        cfg: &TeacherConfig,
        rng: &mut R,
    ) -> Result<Self, DataError> {
        if dim == 0 {
            return Err(DataError::param("dim", dim, "at least 1"));
        }
        if cfg.features == 0 {
            return Err(DataError::param("features", cfg.features, "at least 1"));
        }
        if cfg.steps == 0 {
            return Err(DataError::param("steps", cfg.steps, "at least 1"));
        }
        DataError::check_positive("bandwidth", cfg.bandwidth)?;
        DataError::check_nonnegative("amplitude", cfg.amplitude)?;
        let m = cfg.features;
        let mut omega = Mat::zeros(m, dim);
        for j in 0..m {
            for k in 0..dim {
                omega[(j, k)] = gaussian(rng) / cfg.bandwidth;
            }
        }
        let bias = (0..m)
            .map(|_| 2.0 * std::f64::consts::PI * uniform01(rng))
            .collect();
        let a_std = cfg.amplitude / (m as f64).sqrt();
        let mut coef = Mat::zeros(m, dim);
        for j in 0..m {
            for k in 0..dim {
                coef[(j, k)] = a_std * gaussian(rng);
            }
        }
        let features = RandomFourierFeatures::from_parts(
            omega,
            bias,
            &KernelSpec::Gaussian {
                sigma: cfg.bandwidth,
            },
            FourierVariant::CosineWithPhase,
        )?;
        Ok(Self::from_parts(features, coef, cfg.steps))
    }

    /// A teacher from explicit parts (e.g. a closed-form test field): cosine-with-phase
    /// features `φ` with `m` features on `R^d` and the amplitudes `A` (`m × d`, row `j` is
    /// `a_j`), so that `v(x) = Σ_j a_j cos(ω_j·x + b_j)`.
    ///
    /// # Panics
    /// If `features` are not cosine-with-phase, `coef` is not `m × d`, or `steps = 0`.
    pub fn from_parts(features: RandomFourierFeatures, coef: Mat<f64>, steps: usize) -> Self {
        let (m, d) = (features.output_dim(), features.input_dim());
        assert!(
            features.variant() == FourierVariant::CosineWithPhase
                && coef.nrows() == m
                && coef.ncols() == d
                && steps > 0,
            "TeacherFlow::from_parts: {:?} features, m = {m}, d = {d}; coef {}×{}, steps {steps}",
            features.variant(),
            coef.nrows(),
            coef.ncols()
        );
        // v = Σ_j a_j cos(·) = Σ_j (a_j/s) φ_j with s = √(2/m) the features' scale
        let s = features.scale();
        let weights_t = Mat::from_fn(m, d, |j, k| coef[(j, k)] / s);
        TeacherFlow {
            features,
            weights_t,
            steps,
        }
    }

    /// State dimension `d`.
    pub fn dim(&self) -> usize {
        self.features.input_dim()
    }

    /// Number of cosine terms `m`.
    pub fn features(&self) -> usize {
        self.features.output_dim()
    }

    /// The feature map `φ(x) = √(2/m) cos(Ωx + b)`.
    pub fn feature_map(&self) -> &RandomFourierFeatures {
        &self.features
    }

    /// Frequencies `Ω`, `m × d` (row `j` is `ω_j`).
    pub fn omega(&self) -> MatRef<'_, f64> {
        self.features.weights()
    }

    /// Phases `b`, length `m`.
    pub fn bias(&self) -> &[f64] {
        self.features.bias()
    }

    /// RK4 steps used by [`TeacherFlow::flow`].
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// `U* = √(m/2) Aᵀ` (`d × m`): the weights with which the RFF map
    /// `φ(x) = √(2/m) cos(Ωx + b)` gives `v = U* φ` exactly (module doc).
    pub fn rff_weights(&self) -> Mat<f64> {
        self.weights_t.transpose().to_owned()
    }

    /// `Σ_j ‖a_j‖ ‖ω_j‖ ≥ sup_x ‖Dv(x)‖_op`, a Lipschitz constant of `v`
    /// (`‖a_j‖ = √(2/m) ‖U*_{·j}‖`).
    pub fn lipschitz_bound(&self) -> f64 {
        let norm = |m: MatRef<'_, f64>, j: usize| {
            (0..m.ncols())
                .map(|k| m[(j, k)].powi(2))
                .sum::<f64>()
                .sqrt()
        };
        let s = self.features.scale();
        (0..self.features())
            .map(|j| s * norm(self.weights_t.as_ref(), j) * norm(self.omega(), j))
            .sum()
    }

    /// `out ← v(X) = φ(X) U*ᵀ` row by row, with `z` (`N × m`) as scratch for `φ(X)`.
    ///
    /// # Panics
    /// If `x`, `out` are not `N × d` or `z` is not `N × m` (the message names all).
    pub fn field_in_place(&self, x: MatRef<'_, f64>, mut z: MatMut<'_, f64>, out: MatMut<'_, f64>) {
        let (n, d, m) = (x.nrows(), self.dim(), self.features());
        assert!(
            x.ncols() == d
                && out.nrows() == n
                && out.ncols() == d
                && z.nrows() == n
                && z.ncols() == m,
            "TeacherFlow::field_in_place: x {}×{}, z {}×{}, out {}×{}, field d = {d}, m = {m}",
            x.nrows(),
            x.ncols(),
            z.nrows(),
            z.ncols(),
            out.nrows(),
            out.ncols()
        );
        self.features.apply_in_place(x, z.as_mut());
        matmul(
            out,
            Accum::Replace,
            z.as_ref(),
            self.weights_t.as_ref(),
            1.0,
            Par::Seq,
        );
    }

    /// `v(X)`, owned (`N × d`).
    ///
    /// # Panics
    /// If `x.ncols() != d`.
    pub fn field(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        let mut z = Mat::zeros(x.nrows(), self.features());
        let mut out = Mat::zeros(x.nrows(), self.dim());
        self.field_in_place(x, z.as_mut(), out.as_mut());
        out
    }

    /// Integrates `ż = v(z)` for each row of `x`, in place, from time 0 to `t_end`
    /// (negative runs the flow backwards) with `steps` RK4 steps of size `t_end/steps`
    /// (plres-ode's [`FixedSolver`]). Scratch is allocated once, before the step loop.
    ///
    /// # Errors
    /// [`DataError::TeacherFlow`] when a state becomes non-finite (non-finite inputs: `v`
    /// itself is bounded by `Σ_j ‖a_j‖`) or `t_end` is zero or not finite.
    ///
    /// # Panics
    /// If `x.ncols() != d` or `steps == 0`.
    pub fn integrate_in_place(
        &self,
        x: MatMut<'_, f64>,
        t_end: f64,
        steps: usize,
    ) -> Result<(), DataError> {
        let (n, d) = (x.nrows(), self.dim());
        assert!(
            x.ncols() == d && steps > 0,
            "TeacherFlow::integrate_in_place: x is {n}×{}, field d = {d}, steps = {steps}",
            x.ncols()
        );
        let grid = Grid::uniform(0.0, t_end, steps)?;
        let field = Field {
            teacher: self,
            phi: RefCell::new(Mat::zeros(0, self.features())),
        };
        FixedSolver::new(ButcherTableau::rk4()).solve_in_place(&field, &grid, x)?;
        Ok(())
    }

    /// The teacher map `Φ(X)`: time-1 flow with `self.steps` RK4 steps (`N × d`).
    ///
    /// # Errors
    /// As [`TeacherFlow::integrate_in_place`].
    ///
    /// # Panics
    /// If `x.ncols() != d`.
    pub fn flow(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>, DataError> {
        let mut out = x.to_owned();
        self.integrate_in_place(out.as_mut(), 1.0, self.steps)?;
        Ok(out)
    }
}

/// The teacher as a plres-ode vector field: autonomous, no parameters. `phi` holds
/// `φ(X)` for the largest row block seen (the solver evaluates blocks of rows); it only
/// grows, so the step loop allocates nothing after the first block.
struct Field<'a> {
    teacher: &'a TeacherFlow,
    phi: RefCell<Mat<f64>>,
}

impl Field<'_> {
    fn ensure(&self, n: usize) {
        let mut phi = self.phi.borrow_mut();
        if phi.nrows() < n {
            *phi = Mat::zeros(n, self.teacher.features());
        }
    }
}

impl VectorField for Field<'_> {
    fn n_params(&self) -> usize {
        0
    }

    fn eval(&self, _t: f64, x: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        self.ensure(x.nrows());
        let mut phi = self.phi.borrow_mut();
        self.teacher
            .field_in_place(x, phi.as_mut().subrows_mut(0, x.nrows()), out);
    }

    /// `(∂v/∂x)ᵀ w = Dφᵀ (U*ᵀ w)` row by row: plres-rff's vector–Jacobian product with
    /// `V = W U*` (`N × m`). Allocates (the teacher's flow never calls it).
    fn vjp_state(&self, _t: f64, x: MatRef<'_, f64>, v: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        let (n, m) = (x.nrows(), self.teacher.features());
        let map = &self.teacher.features;
        let mut phi = Mat::zeros(n, m);
        let mut cache = Mat::zeros(n, map.cache_dim());
        map.apply_with_cache(x, phi.as_mut(), cache.as_mut());
        let mut vw = Mat::zeros(n, m);
        matmul(
            vw.as_mut(),
            Accum::Replace,
            v,
            self.teacher.weights_t.transpose(),
            1.0,
            Par::Seq,
        );
        map.vjp_in_place(cache.as_ref(), vw.as_mut(), out, Accum::Replace);
    }

    fn vjp_params(&self, _t: f64, _x: MatRef<'_, f64>, _v: MatRef<'_, f64>, _grad: &mut [f64]) {
        // no parameters: nothing to accumulate
    }
}

/// A regression dataset `(x, Φ(x))` with a freshly drawn teacher on `R^{x.ncols()}`,
/// returned alongside so its exact solution `U*` can be used.
///
/// ```
/// use plres_data::{teacher_dataset, unit_sphere, TeacherConfig};
/// use rand::SeedableRng;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
/// let x = unit_sphere(10, 3, &mut rng)?;
/// let (ds, teacher) = teacher_dataset(x, &TeacherConfig::default(), &mut rng)?;
/// assert_eq!(ds.y.n_outputs(), 3);
/// assert_eq!(teacher.rff_weights().ncols(), 32);
/// # Ok::<(), plres_data::DataError>(())
/// ```
///
/// # Errors
/// As [`TeacherFlow::sample`] and [`TeacherFlow::flow`].
pub fn teacher_dataset<R: Rng + ?Sized>(
    x: Mat<f64>,
    cfg: &TeacherConfig,
    rng: &mut R,
) -> Result<(Dataset, TeacherFlow), DataError> {
    let teacher = TeacherFlow::sample(x.ncols(), cfg, rng)?;
    let y = teacher.flow(x.as_ref())?;
    Ok((
        Dataset {
            x,
            y: Targets::Regression(y),
        },
        teacher,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// The field's vector–Jacobian product against central differences of `v`:
    /// `wᵀ (v(x + εe_l) − v(x − εe_l)) / 2ε = ((∂v/∂x)ᵀ w)_l + O(ε²)`. With `ε = 1e-5`
    /// the truncation is `≲ ε² ‖D³v‖ ≈ 1e-10` and the rounding `≲ eps ‖v‖/ε ≈ 1e-11`.
    #[test]
    fn field_vjp_matches_central_differences() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let (n, d) = (4, 3);
        let t = TeacherFlow::sample(d, &TeacherConfig::default(), &mut rng).unwrap();
        let field = Field {
            teacher: &t,
            phi: RefCell::new(Mat::zeros(0, t.features())),
        };
        assert_eq!(field.n_params(), 0);
        let x = Mat::from_fn(n, d, |i, k| ((i * d + k) as f64 * 0.7).sin());
        let w = Mat::from_fn(n, d, |i, k| ((i + 2 * k) as f64 * 0.3).cos());
        let mut vjp = Mat::zeros(n, d);
        field.vjp_state(0.0, x.as_ref(), w.as_ref(), vjp.as_mut());
        let eps = 1e-5;
        for l in 0..d {
            let shifted = |sgn: f64| {
                let xs = Mat::from_fn(n, d, |i, k| {
                    x[(i, k)] + if k == l { sgn * eps } else { 0.0 }
                });
                let mut out = Mat::zeros(n, d);
                field.eval(0.0, xs.as_ref(), out.as_mut());
                out
            };
            let (vp, vm) = (shifted(1.0), shifted(-1.0));
            for i in 0..n {
                let fd: f64 = (0..d)
                    .map(|k| w[(i, k)] * (vp[(i, k)] - vm[(i, k)]))
                    .sum::<f64>()
                    / (2.0 * eps);
                assert!(
                    (fd - vjp[(i, l)]).abs() <= 1e-9,
                    "row {i}, coordinate {l}: {fd} vs {}",
                    vjp[(i, l)]
                );
            }
        }
    }
}
