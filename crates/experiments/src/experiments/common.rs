//! Helpers shared by the experiments: feature maps, training loops with a progress bar,
//! configuration checks.

use std::sync::Arc;

use faer::{Mat, MatRef};
use indicatif::ProgressBar;
use plres_data::{Dataset, SeparatedBallConfig, separated_ball};
use plres_kernels::KernelSpec;
use plres_optim::{
    GradientDescentConfig, History, Iterate, Metric, Observer, ObserverAction, Solver, State,
    Stopping,
};
use plres_resnet::{
    LinearResNet, LinearResNetConfig, TargetsRef, Trainable, Trained, TrainingCheckpoint,
    TrainingProblem,
};
use plres_rff::{FeatureMap, FourierVariant, RandomFourierFeatures};
use plres_theory::pl::{Monitor, MonitorConfig};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{ExperimentError, ResultExt};
use crate::run::RunContext;

/// `√(2/p) cos(Ωx + b)` features of the Gaussian kernel `exp(−‖x−y‖²/(2σ²))`.
pub fn gaussian_features(
    sigma: f64,
    d: usize,
    p: usize,
    rng: &mut impl Rng,
) -> Result<Arc<dyn FeatureMap>, ExperimentError> {
    let phi = RandomFourierFeatures::sample(
        &KernelSpec::Gaussian { sigma },
        d,
        p,
        FourierVariant::CosineWithPhase,
        rng,
    )
    .stage(|| format!("sampling {p} Gaussian random Fourier features in R^{d}"))?;
    Ok(Arc::new(phi))
}

/// A zero-initialised Euler `LinearResNet` over `features`.
pub fn euler_resnet(
    features: Arc<dyn FeatureMap>,
    depth: usize,
) -> Result<LinearResNet, ExperimentError> {
    LinearResNet::new(
        features,
        LinearResNetConfig {
            depth,
            ..Default::default()
        },
    )
    .stage(|| format!("building a LinearResNet of depth {depth}"))
}

/// Advances a progress bar to each iterate's index.
pub struct Progress<'a>(pub &'a ProgressBar);

impl Observer for Progress<'_> {
    fn observe(&mut self, it: &Iterate<'_>) -> ObserverAction {
        self.0.set_position(it.iteration);
        ObserverAction::Continue
    }
}

/// What [`train`] and [`train_resumable`] run: `solver` on `model` over the borrowed data
/// from `state` until `stopping`.
pub struct Training<'a, M> {
    /// The model (its parameters are replaced by the iterates').
    pub model: M,
    /// The inputs, one row per sample.
    pub x: MatRef<'a, f64>,
    /// The targets.
    pub targets: TargetsRef<'a>,
    /// The optimizer.
    pub solver: &'a dyn Solver,
    /// Where training starts.
    pub state: State,
    /// When it stops.
    pub stopping: &'a Stopping,
}

/// The one training helper of the experiments: runs the [`Training`] `run`, with a [`History`] of every iterate, the progress
/// `bar` advanced to each iterate and any further observers, and hands back the trained
/// model (its parameters are the final iterate's) with the outcome. A divergence is
/// [`ExperimentError::Diverged`] with the history up to the last finite iterate (the run
/// folder keeps it, with the last finite parameters).
pub fn train<M: Trainable>(
    run: Training<'_, M>,
    extra: &mut [&mut dyn Observer],
    bar: &ProgressBar,
    label: &str,
) -> Result<(Trained<M>, History), ExperimentError> {
    let problem = TrainingProblem::new(run.model, run.x, run.targets)
        .stage(|| format!("{label}: training problem"))?;
    let mut history = History::new();
    let mut progress = Progress(bar);
    let mut observers: Vec<&mut dyn Observer> = vec![&mut history, &mut progress];
    for o in extra.iter_mut() {
        observers.push(&mut **o);
    }
    let result = problem.run(run.solver, run.state, run.stopping, &mut observers);
    drop(observers);
    match result {
        Ok(trained) => Ok((trained, history)),
        Err(e) => Err(training_failed(e, label, history)),
    }
}

