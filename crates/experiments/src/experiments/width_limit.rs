//! Experiment 4, `width-limit`: the RFF ResNet tends to the kernel ResNet as `p → ∞`.
//!
//! The infinite-width network (plres-resnet's `KernelResNet`, docs/theory.md §3.4) and
//! LinearResNets over `p` Gaussian random Fourier features are trained by the same
//! gradient steps in the `L²` metric from `θ = 0`. The trained outputs differ by
//! `O(p^{−1/2})` (Monte Carlo error of the kernel, docs/theory.md §7); so does the Gram matrix of
//! the features at the data.
//!
//! Checks: the fitted log-log slope of the output error against `p`, and that of the
//! Gram error, are `−1/2` within plres-theory's tolerance (3 standard errors + 0.1).

use faer::Mat;
use plres_kernels::KernelSpec;
use plres_resnet::{KernelResNet, TargetsRef};
use plres_resnet::{Model as _, Trainable as _};
use plres_rff::FourierVariant;
use plres_theory::limits::rff_kernel_error_sweep;
use plres_theory::pl::{Looseness, PlSnapshot, TightPl, kernel_snapshot, kernel_tight};
use plres_theory::stats::log_log_fit;
use serde::{Deserialize, Serialize};

use super::common::{
    BallProblem, MAX_DEPTH, MAX_ENTRIES, MAX_REPEATS, MAX_STEPS, euler_resnet, powers_of_two,
    require_product, require_range, require_step, require_width_grid,
};
use crate::error::{ExperimentError, ResultExt};
use crate::plot::{Plot, Scale, Series, Style, scatter_with_fit};
use crate::registry::{Experiment, ExperimentConfig, Size};
use crate::row;
use crate::run::{RunContext, RunOutput};
use crate::table::{ColumnType, Table};
use plres_theory::stats::LinearFit;

/// The `width-limit` experiment.
#[derive(Clone, Copy, Debug, Default)]
pub struct WidthLimit;

/// Configuration of [`WidthLimit`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WidthLimitConfig {
    /// The points and the kernel bandwidth (`n`, `dim`, `radius`, `delta`, `sigma` at the
    /// top level of the JSON).
    #[serde(flatten)]
    pub problem: BallProblem,
    /// Depth `L`.
    pub depth: usize,
    /// Gradient steps (the kernel network grows by `N` centres per layer and step).
    pub steps: usize,
    /// Step `η` in the `L²` metric.
    pub learning_rate: f64,
    /// Smallest width (a power of two).
    pub min_width: usize,
    /// Largest width (a power of two).
    pub max_width: usize,
    /// Feature draws per width (outputs).
    pub draws: usize,
    /// Feature draws per width (Gram errors).
    pub gram_draws: usize,
}

impl ExperimentConfig for WidthLimitConfig {
    fn for_size(size: Size) -> Self {
        let (n, depth, steps, max_width, draws) = match size {
            Size::Smoke => (8, 3, 8, 1024, 4),
            Size::Default => (16, 6, 20, 16384, 6),
            Size::Full => (32, 8, 50, 65536, 16),
        };
        Self {
            problem: BallProblem {
                n,
                dim: 2,
                radius: 2.0,
                delta: 0.5,
                sigma: 1.0,
            },
            depth,
            steps,
            learning_rate: 1.0,
            min_width: 16,
            max_width,
            draws,
            gram_draws: 4 * draws,
        }
    }

    fn validate(&self) -> Result<(), String> {
        self.problem.validate()?;
        require_range("depth", self.depth, 1, MAX_DEPTH)?;
        require_range("steps", self.steps, 1, MAX_STEPS as usize)?;
        require_range("draws", self.draws, 1, MAX_REPEATS)?;
        require_range("gram_draws", self.gram_draws, 1, MAX_REPEATS)?;
        require_width_grid(self.min_width, self.max_width, 2)?;
        // the kernel network holds N·L centres of R^d per step
        require_product(
            "n·depth·steps·dim",
            &[self.problem.n, self.depth, self.steps, self.problem.dim],
            MAX_ENTRIES,
        )?;
        require_step(self.learning_rate)
    }
}

impl Experiment for WidthLimit {
    type Config = WidthLimitConfig;

