//! [`Monitor`]: a plres-optim [`Observer`] that certifies the PL inequality along
//! training.
//!
//! Every `every` iterates it computes the [`PlSnapshot`] of the iterate — at full-batch
//! iterates only the certificate (`λ_k`, `a_k`, `μ_cert`, with `L` and `∂L/∂θ` taken from
//! the optimizer), otherwise (or with `full_checks`) the full evaluation of its own copy
//! of the model (forward/backward pass and items 1–3) — and appends a [`MonitorRow`]: iteration, `L`, `ρ = ‖G‖²/L`, `μ_cert`, `min_k λ_k`,
//! `‖θ − θ₀‖` in the model's `L²` metric, the path length travelled and the path-length
//! bound `2√(L₀/μ)` (`μ` the smallest certificate seen so far). A row with
//! `ρ < μ_cert(1 − rel_tol)` is flagged as a violation (for Euler models a violation is
//! a bug: the certificate is a theorem at every `θ`). With [`MonitorConfig::tight`] the row
//! also holds the tight constant `μ_tight` ([`crate::pl::tight`]; `μ_cert ≤ μ_tight ≤ ρ`).
//!
//! At *every* iterate (cheaply, `O(n_params)`) it also accumulates the path length
//! `Σ_t ‖θ_{t+1} − θ_t‖` and, for full-batch runs, the sufficient-decrease constant
//! `c = min_t (L_t − L_{t+1}) / (‖θ_{t+1} − θ_t‖ ‖G_t‖)` (for GD `= (L_t − L_{t+1})/(η‖G_t‖²)`).
//! With PL constant `μ` along the path this gives
//! `Σ_t ‖θ_{t+1} − θ_t‖ ≤ (1/c)·2√(L₀/μ)` ([`crate::convergence`]); the flow bound
//! `2√(L₀/μ)` (the `c = 1` case) is the column of the rows.

use std::io::Write;

use faer::{Mat, MatRef};
use plres_optim::{Iterate, Metric, Observer, ObserverAction};
use plres_resnet::LinearResNet;
use plres_resnet::Trainable as _;
use serde::{Deserialize, Serialize};

use crate::convergence::{gd_path_length_bound, path_length_bound};
use crate::error::TheoryError;
use crate::pl::linear::LinearCertifier;
use crate::pl::snapshot::{CertificateKind, PlSnapshot};
use crate::pl::tight::{TightCertifier, TightPl, TightSolver};
use crate::report::{CheckReport, Relation};

/// Settings of a [`Monitor`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorConfig {
    /// Certify every `every`-th iterate (≥ 1; default 10).
    pub every: u64,
    /// Relative tolerance of the violation flag `ρ < μ(1 − rel_tol)` (default 1e-9).
    pub rel_tol: f64,
    /// Ask the optimizer to stop at the first violation (default false).
    pub stop_on_violation: bool,
    /// Run the full evaluation (own forward/backward pass and the checks of items 1–3)
    /// at every certified iterate. Default false: at full-batch iterates the monitor
    /// takes `L` and `∂L/∂θ` from the optimizer (the problem must be the model on the
    /// monitor's data) and spends only the certificate itself
    /// ([`LinearCertifier::certify`]); minibatch iterates always get the full evaluation.
    pub full_checks: bool,
    /// Also compute the tight constant `μ_tight = (2/N) λ_min(Θ)` ([`crate::pl::tight`]) at
    /// every certified iterate (default false: it costs a dense `N·d_out`-square
    /// eigenvalue problem, `O((N d_out)³)`, up to
    /// [`MAX_DENSE_DIM`](crate::pl::tight::MAX_DENSE_DIM), and a Lanczos run beyond;
    /// Euler models only). The full results, with the Lanczos interval, are in
    /// [`Monitor::tight_results`].
    #[serde(default)]
    pub tight: bool,
    /// The solver of `μ_tight` (default `None`: [`TightSolver::auto`], dense up to
    /// `N·d_out = 8192`, Lanczos with the default [`LanczosConfig`](crate::pl::LanczosConfig)
    /// beyond).
    #[serde(default)]
    pub tight_solver: Option<TightSolver>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            every: 10,
            rel_tol: 1e-9,
            stop_on_violation: false,
            full_checks: false,
            tight: false,
            tight_solver: None,
        }
    }
}

