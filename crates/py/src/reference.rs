//! The pure-Rust reference path the tests compare against (`plres._plres._reference_*`).
//!
//! These functions take and return plain Python lists of floats, never NumPy arrays: each
//! builds an owned column-major faer `Mat` element by element and calls the plres crates
//! exactly as a Rust user would (`FeatureSpec`-style sampling from
//! `ChaCha8Rng::seed_from_u64`, `FeatureMap::apply`, `Kernel::try_gram`,
//! `spectral::try_lambda_min`). So they share none of the array plumbing of
//! `arrays.rs` (zero-copy views, layouts, output buffers, GIL release): when the NumPy path
//! and this path agree bit for bit, the bindings add nothing to the numbers.

use faer::Mat;
use plres_kernels::spectral;
use pyo3::prelude::*;

use crate::arrays::{to_py, value_error};
use crate::rff::{apply_owned, sample};
use crate::spec;

fn mat_of(rows: &[Vec<f64>]) -> PyResult<Mat<f64>> {
    let n = rows.len();
    let d = rows.first().map_or(0, Vec::len);
    if rows.iter().any(|r| r.len() != d) {
        return Err(value_error("reference: ragged rows"));
    }
    Ok(Mat::from_fn(n, d, |i, j| rows[i][j]))
}

fn rows_of(m: &Mat<f64>) -> Vec<Vec<f64>> {
    (0..m.nrows())
        .map(|i| (0..m.ncols()).map(|j| m[(i, j)]).collect())
        .collect()
}

/// `φ(X)` through the Rust API: `(kernel or None, bandwidth, p, variant, seed, X rows)`.
#[pyfunction]
fn _reference_transform(
    kernel: Option<&str>,
    bandwidth: f64,
    p: usize,
    variant: &str,
    seed: u64,
    x: Vec<Vec<f64>>,
) -> PyResult<Vec<Vec<f64>>> {
    let x = mat_of(&x)?;
    let map = sample(kernel, bandwidth, x.ncols(), p, variant, seed)?;
    Ok(rows_of(&apply_owned(&map, &x)))
}

/// `(Ω or W, bias)` sampled through the Rust API.
#[pyfunction]
fn _reference_weights(
    kernel: Option<&str>,
    bandwidth: f64,
    d: usize,
    p: usize,
    variant: &str,
    seed: u64,
) -> PyResult<(Vec<Vec<f64>>, Vec<f64>)> {
    let map = sample(kernel, bandwidth, d, p, variant, seed)?;
    let w = map.map().weights().to_owned();
    Ok((rows_of(&w), map.map().bias().to_vec()))
}

/// `K(X, X)` through `Kernel::try_gram`.
#[pyfunction]
fn _reference_gram(kernel: &str, bandwidth: f64, x: Vec<Vec<f64>>) -> PyResult<Vec<Vec<f64>>> {
    let x = mat_of(&x)?;
    let k = spec::kernel(kernel, bandwidth)?.build().map_err(to_py)?;
    Ok(rows_of(&k.try_gram(x.as_ref()).map_err(to_py)?))
}

/// `(λ_min, Gershgorin bound)` of `K` through plres-kernels' spectral module.
#[pyfunction]
fn _reference_spectrum(k: Vec<Vec<f64>>) -> PyResult<(f64, f64)> {
    let k = mat_of(&k)?;
    Ok((
        spectral::try_lambda_min(k.as_ref()).map_err(to_py)?,
        spectral::gershgorin_lower_bound(k.as_ref()),
    ))
}

/// `δ(X)` through `spectral::try_min_separation`.
#[pyfunction]
fn _reference_min_separation(x: Vec<Vec<f64>>) -> PyResult<f64> {
    let x = mat_of(&x)?;
    spectral::try_min_separation(x.as_ref()).map_err(to_py)
}

/// Whether `X` reaches Rust as a view of NumPy's buffer (no copy): true for C- and
/// Fortran-contiguous float64 input (only Fortran order when `col_major`, the feature
/// maps' requirement).
#[pyfunction]
#[pyo3(signature = (x, col_major = false))]
fn _input_is_view(x: &Bound<'_, PyAny>, col_major: bool) -> PyResult<bool> {
    let m = if col_major {
        crate::arrays::matrix_col_major("X", x)?
    } else {
        crate::arrays::matrix("X", x)?
    };
    Ok(m.is_borrowed())
}

/// Registers this module's items on the extension module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_functions! { m;
        _reference_transform, _reference_weights, _reference_gram, _reference_spectrum,
        _reference_min_separation, _input_is_view
    }
    Ok(())
}
