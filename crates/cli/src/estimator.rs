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
/// use plres::{Estimator, ModelKind};
/// let digits = plres_data::load_digits()?;
/// let fitted = Estimator::new().model(ModelKind::Linear).width(64).depth(4).steps(20)
///     .fit(digits.x.as_ref(), digits.y.as_ref())?;
/// let last = fitted.trace.iter().rev().find(|r| r.mu_cert.is_some()).unwrap();
/// assert!(last.rho >= last.mu_cert.unwrap()); // the local PL inequality, certified
/// assert!(fitted.report.final_loss < fitted.report.initial_loss);
/// println!("test accuracy {:.3}", fitted.report.test_score.unwrap());
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

impl Estimator {
    /// The defaults of [`EstimatorConfig::default`].
    pub fn new() -> Self {
        Self::default()
    }

    /// An estimator with the given settings.
    pub fn from_config(config: EstimatorConfig) -> Self {
        Self { config }
    }

    /// Linear (default), kernel or SHL.
    pub fn model(mut self, model: ModelKind) -> Self {
        self.config.model = model;
        self
    }

    /// Feature map / kernel (default Gaussian).
    pub fn features(mut self, features: FeatureKind) -> Self {
        self.config.features = features;
        self
    }

    /// Bandwidth: a number (`σ` or `ℓ`) or [`Bandwidth::Auto`] (default).
    pub fn bandwidth(mut self, bandwidth: impl Into<Bandwidth>) -> Self {
        self.config.bandwidth = bandwidth.into();
        self
    }

    /// Width `p`: a number or [`Width::Auto`] (default).
    pub fn width(mut self, width: impl Into<Width>) -> Self {
        self.config.width = width.into();
        self
    }

    /// Largest width `auto` may pick (default 512).
    pub fn width_cap(mut self, cap: usize) -> Self {
        self.config.width_cap = cap;
        self
    }

    /// Depth `L` (default 8).
    pub fn depth(mut self, depth: usize) -> Self {
        self.config.depth = depth;
        self
    }

    /// Integrator (default Euler).
    pub fn integrator(mut self, integrator: IntegratorKind) -> Self {
        self.config.integrator = integrator;
        self
    }

    /// Loss (default squared).
    pub fn loss(mut self, loss: LossKind) -> Self {
        self.config.loss = loss;
        self
    }

    /// Optimizer (default GD).
    pub fn optimizer(mut self, optimizer: OptimizerKind) -> Self {
        self.config.optimizer = optimizer;
        self
    }