    fn name(&self) -> &'static str {
        "width-limit"
    }

    fn description(&self) -> &'static str {
        "LinearResNet (Gaussian RFF) → KernelResNet as p grows: trained outputs and feature Grams \
         approach their infinite-width limits at rate p^(−1/2)."
    }

    fn run(&self, c: &WidthLimitConfig, ctx: &RunContext) -> Result<RunOutput, ExperimentError> {
        let data = c.problem.draw(ctx)?;
        let y = data.y.to_matrix();
        let x = &data.x;
        let targets = TargetsRef::Regression(y.as_ref());
        let spec = c.problem.kernel();
        let kernel = train_kernel(c, ctx, x, targets, spec)?;
        let widths = powers_of_two(c.min_width, c.max_width);
        let (metrics, sweep, errors) = train_widths(c, ctx, x, targets, &widths, &kernel)?;
        let ps: Vec<f64> = widths.iter().map(|&p| p as f64).collect();
        let mut out = RunOutput::new(metrics);
        out.table("sweep", sweep);
        let fit = output_error_check(c, &ps, &errors, &mut out)?;
        let gram_fit = gram_error_check(c, ctx, &spec, x, &widths, &ps, &mut out)?;
        kernel_checks(c, &kernel, &y, &mut out)?;
        let KernelRun {
            net: kernel_net,
            losses: kernel_losses,
            moved,
            ..
        } = kernel;
        out.value("output_error_slope", fit.map_or(f64::NAN, |f| f.slope))
            .value("gram_error_slope", gram_fit.map_or(f64::NAN, |f| f.slope))
            .value(
                "kernel_final_loss",
                kernel_losses.last().copied().unwrap_or(f64::NAN),
            )
            .value("kernel_centres", kernel_net.n_centres() as u64)
            .value("kernel_memory_bytes", kernel_net.memory_bytes() as u64)
            .value("outputs_moved_rms", moved);
        Ok(out)
    }
}

/// The trained infinite-width network, its loss per step, its output and how far the
/// outputs moved from the inputs (RMS).
struct KernelRun {
    net: KernelResNet,
    losses: Vec<f64>,
    output: Mat<f64>,
    moved: f64,
    /// The PL snapshot at every iterate `0 … steps`.
    snaps: Vec<PlSnapshot>,
    /// The tight constant at the final iterate.
    tight: TightPl,
}

/// Training the infinite-width network: `steps` GD steps in the `L²` metric.
fn train_kernel(
    c: &WidthLimitConfig,
    ctx: &RunContext,
    x: &Mat<f64>,
    targets: TargetsRef<'_>,
    spec: KernelSpec,
) -> Result<KernelRun, ExperimentError> {
    let mut kernel_net = KernelResNet::new(spec, c.problem.dim, c.depth)
        .stage(|| "building the kernel ResNet".into())?;
    let bar = ctx.progress_bar(c.steps as u64, "kernel ResNet");
    let mut kernel_losses = Vec::new();
    let y = match targets {
        TargetsRef::Regression(y) => y,
        TargetsRef::Classes(_) => {
            return Err(ExperimentError::config(
                "width-limit",
                "the kernel ResNet's certificate needs regression targets",
            ));
        }
    };
    // the certificate along training (docs/theory.md §5 for the kernel ResNet): a
    // snapshot at every iterate, before its step, and at the final one
    let mut snaps = Vec::with_capacity(c.steps + 1);
    for _ in 0..c.steps {
        snaps.push(
            kernel_snapshot(&kernel_net, x.as_ref(), y, None)
                .stage(|| "kernel ResNet certificate".into())?,
        );
        let rep = kernel_net
            .gd_step(x.as_ref(), targets, c.learning_rate)
            .stage(|| "kernel ResNet step".into())?;
        kernel_losses.push(rep.loss);
        bar.inc(1);
    }
    snaps.push(
        kernel_snapshot(&kernel_net, x.as_ref(), y, None)
            .stage(|| "kernel ResNet certificate".into())?,
    );
    let tight = kernel_tight(&kernel_net, x.as_ref())
        .stage(|| "kernel ResNet tight constant".into())?
        .0;
    bar.finish_and_clear();
    let z_kernel = kernel_net
        .forward(x.as_ref())
        .stage(|| "kernel ResNet output".into())?;
    let moved = (&z_kernel - x).norm_l2() / ((c.problem.n * c.problem.dim) as f64).sqrt();
    tracing::info!(
        centres = kernel_net.n_centres(),
        memory_bytes = kernel_net.memory_bytes(),
        moved,
        "kernel ResNet trained"
    );

    Ok(KernelRun {
        net: kernel_net,
        losses: kernel_losses,
        output: z_kernel,
        moved,
        snaps,
        tight,
    })
}

