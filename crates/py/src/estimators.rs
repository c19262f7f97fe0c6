//! The estimators: `fit`, `predict`, `score`, checkpoints and `certify`, wrapping the
//! library estimator API of the `plres` crate (`crates/cli`) — one training path.
//!
//! `fit(config, X, y)` is `plres::Estimator::from_config(config).prepare(X, y)?.train(…)`
//! with the GIL released; one extra observer re-acquires the GIL at most every
//! [`SIGNAL_POLL`] to run `PyErr_CheckSignals`, so Ctrl-C ends the run at the next iterate
//! and `KeyboardInterrupt` propagates (nothing of the interrupted run is kept).
//!
//! The settings travel as JSON in the serde form of `plres::EstimatorConfig` (the same
//! names as the command line's config file), so every setting has one definition, in Rust.
//! The trace (loss, `ρ = ‖G‖²/L`, `μ_cert`, … per iterate) is returned as NumPy arrays
//! built directly from `plres::TraceRow` (no text round trip: the bits are Rust's);
//! the report, the resolved settings and `certify`'s result as JSON.

use std::time::{Duration, Instant};

use faer::{Mat, MatRef};
use numpy::{PyArray1, PyArrayMethods, PyUntypedArrayMethods};
use plres::{Estimator, EstimatorConfig, Network, Predictions, TargetsRef, TraceRow};
use plres_optim::{Iterate, Observer, ObserverAction};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::{Matrix, matrix, output, to_py, value_error};

/// How often a running fit checks for Ctrl-C (re-acquiring the GIL for microseconds).
pub(crate) const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Ends the run when Python has a pending signal (Ctrl-C): see the module docs.
struct Interrupt {
    last: Instant,
    error: Option<PyErr>,
}

impl Observer for Interrupt {
    fn observe(&mut self, _it: &Iterate<'_>) -> ObserverAction {
        if self.last.elapsed() < SIGNAL_POLL {
            return ObserverAction::Continue;
        }
        self.last = Instant::now();
        match Python::attach(|py| py.check_signals()) {
            Ok(()) => ObserverAction::Continue,
            Err(e) => {
                self.error = Some(e);
                ObserverAction::Stop
            }
        }
    }
}

/// Targets from Python: a 2-D float64 matrix (regression) or a 1-D integer array of class
/// labels `0..k` (classification; the Python layer encodes arbitrary labels).
enum Targets<'py> {
    Matrix(Matrix<'py>),
    Labels(Vec<usize>),
}

impl Targets<'_> {
    fn as_ref(&self) -> TargetsRef<'_> {
        match self {
            Targets::Matrix(m) => TargetsRef::Regression(m.view()),
            Targets::Labels(l) => TargetsRef::Classes(l),
        }
    }
}

fn targets<'py>(y: &Bound<'py, PyAny>, classification: bool) -> PyResult<Targets<'py>> {
    if !classification {
        return Ok(Targets::Matrix(matrix("y", y)?));
    }
    let Ok(arr) = y.cast::<PyArray1<i64>>() else {
        return Err(value_error(
            "y: expected a 1-D int64 array of class indices (the estimator encodes labels)",
        ));
    };
    let arr = arr.readonly();
    let mut labels = Vec::with_capacity(arr.len());
    for (i, &l) in arr.as_array().iter().enumerate() {
        if l < 0 {
            return Err(value_error(format!(
                "y: negative class index {l} at row {i}"
            )));
        }
        labels.push(l as usize);
    }
    if labels.is_empty() {
        return Err(value_error("y is empty; at least one sample is needed"));
    }
    Ok(Targets::Labels(labels))
}

fn config(json: &str) -> PyResult<EstimatorConfig> {
    let c: EstimatorConfig =
        serde_json::from_str(json).map_err(|e| value_error(format!("estimator settings: {e}")))?;
    c.validate().map_err(to_py)?;
    Ok(c)
}

fn json<T: serde::Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v).map_err(to_py)
}

