//! # plres-ode — explicit integrators for batched states with adjoints
//!
//! One job: integrate `Ẋ = f(t, X)` for a batch `X ∈ R^{N×d}` (one sample per row) with
//! explicit Runge–Kutta methods, and give exact gradients of what was computed (docs/theory.md §3.2,
//! §4, §7). The ResNet forward pass `x^{k+1} = x^k + h U_k φ(x^k)` is the Euler case on the
//! grid `t_k = k/L`; its backward pass is the discrete adjoint below.
//!
//! ## Equations
//!
//! *Step* (tableau `(a, b, c)`, [`tableau`]): from `(t, x)` with step `h`,
//! `Y_i = x + h Σ_{j<i} a_ij K_j`, `K_i = f(t + c_i h, Y_i)`, `x' = x + h Σ_i b_i K_i`.
//! Global error `O(h^p)` for a method of order `p` (docs/theory.md §7: Euler 1, midpoint/Heun 2,
//! RK4 and Kutta's 3/8 rule 4).
//!
//! *Adaptive step* ([`adaptive`]): embedded estimate `E = h Σ (b_i − b̂_i) K_i`,
//! `err = ‖E/(atol + rtol·max(|x|,|x'|))‖_rms`, accept iff `err ≤ 1`, PI control
//! `h_new = h · clamp(safety · err^{−α} · err_prev^{β}, fac_min, fac_max)`.
//!
//! *Discrete adjoint* ([`adjoint`], docs/theory.md §4), for `λ' = ∂L/∂x'`, stages `i = s … 1`:
//! `w_i = h b_i λ' + h Σ_{j>i} a_ji μ_j`, `μ_i = (∂f/∂x(Y_i))ᵀ w_i`,
//! `∂L/∂θ += (∂f/∂θ(Y_i))ᵀ w_i`, `λ = λ' + Σ_i μ_i`.
//!
//! *Continuous adjoint*: `ẋ = f`, `ȧ = −(∂f/∂x)ᵀ a`, `ġ = −(∂f/∂θ)ᵀ a`, integrated from
//! `(x_n, λ_n, 0)` backwards; it agrees with the discrete adjoint as `h → 0`.
//!
//! ## Module map
//!
//! - [`field`]: the [`VectorField`] trait (eval, `vjp_state`, `vjp_params`) the ResNet
//!   implements.
//! - [`tableau`]: [`ButcherTableau`] as data with sources: Euler, midpoint, Heun, RK4, Kutta
//!   3/8, Dormand–Prince 5(4), Bogacki–Shampine 3(2).
//! - [`grid`]: [`Grid`], explicit validated step points.
//! - [`stepper`]: [`RkWorkspace`], one allocation-free step; the row blocking
//!   ([`stepper::row_block`]) that keeps a step's working set in cache.
//! - [`fixed`]: [`FixedSolver`] / [`solve_fixed`] on a given grid.
//! - [`adaptive`]: [`AdaptiveSolver`] / [`solve_adaptive`] with [`AdaptiveConfig`].
//! - [`solution`]: [`Solution`], [`Output`] (final, every step, requested times), [`Stats`].
//! - [`adjoint`]: [`StoredTape`], [`CheckpointedTape`], [`continuous_adjoint`],
//!   [`compare_adjoints`], [`Gradients`].
//! - [`problems`]: test problems with exact solutions, shared by tests, benches and
//!   experiments.
//! - [`error`]: [`OdeError`] (typed, carrying partial solutions).
//!
//! The runtime-dispatched combination kernel and the `vzeroupper` hygiene after faer
//! products ([`plres_simd::clear_upper_state`]) live in plres-simd.
//!
//! ## Example
//!
//! ```
//! use faer::Mat;
//! use plres_ode::{ButcherTableau, Grid, StoredTape, problems::{ExactSolution, HarmonicOscillator}};
//! let field = HarmonicOscillator::new(1.0);
//! let x0 = Mat::from_fn(2, 2, |i, j| if i == j { 1.0 } else { 0.0 });
//! let grid = Grid::uniform(0.0, 1.0, 100).unwrap();
//! let tape = StoredTape::record(&field, &ButcherTableau::rk4(), &grid, x0.as_ref()).unwrap();
//! assert!((tape.final_state() - field.exact(0.0, x0.as_ref(), 1.0)).norm_l2() < 1e-9);
//! // L = ½‖x_n‖²: λ_n = x_n. The flow is a rotation, so ∂L/∂x_0 ≈ x_0.
//! let g = tape.backward(&field, tape.final_state());
//! assert!((&g.state - &x0).norm_l2() < 1e-8);
//! ```

#![forbid(unsafe_code)]

pub mod adaptive;
pub mod adjoint;
pub mod error;
pub mod field;
pub mod fixed;
pub mod grid;
mod linalg;
pub mod problems;
pub mod solution;
pub mod stepper;
pub mod tableau;

pub use adaptive::{AdaptiveConfig, AdaptiveSolver, solve_adaptive};
pub use adjoint::Gradients;
pub use adjoint::checkpointed::CheckpointedTape;
pub use adjoint::compare::{AdjointComparison, compare_adjoints};
pub use adjoint::continuous::continuous_adjoint;
pub use adjoint::stored::StoredTape;
pub use error::OdeError;
pub use field::VectorField;
pub use fixed::{FixedSolver, solve_fixed};
pub use grid::Grid;
pub use solution::{Output, Solution, Stats};
pub use stepper::{RkWorkspace, StepInfo};
pub use tableau::{AdaptiveMethod, ButcherTableau, FixedMethod, TableauError};
