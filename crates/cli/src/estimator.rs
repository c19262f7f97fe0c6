//! [`Estimator`]: the builder, `fit`, and what a fit returns ([`Fitted`]).
//!
//! `fit(x, y)` (one sample per row; `y` regression targets or class labels) does, in
//! order, with every random draw from `seed`:
//!
//! 1. validation of the settings and the data (typed errors naming field, row/column,
//!    value);
//! 2. a seeded split with `round(test_fraction·N)` test samples
//!    ([`plres_data::split_indices`] with `seed`);
//! 3. standardisation fitted on the training inputs ([`plres_data::Standardizer`]);
//! 4. the state dimension `d = max(d_in, d_out)`: the input embedding `A = [I; 0]`
//!    (zero padding) when `d > d_in`, the output map `B = [I 0]` (the first `d_out`
//!    coordinates, orthonormal rows so `σ_min(Bᵀ) = 1` in the certificate) when
//!    `d_out < d`;
//! 5. `auto` bandwidth: the median of the pairwise distances of the standardised
//!    training inputs (at most 1000 of them, drawn with stream 3 of `seed`);
//! 6. `auto` width: the pointwise bound of docs/theory.md §6
//!    ([`plres_rff::bounds::features_needed_pointwise`], `δ = 0.05`, `ε = ½`) with
//!    `λ_min(K)` and `‖K‖` of the exact kernel Gram of the training inputs, capped at
//!    `width_cap` (the choice and the cap are reported in [`ResolvedConfig::width`]);
//! 7. the model (features drawn from stream 1 of `seed`, `U = 0`, so training starts at
//!    the identity map), trained by the chosen optimizer in the model's `L²` metric
//!    (minibatches shuffled from stream `e` of `seed + 1` in epoch `e`);
//! 8. with the squared loss, the PL certificate along the run ([`plres_theory::pl::Monitor`]
//!    for the linear model, `kernel_snapshot` for the kernel model): `ρ`, `μ_cert`, and
//!    `μ_tight` at about 10 iterates when `N·d_out ≤ 1024` (Euler).

use std::convert::identity;

use faer::{Mat, MatRef};
use plres_data::{Standardizer, TargetsRef};
use plres_kernels::KernelSpec;
use plres_optim::{
    AdamConfig, GradientDescentConfig, History, Iterate, Minibatch, Observer, ObserverAction,
    OptimError, Outcome, SgdConfig, Solver, State, Stopping,
};
use plres_resnet::{
    Activation, Init, KernelCoefficients, KernelResNet, LinearResNet, LinearResNetConfig, Model,
    ShlResNet, ShlResNetConfig, Trainable, TrainingProblem,
};
use plres_rff::{FeatureSpec, FourierVariant};
use plres_theory::pl::{Monitor, MonitorConfig, MonitorRow};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::{
    Bandwidth, Budget, EstimatorConfig, FeatureKind, IntegratorKind, LossKind, ModelKind,
    OptimizerKind, ResolvedConfig, Width, WidthChoice,
};
use crate::error::PlresError;
use crate::network::{Network, Task, TrainedModel, check_inputs, r_squared};

/// `δ` of the `auto` width.
pub const AUTO_WIDTH_DELTA: f64 = 0.05;
/// Most training points the `auto` width's kernel Gram is formed on (beyond, the cap is
/// used and the reason reported).
pub const AUTO_WIDTH_MAX_N: usize = crate::sizing::MAX_POINTS;
/// Width of ReLU features and of the SHL baseline under `auto` (the pointwise bound is a
/// bound on random Fourier features), before the cap.
pub const RELU_DEFAULT_WIDTH: usize = 256;
/// Largest `N·d_out` for which `μ_tight` is computed along training (a dense
/// `N·d_out`-square eigenvalue problem per point).
pub const TIGHT_ALONG_TRAINING_MAX: usize = 1024;
/// Iterates at which `μ_tight` is computed along training.
const TIGHT_POINTS: u64 = 10;
/// Certified iterates of a run under the default `certify_every`.
const CERTIFIED_POINTS: u64 = 50;

/// The estimator: settings with sound defaults, and [`Estimator::fit`] (module docs).
///
/// ```
/// use plres::{Estimator, TargetsRef};
/// use faer::Mat;
/// // y = x₁x₂ on 30 points: regression, scored by R²
/// let x = Mat::from_fn(30, 2, |i, j| ((i * 3 + j * 5) as f64 * 0.37).sin());
/// let y = Mat::from_fn(30, 1, |i, _| x[(i, 0)] * x[(i, 1)]);
/// let fitted = Estimator::new().depth(4).steps(30).fit(x.as_ref(), TargetsRef::Regression(y.as_ref()))?;
/// assert!(fitted.report.final_loss < fitted.report.initial_loss);
/// assert!(fitted.config.width.width.is_some()); // auto: the bound, or the cap
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Estimator {
    /// The settings.
    pub config: EstimatorConfig,
}

impl From<f64> for Bandwidth {
    fn from(v: f64) -> Self {
        Bandwidth::Value(v)
    }
}

impl From<usize> for Width {
    fn from(v: usize) -> Self {
        Width::Value(v)
    }
}

