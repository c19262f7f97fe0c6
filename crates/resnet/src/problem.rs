//! Every model as a plres-optim [`Problem`] over its flat parameter vector, so every
//! optimizer trains every model (full batch and minibatches).
//!
//! [`TrainingProblem`] owns a model, the data (validated once, at construction), the
//! model's workspace sized for the full batch, and gathered-minibatch buffers: a
//! minibatch copies its rows into the first rows of those buffers and runs the same
//! allocation-free step on them. The loss is the mean over the samples used, so a
//! minibatch of all indices gives the full loss.

use faer::{Mat, MatRef};
use plres_optim::{Metric, Problem, ProblemError};

use crate::error::ResNetError;
use crate::linear::{LinearResNet, Workspace};
use crate::loss::{TargetData, Targets};
use crate::maps::{check_batch, check_len};
use crate::shl::{ShlResNet, ShlWorkspace};

/// A model that trains through a flat parameter vector.
pub trait Trainable {
    /// The model's preallocated buffers.
    type Workspace;

    /// Number of trained parameters.
    fn n_params(&self) -> usize;
    /// Current parameters.
    fn params(&self) -> &[f64];
    /// Replaces the parameters (e.g. with an optimizer's result).
    ///
    /// # Errors
    /// Wrong length or non-finite values.
    fn set_params(&mut self, params: &[f64]) -> Result<(), ResNetError>;
    /// The metric gradient descent should use (the `L²` metric, docs/theory.md §4).
    fn metric(&self) -> Metric;
    /// Input dimension `d_in`.
    fn input_dim(&self) -> usize;
    /// Output dimension `d_out`.
    fn output_dim(&self) -> usize;
    /// Buffers for batches of up to `n_max` samples.
    fn new_workspace(&self, n_max: usize) -> Self::Workspace;
    /// Loss at `params` with the Euclidean gradient written into `grad`, on data the
    /// caller validated (shape, finiteness, labels) and a workspace made by
    /// [`Trainable::new_workspace`] with enough rows.
    ///
    /// # Panics
    /// On shape mismatches.
    fn loss_and_gradient_unchecked(
        &self,
        params: &[f64],
        ws: &mut Self::Workspace,
        x: MatRef<'_, f64>,
        targets: Targets<'_>,
        grad: &mut [f64],
    ) -> f64;
}

impl Trainable for LinearResNet {
    type Workspace = Workspace;
    fn n_params(&self) -> usize {
        LinearResNet::n_params(self)
    }
    fn params(&self) -> &[f64] {
        LinearResNet::params(self)
    }
    fn set_params(&mut self, params: &[f64]) -> Result<(), ResNetError> {
        LinearResNet::set_params(self, params)
    }
    fn metric(&self) -> Metric {
        LinearResNet::metric(self)
    }
    fn input_dim(&self) -> usize {
        LinearResNet::input_dim(self)
    }
    fn output_dim(&self) -> usize {
        LinearResNet::output_dim(self)
    }
    fn new_workspace(&self, n_max: usize) -> Workspace {
        self.training_workspace(n_max)
    }
    fn loss_and_gradient_unchecked(
        &self,
        params: &[f64],
        ws: &mut Workspace,
        x: MatRef<'_, f64>,
        targets: Targets<'_>,
        grad: &mut [f64],
    ) -> f64 {
        self.loss_and_gradient_prevalidated(params, ws, x, targets, grad)
    }
}

impl Trainable for ShlResNet {
    type Workspace = ShlWorkspace;
    fn n_params(&self) -> usize {
        ShlResNet::n_params(self)
    }
    fn params(&self) -> &[f64] {
        ShlResNet::params(self)
    }
    fn set_params(&mut self, params: &[f64]) -> Result<(), ResNetError> {
        check_len("params", self.n_params(), params.len())?;
        if let Some(i) = params.iter().position(|v| !v.is_finite()) {
            return Err(ResNetError::NonFinite {
                what: "params",
                row: i,
                col: 0,
                value: params[i],
            });
        }
        self.params_mut().copy_from_slice(params);
        Ok(())
    }
    fn metric(&self) -> Metric {
        ShlResNet::metric(self)
    }
    fn input_dim(&self) -> usize {
        ShlResNet::input_dim(self)
    }
    fn output_dim(&self) -> usize {
        ShlResNet::output_dim(self)
    }
    fn new_workspace(&self, n_max: usize) -> ShlWorkspace {
        self.workspace(n_max)
    }
    fn loss_and_gradient_unchecked(
        &self,
        params: &[f64],
        ws: &mut ShlWorkspace,
        x: MatRef<'_, f64>,
        targets: Targets<'_>,
        grad: &mut [f64],
    ) -> f64 {
        self.loss_and_gradient_prevalidated(params, ws, x, targets, grad)
    }
}

