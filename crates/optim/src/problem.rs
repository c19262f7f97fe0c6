//! The [`Problem`] trait (loss and gradient at a flat parameter vector) and its error type.

use std::error::Error;

/// A differentiable objective `L: ℝⁿ → ℝ` on a flat parameter vector.
///
/// The gradient is the *Euclidean* one, `∂L/∂θ`; solvers turn it into the Riesz gradient
/// of their [`crate::Metric`]. `grad` arrives **zeroed**, so implementations may either
/// overwrite it or accumulate into it.
///
/// Minibatching is optional: a problem that reports `n_samples() = Some(N)` must implement
/// [`Problem::minibatch_loss_and_gradient`] as the *mean* loss over the given sample indices
/// (so that a batch of all `N` indices gives the full loss).
pub trait Problem {
    /// Number of parameters `n`.
    fn n_params(&self) -> usize;

    /// Full-batch loss `L(θ)`; the Euclidean gradient `∂L/∂θ` is written into `grad`
    /// (length `n_params`, zeroed on entry).
    ///
    /// # Errors
    /// Whatever the model's evaluation can fail with, wrapped in a [`ProblemError`].
    fn loss_and_gradient(&mut self, params: &[f64], grad: &mut [f64]) -> Result<f64, ProblemError>;

    /// Number of samples `N` for minibatching (`None`: no minibatch support, the default).
    fn n_samples(&self) -> Option<usize> {
        None
    }

    /// Mean loss over the samples `indices` (each `< N`, no repeats within a batch), gradient
    /// into `grad` (zeroed on entry).
    ///
    /// # Errors
    /// The default implementation returns an error: override it together with
    /// [`Problem::n_samples`].
    fn minibatch_loss_and_gradient(
        &mut self,
        params: &[f64],
        indices: &[usize],
        grad: &mut [f64],
    ) -> Result<f64, ProblemError> {
        let _ = (params, indices, grad);
        Err(ProblemError::msg(
            "this problem does not implement minibatch_loss_and_gradient",
        ))
    }
}

/// A borrowed or boxed problem is a problem: every method forwards to the pointee (one
/// body for both pointer types).
macro_rules! forward_problem {
    ($($ptr:ty),*) => {$(
        impl<P: Problem + ?Sized> Problem for $ptr {
            fn n_params(&self) -> usize {
                (**self).n_params()
            }
            fn loss_and_gradient(&mut self, params: &[f64], grad: &mut [f64]) -> Result<f64, ProblemError> {
                (**self).loss_and_gradient(params, grad)
            }
            fn n_samples(&self) -> Option<usize> {
                (**self).n_samples()
            }
            fn minibatch_loss_and_gradient(
                &mut self,
                params: &[f64],
                indices: &[usize],
                grad: &mut [f64],
            ) -> Result<f64, ProblemError> {
                (**self).minibatch_loss_and_gradient(params, indices, grad)
            }
        }
    )*};
}

forward_problem!(&mut P, Box<P>);

/// The error a [`Problem`] returns: a message plus, optionally, the model crate's own error
/// as the [`source`](std::error::Error::source) (boxed, `Send + Sync`).
///
/// ```
/// use plres_optim::ProblemError;
/// let io = std::io::Error::other("disk full");
/// let e = ProblemError::new("cannot read the batch", io);
/// assert_eq!(e.to_string(), "cannot read the batch");
/// assert_eq!(std::error::Error::source(&e).unwrap().to_string(), "disk full");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ProblemError {
    message: String,
    #[source]
    source: Option<Box<dyn Error + Send + Sync + 'static>>,
}

impl ProblemError {
    /// A message and the underlying error.
    pub fn new(
        message: impl Into<String>,
        source: impl Into<Box<dyn Error + Send + Sync + 'static>>,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A message without an underlying error.
    pub fn msg(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// Wraps a model crate's error; the message is a generic "loss/gradient evaluation failed".
    pub fn from_source(source: impl Into<Box<dyn Error + Send + Sync + 'static>>) -> Self {
        Self::new("loss/gradient evaluation failed", source)
    }

    /// The message (without the source).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The wrapped error, if any; use `downcast_ref` to recover the model crate's type.
    pub fn inner(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        self.source.as_deref()
    }
}
