//! Experiment 5, `rff-bound`: how many random Fourier features the expressivity condition
//! needs, measured against the two bounds of docs/theory.md §6.
//!
//! For fixed separated points and the Gaussian kernel, a draw of `p` features *fails*
//! when `λ_min(K_p) < λ_min(K)/2`. plres-theory measures the failure frequency over many
//! draws on a grid of widths (with Clopper–Pearson intervals) and computes the width the
//! pointwise (matrix Bernstein) and the uniform (Rahimi–Recht) bounds prescribe for a
//! failure probability `δ`.
//!
//! Checks: each bound asks for at least the empirical width (slack `≥ 1`); at the
//! pointwise width the failure frequency is `≤ δ` (unless the whole interval lies above).

use faer::Mat;
use plres_kernels::KernelSpec;
use plres_theory::rff_bounds::{
    FailureConfig, SlackReport, bound_slack, failure_frequency, failure_report,
};
use serde::{Deserialize, Serialize};

use super::common::{draw_separated, powers_of_two, require};
use crate::error::{ExperimentError, ResultExt};
use crate::plot::{Band, Plot, Series, Style};
use crate::registry::{Experiment, ExperimentConfig, Size};
use crate::run::{RunContext, RunOutput};
use crate::table::{ColumnType, Table};
use crate::{CheckReport, Relation, row};

/// The `rff-bound` experiment.
#[derive(Clone, Copy, Debug, Default)]
pub struct RffBound;

/// Configuration of [`RffBound`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RffBoundConfig {
    /// Number of points `N`.
    pub n: usize,
    /// Dimension `d`.
    pub dim: usize,
    /// Radius of the ball of points.
    pub radius: f64,
    /// Minimum separation of the points.
    pub delta: f64,
    /// Bandwidth `σ` of the Gaussian kernel.
    pub sigma: f64,
    /// Target failure probability `δ` of the bounds.
    pub failure_probability: f64,
    /// Independent feature draws per width.
    pub draws: usize,
    /// Smallest width of the grid (a power of two).
    pub min_width: usize,
    /// Largest width of the grid (a power of two).
    pub max_width: usize,
    /// The failure frequency at the pointwise bound's width is measured only when that
    /// width is at most this.
    pub max_checked_width: usize,
}

impl ExperimentConfig for RffBoundConfig {
    fn for_size(size: Size) -> Self {
        let (n, draws, max_width) = match size {
            Size::Smoke => (8, 40, 1024),
            Size::Default => (16, 200, 8192),
            Size::Full => (32, 1000, 65536),
        };
        Self {
            n,
            dim: 2,
            radius: 2.0,
            delta: 0.6,
            sigma: 0.5,
            failure_probability: 0.1,
            draws,
            min_width: 4,
            max_width,
            max_checked_width: 1 << 17,
        }
    }

    fn validate(&self) -> Result<(), String> {
        require(self.n >= 2, "n", self.n, "≥ 2")?;
        require(self.draws >= 1, "draws", self.draws, "≥ 1")?;
        require(
            self.min_width.is_power_of_two() && self.max_width.is_power_of_two(),
            "min_width/max_width",
            format!("{}/{}", self.min_width, self.max_width),
            "powers of two",
        )?;
        require(
            self.min_width <= self.max_width,
            "min_width",
            self.min_width,
            "≤ max_width",
        )?;
        require(
            self.failure_probability > 0.0 && self.failure_probability < 1.0,
            "failure_probability",
            self.failure_probability,
            "in (0, 1)",
        )?;
        require(self.sigma > 0.0, "sigma", self.sigma, "> 0")
    }
}

impl Experiment for RffBound {
    type Config = RffBoundConfig;

    fn name(&self) -> &'static str {
        "rff-bound"
    }

    fn description(&self) -> &'static str {
        "Empirical probability that p random Fourier features lose half of λ_min(K), against \
         the widths the pointwise (matrix Bernstein) and uniform (Rahimi–Recht) bounds prescribe."
    }

    fn run(&self, c: &RffBoundConfig, ctx: &RunContext) -> Result<RunOutput, ExperimentError> {
        let data = draw_separated(c.n, c.dim, c.radius, c.delta, ctx)?;
        let kernel = KernelSpec::Gaussian { sigma: c.sigma };
        let grid = powers_of_two(c.min_width, c.max_width);
        let cfg = FailureConfig {
            seeds: c.draws,
            ..Default::default()
        };
        let slack = bound_slack(
            &kernel,
            data.x.as_ref(),
            &grid,
            c.failure_probability,
            &cfg,
            &mut ctx.rng(1),
        )
        .stage(|| "measuring failure frequencies".into())?;
        tracing::info!(
            pointwise = slack.pointwise_p,
            uniform = ?slack.uniform_p,
            empirical = ?slack.empirical_p,
            "bounds"
        );

        let mut out = RunOutput::new(metrics_table(&slack)?);
        plots(c, &slack, &mut out);
        checks(c, ctx, &kernel, &data.x, &cfg, &slack, &mut out)?;
        out.value("lambda_min_k", slack.lambda_min)
            .value("norm_k", slack.norm_k)
            .value("diameter", slack.diameter)
            .value("empirical_p", serde_json::json!(slack.empirical_p))
            .value("pointwise_p", slack.pointwise_p as u64)
            .value("uniform_p", serde_json::json!(slack.uniform_p))
            .value("pointwise_slack", slack.pointwise_slack)
            .value("uniform_slack", slack.uniform_slack);
        Ok(out)
    }
}

