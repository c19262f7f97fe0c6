//! Integration tests for `plres-kernels`: every claim is a piece of mathematics (closed
//! forms, symmetry and positive semi-definiteness, Gershgorin, the reproducing property,
//! derivatives against central differences, Bochner and the ReLU-feature limit by Monte
//! Carlo), with the tolerance derived next to it from `eps`, the sizes and the method's
//! error.
//!
//! Property tests run `PROPTEST_CASES` cases (default 256) and test every kernel on each
//! generated input.

#![forbid(unsafe_code)]

use std::f64::consts::PI;

use faer::{Accum, Mat, MatRef};
use plres_kernels::expansion::{ExpansionWorkspace, KernelExpansion};
use plres_kernels::spectral::{
    gaussian_gershgorin_bound, gershgorin_lower_bound, is_positive_definite, lambda_max,
    lambda_min, min_separation, try_lambda_min, try_min_separation,
};
use plres_kernels::{
    ArcCosine1, Gaussian, InverseMultiquadric, Kernel, KernelError, KernelSpec, Laplace, Linear,
    Matern32, Matern52, SpectralMeasure,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{ChiSquared, Distribution, StandardNormal};

const EPS: f64 = f64::EPSILON;

/// `PROPTEST_CASES` if set, else `default`.
fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/kernels.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// Every kernel of the crate, the parametrised ones with parameter `p`.
fn specs(p: f64) -> [KernelSpec; 7] {
    [
        KernelSpec::Gaussian { sigma: p },
        KernelSpec::Laplace { lengthscale: p },
        KernelSpec::Matern32 { lengthscale: p },
        KernelSpec::Matern52 { lengthscale: p },
        KernelSpec::InverseMultiquadric { c: p },
        KernelSpec::ArcCosine1,
        KernelSpec::Linear,
    ]
}

/// Independent closed forms of the radial profiles as functions of `r = ‖x − y‖`
/// (the formulas of the issue), `None` for the non-radial kernels.
fn radial_value(spec: KernelSpec, r: f64) -> Option<f64> {
    Some(match spec {
        KernelSpec::Gaussian { sigma } => (-r * r / (2.0 * sigma * sigma)).exp(),
        KernelSpec::Laplace { lengthscale: l } => (-r / l).exp(),
        KernelSpec::Matern32 { lengthscale: l } => {
            (1.0 + 3f64.sqrt() * r / l) * (-(3f64.sqrt()) * r / l).exp()
        }
        KernelSpec::Matern52 { lengthscale: l } => {
            (1.0 + 5f64.sqrt() * r / l + 5.0 * r * r / (3.0 * l * l))
                * (-(5f64.sqrt()) * r / l).exp()
        }
        KernelSpec::InverseMultiquadric { c } => 1.0 / (1.0 + r * r / (c * c)).sqrt(),
        _ => return None,
    })
}

/// `|g(r)|` with `∇_x k = g (x − y)`, i.e. `|κ'(r)|/r`, from the closed forms.
fn radial_grad_factor_abs(spec: KernelSpec, r: f64) -> Option<f64> {
    Some(match spec {
        KernelSpec::Gaussian { sigma } => (-r * r / (2.0 * sigma * sigma)).exp() / (sigma * sigma),
        KernelSpec::Laplace { lengthscale: l } => {
            if r == 0.0 {
                0.0
            } else {
                (-r / l).exp() / (l * r)
            }
        }
        KernelSpec::Matern32 { lengthscale: l } => 3.0 / (l * l) * (-(3f64.sqrt()) * r / l).exp(),
        KernelSpec::Matern52 { lengthscale: l } => {
            5.0 / (3.0 * l * l) * (1.0 + 5f64.sqrt() * r / l) * (-(5f64.sqrt()) * r / l).exp()
        }
        KernelSpec::InverseMultiquadric { c } => {
            let q = 1.0 + r * r / (c * c);
            1.0 / (c * c * q * q.sqrt())
        }
        _ => return None,
    })
}

fn row(x: MatRef<'_, f64>, i: usize) -> Vec<f64> {
    (0..x.ncols()).map(|l| x[(i, l)]).collect()
}

fn sq(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum()
}

fn dist_sq(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum()
}

/// Bound on `|computed k(x, y) − exact k(x, y)|` for a Gram entry computed through the
/// GEMM formula, checked as a bracket:
///
/// - radial: `s = ‖x‖² + ‖y‖² − 2x·y` has error `≤ 2γ_d(‖x‖² + ‖y‖²) + 4eps(‖x‖² + ‖y‖²)`
///   (`γ_d ≈ d·eps`: two norms and one dot product, three additions), bounded here by
///   `ds = 4(d + 2)eps(‖x‖² + ‖y‖²)`; the reference distance `Σ(x − y)²` adds `2d·eps·s`.
///   κ is decreasing, so the entry lies in `[κ(s + ds), κ(max(s − ds, 0))]`, widened by 8 ulp
///   for `exp`/`sqrt`;
/// - arc-cosine: `∂k/∂(x̃·ỹ) = (π − α)/π ∈ [0, 1]` at fixed norms and `k` is homogeneous of
///   degree 1 in each norm, so an inner-product error `γ_{d+1} a b` and norm errors
///   `γ_{d+1}` move `k` by at most `≈ 3γ_{d+1} a b`, plus `acos`/`sin`/`cos` ulps — within
///   `8(d + 3)eps·a·b`;
/// - linear: two dot products of `d` terms, `2γ_d Σ|x_l y_l|`.
fn check_entry(spec: KernelSpec, x: &[f64], y: &[f64], got: f64) -> Result<(), TestCaseError> {
    let d = x.len() as f64;
    let (nx, ny) = (sq(x), sq(y));
    if radial_value(spec, 0.0).is_some() {
        let s = dist_sq(x, y);
        let ds = 4.0 * (d + 2.0) * EPS * (nx + ny) + 2.0 * d * EPS * s;
        let lo = radial_value(spec, (s + ds).sqrt()).unwrap() * (1.0 - 8.0 * EPS);
        let hi = radial_value(spec, (s - ds).max(0.0).sqrt()).unwrap() * (1.0 + 8.0 * EPS);
        prop_assert!(
            lo <= got && got <= hi,
            "{spec:?}: entry {got} outside [{lo}, {hi}] for x = {x:?}, y = {y:?}"
        );
    } else {
        let (exact, tol) = match spec {
            KernelSpec::ArcCosine1 => {
                let ab = ((nx + 1.0) * (ny + 1.0)).sqrt();
                (ArcCosine1.eval(x, y), 8.0 * (d + 3.0) * EPS * ab)
            }
            _ => {
                let abs: f64 = x.iter().zip(y).map(|(a, b)| (a * b).abs()).sum();
                (Linear.eval(x, y), 2.0 * (d + 1.0) * EPS * abs)
            }
        };
        prop_assert!(
            (got - exact).abs() <= tol,
            "{spec:?}: entry {got} vs {exact} (tol {tol})"
        );
    }
    Ok(())
}

fn batch(max_n: usize, max_d: usize) -> impl Strategy<Value = Mat<f64>> {
    (1..=max_n, 1..=max_d).prop_flat_map(|(n, d)| {
        prop::collection::vec(-2.0f64..2.0, n * d)
            .prop_map(move |v| Mat::from_fn(n, d, |i, l| v[i * d + l]))
    })
}

/// Two batches with the same number of columns.
fn two_batches(
    max_n: usize,
    max_m: usize,
    max_d: usize,
) -> impl Strategy<Value = (Mat<f64>, Mat<f64>)> {
    (1..=max_n, 1..=max_m, 1..=max_d).prop_flat_map(|(n, m, d)| {
        (
            prop::collection::vec(-2.0f64..2.0, n * d),
            prop::collection::vec(-2.0f64..2.0, m * d),
        )
            .prop_map(move |(a, b)| {
                (
                    Mat::from_fn(n, d, |i, l| a[i * d + l]),
                    Mat::from_fn(m, d, |i, l| b[i * d + l]),
                )
            })
    })
}

/// Central difference `(φ(h) − φ(−h))/(2h)` and a bound on its error
/// `(h²/6) sup_{|t|≤h}|φ'''(t)| + e/h`, where `e` bounds the rounding error of one
/// evaluation of `φ`. `sup|φ'''|` is estimated by the third difference
/// `(φ(t+2h) − 2φ(t+h) + 2φ(t−h) − φ(t−2h))/(2h³)` at `t ∈ {−h, 0, h}` (each an average of
/// `φ'''` over `[t − 2h, t + 2h]`, so the three cover `[−h, h]` even where `φ'''` jumps, as
/// for Matérn 3/2 or the arc-cosine kernel at `x = y`), plus its own rounding `3e/h³`,
/// doubled to cover the variation of `φ'''` between the sample points.
fn central_difference(phi: impl Fn(f64) -> f64, h: f64, e: f64) -> (f64, f64) {
    let fd = (phi(h) - phi(-h)) / (2.0 * h);
    let d3 = |t: f64| {
        (phi(t + 2.0 * h) - 2.0 * phi(t + h) + 2.0 * phi(t - h) - phi(t - 2.0 * h))
            / (2.0 * h * h * h)
    };
    let m3 = [-h, 0.0, h]
        .map(|t| d3(t).abs())
        .into_iter()
        .fold(0.0, f64::max)
        + 3.0 * e / (h * h * h);
    (fd, 2.0 * m3 * h * h / 6.0 + e / h)
}

const FD_STEP: f64 = 1e-4;

proptest! {
    #![proptest_config(config(256))]

    /// Gram and cross-Gram entries equal the closed forms within the GEMM-formula bracket
    /// of `check_entry`; the Gram is exactly symmetric; `eval` agrees with the closed form
    /// to a few ulp (it sums `(x − y)²` directly: `s` relative error `d·eps`).
    #[test]
    fn gram_entries_match_closed_forms((x, y) in two_batches(8, 6, 4), p in 0.5f64..2.0) {
        for spec in specs(p) {
            let k = spec.build().unwrap();
            let g = k.gram(x.as_ref());
            let c = k.cross_gram(x.as_ref(), y.as_ref());
            for i in 0..x.nrows() {
                let xi = row(x.as_ref(), i);
                for j in 0..x.nrows() {
                    prop_assert_eq!(g[(i, j)].to_bits(), g[(j, i)].to_bits());
                    check_entry(spec, &xi, &row(x.as_ref(), j), g[(i, j)])?;
                }
                for j in 0..y.nrows() {
                    let yj = row(y.as_ref(), j);
                    check_entry(spec, &xi, &yj, c[(i, j)])?;
                    if let Some(v) = radial_value(spec, dist_sq(&xi, &yj).sqrt()) {
                        let tol = 4.0 * (xi.len() as f64 + 4.0) * EPS;
                        prop_assert!((k.eval(&xi, &yj) - v).abs() <= tol);
                    }
                }
            }
        }
    }

    /// Gram matrices are positive semi-definite: `λ_min ≥ −tol`. The computed Gram is
    /// `K + E` with entries off by at most `e` (the `check_entry` bounds; for the
    /// `√`-kernels the refinement threshold `10⁻⁶` caps the amplification of the GEMM
    /// cancellation at `1/(2·10⁻³)`, so `e ≤ 10³(d + 4)eps(1 + max‖x‖²)`), hence
    /// `‖E‖₂ ≤ N e`; the eigensolver is backward stable, `≤ c N eps ‖K‖₂` with `c = 16`.
    /// Gershgorin's bound is `≤ λ_min` (up to `N eps Σ|K_ij|` rounding of its sums and the
    /// eigensolver's error), and for the Gaussian the a-priori bound
    /// `1 − (N − 1)exp(−δ²/(2σ²))` (docs/theory.md §5) lies below Gershgorin's.
    #[test]
    fn gram_is_psd_and_gershgorin_is_below_lambda_min(x in batch(12, 4), p in 0.5f64..2.0) {
        let (n, d) = (x.nrows() as f64, x.ncols() as f64);
        let max_sq = (0..x.nrows()).map(|i| sq(&row(x.as_ref(), i))).fold(0.0, f64::max);
        let e = 1e3 * (d + 4.0) * EPS * (1.0 + max_sq);
        for spec in specs(p) {
            let k = spec.build().unwrap().gram(x.as_ref());
            let (lmin, lmax) = (lambda_min(k.as_ref()), lambda_max(k.as_ref()));
            let tol = n * e + 16.0 * n * EPS * lmax.abs().max(1.0);
            prop_assert!(lmin >= -tol, "{spec:?}: λ_min = {lmin} < −{tol}");
            let abs_sum: f64 = (0..x.nrows())
                .map(|i| (0..x.nrows()).map(|j| k[(i, j)].abs()).sum::<f64>())
                .fold(0.0, f64::max);
            let gersh = gershgorin_lower_bound(k.as_ref());
            prop_assert!(
                gersh <= lmin + tol + n * EPS * abs_sum,
                "{spec:?}: Gershgorin {gersh} > λ_min {lmin}"
            );
            if lmin > 2.0 * tol {
                prop_assert!(is_positive_definite(k.as_ref()), "{spec:?}: λ_min = {lmin} but no Cholesky");
            }
            if let KernelSpec::Gaussian { sigma } = spec {
                let delta = min_separation(x.as_ref());
                let apriori = gaussian_gershgorin_bound(x.nrows(), delta, sigma);
                prop_assert!(apriori <= gersh + n * e, "λ_* = {apriori} > Gershgorin {gersh}");
            }
        }
    }

    /// `∇_x k(x, y)` against central differences of `k(· , y)` along each axis (error
    /// bound of `central_difference`; one evaluation is off by at most
    /// `e = 8(d + 4)eps(1 + ‖x‖² + ‖y‖²)`). Laplace is checked only at `‖x − y‖ ≥ 0.1`, away
    /// from its kink (the stencil reaches `3h`); at `x = y` it must return 0.
    #[test]
    fn grad_x_matches_central_differences((x, y) in two_batches(1, 1, 4), p in 0.5f64..2.0) {
        let (xv, yv) = (row(x.as_ref(), 0), row(y.as_ref(), 0));
        let d = xv.len();
        let e = 8.0 * (d as f64 + 4.0) * EPS * (1.0 + sq(&xv) + sq(&yv));
        for spec in specs(p) {
            let k = spec.build().unwrap();
            if matches!(spec, KernelSpec::Laplace { .. }) {
                let mut g0 = vec![1.0; d];
                k.grad_x(&xv, &xv, &mut g0);
                prop_assert!(g0.iter().all(|&v| v == 0.0));
                if dist_sq(&xv, &yv).sqrt() < 0.1 {
                    continue;
                }
            }
            let mut g = vec![0.0; d];
            k.grad_x(&xv, &yv, &mut g);
            for l in 0..d {
                let phi = |t: f64| {
                    let mut xt = xv.clone();
                    xt[l] += t;
                    k.eval(&xt, &yv)
                };
                let (fd, tol) = central_difference(phi, FD_STEP, e);
                prop_assert!((fd - g[l]).abs() <= tol, "{spec:?}: ∂_{l} k = {} vs FD {fd} (tol {tol})", g[l]);
            }
        }
    }

    /// The Jacobian `Dθ(x) = Σ_c a_c ∇k(x, c)ᵀ` against central differences of
    /// `θ_p(x + t e_q) = Σ_c k(x + t e_q, c) a_cp` (evaluated pair by pair, each `k` within
    /// `8(d + 4)eps(1 + ‖x‖² + ‖c‖²)`, the sum adding `m eps Σ|k a|`); and the batched
    /// vector–Jacobian product `Dθ(x_i)ᵀ v_i` (GEMM + `weighted_grad_in_place`) against
    /// `Σ_c ∇k(x_i, c)(a_c·v_i)` pair by pair, tolerance from `vjp_tolerance`.
    #[test]
    fn jacobian_and_vjp_match_references(
        (xs, cs) in two_batches(4, 5, 3),
        coeff_seed in any::<u64>(),
        p in 0.5f64..2.0,
    ) {
        let (n, m, d) = (xs.nrows(), cs.nrows(), xs.ncols());
        let mut rng = ChaCha8Rng::seed_from_u64(coeff_seed);
        let a = Mat::from_fn(m, d, |_, _| StandardNormal.sample(&mut rng));
        let v = Mat::from_fn(n, d, |_, _| StandardNormal.sample(&mut rng));
        // The Jacobian is checked at a generic point; then one evaluation point is put
        // exactly on a centre and one within 1e-9 of it, to exercise the refined
        // near-pair path of the batched routines.
        let xv = row(xs.as_ref(), n - 1);
        let mut xs = xs;
        for l in 0..d {
            xs[(0, l)] = cs[(0, l)];
            if n > 1 {
                xs[(1, l)] = cs[(0, l)] + 1e-9;
            }
        }
        for spec in specs(p) {
            let kernel = spec.build().unwrap();
            let theta = KernelExpansion::from_parts(spec.build().unwrap(), cs.as_ref(), a.as_ref()).unwrap();
            // Jacobian at the generic point xv against central differences.
            let laplace_kink = matches!(spec, KernelSpec::Laplace { .. })
                && (0..m).any(|c| dist_sq(&xv, &row(cs.as_ref(), c)).sqrt() < 0.1);
            if !laplace_kink {
                let mut jac = Mat::zeros(d, d);
                theta.jacobian_at(&xv, jac.as_mut());
                for q in 0..d {
                    for pp in 0..d {
                        let mut e = 0.0;
                        let mut abs = 0.0;
                        for c in 0..m {
                            let cv = row(cs.as_ref(), c);
                            e += a[(c, pp)].abs() * 8.0 * (d as f64 + 4.0) * EPS * (1.0 + sq(&xv) + sq(&cv));
                            abs += a[(c, pp)].abs() * kernel.eval(&xv, &cv).abs();
                        }
                        e += m as f64 * EPS * abs;
                        let phi = |t: f64| {
                            let mut xt = xv.clone();
                            xt[q] += t;
                            (0..m).map(|c| kernel.eval(&xt, &row(cs.as_ref(), c)) * a[(c, pp)]).sum::<f64>()
                        };
                        let (fd, tol) = central_difference(phi, FD_STEP, e);
                        prop_assert!(
                            (fd - jac[(pp, q)]).abs() <= tol,
                            "{spec:?}: Dθ[{pp},{q}] = {} vs FD {fd} (tol {tol})", jac[(pp, q)]
                        );
                    }
                }
            }
            // vjp against the per-pair reference, with Replace and with Add.
            let mut out = Mat::zeros(n, d);
            theta.vjp_in_place(xs.as_ref(), v.as_ref(), out.as_mut());
            let mut twice = out.clone();
            theta.vjp_in_place_with(xs.as_ref(), v.as_ref(), twice.as_mut(), Accum::Add, &mut ExpansionWorkspace::new());
            let mut g = vec![0.0; d];
            for i in 0..n {
                let xi = row(xs.as_ref(), i);
                let mut reference = vec![0.0; d];
                for c in 0..m {
                    let cv = row(cs.as_ref(), c);
                    let w: f64 = (0..d).map(|l| a[(c, l)] * v[(i, l)]).sum();
                    kernel.grad_x(&xi, &cv, &mut g);
                    for l in 0..d {
                        reference[l] += w * g[l];
                    }
                }
                for l in 0..d {
                    let tol = vjp_tolerance(spec, xs.as_ref(), i, cs.as_ref(), a.as_ref(), v.as_ref(), l);
                    prop_assert!(
                        (out[(i, l)] - reference[l]).abs() <= tol,
                        "{spec:?}: vjp[{i},{l}] = {} vs {} (tol {tol})", out[(i, l)], reference[l]
                    );
                    // Add re-associates the same partial sums: within twice the bound.
                    prop_assert!((twice[(i, l)] - 2.0 * out[(i, l)]).abs() <= 2.0 * tol);
                }
            }
        }
    }

    /// Reproducing property `⟨k(·, x) e_l, θ⟩_H = θ(x)_l` in both argument orders, the
    /// norm `‖θ‖² = tr(Aᵀ K_CC A)` against the explicit Gram, and Cauchy–Schwarz. Each side
    /// is a sum of `m` products of kernel values (each within `e` of exact, see
    /// `check_entry`): tolerance `2e Σ|a| + 2(m + d) eps Σ|k a|`.
    #[test]
    fn reproducing_property_and_norm(
        (cs, x) in two_batches(6, 1, 4),
        coeff_seed in any::<u64>(),
        p in 0.5f64..2.0,
    ) {
        let (m, d) = (cs.nrows(), cs.ncols());
        let mut rng = ChaCha8Rng::seed_from_u64(coeff_seed);
        let a = Mat::from_fn(m, d, |_, _| StandardNormal.sample(&mut rng));
        let xv = row(x.as_ref(), 0);
        let max_sq = (0..m).map(|c| sq(&row(cs.as_ref(), c))).fold(sq(&xv), f64::max);
        let e = 1e3 * (d as f64 + 4.0) * EPS * (1.0 + max_sq);
        for spec in specs(p) {
            let kernel = spec.build().unwrap();
            let theta = KernelExpansion::from_parts(spec.build().unwrap(), cs.as_ref(), a.as_ref()).unwrap();
            let value = theta.eval(x.as_ref());
            for l in 0..d {
                let unit = Mat::from_fn(1, d, |_, j| if j == l { 1.0 } else { 0.0 });
                let probe = KernelExpansion::from_parts(spec.build().unwrap(), x.as_ref(), unit.as_ref()).unwrap();
                let sum_a: f64 = (0..m).map(|c| a[(c, l)].abs()).sum();
                let sum_ka: f64 = (0..m).map(|c| (kernel.eval(&xv, &row(cs.as_ref(), c)) * a[(c, l)]).abs()).sum();
                let tol = 2.0 * e * sum_a + 2.0 * (m + d) as f64 * EPS * sum_ka;
                let direct: f64 = (0..m).map(|c| kernel.eval(&xv, &row(cs.as_ref(), c)) * a[(c, l)]).sum();
                prop_assert!((value[(0, l)] - direct).abs() <= tol, "{spec:?}: θ(x) = {} vs {direct}", value[(0, l)]);
                prop_assert!((probe.inner(&theta) - value[(0, l)]).abs() <= tol, "{spec:?}: ⟨k_x e_l, θ⟩ ≠ θ(x)_l");
                prop_assert!((theta.inner(&probe) - value[(0, l)]).abs() <= tol, "{spec:?}: ⟨θ, k_x e_l⟩ ≠ θ(x)_l");
                // Cauchy–Schwarz: ⟨θ, k_x e_l⟩² ≤ ‖θ‖² k(x, x), up to the same rounding.
                let cs_rhs = theta.norm_sq() * kernel.eval(&xv, &xv);
                prop_assert!(value[(0, l)].abs() <= cs_rhs.sqrt() + tol + (cs_rhs.abs() * 8.0 * m as f64 * EPS).sqrt());
            }
            let k = kernel.gram(cs.as_ref());
            let mut explicit = 0.0;
            let mut abs = 0.0;
            for c in 0..m {
                for c2 in 0..m {
                    let dot: f64 = (0..d).map(|l| a[(c, l)] * a[(c2, l)]).sum();
                    explicit += k[(c, c2)] * dot;
                    abs += (k[(c, c2)] * dot).abs();
                }
            }
            let sum_a2: f64 = (0..m).map(|c| (0..d).map(|l| a[(c, l)].abs()).sum::<f64>()).sum();
            let tol = 2.0 * e * sum_a2 * sum_a2 + 2.0 * (m * m + d) as f64 * EPS * abs;
            prop_assert!((theta.norm_sq() - explicit.max(0.0)).abs() <= tol, "{spec:?}: ‖θ‖² = {} vs {explicit}", theta.norm_sq());
        }
    }
}

/// Error bound for one entry of the batched vjp against the per-pair reference.
///
/// The batched routine forms `W = V Aᵀ` (error `≤ γ_d Σ_l|v_il a_cl|` per entry) and then,
/// per kernel:
/// - radial: `S_ic = w_ic g(s_ic)` from the GEMM distance (error `ds`, see `check_entry`;
///   `|g|` is monotone in `s`, so `|δg| ≤ |g(s − ds)| − |g(s + ds)|`), and
///   `(Σ_c S_ic) x_i − Σ_c S_ic c` (GEMM/sum rounding `(m + 4) eps Σ_c |S_ic|(|x_il| + |c_l|)`);
/// - arc-cosine: `α` from `acos` of a cosine with error `≤ 3γ_{d+1}` and `sin α ≥ 1.4·10⁻³`
///   outside the Kahan-refined range, so `δα ≤ 2200(d + 2)eps`; both coefficients move by
///   `≤ δα (|c_l| + (b/a)|x_il|)/π`;
/// - linear: `W C`, `(m + 2) eps Σ_c |w_ic||c_l|`.
///
/// All terms are bounded generously by a factor 4.
fn vjp_tolerance(
    spec: KernelSpec,
    x: MatRef<'_, f64>,
    i: usize,
    cs: MatRef<'_, f64>,
    a: MatRef<'_, f64>,
    v: MatRef<'_, f64>,
    l: usize,
) -> f64 {
    let (m, d) = (cs.nrows(), cs.ncols());
    let df = d as f64;
    let xi = row(x, i);
    let mut tol = 0.0;
    for c in 0..m {
        let cv = row(cs, c);
        let w: f64 = (0..d).map(|k| a[(c, k)] * v[(i, k)]).sum();
        let w_abs =
            w.abs() + (df + 1.0) * EPS * (0..d).map(|k| (a[(c, k)] * v[(i, k)]).abs()).sum::<f64>();
        // (error of the kernel factor per unit weight, magnitude of the gradient component)
        let (term, grad) = match spec {
            KernelSpec::ArcCosine1 => {
                let ratio = ((sq(&cv) + 1.0) / (sq(&xi) + 1.0)).sqrt();
                let mag = cv[l].abs() + ratio * xi[l].abs();
                ((2200.0 * (df + 2.0) + (m as f64 + 4.0)) * EPS * mag, mag)
            }
            KernelSpec::Linear => ((m as f64 + 2.0) * EPS * cv[l].abs(), cv[l].abs()),
            _ => {
                let s = dist_sq(&xi, &cv);
                let ds_gemm = 4.0 * (df + 2.0) * EPS * (sq(&xi) + sq(&cv));
                // s ≤ 2 ds_gemm ≪ 10⁻⁶(‖x‖² + ‖c‖²): the pair is certainly refined, its
                // distance summed directly (relative error 2d·eps).
                let ds = if s > 2.0 * ds_gemm {
                    ds_gemm + 2.0 * df * EPS * s
                } else {
                    2.0 * df * EPS * s
                };
                let g = radial_grad_factor_abs(spec, s.sqrt()).unwrap();
                let g_hi = radial_grad_factor_abs(spec, (s - ds).max(0.0).sqrt()).unwrap();
                let g_lo = radial_grad_factor_abs(spec, (s + ds).sqrt()).unwrap();
                let diff = (xi[l] - cv[l]).abs();
                let err = g * (m as f64 + 4.0) * EPS * (xi[l].abs() + cv[l].abs())
                    + (g_hi - g_lo).abs() * diff
                    + g * diff * 8.0 * EPS;
                (err, g * diff)
            }
        };
        tol += w_abs * term + (w_abs - w.abs()) * grad;
    }
    4.0 * tol + f64::MIN_POSITIVE
}

/// Closed-form values: Gaussian at distance σ is `e^{−1/2}`; Laplace at `r = ℓ` is `e^{−1}`;
/// Matérn 3/2 at `r = ℓ` is `(1 + √3)e^{−√3}`, Matérn 5/2 `(1 + √5 + 5/3)e^{−√5}`; inverse
/// multiquadric at `r = c` is `1/√2`; arc-cosine at `x = y` is `‖x‖² + 1`, at orthogonal
/// augmented inputs `a b/π`; linear is the dot product. Each value is a handful of
/// correctly rounded operations: tolerance 8 ulp of the value.
#[test]
fn closed_form_values() {
    let x = [0.3, -1.2, 0.5];
    let dir = [2.0 / 3.0, 1.0 / 3.0, 2.0 / 3.0]; // unit vector
    let at = |r: f64| -> Vec<f64> { x.iter().zip(dir).map(|(a, u)| a + r * u).collect() };
    let close = |got: f64, want: f64| {
        assert!(
            (got - want).abs() <= 8.0 * EPS * want.abs(),
            "{got} vs {want}"
        );
    };
    let (s, l, c) = (1.7, 0.8, 1.3);
    close(Gaussian::new(s).unwrap().eval(&x, &at(s)), (-0.5f64).exp());
    close(Laplace::new(l).unwrap().eval(&x, &at(l)), (-1.0f64).exp());
    close(
        Matern32::new(l).unwrap().eval(&x, &at(l)),
        (1.0 + 3f64.sqrt()) * (-(3f64.sqrt())).exp(),
    );
    close(
        Matern52::new(l).unwrap().eval(&x, &at(l)),
        (1.0 + 5f64.sqrt() + 5.0 / 3.0) * (-(5f64.sqrt())).exp(),
    );
    close(
        InverseMultiquadric::new(c).unwrap().eval(&x, &at(c)),
        0.5f64.sqrt(),
    );
    for k in specs(0.9).iter().take(5) {
        assert_eq!(k.build().unwrap().eval(&x, &x), 1.0, "{k:?}: k(x, x) = 1");
    }
    close(ArcCosine1.eval(&x, &x), sq(&x) + 1.0);
    // x̃·ỹ = −1 + 1 = 0: α = π/2, k = ‖x̃‖‖ỹ‖/π = 2/π
    close(ArcCosine1.eval(&[1.0, 0.0], &[-1.0, 0.0]), 2.0 / PI);
    close(Linear.eval(&[1.0, 2.0, 3.0], &[4.0, -5.0, 6.0]), 12.0);
    // Gram diagonal uses the same identities.
    let xs = Mat::from_fn(3, 3, |i, l| x[l] * (i as f64 + 1.0));
    let g = ArcCosine1.gram(xs.as_ref());
    for i in 0..3 {
        close(g[(i, i)], sq(&row(xs.as_ref(), i)) + 1.0);
    }
}

/// `ArcCosine1` is the limit of random ReLU features: `k(x, y) = E[2 relu(w·x̃) relu(w·ỹ)]`,
/// `w ~ N(0, I_{d+1})`. Seeded Monte Carlo with 200 000 samples: the sample mean must be
/// within 4 standard errors (sample standard deviation / √n) of the closed form.
#[test]
fn arc_cosine_is_the_relu_feature_limit() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let pairs = [
        (vec![0.5, -0.3, 1.0], vec![0.5, -0.3, 1.0]),
        (vec![0.5, -0.3, 1.0], vec![-1.0, 0.8, 0.2]),
        (vec![1.0, 0.0, 0.0], vec![-1.0, 0.0, 0.0]),
        (vec![2.0, 1.0, -1.0], vec![-2.0, -1.0, 1.5]),
    ];
    let n = 200_000;
    for (x, y) in pairs {
        let (xt, yt) = (
            [x.as_slice(), &[1.0]].concat(),
            [y.as_slice(), &[1.0]].concat(),
        );
        let (mut sum, mut sum_sq) = (0.0, 0.0);
        let mut w = vec![0.0; xt.len()];
        for _ in 0..n {
            for v in w.iter_mut() {
                *v = StandardNormal.sample(&mut rng);
            }
            let px: f64 = w.iter().zip(&xt).map(|(a, b)| a * b).sum();
            let py: f64 = w.iter().zip(&yt).map(|(a, b)| a * b).sum();
            let f = 2.0 * px.max(0.0) * py.max(0.0);
            sum += f;
            sum_sq += f * f;
        }
        let mean = sum / n as f64;
        let se = ((sum_sq / n as f64 - mean * mean) / n as f64).sqrt();
        let k = ArcCosine1.eval(&x, &y);
        assert!(
            (mean - k).abs() <= 4.0 * se,
            "x = {x:?}, y = {y:?}: MC {mean} ± {se} vs k = {k}"
        );
    }
}

