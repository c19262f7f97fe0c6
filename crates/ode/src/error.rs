//! Typed errors for everything a user can get wrong or a run can hit.

use thiserror::Error;

use crate::solution::Solution;
use crate::tableau::TableauError;

/// Errors of the solvers and the adjoints. Failures during a solve carry the partial solution
/// (state at the time reached, recorded outputs, statistics).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OdeError {
    /// A grid needs at least two points.
    #[error("a grid needs at least two points, got {len}")]
    GridTooShort {
        /// Number of points given.
        len: usize,
    },
    /// A grid point is NaN or infinite.
    #[error("grid point {index} is not finite: {value}")]
    GridNotFinite {
        /// Index of the point.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// The grid is not strictly monotone at `index` (zero step or change of direction).
    #[error("grid is not strictly monotone at index {index}: {previous} then {value}")]
    GridNotMonotone {
        /// Index of the offending point.
        index: usize,
        /// The point before it.
        previous: f64,
        /// The offending point.
        value: f64,
    },
    /// A uniform grid with more steps than [`Grid::MAX_UNIFORM_STEPS`](crate::Grid::MAX_UNIFORM_STEPS).
    #[error("a uniform grid of {n_steps} steps is longer than the maximum {max}")]
    GridTooLong {
        /// Number of steps asked for.
        n_steps: usize,
        /// The maximum.
        max: usize,
    },
    /// An allocation sized by user input failed.
    #[error("cannot allocate {bytes} bytes for the {what}")]
    OutOfMemory {
        /// What was being allocated.
        what: &'static str,
        /// Its size in bytes.
        bytes: usize,
    },
    /// A requested output time lies outside the integration interval.
    #[error("output time {index} = {time} lies outside [{t0}, {t1}]")]
    OutputTimeOutOfRange {
        /// Index in the requested list.
        index: usize,
        /// The time.
        time: f64,
        /// Start of the integration.
        t0: f64,
        /// End of the integration.
        t1: f64,
    },
    /// Requested output times are not sorted in the direction of integration (or not finite).
    #[error(
        "output times not sorted in the integration direction at {index}: {previous} then {time}"
    )]
    OutputTimesNotSorted {
        /// Index of the offending time.
        index: usize,
        /// The time before it.
        previous: f64,
        /// The offending time.
        time: f64,
    },
    /// An interval endpoint is not finite or the interval is empty.
    #[error("invalid integration interval [{t0}, {t1}]")]
    InvalidInterval {
        /// Start.
        t0: f64,
        /// End.
        t1: f64,
    },
    /// A configuration value is out of its range.
    #[error("invalid setting {name} = {value}: {reason}")]
    InvalidConfig {
        /// Field name.
        name: &'static str,
        /// Its value.
        value: f64,
        /// What is required.
        reason: &'static str,
    },
    /// The tableau has no embedded pair, so it cannot drive an adaptive solve.
    #[error("tableau {name} has no embedded error estimator: use it on a fixed grid")]
    NotAdaptive {
        /// Tableau name.
        name: String,
    },
    /// The tableau was refused.
    #[error(transparent)]
    Tableau(#[from] TableauError),
    /// `max_steps` attempts (accepted + rejected) were used before reaching the end.
    #[error("too many steps: {max_steps} attempted, stopped at t = {t_reached}")]
    TooManySteps {
        /// The limit.
        max_steps: usize,
        /// Time reached (last accepted point).
        t_reached: f64,
        /// Everything computed up to `t_reached`.
        partial: Box<Solution>,
    },
    /// Step control asked for a step below the minimum.
    #[error("step size {h} below the minimum {h_min} at t = {t_reached}")]
    StepSizeTooSmall {
        /// The step size asked for.
        h: f64,
        /// The minimum in force.
        h_min: f64,
        /// Time reached.
        t_reached: f64,
        /// Everything computed up to `t_reached`.
        partial: Box<Solution>,
    },
    /// The state became NaN or infinite on a fixed grid, or an adaptive solve started
    /// from one (`step` 0).
    #[error("state became non-finite in step {step} (from t = {t_reached})")]
    NonFinite {
        /// Index of the step that produced it.
        step: usize,
        /// Start of that step (the last finite state's time).
        t_reached: f64,
        /// Everything computed up to `t_reached`.
        partial: Box<Solution>,
    },
}

impl OdeError {
    /// The partial solution carried by a failed solve, if any.
    pub fn partial(&self) -> Option<&Solution> {
        match self {
            OdeError::TooManySteps { partial, .. }
            | OdeError::StepSizeTooSmall { partial, .. }
            | OdeError::NonFinite { partial, .. } => Some(partial),
            _ => None,
        }
    }
}
