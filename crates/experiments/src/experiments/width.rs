//! Experiment 2, `width`: the expressivity transition at `p = N`.
//!
//! LinearResNets of widths `p` from `N/8` to `8N` (powers of two) over Gaussian random
//! Fourier features are trained the same way (gradient descent in the `L²` metric from
//! `θ = 0`) on the same separated data. Below `p = N` the `N×N` features Gram has rank
//! `≤ p`, so `λ_k = 0` at every layer and the PL certificate is void (docs/theory.md §5,
//! "Necessity"); above it `λ_k > 0` and the certificate holds. The reference study's
//! second figure claims narrower residuals fail to train; plres measures it.
//!
//! What is measured below `p = N` is reported, not assumed: the final loss keeps falling
//! smoothly through `p = N` (no break), narrow runs still decay at a linear-looking rate
//! the theory does not explain, and `max_t L_{t+1}/L_t` (above 1: GD at this step spikes)
//! is in `sweep.csv` and summary.json.
//!
//! Checks: the headline claim at every width, the certified decay (the observed per-step
//! rate is at most the product of the certified rates `1 − cημ_cert(θ_t)` along the run,
//! [`super::pl_certificate::certified_decay_report`]; tolerance: rounding), for the worst
//! feature draw — VACUOUS for `p < N` (`μ_cert = 0`: the certificate is void); `ρ ≥ μ_cert`
//! at the final iterate (a theorem at any `θ`; VACUOUS for `p < N`). `λ_min = 0` for
//! `p < N` (rank `≤ p`) and `λ_min > 0` above rounding for `p ≥ N` (probability one) are
//! shown in the figures, not checked: they restate the configuration.

use faer::Mat;
use plres_resnet::Trainable as _;
use plres_theory::expressivity::linear_expressivity;
use plres_theory::pl::{LinearCertifier, MonitorConfig};

use super::pl_certificate::{LossRounding, certified_decay_report};
use serde::{Deserialize, Serialize};

use super::common::{
    BallProblem, Descent, MAX_DEPTH, MAX_REPEATS, MAX_STEPS, MAX_WIDTH, euler_resnet,
    monitored_gradient_descent, require, require_range, require_step,
};
use crate::error::{ExperimentError, ResultExt};
use crate::plot::{Plot, Series, Style, mean_std};
use crate::registry::{Experiment, ExperimentConfig, Size};
use crate::row;
use crate::run::{RunContext, RunOutput};
use crate::table::{ColumnType, Table};

/// The `width` experiment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Width;

/// Configuration of [`Width`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WidthConfig {
    /// The points and the kernel bandwidth (`n`, `dim`, `radius`, `delta`, `sigma` at the
    /// top level of the JSON).
    #[serde(flatten)]
    pub problem: BallProblem,
    /// Depth `L`.
    pub depth: usize,
    /// Smallest width is `N / 2^octaves_below`.
    pub octaves_below: u32,
    /// Largest width is `N · 2^octaves_above`.
    pub octaves_above: u32,
    /// Independent feature draws per width.
    pub seeds: usize,
    /// Step `η` of gradient descent in the `L²` metric.
    pub learning_rate: f64,
    /// Number of gradient steps.
    pub iterations: u64,
}

impl WidthConfig {
    /// The widths of the sweep (validated configurations: `octaves_below < usize::BITS`
    /// and [`WidthConfig::max_width`] is some).
    pub fn widths(&self) -> Vec<usize> {
        let n = self.problem.n;
        let lo = n.checked_shr(self.octaves_below).unwrap_or(0).max(1);
        super::common::powers_of_two(lo, self.max_width().unwrap_or(0))
    }

    /// The largest width `N · 2^octaves_above`, `None` when it overflows `usize`.
    pub fn max_width(&self) -> Option<usize> {
        1usize
            .checked_shl(self.octaves_above)
            .and_then(|f| self.problem.n.checked_mul(f))
    }
}

impl ExperimentConfig for WidthConfig {
    fn for_size(size: Size) -> Self {
        let (n, seeds, iterations) = match size {
            Size::Smoke => (16, 1, 100),
            Size::Default => (32, 3, 400),
            Size::Full => (64, 5, 2000),
        };
        Self {
            problem: BallProblem::three_d(n),
            depth: 8,
            octaves_below: 3,
            octaves_above: 3,
            seeds,
            learning_rate: 1.0,
            iterations,
        }
    }