/// One certified iterate (a line of `metrics.csv`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorRow {
    /// Iteration `t`.
    pub iteration: u64,
    /// `L(θ_t)` (full batch).
    pub loss: f64,
    /// `‖G‖²` in the model's metric.
    pub grad_norm_sq: f64,
    /// `ρ = ‖G‖²/L`.
    pub rho: f64,
    /// `μ_cert` (Euler) or the continuous analogue (other integrators; see `exact`).
    pub mu_cert: f64,
    /// `min_k λ_k`.
    pub lambda_min: f64,
    /// `max_k a_k`.
    pub a_max: f64,
    /// `‖θ_t − θ₀‖` in the model's metric.
    pub distance: f64,
    /// `Σ_{s<t} ‖θ_{s+1} − θ_s‖` in the model's metric.
    pub path_length: f64,
    /// `2√(L₀/μ)`, `μ` the smallest certificate up to `t`.
    pub path_bound: f64,
    /// Whether `μ_cert` is a theorem (Euler) or an `O(h)` approximation.
    pub exact: bool,
    /// `ρ < μ_cert(1 − rel_tol)`.
    pub violation: bool,
    /// `μ_tight = (2/N) λ_min(Θ)` when [`MonitorConfig::tight`] is set; NaN otherwise.
    pub mu_tight: f64,
}

impl MonitorRow {
    /// The CSV header matching [`MonitorRow::csv_line`].
    pub const CSV_HEADER: &'static str = "iteration,loss,grad_norm_sq,rho,mu_cert,lambda_min,a_max,distance,path_length,path_bound,exact,violation,mu_tight";

    /// The row as one CSV line (no newline), full precision.
    pub fn csv_line(&self) -> String {
        format!(
            "{},{:e},{:e},{:e},{:e},{:e},{:e},{:e},{:e},{:e},{},{},{:e}",
            self.iteration,
            self.loss,
            self.grad_norm_sq,
            self.rho,
            self.mu_cert,
            self.lambda_min,
            self.a_max,
            self.distance,
            self.path_length,
            self.path_bound,
            self.exact,
            self.violation,
            self.mu_tight
        )
    }
}

/// The PL monitor (module docs). Owns a copy of the model (the feature map is shared)
/// and of the data, so it can sit beside the training problem in an optimizer run.
///
/// ```
/// use std::sync::Arc;
/// use faer::Mat;
/// use plres_kernels::KernelSpec;
/// use plres_optim::{GradientDescentConfig, State, Stopping, run};
/// use plres_resnet::{LinearResNet, LinearResNetConfig, TargetsRef, Trainable, TrainingProblem};
/// use plres_rff::{FourierVariant, RandomFourierFeatures};
/// use plres_theory::pl::{Monitor, MonitorConfig};
/// use rand::SeedableRng;
///
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// let phi = RandomFourierFeatures::sample(
///     &KernelSpec::Gaussian { sigma: 1.0 }, 2, 32, FourierVariant::CosineWithPhase, &mut rng,
/// ).unwrap();
/// let net = LinearResNet::new(Arc::new(phi), LinearResNetConfig { depth: 4, ..Default::default() }).unwrap();
/// let x = Mat::from_fn(6, 2, |i, j| (i as f64) * if j == 0 { 1.5 } else { -0.5 });
/// let y = Mat::from_fn(6, 2, |i, j| x[(i, j)] + 0.1 * ((i + j) as f64).sin());
/// let mut monitor = Monitor::new(&net, x.as_ref(), y.as_ref(), MonitorConfig { every: 5, ..Default::default() }).unwrap();
/// let metric = net.metric();
/// let theta0 = net.params().to_vec();
/// let mut problem = TrainingProblem::new(net, x.as_ref(), TargetsRef::Regression(y.as_ref())).unwrap();
/// let gd = GradientDescentConfig::new(0.5).with_metric(metric).build().unwrap();
/// run(&mut problem, &gd, State::new(theta0), &Stopping::iterations(20), &mut [&mut monitor]).unwrap();
/// assert_eq!(monitor.rows().len(), 5); // iterations 0, 5, 10, 15, 20
/// assert!(monitor.violations().is_empty());
/// assert!(monitor.rows().iter().all(|r| r.rho >= r.mu_cert));
/// ```
#[derive(Debug)]
pub struct Monitor {
    model: LinearResNet,
    x: Mat<f64>,
    y: Mat<f64>,
    certifier: LinearCertifier,
    tight: Option<TightCertifier>,
    metric: Metric,
    cfg: MonitorConfig,
    theta0: Vec<f64>,
    prev: Vec<f64>,
    diff: Vec<f64>,
    started: bool,
    prev_loss: f64,
    prev_grad_norm: f64,
    prev_full_batch: bool,
    l0: f64,
    mu_min: f64,
    path_length: f64,
    decrease_c: f64,
    rows: Vec<MonitorRow>,
    tight_results: Vec<(u64, TightPl)>,
    last: Option<PlSnapshot>,
    errors: Vec<(u64, TheoryError)>,
}

