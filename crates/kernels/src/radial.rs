//! Distance-based (radial) kernels `k(x, y) = κ(‖x − y‖²)`, all with `k(x, x) = 1`.
//!
//! | kernel | `k` as a function of `r = ‖x − y‖` | spectral measure |
//! |---|---|---|
//! | [`Gaussian`] | `exp(−r²/(2σ²))` | `N(0, σ⁻² I)` |
//! | [`Laplace`] | `exp(−r/ℓ)` | Student-t, 1 dof (Cauchy), scale `1/ℓ` |
//! | [`Matern32`] | `(1 + √3 r/ℓ) e^{−√3 r/ℓ}` | Student-t, 3 dof, scale `1/ℓ` |
//! | [`Matern52`] | `(1 + √5 r/ℓ + 5r²/(3ℓ²)) e^{−√5 r/ℓ}` | Student-t, 5 dof, scale `1/ℓ` |
//! | [`InverseMultiquadric`] | `(1 + r²/c²)^{−1/2}` | none in [`SpectralMeasure`] |
//!
//! Gradients have the form `∇_x k(x, y) = g(r²) (x − y)`:
//! Gaussian `g = −k/σ²`; Laplace `g = −e^{−r/ℓ}/(ℓ r)`, and `∇_x k = 0` at `r = 0`, where the
//! Laplace kernel is not differentiable (its Clarke generalised gradient there is the
//! ball of radius `1/ℓ`; `0` is its minimum-norm element and keeps Jacobians bounded); Matérn 3/2 `g = −(3/ℓ²) e^{−√3 r/ℓ}`;
//! Matérn 5/2 `g = −(5/(3ℓ²))(1 + √5 r/ℓ) e^{−√5 r/ℓ}`; inverse multiquadric
//! `g = −(1/c²)(1 + r²/c²)^{−3/2}`.
//!
//! Gram matrices use `‖x − y‖² = ‖x‖² + ‖y‖² − 2 x·y` through one GEMM, clamped at 0,
//! then the profile column by column (Gaussian, Laplace and Matérn through the
//! crate's vectorised, runtime-dispatched `exp`, within 2 ulp of libm's).
//! That formula loses relative accuracy when `‖x − y‖² ≪ ‖x‖² + ‖y‖²` (cancellation,
//! which `√·` in Laplace/Matérn would amplify to `O(√eps)`), so entries with
//! `‖x − y‖² < 10⁻⁶ (‖x‖² + ‖y‖²)` are recomputed directly from the two rows.

use std::sync::Mutex;

use faer::linalg::matmul::matmul;
use faer::prelude::{Reborrow, ReborrowMut};
use faer::{Accum, MatMut, MatRef};
use plres_simd::exp::{exp_in_place, scaled_exp_in_place, sq_dists_in_place};
use serde::{Deserialize, Serialize};

use crate::kernel::{check_grad_x, check_pair, check_weighted_grad_shapes};
use crate::pairwise::{ColumnFn, cross_driver, direct_sq_dist, par, row_sq_norms, sym_driver};
use crate::validate::check_param;
use crate::{Kernel, KernelError, KernelSpec, SpectralMeasure};

/// Relative threshold below which a GEMM-based squared distance is recomputed directly.
const REFINE: f64 = 1e-6;

/// The profile `κ` of a radial kernel, as a function of the squared distance `s = r²`.
pub(crate) trait RadialProfile: Sync {
    /// `κ(s)`.
    fn value(&self, s: f64) -> f64;
    /// `g(s)` with `∇_x k(x, y) = g(‖x − y‖²) (x − y)`.
    fn grad_factor(&self, s: f64) -> f64;
    /// `κ` applied to every entry of `s` (override to vectorise).
    fn value_slice(&self, s: &mut [f64]) {
        for v in s.iter_mut() {
            *v = self.value(*v);
        }
    }
    /// The spectral measure, if it is one of the [`SpectralMeasure`] families.
    fn measure(&self) -> Option<SpectralMeasure>;
}

