//! Every model as a plres-optim [`Problem`] over its flat parameter vector, so every
//! optimizer trains every model (full batch and minibatches).
//!
//! [`TrainingProblem`] owns a model and borrows the data (validated once, at
//! construction; nothing is copied), with the model's workspace sized for the full batch
//! and gathered-minibatch buffers: a minibatch copies its rows into the first rows of
//! those buffers and runs the same allocation-free step
//! ([`Trainable::loss_and_gradient_unchecked`]) on them. The loss is the mean over the
//! samples used, so a minibatch of all indices gives the full loss.
//!
//! [`TrainingProblem::run`] trains and hands back the model *with its trained parameters*
//! ([`Trained`]): there is no way to get the model out of a problem without them.

use faer::{Mat, MatRef};
use plres_data::TargetsRef;
use plres_optim::{
    Metric, Observer, OptimError, Outcome, Problem, ProblemError, Solver, State, Stopping,
};

use crate::error::ResNetError;
use crate::maps::{check_batch, check_len};
use crate::model::Trainable;

/// The result of [`TrainingProblem::run`]: the model carrying the final parameters of the
/// run, and the optimizer's outcome (final state, report).
#[derive(Clone, Debug)]
pub struct Trained<M> {
    /// The model with the final iterate's parameters (`outcome.state.params()`).
    pub model: M,
    /// The optimizer's final state and report.
    pub outcome: Outcome,
}

/// A model with its training data: a plres-optim [`Problem`] (module docs).
///
/// ```
/// use std::sync::Arc;
/// use faer::Mat;
/// use plres_optim::Problem;
/// use plres_resnet::{LinearResNet, LinearResNetConfig, TargetsRef, Trainable, TrainingProblem};
/// use plres_rff::RandomReluFeatures;
/// use rand::SeedableRng;
///
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// let phi = RandomReluFeatures::sample(2, 32, &mut rng).unwrap();
/// let net = LinearResNet::new(Arc::new(phi), LinearResNetConfig { depth: 3, ..Default::default() })
///     .unwrap();
/// let x = Mat::from_fn(6, 2, |i, j| (i as f64 - 2.5) * 0.3 + j as f64);
/// let y = Mat::from_fn(6, 2, |i, j| (i * j) as f64 * 0.1);
/// let params = net.params().to_vec();
/// let mut prob = TrainingProblem::new(net, x.as_ref(), TargetsRef::Regression(y.as_ref())).unwrap();
/// let mut grad = vec![0.0; prob.n_params()];
/// let full = prob.loss_and_gradient(&params, &mut grad).unwrap();
/// let all: Vec<usize> = (0..6).collect();
/// let batch = prob.minibatch_loss_and_gradient(&params, &all, &mut grad).unwrap();
/// assert_eq!(full, batch);
/// ```
#[derive(Debug)]
pub struct TrainingProblem<'a, M: Trainable> {
    model: M,
    x: MatRef<'a, f64>,
    targets: TargetsRef<'a>,
    ws: M::Workspace,
    xb: Mat<f64>,
    yb: Mat<f64>,
    lb: Vec<usize>,
}

impl<'a, M: Trainable> TrainingProblem<'a, M> {
    /// Validates the data once (non-empty, `d_in` columns, finite, targets matching) and
    /// allocates every buffer.
    ///
    /// # Errors
    /// [`ResNetError::EmptyData`], [`ResNetError::DimensionMismatch`],
    /// [`ResNetError::NonFinite`], [`ResNetError::LabelOutOfRange`].
    pub fn new(model: M, x: MatRef<'a, f64>, targets: TargetsRef<'a>) -> Result<Self, ResNetError> {
        check_batch(x, model.input_dim())?;
        model.check_targets(targets, x.nrows())?;
        let n = x.nrows();
        let ws = model.training_workspace(n);
        let (yb, lb) = match targets {
            TargetsRef::Regression(_) => (Mat::zeros(n, model.output_dim()), Vec::new()),
            TargetsRef::Classes(_) => (Mat::zeros(0, 0), vec![0; n]),
        };
        Ok(Self {
            xb: Mat::zeros(n, x.ncols()),
            model,
            x,
            targets,
            ws,
            yb,
            lb,
        })
    }

    /// The parameters the model was given (evaluations do not change them: optimizers
    /// pass theirs); a natural start for [`TrainingProblem::run`].
    pub fn initial_params(&self) -> &[f64] {
        self.model.params()
    }

