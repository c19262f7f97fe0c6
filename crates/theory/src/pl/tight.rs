//! The tight local PL constant `μ_tight(θ) = (2/N) λ_min(Θ)` of the squared loss: the best
//! constant `μ` with `‖G‖² ≥ μ L(θ)` at `θ`, against which the certificate `μ_cert` of
//! docs/theory.md §5 item 4 and the observed ratio `ρ = ‖G‖²/L` are measured.
//!
//! ## The identity (any model, any metric)
//!
//! Let `z_i = B x_i^L ∈ R^{d_out}` be the outputs, `r_i = z_i − y_i` the residuals
//! (`R ∈ R^{N×d_out}`, one sample per row), `L = (1/2N) ‖R‖²_F`, `J` the Jacobian of
//! `vec(Z)` with respect to the parameters and `M` the parameter metric
//! (`⟨u, v⟩ = uᵀMv`; `M = h·I` per Euler slice, docs/theory.md §4). Then
//! `∂L/∂θ = (1/N) Jᵀ vec(R)`, the Riesz gradient is `G = M⁻¹ ∂L/∂θ`, and
//!
//! ```text
//! ‖G‖²_M = (1/N²) vec(R)ᵀ Θ vec(R),   Θ = J M⁻¹ Jᵀ ∈ R^{N·d_out × N·d_out},
//! ```
//!
//! the tangent Gram matrix of the outputs in the parameter metric. With the terminal
//! adjoints `p_i^L = (1/N) Bᵀ r_i` this is `‖G‖² = Pᵀ Θ^x P` (`Θ^x` the same Gram in the
//! state space, blocks `d×d`; see below). Hence
//!
//! ```text
//! ρ = ‖G‖²/L = (2/N) vec(R)ᵀ Θ vec(R) / ‖R‖²_F ≥ (2/N) λ_min(Θ) =: μ_tight(θ),
//! ```
//!
//! with equality exactly when `vec(R)` lies in the bottom eigenspace of `Θ` (Rayleigh).
//! `Θ` depends on `θ` and the inputs, not on the targets; as `Y` ranges over
//! `R^{N×d_out}` so does `R = Z − Y`. So `μ_tight` is the largest `μ` with `‖G‖² ≥ μ L`
//! for every target at this `θ`, and every lower bound valid for all targets — the
//! certificate `μ_cert` of §5 item 4 in particular, a theorem at every `θ` and `Y` for the
//! Euler ResNet — satisfies `μ_cert ≤ μ_tight ≤ ρ`. (For one fixed target, `ρ` itself
//! is trivially the best constant at `θ`; `μ_tight` is the best one that does not depend on
//! the targets, which is the most a certificate computed from `θ` and `X` can reach.)
//!
//! **Vectorisation.** `vec` stacks columns (faer's column-major order): entry `(i, a)` of
//! `R` (sample `i`, output `a`) has index `a·N + i`. Block `(a, b)` of `Θ` is the `N×N`
//! matrix coupling output coordinates `a` and `b` of all samples.
//!
//! ## Euler `LinearResNet`
//!
//! From §5 item 1, `‖G‖² = h Σ_k Σ_{ij} ⟨p_i^{k+1}, p_j^{k+1}⟩ k_p(x_i^k, x_j^k)`, and the
//! adjoint recursion `p^k = (I + h Df_k(x^k)ᵀ) p^{k+1}` unrolls to
//! `p_i^{k+1} = (J_i^{k+1})ᵀ p_i^L` with
//!
//! ```text
//! J_i^{k+1} = ∂x_i^L/∂x_i^{k+1} = (I + h U_{L−1} Dφ(x_i^{L−1})) ⋯ (I + h U_{k+1} Dφ(x_i^{k+1})).
//! ```
//!
//! Substituting, `‖G‖² = Σ_{ij} (p_i^L)ᵀ Θ^x_{ij} p_j^L` with the `d×d` blocks
//! `Θ^x_{ij} = h Σ_k k_p(x_i^k, x_j^k) J_i^{k+1} (J_j^{k+1})ᵀ`, and with `p_i^L = (1/N)Bᵀ r_i`
//! the output-space blocks are `Θ_{ij} = B Θ^x_{ij} Bᵀ` (`d_out×d_out`):
//!
//! ```text
//! Θ_{ij} = h Σ_k k_p(x_i^k, x_j^k) C_i^{k+1} (C_j^{k+1})ᵀ,   C_i^{k+1} = B J_i^{k+1} ∈ R^{d_out×d}.
//! ```
//!
//! (This is `J M⁻¹ Jᵀ` of the general identity: `∂z_i/∂U_k = h C_i^{k+1} ⊗ φ(x_i^k)` and
//! `M⁻¹ = h⁻¹` per slice.)
//!
//! **Relation with the certificate's `σ_min(Bᵀ)²`.** For `v ∈ R^{N·d_out}`,
//! `vᵀΘv = wᵀΘ^x w` with `w_i = Bᵀv_i`, so `vᵀΘv ≥ λ_min(Θ^x) ‖w‖² ≥ λ_min(Θ^x) σ_min(Bᵀ)² ‖v‖²`
//! (`Θ^x ⪰ 0`): `λ_min(Θ) ≥ σ_min(Bᵀ)² λ_min(Θ^x)`, the step item 4 takes, and this module
//! computes the left side directly. For `d_out > d`, `Θ` has rank at most `N·d` and
//! `μ_tight = 0`, as `σ_min(Bᵀ) = 0` makes `μ_cert = 0`.
//!
//! ## Infinite width (`KernelResNet`)
//!
//! The same derivation with the exact kernel `k` in place of `k_p` (reproducing property,
//! docs/theory.md §4 "Kernel ResNet step"): the tangent space at each layer is all of `H`,
//! and `J_i^{k+1}` multiplies the residual Jacobians `Dθ_m(x_i^m)` of the expansions.
//!
//! ## Interpolated models (midpoint, Heun, RK4)
//!
//! The identity `ρ = (2/N) vec(R)ᵀΘ vec(R)/‖R‖²` with `Θ = J M⁻¹ Jᵀ` holds for them too, with
//! the lumped trapezoid weights `h/2, h, …, h, h/2` of the `L+1` slices as `M`
//! ([`LinearResNet::slice_weights`]). But their `J` runs through the stages of every step,
//! each stage evaluating a linear interpolation of two slices at an intermediate state, so
//! `Θ` couples features of different stages (`k_p(X_{k,s,i}, X_{k',s',j})` with
//! interpolation weights) and is not of the block form above. It is not implemented:
//! [`TightCertifier::new`] returns [`TheoryError::Unsupported`] for them.
//!
//! ## Algorithm, cost and size limit
//!
//! One forward pass stores `X^0..X^L` (`N×d` each). A backward sweep over the layers then
//! carries `Ĉ ∈ R^{N·d_out × d}` (row `a·N + i` = row `a` of `C_i^{k+1}`, starting from
//! `C_i^L = B`) — the terminal adjoints of all `N·d_out` one-hot residuals at once — and at
//! layer `k`
//!
//! 1. `Φ_k = φ(X^k)` with the feature map's vjp cache, `K_k = Φ_kΦ_kᵀ` (lower GEMM);
//! 2. for each block pair `a ≥ b`: `S = Ĉ_a Ĉ_bᵀ` (an `N×d×N` GEMM) and
//!    `Θ_{ab} += h K_k ⊙ S` — the Hadamard form costs `(N d_out)² d + N² p` per layer,
//!    against `(N d_out)² d p` for the explicit `J M⁻¹ Jᵀ`;
//! 3. `Ĉ_a ← Ĉ_a + Ĉ_a (h U_k Dφ(x^k))` row by row, i.e. the feature map's own vjp with
//!    cotangent `V = h Ĉ_a U_k` (`d_out` vjps, each an `N×d×p` GEMM and an `N×p` product).
//!
//! Then, with [`TightSolver::Dense`], `λ_min(Θ)` by the symmetric QR eigenvalues (one
//! call, [`theta_lambda_min`]). Memory: `Θ` itself, `(N·d_out)²` doubles, plus the
//! eigensolver's copy of it; time: `O(L((N d_out)² d + N² p + N d_out d p))` for `Θ` and
//! `O((N d_out)³)` for `λ_min`. Dense `Θ` is therefore limited to `N·d_out ≤`
//! [`MAX_DENSE_DIM`] (`8192`: 512 MiB for `Θ`, as much again for the eigensolver's copy,
//! and about `(4/3)·8192³ ≈ 7·10¹¹` flops for its eigenvalues, a minute on 2 cores);
//! beyond it the dense solver returns [`TheoryError::TooLarge`]. The limit is where memory
//! stops it, not where Lanczos starts to win: the smallest eigenvalues of `Θ` on real data
//! sit ~`10⁻⁸` below a spectrum of order 1, and plain Lanczos needs `~√κ` steps to resolve
//! that end (400 steps left `μ_tight` inconclusive on 450 MNIST images, `N·d_out = 4500`),
//! so the exact dense answer is preferred for as long as it fits.
//!
//! ## Lanczos (`N·d_out > 8192`)
//!
//! [`TightSolver::Lanczos`] (what [`TightSolver::auto`] picks above [`MAX_DENSE_DIM`])
//! never forms `Θ`. The same backward sweep stores, for every layer, the Jacobian factor
//! `Ĉ^{k+1}` (`N·d_out × d`) and the feature Gram `K_k` (`N×N`), i.e. the factored form
//!
//! ```text
//! (Θv)_{a·N+i} = h Σ_k Ĉ_a^{k+1}[i,:] · Σ_j K_k[i,j] w_j^k,   w_j^k = Σ_b v_{b·N+j} Ĉ_b^{k+1}[j,:] ∈ R^d,
//! ```
//!
//! where `w^k` is the adjoint `P^{k+1}` of the terminal cotangent `v` (what one backward
//! pass of the model computes) and the outer sum is the tangent of that gradient pushed
//! forward to the outputs (what one tangent pass computes): one product costs
//! `L(4 N d_out d + 2N²d)` flops and allocates nothing. The feature maps of plres-rff have
//! a vjp but no jvp, so the factors are kept from the one backward sweep rather than
//! recomputed by a tangent pass per product; memory `L(N d_out d + N²)` doubles, limited to
//! [`MAX_FACTORED_ENTRIES`]. Lanczos with full reorthogonalisation from a seeded start
//! vector ([`crate::pl::lanczos`]) then gives an **interval** `[λ_lower, λ_upper]` for
//! `λ_min(Θ)`: the upper end (the smallest Ritz value) is a theorem; the lower end is the
//! residual bound `θ_1 − ‖r_1‖` or, with a gap to the second Ritz value, the Kato–Temple
//! bound `θ_1 − ‖r_1‖²/(θ_2 − ‖r_2‖ − θ_1)` — a theorem for the eigenvalue `θ_1` approximates,
//! which is `λ_min` unless the start vector missed the bottom eigenvectors (probability 0
//! for the random start; not provable by a Krylov method). [`TightPl::mu_tight`] is the
//! upper end, [`TightPl::mu_tight_lower`] the lower one, and [`TightPl::is_conclusive`]
//! says whether the interval met [`LanczosConfig::rel_tol`] (an inconclusive one is
//! `[0, θ_1]`, both ends theorems); [`chain_report`] treats an inconclusive interval as such
//! (VACUOUS, "inconclusive"). [`kernel_tight`] (the exact
//! kernel, whose `K_k` costs `N²` kernel evaluations per layer anyway) stays dense.
//!
//! ## Rounding
//!
//! Every entry of `Θ` is a sum over layers of products whose absolute values add up to at
//! most `√(Θ_pp Θ_qq)` (Cauchy–Schwarz on the features and on the layer sum), the
//! Jacobian products `C` carry a relative rounding `O(L(p + d) eps)`, and the symmetric
//! QR eigenvalues a backward error `O(n eps ‖Θ‖) ≤ O(n eps tr Θ)`. [`TightPl::rounding`]
//! is `(2/N)·4·(n + L(p + d) + N) eps · tr Θ` (`n = N·d_out`, `p := 0` for the exact
//! kernel): a value of `μ_tight` below it is zero to rounding. With Lanczos the same
//! amount (in `λ` units) widens both ends of the interval: each product `Θv` has the
//! rounding of one row of the dense `Θ` per entry, and the reorthogonalised basis stays
//! orthonormal to `O(n eps)`, so the Ritz values carry `O(n eps ‖Θ‖) ≤ O(n eps tr Θ)` too.

