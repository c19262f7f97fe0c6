//! [`ConvResNet<f64>`] as plres-resnet's model contract ([`Model`], [`Trainable`]): the
//! fourth implementation, so every plres-optim optimizer trains it through
//! [`plres_resnet::TrainingProblem`].
//!
//! **Data.** A batch `X ∈ R^{N×784}` holds one 28×28 image per row (row-major pixels, as
//! [`crate::Images`]); the output is the `N×10` logits; targets are class labels
//! ([`TargetsRef::Classes`]) and the loss is the mean softmax cross-entropy, the same as
//! plres-resnet's classification loss.
//!
//! **BatchNorm modes** (the fixed networks `A`, `B` normalise by batch statistics in
//! training and by running statistics at evaluation, as PyTorch does):
//! - [`Model::trajectory_unchecked`], hence [`Model::forward`], [`Model::predict`],
//!   [`Model::accuracy`] and [`Model::loss`], is **evaluation mode** (running
//!   statistics), the same function as [`ConvResNet::predict`];
//! - [`Trainable::loss_and_gradient_unchecked`] (and the checked
//!   [`Trainable::loss_and_gradient`]) is **training mode**: the loss and exact gradient
//!   of [`ConvResNet::loss_and_gradient`], bit for bit, with the batch statistics of the
//!   batch passed. The running statistics of the model are neither read (the
//!   training-mode loss does not depend on them) nor updated (the contract takes `&self`;
//!   the scratch copy in the workspace updates its own). A model trained only through
//!   the contract therefore keeps the running statistics it had (from
//!   [`crate::pretrain`], [`crate::train_resnet`] or initialisation); `B`'s depend on
//!   `θ`, so re-estimate them with a training-mode pass before trusting `predict`.
//! - [`Trainable::trajectory_at_unchecked`], hence [`Trainable::loss_at`], is **training
//!   mode** too, so that `loss_at(θ)` is exactly the function whose gradient
//!   `loss_and_gradient` returns (finite differences, line searches). Unlike the
//!   other models, `trajectory_unchecked` is therefore *not* `trajectory_at_unchecked` at
//!   the model's own parameters: the two differ by the BatchNorm mode.
//!
//! **Trajectory.** The states are `x_k` at the `L + 1` grid times `t_k = k/L` (`x_0` the
//! output of `A`, `x_L` the input of `B`), each flattened to `N × 25q` in PyTorch's
//! `Flatten` order (channel, row, column).
//!
//! **Metric.** [`Trainable::metric`] is the discretised `L²([0,1])` metric of the
//! interpolated parameters (docs/theory.md §4): the block of slice `k` (`θ_k`, and for
//! SHL also `θ¹_k`) has weight `h/2` at `k = 0, L` and `h` in between, `h = 1/L` — the
//! trapezoid (lumped mass) weights of plres-resnet's interpolated models. It is what the
//! theory's gradient flow uses. The paper's PyTorch code, and [`crate::train_resnet`],
//! use plain Euclidean SGD instead: a Euclidean step `η` is the `L²` Riesz step with
//! step `η w_k` per slice (`η/L` inside, `η/(2L)` at the ends), not a multiple of it.
//! `train_resnet` keeps the paper's Euclidean protocol so the numbers compare with the
//! paper's; a plres-optim run picks its metric (`Metric::euclidean` reproduces SGD).
//!
//! **Regression targets** are rejected by the checked [`Trainable::loss_and_gradient`]
//! with [`ResNetError::Unsupported`]: the model is a classifier.

use faer::{Mat, MatRef};
use plres_optim::Metric;
use plres_resnet::loss::validate_targets;
use plres_resnet::{Model, ResNetError, TargetsRef, Trainable, Trajectory, Workspace};

use crate::ConvResNet;
use crate::flow::ResidualKind;
use crate::model::{IMAGE_PIXELS, N_CLASSES, SIDE2};

/// Buffers of [`ConvResNet`]'s [`Trainable`] implementation: a scratch copy of the model
/// (its layers' buffers sized for `capacity` images) and the images in its row-major
/// layout.
#[derive(Debug, Clone)]
pub struct ConvWorkspace {
    model: ConvResNet<f64>,
    images: Vec<f64>,
    capacity: usize,
}

impl Workspace for ConvWorkspace {
    fn capacity(&self) -> usize {
        self.capacity
    }
}

/// Copies the rows of `x` (`n × 784`) into `out`, row-major (no allocation when `out`
/// has the capacity).
fn row_major(x: MatRef<'_, f64>, out: &mut Vec<f64>) {
    let (n, d) = (x.nrows(), x.ncols());
    out.clear();
    out.resize(n * d, 0.0);
    for j in 0..d {
        for (i, v) in x.col(j).iter().enumerate() {
            out[i * d + j] = *v;
        }
    }
}

