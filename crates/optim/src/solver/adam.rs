//! Adam and AdamW with PyTorch's update equations (`torch.optim.Adam` / `AdamW`,
//! `amsgrad=False`, `maximize=False`; Kingma & Ba 2015, Loshchilov & Hutter 2019).
//!
//! At step `t = 1, 2, …` (the solver's own counter), with learning rate `γ = η_k`, weight
//! decay `λ`, and `g_t` the Riesz gradient `G` at `θ_{t−1}` (the Euclidean gradient in the
//! Euclidean metric, which is PyTorch's case):
//!
//! ```text
//! Adam  (λ coupled, L2):   g_t ← g_t + λ θ_{t−1}
//! AdamW (λ decoupled):     θ_{t−1} ← θ_{t−1} (1 − γλ)                  (before the Adam step)
//! m_t = β₁ m_{t−1} + (1 − β₁) g_t        (computed as PyTorch's lerp: m + (1−β₁)(g − m))
//! v_t = β₂ v_{t−1} + (1 − β₂) g_t²
//! m̂_t = m_t / (1 − β₁ᵗ)                  (bias corrections)
//! v̂_t = v_t / (1 − β₂ᵗ)
//! θ_t = θ_{t−1} − γ m̂_t / (√v̂_t + ε)      (ε added after the square root)
//! ```
//!
//! The last line is evaluated as PyTorch does: `step = γ / (1 − β₁ᵗ)`,
//! `denom = √v_t / √(1 − β₂ᵗ) + ε`, `θ_t = θ_{t−1} − (step · m_t) / denom`, so results agree
//! with PyTorch's single-tensor CPU path up to the rounding of `β^t` (`powf`).
//! In a non-Euclidean metric the update is Adam applied to `G`; a uniform weight `w`
//! rescales `G` by `1/w`, which Adam ignores except through `ε`.

use serde::{Deserialize, Serialize};

use super::{Solver, check_unit, common_builders};
use crate::error::{ConfigError, OptimError};
use crate::metric::Metric;
use crate::sampling::Minibatch;
use crate::schedule::LearningRate;
use crate::state::StepContext;

fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_eps() -> f64 {
    1e-8
}

/// Configuration of [`Adam`] (defaults as PyTorch: `η = 1e-3`, `β = (0.9, 0.999)`,
/// `ε = 1e-8`; `λ = 0` for Adam, `λ = 1e-2` decoupled for AdamW).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// Learning rate `γ` (with schedule).
    pub learning_rate: LearningRate,
    /// Metric of the gradient (default Euclidean).
    #[serde(default)]
    pub metric: Metric,
    /// `β₁ ∈ [0, 1)`.
    #[serde(default = "default_beta1")]
    pub beta1: f64,
    /// `β₂ ∈ [0, 1)`.
    #[serde(default = "default_beta2")]
    pub beta2: f64,
    /// `ε > 0`, added to `√v̂`.
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Weight decay `λ ≥ 0`.
    #[serde(default)]
    pub weight_decay: f64,
    /// `true`: AdamW's decoupled decay `θ ← θ(1 − γλ)`; `false`: Adam's `g ← g + λθ`.
    #[serde(default)]
    pub decoupled_weight_decay: bool,
    /// Minibatches (default full batch).
    #[serde(default)]
    pub minibatch: Option<Minibatch>,
}

common_builders!(AdamConfig);

impl Default for AdamConfig {
    /// PyTorch's `Adam()` defaults.
    fn default() -> Self {
        Self::adam(1e-3)
    }
}

impl AdamConfig {
    /// Adam with learning rate `γ` and PyTorch's other defaults (no weight decay).
    pub fn adam(learning_rate: f64) -> Self {
        Self {
            learning_rate: LearningRate::constant(learning_rate),
            metric: Metric::default(),
            beta1: default_beta1(),
            beta2: default_beta2(),
            eps: default_eps(),
            weight_decay: 0.0,
            decoupled_weight_decay: false,
            minibatch: None,
        }
    }