use faer::linalg::matmul::matmul;
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, MatRef, Par};
use plres_kernels::expansion::ExpansionWorkspace;
use plres_resnet::Model as _;
use plres_resnet::{Integrator, KernelResNet, LinearResNet};
use serde::{Deserialize, Serialize};

use crate::error::TheoryError;
use crate::linalg::gram_in_place;
use crate::pl::lanczos::{BottomEigen, Lanczos, LanczosConfig};
use crate::pl::linear::{check_x, debug_shape, model_err, par_for};
use crate::pl::snapshot::PlSnapshot;
use crate::report::{CheckReport, Relation};

/// Largest `N·d_out` for which `Θ` is formed densely (module docs, "size limit"); above
/// it [`TightSolver::auto`] picks Lanczos.
pub const MAX_DENSE_DIM: usize = 8192;

/// Largest number of doubles the factored `Θ` of the Lanczos solver may hold,
/// `L·(N·d_out·d + N²)` (the Jacobian factors `Ĉ^{k+1}` and the feature Grams `K_k` of
/// every layer): `2²⁶` doubles, 512 MiB.
pub const MAX_FACTORED_ENTRIES: usize = 1 << 26;

/// How `λ_min(Θ)` is computed (module docs, "Algorithm").
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TightSolver {
    /// `Θ` formed densely, all its eigenvalues by symmetric QR: exact to rounding;
    /// `N·d_out ≤` [`MAX_DENSE_DIM`].
    Dense,
    /// Lanczos on `v ↦ Θv` from the factored form: an interval for `λ_min`
    /// ([`crate::pl::lanczos`]); memory `≤` [`MAX_FACTORED_ENTRIES`] doubles.
    Lanczos(LanczosConfig),
}

