//! The expressivity condition along trajectories (docs/theory.md §5 "A-priori bound",
//! "Necessity").
//!
//! At the states `X^k` (`k = 0..=L`) of a forward pass:
//! * `λ_k = λ_min(K_k)` of the Gram — the features Gram `Φ_kΦ_kᵀ` at finite width, the
//!   exact kernel Gram at infinite width;
//! * the separation `δ_k = min_{i≠j} ‖x_i^k − x_j^k‖` against its guaranteed lower bound:
//!   an Euler layer `x ↦ x + hθ_k(x)` with `Lip(θ_k) ≤ κ‖θ_k‖` contracts distances by at
//!   most `(1 − hκ‖θ_k‖)₊`, so `δ_k ≥ δ₀ Π_{j<k}(1 − hκ‖θ_j‖)₊ ≥ δ₀ D_L(κ‖θ‖)`
//!   ([`crate::pl::apriori`]; `D_L ≤ e^{−κ‖θ‖}`, the theory's `δ₀e^{−R/σ}` as `L → ∞`);
//! * Gershgorin: `λ_k ≥ min_i (K_ii − Σ_{j≠i} |K_ij|)` on the computed Gram, and for an
//!   exact radial kernel `λ_k ≥ 1 − (N−1) ψ(δ_k)`;
//! * necessity: at width `p < N` the `N×N` features Gram has rank `≤ p`, so `λ_k = 0` at
//!   every layer and the certificate is void.
//!
//! Admissibility at finite width: `θ = Uφ` has `‖Dθ(x)‖ ≤ ‖U‖_F ‖Dφ(x)‖_op`, and for the
//! plres-rff maps (`φ = √(2/p) σ(Wx + b)` with `|σ'| ≤ 1`, or paired `[cos, sin]/√(p/2)`)
//! `Dφ(x)ᵀDφ(x) ≼ (2/p) WᵀW`, so `κ_p ≤ √(2/p) ‖W‖_op` (equality for paired features).

use faer::{Mat, MatMut, MatRef, Par};
use plres_kernels::spectral::gershgorin_lower_bound;
use plres_resnet::{Integrator, KernelResNet, LinearResNet};
use plres_resnet::{Model as _, Trainable as _};
use plres_rff::FeatureMap;
use serde::{Deserialize, Serialize};

use crate::error::TheoryError;
use crate::linalg::{OpNorm, gram_in_place};
use crate::pl::apriori::{Depth, admissibility_constant, contraction_factor, radial_profile};
use crate::pl::linear::model_err;
use crate::report::{CheckReport, Relation};
use plres_kernels::spectral::{SymEigen, min_separation};

/// `κ_p = √(2/p) ‖W‖_op`: an admissibility constant of a plres-rff feature map
/// (`‖D(Uφ)(x)‖_op ≤ κ_p ‖U‖_F`, module docs).
///
/// # Errors
/// [`TheoryError::NoConvergence`], [`TheoryError::Spectral`].
pub fn feature_admissibility_bound(features: &dyn FeatureMap) -> Result<f64, TheoryError> {
    let w = features.weights();
    let mut op = OpNorm::new(w.ncols());
    Ok((2.0 / features.output_dim() as f64).sqrt() * op.op_norm(w)?)
}

/// The expressivity quantities along one trajectory (module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrajectoryExpressivity {
    /// Number of samples `N`.
    pub n_samples: usize,
    /// Width `p` (`None` for the exact kernel).
    pub width: Option<usize>,
    /// Depth `L`.
    pub depth: usize,
    /// `λ_k` at the states `X^0..X^L`.
    pub lambda: Vec<f64>,
    /// `tr(K_k)` (the rounding scale of `λ_k`: `|λ̂ − λ| ≲ N eps tr(K_k)`).
    pub trace: Vec<f64>,
    /// Row-sum Gershgorin bound `min_i (K_ii − Σ_{j≠i}|K_ij|)` of each Gram.
    pub gershgorin: Vec<f64>,
    /// Separation-based Gershgorin `1 − (N−1)ψ(δ_k)` (exact radial kernels only).
    pub gershgorin_separation: Option<Vec<f64>>,
    /// `δ_k` at the states.
    pub separation: Vec<f64>,
    /// `δ₀ = δ_0`.
    pub delta0: f64,
    /// The admissibility constant used (`κ` of the kernel, `κ_p` bound of the features).
    pub kappa: Option<f64>,
    /// `‖θ_k‖` per layer (`‖U_k‖_F`, or the RKHS norm).
    pub layer_norms: Vec<f64>,
    /// `‖θ‖ = (h Σ_k ‖θ_k‖²)^{1/2}` (Euler metric).
    pub theta_norm: f64,
    /// `δ₀ Π_{j<k}(1 − hκ‖θ_j‖)₊` per state (Euler models with a `κ`).
    pub separation_bound: Option<Vec<f64>>,
    /// `δ₀ D_L(κ‖θ‖)`, the ball-wide bound (Euler models with a `κ`).
    pub separation_bound_ball: Option<f64>,
}

