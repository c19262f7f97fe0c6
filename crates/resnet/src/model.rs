//! The model contract: what every network of this crate is, written once.
//!
//! Two traits, each split into *required* core methods (what a model is) and *provided*
//! methods (the shared behaviour, written here once for every model):
//!
//! * [`Model`] — a network mapping a batch `X ∈ R^{N×d_in}` (one sample per row) to
//!   outputs `Z ∈ R^{N×d_out}` through states `X^0..X^L`. Required: the dimensions
//!   [`Model::input_dim`], [`Model::output_dim`] and the forward pass on validated input,
//!   [`Model::trajectory_unchecked`]. Provided: input validation, [`Model::forward`],
//!   [`Model::forward_trajectory`], [`Model::loss`], [`Model::predict`],
//!   [`Model::accuracy`]. [`crate::KernelResNet`] (whose expansions grow) is only a `Model`.
//! * [`Trainable`] — a [`Model`] with a flat parameter vector `θ` and an exact gradient.
//!   Required: [`Trainable::params`], [`Trainable::params_mut`], [`Trainable::metric`],
//!   [`Trainable::training_workspace`], the forward pass at any `θ`
//!   ([`Trainable::trajectory_at_unchecked`]) and the gradient on validated data
//!   ([`Trainable::loss_and_gradient_unchecked`]). Provided: [`Trainable::n_params`],
//!   [`Trainable::set_params`] (validated), [`Trainable::loss_at`], the checked gradient
//!   [`Trainable::loss_and_gradient`] and the allocating [`Trainable::gradient_report`].
//!
//! The gradient has exactly two entry points: [`Trainable::loss_and_gradient`] validates
//! everything (data, targets, lengths, workspace capacity) and returns typed errors — for
//! users; [`Trainable::loss_and_gradient_unchecked`] trusts its caller (a
//! [`crate::TrainingProblem`] validates its data once, at construction) — for the hot loop.
//! Both write the Euclidean gradient `∂L/∂θ` into a caller's buffer, with the loss
//! `L = (1/N) Σ_i ℓ(z_i, y_i)` of [`crate::loss`].
//!
//! ## Adding a model
//!
//! A new model (a convolutional ResNet in another crate, say) implements the core methods
//! and gets everything else, including training by every plres-optim optimizer through
//! [`crate::TrainingProblem`]. A toy model outside this crate's internals — the linear map
//! `z = x θ` with one `d×d` parameter matrix, squared or cross-entropy loss:
//!
//! ```
//! use faer::{Mat, MatMut, MatRef};
//! use plres_optim::{GradientDescentConfig, Metric, State, Stopping};
//! use plres_resnet::loss::loss_in_place;
//! use plres_resnet::{Model, Trainable, TargetsRef, Trajectory, TrainingProblem, Workspace};
//!
//! /// `z = x θ`, `θ` a `d×d` matrix stored column-major.
//! struct Toy {
//!     d: usize,
//!     theta: Vec<f64>,
//! }
//!
//! /// Buffers: the output and `∂L/∂Z` of at most `n_max` rows.
//! struct ToyWorkspace {
//!     z: Mat<f64>,
//!     gz: Mat<f64>,
//! }
//!
//! impl Workspace for ToyWorkspace {
//!     fn capacity(&self) -> usize {
//!         self.z.nrows()
//!     }
//! }
//!
//! impl Model for Toy {
//!     fn input_dim(&self) -> usize {
//!         self.d
//!     }
//!     fn output_dim(&self) -> usize {
//!         self.d
//!     }
//!     fn trajectory_unchecked(&self, x: MatRef<'_, f64>) -> Trajectory {
//!         self.trajectory_at_unchecked(&self.theta, x)
//!     }
//! }
//!
//! impl Trainable for Toy {
//!     type Workspace = ToyWorkspace;
//!     fn params(&self) -> &[f64] {
//!         &self.theta
//!     }
//!     fn params_mut(&mut self) -> &mut [f64] {
//!         &mut self.theta
//!     }
//!     fn metric(&self) -> Metric {
//!         Metric::euclidean(self.theta.len())
//!     }
//!     fn training_workspace(&self, n_max: usize) -> ToyWorkspace {
//!         ToyWorkspace { z: Mat::zeros(n_max, self.d), gz: Mat::zeros(n_max, self.d) }
//!     }
//!     fn trajectory_at_unchecked(&self, params: &[f64], x: MatRef<'_, f64>) -> Trajectory {
//!         let theta = MatRef::from_column_major_slice(params, self.d, self.d);
//!         Trajectory { states: vec![x.to_owned()], output: x * theta }
//!     }
//!     fn loss_and_gradient_unchecked(
//!         &self,
//!         params: &[f64],
//!         ws: &mut ToyWorkspace,
//!         x: MatRef<'_, f64>,
//!         targets: TargetsRef<'_>,
//!         grad: &mut [f64],
//!     ) -> f64 {
//!         let (n, d) = (x.nrows(), self.d);
//!         let theta = MatRef::from_column_major_slice(params, d, d);
//!         let mut z = ws.z.as_mut().subrows_mut(0, n);
//!         z.copy_from(x * theta);
//!         let loss = loss_in_place(z.as_ref(), targets, ws.gz.as_mut().subrows_mut(0, n));
//!         // ∂L/∂θ = Xᵀ ∂L/∂Z
//!         MatMut::from_column_major_slice_mut(grad, d, d)
//!             .copy_from(x.transpose() * ws.gz.as_ref().subrows(0, n));
//!         loss
//!     }
//! }
//!
//! let x = Mat::from_fn(8, 2, |i, j| ((i * 2 + j) as f64 * 0.7).sin());
//! let y = Mat::from_fn(8, 2, |i, j| x[(i, 0)] * (1.0 + j as f64) - 0.5 * x[(i, 1)]);
//! let toy = Toy { d: 2, theta: vec![0.0; 4] };
//! // provided methods: checked gradient (typed errors), predict, accuracy, loss
//! let mut ws = toy.training_workspace(8);
//! let mut grad = vec![0.0; 4];
//! let l0 = toy
//!     .loss_and_gradient(toy.params(), &mut ws, x.as_ref(), TargetsRef::Regression(y.as_ref()), &mut grad)
//!     .unwrap();
//! assert!(toy.loss_and_gradient(&[0.0; 3], &mut ws, x.as_ref(), TargetsRef::Regression(y.as_ref()), &mut grad).is_err());
//! assert_eq!(toy.predict(x.as_ref()).unwrap().len(), 8);
//! // trained by any plres-optim solver; the outcome hands back the trained model
//! let gd = GradientDescentConfig::new(0.5).build().unwrap();
//! let problem = TrainingProblem::new(toy, x.as_ref(), TargetsRef::Regression(y.as_ref())).unwrap();
//! let trained = problem
//!     .run(&gd, State::new(vec![0.0; 4]), &Stopping::iterations(200), &mut [])
//!     .unwrap();
//! let l1 = trained.model.loss(x.as_ref(), TargetsRef::Regression(y.as_ref())).unwrap();
//! assert_eq!(l1, trained.outcome.report.final_loss);
//! assert!(l1 < 1e-6 * l0);
//! ```