impl Monitor {
    /// A monitor of `model` (its shape, feature map and fixed maps; the parameters come
    /// from the iterates) on the squared loss of `(x, y)`.
    ///
    /// # Errors
    /// [`TheoryError::InvalidParameter`] for `every = 0` or a `rel_tol` outside `[0, 1)`;
    /// as [`LinearCertifier::new`]; with [`MonitorConfig::tight`], as
    /// [`TightCertifier::new`] (non-Euler model, factors above their size limit).
    pub fn new(
        model: &LinearResNet,
        x: MatRef<'_, f64>,
        y: MatRef<'_, f64>,
        cfg: MonitorConfig,
    ) -> Result<Self, TheoryError> {
        if cfg.every == 0 {
            return Err(TheoryError::InvalidParameter {
                name: "every",
                value: 0.0,
                expected: "certify every k ≥ 1 iterates",
            });
        }
        if !(0.0..1.0).contains(&cfg.rel_tol) {
            return Err(TheoryError::InvalidParameter {
                name: "rel_tol",
                value: cfg.rel_tol,
                expected: "a relative tolerance in [0, 1)",
            });
        }
        let n_params = model.n_params();
        Ok(Self {
            certifier: LinearCertifier::new(model, x.nrows())?,
            tight: if cfg.tight {
                let n = x.nrows();
                let solver = cfg.tight_solver.unwrap_or_else(|| {
                    TightSolver::auto(n * plres_resnet::Model::output_dim(model))
                });
                Some(TightCertifier::with_solver(model, n, solver)?)
            } else {
                None
            },
            metric: model.metric(),
            model: model.clone(),
            x: x.to_owned(),
            y: y.to_owned(),
            cfg,
            theta0: vec![0.0; n_params],
            prev: vec![0.0; n_params],
            diff: vec![0.0; n_params],
            started: false,
            prev_loss: f64::NAN,
            prev_grad_norm: f64::NAN,
            prev_full_batch: false,
            l0: f64::NAN,
            mu_min: f64::INFINITY,
            path_length: 0.0,
            decrease_c: f64::INFINITY,
            rows: Vec::new(),
            tight_results: Vec::new(),
            last: None,
            errors: Vec::new(),
        })
    }

    /// The certified rows so far.
    pub fn rows(&self) -> &[MonitorRow] {
        &self.rows
    }

    /// `(iteration, μ_tight)` at every certified iterate when [`MonitorConfig::tight`] is
    /// set: the row's `mu_tight` with its interval, rounding and Lanczos statistics.
    pub fn tight_results(&self) -> &[(u64, TightPl)] {
        &self.tight_results
    }

    /// Iterations whose row is a violation.
    pub fn violations(&self) -> Vec<u64> {
        self.rows
            .iter()
            .filter(|r| r.violation)
            .map(|r| r.iteration)
            .collect()
    }

    /// The snapshot of the last certified iterate.
    pub fn last_snapshot(&self) -> Option<&PlSnapshot> {
        self.last.as_ref()
    }

    /// Errors met while certifying (iteration, error); the run is not interrupted.
    pub fn errors(&self) -> &[(u64, TheoryError)] {
        &self.errors
    }