    fn validate(&self) -> Result<(), String> {
        self.problem.validate()?;
        require(
            self.problem.n.is_power_of_two(),
            "n",
            self.problem.n,
            "a power of two ≥ 2",
        )?;
        require_range("depth", self.depth, 1, MAX_DEPTH)?;
        require_range("octaves_below", self.octaves_below, 0, usize::BITS - 1)?;
        require(
            self.max_width().is_some_and(|p| p <= MAX_WIDTH),
            "octaves_above",
            self.octaves_above,
            &format!("N · 2^octaves_above ≤ {MAX_WIDTH}"),
        )?;
        require_range("seeds", self.seeds, 1, MAX_REPEATS)?;
        require_range("iterations", self.iterations, 1, MAX_STEPS)?;
        require_step(self.learning_rate)
    }
}

struct Trained {
    final_loss: f64,
    lambda_init: f64,
    trace_init: f64,
    lambda_final: f64,
    losses: Vec<f64>,
    /// `max_t L_{t+1}/L_t` (above 1: a step raised the loss).
    max_increase: f64,
    /// The certified decay along the run ([`certified_decay_report`]).
    decay: crate::CheckReport,
    rho: f64,
    mu_cert: f64,
    pl_check: crate::CheckReport,
}

impl Experiment for Width {
    type Config = WidthConfig;

    fn name(&self) -> &'static str {
        "width"
    }

    fn description(&self) -> &'static str {
        "Width sweep p = N/8 … 8N: below p = N the features Gram is singular (λ_k = 0, the \
         certificate is void) yet GD still lowers the loss; from p = N on λ_k > 0 and the loss \
         decays at least at the certified rate."
    }

    fn run(&self, c: &WidthConfig, ctx: &RunContext) -> Result<RunOutput, ExperimentError> {
        let (metrics, sweep, results) = train_sweep(c, ctx)?;
        let mut out = RunOutput::new(metrics);
        out.table("sweep", sweep);
        let mean_loss = plots(c, &results, &mut out);
        checks(c, &results, &mut out);
        values(c, &mean_loss, &mut out);
        let spikes: Vec<f64> = results
            .iter()
            .map(|r| r.iter().map(|t| t.max_increase).fold(0.0, f64::max))
            .collect();
        out.value("max_loss_increase", serde_json::json!(spikes));
        Ok(out)
    }
}

/// Set-up and training: the separated data, then every width × feature draw trained by
/// gradient descent ([`train_one`]); the per-iteration and per-run tables.
fn train_sweep(
    c: &WidthConfig,
    ctx: &RunContext,
) -> Result<(Table, Table, Vec<Vec<Trained>>), ExperimentError> {
    let data = c.problem.draw(ctx)?;
    let y = data.y.to_matrix();
    let widths = c.widths();
    let mut metrics = Table::new(&[
        ("width", ColumnType::Int),
        ("seed", ColumnType::Int),
        ("iteration", ColumnType::Int),
        ("loss", ColumnType::Float),
    ]);
    let mut sweep = Table::new(&[
        ("width", ColumnType::Int),
        ("seed", ColumnType::Int),
        ("final_loss", ColumnType::Float),
        ("lambda_min_initial", ColumnType::Float),
        ("lambda_min_final", ColumnType::Float),
        ("rho_final", ColumnType::Float),
        ("mu_cert_final", ColumnType::Float),
        ("max_loss_increase", ColumnType::Float),
        ("certified_rate", ColumnType::Float),
        ("observed_rate", ColumnType::Float),
    ]);
    let mut results: Vec<Vec<Trained>> = Vec::new();
    for (wi, &p) in widths.iter().enumerate() {
        let mut per_seed = Vec::new();
        for s in 0..c.seeds {
            let stream = 1000 + (wi * c.seeds + s) as u64;
            let t = train_one(c, ctx, &data.x, &y, p, stream)?;
            for (i, l) in t.losses.iter().enumerate() {
                metrics.push(row![p, s, i, *l])?;
            }
            sweep.push(row![
                p,
                s,
                t.final_loss,
                t.lambda_init,
                t.lambda_final,
                t.rho,
                t.mu_cert,
                t.max_increase,
                t.decay.predicted,
                t.decay.measured
            ])?;
            tracing::info!(
                p,
                seed = s,
                final_loss = t.final_loss,
                lambda = t.lambda_init,
                "trained"
            );
            per_seed.push(t);
        }
        results.push(per_seed);
    }

    Ok((metrics, sweep, results))
}

