//! `plres.rff`: random Fourier and ReLU feature maps and the feature-count bounds
//! (plres-rff; docs/theory.md §3.2, §6).
//!
//! * `φ(x) = √(2/p) cos(Ωx + b)` (cosine with phase) or `√(2/p) [cos Ωx, sin Ωx]`
//!   (paired), rows `ω_j` from the kernel's spectral measure, so `E φ(x)·φ(y) = k(x, y)`;
//! * `φ(x) = √(2/p) relu(Wx + c)`, `W, c ~ N(0, 1)`, limit the arc-cosine kernel.
//!
//! Sampling draws from `ChaCha8Rng::seed_from_u64(seed)` in the order plres-rff documents,
//! so a seed gives the same bits as the Rust API.

use faer::Mat;
use numpy::PyArray2;
use plres_rff::{FeatureMap, RandomFourierFeatures, RandomReluFeatures, bounds};
use pyo3::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::arrays::{matrix_col_major, output, to_numpy, to_py, value_error};
use crate::spec;

/// A sampled feature map (either kind), owned by a Python object.
#[derive(Clone, Debug)]
pub(crate) enum Sampled {
    Fourier(RandomFourierFeatures),
    Relu(RandomReluFeatures),
}

impl Sampled {
    pub(crate) fn map(&self) -> &dyn FeatureMap {
        match self {
            Sampled::Fourier(m) => m,
            Sampled::Relu(m) => m,
        }
    }
}

/// Samples the map the Python arguments describe (shared with the reference path):
/// random Fourier features of `kernel` (named as in [`spec`]) with `bandwidth` and
/// `variant`, or random ReLU features for `kernel = None`.
pub(crate) fn sample(
    kernel: Option<&str>,
    bandwidth: f64,
    d: usize,
    p: usize,
    variant: &str,
    seed: u64,
) -> PyResult<Sampled> {
    let kv = match kernel {
        Some(k) => Some((spec::kernel(k, bandwidth)?, spec::variant(variant)?)),
        None => None,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    match kv {
        Some((k, v)) => RandomFourierFeatures::sample(&k, d, p, v, &mut rng).map(Sampled::Fourier),
        None => RandomReluFeatures::sample(d, p, &mut rng).map(Sampled::Relu),
    }
    .map_err(to_py)
}

/// A sampled random feature map `φ: R^d → R^p` (native half of `plres.rff`'s classes).
///
/// `FeatureMap(kernel, bandwidth, d, p, variant, seed)` samples random Fourier features of
/// a stationary kernel; `kernel=None` samples random ReLU features
/// `φ(x) = √(2/p) relu(Wx + c)`.
#[pyclass(name = "FeatureMap", module = "plres._plres", frozen)]
pub(crate) struct PyFeatureMap {
    pub(crate) inner: Sampled,
}

#[pymethods]
impl PyFeatureMap {
    #[new]
    #[pyo3(signature = (kernel, bandwidth, d, p, variant, seed))]
    fn new(
        kernel: Option<&str>,
        bandwidth: f64,
        d: usize,
        p: usize,
        variant: &str,
        seed: u64,
    ) -> PyResult<Self> {
        Ok(Self {
            inner: sample(kernel, bandwidth, d, p, variant, seed)?,
        })
    }

    /// Input dimension `d`.
    #[getter]
    fn input_dim(&self) -> usize {
        self.inner.map().input_dim()
    }

    /// Number of features `p`.
    #[getter]
    fn output_dim(&self) -> usize {
        self.inner.map().output_dim()
    }

    /// `Φ = φ(X)`, shape `(n, p)`, one sample per row (GIL released while computing).
    /// Fortran-ordered `X` is read in place; C-ordered `X` is copied to column-major
    /// first, so the bits do not depend on NumPy's order.
    fn transform<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let x = matrix_col_major("X", x)?;
        let map = self.inner.map();
        let d = map.input_dim();
        if x.view().ncols() != d {
            return Err(value_error(format!(
                "X: the feature map was sampled for d = {d} input features, got X with {} columns",
                x.view().ncols()
            )));
        }
        let xv = x.view();
        output(py, xv.nrows(), map.output_dim(), |phi| {
            map.apply_in_place(xv, phi)
        })
    }

    /// The random weights: `Ω` (`p × d`, or `p/2 × d` for the paired variant) or `W`.
    #[getter]
    fn weights<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        to_numpy(py, self.inner.map().weights())
    }

    /// The random bias `b` (cosine with phase) or `c` (ReLU); empty for the paired variant.
    #[getter]
    fn bias(&self) -> Vec<f64> {
        self.inner.map().bias().to_vec()
    }

    /// The limit kernel's Gram matrix `K(X, X)` (what `Φ Φᵀ` approximates).
    fn limit_gram<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let spec = self.inner.map().limit_kernel();
        crate::kernels::gram_of(py, spec, x)
    }
}

