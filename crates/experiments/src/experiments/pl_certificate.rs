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
//! descent-lemma regime `η ≤ 1/β`) and then the certified decay: the observed per-step
//! rate is at most the product of the certified rates `1 − cημ_cert(θ_t)` along the run
//! ([`certified_decay_report`], tolerance the rounding of the losses); the path length
//! `≤ (1/c)·2√(L₀/μ)`.
//!
//! The tight constant `μ_tight = (2/N)λ_min(Θ)` (plres-theory's `pl::tight`) at about 12
//! iterates, and on real data — the UCI digits and the vendored MNIST (dense `Θ` up to
//! `N·d_out = 8192`, which covers every size; Lanczos, an interval, beyond) — `ρ`, `μ_tight` and
//! `μ_cert` along GD with the looseness ratios `ρ/μ_tight`, `μ_tight/μ_cert` in a table
//! and a figure per data set, and the chain `μ_cert ≤ μ_tight ≤ ρ` checked
//! ([`plres_theory::pl::chain_report`]: VACUOUS "inconclusive" for Lanczos intervals that
//! did not meet their tolerance).

use faer::Mat;
use plres_optim::{History, Outcome};
use plres_resnet::LinearResNet;
use plres_resnet::Trainable as _;
use plres_theory::convergence::{RateFit, fit_linear_rate};
use plres_theory::expressivity::{TrajectoryExpressivity, linear_expressivity};
use plres_theory::pl::tight::Looseness;
use plres_theory::pl::{
    FeatureAprioriBound, LanczosConfig, LinearCertifier, Monitor, MonitorConfig, MonitorRow,
    TightPl, TightSolver, apriori_bound_features, chain_report,
};

use rand_distr::{Distribution as _, StandardNormal};
use serde::{Deserialize, Serialize};

use super::common::{
    Descent, certified, certify_final, draw_separated, euler_resnet, gaussian_features,
    gradient_descent_under, require, require_step,
};
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
    /// Number of UCI digits of the real-data run (squared loss on one-hot targets;
    /// `10·N ≤ 8192` for the dense tight constant; 0: no real-data run).
    #[serde(default)]
    pub digits_n: usize,
    /// Number of vendored MNIST training images of the second real-data run (squared
    /// loss on one-hot targets, `N·d_out = 10·N`; `μ_tight` dense up to `10·N = 8192`,
    /// by Lanczos beyond; 0: no MNIST run).
    #[serde(default)]
    pub mnist_n: usize,
    /// Gradient steps of the MNIST run.
    #[serde(default = "default_mnist_iterations")]
    pub mnist_iterations: u64,
    /// Largest number of Lanczos steps per `μ_tight` of the MNIST run when `10·N > 8192`
    /// ([`LanczosConfig::max_iter`]; unused by the dense solver).
    #[serde(default = "default_mnist_lanczos_steps")]
    pub mnist_lanczos_steps: usize,
}

fn default_mnist_iterations() -> u64 {
    200
}

fn default_mnist_lanczos_steps() -> usize {
    LanczosConfig::default().max_iter
}

