//! # plres-theory — the theory's claims as executable checks
//!
//! One job: measure, at a given parameter or along training, the quantities the local
//! Polyak–Łojasiewicz (PL) theory of linear-residual ResNets talks about (docs/theory.md §5–§7),
//! and report each claim as a [`CheckReport`] — claim, source, measured, predicted,
//! tolerance, holds. It only measures: it never changes a model or an optimizer's path.
//!
//! ## The equations (docs/theory.md §5)
//!
//! Notation: `N` samples, depth `L`, `h = 1/L`, states `x_i^k`, adjoints `p_i^k`
//! (`P^k ∈ R^{N×d}`), residual `f_k = U_kφ` (finite width) or `θ_k ∈ H` (kernel),
//! Riesz gradient `G_k = (1/h)∂L/∂U_k` in the metric `⟨U, V⟩ = h Σ_k ⟨U_k, V_k⟩_F`,
//! `λ_k = λ_min([k(x_i^k, x_j^k)]_{ij})`, `a_k = max_i ‖Df_k(x_i^k)‖_op`.
//!
//! 1. Exact identity: `‖G‖² = h Σ_k Σ_{ij} ⟨p_i^{k+1}, p_j^{k+1}⟩ k(x_i^k, x_j^k)`.
//! 2. Kernel bound: `‖G‖² ≥ h Σ_k λ_k ‖P^{k+1}‖²_F`.
//! 3. Adjoint bound: `‖p^{k+1}‖ ≥ Π_{j=k+1}^{L−1}(1 − h a_j)₊ ‖p^L‖`.
//! 4. Squared loss: `‖P^L‖²_F ≥ σ_min(Bᵀ)² (2/N) L(θ)`, hence at *every* θ
//!    `‖G‖² ≥ μ_cert L` with `μ_cert = (2/N) σ_min(Bᵀ)² h Σ_k λ_k Π_{j>k}(1 − h a_j)₊²`
//!    (exact for the Euler ResNet; a violation beyond rounding is a bug).
//! 5. Continuous analogue `μ = (2/N) ∫₀¹ λ(s) e^{−2∫_s^1 a(r)dr} ds`, reported for the
//!    midpoint/Heun/RK4 networks as an `O(h)` approximation.
//!
//! 6. Tight constant: `‖G‖² = (1/N²) vec(R)ᵀ Θ vec(R)` with `Θ = J M⁻¹ Jᵀ` the tangent Gram
//!    of the outputs in the parameter metric (Euler blocks
//!    `Θ_ij = h Σ_k k(x_i^k, x_j^k) B J_i^{k+1} (B J_j^{k+1})ᵀ`,
//!    `J_i^{k+1} = ∂x_i^L/∂x_i^{k+1}`), so `μ_tight = (2/N) λ_min(Θ)` is the best PL
//!    constant at `θ` and `μ_cert ≤ μ_tight ≤ ρ` ([`pl::tight`]). Exact (dense `Θ`) up to
//!    `N·d_out = 8192`; beyond, an interval `θ_1 − ‖r_1‖ (or Kato–Temple) ≤ λ_min ≤ θ_1` from
//!    Lanczos on `v ↦ Θv` ([`pl::lanczos`]; the upper end is a theorem, the lower end holds
//!    for the eigenvalue the smallest Ritz value `θ_1` approximates).
//!
//! **A-priori bound** on `‖θ‖ ≤ R`: with the kernel's admissibility constant `κ`
//! (`‖Dθ(x)‖ ≤ κ‖θ‖_H`; Gaussian `1/σ`, Matérn 3/2 `√3/ℓ`, Matérn 5/2 `√(5/3)/ℓ`,
//! inverse multiquadric `1/c`, Laplace none), separations shrink at most by `e^{−κR}`
//! (`D_L(κR) ≤ e^{−κR}` for `L` Euler layers): `δ(s) ≥ δ₀e^{−κR}`; Gershgorin gives
//! `λ ≥ λ_* = 1 − (N−1)ψ(δ)` (Gaussian `ψ(δ) = e^{−δ²/(2σ²)}`) and
//! `μ ≥ (2/N) λ_* e^{−2κR}`; expressivity condition `λ_* > 0`. At finite width a
//! perturbation argument gives the same with `κ_p = √(2/p)‖W‖_op`
//! ([`pl::apriori`]).
//!
//! **Convergence**: gradient flow `L(t) ≤ L₀e^{−μt}`, path length `≤ 2√(L₀/μ)`; GD with
//! sufficient decrease `c` (`c = ½` for `η ≤ 1/β`): per-step rate `1 − cημ`
//! (`1 − ημ/2`), path length `≤ (1/c)·2√(L₀/μ)` ([`convergence`]).
//!
//! ## RFF feature counts (docs/theory.md §6)
//!
//! A draw of `p` features fails when `λ_min(K_p) < λ_min(K)/2`. Matrix Bernstein:
//! `P(‖K_p − K‖ ≥ ε) ≤ 2N exp(−(pε²/2)/(2N‖K‖ + 2Nε/3))`, `ε = λ_min(K)/2`; uniform
//! (Rahimi–Recht): `P(sup |k_p − k| ≥ ε) ≤ 2⁸(σ_ωD/ε)² exp(−pε²/(4(d+2)))`,
//! `ε = λ_min(K)/(2N)`. [`rff_bounds`] measures the failure frequency over seeds with a
//! binomial confidence interval and the slack `p_bound / p_empirical` of each bound.
//!
//! ## Limits (docs/theory.md §7)
//!
//! Depth: output error `O(h^q)`, `q = 1, 2, 2, 4` for Euler, midpoint, Heun, RK4;
//! width: RFF kernel error `O(p^{−1/2})`; fitted slopes with standard errors
//! ([`limits`]).
//!
//! ## Modules
//!
//! * [`pl`] — the certificate: formulas ([`pl::certificate`]), a-priori bounds
//!   ([`pl::apriori`]), [`pl::PlSnapshot`] and its checks, [`pl::LinearCertifier`]
//!   (finite width, reusable buffers, GEMM Grams and Jacobians),
//!   [`pl::kernel_snapshot`] (infinite width), [`pl::TightCertifier`] and
//!   [`pl::kernel_tight`] (`μ_tight` and the looseness ratios, [`pl::chain_report`]),
//!   [`pl::lanczos`] (the smallest eigenvalue of a PSD operator as a certified interval),
//!   [`pl::Monitor`] (plres-optim observer writing metrics rows and flagging violations).
//! * [`expressivity`] — `λ_min` along trajectories, separations against
//!   `δ₀e^{−κ‖θ‖}`, Gershgorin, the necessary condition `p ≥ N`.
//! * [`rff_bounds`] — empirical failure frequencies and the slack of the §6 bounds.
//! * [`convergence`] — observed rate (fit of `log L_t`) against `1 − ημ/2`, path length
//!   against `2√(L₀/μ)`.
//! * [`limits`] — depth orders and width slope with their uncertainty.
//! * [`stats`] — least-squares fits with standard errors, Clopper–Pearson and Wilson
//!   intervals.
//! * [`linalg`] — Grams and operator norms with workspaces (`λ_min` is plres-kernels'
//!   `spectral::SymEigen` / `CertifiedLambdaMin`).
//! * [`report`] — [`CheckReport`], [`Relation`], [`Verdict`]; [`error`] — [`TheoryError`].
//!
//! ## Example
//!
//! ```
//! use std::sync::Arc;
//! use faer::Mat;
//! use plres_kernels::KernelSpec;
//! use plres_resnet::{Init, LinearResNet, LinearResNetConfig, Trainable};
//! use plres_rff::{FourierVariant, RandomFourierFeatures};
//! use plres_theory::pl::LinearCertifier;
//! use rand::SeedableRng;
//!
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let phi = RandomFourierFeatures::sample(
//!     &KernelSpec::Gaussian { sigma: 1.0 }, 2, 24, FourierVariant::CosineWithPhase, &mut rng,
//! ).unwrap();
//! let cfg = LinearResNetConfig { depth: 4, init: Init::Normal { std: 0.3, seed: 1 }, ..Default::default() };
//! let net = LinearResNet::new(Arc::new(phi), cfg).unwrap();
//! let x = Mat::from_fn(8, 2, |i, j| if j == 0 { i as f64 } else { (i % 3) as f64 });
//! let y = Mat::from_fn(8, 2, |i, j| ((i + j) as f64).cos());
//! let mut cert = LinearCertifier::new(&net, 8).unwrap();
//! let snap = cert.evaluate(&net, net.params(), x.as_ref(), y.as_ref()).unwrap();
//! assert!(snap.rho >= snap.mu_cert.unwrap()); // the local PL inequality at this θ
//! for check in snap.reports() {
//!     assert!(check.holds(), "{}", check.table_row());
//! }
//! ```

#![forbid(unsafe_code)]

pub mod convergence;
pub mod error;
pub mod expressivity;
pub mod limits;
pub mod linalg;
pub mod pl;
pub mod report;
pub mod rff_bounds;
pub mod stats;

pub use error::TheoryError;
pub use report::{CheckReport, Relation, Verdict};
