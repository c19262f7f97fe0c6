//! Integration tests of plres-resnet: gradients against finite differences for every
//! model × integrator × loss, closed forms (identity at zero, the literal Euler
//! recursion, the certificate identity), the width limit, checkpoints, typed errors and
//! the allocation-free training step.
//!
//! Finite differences (used throughout): for a direction `v` with `‖v‖ = 1`,
//! `D(ε) = (L(θ+εv) − L(θ−εv))/(2ε) = ∇L·v + ε²/6 D³L[v,v,v] + O(u|L|/ε)`,
//! `u = 2⁻⁵³`. The losses here have `|L|, |D³L| = O(1)–O(10)`, so with `ε = 10⁻⁵` the
//! truncation term is `≲ 2·10⁻⁹` and the rounding term `≲ 10⁻¹⁰` (a few hundred roundings
//! of relative size `u` in the forward pass, divided by `ε`). The check
//! `|D(ε) − ∇L·v| ≤ 10⁻⁶ ‖∇L‖` (the relative tolerance, measured against the
//! Cauchy–Schwarz scale `‖∇L‖‖v‖` so that a direction nearly orthogonal to `∇L` does not
//! make it meaningless) therefore has a margin of `≳ 10²` as long as `‖∇L‖ ≳ 10⁻²`;
//! below that scale (a random draw with a tiny gradient) the check becomes the absolute
//! `10⁻⁸`, still 5× above the finite-difference error.

#![forbid(unsafe_code)]

mod common;

use common::{bits, tmpdir};
use std::sync::Arc;

use faer::{Accum, Mat, MatMut, MatRef};
use plres_kernels::KernelSpec;
use plres_optim::{GradientDescentConfig, Problem, SgdConfig, State, Stopping, run};
use plres_resnet::checkpoint::{Checkpoint, keys};
use plres_resnet::{
    Activation, CheckpointError, Init, Integrator, KernelCoefficients, KernelResNet, LinearResNet,
    LinearResNetConfig, Model, ResNetError, ShlResNet, ShlResNetConfig, TargetsRef, Trainable,
    TrainingProblem,
};
use plres_rff::{
    FeatureMap, FeatureSpec, FourierVariant, RandomFourierFeatures, RandomReluFeatures,
};
use plres_simd::alloc::CountingAllocator;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

// ---------------------------------------------------------------------------------------
// Allocation counting (this thread only: tests run concurrently on other threads).

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator::new();

fn allocations_during(f: impl FnOnce()) -> usize {
    GLOBAL.allocations_during(f) as usize
}

// ---------------------------------------------------------------------------------------
// Helpers.

const U: f64 = f64::EPSILON / 2.0;

/// `PROPTEST_CASES` cases (default 12), failures kept in
/// `proptest-regressions/resnet.txt` (relative to the crate) and replayed first.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/resnet.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// Scale below which the gradient checks become absolute: the finite-difference error
/// is `≲ 2·10⁻⁹` (module docs), so `10⁻⁶ · G_FLOOR = 10⁻⁸` still has a margin of 5.
const G_FLOOR: f64 = 1e-2;

fn normal_mat(rows: usize, cols: usize, scale: f64, seed: u64) -> Mat<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Mat::from_fn(rows, cols, |_, _| {
        let z: f64 = StandardNormal.sample(&mut rng);
        scale * z
    })
}

fn normal_vec(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| StandardNormal.sample(&mut rng)).collect()
}

fn gaussian_rff(d: usize, p: usize, sigma: f64, seed: u64) -> Arc<dyn FeatureMap> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Arc::new(
        RandomFourierFeatures::sample(
            &KernelSpec::Gaussian { sigma },
            d,
            p,
            FourierVariant::CosineWithPhase,
            &mut rng,
        )
        .unwrap(),
    )
}

