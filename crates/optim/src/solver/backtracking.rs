//! Gradient descent with Armijo backtracking in a metric.
//!
//! From `θ_k`, try `t = η_k, ρη_k, ρ²η_k, …` and accept the first `t` with
//! `L(θ_k − t G_k) ≤ L(θ_k) − c · t · ‖G_k‖²_M` (sufficient decrease measured in the metric:
//! `‖G‖²_M = ⟨g, G⟩` is the directional derivative of `−L` along `G`). A trial whose loss,
//! gradient or parameters are not finite counts as insufficient decrease. For a `β`-smooth
//! loss every `t ≤ 2(1 − c)/β` satisfies the condition, so at most
//! `⌈log(η β / (2(1 − c))) / log(1/ρ)⌉` reductions are needed per step.

use serde::{Deserialize, Serialize};

use super::{Solver, common_builders, descend};
use crate::error::{ConfigError, OptimError};
use crate::metric::Metric;
use crate::schedule::LearningRate;
use crate::state::StepContext;

fn default_c() -> f64 {
    1e-4
}
fn default_shrink() -> f64 {
    0.5
}
fn default_max_backtracks() -> u32 {
    50
}

/// Configuration of [`Backtracking`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BacktrackingConfig {
    /// First trial step `η_k` of each line search (with schedule).
    pub learning_rate: LearningRate,
    /// Metric of the gradient and of the sufficient-decrease test (default Euclidean).
    #[serde(default)]
    pub metric: Metric,
    /// Armijo constant `c ∈ (0, 1)` (default `1e-4`).
    #[serde(default = "default_c")]
    pub c: f64,
    /// Reduction factor `ρ ∈ (0, 1)` (default `0.5`).
    #[serde(default = "default_shrink")]
    pub shrink: f64,
    /// Maximum number of reductions per step (default 50).
    #[serde(default = "default_max_backtracks")]
    pub max_backtracks: u32,
}

common_builders!(BacktrackingConfig);

impl BacktrackingConfig {
    /// First trial step `η`, `c = 1e-4`, `ρ = 0.5`, at most 50 reductions, Euclidean.
    pub fn new(learning_rate: f64) -> Self {
        Self {
            learning_rate: LearningRate::constant(learning_rate),
            metric: Metric::default(),
            c: default_c(),
            shrink: default_shrink(),
            max_backtracks: default_max_backtracks(),
        }
    }

    /// Validates into a [`Backtracking`].
    ///
    /// # Errors
    /// `η ≤ 0`, `c ∉ (0, 1)`, `ρ ∉ (0, 1)`, or the schedule's error.
    pub fn build(self) -> Result<Backtracking, ConfigError> {
        self.learning_rate.validate()?;
        for (parameter, value) in [("c", self.c), ("shrink", self.shrink)] {
            if !(value > 0.0 && value < 1.0) {
                return Err(ConfigError::OutOfRange {
                    parameter,
                    value,
                    expected: "a value in (0, 1)",
                });
            }
        }
        Ok(Backtracking { config: self })
    }
}

/// Gradient descent with Armijo backtracking (full batch only).
#[derive(Clone, Debug, PartialEq)]
pub struct Backtracking {
    config: BacktrackingConfig,
}

impl Backtracking {
    /// The validated configuration.
    pub fn config(&self) -> &BacktrackingConfig {
        &self.config
    }
}

impl Solver for Backtracking {
    fn name(&self) -> &'static str {
        "armijo"
    }
    super::config_accessors!();
    fn step(&self, ctx: &mut StepContext<'_>, lr: f64) -> Result<f64, OptimError> {
        let BacktrackingConfig {
            c,
            shrink,
            max_backtracks,
            ..
        } = self.config;
        let (loss0, norm_sq) = (ctx.state().loss(), ctx.state().grad_norm_sq());
        let mut t = lr;
        for j in 0..=max_backtracks {
            let v = ctx.view();
            descend(v.candidate, v.params, t, v.riesz_gradient);
            let trial = ctx.evaluate_candidate()?;
            if trial.non_finite.is_none() && trial.loss <= loss0 - c * t * norm_sq {
                ctx.accept();
                return Ok(t);
            }
            if j < max_backtracks {
                t *= shrink;
            }
        }
        Err(OptimError::LineSearchFailed {
            iteration: ctx.state().iteration(),
            backtracks: max_backtracks,
            step: t,
            loss: loss0,
        })
    }
}