/// Bochner: `k(x, y) = E cos(ω·(x − y))` with `ω` sampled by hand from the documented
/// recipe of each [`SpectralMeasure`] (Gaussian: `ω = z/σ`; Student-t:
/// `ω = z/(ℓ √(u/dof))`, `u ~ χ²(dof)`). 200 000 seeded samples; the mean must be within 4
/// standard errors of the kernel value.
#[test]
fn spectral_measures_reproduce_the_kernels() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let x = [0.4, -0.7, 1.1];
    let ys = [[0.9, -0.2, 0.8], [-0.5, 0.3, 1.9], [0.4, -0.7, 1.1]];
    let kernels: [Box<dyn Kernel>; 4] = [
        Box::new(Gaussian::new(0.8).unwrap()),
        Box::new(Laplace::new(1.3).unwrap()),
        Box::new(Matern32::new(0.7).unwrap()),
        Box::new(Matern52::new(1.1).unwrap()),
    ];
    let n = 200_000;
    for k in &kernels {
        let measure = k.spectral_measure().expect("stationary kernel");
        for y in &ys {
            let diff: Vec<f64> = x.iter().zip(y).map(|(a, b)| a - b).collect();
            let (mut sum, mut sum_sq) = (0.0, 0.0);
            for _ in 0..n {
                let scale = match measure {
                    SpectralMeasure::Gaussian { sigma } => 1.0 / sigma,
                    SpectralMeasure::StudentT { dof, lengthscale } => {
                        let u: f64 = ChiSquared::new(dof).unwrap().sample(&mut rng);
                        1.0 / (lengthscale * (u / dof).sqrt())
                    }
                };
                let phase: f64 = diff
                    .iter()
                    .map(|dl| {
                        let z: f64 = StandardNormal.sample(&mut rng);
                        scale * z * dl
                    })
                    .sum::<f64>();
                let f = phase.cos();
                sum += f;
                sum_sq += f * f;
            }
            let mean = sum / n as f64;
            let se = ((sum_sq / n as f64 - mean * mean).max(0.0) / n as f64).sqrt();
            let kv = k.eval(&x, y);
            // at x = y every sample is cos 0 = 1 exactly
            assert!(
                (mean - kv).abs() <= 4.0 * se + 8.0 * EPS,
                "{}: MC {mean} ± {se} vs k = {kv}",
                k.name()
            );
        }
    }
    for k in [
        Box::new(InverseMultiquadric::new(1.0).unwrap()) as Box<dyn Kernel>,
        Box::new(ArcCosine1),
        Box::new(Linear),
    ] {
        assert_eq!(k.spectral_measure(), None, "{}", k.name());
    }
}

