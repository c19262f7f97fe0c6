//! # plres-conv — convolutional neural-ODE ResNets on images
//!
//! One job: the convolutional models of the paper's MNIST experiments (Barboni, Peyré,
//! Vialard, NeurIPS 2022, §5, Figures 1–2), trained with exact gradients: layers with
//! forward and backward passes on faer GEMMs, the input/output networks, the residual
//! flow with a linear ("RKHS") or non-linear ("SHL") field, and plain SGD.
//!
//! The model is `B ∘ Φ ∘ A` on 28×28 images: `A` maps an image to a state
//! `x₀ ∈ R^{q×5×5}`, `Φ` integrates `ẋ = f_t(x)` on `[0, 1]` by the midpoint rule with `L`
//! steps, with
//!
//! - linear residual `f_t(x) = θ_t * ReLU(Ω * x)` (`Ω` fixed, `θ_t` trained), or
//! - SHL residual `f_t(x) = θ²_t * ReLU(θ¹_t * x)` (both trained),
//!
//! parameters at the times `k/L` linearly interpolated, and `B` maps `x₁` to 10 logits;
//! the loss is the mean softmax cross-entropy. Gradients are the exact adjoint of the
//! discrete computation (checked against central finite differences and against the
//! same model in PyTorch, `benches/peer/conv_peer.py`).
//!
//! Layers compute in `f32` or `f64` ([`Real`]); activations are channel-major (one GEMM
//! per convolution for the whole batch, see [`layers`]). Buffers live in workspaces sized
//! on first use, so a training step allocates nothing afterwards.
//!
//! ```
//! use plres_conv::{ConvResNet, ConvResNetConfig, ResidualKind};
//! let cfg = ConvResNetConfig { q: 4, q_int: 4, steps: 3, kind: ResidualKind::Linear, seed: 1 };
//! let mut model = ConvResNet::<f64>::new(cfg)?;
//! let images: Vec<f64> = (0..2 * 784).map(|i| ((i * 37) % 256) as f64 / 255.0).collect();
//! let labels = [3, 7];
//! // θ = 0 at initialisation: the flow is the identity, so the ResNet is B ∘ A exactly
//! assert_eq!(model.loss(&images, &labels).loss, model.ab_loss(&images, &labels).loss);
//! let mut grad = vec![0.0; model.n_params()]; // (L + 1)(9 q q_int + q) = 592
//! let l = model.loss_and_gradient(&images, &labels, &mut grad);
//! assert!(l.loss.is_finite() && grad.len() == 592 && grad.iter().any(|g| *g != 0.0));
//! # Ok::<(), plres_conv::ConvError>(())
//! ```
//!
//! ## Module map
//! - [`layers`] — [`Conv2d`](layers::conv2d::Conv2d) (im2col + GEMM),
//!   [`BatchNorm`](layers::batchnorm::BatchNorm) (PyTorch train/eval semantics), ReLU,
//!   flatten, [`Linear`](layers::linear::Linear), softmax cross-entropy.
//! - [`flow`] — [`Residual`]: midpoint flow and its adjoint.
//! - `same3` (private) — the flow's 3×3 convolutions as one GEMM per group of pixels
//!   with the same valid taps, skipping most of the zero padding im2col would multiply.
//! - [`model`] — [`ConvResNet`]: `A`, `Φ`, `B`, initialisation, pretraining gradient.
//! - [`train`] — SGD protocol ([`SgdConfig`]), divergence handling, pretraining.
//! - [`checkpoint`] — the per-epoch training checkpoint: a killed SGD run continues
//!   bitwise from its last completed epoch ([`train_resnet_checkpointed`]).
//! - [`contract`] — [`ConvResNet<f64>`] as plres-resnet's [`plres_resnet::Model`] and
//!   [`plres_resnet::Trainable`] ([`ConvWorkspace`]): evaluation-mode forward, training-mode
//!   exact gradient, trapezoid `L²` metric, training by any plres-optim optimizer.
//! - [`peer`] — safetensors exchange with the PyTorch peer script.
//! - [`error`] — [`ConvError`].

#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod contract;
pub mod error;
pub mod flow;
pub mod layers;
pub mod model;
pub mod peer;
mod real;
mod same3;
pub mod train;

pub use checkpoint::CheckpointSpec;
pub use contract::ConvWorkspace;
pub use error::ConvError;
pub use flow::{ChunkedFlowWork, FlowWork, Residual, ResidualKind, flow_chunk};
pub use model::{ConvResNet, ConvResNetConfig, Images};
pub use real::Real;
pub use train::{
    EpochRecord, SgdConfig, TrainReport, pretrain, train_resnet, train_resnet_checkpointed,
};