/// The trace as a dict of 1-D NumPy arrays (`NaN` where a row has no value).
fn trace_dict<'py>(py: Python<'py>, trace: &[TraceRow]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let ints = |f: fn(&TraceRow) -> u64| PyArray1::from_vec(py, trace.iter().map(f).collect());
    let reals = |f: fn(&TraceRow) -> f64| PyArray1::from_vec(py, trace.iter().map(f).collect());
    d.set_item("iteration", ints(|r| r.iteration))?;
    d.set_item("epoch", ints(|r| r.epoch))?;
    d.set_item("loss", reals(|r| r.loss))?;
    d.set_item("grad_norm_sq", reals(|r| r.grad_norm_sq))?;
    d.set_item("rho", reals(|r| r.rho))?;
    d.set_item("learning_rate", reals(|r| r.learning_rate))?;
    d.set_item("mu_cert", reals(|r| r.mu_cert.unwrap_or(f64::NAN)))?;
    d.set_item(
        "rho_certified",
        reals(|r| r.rho_certified.unwrap_or(f64::NAN)),
    )?;
    d.set_item("lambda_min", reals(|r| r.lambda_min.unwrap_or(f64::NAN)))?;
    d.set_item("mu_tight", reals(|r| r.mu_tight.unwrap_or(f64::NAN)))?;
    Ok(d)
}

/// A trained network with its preprocessing (`plres::Network`), held by an estimator.
#[pyclass(name = "Network", module = "plres._plres", frozen)]
pub(crate) struct PyNetwork {
    pub(crate) net: Network,
}

fn check_dim(net: &Network, x: MatRef<'_, f64>) -> PyResult<()> {
    if x.ncols() != net.input_dim() {
        return Err(value_error(format!(
            "X: the network was trained on {} input features, got X with {} columns",
            net.input_dim(),
            x.ncols()
        )));
    }
    Ok(())
}

#[pymethods]
impl PyNetwork {
    /// Loads a checkpoint written by `save` (safetensors; `plres::Network::load`).
    #[staticmethod]
    fn load(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        let net = py.detach(|| Network::load(&path)).map_err(to_py)?;
        Ok(Self { net })
    }

    /// Writes the safetensors checkpoint atomically (`plres::Network::save`).
    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        py.detach(|| self.net.save(&path)).map_err(to_py)
    }

    /// `"linear"`, `"kernel"` or `"shl"`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.net.model().kind()
    }

    /// `d_in`.
    #[getter]
    fn input_dim(&self) -> usize {
        self.net.input_dim()
    }

    /// `d_out` (outputs or classes).
    #[getter]
    fn n_outputs(&self) -> usize {
        self.net.task().n_outputs()
    }

    /// Whether the network classifies.
    #[getter]
    fn is_classifier(&self) -> bool {
        matches!(self.net.task(), plres::Task::Classification { .. })
    }

    /// The trained parameters θ (flat; the kernel model's coefficients layer by layer).
    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, self.net.model().params())
    }

    /// The network outputs `z = B x^L` for the standardised `X`, shape `(n, d_out)`.
    fn outputs<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, numpy::PyArray2<f64>>> {
        let x = matrix("X", x)?;
        let xv = x.view();
        check_dim(&self.net, xv)?;
        let z = py.detach(|| self.net.outputs(xv)).map_err(to_py)?;
        output(py, z.nrows(), z.ncols(), |mut o| o.copy_from(z.as_ref()))
    }

    /// Predicted class indices (classification, argmax) or values `(n, d_out)`.
    fn predict<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Py<PyAny>> {
        let x = matrix("X", x)?;
        let xv = x.view();
        check_dim(&self.net, xv)?;
        match py.detach(|| self.net.predict(xv)).map_err(to_py)? {
            Predictions::Classes(c) => Ok(PyArray1::from_vec(
                py,
                c.into_iter().map(|c| c as i64).collect(),
            )
            .into_any()
            .unbind()),
            Predictions::Values(z) => {
                Ok(
                    output(py, z.nrows(), z.ncols(), |mut o| o.copy_from(z.as_ref()))?
                        .into_any()
                        .unbind(),
                )
            }
        }
    }

    /// Accuracy (classification) or `R² = 1 − Σ‖z_i − y_i‖²/Σ‖y_i − ȳ‖²` (regression).
    fn score(&self, py: Python<'_>, x: &Bound<'_, PyAny>, y: &Bound<'_, PyAny>) -> PyResult<f64> {
        let x = matrix("X", x)?;
        let y = targets(y, self.is_classifier())?;
        check_dim(&self.net, x.view())?;
        let (xv, yr) = (x.view(), y.as_ref());
        py.detach(|| self.net.score(xv, yr)).map_err(to_py)
    }

    /// The PL certificate at the trained parameters on `(X, y)` (`plres::certify`), as JSON.
    fn certify(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
    ) -> PyResult<String> {
        let x = matrix("X", x)?;
        let y = targets(y, self.is_classifier())?;
        check_dim(&self.net, x.view())?;
        let (xv, yr) = (x.view(), y.as_ref());
        let c = py
            .detach(|| plres::certify(&self.net, xv, yr))
            .map_err(to_py)?;
        json(&c)
    }
}