/// `E‖ω‖²`: `d/σ²` for `N(0, σ⁻²I)`; `E‖z‖² E[dof/u] / ℓ² = d·dof/((dof − 2)ℓ²)` for the
/// Student-t (`E[1/u] = 1/(dof − 2)` for `u ~ χ²(dof)`), infinite for `dof ≤ 2`.
#[test]
fn spectral_second_moments() {
    let g = SpectralMeasure::Gaussian { sigma: 0.5 };
    assert_eq!(g.second_moment(3), 12.0);
    let t = |dof| SpectralMeasure::StudentT {
        dof,
        lengthscale: 2.0,
    };
    assert_eq!(t(1.0).second_moment(4), f64::INFINITY);
    assert_eq!(t(2.0).second_moment(4), f64::INFINITY);
    assert!((t(3.0).second_moment(4) - 4.0 * 3.0 / 4.0).abs() <= 4.0 * EPS);
    assert!((t(5.0).second_moment(2) - 2.0 * 5.0 / (3.0 * 4.0)).abs() <= 4.0 * EPS);
    for spec in specs(1.5) {
        assert_eq!(
            spec.spectral_measure(),
            spec.build().unwrap().spectral_measure()
        );
    }
}

/// Spectral tools on matrices with known spectra: `[[2, 1], [1, 2]]` has eigenvalues 1, 3
/// (backward-stable solver: error `≤ c·n·eps·‖K‖`, `c = 4`), Gershgorin gives exactly
/// `2 − 1 = 1`; `[[1, 2], [2, 1]]` (eigenvalues −1, 3) is not positive definite; the
/// minimum separation of `{0, (3, 4), (3, 4.5)}` is `0.5`.
#[test]
fn spectral_tools_on_known_matrices() {
    let k = faer::mat![[2.0, 1.0], [1.0, 2.0]];
    assert!((lambda_min(k.as_ref()) - 1.0).abs() <= 4.0 * 2.0 * EPS * 3.0);
    assert!((lambda_max(k.as_ref()) - 3.0).abs() <= 4.0 * 2.0 * EPS * 3.0);
    assert_eq!(gershgorin_lower_bound(k.as_ref()), 1.0);
    assert!(is_positive_definite(k.as_ref()));
    let indefinite = faer::mat![[1.0, 2.0], [2.0, 1.0]];
    assert!(!is_positive_definite(indefinite.as_ref()));
    assert!((lambda_min(indefinite.as_ref()) + 1.0).abs() <= 4.0 * 2.0 * EPS * 3.0);
    let nan = faer::mat![[1.0, f64::NAN], [f64::NAN, 1.0]];
    assert!(!is_positive_definite(nan.as_ref()));
    assert!(lambda_min(nan.as_ref()).is_nan());
    let pts = faer::mat![[0.0, 0.0], [3.0, 4.0], [3.0, 4.5]];
    assert_eq!(min_separation(pts.as_ref()), 0.5);
    assert_eq!(min_separation(pts.as_ref().subrows(0, 1)), f64::INFINITY);
    assert_eq!(gaussian_gershgorin_bound(1, 0.0, 1.0), 1.0);
    assert!(
        (gaussian_gershgorin_bound(3, 2.0, 1.0) - (1.0 - 2.0 * (-2.0f64).exp())).abs() <= 4.0 * EPS
    );
}