/// Smallest number of random features `p` with `P(‖K_p − K‖ ≥ eps·λ_min(K)) ≤ delta`
/// (matrix Bernstein; docs/theory.md §6):
///
/// `p = ⌈ 2 (2n‖K‖ + 2nε/3) ln(2n/δ) / ε² ⌉`, `ε = eps · λ_min(K)`,
///
/// so that `λ_min(K_p) ≥ (1 − eps) λ_min(K)` with probability `≥ 1 − delta`.
#[pyfunction]
#[pyo3(signature = (n, lambda_min, norm_k, delta, eps = 0.5))]
fn features_needed_pointwise(
    n: usize,
    lambda_min: f64,
    norm_k: f64,
    delta: f64,
    eps: f64,
) -> PyResult<usize> {
    bounds::features_needed_pointwise(n, lambda_min, norm_k, delta, eps).map_err(to_py)
}

/// Pointwise failure probability `min(1, 2n exp(−(pε²/2)/(2n‖K‖ + 2nε/3)))`,
/// `ε = eps · λ_min(K)` (docs/theory.md §6).
#[pyfunction]
#[pyo3(signature = (p, n, lambda_min, norm_k, eps = 0.5))]
fn failure_probability_pointwise(
    p: usize,
    n: usize,
    lambda_min: f64,
    norm_k: f64,
    eps: f64,
) -> PyResult<f64> {
    bounds::failure_probability_pointwise(p, n, lambda_min, norm_k, eps).map_err(to_py)
}

/// Smallest `p` with the uniform bound (Rahimi–Recht) `≤ delta` over a set of diameter
/// `D` in `R^d`: `p = ⌈ (4(d+2)/ε²) ln(2⁸ (σ_ω D/ε)² / δ) ⌉`, `ε = λ/(2n)`,
/// `σ_ω² = E‖ω‖²` (docs/theory.md §6).
#[pyfunction]
fn features_needed_uniform(
    d: usize,
    diameter: f64,
    sigma_omega_sq: f64,
    n: usize,
    lambda_: f64,
    delta: f64,
) -> PyResult<usize> {
    bounds::features_needed_uniform(d, diameter, sigma_omega_sq, n, lambda_, delta).map_err(to_py)
}

/// Uniform failure probability `min(1, 2⁸ (σ_ω D/ε)² exp(−pε²/(4(d+2))))`, `ε = λ/(2n)`.
#[pyfunction]
fn failure_probability_uniform(
    p: usize,
    d: usize,
    diameter: f64,
    sigma_omega_sq: f64,
    n: usize,
    lambda_: f64,
) -> PyResult<f64> {
    bounds::failure_probability_uniform(p, d, diameter, sigma_omega_sq, n, lambda_).map_err(to_py)
}

/// `σ_ω² = E‖ω‖²` of the kernel's spectral measure in dimension `d`: `d/σ²` (Gaussian),
/// `d·ν/((ν − 2)ℓ²)` (Matérn, `ν = 3, 5`), `+∞` (Laplace).
#[pyfunction]
fn spectral_second_moment(kernel: &str, bandwidth: f64, d: usize) -> PyResult<f64> {
    let spec = spec::kernel(kernel, bandwidth)?;
    let measure = spec.spectral_measure().ok_or_else(|| {
        value_error(format!(
            "kernel: {kernel:?} has no spectral measure (not stationary)"
        ))
    })?;
    Ok(measure.second_moment(d))
}

/// Registers this module's items on the extension module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyFeatureMap>()?;
    add_functions! { m;
        features_needed_pointwise, failure_probability_pointwise, features_needed_uniform,
        failure_probability_uniform, spectral_second_moment
    }
    Ok(())
}

/// The feature matrix `Φ = φ(X)` of the Rust API (`FeatureMap::apply` on an owned
/// column-major `Mat`), for the reference path.
pub(crate) fn apply_owned(map: &Sampled, x: &Mat<f64>) -> Mat<f64> {
    map.map().apply(x.as_ref())
}