/// A LinearResNet over `features` with the given depth, integrator and initialisation.
fn linear_net(
    features: Arc<dyn FeatureMap>,
    depth: usize,
    integrator: Integrator,
    init: Init,
) -> LinearResNet {
    LinearResNet::new(
        features,
        LinearResNetConfig {
            depth,
            integrator,
            init,
        },
    )
    .unwrap()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

fn unit(mut v: Vec<f64>) -> Vec<f64> {
    let n = norm(&v);
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// Checks `grad` against central differences of `loss` along three random unit
/// directions and along the coordinate of the largest gradient entry (module docs).
fn check_fd(loss: impl Fn(&[f64]) -> f64, params: &[f64], grad: &[f64], seed: u64, what: &str) {
    let eps = 1e-5;
    let g = norm(grad);
    let scale = g.max(G_FLOOR);
    let imax = (0..grad.len())
        .max_by(|&a, &b| grad[a].abs().total_cmp(&grad[b].abs()))
        .unwrap();
    let mut dirs: Vec<Vec<f64>> = (0..3)
        .map(|s| unit(normal_vec(params.len(), seed + s)))
        .collect();
    let mut e = vec![0.0; params.len()];
    e[imax] = 1.0;
    dirs.push(e);
    for v in dirs {
        let plus: Vec<f64> = params.iter().zip(&v).map(|(p, v)| p + eps * v).collect();
        let minus: Vec<f64> = params.iter().zip(&v).map(|(p, v)| p - eps * v).collect();
        let fd = (loss(&plus) - loss(&minus)) / (2.0 * eps);
        let an = dot(grad, &v);
        assert!(
            (fd - an).abs() <= 1e-6 * scale,
            "{what}: FD {fd} vs analytic {an} (|diff| {:e}, ‖∇L‖ {g})",
            (fd - an).abs()
        );
    }
}

fn labels(n: usize, classes: usize, seed: u64) -> Vec<usize> {
    (0..n)
        .map(|i| ((i as u64 * 7 + seed) % classes as u64) as usize)
        .collect()
}

/// The data of the gradient checks, all from `seed`: inputs `X` (`N×d_in`), regression
/// targets `Y` (`N×d`), labels in `0..3` and the `3×d` output map `B` of the
/// cross-entropy case.
struct FdData {
    x: Mat<f64>,
    y: Mat<f64>,
    labels: Vec<usize>,
    b: Mat<f64>,
}

impl FdData {
    fn new(n: usize, d_in: usize, d: usize, seed: u64) -> Self {
        Self {
            x: normal_mat(n, d_in, 1.0, seed + 3),
            y: normal_mat(n, d, 1.0, seed + 4),
            labels: labels(n, 3, seed),
            b: normal_mat(3, d, 1.0, seed + 5),
        }
    }

    /// The class labels (cross-entropy, `ce`) or the regression targets.
    fn targets(&self, ce: bool) -> TargetsRef<'_> {
        if ce {
            TargetsRef::Classes(&self.labels)
        } else {
            TargetsRef::Regression(self.y.as_ref())
        }
    }
}

// ---------------------------------------------------------------------------------------
// Gradients against finite differences.

/// One LinearResNet FD case: random init, Gaussian RFF, squared loss with an input
/// embedding or cross-entropy with an output map to 3 logits.
fn linear_fd_case(
    n: usize,
    d: usize,
    p: usize,
    depth: usize,
    integ: Integrator,
    ce: bool,
    seed: u64,
) {
    let features = gaussian_rff(d, p, 1.0, seed);
    let mut net = linear_net(
        features,
        depth,
        integ,
        Init::Normal {
            std: 1.0,
            seed: seed + 1,
        },
    );
    let d_in = d + 1;
    net = net
        .with_input_embedding(normal_mat(d, d_in, 0.7, seed + 2))
        .unwrap();
    let data = FdData::new(n, d_in, d, seed);
    if ce {
        net = net.with_output_map(data.b.clone()).unwrap();
    }
    let (x, targets) = (data.x.as_ref(), data.targets(ce));
    let rep = net.gradient_report(x, targets).unwrap();
    let params = net.params().to_vec();
    check_fd(
        |u| net.loss_at(u, x, targets).unwrap(),
        &params,
        &rep.euclidean,
        seed,
        &format!("LinearResNet {integ:?} ce={ce} N={n} d={d} p={p} L={depth}"),
    );
    // Riesz gradient = Euclidean / slice weight (L² metric)
    let w = integ.slice_weights(depth);
    for (k, wk) in w.iter().enumerate() {
        for i in k * d * p..(k + 1) * d * p {
            assert_eq!(rep.riesz[i], rep.euclidean[i] / wk);
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn linear_resnet_gradients_match_finite_differences(
        n in 2usize..6, d in 1usize..4, p in 2usize..12, depth in 1usize..5,
        integ in 0usize..4, ce: bool, seed in 0u64..1000,
    ) {
        linear_fd_case(n, d, p, depth, Integrator::ALL[integ], ce, seed);
    }

    #[test]
    fn shl_resnet_gradients_match_finite_differences(
        n in 2usize..6, d in 1usize..4, p in 2usize..10, depth in 1usize..4,
        ce: bool, seed in 0u64..1000,
    ) {
        let mut net = ShlResNet::new(ShlResNetConfig {
            dim: d, width: p, depth, activation: Activation::Tanh,
            init_u: Init::Normal { std: 1.0, seed }, seed: seed + 1, shared_init: false,
        }).unwrap();
        let data = FdData::new(n, d, d, seed);
        if ce {
            net = net.with_output_map(data.b.clone()).unwrap();
        }
        let (x, targets) = (data.x.as_ref(), data.targets(ce));
        let rep = net.gradient_report(x, targets).unwrap();
        let params = net.params().to_vec();
        check_fd(|q| net.loss_at(q, x, targets).unwrap(), &params, &rep.euclidean, seed,
            &format!("ShlResNet ce={ce}"));
    }

    /// Kernel ResNet: the derivative of L along `δθ_k = k(·, c) a` is
    /// `h ⟨G_k, δθ_k⟩_H = h Σ_i k(c, x_i^k) ⟨p_i^{k+1}, a⟩` (reproducing property), checked
    /// against central differences that append `c` with coefficient `±ε a`. Scale:
    /// `|h⟨G_k, δθ_k⟩_H| ≤ ‖G‖ ‖δθ‖` with `‖δθ‖² = h k(c,c) ‖a‖²`.
    #[test]
    fn kernel_resnet_gradient_matches_finite_differences(
        n in 2usize..6, d in 1usize..4, depth in 1usize..4, ce: bool, seed in 0u64..1000,
    ) {
        let spec = KernelSpec::Gaussian { sigma: 1.0 };
        let mut net = KernelResNet::new(spec, d, depth).unwrap();
        let data = FdData::new(n, d, d, seed);
        if ce {
            net = net.with_output_map(data.b.clone()).unwrap();
        }
        let (x, targets) = (data.x.as_ref(), data.targets(ce));
        for _ in 0..2 {
            net.gd_step(x, targets, 1.0).unwrap();
        }
        let g = net.loss_and_gradient(x, targets).unwrap();
        let h = 1.0 / depth as f64;
        let k = (seed as usize) % depth;
        let c = normal_mat(1, d, 1.0, seed + 6);
        let a = normal_mat(1, d, 1.0, seed + 7);
        let kern = spec.build().unwrap();
        let crow: Vec<f64> = (0..d).map(|j| c[(0, j)]).collect();
        let mut an = 0.0;
        for i in 0..n {
            let xi: Vec<f64> = (0..d).map(|j| g.states[k][(i, j)]).collect();
            let pa: f64 = (0..d).map(|j| g.adjoints[k + 1][(i, j)] * a[(0, j)]).sum();
            an += h * kern.eval(&crow, &xi) * pa;
        }
        let eps = 1e-5;
        let perturbed = |s: f64| {
            let mut m = net.clone();
            m.layers_mut()[k].append_scaled(c.as_ref(), a.as_ref(), s * eps).unwrap();
            m.loss(x, targets).unwrap()
        };
        let fd = (perturbed(1.0) - perturbed(-1.0)) / (2.0 * eps);
        let a_norm = (0..d).map(|j| a[(0, j)] * a[(0, j)]).sum::<f64>().sqrt();
        let scale = (g.riesz_norm_sq.sqrt() * h.sqrt() * a_norm).max(G_FLOOR);
        prop_assert!((fd - an).abs() <= 1e-6 * scale, "FD {} vs {} (scale {})", fd, an, scale);
    }

    #[test]
    fn kernel_coefficients_gradients_match_finite_differences(
        n in 2usize..6, d in 1usize..3, depth in 1usize..4, ce: bool, seed in 0u64..1000,
    ) {
        let mut net = KernelResNet::new(KernelSpec::Matern52 { lengthscale: 1.5 }, d, depth).unwrap();
        let data = FdData::new(n, d, d, seed);
        if ce {
            net = net.with_output_map(data.b.clone()).unwrap();
        }
        let (x, targets) = (data.x.as_ref(), data.targets(ce));
        net.gd_step(x, targets, 1.0).unwrap();
        net.add_trajectory_centres(x).unwrap();
        let model = KernelCoefficients::new(net).unwrap();
        let mut params = model.params().to_vec();
        // move off the dictionary's zero coefficients
        for (v, z) in params.iter_mut().zip(normal_vec(model.n_params(), seed)) {
            *v += 0.3 * z;
        }
        let mut prob = TrainingProblem::new(model, x, targets).unwrap();
        let mut grad = vec![0.0; params.len()];
        prob.loss_and_gradient(&params, &mut grad).unwrap();
        let prob = std::cell::RefCell::new(prob);
        let loss = |q: &[f64]| {
            let mut scratch = vec![0.0; q.len()];
            prob.borrow_mut().loss_and_gradient(q, &mut scratch).unwrap()
        };
        check_fd(loss, &params, &grad, seed, "KernelCoefficients");
    }
}

/// `P_0 = ∂L/∂X_0`: the recorded adjoint at layer 0 against central differences in the
/// inputs (no embedding, so `X_0 = X`), Euler and RK4.
#[test]
fn recorded_adjoints_are_input_gradients() {
    for integ in [Integrator::Euler, Integrator::Rk4] {
        let net = linear_net(
            gaussian_rff(2, 16, 1.0, 3),
            5,
            integ,
            Init::Normal { std: 1.0, seed: 4 },
        );
        let x = normal_mat(4, 2, 1.0, 5);
        let y = normal_mat(4, 2, 1.0, 6);
        let t = TargetsRef::Regression(y.as_ref());
        // the workspace of `LinearResNet::workspace` keeps every state and adjoint
        let mut ws = net.workspace(4);
        let mut grad = vec![0.0; net.n_params()];
        net.loss_and_gradient(net.params(), &mut ws, x.as_ref(), t, &mut grad)
            .unwrap();
        let p0 = ws.adjoint(0).to_owned();
        assert!(ws.keeps_adjoints());
        assert_eq!(ws.state(5).nrows(), 4);
        let mut flat = Vec::new();
        for j in 0..2 {
            for i in 0..4 {
                flat.push(p0[(i, j)]);
            }
        }
        let xflat: Vec<f64> = flat
            .iter()
            .enumerate()
            .map(|(k, _)| x[(k % 4, k / 4)])
            .collect();
        check_fd(
            |v| {
                let xm = Mat::from_fn(4, 2, |i, j| v[j * 4 + i]);
                net.loss(xm.as_ref(), t).unwrap()
            },
            &xflat,
            &flat,
            9,
            "P_0",
        );
    }
}

// ---------------------------------------------------------------------------------------
// Closed forms.

#[test]
fn zero_initialisation_is_the_identity() {
    let x = normal_mat(7, 3, 2.0, 1);
    for integ in Integrator::ALL {
        let net = linear_net(gaussian_rff(3, 20, 1.0, 2), 6, integ, Init::Zero);
        // U = 0: every residual is exactly 0 and x + h·0 = x bitwise.
        assert_eq!(net.forward(x.as_ref()).unwrap(), x, "{integ:?}");
    }
    let shl = ShlResNet::new(ShlResNetConfig {
        dim: 3,
        width: 20,
        depth: 4,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(shl.forward(x.as_ref()).unwrap(), x);
    let k = KernelResNet::new(KernelSpec::Laplace { lengthscale: 1.0 }, 3, 4).unwrap();
    assert_eq!(k.forward(x.as_ref()).unwrap(), x);
}

/// Euler written out sample by sample with libm `cos`:
/// `x^{k+1}_l = x^k_l + h Σ_j U_k[l, j] √(2/p) cos(ω_j·x^k + b_j)`.
/// Tolerance: the feature map's SIMD cosine is within 4 ulp of libm, and each state
/// entry is a sum of `p + 1` terms per layer, so the difference per layer is at most
/// `γ_{p+d}·S` with `S = 1 + h Σ_j |U_k[l,j]| √(2/p)` bounding the terms; over `L` layers
/// (Lipschitz growth ≤ `S`) we allow `16 u (p+d) L S^L`.
#[test]
fn euler_equals_the_literal_recursion() {
    let (n, d, p, depth) = (5, 3, 24, 7);
    let features = gaussian_rff(d, p, 1.3, 11);
    let net = linear_net(
        features.clone(),
        depth,
        Integrator::Euler,
        Init::Normal { std: 0.8, seed: 12 },
    );
    let x = normal_mat(n, d, 1.0, 13);
    let out = net.forward(x.as_ref()).unwrap();
    let (omega, b) = (features.weights(), features.bias());
    let h = 1.0 / depth as f64;
    let s = (2.0 / p as f64).sqrt();
    let u = net.params();
    let mut bound: f64 = 1.0;
    for k in 0..depth {
        for l in 0..d {
            let row: f64 = (0..p).map(|j| u[k * d * p + l * p + j].abs()).sum();
            bound = bound.max(1.0 + h * row * s);
        }
    }
    let tol = 16.0
        * U
        * (p + d) as f64
        * depth as f64
        * bound.powi(depth as i32)
        * (1.0 + out.norm_max());
    for i in 0..n {
        let mut xi: Vec<f64> = (0..d).map(|j| x[(i, j)]).collect();
        for k in 0..depth {
            let phi: Vec<f64> = (0..p)
                .map(|j| s * ((0..d).map(|l| omega[(j, l)] * xi[l]).sum::<f64>() + b[j]).cos())
                .collect();
            let next: Vec<f64> = (0..d)
                .map(|l| {
                    xi[l]
                        + h * (0..p)
                            .map(|j| u[k * d * p + l * p + j] * phi[j])
                            .sum::<f64>()
                })
                .collect();
            xi = next;
        }
        for l in 0..d {
            assert!(
                (out[(i, l)] - xi[l]).abs() <= tol,
                "{} vs {} (tol {tol:e})",
                out[(i, l)],
                xi[l]
            );
        }
    }
}

/// The tiled Euler step (default workspace of a column-wise map, features recomputed tile
/// by tile, rows split between two threads) against the step that keeps every `Φ_k`: same
/// loss, states, adjoints and gradient up to rounding. Both compute the same sums in other
/// orders (GEMM blocking; the fused forward kernel vs faer's GEMM for `XΩᵀ`), each sum of at
/// most `N + p + d` terms, and a perturbation of layer `k` is amplified by at most
/// `Π (1 + h s Σ_j |U_k|)` (as in `euler_equals_the_literal_recursion`) through the layers:
/// tolerance `16 u (N + p + d) L bound^L · scale`. Sizes exercise both two-thread splits
/// (features 304 + 296 of 600, feature tiles 128 + 128 + 48 and 128 + 128 + 40; rows
/// 152 + 148 of 300, row tiles of 64 with tails). The tiled step is bitwise reproducible.
#[test]
fn tiled_step_equals_the_feature_keeping_step() {
    // (150, 600): the threads split the features (p ≥ N); (300, 100): the rows
    for (n, p) in [(150, 600), (300, 100)] {
        tiled_case(n, p);
    }
}

fn tiled_case(n: usize, p: usize) {
    let (d, depth) = (3, 4);
    let relu: Arc<dyn FeatureMap> =
        Arc::new(RandomReluFeatures::sample(d, p, &mut ChaCha8Rng::seed_from_u64(71)).unwrap());
    for features in [gaussian_rff(d, p, 1.1, 70), relu] {
        let net = linear_net(
            features,
            depth,
            Integrator::Euler,
            Init::Normal { std: 0.4, seed: 72 },
        );
        let x = normal_mat(n, d, 1.0, 73);
        let y = normal_mat(n, d, 1.0, 74);
        let t = TargetsRef::Regression(y.as_ref());
        let mut tiled = net.workspace(n);
        let mut kept = net.workspace_keeping_features(n);
        assert!(!tiled.keeps_features() && kept.keeps_features());
        assert!(tiled.phi(0).is_none());
        let mut g_tiled = vec![0.0; net.n_params()];
        let mut g_kept = vec![0.0; net.n_params()];
        let l_tiled = net
            .loss_and_gradient(net.params(), &mut tiled, x.as_ref(), t, &mut g_tiled)
            .unwrap();
        let l_kept = net
            .loss_and_gradient(net.params(), &mut kept, x.as_ref(), t, &mut g_kept)
            .unwrap();

        let u = net.params();
        let (h, s) = (1.0 / depth as f64, (2.0 / p as f64).sqrt());
        let mut bound: f64 = 1.0;
        for k in 0..depth {
            for l in 0..d {
                let row: f64 = (0..p).map(|j| u[k * d * p + l * p + j].abs()).sum();
                bound = bound.max(1.0 + h * row * s);
            }
        }
        let rel = 16.0 * U * (n + p + d) as f64 * depth as f64 * bound.powi(depth as i32);
        let what = format!("{:?}", net.features().spec());
        let xl = kept.state(depth);
        let dx = (tiled.state(depth) - xl).norm_max();
        assert!(
            dx <= rel * (1.0 + xl.norm_max()),
            "{what}: X_L differs by {dx:e}"
        );
        assert!(
            (l_tiled - l_kept).abs() <= rel * l_kept,
            "{what}: loss {l_tiled} vs {l_kept}"
        );
        let p0 = kept.adjoint(0);
        let dp = (tiled.adjoint(0) - p0).norm_max();
        assert!(dp <= rel * p0.norm_max(), "{what}: P_0 differs by {dp:e}");
        let gmax = g_kept.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        let dg = g_tiled
            .iter()
            .zip(&g_kept)
            .fold(0.0f64, |a, (x, y)| a.max((x - y).abs()));
        assert!(
            dg <= rel * gmax,
            "{what}: gradient differs by {dg:e} (max {gmax:e})"
        );

        let mut again = vec![0.0; net.n_params()];
        let l2 = net
            .loss_and_gradient(net.params(), &mut tiled, x.as_ref(), t, &mut again)
            .unwrap();
        assert_eq!(l2.to_bits(), l_tiled.to_bits(), "{what}");
        assert_eq!(bits(&again), bits(&g_tiled), "{what}: not reproducible");

        // the training workspace alternates two adjoint buffers: same arithmetic, same bits
        let mut lean = net.training_workspace(n);
        assert!(!lean.keeps_adjoints() && tiled.keeps_adjoints());
        assert!(lean.bytes() < tiled.bytes() && tiled.bytes() < kept.bytes());
        let l3 = net
            .loss_and_gradient(net.params(), &mut lean, x.as_ref(), t, &mut again)
            .unwrap();
        assert_eq!(l3.to_bits(), l_tiled.to_bits(), "{what}");
        assert_eq!(bits(&again), bits(&g_tiled), "{what}: training workspace");
        let p0 = lean.adjoint(0).to_owned();
        assert!(p0 == tiled.adjoint(0).to_owned(), "{what}: P_0");
    }
}

/// docs/theory.md §5 item 1: `‖G‖² = h Σ_k Σ_{ij} ⟨p_i^{k+1}, p_j^{k+1}⟩ k_p(x_i^k, x_j^k)` with
/// `k_p = Φ_k Φ_kᵀ`, from the workspace's `Φ_k` and adjoints; both sides are sums of
/// `O(N² p d L)` products, tolerance `1e-12` relative.
#[test]
fn gradient_norm_identity_from_workspace() {
    let (n, d, p, depth) = (9, 2, 30, 4);
    let net = linear_net(
        gaussian_rff(d, p, 1.0, 21),
        depth,
        Integrator::Euler,
        Init::Normal { std: 0.5, seed: 22 },
    );
    let x = normal_mat(n, d, 1.0, 23);
    let y = normal_mat(n, d, 1.0, 24);
    let mut ws = net.workspace_keeping_features(n);
    assert!(ws.keeps_features());
    let mut grad = vec![0.0; net.n_params()];
    net.loss_and_gradient(
        net.params(),
        &mut ws,
        x.as_ref(),
        TargetsRef::Regression(y.as_ref()),
        &mut grad,
    )
    .unwrap();
    let lhs = net.metric().dual_norm_sq(&grad);
    let h = 1.0 / depth as f64;
    let mut rhs = 0.0;
    for k in 0..depth {
        let phi = ws.phi(k).unwrap();
        let kp = phi * phi.transpose();
        let pk = ws.adjoint(k + 1);
        let pp = pk * pk.transpose();
        for i in 0..n {
            for j in 0..n {
                rhs += h * pp[(i, j)] * kp[(i, j)];
            }
        }
    }
    assert!((lhs - rhs).abs() <= 1e-12 * lhs, "{lhs} vs {rhs}");
    // the features kept in the workspace are φ of the kept states
    let phi1 = net.features().apply(ws.state(1));
    assert!((&phi1 - ws.phi(1).unwrap()).norm_max() == 0.0);
}

/// With `W_k = W`, `c_k = c` for all layers (shared init), the SHL baseline is the
/// LinearResNet over `√(2/p) relu(Wx + c)`: same forward (same GEMMs, so equal up to the
/// order of a few roundings; tolerance `8 u L (p + d) (1 + |z|)`).
#[test]
fn shl_with_shared_hidden_layer_is_the_relu_feature_resnet() {
    let (n, d, p, depth) = (6, 3, 16, 5);
    let shl = ShlResNet::new(ShlResNetConfig {
        dim: d,
        width: p,
        depth,
        activation: Activation::Relu,
        init_u: Init::Normal { std: 1.0, seed: 3 },
        seed: 4,
        shared_init: true,
    })
    .unwrap();
    let w = shl.w(0).to_owned();
    let c = shl.c(0).to_vec();
    let relu = RandomReluFeatures::from_parts(w, c).unwrap();
    let mut lin = linear_net(Arc::new(relu), depth, Integrator::Euler, Init::Zero);
    let nu = depth * d * p;
    lin.params_mut().copy_from_slice(&shl.params()[..nu]);
    let x = normal_mat(n, d, 1.0, 5);
    let a = shl.forward(x.as_ref()).unwrap();
    let b = lin.forward(x.as_ref()).unwrap();
    let tol = 8.0 * U * (depth * (p + d)) as f64 * (1.0 + a.norm_max());
    assert!((&a - &b).norm_max() <= tol, "{:e}", (&a - &b).norm_max());
}

/// A gradient step in the `L²` metric decreases the loss to first order by
/// `η‖G‖²`: `(L(θ) − L(θ − ηG))/η = ‖G‖² + O(η β ‖G‖²)`; with `η = 10⁻⁶` and curvature
/// `β = O(10)` the relative remainder is `≲ 10⁻⁵`, rounding `u L/(η‖G‖²) ≲ 10⁻⁹`.
#[test]
fn kernel_gd_step_decreases_loss_by_eta_gradient_norm() {
    let mut net = KernelResNet::new(KernelSpec::Gaussian { sigma: 0.8 }, 2, 3).unwrap();
    let x = normal_mat(5, 2, 1.0, 1);
    let y = normal_mat(5, 2, 1.0, 2);
    let t = TargetsRef::Regression(y.as_ref());
    net.gd_step(x.as_ref(), t, 0.5).unwrap();
    let eta = 1e-6;
    let r = net.gd_step(x.as_ref(), t, eta).unwrap();
    let after = net.loss(x.as_ref(), t).unwrap();
    let rate = (r.loss - after) / eta;
    assert!(
        (rate - r.riesz_norm_sq).abs() <= 1e-3 * r.riesz_norm_sq,
        "{rate} vs {}",
        r.riesz_norm_sq
    );
}

/// Growth: after `T` steps every layer holds `T·N` centres, and the memory is at least
/// the `2·T·N·L·d` doubles of centres and coefficients (and at most 4× that: vectors
/// grow by doubling).
#[test]
fn kernel_resnet_growth_is_as_documented() {
    let (n, d, depth, steps) = (8, 3, 4, 20);
    let mut net = KernelResNet::new(KernelSpec::Gaussian { sigma: 1.0 }, d, depth).unwrap();
    let x = normal_mat(n, d, 1.0, 1);
    let y = normal_mat(n, d, 0.5, 2);
    let mut last = f64::INFINITY;
    for _ in 0..steps {
        let r = net
            .gd_step(x.as_ref(), TargetsRef::Regression(y.as_ref()), 1.0)
            .unwrap();
        assert!(r.loss <= last);
        last = r.loss;
    }
    assert_eq!(net.n_centres(), steps * n * depth);
    assert!(net.centres_per_layer().iter().all(|&m| m == steps * n));
    let floor = 16 * steps * n * depth * d;
    assert!(net.memory_bytes() >= floor && net.memory_bytes() <= 4 * floor);
    assert_eq!(net.steps(), steps);
}

// ---------------------------------------------------------------------------------------
// Width limit.

/// LinearResNet over Gaussian RFF and the KernelResNet, both trained from zero by the
/// same 5 gradient steps in the `L²` metric, have outputs within `C/√p`.
///
/// Derivation of `C`. Both runs are the same computation with the kernel `k` replaced by
/// `k_p(x,y) = (1/p) Σ_j ξ_j(x,y)`, `ξ_j = 2 cos(ω_j·x + b_j) cos(ω_j·y + b_j)
/// = cos(ω_j·(x−y)) + cos(ω_j·(x+y) + 2b_j)`, so `Var k_p(x,y) = Var ξ/p` with
/// `Var ξ = ½(1 + k(2(x−y))) + ½ − k(x−y)² ≤ 1`. The output of sample `j` is
/// `z_j = x_j + h Σ_k θ_k(x_j^k)` with `θ_k = −η Σ_t Σ_i k(·, x_i^{k,t}) p_i^{k+1,t}`; to
/// first order in the kernel errors `δz_j = −η h Σ_{k,t,i} p_i^{k+1,t} δk(x_j^k, x_i^{k,t})`,
/// whose standard deviation is at most (triangle inequality for standard deviations,
/// whatever the correlations) `A/√p`, `A = η h Σ_{k,t,i} ‖p_i^{k+1,t}‖_∞`, computed from the
/// kernel run. A Gaussian tail at 6σ (probability 2·10⁻⁹ per entry) and a factor 2 for
/// the higher-order terms (perturbed trajectories and adjoints, relative size
/// `O(η T max|Dθ|) < 1` here) give `C = 12 A`. Every error at `p = 2¹²` and `p = 2¹⁶`
/// (four feature draws each) must be below `C/√p`, and the error must scale as `1/√p`:
/// the RMS error over the draws must shrink by at least 2.5 from `2¹²` to `2¹⁶` (the
/// expected factor is `√16 = 4`; 2.5 leaves room for the sampling noise of 4 draws).
/// At `p = 2¹⁶` the trained outputs move away from the identity by more than 4× the
/// tolerance, so the agreement there is not trivial.
#[test]
fn rff_resnet_converges_to_kernel_resnet_as_width_grows() {
    let (n, d, depth, steps, eta) = (4, 2, 2, 5, 1.0);
    let sigma = 1.0;
    let x = normal_mat(n, d, 1.0, 31);
    let y = Mat::from_fn(n, d, |i, j| x[(i, j)] + 0.5 * (2.0 * x[(i, j)]).sin());
    let t = TargetsRef::Regression(y.as_ref());
    let mut kernel = KernelResNet::new(KernelSpec::Gaussian { sigma }, d, depth).unwrap();
    let h = 1.0 / depth as f64;
    let mut a_sens = 0.0;
    for _ in 0..steps {
        let g = kernel.loss_and_gradient(x.as_ref(), t).unwrap();
        for k in 0..depth {
            for i in 0..n {
                let pmax = (0..d)
                    .map(|j| g.adjoints[k + 1][(i, j)].abs())
                    .fold(0.0, f64::max);
                a_sens += eta * h * pmax;
            }
        }
        kernel.apply_gradient(&g, eta).unwrap();
    }
    let zk = kernel.forward(x.as_ref()).unwrap();
    let moved = (&zk - &x).norm_max();
    let c = 12.0 * a_sens;
    let mut rms = Vec::new();
    for log_p in [12u32, 16] {
        let p = 1usize << log_p;
        let tol = c / (p as f64).sqrt();
        if log_p == 16 {
            assert!(
                moved > 4.0 * tol,
                "outputs moved by {moved}, tolerance {tol}"
            );
        }
        let mut sq = 0.0;
        for draw in 0..4u64 {
            let mut net = linear_net(
                gaussian_rff(d, p, sigma, 1000 * log_p as u64 + draw),
                depth,
                Integrator::Euler,
                Init::Zero,
            );
            for _ in 0..steps {
                let r = net.gradient_report(x.as_ref(), t).unwrap();
                for (u, g) in net.params_mut().iter_mut().zip(&r.riesz) {
                    *u -= eta * g;
                }
            }
            let diff = &net.forward(x.as_ref()).unwrap() - &zk;
            let err = diff.norm_max();
            assert!(err <= tol, "p = 2^{log_p}, draw {draw}: {err:e} > {tol:e}");
            sq += diff.squared_norm_l2() / (n * d) as f64;
        }
        let r = (sq / 4.0).sqrt();
        eprintln!(
            "width limit: p = 2^{log_p}: RMS |z_rff − z_kernel| = {r:.3e}, tolerance C/√p = {tol:.3e} \
             (C = {c:.2}), outputs moved by {moved:.3}"
        );
        rms.push(r);
    }
    assert!(
        rms[0] > 2.5 * rms[1],
        "error did not shrink like 1/√p: {rms:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Training through plres-optim.

#[test]
fn optimizers_train_every_model_through_the_problem() {
    let x = normal_mat(12, 2, 1.0, 41);
    let y = Mat::from_fn(12, 2, |i, j| x[(i, j)] + 0.3 * (x[(i, 1 - j)]).sin());
    let net = linear_net(
        gaussian_rff(2, 64, 1.0, 42),
        4,
        Integrator::Euler,
        Init::Zero,
    );
    let metric = net.metric();
    let mut prob =
        TrainingProblem::new(net, x.as_ref(), TargetsRef::Regression(y.as_ref())).unwrap();
    let gd = GradientDescentConfig::new(0.2)
        .with_metric(metric)
        .build()
        .unwrap();
    let start = State::new(prob.initial_params().to_vec());
    let mut g = vec![0.0; prob.n_params()];
    let l0 = prob
        .loss_and_gradient(&vec![0.0; prob.n_params()], &mut g)
        .unwrap();
    let trained = prob
        .run(&gd, start, &Stopping::iterations(30), &mut [])
        .unwrap();
    let l1 = trained.outcome.report.final_loss;
    assert!(l1 < 0.5 * l0, "GD: {l0} → {l1}");

    // SGD with minibatches on the SHL baseline
    let shl = ShlResNet::new(ShlResNetConfig {
        dim: 2,
        width: 32,
        depth: 3,
        ..Default::default()
    })
    .unwrap();
    let metric = shl.metric();
    let p0 = shl.params().to_vec();
    let mut prob =
        TrainingProblem::new(shl, x.as_ref(), TargetsRef::Regression(y.as_ref())).unwrap();
    let sgd = SgdConfig::new(0.1, 4, 7)
        .with_metric(metric)
        .build()
        .unwrap();
    let out = run(
        &mut prob,
        &sgd,
        State::new(p0.clone()),
        &Stopping::epochs(10),
        &mut [],
    )
    .unwrap();
    let l0 = prob
        .loss_and_gradient(&p0, &mut vec![0.0; p0.len()])
        .unwrap();
    let l1 = prob
        .loss_and_gradient(out.state.params(), &mut vec![0.0; p0.len()])
        .unwrap();
    assert!(l1 < l0, "SGD: {l0} → {l1}");

    // kernel coefficients on the initial trajectory as dictionary
    let mut knet = KernelResNet::new(KernelSpec::Gaussian { sigma: 1.0 }, 2, 3).unwrap();
    knet.add_trajectory_centres(x.as_ref()).unwrap();
    let model = KernelCoefficients::new(knet).unwrap();
    let metric = model.metric();
    let p0 = model.params().to_vec();
    let mut prob =
        TrainingProblem::new(model, x.as_ref(), TargetsRef::Regression(y.as_ref())).unwrap();
    let gd = GradientDescentConfig::new(0.05)
        .with_metric(metric)
        .build()
        .unwrap();
    let l0 = prob
        .loss_and_gradient(&p0, &mut vec![0.0; p0.len()])
        .unwrap();
    let targets = prob.targets();
    let trained = prob
        .run(
            &gd,
            State::new(p0.clone()),
            &Stopping::iterations(30),
            &mut [],
        )
        .unwrap();
    let l1 = trained.outcome.report.final_loss;
    assert!(l1 < l0, "kernel coefficients: {l0} → {l1}");
    // the rebuilt network of the trained model computes what the problem computed
    let rebuilt = trained.model.to_network().unwrap();
    let lr = rebuilt.loss(x.as_ref(), targets).unwrap();
    assert!((lr - l1).abs() <= 1e-12 * l1.max(1e-300), "{lr} vs {l1}");
}

/// `TrainingProblem::run` hands back the model with the final iterate's parameters: the
/// returned model's loss and accuracy are those of the trained parameters (set by hand on
/// a copy of the initial model), not those of the initial ones.
#[test]
fn run_returns_the_trained_model() {
    let x = normal_mat(24, 2, 1.0, 141);
    let labels: Vec<usize> = (0..24)
        .map(|i| usize::from(x[(i, 0)] * x[(i, 1)] > 0.0))
        .collect();
    let net = linear_net(
        gaussian_rff(2, 64, 1.0, 142),
        4,
        Integrator::Euler,
        Init::Zero,
    )
    .with_output_map(normal_mat(2, 2, 1.0, 143))
    .unwrap();
    let initial = net.clone();
    let targets = TargetsRef::Classes(&labels);
    let gd = GradientDescentConfig::new(1.0)
        .with_metric(net.metric())
        .build()
        .unwrap();
    let start = State::new(net.params().to_vec());
    let trained = TrainingProblem::new(net, x.as_ref(), targets)
        .unwrap()
        .run(&gd, start, &Stopping::iterations(40), &mut [])
        .unwrap();
    assert_eq!(trained.model.params(), trained.outcome.state.params());
    let mut by_hand = initial.clone();
    by_hand.set_params(trained.outcome.state.params()).unwrap();
    let l_trained = trained.model.loss(x.as_ref(), targets).unwrap();
    assert_eq!(
        l_trained.to_bits(),
        by_hand.loss(x.as_ref(), targets).unwrap().to_bits()
    );
    assert_eq!(
        trained.model.accuracy(x.as_ref(), &labels).unwrap(),
        by_hand.accuracy(x.as_ref(), &labels).unwrap()
    );
    // the problem's final loss is this loss (the same sums, maybe in another order)
    let l_report = trained.outcome.report.final_loss;
    assert!(
        (l_trained - l_report).abs() <= 1e-12 * l_report,
        "{l_trained} vs {l_report}"
    );
    // and training changed the score: the initial model is worse
    let l_initial = initial.loss(x.as_ref(), targets).unwrap();
    assert!(l_trained < 0.9 * l_initial, "{l_initial} → {l_trained}");
}

/// A minibatch is the model evaluated on the gathered rows.
#[test]
fn minibatch_equals_the_model_on_the_gathered_rows() {
    let x = normal_mat(10, 3, 1.0, 51);
    let lab = labels(10, 4, 2);
    let net = linear_net(
        gaussian_rff(3, 16, 1.0, 52),
        3,
        Integrator::Heun,
        Init::Normal { std: 0.5, seed: 53 },
    )
    .with_output_map(normal_mat(4, 3, 1.0, 54))
    .unwrap();
    let params = net.params().to_vec();
    let idx = [7, 2, 9];
    let xb = Mat::from_fn(3, 3, |r, j| x[(idx[r], j)]);
    let lb: Vec<usize> = idx.iter().map(|&i| lab[i]).collect();
    let direct = net
        .gradient_report(xb.as_ref(), TargetsRef::Classes(&lb))
        .unwrap();
    let mut prob = TrainingProblem::new(net, x.as_ref(), TargetsRef::Classes(&lab)).unwrap();
    let mut g = vec![0.0; params.len()];
    let l = prob
        .minibatch_loss_and_gradient(&params, &idx, &mut g)
        .unwrap();
    assert_eq!(l, direct.loss);
    assert_eq!(g, direct.euclidean);
}

// ---------------------------------------------------------------------------------------
// The training step allocates nothing.

#[test]
fn warm_training_step_allocates_nothing() {
    // Sizes below every parallel threshold, so all the work runs on this thread and the
    // thread-local counter sees all of it.
    let (n, d, p, depth) = (32, 3, 64, 6);
    let net = linear_net(
        gaussian_rff(d, p, 1.0, 61),
        depth,
        Integrator::Euler,
        Init::Normal { std: 0.3, seed: 62 },
    );
    let x = normal_mat(n, d, 1.0, 63);
    let y = normal_mat(n, d, 1.0, 64);
    let mut ws = net.workspace(n);
    let mut grad = vec![0.0; net.n_params()];
    let t = TargetsRef::Regression(y.as_ref());
    net.loss_and_gradient(net.params(), &mut ws, x.as_ref(), t, &mut grad)
        .unwrap();
    let a = allocations_during(|| {
        net.loss_and_gradient(net.params(), &mut ws, x.as_ref(), t, &mut grad)
            .unwrap();
    });
    assert_eq!(a, 0, "LinearResNet step allocated {a} times");

    let params = net.params().to_vec();
    let mut prob =
        TrainingProblem::new(net, x.as_ref(), TargetsRef::Regression(y.as_ref())).unwrap();
    let idx: Vec<usize> = (0..n).step_by(3).collect();
    prob.loss_and_gradient(&params, &mut grad).unwrap();
    prob.minibatch_loss_and_gradient(&params, &idx, &mut grad)
        .unwrap();
    let a = allocations_during(|| {
        prob.loss_and_gradient(&params, &mut grad).unwrap();
        prob.minibatch_loss_and_gradient(&params, &idx, &mut grad)
            .unwrap();
    });
    assert_eq!(a, 0, "TrainingProblem allocated {a} times");

    let shl = ShlResNet::new(ShlResNetConfig {
        dim: d,
        width: p,
        depth,
        ..Default::default()
    })
    .unwrap();
    let mut sws = shl.training_workspace(n);
    let mut g = vec![0.0; shl.n_params()];
    let lab = labels(n, d, 1);
    let t = TargetsRef::Classes(&lab);
    let params = shl.params().to_vec();
    shl.loss_and_gradient(&params, &mut sws, x.as_ref(), t, &mut g)
        .unwrap();
    let a = allocations_during(|| {
        shl.loss_and_gradient(&params, &mut sws, x.as_ref(), t, &mut g)
            .unwrap();
    });
    assert_eq!(a, 0, "ShlResNet step allocated {a} times");
}

// ---------------------------------------------------------------------------------------
// Checkpoints.

#[test]
fn checkpoint_round_trips_are_bitwise() {
    let dir = tmpdir("roundtrip");
    let x = normal_mat(5, 4, 1.0, 71);
    // Euler, Gaussian RFF, embedding and output map
    let net = linear_net(
        gaussian_rff(3, 10, 0.7, 72),
        3,
        Integrator::Euler,
        Init::Normal { std: 0.4, seed: 73 },
    )
    .with_input_embedding(normal_mat(3, 4, 1.0, 74))
    .unwrap()
    .with_output_map(normal_mat(2, 3, 1.0, 75))
    .unwrap()
    .with_seed(72);
    let path = dir.join("euler.safetensors");
    net.save(&path).unwrap();
    let back = LinearResNet::load(&path).unwrap();
    assert_eq!(bits(back.params()), bits(net.params()));
    assert_eq!(back.features().weights(), net.features().weights());
    assert_eq!(bits(back.features().bias()), bits(net.features().bias()));
    assert_eq!(back.maps(), net.maps());
    assert_eq!(back.seed(), Some(72));
    assert_eq!(back.features().spec(), net.features().spec());
    assert_eq!(
        back.forward(x.as_ref()).unwrap(),
        net.forward(x.as_ref()).unwrap()
    );
    let c = Checkpoint::load(&path).unwrap();
    assert_eq!(c.tensors["residual.u"].shape, vec![3, 3, 10]);
    assert_eq!(c.tensors["features.omega"].shape, vec![10, 3]);
    assert_eq!(c.tensors["embed.out"].shape, vec![2, 3]);
    assert_eq!(c.meta(keys::BANDWIDTH).unwrap(), "0.7");
    assert_eq!(c.meta(keys::INTEGRATOR).unwrap(), "euler");
    assert_eq!(c.meta(keys::MODEL).unwrap(), "linear_resnet");
    // the tensor order of residual.u is [L, d, p] row-major: U_1[2, 5]
    assert_eq!(
        c.tensors["residual.u"].data[d_p(1, 2, 5, 3, 10)],
        net.slice(1)[(2, 5)]
    );

    // RK4 with L+1 slices, paired Matérn features
    let mut rng = ChaCha8Rng::seed_from_u64(76);
    let spec = FeatureSpec::Fourier {
        kernel: KernelSpec::Matern52 { lengthscale: 2.0 },
        variant: FourierVariant::Paired,
    };
    let feats: Arc<dyn FeatureMap> = Arc::from(spec.sample(4, 12, &mut rng).unwrap());
    let net = linear_net(
        feats,
        2,
        Integrator::Rk4,
        Init::Normal { std: 0.4, seed: 77 },
    );
    let path = dir.join("rk4.safetensors");
    net.save(&path).unwrap();
    let back = LinearResNet::load(&path).unwrap();
    assert_eq!(back.integrator(), Integrator::Rk4);
    assert_eq!(bits(back.params()), bits(net.params()));
    assert_eq!(
        back.forward(x.as_ref()).unwrap(),
        net.forward(x.as_ref()).unwrap()
    );
    assert_eq!(
        Checkpoint::load(&path).unwrap().tensors["residual.u"].shape,
        vec![3, 4, 12]
    );

    // SHL and kernel ResNet
    let shl = ShlResNet::new(ShlResNetConfig {
        dim: 4,
        width: 6,
        depth: 2,
        init_u: Init::Normal { std: 1.0, seed: 1 },
        shared_init: false,
        ..Default::default()
    })
    .unwrap();
    let path = dir.join("shl.safetensors");
    shl.save(&path).unwrap();
    let back = ShlResNet::load(&path).unwrap();
    assert_eq!(bits(back.params()), bits(shl.params()));
    assert_eq!(
        back.forward(x.as_ref()).unwrap(),
        shl.forward(x.as_ref()).unwrap()
    );

    let mut k = KernelResNet::new(KernelSpec::Gaussian { sigma: 1.5 }, 4, 3).unwrap();
    let y = normal_mat(5, 4, 1.0, 78);
    k.gd_step(x.as_ref(), TargetsRef::Regression(y.as_ref()), 0.5)
        .unwrap();
    k.gd_step(x.as_ref(), TargetsRef::Regression(y.as_ref()), 0.5)
        .unwrap();
    let path = dir.join("kernel.safetensors");
    k.save(&path).unwrap();
    let back = KernelResNet::load(&path).unwrap();
    assert_eq!(back.n_centres(), k.n_centres());
    assert_eq!(back.steps(), 2);
    assert_eq!(
        back.forward(x.as_ref()).unwrap(),
        k.forward(x.as_ref()).unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn d_p(k: usize, l: usize, j: usize, d: usize, p: usize) -> usize {
    k * d * p + l * p + j
}

/// Writes raw safetensors with the given (name, dtype, shape, bytes) and metadata.
fn write_raw(
    path: &std::path::Path,
    tensors: &[(&str, safetensors::Dtype, Vec<usize>, Vec<u8>)],
    meta: &std::collections::HashMap<String, String>,
) {
    let views: Vec<(&str, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, dt, s, b)| {
            (
                *n,
                safetensors::tensor::TensorView::new(*dt, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let bytes = safetensors::serialize(views, Some(meta.clone())).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Issue 19, case 2: the `depth` metadata is checked against the tensors the file holds
/// before anything of that size is allocated. A kernel checkpoint saying `depth = 10¹⁸`
/// used to panic (capacity overflow) and `10⁸` to abort allocating 7.2 GB; a linear RK4
/// checkpoint with `depth = usize::MAX` panicked computing `L + 1` slices.
#[test]
fn checkpoint_depth_is_checked_against_the_tensors_before_allocating() {
    let dir = tmpdir("depth-bomb");
    let path = dir.join("c.safetensors");
    let depth_error = |r: Result<(), CheckpointError>, value: &str| match r {
        Err(e @ CheckpointError::InvalidMetadata { key, .. }) if key == keys::DEPTH => {
            let msg = e.to_string();
            assert!(
                msg.contains(value) && (msg.contains("residual.u") || msg.contains("layer.")),
                "{msg}"
            );
        }
        other => panic!("depth {value}: expected InvalidMetadata(depth), got {other:?}"),
    };
    let big = [
        "1000000000000000000",
        &usize::MAX.to_string(),
        "100000000",
        "3",
    ];

    let kernel = KernelResNet::new(KernelSpec::Laplace { lengthscale: 1.0 }, 3, 2).unwrap();
    for value in big {
        let mut c = kernel.to_checkpoint();
        c.set_meta(keys::DEPTH, value);
        c.save(&path).unwrap();
        depth_error(named(KernelResNet::load(&path), &path).map(drop), value);
    }

    for integrator in [Integrator::Rk4, Integrator::Euler] {
        let net = linear_net(gaussian_rff(2, 4, 1.0, 91), 2, integrator, Init::Zero);
        for value in big {
            let mut c = net.to_checkpoint().unwrap();
            c.set_meta(keys::DEPTH, value);
            c.save(&path).unwrap();
            depth_error(named(LinearResNet::load(&path), &path).map(drop), value);
        }
    }

    let shl = ShlResNet::new(ShlResNetConfig::default()).unwrap();
    for value in big {
        let mut c = shl.to_checkpoint();
        c.set_meta(keys::DEPTH, value);
        c.save(&path).unwrap();
        depth_error(named(ShlResNet::load(&path), &path).map(drop), value);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 19, case 5: a `residual.u` stored as `[L, p, d]` instead of `[L, d, p]` used to
/// be reported as a wrong `features.omega` (the loader read `d`, `p` off `residual.u`);
/// `features.omega` and `features.bias` agree with each other, so the error names
/// `residual.u` and the shape they imply.
#[test]
fn permuted_residual_u_is_blamed_on_itself() {
    let dir = tmpdir("permuted-u");
    let path = dir.join("c.safetensors");
    let net = linear_net(
        gaussian_rff(2, 6, 1.0, 93),
        2,
        Integrator::Euler,
        Init::Zero,
    );
    let mut c = net.to_checkpoint().unwrap();
    c.tensors.get_mut("residual.u").unwrap().shape = vec![2, 6, 2];
    c.save(&path).unwrap();
    match named(LinearResNet::load(&path), &path) {
        Err(CheckpointError::WrongShape {
            name,
            expected,
            found,
        }) => assert_eq!(
            (name.as_str(), expected, found),
            ("residual.u", vec![2, 2, 6], vec![2, 6, 2])
        ),
        other => panic!("expected WrongShape(residual.u), got {other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 19, case 5: a loader's error names the file (`CheckpointError::InFile`); returns
/// the error inside, to match on.
fn named<T>(r: Result<T, CheckpointError>, path: &std::path::Path) -> Result<T, CheckpointError> {
    r.map_err(|e| {
        assert!(
            e.to_string().contains(&path.display().to_string()),
            "the error names the file: {e}"
        );
        match e {
            CheckpointError::InFile { path: p, source } => {
                assert_eq!(p, path);
                *source
            }
            e => e,
        }
    })
}

/// Issue 19, case 3: `LinearResNet::new` computed `slices·d·p` unchecked (RK4 with
/// `depth = usize::MAX` panicked on `L + 1`); overflow is now a typed error.
#[test]
fn linear_resnet_size_overflow_is_a_typed_error() {
    for (depth, integrator) in [
        (usize::MAX, Integrator::Rk4),
        (usize::MAX / 2, Integrator::Euler),
    ] {
        let r = std::panic::catch_unwind(|| {
            LinearResNet::new(
                gaussian_rff(2, 4, 1.0, 95),
                LinearResNetConfig {
                    depth,
                    integrator,
                    init: Init::Zero,
                },
            )
            .map(drop)
        });
        match r {
            Ok(Err(e @ ResNetError::TooLarge { .. })) => {
                assert!(e.to_string().contains(&depth.to_string()), "{e}");
            }
            other => panic!("depth {depth}: expected TooLarge, got {other:?}"),
        }
    }
}

/// Issue 19, case 3: `ShlResNet::new` computed `depth·(2dp + p)` unchecked (a wrap in
/// release, a panic in debug, an abort allocating); overflow and impossible allocations
/// are now typed errors naming the operands.
#[test]
fn shl_resnet_size_overflow_is_a_typed_error() {
    for (dim, width, depth) in [
        (2, usize::MAX / 2, 1),
        (usize::MAX / 4, 3, 2),
        (2, 3, usize::MAX / 8),
        (1 << 20, 1 << 20, 1 << 10),
    ] {
        let r = std::panic::catch_unwind(|| {
            ShlResNet::new(ShlResNetConfig {
                dim,
                width,
                depth,
                ..Default::default()
            })
            .map(drop)
        });
        match r {
            Ok(Err(e @ ResNetError::TooLarge { .. })) => {
                assert!(e.to_string().contains("parameters"), "{e}");
            }
            other => panic!("d {dim}, p {width}, L {depth}: expected TooLarge, got {other:?}"),
        }
    }
}

#[test]
fn corrupt_checkpoints_give_typed_errors_naming_the_tensor() {
    let dir = tmpdir("corrupt");
    let net = LinearResNet::new(
        gaussian_rff(2, 6, 1.0, 81),
        LinearResNetConfig {
            depth: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let good = net.to_checkpoint().unwrap();
    let path = dir.join("c.safetensors");

    // missing tensor
    let mut c = good.clone();
    c.tensors.remove("residual.u");
    c.save(&path).unwrap();
    assert!(matches!(named(LinearResNet::load(&path), &path),
        Err(CheckpointError::MissingTensor { name }) if name == "residual.u"));

    // wrong shape
    let mut c = good.clone();
    c.insert("features.bias", vec![7], vec![0.5; 7]);
    c.save(&path).unwrap();
    assert!(matches!(named(LinearResNet::load(&path), &path),
        Err(CheckpointError::WrongShape { name, expected, found })
            if name == "features.bias" && expected == vec![6] && found == vec![7]));

    // non-finite value
    let mut c = good.clone();
    c.tensors.get_mut("residual.u").unwrap().data[3] = f64::NAN;
    c.save(&path).unwrap();
    assert!(matches!(named(LinearResNet::load(&path), &path),
        Err(CheckpointError::NonFinite { name, index: 3, .. }) if name == "residual.u"));

    // missing metadata
    let mut c = good.clone();
    c.metadata.remove(keys::DEPTH);
    c.save(&path).unwrap();
    assert!(matches!(named(LinearResNet::load(&path), &path),
        Err(CheckpointError::MissingMetadata { key }) if key == keys::DEPTH));

    // another model
    let shl = ShlResNet::new(ShlResNetConfig::default()).unwrap();
    shl.save(&path).unwrap();
    assert!(matches!(named(LinearResNet::load(&path), &path),
        Err(CheckpointError::WrongModel { expected: "linear_resnet", found }) if found == "shl_resnet"));

    // unknown format_version, and none at all
    let mut meta: std::collections::HashMap<String, String> = good
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let f64_bytes = |v: &[f64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let u = &good.tensors["residual.u"];
    // a file holding `residual.u` alone, as `dtype` bytes, with metadata `meta`
    let write_u = |dtype, bytes: Vec<u8>, meta: &std::collections::HashMap<String, String>| {
        write_raw(
            &path,
            &[("residual.u", dtype, u.shape.clone(), bytes)],
            meta,
        );
    };
    meta.insert("format_version".into(), "2".into());
    write_u(safetensors::Dtype::F64, f64_bytes(&u.data), &meta);
    assert!(matches!(named(LinearResNet::load(&path), &path),
        Err(CheckpointError::UnsupportedFormatVersion { found: Some(v), supported: 1 }) if v == "2"));
    meta.remove("format_version");
    write_u(safetensors::Dtype::F64, f64_bytes(&u.data), &meta);
    assert!(matches!(
        named(LinearResNet::load(&path), &path),
        Err(CheckpointError::UnsupportedFormatVersion { found: None, .. })
    ));

    // wrong dtype
    meta.insert("format_version".into(), "1".into());
    let f32_bytes: Vec<u8> = u
        .data
        .iter()
        .flat_map(|&x| (x as f32).to_le_bytes())
        .collect();
    write_u(safetensors::Dtype::F32, f32_bytes, &meta);
    assert!(matches!(named(LinearResNet::load(&path), &path),
        Err(CheckpointError::WrongDtype { name, .. }) if name == "residual.u"));

    // truncated file, missing file
    let bytes = good.to_bytes().unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
    assert!(matches!(
        named(LinearResNet::load(&path), &path),
        Err(CheckpointError::Format(_))
    ));
    assert!(matches!(
        LinearResNet::load(dir.join("absent")),
        Err(CheckpointError::Io { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn checkpoint_writes_are_atomic() {
    let dir = tmpdir("atomic");
    let net =
        LinearResNet::new(gaussian_rff(2, 4, 1.0, 91), LinearResNetConfig::default()).unwrap();
    let path = dir.join("m.safetensors");
    net.save(&path).unwrap();
    let first = std::fs::read(&path).unwrap();
    // overwrite with another model: the file is replaced, no temporary file remains
    let mut other = net.clone();
    other.params_mut()[0] = 1.0;
    other.save(&path).unwrap();
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("m.safetensors")]);
    assert_ne!(std::fs::read(&path).unwrap(), first);
    assert_eq!(LinearResNet::load(&path).unwrap().params()[0], 1.0);
    // a write that cannot happen leaves nothing behind and names the path
    let bad = dir.join("no-such-dir").join("m.safetensors");
    match net.save(&bad) {
        Err(CheckpointError::Io { path, .. }) => assert!(path.starts_with(dir.join("no-such-dir"))),
        other => panic!("expected an I/O error, got {other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------
// Bad inputs give typed errors, never panics.

/// A feature map of width 0 (plres-rff refuses to build one; a user's own map might).
#[derive(Debug)]
struct Empty;
impl FeatureMap for Empty {
    fn input_dim(&self) -> usize {
        2
    }
    fn output_dim(&self) -> usize {
        0
    }
    fn apply_in_place(&self, _: MatRef<'_, f64>, _: MatMut<'_, f64>) {}
    fn cache_dim(&self) -> usize {
        0
    }
    fn apply_with_cache(&self, _: MatRef<'_, f64>, _: MatMut<'_, f64>, _: MatMut<'_, f64>) {}
    fn vjp_in_place(&self, _: MatRef<'_, f64>, _: MatMut<'_, f64>, _: MatMut<'_, f64>, _: Accum) {}
    fn limit_kernel(&self) -> KernelSpec {
        KernelSpec::Linear
    }
    fn weights(&self) -> MatRef<'_, f64> {
        MatRef::from_column_major_slice(&[], 0, 2)
    }
    fn bias(&self) -> &[f64] {
        &[]
    }
    // never serialised: the model refuses this map before a checkpoint could be written
    fn spec(&self) -> FeatureSpec {
        FeatureSpec::Relu
    }
}

#[test]
fn bad_inputs_give_typed_errors() {
    use ResNetError as E;
    let cfg = LinearResNetConfig {
        depth: 2,
        ..Default::default()
    };
    assert!(matches!(
        LinearResNet::new(
            gaussian_rff(2, 4, 1.0, 1),
            LinearResNetConfig { depth: 0, ..cfg }
        ),
        Err(E::ZeroDepth)
    ));
    assert!(matches!(
        LinearResNet::new(Arc::new(Empty), cfg),
        Err(E::ZeroWidth)
    ));
    assert!(matches!(
        ShlResNet::new(ShlResNetConfig {
            width: 0,
            ..Default::default()
        }),
        Err(E::ZeroWidth)
    ));
    assert!(matches!(
        ShlResNet::new(ShlResNetConfig {
            depth: 0,
            ..Default::default()
        }),
        Err(E::ZeroDepth)
    ));
    assert!(matches!(
        KernelResNet::new(KernelSpec::Linear, 2, 0),
        Err(E::ZeroDepth)
    ));
    assert!(matches!(
        KernelResNet::new(KernelSpec::Gaussian { sigma: -1.0 }, 2, 2),
        Err(E::Kernel(_))
    ));
    assert!(matches!(
        LinearResNet::new(
            gaussian_rff(2, 4, 1.0, 1),
            LinearResNetConfig {
                init: Init::Normal { std: -1.0, seed: 0 },
                ..cfg
            }
        ),
        Err(E::InvalidSetting { .. })
    ));

    let net = LinearResNet::new(gaussian_rff(2, 4, 1.0, 1), cfg).unwrap();
    let x = normal_mat(3, 2, 1.0, 2);
    let y = normal_mat(3, 2, 1.0, 3);
    let t = TargetsRef::Regression(y.as_ref());
    // data/model dimension mismatch
    let x3 = normal_mat(3, 3, 1.0, 4);
    assert!(matches!(
        net.forward(x3.as_ref()),
        Err(E::DimensionMismatch {
            expected: 2,
            found: 3,
            ..
        })
    ));
    assert!(matches!(
        net.gradient_report(x3.as_ref(), t),
        Err(E::DimensionMismatch { .. })
    ));
    // empty data
    let x0 = Mat::<f64>::zeros(0, 2);
    assert!(matches!(net.forward(x0.as_ref()), Err(E::EmptyData { .. })));
    assert!(matches!(net.predict(x0.as_ref()), Err(E::EmptyData { .. })));
    // non-finite data and targets
    let mut xn = x.clone();
    xn[(1, 0)] = f64::NAN;
    assert!(matches!(
        net.forward(xn.as_ref()),
        Err(E::NonFinite { row: 1, col: 0, .. })
    ));
    let mut yn = y.clone();
    yn[(2, 1)] = f64::INFINITY;
    assert!(matches!(
        net.gradient_report(x.as_ref(), TargetsRef::Regression(yn.as_ref())),
        Err(E::NonFinite {
            what: "targets",
            row: 2,
            col: 1,
            ..
        })
    ));
    // target rows / columns
    let y2 = normal_mat(2, 2, 1.0, 5);
    assert!(matches!(
        net.loss(x.as_ref(), TargetsRef::Regression(y2.as_ref())),
        Err(E::DimensionMismatch {
            expected: 3,
            found: 2,
            ..
        })
    ));
    // labels out of range
    assert!(matches!(
        net.accuracy(x.as_ref(), &[0, 2, 1]),
        Err(E::LabelOutOfRange {
            index: 1,
            label: 2,
            n_classes: 2
        })
    ));
    assert!(matches!(
        net.gradient_report(x.as_ref(), TargetsRef::Classes(&[0, 1, 5])),
        Err(E::LabelOutOfRange {
            index: 2,
            label: 5,
            ..
        })
    ));
    // parameter and gradient lengths, workspace capacity
    let mut ws = net.workspace(2);
    let mut g = vec![0.0; net.n_params()];
    assert!(matches!(
        net.loss_and_gradient(net.params(), &mut ws, x.as_ref(), t, &mut g),
        Err(E::DimensionMismatch {
            expected: 2,
            found: 3,
            ..
        })
    ));
    let mut ws = net.workspace(3);
    assert!(matches!(
        net.loss_and_gradient(&[0.0; 3], &mut ws, x.as_ref(), t, &mut g),
        Err(E::ParameterLength { what: "params", .. })
    ));
    assert!(matches!(
        net.loss_and_gradient(net.params(), &mut ws, x.as_ref(), t, &mut [0.0; 2]),
        Err(E::ParameterLength { what: "grad", .. })
    ));
    let mut net2 = net.clone();
    assert!(matches!(
        net2.set_params(&vec![f64::NAN; net.n_params()]),
        Err(E::NonFinite { .. })
    ));
    // embedding / output map shapes
    assert!(matches!(
        net.clone().with_input_embedding(Mat::zeros(3, 2)),
        Err(E::DimensionMismatch { .. })
    ));
    assert!(matches!(
        net.clone().with_output_map(Mat::zeros(2, 5)),
        Err(E::DimensionMismatch { .. })
    ));
    // training problem: bad data at construction, bad minibatch indices per call
    assert!(matches!(
        TrainingProblem::new(net.clone(), xn.as_ref(), TargetsRef::Regression(y.as_ref())),
        Err(E::NonFinite { .. })
    ));
    let mut prob =
        TrainingProblem::new(net.clone(), x.as_ref(), TargetsRef::Regression(y.as_ref())).unwrap();
    let params = net.params().to_vec();
    let err = prob
        .minibatch_loss_and_gradient(&params, &[0, 3], &mut g)
        .unwrap_err();
    assert!(matches!(
        err.inner().and_then(|e| e.downcast_ref::<ResNetError>()),
        Some(E::IndexOutOfRange {
            index: 3,
            n_samples: 3
        })
    ));
    assert!(
        prob.minibatch_loss_and_gradient(&params, &[], &mut g)
            .is_err()
    );
    assert!(prob.loss_and_gradient(&params[1..], &mut g).is_err());
    // kernel ResNet: bad data, bad learning rate
    let mut k = KernelResNet::new(KernelSpec::Gaussian { sigma: 1.0 }, 2, 2).unwrap();
    assert!(matches!(
        k.gd_step(x.as_ref(), t, 0.0),
        Err(E::InvalidSetting { .. })
    ));
    assert!(matches!(
        k.gd_step(xn.as_ref(), t, 0.1),
        Err(E::NonFinite { .. })
    ));
    assert!(matches!(
        k.forward(x3.as_ref()),
        Err(E::DimensionMismatch { .. })
    ));
    assert!(matches!(KernelCoefficients::new(k), Err(E::Unsupported(_))));
}
