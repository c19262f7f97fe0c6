//! The tight PL constant `μ_tight = (2/N) λ_min(Θ)` (crates/theory/src/pl/tight.rs):
//! (a) `Θ` against an independent computation from the model's own gradient,
//! (b) `μ_tight ≤ ρ` at random `θ` and targets, (c) equality when the residual is `Θ`'s
//! bottom eigenvector, (d) `μ_cert ≤ μ_tight`.
//!
//! Tolerances. `Θ_pq` is a sum whose absolute terms add up to at most `√(Θ_pp Θ_qq)`
//! (Cauchy–Schwarz, module docs of `pl::tight`); both sides sum at most
//! `n_inner = L·d·p + L(p + d) + N·d_out` rounded products (the parameter inner product,
//! the Jacobian products over `L` layers, the Gram), so they agree to
//! `4·n_inner·eps·√(Θ_pp Θ_qq)`. A Rayleigh quotient `vᵀΘv/‖v‖²` and `λ_min` carry at most
//! `n_inner·eps·tr Θ`, which is what `TightPl::rounding` bounds (times `2/N`).

use faer::{Mat, MatRef, Side};
use plres_resnet::{
    Integrator, KernelResNet, LinearResNet, LinearResNetConfig, Model as _, TargetsRef,
    Trainable as _,
};
use plres_theory::TheoryError;
use plres_theory::pl::{LinearCertifier, TightCertifier, TightPl, kernel_snapshot, kernel_tight};
use std::ops::RangeInclusive;

use proptest::prelude::*;
use proptest::test_runner::Config;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{KernelCase, features, random_mat, separated_points, small_cases};

/// An Euler `LinearResNet` with `N(0, s²)` slices and, optionally, an input embedding
/// `A` (`d × (d+1)`) and an output map `B` (`d_out × d`).
#[allow(clippy::too_many_arguments)] // the test's whole configuration, named at the call site
fn linear_net(
    rng: &mut ChaCha8Rng,
    kind: u8,
    d: usize,
    p: usize,
    depth: usize,
    s: f64,
    embed: bool,
    d_out: Option<usize>,
) -> LinearResNet {
    let phi = features(rng, kind, d, p);
    let mut net = LinearResNet::new(
        phi,
        LinearResNetConfig {
            depth,
            ..Default::default()
        },
    )
    .unwrap();
    let u = random_mat(rng, net.n_params(), 1, s);
    for (i, v) in net.params_mut().iter_mut().enumerate() {
        *v = u[(i, 0)];
    }
    if embed {
        net = net
            .with_input_embedding(random_mat(rng, d, d + 1, 0.7))
            .unwrap();
    }
    if let Some(q) = d_out {
        net = net.with_output_map(random_mat(rng, q, d, 0.8)).unwrap();
    }
    net
}

/// A random case of [`linear_net`] with `n` points at separation 0.5 (in the model's input
/// dimension): feature map `kind`, `d_out = out` (`0`: no `B`), an input embedding when
/// `embed`.
#[derive(Clone, Copy, Debug)]
struct LinearCase {
    seed: u64,
    kind: u8,
    n: usize,
    d: usize,
    p: usize,
    depth: usize,
    s: f64,
    embed: bool,
    out: usize,
}

impl LinearCase {
    /// Cases with `n`, `d`, `p`, `depth` in the given ranges, `0 ≤ s < s_max`, the three
    /// feature maps, with and without `A`, `d_out ∈ {d, 1, 2, 3}`.
    fn strategy(
        n: RangeInclusive<usize>,
        d: RangeInclusive<usize>,
        p: RangeInclusive<usize>,
        depth: RangeInclusive<usize>,
        s_max: f64,
    ) -> impl Strategy<Value = Self> {
        let shape = (n, d, p, depth);
        (
            any::<u64>(),
            0u8..3,
            shape,
            0.0..s_max,
            any::<bool>(),
            0usize..=3,
        )
            .prop_map(|(seed, kind, (n, d, p, depth), s, embed, out)| Self {
                seed,
                kind,
                n,
                d,
                p,
                depth,
                s,
                embed,
                out,
            })
    }