/// Builder setters: `name(T) => field = wrap;` defines `pub fn name(mut self, value: T) ->
/// Self` storing `wrap(value)` in `self.config.field` (the doc comments are the methods').
macro_rules! setters {
    ($($(#[doc = $doc:literal])* $name:ident($ty:ty) => $field:ident = $wrap:expr;)*) => {
        $(
            $(#[doc = $doc])*
            pub fn $name(mut self, value: $ty) -> Self {
                self.config.$field = ($wrap)(value);
                self
            }
        )*
    };
}

impl Estimator {
    /// The defaults of [`EstimatorConfig::default`].
    pub fn new() -> Self {
        Self::default()
    }

    /// An estimator with the given settings.
    pub fn from_config(config: EstimatorConfig) -> Self {
        Self { config }
    }

    setters! {
        /// Linear (default), kernel or SHL.
        model(ModelKind) => model = identity;
        /// Feature map / kernel (default Gaussian).
        features(FeatureKind) => features = identity;
        /// Bandwidth: a number (`σ` or `ℓ`) or [`Bandwidth::Auto`] (default).
        bandwidth(impl Into<Bandwidth>) => bandwidth = Into::into;
        /// Width `p`: a number or [`Width::Auto`] (default).
        width(impl Into<Width>) => width = Into::into;
        /// Largest width `auto` may pick (default 512).
        width_cap(usize) => width_cap = identity;
        /// Depth `L` (default 8).
        depth(usize) => depth = identity;
        /// Integrator (default Euler).
        integrator(IntegratorKind) => integrator = identity;
        /// Loss (default squared).
        loss(LossKind) => loss = identity;
        /// Optimizer (default GD).
        optimizer(OptimizerKind) => optimizer = identity;
        /// Learning rate (default [`OptimizerKind::default_lr`]).
        lr(f64) => lr = Some;
        /// Minibatch size (SGD, Adam).
        batch(usize) => batch = Some;
        /// Seed of every random draw (default 0).
        seed(u64) => seed = identity;
        /// Held-out fraction (default 0.2).
        test_fraction(f64) => test_fraction = identity;
        /// Certify every `k`-th iterate (default: about 50 iterates per run).
        certify_every(u64) => certify_every = Some;
    }

    /// Train for `steps` optimizer steps.
    pub fn steps(mut self, steps: u64) -> Self {
        self.config.budget = Some(Budget::Steps(steps));
        self
    }

    /// Train for `epochs` passes over the training data.
    pub fn epochs(mut self, epochs: u64) -> Self {
        self.config.budget = Some(Budget::Epochs(epochs));
        self
    }

    /// Resolves every default against the data and builds the initial model, without
    /// training: what [`Estimator::fit`] starts from (and the command line's `--resume`).
    ///
    /// # Errors
    /// Invalid settings or data, as [`Estimator::fit`].
    pub fn prepare(&self, x: MatRef<'_, f64>, y: TargetsRef<'_>) -> Result<Prepared, PlresError> {
        prepare(&self.config, x, y)
    }

    /// Trains on `(x, y)` (module docs).
    ///
    /// # Errors
    /// [`PlresError::InvalidSetting`] / [`PlresError::Incompatible`] naming the setting;
    /// [`PlresError::BadData`] / [`PlresError::NonFinite`] naming row, column and value;
    /// [`PlresError::Run`] when training diverges (lower the learning rate) or a
    /// numerical step fails.
    pub fn fit(&self, x: MatRef<'_, f64>, y: TargetsRef<'_>) -> Result<Fitted, PlresError> {
        self.prepare(x, y)?.train(None, &mut [])
    }
}

/// One iterate of a run: the loss and `ρ = ‖G‖²/L` at every iterate, and the PL
/// certificate where computed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceRow {
    /// Iteration `t`.
    pub iteration: u64,
    /// Epoch.
    pub epoch: u64,
    /// `L(θ_t)` (the minibatch loss for minibatch optimizers).
    pub loss: f64,
    /// `‖G‖²` in the optimizer's metric.
    pub grad_norm_sq: f64,
    /// `ρ = ‖G‖²/L`.
    pub rho: f64,
    /// The learning rate of the step from `θ_t`.
    pub learning_rate: f64,
    /// `μ_cert` at certified iterates (squared loss; linear and kernel models).
    pub mu_cert: Option<f64>,
    /// Full-batch `ρ` in the certificate's metric at certified iterates (for the kernel
    /// model the RKHS metric; for minibatch runs the full-batch value).
    pub rho_certified: Option<f64>,
    /// `min_k λ_k` at certified iterates.
    pub lambda_min: Option<f64>,
    /// `μ_tight = (2/N) λ_min(Θ)` where computed.
    pub mu_tight: Option<f64>,
}

/// What a run did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingReport {
    /// Steps taken.
    pub iterations: u64,
    /// Epochs completed.
    pub epochs: u64,
    /// Full-batch training loss at the start.
    pub initial_loss: f64,
    /// Full-batch training loss at the end.
    pub final_loss: f64,
    /// Training accuracy (classification) or `R²` (regression).
    pub train_score: f64,
    /// Test loss (`None` without a test split).
    pub test_loss: Option<f64>,
    /// Test accuracy or `R²`.
    pub test_score: Option<f64>,
    /// `"accuracy"` or `"r2"`.
    pub score_name: String,
    /// The smallest `μ_cert` over the certified iterates (`None` without a certificate).
    pub mu_cert_min: Option<f64>,
    /// Certified iterates with `ρ < μ_cert (1 − 10⁻⁹)` (for Euler models a bug).
    pub violations: Vec<u64>,
    /// Why the run stopped.
    pub stop_reason: String,
    /// Wall-clock seconds of the training loop.
    pub seconds: f64,
}

/// A fit: the trained network, the resolved settings, the report and the certificate
/// trace. Owned and `Send`, no lifetimes.
#[derive(Clone, Debug)]
pub struct Fitted {
    /// The trained network with its preprocessing.
    pub network: Network,
    /// Every setting, resolved.
    pub config: ResolvedConfig,
    /// What the run did.
    pub report: TrainingReport,
    /// One row per iterate.
    pub trace: Vec<TraceRow>,
    /// The optimizer's final state (to continue training).
    pub state: State,
}

impl Fitted {
    /// As [`Network::predict`].
    ///
    /// # Errors
    /// As [`Network::predict`].
    pub fn predict(&self, x: MatRef<'_, f64>) -> Result<crate::network::Predictions, PlresError> {
        self.network.predict(x)
    }

    /// As [`Network::score`].
    ///
    /// # Errors
    /// As [`Network::score`].
    pub fn score(&self, x: MatRef<'_, f64>, y: TargetsRef<'_>) -> Result<f64, PlresError> {
        self.network.score(x, y)
    }

    /// As [`Network::save`].
    ///
    /// # Errors
    /// As [`Network::save`].
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<(), PlresError> {
        self.network.save(path)
    }
}

/// Owned training targets in the form the loss wants.
#[derive(Clone, Debug)]
enum TrainTargets {
    Matrix(Mat<f64>),
    Labels(Vec<usize>),
}

impl TrainTargets {
    fn as_ref(&self) -> TargetsRef<'_> {
        match self {
            TrainTargets::Matrix(m) => TargetsRef::Regression(m.as_ref()),
            TrainTargets::Labels(l) => TargetsRef::Classes(l),
        }
    }
}

