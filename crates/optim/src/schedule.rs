//! Learning-rate schedules (closed forms of PyTorch's `lr_scheduler`s) and the clock they read.
//!
//! A [`Schedule`] maps a counter `t = 0, 1, 2, …` and the base rate `η₀` to `η_t`:
//!
//! | schedule | `η_t` | PyTorch |
//! |---|---|---|
//! | [`Schedule::Constant`] | `η₀` | — |
//! | [`Schedule::MultiStep`] | `η₀ γ^{#{m ∈ milestones : m ≤ t}}` (milestones counted with multiplicity) | `MultiStepLR` |
//! | [`Schedule::Exponential`] | `η₀ γ^t` | `ExponentialLR` |
//! | [`Schedule::Cosine`] | `η_min + (η₀ − η_min)(1 + cos(π t / T_max))/2` | `CosineAnnealingLR` (closed form) |
//! | [`Schedule::LinearWarmup`] | `η₀ (s + (1 − s) t/W)` for `t < W`, then `then(t − W)` | `LinearLR` + `SequentialLR` |
//!
//! **Indexing convention.** `t` is PyTorch's `last_epoch` *after construction*: the rate used
//! during epoch `t` (0-based) of the usual loop `for epoch in 0..E { train(); sched.step() }`.
//! In particular a milestone at `0` already decays the rate of epoch 0 (PyTorch's constructor
//! performs one `step()` to `last_epoch = 0`, and `0 ∈ milestones`). Which counter is `t`
//! (epochs or iterations) is chosen by [`Clock`] in [`LearningRate`]; for full-batch
//! solvers the two coincide.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// A learning-rate schedule (see the [module docs](self) for the formulas).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Schedule {
    /// `η_t = η₀`.
    #[default]
    Constant,
    /// `η_t = η₀ γ^{#{m ∈ milestones : m ≤ t}}`, milestones counted with multiplicity
    /// and in any order (PyTorch `MultiStepLR`, which keeps a `Counter` of milestones).
    MultiStep {
        /// Epochs at which the rate is multiplied by `gamma` (repeats multiply again).
        milestones: Vec<u64>,
        /// Decay factor `γ > 0`.
        gamma: f64,
    },
    /// `η_t = η₀ γ^t` (PyTorch `ExponentialLR`).
    Exponential {
        /// Decay factor `γ > 0`.
        gamma: f64,
    },
    /// `η_t = η_min + (η₀ − η_min)(1 + cos(π t / T_max))/2` (the closed form of PyTorch's
    /// `CosineAnnealingLR`; past `T_max` the cosine continues, rising again towards `η₀`).
    Cosine {
        /// Half-period `T_max ≥ 1`.
        t_max: u64,
        /// Floor `η_min ≥ 0` (absolute, not relative to `η₀`).
        eta_min: f64,
    },
    /// Linear warm-up from `start_factor · η₀` to `η₀` over `steps` counts, then the inner
    /// schedule with its own clock restarted at zero: `η_t = η₀ (s + (1 − s) t/W)` for
    /// `t < W`, `η_t = then(t − W)` for `t ≥ W` (PyTorch `LinearLR(start_factor=s,
    /// end_factor=1, total_iters=W)` followed via `SequentialLR(milestones=[W])`). To keep
    /// the milestones of an inner `MultiStep` on the global clock, shift them by `W`.
    LinearWarmup {
        /// `s ∈ (0, 1]`: the first rate is `s η₀`.
        start_factor: f64,
        /// Warm-up length `W ≥ 1`.
        steps: u64,
        /// Schedule after warm-up.
        then: Box<Schedule>,
    },
}

impl Schedule {
    /// `MultiStep` with the given milestones and factor.
    pub fn multi_step(milestones: Vec<u64>, gamma: f64) -> Self {
        Schedule::MultiStep { milestones, gamma }
    }

    /// `Exponential` with factor `gamma`.
    pub fn exponential(gamma: f64) -> Self {
        Schedule::Exponential { gamma }
    }

    /// `Cosine` annealing to `eta_min` over `t_max` counts.
    pub fn cosine(t_max: u64, eta_min: f64) -> Self {
        Schedule::Cosine { t_max, eta_min }
    }

    /// Prefixes `self` with a linear warm-up of `steps` counts starting at `start_factor · η₀`.
    pub fn with_warmup(self, start_factor: f64, steps: u64) -> Self {
        Schedule::LinearWarmup {
            start_factor,
            steps,
            then: Box::new(self),
        }
    }