    /// Runs `solver` from `state` until a `stopping` rule or an observer ends it
    /// ([`plres_optim::run`]) and hands back the model with the final parameters.
    ///
    /// # Errors
    /// Every [`OptimError`] of [`plres_optim::run`] (divergence, bad configuration, …).
    pub fn run(
        mut self,
        solver: &dyn Solver,
        state: State,
        stopping: &Stopping,
        observers: &mut [&mut dyn Observer],
    ) -> Result<Trained<M>, OptimError> {
        let outcome = plres_optim::run(&mut self, solver, state, stopping, observers)?;
        // the executor accepts only finite iterates of the problem's length
        self.model
            .params_mut()
            .copy_from_slice(outcome.state.params());
        Ok(Trained {
            model: self.model,
            outcome,
        })
    }

    /// Hands back the model with the final parameters of `outcome`, for a problem driven
    /// by [`plres_optim::run_in_place`] (e.g. in segments between checkpoints) rather than
    /// [`TrainingProblem::run`].
    ///
    /// # Errors
    /// [`ResNetError::ParameterLength`] if the outcome's parameters do not fit the model,
    /// [`ResNetError::NonFinite`] if one is not finite.
    pub fn into_trained(mut self, outcome: Outcome) -> Result<Trained<M>, ResNetError> {
        let params = outcome.state.params();
        check_len("params", self.model.n_params(), params.len())?;
        if let Some(col) = params.iter().position(|p| !p.is_finite()) {
            return Err(ResNetError::NonFinite {
                what: "final parameters",
                row: 0,
                col,
                value: params[col],
            });
        }
        self.model.params_mut().copy_from_slice(params);
        Ok(Trained {
            model: self.model,
            outcome,
        })
    }

    /// The workspace of the last evaluation (states, adjoints, … of that batch).
    pub fn workspace(&self) -> &M::Workspace {
        &self.ws
    }

    /// The inputs.
    pub fn inputs(&self) -> MatRef<'a, f64> {
        self.x
    }

    /// The targets.
    pub fn targets(&self) -> TargetsRef<'a> {
        self.targets
    }

    /// The metric of the model (pass it to the optimizer).
    pub fn metric(&self) -> Metric {
        self.model.metric()
    }

    fn check_lengths(&self, params: &[f64], grad: &[f64]) -> Result<(), ProblemError> {
        let n = self.model.n_params();
        check_len("params", n, params.len())
            .and_then(|_| check_len("grad", n, grad.len()))
            .map_err(ProblemError::from_source)
    }
}

impl<M: Trainable> Problem for TrainingProblem<'_, M> {
    fn n_params(&self) -> usize {
        self.model.n_params()
    }

    fn loss_and_gradient(&mut self, params: &[f64], grad: &mut [f64]) -> Result<f64, ProblemError> {
        self.check_lengths(params, grad)?;
        Ok(self
            .model
            .loss_and_gradient_unchecked(params, &mut self.ws, self.x, self.targets, grad))
    }

    fn n_samples(&self) -> Option<usize> {
        Some(self.x.nrows())
    }

    fn minibatch_loss_and_gradient(
        &mut self,
        params: &[f64],
        indices: &[usize],
        grad: &mut [f64],
    ) -> Result<f64, ProblemError> {
        self.check_lengths(params, grad)?;
        let n = self.x.nrows();
        if indices.is_empty() {
            return Err(ProblemError::from_source(ResNetError::EmptyData {
                what: "minibatch indices",
            }));
        }
        if indices.len() > n {
            return Err(ProblemError::from_source(ResNetError::DimensionMismatch {
                what: "minibatch size (at most the number of samples)",
                expected: n,
                found: indices.len(),
            }));
        }
        if let Some(&index) = indices.iter().find(|&&i| i >= n) {
            return Err(ProblemError::from_source(ResNetError::IndexOutOfRange {
                index,
                n_samples: n,
            }));
        }
        let b = indices.len();
        for j in 0..self.x.ncols() {
            let src = self.x.col(j);
            let dst = self.xb.col_as_slice_mut(j);
            for (r, &i) in indices.iter().enumerate() {
                dst[r] = src[i];
            }
        }
        let targets = match self.targets {
            TargetsRef::Regression(y) => {
                for j in 0..y.ncols() {
                    let dst = self.yb.col_as_slice_mut(j);
                    for (r, &i) in indices.iter().enumerate() {
                        dst[r] = y[(i, j)];
                    }
                }
                TargetsRef::Regression(self.yb.as_ref().subrows(0, b))
            }
            TargetsRef::Classes(l) => {
                for (r, &i) in indices.iter().enumerate() {
                    self.lb[r] = l[i];
                }
                TargetsRef::Classes(&self.lb[..b])
            }
        };
        Ok(self.model.loss_and_gradient_unchecked(
            params,
            &mut self.ws,
            self.xb.as_ref().subrows(0, b),
            targets,
            grad,
        ))
    }
}
