//! The a-priori certificate on a ball `‖θ‖ ≤ R` (docs/theory.md §5, "A-priori bound"), before
//! any training, from the separation `δ₀ = min_{i≠j} ‖x_i − x_j‖` of the inputs.
//!
//! ## Admissibility constant
//! For a kernel `k` and `θ ∈ H` (vector fields with matrix kernel `k I_d`),
//! `‖Dθ(x)‖_op ≤ κ ‖θ‖_H` with
//! `κ = sup_x ‖∂_x ∂_yᵀ k(x, y)|_{y=x}‖_op^{1/2}` (reproducing property of derivatives:
//! `∂_v θ(x)·u = ⟨θ, ∂_{y,v} k(·, x) u⟩_H`, Cauchy–Schwarz). For a stationary kernel
//! `k(x,y) = ψ(‖x − y‖)`, `∂_x∂_yᵀ k|_{y=x} = −ψ''(0) I`, so `κ = √(−ψ''(0))`:
//!
//! | kernel | `ψ(r)` near 0 | `κ` |
//! |---|---|---|
//! | Gaussian `e^{−r²/(2σ²)}` | `1 − r²/(2σ²)` | `1/σ` |
//! | Matérn 3/2 `(1 + √3r/ℓ)e^{−√3r/ℓ}` | `1 − 3r²/(2ℓ²) + O(r³)` | `√3/ℓ` |
//! | Matérn 5/2 `(1 + √5r/ℓ + 5r²/(3ℓ²))e^{−√5r/ℓ}` | `1 − 5r²/(6ℓ²) + O(r⁴)` | `√(5/3)/ℓ` |
//! | inverse multiquadric `(1 + r²/c²)^{−1/2}` | `1 − r²/(2c²)` | `1/c` |
//! | Laplace `e^{−r/ℓ}` | `1 − r/ℓ` (not C²) | none: RKHS functions need not be C¹ |
//! | linear `x·y` | `∂_x∂_yᵀ k = I` | `1` (`θ(x) = Ax`, `‖A‖_op ≤ ‖A‖_F`) |
//! | arc-cosine 1 | `E[2·1{w·x̃>0} w_{1:d} w_{1:d}ᵀ] = I` | `1` |
//!
//! (Arc-cosine: `k = E[2 relu(w·x̃) relu(w·ỹ)]`, `w ~ N(0, I_{d+1})`; `w ↦ −w` symmetry
//! makes the indicator average to ½ against the even `wwᵀ`.) The arc-cosine and linear
//! kernels are not radially decreasing, so the Gershgorin step below does not apply to
//! them.
//!
//! ## The bound
//! Continuous flow (docs/theory.md §5): `Lip(θ_s) ≤ κ‖θ_s‖_H`, so pairwise distances shrink at
//! most by `e^{−κ∫‖θ_s‖} ≥ e^{−κR}`: `δ(s) ≥ δ₀e^{−κR}`; Gershgorin on the Gram of a
//! radially non-increasing kernel with `ψ(0) = 1`:
//! `λ(s) ≥ 1 − (N−1) ψ(δ(s)) =: λ_*`; and `a(s) ≤ κ‖θ_s‖` gives
//! `μ ≥ (2/N) σ_B² λ_* e^{−2κR}` (Gaussian: `κ = 1/σ`, `ψ(δ) = e^{−δ²/(2σ²)}`).
//!
//! Discrete Euler ResNet with `L` layers (`h = 1/L`, `‖θ‖² = h Σ_k ‖θ_k‖²`): each layer
//! contracts distances and adjoints by at most `(1 − c_k)₊` with `c_k = hκ‖θ_k‖_H`, where
//! `Σ_k c_k ≤ κR` (Cauchy–Schwarz, `hL = 1`) and `c_k ≤ κR√h`. The smallest product
//! `Π_k (1 − c_k)` under these constraints (a concave sum of logs is minimised at a
//! vertex of the polytope) is
//! `D_L = (1 − κR√h)^m (1 − (κR − mκR√h))`, `m = ⌊1/√h⌋ = ⌊√L⌋`, and 0 when
//! `κR√h ≥ 1`. Then `δ^k ≥ δ₀ D_L`, `λ_k ≥ λ_*` and `μ_cert ≥ (2/N) σ_B² λ_* D_L²`.
//! `D_L ≤ e^{−κR}` and `D_L → e^{−κR}` as `L → ∞`: the discrete bound is the continuous
//! one made honest for finite depth — it is the one the discrete certificate must
//! dominate.
//!
//! ## Finite width (features `φ`, `θ_k = U_kφ`, `‖θ_k‖ = ‖U_k‖_F`)
//! The same argument with the features' admissibility bound `κ_p = √(2/p)‖W‖_op`
//! ([`crate::expressivity::feature_admissibility_bound`]) gives the contraction factor
//! `D_L(κ_pR)` for separations and adjoints. The Gram is not controlled by separation
//! (the features are random), so it is controlled by perturbation instead: each state
//! drifts by `‖x_i^k − x_i^0‖ ≤ ε_i` with the discrete Grönwall bound
//! `ε_i = ‖φ(x_i^0)‖ (e^{κ_pR} − 1)/κ_p` (from `e_{k+1} ≤ e_k + h‖U_k‖_F(‖φ(x_i^0)‖ +
//! κ_p e_k)`), and for bounded features (`‖φ‖ ≤ √2` for Fourier features)
//! `ε_i ≤ √2 R`; then `‖Φ^k − Φ^0‖_F ≤ κ_p E`, `E = (Σ_i ε_i²)^{1/2}`, and
//! `λ_k ≥ (√λ_min(Φ^0Φ^0ᵀ) − κ_p E)₊² =: λ_R`, so `μ_cert ≥ (2/N) σ_B² λ_R D_L(κ_pR)²` on
//! the ball (Euler models).

