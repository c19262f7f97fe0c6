//! Observers: called at every iterate; where the theory monitors plug in.

use serde::{Deserialize, Serialize};

/// What an observer sees at iterate `iteration`: the parameters `θ_k`, the loss and
/// gradients there, and the learning rate the next step will use.
/// Its fields are public so that monitors can be tested on hand-made iterates.
#[derive(Clone, Copy, Debug)]
pub struct Iterate<'a> {
    /// `k`: number of steps taken so far (0 at the initial parameters).
    pub iteration: u64,
    /// Index of the current epoch (completed passes over the data; equals `iteration` for
    /// full-batch solvers).
    pub epoch: u64,
    /// `θ_k`.
    pub params: &'a [f64],
    /// `L(θ_k)` (the minibatch loss for stochastic solvers).
    pub loss: f64,
    /// Euclidean gradient `∂L/∂θ` at `θ_k`.
    pub gradient: &'a [f64],
    /// Riesz gradient `G` in the solver's metric (`G_b = g_b / w_b`).
    pub riesz_gradient: &'a [f64],
    /// `‖G‖²_M`.
    pub grad_norm_sq: f64,
    /// Learning rate `η_k` of the step from `θ_k` (for Armijo: the first trial step).
    pub learning_rate: f64,
    /// The step size that produced `θ_k` from `θ_{k−1}` (the accepted Armijo step;
    /// NaN at the first iterate of a state).
    pub last_step_size: f64,
    /// Sample indices of the current minibatch (`None` for full-batch solvers).
    pub batch: Option<&'a [usize]>,
    /// Total loss/gradient evaluations so far.
    pub evaluations: u64,
}

/// An observer's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObserverAction {
    /// Carry on.
    Continue,
    /// End the run at this iterate ([`crate::StopReason::Observer`]).
    Stop,
}

/// Sees every iterate of a run (including the initial and the final one), may ask to stop.
///
/// Closures `FnMut(&Iterate) -> ObserverAction` are observers.
pub trait Observer {
    /// Called once per iterate, before the stopping rules are checked.
    fn observe(&mut self, it: &Iterate<'_>) -> ObserverAction;
}

impl<F: FnMut(&Iterate<'_>) -> ObserverAction> Observer for F {
    fn observe(&mut self, it: &Iterate<'_>) -> ObserverAction {
        self(it)
    }
}

/// One row of a [`History`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Iteration index.
    pub iteration: u64,
    /// Epoch index.
    pub epoch: u64,
    /// Loss.
    pub loss: f64,
    /// `‖G‖²_M`.
    pub grad_norm_sq: f64,
    /// Learning rate of the next step.
    pub learning_rate: f64,
}

/// Records the scalar trace of a run (one [`Record`] per iterate). It grows a `Vec`, so it
/// allocates (amortised); the run itself does not.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// The records, in order.
    pub records: Vec<Record>,
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// The losses, in order.
    pub fn losses(&self) -> Vec<f64> {
        self.records.iter().map(|r| r.loss).collect()
    }
}

impl Observer for History {
    fn observe(&mut self, it: &Iterate<'_>) -> ObserverAction {
        self.records.push(Record {
            iteration: it.iteration,
            epoch: it.epoch,
            loss: it.loss,
            grad_norm_sq: it.grad_norm_sq,
            learning_rate: it.learning_rate,
        });
        ObserverAction::Continue
    }
}