/// The figures: final loss and `λ_min` against the width, the training curves. Returns the
/// mean final loss of every width.
fn plots(c: &WidthConfig, results: &[Vec<Trained>], out: &mut RunOutput) -> Vec<f64> {
    let widths = c.widths();
    let ps: Vec<f64> = widths.iter().map(|&p| p as f64).collect();
    let runs_of = |f: fn(&Trained) -> f64| -> Vec<Vec<f64>> {
        (0..c.seeds)
            .map(|s| results.iter().map(|r| f(&r[s])).collect())
            .collect()
    };
    let final_losses = runs_of(|t| t.final_loss);
    let (mean_loss, _) = mean_std(ps.len(), &final_losses);
    let n_line = |lo: f64, hi: f64| {
        Series::with_style(
            format!("p = N = {}", c.problem.n),
            vec![c.problem.n as f64, c.problem.n as f64],
            vec![lo, hi],
            Style::Dashed,
        )
    };
    let positive: Vec<f64> = mean_loss.iter().copied().filter(|x| *x > 0.0).collect();
    let lo = positive.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = positive.iter().copied().fold(0.0, f64::max);
    out.figure(
        "final-loss",
        format!(
            "Final training loss after {} gradient steps against the width p (mean ± std over {} \
             feature draws): the loss falls smoothly through p = N; below it the certificate is void.",
            c.iterations, c.seeds
        ),
        Plot::new(
            format!("Final loss against width (N = {}, L = {})", c.problem.n, c.depth),
            "width p",
            "final loss",
        )
        .log2_x()
        .log_y()
        .with(Series::mean_std("final loss", ps.clone(), &final_losses))
        .with(n_line(lo, hi)),
    );
    // λ_min below the rounding floor is drawn at the floor
    let floor: Vec<f64> = results
        .iter()
        .map(|r| {
            let tr = r.iter().map(|t| t.trace_init).fold(0.0, f64::max);
            c.problem.n as f64 * f64::EPSILON * tr
        })
        .collect();
    // the mean over the draws, drawn at the floor where below it
    let floored_mean = |f: fn(&Trained) -> f64| -> Vec<f64> {
        let (mean, _) = mean_std(ps.len(), &runs_of(f));
        mean.iter().zip(&floor).map(|(l, fl)| l.max(*fl)).collect()
    };
    let lam_drawn = floored_mean(|t| t.lambda_init);
    let lam_fin_drawn = floored_mean(|t| t.lambda_final);
    let top = lam_drawn.iter().copied().fold(0.0, f64::max);
    let bottom = floor.iter().copied().fold(f64::INFINITY, f64::min);
    out.figure(
        "lambda-min",
        "min_k λ_min(Φ_kΦ_kᵀ) at θ = 0 and after training against the width (values below the \
         rounding floor N·eps·tr K drawn at the floor): zero for p < N, positive for p ≥ N.",
        Plot::new(
            "Smallest Gram eigenvalue against width",
            "width p",
            "min_k λ_k",
        )
        .log2_x()
        .log_y()
        .with(Series::with_style(
            "at θ = 0",
            ps.clone(),
            lam_drawn,
            Style::LineAndPoints,
        ))
        .with(Series::with_style(
            "after training",
            ps.clone(),
            lam_fin_drawn,
            Style::LineAndPoints,
        ))
        .with(Series::with_style(
            "rounding floor N·eps·tr K",
            ps.clone(),
            floor,
            Style::Dashed,
        ))
        .with(n_line(bottom, top)),
    );
    let mut curves = Plot::new("Training curves (first draw)", "iteration", "loss").log_y();
    for (r, &p) in results.iter().zip(&widths) {
        let x: Vec<f64> = (0..r[0].losses.len()).map(|i| i as f64).collect();
        curves = curves.with(Series::line(format!("p = {p}"), x, r[0].losses.clone()));
    }
    out.figure(
        "curves",
        "Training curves of every width (first feature draw).",
        curves,
    );

    mean_loss
}