impl TrajectoryExpressivity {
    /// `min_k λ_k`.
    pub fn lambda_min(&self) -> f64 {
        self.lambda.iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// The checks: expressivity `min_k λ_k` above the rounding floor `N eps max_k tr(K_k)`;
    /// row-sum Gershgorin `λ_k ≥ G_k` (worst margin, tolerance `4 N eps tr(K_k)`);
    /// separation Gershgorin for radial kernels; separation bounds (worst ratio
    /// `δ_k / bound_k ≥ 1`, tolerance `4 (L + d) eps`). (`p ≥ N` is not a check: it restates
    /// the configuration.)
    pub fn reports(&self) -> Vec<CheckReport> {
        let eps = f64::EPSILON;
        let nf = self.n_samples as f64;
        let max_tr = self.trace.iter().copied().fold(0.0, f64::max);
        let mut out = vec![CheckReport::new(
            "expressivity: min_k λ_min(K_k) > 0 (above the rounding floor N·eps·tr K)",
            "docs/theory.md §5 Expressivity condition",
            self.lambda_min(),
            nf * eps * max_tr,
            0.0,
            Relation::AtLeast,
        )];
        let worst_gap = |bounds: &[f64]| {
            self.lambda
                .iter()
                .zip(bounds)
                .zip(&self.trace)
                .map(|((l, g), t)| (l - g) + 4.0 * nf * eps * t)
                .fold(f64::INFINITY, f64::min)
        };
        out.push(CheckReport::new(
            "Gershgorin: λ_k ≥ min_i (K_ii − Σ_{j≠i}|K_ij|) at every layer (worst margin)",
            "docs/theory.md §5 A-priori bound",
            worst_gap(&self.gershgorin),
            0.0,
            0.0,
            Relation::AtLeast,
        ));
        if let Some(gs) = &self.gershgorin_separation {
            out.push(CheckReport::new(
                "Gershgorin by separation: λ_k ≥ 1 − (N−1) ψ(δ_k) (worst margin)",
                "docs/theory.md §5 A-priori bound",
                worst_gap(gs),
                0.0,
                0.0,
                Relation::AtLeast,
            ));
        }
        let tol = 4.0 * (self.depth as f64 + 8.0) * eps;
        if let Some(b) = &self.separation_bound {
            // k = 0 is δ₀/δ₀ = 1 by definition: the layers start at k = 1
            let worst = self
                .separation
                .iter()
                .zip(b)
                .skip(1)
                .filter(|(_, b)| **b > 0.0)
                .map(|(s, b)| s / b)
                .fold(f64::INFINITY, f64::min);
            out.push(CheckReport::new(
                "separation δ_k ≥ δ₀ Π_{j<k}(1 − hκ‖θ_j‖)₊ (worst ratio)",
                "docs/theory.md §5 A-priori bound",
                worst,
                1.0,
                tol,
                Relation::AtLeast,
            ));
        }
        if let Some(b) = self.separation_bound_ball {
            let min_sep = self
                .separation
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min);
            out.push(CheckReport::new(
                "separation min_k δ_k ≥ δ₀ D_L(κ‖θ‖) (→ δ₀e^{−κ‖θ‖})",
                "docs/theory.md §5 A-priori bound",
                min_sep,
                b,
                tol * b,
                Relation::AtLeast,
            ));
        }
        out
    }
}

/// Check of the necessity statement itself at `p < N`: the measured `λ_min` of a
/// features Gram is 0 up to its rounding `4 N eps tr(K)`.
pub fn rank_deficiency_report(lambda_min: f64, trace: f64, p: usize, n: usize) -> CheckReport {
    CheckReport::new(
        format!("p = {p} < N = {n}: λ_min(ΦΦᵀ) = 0 (rank ≤ p)"),
        "docs/theory.md §5 Necessity",
        lambda_min,
        0.0,
        4.0 * n as f64 * f64::EPSILON * trace,
        Relation::Within,
    )
}