/// The error of training `label` that failed with `e`: a divergence keeps the `history`
/// up to the last finite iterate ([`ExperimentError::Diverged`]).
fn training_failed(e: plres_optim::OptimError, label: &str, history: History) -> ExperimentError {
    match e {
        source @ plres_optim::OptimError::Diverged { .. } => ExperimentError::Diverged {
            label: label.to_owned(),
            history: Box::new(history),
            source,
        },
        e => ExperimentError::model(format!("training {label}"), e),
    }
}

/// [`train`] that survives a kill: every `every_epochs` epochs (and at the end) the
/// optimizer state is saved as a training checkpoint at
/// [`RunContext::checkpoint_path`]`(label)` with the history beside it
/// (as tensors of the checkpoint: bit-exact, one atomic file); if that checkpoint exists
/// when it starts (a
/// run resumed after a kill), training continues from it. The continued run is bitwise
/// the uninterrupted one (plres-optim's resume guarantee) and the history has one record
/// per iterate either way. `state` is the start of a fresh run.
///
/// # Errors
/// As [`train`]; a checkpoint that cannot be read or does not fit the solver and problem
/// ([`plres_optim::State::check_resume`]).
pub fn train_resumable<M: Trainable>(
    run: Training<'_, M>,
    every_epochs: u64,
    ctx: &RunContext,
    bar: &ProgressBar,
    label: &str,
) -> Result<(Trained<M>, History), ExperimentError> {
    let ck_path = ctx.checkpoint_path(label)?;
    let mut problem = TrainingProblem::new(run.model, run.x, run.targets)
        .stage(|| format!("{label}: training problem"))?;
    let (solver, stopping) = (run.solver, run.stopping);
    let (mut state, mut history) = if ck_path.is_file() {
        let ck = TrainingCheckpoint::load(&ck_path)
            .stage(|| format!("{label}: reading the training checkpoint"))?;
        ck.state
            .check_resume(solver, &problem)
            .stage(|| format!("{label}: resuming from {}", ck_path.display()))?;
        let h = history_from(&ck.model)
            .stage(|| format!("{label}: the history in {}", ck_path.display()))?;
        tracing::info!(
            label,
            iteration = ck.state.iteration(),
            "resuming from a checkpoint"
        );
        (ck.state, h)
    } else {
        (run.state, History::new())
    };
    let (it0, epoch0, evals0) = (state.iteration(), state.epoch(), state.evaluations());
    let start = std::time::Instant::now();
    let mut report = loop {
        let segment_end = state.epoch() + every_epochs.max(1);
        let mut seg = stopping.clone();
        seg.max_epochs = Some(
            stopping
                .max_epochs
                .map_or(segment_end, |m| m.min(segment_end)),
        );
        let mut part = History::new();
        let mut progress = Progress(bar);
        let result = plres_optim::run_in_place(
            &mut problem,
            solver,
            &mut state,
            &seg,
            &mut [&mut part, &mut progress],
        );
        append(&mut history, part);
        let report = match result {
            Ok(r) => r,
            Err(e) => return Err(training_failed(e, label, history)),
        };
        TrainingCheckpoint {
            model: history_checkpoint(&history),
            state: state.clone(),
        }
        .save(&ck_path)
        .stage(|| format!("{label}: writing the training checkpoint"))?;
        let segment_stop = matches!(
            &report.stop_reason,
            plres_optim::StopReason::MaxEpochs { max_epochs } if Some(*max_epochs) != stopping.max_epochs
        );
        if !segment_stop {
            break report;
        }
    };
    report.iterations = state.iteration() - it0;
    report.epochs = state.epoch() - epoch0;
    report.evaluations = state.evaluations() - evals0;
    report.elapsed = start.elapsed();
    let trained = problem
        .into_trained(plres_optim::Outcome { state, report })
        .stage(|| format!("{label}: the trained model"))?;
    Ok((trained, history))
}