/// `net` with the optional fixed input embedding `A` and output map `B` of `maps`, set by
/// the model's own builders `embed` (`with_input_embedding`) and `output`
/// (`with_output_map`).
fn with_maps<M>(
    net: M,
    (a, b): (Option<Mat<f64>>, Option<Mat<f64>>),
    embed: fn(M, Mat<f64>) -> Result<M, plres_resnet::ResNetError>,
    output: fn(M, Mat<f64>) -> Result<M, plres_resnet::ResNetError>,
) -> Result<M, PlresError> {
    let net = match a {
        Some(a) => embed(net, a).map_err(|e| PlresError::run("input embedding", e))?,
        None => net,
    };
    match b {
        Some(b) => output(net, b).map_err(|e| PlresError::run("output map", e)),
        None => Ok(net),
    }
}

/// The untrained model.
#[derive(Clone, Debug)]
enum Initial {
    Linear(LinearResNet),
    Kernel(KernelCoefficients),
    Shl(ShlResNet),
}

/// A fit resolved against its data, before training ([`Estimator::prepare`]): the split,
/// the preprocessing, the initial model, the solver.
#[derive(Debug)]
pub struct Prepared {
    /// Every setting, resolved.
    pub config: ResolvedConfig,
    standardizer: Standardizer,
    task: Task,
    initial: Initial,
    x_train: Mat<f64>,
    y_train: TrainTargets,
    /// Squared-loss targets of the training set (one-hot for labels), for the certificate.
    y_cert: Option<Mat<f64>>,
    x_test: Mat<f64>,
    y_test: Option<TrainTargets>,
    raw_train_targets: TrainTargets,
    raw_test_targets: Option<TrainTargets>,
}

