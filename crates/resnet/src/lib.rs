//! # plres-resnet — the models the theory is about
//!
//! One job: the ResNet whose residual blocks are linear in their trained parameters
//! (finite width, docs/theory.md §3.2), its infinite-width limit (the kernel ResNet, §3.4) and
//! the non-linear baseline (§3.3), each with its exact gradient (§4), as plres-optim
//! problems, with safetensors checkpoints (§8).
//!
//! ## Equations
//!
//! Data `X ∈ R^{N×d_in}`, one sample per row; fixed input embedding `x^0 = A x`
//! (identity by default), depth `L`, step `h = 1/L`, fixed output map `z = B x^L`
//! (identity by default). Loss `L = (1/N) Σ_i ℓ(z_i, y_i)` with `ℓ = ½‖z − y‖²` or the
//! softmax cross-entropy ([`loss`]).
//!
//! * **LinearResNet** ([`linear`]), a fixed feature map `φ: R^d → R^p` (plres-rff) and
//!   trained `U_k ∈ R^{d×p}`: `x^{k+1} = x^k + h U_k φ(x^k)` (forward Euler), or an
//!   explicit Runge–Kutta step of `ẋ = U(s) φ(x)` with `U(s)` linear between `L+1`
//!   slices (plres-ode).
//! * **ShlResNet** ([`shl`]): `x^{k+1} = x^k + h U_k √(2/p) σ(W_k x^k + c_k)`, all of
//!   `U_k, W_k, c_k` trained.
//! * **KernelResNet** ([`kernel`]): `x^{k+1} = x^k + h θ_k(x^k)` with
//!   `θ_k = Σ_c k(·, c) a_c` in the RKHS of a kernel `k` (plres-kernels).
//!
//! Adjoint (exact, docs/theory.md §4): `p_i^L = (1/N) Bᵀ ∇ℓ(z_i, y_i)`,
//! `p_i^k = p_i^{k+1} + h Df_k(x_i^k)ᵀ p_i^{k+1}`; Euclidean gradient
//! `∂L/∂U_k = h Σ_i p_i^{k+1} φ(x_i^k)ᵀ`; in the `L²([0,1])` metric
//! `⟨U, V⟩ = h Σ_k ⟨U_k, V_k⟩_F` the Riesz gradient is `G_k = (1/h) ∂L/∂U_k`, and
//! gradient descent in that metric is the default. For the kernel ResNet the step
//! `θ_k ← θ_k − η Σ_i k(·, x_i^k) p_i^{k+1}` appends the `N` trajectory points of layer
//! `k` as centres with coefficients `−η p_i^{k+1}`.
//!
//! ## Modules
//!
//! * [`model`] — the contract: [`Model`] (forward pass; provided `forward`, `predict`,
//!   `accuracy`, `loss`) and [`Trainable`] (flat parameters, the checked
//!   [`Trainable::loss_and_gradient`] and the unchecked hot-loop
//!   [`Trainable::loss_and_gradient_unchecked`]); a new model implements the core methods.
//! * [`linear`] — [`LinearResNet`]: configuration, [`LinearWorkspace`], and (crate-private)
//!   the Euler hot loops (tiled, or keeping `Φ_k`), the interpolated vector field for
//!   plres-ode, checkpoints.
//! * [`shl`] — [`ShlResNet`], the non-linear baseline.
//! * [`kernel`] — [`KernelResNet`], the infinite-width limit, with its growth report.
//! * [`kernel_coefficients`] — [`KernelCoefficients`]: the kernel ResNet on a frozen
//!   dictionary of centres, a flat-parameter model for any optimizer.
//! * [`loss`] — squared and softmax cross-entropy losses on plres-data's [`TargetsRef`]
//!   (the view of [`Targets`], the one target type), [`loss::validate_targets`].
//! * [`maps`] — fixed input embedding / output map and shared input checks.
//! * [`integrator`] — [`Integrator`] (Euler, midpoint, Heun, RK4) and `L²` slice weights.
//! * [`problem`] — [`TrainingProblem`], the plres-optim `Problem` of every [`Trainable`]
//!   model over borrowed data (full batch and minibatches); [`TrainingProblem::run`] hands
//!   back the trained model ([`Trained`]).
//! * [`checkpoint`] — safetensors read/write (atomic, validated).
//! * [`report`] — [`GradientReport`], [`Trajectory`].
//! * [`error`] — [`ResNetError`], [`CheckpointError`].
//!
//! ## Speed
//!
//! The Euler training step is the product's hot loop. For a column-wise feature map
//! (cosine Fourier features with a phase, ReLU features; [`plres_rff::Columnwise`]) it is
//! the tiled step of `linear/fused.rs`: the states `X_0..X_L` are kept, `Φ_k` is never
//! stored but recomputed in 64×128 tiles that stay in cache between the activation and the
//! GEMMs consuming them, and when faer's global parallelism (`faer::get_global_parallelism`)
//! allows more than one thread the rows (forward) and the smaller of rows or features
//! (backward) are split in two at fixed positions (bitwise reproducible for a given
//! setting). Other maps keep `Φ_k` and the vjp cache in the [`LinearWorkspace`]
//! ([`LinearResNet::workspace_keeping_features`] asks for that path explicitly). Every
//! product is a faer GEMM on views of the flat parameter vector; with a warm workspace a
//! training step allocates nothing (asserted by the integration tests with a counting
//! allocator). The Runge–Kutta integrators go through plres-ode's stored tape, which
//! allocates its stage buffers per pass.
//!
//! Measured (`cargo xtask bench-peer`, `benches/README.md`; one step = forward + adjoint +
//! SGD update, Gaussian RFF, the PyTorch peer's problem, 2-vCPU Sapphire Rapids guest):
//! see `benches/README.md` for the table against PyTorch and the machine floor
//! `10·N·d·p·L / GEMM rate + 2·N·p·L / sincos rate`; the step runs at 1.2–1.5× that floor
//! and its workspace ([`Trainable::training_workspace`]) is the `(L+1)·N·d` doubles of
//! states plus two `N×d` adjoints, two tile pairs (256 KiB) and one `min(N, p)·d` buffer.

#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod error;
pub mod integrator;
pub mod kernel;
pub mod kernel_coefficients;
pub mod linear;
pub mod loss;
pub mod maps;
pub mod model;
pub mod problem;
pub mod report;
pub mod shl;

pub use checkpoint::{Checkpoint, FORMAT_VERSION, TrainingCheckpoint};
pub use error::{CheckpointError, ResNetError};
pub use integrator::Integrator;
pub use kernel::{KernelGradient, KernelResNet, KernelStepReport};
pub use kernel_coefficients::{KernelCoefficients, KernelCoefficientsWorkspace};
pub use linear::{Init, LinearResNet, LinearResNetConfig, LinearWorkspace};
pub use maps::FixedMaps;
pub use model::{Model, Trainable, Workspace};
pub use plres_data::{Targets, TargetsRef};
pub use problem::{Trained, TrainingProblem};
pub use report::{GradientReport, Trajectory};
pub use shl::{Activation, ShlResNet, ShlResNetConfig, ShlWorkspace};