/// `s ← q(a) e^{−a}` with `a = c √s` for every entry (the Laplace/Matérn profiles), in
/// stack chunks so that the `exp` runs vectorised over [`exp_in_place`].
#[inline]
fn exp_profile_slice(s: &mut [f64], c: f64, q: impl Fn(f64) -> f64) {
    const B: usize = 128;
    let mut buf = [0.0; B];
    for chunk in s.chunks_mut(B) {
        let e = &mut buf[..chunk.len()];
        for (b, v) in e.iter_mut().zip(chunk.iter()) {
            *b = -c * v.sqrt();
        }
        exp_in_place(e);
        for (v, b) in chunk.iter_mut().zip(e.iter()) {
            *v = q(c * v.sqrt()) * b;
        }
    }
}

/// Turns the GEMM entries `g_i = x_i·y_j` of one column segment (rows `i0..`, squared
/// norms `nxs`, `‖y_j‖² = nj`) into `‖x_i − y_j‖² = ‖x_i‖² + ‖y_j‖² − 2 g_i`. Entries with
/// `‖x_i − y_j‖² < 10⁻⁶(‖x_i‖² + ‖y_j‖²)` — including every negative one, so no clamp is
/// left to do — are recomputed directly from the rows in a second loop that only runs
/// when the first (vectorised) one found any.
#[inline]
fn sq_dist_column(
    seg: &mut [f64],
    nxs: &[f64],
    nj: f64,
    x: MatRef<'_, f64>,
    i0: usize,
    y: MatRef<'_, f64>,
    j: usize,
) {
    if sq_dists_in_place(seg, nxs, nj, REFINE) {
        for (k, (v, &ni)) in seg.iter_mut().zip(nxs).enumerate() {
            if *v < REFINE * (ni + nj) {
                *v = direct_sq_dist(x, i0 + k, y, j);
            }
        }
    }
}

fn sq_dist(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum()
}

fn radial_eval<P: RadialProfile>(p: &P, x: &[f64], y: &[f64]) -> f64 {
    check_pair("eval", x, y);
    p.value(sq_dist(x, y))
}

fn radial_grad_x<P: RadialProfile>(p: &P, x: &[f64], y: &[f64], out: &mut [f64]) {
    check_grad_x(x, y, out);
    let g = p.grad_factor(sq_dist(x, y));
    for ((o, a), b) in out.iter_mut().zip(x).zip(y) {
        *o = g * (a - b);
    }
}

fn radial_gram<P: RadialProfile>(p: &P, x: MatRef<'_, f64>, out: MatMut<'_, f64>) {
    let nx = row_sq_norms(x);
    let f: &ColumnFn<'_> = &|j, i0, seg: &mut [f64]| {
        sq_dist_column(seg, &nx[i0..i0 + seg.len()], nx[j], x, i0, x, j);
        p.value_slice(seg);
    };
    let k0 = p.value(0.0);
    sym_driver("gram_in_place", x, out, f, |_| k0);
}

fn radial_cross_gram<P: RadialProfile>(
    p: &P,
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    out: MatMut<'_, f64>,
) {
    let nx = row_sq_norms(x);
    let ny = row_sq_norms(y);
    let f: &ColumnFn<'_> = &|j, i0, seg: &mut [f64]| {
        sq_dist_column(seg, &nx[i0..i0 + seg.len()], ny[j], x, i0, y, j);
        p.value_slice(seg);
    };
    cross_driver("cross_gram_in_place", x, y, out, f);
}