/// Trains with the settings `config_json` (serde form of `plres::EstimatorConfig`) on
/// `(X, y)` — `y` a float64 matrix, or int64 class indices when `classification` — and
/// returns `(network, trace, report_json, resolved_config_json)`.
#[pyfunction]
fn fit<'py>(
    py: Python<'py>,
    config_json: &str,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    classification: bool,
) -> PyResult<(PyNetwork, Bound<'py, PyDict>, String, String)> {
    let est = Estimator::from_config(config(config_json)?);
    let x = matrix("X", x)?;
    let y = targets(y, classification)?;
    let (xv, yr) = (x.view(), y.as_ref());
    let mut stop = Interrupt {
        last: Instant::now(),
        error: None,
    };
    let fitted = py.detach(|| {
        let prepared = est.prepare(xv, yr)?;
        prepared.train(None, &mut [&mut stop])
    });
    if let Some(e) = stop.error {
        // Ctrl-C (or another signal handler's exception): the run is discarded
        return Err(e);
    }
    let fitted = fitted.map_err(to_py)?;
    let trace = trace_dict(py, &fitted.trace)?;
    Ok((
        PyNetwork {
            net: fitted.network,
        },
        trace,
        json(&fitted.report)?,
        json(&fitted.config)?,
    ))
}

/// One trace row of the reference path: `(iteration, loss, ‖G‖², ρ, μ_cert)`.
type RefRow = (u64, f64, f64, f64, f64);

/// The same fit through the Rust API only (reference path of the tests): owned
/// column-major matrices built from lists, `Estimator::fit`, the trace as lists of
/// `(iteration, loss, grad_norm_sq, rho, mu_cert)` (`NaN` for no value) and the
/// network's parameters.
#[pyfunction]
fn _reference_fit(
    config_json: &str,
    x: Vec<Vec<f64>>,
    y: Vec<Vec<f64>>,
    labels: Option<Vec<usize>>,
) -> PyResult<(Vec<RefRow>, Vec<f64>)> {
    let est = Estimator::from_config(config(config_json)?);
    let xm = Mat::from_fn(x.len(), x.first().map_or(0, Vec::len), |i, j| x[i][j]);
    let ym = Mat::from_fn(y.len(), y.first().map_or(0, Vec::len), |i, j| y[i][j]);
    let t = match &labels {
        Some(l) => TargetsRef::Classes(l),
        None => TargetsRef::Regression(ym.as_ref()),
    };
    let f = est.fit(xm.as_ref(), t).map_err(to_py)?;
    let rows = f
        .trace
        .iter()
        .map(|r| {
            (
                r.iteration,
                r.loss,
                r.grad_norm_sq,
                r.rho,
                r.mu_cert.unwrap_or(f64::NAN),
            )
        })
        .collect();
    Ok((rows, f.network.model().params()))
}

/// Seconds of `Estimator::fit` through the Rust API alone (owned matrices, no Python in
/// the loop), for the benchmark script `bench/step.py`.
#[pyfunction]
fn _rust_fit_seconds(
    py: Python<'_>,
    config_json: &str,
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
) -> PyResult<f64> {
    let est = Estimator::from_config(config(config_json)?);
    let xm = matrix("X", x)?.view().to_owned();
    let ym = matrix("y", y)?.view().to_owned();
    py.detach(|| {
        let t0 = Instant::now();
        est.fit(xm.as_ref(), TargetsRef::Regression(ym.as_ref()))
            .map(|_| t0.elapsed().as_secs_f64())
    })
    .map_err(to_py)
}

/// Registers this module's items on the extension module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyNetwork>()?;
    add_functions! { m;
        fit, _reference_fit, _rust_fit_seconds
    }
    Ok(())
}
