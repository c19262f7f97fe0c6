//! Stopping rules: iteration / epoch budgets and tolerances on the loss and gradient norm.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::state::State;

/// When a run ends. Checked at every iterate *after* the observers have seen it, tolerances
/// first; at least one of `max_iterations` and `max_epochs` must be set.
///
/// Budgets count the state's totals (so a resumed state continues towards the same budget);
/// the gradient norm is `‖G‖_M`, the Riesz gradient's norm in the solver's metric (docs/theory.md §4).
/// For stochastic solvers the loss and gradient are those of the current minibatch.
///
/// ```
/// use plres_optim::Stopping;
/// let s = Stopping::iterations(1000).loss_below(1e-12).grad_norm_below(1e-9);
/// assert!(s.validate().is_ok());
/// assert!(Stopping::default().validate().is_err()); // no budget
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stopping {
    /// Stop at the iterate with `iteration ≥ max_iterations` (that many steps taken).
    #[serde(default)]
    pub max_iterations: Option<u64>,
    /// Stop at the first iterate of epoch `max_epochs` (that many full passes done).
    #[serde(default)]
    pub max_epochs: Option<u64>,
    /// Stop when `L(θ) ≤ loss_tol`.
    #[serde(default)]
    pub loss_tol: Option<f64>,
    /// Stop when `‖G‖_M ≤ grad_norm_tol`.
    #[serde(default)]
    pub grad_norm_tol: Option<f64>,
}

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StopReason {
    /// The iteration budget was reached.
    MaxIterations {
        /// The budget.
        max_iterations: u64,
    },
    /// The epoch budget was reached.
    MaxEpochs {
        /// The budget.
        max_epochs: u64,
    },
    /// `L(θ) ≤ tol`.
    LossTolerance {
        /// The loss at the final iterate.
        loss: f64,
        /// The tolerance.
        tol: f64,
    },
    /// `‖G‖_M ≤ tol`.
    GradientNormTolerance {
        /// The gradient norm at the final iterate.
        grad_norm: f64,
        /// The tolerance.
        tol: f64,
    },
    /// An observer returned [`crate::ObserverAction::Stop`].
    Observer {
        /// Position of the (first) observer that asked, in the slice passed to the run.
        index: usize,
    },
}

impl StopReason {
    /// Whether the run ended on a tolerance (as opposed to a budget or an observer).
    pub fn converged(&self) -> bool {
        matches!(
            self,
            StopReason::LossTolerance { .. } | StopReason::GradientNormTolerance { .. }
        )
    }
}

impl Stopping {
    /// At most `n` iterations.
    pub fn iterations(n: u64) -> Self {
        Self {
            max_iterations: Some(n),
            ..Self::default()
        }
    }

    /// At most `n` epochs.
    pub fn epochs(n: u64) -> Self {
        Self {
            max_epochs: Some(n),
            ..Self::default()
        }
    }

    /// Also stop after `n` iterations.
    pub fn max_iterations(mut self, n: u64) -> Self {
        self.max_iterations = Some(n);
        self
    }

    /// Also stop after `n` epochs.
    pub fn max_epochs(mut self, n: u64) -> Self {
        self.max_epochs = Some(n);
        self
    }

    /// Also stop when `L ≤ tol`.
    pub fn loss_below(mut self, tol: f64) -> Self {
        self.loss_tol = Some(tol);
        self
    }

    /// Also stop when `‖G‖_M ≤ tol`.
    pub fn grad_norm_below(mut self, tol: f64) -> Self {
        self.grad_norm_tol = Some(tol);
        self
    }

    /// Checks that a budget is set and tolerances are finite and `≥ 0`.
    ///
    /// # Errors
    /// [`ConfigError::Unbounded`] or [`ConfigError::OutOfRange`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_iterations.is_none() && self.max_epochs.is_none() {
            return Err(ConfigError::Unbounded);
        }
        for (parameter, tol) in [
            ("loss_tol", self.loss_tol),
            ("grad_norm_tol", self.grad_norm_tol),
        ] {
            match tol {
                Some(t) if !(t >= 0.0 && t.is_finite()) => {
                    return Err(ConfigError::OutOfRange {
                        parameter,
                        value: t,
                        expected: "a finite tolerance >= 0",
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The reason to stop at this (evaluated) iterate, if any.
    pub fn check(&self, state: &State) -> Option<StopReason> {
        let loss = state.loss();
        let grad_norm = state.grad_norm();
        match *self {
            Stopping {
                loss_tol: Some(tol),
                ..
            } if loss <= tol => Some(StopReason::LossTolerance { loss, tol }),
            Stopping {
                grad_norm_tol: Some(tol),
                ..
            } if grad_norm <= tol => Some(StopReason::GradientNormTolerance { grad_norm, tol }),
            Stopping {
                max_iterations: Some(max_iterations),
                ..
            } if state.iteration() >= max_iterations => {
                Some(StopReason::MaxIterations { max_iterations })
            }
            Stopping {
                max_epochs: Some(max_epochs),
                ..
            } if state.epoch() >= max_epochs => Some(StopReason::MaxEpochs { max_epochs }),
            _ => None,
        }
    }
}