    /// Learning rate (default [`OptimizerKind::default_lr`]).
    pub fn lr(mut self, lr: f64) -> Self {
        self.config.lr = Some(lr);
        self
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

    /// Minibatch size (SGD, Adam).
    pub fn batch(mut self, batch: usize) -> Self {
        self.config.batch = Some(batch);
        self
    }

    /// Seed of every random draw (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// Held-out fraction (default 0.2).
    pub fn test_fraction(mut self, f: f64) -> Self {
        self.config.test_fraction = f;
        self
    }

    /// Certify every `k`-th iterate (default: about 50 iterates per run).
    pub fn certify_every(mut self, k: u64) -> Self {
        self.config.certify_every = Some(k);
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
            let mut net = LinearResNet::new(
                std::sync::Arc::from(phi),
                LinearResNetConfig {
                    depth: cfg.depth,
                    integrator,
                    init: Init::Zero,
                },
            )
            .map_err(setting("building the network"))?
            .with_seed(cfg.seed);
            if let Some(a) = embed_in.clone() {
                net = net
                    .with_input_embedding(a)
                    .map_err(setting("input embedding"))?;
            }
            if let Some(b) = embed_out.clone() {
                net = net.with_output_map(b).map_err(setting("output map"))?;
            }
            Initial::Linear(net)
        }
        ModelKind::Shl => {
            let p = width.width.expect("finite width for the shl model");
            let mut net = ShlResNet::new(ShlResNetConfig {
                dim: d,
                width: p,
                depth: cfg.depth,
                activation: Activation::Relu,
                init_u: Init::Zero,
                seed: cfg.seed,
                shared_init: true,
            })
            .map_err(setting("building the network"))?;
            if let Some(a) = embed_in.clone() {
                net = net
                    .with_input_embedding(a)
                    .map_err(setting("input embedding"))?;
            }
            if let Some(b) = embed_out.clone() {
                net = net.with_output_map(b).map_err(setting("output map"))?;
            }
            Initial::Shl(net)
        }
        ModelKind::Kernel => {
            let mut net =
                KernelResNet::new(kernel, d, cfg.depth).map_err(setting("building the network"))?;
            if let Some(a) = embed_in.clone() {
                net = net
                    .with_input_embedding(a)
                    .map_err(setting("input embedding"))?;
            }
            if let Some(b) = embed_out.clone() {
                net = net.with_output_map(b).map_err(setting("output map"))?;
            }
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
    if !(m > 0.0) {
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

/// The certificate of the kernel model along training (the infinite-width network with
/// the iterate's coefficients, exact kernel Grams).
struct KernelMonitor {
    model: KernelCoefficients,
    x: Mat<f64>,
    y: Mat<f64>,
    every: u64,
    tight_every: Option<u64>,
    rows: Vec<(u64, f64, f64, f64)>,
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
        if self.error.is_some() {
            return ObserverAction::Continue;
        }
        let tight = self
            .tight_every
            .is_some_and(|k| it.iteration.is_multiple_of(k));
        if it.iteration.is_multiple_of(self.every) || tight {
            if let Err(e) = self.certify(it.iteration, it.params, tight) {
                self.error = Some(e);
            }
        }
        ObserverAction::Continue
    }
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
    /// observers (a progress display, a periodic snapshot) beside the certificate's.
    ///
    /// # Errors
    /// As [`Estimator::fit`].
    pub fn train(
        self,
        state: Option<State>,
        observers: &mut [&mut dyn Observer],
    ) -> Result<Fitted, PlresError> {
        let state = state.unwrap_or_else(|| self.initial_state());
        match self.initial.clone() {
            Initial::Linear(m) => {
                let mut monitors = Vec::new();
                if let (Some(every), Some(y)) = (self.config.certify_every, &self.y_cert) {
                    let mk = |cfg: MonitorConfig| {
                        Monitor::new(&m, self.x_train.as_ref(), y.as_ref(), cfg)
                            .map_err(|e| PlresError::run("setting up the PL monitor", e))
                    };
                    monitors.push(mk(MonitorConfig {
                        every,
                        ..Default::default()
                    })?);
                    if self.config.tight {
                        monitors.push(mk(MonitorConfig {
                            every: self.total_steps().div_ceil(TIGHT_POINTS).max(1),
                            tight: true,
                            ..Default::default()
                        })?);
                    }
                }
                let (model, outcome, history, mut monitors) =
                    self.run_model(m, state, monitors, observers)?;
                let last = outcome.state.iteration();
                let mut cert_rows: Vec<MonitorRow> = Vec::new();
                let mut tight_rows: Vec<(u64, f64)> = Vec::new();
                for (i, mon) in monitors.iter_mut().enumerate() {
                    if mon.rows().last().is_none_or(|r| r.iteration != last) {
                        mon.certify(last, outcome.state.params())
                            .map_err(|e| PlresError::run("certifying the final iterate", e))?;
                    }
                    if let Some((it, e)) = mon.errors().first() {
                        return Err(PlresError::run(
                            format!("certifying iterate {it}"),
                            e.clone(),
                        ));
                    }
                    if i == 0 {
                        cert_rows = mon.rows().to_vec();
                    } else {
                        tight_rows = mon
                            .rows()
                            .iter()
                            .map(|r| (r.iteration, r.mu_tight))
                            .collect();
                    }
                }
                let cert: Vec<(u64, f64, f64, f64)> = cert_rows
                    .iter()
                    .map(|r| (r.iteration, r.mu_cert, r.rho, r.lambda_min))
                    .collect();
                let violations = cert_rows
                    .iter()
                    .filter(|r| r.violation)
                    .map(|r| r.iteration)
                    .collect();
                self.finish(
                    TrainedModel::Linear(model),
                    outcome,
                    &history,
                    &cert,
                    &tight_rows,
                    violations,
                )
            }
            Initial::Kernel(m) => {
                let mut km = match (self.config.certify_every, &self.y_cert) {
                    (Some(every), Some(y)) => Some(KernelMonitor {
                        model: m.clone(),
                        x: self.x_train.clone(),
                        y: y.clone(),
                        every,
                        tight_every: self
                            .config
                            .tight
                            .then(|| self.total_steps().div_ceil(TIGHT_POINTS).max(1)),
                        rows: Vec::new(),
                        tight: Vec::new(),
                        error: None,
                    }),
                    _ => None,
                };
                let mut obs: Vec<&mut dyn Observer> = Vec::new();
                if let Some(k) = km.as_mut() {
                    obs.push(k);
                }
                for o in observers.iter_mut() {
                    obs.push(&mut **o);
                }
                let (model, outcome, history, _) =
                    self.run_model(m, state, Vec::new(), &mut obs)?;
                let (mut cert, mut tight, mut violations) = (Vec::new(), Vec::new(), Vec::new());
                if let Some(mut k) = km {
                    if let Some(e) = k.error.take() {
                        return Err(e);
                    }
                    let last = outcome.state.iteration();
                    if k.rows.last().is_none_or(|r| r.0 != last) {
                        k.certify(last, outcome.state.params(), self.config.tight)?;
                    }
                    violations = k
                        .rows
                        .iter()
                        .filter(|r| r.2 < r.1 * (1.0 - 1e-9))
                        .map(|r| r.0)
                        .collect();
                    cert = k.rows;
                    tight = k.tight;
                }
                let net = model
                    .to_network()
                    .map_err(|e| PlresError::run("the trained kernel network", e))?;
                self.finish(
                    TrainedModel::Kernel(net),
                    outcome,
                    &history,
                    &cert,
                    &tight,
                    violations,
                )
            }
            Initial::Shl(m) => {
                let (model, outcome, history, _) =
                    self.run_model(m, state, Vec::new(), observers)?;
                self.finish(
                    TrainedModel::Shl(model),
                    outcome,
                    &history,
                    &[],
                    &[],
                    Vec::new(),
                )
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

    #[allow(clippy::type_complexity)] // the four things a run hands back
    fn run_model<M: Trainable>(
        &self,
        model: M,
        state: State,
        mut monitors: Vec<Monitor>,
        observers: &mut [&mut dyn Observer],
    ) -> Result<(M, Outcome, History, Vec<Monitor>), PlresError> {
        let solver = self.solver(model.metric())?;
        let stopping = self.stopping();
        let mut history = History::new();
        let trained = {
            let mut obs: Vec<&mut dyn Observer> = vec![&mut history];
            for m in monitors.iter_mut() {
                obs.push(m);
            }
            for o in observers.iter_mut() {
                obs.push(&mut **o);
            }
            let problem = TrainingProblem::new(model, self.x_train.as_ref(), self.y_train.as_ref())
                .map_err(|e| PlresError::data("training data", e.to_string()))?;
            problem
                .run(solver.as_ref(), state, &stopping, &mut obs)
                .map_err(|e| match e {
                    OptimError::Diverged { iteration, .. } => PlresError::run(
                        format!(
                            "training diverged at iterate {iteration} (lr = {}: try a smaller --lr)",
                            self.config.lr
                        ),
                        e,
                    ),
                    e => PlresError::run("training", e),
                })?
        };
        Ok((trained.model, trained.outcome, history, monitors))
    }

    fn finish(
        self,
        model: TrainedModel,
        outcome: Outcome,
        history: &History,
        cert: &[(u64, f64, f64, f64)],
        tight: &[(u64, f64)],
        violations: Vec<u64>,
    ) -> Result<Fitted, PlresError> {
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
        // one row per iterate; a resumed run's history starts at the resume point
        let mut trace: Vec<TraceRow> = history
            .records
            .iter()
            .map(|r| TraceRow {
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
            })
            .collect();
        for &(it, mu, rho, lmin) in cert {
            if let Some(row) = trace.iter_mut().rev().find(|r| r.iteration == it) {
                row.mu_cert = Some(mu);
                row.rho_certified = Some(rho);
                row.lambda_min = Some(lmin);
            }
        }
        for &(it, mt) in tight {
            if let Some(row) = trace.iter_mut().rev().find(|r| r.iteration == it) {
                row.mu_tight = Some(mt);
            }
        }
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
        let mu_cert_min = cert.iter().map(|c| c.1).reduce(f64::min);
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