fn prepare(
    cfg: &EstimatorConfig,
    x: MatRef<'_, f64>,
    y: TargetsRef<'_>,
) -> Result<Prepared, PlresError> {
    cfg.validate()?;
    check_inputs("x", x, None)?;
    let n = x.nrows();
    if y.n_samples() != n {
        return Err(PlresError::data(
            "targets",
            format!("{} targets for {n} samples", y.n_samples()),
        ));
    }
    let task = match y {
        TargetsRef::Classes(l) => {
            let classes = l.iter().copied().max().unwrap_or(0) + 1;
            if classes < 2 {
                return Err(PlresError::data(
                    "targets",
                    "every label is 0: a classifier needs at least two classes",
                ));
            }
            Task::Classification { classes }
        }
        TargetsRef::Regression(m) => {
            check_inputs("targets", m, None)?;
            if cfg.loss == LossKind::CrossEntropy {
                return Err(PlresError::Incompatible {
                    field: "loss",
                    value: "cross-entropy".into(),
                    reason: "it needs class labels (--labels), the targets are real values".into(),
                });
            }
            Task::Regression { outputs: m.ncols() }
        }
    };
    let d_out = task.n_outputs();
    let n_test = (cfg.test_fraction * n as f64).round() as usize;
    if n - n_test < 2 {
        return Err(PlresError::data(
            "x",
            format!(
                "{n} samples leave {} for training with test_fraction = {}: need at least 2",
                n - n_test,
                cfg.test_fraction
            ),
        ));
    }
    let (train, test) = plres_data::split_indices(n, n_test, cfg.seed);
    let rows = |idx: &[usize]| Mat::from_fn(idx.len(), x.ncols(), |i, j| x[(idx[i], j)]);
    let sel = |idx: &[usize]| -> TrainTargets {
        match y {
            TargetsRef::Classes(l) => TrainTargets::Labels(idx.iter().map(|&i| l[i]).collect()),
            TargetsRef::Regression(m) => {
                TrainTargets::Matrix(Mat::from_fn(idx.len(), m.ncols(), |i, j| m[(idx[i], j)]))
            }
        }
    };
    let standardizer = Standardizer::fit(rows(&train).as_ref())
        .map_err(|e| PlresError::data("x", e.to_string()))?;
    let x_train = standardizer.transform(rows(&train).as_ref());
    let x_test = standardizer.transform(rows(&test).as_ref());
    let raw_train_targets = sel(&train);
    let raw_test_targets = (!test.is_empty()).then(|| sel(&test));
    let to_loss = |t: &TrainTargets| -> TrainTargets {
        match (t, cfg.loss) {
            (TrainTargets::Labels(l), LossKind::Squared) => {
                TrainTargets::Matrix(plres_data::one_hot(l, d_out))
            }
            _ => t.clone(),
        }
    };
    let y_train = to_loss(&raw_train_targets);
    let y_test = raw_test_targets.as_ref().map(to_loss);
    let d_in = x.ncols();
    let d = d_in.max(d_out);
    let embed_in = (d > d_in).then(|| Mat::from_fn(d, d_in, |i, j| f64::from(u8::from(i == j))));
    let embed_out = (d_out < d).then(|| Mat::from_fn(d_out, d, |i, j| f64::from(u8::from(i == j))));

    // bandwidth
    let (bandwidth, bandwidth_source) = match (cfg.features, cfg.model) {
        (_, ModelKind::Shl) | (FeatureKind::Relu, _) => (None, "none (ReLU)".to_string()),
        _ => match cfg.bandwidth {
            Bandwidth::Value(s) => (Some(s), "given".to_string()),
            Bandwidth::Auto => {
                let (m, used) = median_pairwise_distance(x_train.as_ref(), cfg.seed)?;
                (
                    Some(m),
                    format!(
                        "auto: median pairwise distance of {used} standardised training inputs"
                    ),
                )
            }
        },
    };
    let kernel = kernel_spec(cfg.features, bandwidth);
    let width = choose_width(cfg, &kernel, x_train.as_ref())?;
    let integrator = cfg.integrator.integrator();
    if cfg.model != ModelKind::Linear && cfg.integrator != IntegratorKind::Euler {
        return Err(PlresError::Incompatible {
            field: "integrator",
            value: cfg.integrator.name().into(),
            reason: format!(
                "the {} model is forward Euler only; midpoint and rk4 are for --model linear",
                cfg.model.name()
            ),
        });
    }
    let setting = |stage: &str| {
        let stage = stage.to_string();
        move |e: plres_resnet::ResNetError| PlresError::run(stage, e)
    };
    let maps = (embed_in, embed_out);
    let initial = match cfg.model {
        ModelKind::Linear => {
            let spec = match cfg.features {
                FeatureKind::Relu => FeatureSpec::Relu,
                _ => FeatureSpec::Fourier {
                    kernel,
                    variant: FourierVariant::CosineWithPhase,
                },
            };
            let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
            rng.set_stream(1);
            let p = width.width.expect("finite width for the linear model");
            let phi = spec
                .sample(d, p, &mut rng)
                .map_err(|e| PlresError::run("drawing the features", e))?;
            let net = LinearResNet::new(
                std::sync::Arc::from(phi),
                LinearResNetConfig {
                    depth: cfg.depth,
                    integrator,
                    init: Init::Zero,
                },
            )
            .map_err(setting("building the network"))?
            .with_seed(cfg.seed);
            Initial::Linear(with_maps(
                net,
                maps,
                LinearResNet::with_input_embedding,
                LinearResNet::with_output_map,
            )?)
        }
        ModelKind::Shl => {
            let p = width.width.expect("finite width for the shl model");
            let net = ShlResNet::new(ShlResNetConfig {
                dim: d,
                width: p,
                depth: cfg.depth,
                activation: Activation::Relu,
                init_u: Init::Zero,
                seed: cfg.seed,
                shared_init: true,
            })
            .map_err(setting("building the network"))?;
            Initial::Shl(with_maps(
                net,
                maps,
                ShlResNet::with_input_embedding,
                ShlResNet::with_output_map,
            )?)
        }
        ModelKind::Kernel => {
            let net =
                KernelResNet::new(kernel, d, cfg.depth).map_err(setting("building the network"))?;
            let mut net = with_maps(
                net,
                maps,
                KernelResNet::with_input_embedding,
                KernelResNet::with_output_map,
            )?;
            net.add_trajectory_centres(x_train.as_ref())
                .map_err(setting("building the dictionary"))?;
            Initial::Kernel(
                KernelCoefficients::new(net).map_err(setting("building the dictionary"))?,
            )
        }
    };
    let n_train = train.len();
    let budget = cfg.budget.unwrap_or(match cfg.optimizer {
        OptimizerKind::Gd => Budget::Steps(100),
        _ => Budget::Epochs(20),
    });
    let batch = match cfg.optimizer {
        OptimizerKind::Gd => None,
        OptimizerKind::Sgd => Some(cfg.batch.unwrap_or(64).min(n_train)),
        OptimizerKind::Adam => cfg.batch.map(|b| b.min(n_train)),
    };
    if let Some(b) = cfg.batch
        && b > n_train
    {
        return Err(PlresError::Incompatible {
            field: "batch",
            value: b.to_string(),
            reason: format!("the training split has only {n_train} samples"),
        });
    }
    let total_steps = match budget {
        Budget::Steps(t) => t,
        Budget::Epochs(e) => e * batch.map_or(1, |b| n_train.div_ceil(b).max(1) as u64),
    };
    let certifiable = cfg.loss == LossKind::Squared && cfg.model != ModelKind::Shl;
    let certify_every = certifiable.then(|| {
        cfg.certify_every
            .unwrap_or_else(|| total_steps.div_ceil(CERTIFIED_POINTS).max(1))
    });
    let tight = certifiable
        && cfg.integrator == IntegratorKind::Euler
        && n_train * d_out <= TIGHT_ALONG_TRAINING_MAX;
    let config = ResolvedConfig {
        requested: cfg.clone(),
        model: cfg.model.name().into(),
        features: match cfg.model {
            ModelKind::Shl => "relu".into(),
            _ => cfg.features.name().into(),
        },
        bandwidth,
        bandwidth_source,
        width,
        depth: cfg.depth,
        integrator: cfg.integrator.name().into(),
        loss: cfg.loss.name().into(),
        optimizer: cfg.optimizer.name().into(),
        lr: cfg.lr.unwrap_or(cfg.optimizer.default_lr()),
        budget,
        batch,
        seed: cfg.seed,
        test_fraction: cfg.test_fraction,
        n_train,
        n_test,
        d_in,
        state_dim: d,
        d_out,
        certify_every,
        tight,
    };
    let y_cert = match (&y_train, certifiable) {
        (TrainTargets::Matrix(m), true) => Some(m.clone()),
        _ => None,
    };
    Ok(Prepared {
        config,
        standardizer,
        task,
        initial,
        x_train,
        y_train,
        y_cert,
        x_test,
        y_test,
        raw_train_targets,
        raw_test_targets,
    })
}

/// The kernel of a feature kind at a bandwidth (`ArcCosine1` for ReLU).
fn kernel_spec(features: FeatureKind, bandwidth: Option<f64>) -> KernelSpec {
    let s = bandwidth.unwrap_or(1.0);
    match features {
        FeatureKind::Gaussian => KernelSpec::Gaussian { sigma: s },
        FeatureKind::Laplace => KernelSpec::Laplace { lengthscale: s },
        FeatureKind::Matern32 => KernelSpec::Matern32 { lengthscale: s },
        FeatureKind::Matern52 => KernelSpec::Matern52 { lengthscale: s },
        FeatureKind::Relu => KernelSpec::ArcCosine1,
    }
}

/// The median of `‖x_i − x_j‖` over pairs `i < j` of at most 1000 rows (a seeded
/// subsample, stream 3 of `seed`, beyond); returns it and the number of rows used.
///
/// # Errors
/// [`PlresError::BadData`] when the median is 0 (most inputs coincide).
pub fn median_pairwise_distance(x: MatRef<'_, f64>, seed: u64) -> Result<(f64, usize), PlresError> {
    const MAX_ROWS: usize = 1000;
    let n = x.nrows();
    let mut idx: Vec<usize> = (0..n).collect();
    if n > MAX_ROWS {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(3);
        plres_data::shuffle(&mut idx, &mut rng);
        idx.truncate(MAX_ROWS);
    }
    let mut dists = Vec::with_capacity(idx.len() * (idx.len().saturating_sub(1)) / 2);
    for (a, &i) in idx.iter().enumerate() {
        for &j in &idx[a + 1..] {
            let s: f64 = (0..x.ncols())
                .map(|c| (x[(i, c)] - x[(j, c)]).powi(2))
                .sum();
            dists.push(s.sqrt());
        }
    }
    if dists.is_empty() {
        return Err(PlresError::data(
            "x",
            "one training sample: no pairwise distance",
        ));
    }
    let m = plres_theory::stats::median(&dists);
    if m.is_nan() || m <= 0.0 {
        return Err(PlresError::data(
            "x",
            "the median pairwise distance of the training inputs is 0 (most inputs coincide): give --bandwidth",
        ));
    }
    Ok((m, idx.len()))
}

