//! The local PL inequality of docs/theory.md §5 at a parameter `θ` and along training.
//!
//! With `λ_k = λ_min([k(x_i^k, x_j^k)]_{ij})`, `a_k = max_i ‖Df_k(x_i^k)‖_op`, adjoints
//! `P^k` and Riesz gradient `G_k = (1/h) ∂L/∂U_k` (metric `⟨U, V⟩ = h Σ_k ⟨U_k, V_k⟩_F`):
//!
//! 1. `‖G‖² = h Σ_k Σ_{ij} ⟨p_i^{k+1}, p_j^{k+1}⟩ k(x_i^k, x_j^k)` (exact identity);
//! 2. `‖G‖² ≥ h Σ_k λ_k ‖P^{k+1}‖²_F` (kernel bound);
//! 3. `‖p^{k+1}‖ ≥ Π_{j>k}(1 − h a_j)₊ ‖p^L‖` (adjoint bound);
//! 4. `‖P^L‖²_F ≥ σ_min(Bᵀ)² (2/N) L`, hence `‖G‖² ≥ μ_cert L` with
//!    `μ_cert = (2/N) σ_min(Bᵀ)² h Σ_k λ_k Π_{j>k}(1 − h a_j)₊²` at every `θ`;
//! 5. continuous analogue `μ = (2/N) ∫ λ(s) e^{−2∫_s^1 a} ds` — for midpoint/Heun/RK4
//!    the reported certificate, an `O(h)` approximation.
//!
//! The tight constant: for the squared loss `‖G‖² = (1/N²) vec(R)ᵀ Θ vec(R)` exactly, with
//! `Θ` the tangent Gram of the outputs in the parameter metric, so
//! `μ_cert ≤ μ_tight = (2/N) λ_min(Θ) ≤ ρ`, the middle one attained by the worst residual.
//!
//! Modules:
//! * [`certificate`] — items 4–5 as formulas of `λ_k`, `a_k`;
//! * [`apriori`] — the a-priori bound on a ball `‖θ‖ ≤ R` from the separation of the
//!   data (Gaussian and other kernels through their admissibility constant `κ`);
//! * [`snapshot`] — [`PlSnapshot`], all of the above at one `θ`, and its
//!   [`CheckReport`](crate::CheckReport)s;
//! * [`linear`] — [`LinearCertifier`], snapshots of a finite-width `LinearResNet` with
//!   reusable buffers;
//! * [`kernel`] — [`kernel_snapshot`], snapshots of the infinite-width `KernelResNet`;
//! * [`tight`] — the tight constant `μ_tight = (2/N) λ_min(Θ)` from the tangent Gram `Θ`
//!   of the outputs (`‖G‖² = Pᵀ Θ P` exactly), [`TightCertifier`] (Euler `LinearResNet`;
//!   dense `Θ` up to `N·d_out = 8192`, Lanczos on the factored `Θ` beyond),
//!   [`kernel_tight`] (`KernelResNet`, dense), the [`Looseness`] ratios `ρ/μ_tight`,
//!   `μ_tight/μ_cert` and the chain check [`tight::chain_report`];
//! * [`lanczos`] — the smallest eigenvalue of a PSD operator `v ↦ Av` by Lanczos with full
//!   reorthogonalisation, as a certified interval from the Ritz residuals (what
//!   [`tight`] uses beyond `N·d_out = 8192`);
//! * [`monitor`] — [`Monitor`], the plres-optim observer recording a [`MonitorRow`]
//!   every `k` iterates and flagging violations.

pub mod apriori;
pub mod certificate;
pub mod kernel;
pub mod lanczos;
pub mod linear;
pub mod monitor;
pub mod snapshot;
pub mod tight;

pub use apriori::{
    AprioriBound, AprioriInput, Depth, FeatureAprioriBound, admissibility_constant, apriori_bound,
    apriori_bound_features,
};
pub use certificate::{continuous_analogue_cells, continuous_analogue_nodes, mu_cert};
pub use kernel::kernel_snapshot;
pub use lanczos::{BottomEigen, Lanczos, LanczosConfig, LowerBound};
pub use linear::{LinearCertifier, sigma_min_sq};
pub use monitor::{Monitor, MonitorConfig, MonitorRow, MonitorSummary, monitor_reports};
pub use snapshot::{CertificateKind, PlSnapshot};
pub use tight::{
    Looseness, MAX_DENSE_DIM, MAX_FACTORED_ENTRIES, TightCertifier, TightPl, TightSolver,
    chain_report, kernel_tight,
};