/// Training the RFF ResNets: every width × feature draw, the same GD steps; the
/// per-step table (with the kernel network's loss), the per-draw output error and the RMS
/// output error of every width.
fn train_widths(
    c: &WidthLimitConfig,
    ctx: &RunContext,
    x: &Mat<f64>,
    targets: TargetsRef<'_>,
    widths: &[usize],
    kernel: &KernelRun,
) -> Result<(Table, Table, Vec<f64>), ExperimentError> {
    let (kernel_losses, z_kernel) = (&kernel.losses, &kernel.output);
    let mut metrics = Table::new(&[
        ("width", ColumnType::Int),
        ("draw", ColumnType::Int),
        ("step", ColumnType::Int),
        ("loss", ColumnType::Float),
        ("kernel_loss", ColumnType::Float),
    ]);
    let mut sweep = Table::new(&[
        ("width", ColumnType::Int),
        ("draw", ColumnType::Int),
        ("rms_output_error", ColumnType::Float),
    ]);
    let mut errors = Vec::new();
    for (wi, &p) in widths.iter().enumerate() {
        let bar = ctx.progress_bar((c.draws * c.steps) as u64, format!("RFF ResNet, p = {p}"));
        let mut sq = 0.0;
        for draw in 0..c.draws {
            let stream = 1000 + (wi * c.draws + draw) as u64;
            let features = c.problem.features(p, &mut ctx.rng(stream))?;
            let mut net = euler_resnet(features, c.depth)?;
            for step in 0..c.steps {
                let g = net
                    .gradient_report(x.as_ref(), targets)
                    .stage(|| format!("gradient, p = {p}"))?;
                metrics.push(row![p, draw, step, g.loss, kernel_losses[step]])?;
                for (u, gi) in net.params_mut().iter_mut().zip(&g.riesz) {
                    *u -= c.learning_rate * gi;
                }
                bar.inc(1);
            }
            let z = net
                .forward(x.as_ref())
                .stage(|| format!("output, p = {p}"))?;
            let e = rms(&z, z_kernel);
            sweep.push(row![p, draw, e])?;
            sq += e * e;
        }
        bar.finish_and_clear();
        let err = (sq / c.draws as f64).sqrt();
        tracing::info!(p, err, "width done");
        errors.push(err);
    }
    Ok((metrics, sweep, errors))
}

/// The check of the output figure: the RMS output error decays as `p^(−1/2)`; with its
/// figure. Returns the fit.
fn output_error_check(
    c: &WidthLimitConfig,
    ps: &[f64],
    errors: &[f64],
    out: &mut RunOutput,
) -> Result<Option<LinearFit>, ExperimentError> {
    out.check(width_slope_check(
        "trained LinearResNet → KernelResNet",
        ps,
        errors,
    )?);
    let (mut plot, fit) = scatter_with_fit(
        format!(
            "Trained outputs, RFF ResNet vs kernel ResNet (N = {}, L = {}, {} steps)",
            c.problem.n, c.depth, c.steps
        ),
        "width p",
        "RMS |z_p − z_∞|",
        format!("RMS over {} draws", c.draws),
        ps,
        errors,
        Some((-0.5, "slope −1/2")),
    );
    plot.x_scale = Scale::Log2;
    out.figure(
        "output-error",
        "RMS difference between the outputs of the trained RFF ResNet and of the trained kernel \
         ResNet against the width, log-log, with the fitted slope and −1/2.",
        plot,
    );

    Ok(fit)
}

/// The check of the Gram figure: the features Gram error at the data decays as
/// `p^(−1/2)`; with its figure. Returns the fit.
fn gram_error_check(
    c: &WidthLimitConfig,
    ctx: &RunContext,
    spec: &KernelSpec,
    x: &Mat<f64>,
    widths: &[usize],
    ps: &[f64],
    out: &mut RunOutput,
) -> Result<Option<LinearFit>, ExperimentError> {
    let (gram_errors, _) = rff_kernel_error_sweep(
        spec,
        x.as_ref(),
        widths,
        c.gram_draws,
        FourierVariant::CosineWithPhase,
        &mut ctx.rng(2),
    )
    .stage(|| "Gram error sweep".into())?;
    out.check(width_slope_check(
        "features Gram at the data",
        ps,
        &gram_errors,
    )?);
    let (mut plot, gram_fit) = scatter_with_fit(
        format!("Features Gram error ‖K_p − K‖_op (N = {})", c.problem.n),
        "width p",
        "mean ‖K_p − K‖_op",
        format!("mean over {} draws", c.gram_draws),
        ps,
        &gram_errors,
        Some((-0.5, "slope −1/2")),
    );
    plot.x_scale = Scale::Log2;
    out.figure(
        "gram-error",
        "Operator-norm error of the random-feature Gram at the data against the width.",
        plot,
    );
    Ok(gram_fit)
}

/// `‖A − B‖_F / √(rows·cols)`.
fn rms(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    (a - b).norm_l2() / ((a.nrows() * a.ncols()) as f64).sqrt()
}

