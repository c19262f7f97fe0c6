//! Gradient descent with a fixed (scheduled) step in a metric, and its minibatch version.
//!
//! `θ_{k+1} = θ_k − η_k G_k`, `G_k` the Riesz gradient (`G_b = g_b / w_b`). In the `L²`
//! metric of docs/theory.md §4 (weight `h` per layer) this is `U_k ← U_k − (η/h) ∂L/∂U_k`; in the
//! Euclidean metric it is what a deep-learning framework does. For an `L`-smooth loss
//! (in the metric) and `η ≤ 1/β`, each step decreases the loss by at least `(η/2)‖G‖²`;
//! under the PL inequality `‖G‖² ≥ μ L`, `L_{k+1} ≤ (1 − ημ/2) L_k` (docs/theory.md §5), and on a
//! `μ`-strongly convex `β`-smooth quadratic with `η = 1/β`, `L_{k+1} ≤ (1 − μ/β)² L_k`.

use serde::{Deserialize, Serialize};

use super::{Solver, common_builders, descend};
use crate::error::{ConfigError, OptimError};
use crate::metric::Metric;
use crate::sampling::Minibatch;
use crate::schedule::LearningRate;
use crate::state::StepContext;

/// Configuration of [`GradientDescent`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GradientDescentConfig {
    /// Step `η` (with schedule).
    pub learning_rate: LearningRate,
    /// Metric of the gradient (default Euclidean).
    #[serde(default)]
    pub metric: Metric,
}

common_builders!(GradientDescentConfig);

impl GradientDescentConfig {
    /// Constant step `η`, Euclidean metric.
    pub fn new(learning_rate: f64) -> Self {
        Self {
            learning_rate: LearningRate::constant(learning_rate),
            metric: Metric::default(),
        }
    }

    /// Validates (`η > 0`, schedule, metric) into a [`GradientDescent`].
    ///
    /// # Errors
    /// [`ConfigError`] naming the offending value.
    pub fn build(self) -> Result<GradientDescent, ConfigError> {
        self.learning_rate.validate()?;
        Ok(GradientDescent { config: self })
    }
}

/// Full-batch gradient descent `θ ← θ − η G` (a validated [`GradientDescentConfig`]).
///
/// ```
/// use plres_optim::{GradientDescentConfig, Problem, ProblemError, State, Stopping, run};
/// // L(θ) = ½‖θ‖², β = 1: with η = 1/β one step reaches the minimiser.
/// struct Half;
/// impl Problem for Half {
///     fn n_params(&self) -> usize { 2 }
///     fn loss_and_gradient(&mut self, p: &[f64], g: &mut [f64]) -> Result<f64, ProblemError> {
///         g.copy_from_slice(p);
///         Ok(0.5 * p.iter().map(|x| x * x).sum::<f64>())
///     }
/// }
/// let gd = GradientDescentConfig::new(1.0).build()?;
/// let out = run(&mut Half, &gd, State::new(vec![3.0, -4.0]), &Stopping::iterations(5).loss_below(0.0), &mut [])?;
/// assert_eq!(out.state.params(), &[0.0, 0.0]);
/// assert_eq!(out.report.iterations, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct GradientDescent {
    config: GradientDescentConfig,
}

impl GradientDescent {
    /// The validated configuration.
    pub fn config(&self) -> &GradientDescentConfig {
        &self.config
    }
}

impl Solver for GradientDescent {
    fn name(&self) -> &'static str {
        "gd"
    }
    super::config_accessors!();
    fn step(&self, ctx: &mut StepContext<'_>, lr: f64) -> Result<f64, OptimError> {
        let v = ctx.view();
        descend(v.candidate, v.params, lr, v.riesz_gradient);
        ctx.commit_candidate()?;
        Ok(lr)
    }
}

/// Configuration of [`Sgd`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SgdConfig {
    /// Step `η` (with schedule).
    pub learning_rate: LearningRate,
    /// Metric of the gradient (default Euclidean).
    #[serde(default)]
    pub metric: Metric,
    /// Batch size and shuffling seed.
    pub minibatch: Minibatch,
}

common_builders!(SgdConfig);

impl SgdConfig {
    /// Constant step `η`, batches of `batch_size` shuffled each epoch from `seed`.
    pub fn new(learning_rate: f64, batch_size: usize, seed: u64) -> Self {
        Self {
            learning_rate: LearningRate::constant(learning_rate),
            metric: Metric::default(),
            minibatch: Minibatch::new(batch_size, seed),
        }
    }

    /// Validates (`η > 0`, schedule, batch size `≥ 1`) into an [`Sgd`].
    ///
    /// # Errors
    /// [`ConfigError`] naming the offending value.
    pub fn build(self) -> Result<Sgd, ConfigError> {
        self.learning_rate.validate()?;
        self.minibatch.validate()?;
        Ok(Sgd { config: self })
    }
}

/// Minibatch SGD `θ ← θ − η G_B`, `G_B` the Riesz gradient of the mean loss over batch `B`;
/// batches from the seeded per-epoch shuffle of [`crate::sampling`].
#[derive(Clone, Debug, PartialEq)]
pub struct Sgd {
    config: SgdConfig,
}

impl Sgd {
    /// The validated configuration.
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }
}

impl Solver for Sgd {
    fn name(&self) -> &'static str {
        "sgd"
    }
    super::config_accessors!(minibatch = always);
    fn step(&self, ctx: &mut StepContext<'_>, lr: f64) -> Result<f64, OptimError> {
        let v = ctx.view();
        descend(v.candidate, v.params, lr, v.riesz_gradient);
        ctx.commit_candidate()?;
        Ok(lr)
    }
}
