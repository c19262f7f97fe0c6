//! # plres-kernels — positive-definite kernels and their RKHS
//!
//! **One job:** everything the rest of plres needs to know about a scalar kernel
//! `k: R^d × R^d → R` and the RKHS `H` of vector fields with matrix kernel
//! `K(x, x') = k(x, x') I_d` (docs/theory.md §3.1): values, gradients, Gram matrices, their
//! spectra (the PL certificate of docs/theory.md §5), the spectral measures random Fourier
//! features sample from (docs/theory.md §3.2, §6), and exact kernel expansions
//! `θ = Σ_c k(·, c) a_c` for the infinite-width ResNet (docs/theory.md §3.4, §4).
//!
//! ## Equations
//!
//! Kernels (`r = ‖x − y‖`, all radial ones with `k(x, x) = 1`):
//!
//! | kernel | `k(x, y)` | Bochner measure of `ω` |
//! |---|---|---|
//! | [`Gaussian`] | `exp(−r²/(2σ²))` | `N(0, σ⁻² I_d)` |
//! | [`Laplace`] | `exp(−r/ℓ)` | multivariate Student-t, 1 dof (Cauchy), scale `1/ℓ` |
//! | [`Matern32`] | `(1 + √3 r/ℓ) e^{−√3 r/ℓ}` | Student-t, 3 dof, scale `1/ℓ` |
//! | [`Matern52`] | `(1 + √5 r/ℓ + 5r²/(3ℓ²)) e^{−√5 r/ℓ}` | Student-t, 5 dof, scale `1/ℓ` |
//! | [`InverseMultiquadric`] | `(1 + r²/c²)^{−1/2}` | — |
//! | [`ArcCosine1`] | `(1/π)‖x̃‖‖ỹ‖(sin α + (π − α) cos α)`, `x̃ = (x, 1)` | — |
//! | [`Linear`] | `x·y` | — |
//!
//! - Bochner (stationary kernels): `k(x, y) = E_ω cos(ω·(x − y))`; the Student-t draw is
//!   `ω = z / (ℓ √(u/dof))`, `z ~ N(0, I_d)`, `u ~ χ²(dof)` ([`SpectralMeasure`]), and
//!   `E‖ω‖² = d/σ²` resp. `d·dof/((dof − 2)ℓ²)` ([`SpectralMeasure::second_moment`]).
//! - The arc-cosine kernel is the width limit of `φ(x) = √(2/p) relu(Wx + c)`:
//!   `k(x, y) = 2 E_w[relu(w·x̃) relu(w·ỹ)]`, `w ~ N(0, I_{d+1})` (docs/theory.md §3.2).
//! - Gram matrices of the distance-based kernels come from one GEMM,
//!   `‖x_i − y_j‖² = ‖x_i‖² + ‖y_j‖² − 2 (X Yᵀ)_ij`, clamped at 0 (near pairs recomputed
//!   directly, see [`radial`]).
//! - Spectral tools ([`spectral`]): `λ_min`, `λ_max`; Gershgorin
//!   `λ_min(K) ≥ min_i (K_ii − Σ_{j≠i}|K_ij|)`; for the Gaussian with separation
//!   `δ = min_{i≠j}‖x_i − x_j‖`, `λ_min ≥ 1 − (N − 1) exp(−δ²/(2σ²))` (docs/theory.md §5).
//! - Expansions ([`expansion`]): `θ(X) = K(X, C) A`, `Dθ(x) = Σ_c a_c ∇_x k(x, c)ᵀ`,
//!   `Dθ(x_i)ᵀ v_i = Σ_c ∇_x k(x_i, c)(a_c·v_i)`, `‖θ‖²_H = tr(Aᵀ K_CC A)`, and the
//!   reproducing property `⟨k(·, x) e_l, θ⟩_H = θ(x)_l`.
//!
//! ## Module map
//!
//! - [`kernel`] — the [`Kernel`] trait (values, `∇_x`, Gram, cross Gram, weighted gradient
//!   sums for vector–Jacobian products, validated `try_*` forms) and [`SpectralMeasure`].
//! - [`radial`] — [`Gaussian`], [`Laplace`], [`Matern32`], [`Matern52`],
//!   [`InverseMultiquadric`] — shared GEMM machinery over their profile `κ(r²)`.
//! - [`arccos`] — [`ArcCosine1`], with its cancellation-free gradient.
//! - [`linear`] — [`Linear`].
//! - [`spec`] — [`KernelSpec`], the serialisable kernel choice (`{"kind": "gaussian", …}`).
//! - [`spectral`] — eigenvalues and `λ_min` ([`spectral::SymEigen`], the workspace's one
//!   implementation, and the certified [`spectral::CertifiedLambdaMin`]), Gershgorin,
//!   Cholesky test, minimum separation.
//! - [`expansion`] — [`expansion::KernelExpansion`], a vector field in `H`.
//! - [`validate`] — input checks behind the `try_*` entry points; [`error`] —
//!   [`KernelError`].
//!
//! Validated entry points (`try_*`, constructors, [`KernelSpec::build`],
//! [`expansion::KernelExpansion::append`]) return [`KernelError`] for empty, non-finite or
//! mismatched input; the `*_in_place` routines assume checked shapes and panic with every
//! dimension named otherwise. Parallelism follows faer's global setting
//! (`faer::set_global_parallelism`).
//!
//! ```
//! use plres_kernels::{Kernel, KernelSpec, spectral};
//! let x = faer::mat![[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]];
//! let k = KernelSpec::Gaussian { sigma: 1.0 }.build()?;
//! let gram = k.try_gram(x.as_ref())?;
//! let lmin = spectral::lambda_min(gram.as_ref());
//! assert!(spectral::gershgorin_lower_bound(gram.as_ref()) <= lmin && lmin > 0.0);
//! # Ok::<(), plres_kernels::KernelError>(())
//! ```

#![forbid(unsafe_code)] // SIMD `exp`, streaming stores and `vzeroupper` live in plres-simd

pub mod arccos;
pub mod error;
pub mod expansion;
pub mod kernel;
pub mod linear;
mod pairwise;
pub mod radial;
pub mod spec;
pub mod spectral;
pub mod validate;

pub use arccos::ArcCosine1;
pub use error::KernelError;
pub use kernel::{Kernel, SpectralMeasure};
pub use linear::Linear;
pub use radial::{Gaussian, InverseMultiquadric, Laplace, Matern32, Matern52};
pub use spec::KernelSpec;