    /// AdamW with learning rate `γ` and decoupled weight decay `λ` (PyTorch default `1e-2`).
    pub fn adamw(learning_rate: f64, weight_decay: f64) -> Self {
        Self {
            weight_decay,
            decoupled_weight_decay: true,
            ..Self::adam(learning_rate)
        }
    }

    /// Sets `β₁, β₂`.
    pub fn with_betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }

    /// Sets `ε`.
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Sets the (coupled or decoupled, as configured) weight decay `λ`.
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Draws minibatches instead of using the full batch.
    pub fn with_minibatch(mut self, minibatch: Minibatch) -> Self {
        self.minibatch = Some(minibatch);
        self
    }

    /// Validates into an [`Adam`].
    ///
    /// # Errors
    /// `γ ≤ 0`, `β₁` or `β₂ ∉ [0, 1)`, `ε ≤ 0` (`ε = 0` would give `0/0` where a gradient
    /// coordinate vanishes), `λ < 0`, batch size 0, or non-finite values.
    pub fn build(self) -> Result<Adam, ConfigError> {
        self.learning_rate.validate()?;
        check_unit("beta1", self.beta1)?;
        check_unit("beta2", self.beta2)?;
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            return Err(ConfigError::OutOfRange {
                parameter: "eps",
                value: self.eps,
                expected: "a positive finite eps",
            });
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(ConfigError::OutOfRange {
                parameter: "weight_decay",
                value: self.weight_decay,
                expected: "a finite weight decay >= 0",
            });
        }
        if let Some(mb) = &self.minibatch {
            mb.validate()?;
        }
        Ok(Adam { config: self })
    }
}

/// Adam / AdamW (buffers 0 and 1 of the state are `m` and `v`; the state's solver step
/// counter is `t`).
#[derive(Clone, Debug, PartialEq)]
pub struct Adam {
    config: AdamConfig,
}

impl Adam {
    /// The validated configuration.
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }
}

/// PyTorch's `lerp(start, end, w)`: `start + w(end − start)` if `|w| < ½`, else
/// `end − (end − start)(1 − w)`.
#[inline]
fn lerp(start: f64, end: f64, w: f64) -> f64 {
    if w.abs() < 0.5 {
        start + w * (end - start)
    } else {
        end - (end - start) * (1.0 - w)
    }
}

impl Solver for Adam {
    fn name(&self) -> &'static str {
        if self.config.decoupled_weight_decay {
            "adamw"
        } else {
            "adam"
        }
    }
    super::config_accessors!(minibatch = optional);
    fn n_buffers(&self) -> usize {
        2
    }
    fn step(&self, ctx: &mut StepContext<'_>, lr: f64) -> Result<f64, OptimError> {
        let AdamConfig {
            beta1,
            beta2,
            eps,
            weight_decay: wd,
            decoupled_weight_decay: decoupled,
            ..
        } = self.config;
        let v = ctx.view();
        *v.solver_steps += 1;
        let t = *v.solver_steps as f64;
        let bias_correction1 = 1.0 - beta1.powf(t);
        let bias_correction2 = 1.0 - beta2.powf(t);
        let step_size = lr / bias_correction1;
        let bias_correction2_sqrt = bias_correction2.sqrt();
        let decay = 1.0 - lr * wd;
        let (m, rest) = v.buffers.split_at_mut(1);
        let (m, s) = (&mut m[0], &mut rest[0]);
        let iter = v
            .candidate
            .iter_mut()
            .zip(v.params)
            .zip(v.riesz_gradient)
            .zip(m.iter_mut().zip(s.iter_mut()));
        for (((c, &p), &g), (mi, vi)) in iter {
            let (p, g) = if wd == 0.0 {
                (p, g)
            } else if decoupled {
                (p * decay, g)
            } else {
                (p, g + wd * p)
            };
            *mi = lerp(*mi, g, 1.0 - beta1);
            *vi = *vi * beta2 + (1.0 - beta2) * g * g;
            let denom = vi.sqrt() / bias_correction2_sqrt + eps;
            *c = p - step_size * *mi / denom;
        }
        ctx.commit_candidate()?;
        Ok(lr)
    }
}
