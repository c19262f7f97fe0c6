//! The estimator's settings: [`EstimatorConfig`] (what the user asked for, `auto` allowed)
//! and [`ResolvedConfig`] (every default and every `auto` resolved, as `config.json`
//! stores it).

use serde::{Deserialize, Serialize};

use crate::error::PlresError;

/// Which network is trained.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// The finite-width ResNet linear in its trained parameters,
    /// `x^{k+1} = x^k + h U_k φ(x^k)` over `p` random features (docs/theory.md §3.2).
    #[default]
    Linear,
    /// The infinite-width limit on a frozen dictionary (the training trajectory at
    /// `θ = 0`): `θ_k = Σ_c k(·, c) a_c`, coefficients trained (§3.4).
    Kernel,
    /// The non-linear baseline `x^{k+1} = x^k + h U_k √(2/p) relu(W_k x^k + c_k)` (§3.3).
    Shl,
}

impl ModelKind {
    /// `"linear"`, `"kernel"`, `"shl"`.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Linear => "linear",
            ModelKind::Kernel => "kernel",
            ModelKind::Shl => "shl",
        }
    }
}

/// The feature map (linear model) or kernel (kernel model). The SHL baseline always uses
/// ReLU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// Random Fourier features of the Gaussian kernel `exp(−‖x − y‖²/(2σ²))`.
    #[default]
    Gaussian,
    /// Random Fourier features of the Laplace kernel `exp(−‖x − y‖/ℓ)`.
    Laplace,
    /// Random Fourier features of the Matérn 3/2 kernel.
    Matern32,
    /// Random Fourier features of the Matérn 5/2 kernel.
    Matern52,
    /// Random ReLU features (kernel: the degree-1 arc-cosine kernel).
    Relu,
}

impl FeatureKind {
    /// `"gaussian"`, `"laplace"`, `"matern32"`, `"matern52"`, `"relu"`.
    pub fn name(self) -> &'static str {
        match self {
            FeatureKind::Gaussian => "gaussian",
            FeatureKind::Laplace => "laplace",
            FeatureKind::Matern32 => "matern32",
            FeatureKind::Matern52 => "matern52",
            FeatureKind::Relu => "relu",
        }
    }
}

/// The kernel's bandwidth (`σ` of the Gaussian, `ℓ` of Laplace and Matérn).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bandwidth {
    /// The median of the pairwise distances of the (standardised) training inputs.
    #[default]
    Auto,
    /// A given value `> 0`.
    Value(f64),
}

/// The number of features `p` (linear model) or hidden width (SHL).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Width {
    /// The smallest `p` for which the pointwise (matrix Bernstein) bound of
    /// docs/theory.md §6 gives `λ_min(K_p) ≥ λ_min(K)/2` on the training inputs with
    /// probability `≥ 1 − δ`, `δ = 0.05`, capped at [`EstimatorConfig::width_cap`].
    #[default]
    Auto,
    /// A given width `≥ 1`.
    Value(usize),
}

/// The depth discretisation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegratorKind {
    /// Forward Euler: the ResNet (the certificate is a theorem).
    #[default]
    Euler,
    /// Explicit midpoint on `L + 1` interpolated slices.
    Midpoint,
    /// Classical RK4 on `L + 1` interpolated slices.
    Rk4,
}

impl IntegratorKind {
    /// `"euler"`, `"midpoint"`, `"rk4"`.
    pub fn name(self) -> &'static str {
        match self {
            IntegratorKind::Euler => "euler",
            IntegratorKind::Midpoint => "midpoint",
            IntegratorKind::Rk4 => "rk4",
        }
    }

    pub(crate) fn integrator(self) -> plres_resnet::Integrator {
        match self {
            IntegratorKind::Euler => plres_resnet::Integrator::Euler,
            IntegratorKind::Midpoint => plres_resnet::Integrator::Midpoint,
            IntegratorKind::Rk4 => plres_resnet::Integrator::Rk4,
        }
    }
}

/// The training loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// `½‖z − y‖²` (class labels as one-hot vectors): the loss the PL certificate is
    /// about, so the default.
    #[default]
    Squared,
    /// Softmax cross-entropy on class labels (no certificate).
    CrossEntropy,
}

impl LossKind {
    /// `"squared"`, `"cross-entropy"`.
    pub fn name(self) -> &'static str {
        match self {
            LossKind::Squared => "squared",
            LossKind::CrossEntropy => "cross-entropy",
        }
    }
}