impl TightSolver {
    /// Dense up to [`MAX_DENSE_DIM`] (`dim = N·d_out`), Lanczos with the default
    /// [`LanczosConfig`] beyond.
    pub fn auto(dim: usize) -> Self {
        if dim <= MAX_DENSE_DIM {
            Self::Dense
        } else {
            Self::Lanczos(LanczosConfig::default())
        }
    }
}

/// `μ_tight` at one parameter `θ` (module docs).
///
/// With the dense solver `λ_min(Θ)` is exact to [`rounding`](Self::rounding) and the
/// interval `[lambda_lower, lambda_upper]` is the point `lambda_min`. With Lanczos it is
/// the interval of [`crate::pl::lanczos`] (rounding included): the upper end is a theorem,
/// the lower end holds when the smallest Ritz value approximates `λ_min` and not a higher
/// eigenvalue (see there); [`TightPl::is_conclusive`] says whether it met its tolerance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TightPl {
    /// Number of samples `N`.
    pub n_samples: usize,
    /// Output dimension `d_out` (`Θ` is `N·d_out` square).
    pub output_dim: usize,
    /// `λ_min(Θ)` as computed (dense), or the smallest Ritz value `θ_1 ≥ λ_min` (Lanczos);
    /// may be a rounding-sized negative number when `Θ` is singular.
    pub lambda_min: f64,
    /// `μ_tight = (2/N) max(λ_min(Θ), 0)` (Lanczos: `(2/N) max(θ_1, 0)`, an upper bound).
    pub mu_tight: f64,
    /// `tr Θ = Σ_{i,a} Θ_{(i,a)(i,a)}`: the rounding scale; `(2/N) tr Θ/(N·d_out)` is the
    /// mean of `ρ` over isotropic random residuals.
    pub trace: f64,
    /// Absolute rounding scale of `μ_tight`: `(2/N)·4·(n + L(p + d) + N)·eps·tr Θ`
    /// (module docs). `μ_tight ≤ rounding` means `μ_tight = 0` to rounding.
    pub rounding: f64,
    /// Lower end of the interval for `λ_min(Θ)` (`= lambda_min` for the dense solver).
    pub lambda_lower: f64,
    /// Upper end of the interval for `λ_min(Θ)` (`= lambda_min` for the dense solver).
    pub lambda_upper: f64,
    /// `(2/N) lambda_lower`: the lower end of the interval for `μ_tight`.
    pub mu_tight_lower: f64,
    /// The Lanczos run (`None`: dense solver).
    pub lanczos: Option<BottomEigen>,
}

impl TightPl {
    /// Whether `μ_tight` is indistinguishable from zero (`μ_tight ≤ rounding`).
    pub fn is_zero_to_rounding(&self) -> bool {
        self.mu_tight <= self.rounding
    }

    /// Whether the value is known to its tolerance: always for the dense solver; for
    /// Lanczos when the interval met [`LanczosConfig::rel_tol`] (or is at rounding level).
    /// An inconclusive interval is still valid, but too wide to quote one number.
    pub fn is_conclusive(&self) -> bool {
        self.lanczos.is_none_or(|l| l.conclusive)
    }
}