impl ConvResNet<f64> {
    /// The forward pass at `params` in training or evaluation mode (module docs) on a
    /// scratch copy of the model.
    fn trajectory_in_mode(&self, params: &[f64], x: MatRef<'_, f64>, train: bool) -> Trajectory {
        let n = x.nrows();
        let (q, l) = (self.config.q, self.config.steps);
        let hw = SIDE2 * SIDE2;
        let mut scratch = self.without_buffers();
        scratch.residual.params.copy_from_slice(params);
        let mut images = Vec::new();
        row_major(x, &mut images);
        let mut states = vec![Mat::<f64>::zeros(n, q * hw); l + 1];
        let logits = scratch.forward_observed(&images, n, train, |k, xk| {
            // channel-major q × (n·25) → row i, column c·25 + p
            let s = &mut states[k];
            for c in 0..q {
                for i in 0..n {
                    for p in 0..hw {
                        s[(i, c * hw + p)] = xk[c * n * hw + i * hw + p];
                    }
                }
            }
        });
        let output = Mat::from_fn(n, N_CLASSES, |i, c| logits[i * N_CLASSES + c]);
        Trajectory { states, output }
    }
}

impl Model for ConvResNet<f64> {
    /// Class labels only: a 10-class classifier has no regression loss, so regression
    /// targets are [`ResNetError::Unsupported`] (for every checked entry point and for
    /// `TrainingProblem::new`); labels as the provided method.
    fn check_targets(&self, targets: TargetsRef<'_>, n: usize) -> Result<(), ResNetError> {
        if let TargetsRef::Regression(_) = targets {
            return Err(ResNetError::Unsupported(
                "regression targets for plres-conv's ConvResNet, a 10-class classifier \
                 (pass TargetsRef::Classes)"
                    .into(),
            ));
        }
        validate_targets(targets, n, self.output_dim())
    }

    fn input_dim(&self) -> usize {
        IMAGE_PIXELS
    }

    fn output_dim(&self) -> usize {
        N_CLASSES
    }

    /// Evaluation mode (running statistics), module docs.
    fn trajectory_unchecked(&self, x: MatRef<'_, f64>) -> Trajectory {
        self.trajectory_in_mode(self.params(), x, false)
    }
}

impl Trainable for ConvResNet<f64> {
    type Workspace = ConvWorkspace;

    fn params(&self) -> &[f64] {
        &self.residual.params
    }

    fn params_mut(&mut self) -> &mut [f64] {
        &mut self.residual.params
    }

    /// Trapezoid-weighted `L²([0,1])` metric over the `L + 1` slices (module docs).
    fn metric(&self) -> Metric {
        let l = self.config.steps;
        let h = 1.0 / l as f64;
        let weight = |k: usize| if k == 0 || k == l { 0.5 * h } else { h };
        let mut blocks: Vec<(usize, f64)> = (0..=l)
            .map(|k| (self.residual.theta_block(), weight(k)))
            .collect();
        if self.config.kind == ResidualKind::Shl {
            blocks.extend((0..=l).map(|k| (self.residual.theta1_block(), weight(k))));
        }
        Metric::blocks(blocks).expect("L + 1 ≥ 2 non-empty blocks with weights h/2, h > 0")
    }

    fn training_workspace(&self, n_max: usize) -> ConvWorkspace {
        let mut model = self.without_buffers();
        model.ensure(n_max);
        ConvWorkspace {
            model,
            images: Vec::with_capacity(n_max * IMAGE_PIXELS),
            capacity: n_max,
        }
    }

    /// Training mode (batch statistics), module docs.
    fn trajectory_at_unchecked(&self, params: &[f64], x: MatRef<'_, f64>) -> Trajectory {
        self.trajectory_in_mode(params, x, true)
    }

    /// [`ConvResNet::loss_and_gradient`] (training mode) on a scratch copy at `params`.
    ///
    /// # Panics
    /// On regression targets (the checked [`Trainable::loss_and_gradient`] rejects them)
    /// and on shape mismatches.
    fn loss_and_gradient_unchecked(
        &self,
        params: &[f64],
        ws: &mut ConvWorkspace,
        x: MatRef<'_, f64>,
        targets: TargetsRef<'_>,
        grad: &mut [f64],
    ) -> f64 {
        let TargetsRef::Classes(labels) = targets else {
            panic!("ConvResNet: regression targets for a classifier (use class labels)");
        };
        ws.model.residual.params.copy_from_slice(params);
        row_major(x, &mut ws.images);
        // the inherent (`&mut self`) method, not this trait's
        ConvResNet::<f64>::loss_and_gradient(&mut ws.model, &ws.images, labels, grad).loss
    }
}