use plres_kernels::KernelSpec;
use serde::{Deserialize, Serialize};

use faer::{Mat, MatRef, Par};
use plres_resnet::Model as _;
use plres_resnet::{Integrator, LinearResNet};
use plres_rff::FeatureSpec;

use crate::error::TheoryError;
use crate::linalg::gram_in_place;
use plres_kernels::spectral::SymEigen;

/// The admissibility constant `κ` of a kernel (`‖Dθ(x)‖_op ≤ κ‖θ‖_H`), see the table in
/// the module docs.
///
/// # Errors
/// [`TheoryError::NoAdmissibilityConstant`] for the Laplace kernel;
/// [`TheoryError::InvalidParameter`] for a non-positive or non-finite kernel parameter.
pub fn admissibility_constant(kernel: &KernelSpec) -> Result<f64, TheoryError> {
    match *kernel {
        KernelSpec::Gaussian { sigma } => Ok(1.0 / positive_param(sigma, "sigma")?),
        KernelSpec::Matern32 { lengthscale } => {
            Ok(3f64.sqrt() / positive_param(lengthscale, "lengthscale")?)
        }
        KernelSpec::Matern52 { lengthscale } => {
            Ok((5.0f64 / 3.0).sqrt() / positive_param(lengthscale, "lengthscale")?)
        }
        KernelSpec::InverseMultiquadric { c } => Ok(1.0 / positive_param(c, "c")?),
        KernelSpec::Linear | KernelSpec::ArcCosine1 => Ok(1.0),
        KernelSpec::Laplace { .. } => Err(TheoryError::NoAdmissibilityConstant {
            kernel: kernel.kind(),
        }),
    }
}

/// A kernel parameter (bandwidth, length-scale, `c`): finite and positive.
fn positive_param(v: f64, name: &'static str) -> Result<f64, TheoryError> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(TheoryError::InvalidParameter {
            name,
            value: v,
            expected: "a finite positive kernel parameter",
        })
    }
}

/// The radial profile `ψ(r)` (`k(x, y) = ψ(‖x − y‖)`, `ψ(0) = 1`, non-increasing in
/// `r ≥ 0`) of a stationary radial kernel: the off-diagonal bound of Gershgorin by
/// separation.
///
/// # Errors
/// [`TheoryError::NotRadial`] for the linear and arc-cosine kernels;
/// [`TheoryError::InvalidParameter`] for a bad parameter or `r < 0`.
pub fn radial_profile(kernel: &KernelSpec, r: f64) -> Result<f64, TheoryError> {
    if r.is_nan() || r < 0.0 {
        return Err(TheoryError::InvalidParameter {
            name: "r",
            value: r,
            expected: "a distance r ≥ 0",
        });
    }
    Ok(match *kernel {
        KernelSpec::Gaussian { sigma } => {
            let s = positive_param(sigma, "sigma")?;
            (-r * r / (2.0 * s * s)).exp()
        }
        KernelSpec::Laplace { lengthscale } => {
            (-r / positive_param(lengthscale, "lengthscale")?).exp()
        }
        KernelSpec::Matern32 { lengthscale } => {
            let a = 3f64.sqrt() * r / positive_param(lengthscale, "lengthscale")?;
            (1.0 + a) * (-a).exp()
        }
        KernelSpec::Matern52 { lengthscale } => {
            let a = 5f64.sqrt() * r / positive_param(lengthscale, "lengthscale")?;
            (1.0 + a + a * a / 3.0) * (-a).exp()
        }
        KernelSpec::InverseMultiquadric { c } => {
            let c = positive_param(c, "c")?;
            1.0 / (1.0 + r * r / (c * c)).sqrt()
        }
        KernelSpec::Linear | KernelSpec::ArcCosine1 => {
            return Err(TheoryError::NotRadial {
                kernel: kernel.kind(),
            });
        }
    })
}