impl ExperimentConfig for PlCertificateConfig {
    fn for_size(size: Size) -> Self {
        let (n, width, depth, iterations, digits_n) = match size {
            Size::Smoke => (12, 96, 6, 120, 40),
            Size::Default => (48, 512, 16, 600, 200),
            Size::Full => (128, 2048, 32, 3000, 400),
        };
        // MNIST: N·d_out = 10·N = 4500 at default, 8000 at full: dense Θ (exact)
        let (mnist_n, mnist_iterations) = match size {
            Size::Smoke => (30, 60),
            Size::Default => (450, 200),
            Size::Full => (800, 400),
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
            digits_n,
            mnist_n,
            mnist_iterations,
            mnist_lanczos_steps: default_mnist_lanczos_steps(),
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
        require_step(self.learning_rate)?;
        require(
            self.digits_n * 10 <= plres_theory::pl::MAX_DENSE_DIM,
            "digits_n",
            self.digits_n,
            "10·digits_n ≤ 8192 (the dense tight constant)",
        )?;
        require(
            self.mnist_n <= plres_data::MNIST10K_N_TRAIN,
            "mnist_n",
            self.mnist_n,
            "at most the 8000 training images of the vendored MNIST",
        )?;
        require(
            self.mnist_n == 0 || self.mnist_iterations >= 4,
            "mnist_iterations",
            self.mnist_iterations,
            "≥ 4 (five certified iterates)",
        )?;
        require(
            self.mnist_n == 0 || self.mnist_lanczos_steps >= 1,
            "mnist_lanczos_steps",
            self.mnist_lanczos_steps,
            "≥ 1",
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
        let data = draw_separated(c.n, c.dim, c.radius, c.delta, ctx)?;
        let y = data.y.to_matrix();
        let features = gaussian_features(c.sigma, c.dim, c.width, &mut ctx.rng(1))?;
        let model = euler_resnet(features, c.depth)?;
        let expressivity = linear_expressivity(&model, data.x.as_ref())
            .stage(|| "expressivity at θ = 0".into())?;
        let new_monitor = |config: MonitorConfig, what: &str| {
            Monitor::new(&model, data.x.as_ref(), y.as_ref(), config)
                .stage(|| format!("setting up the {what}"))
        };
        let mut monitor = new_monitor(
            MonitorConfig {
                every: c.certify_every,
                ..Default::default()
            },
            "PL monitor",
        )?;
        // μ_tight = (2/N) λ_min(Θ) costs a tangent Gram per iterate: a second monitor
        // computes it at about TIGHT_POINTS iterates
        let mut tight_monitor = new_monitor(
            MonitorConfig {
                every: (c.iterations / TIGHT_POINTS).max(1),
                tight: true,
                ..Default::default()
            },
            "tight PL monitor",
        )?;
        let probe = model.clone();
        let (outcome, history) =
            train(c, ctx, model, &data.x, &y, &mut monitor, &mut tight_monitor)?;
        let rows = monitor.rows();
        let mut out = RunOutput::new(metrics_table(&history, rows)?);
        plots(c, rows, &mut out);
        let looseness = tight_plot_and_checks(
            c,
            tight_monitor.rows(),
            tight_monitor.tight_results(),
            &mut out,
        )?;
        let checked = checks(
            c,
            ctx,
            &probe,
            &data.x,
            &y,
            &outcome,
            &history,
            &monitor,
            &expressivity,
            &mut out,
        )?;
        if c.digits_n > 0 {
            real_data_looseness(
                c,
                ctx,
                RealData::Digits,
                c.digits_n,
                c.iterations,
                None,
                &mut out,
            )?;
        }
        if c.mnist_n > 0 {
            // dense up to MAX_DENSE_DIM (exact); the configured Lanczos run beyond
            let lanczos = (c.mnist_n * 10 > plres_theory::pl::MAX_DENSE_DIM).then_some(
                TightSolver::Lanczos(LanczosConfig {
                    max_iter: c.mnist_lanczos_steps,
                    ..LanczosConfig::default()
                }),
            );
            real_data_looseness(
                c,
                ctx,
                RealData::Mnist,
                c.mnist_n,
                c.mnist_iterations,
                lanczos,
                &mut out,
            )?;
        }
        let Checked {
            l0,
            mu_min,
            c_dec,
            fit,
        } = checked;
        let rho_over_tight = min_and_max(looseness.iter().map(|l| l.rho_over_tight));
        let tight_over_cert = min_and_max(looseness.iter().map(|l| l.tight_over_cert));
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
            .value("path_length", monitor.path_length())
            .value("tight_iterates", looseness.len() as u64)
            .value("rho_over_tight_min", rho_over_tight.0)
            .value("rho_over_tight_max", rho_over_tight.1)
            .value("tight_over_cert_min", tight_over_cert.0)
            .value("tight_over_cert_max", tight_over_cert.1);
        Ok(out)
    }
}

/// Embedding dimension of the real-data runs.
const REAL_DIM: usize = 16;

/// One real data set of the certificate on real data (issue 15 item 4).
#[derive(Clone, Copy, Debug)]
enum RealData {
    /// The UCI digits (`R^64`, 1797 images).
    Digits,
    /// The vendored 10k MNIST subset (`R^784`), training part of its fixed split.
    Mnist,
}

impl RealData {
    /// Prefix of the values, tables and figures (`digits_…`, `mnist-tight`).
    fn key(self) -> &'static str {
        match self {
            Self::Digits => "digits",
            Self::Mnist => "mnist",
        }
    }

    /// How the report names the data.
    fn label(self) -> &'static str {
        match self {
            Self::Digits => "digits",
            Self::Mnist => "MNIST",
        }
    }

    /// The first `n` digits, or `n` MNIST training images at evenly spaced indices of
    /// the (class-ordered) fixed split, so that every class is represented.
    fn load(self, n: usize) -> Result<plres_data::Dataset, ExperimentError> {
        match self {
            Self::Digits => {
                let digits = plres_data::load_digits().stage(|| "loading the digits".into())?;
                let idx: Vec<usize> = (0..n.min(digits.n_samples())).collect();
                Ok(digits.select(&idx))
            }
            Self::Mnist => {
                let (train, _) = plres_data::load_mnist10k_split()
                    .stage(|| "loading the vendored MNIST (data/mnist-10k)".into())?;
                let m = train.n_samples();
                let n = n.min(m);
                let idx: Vec<usize> = (0..n).map(|i| i * m / n).collect();
                Ok(train.select(&idx))
            }
        }
    }
}

/// The chain `μ_cert ≤ μ_tight ≤ ρ` on a real data set, as reported
/// ([`plres_theory::pl::chain_report`] with the data set named in the claim).
pub fn real_data_chain_report(label: &str, n: usize, loose: &[Looseness]) -> CheckReport {
    let mut chain = chain_report(loose);
    chain.claim = format!("{label} (N = {n}, squared loss): {}", chain.claim);
    chain
}

