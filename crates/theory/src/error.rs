//! Typed errors of the checks: everything a user (a config value, a data file, a run
//! that produced NaN) can get wrong.

use thiserror::Error;

/// An input a check cannot work with.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum TheoryError {
    /// A scalar parameter outside its admissible range.
    #[error("invalid {name} = {value}: expected {expected}")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// The offending value.
        value: f64,
        /// What was expected.
        expected: &'static str,
    },
    /// Two sequences that must have equal lengths do not.
    #[error("length mismatch in {what}: {left} vs {right}")]
    LengthMismatch {
        /// What was compared.
        what: &'static str,
        /// First length.
        left: usize,
        /// Second length.
        right: usize,
    },
    /// Not enough points for a fit or an estimate.
    #[error("{what} needs at least {needed} points, got {got}")]
    TooFewPoints {
        /// What needed the points.
        what: &'static str,
        /// Minimum number.
        needed: usize,
        /// Number given.
        got: usize,
    },
    /// A non-finite value (NaN or ±∞) where a finite one is required.
    #[error("non-finite {what} at index {index}: {value}")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Position of the value.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A value that must be positive (e.g. before taking a logarithm) is not.
    #[error("{what} at index {index} must be positive, got {value}")]
    NotPositive {
        /// Which input.
        what: &'static str,
        /// Position of the value.
        index: usize,
        /// The value.
        value: f64,
    },
    /// All abscissae of a line fit are equal: the slope is undetermined.
    #[error("all abscissae of the fit equal {value}: slope undetermined")]
    DegenerateAbscissae {
        /// The common abscissa.
        value: f64,
    },
    /// The kernel has no admissibility constant `κ` (its RKHS functions need not be
    /// differentiable, e.g. the Laplace kernel), so separation-based bounds do not apply.
    #[error(
        "kernel `{kernel}` has no admissibility constant (RKHS not C¹); the a-priori bound does not apply"
    )]
    NoAdmissibilityConstant {
        /// Kernel name.
        kernel: &'static str,
    },
    /// The kernel is not radially non-increasing, so Gershgorin by separation does not apply.
    #[error(
        "kernel `{kernel}` is not a radially non-increasing stationary kernel; Gershgorin by separation does not apply"
    )]
    NotRadial {
        /// Kernel name.
        kernel: &'static str,
    },
    /// Shapes of data and model disagree.
    #[error("shape mismatch: {what}: expected {expected}, got {got}")]
    Shape {
        /// What was checked.
        what: &'static str,
        /// Expected size.
        expected: usize,
        /// Actual size.
        got: usize,
    },
    /// An eigenvalue or singular-value computation did not converge.
    #[error("{what}: eigen/singular value iteration did not converge")]
    NoConvergence {
        /// Which computation.
        what: &'static str,
    },
    /// A spectral computation of plres-kernels (eigenvalues, `λ_min`) failed: a
    /// non-finite entry or no convergence.
    #[error("spectral computation: {0}")]
    Spectral(#[from] plres_kernels::KernelError),
    /// The computation is not implemented for this kind of model.
    #[error("{what} is not supported: {reason}")]
    Unsupported {
        /// What was asked for.
        what: &'static str,
        /// Why it is not available.
        reason: &'static str,
    },
    /// A dense computation would exceed its documented size limit.
    #[error("{what}: size {size} exceeds the limit {max} of the dense computation")]
    TooLarge {
        /// What would be formed.
        what: &'static str,
        /// The requested size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The underlying model reported an error.
    #[error("model error: {0}")]
    Model(String),
}
