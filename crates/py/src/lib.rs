//! # plres-py — plres for Python (the native module `plres._plres`)
//!
//! One job: expose plres' random feature maps, kernel spectra and estimators to
//! NumPy with the same numbers as the Rust API. The Python package `plres` (in
//! `python/plres/`) wraps this module into `plres.rff`, `plres.kernels` and the
//! scikit-learn estimators; the maths is in the docstrings and in docs/theory.md.
//!
//! * [`arrays`] — NumPy ⇄ faer: zero-copy views of C- or Fortran-contiguous float64
//!   input, validation with plres' own messages (`ValueError`), Fortran-ordered output
//!   written in place with the GIL released.
//! * [`spec`] — kernel and variant names → `KernelSpec`, `FourierVariant`.
//! * [`rff`] — `FeatureMap` (random Fourier / ReLU features), feature-count bounds
//!   (docs/theory.md §3.2, §6).
//! * [`kernels`] — Gram matrices, `λ_min`, Gershgorin bounds, separation (§3.1, §5).
//! * [`estimators`] — `fit` / `Network` (predict, score, certify, checkpoints) over the
//!   `plres` crate's `Estimator` (crates/cli): one training path, the GIL released,
//!   Ctrl-C polled between iterates.
//! * [`reference`] — the list-in, list-out pure-Rust path the tests compare against.
//!
//! Excluded from the cargo workspace: built by maturin (`pip install ./crates/py`).

#![forbid(unsafe_code)]

/// `add_functions! { m; f, g, … }` registers the `#[pyfunction]`s `f, g, …`, in order, on
/// the module `m` (each `m.add_function(wrap_pyfunction!(f, m)?)?`): every module's
/// `register` lists its functions this way.
macro_rules! add_functions {
    ($m:expr; $($f:ident),+ $(,)?) => {
        $($m.add_function(pyo3::wrap_pyfunction!($f, $m)?)?;)+
    };
}

mod arrays;
mod estimators;
mod kernels;
mod reference;
mod rff;
mod spec;

use pyo3::prelude::*;

/// The native half of the `plres` package (see `plres/__init__.py`).
#[pymodule]
fn _plres(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    rff::register(m)?;
    kernels::register(m)?;
    estimators::register(m)?;
    reference::register(m)?;
    Ok(())
}
