//! The driver: evaluate, observe, check the stopping rules, step — until a rule fires.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::OptimError;
use crate::observer::{Observer, ObserverAction};
use crate::problem::Problem;
use crate::solver::Solver;
use crate::state::{State, StepContext};
use crate::stopping::{StopReason, Stopping};

/// Statistics of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Report {
    /// The solver's name.
    pub solver: String,
    /// Steps taken in this run.
    pub iterations: u64,
    /// Epochs completed in this run.
    pub epochs: u64,
    /// Loss/gradient evaluations in this run (line-search trials included).
    pub evaluations: u64,
    /// Index of the final iterate (total steps of the state).
    pub final_iteration: u64,
    /// Index of the final epoch (total completed epochs of the state).
    pub final_epoch: u64,
    /// `L` at the final iterate.
    pub final_loss: f64,
    /// `‖G‖_M` at the final iterate.
    pub final_grad_norm: f64,
    /// Why the run ended.
    pub stop_reason: StopReason,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

/// The final state and the report of a successful run.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The state at the final iterate (pass it to another run to continue).
    pub state: State,
    /// Statistics.
    pub report: Report,
}

/// Runs `solver` on `problem` from `state` until a `stopping` rule or an observer ends it,
/// and returns the final state with a [`Report`].
///
/// At each iterate `k` (starting with the initial one, ending with the final one): compute
/// `η_k` from the solver's schedule, emit a `tracing::debug!` event, show the iterate to
/// every observer, check the stopping rules (tolerances, then budgets), then step.
/// Evaluations happen inside the steps; an iterate is accepted only if its loss, gradient
/// and parameters are finite, so no step ever starts from a NaN.
///
/// # Errors
/// [`OptimError::Diverged`] with the last finite iterate; [`OptimError::NonFiniteStart`];
/// [`OptimError::LineSearchFailed`]; [`OptimError::Problem`]; configuration and length
/// mismatches ([`OptimError::Config`], [`OptimError::DimensionMismatch`],
/// [`OptimError::MinibatchUnsupported`], [`OptimError::BatchLargerThanDataset`]).
pub fn run(
    problem: &mut dyn Problem,
    solver: &dyn Solver,
    mut state: State,
    stopping: &Stopping,
    observers: &mut [&mut dyn Observer],
) -> Result<Outcome, OptimError> {
    let report = run_in_place(problem, solver, &mut state, stopping, observers)?;
    Ok(Outcome { state, report })
}

/// [`run`] on a borrowed state. After an error the state still holds the last finite,
/// evaluated iterate (the solver's buffers may have advanced by the failed step).
///
/// # Errors
/// As [`run`].
pub fn run_in_place(
    problem: &mut dyn Problem,
    solver: &dyn Solver,
    state: &mut State,
    stopping: &Stopping,
    observers: &mut [&mut dyn Observer],
) -> Result<Report, OptimError> {
    stopping.validate()?;
    solver.learning_rate().validate()?;
    let start = Instant::now();
    let name = solver.name();
    let metric = solver.metric();
    let n = problem.n_params();
    if state.params().len() != n {
        return Err(OptimError::DimensionMismatch {
            what: "initial parameters vs problem",
            expected: n,
            got: state.params().len(),
        });
    }
    match metric.len() {
        Some(m) if m != n => {
            return Err(OptimError::DimensionMismatch {
                what: "metric vs problem",
                expected: n,
                got: m,
            });
        }
        _ => {}
    }
    let minibatch = solver.minibatch().copied();
    let n_samples = match &minibatch {
        None => 0,
        Some(mb) => {
            mb.validate()?;
            let ns = match problem.n_samples() {
                Some(ns) if ns > 0 => ns,
                _ => return Err(OptimError::MinibatchUnsupported { solver: name }),
            };
            if mb.batches_per_epoch(ns) == 0 {
                return Err(OptimError::BatchLargerThanDataset {
                    batch_size: mb.batch_size,
                    n_samples: ns,
                });
            }
            ns
        }
    };
    state.prepare(n, name, solver.n_buffers(), minibatch, n_samples);
    let (iteration0, epoch0, evaluations0) =
        (state.iteration(), state.epoch(), state.evaluations());
    if state.is_evaluated() {
        state.update_riesz(metric);
    } else {
        state.evaluate_current(problem, metric)?;
    }
    loop {
        let lr = solver.learning_rate().at(state.iteration(), state.epoch());
        state.set_learning_rate(lr);
        tracing::debug!(
            solver = name,
            iteration = state.iteration(),
            epoch = state.epoch(),
            loss = state.loss(),
            grad_norm = state.grad_norm(),
            learning_rate = lr,
            "iterate"
        );
        let mut stop = None;
        {
            let it = state.iterate();
            for (index, obs) in observers.iter_mut().enumerate() {
                if obs.observe(&it) == ObserverAction::Stop && stop.is_none() {
                    stop = Some(StopReason::Observer { index });
                }
            }
        }
        if let Some(stop_reason) = stop.or_else(|| stopping.check(state)) {
            tracing::debug!(solver = name, ?stop_reason, "stop");
            return Ok(Report {
                solver: name.to_owned(),
                iterations: state.iteration() - iteration0,
                epochs: state.epoch() - epoch0,
                evaluations: state.evaluations() - evaluations0,
                final_iteration: state.iteration(),
                final_epoch: state.epoch(),
                final_loss: state.loss(),
                final_grad_norm: state.grad_norm(),
                stop_reason,
                elapsed: start.elapsed(),
            });
        }
        let step = {
            let mut ctx = StepContext::new(problem, state, metric);
            solver.step(&mut ctx, lr)?
        };
        state.set_last_step_size(step);
    }
}