/// The looseness of the PL chain `μ_cert ≤ μ_tight ≤ ρ` at one `θ`, as a report prints it.
///
/// A ratio with a zero denominator is `+∞` (the lower quantity vanished: for `μ_cert`
/// the certificate is vacuous) and NaN when both are zero. When `μ_tight` is an interval
/// `[mu_tight_lower, mu_tight]` (Lanczos), the ratios are given at both ends.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Looseness {
    /// `ρ = ‖G‖²/L` at the actual targets.
    pub rho: f64,
    /// `μ_tight = (2/N) λ_min(Θ)`, the best PL constant at `θ` (the upper end of its
    /// interval).
    pub mu_tight: f64,
    /// The lower end of `μ_tight`'s interval (`= mu_tight` when exact).
    pub mu_tight_lower: f64,
    /// The certificate `μ_cert` (docs/theory.md §5 item 4).
    pub mu_cert: f64,
    /// `ρ / μ_tight ≥ 1`: how far the actual residual is from the worst direction (at the
    /// upper end of `μ_tight`: the smallest value of the ratio the interval allows).
    pub rho_over_tight: f64,
    /// `ρ / mu_tight_lower`: the largest value of the ratio the interval allows.
    pub rho_over_tight_upper: f64,
    /// `μ_tight / μ_cert ≥ 1`: what the chain of inequalities of §5 items 2–4 loses (at the
    /// upper end of `μ_tight`).
    pub tight_over_cert: f64,
    /// `mu_tight_lower / μ_cert`: the smallest value of the ratio the interval allows.
    pub tight_over_cert_lower: f64,
    /// Whether `μ_tight` met its tolerance ([`TightPl::is_conclusive`]).
    pub conclusive: bool,
    /// Absolute rounding of `μ_tight` ([`TightPl::rounding`]; 0 when not known).
    pub rounding: f64,
}

impl Looseness {
    /// The ratios of `ρ`, an exact `μ_tight` and `μ_cert`.
    ///
    /// ```
    /// use plres_theory::pl::tight::Looseness;
    /// let l = Looseness::new(2.0, 0.5, 0.0);
    /// assert_eq!(l.rho_over_tight, 4.0);
    /// assert!(l.tight_over_cert.is_infinite()); // vacuous certificate
    /// ```
    pub fn new(rho: f64, mu_tight: f64, mu_cert: f64) -> Self {
        Self::with_interval(rho, mu_tight, mu_tight, true, 0.0, mu_cert)
    }

    /// The ratios when `μ_tight ∈ [lower, upper]`, `conclusive` as
    /// [`TightPl::is_conclusive`], `rounding` its absolute rounding.
    pub fn with_interval(
        rho: f64,
        lower: f64,
        upper: f64,
        conclusive: bool,
        rounding: f64,
        mu_cert: f64,
    ) -> Self {
        Self {
            rho,
            mu_tight: upper,
            mu_tight_lower: lower,
            mu_cert,
            rho_over_tight: ratio(rho, upper),
            rho_over_tight_upper: ratio(rho, lower),
            tight_over_cert: ratio(upper, mu_cert),
            tight_over_cert_lower: ratio(lower, mu_cert),
            conclusive,
            rounding,
        }
    }

    /// The ratios at one `θ` from `ρ`, the tight constant and `μ_cert`.
    pub fn of_tight(rho: f64, tight: &TightPl, mu_cert: f64) -> Self {
        Self::with_interval(
            rho,
            tight.mu_tight_lower,
            tight.mu_tight,
            tight.is_conclusive(),
            tight.rounding,
            mu_cert,
        )
    }

    /// The ratios at one `θ` from the certifier's snapshot (`ρ`, and `μ_cert` — the
    /// continuous analogue for a non-Euler snapshot, which has no `μ_tight` here) and the
    /// tight constant.
    pub fn of(snapshot: &PlSnapshot, tight: &TightPl) -> Self {
        Self::of_tight(snapshot.rho, tight, snapshot.mu())
    }
}

/// The check `μ_cert ≤ μ_tight ≤ ρ` at every iterate given (docs/theory.md §5 items 2–4:
/// `‖G‖² = (1/N²)vec(R)ᵀΘ vec(R) ≥ λ_min(Θ)‖R‖²/N²`, so `ρ ≥ μ_tight`; `μ_cert` is a lower
/// bound of `(2/N)λ_min(Θ)` by items 2–4). Measured: the worst over the iterates of
/// `ρ/μ_tight_lower` and `(μ_tight + rounding)/μ_cert` (each side only where its
/// denominator is positive), against 1 with relative tolerance `1e-9` (the rounding of `ρ`
/// and `μ_cert`, `O((N·d_out + p + L) eps)` relative).
///
/// Iterates whose `μ_tight` interval is not conclusive ([`TightPl::is_conclusive`]) are
/// left out: a wide Lanczos interval could hide a broken chain on one side and show a
/// spurious one on the other. The verdict is VACUOUS when no iterate is left ("inconclusive")
/// or when `μ_tight` is 0 to rounding at every iterate (`ρ ≥ 0` says nothing).
///
/// ```
/// use plres_theory::pl::tight::{Looseness, chain_report};
/// assert!(chain_report(&[Looseness::new(3.0, 1.5, 0.5)]).holds());
/// assert!(chain_report(&[Looseness::new(1.0, 1.5, 0.5)]).fails()); // ρ < μ_tight
/// let wide = Looseness::with_interval(3.0, 0.0, 1.5, false, 0.0, 0.5);
/// assert!(chain_report(&[wide]).is_vacuous()); // an inconclusive Lanczos interval
/// ```
pub fn chain_report(loose: &[Looseness]) -> CheckReport {
    let used: Vec<&Looseness> = loose.iter().filter(|l| l.conclusive).collect();
    let worst = used
        .iter()
        .map(|l| {
            let upper = if l.mu_tight_lower > 0.0 {
                l.rho / l.mu_tight_lower
            } else {
                f64::INFINITY
            };
            let lower = if l.mu_cert > 0.0 {
                (l.mu_tight + l.rounding) / l.mu_cert
            } else {
                f64::INFINITY
            };
            upper.min(lower)
        })
        .fold(f64::INFINITY, f64::min);
    let report = CheckReport::new(
        format!(
            "μ_cert ≤ μ_tight ≤ ρ at {} iterates (worst of ρ/μ_tight, μ_tight/μ_cert)",
            used.len()
        ),
        "docs/theory.md §5 items 2–4 (μ_tight = (2/N)λ_min(Θ))",
        worst,
        1.0,
        1e-9,
        Relation::AtLeast,
    );
    if used.is_empty() {
        let widest = loose
            .iter()
            .max_by(|a, b| {
                (a.mu_tight - a.mu_tight_lower).total_cmp(&(b.mu_tight - b.mu_tight_lower))
            })
            .map_or(String::new(), |l| {
                format!(
                    " (widest: μ_tight ∈ [{:.3e}, {:.3e}])",
                    l.mu_tight_lower, l.mu_tight
                )
            });
        return report.vacuous_if(true, || {
            format!(
                "inconclusive: the Lanczos interval of μ_tight did not meet its tolerance at any \
                 of the {} iterates{widest}",
                loose.len()
            )
        });
    }
    report.vacuous_if(
        used.iter().all(|l| l.mu_tight <= l.rounding.max(0.0)),
        || "μ_tight = 0 at every iterate (λ_min(Θ) = 0 to rounding): ρ ≥ 0 says nothing".to_owned(),
    )
}