/// The optimizer; every one steps in the model's `L²`-in-depth metric (docs/theory.md §4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Full-batch gradient descent `θ ← θ − η G` (the theory's algorithm).
    #[default]
    Gd,
    /// Minibatch SGD, batches from a seeded per-epoch shuffle.
    Sgd,
    /// Adam (PyTorch's defaults for `β`, `ε`), full batch unless a batch size is given.
    Adam,
}

impl OptimizerKind {
    /// `"gd"`, `"sgd"`, `"adam"`.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Gd => "gd",
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Adam => "adam",
        }
    }

    /// The default learning rate: `0.5` for GD and SGD (in the `L²` metric, where the
    /// step of a depth-`L` network has a depth-independent limit), `0.01` for Adam.
    pub fn default_lr(self) -> f64 {
        match self {
            OptimizerKind::Gd | OptimizerKind::Sgd => 0.5,
            OptimizerKind::Adam => 0.01,
        }
    }
}

/// How long to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Budget {
    /// Optimizer steps.
    Steps(u64),
    /// Passes over the training data (for full-batch optimizers one epoch is one step).
    Epochs(u64),
}

/// What the user asks for (`auto` allowed); [`crate::Estimator`] wraps it with builder
/// methods. Every field has a documented default ([`EstimatorConfig::default`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EstimatorConfig {
    /// The network. Default [`ModelKind::Linear`].
    pub model: ModelKind,
    /// Features or kernel. Default [`FeatureKind::Gaussian`].
    pub features: FeatureKind,
    /// Default [`Bandwidth::Auto`].
    pub bandwidth: Bandwidth,
    /// Default [`Width::Auto`].
    pub width: Width,
    /// Largest width `auto` may choose. Default 512.
    pub width_cap: usize,
    /// Depth `L ≥ 1`. Default 8.
    pub depth: usize,
    /// Default [`IntegratorKind::Euler`].
    pub integrator: IntegratorKind,
    /// Default [`LossKind::Squared`].
    pub loss: LossKind,
    /// Default [`OptimizerKind::Gd`].
    pub optimizer: OptimizerKind,
    /// Learning rate; `None` = [`OptimizerKind::default_lr`].
    pub lr: Option<f64>,
    /// `None` = 100 steps for GD, 20 epochs for SGD and Adam.
    pub budget: Option<Budget>,
    /// Minibatch size (SGD: default `min(64, N_train)`; Adam: full batch by default;
    /// GD: must be unset).
    pub batch: Option<usize>,
    /// Seed of every random draw (split, features, minibatches). Default 0.
    pub seed: u64,
    /// Fraction of the samples held out for testing, in `[0, 1)`. Default 0.2.
    pub test_fraction: f64,
    /// Certify every `k`-th iterate (squared loss); `None` = about 50 certified iterates
    /// over the run, plus the last one.
    pub certify_every: Option<u64>,
}

impl Default for EstimatorConfig {
    fn default() -> Self {
        Self {
            model: ModelKind::Linear,
            features: FeatureKind::Gaussian,
            bandwidth: Bandwidth::Auto,
            width: Width::Auto,
            width_cap: 512,
            depth: 8,
            integrator: IntegratorKind::Euler,
            loss: LossKind::Squared,
            optimizer: OptimizerKind::Gd,
            lr: None,
            budget: None,
            batch: None,
            seed: 0,
            test_fraction: 0.2,
            certify_every: None,
        }
    }
}