/// The pointwise feature-count bound for `kernel` on the rows of `x` (module docs, step 6):
/// `(p, λ_min(K), ‖K‖)`.
///
/// # Errors
/// As [`crate::sizing::features_needed`], and [`PlresError::Run`] when the bound refuses
/// (`λ_min ≤ 0`: coinciding inputs).
pub fn pointwise_width(
    kernel: &KernelSpec,
    x: MatRef<'_, f64>,
    delta: f64,
) -> Result<(usize, f64, f64), PlresError> {
    let b = crate::sizing::features_needed(kernel, x, delta)?;
    let p = b.pointwise.map_err(|e| {
        PlresError::data(
            "x",
            format!("pointwise bound (λ_min = {:.3e}): {e}", b.lambda_min),
        )
    })?;
    Ok((p, b.lambda_min, b.norm_k))
}

fn choose_width(
    cfg: &EstimatorConfig,
    kernel: &KernelSpec,
    x: MatRef<'_, f64>,
) -> Result<WidthChoice, PlresError> {
    let mut choice = WidthChoice {
        width: None,
        source: "infinite".into(),
        bound: None,
        delta: AUTO_WIDTH_DELTA,
        cap: cfg.width_cap,
        lambda_min: None,
        norm_k: None,
        note: None,
    };
    if cfg.model == ModelKind::Kernel {
        return Ok(choice);
    }
    if let Width::Value(p) = cfg.width {
        choice.width = Some(p);
        choice.source = "given".into();
        return Ok(choice);
    }
    let relu = cfg.model == ModelKind::Shl || cfg.features == FeatureKind::Relu;
    if relu {
        choice.width = Some(RELU_DEFAULT_WIDTH.min(cfg.width_cap));
        choice.source = "default".into();
        choice.note = Some(format!(
            "the pointwise bound is a bound on random Fourier features; ReLU widths default to {RELU_DEFAULT_WIDTH} (capped at {})",
            cfg.width_cap
        ));
        return Ok(choice);
    }
    if x.nrows() > AUTO_WIDTH_MAX_N {
        choice.width = Some(cfg.width_cap);
        choice.source = "cap".into();
        choice.note = Some(format!(
            "N = {} > {AUTO_WIDTH_MAX_N}: the bound's kernel Gram was not formed; the cap is used",
            x.nrows()
        ));
        return Ok(choice);
    }
    match pointwise_width(kernel, x, AUTO_WIDTH_DELTA) {
        Ok((p, lmin, lmax)) => {
            choice.bound = Some(p);
            choice.lambda_min = Some(lmin);
            choice.norm_k = Some(lmax);
            if p > cfg.width_cap {
                choice.width = Some(cfg.width_cap);
                choice.source = "cap".into();
                choice.note = Some(format!(
                    "the bound asks for p = {p} > the cap {}: the cap is used (the guarantee at δ = {AUTO_WIDTH_DELTA} does not hold)",
                    cfg.width_cap
                ));
            } else {
                choice.width = Some(p);
                choice.source = "bound".into();
            }
        }
        Err(e) => {
            choice.width = Some(cfg.width_cap);
            choice.source = "cap".into();
            choice.note = Some(format!(
                "{}: the cap is used",
                crate::error::error_chain(&e)
            ));
        }
    }
    Ok(choice)
}

/// Certified rows: `(iteration, μ_cert, ρ in the certificate's metric, min_k λ_k)`.
type CertRow = (u64, f64, f64, f64);

/// The PL certificate along a run, for one model kind: an observer whose rows are kept
/// across the chunks of a run (a run is split at snapshot points).
trait CertSource {
    fn observer(&mut self) -> &mut dyn Observer;
    /// Certifies the final iterate unless it already is.
    fn finalize(&mut self, last: u64, params: &[f64]) -> Result<(), PlresError>;
    /// Certified rows and `(iteration, μ_tight)` rows so far.
    fn rows(&self) -> (Vec<CertRow>, Vec<(u64, f64)>);
    /// The certification periods `(every, tight_every)`.
    fn periods(&self) -> (u64, Option<u64>);
}

/// The linear model's monitors ([`Monitor`]; a second one with `μ_tight`).
struct LinearCert {
    main: Monitor,
    tight: Option<Monitor>,
    every: u64,
    tight_every: Option<u64>,
}

/// Both monitors as one observer.
struct Both<'a>(&'a mut Monitor, Option<&'a mut Monitor>);

impl Observer for Both<'_> {
    fn observe(&mut self, it: &Iterate<'_>) -> ObserverAction {
        self.0.observe(it);
        if let Some(t) = self.1.as_mut() {
            t.observe(it);
        }
        ObserverAction::Continue
    }
}

/// [`LinearCert`] as an observer for one chunk.
struct LinearObserver<'a>(&'a mut LinearCert);

impl Observer for LinearObserver<'_> {
    fn observe(&mut self, it: &Iterate<'_>) -> ObserverAction {
        let c = &mut *self.0;
        Both(&mut c.main, c.tight.as_mut()).observe(it)
    }
}

impl Observer for LinearCert {
    fn observe(&mut self, it: &Iterate<'_>) -> ObserverAction {
        LinearObserver(self).observe(it)
    }
}

impl CertSource for LinearCert {
    fn observer(&mut self) -> &mut dyn Observer {
        self
    }

