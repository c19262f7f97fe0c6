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
//! `b = (1, 2, 2, 1)/6`) at `steps` equal steps: global error `O(steps⁻⁴)`. RK4 is
//! written here because this crate depends on no other plres crate.
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

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
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

/// A drawn teacher field `v(x) = Σ_j a_j cos(ω_j·x + b_j)` and its RK4 step count.
#[derive(Debug, Clone, PartialEq)]
pub struct TeacherFlow {
    /// Frequencies `Ω`, `m × d` (row `j` is `ω_j`).
    pub omega: Mat<f64>,
    /// Phases `b`, length `m`.
    pub bias: Vec<f64>,
    /// Amplitudes `A`, `m × d` (row `j` is `a_j`).
    pub coef: Mat<f64>,
    /// RK4 steps used by [`TeacherFlow::flow`].
    pub steps: usize,
}

impl TeacherFlow {
    /// Draws a teacher on `R^dim`: `Ω` (row-major), then `b`, then `A` (row-major).
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
        if !(cfg.bandwidth.is_finite() && cfg.bandwidth > 0.0) {
            return Err(DataError::param(
                "bandwidth",
                cfg.bandwidth,
                "a finite number > 0",
            ));
        }
        if !(cfg.amplitude.is_finite() && cfg.amplitude >= 0.0) {
            return Err(DataError::param(
                "amplitude",
                cfg.amplitude,
                "a finite number ≥ 0",
            ));
        }
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
        Ok(TeacherFlow {
            omega,
            bias,
            coef,
            steps: cfg.steps,
        })
    }

    /// A teacher from explicit parts (e.g. a closed-form test field).
    ///
    /// # Panics
    /// If `omega` and `coef` are not both `m × d` with `m = bias.len()`, or `steps = 0`.
    pub fn from_parts(omega: Mat<f64>, bias: Vec<f64>, coef: Mat<f64>, steps: usize) -> Self {
        assert!(
            omega.nrows() == bias.len()
                && coef.nrows() == bias.len()
                && omega.ncols() == coef.ncols()
                && steps > 0,
            "TeacherFlow::from_parts: omega {}×{}, bias {}, coef {}×{}, steps {steps}",
            omega.nrows(),
            omega.ncols(),
            bias.len(),
            coef.nrows(),
            coef.ncols()
        );
        TeacherFlow {
            omega,
            bias,
            coef,
            steps,
        }
    }

    /// State dimension `d`.
    pub fn dim(&self) -> usize {
        self.omega.ncols()
    }

    /// Number of cosine terms `m`.
    pub fn features(&self) -> usize {
        self.omega.nrows()
    }

    /// `U* = √(m/2) Aᵀ` (`d × m`): the weights with which the RFF map
    /// `φ(x) = √(2/m) cos(Ωx + b)` gives `v = U* φ` exactly (module doc).
    pub fn rff_weights(&self) -> Mat<f64> {
        let s = (self.features() as f64 / 2.0).sqrt();
        Mat::from_fn(self.dim(), self.features(), |k, j| s * self.coef[(j, k)])
    }

    /// `Σ_j ‖a_j‖ ‖ω_j‖ ≥ sup_x ‖Dv(x)‖_op`, a Lipschitz constant of `v`.
    pub fn lipschitz_bound(&self) -> f64 {
        let norm = |m: &Mat<f64>, j: usize| {
            (0..m.ncols())
                .map(|k| m[(j, k)].powi(2))
                .sum::<f64>()
                .sqrt()
        };
        (0..self.features())
            .map(|j| norm(&self.coef, j) * norm(&self.omega, j))
            .sum()
    }

    /// `out ← v(X)` row by row: `cos(X Ωᵀ + 1 bᵀ) A`, with `z` (`N × m`) as scratch.
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
        matmul(
            z.as_mut(),
            Accum::Replace,
            x,
            self.omega.transpose(),
            1.0,
            Par::Seq,
        );
        for j in 0..m {
            let b = self.bias[j];
            for i in 0..n {
                z[(i, j)] = (z[(i, j)] + b).cos();
            }
        }
        matmul(
            out,
            Accum::Replace,
            z.as_ref(),
            self.coef.as_ref(),
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
    /// (negative runs the flow backwards) with `steps` RK4 steps of size `t_end/steps`.
    /// Scratch is allocated once, before the step loop.
    ///
    /// # Panics
    /// If `x.ncols() != d` or `steps == 0`.
    pub fn integrate_in_place(&self, mut x: MatMut<'_, f64>, t_end: f64, steps: usize) {
        let (n, d) = (x.nrows(), self.dim());
        assert!(
            x.ncols() == d && steps > 0,
            "TeacherFlow::integrate_in_place: x is {n}×{}, field d = {d}, steps = {steps}",
            x.ncols()
        );
        let h = t_end / steps as f64;
        let mut z = Mat::<f64>::zeros(n, self.features());
        let mut k1 = Mat::<f64>::zeros(n, d);
        let mut k2 = Mat::<f64>::zeros(n, d);
        let mut k3 = Mat::<f64>::zeros(n, d);
        let mut k4 = Mat::<f64>::zeros(n, d);
        let mut tmp = Mat::<f64>::zeros(n, d);
        for _ in 0..steps {
            self.field_in_place(x.as_ref(), z.as_mut(), k1.as_mut());
            stage(&mut tmp, x.as_ref(), 0.5 * h, &k1);
            self.field_in_place(tmp.as_ref(), z.as_mut(), k2.as_mut());
            stage(&mut tmp, x.as_ref(), 0.5 * h, &k2);
            self.field_in_place(tmp.as_ref(), z.as_mut(), k3.as_mut());
            stage(&mut tmp, x.as_ref(), h, &k3);
            self.field_in_place(tmp.as_ref(), z.as_mut(), k4.as_mut());
            for k in 0..d {
                for i in 0..n {
                    x[(i, k)] +=
                        h / 6.0 * (k1[(i, k)] + 2.0 * k2[(i, k)] + 2.0 * k3[(i, k)] + k4[(i, k)]);
                }
            }
        }
    }

    /// The teacher map `Φ(X)`: time-1 flow with `self.steps` RK4 steps (`N × d`).
    ///
    /// # Panics
    /// If `x.ncols() != d`.
    pub fn flow(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        let mut out = x.to_owned();
        self.integrate_in_place(out.as_mut(), 1.0, self.steps);
        out
    }
}

/// `tmp ← x + c·k`.
fn stage(tmp: &mut Mat<f64>, x: MatRef<'_, f64>, c: f64, k: &Mat<f64>) {
    for j in 0..x.ncols() {
        for i in 0..x.nrows() {
            tmp[(i, j)] = x[(i, j)] + c * k[(i, j)];
        }
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
/// As [`TeacherFlow::sample`].
pub fn teacher_dataset<R: Rng + ?Sized>(
    x: Mat<f64>,
    cfg: &TeacherConfig,
    rng: &mut R,
) -> Result<(Dataset, TeacherFlow), DataError> {
    let teacher = TeacherFlow::sample(x.ncols(), cfg, rng)?;
    let y = teacher.flow(x.as_ref());
    Ok((
        Dataset {
            x,
            y: Targets::Regression(y),
        },
        teacher,
    ))
}
