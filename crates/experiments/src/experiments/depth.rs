//! Experiment 3, `depth`: the infinite-depth limit.
//!
//! *Training curves.* The same features and data, depths `L = 4 … 128`, gradient descent
//! with the same step `η`: in the `L²([0,1])` metric (`G_k = (1/h) ∂L/∂U_k`, docs/theory.md §4)
//! the curves collapse onto the gradient flow of the neural ODE as `L` grows (the
//! difference of consecutive depths is `O(h)`); with the Euclidean metric of a
//! deep-learning framework the same `η` is an `h`-times smaller step in function space,
//! and deeper networks train ever slower.
//!
//! *Forward convergence orders* (docs/theory.md §7). For a smooth `θ(s) = A + sB` over fixed
//! features, the output of the ResNet of depth `L` integrated by Euler, midpoint, Heun
//! and RK4 converges to the flow of `ẋ = θ(s)(x)` (reference: RK4 at a much larger
//! depth) at orders 1, 2, 2, 4.
//!
//! Checks: the fitted order of the consecutive-depth gap of the `L²` training curves is
//! at least 1; the fitted order of every integrator is at least its classical order
//! ([`order_report`]: the local slopes of consecutive depths, `q + O(h)`, extrapolated
//! linearly to `h = 0`; tolerance the 95 % confidence interval of that intercept, Student's
//! `t` times its standard error, no slack).

use std::sync::Arc;

use faer::Mat;
use plres_optim::Metric;
use plres_resnet::{Init, Integrator, LinearResNet, LinearResNetConfig};
use plres_resnet::{Model as _, Trainable as _};
use plres_rff::FeatureMap;
use plres_theory::limits::IntegratorOrder;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::common::extrapolated_order_report;
use super::common::{
    BallProblem, MAX_DEPTH, MAX_STEPS, MAX_WIDTH, euler_resnet, gradient_descent, require,
    require_all_in_range, require_range, require_step,
};
use crate::error::{ExperimentError, ResultExt};
use crate::plot::{Plot, Scale, Series, Style, scatter_with_fit};
use crate::registry::{Experiment, ExperimentConfig, Size};
use crate::run::{RunContext, RunOutput};
use crate::table::{ColumnType, Table};
use crate::{CheckReport, Relation, row};

/// The `depth` experiment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Depth;

/// Configuration of [`Depth`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DepthConfig {
    /// The points and the kernel bandwidth (`n`, `dim`, `radius`, `delta`, `sigma` at the
    /// top level of the JSON).
    #[serde(flatten)]
    pub problem: BallProblem,
    /// Width `p`.
    pub width: usize,
    /// Depths of the training curves (increasing, each twice the previous).
    pub depths: Vec<usize>,
    /// Step `η` (the same for every depth and both metrics).
    pub learning_rate: f64,
    /// Gradient steps per curve.
    pub iterations: u64,
    /// Depths of the forward-order study.
    pub order_depths: Vec<usize>,
    /// Depth of the RK4 reference solution.
    pub reference_depth: usize,
    /// Standard deviation of the entries of `A` and `B` in `θ(s) = A + sB`.
    pub field_scale: f64,
}

impl ExperimentConfig for DepthConfig {
    fn for_size(size: Size) -> Self {
        let (n, width, depths, iterations, order_depths, reference_depth) = match size {
            Size::Smoke => (
                8,
                64,
                vec![2, 4, 8, 16, 32],
                40,
                vec![8, 16, 32, 64, 128],
                1024,
            ),
            Size::Default => (
                24,
                256,
                vec![4, 8, 16, 32, 64, 128],
                200,
                vec![8, 16, 32, 64, 128, 256],
                2048,
            ),
            Size::Full => (
                64,
                1024,
                vec![4, 8, 16, 32, 64, 128, 256],
                1000,
                vec![8, 16, 32, 64, 128, 256, 512],
                8192,
            ),
        };
        Self {
            problem: BallProblem::three_d(n),
            width,
            depths,
            learning_rate: 1.0,
            iterations,
            order_depths,
            reference_depth,
            field_scale: 1.0,
        }
    }