/// Inputs a user can get wrong come back as typed errors carrying the offending values.
#[test]
fn bad_inputs_are_typed_errors() {
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            Gaussian::new(bad),
            Err(KernelError::InvalidParameter { name: "sigma", .. })
        ));
        assert!(matches!(
            Laplace::new(bad),
            Err(KernelError::InvalidParameter {
                name: "lengthscale",
                ..
            })
        ));
        assert!(matches!(
            Matern32::new(bad),
            Err(KernelError::InvalidParameter { .. })
        ));
        assert!(matches!(
            Matern52::new(bad),
            Err(KernelError::InvalidParameter { .. })
        ));
        assert!(matches!(
            InverseMultiquadric::new(bad),
            Err(KernelError::InvalidParameter { name: "c", .. })
        ));
        assert!(KernelSpec::Gaussian { sigma: bad }.build().is_err());
        assert!(
            KernelSpec::Matern52 { lengthscale: bad }
                .validate()
                .is_err()
        );
    }
    let k = Gaussian::new(1.0).unwrap();
    let mut x = Mat::from_fn(3, 2, |i, j| (i + j) as f64);
    assert!(k.try_gram(x.as_ref()).is_ok());
    assert_eq!(
        k.try_gram(Mat::<f64>::zeros(0, 2).as_ref()),
        Err(KernelError::Empty {
            what: "x",
            rows: 0,
            cols: 2
        })
    );
    assert!(is_mismatch(
        k.try_cross_gram(x.as_ref(), Mat::<f64>::zeros(2, 3).as_ref()),
        2,
        3
    ));
    assert!(matches!(
        k.try_eval(&[1.0], &[1.0, 2.0]),
        Err(KernelError::DimensionMismatch { .. })
    ));
    x[(1, 1)] = f64::NAN;
    assert!(matches!(
        k.try_gram(x.as_ref()),
        Err(KernelError::NonFinite { row: 1, col: 1, .. })
    ));
    assert!(matches!(
        try_min_separation(x.as_ref()),
        Err(KernelError::NonFinite { .. })
    ));
    assert!(matches!(
        try_lambda_min(Mat::<f64>::zeros(2, 3).as_ref()),
        Err(KernelError::NotSquare {
            rows: 2,
            cols: 3,
            ..
        })
    ));
    let mut theta = KernelExpansion::new(KernelSpec::Linear.build().unwrap(), 2);
    let c = Mat::from_fn(2, 2, |i, j| (i * 2 + j) as f64);
    assert!(is_mismatch(
        theta.append(c.as_ref(), Mat::<f64>::zeros(3, 2).as_ref()),
        2,
        3
    ));
    assert!(matches!(
        theta.append(x.as_ref().subrows(0, 2), c.as_ref()),
        Err(KernelError::NonFinite { .. })
    ));
    assert!(matches!(
        theta.append_scaled(c.as_ref(), c.as_ref(), f64::NAN),
        Err(KernelError::NonFinite { .. })
    ));
    assert_eq!(theta.n_centres(), 0, "a failed append leaves θ unchanged");
    assert!(matches!(
        theta.try_eval(Mat::<f64>::zeros(1, 3).as_ref()),
        Err(KernelError::DimensionMismatch { .. })
    ));
    // A spec of one kind cannot deserialize into another kernel type.
    assert!(serde_json::from_str::<Gaussian>(r#"{"kind":"laplace","lengthscale":1.0}"#).is_err());
    assert!(serde_json::from_str::<Gaussian>(r#"{"kind":"gaussian","sigma":-2.0}"#).is_err());
}

/// `KernelSpec` and the kernel structs serialise to the tagged form and back.
#[test]
fn serde_round_trips() {
    for spec in specs(1.25) {
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<KernelSpec>(&json).unwrap(), spec);
        let k = spec.build().unwrap();
        assert_eq!(k.spec(), Some(spec));
        assert_eq!(k.name(), spec.kind());
        assert!(
            json.contains(&format!(r#""kind":"{}""#, spec.kind())),
            "{json}"
        );
    }
    let g: Gaussian = serde_json::from_str(r#"{"kind":"gaussian","sigma":0.5}"#).unwrap();
    assert_eq!(g.sigma(), 0.5);
    assert_eq!(
        serde_json::to_string(&ArcCosine1).unwrap(),
        r#"{"kind":"arc_cosine1"}"#
    );
}

/// Large enough to take the parallel element-wise path (> 2¹⁵ entries), with a row-major
/// input and a transposed (row-stride ≠ 1) output view that takes the buffered path:
/// every entry must still satisfy the `check_entry` bracket, and the cross Gram of `X`
/// with itself agrees with the Gram.
#[test]
fn parallel_and_strided_paths() {
    let (n, d) = (300, 3);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let data: Vec<f64> = (0..n * d)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let x = MatRef::from_row_major_slice(&data, n, d);
    for spec in specs(0.9) {
        let k = spec.build().unwrap();
        let g = k.gram(x);
        let mut gt = Mat::zeros(n, n);
        k.gram_in_place(x, gt.as_mut().transpose_mut());
        let c = k.cross_gram(x, x);
        for i in (0..n).step_by(7) {
            for j in 0..n {
                check_entry(spec, &row(x, i), &row(x, j), g[(i, j)]).unwrap();
                check_entry(spec, &row(x, i), &row(x, j), c[(i, j)]).unwrap();
                assert_eq!(g[(i, j)], gt[(j, i)]);
            }
        }
    }
}

/// A Gram large enough (`N² ≥ 2²⁰`) to be mirrored with streaming stores: exactly
/// symmetric, and a sample of entries within the `check_entry` bracket.
#[test]
fn large_gram_streaming_mirror() {
    let (n, d) = (1100, 2);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let x = Mat::from_fn(n, d, |_, _| StandardNormal.sample(&mut rng));
    let spec = KernelSpec::Gaussian { sigma: 0.7 };
    let g = spec.build().unwrap().gram(x.as_ref());
    for j in 0..n {
        for i in 0..n {
            assert_eq!(g[(i, j)].to_bits(), g[(j, i)].to_bits());
        }
    }
    for i in (0..n).step_by(37) {
        for j in (0..n).step_by(5) {
            check_entry(spec, &row(x.as_ref(), i), &row(x.as_ref(), j), g[(i, j)]).unwrap();
        }
    }
}

/// Appending is linear in the coefficients, `append_scaled(C, A, α)` equals appending
/// `αA`, evaluation on blocks of centres covers every centre, and the memory figure counts
/// the stored numbers.
#[test]
fn expansion_append_and_memory() {
    let kernel = Gaussian::new(1.0).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (m, d) = (40, 3);
    let c = Mat::from_fn(m, d, |_, _| StandardNormal.sample(&mut rng));
    let a = Mat::from_fn(m, d, |_, _| StandardNormal.sample(&mut rng));
    let x = Mat::from_fn(5, d, |_, _| StandardNormal.sample(&mut rng));
    let mut one = KernelExpansion::new(KernelSpec::Gaussian { sigma: 1.0 }.build().unwrap(), d);
    assert!(one.is_empty());
    assert_eq!(one.eval(x.as_ref()), Mat::<f64>::zeros(5, d));
    assert_eq!(one.norm_sq(), 0.0);
    one.append_scaled(c.as_ref(), a.as_ref(), -0.5).unwrap();
    let mut two = KernelExpansion::new(KernelSpec::Gaussian { sigma: 1.0 }.build().unwrap(), d);
    two.append(c.as_ref().subrows(0, 10), a.as_ref().subrows(0, 10))
        .unwrap();
    two.append(
        c.as_ref().subrows(10, m - 10),
        a.as_ref().subrows(10, m - 10),
    )
    .unwrap();
    assert_eq!(one.n_centres(), m);
    assert_eq!(two.n_centres(), m);
    assert!(one.memory_bytes() >= 2 * m * d * 8);
    let (e1, e2) = (one.eval(x.as_ref()), two.eval(x.as_ref()));
    for i in 0..5 {
        for l in 0..d {
            let direct: f64 = (0..m)
                .map(|cc| kernel.eval(&row(x.as_ref(), i), &row(c.as_ref(), cc)) * a[(cc, l)])
                .sum();
            let abs: f64 = (0..m).map(|cc| a[(cc, l)].abs()).sum();
            // m-term sums of kernel values with entry error ≤ 4(d+2)eps(‖x‖²+‖c‖²)/(2σ²)
            // (|x|,|c| ≲ 5 here, so ≤ 200 eps): m·eps·Σ|a| + 200 eps Σ|a|.
            let tol = (m as f64 + 200.0) * EPS * abs;
            assert!((e2[(i, l)] - direct).abs() <= tol);
            assert!((e1[(i, l)] + 0.5 * direct).abs() <= tol);
        }
    }
    // Tiny workspace budgets split the 40 centres into blocks of 1, 2 and 8: same
    // values and vjps up to the re-association of the m-term sums (tolerance as above).
    let v = Mat::from_fn(5, d, |_, _| StandardNormal.sample(&mut rng));
    let mut vjp = Mat::zeros(5, d);
    two.vjp_in_place(x.as_ref(), v.as_ref(), vjp.as_mut());
    for budget in [1, 10, 40] {
        let mut ws = ExpansionWorkspace::with_max_entries(budget);
        let mut e = Mat::zeros(5, d);
        two.eval_in_place_with(x.as_ref(), e.as_mut(), &mut ws);
        let mut g = Mat::zeros(5, d);
        two.vjp_in_place_with(x.as_ref(), v.as_ref(), g.as_mut(), Accum::Replace, &mut ws);
        assert!(ws.memory_bytes() <= 2 * 8 * 5 * (budget / 5).max(1));
        for i in 0..5 {
            for l in 0..d {
                let abs: f64 = (0..m).map(|cc| a[(cc, l)].abs()).sum();
                assert!((e[(i, l)] - e2[(i, l)]).abs() <= (m as f64 + 200.0) * EPS * abs);
                // vjp terms are bounded by |w|·|g|·|x − c| ≤ Σ_c |a_c||v_i|·(|x|+|c|)/σ²
                let scale: f64 = (0..m)
                    .map(|cc| {
                        let av: f64 = (0..d).map(|k| (a[(cc, k)] * v[(i, k)]).abs()).sum();
                        av * (x[(i, l)].abs() + c[(cc, l)].abs())
                    })
                    .sum();
                assert!((g[(i, l)] - vjp[(i, l)]).abs() <= 4.0 * (m as f64 + 8.0) * EPS * scale);
            }
        }
    }
    assert_eq!(one.centres(), c.as_ref());
    assert_eq!(one.coefficients()[(3, 1)], -0.5 * a[(3, 1)]);
}

/// Whether `r` is [`KernelError::DimensionMismatch`] with these `expected` and `got`.
fn is_mismatch<T>(r: Result<T, KernelError>, expected: usize, got: usize) -> bool {
    matches!(r, Err(KernelError::DimensionMismatch { expected: e, got: g, .. }) if (e, g) == (expected, got))
}