/// One row per width: failures among the draws, the frequency with its 95% interval,
/// `λ_min` of the RFF Gram and the threshold.
fn metrics_table(slack: &SlackReport) -> Result<Table, ExperimentError> {
    let mut metrics = Table::new(&[
        ("width", ColumnType::Int),
        ("failures", ColumnType::Int),
        ("draws", ColumnType::Int),
        ("frequency", ColumnType::Float),
        ("ci_lower", ColumnType::Float),
        ("ci_upper", ColumnType::Float),
        ("min_lambda_p", ColumnType::Float),
        ("mean_lambda_p", ColumnType::Float),
        ("threshold", ColumnType::Float),
    ]);
    for e in &slack.grid {
        let i = e.interval;
        metrics.push(row![
            e.p,
            i.successes,
            i.trials,
            i.estimate,
            i.lower,
            i.upper,
            e.min_lambda_p,
            e.mean_lambda_p,
            e.threshold
        ])?;
    }
    Ok(metrics)
}

/// The figure: the empirical failure probability against the width, with `δ` and the
/// widths both bounds prescribe.
fn plots(c: &RffBoundConfig, slack: &SlackReport, out: &mut RunOutput) {
    let ps: Vec<f64> = slack.grid.iter().map(|e| e.p as f64).collect();
    let mut freq = Series::with_style(
        "empirical failure frequency (95% CI)",
        ps.clone(),
        slack.grid.iter().map(|e| e.interval.estimate).collect(),
        Style::LineAndPoints,
    );
    freq.band = Some(Band {
        lower: slack.grid.iter().map(|e| e.interval.lower).collect(),
        upper: slack.grid.iter().map(|e| e.interval.upper).collect(),
    });
    let pw = slack.pointwise_p as f64;
    let x_hi = slack
        .uniform_p
        .map_or(pw, |u| u as f64)
        .max(pw)
        .max(*ps.last().expect("a non-empty grid"));
    let mut plot = Plot::new(
        format!(
            "RFF failure probability (N = {}, Gaussian σ = {})",
            c.n, c.sigma
        ),
        "width p",
        "P(λ_min(K_p) < λ_min(K)/2)",
    )
    .log_x()
    .with(freq)
    .with(Series::with_style(
        format!("δ = {}", c.failure_probability),
        vec![ps[0], x_hi],
        vec![c.failure_probability; 2],
        Style::Dashed,
    ))
    .with(Series::with_style(
        format!("pointwise bound p = {}", slack.pointwise_p),
        vec![pw, pw],
        vec![0.0, 1.0],
        Style::Dashed,
    ));
    if let Some(u) = slack.uniform_p {
        plot = plot.with(Series::with_style(
            format!("uniform bound p = {u}"),
            vec![u as f64, u as f64],
            vec![0.0, 1.0],
            Style::Dashed,
        ));
    }
    out.figure(
        "failure",
        "Empirical failure probability of p random Fourier features (Clopper–Pearson 95% \
         band) with the target δ and the widths both bounds prescribe.",
        plot,
    );
}

/// The checks of the RFF-bound figure: the slack of both bounds, and at the pointwise
/// width (when at most `max_checked_width`) a failure frequency below `δ`.
fn checks(
    c: &RffBoundConfig,
    ctx: &RunContext,
    kernel: &KernelSpec,
    x: &Mat<f64>,
    cfg: &FailureConfig,
    slack: &SlackReport,
    out: &mut RunOutput,
) -> Result<(), ExperimentError> {
    for rep in slack.reports() {
        out.check(rep);
    }
    if slack.pointwise_p <= c.max_checked_width {
        let est = failure_frequency(kernel, x.as_ref(), slack.pointwise_p, cfg, &mut ctx.rng(2))
            .stage(|| format!("failure frequency at p = {}", slack.pointwise_p))?;
        out.check(failure_report(
            &est,
            c.failure_probability,
            "pointwise bound",
        ));
        out.value("failure_frequency_at_pointwise_p", est.interval.estimate);
    } else {
        out.check(CheckReport::vacuous(
            format!(
                "failure frequency at the pointwise width p = {} ≤ δ = {}",
                slack.pointwise_p, c.failure_probability
            ),
            "docs/theory.md §6 pointwise",
            f64::NAN,
            c.failure_probability,
            Relation::AtMost,
            format!(
                "the pointwise width p = {} is above the largest width measured ({}): its \
                 failure frequency is not measured",
                slack.pointwise_p, c.max_checked_width
            ),
        ));
    }
    Ok(())
}