    fn validate(&self) -> Result<(), String> {
        self.problem.validate()?;
        require_range("width", self.width, 1, MAX_WIDTH)?;
        require_all_in_range("depths", &self.depths, 3, 1, MAX_DEPTH)?;
        require(
            self.depths
                .windows(2)
                .all(|w| Some(w[1]) == w[0].checked_mul(2)),
            "depths",
            format!("{:?}", self.depths),
            "at least three depths, each twice the previous",
        )?;
        require_all_in_range("order_depths", &self.order_depths, 3, 1, MAX_DEPTH)?;
        let max_order = self.order_depths.iter().copied().max().unwrap_or(0);
        require(
            self.reference_depth >= 4 * max_order && self.reference_depth <= MAX_DEPTH,
            "reference_depth",
            self.reference_depth,
            &format!("at least 4× the largest order depth, at most {MAX_DEPTH}"),
        )?;
        require_range("iterations", self.iterations, 1, MAX_STEPS)?;
        require(
            self.field_scale >= 0.0 && self.field_scale.is_finite(),
            "field_scale",
            self.field_scale,
            "finite, ≥ 0",
        )?;
        require_step(self.learning_rate)
    }
}

impl Experiment for Depth {
    type Config = DepthConfig;

    fn name(&self) -> &'static str {
        "depth"
    }

    fn description(&self) -> &'static str {
        "Depth L = 4 … 128: training curves in the L² metric collapse onto one (the neural-ODE \
         limit) while Euclidean ones spread; Euler, midpoint, Heun and RK4 ResNets converge to \
         the flow at orders 1, 2, 2, 4."
    }

    fn run(&self, c: &DepthConfig, ctx: &RunContext) -> Result<RunOutput, ExperimentError> {
        let data = c.problem.draw(ctx)?;
        let y = data.y.to_matrix();
        let features = c.problem.features(c.width, &mut ctx.rng(1))?;
        let (metrics, curves) = train_curves(c, ctx, &data.x, &y, &features)?;
        let mut out = RunOutput::new(metrics);
        curve_plots(c, &curves, &mut out);
        let gap_order = curve_gap_check(c, &curves, &mut out)?;
        let floor = forward_orders(c, ctx, &data.x, &features, &mut out)?;
        out.value("curve_gap_order", gap_order)
            .value("rounding_floor", floor);
        Ok(out)
    }
}