fn ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 {
        if num == 0.0 { f64::NAN } else { f64::INFINITY }
    } else {
        num / den
    }
}

/// `λ_min(Θ)` (lower triangle read). The one place where the eigenvalue routine is
/// called, so that moving it (e.g. into `plres_kernels::spectral`) is a one-line change.
///
/// # Errors
/// [`TheoryError::NoConvergence`] (non-finite entries or a failed QR iteration).
pub fn theta_lambda_min(theta: MatRef<'_, f64>) -> Result<f64, TheoryError> {
    plres_kernels::spectral::try_lambda_min(theta).map_err(|_| TheoryError::NoConvergence {
        what: "λ_min of the tangent Gram Θ",
    })
}

fn check_dim(n: usize, d_out: usize) -> Result<(), TheoryError> {
    if n == 0 {
        return Err(TheoryError::InvalidParameter {
            name: "n",
            value: 0.0,
            expected: "at least one sample",
        });
    }
    let dim = n * d_out;
    if dim > MAX_DENSE_DIM {
        return Err(TheoryError::TooLarge {
            what: "tangent Gram Θ (N·d_out, dense)",
            size: dim,
            max: MAX_DENSE_DIM,
        });
    }
    Ok(())
}

/// The size check of the factored form: `L·(N·d_out·d + N²) ≤` [`MAX_FACTORED_ENTRIES`].
fn check_factored(n: usize, d: usize, d_out: usize, depth: usize) -> Result<(), TheoryError> {
    if n == 0 {
        return Err(TheoryError::InvalidParameter {
            name: "n",
            value: 0.0,
            expected: "at least one sample",
        });
    }
    let entries = depth.saturating_mul(n.saturating_mul(d_out * d).saturating_add(n * n));
    if entries > MAX_FACTORED_ENTRIES {
        return Err(TheoryError::TooLarge {
            what: "factored tangent Gram Θ (L·(N·d_out·d + N²) doubles, Lanczos)",
            size: entries,
            max: MAX_FACTORED_ENTRIES,
        });
    }
    Ok(())
}

/// The factored `Θ = h Σ_k diag(Ĉ^{k+1}) (K_k ⊗ I_d) diag(Ĉ^{k+1})ᵀ` of the Lanczos solver
/// (module docs, "Lanczos") and its workspace.
#[derive(Debug)]
struct Factored {
    /// `Ĉ^{k+1}` of layer `k` (`N·d_out × d`).
    c: Vec<Mat<f64>>,
    /// `K_k` (`N×N`).
    k: Vec<Mat<f64>>,
    /// `W` (`N×d`): `W_i = Σ_a v_{a·N+i} Ĉ_a[i, :]`.
    w: Mat<f64>,
    /// `S = K_k W` (`N×d`).
    s: Mat<f64>,
    h: f64,
    lanczos: Lanczos,
}

impl Factored {
    /// `tr Θ = h Σ_k Σ_i K_k[i,i] Σ_a ‖Ĉ_a[i,:]‖²`.
    fn trace(&self, n: usize, d_out: usize) -> f64 {
        let mut t = 0.0;
        for (c, kk) in self.c.iter().zip(&self.k) {
            for a in 0..d_out {
                for i in 0..n {
                    let mut s = 0.0;
                    for e in 0..c.ncols() {
                        s += c[(a * n + i, e)] * c[(a * n + i, e)];
                    }
                    t += self.h * kk[(i, i)] * s;
                }
            }
        }
        t
    }
}

/// `out = Θ v` from the factors (module docs, "Lanczos"): per layer two passes over
/// `Ĉ^{k+1}` and one `N×N×d` GEMM; allocation-free.
#[allow(clippy::too_many_arguments)] // the factors and their two scratch matrices, private
fn factored_apply(
    cs: &[Mat<f64>],
    ks: &[Mat<f64>],
    w: &mut Mat<f64>,
    s: &mut Mat<f64>,
    h: f64,
    n: usize,
    d_out: usize,
    v: &[f64],
    out: &mut [f64],
) {
    out.fill(0.0);
    let d = w.ncols();
    for (c, kk) in cs.iter().zip(ks) {
        w.fill(0.0);
        for e in 0..d {
            let cc = c.col(e);
            let mut wc = w.col_mut(e);
            for a in 0..d_out {
                for i in 0..n {
                    wc[i] += v[a * n + i] * cc[a * n + i];
                }
            }
        }
        matmul(
            s.as_mut(),
            Accum::Replace,
            kk.as_ref(),
            w.as_ref(),
            h,
            par_for(n * n * d),
        );
        for e in 0..d {
            let (cc, sc) = (c.col(e), s.col(e));
            for a in 0..d_out {
                for i in 0..n {
                    out[a * n + i] += cc[a * n + i] * sc[i];
                }
            }
        }
    }
}

