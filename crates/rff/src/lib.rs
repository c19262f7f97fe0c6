//! # plres-rff — random feature maps with feature-count bounds
//!
//! One job: finite feature maps `φ: R^d → R^p` whose kernel `k_p(x, y) = φ(x)·φ(y)`
//! approximates a plres-kernels kernel (docs/theory.md §3.2), and how many features make the
//! expressivity condition hold with probability `≥ 1 − δ` (docs/theory.md §6).
//!
//! ## Equations
//!
//! * **Random Fourier features** (Bochner, Rahimi & Recht 2007): for a stationary kernel
//!   `k(x, y) = E_ω cos(ω·(x − y))`,
//!   `φ(x) = √(2/p) cos(Ωx + b)`, rows `ω_j` of `Ω` from the spectral measure
//!   (Gaussian `N(0, σ⁻²I)`; Student-t for Laplace / Matérn), `b_j ~ U[0, 2π)`; or the
//!   paired `φ(x) = [cos Ωx, sin Ωx]/√(p/2)`. `E φ(x)·φ(y) = k(x, y)`, error `O(1/√p)`.
//! * **Random ReLU features**: `φ(x) = √(2/p) relu(Wx + c)`, `W, c ~ N(0, 1)`; limit the
//!   degree-1 arc-cosine kernel of `(x, 1)`, `(y, 1)`.
//! * **Backward pass**: `∇_X = (V ⊙ φ'(XΩᵀ + b)) Ω` for `V = ∂L/∂Φ`, with `φ'` cached by the
//!   forward pass (sin and cos evaluated together).
//! * **Pointwise bound** (matrix Bernstein): `P(‖K_p − K‖ ≥ ε) ≤ 2N exp(−(pε²/2)/(2N‖K‖ +
//!   2Nε/3))`; with `ε = λ_min(K)/2`, `λ_min(K_p) ≥ λ_min(K)/2` with probability `≥ 1 − δ`.
//! * **Uniform bound** (Rahimi–Recht): `P(sup_M |k_p − k| ≥ ε) ≤ 2⁸(σ_ω D/ε)²
//!   exp(−pε²/(4(d+2)))`, `ε = λ/(2N)`.
//!
//! The derivations of both bounds are written out in `docs/rff-bounds.md`.
//!
//! ## Modules
//!
//! * [`map`] — the [`FeatureMap`] trait (`apply_in_place`, `apply_with_cache`,
//!   `vjp_in_place`, `limit_kernel`, …) and the blocked faer GEMM + activation driver.
//! * `fused` (private) — for input dimension `d ≤ 64`, the pre-activation `b + Wx` and the
//!   activation computed together in SIMD registers, so `Φ` is written once (the kernel
//!   is `plres_simd::fused`).
//! * [`fourier`] — [`RandomFourierFeatures`], [`FourierVariant`].
//! * [`relu`] — [`RandomReluFeatures`].
//! * [`spec`] — [`FeatureSpec`], the serialisable choice of a feature map.
//! * [`bounds`] — feature counts and failure probabilities (docs/theory.md §6).
//! * [`trig`] — vectorised `sin`/`cos`/`sincos` (SIMD polynomial, ≤ 4 ulp): a re-export
//!   of `plres_simd::trig`, where the kernels and their error analysis live.
//! * `size` (private) — [`MAX_FEATURES`], [`MAX_WEIGHTS`]: user-given widths are checked
//!   (checked products, upper bounds) and the weights allocated fallibly, so no width
//!   makes a constructor panic or abort.
//! * [`error`] — [`RffError`], [`BoundError`].
//!
//! ## Example
//!
//! ```
//! use plres_kernels::KernelSpec;
//! use plres_rff::{bounds, FeatureMap, FourierVariant, RandomFourierFeatures};
//! use rand::SeedableRng;
//!
//! // how many features keep λ_min(K_p) ≥ λ_min(K)/2 with probability 0.99 for
//! // n = 10 points with λ_min(K) = 0.2 and ‖K‖ = 3:
//! let p = bounds::features_needed_pointwise(10, 0.2, 3.0, 0.01, 0.5).unwrap();
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
//! let rff = RandomFourierFeatures::sample(
//!     &KernelSpec::Gaussian { sigma: 1.0 }, 2, p, FourierVariant::CosineWithPhase, &mut rng,
//! ).unwrap();
//! assert_eq!(rff.output_dim(), p);
//! ```

#![forbid(unsafe_code)]

pub mod bounds;
pub mod error;
pub mod fourier;
mod fused;
pub mod map;
pub mod relu;
mod size;
pub mod spec;
pub use plres_simd::trig;

pub use error::{BoundError, RffError};
pub use fourier::{FourierVariant, RandomFourierFeatures};
pub use map::{ColumnActivation, Columnwise, FeatureMap};
pub use relu::RandomReluFeatures;
pub use size::{MAX_FEATURES, MAX_WEIGHTS};
pub use spec::FeatureSpec;
