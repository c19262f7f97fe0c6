//! Experiment 7, `lazy`: the lazy regime against width.
//!
//! For widths `p ≥ N`, a LinearResNet (Gaussian RFF) is trained from `θ = 0` by gradient
//! descent in the `L²` metric, with plres-theory's [`Monitor`](plres_theory::pl::Monitor) certifying the iterates.
//! docs/theory.md §7: `‖θ_t − θ₀‖` stays below the path-length bound `2√(L₀/μ)` (with the
//! measured sufficient-decrease constant, `(1/c)·2√(L₀/μ)` for GD), and the Gram
//! matrices along the trajectories move little: the drift of `K_k = Φ_kΦ_kᵀ` between
//! `θ₀` and `θ_T` is measured, and the smallest eigenvalue at `θ_T` is compared with the
//! a-priori lower bound `λ_R` on the ball of radius `R = ‖θ_T − θ₀‖`.
//!
//! Checks per width: `ρ ≥ μ_cert` at every certified iterate; path length `≤` bound;
//! `min_k λ_k(θ_T) ≥ λ_R` where the a-priori bound is not vacuous.
//!
//! The lazy limit is in the initial loss `L₀`, not in `p` (with `√(2/p)` features the Gram
//! drift at a fixed target scale does not shrink with the width: a finding, shown in the
//! width figures). So `L₀` is swept too: at the smallest width the targets' scale `s` is
//! decreased (`L₀ ∝ s²`) and the distance travelled and the Gram drift are fitted against
//! `L₀`: both slopes are `½` (first order in the residual), checked within their 95 %
//! confidence interval.

use faer::{Mat, Par};
use plres_data::{BallTargets, separated_ball};
use plres_kernels::spectral::SymEigen;
use plres_resnet::LinearResNet;
use plres_resnet::Model as _;
use plres_theory::linalg::gram_in_place;
use plres_theory::pl::{FeatureAprioriBound, MonitorConfig, MonitorRow, apriori_bound_features};
use serde::{Deserialize, Serialize};

use super::common::{
    BallProblem, Descent, MAX_DEPTH, MAX_STEPS, certify_final, euler_resnet,
    monitored_gradient_descent, powers_of_two, require, require_range, require_step,
    require_width_grid,
};
use crate::error::{ExperimentError, ResultExt};
use crate::plot::{Plot, Series, Style};
use crate::registry::{Experiment, ExperimentConfig, Size};
use crate::run::{RunContext, RunOutput};
use crate::table::{ColumnType, Table};
use crate::{CheckReport, Relation, row};

/// The `lazy` experiment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Lazy;

/// Configuration of [`Lazy`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LazyConfig {
    /// The points and the kernel bandwidth (`n`, `dim`, `radius`, `delta`, `sigma` at the
    /// top level of the JSON).
    #[serde(flatten)]
    pub problem: BallProblem,
    /// Standard deviation per coordinate of the targets around the inputs,
    /// `y_i = x_i + scale·ξ_i`: small displacements keep the run near initialisation.
    pub target_scale: f64,
    /// Depth `L`.
    pub depth: usize,
    /// Smallest width (a power of two, `≥ N` for the certificate to be non-void).
    pub min_width: usize,
    /// Largest width (a power of two).
    pub max_width: usize,
    /// Step `η` in the `L²` metric.
    pub learning_rate: f64,
    /// Gradient steps.
    pub iterations: u64,
    /// Certify every `k`-th iterate.
    pub certify_every: u64,
    /// Target scales `s` of the `L₀` sweep at the smallest width (`L₀ ∝ s²`: the targets
    /// are the inputs plus `s` times a fixed noise, and the ResNet is the identity at
    /// `θ = 0`), decreasing.
    pub l0_scales: Vec<f64>,
}

impl ExperimentConfig for LazyConfig {
    fn for_size(size: Size) -> Self {
        let (n, max_width, iterations, every) = match size {
            Size::Smoke => (8, 256, 60, 5),
            Size::Default => (24, 4096, 300, 10),
            Size::Full => (48, 16384, 1500, 10),
        };
        Self {
            problem: BallProblem::three_d(n),
            target_scale: 0.1,
            depth: 8,
            min_width: (2 * n).next_power_of_two(),
            max_width,
            learning_rate: 1.0,
            iterations,
            certify_every: every,
            l0_scales: vec![0.02, 0.01, 0.005, 0.0025],
        }
    }