/// Depth of the model the a-priori bound is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Depth {
    /// The continuous flow (neural ODE): contraction factor `e^{−κR}`.
    Continuous,
    /// The Euler ResNet with this many layers: contraction factor `D_L` (module docs).
    Euler(usize),
}

/// The inputs of the a-priori bound.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AprioriInput {
    /// The kernel (must be radial with an admissibility constant).
    pub kernel: KernelSpec,
    /// Number of samples `N ≥ 1`.
    pub n_samples: usize,
    /// Minimum pairwise separation `δ₀ > 0` of the inputs.
    pub delta0: f64,
    /// Radius `R ≥ 0` of the ball in the `L²([0,1]; H)` metric.
    pub radius: f64,
    /// Continuous flow or Euler ResNet of a given depth.
    pub depth: Depth,
    /// `σ_min(Bᵀ)²` of the output map (1 for `B = I`).
    pub sigma_b_sq: f64,
}

/// The a-priori bound and its intermediate quantities.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AprioriBound {
    /// The admissibility constant `κ`.
    pub kappa: f64,
    /// The worst-case contraction factor (`e^{−κR}` or `D_L`).
    pub contraction: f64,
    /// The guaranteed separation `δ₀ · contraction` along the flow.
    pub delta_min: f64,
    /// The Gershgorin bound `λ_* = 1 − (N−1) ψ(δ_min)` (may be negative).
    pub lambda_star: f64,
    /// The guaranteed PL constant `(2/N) σ_B² max(λ_*, 0) contraction²` on the ball.
    pub mu: f64,
    /// The expressivity condition `λ_* > 0` (then `μ > 0`).
    pub expressive: bool,
}

/// The worst-case contraction factor over `‖θ‖ ≤ R` (module docs): `e^{−κR}` for the
/// flow, `D_L` for `L` Euler layers.
pub fn contraction_factor(kappa_r: f64, depth: Depth) -> f64 {
    match depth {
        Depth::Continuous => (-kappa_r).exp(),
        Depth::Euler(l) => {
            let l = l.max(1);
            let cmax = kappa_r / (l as f64).sqrt(); // κR√h
            if cmax >= 1.0 {
                return 0.0;
            }
            if cmax == 0.0 {
                return 1.0;
            }
            // m = ⌊√L⌋ ≤ L layers at c_max, the remainder κR(1 − m/√L) < c_max on one more
            let m = l.isqrt();
            let rem = (kappa_r * (1.0 - m as f64 / (l as f64).sqrt())).max(0.0);
            (1.0 - cmax).powi(m as i32) * (1.0 - rem)
        }
    }
}

