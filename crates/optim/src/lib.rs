//! # plres-optim — optimizers in the parameter metric the theory uses
//!
//! One job: minimise a [`Problem`] (loss and gradient at a flat parameter vector) with
//! first-order methods whose steps are taken in a chosen [`Metric`] (docs/theory.md §4, §5), and
//! show every iterate to [`Observer`]s (where the PL monitors of `plres-theory` plug in).
//! It depends on no other plres crate.
//!
//! ## The equations
//!
//! **Metric and Riesz gradient** (docs/theory.md §4). Parameters are split into blocks with weights
//! `w_b > 0`, `⟨u, v⟩_M = Σ_b w_b ⟨u_b, v_b⟩`. From the Euclidean gradient `g = ∂L/∂θ` the
//! Riesz gradient is `G_b = g_b / w_b`, with `‖G‖²_M = Σ_b ‖g_b‖²/w_b`. The discretised
//! `L²([0,1])` metric of a depth-`L` ResNet has one block per layer with `w = h = 1/L`
//! ([`Metric::l2_layers`]), so `G_k = (1/h) ∂L/∂U_k`: its gradient descent has a
//! depth-independent limit. [`Metric::euclidean`] is the framework default.
//!
//! **Solvers** ([`solver`]; `η_k` from the [`schedule`]):
//! - gradient descent: `θ_{k+1} = θ_k − η_k G_k` ([`GradientDescent`]); on a PL loss with
//!   `η ≤ 1/β`: `L_{k+1} ≤ (1 − ημ/2) L_k` (docs/theory.md §5);
//! - Armijo backtracking: largest `t ∈ {η_k ρʲ}` with
//!   `L(θ_k − tG_k) ≤ L(θ_k) − c t ‖G_k‖²_M` ([`Backtracking`]);
//! - SGD: `θ_{k+1} = θ_k − η_k G_{B_k}`, batches `B_k` from a seeded shuffle per epoch
//!   ([`Sgd`], [`sampling`]);
//! - heavy ball `b ← βb + G, θ ← θ − ηb`; Nesterov `b ← βb + G, θ ← θ − η(G + βb)`
//!   ([`Momentum`], PyTorch's `SGD(momentum, nesterov)`);
//! - Adam / AdamW (PyTorch): `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
//!   `θ ← θ − γ m̂/(√v̂ + ε)` with `m̂ = m/(1−β₁ᵗ)`, `v̂ = v/(1−β₂ᵗ)`; Adam's decay adds
//!   `λθ` to `g`, AdamW's multiplies `θ` by `1 − γλ` first ([`Adam`], equations in
//!   [`solver::adam`]).
//!
//! **Schedules** ([`Schedule`]): constant; MultiStep `η₀ γ^{#{m ≤ t}}` (milestones with
//! multiplicity, PyTorch `MultiStepLR`); exponential `η₀ γᵗ`; cosine
//! `η_min + (η₀ − η_min)(1 + cos(πt/T))/2`; linear warm-up before any of them.
//!
//! **Stopping** ([`Stopping`]): `k ≥ max_iterations`, `epoch ≥ max_epochs`, `L ≤ tol`,
//! `‖G‖_M ≤ tol`. A non-finite loss, gradient or parameter ends the run with
//! [`OptimError::Diverged`], which carries the last finite parameters and loss.
//!
//! ## Architecture (argmin-style)
//! Problem, solver, state and observers are kept apart: a solver is a validated,
//! immutable configuration; everything that evolves (iterate, gradients, momentum, Adam
//! moments, the sampler) lives in the [`State`], which goes into [`run`] and comes back in
//! the [`Outcome`] with a [`Report`] (iterations, epochs, evaluations, stop reason).
//! The state is also the training checkpoint: [`State::to_bytes`] / [`State::from_bytes`]
//! ([`checkpoint`]) restore a run that continues bitwise.
//! All buffers are allocated when a run starts; steps allocate nothing. Each iterate emits
//! one `tracing::debug!` event; progress display belongs to binaries.
//!
//! ```
//! use plres_optim::{GradientDescentConfig, History, Metric, Problem, ProblemError, State, Stopping, run};
//!
//! /// L(θ) = ½ Σ_i a_i θ_i², a = (1, 4): μ = 1, β = 4.
//! struct Quad;
//! impl Problem for Quad {
//!     fn n_params(&self) -> usize { 2 }
//!     fn loss_and_gradient(&mut self, p: &[f64], g: &mut [f64]) -> Result<f64, ProblemError> {
//!         g[0] = p[0];
//!         g[1] = 4.0 * p[1];
//!         Ok(0.5 * (p[0] * p[0] + 4.0 * p[1] * p[1]))
//!     }
//! }
//! // Two "layers" of one parameter, h = 1/2: the L² step η = 1/8 is the Euclidean step 1/4.
//! let gd = GradientDescentConfig::new(0.125)
//!     .with_metric(Metric::l2_layers(2, 1, 0.5)?)
//!     .build()?;
//! let mut history = History::new();
//! let out = run(&mut Quad, &gd, State::new(vec![1.0, 1.0]), &Stopping::iterations(50), &mut [&mut history])?;
//! // With η = 1/β the loss ratio per step is at most 1 − μ/β = 3/4 (docs/theory.md §5).
//! let l = history.losses();
//! assert!(l.windows(2).all(|w| w[1] <= 0.75 * w[0]));
//! assert_eq!(out.report.iterations, 50);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Module map
//! - [`problem`]: [`Problem`], [`ProblemError`].
//! - [`metric`]: [`Metric`] (block weights, Riesz gradient, norms).
//! - [`solver`]: the [`Solver`] trait; [`solver::gd`], [`solver::backtracking`],
//!   [`solver::momentum`], [`solver::adam`]; [`SolverConfig`] for configs from files.
//! - [`schedule`]: [`Schedule`], [`LearningRate`], [`Clock`].
//! - [`sampling`]: [`Minibatch`], the seeded per-epoch shuffle.
//! - [`state`]: [`State`], and [`StepContext`] through which solvers move it.
//! - [`checkpoint`]: [`State::to_bytes`] / [`State::from_bytes`] (the optimizer's training
//!   checkpoint: a restored state continues bitwise), [`State::check_resume`].
//! - [`stopping`]: [`Stopping`], [`StopReason`].
//! - [`observer`]: [`Observer`], [`Iterate`], [`ObserverAction`], [`History`].
//! - [`executor`]: [`run`], [`run_in_place`], [`Outcome`], [`Report`].
//! - [`error`]: [`ConfigError`], [`OptimError`].

#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod error;
pub mod executor;
pub mod metric;
pub mod observer;
pub mod problem;
pub mod sampling;
pub mod schedule;
pub mod solver;
pub mod state;
pub mod stopping;

pub use checkpoint::{ResumeMismatch, StateFormatError};
pub use error::{ConfigError, NonFinite, OptimError};
pub use executor::{Outcome, Report, run, run_in_place};
pub use metric::{Metric, MetricBlock};
pub use observer::{History, Iterate, Observer, ObserverAction, Record};
pub use problem::{Problem, ProblemError};
pub use sampling::Minibatch;
pub use schedule::{Clock, LearningRate, Schedule};
pub use solver::{
    Adam, AdamConfig, Backtracking, BacktrackingConfig, GradientDescent, GradientDescentConfig,
    Momentum, MomentumConfig, Sgd, SgdConfig, Solver, SolverConfig,
};
pub use state::{State, StepContext, StepView, Trial};
pub use stopping::{StopReason, Stopping};
