//! The theorems of docs/theory.md §5–§7 as property tests on random, well-separated data.
//!
//! Case counts: the central theorem (ρ ≥ μ_cert) runs 1000 cases by default, or
//! `PLRES_THEORY_CASES`; the others run a small default (`PROPTEST_CASES` overrides,
//! `PLRES_THEORY_CASES` raises them too).

#![forbid(unsafe_code)]

use std::sync::Arc;

use faer::Mat;
use plres_kernels::KernelSpec;
use plres_kernels::spectral::{SymEigen, min_separation};
use plres_optim::{GradientDescentConfig, State, Stopping, run};
use plres_resnet::{
    Integrator, KernelResNet, LinearResNet, LinearResNetConfig, TargetsRef, TrainingProblem,
};
use plres_resnet::{Model as _, Trainable as _};
use plres_rff::{FeatureMap, FourierVariant, RandomFourierFeatures, RandomReluFeatures};
use plres_theory::convergence::{fit_linear_rate, predicted_gd_rate};
use plres_theory::limits::{IntegratorOrder, depth_order, frobenius_distance};
use plres_theory::linalg::gram_in_place;
use plres_theory::pl::apriori::{
    AprioriInput, Depth, admissibility_constant, apriori_bound, apriori_bound_features,
};
use plres_theory::pl::{LinearCertifier, Monitor, MonitorConfig, kernel_snapshot};
use proptest::prelude::*;
use proptest::test_runner::Config;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal, Uniform};

#[path = "theorems/tight.rs"]
mod tight;

