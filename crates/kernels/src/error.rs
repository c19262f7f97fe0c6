//! Typed errors for everything a user (a config file, a data set) can get wrong.

/// Errors returned by the validated entry points of `plres-kernels`.
///
/// Inner `*_in_place` routines do not return this type: they assume validated,
/// shape-consistent inputs and panic (naming every dimension) on a shape mismatch.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// A kernel hyper-parameter (bandwidth, length-scale, `c`) is not finite and positive.
    #[error("kernel parameter `{name}` must be finite and > 0, got {value}")]
    InvalidParameter {
        /// Parameter name as it appears in [`crate::KernelSpec`].
        name: &'static str,
        /// The offending value.
        value: f64,
    },
    /// An input matrix has no rows or no columns.
    #[error("{what} is empty ({rows}×{cols}); at least one row and one column are needed")]
    Empty {
        /// Which input.
        what: &'static str,
        /// Number of rows given.
        rows: usize,
        /// Number of columns given.
        cols: usize,
    },
    /// An input holds a NaN or an infinity.
    #[error("{what} holds the non-finite value {value} at ({row}, {col})")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Row of the first non-finite entry.
        row: usize,
        /// Column of the first non-finite entry.
        col: usize,
        /// The entry itself.
        value: f64,
    },
    /// Two inputs that must agree in one dimension do not.
    #[error("dimension mismatch: {what}: expected {expected}, got {got}")]
    DimensionMismatch {
        /// Which dimension of which inputs.
        what: &'static str,
        /// The dimension required by the other inputs.
        expected: usize,
        /// The dimension found.
        got: usize,
    },
    /// A matrix that must be square is not.
    #[error("{what} must be square, got {rows}×{cols}")]
    NotSquare {
        /// Which input.
        what: &'static str,
        /// Number of rows.
        rows: usize,
        /// Number of columns.
        cols: usize,
    },
    /// A [`crate::KernelSpec`] was turned into a kernel struct of another kind.
    #[error("kernel spec of kind `{found}` cannot build a `{expected}` kernel")]
    WrongKind {
        /// The kind the target type needs.
        expected: &'static str,
        /// The kind the spec holds.
        found: &'static str,
    },
    /// The self-adjoint eigensolver did not converge.
    #[error("self-adjoint eigendecomposition of a {n}×{n} matrix did not converge")]
    EigenNoConvergence {
        /// Matrix order.
        n: usize,
    },
}