/// `out (⊕)= Σ_j w_ij g(‖x_i − y_j‖²)(x_i − y_j)`: `S = W ⊙ g(D²)` in `scratch`, then
/// `out ⊕ −S Y` by GEMM and `out_i += (Σ_j S_ij) x_i`.
///
/// `(Σ_j S_ij) x_i − Σ_j S_ij y_j` cancels when `x_i ≈ y_j` (absolute error
/// `~eps |S_ij| ‖x_i‖` against a term of size `|S_ij| ‖x_i − y_j‖`, unbounded relative to
/// it for Laplace, whose `|g| ~ 1/r`). The pairs the Gram pass refines
/// (`‖x_i − y_j‖² < 10⁻⁶(‖x_i‖² + ‖y_j‖²)`) are therefore left out of `S` and added
/// directly as `w_ij g (x_i − y_j)` at the end; for all others `‖x_i‖ ≤ 10³ ‖x_i − y_j‖`
/// bounds the cancellation.
fn radial_weighted_grad<P: RadialProfile>(
    p: &P,
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    w: MatRef<'_, f64>,
    mut scratch: MatMut<'_, f64>,
    mut out: MatMut<'_, f64>,
    accum: Accum,
) {
    check_weighted_grad_shapes(x, y, w, scratch.rb(), out.rb());
    let nx = row_sq_norms(x);
    let ny = row_sq_norms(y);
    // (i, j, w_ij g(s_ij)) of the near pairs, handled directly below.
    let near: Mutex<Vec<(usize, usize, f64)>> = Mutex::new(Vec::new());
    let f: &ColumnFn<'_> = &|j, i0, seg: &mut [f64]| {
        let mut local = Vec::new();
        for (k, v) in seg.iter_mut().enumerate() {
            let i = i0 + k;
            let (ni, nj) = (nx[i], ny[j]);
            let s = ni + nj - 2.0 * *v;
            if s < REFINE * (ni + nj) {
                let wij = w[(i, j)];
                if wij != 0.0 {
                    local.push((i, j, wij * p.grad_factor(direct_sq_dist(x, i, y, j))));
                }
                *v = 0.0;
            } else {
                *v = w[(i, j)] * p.grad_factor(s);
            }
        }
        if !local.is_empty() {
            near.lock().unwrap_or_else(|e| e.into_inner()).extend(local);
        }
    };
    cross_driver("weighted_grad_in_place", x, y, scratch.rb_mut(), f);
    matmul(out.rb_mut(), accum, scratch.rb(), y, -1.0, par());
    add_row_sums_times_x(scratch.rb(), x, out.rb_mut());
    for (i, j, c) in near.into_inner().unwrap_or_else(|e| e.into_inner()) {
        for l in 0..x.ncols() {
            out[(i, l)] += c * (x[(i, l)] - y[(j, l)]);
        }
    }
}

/// `out_i += (Σ_j s_ij) x_i`, row block by row block (no allocation).
pub(crate) fn add_row_sums_times_x(
    s: MatRef<'_, f64>,
    x: MatRef<'_, f64>,
    mut out: MatMut<'_, f64>,
) {
    const B: usize = 64;
    let (n, m, d) = (s.nrows(), s.ncols(), x.ncols());
    let mut ib = 0;
    while ib < n {
        let len = B.min(n - ib);
        let mut r = [0.0; B];
        for j in 0..m {
            let col = s.col(j);
            for k in 0..len {
                r[k] += col[ib + k];
            }
        }
        for l in 0..d {
            for k in 0..len {
                out[(ib + k, l)] += r[k] * x[(ib + k, l)];
            }
        }
        ib += len;
    }
}

/// The Student-t spectral measure of the Laplace (`dof = 1`) and Matérn (`dof = 2ν`)
/// kernels of length-scale `lengthscale`.
fn student_t(dof: f64, lengthscale: f64) -> Option<SpectralMeasure> {
    Some(SpectralMeasure::StudentT { dof, lengthscale })
}

/// Declares a kernel type whose one parameter `$param` must be finite and `> 0`
/// ([`check_param`]): the struct (with the given attributes, serialised as its
/// [`KernelSpec`]), `new` (documented by `$new_doc`) and the getter `$param()`
/// (documented by `$get_doc`).
macro_rules! one_param_kernel {
    ($(#[$attr:meta])* $ty:ident, $param:ident, $new_doc:literal, $get_doc:literal) => {
        $(#[$attr])*
        #[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(try_from = "KernelSpec", into = "KernelSpec")]
        pub struct $ty {
            $param: f64,
        }

        impl $ty {
            #[doc = $new_doc]
            ///
            /// # Errors
            #[doc = concat!(
                "[`KernelError::InvalidParameter`] unless `",
                stringify!($param),
                "` is finite and `> 0`."
            )]
            pub fn new($param: f64) -> Result<Self, KernelError> {
                Ok(Self {
                    $param: check_param(stringify!($param), $param)?,
                })
            }
            #[doc = $get_doc]
            pub fn $param(&self) -> f64 {
                self.$param
            }
        }
    };
}