/// The Gram quantities at every state `X^k` of a trajectory.
struct AlongTrajectory {
    /// `λ_min(K_k)`.
    lambda: Vec<f64>,
    /// `tr(K_k)`.
    trace: Vec<f64>,
    /// Row-sum Gershgorin bound of `K_k`.
    gershgorin: Vec<f64>,
    /// `δ_k`.
    separation: Vec<f64>,
}

/// [`AlongTrajectory`] for the `N`-row `states`, `gram_at(X^k, K)` filling the `N×N`
/// Gram `K_k`.
fn along_trajectory(
    states: &[Mat<f64>],
    n: usize,
    mut gram_at: impl FnMut(MatRef<'_, f64>, MatMut<'_, f64>),
) -> Result<AlongTrajectory, TheoryError> {
    let mut gram = Mat::<f64>::zeros(n, n);
    let mut eig = SymEigen::new(n, Par::Seq);
    let mut out = AlongTrajectory {
        lambda: vec![],
        trace: vec![],
        gershgorin: vec![],
        separation: vec![],
    };
    for xk in states {
        gram_at(xk.as_ref(), gram.as_mut());
        out.lambda.push(eig.lambda_min(gram.as_ref())?);
        out.trace.push((0..n).map(|i| gram[(i, i)]).sum());
        out.gershgorin.push(gershgorin_lower_bound(gram.as_ref()));
        out.separation.push(min_separation(xk.as_ref()));
    }
    Ok(out)
}

fn layerwise_bound(delta0: f64, kappa: f64, norms: &[f64], h: f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(norms.len() + 1);
    let mut prod = 1.0;
    out.push(delta0);
    for &t in norms {
        prod *= (1.0 - h * kappa * t).max(0.0);
        out.push(delta0 * prod);
    }
    out
}

/// Expressivity along the trajectory of a finite-width network at its parameters.
/// Separation bounds are given for Euler models (their layer map is what the
/// contraction argument covers).
///
/// # Errors
/// The model's data errors as [`TheoryError::Model`]; [`TheoryError::NoConvergence`],
/// [`TheoryError::Spectral`].
pub fn linear_expressivity(
    model: &LinearResNet,
    x: MatRef<'_, f64>,
) -> Result<TrajectoryExpressivity, TheoryError> {
    let traj = model.forward_trajectory(x).map_err(model_err)?;
    let (n, d, p, depth) = (x.nrows(), model.dim(), model.width(), model.depth());
    let h = 1.0 / depth as f64;
    let features = model.features().as_ref();
    let mut phi = Mat::<f64>::zeros(n, p);
    let along = along_trajectory(&traj.states, n, |xk, gram| {
        features.apply_in_place(xk, phi.as_mut());
        gram_in_place(phi.as_ref(), gram, Par::Seq);
    })?;
    let sep = along.separation;
    let layer_norms: Vec<f64> = (0..model.n_slices())
        .map(|k| {
            let uk = &model.params()[k * d * p..(k + 1) * d * p];
            uk.iter().map(|v| v * v).sum::<f64>().sqrt()
        })
        .collect();
    let weights = model.slice_weights();
    let theta_norm = layer_norms
        .iter()
        .zip(&weights)
        .map(|(t, w)| w * t * t)
        .sum::<f64>()
        .sqrt();
    let kappa = feature_admissibility_bound(features)?;
    let euler = model.integrator() == Integrator::Euler;
    let delta0 = sep[0];
    Ok(TrajectoryExpressivity {
        n_samples: n,
        width: Some(p),
        depth,
        lambda: along.lambda,
        trace: along.trace,
        gershgorin: along.gershgorin,
        gershgorin_separation: None,
        separation: sep,
        delta0,
        kappa: Some(kappa),
        separation_bound: euler.then(|| layerwise_bound(delta0, kappa, &layer_norms, h)),
        separation_bound_ball: euler
            .then(|| delta0 * contraction_factor(kappa * theta_norm, Depth::Euler(depth))),
        layer_norms,
        theta_norm,
    })
}