    /// The RNG (for further draws), the net and the data `X`.
    fn build(self) -> (ChaCha8Rng, LinearResNet, Mat<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let d_out = if self.out == 0 { None } else { Some(self.out) };
        let (kind, d, p, depth) = (self.kind, self.d, self.p, self.depth);
        let net = linear_net(&mut rng, kind, d, p, depth, self.s, self.embed, d_out);
        let x = separated_points(&mut rng, self.n, net.input_dim(), 0.5);
        (rng, net, x)
    }
}

/// `(net, X, Y)` from `seed`: [`linear_net`] with Gaussian RFF, `B = I` and `N(0, s²)`
/// slices, `n` points at separation `delta0`, `N(0, y_scale²)` targets.
fn plain_problem(
    seed: u64,
    [n, d, p, depth]: [usize; 4],
    s: f64,
    delta0: f64,
    y_scale: f64,
) -> (LinearResNet, Mat<f64>, Mat<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let net = linear_net(&mut rng, 0, d, p, depth, s, false, None);
    let x = separated_points(&mut rng, n, d, delta0);
    let y = random_mat(&mut rng, n, d, y_scale);
    (net, x, y)
}

/// `R` (`N×d_out`) from `vec(R)` (column-major: index `a·N + i`).
fn unvec(v: MatRef<'_, f64>, n: usize, d_out: usize) -> Mat<f64> {
    Mat::from_fn(n, d_out, |i, a| v[(a * n + i, 0)])
}

/// The model's own `ρ = ‖G‖²/L` at residual `R` (targets `Y = Z − R`).
fn rho_linear(net: &LinearResNet, x: MatRef<'_, f64>, r: &Mat<f64>) -> f64 {
    let z = net.forward(x).unwrap();
    let y = &z - r;
    let g = net
        .gradient_report(x, TargetsRef::Regression(y.as_ref()))
        .unwrap();
    g.riesz_norm_sq / g.loss
}

/// `(ρ, L)` of the kernel ResNet at residual `R`.
fn rho_kernel(net: &KernelResNet, x: MatRef<'_, f64>, r: &Mat<f64>) -> (f64, f64) {
    let z = net.forward(x).unwrap();
    let y = &z - r;
    let g = net
        .loss_and_gradient(x, TargetsRef::Regression(y.as_ref()))
        .unwrap();
    (g.riesz_norm_sq / g.loss, g.riesz_norm_sq)
}

/// `n_inner` of the module docs.
fn n_inner(n: usize, d: usize, p: usize, depth: usize, d_out: usize) -> f64 {
    (depth * d * p + depth * (p + d) + n * d_out) as f64
}

/// The bottom and top eigenvectors of `Θ` (`vec` layout) with their eigenvalues.
fn extreme_eigvecs(theta: MatRef<'_, f64>) -> [(f64, Mat<f64>); 2] {
    let e = theta.self_adjoint_eigen(Side::Lower).unwrap();
    let m = theta.nrows();
    let s = e.S().column_vector();
    [
        (s[0], e.U().subcols(0, 1).to_owned()),
        (s[m - 1], e.U().subcols(m - 1, 1).to_owned()),
    ]
}