    fn validate(&self) -> Result<(), String> {
        self.problem.validate()?;
        require_range("depth", self.depth, 1, MAX_DEPTH)?;
        require_range("iterations", self.iterations, 1, MAX_STEPS)?;
        require_range("certify_every", self.certify_every, 1, MAX_STEPS)?;
        require_width_grid(self.min_width, self.max_width, 0)?;
        require_step(self.learning_rate)?;
        require(
            self.l0_scales.len() >= 3
                && self.l0_scales.iter().all(|s| *s > 0.0 && s.is_finite())
                && self.l0_scales.windows(2).all(|w| w[1] < w[0]),
            "l0_scales",
            format!("{:?}", self.l0_scales),
            "at least three finite scales > 0, decreasing",
        )?;
        require(
            self.target_scale >= 0.0 && self.target_scale.is_finite(),
            "target_scale",
            self.target_scale,
            "a finite scale ≥ 0",
        )
    }
}

/// The features Grams `Φ_kΦ_kᵀ` at the states `X^0..X^L` of `model` on `x`.
fn grams(model: &LinearResNet, x: &Mat<f64>) -> Result<Vec<Mat<f64>>, ExperimentError> {
    let traj = model
        .forward_trajectory(x.as_ref())
        .stage(|| "forward trajectory".into())?;
    let n = x.nrows();
    let mut phi = Mat::<f64>::zeros(n, model.width());
    Ok(traj
        .states
        .iter()
        .map(|s| {
            model.features().apply_in_place(s.as_ref(), phi.as_mut());
            let mut g = Mat::<f64>::zeros(n, n);
            gram_in_place(phi.as_ref(), g.as_mut(), Par::Seq);
            g
        })
        .collect())
}

/// The per-iteration table of [`train_width`]: one row per recorded iterate of one width.
fn trajectory_table() -> Table {
    Table::new(&[
        ("width", ColumnType::Int),
        ("iteration", ColumnType::Int),
        ("loss", ColumnType::Float),
        ("rho", ColumnType::Float),
        ("mu_cert", ColumnType::Float),
        ("lambda_min", ColumnType::Float),
        ("distance", ColumnType::Float),
        ("path_length", ColumnType::Float),
        ("path_bound", ColumnType::Float),
    ])
}

impl Experiment for Lazy {
    type Config = LazyConfig;

    fn name(&self) -> &'static str {
        "lazy"
    }

    fn description(&self) -> &'static str {
        "The lazy regime against width: trained from θ = 0 to targets near the inputs, the \
         parameters travel less than 2√(L₀/μ), uniformly in p, and the Gram matrices along the \
         trajectories move little."
    }

    fn run(&self, c: &LazyConfig, ctx: &RunContext) -> Result<RunOutput, ExperimentError> {
        let data = draw(c, ctx, c.target_scale)?;
        let x = &data.x;
        let y = data.y.to_matrix();
        let widths = powers_of_two(c.min_width, c.max_width);
        let mut metrics = trajectory_table();
        let mut sweep = Table::new(&[
            ("width", ColumnType::Int),
            ("final_loss", ColumnType::Float),
            ("distance", ColumnType::Float),
            ("path_length", ColumnType::Float),
            ("path_bound", ColumnType::Float),
            ("gram_drift", ColumnType::Float),
            ("lambda_min_initial", ColumnType::Float),
            ("lambda_min_final", ColumnType::Float),
            ("apriori_lambda", ColumnType::Float),
        ]);
        let mut runs = Vec::with_capacity(widths.len());
        for (wi, &p) in widths.iter().enumerate() {
            runs.push(train_width(c, ctx, x, &y, wi, p, &mut metrics)?);
        }
        for r in &runs {
            sweep.push(row![
                r.p,
                r.last.loss,
                r.last.distance,
                r.path_length,
                r.last.path_bound,
                r.rel_drift,
                r.lam0,
                r.lamt,
                r.apriori.lambda_star
            ])?;
        }
        let mut out = RunOutput::new(metrics);
        out.table("sweep", sweep);
        checks(c, &runs, &mut out);
        l0_sweep(c, ctx, &mut out)?;
        plots(c, &widths, &runs, &mut out);
        let dist: Vec<f64> = runs.iter().map(|r| r.last.distance).collect();
        let bound: Vec<f64> = runs.iter().map(|r| r.last.path_bound).collect();
        let drift: Vec<f64> = runs.iter().map(|r| r.rel_drift).collect();
        out.value("widths", serde_json::json!(widths))
            .value("distance", serde_json::json!(dist))
            .value("path_bound", serde_json::json!(bound))
            .value("gram_drift", serde_json::json!(drift));
        Ok(out)
    }
}

