//! [`PlSnapshot`]: everything docs/theory.md §5 says about one parameter `θ`, and its checks.

use serde::{Deserialize, Serialize};

use crate::report::{CheckReport, Relation};

/// Whether the certificate of a snapshot is a theorem or an approximation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateKind {
    /// Forward Euler (the ResNet, or the kernel ResNet): `ρ ≥ μ_cert` is a theorem at
    /// every `θ` (§5 item 4); a violation beyond rounding is a bug.
    Exact,
    /// Midpoint / Heun / RK4: the continuous analogue (§5 item 5) on the computed
    /// trajectory, an approximation of order `h` of the flow's certificate — not a bound
    /// on this discrete model's `ρ`.
    ApproximateOrderH,
}

/// The quantities of docs/theory.md §5 at one parameter `θ` of a ResNet with squared loss.
///
/// For Euler models `lambda`, `a` are per layer `k = 0..L−1` (states `X^k`, slices
/// `U_k`); for the interpolated integrators they are per node `s_k = kh`, `k = 0..=L`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlSnapshot {
    /// The certificate's status.
    pub kind: CertificateKind,
    /// Number of samples `N`.
    pub n_samples: usize,
    /// Depth `L` (`h = 1/L`).
    pub depth: usize,
    /// Width `p` of the features (`None` for the exact kernel).
    pub width: Option<usize>,
    /// `L(θ)`.
    pub loss: f64,
    /// `‖G‖²` in the parameter metric (from the model's exact gradient).
    pub grad_norm_sq: f64,
    /// `ρ = ‖G‖²/L` (`+∞` at `L = 0` with `G = 0` is avoided: NaN then).
    pub rho: f64,
    /// `λ_k = λ_min` of the kernel Gram at the states of layer/node `k` (for finite-width
    /// certifiers with `N > 64`, a certified lower bound within `1e-10` relative in the
    /// usual case — see [`plres_kernels::spectral::CertifiedLambdaMin`]).
    pub lambda: Vec<f64>,
    /// `a_k = max_i ‖Df_k(x_i^k)‖_op`.
    pub a: Vec<f64>,
    /// `σ_min(Bᵀ)²` (1 for `B = I`).
    pub sigma_b_sq: f64,
    /// Euler: `‖P^{k+1}‖²_F` per layer `k` (empty otherwise).
    pub adjoint_norm_sq: Vec<f64>,
    /// Euler: `‖P^L‖²_F`; NaN otherwise.
    pub terminal_adjoint_sq: f64,
    /// Euler: the right side of the exact identity (item 1),
    /// `h Σ_k Σ_{ij} ⟨p_i^{k+1}, p_j^{k+1}⟩ k(x_i^k, x_j^k)`.
    pub identity: Option<f64>,
    /// Euler: the kernel bound (item 2), `h Σ_k λ_k ‖P^{k+1}‖²_F`.
    pub kernel_bound: Option<f64>,
    /// Rounding scale of items 1–2: `S = h Σ_k (Σ_i ‖p_i^{k+1}‖ ‖φ(x_i^k)‖)²` (an upper
    /// bound of every term either side sums), and the inner dimension `n_inner` of those
    /// sums; their absolute rounding is `≤ 4 n_inner eps S` (NaN/0 when not Euler).
    pub rounding_scale: f64,
    /// Inner dimension of the rounding bound (`2N + p d + d` for features, `2N + d` for
    /// the exact kernel).
    pub n_inner: usize,
    /// Eigenvalue rounding scale `h Σ_k tr(K_k) ‖P^{k+1}‖²_F` (item 2's `λ_k` carry an
    /// absolute error `≲ N eps tr(K_k)`).
    pub eig_scale: f64,
    /// Euler: the discrete certificate `μ_cert` (item 4).
    pub mu_cert: Option<f64>,
    /// The continuous analogue (item 5): cell-wise for Euler, trapezoid on nodes
    /// otherwise.
    pub mu_continuous: f64,
}

impl PlSnapshot {
    /// The certificate to compare `ρ` with: `μ_cert` when exact, else the continuous
    /// analogue.
    pub fn mu(&self) -> f64 {
        self.mu_cert.unwrap_or(self.mu_continuous)
    }