    fn finalize(&mut self, last: u64, params: &[f64]) -> Result<(), PlresError> {
        for mon in std::iter::once(&mut self.main).chain(self.tight.as_mut()) {
            if let Some((it, e)) = mon.errors().first() {
                return Err(PlresError::run(
                    format!("certifying iterate {it}"),
                    e.clone(),
                ));
            }
            if mon.rows().last().is_none_or(|r| r.iteration != last) {
                mon.certify(last, params)
                    .map_err(|e| PlresError::run("certifying the final iterate", e))?;
            }
        }
        Ok(())
    }

    fn rows(&self) -> (Vec<CertRow>, Vec<(u64, f64)>) {
        let cert = self
            .main
            .rows()
            .iter()
            .map(|r: &MonitorRow| (r.iteration, r.mu_cert, r.rho, r.lambda_min))
            .collect();
        let tight = self.tight.as_ref().map_or_else(Vec::new, |t| {
            t.rows().iter().map(|r| (r.iteration, r.mu_tight)).collect()
        });
        (cert, tight)
    }

    fn periods(&self) -> (u64, Option<u64>) {
        (self.every, self.tight_every)
    }
}

/// The certificate of the kernel model along training (the infinite-width network with
/// the iterate's coefficients, exact kernel Grams).
struct KernelMonitor {
    model: KernelCoefficients,
    x: Mat<f64>,
    y: Mat<f64>,
    every: u64,
    tight_every: Option<u64>,
    rows: Vec<CertRow>,
    tight: Vec<(u64, f64)>,
    error: Option<PlresError>,
}

impl KernelMonitor {
    fn certify(&mut self, iteration: u64, params: &[f64], tight: bool) -> Result<(), PlresError> {
        self.model
            .set_params(params)
            .map_err(|e| PlresError::run("certificate", e))?;
        let net = self
            .model
            .to_network()
            .map_err(|e| PlresError::run("certificate", e))?;
        let b = net.maps().embed_out.clone();
        let snap = plres_theory::pl::kernel_snapshot(
            &net,
            self.x.as_ref(),
            self.y.as_ref(),
            b.as_ref().map(|b| b.as_ref()),
        )
        .map_err(|e| PlresError::run(format!("certifying iterate {iteration}"), e))?;
        self.rows
            .push((iteration, snap.mu(), snap.rho, snap.lambda_min()));
        if tight {
            let (t, _) = plres_theory::pl::kernel_tight(&net, self.x.as_ref())
                .map_err(|e| PlresError::run(format!("μ_tight at iterate {iteration}"), e))?;
            self.tight.push((iteration, t.mu_tight));
        }
        Ok(())
    }
}

impl Observer for KernelMonitor {
    fn observe(&mut self, it: &Iterate<'_>) -> ObserverAction {
        if self.error.is_some() || self.rows.last().is_some_and(|r| r.0 == it.iteration) {
            return ObserverAction::Continue;
        }
        let tight = self
            .tight_every
            .is_some_and(|k| it.iteration.is_multiple_of(k));
        if (it.iteration.is_multiple_of(self.every) || tight)
            && let Err(e) = self.certify(it.iteration, it.params, tight)
        {
            self.error = Some(e);
        }
        ObserverAction::Continue
    }
}

impl CertSource for KernelMonitor {
    fn observer(&mut self) -> &mut dyn Observer {
        self
    }

    fn finalize(&mut self, last: u64, params: &[f64]) -> Result<(), PlresError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if self.rows.last().is_none_or(|r| r.0 != last) {
            self.certify(last, params, self.tight_every.is_some())?;
        }
        Ok(())
    }

    fn rows(&self) -> (Vec<CertRow>, Vec<(u64, f64)>) {
        (self.rows.clone(), self.tight.clone())
    }

    fn periods(&self) -> (u64, Option<u64>) {
        (self.every, self.tight_every)
    }
}

/// What a snapshot is handed to: the state at the snapshot point and the trace before it.
pub type SaveSnapshot<'a> = dyn FnMut(&State, &[TraceRow]) -> Result<(), PlresError> + 'a;

/// Periodic snapshots of a run ([`Prepared::train_with_snapshots`]).
pub struct Snapshots<'a> {
    /// Save after every `every` iterates (at iterations `every, 2·every, …`).
    pub every: u64,
    /// Called with the state at the snapshot point and the trace of the iterates before
    /// it (rows with `iteration < state.iteration()`).
    pub save: &'a mut SaveSnapshot<'a>,
}

/// One trace row per iterate (the first observation of an iterate seen twice at a
/// chunk boundary), with the certificate rows at the iterations a run certifies (multiples
/// of the periods, and `last`): a function of the iterates alone, so a resumed run's trace
/// is the uninterrupted one's.
fn merge_trace(
    records: &[plres_optim::Record],
    cert: &[CertRow],
    tight: &[(u64, f64)],
    periods: (u64, Option<u64>),
    last: Option<u64>,
) -> Vec<TraceRow> {
    let mut trace: Vec<TraceRow> = Vec::with_capacity(records.len());
    for r in records {
        if trace.last().is_some_and(|p| p.iteration >= r.iteration) {
            continue;
        }
        trace.push(TraceRow {
            iteration: r.iteration,
            epoch: r.epoch,
            loss: r.loss,
            grad_norm_sq: r.grad_norm_sq,
            rho: r.grad_norm_sq / r.loss,
            learning_rate: r.learning_rate,
            mu_cert: None,
            rho_certified: None,
            lambda_min: None,
            mu_tight: None,
        });
    }
    let at = |it: u64, every: u64| it.is_multiple_of(every) || Some(it) == last;
    let find =
        |trace: &mut Vec<TraceRow>, it: u64| trace.binary_search_by_key(&it, |r| r.iteration).ok();
    for &(it, mu, rho, lmin) in cert {
        if at(it, periods.0)
            && let Some(i) = find(&mut trace, it)
            && trace[i].mu_cert.is_none()
        {
            trace[i].mu_cert = Some(mu);
            trace[i].rho_certified = Some(rho);
            trace[i].lambda_min = Some(lmin);
        }
    }
    if let Some(te) = periods.1 {
        for &(it, mt) in tight {
            if at(it, te)
                && let Some(i) = find(&mut trace, it)
                && trace[i].mu_tight.is_none()
            {
                trace[i].mu_tight = Some(mt);
            }
        }
    }
    trace
}