/// What one width's run leaves for the table, the checks and the figures.
struct WidthRun {
    p: usize,
    /// `L(θ₀)`.
    l0: f64,
    /// The monitor's row of the final iterate.
    last: MonitorRow,
    path_length: f64,
    /// The monitor's checks along the trajectory.
    reports: Vec<CheckReport>,
    /// `max_k ‖K_k(θ_T) − K_k(θ₀)‖_F / ‖K_k(θ₀)‖_F`.
    rel_drift: f64,
    /// `min_k λ_k` at `θ₀` and `θ_T`.
    lam0: f64,
    lamt: f64,
    /// The a-priori bound (`λ_R` and its parts) on the ball of radius `‖θ_T − θ₀‖`.
    apriori: FeatureAprioriBound,
    /// `‖K_0(θ₀)‖_F`, the scale of the rounding of the λ comparison.
    gram_scale: f64,
}

/// Training one width under the PL monitor (every `certify_every` iterates and the final
/// one), with its rows of the per-iterate table, the Gram drift and the a-priori bound.
fn train_width(
    c: &LazyConfig,
    ctx: &RunContext,
    x: &Mat<f64>,
    y: &Mat<f64>,
    wi: usize,
    p: usize,
    metrics: &mut Table,
) -> Result<WidthRun, ExperimentError> {
    let features = c.problem.features(p, &mut ctx.rng(100 + wi as u64))?;
    let model = euler_resnet(features, c.depth)?;
    let probe = model.clone();
    let monitor_config = MonitorConfig {
        every: c.certify_every,
        ..Default::default()
    };
    let descent = Descent {
        x,
        y,
        eta: c.learning_rate,
        iterations: c.iterations,
    };
    let (
        plres_resnet::Trained {
            model: trained,
            outcome,
        },
        _,
        mut monitor,
    ) = monitored_gradient_descent(model, descent, monitor_config, ctx, p)?;
    certify_final(&mut monitor, c.iterations, outcome.state.params())
        .stage(|| format!("certifying the final iterate, p = {p}"))?;
    for r in monitor.rows() {
        metrics.push(row![
            p,
            r.iteration,
            r.loss,
            r.rho,
            r.mu_cert,
            r.lambda_min,
            r.distance,
            r.path_length,
            r.path_bound
        ])?;
    }
    let last = *monitor
        .rows()
        .last()
        .expect("the final iterate is certified");
    let k0 = grams(&probe, x)?;
    let kt = grams(&trained, x)?;
    let rel_drift = k0
        .iter()
        .zip(&kt)
        .map(|(a, b)| (b - a).norm_l2() / a.norm_l2())
        .fold(0.0, f64::max);
    let mut eig = SymEigen::new(c.problem.n, Par::Seq);
    let mut lam_min = |ks: &[Mat<f64>]| -> Result<f64, ExperimentError> {
        let mut m = f64::INFINITY;
        for k in ks {
            m = m.min(eig.lambda_min(k.as_ref()).stage(|| "λ_min".into())?);
        }
        Ok(m)
    };
    let lam0 = lam_min(&k0)?;
    let lamt = lam_min(&kt)?;
    let apriori = apriori_bound_features(&probe, x.as_ref(), last.distance)
        .stage(|| format!("a-priori bound, p = {p}"))?;
    tracing::info!(p, distance = last.distance, drift = rel_drift, "width done");
    Ok(WidthRun {
        p,
        l0: monitor.rows().first().map_or(f64::NAN, |r| r.loss),
        last,
        path_length: monitor.path_length(),
        reports: monitor.reports(),
        rel_drift,
        lam0,
        lamt,
        apriori,
        gram_scale: k0[0].norm_l2(),
    })
}