/// The part shared by the finite- and infinite-width sweeps: `Ĉ`, `Θ` (dense) or its
/// factors (Lanczos), and the `N×N` scratch of the block products.
#[derive(Debug)]
struct ThetaSweep {
    n: usize,
    d_out: usize,
    /// `Ĉ`, `N·d_out × d`: row `a·N + i` is row `a` of `C_i^{k+1} = B J_i^{k+1}`.
    c: Mat<f64>,
    /// `h·Ĉ_a` (vjp cotangent / input), `N × d`.
    hc: Mat<f64>,
    /// Dense `Θ` (`0×0` with the Lanczos solver).
    theta: Mat<f64>,
    s: Mat<f64>,
    factored: Option<Factored>,
}

impl ThetaSweep {
    fn new(
        n: usize,
        d: usize,
        d_out: usize,
        depth: usize,
        solver: TightSolver,
    ) -> Result<Self, TheoryError> {
        let (theta, s, factored) = match solver {
            TightSolver::Dense => {
                check_dim(n, d_out)?;
                (Mat::zeros(n * d_out, n * d_out), Mat::zeros(n, n), None)
            }
            TightSolver::Lanczos(cfg) => {
                check_factored(n, d, d_out, depth)?;
                let f = Factored {
                    c: (0..depth).map(|_| Mat::zeros(n * d_out, d)).collect(),
                    k: (0..depth).map(|_| Mat::zeros(n, n)).collect(),
                    w: Mat::zeros(n, d),
                    s: Mat::zeros(n, d),
                    h: 1.0 / depth.max(1) as f64,
                    lanczos: Lanczos::new(n * d_out, cfg)?,
                };
                (Mat::zeros(0, 0), Mat::zeros(0, 0), Some(f))
            }
        };
        Ok(Self {
            n,
            d_out,
            c: Mat::zeros(n * d_out, d),
            hc: Mat::zeros(n, d),
            theta,
            s,
            factored,
        })
    }

    /// `Θ = 0`, `C_i^L = B` (`None`: identity).
    fn start(&mut self, b: Option<MatRef<'_, f64>>) {
        self.theta.fill(0.0);
        let n = self.n;
        for a in 0..self.d_out {
            for e in 0..self.c.ncols() {
                let v = match b {
                    Some(b) => b[(a, e)],
                    None => f64::from(u8::from(a == e)),
                };
                self.c.as_mut().subrows_mut(a * n, n).col_mut(e).fill(v);
            }
        }
    }

    /// Layer `k` with Gram `K_k` while `Ĉ = Ĉ^{k+1}`: dense, `Θ_{ab} += h K ⊙ (Ĉ_a Ĉ_bᵀ)`
    /// for `a ≥ b` (the lower block triangle; diagonal blocks in full); Lanczos, `Ĉ` and
    /// `K_k` are stored.
    fn add_layer(&mut self, k: usize, gram: MatRef<'_, f64>, h: f64) {
        if let Some(f) = &mut self.factored {
            f.c[k].copy_from(self.c.as_ref());
            f.k[k].copy_from(gram);
            f.h = h;
            return;
        }
        let (n, d) = (self.n, self.c.ncols());
        for a in 0..self.d_out {
            for b in 0..=a {
                matmul(
                    self.s.as_mut(),
                    Accum::Replace,
                    self.c.as_ref().subrows(a * n, n),
                    self.c.as_ref().subrows(b * n, n).transpose(),
                    1.0,
                    par_for(n * n * d),
                );
                let mut blk = self.theta.as_mut().submatrix_mut(a * n, b * n, n, n);
                for j in 0..n {
                    let (kc, sc) = (gram.col(j), self.s.col(j));
                    let mut tc = blk.rb_mut().col_mut(j);
                    for i in 0..n {
                        tc[i] += h * kc[i] * sc[i];
                    }
                }
            }
        }
    }

    /// Dense: mirrors the lower block triangle, computes `λ_min`; Lanczos: the interval.
    fn finish(&mut self, rounding_terms: f64) -> Result<TightPl, TheoryError> {
        let (n, d_out) = (self.n, self.d_out);
        let dim = n * d_out;
        let two_n = 2.0 / n as f64;
        let scale = 4.0 * (dim as f64 + rounding_terms) * f64::EPSILON;
        if let Some(f) = &mut self.factored {
            let trace = f.trace(n, d_out);
            let rounding_lambda = scale * trace;
            let Factored {
                c,
                k,
                w,
                s,
                h,
                lanczos,
            } = f;
            let res = lanczos.bottom(
                |v, out| {
                    factored_apply(c, k, w, s, *h, n, d_out, v, out);
                    Ok(())
                },
                rounding_lambda,
            );
            let b = res?;
            return Ok(TightPl {
                n_samples: n,
                output_dim: d_out,
                lambda_min: b.ritz,
                mu_tight: two_n * b.ritz.max(0.0),
                trace,
                rounding: two_n * rounding_lambda,
                lambda_lower: b.lower,
                lambda_upper: b.upper,
                mu_tight_lower: two_n * b.lower,
                lanczos: Some(b),
            });
        }
        for j in 0..dim {
            for i in 0..j {
                self.theta[(i, j)] = self.theta[(j, i)];
            }
        }
        let lambda_min = theta_lambda_min(self.theta.as_ref())?;
        let trace: f64 = (0..dim).map(|i| self.theta[(i, i)]).sum();
        let mu_tight = two_n * lambda_min.max(0.0);
        Ok(TightPl {
            n_samples: n,
            output_dim: d_out,
            lambda_min,
            mu_tight,
            trace,
            rounding: two_n * scale * trace,
            lambda_lower: lambda_min,
            lambda_upper: lambda_min,
            mu_tight_lower: mu_tight,
            lanczos: None,
        })
    }
}