impl Prepared {
    /// The initial parameters (`θ = 0`) as an optimizer state, for a fresh run.
    pub fn initial_state(&self) -> State {
        State::new(match &self.initial {
            Initial::Linear(m) => m.params().to_vec(),
            Initial::Kernel(m) => m.params().to_vec(),
            Initial::Shl(m) => m.params().to_vec(),
        })
    }

    fn solver(&self, metric: plres_optim::Metric) -> Result<Box<dyn Solver>, PlresError> {
        let c = &self.config;
        let bad = |e: plres_optim::ConfigError| PlresError::setting("lr", c.lr, e.to_string());
        let seed = c.seed.wrapping_add(1);
        Ok(match c.requested.optimizer {
            OptimizerKind::Gd => Box::new(
                GradientDescentConfig::new(c.lr)
                    .with_metric(metric)
                    .build()
                    .map_err(bad)?,
            ),
            OptimizerKind::Sgd => Box::new(
                SgdConfig::new(c.lr, c.batch.unwrap_or(1), seed)
                    .with_metric(metric)
                    .build()
                    .map_err(bad)?,
            ),
            OptimizerKind::Adam => {
                let mut a = AdamConfig::adam(c.lr).with_metric(metric);
                if let Some(b) = c.batch {
                    a = a.with_minibatch(Minibatch::new(b, seed));
                }
                Box::new(a.build().map_err(bad)?)
            }
        })
    }

    fn stopping(&self) -> Stopping {
        match self.config.budget {
            Budget::Steps(t) => Stopping::iterations(t),
            Budget::Epochs(e) => Stopping::epochs(e),
        }
    }

    /// Trains from `state` (the initial one when `None`) to the end of the budget (counted
    /// from iteration 0: a state at iteration `t` runs the remaining steps), with extra
    /// observers (a progress display) beside the certificate's.
    ///
    /// # Errors
    /// As [`Estimator::fit`].
    pub fn train(
        self,
        state: Option<State>,
        observers: &mut [&mut dyn Observer],
    ) -> Result<Fitted, PlresError> {
        self.train_with_snapshots(state, observers, None)
    }

    /// As [`Prepared::train`], saving a snapshot every `snapshots.every` iterates: the run
    /// is split into chunks at those iterations (plres-optim's resume is bitwise, so the
    /// chunks are the uninterrupted run), and a run resumed from a snapshot's state (and
    /// trace) ends with the same network and trace as the uninterrupted one.
    ///
    /// # Errors
    /// As [`Estimator::fit`]; [`PlresError::Checkpoint`]-like mismatch of a restored state
    /// ([`State::check_resume`]) as [`PlresError::Incompatible`]; the errors of `save`.
    pub fn train_with_snapshots(
        self,
        state: Option<State>,
        observers: &mut [&mut dyn Observer],
        snapshots: Option<Snapshots<'_>>,
    ) -> Result<Fitted, PlresError> {
        let resumed = state.is_some();
        let state = state.unwrap_or_else(|| self.initial_state());
        let total = self.total_steps();
        let tight_every = self
            .config
            .tight
            .then(|| total.div_ceil(TIGHT_POINTS).max(1));
        match self.initial.clone() {
            Initial::Linear(m) => {
                let cert = match (self.config.certify_every, &self.y_cert) {
                    (Some(every), Some(y)) => {
                        let mk = |cfg: MonitorConfig| {
                            Monitor::new(&m, self.x_train.as_ref(), y.as_ref(), cfg)
                                .map_err(|e| PlresError::run("setting up the PL monitor", e))
                        };
                        Some(LinearCert {
                            main: mk(MonitorConfig {
                                every,
                                ..Default::default()
                            })?,
                            tight: match tight_every {
                                Some(te) => Some(mk(MonitorConfig {
                                    every: te,
                                    tight: true,
                                    ..Default::default()
                                })?),
                                None => None,
                            },
                            every,
                            tight_every,
                        })
                    }
                    _ => None,
                };
                self.run_and_finish(m, cert, (state, resumed), observers, snapshots, |m| {
                    Ok(TrainedModel::Linear(m))
                })
            }
            Initial::Kernel(m) => {
                let km = match (self.config.certify_every, &self.y_cert) {
                    (Some(every), Some(y)) => Some(KernelMonitor {
                        model: m.clone(),
                        x: self.x_train.clone(),
                        y: y.clone(),
                        every,
                        tight_every,
                        rows: Vec::new(),
                        tight: Vec::new(),
                        error: None,
                    }),
                    _ => None,
                };
                self.run_and_finish(m, km, (state, resumed), observers, snapshots, |m| {
                    m.to_network()
                        .map(TrainedModel::Kernel)
                        .map_err(|e| PlresError::run("the trained kernel network", e))
                })
            }
            Initial::Shl(m) => {
                let (model, outcome, history) =
                    self.run_model(m, state, resumed, None, observers, snapshots)?;
                self.finish(TrainedModel::Shl(model), outcome, &history, None)
            }
        }
    }

    fn total_steps(&self) -> u64 {
        match self.config.budget {
            Budget::Steps(t) => t,
            Budget::Epochs(e) => {
                e * self
                    .config
                    .batch
                    .map_or(1, |b| self.config.n_train.div_ceil(b).max(1) as u64)
            }
        }
    }

    /// [`Prepared::run_model`] with the certificate `cert` (`None`: not certified), then
    /// [`Prepared::finish`] with the trained model as `trained` makes it.
    fn run_and_finish<M: Trainable + Clone, C: CertSource>(
        self,
        model: M,
        mut cert: Option<C>,
        (state, resumed): (State, bool),
        observers: &mut [&mut dyn Observer],
        snapshots: Option<Snapshots<'_>>,
        trained: impl FnOnce(M) -> Result<TrainedModel, PlresError>,
    ) -> Result<Fitted, PlresError> {
        let (model, outcome, history) = self.run_model(
            model,
            state,
            resumed,
            cert.as_mut().map(|c| c as &mut dyn CertSource),
            observers,
            snapshots,
        )?;
        self.finish(
            trained(model)?,
            outcome,
            &history,
            cert.as_ref().map(|c| c as &dyn CertSource),
        )
    }