    /// The rate `η_t` for base rate `base = η₀` at count `t`.
    pub fn lr(&self, base: f64, t: u64) -> f64 {
        match self {
            Schedule::Constant => base,
            Schedule::MultiStep { milestones, gamma } => {
                // bisect_right(sorted(milestones with multiplicity), t) without sorting:
                let count = milestones.iter().filter(|&&m| m <= t).count();
                base * gamma.powf(count as f64)
            }
            Schedule::Exponential { gamma } => base * gamma.powf(t as f64),
            Schedule::Cosine { t_max, eta_min } => {
                let c = (std::f64::consts::PI * t as f64 / *t_max as f64).cos();
                eta_min + (base - eta_min) * (1.0 + c) / 2.0
            }
            Schedule::LinearWarmup {
                start_factor,
                steps,
                then,
            } => {
                if t < *steps {
                    let f = start_factor + (1.0 - start_factor) * (t as f64 / *steps as f64);
                    base * f
                } else {
                    then.lr(base, t - steps)
                }
            }
        }
    }

    /// Checks every parameter's range.
    ///
    /// # Errors
    /// `γ ≤ 0` or non-finite, `T_max = 0`, `η_min < 0` or non-finite, warm-up
    /// `start_factor ∉ (0, 1]` or `steps = 0`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let gamma_ok = |gamma: f64| {
            if gamma > 0.0 && gamma.is_finite() {
                Ok(())
            } else {
                Err(ConfigError::OutOfRange {
                    parameter: "gamma",
                    value: gamma,
                    expected: "a positive finite factor",
                })
            }
        };
        match self {
            Schedule::Constant => Ok(()),
            Schedule::MultiStep { gamma, .. } | Schedule::Exponential { gamma } => gamma_ok(*gamma),
            Schedule::Cosine { t_max, eta_min } => {
                if *t_max == 0 {
                    return Err(ConfigError::OutOfRange {
                        parameter: "t_max",
                        value: 0.0,
                        expected: "t_max >= 1",
                    });
                }
                if !(*eta_min >= 0.0 && eta_min.is_finite()) {
                    return Err(ConfigError::OutOfRange {
                        parameter: "eta_min",
                        value: *eta_min,
                        expected: "a finite eta_min >= 0",
                    });
                }
                Ok(())
            }
            Schedule::LinearWarmup {
                start_factor,
                steps,
                then,
            } => {
                if !(*start_factor > 0.0 && *start_factor <= 1.0) {
                    return Err(ConfigError::OutOfRange {
                        parameter: "start_factor",
                        value: *start_factor,
                        expected: "0 < start_factor <= 1",
                    });
                }
                if *steps == 0 {
                    return Err(ConfigError::OutOfRange {
                        parameter: "steps",
                        value: 0.0,
                        expected: "a warm-up of at least one step",
                    });
                }
                then.validate()
            }
        }
    }
}

/// Which counter a schedule reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clock {
    /// `t` = index of the current epoch (PyTorch's usual per-epoch `scheduler.step()`).
    /// For full-batch solvers an epoch is one iteration.
    #[default]
    Epoch,
    /// `t` = iteration index (per-batch `scheduler.step()`).
    Iteration,
}

/// Base rate, schedule and clock: `η(iteration, epoch) = schedule.lr(base, t)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LearningRate {
    /// Base rate `η₀ > 0`.
    pub base: f64,
    /// The schedule (default constant).
    #[serde(default)]
    pub schedule: Schedule,
    /// The counter the schedule reads (default epochs).
    #[serde(default)]
    pub clock: Clock,
}

impl LearningRate {
    /// A constant rate `η`.
    pub fn constant(base: f64) -> Self {
        Self {
            base,
            schedule: Schedule::Constant,
            clock: Clock::Epoch,
        }
    }

    /// Base rate with a schedule counted in epochs.
    pub fn scheduled(base: f64, schedule: Schedule) -> Self {
        Self {
            base,
            schedule,
            clock: Clock::Epoch,
        }
    }

    /// The same schedule counted in iterations instead.
    pub fn per_iteration(mut self) -> Self {
        self.clock = Clock::Iteration;
        self
    }

    /// The rate at the given iterate.
    pub fn at(&self, iteration: u64, epoch: u64) -> f64 {
        let t = match self.clock {
            Clock::Epoch => epoch,
            Clock::Iteration => iteration,
        };
        self.schedule.lr(self.base, t)
    }

    /// Checks `η₀ > 0` (finite) and the schedule.
    ///
    /// # Errors
    /// [`ConfigError::NonPositiveLearningRate`] or the schedule's error.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.base > 0.0 && self.base.is_finite()) {
            return Err(ConfigError::NonPositiveLearningRate { value: self.base });
        }
        self.schedule.validate()
    }
}