/// Reusable buffers computing `Θ` and [`TightPl`] of one Euler [`LinearResNet`] shape on
/// `N` samples (module docs).
///
/// ```
/// use std::sync::Arc;
/// use faer::Mat;
/// use plres_kernels::KernelSpec;
/// use plres_resnet::{Init, LinearResNet, LinearResNetConfig, Trainable as _};
/// use plres_rff::{FourierVariant, RandomFourierFeatures};
/// use plres_theory::pl::{LinearCertifier, TightCertifier};
/// use rand::SeedableRng;
///
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let phi = RandomFourierFeatures::sample(
///     &KernelSpec::Gaussian { sigma: 1.0 }, 2, 24, FourierVariant::CosineWithPhase, &mut rng,
/// ).unwrap();
/// let cfg = LinearResNetConfig { depth: 4, init: Init::Normal { std: 0.3, seed: 1 }, ..Default::default() };
/// let net = LinearResNet::new(Arc::new(phi), cfg).unwrap();
/// let x = Mat::from_fn(8, 2, |i, j| if j == 0 { i as f64 } else { (i % 3) as f64 });
/// let y = Mat::from_fn(8, 2, |i, j| ((i + j) as f64).cos());
/// let tight = TightCertifier::new(&net, 8).unwrap().evaluate(&net, net.params(), x.as_ref()).unwrap();
/// let snap = LinearCertifier::new(&net, 8).unwrap()
///     .evaluate(&net, net.params(), x.as_ref(), y.as_ref()).unwrap();
/// // μ_cert ≤ μ_tight ≤ ρ (up to rounding)
/// assert!(snap.mu_cert.unwrap() <= tight.mu_tight + tight.rounding);
/// assert!(tight.mu_tight <= snap.rho + tight.rounding);
/// ```
pub struct TightCertifier {
    n: usize,
    d: usize,
    p: usize,
    depth: usize,
    b: Option<Mat<f64>>,
    a: Option<Mat<f64>>,
    states: Vec<Mat<f64>>,
    phi: Mat<f64>,
    cache: Mat<f64>,
    v: Mat<f64>,
    gram: Mat<f64>,
    sweep: ThetaSweep,
}

impl std::fmt::Debug for TightCertifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_shape(f, "TightCertifier", [self.n, self.d, self.p, self.depth])
            .field("d_out", &self.sweep.d_out)
            .finish_non_exhaustive()
    }
}

impl TightCertifier {
    /// Buffers for `model`'s shape (its output map `B` and input embedding `A` are copied)
    /// and batches of `n` samples, with the solver [`TightSolver::auto`] picks for
    /// `N·d_out` (dense up to [`MAX_DENSE_DIM`], Lanczos beyond).
    ///
    /// # Errors
    /// As [`TightCertifier::with_solver`].
    pub fn new(model: &LinearResNet, n: usize) -> Result<Self, TheoryError> {
        Self::with_solver(model, n, TightSolver::auto(n * model.output_dim()))
    }

    /// As [`TightCertifier::new`] with an explicit solver.
    ///
    /// # Errors
    /// [`TheoryError::InvalidParameter`] for `n = 0` or an invalid [`LanczosConfig`];
    /// [`TheoryError::Unsupported`] for a model that is not forward Euler (module docs,
    /// "Interpolated models"); [`TheoryError::TooLarge`] when `n·d_out >`
    /// [`MAX_DENSE_DIM`] (dense) or the factors exceed [`MAX_FACTORED_ENTRIES`] (Lanczos).
    pub fn with_solver(
        model: &LinearResNet,
        n: usize,
        solver: TightSolver,
    ) -> Result<Self, TheoryError> {
        if model.integrator() != Integrator::Euler {
            return Err(TheoryError::Unsupported {
                what: "tight PL constant of an interpolated (midpoint/Heun/RK4) LinearResNet",
                reason: "its tangent Gram couples the Runge–Kutta stages; only forward Euler is implemented",
            });
        }
        let (d, p, depth, d_out) = (
            model.dim(),
            model.width(),
            model.depth(),
            model.output_dim(),
        );
        let sweep = ThetaSweep::new(n, d, d_out, depth, solver)?;
        let maps = model.maps();
        Ok(Self {
            n,
            d,
            p,
            depth,
            b: maps.embed_out.clone(),
            a: maps.embed_in.clone(),
            states: (0..=depth).map(|_| Mat::zeros(n, d)).collect(),
            phi: Mat::zeros(n, p),
            cache: Mat::zeros(n, model.features().cache_dim()),
            v: Mat::zeros(n, p),
            gram: Mat::zeros(n, n),
            sweep,
        })
    }