macro_rules! radial_kernel {
    ($ty:ident, $name:literal) => {
        impl Kernel for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn eval(&self, x: &[f64], y: &[f64]) -> f64 {
                radial_eval(self, x, y)
            }
            fn grad_x(&self, x: &[f64], y: &[f64], out: &mut [f64]) {
                radial_grad_x(self, x, y, out)
            }
            fn gram_in_place(&self, x: MatRef<'_, f64>, out: MatMut<'_, f64>) {
                radial_gram(self, x, out)
            }
            fn cross_gram_in_place(
                &self,
                x: MatRef<'_, f64>,
                y: MatRef<'_, f64>,
                out: MatMut<'_, f64>,
            ) {
                radial_cross_gram(self, x, y, out)
            }
            fn spectral_measure(&self) -> Option<SpectralMeasure> {
                self.measure()
            }
            fn spec(&self) -> Option<KernelSpec> {
                Some(KernelSpec::from(*self))
            }
            fn weighted_grad_in_place(
                &self,
                x: MatRef<'_, f64>,
                y: MatRef<'_, f64>,
                w: MatRef<'_, f64>,
                scratch: MatMut<'_, f64>,
                out: MatMut<'_, f64>,
                accum: Accum,
            ) {
                radial_weighted_grad(self, x, y, w, scratch, out, accum)
            }
        }
    };
}

/// Gaussian (squared-exponential) kernel `k(x, y) = exp(−‖x − y‖²/(2σ²))`, bandwidth `σ`.
///
/// ```
/// use plres_kernels::{Gaussian, Kernel};
/// let k = Gaussian::new(2.0).unwrap();
/// // at distance σ the kernel is e^{−1/2}
/// assert!((k.eval(&[0.0, 0.0], &[2.0, 0.0]) - (-0.5f64).exp()).abs() < 1e-15);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "KernelSpec", into = "KernelSpec")]
pub struct Gaussian {
    sigma: f64,
    /// `1/(2σ²)`
    inv_two_sigma_sq: f64,
}

impl Gaussian {
    /// A Gaussian kernel of bandwidth `sigma`.
    ///
    /// # Errors
    /// [`KernelError::InvalidParameter`] unless `sigma` is finite and `> 0`.
    pub fn new(sigma: f64) -> Result<Self, KernelError> {
        let sigma = check_param("sigma", sigma)?;
        Ok(Self {
            sigma,
            inv_two_sigma_sq: 0.5 / (sigma * sigma),
        })
    }
    /// The bandwidth `σ`.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }
}

impl RadialProfile for Gaussian {
    fn value(&self, s: f64) -> f64 {
        (-s * self.inv_two_sigma_sq).exp()
    }
    fn value_slice(&self, s: &mut [f64]) {
        scaled_exp_in_place(s, -self.inv_two_sigma_sq);
    }
    fn grad_factor(&self, s: f64) -> f64 {
        -2.0 * self.inv_two_sigma_sq * self.value(s)
    }
    fn measure(&self) -> Option<SpectralMeasure> {
        Some(SpectralMeasure::Gaussian { sigma: self.sigma })
    }
}
radial_kernel!(Gaussian, "gaussian");

one_param_kernel!(
    /// Laplace (exponential) kernel `k(x, y) = exp(−‖x − y‖/ℓ)` with the Euclidean norm.
    ///
    /// Not differentiable at `x = y`; [`Kernel::grad_x`] returns `0` there.
    Laplace,
    lengthscale,
    "A Laplace kernel of length-scale `lengthscale`.",
    "The length-scale `ℓ`."
);