/// The a-priori PL constant on the ball `‖θ‖ ≤ R` (docs/theory.md §5; module docs).
///
/// # Errors
/// [`TheoryError::NoAdmissibilityConstant`], [`TheoryError::NotRadial`] for kernels the
/// argument does not cover; [`TheoryError::InvalidParameter`] for `N = 0`, `δ₀ ≤ 0`,
/// `R < 0`, `σ_B² < 0` or non-finite values.
///
/// ```
/// use plres_theory::pl::apriori::{apriori_bound, AprioriInput, Depth};
/// use plres_kernels::KernelSpec;
/// let b = apriori_bound(&AprioriInput {
///     kernel: KernelSpec::Gaussian { sigma: 1.0 },
///     n_samples: 10, delta0: 6.0, radius: 0.1, depth: Depth::Continuous, sigma_b_sq: 1.0,
/// }).unwrap();
/// let lam = 1.0 - 9.0 * (-(6.0f64 * (-0.1f64).exp()).powi(2) / 2.0).exp();
/// assert!((b.lambda_star - lam).abs() < 1e-15);
/// assert!((b.mu - 0.2 * lam * (-0.2f64).exp()).abs() < 1e-15);
/// ```
pub fn apriori_bound(input: &AprioriInput) -> Result<AprioriBound, TheoryError> {
    let AprioriInput {
        kernel,
        n_samples,
        delta0,
        radius,
        depth,
        sigma_b_sq,
    } = *input;
    if n_samples == 0 {
        return Err(TheoryError::InvalidParameter {
            name: "n_samples",
            value: 0.0,
            expected: "N ≥ 1",
        });
    }
    if !(delta0.is_finite() && delta0 > 0.0) {
        return Err(TheoryError::InvalidParameter {
            name: "delta0",
            value: delta0,
            expected: "a finite separation δ₀ > 0",
        });
    }
    check_radius(radius)?;
    if !(sigma_b_sq.is_finite() && sigma_b_sq >= 0.0) {
        return Err(TheoryError::InvalidParameter {
            name: "sigma_b_sq",
            value: sigma_b_sq,
            expected: "σ_min(Bᵀ)² ≥ 0",
        });
    }
    if let Depth::Euler(0) = depth {
        return Err(TheoryError::InvalidParameter {
            name: "depth",
            value: 0.0,
            expected: "at least one layer",
        });
    }
    let kappa = admissibility_constant(&kernel)?;
    let contraction = contraction_factor(kappa * radius, depth);
    let delta_min = delta0 * contraction;
    let lambda_star = 1.0 - (n_samples as f64 - 1.0) * radial_profile(&kernel, delta_min)?;
    let mu = 2.0 / n_samples as f64 * sigma_b_sq * lambda_star.max(0.0) * contraction * contraction;
    Ok(AprioriBound {
        kappa,
        contraction,
        delta_min,
        lambda_star,
        mu,
        expressive: lambda_star > 0.0,
    })
}

/// Both bounds hold on a ball: its radius must be finite and `R ≥ 0`.
fn check_radius(radius: f64) -> Result<(), TheoryError> {
    if !(radius.is_finite() && radius >= 0.0) {
        return Err(TheoryError::InvalidParameter {
            name: "radius",
            value: radius,
            expected: "a finite radius R ≥ 0",
        });
    }
    Ok(())
}

/// The finite-width a-priori bound of a [`LinearResNet`] (Euler) on the ball
/// `‖θ‖ ≤ R` (module docs, "Finite width").
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureAprioriBound {
    /// `κ_p = √(2/p)‖W‖_op`.
    pub kappa: f64,
    /// `λ_min(Φ^0Φ^0ᵀ)` at the (embedded) inputs.
    pub lambda0: f64,
    /// `E = (Σ_i ε_i²)^{1/2}`, the worst drift of the states.
    pub drift: f64,
    /// `λ_R = (√λ₀ − κ_p E)₊²`, a lower bound of every `λ_k` on the ball.
    pub lambda_star: f64,
    /// `D_L(κ_pR)`.
    pub contraction: f64,
    /// `(2/N) σ_B² λ_R D_L²`, a lower bound of `μ_cert` on the ball.
    pub mu: f64,
}