/// Cases of the central theorem: `PLRES_THEORY_CASES`, default 1000.
fn theorem_cases() -> u32 {
    std::env::var("PLRES_THEORY_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000)
}

/// Cases of the slower properties: `PROPTEST_CASES` (default `default`), raised to
/// `PLRES_THEORY_CASES / 50` when that asks for more.
fn small_cases(default: u32) -> u32 {
    let base = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    let extra = std::env::var("PLRES_THEORY_CASES")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .map_or(0, |c| c / 50);
    base.max(extra)
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// `n` points in `R^d` with pairwise distances `≥ delta0`: uniform in a box of side
/// `delta0 · (4n)^{1/d} · 2`, rejection sampling point by point.
fn separated_points(rng: &mut ChaCha8Rng, n: usize, d: usize, delta0: f64) -> Mat<f64> {
    let side = delta0 * (4.0 * n as f64).powf(1.0 / d as f64) * 2.0;
    let u = Uniform::new(-side / 2.0, side / 2.0).unwrap();
    let mut x = Mat::<f64>::zeros(n, d);
    let mut i = 0;
    let mut tries = 0;
    while i < n {
        for c in 0..d {
            x[(i, c)] = u.sample(rng);
        }
        let ok = (0..i).all(|j| {
            let s: f64 = (0..d).map(|c| (x[(i, c)] - x[(j, c)]).powi(2)).sum();
            s >= delta0 * delta0
        });
        tries += 1;
        assert!(
            tries < 100_000,
            "cannot place {n} points in R^{d} at separation {delta0}"
        );
        if ok {
            i += 1;
        }
    }
    x
}

fn random_mat(rng: &mut ChaCha8Rng, r: usize, c: usize, scale: f64) -> Mat<f64> {
    Mat::from_fn(r, c, |_, _| scale * normal(rng))
}

/// One of three feature maps: Gaussian RFF (`kind = 0`: σ = 1, cosine with phase),
/// Matérn-5/2 RFF (paired, `p` made even) or ReLU features.
fn features(rng: &mut ChaCha8Rng, kind: u8, d: usize, p: usize) -> Arc<dyn FeatureMap> {
    match kind % 3 {
        0 => Arc::new(
            RandomFourierFeatures::sample(
                &KernelSpec::Gaussian { sigma: 1.0 },
                d,
                p,
                FourierVariant::CosineWithPhase,
                rng,
            )
            .unwrap(),
        ),
        1 => Arc::new(
            RandomFourierFeatures::sample(
                &KernelSpec::Matern52 { lengthscale: 1.0 },
                d,
                p + p % 2,
                FourierVariant::Paired,
                rng,
            )
            .unwrap(),
        ),
        _ => Arc::new(RandomReluFeatures::sample(d, p, rng).unwrap()),
    }
}

proptest! {
    #![proptest_config(Config::with_cases(theorem_cases()))]

    /// **Claim** (docs/theory.md §5 items 1–4): at *every* θ of an Euler ResNet with squared loss,
    /// the exact identity `‖G‖² = h Σ_k Σ_ij ⟨p_i^{k+1}, p_j^{k+1}⟩ k_p(x_i^k, x_j^k)`, the
    /// kernel bound, the adjoint bound, `‖P^L‖² ≥ σ_min(Bᵀ)²(2/N)L` and
    /// `ρ = ‖G‖²/L ≥ μ_cert` hold. Random well-separated data (N ≤ 24, d ≤ 6), widths
    /// `p ∈ [N, 3N]`, depths 1–8, three feature maps, parameter scales from 0 to 4 (so some
    /// factors `(1 − h a_j)₊` vanish), optional input embedding and output map.
    /// Tolerances: items 1–3 from rounding (`4 n eps S`, stated in `PlSnapshot::reports`),
    /// item 4 the monitor's relative 1e-9. No check fails; `ρ ≥ μ_cert` is vacuous where the
    /// draw makes some `λ_k` round to 0 (`μ_cert = 0`).
    #[test]
    fn pl_certificate_holds_at_every_theta(
        seed in any::<u64>(),
        n in 2usize..=24,
        d in 1usize..=6,
        width_frac in 0.0f64..2.0,
        depth in 1usize..=8,
        scale in 0.0f64..4.0,
        kind in 0u8..3,
        maps in 0u8..4,
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let p = n + (width_frac * n as f64).ceil() as usize;
        let x = separated_points(&mut rng, n, d, 1.0);
        let phi = features(&mut rng, kind, d, p);
        let mut net = LinearResNet::new(phi, LinearResNetConfig { depth, ..Default::default() }).unwrap();
        let p = net.width();
        let u_scale = scale / (p as f64).sqrt();
        for v in net.params_mut() {
            *v = u_scale * normal(&mut rng);
        }
        let (x_in, d_out) = match maps {
            1 => (x.clone(), d.max(2) - 1), // output map B: (d−1)×d (σ_min(Bᵀ) > 0 a.s.)
            2 => (random_mat(&mut rng, n, d + 1, 1.0), d), // input embedding A: d×(d+1)
            _ => (x.clone(), d),
        };
        if maps == 1 && d >= 2 {
            net = net.with_output_map(random_mat(&mut rng, d_out, d, 1.0)).unwrap();
        }
        if maps == 2 {
            net = net.with_input_embedding(random_mat(&mut rng, d, d + 1, 1.0 / (d as f64).sqrt())).unwrap();
        }
        let d_out = net.output_dim();
        let y = random_mat(&mut rng, n, d_out, 1.0);
        let mut cert = LinearCertifier::new(&net, n).unwrap();
        let snap = cert.evaluate(&net, net.params(), x_in.as_ref(), y.as_ref()).unwrap();
        prop_assert!(snap.loss > 0.0);
        for r in snap.reports() {
            prop_assert!(!r.fails(), "{}\n{snap:?}", r.table_row());
        }
        prop_assert!(snap.rho >= snap.mu_cert.unwrap() * (1.0 - 1e-9));
    }
}

/// Centres and unit coefficients of every layer of a random kernel ResNet.
type Layers = Vec<(Mat<f64>, Mat<f64>)>;

/// A kernel ResNet with `m` random centres per layer near the data, coefficients
/// `N(0,1)·t` (so that `‖θ‖ = t ‖θ_unit‖`).
fn random_kernel_net(
    spec: KernelSpec,
    x: &Mat<f64>,
    depth: usize,
    m: usize,
    rng: &mut ChaCha8Rng,
) -> (Layers, KernelResNet) {
    let (n, d) = (x.nrows(), x.ncols());
    let mut parts = Vec::new();
    let mut net = KernelResNet::new(spec, d, depth).unwrap();
    for k in 0..depth {
        let c = Mat::from_fn(m, d, |i, j| x[(i % n, j)] + 0.5 * normal(rng));
        let a = random_mat(rng, m, d, 1.0);
        net.layers_mut()[k].append(c.as_ref(), a.as_ref()).unwrap();
        parts.push((c, a));
    }
    (parts, net)
}

fn rescaled_kernel_net(
    spec: KernelSpec,
    d: usize,
    parts: &[(Mat<f64>, Mat<f64>)],
    t: f64,
) -> KernelResNet {
    let mut net = KernelResNet::new(spec, d, parts.len()).unwrap();
    for (k, (c, a)) in parts.iter().enumerate() {
        net.layers_mut()[k]
            .append_scaled(c.as_ref(), a.as_ref(), t)
            .unwrap();
    }
    net
}

fn kernel_of(kind: u8, scale: f64) -> KernelSpec {
    match kind % 4 {
        0 => KernelSpec::Gaussian { sigma: scale },
        1 => KernelSpec::Matern52 { lengthscale: scale },
        2 => KernelSpec::InverseMultiquadric { c: scale },
        _ => KernelSpec::Matern32 { lengthscale: scale },
    }
}

/// A random kernel ResNet: `n` points in `R^d` at separation 1, the kernel
/// `kernel_of(kind, 1.0)` and `depth` layers of `m` random centres with coefficients
/// `N(0,1)·t`, all drawn from `seed`.
#[derive(Clone, Copy, Debug)]
struct KernelCase {
    seed: u64,
    n: usize,
    d: usize,
    depth: usize,
    m: usize,
    t: f64,
    kind: u8,
}

impl KernelCase {
    /// Cases with `2 ≤ n ≤ n_max`, `1 ≤ d ≤ d_max`, `1 ≤ depth ≤ depth_max`,
    /// `1 ≤ m ≤ m_max`, `0 ≤ t < t_max` and the four kernels.
    fn strategy(
        n_max: usize,
        d_max: usize,
        depth_max: usize,
        m_max: usize,
        t_max: f64,
    ) -> impl Strategy<Value = Self> {
        let ranges = (2..=n_max, 1..=d_max, 1..=depth_max, 1..=m_max);
        (any::<u64>(), ranges, 0.0..t_max, 0u8..4).prop_map(|(seed, (n, d, depth, m), t, kind)| {
            Self {
                seed,
                n,
                d,
                depth,
                m,
                t,
                kind,
            }
        })
    }

    /// The data `X` and the net, with the RNG for further draws.
    fn build(self) -> (ChaCha8Rng, Mat<f64>, KernelResNet) {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let x = separated_points(&mut rng, self.n, self.d, 1.0);
        let spec = kernel_of(self.kind, 1.0);
        let (parts, _) = random_kernel_net(spec, &x, self.depth, self.m, &mut rng);
        let net = rescaled_kernel_net(spec, self.d, &parts, self.t);
        (rng, x, net)
    }
}

proptest! {
    #![proptest_config(Config::with_cases(small_cases(48)))]

    /// **Claim** (docs/theory.md §5 items 2–4, infinite width): `ρ ≥ μ_cert` with the exact
    /// kernel Gram at every θ of the kernel ResNet (random kernel expansions; Gaussian,
    /// Matérn, inverse multiquadric kernels; N ≤ 24, d ≤ 6).
    #[test]
    fn pl_certificate_holds_for_kernel_resnet(case in KernelCase::strategy(24, 6, 8, 12, 3.0)) {
        let (mut rng, x, net) = case.build();
        let y = random_mat(&mut rng, case.n, case.d, 1.0);
        let snap = kernel_snapshot(&net, x.as_ref(), y.as_ref(), None).unwrap();
        for r in snap.reports() {
            prop_assert!(r.holds(), "{}", r.table_row());
        }
    }

    /// **Claim** (docs/theory.md §5, a-priori bound): for data with separation `δ₀` and any θ with
    /// `‖θ‖ ≤ R`, the a-priori constant `(2/N) λ_* D_L(κR)²` (Gershgorin at the
    /// guaranteed separation `δ₀D_L(κR)`, `D_L` the Euler contraction factor → `e^{−κR}`)
    /// is at most `μ_cert(θ)`; ingredient by ingredient `a_k ≤ κ‖θ_k‖_H`,
    /// `δ_k ≥ δ₀ D_L`, `λ_k ≥ λ_*`. Kernels: Gaussian (`κ = 1/σ`), Matérn 5/2
    /// (`√(5/3)/ℓ`), inverse multiquadric (`1/c`), Matérn 3/2 (`√3/ℓ`); `δ₀ = 6`
    /// length-scales, `κR ≤ 1/2`, so the Gaussian bound is never vacuous (`δ ≥ 3σ` gives
    /// `λ_* ≥ 1 − 23e^{−4.5} > 0.7`). Relative tolerance 1e-12 (rounding of `λ_min`, norms).
    #[test]
    fn apriori_bound_is_below_the_certificate(
        seed in any::<u64>(),
        n in 2usize..=24,
        d in 1usize..=6,
        depth in 1usize..=8,
        m in 1usize..=8,
        kappa_r in 0.0f64..0.5,
        frac in 0.0f64..=1.0,
        kind in 0u8..4,
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let delta0 = 6.0;
        let x = separated_points(&mut rng, n, d, delta0);
        let spec = kernel_of(kind, 1.0);
        let kappa = admissibility_constant(&spec).unwrap();
        let radius = kappa_r / kappa;
        let (parts, unit) = random_kernel_net(spec, &x, depth, m, &mut rng);
        let t = frac * radius / unit.norm_sq().sqrt();
        let net = rescaled_kernel_net(spec, d, &parts, t);
        prop_assert!(net.norm_sq().sqrt() <= radius * (1.0 + 1e-12));
        let y = random_mat(&mut rng, n, d, 1.0);
        let snap = kernel_snapshot(&net, x.as_ref(), y.as_ref(), None).unwrap();
        let bound = apriori_bound(&AprioriInput {
            kernel: spec,
            n_samples: n,
            delta0: min_separation(x.as_ref()),
            radius,
            depth: Depth::Euler(depth),
            sigma_b_sq: 1.0,
        }).unwrap();
        let mu = snap.mu_cert.unwrap();
        prop_assert!(bound.mu <= mu * (1.0 + 1e-12), "a-priori {} > μ_cert {}", bound.mu, mu);
        for (k, layer) in net.layers().iter().enumerate() {
            prop_assert!(snap.a[k] <= kappa * layer.norm_sq().max(0.0).sqrt() * (1.0 + 1e-12) + 1e-15);
        }
        for &l in &snap.lambda {
            prop_assert!(l >= bound.lambda_star - 1e-12);
        }
        if kind % 4 == 0 {
            prop_assert!(bound.expressive && bound.mu > 0.0, "{bound:?}");
        }
    }
}

/// `λ_min`, `λ_max` of `ΦΦᵀ` at the rows of `x`.
fn features_extremes(phi: &dyn FeatureMap, x: &Mat<f64>) -> (f64, f64) {
    let f = phi.apply(x.as_ref());
    let n = x.nrows();
    let mut g = Mat::zeros(n, n);
    gram_in_place(f.as_ref(), g.as_mut(), faer::Par::Seq);
    let mut e = SymEigen::new(n, faer::Par::Seq);
    let v = e.eigenvalues(g.as_ref()).unwrap().to_vec();
    (v[0], v[n - 1])
}

proptest! {
    #![proptest_config(Config::with_cases(small_cases(8)))]

    /// **Claim** (docs/theory.md §5 Convergence; §7 lazy regime): with `p ≥ 2N` Gaussian RFF, θ₀ = 0
    /// and targets inside the certified regime — radius `R` with a-priori finite-width
    /// constant `μ_R > 0` on `‖θ‖ ≤ R` and `4√(L₀/μ_R) ≤ R` — gradient descent in the L²
    /// metric with step `η = N/(2λ_max(K_p))` (half the inverse smoothness at θ₀) reaches
    /// `L ≤ 1e-8·L₀` without leaving the ball: every certified iterate has
    /// `ρ ≥ μ_cert ≥ μ_R`, the sufficient decrease holds with `c ≥ 1/2` (so the step is in
    /// the regime `η ≤ 1/β` uses), the observed rate is at most `1 − ημ_R/2` and the path
    /// length is at most `(1/c)·2√(L₀/μ_R) ≤ R`. The limit reached is a global minimiser
    /// (`L → 0`).
    #[test]
    fn gd_converges_linearly_inside_the_certified_ball(
        seed in any::<u64>(),
        n in 4usize..=16,
        d in 2usize..=5,
        width_mult in 2usize..=4,
        depth in 1usize..=4,
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = separated_points(&mut rng, n, d, 3.0);
        let p = width_mult * n;
        let phi = features(&mut rng, 0, d, p); // Gaussian RFF, σ = 1
        let (lmin, lmax) = features_extremes(phi.as_ref(), &x);
        prop_assume!(lmin > 1e-3 * lmax); // a degenerate draw is not the claim's setting
        let net = LinearResNet::new(phi, LinearResNetConfig { depth, ..Default::default() }).unwrap();
        // radius: κ_p √(2N) R = √λ₀/2 makes λ_R ≥ λ₀/4
        let kappa = plres_theory::expressivity::feature_admissibility_bound(net.features().as_ref()).unwrap();
        let radius = 0.5 * lmin.sqrt() / (kappa * (2.0 * n as f64).sqrt());
        let apr = apriori_bound_features(&net, x.as_ref(), radius).unwrap();
        prop_assert!(apr.mu > 0.0, "{apr:?}");
        // targets: L₀ = t²‖Δ‖²/(2N) with 4√(L₀/μ_R) = 0.9 R
        let delta = random_mat(&mut rng, n, d, 1.0);
        let dn = delta.norm_l2();
        let t = 0.9 * radius * (2.0 * n as f64 * apr.mu).sqrt() / (4.0 * dn);
        let y = Mat::from_fn(n, d, |i, j| x[(i, j)] + t * delta[(i, j)]);
        let l0 = t * t * dn * dn / (2.0 * n as f64);
        let eta = n as f64 / (2.0 * lmax);
        let mut monitor = Monitor::new(&net, x.as_ref(), y.as_ref(), MonitorConfig { every: 10, ..Default::default() }).unwrap();
        let metric = net.metric();
        let theta0 = net.params().to_vec();
        let mut problem = TrainingProblem::new(net, x.as_ref(), TargetsRef::Regression(y.as_ref())).unwrap();
        let mut history = plres_optim::History::new();
        let gd = GradientDescentConfig::new(eta).with_metric(metric).build().unwrap();
        let stop = Stopping::iterations(200_000).loss_below(1e-8 * l0);
        let out = run(&mut problem, &gd, State::new(theta0), &stop, &mut [&mut monitor, &mut history]).unwrap();
        prop_assert!(out.report.final_loss <= 1e-8 * l0, "{:?}", out.report);
        let last = monitor.certify(out.report.final_iteration, out.state.params()).unwrap();
        prop_assert!((monitor.rows()[0].loss - l0).abs() <= 1e-9 * l0);
        for r in monitor.rows() {
            prop_assert!(r.rho >= r.mu_cert * (1.0 - 1e-9), "{r:?}");
            prop_assert!(r.mu_cert >= apr.mu * (1.0 - 1e-12), "μ_cert {} < a-priori {}", r.mu_cert, apr.mu);
            prop_assert!(r.distance <= radius, "left the ball: {} > {radius}", r.distance);
        }
        prop_assert!(last.loss <= 1e-8 * l0);
        let c = monitor.decrease_constant();
        prop_assert!(c >= 0.5, "sufficient decrease c = {c}");
        let bound = plres_theory::convergence::gd_path_length_bound(l0, apr.mu, c);
        prop_assert!(monitor.path_length() <= bound && bound <= radius, "{} vs {bound} vs {radius}", monitor.path_length());
        for r in monitor.reports() {
            prop_assert!(r.holds(), "{}", r.table_row());
        }
        let losses = history.losses();
        let its: Vec<f64> = (0..losses.len()).map(|i| i as f64).collect();
        let fit = fit_linear_rate(&its, &losses).unwrap();
        prop_assert!(fit.worst_step_ratio <= predicted_gd_rate(eta, apr.mu));
        prop_assert!(fit.rate <= predicted_gd_rate(eta, apr.mu) + 3.0 * fit.rate_se, "{fit:?}");
    }

    /// **Claim** (docs/theory.md §7 Depth, plres-ode orders): for the smooth, affine-in-`s` field
    /// `θ(s) = (A + sB) φ` (exact under the linear interpolation of the slices), the
    /// ResNet output with `L` layers converges to the flow at order 1 (Euler), 2
    /// (midpoint, Heun) and 4 (RK4): the least-squares slope of `log err` against `log h`
    /// is at least the order minus (3 standard errors + 0.25). Reference: RK4 with
    /// `L = 512` (its error `O(512⁻⁴)` is far below the finest error fitted).
    #[test]
    fn depth_orders_of_the_resnet_forward_map(
        seed in any::<u64>(),
        n in 2usize..=12,
        d in 1usize..=4,
        p in 8usize..=32,
        scale in 0.5f64..2.0,
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = separated_points(&mut rng, n, d, 1.0);
        let phi = features(&mut rng, 0, d, p); // Gaussian RFF, σ = 1
        let a = random_mat(&mut rng, d, p, scale / (p as f64).sqrt());
        let b = random_mat(&mut rng, d, p, scale / (p as f64).sqrt());
        let output = |integrator: Integrator, depth: usize| {
            let mut net = LinearResNet::new(phi.clone(), LinearResNetConfig { depth, integrator, ..Default::default() }).unwrap();
            let h = 1.0 / depth as f64;
            let dp = d * p;
            for (k, u) in net.params_mut().chunks_mut(dp).enumerate() {
                let s = k as f64 * h;
                for r in 0..d {
                    for c in 0..p {
                        u[r * p + c] = a[(r, c)] + s * b[(r, c)];
                    }
                }
            }
            net.forward(x.as_ref()).unwrap()
        };
        let reference = output(Integrator::Rk4, 512);
        for (integ, order, depths) in [
            (Integrator::Euler, IntegratorOrder::Euler, [8usize, 16, 32, 64]),
            (Integrator::Midpoint, IntegratorOrder::Midpoint, [4, 8, 16, 32]),
            (Integrator::Heun, IntegratorOrder::Heun, [4, 8, 16, 32]),
            (Integrator::Rk4, IntegratorOrder::Rk4, [2, 4, 8, 16]),
        ] {
            let hs: Vec<f64> = depths.iter().map(|&l| 1.0 / l as f64).collect();
            let errs: Vec<f64> = depths.iter().map(|&l| frobenius_distance(output(integ, l).as_ref(), reference.as_ref())).collect();
            // rounding floor of the comparison: 1e3·eps·‖Z‖ — never reached at these depths
            let floor = 1e3 * f64::EPSILON * reference.norm_l2();
            prop_assert!(errs.iter().all(|&e| e > floor), "{integ:?}: {errs:?}");
            let fit = depth_order(&hs, &errs).unwrap();
            prop_assert!(fit.slope >= order.order() - (3.0 * fit.slope_se + 0.25), "{integ:?}: {fit:?}");
        }
    }
}

/// The monitor flags a violation when the certificate is wrong: feeding it a model
/// whose features differ from the trained one's makes `μ_cert` unrelated to `ρ`; a
/// deliberately inflated tolerance check (`rel_tol` near 1) never flags. Guards against
/// a monitor that cannot fail.
#[test]
fn snapshot_violation_flag_can_fire() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x = separated_points(&mut rng, 6, 2, 1.0);
    let y = random_mat(&mut rng, 6, 2, 1.0);
    let phi = features(&mut rng, 0, 2, 12);
    let net = LinearResNet::new(
        phi,
        LinearResNetConfig {
            depth: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let mut cert = LinearCertifier::new(&net, 6).unwrap();
    let mut snap = cert
        .evaluate(&net, net.params(), x.as_ref(), y.as_ref())
        .unwrap();
    assert!(!snap.violates(1e-9));
    snap.mu_cert = Some(snap.rho * 2.0);
    assert!(snap.violates(1e-9));
    assert!(!snap.reports().iter().all(|r| r.holds()));
}