impl RadialProfile for Laplace {
    fn value(&self, s: f64) -> f64 {
        (-s.sqrt() / self.lengthscale).exp()
    }
    fn value_slice(&self, s: &mut [f64]) {
        exp_profile_slice(s, 1.0 / self.lengthscale, |_| 1.0);
    }
    fn grad_factor(&self, s: f64) -> f64 {
        let r = s.sqrt();
        if r == 0.0 {
            0.0
        } else {
            -(-r / self.lengthscale).exp() / (self.lengthscale * r)
        }
    }
    fn measure(&self) -> Option<SpectralMeasure> {
        student_t(1.0, self.lengthscale)
    }
}
radial_kernel!(Laplace, "laplace");

one_param_kernel!(
    /// Matérn kernel with `ν = 3/2`: `k = (1 + √3 r/ℓ) e^{−√3 r/ℓ}`, `r = ‖x − y‖`.
    Matern32,
    lengthscale,
    "A Matérn 3/2 kernel of length-scale `lengthscale`.",
    "The length-scale `ℓ`."
);

impl RadialProfile for Matern32 {
    fn value(&self, s: f64) -> f64 {
        let a = 3f64.sqrt() * s.sqrt() / self.lengthscale;
        (1.0 + a) * (-a).exp()
    }
    fn value_slice(&self, s: &mut [f64]) {
        exp_profile_slice(s, 3f64.sqrt() / self.lengthscale, |a| 1.0 + a);
    }
    fn grad_factor(&self, s: f64) -> f64 {
        let a = 3f64.sqrt() * s.sqrt() / self.lengthscale;
        -3.0 / (self.lengthscale * self.lengthscale) * (-a).exp()
    }
    fn measure(&self) -> Option<SpectralMeasure> {
        student_t(3.0, self.lengthscale)
    }
}
radial_kernel!(Matern32, "matern32");

one_param_kernel!(
    /// Matérn kernel with `ν = 5/2`: `k = (1 + √5 r/ℓ + 5r²/(3ℓ²)) e^{−√5 r/ℓ}`.
    Matern52,
    lengthscale,
    "A Matérn 5/2 kernel of length-scale `lengthscale`.",
    "The length-scale `ℓ`."
);

impl RadialProfile for Matern52 {
    fn value(&self, s: f64) -> f64 {
        // a = √5 r/ℓ, and 5r²/(3ℓ²) = a²/3
        let a = 5f64.sqrt() * s.sqrt() / self.lengthscale;
        (1.0 + a + a * a / 3.0) * (-a).exp()
    }
    fn value_slice(&self, s: &mut [f64]) {
        exp_profile_slice(s, 5f64.sqrt() / self.lengthscale, |a| 1.0 + a + a * a / 3.0);
    }
    fn grad_factor(&self, s: f64) -> f64 {
        let a = 5f64.sqrt() * s.sqrt() / self.lengthscale;
        -5.0 / (3.0 * self.lengthscale * self.lengthscale) * (1.0 + a) * (-a).exp()
    }
    fn measure(&self) -> Option<SpectralMeasure> {
        student_t(5.0, self.lengthscale)
    }
}
radial_kernel!(Matern52, "matern52");

one_param_kernel!(
    /// Inverse multiquadric kernel `k(x, y) = (1 + ‖x − y‖²/c²)^{−1/2}`.
    ///
    /// Stationary with `k(0) = 1`, but its spectral measure (a Gaussian scale mixture,
    /// `ω | u ~ N(0, (u/c²) I)`, `u ~ χ²(1)`) is not one of the [`SpectralMeasure`]
    /// families, so [`Kernel::spectral_measure`] returns `None`.
    InverseMultiquadric,
    c,
    "An inverse multiquadric kernel with scale `c`.",
    "The scale `c`."
);

impl RadialProfile for InverseMultiquadric {
    fn value(&self, s: f64) -> f64 {
        1.0 / (1.0 + s / (self.c * self.c)).sqrt()
    }
    fn grad_factor(&self, s: f64) -> f64 {
        let q = 1.0 + s / (self.c * self.c);
        -1.0 / (self.c * self.c * q * q.sqrt())
    }
    fn measure(&self) -> Option<SpectralMeasure> {
        None
    }
}
radial_kernel!(InverseMultiquadric, "inverse_multiquadric");