use faer::{Mat, MatRef};
use plres_data::TargetsRef;
use plres_optim::Metric;

use crate::error::ResNetError;
use crate::loss::{argmax_rows, loss_value, validate_targets};
use crate::maps::{check_batch, check_len};
use crate::report::{GradientReport, Trajectory};

/// Preallocated buffers of a [`Trainable`] model for batches of up to
/// [`Workspace::capacity`] samples (minibatches use the first rows).
pub trait Workspace {
    /// Largest batch these buffers hold.
    fn capacity(&self) -> usize;
}

/// A network `X ↦ Z` (module docs): the forward contract every model of the crate meets.
pub trait Model {
    /// Input dimension `d_in` (the columns of a batch).
    fn input_dim(&self) -> usize;

    /// Output dimension `d_out` (the columns of `Z`, the classes of a classifier).
    fn output_dim(&self) -> usize;

    /// The forward pass on a batch the caller validated (`N ≥ 1` rows, `d_in` columns,
    /// finite): the states at the layer boundaries and the output `Z` (`N×d_out`).
    ///
    /// # Panics
    /// May panic on a batch of another shape.
    fn trajectory_unchecked(&self, x: MatRef<'_, f64>) -> Trajectory;

    /// Validates a batch: `N ≥ 1` rows, `d_in` columns, finite entries.
    ///
    /// # Errors
    /// [`ResNetError::EmptyData`], [`ResNetError::DimensionMismatch`],
    /// [`ResNetError::NonFinite`].
    fn check_input(&self, x: MatRef<'_, f64>) -> Result<(), ResNetError> {
        check_batch(x, self.input_dim())
    }

    /// Checks targets for `n` samples against this model's outputs; every checked entry
    /// point and `TrainingProblem::new` call it. The default accepts what the losses accept
    /// ([`validate_targets`]); a model that supports only some targets (a classifier)
    /// overrides it.
    ///
    /// # Errors
    /// [`ResNetError::DimensionMismatch`], [`ResNetError::NonFinite`],
    /// [`ResNetError::LabelOutOfRange`], or the override's own.
    fn check_targets(&self, targets: TargetsRef<'_>, n: usize) -> Result<(), ResNetError> {
        validate_targets(targets, n, self.output_dim())
    }

    /// The output and the states at the layer boundaries.
    ///
    /// # Errors
    /// As [`Model::check_input`].
    fn forward_trajectory(&self, x: MatRef<'_, f64>) -> Result<Trajectory, ResNetError> {
        self.check_input(x)?;
        Ok(self.trajectory_unchecked(x))
    }

    /// The output `Z` (`N×d_out`) of a batch `X` (`N×d_in`).
    ///
    /// # Errors
    /// As [`Model::check_input`].
    fn forward(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>, ResNetError> {
        Ok(self.forward_trajectory(x)?.output)
    }

    /// The loss at the model's parameters (no gradient).
    ///
    /// # Errors
    /// As [`Model::check_input`], plus target errors ([`validate_targets`]).
    fn loss(&self, x: MatRef<'_, f64>, targets: TargetsRef<'_>) -> Result<f64, ResNetError> {
        self.check_input(x)?;
        self.check_targets(targets, x.nrows())?;
        Ok(loss_value(
            self.trajectory_unchecked(x).output.as_ref(),
            targets,
        ))
    }

    /// Predicted classes `argmax_c z_{i,c}` (ties to the lowest index).
    ///
    /// # Errors
    /// As [`Model::check_input`].
    fn predict(&self, x: MatRef<'_, f64>) -> Result<Vec<usize>, ResNetError> {
        let z = self.forward(x)?;
        let mut out = vec![0; z.nrows()];
        argmax_rows(z.as_ref(), &mut out);
        Ok(out)
    }

    /// Fraction of samples whose predicted class equals the label.
    ///
    /// # Errors
    /// As [`Model::check_input`], plus label count/range errors.
    fn accuracy(&self, x: MatRef<'_, f64>, labels: &[usize]) -> Result<f64, ResNetError> {
        self.check_targets(TargetsRef::Classes(labels), x.nrows())?;
        let pred = self.predict(x)?;
        let hits = pred.iter().zip(labels).filter(|(a, b)| a == b).count();
        Ok(hits as f64 / labels.len() as f64)
    }
}

/// A [`Model`] trained through a flat parameter vector `θ` (module docs): what
/// [`crate::TrainingProblem`] and every plres-optim optimizer train.
pub trait Trainable: Model {
    /// The model's preallocated buffers.
    type Workspace: Workspace;

    /// The trained parameters `θ`, in the model's documented layout.
    fn params(&self) -> &[f64];

    /// Mutable parameters (no validation: see [`Trainable::set_params`]).
    fn params_mut(&mut self) -> &mut [f64];

    /// The metric gradient descent should use (the `L²`-in-depth metric, docs/theory.md
    /// §4): the Riesz gradient is `G = M⁻¹ ∂L/∂θ`.
    fn metric(&self) -> Metric;

    /// The leanest buffers for training on batches of up to `n_max` samples.
    fn training_workspace(&self, n_max: usize) -> Self::Workspace;

    /// The forward pass at `params` (layout of [`Trainable::params`]) on a validated
    /// batch; `trajectory_unchecked` is this at the model's own parameters.
    ///
    /// # Panics
    /// May panic on a batch or `params` of another shape.
    fn trajectory_at_unchecked(&self, params: &[f64], x: MatRef<'_, f64>) -> Trajectory;

    /// The hot loop: loss at `params` with the Euclidean gradient `∂L/∂θ` written into
    /// `grad`, on data the caller validated (shape, finiteness, labels), lengths the caller
    /// checked and a workspace of this model with enough rows. Must allocate nothing with
    /// a warm workspace.
    ///
    /// # Panics
    /// On shape mismatches (a workspace of another model, a batch over its capacity).
    fn loss_and_gradient_unchecked(
        &self,
        params: &[f64],
        ws: &mut Self::Workspace,
        x: MatRef<'_, f64>,
        targets: TargetsRef<'_>,
        grad: &mut [f64],
    ) -> f64;

    /// Number of trained parameters.
    fn n_params(&self) -> usize {
        self.params().len()
    }

    /// Replaces the parameters.
    ///
    /// # Errors
    /// [`ResNetError::ParameterLength`], [`ResNetError::NonFinite`].
    fn set_params(&mut self, params: &[f64]) -> Result<(), ResNetError> {
        check_params(params, self.n_params())?;
        self.params_mut().copy_from_slice(params);
        Ok(())
    }

    /// The loss at `params` (no gradient), e.g. for finite differences or line searches.
    ///
    /// # Errors
    /// Bad data or targets, wrong `params` length.
    fn loss_at(
        &self,
        params: &[f64],
        x: MatRef<'_, f64>,
        targets: TargetsRef<'_>,
    ) -> Result<f64, ResNetError> {
        self.check_input(x)?;
        self.check_targets(targets, x.nrows())?;
        check_len("params", self.n_params(), params.len())?;
        Ok(loss_value(
            self.trajectory_at_unchecked(params, x).output.as_ref(),
            targets,
        ))
    }

    /// The checked gradient: validates the batch, the targets, the lengths of `params` and
    /// `grad` and the workspace's capacity, then runs
    /// [`Trainable::loss_and_gradient_unchecked`]. What the workspace keeps of the pass
    /// (states, adjoints) is left in `ws`.
    ///
    /// # Errors
    /// [`ResNetError::EmptyData`], [`ResNetError::DimensionMismatch`],
    /// [`ResNetError::NonFinite`], [`ResNetError::LabelOutOfRange`],
    /// [`ResNetError::ParameterLength`].
    ///
    /// # Panics
    /// If `ws` was made for another model shape.
    fn loss_and_gradient(
        &self,
        params: &[f64],
        ws: &mut Self::Workspace,
        x: MatRef<'_, f64>,
        targets: TargetsRef<'_>,
        grad: &mut [f64],
    ) -> Result<f64, ResNetError> {
        self.check_input(x)?;
        self.check_targets(targets, x.nrows())?;
        check_len("params", self.n_params(), params.len())?;
        check_len("grad", self.n_params(), grad.len())?;
        if x.nrows() > ws.capacity() {
            return Err(ResNetError::DimensionMismatch {
                what: "batch rows (at most the workspace capacity)",
                expected: ws.capacity(),
                found: x.nrows(),
            });
        }
        Ok(self.loss_and_gradient_unchecked(params, ws, x, targets, grad))
    }

    /// Loss, Euclidean and Riesz gradients at the model's parameters, allocating its own
    /// workspace: a convenience over [`Trainable::loss_and_gradient`] (use that in loops).
    ///
    /// # Errors
    /// As [`Trainable::loss_and_gradient`].
    fn gradient_report(
        &self,
        x: MatRef<'_, f64>,
        targets: TargetsRef<'_>,
    ) -> Result<GradientReport, ResNetError> {
        let mut ws = self.training_workspace(x.nrows());
        let mut euclidean = vec![0.0; self.n_params()];
        let loss = self.loss_and_gradient(self.params(), &mut ws, x, targets, &mut euclidean)?;
        let mut riesz = vec![0.0; euclidean.len()];
        let riesz_norm_sq = self.metric().riesz_into(&euclidean, &mut riesz);
        Ok(GradientReport {
            loss,
            euclidean,
            riesz,
            riesz_norm_sq,
        })
    }
}

/// Validates a flat parameter vector: length `n` and finite entries.
pub(crate) fn check_params(params: &[f64], n: usize) -> Result<(), ResNetError> {
    check_len("params", n, params.len())?;
    if let Some(i) = params.iter().position(|v| !v.is_finite()) {
        return Err(ResNetError::NonFinite {
            what: "params",
            row: i,
            col: 0,
            value: params[i],
        });
    }
    Ok(())
}