/// The certificate on real data (issue 15 item 4): `N` images, standardised, embedded
/// `R^{d_in} → R^16` by a fixed random map, one-hot targets read through a fixed random
/// output map `R^16 → R^10`, squared loss; a LinearResNet over Gaussian RFF of bandwidth
/// the median distance of the embedded points, trained by GD (`iterations` steps).
/// `ρ`, `μ_tight` and `μ_cert` at five iterates go to the table `<key>-tight.csv` with the
/// looseness ratios and to the figure `<key>-tight`, the ratios to summary.json
/// (`<key>_*`); the chain `μ_cert ≤ μ_tight ≤ ρ` is checked, and a certificate that is 0
/// is reported VACUOUS with its reason instead of hiding behind a tiny number. `μ_tight`
/// comes from `solver` (`None`: dense up to `N·d_out = 8192`, Lanczos beyond).
fn real_data_looseness(
    c: &PlCertificateConfig,
    ctx: &RunContext,
    data: RealData,
    n: usize,
    iterations: u64,
    solver: Option<TightSolver>,
    out: &mut RunOutput,
) -> Result<(), ExperimentError> {
    let (key, label) = (data.key(), data.label());
    let mut set = data.load(n)?;
    let n = set.n_samples();
    let st = plres_data::Standardizer::fit(set.x.as_ref())
        .stage(|| format!("standardising the {label} images"))?;
    st.transform_in_place(set.x.as_mut());
    let y = set.y.to_matrix();
    let mut rng = ctx.rng(match data {
        RealData::Digits => 20,
        RealData::Mnist => 21,
    });
    let embed = plres_data::RandomEmbedding::from_rng(set.d_in(), REAL_DIM, &mut rng)
        .stage(|| format!("{label} embedding"))?
        .a;
    let scale = 1.0 / (REAL_DIM as f64).sqrt();
    let output = Mat::from_fn(y.ncols(), REAL_DIM, |_, _| {
        let z: f64 = StandardNormal.sample(&mut rng);
        scale * z
    });
    let ex = &set.x * embed.transpose();
    let mut dists = Vec::new();
    for i in 0..ex.nrows() {
        for j in 0..i {
            dists.push((ex.row(i) - ex.row(j)).norm_l2());
        }
    }
    let sigma = plres_theory::stats::median(&dists);
    let features = gaussian_features(sigma, REAL_DIM, c.width, &mut rng)?;
    let model = euler_resnet(features, c.depth)?
        .with_input_embedding(embed)
        .and_then(|m| m.with_output_map(output))
        .stage(|| format!("{label} LinearResNet"))?;
    let mut monitor = Monitor::new(
        &model,
        set.x.as_ref(),
        y.as_ref(),
        MonitorConfig {
            every: (iterations / 4).max(1),
            tight: true,
            tight_solver: solver,
            ..Default::default()
        },
    )
    .stage(|| format!("{label} tight monitor"))?;
    let descent = Descent {
        x: &set.x,
        y: &y,
        eta: c.learning_rate,
        iterations,
    };
    gradient_descent_under(
        model,
        descent,
        &mut [&mut monitor],
        ctx,
        &format!("GD on {label}"),
    )?;
    certified(&monitor, |it| format!("{label}: certifying iterate {it}"))?;
    let mut table = Table::new(&[
        ("iteration", ColumnType::Int),
        ("loss", ColumnType::Float),
        ("rho", ColumnType::Float),
        ("mu_tight_lower", ColumnType::Float),
        ("mu_tight", ColumnType::Float),
        ("mu_cert", ColumnType::Float),
        ("rho_over_tight", ColumnType::Float),
        ("rho_over_tight_upper", ColumnType::Float),
        ("tight_over_cert", ColumnType::Float),
        ("conclusive", ColumnType::Int),
        ("lanczos_steps", ColumnType::Int),
    ]);
    let (mut rows, mut loose, mut steps) = (Vec::new(), Vec::new(), Vec::new());
    for (r, (it, t)) in monitor.rows().iter().zip(monitor.tight_results()) {
        debug_assert_eq!(r.iteration, *it);
        if r.loss <= 0.0 {
            continue;
        }
        let l = Looseness::of_tight(r.rho, t, r.mu_cert);
        let k = t.lanczos.map_or(0, |b| b.iterations);
        table.push(row![
            r.iteration,
            r.loss,
            r.rho,
            l.mu_tight_lower,
            l.mu_tight,
            r.mu_cert,
            l.rho_over_tight,
            l.rho_over_tight_upper,
            l.tight_over_cert,
            u64::from(l.conclusive),
            k as u64
        ])?;
        rows.push(*r);
        loose.push(l);
        steps.push(k);
    }
    if rows.is_empty() {
        return Err(ExperimentError::config(
            "pl-certificate",
            format!("{label}: no certified iterate with a positive loss"),
        ));
    }
    out.table(format!("{key}-tight"), table);
    let it: Vec<f64> = rows.iter().map(|r| r.iteration as f64).collect();
    let cert_zero = rows.iter().all(|r| r.mu_cert <= 0.0);
    let lanczos_used = steps.iter().any(|&k| k > 0);
    out.figure(
        format!("{key}-tight"),
        format!(
            "{label}, N = {n}, squared loss on one-hot targets: ρ = ‖G‖²/L, the tight constant \
             μ_tight = (2/N)λ_min(Θ) ({}) and the certificate μ_cert along GD{}.",
            if lanczos_used {
                "Lanczos interval: lower and upper end"
            } else {
                "dense, exact to rounding"
            },
            if cert_zero {
                "; μ_cert = 0 at every iterate (VACUOUS) and is not drawn on the log axis"
            } else {
                ""
            }
        ),
        pl_constants_plot(
            format!("{label}: ρ, μ_tight and μ_cert (N = {n}, p = {})", c.width),
            it,
            rows.iter().map(|r| r.rho).collect(),
            loose.iter().map(|l| l.mu_tight).collect(),
            // a lower end only for a Lanczos interval (dense: the two ends coincide)
            lanczos_used.then(|| loose.iter().map(|l| l.mu_tight_lower).collect()),
            rows.iter().map(|r| r.mu_cert).collect(),
        ),
    );
    out.check(real_data_chain_report(label, n, &loose));
    let lambda_min = rows
        .iter()
        .map(|r| r.lambda_min)
        .fold(f64::INFINITY, f64::min);
    if cert_zero {
        out.check(CheckReport::vacuous(
            format!("{label} (N = {n}, squared loss): PL certificate μ_cert > 0"),
            "docs/theory.md §5 item 4",
            0.0,
            0.0,
            Relation::AtLeast,
            format!(
                "μ_cert = 0 at every iterate certified: min_k λ_min(K_k) = {lambda_min:.2e} \
                 (rounding level or below: the features do not separate the N = {n} images at \
                 p = {}); μ_tight, the best constant, is {:.2e}",
                c.width,
                loose
                    .iter()
                    .map(|l| l.mu_tight)
                    .fold(f64::INFINITY, f64::min)
            ),
        ));
    }
    let (rt, tc) = (
        min_and_max(loose.iter().map(|l| l.rho_over_tight)),
        min_and_max(loose.iter().map(|l| l.tight_over_cert)),
    );
    out.value(format!("{key}_n"), n as u64)
        .value(format!("{key}_sigma"), sigma)
        .value(format!("{key}_lambda_min"), lambda_min)
        .value(format!("{key}_rho_over_tight_min"), rt.0)
        .value(format!("{key}_rho_over_tight_max"), rt.1)
        .value(format!("{key}_tight_over_cert_min"), tc.0)
        .value(format!("{key}_tight_over_cert_max"), tc.1)
        .value(
            format!("{key}_mu_tight_min"),
            loose
                .iter()
                .map(|l| l.mu_tight)
                .fold(f64::INFINITY, f64::min),
        )
        .value(
            format!("{key}_mu_cert_min"),
            rows.iter().map(|r| r.mu_cert).fold(f64::INFINITY, f64::min),
        );
    if steps.iter().any(|&k| k > 0) {
        out.value(
            format!("{key}_lanczos_steps_max"),
            steps.iter().copied().max().unwrap_or(0) as u64,
        )
        .value(
            format!("{key}_tight_conclusive"),
            loose.iter().filter(|l| l.conclusive).count() as u64,
        );
    }
    Ok(())
}

