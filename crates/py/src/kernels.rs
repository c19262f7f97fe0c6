//! `plres.kernels`: Gram matrices and the spectral quantities of the PL certificate
//! (plres-kernels; docs/theory.md §3.1, §5).
//!
//! * `K_ij = k(x_i, x_j)`, one faer GEMM then an element-wise pass (exactly symmetric);
//! * `λ_min(K)`, the smallest eigenvalue (faer's symmetric eigensolver, lower triangle);
//! * Gershgorin: `λ_min(K) ≥ min_i (K_ii − Σ_{j≠i} |K_ij|)`;
//! * for the Gaussian with separation `δ = min_{i≠j} ‖x_i − x_j‖`:
//!   `λ_min ≥ 1 − (N − 1) exp(−δ²/(2σ²))`.

use numpy::PyArray2;
use plres_kernels::{KernelSpec, spectral};
use pyo3::prelude::*;

use crate::arrays::{matrix, output, to_py, value_error};
use crate::spec;

/// `K(X, X)` of `spec` into a new NumPy array (GIL released while computing).
pub(crate) fn gram_of<'py>(
    py: Python<'py>,
    spec: KernelSpec,
    x: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let x = matrix("X", x)?;
    let kernel = spec.build().map_err(to_py)?;
    let xv = x.view();
    let n = xv.nrows();
    output(py, n, n, |out| kernel.gram_in_place(xv, out))
}

/// The Gram matrix `K_ij = k(x_i, x_j)` of the rows of `X` (shape `(n, n)`, exactly
/// symmetric). `kernel` is one of `gaussian` (`exp(−r²/(2σ²))`, `bandwidth = σ`),
/// `laplace` (`exp(−r/ℓ)`), `matern32`, `matern52` (`bandwidth = ℓ`),
/// `inverse_multiquadric` (`(1 + r²/c²)^{−1/2}`, `bandwidth = c`), `arc_cosine1`, `linear`.
#[pyfunction]
#[pyo3(signature = (x, kernel = "gaussian", bandwidth = 1.0))]
fn gram<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    kernel: &str,
    bandwidth: f64,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    gram_of(py, spec::kernel(kernel, bandwidth)?, x)
}

/// The cross Gram matrix `K_ij = k(x_i, y_j)`, shape `(n, m)`.
#[pyfunction]
#[pyo3(signature = (x, y, kernel = "gaussian", bandwidth = 1.0))]
fn cross_gram<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    kernel: &str,
    bandwidth: f64,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let k = spec::kernel(kernel, bandwidth)?.build().map_err(to_py)?;
    let x = matrix("X", x)?;
    let y = matrix("Y", y)?;
    let (xv, yv) = (x.view(), y.view());
    if xv.ncols() != yv.ncols() {
        return Err(value_error(format!(
            "Y: expected {} columns (the columns of X), got {}",
            xv.ncols(),
            yv.ncols()
        )));
    }
    output(py, xv.nrows(), yv.nrows(), |out| {
        k.cross_gram_in_place(xv, yv, out)
    })
}

/// Square, finite, non-empty `K` (the checks of `plres_kernels::spectral`).
fn square<'py>(k: &Bound<'py, PyAny>) -> PyResult<crate::arrays::Matrix<'py>> {
    let m = matrix("K", k)?;
    let (r, c) = (m.view().nrows(), m.view().ncols());
    if r != c {
        return Err(value_error(format!("K must be square, got {r}×{c}")));
    }
    Ok(m)
}

/// `λ_min(K)`, the smallest eigenvalue of the symmetric matrix `K` (lower triangle read).
/// The PL certificate of docs/theory.md §5 is built from it.
#[pyfunction]
fn lambda_min(py: Python<'_>, k: &Bound<'_, PyAny>) -> PyResult<f64> {
    let k = square(k)?;
    let kv = k.view();
    py.detach(|| spectral::try_lambda_min(kv)).map_err(to_py)
}

/// All eigenvalues of the symmetric matrix `K`, ascending.
#[pyfunction]
fn eigenvalues(py: Python<'_>, k: &Bound<'_, PyAny>) -> PyResult<Vec<f64>> {
    let k = square(k)?;
    let kv = k.view();
    py.detach(|| spectral::try_eigenvalues(kv)).map_err(to_py)
}

/// Gershgorin lower bound `min_i (K_ii − Σ_{j≠i} |K_ij|) ≤ λ_min(K)`.
#[pyfunction]
fn gershgorin_lower_bound(k: &Bound<'_, PyAny>) -> PyResult<f64> {
    let k = square(k)?;
    Ok(spectral::gershgorin_lower_bound(k.view()))
}

/// The a-priori bound for a Gaussian Gram of `n` points `δ`-separated, bandwidth `σ`:
/// `λ_min ≥ 1 − (n − 1) exp(−δ²/(2σ²))` (docs/theory.md §5).
#[pyfunction]
fn gaussian_gershgorin_bound(n: usize, delta: f64, sigma: f64) -> PyResult<f64> {
    if !(delta.is_finite() && delta >= 0.0) {
        return Err(value_error(format!(
            "delta must be finite and >= 0, got {delta}"
        )));
    }
    plres_kernels::validate::check_param("sigma", sigma).map_err(to_py)?;
    Ok(spectral::gaussian_gershgorin_bound(n, delta, sigma))
}

/// The minimum pairwise separation `δ(X) = min_{i<j} ‖x_i − x_j‖` of the rows of `X`
/// (`inf` for a single row).
#[pyfunction]
fn min_separation(py: Python<'_>, x: &Bound<'_, PyAny>) -> PyResult<f64> {
    let x = matrix("X", x)?;
    let xv = x.view();
    py.detach(|| spectral::try_min_separation(xv))
        .map_err(to_py)
}

/// Registers this module's items on the extension module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_functions! { m;
        gram, cross_gram, lambda_min, eigenvalues, gershgorin_lower_bound,
        gaussian_gershgorin_bound, min_separation
    }
    Ok(())
}