/// Training curves per metric (`l2`, then `euclidean`) and depth.
type Curves = Vec<(&'static str, Vec<Vec<f64>>)>;

/// Training: gradient descent at every depth in the `L²` and the Euclidean metric (same
/// η); the per-iterate table and the loss curves.
fn train_curves(
    c: &DepthConfig,
    ctx: &RunContext,
    x: &Mat<f64>,
    y: &Mat<f64>,
    features: &Arc<dyn FeatureMap>,
) -> Result<(Table, Curves), ExperimentError> {
    // --- training curves, both metrics
    let mut metrics = Table::new(&[
        ("metric", ColumnType::Text),
        ("depth", ColumnType::Int),
        ("iteration", ColumnType::Int),
        ("loss", ColumnType::Float),
        ("grad_norm_sq", ColumnType::Float),
    ]);
    let mut curves: Curves = Vec::new();
    for metric_name in ["l2", "euclidean"] {
        let mut per_depth = Vec::new();
        for &l in &c.depths {
            let model = euler_resnet(features.clone(), l)?;
            let metric = if metric_name == "l2" {
                model.metric()
            } else {
                Metric::euclidean(model.n_params())
            };
            let (_, history) = gradient_descent(
                model,
                x.as_ref(),
                y.as_ref(),
                metric,
                c.learning_rate,
                c.iterations,
                &mut [],
                ctx,
                &format!("GD ({metric_name}), L = {l}"),
            )?;
            for r in &history.records {
                metrics.push(row![metric_name, l, r.iteration, r.loss, r.grad_norm_sq])?;
            }
            per_depth.push(history.losses());
        }
        curves.push((metric_name, per_depth));
    }
    Ok((metrics, curves))
}

/// The figures of the training curves, one per metric.
fn curve_plots(c: &DepthConfig, curves: &Curves, out: &mut RunOutput) {
    for (metric_name, per_depth) in curves {
        let title = if *metric_name == "l2" {
            "Training curves, gradient descent in the L² metric"
        } else {
            "Training curves, Euclidean gradient descent (same η)"
        };
        let mut plot = Plot::new(title, "iteration", "loss").log_y();
        for (l, losses) in c.depths.iter().zip(per_depth) {
            let x = (0..losses.len()).map(|i| i as f64).collect();
            plot = plot.with(Series::line(format!("L = {l}"), x, losses.clone()));
        }
        let caption = if *metric_name == "l2" {
            "Loss per iterate for every depth, GD in the L² metric: the curves collapse onto \
             the neural-ODE limit."
        } else {
            "The same with Euclidean GD and the same η: each step is h times smaller in function \
             space and the curves spread."
        };
        out.figure(format!("curves-{metric_name}"), caption, plot);
    }
}

/// The check of the curves: consecutive-depth gaps of the `L²` curves shrink at first
/// order in `h`; with its figure. Returns the fitted order.
fn curve_gap_check(
    c: &DepthConfig,
    curves: &Curves,
    out: &mut RunOutput,
) -> Result<f64, ExperimentError> {
    // consecutive-depth gaps of the L² curves, relative to L₀
    let l2 = &curves[0].1;
    let l0 = l2[0][0];
    let gaps: Vec<f64> = l2
        .windows(2)
        .map(|w| {
            w[0].iter()
                .zip(&w[1])
                .map(|(a, b)| (a - b).abs() / l0)
                .fold(0.0, f64::max)
        })
        .collect();
    let steps: Vec<f64> = c.depths[..c.depths.len() - 1]
        .iter()
        .map(|&l| 1.0 / l as f64)
        .collect();
    let (fit, report) = curve_gap_report(&steps, &gaps)?;
    out.check(report);
    let (mut plot, _) = scatter_with_fit(
        "Gap between the L² training curves of depths L and 2L",
        "step h = 1/L",
        "max_t |L_t^(L) − L_t^(2L)| / L₀",
        "gap",
        &steps,
        &gaps,
        Some((1.0, "order 1")),
    );
    plot.x_scale = Scale::Log2;
    out.figure(
        "curve-gaps",
        "Largest gap between the L² training curves of consecutive depths against h: first order.",
        plot,
    );

    Ok(fit)
}

/// The forward convergence orders of Euler, midpoint, Heun and RK4 against an RK4
/// reference at a much larger depth: table, one check per integrator, figure. Returns the
/// rounding floor below which errors are excluded from the fits.
fn forward_orders(
    c: &DepthConfig,
    ctx: &RunContext,
    x: &Mat<f64>,
    features: &Arc<dyn FeatureMap>,
    out: &mut RunOutput,
) -> Result<f64, ExperimentError> {
    // --- forward convergence orders
    let (d, p) = (c.problem.dim, c.width);
    let normal = StandardNormal;
    let mut rng = ctx.rng(2);
    let mut a = Mat::<f64>::zeros(d, p);
    let mut b = Mat::<f64>::zeros(d, p);
    for j in 0..p {
        for i in 0..d {
            let za: f64 = normal.sample(&mut rng);
            let zb: f64 = normal.sample(&mut rng);
            a[(i, j)] = c.field_scale * za;
            b[(i, j)] = c.field_scale * zb;
        }
    }
    let forward = |integrator: Integrator, depth: usize| -> Result<Mat<f64>, ExperimentError> {
        let mut net = LinearResNet::new(
            features.clone(),
            LinearResNetConfig {
                depth,
                integrator,
                init: Init::Zero,
            },
        )
        .stage(|| format!("{} ResNet of depth {depth}", integrator.name()))?;
        let h = 1.0 / depth as f64;
        let params = net.params_mut();
        for k in 0..integrator.n_slices(depth) {
            let s = k as f64 * h;
            for i in 0..d {
                for j in 0..p {
                    params[k * d * p + i * p + j] = a[(i, j)] + s * b[(i, j)];
                }
            }
        }
        net.forward(x.as_ref())
            .stage(|| format!("{} forward pass, L = {depth}", integrator.name()))
    };
    let reference = forward(Integrator::Rk4, c.reference_depth)?;
    let ref_norm = reference.norm_l2();
    // errors below this are rounding, not truncation: excluded from the fits
    let floor = 1e3 * f64::EPSILON * ref_norm;
    let mut orders = Table::new(&[
        ("integrator", ColumnType::Text),
        ("depth", ColumnType::Int),
        ("h", ColumnType::Float),
        ("error", ColumnType::Float),
        ("in_fit", ColumnType::Int),
    ]);
    let mut order_plot = Plot::new(
        "Forward convergence of the ResNet to the flow of ẋ = θ(s)(x)",
        "step h = 1/L",
        "‖Z_L − Z_ref‖_F",
    )
    .log2_x()
    .log_y();
    for (integrator, io) in [
        (Integrator::Euler, IntegratorOrder::Euler),
        (Integrator::Midpoint, IntegratorOrder::Midpoint),
        (Integrator::Heun, IntegratorOrder::Heun),
        (Integrator::Rk4, IntegratorOrder::Rk4),
    ] {
        let bar = ctx.progress_bar(
            c.order_depths.len() as u64,
            format!("{} orders", integrator.name()),
        );
        let mut hs = Vec::new();
        let mut errs = Vec::new();
        let (mut fit_h, mut fit_e) = (Vec::new(), Vec::new());
        for &l in &c.order_depths {
            let z = forward(integrator, l)?;
            let err = (&z - &reference).norm_l2();
            let h = 1.0 / l as f64;
            let used = err > floor;
            orders.push(row![integrator.name(), l, h, err, u64::from(used)])?;
            hs.push(h);
            errs.push(err);
            if used {
                fit_h.push(h);
                fit_e.push(err);
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        let (fit, report) = order_report(io, &fit_h, &fit_e)
            .stage(|| format!("fitting the {} order", integrator.name()))?;
        out.check(report);
        out.value(format!("order_{}", integrator.name()), fit);
        order_plot = order_plot.with(Series::with_style(
            format!("{} (extrapolated order {:.2})", integrator.name(), fit),
            hs,
            errs,
            Style::LineAndPoints,
        ));
    }
    out.table("orders", orders);
    out.figure(
        "orders",
        "Error of the Euler, midpoint, Heun and RK4 ResNets against the flow (RK4 reference at a \
         much larger depth), log-log: slopes 1, 2, 2, 4.",
        order_plot,
    );
    Ok(floor)
}

/// The consecutive-depth gaps of the `L²` training curves shrink at first order in
/// `h = 1/L` (docs/theory.md §4, §7): the order extrapolated from the local slopes is at
/// least 1 within its 95 % confidence interval ([`extrapolated_order_report`], the
/// correction to a local order being `O(h)`). Returns the extrapolated order.
///
/// # Errors
/// Non-positive or non-finite gaps.
pub fn curve_gap_report(
    steps: &[f64],
    gaps: &[f64],
) -> Result<(f64, CheckReport), ExperimentError> {
    extrapolated_order_report(
        "L² training curves converge as L → ∞ at O(h): order of max_t |L_t^(L) − L_t^(2L)|/L₀ ≥ 1",
        "docs/theory.md §4 (depth-independent limit), §7 Depth",
        steps,
        gaps,
        |h| h,
        1.0,
        Relation::AtLeast,
    )
    .stage(|| "fitting the curve gaps".into())
}

/// The forward error of an integrator is `O(h^q)`: the order extrapolated from the local
/// slopes (`q + O(h)`) is at least its classical order `q` within its 95 % confidence
/// interval ([`extrapolated_order_report`], no slack: an order-0.75 method fails as Euler).
/// Returns the extrapolated order.
///
/// # Errors
/// Non-positive or non-finite errors.
pub fn order_report(
    io: IntegratorOrder,
    steps: &[f64],
    errors: &[f64],
) -> Result<(f64, CheckReport), plres_theory::TheoryError> {
    extrapolated_order_report(
        format!("{} ResNet → ODE flow at O(h^{})", io.name(), io.order()),
        "docs/theory.md §7 Depth",
        steps,
        errors,
        |h| h,
        io.order(),
        Relation::AtLeast,
    )
}