/// The checks of the width figure: the PL certificate at the final iterate of every
/// width (the worst draw); vacuous below `p = N`.
fn checks(c: &WidthConfig, results: &[Vec<Trained>], out: &mut RunOutput) {
    let widths = c.widths();
    for (r, &p) in results.iter().zip(&widths) {
        let worst = r
            .iter()
            .min_by(|a, b| (a.rho - a.mu_cert).total_cmp(&(b.rho - b.mu_cert)))
            .expect("at least one seed");
        let mut rep = worst.pl_check.clone();
        rep.claim = format!("p = {p}, final iterate: {}", rep.claim);
        out.check(rep);
        out.check(headline_report(p, r));
    }
}

/// The headline claim at width `p` (docs/theory.md §5 Convergence): GD decays at least at
/// the rate the certificates along its run promise ([`certified_decay_report`]), for the
/// feature draw whose run is closest to violating it (largest observed/certified ratio);
/// VACUOUS below `p = N`, where every certificate is 0.
fn headline_report(p: usize, runs: &[Trained]) -> crate::CheckReport {
    let worst = runs
        .iter()
        .max_by(|a, b| {
            let ratio = |t: &Trained| t.decay.measured / t.decay.predicted;
            ratio(a).total_cmp(&ratio(b))
        })
        .expect("at least one seed");
    let mut rep = worst.decay.clone();
    rep.claim = format!("p = {p}: {}", rep.claim);
    rep
}

/// The summary values: the widths, the mean final losses, the best narrow and the worst
/// wide final loss.
fn values(c: &WidthConfig, mean_loss: &[f64], out: &mut RunOutput) {
    let widths = c.widths();
    let narrow: Vec<f64> = widths
        .iter()
        .zip(mean_loss)
        .filter(|(p, _)| **p < c.problem.n)
        .map(|(_, l)| *l)
        .collect();
    let wide: Vec<f64> = widths
        .iter()
        .zip(mean_loss)
        .filter(|(p, _)| **p > c.problem.n)
        .map(|(_, l)| *l)
        .collect();
    out.value("n", c.problem.n as u64)
        .value("widths", serde_json::json!(widths))
        .value("mean_final_loss", serde_json::json!(mean_loss))
        .value(
            "best_final_loss_narrow",
            narrow.iter().copied().fold(f64::INFINITY, f64::min),
        )
        .value(
            "worst_final_loss_wide",
            wide.iter().copied().fold(0.0, f64::max),
        );
}

fn train_one(
    c: &WidthConfig,
    ctx: &RunContext,
    x: &Mat<f64>,
    y: &Mat<f64>,
    p: usize,
    stream: u64,
) -> Result<Trained, ExperimentError> {
    let features = c.problem.features(p, &mut ctx.rng(stream))?;
    let model = euler_resnet(features, c.depth)?;
    let init =
        linear_expressivity(&model, x.as_ref()).stage(|| format!("expressivity, p = {p}"))?;
    let descent = Descent {
        x,
        y,
        eta: c.learning_rate,
        iterations: c.iterations,
    };
    let (plres_resnet::Trained { model, outcome }, history, monitor) =
        monitored_gradient_descent(model, descent, MonitorConfig::default(), ctx, p)?;
    let losses = history.losses();
    // the monitor certifies the iterates 0 … T−1 it observes; the decay uses those
    let mu_cert: Vec<f64> = monitor.rows().iter().map(|r| r.mu_cert).collect();
    let decay = certified_decay_report(
        &losses,
        &mu_cert,
        c.learning_rate,
        monitor.decrease_constant(),
        LossRounding::of(y, p, c.depth),
    );
    let max_increase = losses
        .windows(2)
        .map(|w| w[1] / w[0])
        .fold(0.0f64, f64::max);
    let fin =
        linear_expressivity(&model, x.as_ref()).stage(|| format!("final expressivity, p = {p}"))?;
    let mut cert =
        LinearCertifier::new(&model, x.nrows()).stage(|| format!("certifier, p = {p}"))?;
    let snap = cert
        .evaluate(&model, model.params(), x.as_ref(), y.as_ref())
        .stage(|| format!("certificate, p = {p}"))?;
    let pl_check = snap
        .reports()
        .into_iter()
        .find(|r| r.claim.starts_with("PL certificate"))
        .expect("an Euler snapshot reports ρ ≥ μ_cert");
    Ok(Trained {
        final_loss: outcome.report.final_loss,
        lambda_init: init.lambda_min(),
        trace_init: init.trace.iter().copied().fold(0.0, f64::max),
        lambda_final: fin.lambda_min(),
        max_increase,
        decay,
        losses,
        rho: snap.rho,
        mu_cert: snap.mu(),
        pl_check,
    })
}