    /// The smallest certificate seen (`+∞` before the first row).
    pub fn mu_min(&self) -> f64 {
        self.mu_min
    }

    /// The sufficient-decrease constant observed over full-batch steps (`+∞` before the
    /// first step; module docs).
    pub fn decrease_constant(&self) -> f64 {
        self.decrease_c
    }

    /// Path length `Σ_t ‖θ_{t+1} − θ_t‖` travelled so far (model metric).
    pub fn path_length(&self) -> f64 {
        self.path_length
    }

    /// Writes `MonitorRow::CSV_HEADER` and every row.
    ///
    /// # Errors
    /// I/O errors of `w`.
    pub fn write_csv(&self, mut w: impl Write) -> std::io::Result<()> {
        writeln!(w, "{}", MonitorRow::CSV_HEADER)?;
        for r in &self.rows {
            writeln!(w, "{}", r.csv_line())?;
        }
        Ok(())
    }

    /// Certifies `params` now as iteration `iteration` (e.g. the final iterate of a run
    /// whose index is not a multiple of `every`), and appends the row. Does not update
    /// the path length (that is the observer's job).
    ///
    /// # Errors
    /// As [`LinearCertifier::evaluate`].
    pub fn certify(&mut self, iteration: u64, params: &[f64]) -> Result<MonitorRow, TheoryError> {
        self.record(iteration, params, None)
    }

    /// Certifies and appends a row; with `given = Some((L, ‖G‖²))` only the certificate
    /// is computed (the fast path), otherwise the full evaluation.
    fn record(
        &mut self,
        iteration: u64,
        params: &[f64],
        given: Option<(f64, f64)>,
    ) -> Result<MonitorRow, TheoryError> {
        if !self.started {
            self.theta0.copy_from_slice(params);
            self.prev.copy_from_slice(params);
            self.started = true;
        }
        let (x, y) = (self.x.as_ref(), self.y.as_ref());
        let snap = match given {
            Some((loss, gns)) => self.certifier.certify(&self.model, params, x, loss, gns)?,
            None => self.certifier.evaluate(&self.model, params, x, y)?,
        };
        let mu_tight = match &mut self.tight {
            Some(tc) => {
                let t = tc.evaluate(&self.model, params, x)?;
                let mu = t.mu_tight;
                self.tight_results.push((iteration, t));
                mu
            }
            None => f64::NAN,
        };
        if self.l0.is_nan() {
            self.l0 = snap.loss;
        }
        let mu = snap.mu();
        self.mu_min = self.mu_min.min(mu);
        for ((d, p), t) in self.diff.iter_mut().zip(params).zip(&self.theta0) {
            *d = p - t;
        }
        let row = MonitorRow {
            iteration,
            loss: snap.loss,
            grad_norm_sq: snap.grad_norm_sq,
            rho: snap.rho,
            mu_cert: mu,
            lambda_min: snap.lambda_min(),
            a_max: snap.a_max(),
            distance: self.metric.norm_sq(&self.diff).sqrt(),
            path_length: self.path_length,
            path_bound: path_length_bound(self.l0, self.mu_min),
            exact: snap.kind == CertificateKind::Exact,
            violation: snap.loss > 0.0 && snap.violates(self.cfg.rel_tol),
            mu_tight,
        };
        self.rows.push(row);
        self.last = Some(snap);
        Ok(row)
    }

    /// What the summary checks of the run are computed from ([`monitor_reports`]).
    pub fn summary(&self) -> MonitorSummary {
        MonitorSummary {
            l0: self.l0,
            mu_min: self.mu_min,
            decrease_c: self.decrease_c,
            path_length: self.path_length,
            rel_tol: self.cfg.rel_tol,
        }
    }

    /// Summary checks of the run: [`monitor_reports`] of the rows and the summary.
    pub fn reports(&self) -> Vec<CheckReport> {
        monitor_reports(&self.rows, &self.summary())
    }
}

/// The run-level quantities the summary checks of a [`Monitor`] use.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MonitorSummary {
    /// `L(θ₀)`.
    pub l0: f64,
    /// The smallest certificate seen.
    pub mu_min: f64,
    /// The observed sufficient-decrease constant `c` (`+∞` when unknown).
    pub decrease_c: f64,
    /// Path length travelled (model metric).
    pub path_length: f64,
    /// Relative tolerance of `ρ ≥ μ_cert` (the rounding of both sides).
    pub rel_tol: f64,
}