    fn run_model<M: Trainable + Clone>(
        &self,
        mut model: M,
        mut state: State,
        resumed: bool,
        mut cert: Option<&mut dyn CertSource>,
        observers: &mut [&mut dyn Observer],
        mut snapshots: Option<Snapshots<'_>>,
    ) -> Result<(M, Outcome, History), PlresError> {
        let solver = self.solver(model.metric())?;
        let mut history = History::new();
        let x = self.x_train.as_ref();
        let y = self.y_train.as_ref();
        let problem_err =
            |e: plres_resnet::ResNetError| PlresError::data("training data", e.to_string());
        if resumed {
            let problem = TrainingProblem::new(model.clone(), x, y).map_err(problem_err)?;
            state.check_resume(solver.as_ref(), &problem).map_err(|e| {
                PlresError::Incompatible {
                    field: "resume",
                    value: format!("iteration {}", state.iteration()),
                    reason: e.to_string(),
                }
            })?;
        }
        let budget = self.stopping();
        let total = self.total_steps();
        let run_err = |e: OptimError| match e {
            OptimError::Diverged { iteration, .. } => PlresError::run(
                format!(
                    "training diverged at iterate {iteration} (lr = {}: try a smaller --lr)",
                    self.config.lr
                ),
                e,
            ),
            e => PlresError::run("training", e),
        };
        loop {
            let boundary = snapshots.as_ref().map(|s| {
                let t = state.iteration();
                (t / s.every + 1) * s.every
            });
            let stopping = match boundary {
                Some(b) if b < total => budget.clone().max_iterations(b),
                _ => budget.clone(),
            };
            let trained = {
                let mut obs: Vec<&mut dyn Observer> = vec![&mut history];
                if let Some(c) = cert.as_mut() {
                    obs.push(c.observer());
                }
                for o in observers.iter_mut() {
                    obs.push(&mut **o);
                }
                TrainingProblem::new(model, x, y)
                    .map_err(problem_err)?
                    .run(solver.as_ref(), state, &stopping, &mut obs)
                    .map_err(run_err)?
            };
            model = trained.model;
            let outcome = trained.outcome;
            let at_boundary = boundary.is_some_and(|b| b < total && outcome.state.iteration() == b);
            if !at_boundary {
                if let Some(c) = cert.as_mut() {
                    c.finalize(outcome.state.iteration(), outcome.state.params())?;
                }
                return Ok((model, outcome, history));
            }
            if let Some(s) = snapshots.as_mut() {
                let (rows, tight) = cert.as_ref().map_or_else(Default::default, |c| c.rows());
                let periods = cert.as_ref().map_or((1, None), |c| c.periods());
                let t = outcome.state.iteration();
                let mut trace = merge_trace(&history.records, &rows, &tight, periods, None);
                trace.retain(|r| r.iteration < t);
                (s.save)(&outcome.state, &trace)?;
            }
            state = outcome.state;
        }
    }

    fn finish(
        self,
        model: TrainedModel,
        outcome: Outcome,
        history: &History,
        cert: Option<&dyn CertSource>,
    ) -> Result<Fitted, PlresError> {
        let last = outcome.state.iteration();
        let (rows, tight) = cert.map_or_else(Default::default, |c| c.rows());
        let periods = cert.map_or((1, None), |c| c.periods());
        let trace = merge_trace(&history.records, &rows, &tight, periods, Some(last));
        let violations: Vec<u64> = trace
            .iter()
            .filter(|r| {
                matches!((r.rho_certified, r.mu_cert), (Some(rho), Some(mu)) if r.loss > 0.0 && rho < mu * (1.0 - 1e-9))
            })
            .map(|r| r.iteration)
            .collect();
        let network = Network {
            model,
            standardizer: self.standardizer.clone(),
            task: self.task,
        };
        let m = network.model.as_model();
        let loss = |x: &Mat<f64>, y: &TrainTargets| {
            m.loss(x.as_ref(), y.as_ref())
                .map_err(|e| PlresError::run("evaluating the loss", e))
        };
        let final_loss = loss(&self.x_train, &self.y_train)?;
        let score = |x: &Mat<f64>, raw: &TrainTargets| -> Result<f64, PlresError> {
            let z = m
                .forward(x.as_ref())
                .map_err(|e| PlresError::run("forward pass", e))?;
            Ok(match raw {
                TrainTargets::Labels(l) => {
                    let hits = (0..z.nrows())
                        .filter(|&i| {
                            let best = (0..z.ncols())
                                .fold(0, |b, c| if z[(i, c)] > z[(i, b)] { c } else { b });
                            best == l[i]
                        })
                        .count();
                    hits as f64 / l.len() as f64
                }
                TrainTargets::Matrix(y) => r_squared(z.as_ref(), y.as_ref()),
            })
        };
        let train_score = score(&self.x_train, &self.raw_train_targets)?;
        let (test_loss, test_score) = match (&self.y_test, &self.raw_test_targets) {
            (Some(yt), Some(raw)) => (
                Some(loss(&self.x_test, yt)?),
                Some(score(&self.x_test, raw)?),
            ),
            _ => (None, None),
        };
        let initial_loss = {
            let y = self.y_train.as_ref();
            let x = self.x_train.as_ref();
            match &self.initial {
                Initial::Linear(m) => m.loss(x, y),
                Initial::Kernel(m) => m.loss(x, y),
                Initial::Shl(m) => m.loss(x, y),
            }
            .map_err(|e| PlresError::run("evaluating the initial loss", e))?
        };
        let mu_cert_min = trace.iter().filter_map(|r| r.mu_cert).reduce(f64::min);
        let report = TrainingReport {
            iterations: outcome.state.iteration(),
            epochs: outcome.state.epoch(),
            initial_loss,
            final_loss,
            train_score,
            test_loss,
            test_score,
            score_name: match self.task {
                Task::Classification { .. } => "accuracy".into(),
                Task::Regression { .. } => "r2".into(),
            },
            mu_cert_min,
            violations,
            stop_reason: format!("{:?}", outcome.report.stop_reason),
            seconds: outcome.report.elapsed.as_secs_f64(),
        };
        Ok(Fitted {
            network,
            config: self.config,
            report,
            trace,
            state: outcome.state,
        })
    }
}