/// The checks of the lazy-regime figure, width by width: the monitor's (the PL inequality
/// along the trajectory, the distance within the flow bound) and `min_k λ_k(θ_T) ≥ λ_R`.
fn checks(c: &LazyConfig, runs: &[WidthRun], out: &mut RunOutput) {
    for r in runs {
        let p = r.p;
        for mut rep in r.reports.clone() {
            rep.claim = format!("p = {p}: {}", rep.claim);
            out.check(rep);
        }
        let claim = format!(
            "p = {p}: min_k λ_k(θ_T) ≥ λ_R, the a-priori bound on the ball R = ‖θ_T − θ₀‖ = {:.3}",
            r.last.distance
        );
        let source = "docs/theory.md §5 A-priori bound, §7 Lazy regime";
        if r.apriori.lambda_star > 0.0 {
            out.check(apriori_lambda_report(
                claim,
                r.lamt,
                r.apriori.lambda_star,
                c.problem.n,
                r.gram_scale,
            ));
        } else {
            out.check(CheckReport::vacuous(
                claim,
                source,
                r.lamt,
                0.0,
                Relation::AtLeast,
                format!(
                    "λ_R = (√λ₀ − κ_p E)₊² = 0: on the ball the run travelled the feature drift \
                     κ_p E = {:.3e} exceeds the separation √λ₀ = {:.3e} of the N = {} samples",
                    r.apriori.kappa * r.apriori.drift,
                    r.apriori.lambda0.sqrt(),
                    c.problem.n
                ),
            ));
        }
    }
}

/// The figures: distance and path length against the flow bound, Gram drift and `λ_min`,
/// against the width.
fn plots(c: &LazyConfig, widths: &[usize], runs: &[WidthRun], out: &mut RunOutput) {
    let dist: Vec<f64> = runs.iter().map(|r| r.last.distance).collect();
    let path: Vec<f64> = runs.iter().map(|r| r.path_length).collect();
    let bound: Vec<f64> = runs.iter().map(|r| r.last.path_bound).collect();
    let drift: Vec<f64> = runs.iter().map(|r| r.rel_drift).collect();
    let lam0s: Vec<f64> = runs.iter().map(|r| r.lam0).collect();
    let lamts: Vec<f64> = runs.iter().map(|r| r.lamt).collect();
    let ps: Vec<f64> = widths.iter().map(|&p| p as f64).collect();
    let against_p =
        |name: &str, ys: Vec<f64>, style| Series::with_style(name, ps.clone(), ys, style);
    out.figure(
        "distance",
        format!(
            "Distance ‖θ_T − θ₀‖ and path length after {} steps, against the flow bound \
             2√(L₀/μ_min), for every width: bounded uniformly in p.",
            c.iterations
        ),
        Plot::new("Distance travelled against width", "width p", "L² norm")
            .log2_x()
            .log_y()
            .with(against_p("‖θ_T − θ₀‖", dist.clone(), Style::LineAndPoints))
            .with(against_p("path length", path.clone(), Style::LineAndPoints))
            .with(against_p("2√(L₀/μ_min)", bound.clone(), Style::Dashed)),
    );
    out.figure(
        "gram-drift",
        "Relative drift max_k ‖K_k(θ_T) − K_k(θ₀)‖_F/‖K_k(θ₀)‖_F of the Gram matrices along the \
         trajectories, and min_k λ_k at θ₀ and θ_T, against the width.",
        Plot::new(
            "Gram drift along the trajectories against width",
            "width p",
            "value",
        )
        .log2_x()
        .log_y()
        .with(against_p(
            "relative Gram drift",
            drift.clone(),
            Style::LineAndPoints,
        ))
        .with(against_p("min_k λ_k(θ₀)", lam0s, Style::LineAndPoints))
        .with(against_p("min_k λ_k(θ_T)", lamts, Style::LineAndPoints)),
    );
}

/// The separated points with targets `x_i + scale·ξ_i` (the same points and noise `ξ` for
/// every scale: the run's stream 0).
fn draw(
    c: &LazyConfig,
    ctx: &RunContext,
    scale: f64,
) -> Result<plres_data::Dataset, ExperimentError> {
    let mut ball = c.problem.ball();
    ball.targets = BallTargets::Perturbed { scale };
    separated_ball(&ball, &mut ctx.rng(0)).stage(|| "drawing separated points".into())
}

