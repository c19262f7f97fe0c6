//! Experiment 1, `pl-certificate`: the local PL inequality along one training run.
//!
//! A LinearResNet over Gaussian random Fourier features is trained from `θ = 0` by
//! gradient descent in the `L²` metric on `δ`-separated points of a ball with random
//! targets (squared loss). At every iterate plres-theory's [`Monitor`] computes
//! `ρ = ‖G‖²/L` and the certificate `μ_cert` (docs/theory.md §5 item 4); the loss decays
//! linearly and the parameters travel less than the path-length bound.
//!
//! Checks: `ρ ≥ μ_cert` at every iterate; items 1–4 of §5 at the final iterate; the
//! expressivity condition along the initial trajectory; the a-priori certificate on the
//! ball the run stayed in; the sufficient-decrease constant `c ≥ ½` (the step is in the
//! descent-lemma regime `η ≤ 1/β`) and then the observed rate `≤ 1 − ημ/2`; the path
//! length `≤ (1/c)·2√(L₀/μ)`.

use faer::Mat;
use plres_data::{SeparatedBallConfig, separated_ball};
use plres_optim::{History, Outcome};
use plres_resnet::LinearResNet;
use plres_resnet::Trainable as _;
use plres_theory::convergence::{RateFit, fit_linear_rate, rate_report};
use plres_theory::expressivity::{TrajectoryExpressivity, linear_expressivity};
use plres_theory::pl::{
    LinearCertifier, Monitor, MonitorConfig, MonitorRow, apriori_bound_features,
};
use serde::{Deserialize, Serialize};

use super::common::{euler_resnet, gaussian_features, gradient_descent, require};
use crate::error::{ExperimentError, ResultExt};
use crate::plot::{Plot, Series, Style};
use crate::registry::{Experiment, ExperimentConfig, Size};
use crate::run::{RunContext, RunOutput};
use crate::table::{ColumnType, Table};
use crate::{CheckReport, Relation, row};

/// The `pl-certificate` experiment.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlCertificate;

/// Configuration of [`PlCertificate`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlCertificateConfig {
    /// Number of samples `N`.
    pub n: usize,
    /// State dimension `d`.
    pub dim: usize,
    /// Radius of the ball the inputs are drawn in.
    pub radius: f64,
    /// Guaranteed minimum separation `δ₀` of the inputs.
    pub delta: f64,
    /// Bandwidth `σ` of the Gaussian kernel.
    pub sigma: f64,
    /// Width `p` (number of random Fourier features).
    pub width: usize,
    /// Depth `L`.
    pub depth: usize,
    /// Step `η` of gradient descent in the `L²` metric.
    pub learning_rate: f64,
    /// Number of gradient steps.
    pub iterations: u64,
    /// Certify every `k`-th iterate (1 = every iterate).
    pub certify_every: u64,
}

impl ExperimentConfig for PlCertificateConfig {
    fn for_size(size: Size) -> Self {
        let (n, width, depth, iterations) = match size {
            Size::Smoke => (12, 96, 6, 120),
            Size::Default => (48, 512, 16, 600),
            Size::Full => (128, 2048, 32, 3000),
        };
        Self {
            n,
            dim: 3,
            radius: 2.0,
            delta: 0.5,
            sigma: 0.75,
            width,
            depth,
            learning_rate: 1.0,
            iterations,
            certify_every: 1,
        }
    }

    fn validate(&self) -> Result<(), String> {
        require(self.n >= 2, "n", self.n, "at least 2 samples")?;
        require(self.dim >= 1, "dim", self.dim, "≥ 1")?;
        require(self.width >= 1, "width", self.width, "≥ 1")?;
        require(self.depth >= 1, "depth", self.depth, "≥ 1")?;
        require(self.iterations >= 2, "iterations", self.iterations, "≥ 2")?;
        require(
            self.certify_every >= 1,
            "certify_every",
            self.certify_every,
            "≥ 1",
        )?;
        require(
            self.learning_rate > 0.0 && self.learning_rate.is_finite(),
            "learning_rate",
            self.learning_rate,
            "a finite step > 0",
        )?;
        require(self.sigma > 0.0, "sigma", self.sigma, "> 0")
    }
}

