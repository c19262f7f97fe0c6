//! Heavy-ball and Nesterov momentum, in PyTorch's `SGD(momentum=β, nesterov=…)` form
//! (dampening 0, no weight decay), with the Riesz gradient `G_k` of the metric:
//!
//! ```text
//! b_1 = G_0,  b_{k+1} = β b_k + G_k                (momentum buffer)
//! heavy ball:  θ_{k+1} = θ_k − η_k b_{k+1}
//! Nesterov:    θ_{k+1} = θ_k − η_k (G_k + β b_{k+1})
//! ```
//!
//! With constant `η` heavy ball is Polyak's `θ_{k+1} = θ_k − η G_k + β(θ_k − θ_{k−1})`;
//! the Nesterov form is Sutskever et al.'s, rewritten so that the gradient is taken at the
//! stored parameters (which are the look-ahead points). With `β = 0` both are gradient
//! descent, bit for bit.

use serde::{Deserialize, Serialize};

use super::{Solver, check_unit, common_builders};
use crate::error::{ConfigError, OptimError};
use crate::metric::Metric;
use crate::sampling::Minibatch;
use crate::schedule::LearningRate;
use crate::state::StepContext;

/// Configuration of [`Momentum`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MomentumConfig {
    /// Step `η` (with schedule).
    pub learning_rate: LearningRate,
    /// Metric of the gradient (default Euclidean).
    #[serde(default)]
    pub metric: Metric,
    /// Momentum `β ∈ [0, 1)`.
    pub momentum: f64,
    /// Nesterov's variant instead of heavy ball.
    #[serde(default)]
    pub nesterov: bool,
    /// Minibatches (default full batch).
    #[serde(default)]
    pub minibatch: Option<Minibatch>,
}

common_builders!(MomentumConfig);

impl MomentumConfig {
    /// Heavy ball with step `η` and momentum `β`, full batch, Euclidean.
    pub fn heavy_ball(learning_rate: f64, momentum: f64) -> Self {
        Self {
            learning_rate: LearningRate::constant(learning_rate),
            metric: Metric::default(),
            momentum,
            nesterov: false,
            minibatch: None,
        }
    }

    /// Nesterov with step `η` and momentum `β`, full batch, Euclidean.
    pub fn nesterov(learning_rate: f64, momentum: f64) -> Self {
        Self {
            nesterov: true,
            ..Self::heavy_ball(learning_rate, momentum)
        }
    }

    /// Draws minibatches instead of using the full batch.
    pub fn with_minibatch(mut self, minibatch: Minibatch) -> Self {
        self.minibatch = Some(minibatch);
        self
    }

    /// Validates into a [`Momentum`].
    ///
    /// # Errors
    /// `η ≤ 0`, `β ∉ [0, 1)`, batch size 0, or the schedule's error.
    pub fn build(self) -> Result<Momentum, ConfigError> {
        self.learning_rate.validate()?;
        check_unit("momentum", self.momentum)?;
        if let Some(mb) = &self.minibatch {
            mb.validate()?;
        }
        Ok(Momentum { config: self })
    }
}

/// Heavy-ball or Nesterov momentum (buffer 0 of the state is the momentum buffer `b`).
#[derive(Clone, Debug, PartialEq)]
pub struct Momentum {
    config: MomentumConfig,
}

impl Momentum {
    /// The validated configuration.
    pub fn config(&self) -> &MomentumConfig {
        &self.config
    }
}

impl Solver for Momentum {
    fn name(&self) -> &'static str {
        if self.config.nesterov {
            "nesterov"
        } else {
            "heavy_ball"
        }
    }
    super::config_accessors!(minibatch = optional);
    fn n_buffers(&self) -> usize {
        1
    }
    fn step(&self, ctx: &mut StepContext<'_>, lr: f64) -> Result<f64, OptimError> {
        let beta = self.config.momentum;
        let v = ctx.view();
        let b = &mut v.buffers[0];
        let first = *v.solver_steps == 0;
        *v.solver_steps += 1;
        let iter = v
            .candidate
            .iter_mut()
            .zip(v.params)
            .zip(v.riesz_gradient)
            .zip(b.iter_mut());
        for (((c, &p), &g), bi) in iter {
            // PyTorch: buf = clone(grad) at the first step, else buf.mul_(β).add_(grad)
            *bi = if first { g } else { *bi * beta + g };
            let d = if self.config.nesterov {
                g + beta * *bi
            } else {
                *bi
            };
            *c = p - lr * d;
        }
        ctx.commit_candidate()?;
        Ok(lr)
    }
}