proptest! {
    #![proptest_config(Config::with_cases(small_cases(12)))]

    /// **Claim** (pl::tight, "The identity"): `Θ = J M⁻¹ Jᵀ` — every column `(j, b)` of `Θ`
    /// equals the parameter-metric inner products of the model's own Euclidean gradients
    /// at the one-hot residual `R = N e_{jb}` (for which `∂L/∂θ` is row `(j, b)` of the
    /// output Jacobian `J`; targets `Y = Z − R`), `M = diag(w_m)` the slice weights.
    /// Three feature maps, with and without `A`, `B`.
    #[test]
    fn theta_matches_the_gradient_jacobian(case in LinearCase::strategy(2..=5, 1..=3, 3..=16, 1..=5, 1.0)) {
        let LinearCase { n, d, depth, .. } = case;
        let (_, net, x) = case.build();
        let p = net.width();
        let q = net.output_dim();
        let mut tc = TightCertifier::new(&net, n).unwrap();
        tc.evaluate(&net, net.params(), x.as_ref()).unwrap();
        let theta = tc.theta();
        let z = net.forward(x.as_ref()).unwrap();
        let w = net.slice_weights();
        let block = d * p;
        let rows: Vec<Vec<f64>> = (0..n * q)
            .map(|col| {
                let (j, b) = (col % n, col / n);
                let mut y = z.clone();
                y[(j, b)] -= n as f64;
                net.gradient_report(x.as_ref(), TargetsRef::Regression(y.as_ref()))
                    .unwrap()
                    .euclidean
            })
            .collect();
        let tol = 4.0 * n_inner(n, d, p, depth, q) * f64::EPSILON;
        for r in 0..n * q {
            for c in 0..n * q {
                let reference: f64 = rows[r]
                    .iter()
                    .zip(&rows[c])
                    .enumerate()
                    .map(|(m, (u, v))| u * v / w[m / block])
                    .sum();
                let scale = (theta[(r, r)] * theta[(c, c)]).sqrt();
                prop_assert!(
                    (theta[(r, c)] - reference).abs() <= tol * scale.max(f64::MIN_POSITIVE),
                    "Θ[{r},{c}] = {} vs J M⁻¹ Jᵀ = {reference} (scale {scale})",
                    theta[(r, c)]
                );
            }
        }
    }

    /// **Claim** (pl::tight, "The identity"): `μ_tight ≤ ρ` at random `θ` and random targets,
    /// `ρ` from the model's own gradient; and (§5 item 4 is a theorem at every `Y`, so the
    /// best constant cannot be below it) `μ_cert ≤ μ_tight`. Tolerance: `TightPl::rounding`.
    #[test]
    fn mu_tight_is_between_cert_and_rho(case in LinearCase::strategy(2..=12, 1..=4, 4..=40, 1..=6, 1.5)) {
        let n = case.n;
        let (mut rng, net, x) = case.build();
        let y = random_mat(&mut rng, n, net.output_dim(), 1.0);
        let tight = TightCertifier::new(&net, n).unwrap()
            .evaluate(&net, net.params(), x.as_ref()).unwrap();
        let snap = LinearCertifier::new(&net, n).unwrap()
            .evaluate(&net, net.params(), x.as_ref(), y.as_ref()).unwrap();
        prop_assert!(tight.mu_tight <= snap.rho + tight.rounding,
            "μ_tight {} > ρ {} (rounding {})", tight.mu_tight, snap.rho, tight.rounding);
        let mu_cert = snap.mu_cert.unwrap();
        prop_assert!(mu_cert <= tight.mu_tight + tight.rounding,
            "μ_cert {mu_cert} > μ_tight {} (rounding {})", tight.mu_tight, tight.rounding);
    }

    /// **Claim** (pl::tight, infinite width): the kernel ResNet's `Θ` (exact kernel) gives
    /// `‖G(R)‖² = (1/N²) vec(R)ᵀΘ vec(R)` for the model's own Riesz norm — checked entry by
    /// entry by polarisation (`R = N e_p` and `R = N(e_p + e_q)`: tolerance
    /// `16·n_inner·eps·(Θ_pp + Θ_qq)`, the rounding of the three norms) — and
    /// `μ_cert ≤ μ_tight ≤ ρ` at random targets. Random expansions, optional `B`.
    #[test]
    fn kernel_theta_and_chain(case in KernelCase::strategy(4, 3, 4, 6, 2.0), with_b in any::<bool>()) {
        let KernelCase { n, d, depth, m, .. } = case;
        let (mut rng, x, mut net) = case.build();
        let b = with_b.then(|| random_mat(&mut rng, 2, d, 0.9));
        if let Some(b) = &b {
            net = net.with_output_map(b.clone()).unwrap();
        }
        let q = net.output_dim();
        let (tight, theta) = kernel_tight(&net, x.as_ref()).unwrap();
        let tol = 16.0 * (depth * d + m * d + n * q) as f64 * f64::EPSILON;
        let nf = n as f64;
        let unit = |p: usize| Mat::from_fn(n, q, |i, a| if a * n + i == p { nf } else { 0.0 });
        let diag: Vec<f64> = (0..n * q).map(|p| rho_kernel(&net, x.as_ref(), &unit(p)).1).collect();
        for p in 0..n * q {
            prop_assert!((diag[p] - theta[(p, p)]).abs() <= tol * 2.0 * diag[p].max(f64::MIN_POSITIVE));
            for r in 0..p {
                let both = rho_kernel(&net, x.as_ref(), &(&unit(p) + &unit(r))).1;
                let off = 0.5 * (both - diag[p] - diag[r]);
                prop_assert!(
                    (off - theta[(p, r)]).abs() <= tol * (diag[p] + diag[r]).max(f64::MIN_POSITIVE),
                    "Θ[{p},{r}] = {} vs polarisation {off}", theta[(p, r)]
                );
            }
        }
        let y = random_mat(&mut rng, n, q, 1.0);
        let snap = kernel_snapshot(&net, x.as_ref(), y.as_ref(), b.as_ref().map(|b| b.as_ref())).unwrap();
        prop_assert!(tight.mu_tight <= snap.rho + tight.rounding);
        prop_assert!(snap.mu_cert.unwrap() <= tight.mu_tight + tight.rounding);
    }
}