impl Experiment for PlCertificate {
    type Config = PlCertificateConfig;

    fn name(&self) -> &'static str {
        "pl-certificate"
    }

    fn description(&self) -> &'static str {
        "Train a LinearResNet (Gaussian RFF) on separated data: ρ = ‖G‖²/L stays above the \
         certificate μ_cert at every iterate (the local PL inequality) and the loss decays linearly."
    }

    fn run(&self, c: &PlCertificateConfig, ctx: &RunContext) -> Result<RunOutput, ExperimentError> {
        let mut data_rng = ctx.rng(0);
        let data = separated_ball(
            &SeparatedBallConfig::new(c.n, c.dim, c.radius, c.delta),
            &mut data_rng,
        )
        .stage(|| "drawing separated points".into())?;
        let y = data.y.to_matrix();
        let features = gaussian_features(c.sigma, c.dim, c.width, &mut ctx.rng(1))?;
        let model = euler_resnet(features, c.depth)?;
        let expressivity = linear_expressivity(&model, data.x.as_ref())
            .stage(|| "expressivity at θ = 0".into())?;
        let mut monitor = Monitor::new(
            &model,
            data.x.as_ref(),
            y.as_ref(),
            MonitorConfig {
                every: c.certify_every,
                ..Default::default()
            },
        )
        .stage(|| "setting up the PL monitor".into())?;
        let probe = model.clone();
        let (outcome, history) = train(c, ctx, model, &data.x, &y, &mut monitor)?;
        let rows = monitor.rows();
        let mut out = RunOutput::new(metrics_table(&history, rows)?);
        plots(c, rows, &mut out);
        let checked = checks(
            c,
            &probe,
            &data.x,
            &y,
            &outcome,
            &history,
            &monitor,
            &expressivity,
            &mut out,
        )?;
        let Checked {
            l0,
            mu_min,
            c_dec,
            fit,
        } = checked;
        out.value("initial_loss", l0)
            .value("final_loss", outcome.report.final_loss)
            .value("mu_cert_min", mu_min)
            .value("lambda_min_initial", expressivity.lambda_min())
            .value("observed_rate", fit.rate)
            .value("predicted_rate", 1.0 - c.learning_rate * mu_min / 2.0)
            .value("sufficient_decrease_c", c_dec)
            .value(
                "distance_final",
                rows.last().map_or(f64::NAN, |m| m.distance),
            )
            .value("path_length", monitor.path_length());
        Ok(out)
    }
}

/// Training: gradient descent in the `L²` metric under the PL monitor, the final iterate
/// certified too.
fn train(
    c: &PlCertificateConfig,
    ctx: &RunContext,
    model: LinearResNet,
    x: &Mat<f64>,
    y: &Mat<f64>,
    monitor: &mut Monitor,
) -> Result<(Outcome, History), ExperimentError> {
    let metric = model.metric();
    let (plres_resnet::Trained { outcome, .. }, history) = gradient_descent(
        model,
        x.as_ref(),
        y.as_ref(),
        metric,
        c.learning_rate,
        c.iterations,
        &mut [monitor],
        ctx,
        &format!("GD, p = {}", c.width),
    )?;
    let last = c.iterations;
    if monitor.rows().last().is_none_or(|r| r.iteration != last) {
        monitor
            .certify(last, outcome.state.params())
            .stage(|| "certifying the final iterate".into())?;
    }
    if let Some((it, e)) = monitor.errors().first() {
        return Err(ExperimentError::model(
            format!("certifying iterate {it}"),
            e.clone(),
        ));
    }
    tracing::info!(
        final_loss = outcome.report.final_loss,
        mu_min = monitor.mu_min(),
        "training done"
    );

    Ok((outcome, history))
}

