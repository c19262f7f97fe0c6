//! Typed errors of plres-rff: [`RffError`] for feature maps, [`BoundError`] for the
//! feature-count bounds.

use thiserror::Error;

/// Invalid arguments to a feature-count bound (module [`crate::bounds`]).
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum BoundError {
    /// A count that must be at least 1 (samples `n`, dimension `d`, features `p`) is 0.
    #[error("{name} must be at least 1, got 0")]
    Zero {
        /// Which argument.
        name: &'static str,
    },
    /// An argument that must be a finite positive number is not.
    #[error("{name} must be finite and > 0, got {value}")]
    NotPositive {
        /// Which argument.
        name: &'static str,
        /// The value given.
        value: f64,
    },
    /// A probability or fraction outside the open interval (0, 1).
    #[error("{name} must lie in the open interval (0, 1), got {value}")]
    NotInUnitInterval {
        /// Which argument.
        name: &'static str,
        /// The value given.
        value: f64,
    },
    /// `‖K‖` must satisfy `λ_min(K) ≤ ‖K‖ ≤ 2n` (a Gram of `√2`-bounded features).
    #[error("norm_k = {norm_k} must lie in [lambda_min, 2n] = [{lambda_min}, {two_n}]")]
    InconsistentNorm {
        /// `‖K‖` given.
        norm_k: f64,
        /// `λ_min(K)` given.
        lambda_min: f64,
        /// `2n`.
        two_n: f64,
    },
    /// The number of features the bound asks for does not fit in a `usize` (or exceeds
    /// 2⁵³, beyond which `f64` arithmetic on it is no longer exact).
    #[error("the bound needs {required:e} features, more than can be represented")]
    TooManyFeatures {
        /// The real-valued requirement.
        required: f64,
    },
}

/// Errors of the feature maps: sampling, construction from parts, specs.
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum RffError {
    /// Input dimension `d = 0` or feature count `p = 0`.
    #[error("feature map needs d ≥ 1 and p ≥ 1, got d = {d}, p = {p}")]
    EmptyShape {
        /// Input dimension.
        d: usize,
        /// Number of features.
        p: usize,
    },
    /// The paired `[cos, sin]` variant needs an even number of features.
    #[error("the paired Fourier variant needs an even number of features, got p = {p}")]
    OddPairedWidth {
        /// Number of features requested.
        p: usize,
    },
    /// The kernel has no spectral measure to sample from (not stationary with `k(0) = 1`,
    /// or none implemented in plres-kernels).
    #[error("kernel `{kernel}` has no spectral measure to sample Fourier features from")]
    NoSpectralMeasure {
        /// Kernel name.
        kernel: &'static str,
    },
    /// The kernel specification itself is invalid.
    #[error("invalid kernel: {0}")]
    Kernel(#[from] plres_kernels::KernelError),
    /// `from_parts`: weights, bias and width disagree.
    #[error(
        "inconsistent parts: weights are {rows}×{cols}, bias has length {bias_len}, \
         expected {expected_rows} weight rows and a bias of length {expected_bias}"
    )]
    PartsShape {
        /// Rows of the weight matrix given.
        rows: usize,
        /// Columns of the weight matrix given.
        cols: usize,
        /// Length of the bias given.
        bias_len: usize,
        /// Weight rows the feature map needs.
        expected_rows: usize,
        /// Bias length the feature map needs.
        expected_bias: usize,
    },
    /// `from_parts`: a weight or bias entry is NaN or infinite.
    #[error("non-finite {what} entry {value} at index {index}")]
    NonFinite {
        /// `"weight"` or `"bias"`.
        what: &'static str,
        /// Linear index (column-major for weights).
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// A map too large to build: more than [`MAX_FEATURES`](crate::MAX_FEATURES)
    /// features, or more than [`MAX_WEIGHTS`](crate::MAX_WEIGHTS) weight entries (also
    /// when their count overflows `usize`).
    #[error(
        "a feature map with p = {p} features on R^{d} is too large: its {what} exceed the maximum {limit}"
    )]
    TooLarge {
        /// Input dimension.
        d: usize,
        /// Number of features.
        p: usize,
        /// Which count is over its limit (`"features p"`, `"weight entries"`).
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The weights of a map within the size limits could not be allocated.
    #[error("cannot allocate the {rows}×{cols} weights of a feature map: out of memory")]
    OutOfMemory {
        /// Rows asked for.
        rows: usize,
        /// Columns asked for.
        cols: usize,
    },
    /// A bound could not be evaluated.
    #[error(transparent)]
    Bound(#[from] BoundError),
}