/// Checks `ρ = (2/N) λ` at the residuals `R = N·c·v` for `Θ`'s bottom and top
/// eigenvectors `v` (the identity is exact, so the worst residual attains `μ_tight`), and
/// that the bottom value is far above rounding (otherwise the equality would be trivial).
fn assert_attained(
    tight: &TightPl,
    theta: MatRef<'_, f64>,
    n: usize,
    q: usize,
    rho: impl Fn(&Mat<f64>) -> f64,
) {
    let two_n = 2.0 / n as f64;
    assert!(
        tight.mu_tight > 1e6 * tight.rounding,
        "μ_tight {} not well above rounding {}: the test would be vacuous",
        tight.mu_tight,
        tight.rounding
    );
    let [(lo, vlo), (hi, vhi)] = extreme_eigvecs(theta);
    // the eigensolver of the module and faer's eigendecomposition agree on λ_min
    assert!((two_n * lo - tight.mu_tight).abs() <= tight.rounding);
    for (lambda, v, c) in [(lo, vlo, 0.37), (hi, vhi, 2.5)] {
        let r = unvec(v.as_ref(), n, q) * faer::Scale(n as f64 * c);
        let got = rho(&r);
        assert!(
            (got - two_n * lambda).abs() <= 2.0 * tight.rounding,
            "ρ = {got} vs (2/N)λ = {} (rounding {})",
            two_n * lambda,
            tight.rounding
        );
    }
    // a generic residual is strictly above the tight constant
    let r = Mat::from_fn(n, q, |i, a| ((i * 7 + a * 3) as f64).sin() + 0.1);
    assert!(rho(&r) > tight.mu_tight * (1.0 + 1e-6));
}

/// **Claim** (pl::tight): the tight constant is attained — with targets `Y = Z − N·c·v`,
/// `v` the bottom eigenvector of `Θ`, the model's own `ρ` equals `μ_tight` to rounding
/// (and `(2/N)λ_max` at the top eigenvector). Euler `LinearResNet`, three feature maps,
/// with `A` and `B`; `p ≥ 4 N d_out` so that `Θ` is far from singular.
#[test]
fn tight_constant_is_attained_linear() {
    for (seed, kind, embed, d_out) in [
        (1u64, 0u8, false, None),
        (2, 1, true, Some(2)),
        (3, 2, false, Some(3)),
    ] {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (n, d, depth) = (6, 3, 4);
        let q = d_out.unwrap_or(d);
        let net = linear_net(&mut rng, kind, d, 4 * n * q, depth, 0.6, embed, d_out);
        let x = separated_points(&mut rng, n, net.input_dim(), 0.8);
        let mut tc = TightCertifier::new(&net, n).unwrap();
        let tight = tc.evaluate(&net, net.params(), x.as_ref()).unwrap();
        assert_attained(&tight, tc.theta(), n, q, |r| {
            rho_linear(&net, x.as_ref(), r)
        });
    }
}

/// **Claim** (pl::tight, infinite width): as above for the kernel ResNet (exact Gaussian
/// kernel, output map `B` with `d_out < d`).
#[test]
fn tight_constant_is_attained_kernel() {
    let case = KernelCase {
        seed: 5,
        n: 5,
        d: 3,
        depth: 3,
        m: 4,
        t: 0.8,
        kind: 0,
    };
    let (mut rng, x, net) = case.build();
    let n = case.n;
    let net = net
        .with_output_map(random_mat(&mut rng, 2, case.d, 1.0))
        .unwrap();
    let (tight, theta) = kernel_tight(&net, x.as_ref()).unwrap();
    assert_attained(&tight, theta.as_ref(), n, 2, |r| {
        rho_kernel(&net, x.as_ref(), r).0
    });
}