/// `metrics.csv`: every iterate; certificate columns where certified (NaN elsewhere).
fn metrics_table(history: &History, rows: &[MonitorRow]) -> Result<Table, ExperimentError> {
    // metrics.csv: every iterate; certificate columns where certified (NaN elsewhere)
    let mut metrics = Table::new(&[
        ("iteration", ColumnType::Int),
        ("loss", ColumnType::Float),
        ("grad_norm_sq", ColumnType::Float),
        ("rho", ColumnType::Float),
        ("mu_cert", ColumnType::Float),
        ("lambda_min", ColumnType::Float),
        ("a_max", ColumnType::Float),
        ("distance", ColumnType::Float),
        ("path_length", ColumnType::Float),
        ("path_bound", ColumnType::Float),
    ]);
    let mut r = 0;
    for rec in &history.records {
        while r < rows.len() && rows[r].iteration < rec.iteration {
            r += 1;
        }
        let cert = rows.get(r).filter(|m| m.iteration == rec.iteration);
        let f = |g: fn(&plres_theory::pl::MonitorRow) -> f64| cert.map_or(f64::NAN, g);
        metrics.push(row![
            rec.iteration,
            rec.loss,
            rec.grad_norm_sq,
            rec.grad_norm_sq / rec.loss,
            f(|m| m.mu_cert),
            f(|m| m.lambda_min),
            f(|m| m.a_max),
            f(|m| m.distance),
            f(|m| m.path_length),
            f(|m| m.path_bound)
        ])?;
    }

    Ok(metrics)
}

/// The figures: loss, `ρ` and `μ_cert` per iterate; distance and path length against the
/// flow bound.
fn plots(c: &PlCertificateConfig, rows: &[MonitorRow], out: &mut RunOutput) {
    let it: Vec<f64> = rows.iter().map(|m| m.iteration as f64).collect();
    let col = |g: fn(&plres_theory::pl::MonitorRow) -> f64| rows.iter().map(g).collect();
    out.figure(
        "certificate",
        "Loss, ρ = ‖G‖²/L and the certificate μ_cert per iterate (log scale): ρ ≥ μ_cert \
         throughout and the loss decays linearly.",
        Plot::new(
            format!(
                "PL certificate (N = {}, p = {}, L = {})",
                c.n, c.width, c.depth
            ),
            "iteration",
            "value",
        )
        .log_y()
        .with(Series::line("loss L(θ_t)", it.clone(), col(|m| m.loss)))
        .with(Series::line("ρ = ‖G‖²/L", it.clone(), col(|m| m.rho)))
        .with(Series::line("μ_cert", it.clone(), col(|m| m.mu_cert))),
    );
    out.figure(
        "distance",
        "Distance ‖θ_t − θ₀‖ and path length travelled, against the bound 2√(L₀/μ): \
         the lazy regime.",
        Plot::new("Distance travelled", "iteration", "L² norm")
            .log_y()
            .with(Series::line("‖θ_t − θ₀‖", it.clone(), col(|m| m.distance)))
            .with(Series::line(
                "path length",
                it.clone(),
                col(|m| m.path_length),
            ))
            .with(Series::with_style(
                "2√(L₀/μ_min)",
                it.clone(),
                col(|m| m.path_bound),
                Style::Dashed,
            )),
    );
}

/// What the checks measured, for the summary values.
struct Checked {
    l0: f64,
    mu_min: f64,
    c_dec: f64,
    fit: RateFit,
}