/// An RFF error decays at the Monte-Carlo rate `p^(−1/2)` (docs/theory.md §7 Width): the
/// fitted slope of `log error` against `log p` is `−1/2` within its 95 % confidence
/// interval ([`super::common::slope_report`], no slack).
///
/// # Errors
/// A fit of non-positive or non-finite errors.
pub fn width_slope_check(
    what: &str,
    widths: &[f64],
    errors: &[f64],
) -> Result<crate::CheckReport, ExperimentError> {
    let fit = log_log_fit(widths, errors).stage(|| format!("fitting the slope of {what}"))?;
    Ok(super::common::slope_report(
        format!("{what}: RFF error O(p^(−1/2))"),
        "docs/theory.md §7 Width",
        &fit,
        -0.5,
        crate::Relation::Within,
    ))
}

/// The kernel ResNet monitored like the finite ones (docs/theory.md §5 for the kernel
/// ResNet): items 1–4 at every iterate (the worst of each), the certified decay of its GD
/// run ([`super::pl_certificate::certified_decay_report`], `c` the observed
/// sufficient-decrease constant), and at the final iterate the looseness `ρ/μ_tight`,
/// `μ_tight/μ_cert` (values) with the figure of `ρ` and `μ_cert` along training.
fn kernel_checks(
    c: &WidthLimitConfig,
    k: &KernelRun,
    y: &Mat<f64>,
    out: &mut RunOutput,
) -> Result<(), ExperimentError> {
    // the worst report of every claim over the iterates
    let mut worst: Vec<crate::CheckReport> = Vec::new();
    for snap in &k.snaps {
        for rep in snap.reports() {
            let margin = |r: &crate::CheckReport| match r.relation {
                crate::Relation::AtLeast => r.measured - r.predicted + r.tolerance,
                crate::Relation::AtMost => r.predicted + r.tolerance - r.measured,
                crate::Relation::Within => r.tolerance - (r.measured - r.predicted).abs(),
            };
            match worst.iter_mut().find(|w| w.claim == rep.claim) {
                Some(w) => {
                    let replace = (rep.fails() && !w.fails())
                        || (w.is_vacuous() && !rep.is_vacuous())
                        || (rep.fails() == w.fails()
                            && rep.is_vacuous() == w.is_vacuous()
                            && margin(&rep) < margin(w));
                    if replace {
                        *w = rep;
                    }
                }
                None => worst.push(rep),
            }
        }
    }
    for mut rep in worst {
        rep.claim = format!(
            "kernel ResNet, worst of {} iterates: {}",
            k.snaps.len(),
            rep.claim
        );
        out.check(rep);
    }
    let mut losses: Vec<f64> = k.snaps.iter().map(|s| s.loss).collect();
    losses.truncate(c.steps + 1);
    let grads: Vec<f64> = k.snaps.iter().map(|s| s.grad_norm_sq).collect();
    let mu: Vec<f64> = k.snaps.iter().map(|s| s.mu()).collect();
    let c_dec =
        plres_theory::convergence::sufficient_decrease_constant(&losses, &grads, c.learning_rate)
            .stage(|| "kernel ResNet sufficient decrease".into())?;
    let mut decay = super::pl_certificate::certified_decay_report(
        &losses,
        &mu,
        c.learning_rate,
        c_dec,
        super::pl_certificate::LossRounding::of(y, c.problem.n, c.depth),
    );
    decay.claim = format!("kernel ResNet: {}", decay.claim);
    out.check(decay);
    let last = k.snaps.last().expect("the final iterate");
    let loose = Looseness::new(last.rho, k.tight.mu_tight, last.mu());
    out.value("kernel_rho_over_tight", loose.rho_over_tight)
        .value("kernel_tight_over_cert", loose.tight_over_cert)
        .value("kernel_sufficient_decrease_c", c_dec);
    let it: Vec<f64> = (0..k.snaps.len()).map(|t| t as f64).collect();
    out.figure(
        "kernel-certificate",
        format!(
            "Kernel ResNet along its {} GD steps: ρ = ‖G‖²/L and the certificate μ_cert \
             (ρ ≥ μ_cert is the PL inequality); at the final iterate ρ/μ_tight = {:.3}, \
             μ_tight/μ_cert = {:.3}.",
            c.steps, loose.rho_over_tight, loose.tight_over_cert
        ),
        Plot::new(
            "Kernel ResNet: PL certificate along training",
            "iteration",
            "PL constant",
        )
        .log_y()
        .with(Series::with_style(
            "ρ = ‖G‖²/L",
            it.clone(),
            k.snaps.iter().map(|s| s.rho).collect(),
            Style::LineAndPoints,
        ))
        .with(Series::with_style("μ_cert", it, mu, Style::LineAndPoints)),
    );
    Ok(())
}