impl EstimatorConfig {
    /// Checks every field on its own (the data-dependent checks happen in `fit`).
    ///
    /// # Errors
    /// [`PlresError::InvalidSetting`] naming the field and value;
    /// [`PlresError::Incompatible`] for combinations that make no sense.
    pub fn validate(&self) -> Result<(), PlresError> {
        if let Bandwidth::Value(s) = self.bandwidth
            && !(s.is_finite() && s > 0.0)
        {
            return Err(PlresError::setting(
                "bandwidth",
                s,
                "a finite number > 0 or auto",
            ));
        }
        if self.width == Width::Value(0) {
            return Err(PlresError::setting("width", 0, "at least 1, or auto"));
        }
        if self.width_cap == 0 {
            return Err(PlresError::setting("width_cap", 0, "at least 1"));
        }
        if self.depth == 0 {
            return Err(PlresError::setting("depth", 0, "at least 1"));
        }
        if let Some(lr) = self.lr
            && !(lr.is_finite() && lr > 0.0)
        {
            return Err(PlresError::setting("lr", lr, "a finite number > 0"));
        }
        match self.budget {
            Some(Budget::Steps(0)) => {
                return Err(PlresError::setting("steps", 0, "at least 1"));
            }
            Some(Budget::Epochs(0)) => {
                return Err(PlresError::setting("epochs", 0, "at least 1"));
            }
            _ => {}
        }
        if self.batch == Some(0) {
            return Err(PlresError::setting("batch", 0, "at least 1"));
        }
        if self.optimizer == OptimizerKind::Gd && self.batch.is_some() {
            return Err(PlresError::Incompatible {
                field: "batch",
                value: self.batch.unwrap_or(0).to_string(),
                reason:
                    "gd is full-batch gradient descent; use --optimizer sgd or adam for minibatches"
                        .into(),
            });
        }
        if !(self.test_fraction.is_finite() && (0.0..1.0).contains(&self.test_fraction)) {
            return Err(PlresError::setting(
                "test_fraction",
                self.test_fraction,
                "a fraction in [0, 1)",
            ));
        }
        if self.certify_every == Some(0) {
            return Err(PlresError::setting("certify_every", 0, "at least 1"));
        }
        if self.model == ModelKind::Shl && self.features != FeatureKind::Relu {
            // the baseline's hidden layer is ReLU; any other choice is ignored, say so
            if self.features != FeatureKind::Gaussian || self.bandwidth != Bandwidth::Auto {
                return Err(PlresError::Incompatible {
                    field: "features",
                    value: self.features.name().into(),
                    reason: "the shl baseline trains its own ReLU hidden layers (use relu or leave the default)"
                        .into(),
                });
            }
        }
        if self.model == ModelKind::Kernel && self.width != Width::Auto {
            return Err(PlresError::Incompatible {
                field: "width",
                value: match self.width {
                    Width::Value(p) => p.to_string(),
                    Width::Auto => "auto".into(),
                },
                reason: "the kernel model has infinite width (its dictionary is the training trajectory)"
                    .into(),
            });
        }
        Ok(())
    }
}

/// How the width was chosen (part of [`ResolvedConfig`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WidthChoice {
    /// The width used (`None` for the kernel model: infinite width).
    pub width: Option<usize>,
    /// `"given"`, `"bound"` (the pointwise bound, below the cap), `"cap"` (the bound
    /// exceeded the cap, or could not be computed) or `"infinite"`.
    pub source: String,
    /// The pointwise bound at `δ`, when computed.
    pub bound: Option<usize>,
    /// `δ` of the bound.
    pub delta: f64,
    /// The cap.
    pub cap: usize,
    /// `λ_min` and `‖K‖` of the exact kernel Gram the bound used.
    pub lambda_min: Option<f64>,
    /// `‖K‖ = λ_max`.
    pub norm_k: Option<f64>,
    /// Why the bound was not used, if it was not.
    pub note: Option<String>,
}

/// Every setting of a fit, defaults and `auto` resolved (written as `config.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResolvedConfig {
    /// What was asked for.
    pub requested: EstimatorConfig,
    /// `"linear"`, `"kernel"`, `"shl"`.
    pub model: String,
    /// The feature map or kernel name.
    pub features: String,
    /// The bandwidth used (`None` for ReLU features / the arc-cosine kernel).
    pub bandwidth: Option<f64>,
    /// `"auto (median pairwise distance of N points)"` or `"given"`.
    pub bandwidth_source: String,
    /// The width and how it was chosen.
    pub width: WidthChoice,
    /// Depth `L`.
    pub depth: usize,
    /// Integrator name.
    pub integrator: String,
    /// Loss name.
    pub loss: String,
    /// Optimizer name.
    pub optimizer: String,
    /// Learning rate.
    pub lr: f64,
    /// Steps or epochs.
    pub budget: Budget,
    /// Minibatch size (`None` = full batch).
    pub batch: Option<usize>,
    /// Seed.
    pub seed: u64,
    /// Test fraction.
    pub test_fraction: f64,
    /// Training and test sample counts.
    pub n_train: usize,
    /// Test samples.
    pub n_test: usize,
    /// Input dimension `d_in`.
    pub d_in: usize,
    /// State dimension `d = max(d_in, d_out)`.
    pub state_dim: usize,
    /// Output dimension (classes or regression targets).
    pub d_out: usize,
    /// Certify every `k`-th iterate (`None`: no certificate: cross-entropy or SHL).
    pub certify_every: Option<u64>,
    /// Whether `μ_tight` is computed along the run (Euler, `N·d_out` small enough).
    pub tight: bool,
}