/// The columns of a [`History`] as the tensors `history.<column>` of a checkpoint (floats
/// bit for bit; counters below 2⁵³ exactly).
fn history_checkpoint(h: &History) -> plres_resnet::Checkpoint {
    let mut c = plres_resnet::Checkpoint::new();
    let n = h.records.len();
    let col = |f: &dyn Fn(&plres_optim::Record) -> f64| h.records.iter().map(f).collect();
    c.insert("history.iteration", vec![n], col(&|r| r.iteration as f64));
    c.insert("history.epoch", vec![n], col(&|r| r.epoch as f64));
    c.insert("history.loss", vec![n], col(&|r| r.loss));
    c.insert("history.grad_norm_sq", vec![n], col(&|r| r.grad_norm_sq));
    c.insert("history.learning_rate", vec![n], col(&|r| r.learning_rate));
    c
}

/// The [`History`] of [`history_checkpoint`].
fn history_from(c: &plres_resnet::Checkpoint) -> Result<History, plres_resnet::CheckpointError> {
    let n = c.tensor_any("history.loss")?.data.len();
    let get = |name: &str| c.tensor(name, &[n]);
    let (it, ep, loss, g2, lr) = (
        get("history.iteration")?,
        get("history.epoch")?,
        get("history.loss")?,
        get("history.grad_norm_sq")?,
        get("history.learning_rate")?,
    );
    let records = (0..n)
        .map(|i| plres_optim::Record {
            iteration: it[i] as u64,
            epoch: ep[i] as u64,
            loss: loss[i],
            grad_norm_sq: g2[i],
            learning_rate: lr[i],
        })
        .collect();
    Ok(History { records })
}

/// Appends the records of a run segment (the first repeats the last of the previous one).
fn append(history: &mut History, part: History) {
    let last = history.records.last().map(|r| r.iteration);
    history.records.extend(
        part.records
            .into_iter()
            .filter(|r| Some(r.iteration) > last || last.is_none()),
    );
}

/// Full-batch gradient descent with step `eta` in `metric` for `iterations` steps from the
/// model's parameters on regression targets `y`, with its own progress bar: [`train`].
pub fn gradient_descent<M: Trainable>(
    model: M,
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    metric: Metric,
    eta: f64,
    iterations: u64,
    extra: &mut [&mut dyn Observer],
    ctx: &RunContext,
    label: &str,
) -> Result<(Trained<M>, History), ExperimentError> {
    let gd = GradientDescentConfig::new(eta)
        .with_metric(metric)
        .build()
        .stage(|| format!("{label}: gradient descent configuration"))?;
    let state = State::new(model.params().to_vec());
    let bar = ctx.progress_bar(iterations, label.to_owned());
    let run = Training {
        model,
        x,
        targets: TargetsRef::Regression(y),
        solver: &gd,
        state,
        stopping: &Stopping::iterations(iterations),
    };
    let out = train(run, extra, &bar, label)?;
    bar.finish_and_clear();
    Ok(out)
}

/// The synthetic problem the width, depth, width-limit, lazy and rff-bound experiments
/// share: `N` points of `R^d` in the ball of radius `r` with minimum separation `δ` (and
/// their targets, [`plres_data::separated_ball`]), and the bandwidth `σ` of the Gaussian
/// kernel `exp(−‖x−y‖²/(2σ²))` the random features approximate. Each configuration
/// holds it `#[serde(flatten)]`ed: its fields stand at the top level of the JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BallProblem {
    /// Number of samples `N`.
    pub n: usize,
    /// State dimension `d`.
    pub dim: usize,
    /// Radius of the ball of inputs.
    pub radius: f64,
    /// Minimum separation of the inputs.
    pub delta: f64,
    /// Bandwidth `σ` of the Gaussian kernel.
    pub sigma: f64,
}

/// Largest number of samples `N` of a synthetic experiment (its `N × N` Grams are dense).
pub const MAX_POINTS: usize = 1 << 14;
/// Largest state dimension `d`.
pub const MAX_DIM: usize = 1 << 12;
/// Largest width `p` (random features per layer) of any experiment.
pub const MAX_WIDTH: usize = 1 << 24;
/// Largest depth `L` (training and reference solutions).
pub const MAX_DEPTH: usize = 1 << 16;
/// Largest count of repetitions (seeds, feature draws).
pub const MAX_REPEATS: usize = 1 << 16;
/// Largest number of optimizer steps, epochs or certification intervals.
pub const MAX_STEPS: u64 = 1 << 24;
/// Largest number of `f64` entries a configuration may ask one object to hold (`2³²`,
/// 32 GiB).
pub const MAX_ENTRIES: usize = 1 << 32;