/// Summary checks of a monitored run: no violation at any certified iterate (the worst
/// `ρ/μ_cert` against 1, relative tolerance `rel_tol`), and the path length against the
/// bound `(1/c)·2√(L₀/μ_min)` with the observed sufficient-decrease constant `c` (the flow
/// bound when `c` is unknown). Both are vacuous when no certified iterate has
/// `μ_cert > 0` (the bounds are 0 and infinite). A pure function of the measurements, so
/// that a perturbed run can be checked too.
pub fn monitor_reports(rows: &[MonitorRow], s: &MonitorSummary) -> Vec<CheckReport> {
    let exact = rows.iter().all(|r| r.exact);
    let worst = rows
        .iter()
        .filter(|r| r.loss > 0.0 && r.mu_cert > 0.0)
        .map(|r| r.rho / r.mu_cert)
        .fold(f64::INFINITY, f64::min);
    let mut out = vec![
        CheckReport::new(
            format!(
                "ρ ≥ μ_cert at every certified iterate ({} rows{}; worst ρ/μ_cert)",
                rows.len(),
                if exact { "" } else { ", O(h) analogue" }
            ),
            "docs/theory.md §5 item 4",
            worst,
            1.0,
            s.rel_tol,
            Relation::AtLeast,
        )
        .vacuous_if(!worst.is_finite(), || {
            "μ_cert = 0 at every certified iterate (p < N, or the features of the samples not \
             separated): the certificate says nothing"
                .to_owned()
        }),
    ];
    let c = if s.decrease_c.is_finite() {
        s.decrease_c
    } else {
        1.0
    };
    out.push(
        CheckReport::new(
            format!("path length ≤ (1/c)·2√(L₀/μ) (c = {c:.3} observed)"),
            "docs/theory.md §5 Convergence, §7 Lazy regime",
            s.path_length,
            gd_path_length_bound(s.l0, s.mu_min, c),
            0.0,
            Relation::AtMost,
        )
        .vacuous_if(!gd_path_length_bound(s.l0, s.mu_min, c).is_finite(), || {
            if c > 0.0 {
                format!(
                    "μ_min = {:.1e}: the bound 2√(L₀/μ_min)/c is infinite",
                    s.mu_min
                )
            } else {
                format!(
                    "c = {c:.2e} ≤ 0 (a step raised the loss: η above the descent-lemma \
                         regime): the bound (1/c)·2√(L₀/μ) is infinite"
                )
            }
        }),
    );
    out
}

impl Observer for Monitor {
    fn observe(&mut self, it: &Iterate<'_>) -> ObserverAction {
        let full_batch = it.batch.is_none();
        let grad_norm = self.metric.dual_norm_sq(it.gradient).sqrt();
        if self.started {
            for ((d, p), q) in self.diff.iter_mut().zip(it.params).zip(&self.prev) {
                *d = p - q;
            }
            let step = self.metric.norm_sq(&self.diff).sqrt();
            self.path_length += step;
            if full_batch && self.prev_full_batch && step > 0.0 && self.prev_grad_norm > 0.0 {
                let c = (self.prev_loss - it.loss) / (step * self.prev_grad_norm);
                self.decrease_c = self.decrease_c.min(c);
            }
        } else {
            self.theta0.copy_from_slice(it.params);
            self.started = true;
        }
        self.prev.copy_from_slice(it.params);
        self.prev_loss = it.loss;
        self.prev_grad_norm = grad_norm;
        self.prev_full_batch = full_batch;
        if self.rows.is_empty() || it.iteration.is_multiple_of(self.cfg.every) {
            let given =
                (full_batch && !self.cfg.full_checks).then_some((it.loss, grad_norm * grad_norm));
            match self.record(it.iteration, it.params, given) {
                Ok(row) if row.violation && self.cfg.stop_on_violation => {
                    return ObserverAction::Stop;
                }
                Ok(_) => {}
                Err(e) => self.errors.push((it.iteration, e)),
            }
        }
        ObserverAction::Continue
    }
}
