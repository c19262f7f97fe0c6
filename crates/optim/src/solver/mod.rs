//! Solvers: the update rules. Each is a validated configuration (`…Config::build`) that
//! implements [`Solver`]; the evolving quantities (iterate, momentum, moments) live in the
//! [`crate::State`], never in the solver.
//!
//! Every solver works with the Riesz gradient `G` of its [`Metric`] (`G_b = g_b / w_b`),
//! so "Euclidean" and "`L²`" versions of each method differ only by the metric.
//!
//! - [`gd`]: [`GradientDescent`] `θ ← θ − η G` and its stochastic version [`Sgd`].
//! - [`backtracking`]: [`Backtracking`], gradient descent with Armijo backtracking.
//! - [`momentum`]: [`Momentum`], heavy-ball and Nesterov (PyTorch `SGD(momentum, nesterov)`).
//! - [`adam`]: [`Adam`], Adam and AdamW with PyTorch's update equations.

pub mod adam;
pub mod backtracking;
pub mod gd;
pub mod momentum;

pub use adam::{Adam, AdamConfig};
pub use backtracking::{Backtracking, BacktrackingConfig};
pub use gd::{GradientDescent, GradientDescentConfig, Sgd, SgdConfig};
pub use momentum::{Momentum, MomentumConfig};

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, OptimError};
use crate::metric::Metric;
use crate::sampling::Minibatch;
use crate::schedule::LearningRate;
use crate::state::StepContext;

/// An update rule. The driver ([`crate::run`]) evaluates `θ_0`, then at every iterate asks
/// the solver for one step with the scheduled rate `lr`; the step must leave the state at
/// the next evaluated iterate (via [`StepContext::commit_candidate`] or
/// [`StepContext::evaluate_candidate`] + [`StepContext::accept`]).
pub trait Solver {
    /// Short name (`"gd"`, `"sgd"`, `"armijo"`, `"heavy_ball"`, `"nesterov"`, `"adam"`,
    /// `"adamw"`); also tags the solver's buffers in the state.
    fn name(&self) -> &'static str;
    /// Base rate, schedule and clock.
    fn learning_rate(&self) -> &LearningRate;
    /// The metric in which gradients are taken.
    fn metric(&self) -> &Metric;
    /// Minibatch sampling (`None`: full batch).
    fn minibatch(&self) -> Option<&Minibatch> {
        None
    }
    /// How many parameter-sized buffers the solver keeps in the state.
    fn n_buffers(&self) -> usize {
        0
    }
    /// One step from the evaluated iterate `θ_k` with learning rate `lr`. Returns the step
    /// size actually used (`lr`, or the accepted Armijo step).
    ///
    /// # Errors
    /// Divergence, line-search failure, or the problem's own error.
    fn step(&self, ctx: &mut StepContext<'_>, lr: f64) -> Result<f64, OptimError>;
}

/// A shared or boxed solver is a solver: every method forwards to the pointee (one body
/// for both pointer types).
macro_rules! forward_solver {
    ($($ptr:ty),*) => {$(
        impl<S: Solver + ?Sized> Solver for $ptr {
            fn name(&self) -> &'static str {
                (**self).name()
            }
            fn learning_rate(&self) -> &LearningRate {
                (**self).learning_rate()
            }
            fn metric(&self) -> &Metric {
                (**self).metric()
            }
            fn minibatch(&self) -> Option<&Minibatch> {
                (**self).minibatch()
            }
            fn n_buffers(&self) -> usize {
                (**self).n_buffers()
            }
            fn step(&self, ctx: &mut StepContext<'_>, lr: f64) -> Result<f64, OptimError> {
                (**self).step(ctx, lr)
            }
        }
    )*};
}

forward_solver!(&S, Box<S>);

/// A serialisable choice of solver (for experiment configs): `{"kind": "adam", ...}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SolverConfig {
    /// [`GradientDescent`].
    GradientDescent(GradientDescentConfig),
    /// [`Backtracking`] (Armijo).
    Backtracking(BacktrackingConfig),
    /// [`Sgd`].
    Sgd(SgdConfig),
    /// [`Momentum`] (heavy ball or Nesterov).
    Momentum(MomentumConfig),
    /// [`Adam`] (Adam or AdamW).
    Adam(AdamConfig),
}

impl SolverConfig {
    /// Validates and builds the solver.
    ///
    /// # Errors
    /// The configuration's [`ConfigError`].
    pub fn build(self) -> Result<Box<dyn Solver + Send + Sync>, ConfigError> {
        Ok(match self {
            SolverConfig::GradientDescent(c) => Box::new(c.build()?),
            SolverConfig::Backtracking(c) => Box::new(c.build()?),
            SolverConfig::Sgd(c) => Box::new(c.build()?),
            SolverConfig::Momentum(c) => Box::new(c.build()?),
            SolverConfig::Adam(c) => Box::new(c.build()?),
        })
    }
}

/// Builders shared by every config with `learning_rate` and `metric` fields.
macro_rules! common_builders {
    ($t:ty) => {
        impl $t {
            /// Replaces the metric (default: Euclidean).
            pub fn with_metric(mut self, metric: $crate::Metric) -> Self {
                self.metric = metric;
                self
            }
            /// Replaces the schedule of the learning rate (default: constant).
            pub fn with_schedule(mut self, schedule: $crate::Schedule) -> Self {
                self.learning_rate.schedule = schedule;
                self
            }
            /// Counts the schedule in iterations instead of epochs.
            pub fn per_iteration(mut self) -> Self {
                self.learning_rate.clock = $crate::Clock::Iteration;
                self
            }
        }
    };
}
pub(crate) use common_builders;

/// `Solver::learning_rate` and `Solver::metric` of a solver whose `config` has
/// `learning_rate` and `metric` fields; with `minibatch = optional`, also `Solver::minibatch`
/// from an `Option<Minibatch>` field, with `minibatch = always` from a `Minibatch` field.
macro_rules! config_accessors {
    () => {
        fn learning_rate(&self) -> &LearningRate {
            &self.config.learning_rate
        }
        fn metric(&self) -> &Metric {
            &self.config.metric
        }
    };
    (minibatch = optional) => {
        $crate::solver::config_accessors!();
        fn minibatch(&self) -> Option<&Minibatch> {
            self.config.minibatch.as_ref()
        }
    };
    (minibatch = always) => {
        $crate::solver::config_accessors!();
        fn minibatch(&self) -> Option<&Minibatch> {
            Some(&self.config.minibatch)
        }
    };
}
pub(crate) use config_accessors;

/// Checks a coefficient in `[0, 1)`.
pub(crate) fn check_unit(parameter: &'static str, value: f64) -> Result<(), ConfigError> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::MomentumOutOfRange { parameter, value })
    }
}

/// `candidate = θ − lr · d`.
pub(crate) fn descend(candidate: &mut [f64], params: &[f64], lr: f64, direction: &[f64]) {
    for ((c, &p), &d) in candidate.iter_mut().zip(params).zip(direction) {
        *c = p - lr * d;
    }
}