/// The finite-width a-priori bound (module docs) for `model`'s features, depth and
/// output map at the inputs `x`, on the ball of radius `radius` (model metric).
///
/// # Errors
/// [`TheoryError::InvalidParameter`] for a non-Euler model or a bad radius;
/// [`TheoryError::Model`] for bad data; [`TheoryError::NoConvergence`],
/// [`TheoryError::Spectral`].
pub fn apriori_bound_features(
    model: &LinearResNet,
    x: MatRef<'_, f64>,
    radius: f64,
) -> Result<FeatureAprioriBound, TheoryError> {
    if model.integrator() != Integrator::Euler {
        return Err(TheoryError::InvalidParameter {
            name: "integrator",
            value: f64::NAN,
            expected: "the Euler ResNet (the contraction argument covers its layer map)",
        });
    }
    check_radius(radius)?;
    // X^0 = A x: the first state of a forward pass (θ does not enter X^0)
    let x0 = model
        .forward_trajectory(x)
        .map_err(crate::pl::linear::model_err)?
        .states
        .swap_remove(0);
    let n = x0.nrows();
    let features = model.features().as_ref();
    let phi: Mat<f64> = features.apply(x0.as_ref());
    let mut gram = Mat::<f64>::zeros(n, n);
    gram_in_place(phi.as_ref(), gram.as_mut(), Par::Seq);
    let lambda0 = SymEigen::new(n, Par::Seq)
        .lambda_min(gram.as_ref())?
        .max(0.0);
    let kappa = crate::expressivity::feature_admissibility_bound(features)?;
    let bounded = matches!(features.spec(), FeatureSpec::Fourier { .. });
    let growth = if kappa > 0.0 {
        (kappa * radius).exp_m1() / kappa
    } else {
        radius
    };
    let mut e2 = 0.0;
    for i in 0..n {
        let phi_norm = (0..phi.ncols())
            .map(|j| phi[(i, j)] * phi[(i, j)])
            .sum::<f64>()
            .sqrt();
        let mut eps_i = phi_norm * growth;
        if bounded {
            eps_i = eps_i.min(std::f64::consts::SQRT_2 * radius);
        }
        e2 += eps_i * eps_i;
    }
    let drift = e2.sqrt();
    let root = (lambda0.sqrt() - kappa * drift).max(0.0);
    let lambda_star = root * root;
    let contraction = contraction_factor(kappa * radius, Depth::Euler(model.depth()));
    let sigma_b_sq =
        crate::pl::linear::sigma_min_sq(model.maps().embed_out.as_ref().map(|b| b.as_ref()))?;
    Ok(FeatureAprioriBound {
        kappa,
        lambda0,
        drift,
        lambda_star,
        contraction,
        mu: 2.0 / n as f64 * sigma_b_sq * lambda_star * contraction * contraction,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// −ψ''(0) by a central difference of the profile: κ² within the O(r²) truncation
    /// plus the rounding eps/r² of the difference quotient.
    #[test]
    fn kappa_is_sqrt_of_minus_profile_curvature() {
        let r = 1e-3;
        for spec in [
            KernelSpec::Gaussian { sigma: 0.7 },
            KernelSpec::Matern32 { lengthscale: 1.3 },
            KernelSpec::Matern52 { lengthscale: 0.9 },
            KernelSpec::InverseMultiquadric { c: 2.0 },
        ] {
            // ψ even: ψ''(0) ≈ 2(ψ(r) − ψ(0))/r²; Matérn 3/2 has an r³ term → O(r) error.
            let curv = -2.0 * (radial_profile(&spec, r).unwrap() - 1.0) / (r * r);
            let kappa = admissibility_constant(&spec).unwrap();
            let tol = 5.0 * r * kappa * kappa * 3.0 + 4.0 * f64::EPSILON / (r * r);
            assert!(
                (curv - kappa * kappa).abs() < tol,
                "{spec:?}: {curv} vs {}",
                kappa * kappa
            );
        }
        assert!(matches!(
            admissibility_constant(&KernelSpec::Laplace { lengthscale: 1.0 }),
            Err(TheoryError::NoAdmissibilityConstant { .. })
        ));
        assert!(radial_profile(&KernelSpec::Linear, 1.0).is_err());
    }

    #[test]
    fn euler_contraction_below_exponential_and_converges() {
        let kr = 0.8;
        let mut prev = 0.0;
        for l in [1usize, 4, 16, 64, 256, 4096] {
            let d = contraction_factor(kr, Depth::Euler(l));
            assert!(d <= (-kr).exp() + 1e-15, "L = {l}");
            assert!(d >= prev - 1e-15, "monotone in L");
            prev = d;
        }
        // (1 − x/√L)^{√L} = e^{−x}(1 − x²/(2√L) + …): at L = 4096 within x²/128
        assert!(((-kr).exp() - prev) < kr * kr / 128.0 * (-kr).exp() * 1.1);
        assert_eq!(contraction_factor(2.0, Depth::Euler(1)), 0.0);
    }

    /// Brute-force check of the vertex argument: random admissible (c_k) never give a
    /// smaller product than D_L.
    #[test]
    fn vertex_minimiser_is_minimal() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, Uniform};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let unif = Uniform::new(0.0, 1.0).unwrap();
        for &(l, kr) in &[(4usize, 0.9), (9, 1.5), (16, 0.3), (25, 2.0)] {
            let d = contraction_factor(kr, Depth::Euler(l));
            let h = 1.0 / l as f64;
            for _ in 0..2000 {
                // random θ_k norms with h Σ ‖θ_k‖² = R² (κ = 1)
                let mut t: Vec<f64> = (0..l).map(|_| unif.sample(&mut rng)).collect();
                let norm = (h * t.iter().map(|x| x * x).sum::<f64>()).sqrt();
                t.iter_mut().for_each(|x| *x *= kr / norm);
                let prod: f64 = t.iter().map(|&x| (1.0 - h * x).max(0.0)).product();
                assert!(prod >= d - 1e-14, "L = {l}: {prod} < {d}");
            }
        }
    }
}