    /// `Θ` of the last [`TightCertifier::evaluate`] (full symmetric, index `a·N + i`);
    /// `0×0` with the Lanczos solver, which never forms it.
    pub fn theta(&self) -> MatRef<'_, f64> {
        self.sweep.theta.as_ref()
    }

    /// `Θ` and `μ_tight` at `params` (layout of [`LinearResNet::params`]) on the inputs `x`
    /// (`N×d_in`). The targets do not enter.
    ///
    /// # Errors
    /// [`TheoryError::Shape`] when `x` is not `N×d_in`; [`TheoryError::NonFinite`] for a
    /// non-finite input or parameter; [`TheoryError::NoConvergence`].
    ///
    /// # Panics
    /// If `model` does not have the shape the certifier was made for.
    pub fn evaluate(
        &mut self,
        model: &LinearResNet,
        params: &[f64],
        x: MatRef<'_, f64>,
    ) -> Result<TightPl, TheoryError> {
        let (n, d, p, depth) = (self.n, self.d, self.p, self.depth);
        assert!(
            model.dim() == d
                && model.width() == p
                && model.depth() == depth
                && model.integrator() == Integrator::Euler
                && model.output_dim() == self.sweep.d_out,
            "TightCertifier made for d={d}, p={p}, L={depth}, d_out={}, Euler; model has d={}, p={}, L={}, d_out={}, {:?}",
            self.sweep.d_out,
            model.dim(),
            model.width(),
            model.depth(),
            model.output_dim(),
            model.integrator()
        );
        check_x(x, n, model.input_dim())?;
        if params.len() != depth * d * p {
            return Err(TheoryError::Shape {
                what: "parameters (L·d·p)",
                expected: depth * d * p,
                got: params.len(),
            });
        }
        if let Some(i) = params.iter().position(|v| !v.is_finite()) {
            return Err(TheoryError::NonFinite {
                what: "parameter",
                index: i,
                value: params[i],
            });
        }
        for j in 0..x.ncols() {
            for i in 0..n {
                if !x[(i, j)].is_finite() {
                    return Err(TheoryError::NonFinite {
                        what: "input X (row-major index)",
                        index: i * x.ncols() + j,
                        value: x[(i, j)],
                    });
                }
            }
        }
        let h = 1.0 / depth as f64;
        let features = model.features().as_ref();
        // U_kᵀ (p×d) is the column-major view of slice k of the row-major [L, d, p] layout
        let ut =
            |k: usize| MatRef::from_column_major_slice(&params[k * d * p..(k + 1) * d * p], p, d);
        // forward: X^0 = X Aᵀ, X^{k+1} = X^k + h Φ_k U_kᵀ
        match &self.a {
            None => self.states[0].copy_from(x),
            Some(a) => matmul(
                self.states[0].as_mut(),
                Accum::Replace,
                x,
                a.transpose(),
                1.0,
                Par::Seq,
            ),
        }
        for k in 0..depth {
            let (head, tail) = self.states.split_at_mut(k + 1);
            features.apply_in_place(head[k].as_ref(), self.phi.as_mut());
            tail[0].copy_from(head[k].as_ref());
            matmul(
                tail[0].as_mut(),
                Accum::Add,
                self.phi.as_ref(),
                ut(k),
                h,
                par_for(n * p * d),
            );
        }
        // backward sweep over the layers
        self.sweep.start(self.b.as_ref().map(|b| b.as_ref()));
        for k in (0..depth).rev() {
            features.apply_with_cache(
                self.states[k].as_ref(),
                self.phi.as_mut(),
                self.cache.as_mut(),
            );
            gram_in_place(self.phi.as_ref(), self.gram.as_mut(), par_for(n * n * p));
            self.sweep.add_layer(k, self.gram.as_ref(), h);
            if k > 0 {
                // Ĉ_a ← Ĉ_a + vjp(h Ĉ_a U_k): row i gains h C_i[a,:] U_k Dφ(x_i^k)
                for a in 0..self.sweep.d_out {
                    let mut ca: MatMut<'_, f64> = self.sweep.c.as_mut().subrows_mut(a * n, n);
                    matmul(
                        self.v.as_mut(),
                        Accum::Replace,
                        ca.rb(),
                        ut(k).transpose(),
                        h,
                        par_for(n * p * d),
                    );
                    features.vjp_in_place(
                        self.cache.as_ref(),
                        self.v.as_mut(),
                        ca.rb_mut(),
                        Accum::Add,
                    );
                }
            }
        }
        self.sweep.finish((depth * (p + d) + n) as f64)
    }
}

/// `Θ` and `μ_tight` of the infinite-width [`KernelResNet`] at its current `θ` on the inputs
/// `x` (the exact kernel `k` in place of `k_p`; output map from the network's
/// [`maps`](KernelResNet::maps)). Returns `Θ` (full symmetric, index `a·N + i`) with the
/// result. Allocates its buffers (one evaluation).
///
/// # Errors
/// The model's data errors as [`TheoryError::Model`]; [`TheoryError::TooLarge`] when
/// `N·d_out >` [`MAX_DENSE_DIM`]; [`TheoryError::InvalidParameter`] for `N = 0`;
/// [`TheoryError::NoConvergence`].
pub fn kernel_tight(
    net: &KernelResNet,
    x: MatRef<'_, f64>,
) -> Result<(TightPl, Mat<f64>), TheoryError> {
    let (n, d, depth, d_out) = (x.nrows(), net.dim(), net.depth(), net.output_dim());
    let mut sweep = ThetaSweep::new(n, d, d_out, depth, TightSolver::Dense)?;
    let traj = net.forward_trajectory(x).map_err(model_err)?;
    let h = 1.0 / depth as f64;
    let kernel = net.kernel();
    let mut gram = Mat::<f64>::zeros(n, n);
    let mut ews = ExpansionWorkspace::new();
    sweep.start(net.maps().embed_out.as_ref().map(|b| b.as_ref()));
    for k in (0..depth).rev() {
        let xk = traj.states[k].as_ref();
        kernel.gram_in_place(xk, gram.as_mut());
        sweep.add_layer(k, gram.as_ref(), h);
        let layer = &net.layers()[k];
        if k > 0 && layer.n_centres() > 0 {
            // row i of Ĉ_a gains h C_i[a,:] Dθ_k(x_i^k) = (Dθ_k(x_i^k)ᵀ (h C_i[a,:]ᵀ))ᵀ
            for a in 0..d_out {
                let mut ca = sweep.c.as_mut().subrows_mut(a * n, n);
                for e in 0..d {
                    for i in 0..n {
                        sweep.hc[(i, e)] = h * ca[(i, e)];
                    }
                }
                layer.vjp_in_place_with(xk, sweep.hc.as_ref(), ca.rb_mut(), Accum::Add, &mut ews);
            }
        }
    }
    let tight = sweep.finish((depth * d + n) as f64)?;
    Ok((tight, sweep.theta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_and_limits() {
        let l = Looseness::new(3.0, 1.5, 0.5);
        assert_eq!((l.rho_over_tight, l.tight_over_cert), (2.0, 3.0));
        assert!(Looseness::new(0.0, 0.0, 0.0).rho_over_tight.is_nan());
        assert_eq!(ratio(1.0, 0.0), f64::INFINITY);
    }

    #[test]
    fn size_limit_is_a_typed_error() {
        assert!(matches!(
            check_dim(MAX_DENSE_DIM + 1, 1),
            Err(TheoryError::TooLarge { size, max, .. }) if size == MAX_DENSE_DIM + 1 && max == MAX_DENSE_DIM
        ));
        assert!(check_dim(MAX_DENSE_DIM / 2, 2).is_ok());
        assert!(check_dim(0, 2).is_err());
    }
}