/// Expressivity along the trajectory of the infinite-width network (exact kernel
/// Grams, RKHS norms of the layers, the kernel's admissibility constant when it has
/// one, and the separation version of Gershgorin for radial kernels).
///
/// # Errors
/// The model's data errors as [`TheoryError::Model`]; [`TheoryError::NoConvergence`],
/// [`TheoryError::Spectral`].
pub fn kernel_expressivity(
    net: &KernelResNet,
    x: MatRef<'_, f64>,
) -> Result<TrajectoryExpressivity, TheoryError> {
    let traj = net.forward_trajectory(x).map_err(model_err)?;
    let (n, depth) = (x.nrows(), net.depth());
    let h = 1.0 / depth as f64;
    let kernel = net.kernel();
    let spec = net.kernel_spec();
    let along = along_trajectory(&traj.states, n, |xk, gram| kernel.gram_in_place(xk, gram))?;
    let sep = along.separation;
    let gershgorin_separation = sep
        .iter()
        .map(|&dk| radial_profile(spec, dk).map(|psi| 1.0 - (n as f64 - 1.0) * psi))
        .collect::<Result<Vec<f64>, _>>()
        .ok();
    let layer_norms: Vec<f64> = net
        .layers()
        .iter()
        .map(|l| l.norm_sq().max(0.0).sqrt())
        .collect();
    let theta_norm = net.norm_sq().max(0.0).sqrt();
    let kappa = admissibility_constant(spec).ok();
    let delta0 = sep[0];
    Ok(TrajectoryExpressivity {
        n_samples: n,
        width: None,
        depth,
        lambda: along.lambda,
        trace: along.trace,
        gershgorin: along.gershgorin,
        gershgorin_separation,
        separation: sep,
        delta0,
        kappa,
        separation_bound: kappa.map(|k| layerwise_bound(delta0, k, &layer_norms, h)),
        separation_bound_ball: kappa
            .map(|k| delta0 * contraction_factor(k * theta_norm, Depth::Euler(depth))),
        layer_norms,
        theta_norm,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use plres_kernels::KernelSpec;
    use plres_resnet::{Init, LinearResNetConfig};
    use plres_rff::{FourierVariant, RandomFourierFeatures, RandomReluFeatures};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    use super::*;
    use crate::pl::apriori::apriori_bound_features;
    use crate::pl::linear::LinearCertifier;

    fn grid_points(n: usize, gap: f64) -> Mat<f64> {
        Mat::from_fn(n, 2, |i, j| {
            if j == 0 {
                (i % 4) as f64 * gap
            } else {
                (i / 4) as f64 * gap
            }
        })
    }

    fn rff(d: usize, p: usize, seed: u64) -> Arc<dyn FeatureMap> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Arc::new(
            RandomFourierFeatures::sample(
                &KernelSpec::Gaussian { sigma: 1.0 },
                d,
                p,
                FourierVariant::CosineWithPhase,
                &mut rng,
            )
            .unwrap(),
        )
    }

    #[test]
    fn finite_width_trajectory_checks_hold() {
        let x = grid_points(8, 2.0);
        let cfg = LinearResNetConfig {
            depth: 4,
            init: Init::Normal { std: 0.2, seed: 3 },
            ..Default::default()
        };
        let net = LinearResNet::new(rff(2, 32, 1), cfg).unwrap();
        let e = linear_expressivity(&net, x.as_ref()).unwrap();
        assert_eq!(e.lambda.len(), 5);
        assert!((e.delta0 - 2.0).abs() < 1e-15);
        for r in e.reports() {
            assert!(r.holds(), "{}", r.table_row());
        }
    }

    #[test]
    fn narrow_width_is_rank_deficient() {
        let x = grid_points(8, 2.0);
        let net = LinearResNet::new(
            rff(2, 5, 2),
            LinearResNetConfig {
                depth: 2,
                ..Default::default()
            },
        )
        .unwrap();
        let e = linear_expressivity(&net, x.as_ref()).unwrap();
        for (l, t) in e.lambda.iter().zip(&e.trace) {
            assert!(rank_deficiency_report(*l, *t, 5, 8).holds(), "λ = {l}");
        }
        assert!(!e.reports()[0].holds(), "expressivity must fail at p < N");
    }

    #[test]
    fn kernel_trajectory_checks_hold() {
        let x = grid_points(8, 3.0);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for spec in [
            KernelSpec::Gaussian { sigma: 1.0 },
            KernelSpec::Matern52 { lengthscale: 1.0 },
        ] {
            let mut net = KernelResNet::new(spec, 2, 3).unwrap();
            for layer in net.layers_mut() {
                let c = Mat::from_fn(4, 2, |_, _| {
                    3.0 * {
                        let z: f64 = StandardNormal.sample(&mut rng);
                        z
                    }
                });
                let a = Mat::from_fn(4, 2, |_, _| {
                    0.3 * {
                        let z: f64 = StandardNormal.sample(&mut rng);
                        z
                    }
                });
                layer.append(c.as_ref(), a.as_ref()).unwrap();
            }
            let e = kernel_expressivity(&net, x.as_ref()).unwrap();
            assert!(e.gershgorin_separation.is_some() && e.separation_bound.is_some());
            for r in e.reports() {
                assert!(r.holds(), "{spec:?}: {}", r.table_row());
            }
        }
    }

    /// `κ_p = √(2/p)‖W‖` bounds `‖Dφ(x)‖_op` at random points, for all three maps
    /// (`Dφ` assembled from the map's own vjp with unit vectors).
    #[test]
    fn feature_admissibility_bounds_jacobians() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let (d, p) = (3, 10);
        let g = KernelSpec::Gaussian { sigma: 0.7 };
        let maps: Vec<Arc<dyn FeatureMap>> = vec![
            Arc::new(
                RandomFourierFeatures::sample(&g, d, p, FourierVariant::CosineWithPhase, &mut rng)
                    .unwrap(),
            ),
            Arc::new(
                RandomFourierFeatures::sample(&g, d, p, FourierVariant::Paired, &mut rng).unwrap(),
            ),
            Arc::new(RandomReluFeatures::sample(d, p, &mut rng).unwrap()),
        ];
        for phi in maps {
            let kappa = feature_admissibility_bound(phi.as_ref()).unwrap();
            let x = Mat::from_fn(20, d, |_, _| {
                2.0 * {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    z
                }
            });
            let mut feat = Mat::zeros(20, p);
            let mut cache = Mat::zeros(20, phi.cache_dim());
            phi.apply_with_cache(x.as_ref(), feat.as_mut(), cache.as_mut());
            // rows of Dφ(x_i): e_jᵀ Dφ(x_i) = vjp with V = e_j in every row
            let mut jac = vec![Mat::<f64>::zeros(p, d); 20];
            for j in 0..p {
                let mut v = Mat::zeros(20, p);
                v.col_mut(j).fill(1.0);
                let mut gx = Mat::zeros(20, d);
                phi.vjp_in_place(
                    cache.as_ref(),
                    v.as_mut(),
                    gx.as_mut(),
                    faer::Accum::Replace,
                );
                for i in 0..20 {
                    for c in 0..d {
                        jac[i][(j, c)] = gx[(i, c)];
                    }
                }
            }
            let mut op = OpNorm::new(d);
            for m in &jac {
                assert!(op.op_norm(m.as_ref()).unwrap() <= kappa * (1.0 + 1e-12));
            }
        }
    }

    /// The finite-width a-priori constant is below `μ_cert` at random θ of the ball.
    #[test]
    fn feature_apriori_below_certificate_on_the_ball() {
        let x = grid_points(8, 3.0);
        let y = Mat::from_fn(8, 2, |i, j| x[(i, j)] + 0.1 * ((i * 2 + j) as f64).sin());
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        for seed in 0..6 {
            let mut net = LinearResNet::new(
                rff(2, 24, seed),
                LinearResNetConfig {
                    depth: 3,
                    ..Default::default()
                },
            )
            .unwrap();
            let lam0 = {
                let f = net.features().apply(x.as_ref());
                plres_kernels::spectral::try_lambda_min((&f * f.transpose()).as_ref()).unwrap()
            };
            let kappa = feature_admissibility_bound(net.features().as_ref()).unwrap();
            let radius = 0.5 * lam0.sqrt() / (kappa * 4.0);
            let b = apriori_bound_features(&net, x.as_ref(), radius).unwrap();
            assert!(b.mu > 0.0, "{b:?}");
            let mut cert = LinearCertifier::new(&net, 8).unwrap();
            for _ in 0..5 {
                let dir: Vec<f64> = (0..net.n_params())
                    .map(|_| StandardNormal.sample(&mut rng))
                    .collect();
                let norm = net.metric().norm_sq(&dir).sqrt();
                let u: f64 = rand_distr::Uniform::new(0.0, 1.0).unwrap().sample(&mut rng);
                let theta: Vec<f64> = dir.iter().map(|v| v * u * radius / norm).collect();
                net.set_params(&theta).unwrap();
                let snap = cert.evaluate(&net, &theta, x.as_ref(), y.as_ref()).unwrap();
                assert!(
                    snap.mu_cert.unwrap() >= b.mu * (1.0 - 1e-12),
                    "{} < {}",
                    snap.mu_cert.unwrap(),
                    b.mu
                );
                for &l in &snap.lambda {
                    assert!(l >= b.lambda_star * (1.0 - 1e-12) - 1e-14);
                }
            }
        }
    }
}
