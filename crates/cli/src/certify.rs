//! [`certify`]: the PL certificate of a trained network at its parameters on given data
//! (docs/theory.md §5), the tight constant, and the expressivity check along the
//! trajectory.
//!
//! For the squared loss on `(x, y)` (labels as one-hot vectors), at the network's `θ`:
//! `ρ = ‖G‖²/L`, `μ_cert = (2/N) σ_min(Bᵀ)² h Σ_k λ_k Π_{j>k}(1 − h a_j)₊²` with the
//! per-layer `λ_k = λ_min(K_k)` and `a_k` (a theorem for Euler networks: `ρ ≥ μ_cert`),
//! `μ_tight = (2/N) λ_min(Θ)` when `N·d_out ≤ 8192` and the network is Euler
//! (`μ_cert ≤ μ_tight ≤ ρ`), and `λ_min` of the feature (or kernel) Gram at every state
//! `X^0..X^L` with the expressivity checks of plres-theory. The SHL baseline has no
//! certificate (it is not linear in its parameters): only `ρ` is reported.

use faer::{Mat, MatRef};
use plres_data::TargetsRef;
use plres_resnet::{Integrator, Model, Trainable};
use plres_theory::CheckReport;
use plres_theory::expressivity::TrajectoryExpressivity;
use plres_theory::pl::tight::MAX_DENSE_DIM;
use plres_theory::pl::{
    LinearCertifier, PlSnapshot, TightCertifier, kernel_snapshot, kernel_tight,
};
use serde::{Deserialize, Serialize};

use crate::error::PlresError;
use crate::network::{Network, Task, TrainedModel, check_targets};

/// The certificate of a network on some data (module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    /// `"linear"`, `"kernel"` or `"shl"`.
    pub model: String,
    /// `N`.
    pub n_samples: usize,
    /// Squared loss `L(θ)` on the data.
    pub loss: f64,
    /// `‖G‖²` in the model's metric (the RKHS metric for the kernel model).
    pub grad_norm_sq: f64,
    /// `ρ = ‖G‖²/L`.
    pub rho: f64,
    /// `μ_cert` (`None` for the SHL baseline).
    pub mu_cert: Option<f64>,
    /// Whether `μ_cert` is a theorem (Euler) or the `O(h)` continuous analogue.
    pub exact: bool,
    /// `μ_tight = (2/N) λ_min(Θ)` (`None` when not computed: see `notes`).
    pub mu_tight: Option<f64>,
    /// `λ_k` of the certificate, per layer (per node for interpolated integrators).
    pub lambda: Vec<f64>,
    /// `a_k = max_i ‖Df_k(x_i^k)‖`, per layer.
    pub a: Vec<f64>,
    /// `λ_min` of the Gram at the states `X^0..X^L` (expressivity).
    pub expressivity_lambda: Vec<f64>,
    /// The checks of plres-theory at this `θ` (certificate items and expressivity).
    pub checks: Vec<CheckReport>,
    /// What was not computed, and why.
    pub notes: Vec<String>,
}