impl BallProblem {
    /// Checks `2 ≤ n ≤` [`MAX_POINTS`], `1 ≤ dim ≤` [`MAX_DIM`] and finite positive
    /// `radius`, `delta` and `sigma`; the message names the field and value.
    pub fn validate(&self) -> Result<(), String> {
        require_range("n", self.n, 2, MAX_POINTS)?;
        require_range("dim", self.dim, 1, MAX_DIM)?;
        for (field, value) in [
            ("radius", self.radius),
            ("delta", self.delta),
            ("sigma", self.sigma),
        ] {
            require(
                value > 0.0 && value.is_finite(),
                field,
                value,
                "finite, > 0",
            )?;
        }
        Ok(())
    }

    /// `N` points in the 3-D ball of radius 2 separated by `δ = ½`, `σ = ¾`: the problem
    /// of the width, depth and lazy figures.
    pub fn three_d(n: usize) -> Self {
        BallProblem {
            n,
            dim: 3,
            radius: 2.0,
            delta: 0.5,
            sigma: 0.75,
        }
    }

    /// The `N` separated points and their targets, drawn from the run's stream 0.
    pub fn draw(&self, ctx: &RunContext) -> Result<Dataset, ExperimentError> {
        draw_separated(self.n, self.dim, self.radius, self.delta, ctx)
    }

    /// The configuration of the ball the points are drawn in.
    pub fn ball(&self) -> SeparatedBallConfig {
        SeparatedBallConfig::new(self.n, self.dim, self.radius, self.delta)
    }

    /// `p` Gaussian random Fourier features of bandwidth `σ` in `R^d` ([`gaussian_features`]).
    pub fn features(
        &self,
        p: usize,
        rng: &mut impl Rng,
    ) -> Result<Arc<dyn FeatureMap>, ExperimentError> {
        gaussian_features(self.sigma, self.dim, p, rng)
    }

    /// The Gaussian kernel of bandwidth `σ`.
    pub fn kernel(&self) -> KernelSpec {
        KernelSpec::Gaussian { sigma: self.sigma }
    }
}

/// Fails naming `field` and its value unless `lo ≤ value ≤ hi` (a configuration's bounds:
/// the lower one its domain, the upper one keeps every size computed from it in range).
pub fn require_range<T: PartialOrd + std::fmt::Display + Copy>(
    field: &str,
    value: T,
    lo: T,
    hi: T,
) -> Result<(), String> {
    require(
        lo <= value && value <= hi,
        field,
        value,
        &format!("in {lo} ..= {hi}"),
    )
}

/// Fails naming `field` unless every entry of `values` lies in `lo ..= hi` and there is at
/// least `min_len` of them.
pub fn require_all_in_range<T: PartialOrd + std::fmt::Display + std::fmt::Debug + Copy>(
    field: &str,
    values: &[T],
    min_len: usize,
    lo: T,
    hi: T,
) -> Result<(), String> {
    require(
        values.len() >= min_len && values.iter().all(|v| lo <= *v && *v <= hi),
        field,
        format!("{values:?}"),
        &format!("at least {min_len} values, each in {lo} ..= {hi}"),
    )
}

/// Fails naming `min_width/max_width` unless both are powers of two, at most
/// [`MAX_WIDTH`], and `max_width ≥ 2^octaves · min_width` (the grid spans that many octaves).
pub fn require_width_grid(min_width: usize, max_width: usize, octaves: u32) -> Result<(), String> {
    require(
        min_width.is_power_of_two()
            && max_width.is_power_of_two()
            && max_width <= MAX_WIDTH
            && (max_width >> octaves) >= min_width,
        "min_width/max_width",
        format!("{min_width}/{max_width}"),
        &format!("powers of two ≤ {MAX_WIDTH} spanning at least {octaves} octaves"),
    )
}

/// Fails naming `fields` unless the product of `values`, computed with checked
/// arithmetic, is at most `max`.
pub fn require_product(fields: &str, values: &[usize], max: usize) -> Result<(), String> {
    let product = values.iter().try_fold(1usize, |acc, v| acc.checked_mul(*v));
    require(
        product.is_some_and(|p| p <= max),
        fields,
        format!("{values:?}"),
        &format!("a product ≤ {max}"),
    )
}