    /// `min_k λ_k`.
    pub fn lambda_min(&self) -> f64 {
        self.lambda.iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// `max_k a_k`.
    pub fn a_max(&self) -> f64 {
        self.a.iter().copied().fold(0.0, f64::max)
    }

    /// Step `h = 1/L`.
    pub fn step(&self) -> f64 {
        1.0 / self.depth as f64
    }

    /// Whether `ρ < μ·(1 − rel_tol)` — a violation of the PL certificate (meaningful for
    /// [`CertificateKind::Exact`]; for the approximate kind this only flags `ρ` below the
    /// continuous analogue).
    pub fn violates(&self, rel_tol: f64) -> bool {
        // NaN ρ or μ counts as a violation
        self.rho.is_nan() || self.mu().is_nan() || self.rho < self.mu() * (1.0 - rel_tol)
    }

    /// The checks of docs/theory.md §5 at this `θ`.
    ///
    /// Exact kind: item 1 (identity, `|‖G‖² − identity| ≤ 4 n_inner eps S`), item 2
    /// (`‖G‖² ≥ h Σ λ_k ‖P^{k+1}‖²` within the same rounding plus `4 N eps h Σ tr(K_k)
    /// ‖P^{k+1}‖²` for the eigenvalues), item 3 (`‖P^{k+1}‖_F ≥ Π_{j>k}(1 − h a_j)₊
    /// ‖P^L‖_F` for every `k`, relative tolerance `4 L (n_inner) eps`), item 4 terminal
    /// (`‖P^L‖² ≥ σ_B² (2/N) L`, relative `4 d_out eps` — `d_out ≤ n_inner`) and item 4
    /// (`ρ ≥ μ_cert`, relative tolerance 1e-9 as the monitor uses; the rounding of `ρ`
    /// and `μ_cert` is `O((N + p + L) eps)`, orders of magnitude smaller; vacuous when
    /// `μ_cert = 0`).
    /// Approximate kind: `ρ ≥ μ_cont` with the `O(h)` allowance `h·μ_cont` (constant 1,
    /// a convention, not a theorem).
    pub fn reports(&self) -> Vec<CheckReport> {
        let eps = f64::EPSILON;
        let h = self.step();
        let mut out = Vec::new();
        match self.kind {
            CertificateKind::Exact => {
                let tol1 = 4.0 * self.n_inner as f64 * eps * self.rounding_scale;
                if let Some(id) = self.identity {
                    out.push(CheckReport::new(
                        "exact identity ‖G‖² = h Σ_k Σ_ij ⟨p_i^{k+1}, p_j^{k+1}⟩ k(x_i^k, x_j^k)",
                        "docs/theory.md §5 item 1",
                        self.grad_norm_sq,
                        id,
                        tol1,
                        Relation::Within,
                    ));
                }
                if let Some(kb) = self.kernel_bound {
                    let tol2 = tol1 + 4.0 * self.n_samples as f64 * eps * self.eig_scale;
                    out.push(CheckReport::new(
                        "kernel bound ‖G‖² ≥ h Σ_k λ_k ‖P^{k+1}‖²_F",
                        "docs/theory.md §5 item 2",
                        self.grad_norm_sq,
                        kb,
                        tol2,
                        Relation::AtLeast,
                    ));
                }
                if !self.adjoint_norm_sq.is_empty() && self.terminal_adjoint_sq > 0.0 {
                    // min_k ‖P^{k+1}‖_F / (Π_{j>k}(1 − h a_j)₊ ‖P^L‖_F) ≥ 1
                    let pl = self.terminal_adjoint_sq.sqrt();
                    let mut prod = 1.0;
                    let mut worst = f64::INFINITY;
                    for k in (0..self.adjoint_norm_sq.len()).rev() {
                        let lower = prod * pl;
                        if lower > 0.0 {
                            worst = worst.min(self.adjoint_norm_sq[k].sqrt() / lower);
                        }
                        prod *= (1.0 - h * self.a[k]).max(0.0);
                    }
                    out.push(CheckReport::new(
                        "adjoint bound ‖P^{k+1}‖_F ≥ Π_{j>k}(1 − h a_j)₊ ‖P^L‖_F (worst ratio)",
                        "docs/theory.md §5 item 3",
                        worst,
                        1.0,
                        4.0 * self.depth as f64 * self.n_inner as f64 * eps,
                        Relation::AtLeast,
                    ));
                    let lhs = self.terminal_adjoint_sq;
                    let rhs = self.sigma_b_sq * 2.0 / self.n_samples as f64 * self.loss;
                    out.push(CheckReport::new(
                        "terminal adjoint ‖P^L‖²_F ≥ σ_min(Bᵀ)² (2/N) L",
                        "docs/theory.md §5 item 4",
                        lhs,
                        rhs,
                        4.0 * self.n_inner as f64 * eps * rhs,
                        Relation::AtLeast,
                    ));
                }
                if let Some(mu) = self.mu_cert {
                    out.push(
                        CheckReport::new(
                            "PL certificate ρ = ‖G‖²/L ≥ μ_cert",
                            "docs/theory.md §5 item 4",
                            self.rho,
                            mu,
                            1e-9 * mu,
                            Relation::AtLeast,
                        )
                        .vacuous_if(mu <= 0.0, || {
                            "μ_cert = 0 (some λ_k = 0: p < N or samples not separated by the \
                         features): ρ ≥ 0 says nothing"
                                .to_owned()
                        }),
                    );
                }
            }
            CertificateKind::ApproximateOrderH => {
                out.push(CheckReport::new(
                    "ρ ≥ continuous analogue μ (O(h) approximation, allowance h·μ)",
                    "docs/theory.md §5 item 5",
                    self.rho,
                    self.mu_continuous,
                    h * self.mu_continuous,
                    Relation::AtLeast,
                ));
            }
        }
        out
    }
}