/// The lazy limit is `L₀ → 0` (docs/theory.md §7 Lazy regime): at the smallest width, the
/// same features and points with target scales `s` (`L₀ ∝ s²`); the distance travelled
/// and the Gram drift after the same number of steps, fitted against `L₀` in log-log.
/// Both are linear in the residual at first order (GD on the linearised model is linear in
/// it; the Gram moves at first order in `θ`), so both slopes are `½` ([`l0_slope_report`]).
fn l0_sweep(c: &LazyConfig, ctx: &RunContext, out: &mut RunOutput) -> Result<(), ExperimentError> {
    let mut scratch = trajectory_table();
    let mut table = Table::new(&[
        ("target_scale", ColumnType::Float),
        ("initial_loss", ColumnType::Float),
        ("final_loss", ColumnType::Float),
        ("distance", ColumnType::Float),
        ("path_bound", ColumnType::Float),
        ("gram_drift", ColumnType::Float),
    ]);
    let (mut l0s, mut dists, mut drifts) = (Vec::new(), Vec::new(), Vec::new());
    for &scale in &c.l0_scales {
        let data = draw(c, ctx, scale)?;
        let y = data.y.to_matrix();
        let r = train_width(c, ctx, &data.x, &y, 0, c.min_width, &mut scratch)?;
        table.push(row![
            scale,
            r.l0,
            r.last.loss,
            r.last.distance,
            r.last.path_bound,
            r.rel_drift
        ])?;
        l0s.push(r.l0);
        dists.push(r.last.distance);
        drifts.push(r.rel_drift);
    }
    out.table("l0-sweep", table);
    for (what, stem, ys) in [
        ("distance ‖θ_T − θ₀‖", "l0-distance", &dists),
        ("relative Gram drift", "l0-gram-drift", &drifts),
    ] {
        out.check(l0_slope_report(what, &l0s, ys)?);
        let (plot, _) = crate::plot::scatter_with_fit(
            format!(
                "{what} against L₀ (p = {}, {} steps)",
                c.min_width, c.iterations
            ),
            "initial loss L₀",
            what,
            what,
            &l0s,
            ys,
            Some((0.5, "slope ½")),
        );
        out.figure(
            stem,
            format!(
                "{what} after {} steps against the initial loss L₀ (target scales {:?}), log-log: \
                 the lazy limit L₀ → 0, slope ½.",
                c.iterations, c.l0_scales
            ),
            plot,
        );
    }
    out.value("l0_sweep_initial_loss", serde_json::json!(l0s))
        .value("l0_sweep_distance", serde_json::json!(dists))
        .value("l0_sweep_gram_drift", serde_json::json!(drifts));
    Ok(())
}

/// A lazy-limit quantity (distance travelled, Gram drift) shrinks like `√L₀`: it is linear
/// in the residual scale `s ∝ √L₀` up to `O(s²)`, so its local log-log slopes against `L₀`
/// are `½ + O(√L₀)`; extrapolated to `L₀ = 0` they are `½` within the 95 % confidence
/// interval of the intercept ([`super::common::extrapolated_order_report`], no slack).
///
/// # Errors
/// Non-positive or non-finite values.
pub fn l0_slope_report(
    what: &str,
    l0s: &[f64],
    values: &[f64],
) -> Result<CheckReport, ExperimentError> {
    let (_, rep) = super::common::extrapolated_order_report(
        format!("lazy limit: {what} = O(√L₀) as L₀ → 0"),
        "docs/theory.md §5 path length 2√(L₀/μ), §7 Lazy regime",
        l0s,
        values,
        f64::sqrt,
        0.5,
        Relation::Within,
    )
    .stage(|| format!("fitting {what} against L₀"))?;
    Ok(rep)
}

/// The a-priori lower bound on the Gram eigenvalues on the ball the run travelled
/// (docs/theory.md §5 A-priori bound, §7 Lazy regime): `min_k λ_k(θ_T) ≥ λ_R`, tolerance
/// `4 N eps ‖K‖_F` (the rounding of an `N×N` symmetric eigenvalue of a Gram of that size).
pub fn apriori_lambda_report(
    claim: String,
    lambda_final: f64,
    lambda_bound: f64,
    n: usize,
    gram_scale: f64,
) -> CheckReport {
    CheckReport::new(
        claim,
        "docs/theory.md §5 A-priori bound, §7 Lazy regime",
        lambda_final,
        lambda_bound,
        4.0 * n as f64 * f64::EPSILON * gram_scale,
        Relation::AtLeast,
    )
}