/// A gradient descent of an Euler ResNet in its own `L²` metric: the data and the
/// schedule.
#[derive(Clone, Copy, Debug)]
pub struct Descent<'a> {
    /// The inputs, one row per sample.
    pub x: &'a Mat<f64>,
    /// The regression targets.
    pub y: &'a Mat<f64>,
    /// The step.
    pub eta: f64,
    /// The number of steps.
    pub iterations: u64,
}

/// [`gradient_descent`] of `model` as `descent` says, labelled `label`, under the PL
/// `monitors` (which certify the iterates they observe). What they could not certify is
/// left to the caller ([`certified`]).
pub fn gradient_descent_under(
    model: LinearResNet,
    descent: Descent<'_>,
    monitors: &mut [&mut Monitor],
    ctx: &RunContext,
    label: &str,
) -> Result<(Trained<LinearResNet>, History), ExperimentError> {
    let metric = model.metric();
    let mut observers: Vec<&mut dyn Observer> = monitors
        .iter_mut()
        .map(|m| &mut **m as &mut dyn Observer)
        .collect();
    let Descent {
        x,
        y,
        eta,
        iterations,
    } = descent;
    gradient_descent(
        model,
        x.as_ref(),
        y.as_ref(),
        metric,
        eta,
        iterations,
        &mut observers,
        ctx,
        label,
    )
}

/// [`gradient_descent_under`] a PL monitor of `config` of a width-`p` Euler ResNet: an
/// iterate the monitor could not certify fails the run. Returns the monitor too.
pub fn monitored_gradient_descent(
    model: LinearResNet,
    descent: Descent<'_>,
    config: MonitorConfig,
    ctx: &RunContext,
    p: usize,
) -> Result<(Trained<LinearResNet>, History, Monitor), ExperimentError> {
    let mut monitor = Monitor::new(&model, descent.x.as_ref(), descent.y.as_ref(), config)
        .stage(|| format!("PL monitor, p = {p}"))?;
    let label = format!("GD, p = {p}");
    let (trained, history) =
        gradient_descent_under(model, descent, &mut [&mut monitor], ctx, &label)?;
    certified(&monitor, |it| format!("certifying iterate {it}, p = {p}"))?;
    Ok((trained, history, monitor))
}

/// Certifies the final iterate `last` (parameters `params`) unless `monitor` observed it.
///
/// # Errors
/// The monitor's, when the certificate cannot be computed.
pub fn certify_final(
    monitor: &mut Monitor,
    last: u64,
    params: &[f64],
) -> Result<(), plres_theory::TheoryError> {
    if monitor.rows().last().is_none_or(|r| r.iteration != last) {
        monitor.certify(last, params)?;
    }
    Ok(())
}

/// Fails with the first iterate `monitor` could not certify, `what(iteration)` saying
/// which.
pub fn certified(
    monitor: &Monitor,
    what: impl FnOnce(u64) -> String,
) -> Result<(), ExperimentError> {
    match monitor.errors().first() {
        Some((it, e)) => Err(ExperimentError::model(what(*it), e.clone())),
        None => Ok(()),
    }
}

/// Fails with a message naming the field unless `ok`.
pub fn require(
    ok: bool,
    field: &str,
    value: impl std::fmt::Display,
    expected: &str,
) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("{field} = {value}: expected {expected}"))
    }
}

/// Fails naming `learning_rate` unless the step `η` is finite and `> 0`.
pub fn require_step(learning_rate: f64) -> Result<(), String> {
    require(
        learning_rate > 0.0 && learning_rate.is_finite(),
        "learning_rate",
        learning_rate,
        "a finite step > 0",
    )
}

/// `n` points in the ball of radius `radius` in `R^dim` with minimum separation `delta`
/// (and their targets), drawn from the run's stream 0.
pub fn draw_separated(
    n: usize,
    dim: usize,
    radius: f64,
    delta: f64,
    ctx: &RunContext,
) -> Result<Dataset, ExperimentError> {
    separated_ball(
        &SeparatedBallConfig::new(n, dim, radius, delta),
        &mut ctx.rng(0),
    )
    .stage(|| "drawing separated points".into())
}