/// A model with its training data: a plres-optim [`Problem`] (module docs).
///
/// ```
/// use std::sync::Arc;
/// use faer::Mat;
/// use plres_optim::Problem;
/// use plres_resnet::{LinearResNet, LinearResNetConfig, TargetData, TrainingProblem};
/// use plres_rff::RandomReluFeatures;
/// use rand::SeedableRng;
///
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// let phi = RandomReluFeatures::sample(2, 32, &mut rng).unwrap();
/// let net = LinearResNet::new(Arc::new(phi), LinearResNetConfig { depth: 3, ..Default::default() })
///     .unwrap();
/// let x = Mat::from_fn(6, 2, |i, j| (i as f64 - 2.5) * 0.3 + j as f64);
/// let y = Mat::from_fn(6, 2, |i, j| (i * j) as f64 * 0.1);
/// let mut prob = TrainingProblem::new(net, x, TargetData::Values(y)).unwrap();
/// let params = prob.model().params().to_vec();
/// let mut grad = vec![0.0; prob.n_params()];
/// let full = prob.loss_and_gradient(&params, &mut grad).unwrap();
/// let all: Vec<usize> = (0..6).collect();
/// let batch = prob.minibatch_loss_and_gradient(&params, &all, &mut grad).unwrap();
/// assert_eq!(full, batch);
/// ```
#[derive(Debug)]
pub struct TrainingProblem<M: Trainable> {
    model: M,
    x: Mat<f64>,
    targets: TargetData,
    ws: M::Workspace,
    xb: Mat<f64>,
    yb: Mat<f64>,
    lb: Vec<usize>,
}

impl<M: Trainable> TrainingProblem<M> {
    /// Validates the data once (non-empty, `d_in` columns, finite, targets matching) and
    /// allocates every buffer.
    ///
    /// # Errors
    /// [`ResNetError::EmptyData`], [`ResNetError::DimensionMismatch`],
    /// [`ResNetError::NonFinite`], [`ResNetError::LabelOutOfRange`].
    pub fn new(model: M, x: Mat<f64>, targets: TargetData) -> Result<Self, ResNetError> {
        check_batch(x.as_ref(), model.input_dim())?;
        targets.as_ref().validate(x.nrows(), model.output_dim())?;
        let n = x.nrows();
        let ws = model.new_workspace(n);
        let (yb, lb) = match &targets {
            TargetData::Values(_) => (Mat::zeros(n, model.output_dim()), Vec::new()),
            TargetData::Labels(_) => (Mat::zeros(0, 0), vec![0; n]),
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

    /// The model (its parameters are not changed by evaluations: optimizers pass theirs).
    pub fn model(&self) -> &M {
        &self.model
    }

    /// Mutable model, e.g. to store the optimizer's result with
    /// [`Trainable::set_params`].
    pub fn model_mut(&mut self) -> &mut M {
        &mut self.model
    }

    /// Gives the model back.
    pub fn into_model(self) -> M {
        self.model
    }

    /// The workspace of the last evaluation (states, adjoints, … of that batch).
    pub fn workspace(&self) -> &M::Workspace {
        &self.ws
    }

    /// The inputs.
    pub fn inputs(&self) -> MatRef<'_, f64> {
        self.x.as_ref()
    }

    /// The targets.
    pub fn targets(&self) -> Targets<'_> {
        self.targets.as_ref()
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

impl<M: Trainable> Problem for TrainingProblem<M> {
    fn n_params(&self) -> usize {
        self.model.n_params()
    }

    fn loss_and_gradient(&mut self, params: &[f64], grad: &mut [f64]) -> Result<f64, ProblemError> {
        self.check_lengths(params, grad)?;
        Ok(self.model.loss_and_gradient_unchecked(
            params,
            &mut self.ws,
            self.x.as_ref(),
            self.targets.as_ref(),
            grad,
        ))
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
            let src = self.x.col_as_slice(j);
            let dst = self.xb.col_as_slice_mut(j);
            for (r, &i) in indices.iter().enumerate() {
                dst[r] = src[i];
            }
        }
        let targets = match &self.targets {
            TargetData::Values(y) => {
                for j in 0..y.ncols() {
                    let src = y.col_as_slice(j);
                    let dst = self.yb.col_as_slice_mut(j);
                    for (r, &i) in indices.iter().enumerate() {
                        dst[r] = src[i];
                    }
                }
                Targets::Values(self.yb.as_ref().subrows(0, b))
            }
            TargetData::Labels(l) => {
                for (r, &i) in indices.iter().enumerate() {
                    self.lb[r] = l[i];
                }
                Targets::Labels(&self.lb[..b])
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