/// The certificate of `network` on `(x, y)` (module docs). `x` is raw (the network's
/// standardisation is applied), `y` the targets of its task.
///
/// # Errors
/// [`PlresError::BadData`] / [`PlresError::NonFinite`] for inputs or targets that do not
/// fit the network; [`PlresError::Run`] for a numerical failure.
pub fn certify(
    network: &Network,
    x: MatRef<'_, f64>,
    y: TargetsRef<'_>,
) -> Result<Certificate, PlresError> {
    let xs = network.preprocess(x)?;
    check_targets(y, x.nrows(), network.task())?;
    let ym: Mat<f64> = match (y, network.task()) {
        (TargetsRef::Classes(l), Task::Classification { classes }) => {
            plres_data::one_hot(l, classes)
        }
        (TargetsRef::Regression(m), _) => m.to_owned(),
        _ => unreachable!("check_targets matched the task"),
    };
    let n = xs.nrows();
    let run = |what: &'static str| move |e: plres_theory::TheoryError| PlresError::run(what, e);
    let mut notes = Vec::new();
    let (model, snap, mu_tight, expr) = match network.model() {
        TrainedModel::Linear(m) => {
            let mut c = LinearCertifier::new(m, n).map_err(run("certificate"))?;
            let snap = c
                .evaluate(m, m.params(), xs.as_ref(), ym.as_ref())
                .map_err(run("certificate"))?;
            let mu_tight = if m.integrator() != Integrator::Euler {
                notes.push(format!(
                    "μ_tight: not implemented for the {} integrator (forward Euler only)",
                    m.integrator().name()
                ));
                None
            } else {
                tight_if_not_too_large(n, m.output_dim(), &mut notes, || {
                    let mut t = TightCertifier::new(m, n)?;
                    Ok(t.evaluate(m, m.params(), xs.as_ref())?.mu_tight)
                })?
            };
            let expr = plres_theory::expressivity::linear_expressivity(m, xs.as_ref());
            ("linear", snap, mu_tight, expr)
        }
        TrainedModel::Kernel(net) => {
            let b = net.maps().embed_out.clone();
            let snap = kernel_snapshot(
                net,
                xs.as_ref(),
                ym.as_ref(),
                b.as_ref().map(|b| b.as_ref()),
            )
            .map_err(run("certificate"))?;
            let mu_tight = tight_if_not_too_large(n, net.output_dim(), &mut notes, || {
                Ok(kernel_tight(net, xs.as_ref())?.0.mu_tight)
            })?;
            let expr = plres_theory::expressivity::kernel_expressivity(net, xs.as_ref());
            ("kernel", snap, mu_tight, expr)
        }
        TrainedModel::Shl(m) => {
            let g = m
                .gradient_report(xs.as_ref(), TargetsRef::Regression(ym.as_ref()))
                .map_err(|e| PlresError::run("gradient", e))?;
            notes.push(
                "no PL certificate: the SHL baseline is not linear in its parameters (docs/theory.md §3.3); only ρ is measured"
                    .into(),
            );
            return Ok(Certificate {
                model: "shl".into(),
                n_samples: n,
                loss: g.loss,
                grad_norm_sq: g.riesz_norm_sq,
                rho: g.riesz_norm_sq / g.loss,
                mu_cert: None,
                exact: false,
                mu_tight: None,
                lambda: Vec::new(),
                a: Vec::new(),
                expressivity_lambda: Vec::new(),
                checks: Vec::new(),
                notes,
            });
        }
    };
    let expr = expr.map_err(run("expressivity"))?;
    Ok(pl_certificate(model, n, &snap, &expr, mu_tight, notes))
}

/// `μ_tight` from `tight` unless the dense tangent Gram (`N·d_out` square) is too large to
/// form; if so, says so in `notes` and gives `None`.
fn tight_if_not_too_large(
    n: usize,
    output_dim: usize,
    notes: &mut Vec<String>,
    tight: impl FnOnce() -> Result<f64, plres_theory::TheoryError>,
) -> Result<Option<f64>, PlresError> {
    let dim = n * output_dim;
    if dim > MAX_DENSE_DIM {
        notes.push(format!(
            "μ_tight: N·d_out = {dim} > {MAX_DENSE_DIM}, the dense tangent Gram is not formed"
        ));
        return Ok(None);
    }
    tight().map(Some).map_err(|e| PlresError::run("μ_tight", e))
}

/// The certificate of a model linear in its parameters (linear or kernel): its PL snapshot,
/// the expressivity along the trajectory, and `μ_tight` where computed.
fn pl_certificate(
    model: &str,
    n_samples: usize,
    snap: &PlSnapshot,
    expr: &TrajectoryExpressivity,
    mu_tight: Option<f64>,
    notes: Vec<String>,
) -> Certificate {
    let mut checks = snap.reports();
    checks.extend(expr.reports());
    Certificate {
        model: model.into(),
        n_samples,
        loss: snap.loss,
        grad_norm_sq: snap.grad_norm_sq,
        rho: snap.rho,
        mu_cert: Some(snap.mu()),
        exact: snap.mu_cert.is_some(),
        mu_tight,
        lambda: snap.lambda.clone(),
        a: snap.a.clone(),
        expressivity_lambda: expr.lambda.clone(),
        checks,
        notes,
    }
}