/// The powers of two from `lo` to `hi` inclusive (`lo`, `hi` powers of two); stops
/// before doubling past `usize::MAX`.
pub fn powers_of_two(lo: usize, hi: usize) -> Vec<usize> {
    let mut v = Vec::new();
    let mut p = Some(lo.max(1));
    while let Some(q) = p.filter(|q| *q <= hi) {
        v.push(q);
        p = q.checked_mul(2);
    }
    v
}

/// `‖A − B‖_F / ‖B‖_F` (0 when both vanish).
pub fn relative_frobenius(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    let num = (a - b).norm_l2();
    let den = b.norm_l2();
    if den == 0.0 { num } else { num / den }
}

/// The 97.5 % quantile of Student's t distribution with `dof` degrees of freedom (the
/// two-sided 95 % factor of a least-squares coefficient's standard error), from its owner
/// [`plres_theory::stats::student_t_quantile`]; `+∞` for `dof = 0` (no residual: the
/// spread is unknown).
pub fn student_t_975(dof: usize) -> f64 {
    if dof == 0 {
        f64::INFINITY
    } else {
        plres_theory::stats::student_t_quantile(0.975, dof as f64)
    }
}

/// A fitted log-log slope against its theoretical value: `slope ≥ order − t₉₇.₅(n−2)·se`
/// (`AtLeast`, an `O(h^q)` claim) or `|slope − order| ≤ t₉₇.₅(n−2)·se` (`Within`, a rate
/// claim), the tolerance the 95 % confidence interval of the least-squares slope (no
/// slack); vacuous with two points (no residual, the spread is unknown).
pub fn slope_report(
    claim: impl Into<String>,
    source: &str,
    fit: &plres_theory::stats::LinearFit,
    order: f64,
    relation: plres_theory::Relation,
) -> plres_theory::CheckReport {
    let t = student_t_975(fit.dof());
    plres_theory::CheckReport::new(
        format!(
            "{}: fitted slope {:.3} ± {:.3} (95 % CI ± {:.3}, {} points)",
            claim.into(),
            fit.slope,
            fit.slope_se,
            t * fit.slope_se,
            fit.n
        ),
        source,
        fit.slope,
        order,
        t * fit.slope_se,
        relation,
    )
    .vacuous_if(fit.dof() == 0, || {
        "two points: the line interpolates, the spread of the slope is unknown".to_owned()
    })
}