/// **Claim** (pl::tight, `σ_min(Bᵀ)`): with `d_out > d`, `Θ` (rank `≤ N·d`) is singular and
/// `μ_tight = 0` to rounding, as `μ_cert = 0`; and the typed errors: interpolated models
/// are unsupported, `N·d_out` above the dense limit is refused before allocating.
#[test]
fn singular_output_map_and_typed_errors() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let net = linear_net(&mut rng, 0, 2, 24, 3, 0.5, false, Some(3));
    let x = separated_points(&mut rng, 4, 2, 0.8);
    let tight = TightCertifier::new(&net, 4)
        .unwrap()
        .evaluate(&net, net.params(), x.as_ref())
        .unwrap();
    assert!(tight.is_zero_to_rounding(), "{tight:?}");
    assert!(
        2.0 / 4.0 * tight.lambda_min.abs() <= tight.rounding,
        "{tight:?}"
    );

    let heun = LinearResNet::new(
        features(&mut rng, 0, 2, 8),
        LinearResNetConfig {
            depth: 2,
            integrator: Integrator::Heun,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(matches!(
        TightCertifier::new(&heun, 4),
        Err(TheoryError::Unsupported { .. })
    ));
    let big = linear_net(&mut rng, 0, 2, 8, 2, 0.5, false, None);
    {
        use plres_theory::pl::{LanczosConfig, MAX_DENSE_DIM, MAX_FACTORED_ENTRIES, TightSolver};
        assert!(matches!(
            TightCertifier::with_solver(&big, MAX_DENSE_DIM, TightSolver::Dense),
            Err(TheoryError::TooLarge { size, .. }) if size == 2 * MAX_DENSE_DIM
        ));
        // beyond the dense limit `new` picks Lanczos; its factors have their own limit
        assert_eq!(TightSolver::auto(MAX_DENSE_DIM), TightSolver::Dense);
        assert!(matches!(
            TightSolver::auto(MAX_DENSE_DIM + 1),
            TightSolver::Lanczos(_)
        ));
        let n = 2 * MAX_DENSE_DIM; // L·(N·d_out·d + N²) = 2·(4N + N²) > 2²⁶
        assert!(matches!(
            TightCertifier::with_solver(&big, n, TightSolver::Lanczos(LanczosConfig::default())),
            Err(TheoryError::TooLarge { size, max, .. }) if size == 2 * (4 * n + n * n) && max == MAX_FACTORED_ENTRIES
        ));
    }
    let mut tc = TightCertifier::new(&big, 4).unwrap();
    let x5 = separated_points(&mut rng, 5, 2, 0.8);
    assert!(matches!(
        tc.evaluate(&big, big.params(), x5.as_ref()),
        Err(TheoryError::Shape { .. })
    ));
}

/// **Claim** (pl::tight, closed form): at `θ = 0` (Euler, `B = I`) every state is `X`
/// and every `J = I`, so `Θ = K ⊗ I_d` (`K = Φ(X)Φ(X)ᵀ`, `h Σ_k = 1`) and
/// `μ_tight = (2/N) λ_min(K) = μ_cert`: the chain is tight on the left. Entries to
/// `4 L p eps` relative (`L` layer sums of `p`-term dot products).
#[test]
fn zero_parameters_give_the_kernel_and_the_certificate() {
    let (n, d, p, depth) = (7, 3, 32, 5);
    let (net, x, y) = plain_problem(11, [n, d, p, depth], 0.0, 0.8, 1.0);
    let mut tc = TightCertifier::new(&net, n).unwrap();
    let tight = tc.evaluate(&net, net.params(), x.as_ref()).unwrap();
    let phi = net.features().apply(x.as_ref());
    let k = &phi * phi.transpose();
    let theta = tc.theta();
    let tol = 4.0 * (depth * p) as f64 * f64::EPSILON;
    for a in 0..d {
        for b in 0..d {
            for i in 0..n {
                for j in 0..n {
                    let want = if a == b { k[(i, j)] } else { 0.0 };
                    let scale = (k[(i, i)] * k[(j, j)]).sqrt();
                    assert!((theta[(a * n + i, b * n + j)] - want).abs() <= tol * scale);
                }
            }
        }
    }
    let snap = LinearCertifier::new(&net, n)
        .unwrap()
        .evaluate(&net, net.params(), x.as_ref(), y.as_ref())
        .unwrap();
    let mu_cert = snap.mu_cert.unwrap();
    assert!(mu_cert > 1e6 * tight.rounding);
    assert!(
        (tight.mu_tight - mu_cert).abs() <= tight.rounding,
        "{} vs {mu_cert}",
        tight.mu_tight
    );
}

/// **Claim** (pl::monitor with `tight`): the monitor's `μ_tight` column is the tight
/// constant of the iterate (bit for bit the value of `TightCertifier::evaluate`, the same
/// deterministic computation) and sits between `μ_cert` and `ρ` (to `TightPl::rounding`);
/// without the flag the column is NaN.
#[test]
fn monitor_records_mu_tight() {
    use plres_optim::{GradientDescentConfig, State, Stopping, run};
    use plres_resnet::TrainingProblem;
    use plres_theory::pl::{Monitor, MonitorConfig};
    let n = 6;
    let (net, x, y) = plain_problem(21, [n, 2, 40, 4], 0.0, 1.0, 0.5);
    let cfg = MonitorConfig {
        every: 5,
        tight: true,
        ..Default::default()
    };
    let mut on = Monitor::new(&net, x.as_ref(), y.as_ref(), cfg).unwrap();
    let mut off = Monitor::new(
        &net,
        x.as_ref(),
        y.as_ref(),
        MonitorConfig {
            every: 5,
            ..Default::default()
        },
    )
    .unwrap();
    let mut problem =
        TrainingProblem::new(net.clone(), x.as_ref(), TargetsRef::Regression(y.as_ref())).unwrap();
    let gd = GradientDescentConfig::new(0.5)
        .with_metric(net.metric())
        .build()
        .unwrap();
    let out = run(
        &mut problem,
        &gd,
        State::new(net.params().to_vec()),
        &Stopping::iterations(20),
        &mut [&mut on, &mut off],
    )
    .unwrap();
    assert!(on.errors().is_empty(), "{:?}", on.errors());
    assert!(
        on.rows()
            .iter()
            .all(|r| r.mu_tight.is_finite() && r.mu_tight > 0.0)
    );
    assert!(off.rows().iter().all(|r| r.mu_tight.is_nan()));
    let params = out.state.params();
    let row = on.certify(20, params).unwrap();
    let tight = TightCertifier::new(&net, n)
        .unwrap()
        .evaluate(&net, params, x.as_ref())
        .unwrap();
    assert_eq!(row.mu_tight, tight.mu_tight);
    assert!(row.mu_cert <= tight.mu_tight + tight.rounding, "{row:?}");
    assert!(tight.mu_tight <= row.rho + tight.rounding, "{row:?}");
    assert!(row.csv_line().ends_with(&format!(",{:e}", row.mu_tight)));
}

/// **Claim** (pl::tight, "Lanczos"; pl::lanczos): the Lanczos interval of the factored `Θ`
/// contains the dense `λ_min(Θ)` — the upper end is the smallest Ritz value `θ_1 ≥ λ_min`
/// and `|λ_min − θ_1| ≤ ‖r_1‖` (the residual bound; the eigenvalue `θ_1` approximates is
/// `λ_min` here, which the dense solver confirms), both to `rounding` (module docs,
/// "Rounding", in `λ` units `N/2 · TightPl::rounding`). A conclusive interval meets its
/// relative tolerance; with `max_iter = N·d_out` the Krylov space is everything and the
/// Ritz value is the eigenvalue to rounding. Sizes `N·d_out ≤ 8192` (so the dense solver
/// runs), three feature maps, with `A` and `B`.
#[test]
fn lanczos_interval_contains_the_dense_lambda_min() {
    use plres_theory::pl::{LanczosConfig, TightSolver};
    for (seed, kind, embed, d_out, n) in [
        (31u64, 0u8, false, None, 30usize),
        (32, 1, true, Some(2), 60),
        (33, 2, false, Some(3), 40),
    ] {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (d, depth) = (3, 4);
        let q = d_out.unwrap_or(d);
        let net = linear_net(&mut rng, kind, d, 96, depth, 0.5, embed, d_out);
        let x = separated_points(&mut rng, n, net.input_dim(), 0.6);
        let dense = TightCertifier::with_solver(&net, n, TightSolver::Dense)
            .unwrap()
            .evaluate(&net, net.params(), x.as_ref())
            .unwrap();
        assert!(dense.lanczos.is_none() && dense.is_conclusive());
        let half_n = n as f64 / 2.0;
        let rounding = half_n * dense.rounding;
        let lambda = dense.lambda_min;
        for cfg in [
            LanczosConfig::default(),
            LanczosConfig {
                max_iter: n * q,
                rel_tol: 1e-12,
                seed: 5,
            },
        ] {
            let mut tc = TightCertifier::with_solver(&net, n, TightSolver::Lanczos(cfg)).unwrap();
            let lz = tc.evaluate(&net, net.params(), x.as_ref()).unwrap();
            assert_eq!(tc.theta().nrows(), 0, "Lanczos never forms Θ");
            let b = lz.lanczos.unwrap();
            // the same tr Θ from the factors as from the dense diagonal
            assert!(
                (lz.trace - dense.trace).abs()
                    <= 4.0 * n_inner(n, d, 96, depth, q) * f64::EPSILON * dense.trace
            );
            assert!(
                lz.lambda_lower <= lambda + rounding && lambda <= lz.lambda_upper + rounding,
                "{seed}: dense λ_min {lambda:e} outside [{:e}, {:e}] ({b:?})",
                lz.lambda_lower,
                lz.lambda_upper
            );
            assert!(
                (b.ritz - lambda).abs() <= b.residual + 2.0 * rounding,
                "{seed}: |θ_1 − λ_min| = {:e} > ‖r_1‖ = {:e}",
                (b.ritz - lambda).abs(),
                b.residual
            );
            assert!(b.ritz >= lambda - rounding, "Ritz value below λ_min: {b:?}");
            assert!(lz.is_conclusive(), "{seed}: {b:?}");
            assert!(
                lz.lambda_upper - lz.lambda_lower <= cfg.rel_tol * lz.lambda_upper + 2.0 * rounding,
                "{b:?}"
            );
            // the dense value is far from rounding, so the agreement is not trivial
            assert!(
                lambda > 1e4 * rounding,
                "{seed}: λ_min {lambda:e} vs rounding {rounding:e}"
            );
        }
    }
}

/// **Claim** (pl::lanczos, "conclusive"; pl::tight::chain_report): a Lanczos run stopped
/// after too few steps gives a valid but wide interval, flagged inconclusive, and the
/// chain check `μ_cert ≤ μ_tight ≤ ρ` then reports VACUOUS ("inconclusive") instead of a
/// verdict; the converged run on the same `θ` gives a verdict that holds.
#[test]
fn too_few_lanczos_steps_are_inconclusive() {
    use plres_theory::pl::tight::{Looseness, chain_report};
    use plres_theory::pl::{LanczosConfig, TightSolver};
    let (n, d) = (50, 3);
    let (net, x, y) = plain_problem(41, [n, d, 96, 4], 0.5, 0.6, 1.0);
    let snap = LinearCertifier::new(&net, n)
        .unwrap()
        .evaluate(&net, net.params(), x.as_ref(), y.as_ref())
        .unwrap();
    let run = |max_iter: usize| {
        let cfg = LanczosConfig {
            max_iter,
            ..Default::default()
        };
        TightCertifier::with_solver(&net, n, TightSolver::Lanczos(cfg))
            .unwrap()
            .evaluate(&net, net.params(), x.as_ref())
            .unwrap()
    };
    let short = run(3);
    assert!(!short.is_conclusive(), "{:?}", short.lanczos);
    assert_eq!(short.lanczos.unwrap().iterations, 3);
    let full = run(n * d);
    assert!(full.is_conclusive(), "{:?}", full.lanczos);
    // the inconclusive interval is [0, θ_1]: both ends theorems, so it contains the
    // converged value
    assert_eq!(short.lambda_lower, 0.0);
    assert!(full.lambda_lower <= short.lambda_upper);
    let rep = chain_report(&[Looseness::of(&snap, &short)]);
    assert!(rep.is_vacuous(), "{}", rep.table_row());
    assert!(rep.vacuous_reason().unwrap().contains("inconclusive"));
    let rep = chain_report(&[Looseness::of(&snap, &full)]);
    assert!(rep.holds(), "{}", rep.table_row());
}