/// `(min, max)` of positive ratios, `(+∞, 0)` when there are none.
fn min_and_max(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, 0.0), |(lo, hi), v| (lo.min(v), hi.max(v)))
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
    tight_monitor: &mut Monitor,
) -> Result<(Outcome, History), ExperimentError> {
    let descent = Descent {
        x,
        y,
        eta: c.learning_rate,
        iterations: c.iterations,
    };
    let (plres_resnet::Trained { outcome, .. }, history) = gradient_descent_under(
        model,
        descent,
        &mut [&mut *monitor, &mut *tight_monitor],
        ctx,
        &format!("GD, p = {}", c.width),
    )?;
    for m in [&mut *monitor, &mut *tight_monitor] {
        certify_final(m, c.iterations, outcome.state.params())
            .stage(|| "certifying the final iterate".into())?;
        certified(m, |it| format!("certifying iterate {it}"))?;
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

/// How many iterates get the tight constant `μ_tight` (a tangent Gram each).
const TIGHT_POINTS: u64 = 12;

/// The tight constant along the run: the figure of `ρ`, `μ_tight` and `μ_cert` at the
/// iterates of the tight monitor, and the chain `μ_cert ≤ μ_tight ≤ ρ` (docs/theory.md §5:
/// `‖G‖² = PᵀΘP ≥ λ_min(Θ)‖P‖²` with `‖P‖² = 2L/N·…`, so `ρ ≥ μ_tight`; `μ_cert` is a lower
/// bound of `(2/N)λ_min(Θ)` by items 2–4). Tolerance `1e-9` relative, the monitor's
/// (the rounding of `ρ`, `λ_min(Θ)` and `μ_cert` is `O((N·d_out + p + L) eps)`).
/// Returns the looseness at each of those iterates.
fn tight_plot_and_checks(
    c: &PlCertificateConfig,
    rows: &[MonitorRow],
    tight: &[(u64, TightPl)],
    out: &mut RunOutput,
) -> Result<Vec<Looseness>, ExperimentError> {
    let rows: Vec<&MonitorRow> = rows.iter().filter(|r| r.loss > 0.0).collect();
    if rows.is_empty() {
        return Err(ExperimentError::config(
            "pl-certificate",
            "no iterate with a positive loss got the tight constant",
        ));
    }
    let loose: Vec<Looseness> = rows.iter().map(|r| looseness_of_row(r, tight)).collect();
    let it: Vec<f64> = rows.iter().map(|m| m.iteration as f64).collect();
    out.figure(
        "tight",
        format!(
            "ρ = ‖G‖²/L, the tight constant μ_tight = (2/N)λ_min(Θ) (the best PL constant at θ) \
             and the certificate μ_cert at {} iterates: μ_cert ≤ μ_tight ≤ ρ, the gaps are the \
             looseness of the certificate (μ_tight/μ_cert) and of the residual direction (ρ/μ_tight).",
            rows.len()
        ),
        pl_constants_plot(
            format!("ρ, μ_tight and μ_cert (N = {}, p = {})", c.n, c.width),
            it,
            rows.iter().map(|r| r.rho).collect(),
            rows.iter().map(|r| r.mu_tight).collect(),
            None,
            rows.iter().map(|r| r.mu_cert).collect(),
        ),
    );
    out.check(chain_report(&loose));
    Ok(loose)
}

/// The looseness at a monitor row, with the interval of the tight result of the same
/// iterate (a point when the row has no tight result).
fn looseness_of_row(r: &MonitorRow, tight: &[(u64, TightPl)]) -> Looseness {
    match tight.iter().find(|(it, _)| *it == r.iteration) {
        Some((_, t)) => Looseness::of_tight(r.rho, t, r.mu_cert),
        None => Looseness::new(r.rho, r.mu_tight, r.mu_cert),
    }
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

/// Why the finite-width a-priori bound `(2/N) σ_B² (√λ₀ − κ_p E)₊² D_L²` is 0 on the ball
/// of radius `r` (its smallest one tried), in words.
fn apriori_vacuous_reason(b: &FeatureAprioriBound, r: f64, n: usize) -> String {
    if b.lambda_star <= 0.0 {
        format!(
            "λ_R = (√λ₀ − κ_p E)₊² = 0 on every ball tried, already at R = {r:.3}: the feature \
             drift κ_p E = {:.3e} exceeds the separation √λ₀ = {:.3e} of the N = {n} samples",
            b.kappa * b.drift,
            b.lambda0.sqrt()
        )
    } else {
        format!(
            "D_L(κ_p R) = 0 on every ball tried, already at R = {r:.3}: κ_p R√h ≥ 1 (κ_p = {:.3e})",
            b.kappa
        )
    }
}

/// The a-priori bound where it is not vacuous: on a ball small enough that the feature
/// drift stays below the separation (`R` half the largest radius with `λ_R > 0`, found by
/// bisection), `μ_cert(θ) ≥ (2/N) σ_B² λ_R D_L²` at random `θ` of the ball (uniform
/// radius, Gaussian direction in the model metric). Tolerance `1e-9` relative, the
/// monitor's (rounding of both sides is `O((N + p + L) eps)`).
fn apriori_demonstration(
    probe: &LinearResNet,
    x: &Mat<f64>,
    y: &Mat<f64>,
    ctx: &RunContext,
    out: &mut RunOutput,
) -> Result<(), ExperimentError> {
    let positive = |r: f64| -> Result<bool, ExperimentError> {
        Ok(apriori_bound_features(probe, x.as_ref(), r)
            .stage(|| format!("a-priori bound at R = {r}"))?
            .mu
            > 0.0)
    };
    // bracket: lo positive (R = 0 is, when λ₀ > 0), hi not
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    if !positive(lo)? {
        let b = apriori_bound_features(probe, x.as_ref(), 0.0)
            .stage(|| "a-priori bound at R = 0".into())?;
        out.check(CheckReport::vacuous(
            "a-priori bound on a small ball: μ_cert(θ) ≥ (2/N) σ_B² λ_R D_L² at random θ",
            "docs/theory.md §5 A-priori bound",
            b.lambda0,
            0.0,
            Relation::AtLeast,
            "λ₀ = λ_min(Φ⁰Φ⁰ᵀ) = 0 at θ = 0 (p < N or coincident features): no ball has a positive bound",
        ));
        return Ok(());
    }
    while positive(hi)? && hi < 1e6 {
        lo = hi;
        hi *= 2.0;
    }
    for _ in 0..30 {
        let mid = 0.5 * (lo + hi);
        if positive(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let radius = 0.5 * lo;
    let b = apriori_bound_features(probe, x.as_ref(), radius)
        .stage(|| format!("a-priori bound at R = {radius}"))?;
    let mut net = probe.clone();
    let mut cert = LinearCertifier::new(&net, x.nrows()).stage(|| "certifier".into())?;
    let metric = net.metric();
    let mut rng = ctx.rng(7);
    let mut worst = f64::INFINITY;
    for _ in 0..6 {
        let dir: Vec<f64> = (0..net.n_params())
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let norm = metric.norm_sq(&dir).sqrt();
        let u: f64 = rand_distr::Uniform::new(0.0, 1.0)
            .map_err(|e| ExperimentError::model("a uniform radius", e))?
            .sample(&mut rng);
        let theta: Vec<f64> = dir.iter().map(|v| v * u * radius / norm).collect();
        net.set_params(&theta)
            .map_err(|e| ExperimentError::model("a random θ of the ball", e))?;
        let snap = cert
            .evaluate(&net, &theta, x.as_ref(), y.as_ref())
            .stage(|| "certificate at a random θ of the ball".into())?;
        worst = worst.min(snap.mu_cert.unwrap_or(f64::NAN) / b.mu);
    }
    out.check(apriori_report(
        format!(
            "a-priori bound where it is not vacuous: on the ball ‖θ‖ ≤ R = {radius:.3e} (half the \
             largest R with λ_R > 0), μ_cert(θ) ≥ (2/N) σ_B² λ_R D_L² = {:.3e} at 6 random θ \
             (worst ratio)",
            b.mu
        ),
        worst * b.mu,
        b.mu,
    ));
    out.value("apriori_demo_radius", radius)
        .value("apriori_demo_mu", b.mu);
    Ok(())
}

/// The checks of the PL-certificate figure: the monitor's along the trajectory, items 1–4
/// of docs/theory.md §5 at the final iterate, the expressivity at `θ = 0`, the a-priori
/// bound, sufficient decrease and the linear rate.
#[allow(clippy::too_many_arguments)]
fn checks(
    c: &PlCertificateConfig,
    ctx: &RunContext,
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
    // "min_k λ_k > 0 above rounding" at θ = 0 holds with probability one for p ≥ N: it
    // restates the configuration (λ_min is a summary value); the Gershgorin and separation
    // bounds are theorems and stay
    for rep in expressivity
        .reports()
        .into_iter()
        .filter(|r| !r.claim.starts_with("expressivity:"))
    {
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
    let mut smallest_tried: Option<FeatureAprioriBound> = None;
    for &r in &picks {
        let b = apriori_bound_features(probe, x.as_ref(), r)
            .stage(|| format!("a-priori bound at R = {r}"))?;
        if smallest_tried.is_none() {
            smallest_tried = Some(b);
        }
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
    let claim = "a-priori bound along the run: on each ball ‖θ‖ ≤ R = ‖θ_t‖ tried, \
                 min μ_cert(θ_t) ≥ (2/N) σ_B² λ_R D_L² (worst ratio)";
    let source = "docs/theory.md §5 A-priori bound";
    match (worst, smallest_tried) {
        (Some((ratio, r, bound)), _) => {
            out.check(apriori_report(
                format!(
                    "{claim}; R ≤ {largest_positive:.3}, worst at R = {r:.3}, bound {bound:.3e}"
                ),
                ratio * bound,
                bound,
            ));
        }
        (None, bound) => {
            let reason = match bound {
                Some(b) => apriori_vacuous_reason(&b, picks[0], c.n),
                None => "the run did not move (‖θ_t‖ = 0 at every iterate): no ball to try".into(),
            };
            out.check(CheckReport::vacuous(
                claim,
                source,
                mu_min,
                0.0,
                Relation::AtLeast,
                reason,
            ));
        }
    }
    apriori_demonstration(probe, x, y, ctx, out)?;
    out.value("apriori_largest_radius", largest_positive);
    let c_dec = monitor.decrease_constant();
    out.check(sufficient_decrease_report(c_dec));
    let losses: Vec<f64> = history.records.iter().map(|r| r.loss).collect();
    let l0 = losses[0];
    // fit the rate on the iterates above the rounding level of the loss (a summary value;
    // the check is the certified decay below)
    let (ts, ls): (Vec<f64>, Vec<f64>) = history
        .records
        .iter()
        .filter(|r| r.loss > 1e-12 * l0)
        .map(|r| (r.iteration as f64, r.loss))
        .unzip();
    let fit = fit_linear_rate(&ts, &ls).stage(|| "fitting the linear rate".into())?;
    let mu_cert: Vec<f64> = rows.iter().map(|m| m.mu_cert).collect();
    if c.certify_every == 1 && mu_cert.len() == losses.len() {
        let rounding = LossRounding::of(y, c.width, c.depth);
        let rep = certified_decay_report(&losses, &mu_cert, c.learning_rate, c_dec, rounding);
        out.value("certified_rate", rep.predicted);
        out.check(rep);
    } else {
        out.check(CheckReport::vacuous(
            "certified linear decay along the run",
            "docs/theory.md §5 Convergence",
            fit.rate,
            1.0,
            Relation::AtMost,
            format!(
                "certify_every = {}: the certificate is not known at every iterate, the product \
                 of per-step rates cannot be formed",
                c.certify_every
            ),
        ));
    }
    Ok(Checked {
        l0,
        mu_min,
        c_dec,
        fit,
    })
}

/// The rounding of a squared loss `L = ‖Z − Y‖²/(2N)` computed by a ResNet: each value is
/// known to a relative `γ = (N·d_out + L·p)·eps` (the sums of the forward pass and of the
/// loss), and no better than the loss of a residual known to `γ‖Y‖_F` absolutely.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossRounding {
    /// Relative rounding `γ` of a loss value.
    pub relative: f64,
    /// Absolute rounding floor `(γ‖Y‖_F)²/(2N)`.
    pub floor: f64,
}

impl LossRounding {
    /// The rounding of the loss of targets `y` (`N × d_out`) with a ResNet of `width` and
    /// `depth`.
    pub fn of(y: &Mat<f64>, width: usize, depth: usize) -> Self {
        let n = y.nrows();
        let gamma = (n * y.ncols() + depth * width) as f64 * f64::EPSILON;
        let r = gamma * y.norm_l2();
        Self {
            relative: gamma,
            floor: r * r / (2.0 * n as f64),
        }
    }
}

/// The certified decay of a GD run (docs/theory.md §5 Convergence): a step that achieves
/// the sufficient decrease `L_{t+1} ≤ L_t − cη‖G_t‖²` at a certified iterate
/// (`‖G_t‖² ≥ μ_cert(θ_t) L_t`) has `L_{t+1} ≤ (1 − cημ_cert(θ_t)) L_t`, hence
/// `L_T ≤ L₀ Π_{t<T} (1 − cημ_cert(θ_t))`. Compared as per-step rates: the observed
/// `(L_T/L₀)^{1/T}` against the certified `(Π (1 − cημ_t))^{1/T}` (the certificates along
/// the run, not their minimum: a run decaying slower than what the certificates promise
/// fails). `T` is the last iterate whose loss is 100× above the rounding floor; tolerance
/// the rounding of `L₀` and `L_T` carried to the rate:
/// `r_obs·(((1 + γ + floor/L_T)(1 + γ))^{1/T} − 1)`. Vacuous when `c ≤ 0`, when no
/// certificate is positive or when the run never leaves the rounding floor.
/// `losses[t]` and `mu_cert[t]` are those of iterate `t`.
pub fn certified_decay_report(
    losses: &[f64],
    mu_cert: &[f64],
    eta: f64,
    c: f64,
    rounding: LossRounding,
) -> CheckReport {
    let claim = "certified linear decay: per-step rate (L_T/L₀)^{1/T} ≤ (Π_{t<T} (1 − cημ_cert(θ_t)))^{1/T}";
    let source = "docs/theory.md §5 Convergence (sufficient decrease + PL certificate)";
    let n = losses.len().min(mu_cert.len());
    let big_t = (1..n)
        .rev()
        .find(|&t| losses[t] > 100.0 * rounding.floor)
        .unwrap_or(0);
    let l0 = losses.first().copied().unwrap_or(f64::NAN);
    let vacuous = |measured: f64, reason: String| {
        CheckReport::vacuous(claim, source, measured, 1.0, Relation::AtMost, reason)
    };
    if big_t == 0 {
        return vacuous(
            f64::NAN,
            "the loss is at its rounding floor from the first step: no decay to compare".into(),
        );
    }
    if c <= 0.0 || c.is_nan() {
        return vacuous(
            f64::NAN,
            format!(
                "sufficient-decrease constant c = {c:.2e} ≤ 0: a step raised the loss, the certificates promise no decay"
            ),
        );
    }
    let tf = big_t as f64;
    let log_pred: f64 = mu_cert[..big_t]
        .iter()
        .map(|m| (1.0 - c * eta * m.max(0.0)).max(0.0).ln())
        .sum();
    let observed = (losses[big_t] / l0).powf(1.0 / tf);
    if mu_cert[..big_t].iter().all(|m| *m <= 0.0) {
        return vacuous(
            observed,
            "μ_cert = 0 at every iterate: the certified rate is 1, any run that does not raise the loss passes".into(),
        );
    }
    let predicted = (log_pred / tf).exp();
    let rel =
        (1.0 + rounding.relative + rounding.floor / losses[big_t]) * (1.0 + rounding.relative);
    let tolerance = observed * (rel.powf(1.0 / tf) - 1.0);
    CheckReport::new(
        format!("{claim}, T = {big_t}, c = {c:.3}"),
        source,
        observed,
        predicted,
        tolerance,
        Relation::AtMost,
    )
}

/// The a-priori certificate on a ball (docs/theory.md §5 A-priori bound): the smallest
/// `μ_cert` met inside is at least the bound `(2/N) σ_B² λ_R D_L²` (ratio against 1,
/// relative tolerance 1e-9, the monitor's: the rounding of both sides is
/// `O((N + p + L) eps)`).
pub fn apriori_report(claim: String, mu_cert_min: f64, bound: f64) -> CheckReport {
    CheckReport::new(
        claim,
        "docs/theory.md §5 A-priori bound",
        mu_cert_min / bound,
        1.0,
        1e-9,
        Relation::AtLeast,
    )
}

/// The descent-lemma premise of the convergence theorem: every step achieved the
/// sufficient decrease `L_{t+1} ≤ L_t − cη‖G_t‖²` with `c ≥ ½` (what `η ≤ 1/β` guarantees
/// on a `β`-smooth loss). Tolerance 0: `c` is a minimum of measured ratios, and a step
/// above `1/β` gives `c = 1 − ηβ/2 < ½` at any precision.
pub fn sufficient_decrease_report(c_dec: f64) -> CheckReport {
    CheckReport::new(
        "sufficient decrease L_{t+1} ≤ L_t − cη‖G_t‖² with c ≥ ½ (η in the descent-lemma regime)",
        "docs/theory.md §5 Convergence (premise η ≤ 1/β)",
        c_dec,
        0.5,
        0.0,
        Relation::AtLeast,
    )
}

/// The figure of the PL constants per iterate on one log axis: ρ = ‖G‖²/L, μ_tight (its
/// upper end and, for a Lanczos interval, its lower end) and the certificate μ_cert.
fn pl_constants_plot(
    title: String,
    iterations: Vec<f64>,
    rho: Vec<f64>,
    tight: Vec<f64>,
    tight_lower: Option<Vec<f64>>,
    cert: Vec<f64>,
) -> Plot {
    let line =
        |label: &str, y| Series::with_style(label, iterations.clone(), y, Style::LineAndPoints);
    let mut plot = Plot::new(title, "iteration", "PL constant")
        .log_y()
        .with(line("ρ = ‖G‖²/L", rho));
    plot = match tight_lower {
        Some(lower) => plot
            .with(line("μ_tight (upper end)", tight))
            .with(Series::with_style(
                "μ_tight (lower end)",
                iterations.clone(),
                lower,
                Style::Points,
            )),
        None => plot.with(line("μ_tight", tight)),
    };
    plot.with(line("μ_cert", cert))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chain check holds on a consistent chain and fails when either link is broken
    /// (ρ below μ_tight: a residual better than the worst direction is impossible; μ_cert
    /// above μ_tight: a certificate above the best constant is wrong); it is vacuous when
    /// μ_tight = 0 everywhere.
    /// The vendored-MNIST case at smoke size runs end to end with `μ_tight` by Lanczos
    /// (`N·d_out = 300`, so the run reaches the whole Krylov space: conclusive), writes its
    /// table and figure, and its chain check holds.
    #[test]
    fn mnist_case_runs_at_smoke_size_with_lanczos() {
        let c = PlCertificateConfig::for_size(Size::Smoke);
        let dir = std::env::temp_dir().join(format!("plres-plc-mnist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ctx = RunContext::new("pl-certificate", dir.clone(), 0, Size::Smoke, false);
        let mut out = RunOutput::default();
        let t0 = std::time::Instant::now();
        let lanczos = TightSolver::Lanczos(LanczosConfig::default());
        real_data_looseness(
            &c,
            &ctx,
            RealData::Mnist,
            c.mnist_n,
            c.mnist_iterations,
            Some(lanczos),
            &mut out,
        )
        .unwrap();
        eprintln!("MNIST smoke case: {:.2} s", t0.elapsed().as_secs_f64());
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(out.tables.len(), 1);
        assert_eq!(out.tables[0].0, "mnist-tight");
        assert_eq!(out.figures.len(), 1);
        let chain = &out.checks[0];
        assert!(chain.holds(), "{}", chain.table_row());
        assert_eq!(out.values["mnist_n"], serde_json::json!(c.mnist_n));
        let rows = out.tables[0].1.len();
        assert!(rows >= 4, "{rows} certified iterates");
        assert_eq!(
            out.values["mnist_tight_conclusive"],
            serde_json::json!(rows as u64)
        );
    }

    #[test]
    fn tight_chain_check_fails_on_a_broken_chain() {
        let ok = [Looseness::new(3.0, 2.0, 1.0), Looseness::new(2.0, 2.0, 2.0)];
        assert!(chain_report(&ok).holds());
        let rho_low = [ok[0], Looseness::new(2.0 * (1.0 - 1e-6), 2.0, 1.0)];
        assert!(chain_report(&rho_low).fails());
        let cert_high = [ok[0], Looseness::new(3.0, 2.0, 2.0 * (1.0 + 1e-6))];
        assert!(chain_report(&cert_high).fails());
        let zero = [Looseness::new(3.0, 0.0, 0.0)];
        assert!(chain_report(&zero).is_vacuous());
    }
}