/// An asymptotic power law `y ≈ C x^q (1 + O(u(x)))` as `x → 0` (an integrator's error in
/// `h`, a lazy-limit quantity in `L₀`), its order `q` estimated without pre-asymptotic
/// bias: the local slopes `q_i = Δ log y / Δ log x` of consecutive points (sorted by `x`)
/// are `q + O(u)`, so a line `q_i ≈ q₀ + k·u_i` (`u_i = u(√(x_i x_{i+1}))`) extrapolates them
/// to `u = 0`. Checked: `q₀` against `order` (`AtLeast` for an `O(x^q)` bound, `Within` for
/// a rate) with tolerance `t₉₇.₅(m−2)·se(q₀)`, the 95 % confidence interval of the
/// intercept over `m` local slopes (no slack). Vacuous with fewer than three local slopes
/// (the line interpolates them: no spread).
///
/// # Errors
/// Non-positive or non-finite values, or repeated abscissae.
pub fn extrapolated_order_report(
    claim: impl Into<String>,
    source: &str,
    x: &[f64],
    y: &[f64],
    u: impl Fn(f64) -> f64,
    order: f64,
    relation: plres_theory::Relation,
) -> Result<(f64, plres_theory::CheckReport), plres_theory::TheoryError> {
    let mut pts: Vec<(f64, f64)> = x.iter().copied().zip(y.iter().copied()).collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut us = Vec::new();
    let mut qs = Vec::new();
    for w in pts.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if !(x0 > 0.0 && y0 > 0.0 && y1 > 0.0 && x1 > x0 && y0.is_finite() && y1.is_finite()) {
            return Err(plres_theory::TheoryError::InvalidParameter {
                name: "power-law point",
                value: if x1 > x0 { y0.min(y1) } else { x1 },
                expected: "positive, finite values at distinct abscissae",
            });
        }
        us.push(u((x0 * x1).sqrt()));
        qs.push((y1 / y0).ln() / (x1 / x0).ln());
    }
    let claim = claim.into();
    if qs.len() < 3 {
        let last = qs.first().copied().unwrap_or(f64::NAN);
        return Ok((
            last,
            plres_theory::CheckReport::vacuous(
                claim,
                source,
                last,
                order,
                relation,
                format!(
                    "{} points give {} local slopes: too few to extrapolate them with a spread",
                    pts.len(),
                    qs.len()
                ),
            ),
        ));
    }
    let fit = plres_theory::stats::linear_fit(&us, &qs)?;
    let t = student_t_975(fit.dof());
    let q0 = fit.intercept;
    Ok((
        q0,
        plres_theory::CheckReport::new(
            format!(
                "{claim}: local slopes {} extrapolated to the limit: {q0:.3} ± {:.3} (95 % CI ± {:.3})",
                qs.iter()
                    .map(|q| format!("{q:.3}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                fit.intercept_se,
                t * fit.intercept_se
            ),
            source,
            q0,
            order,
            t * fit.intercept_se,
            relation,
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::experiments::{
        depth::DepthConfig, lazy::LazyConfig, linear_vs_nonlinear::LinearVsNonlinearConfig,
        rff_bound::RffBoundConfig, width::WidthConfig, width_limit::WidthLimitConfig,
    };
    use crate::registry::{ExperimentConfig, Size};

    /// A field and an edit of a configuration that puts it out of bounds.
    type Case<'a, C> = (&'a str, &'a dyn Fn(&mut C));

    /// For every size and every `(field, edit)` case: the unedited configuration is valid
    /// and `validate` after `edit` fails naming `field` (without panicking: the values
    /// below overflowed or panicked before the bounds, issue 19 case 3).
    fn rejects<C: ExperimentConfig>(cases: &[Case<'_, C>]) {
        for size in [Size::Smoke, Size::Default, Size::Full] {
            for (field, edit) in cases {
                let mut c = C::for_size(size);
                assert_eq!(c.validate(), Ok(()), "{size}");
                edit(&mut c);
                let err = c.validate().expect_err(field);
                assert!(err.starts_with(&format!("{field} = ")), "{field}: {err}");
            }
        }
    }

    const TERA: usize = 1_000_000_000_000;

    #[test]
    fn width_config_bounds_its_octaves() {
        // `N << 64` panicked in debug (shift overflow) and wrapped in release
        rejects::<WidthConfig>(&[
            ("octaves_above", &|c| c.octaves_above = 64),
            ("octaves_above", &|c| c.octaves_above = 40),
            ("octaves_below", &|c| c.octaves_below = 64),
            ("n", &|c| c.problem.n = 1 << 40),
            ("seeds", &|c| c.seeds = TERA),
        ]);
        let mut c = WidthConfig::for_size(Size::Smoke);
        c.octaves_above = 64;
        assert_eq!(c.max_width(), None);
        c.octaves_above = 3;
        assert_eq!(c.widths(), [2, 4, 8, 16, 32, 64, 128]);
    }

    #[test]
    fn width_limit_config_bounds_its_widths_and_kernel_size() {
        let grid = "min_width/max_width";
        rejects::<WidthLimitConfig>(&[
            // `4 * min_width` overflowed inside validate itself
            (grid, &|c| (c.min_width, c.max_width) = (1 << 63, 1 << 63)),
            (grid, &|c| c.max_width = 1 << 40),
            ("steps", &|c| c.steps = usize::MAX),
            // each factor in range, the kernel network's centres not
            ("n·depth·steps·dim", &|c| {
                (c.problem.n, c.depth, c.steps) = (MAX_POINTS, MAX_DEPTH, 1 << 20);
            }),
        ]);
    }

    #[test]
    fn depth_config_bounds_width_and_depths() {
        rejects::<DepthConfig>(&[
            ("width", &|c| c.width = TERA),
            // `2 * w[0]` overflowed
            ("depths", &|c| c.depths = vec![1 << 62, 1 << 63, 0]),
            ("order_depths", &|c| {
                c.order_depths = vec![8, 16, usize::MAX]
            }),
            ("reference_depth", &|c| c.reference_depth = TERA),
            ("iterations", &|c| c.iterations = u64::MAX),
        ]);
    }

    #[test]
    fn lazy_config_bounds_widths_and_steps() {
        rejects::<LazyConfig>(&[
            ("min_width/max_width", &|c| c.max_width = 1 << 62),
            ("iterations", &|c| c.iterations = u64::MAX),
            ("dim", &|c| c.problem.dim = TERA),
        ]);
    }

    #[test]
    fn rff_bound_config_bounds_widths_and_draws() {
        rejects::<RffBoundConfig>(&[
            ("min_width/max_width", &|c| c.max_width = 1 << 62),
            ("draws", &|c| c.draws = TERA),
            ("max_checked_width", &|c| c.max_checked_width = TERA),
        ]);
    }

    #[test]
    fn linear_vs_nonlinear_config_bounds_sizes() {
        rejects::<LinearVsNonlinearConfig>(&[
            ("width", &|c| c.width = TERA),
            ("depths", &|c| c.depths = vec![5, TERA]),
            ("seeds", &|c| c.seeds = TERA),
            ("batch_size", &|c| c.batch_size = TERA),
        ]);
    }

    /// The flattened [`BallProblem`] keeps the configuration's JSON flat: `n`, `dim`,
    /// `radius`, `delta`, `sigma` at the top level, and the JSON reads back.
    #[test]
    fn ball_problem_is_flattened_into_the_json() {
        let c = WidthConfig::for_size(Size::Default);
        let v = serde_json::to_value(&c).unwrap();
        for key in ["n", "dim", "radius", "delta", "sigma", "depth"] {
            assert!(v.get(key).is_some(), "{key} missing in {v}");
        }
        assert!(v.get("problem").is_none(), "{v}");
        let back: WidthConfig = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
    }

    /// The quantiles (plres-theory's incomplete-beta inversion) against `P(T ≤ t) = 0.975`
    /// integrated from Student's density
    /// by Simpson's rule (`∫_0^t` of `Γ((ν+1)/2)/(√(νπ)Γ(ν/2)) (1 + x²/ν)^{−(ν+1)/2}`,
    /// the Gamma ratio from its Stirling series), an independent computation.
    #[test]
    fn student_quantiles_match_the_density() {
        for dof in [1usize, 2, 3, 5, 10, 30] {
            let nu = dof as f64;
            // Γ((ν+1)/2)/Γ(ν/2) by ln Γ (Stirling series, accurate to 1e-10 for x ≥ 7,
            // shifted up by recursion)
            fn ln_gamma(mut x: f64) -> f64 {
                let mut acc = 0.0;
                while x < 7.0 {
                    acc -= x.ln();
                    x += 1.0;
                }
                acc + (x - 0.5) * x.ln() - x
                    + 0.5 * (2.0 * std::f64::consts::PI).ln()
                    + 1.0 / (12.0 * x)
                    - 1.0 / (360.0 * x.powi(3))
                    + 1.0 / (1260.0 * x.powi(5))
            }
            let c = (ln_gamma((nu + 1.0) / 2.0) - ln_gamma(nu / 2.0)).exp()
                / (nu * std::f64::consts::PI).sqrt();
            let t = student_t_975(dof);
            let m = 20_000;
            let h = t / m as f64;
            let f = |x: f64| c * (1.0 + x * x / nu).powf(-(nu + 1.0) / 2.0);
            let mut s = f(0.0) + f(t);
            for i in 1..m {
                s += if i % 2 == 1 { 4.0 } else { 2.0 } * f(i as f64 * h);
            }
            let cdf = 0.5 + s * h / 3.0;
            // a 1e-3 change of t moves the cdf by ≈ f(t)·1e-3 ≥ 1e-5
            assert!((cdf - 0.975).abs() < 2e-4, "dof {dof}: cdf({t}) = {cdf}");
            assert!(cdf >= 0.975 - 1e-6, "dof {dof}: rounded down");
        }
    }
}
