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
use rand::Rng;

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

/// The one training helper of the experiments: runs `solver` on `model` over the borrowed
/// data from `state` until `stopping`, with a [`History`] of every iterate, the progress
/// `bar` advanced to each iterate and any further observers, and hands back the trained
/// model (its parameters are the final iterate's) with the outcome. A divergence is
/// [`ExperimentError::Diverged`] with the history up to the last finite iterate (the run
/// folder keeps it, with the last finite parameters).
pub fn train<M: Trainable>(
    model: M,
    x: MatRef<'_, f64>,
    targets: TargetsRef<'_>,
    solver: &dyn Solver,
    state: State,
    stopping: &Stopping,
    extra: &mut [&mut dyn Observer],
    bar: &ProgressBar,
    label: &str,
) -> Result<(Trained<M>, History), ExperimentError> {
    let problem =
        TrainingProblem::new(model, x, targets).stage(|| format!("{label}: training problem"))?;
    let mut history = History::new();
    let mut progress = Progress(bar);
    let mut observers: Vec<&mut dyn Observer> = vec![&mut history, &mut progress];
    for o in extra.iter_mut() {
        observers.push(&mut **o);
    }
    let trained = match problem.run(solver, state, stopping, &mut observers) {
        Ok(t) => t,
        Err(source @ plres_optim::OptimError::Diverged { .. }) => {
            drop(observers);
            return Err(ExperimentError::Diverged {
                label: label.to_owned(),
                history: Box::new(history),
                source,
            });
        }
        Err(e) => return Err(e).stage(|| format!("training {label}")),
    };
    drop(observers);
    Ok((trained, history))
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
    model: M,
    x: MatRef<'_, f64>,
    targets: TargetsRef<'_>,
    solver: &dyn Solver,
    state: State,
    stopping: &Stopping,
    every_epochs: u64,
    ctx: &RunContext,
    bar: &ProgressBar,
    label: &str,
) -> Result<(Trained<M>, History), ExperimentError> {
    let ck_path = ctx.checkpoint_path(label)?;
    let mut problem =
        TrainingProblem::new(model, x, targets).stage(|| format!("{label}: training problem"))?;
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
        (state, History::new())
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
        let report = match plres_optim::run_in_place(
            &mut problem,
            solver,
            &mut state,
            &seg,
            &mut [&mut part, &mut progress],
        ) {
            Ok(r) => r,
            Err(source @ plres_optim::OptimError::Diverged { .. }) => {
                append(&mut history, part);
                return Err(ExperimentError::Diverged {
                    label: label.to_owned(),
                    history: Box::new(history),
                    source,
                });
            }
            Err(e) => return Err(e).stage(|| format!("training {label}")),
        };
        append(&mut history, part);
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
    let out = train(
        model,
        x,
        TargetsRef::Regression(y),
        &gd,
        state,
        &Stopping::iterations(iterations),
        extra,
        &bar,
        label,
    )?;
    bar.finish_and_clear();
    Ok(out)
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

/// The powers of two from `lo` to `hi` inclusive (`lo`, `hi` powers of two).
pub fn powers_of_two(lo: usize, hi: usize) -> Vec<usize> {
    let mut v = Vec::new();
    let mut p = lo.max(1);
    while p <= hi {
        v.push(p);
        p *= 2;
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
