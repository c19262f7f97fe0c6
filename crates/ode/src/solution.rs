//! What a solve returns: the final state, optional recorded states, statistics.

use faer::Mat;
use serde::{Deserialize, Serialize};

use crate::error::OdeError;

/// Counters of the work done (forward and adjoint runs share the type).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Calls of [`VectorField::eval`](crate::VectorField::eval) (one per batch).
    pub field_evals: usize,
    /// Calls of [`VectorField::vjp_state`](crate::VectorField::vjp_state).
    pub vjp_state_evals: usize,
    /// Calls of [`VectorField::vjp_params`](crate::VectorField::vjp_params).
    pub vjp_params_evals: usize,
    /// Accepted steps (every step of a fixed grid).
    pub steps_accepted: usize,
    /// Rejected steps (adaptive solvers only).
    pub steps_rejected: usize,
}

/// Which states a solve records besides the final one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// Only the final state.
    #[default]
    Final,
    /// The state at every step point, the initial one included.
    EveryStep,
    /// The states at these times (inside the interval, sorted in the direction of
    /// integration), by dense output between step points: cubic Hermite interpolation on
    /// fixed grids, the tableau's continuous extension in the adaptive solvers.
    AtTimes(Vec<f64>),
}

impl Output {
    /// Checks requested times against the interval `[t0, t1]` (either order).
    pub(crate) fn validate(&self, t0: f64, t1: f64) -> Result<(), OdeError> {
        let Output::AtTimes(times) = self else {
            return Ok(());
        };
        let dir = (t1 - t0).signum();
        let (lo, hi) = if t0 <= t1 { (t0, t1) } else { (t1, t0) };
        for (index, &time) in times.iter().enumerate() {
            if !time.is_finite() {
                return Err(OdeError::OutputTimesNotSorted {
                    index,
                    previous: if index > 0 { times[index - 1] } else { t0 },
                    time,
                });
            }
            if time < lo || time > hi {
                return Err(OdeError::OutputTimeOutOfRange {
                    index,
                    time,
                    t0,
                    t1,
                });
            }
            if index > 0 && (time - times[index - 1]) * dir < 0.0 {
                return Err(OdeError::OutputTimesNotSorted {
                    index,
                    previous: times[index - 1],
                    time,
                });
            }
        }
        Ok(())
    }
}

/// Result of a solve (also the partial result carried by a failed one).
#[derive(Debug, Clone)]
pub struct Solution {
    /// State at [`t_final`](Solution::t_final).
    pub final_state: Mat<f64>,
    /// End of the interval (or the time reached, for a partial solution).
    pub t_final: f64,
    /// Times of the recorded states (see [`Output`]).
    pub times: Vec<f64>,
    /// Recorded states, one `N × d` matrix per entry of `times`.
    pub states: Vec<Mat<f64>>,
    /// Work done.
    pub stats: Stats,
}
