//! `LinearResNet`: the finite-width ResNet that is linear in its trained parameters
//! (docs/theory.md §3.2).
//!
//! A fixed feature map `φ: R^d → R^p` shared by all layers and trained slices
//! `U_k ∈ R^{d×p}`, flattened into one vector `u` laid out as the safetensors tensor
//! `residual.u` `[S, d, p]` (row-major, `S` slices): `U_k` is the `d×p` row-major block
//! `u[k·d·p..(k+1)·d·p]`, which is read in place as the `p×d` column-major faer view
//! `U_kᵀ` — every product below is a GEMM on such views, nothing is copied.
//!
//! Forward Euler (the ResNet, `S = L`), one sample per row, `h = 1/L`:
//! `Φ_k = φ(X_k)`, `X_{k+1} = X_k + h Φ_k U_kᵀ`, `Z = X_L Bᵀ`.
//!
//! Adjoint (docs/theory.md §4): `P_L = (∂L/∂Z) B`, and for `k = L−1..0`
//! `∂L/∂U_kᵀ = h Φ_kᵀ P_{k+1}`, `V = h P_{k+1} U_k`,
//! `P_k = P_{k+1} + (V ⊙ φ'(X_k Ωᵀ + b)) Ω` (the feature map's vjp).
//!
//! Other integrators (`S = L+1`, `U(s)` linear between slices) go through plres-ode's
//! explicit Runge–Kutta solver and its discrete adjoint with the vector field of
//! `field`.
//!
//! Modules (all crate-private; the public API is [`LinearResNet`], its configuration, its
//! [`LinearWorkspace`] and the [`crate::Model`] / [`crate::Trainable`] contract): `model`
//! (the type, its configuration and public API), `workspace` (preallocated buffers, the
//! Euler hot loop keeping every `Φ_k`), `fused` (the tiled Euler step for column-wise
//! feature maps, which keeps only the states), `field` (the interpolated vector field for
//! plres-ode), `io` (checkpoints).

pub(crate) mod field;
pub(crate) mod fused;
pub(crate) mod io;
mod model;
pub(crate) mod workspace;

pub use model::{Init, LinearResNet, LinearResNetConfig};
pub use workspace::LinearWorkspace;