/// The checks of the PL-certificate figure: the monitor's along the trajectory, items 1–4
/// of docs/theory.md §5 at the final iterate, the expressivity at `θ = 0`, the a-priori
/// bound, sufficient decrease and the linear rate.
fn checks(
    c: &PlCertificateConfig,
    probe: &LinearResNet,
    x: &Mat<f64>,
    y: &Mat<f64>,
    outcome: &Outcome,
    history: &History,
    monitor: &Monitor,
    expressivity: &TrajectoryExpressivity,
    out: &mut RunOutput,
) -> Result<Checked, ExperimentError> {
    let rows = monitor.rows();
    for rep in monitor.reports() {
        out.check(rep);
    }
    // items 1–4 of docs/theory.md §5 at the final iterate, from a full evaluation (the monitor
    // certifies full-batch iterates on its fast path, without items 1–3)
    let mut certifier = LinearCertifier::new(probe, c.n).stage(|| "certifier".into())?;
    let snap = certifier
        .evaluate(probe, outcome.state.params(), x.as_ref(), y.as_ref())
        .stage(|| "full certificate at the final iterate".into())?;
    for mut rep in snap.reports() {
        rep.claim = format!("final iterate: {}", rep.claim);
        out.check(rep);
    }
    for rep in expressivity.reports() {
        out.check(rep);
    }
    // The a-priori certificate (docs/theory.md §5): on a ball ‖θ‖ ≤ R (θ₀ = 0, so the iterates
    // inside are those with ‖θ_t‖ ≤ R) every μ_cert is at least (2/N) λ_R D_L². Tried
    // on the balls of radius ‖θ_t‖ for a dozen iterates; the worst ratio over the balls
    // where the bound is positive is checked.
    let mut radii: Vec<f64> = rows
        .iter()
        .map(|m| m.distance)
        .filter(|r| *r > 0.0)
        .collect();
    radii.sort_by(f64::total_cmp);
    radii.dedup();
    let picks: Vec<f64> = if radii.len() <= 12 {
        radii.clone()
    } else {
        (0..12).map(|j| radii[j * (radii.len() - 1) / 11]).collect()
    };
    let mut worst: Option<(f64, f64, f64)> = None; // (ratio, R, bound)
    let mut largest_positive = 0.0f64;
    for &r in &picks {
        let b = apriori_bound_features(probe, x.as_ref(), r)
            .stage(|| format!("a-priori bound at R = {r}"))?;
        if b.mu > 0.0 {
            let inside = rows
                .iter()
                .filter(|m| m.distance <= r)
                .map(|m| m.mu_cert)
                .fold(f64::INFINITY, f64::min);
            let ratio = inside / b.mu;
            largest_positive = largest_positive.max(r);
            if worst.is_none_or(|w| ratio < w.0) {
                worst = Some((ratio, r, b.mu));
            }
        }
    }
    let mu_min = monitor.mu_min();
    match worst {
        Some((ratio, r, bound)) => {
            out.check(CheckReport::new(
                format!(
                    "a-priori bound: on each ball ‖θ‖ ≤ R tried (R ≤ {largest_positive:.3}), \
                     min μ_cert(θ_t) ≥ (2/N) λ_R D_L² (worst ratio, at R = {r:.3}, bound {bound:.3e})"
                ),
                "docs/theory.md §5 A-priori bound",
                ratio,
                1.0,
                1e-9,
                Relation::AtLeast,
            ));
        }
        None => {
            tracing::warn!("the a-priori bound is 0 on every ball tried: no check");
        }
    }
    out.value("apriori_largest_radius", largest_positive);
    let c_dec = monitor.decrease_constant();
    out.check(CheckReport::new(
        "sufficient decrease L_{t+1} ≤ L_t − cη‖G_t‖² with c ≥ ½ (η in the descent-lemma regime)",
        "docs/theory.md §5 Convergence (premise η ≤ 1/β)",
        c_dec,
        0.5,
        0.0,
        Relation::AtLeast,
    ));
    let losses: Vec<f64> = history.records.iter().map(|r| r.loss).collect();
    let l0 = losses[0];
    // fit the rate on the iterates above the rounding level of the loss
    let (ts, ls): (Vec<f64>, Vec<f64>) = history
        .records
        .iter()
        .filter(|r| r.loss > 1e-12 * l0)
        .map(|r| (r.iteration as f64, r.loss))
        .unzip();
    let fit = fit_linear_rate(&ts, &ls).stage(|| "fitting the linear rate".into())?;
    out.check(rate_report(&fit, c.learning_rate, mu_min, 3.0));

    Ok(Checked {
        l0,
        mu_min,
        c_dec,
        fit,
    })
}
