//! Typed errors: configuration mistakes ([`ConfigError`]) and run failures ([`OptimError`]).

use crate::problem::ProblemError;

/// A configuration value out of its admissible range, found when a config is validated
/// (`…Config::build`, [`crate::Stopping::validate`], [`crate::Metric`] constructors).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The base learning rate `η` is `≤ 0`, NaN or infinite.
    #[error("learning rate must be positive and finite, got {value}")]
    NonPositiveLearningRate {
        /// The offending value.
        value: f64,
    },
    /// A momentum / averaging coefficient (`β`, `β₁`, `β₂`) lies outside `[0, 1)`.
    #[error("{parameter} must lie in [0, 1), got {value}")]
    MomentumOutOfRange {
        /// Which coefficient (`"momentum"`, `"beta1"`, `"beta2"`).
        parameter: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A minibatch size of zero.
    #[error("batch size must be at least 1, got 0")]
    ZeroBatchSize,
    /// Any other scalar parameter outside its range.
    #[error("{parameter} = {value} is invalid: expected {expected}")]
    OutOfRange {
        /// Name of the parameter (as spelled in the config struct).
        parameter: &'static str,
        /// The offending value (integers are converted to `f64`).
        value: f64,
        /// The admissible range, in words.
        expected: &'static str,
    },
    /// A metric block with weight `≤ 0`, NaN or infinite.
    #[error("metric block {block} has weight {weight}; weights must be positive and finite")]
    NonPositiveMetricWeight {
        /// Index of the block.
        block: usize,
        /// The offending weight.
        weight: f64,
    },
    /// A metric block of length zero, or a metric with no block at all.
    #[error("metric block {block} is empty (a metric needs at least one non-empty block)")]
    EmptyMetricBlock {
        /// Index of the block (0 for a metric without blocks).
        block: usize,
    },
    /// A stopping rule with neither `max_iterations` nor `max_epochs`: the run could not end.
    #[error("stopping rule needs max_iterations or max_epochs")]
    Unbounded,
}

/// Which part of an evaluated iterate was not finite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum NonFinite {
    /// The loss was NaN or ±∞.
    Loss,
    /// Some gradient entry was NaN or ±∞.
    Gradient,
    /// Some parameter was NaN or ±∞ (the update itself overflowed).
    Params,
}

impl std::fmt::Display for NonFinite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NonFinite::Loss => "loss",
            NonFinite::Gradient => "gradient",
            NonFinite::Params => "parameters",
        })
    }
}

/// Why a run ([`crate::run`]) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OptimError {
    /// A configuration value is out of range.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The problem's loss/gradient evaluation returned an error.
    #[error("problem evaluation failed at iteration {iteration}")]
    Problem {
        /// Index of the iterate being evaluated.
        iteration: u64,
        /// The problem's own error.
        #[source]
        source: ProblemError,
    },
    /// The iterate `iteration` came out with a non-finite loss, gradient or parameter.
    /// The run stopped there; nothing was computed from the non-finite values.
    #[error(
        "diverged at iteration {iteration}: non-finite {non_finite} (loss {loss}); \
         last finite loss {last_finite_loss} at iteration {}", iteration - 1
    )]
    Diverged {
        /// Index of the first non-finite iterate (the last finite one is `iteration − 1`).
        iteration: u64,
        /// The loss at the non-finite iterate (may itself be finite when only the
        /// gradient or the parameters were not).
        loss: f64,
        /// What was non-finite.
        non_finite: NonFinite,
        /// Parameters of the last finite iterate (`iteration − 1`).
        last_finite_params: Vec<f64>,
        /// Loss of the last finite iterate.
        last_finite_loss: f64,
    },
    /// The initial parameters already give a non-finite loss, gradient or parameter.
    #[error("non-finite {non_finite} at the initial iterate {iteration} (loss {loss})")]
    NonFiniteStart {
        /// Index of the iterate (0 for a fresh state).
        iteration: u64,
        /// The loss there.
        loss: f64,
        /// What was non-finite.
        non_finite: NonFinite,
    },
    /// Armijo backtracking found no step with sufficient decrease.
    #[error(
        "Armijo line search failed at iteration {iteration}: no sufficient decrease after \
         {backtracks} backtracks (last trial step {step}, loss {loss})"
    )]
    LineSearchFailed {
        /// Index of the iterate the search started from.
        iteration: u64,
        /// Number of step reductions tried.
        backtracks: u32,
        /// The last (smallest) trial step.
        step: f64,
        /// The loss at the iterate the search started from.
        loss: f64,
    },
    /// Lengths that must agree do not (initial parameters, metric, problem).
    #[error("{what}: expected length {expected}, got {got}")]
    DimensionMismatch {
        /// What was compared.
        what: &'static str,
        /// Length the problem requires.
        expected: usize,
        /// Length found.
        got: usize,
    },
    /// A stochastic solver was run on a problem without minibatch support
    /// (`n_samples()` is `None` or `Some(0)`).
    #[error("solver `{solver}` draws minibatches but the problem reports no samples")]
    MinibatchUnsupported {
        /// The solver's name.
        solver: &'static str,
    },
    /// `drop_last` with a batch larger than the data set leaves no batch at all.
    #[error(
        "batch size {batch_size} > {n_samples} samples with drop_last: an epoch would have no batch"
    )]
    BatchLargerThanDataset {
        /// The configured batch size.
        batch_size: usize,
        /// The number of samples of the problem.
        n_samples: usize,
    },
}
