//! Integration tests of plres-optim: convergence bounds, hand-computed Adam/AdamW steps,
//! PyTorch schedule semantics, seeded SGD, divergence, metrics, validation, allocation.

#![forbid(unsafe_code)]

use plres_optim::{
    AdamConfig, BacktrackingConfig, ConfigError, GradientDescentConfig, History, Iterate, Metric,
    Minibatch, MomentumConfig, NonFinite, ObserverAction, OptimError, Problem, ProblemError,
    Schedule, SgdConfig, Solver, SolverConfig, State, StopReason, Stopping, run, run_in_place,
};
use plres_simd::alloc::CountingAllocator;
use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod common;
use common::LeastSquares;

/// Unit roundoff of f64 (half the machine epsilon).
const U: f64 = f64::EPSILON / 2.0;

// ---------------------------------------------------------------------------------------
// Allocation counting (per thread, so parallel tests do not interfere).

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator::new();

/// Allocations made so far by this thread.
fn allocations() -> u64 {
    GLOBAL.thread_allocations()
}

// ---------------------------------------------------------------------------------------
// Test problems.

/// `L(θ) = ½ θᵀQθ` with a dense symmetric `Q` (row-major), gradient `Qθ`.
#[derive(Clone, Debug)]
struct Quadratic {
    n: usize,
    q: Vec<f64>,
}

impl Quadratic {
    fn diagonal(d: &[f64]) -> Self {
        let n = d.len();
        let mut q = vec![0.0; n * n];
        for i in 0..n {
            q[i * n + i] = d[i];
        }
        Self { n, q }
    }

    /// `Q = Oᵀ D O`, `O` a product of `n` Householder reflections `I − 2vvᵀ/‖v‖²` with
    /// `v` uniform in `[−1, 1]ⁿ` (orthogonal), `D = diag(μ, β, uniform[μ, β]…)`.
    fn random(n: usize, mu: f64, beta: f64, rng: &mut ChaCha8Rng) -> Self {
        let mut o = vec![0.0; n * n];
        for i in 0..n {
            o[i * n + i] = 1.0;
        }
        for _ in 0..n {
            let v: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
            let vv: f64 = v.iter().map(|x| x * x).sum();
            // O ← (I − 2vvᵀ/vv) O
            for j in 0..n {
                let s: f64 = (0..n).map(|i| v[i] * o[i * n + j]).sum();
                for i in 0..n {
                    o[i * n + j] -= 2.0 * v[i] * s / vv;
                }
            }
        }
        let d: Vec<f64> = (0..n)
            .map(|k| match k {
                0 => mu,
                1 => beta,
                _ => rng.random_range(mu..=beta),
            })
            .collect();
        let mut q = vec![0.0; n * n];
        for i in 0..n {
            for j in i..n {
                let s: f64 = (0..n).map(|k| o[k * n + i] * d[k] * o[k * n + j]).sum();
                q[i * n + j] = s;
                q[j * n + i] = s;
            }
        }
        Self { n, q }
    }

    fn loss(&self, p: &[f64]) -> f64 {
        let mut g = vec![0.0; self.n];
        self.grad(p, &mut g);
        0.5 * p.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>()
    }

    fn grad(&self, p: &[f64], g: &mut [f64]) {
        for i in 0..self.n {
            g[i] = (0..self.n).map(|j| self.q[i * self.n + j] * p[j]).sum();
        }
    }
}

impl Problem for Quadratic {
    fn n_params(&self) -> usize {
        self.n
    }
    fn loss_and_gradient(&mut self, p: &[f64], g: &mut [f64]) -> Result<f64, ProblemError> {
        self.grad(p, g);
        Ok(0.5 * p.iter().zip(g.iter()).map(|(a, b)| a * b).sum::<f64>())
    }
}

/// `L(θ) = c·θ`: constant gradient `c`.
struct Linear {
    c: Vec<f64>,
}

impl Problem for Linear {
    fn n_params(&self) -> usize {
        self.c.len()
    }
    fn loss_and_gradient(&mut self, p: &[f64], g: &mut [f64]) -> Result<f64, ProblemError> {
        g.copy_from_slice(&self.c);
        Ok(self.c.iter().zip(p).map(|(a, b)| a * b).sum())
    }
}

/// Records every iterate's parameters, loss, learning rate, step and batch.
#[derive(Default)]
struct Trace {
    params: Vec<Vec<f64>>,
    loss: Vec<f64>,
    lr: Vec<f64>,
    grad_norm_sq: Vec<f64>,
    last_step: Vec<f64>,
    epoch: Vec<u64>,
    batch: Vec<Option<Vec<usize>>>,
}

impl plres_optim::Observer for Trace {
    fn observe(&mut self, it: &Iterate<'_>) -> ObserverAction {
        self.params.push(it.params.to_vec());
        self.loss.push(it.loss);
        self.lr.push(it.learning_rate);
        self.grad_norm_sq.push(it.grad_norm_sq);
        self.last_step.push(it.last_step_size);
        self.epoch.push(it.epoch);
        self.batch.push(it.batch.map(<[usize]>::to_vec));
        ObserverAction::Continue
    }
}

fn traced(
    problem: &mut dyn Problem,
    solver: &dyn Solver,
    theta0: Vec<f64>,
    stopping: &Stopping,
) -> (Trace, plres_optim::Outcome) {
    let mut trace = Trace::default();
    let out = run(
        problem,
        solver,
        State::new(theta0),
        stopping,
        &mut [&mut trace],
    )
    .unwrap();
    (trace, out)
}

fn assert_close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got:e}, want {want:e}, |diff| {:e} > tol {tol:e}",
        (got - want).abs()
    );
}

// ---------------------------------------------------------------------------------------
// Gradient descent on μ-strongly convex, β-smooth quadratics.

proptest! {
    // PROPTEST_CASES is honoured (proptest's default config reads it; default 256 cases,
    // each a few microseconds).
    #![proptest_config(ProptestConfig::default())]

    /// Claim (docs/theory.md §5 for GD with η = 1/β under PL with μ): L_{k+1} ≤ (1 − μ/β) L_k.
    /// On a quadratic the exact contraction is even (1 − μ/β)², which we assert too (it is
    /// what catches a wrong step size).
    /// Tolerance: each computed step deviates from the exact map applied to the computed
    /// iterate by ≲ 4n^{3/2}u‖θ_k‖ (two length-n dot products and an axpy); in loss ratio
    /// terms this is ≲ 2√κ·4n^{3/2}u (using μ‖θ‖² ≤ 2L ≤ β‖θ‖²); the loss evaluation adds a
    /// relative ≲ 2nκu, and forming Q moves its spectrum by ≲ nβu. All are ≤ 32n²κu.
    #[test]
    fn gd_contracts_quadratics(seed in any::<u64>(), n in 2usize..=8, kappa in 1.0f64..1000.0, log_mu in -2.0f64..2.0) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mu = 10f64.powf(log_mu);
        let beta = kappa * mu;
        let mut q = Quadratic::random(n, mu, beta, &mut rng);
        let theta0: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let gd = GradientDescentConfig::new(1.0 / beta).build().unwrap();
        let (trace, out) = traced(&mut q, &gd, theta0, &Stopping::iterations(12));
        prop_assert_eq!(out.report.iterations, 12);
        let tol = 32.0 * (n * n) as f64 * kappa * U;
        let pl_bound = 1.0 - mu / beta;
        for (k, w) in trace.loss.windows(2).enumerate() {
            // stay far above the subnormal range, where relative rounding is unbounded
            if w[0] < 1e-250 { break; }
            let ratio = w[1] / w[0];
            prop_assert!(ratio <= pl_bound + tol, "step {}: ratio {} > 1 − μ/β = {} (+{:e})", k, ratio, pl_bound, tol);
            prop_assert!(ratio <= pl_bound * pl_bound + tol, "step {}: ratio {} > (1 − μ/β)² = {} (+{:e})", k, ratio, pl_bound * pl_bound, tol);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Adam / AdamW against the published equations.

/// One Adam step on L = ½(θ₁² + 4θ₂²) from θ₀ = (1, −2), γ = 0.1, β = (0.9, 0.999),
/// ε = 1e-8, computed by hand:
///   g₁ = (θ₁, 4θ₂) = (1, −8)
///   m₁ = 0.9·0 + 0.1·g₁ = (0.1, −0.8)
///   v₁ = 0.999·0 + 0.001·g₁² = (0.001, 0.064)
///   m̂₁ = m₁/(1 − 0.9) = (1, −8),  v̂₁ = v₁/(1 − 0.999) = (1, 64)
///   θ₁ = θ₀ − 0.1·m̂₁/(√v̂₁ + ε) = (1 − 0.1/(1 + 1e-8), −2 + 0.8/(8 + 1e-8))
/// Tolerance: the implementation rounds 1 − β₁, 1 − β₂, β^t and five operations per
/// coordinate; relative error of the step ≤ 16u, absolute ≤ 16u·max|θ|.
#[test]
fn adam_one_step_by_hand() {
    let mut p = Quadratic::diagonal(&[1.0, 4.0]);
    let adam = AdamConfig::adam(0.1).build().unwrap();
    let (_, out) = traced(&mut p, &adam, vec![1.0, -2.0], &Stopping::iterations(1));
    let want = [1.0 - 0.1 / (1.0 + 1e-8), -2.0 + 0.8 / (8.0 + 1e-8)];
    for i in 0..2 {
        assert_close(out.state.params()[i], want[i], 16.0 * U * 2.0, "adam θ₁");
    }
    // the moments are kept in the state: m = (0.1, −0.8), v = (0.001, 0.064). Here 1 − β
    // is computed from the rounded β, a cancellation that amplifies β's representation
    // error by β/(1 − β) (PyTorch computes the same 1 − β): relative tolerance
    // u(β/(1 − β) + 2).
    let b = out.state.solver_buffers();
    let (t1, t2) = (U * (0.9 / 0.1 + 2.0), U * (0.999 / 0.001 + 2.0));
    assert_close(b[0][0], 0.1, t1 * 0.1, "m₁[0]");
    assert_close(b[0][1], -0.8, t1 * 0.8, "m₁[1]");
    assert_close(b[1][0], 0.001, t2 * 0.001, "v₁[0]");
    assert_close(b[1][1], 0.064, t2 * 0.064, "v₁[1]");
    assert_eq!(out.state.solver_steps(), 1);
}

/// AdamW one step, same problem, λ = 0.5: decoupled decay first,
///   θ₀ ← θ₀(1 − γλ) = (1, −2)·0.95 = (0.95, −1.9),
/// then the same Adam step as above (the gradient g₁ = (1, −8) was taken at the undecayed θ₀):
///   θ₁ = (0.95 − 0.1/(1 + 1e-8), −1.9 + 0.8/(8 + 1e-8)).
/// Coupled Adam with λ = 0.5 instead adds λθ₀ to the gradient: g = (1 + 0.5, −8 − 1) =
/// (1.5, −9), m̂ = g, v̂ = g², θ₁ = θ₀ − 0.1·g/(|g| + ε) = (1 − 0.15/(1.5 + 1e-8), −2 + 0.9/(9 + 1e-8)).
#[test]
fn adamw_and_adam_weight_decay_one_step_by_hand() {
    let tol = 32.0 * U * 2.0;
    let mut p = Quadratic::diagonal(&[1.0, 4.0]);
    let adamw = AdamConfig::adamw(0.1, 0.5).build().unwrap();
    let (_, out) = traced(&mut p, &adamw, vec![1.0, -2.0], &Stopping::iterations(1));
    let want = [0.95 - 0.1 / (1.0 + 1e-8), -1.9 + 0.8 / (8.0 + 1e-8)];
    for i in 0..2 {
        assert_close(out.state.params()[i], want[i], tol, "adamw θ₁");
    }
    let adam = AdamConfig::adam(0.1)
        .with_weight_decay(0.5)
        .build()
        .unwrap();
    let (_, out) = traced(&mut p, &adam, vec![1.0, -2.0], &Stopping::iterations(1));
    let want = [1.0 - 0.15 / (1.5 + 1e-8), -2.0 + 0.9 / (9.0 + 1e-8)];
    for i in 0..2 {
        assert_close(out.state.params()[i], want[i], tol, "adam(λ) θ₁");
    }
}

/// Five steps on a linear loss L = c·θ, c = (3, −0.5): the gradient is constant, so
///   m_t = (1 − β₁ᵗ)c  ⇒  m̂_t = c,   v_t = (1 − β₂ᵗ)c²  ⇒  v̂_t = c²,
/// every Adam step is −γ c/(|c| + ε), and
///   Adam:  θ₅ = θ₀ − 5γ c/(|c| + ε);
///   AdamW: θ_t = (1 − γλ)θ_{t−1} − γ s, s = c/(|c| + ε)
///          ⇒ θ₅ = (1 − γλ)⁵θ₀ − γ s Σ_{j=0}^{4}(1 − γλ)ʲ.
/// The bias corrections are essential here: without them m₁ = 0.1c, v₁ = 0.001c² and the
/// first step would be γ·0.1c/(√0.001|c|) ≈ 3.16γ instead of γ.
/// Tolerance: 5 steps × 32u relative rounding of each step (m_t/(1 − β₁ᵗ) = c holds only up
/// to the rounding of 1 − β₁ᵗ and the recurrences, ≲ 8tu) on |θ| ≲ 2.
#[test]
fn adam_adamw_five_steps_by_hand() {
    let (g, lam) = (0.05, 0.2);
    let c: [f64; 2] = [3.0, -0.5];
    let theta0 = [0.7, -1.3];
    let s = [c[0] / (c[0].abs() + 1e-8), c[1] / (c[1].abs() + 1e-8)];
    let tol = 5.0 * 32.0 * U * 2.0;

    let mut p = Linear { c: c.to_vec() };
    let adam = AdamConfig::adam(g).build().unwrap();
    let (_, out) = traced(&mut p, &adam, theta0.to_vec(), &Stopping::iterations(5));
    for i in 0..2 {
        assert_close(
            out.state.params()[i],
            theta0[i] - 5.0 * g * s[i],
            tol,
            "adam θ₅",
        );
    }

    let adamw = AdamConfig::adamw(g, lam).build().unwrap();
    let (_, out) = traced(&mut p, &adamw, theta0.to_vec(), &Stopping::iterations(5));
    let r: f64 = 1.0 - g * lam;
    let geometric = 1.0 + r + r * r + r * r * r + r * r * r * r;
    for i in 0..2 {
        let want = r.powi(5) * theta0[i] - g * s[i] * geometric;
        assert_close(out.state.params()[i], want, tol, "adamw θ₅");
    }
}

/// Five Adam steps (λ = 0.1 coupled, β = (0.8, 0.99), ε = 1e-3 so that ε matters) on the
/// quadratic L = ½(θ₁² + 4θ₂²), against the published algorithm box (Kingma & Ba, with
/// PyTorch's L2 term), transcribed literally per coordinate. Tolerance: two evaluation
/// orders of the same formulas differ by ≲ 8u relative per step, compounded over 5 steps.
#[test]
fn adam_five_steps_match_the_algorithm_box() {
    let (gamma, b1, b2, eps, lam) = (0.05, 0.8, 0.99, 1e-3, 0.1);
    let a = [1.0, 4.0];
    let mut theta = [1.0, -2.0];
    let (mut m, mut v) = ([0.0; 2], [0.0; 2]);
    for t in 1..=5 {
        for i in 0..2 {
            let g = a[i] * theta[i] + lam * theta[i];
            m[i] = b1 * m[i] + (1.0 - b1) * g;
            v[i] = b2 * v[i] + (1.0 - b2) * g * g;
            let m_hat = m[i] / (1.0 - f64::powi(b1, t));
            let v_hat = v[i] / (1.0 - f64::powi(b2, t));
            theta[i] -= gamma * m_hat / (v_hat.sqrt() + eps);
        }
    }
    let mut p = Quadratic::diagonal(&a);
    let adam = AdamConfig::adam(gamma)
        .with_betas(b1, b2)
        .with_eps(eps)
        .with_weight_decay(lam)
        .build()
        .unwrap();
    let (_, out) = traced(&mut p, &adam, vec![1.0, -2.0], &Stopping::iterations(5));
    for i in 0..2 {
        assert_close(
            out.state.params()[i],
            theta[i],
            5.0 * 64.0 * U * 2.0,
            "adam θ₅ vs box",
        );
    }
}

// ---------------------------------------------------------------------------------------
// Schedules.

/// PyTorch `MultiStepLR(opt, milestones=[0, 2, 2, 5], gamma=0.1)` with base lr 1:
/// the constructor's initial step sets last_epoch = 0 and, since 0 ∈ milestones (Counter
/// {0: 1, 2: 2, 5: 1}), already multiplies by γ: lr(0) = 0.1. Epoch 1: not a milestone,
/// 0.1. Epoch 2: milestone with multiplicity 2, ×γ² → 1e-3. Epochs 3, 4: 1e-3. Epoch 5:
/// ×γ → 1e-4, and so on (the closed form is base·γ^{bisect_right(sorted milestones, e)}).
const PYTORCH_MULTISTEP: [f64; 8] = [0.1, 0.1, 1e-3, 1e-3, 1e-3, 1e-4, 1e-4, 1e-4];

#[test]
fn multistep_matches_pytorch() {
    // order of the milestones does not matter (PyTorch counts them)
    for milestones in [vec![0, 2, 2, 5], vec![5, 2, 0, 2]] {
        let s = Schedule::multi_step(milestones, 0.1);
        s.validate().unwrap();
        for (e, &want) in PYTORCH_MULTISTEP.iter().enumerate() {
            // γ^k by powf vs PyTorch's successive products: ≤ 4 roundings
            assert_close(s.lr(1.0, e as u64), want, 4.0 * U * want, "MultiStep");
        }
    }
    // The driver reads the schedule at the epoch: with full-batch GD epoch = iteration …
    let mut q = Quadratic::diagonal(&[1.0, 0.5]);
    let gd = GradientDescentConfig::new(1.0)
        .with_schedule(Schedule::multi_step(vec![0, 2, 2, 5], 0.1))
        .build()
        .unwrap();
    let (trace, _) = traced(&mut q, &gd, vec![1.0, 1.0], &Stopping::iterations(7));
    for (k, &want) in PYTORCH_MULTISTEP.iter().enumerate() {
        assert_close(trace.lr[k], want, 4.0 * U * want, "GD lr");
    }
    // … and with SGD (10 samples, batch 4 → 3 batches per epoch) iteration k is in epoch k/3.
    let mut ls = LeastSquares::random(10, 2, 3);
    let sgd = SgdConfig::new(1.0, 4, 7)
        .with_schedule(Schedule::multi_step(vec![0, 2, 2, 5], 0.1))
        .build()
        .unwrap();
    let (trace, out) = traced(&mut ls, &sgd, vec![0.0, 0.0], &Stopping::epochs(7));
    assert_eq!(out.report.iterations, 21);
    for k in 0..21 {
        let want = PYTORCH_MULTISTEP[k / 3];
        assert_eq!(trace.epoch[k], (k / 3) as u64);
        assert_close(trace.lr[k], want, 4.0 * U * want, "SGD lr");
    }
    // per-iteration clock: iteration k reads t = k
    let sgd_it = SgdConfig::new(1.0, 4, 7)
        .with_schedule(Schedule::multi_step(vec![0, 2, 2, 5], 0.1))
        .per_iteration()
        .build()
        .unwrap();
    let (trace, _) = traced(&mut ls, &sgd_it, vec![0.0, 0.0], &Stopping::iterations(7));
    for (k, &want) in PYTORCH_MULTISTEP.iter().enumerate() {
        assert_close(trace.lr[k], want, 4.0 * U * want, "SGD per-iteration lr");
    }
}

/// Closed forms: ExponentialLR η₀γᵗ; CosineAnnealingLR (T_max = 4, η_min = 0.1, η₀ = 1):
/// t=0 → 1, t=1 → 0.1 + 0.9(1 + cos(π/4))/2 = 0.1 + 0.9·0.853553390593… , t=2 → 0.55,
/// t=4 → 0.1, t=8 → 1 (the closed form continues the cosine); LinearLR warm-up
/// (start 0.25, 3 steps) then MultiStep([1], 0.5) on its own clock:
/// 0.25, 0.5, 0.75, then 1 (t=3 ↦ inner t=0), 0.5 (inner t=1).
#[test]
fn exponential_cosine_warmup_closed_forms() {
    let e = Schedule::exponential(0.5);
    assert_eq!(e.lr(2.0, 0), 2.0);
    assert_eq!(e.lr(2.0, 3), 0.25);
    let c = Schedule::cosine(4, 0.1);
    let tol = 4.0 * U;
    assert_close(c.lr(1.0, 0), 1.0, tol, "cos t=0");
    let half = (1.0 + std::f64::consts::FRAC_1_SQRT_2) / 2.0;
    assert_close(c.lr(1.0, 1), 0.1 + 0.9 * half, tol, "cos t=1");
    assert_close(c.lr(1.0, 2), 0.55, tol, "cos t=2");
    assert_close(c.lr(1.0, 4), 0.1, tol, "cos t=4");
    assert_close(c.lr(1.0, 8), 1.0, tol, "cos t=8");
    let w = Schedule::multi_step(vec![1], 0.5).with_warmup(0.25, 3);
    w.validate().unwrap();
    let got: Vec<f64> = (0..5).map(|t| w.lr(1.0, t)).collect();
    assert_eq!(got, vec![0.25, 0.5, 0.75, 1.0, 0.5]);
}

// ---------------------------------------------------------------------------------------
// SGD.

#[test]
fn sgd_same_seed_bitwise_identical_different_seeds_differ() {
    let stopping = Stopping::epochs(3);
    let go = |seed: u64| {
        let mut ls = LeastSquares::random(10, 3, 11);
        let sgd = SgdConfig::new(0.3, 3, seed).build().unwrap();
        traced(&mut ls, &sgd, vec![0.1, -0.2, 0.3], &stopping)
    };
    let (a, out_a) = go(42);
    let (b, _) = go(42);
    let (c, _) = go(43);
    // 10 samples, batch 3 → batches of 3, 3, 3, 1 → 4 iterations per epoch
    assert_eq!(out_a.report.iterations, 12);
    assert_eq!(out_a.report.epochs, 3);
    assert_eq!(out_a.report.evaluations, 13);
    let bits = |t: &Trace| -> Vec<Vec<u64>> {
        t.params
            .iter()
            .map(|p| p.iter().map(|x| x.to_bits()).collect())
            .collect()
    };
    assert_eq!(
        bits(&a),
        bits(&b),
        "same seed must give bitwise identical trajectories"
    );
    assert_eq!(a.batch, b.batch);
    assert_ne!(
        bits(&a),
        bits(&c),
        "different seeds must give different trajectories"
    );
    assert_ne!(a.batch, c.batch);
    // every epoch visits every sample exactly once, in batches 3, 3, 3, 1
    for e in 0..3 {
        let batches: Vec<&Vec<usize>> = (4 * e..4 * e + 4)
            .map(|k| a.batch[k].as_ref().unwrap())
            .collect();
        assert_eq!(
            batches.iter().map(|b| b.len()).collect::<Vec<_>>(),
            [3, 3, 3, 1]
        );
        let mut all: Vec<usize> = batches.iter().flat_map(|b| b.iter().copied()).collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert!((4 * e..4 * e + 4).all(|k| a.epoch[k] == e as u64));
    }
    // the shuffle of each epoch is a function of (seed, epoch) only
    let mb = Minibatch::new(3, 42);
    let mut perm = vec![0; 10];
    mb.permutation(1, &mut perm);
    assert_eq!(a.batch[4].as_ref().unwrap()[..], perm[..3]);
    // drop_last: 3 batches of 3 per epoch
    let mut ls = LeastSquares::random(10, 3, 11);
    let sgd = SgdConfig {
        minibatch: Minibatch::new(3, 42).drop_last(true),
        ..SgdConfig::new(0.3, 3, 42)
    }
    .build()
    .unwrap();
    let (t, out) = traced(&mut ls, &sgd, vec![0.0; 3], &Stopping::epochs(2));
    assert_eq!(out.report.iterations, 6);
    assert!(t.batch.iter().all(|b| b.as_ref().unwrap().len() == 3));
}

/// Stopping and resuming gives the same trajectory, bit for bit (Adam with minibatches:
/// moments, step counter and sampler live in the state).
#[test]
fn resume_is_bitwise_identical() {
    let adam = AdamConfig::adam(0.05)
        .with_minibatch(Minibatch::new(4, 9))
        .build()
        .unwrap();
    let mut ls = LeastSquares::random(10, 3, 5);
    let theta0 = vec![0.5, 0.5, -0.5];
    let whole = run(
        &mut ls,
        &adam,
        State::new(theta0.clone()),
        &Stopping::iterations(11),
        &mut [],
    )
    .unwrap();
    let half = run(
        &mut ls,
        &adam,
        State::new(theta0),
        &Stopping::iterations(5),
        &mut [],
    )
    .unwrap();
    let rest = run(
        &mut ls,
        &adam,
        half.state,
        &Stopping::iterations(11),
        &mut [],
    )
    .unwrap();
    assert_eq!(rest.report.iterations, 6);
    let bits = |p: &[f64]| p.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(whole.state.params()), bits(rest.state.params()));
    assert_eq!(whole.state.epoch(), rest.state.epoch());
    assert_eq!(whole.state.batch(), rest.state.batch());
}

// ---------------------------------------------------------------------------------------
// Divergence.

/// L = ½(0.25θ₁² + θ₂²), β = 1, η = 3/β = 3, θ₀ = (1, 1): the GD map is
/// θ₁ ← (1 − 0.75)θ₁ = θ₁/4, θ₂ ← (1 − 3)θ₂ = −2θ₂, all exact in binary. So
/// θ_k = (2^{−2k}, (−2)^k) and L_k = ½(2^{−4k−2} + 2^{2k}): θ₂² = 2^{2k} overflows first at
/// k = 512 (2^{1024} > f64::MAX) while the gradient 2^{512} is still finite. The run must
/// stop there with the last finite iterate k = 511: θ = (2^{−1022}, −2^{511}),
/// L = ½(0 + 2^{1022}) = 2^{1021} (the θ₁ term underflows to 0 exactly).
#[test]
fn divergence_is_detected_with_last_finite_state() {
    let mut q = Quadratic::diagonal(&[0.25, 1.0]);
    let gd = GradientDescentConfig::new(3.0).build().unwrap();
    let mut seen = 0u64;
    let mut all_finite = true;
    let mut obs = |it: &Iterate<'_>| {
        seen += 1;
        all_finite &= it.loss.is_finite() && it.params.iter().all(|p| p.is_finite());
        ObserverAction::Continue
    };
    let mut state = State::new(vec![1.0, 1.0]);
    let err = run_in_place(
        &mut q,
        &gd,
        &mut state,
        &Stopping::iterations(10_000),
        &mut [&mut obs],
    )
    .unwrap_err();
    match &err {
        OptimError::Diverged {
            iteration,
            loss,
            non_finite,
            last_finite_params,
            last_finite_loss,
        } => {
            assert_eq!(*iteration, 512);
            assert_eq!(*non_finite, NonFinite::Loss);
            assert!(loss.is_infinite());
            assert_eq!(
                last_finite_params,
                &vec![2f64.powi(-1022), -(2f64.powi(511))]
            );
            assert_eq!(*last_finite_loss, 2f64.powi(1021));
        }
        other => panic!("expected Diverged, got {other:?}"),
    }
    // observers saw iterates 0..=511, all finite; the state holds the last finite iterate
    assert_eq!(seen, 512);
    assert!(all_finite);
    assert_eq!(state.iteration(), 511);
    assert_eq!(state.params(), &[2f64.powi(-1022), -(2f64.powi(511))]);
    assert!(err.to_string().contains("diverged at iteration 512"));
}

/// The same on a random quadratic (μ = 1, β = 10, n = 5) with η = 3/β: the iterate along the
/// top eigenvector grows like 2^k. Whatever the iteration, the error's state is consistent:
/// its loss recomputes to `last_finite_loss` (finite), it is the last iterate the observer
/// saw, and one more GD step from it is non-finite.
#[test]
fn divergence_random_quadratic_holds_consistent_last_state() {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let mut q = Quadratic::random(5, 1.0, 10.0, &mut rng);
    let gd = GradientDescentConfig::new(0.3).build().unwrap();
    let mut trace = Trace::default();
    let err = run(
        &mut q,
        &gd,
        State::new(vec![1.0; 5]),
        &Stopping::iterations(100_000),
        &mut [&mut trace],
    )
    .unwrap_err();
    let OptimError::Diverged {
        iteration,
        last_finite_params,
        last_finite_loss,
        ..
    } = err
    else {
        panic!("expected Diverged, got {err:?}");
    };
    assert_eq!(trace.params.len() as u64, iteration);
    assert_eq!(trace.params.last().unwrap(), &last_finite_params);
    assert!(last_finite_loss.is_finite());
    assert_eq!(q.loss(&last_finite_params), last_finite_loss);
    let mut g = vec![0.0; 5];
    q.grad(&last_finite_params, &mut g);
    let next: Vec<f64> = last_finite_params
        .iter()
        .zip(&g)
        .map(|(p, g)| p - 0.3 * g)
        .collect();
    // the loss uses the gradient at `next`, so a non-finite gradient shows in it too
    assert!(!q.loss(&next).is_finite() || next.iter().any(|x| !x.is_finite()));
}

#[test]
fn non_finite_start_is_an_error() {
    let mut q = Quadratic::diagonal(&[1.0, 1.0]);
    let gd = GradientDescentConfig::new(0.1).build().unwrap();
    let err = run(
        &mut q,
        &gd,
        State::new(vec![f64::NAN, 0.0]),
        &Stopping::iterations(3),
        &mut [],
    )
    .unwrap_err();
    assert!(matches!(
        err,
        OptimError::NonFiniteStart {
            iteration: 0,
            non_finite: NonFinite::Loss,
            ..
        }
    ));
}

// ---------------------------------------------------------------------------------------
// Metric.

/// A quadratic on L·m parameters, GD in the L² metric (L blocks of weight h = 1/L) with step
/// η equals Euclidean GD with step η/h. For L a power of two, h and 1/h are exact and
/// η·(g/h) = (η/h)·g bit for bit (scaling by 2^j commutes with rounding). For other L the
/// two differ by the rounding of g/h vs η/h (≤ 2u relative per update) plus the mat-vec of
/// slightly different inputs (≤ 2nu‖θ‖); GD with η/h ≤ 1/β is non-expansive, so over K steps
/// the gap is ≤ K(2n + 4)u·max‖θ‖ ≤ 8KnU·max‖θ‖.
#[test]
fn l2_metric_gd_is_euclidean_gd_with_step_over_h() {
    let m = 3;
    for n_layers in [2usize, 3, 4, 5, 8] {
        let n = n_layers * m;
        let h = 1.0 / n_layers as f64;
        let mut rng = ChaCha8Rng::seed_from_u64(n_layers as u64);
        let mut q = Quadratic::random(n, 0.1, 2.0, &mut rng);
        let theta0: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let eta = 0.4 * h; // Euclidean step η/h = 0.4 ≤ 1/β
        let k = 30;
        let l2 = GradientDescentConfig::new(eta)
            .with_metric(Metric::l2_layers(n_layers, m, h).unwrap())
            .build()
            .unwrap();
        let euc = GradientDescentConfig::new(eta / h)
            .with_metric(Metric::euclidean(n))
            .build()
            .unwrap();
        let (ta, a) = traced(&mut q, &l2, theta0.clone(), &Stopping::iterations(k));
        let (_, b) = traced(&mut q, &euc, theta0, &Stopping::iterations(k));
        if n_layers.is_power_of_two() {
            let bits = |p: &[f64]| p.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(a.state.params()),
                bits(b.state.params()),
                "L = {n_layers}"
            );
        } else {
            let max_norm = ta
                .params
                .iter()
                .map(|p| p.iter().map(|x| x * x).sum::<f64>().sqrt())
                .fold(0.0, f64::max);
            let tol = 8.0 * (k as usize * n) as f64 * U * max_norm;
            for (x, y) in a.state.params().iter().zip(b.state.params()) {
                assert_close(*x, *y, tol, "L² vs Euclidean");
            }
        }
        // the reported norm is the metric one: ‖G‖² = h Σ_k ‖g_k/h‖² = ‖g‖²/h (2n roundings)
        let want = a.state.gradient().iter().map(|x| x * x).sum::<f64>() / h;
        assert_close(
            a.state.grad_norm_sq(),
            want,
            4.0 * n as f64 * U * want,
            "‖G‖²",
        );
    }
}

#[test]
fn metric_operations() {
    let m = Metric::blocks(vec![(2, 0.5), (1, 4.0)]).unwrap();
    assert_eq!(m.len(), Some(3));
    let g = [1.0, -2.0, 8.0];
    let mut out = [0.0; 3];
    // G = (2, −4, 2); ‖G‖² = ⟨g, G⟩ = 2 + 8 + 16 = 26 = 0.5(4 + 16) + 4·4
    let norm_sq = m.riesz_into(&g, &mut out);
    assert_eq!(out, [2.0, -4.0, 2.0]);
    assert_eq!(norm_sq, 26.0);
    assert_eq!(m.norm_sq(&out), 26.0);
    assert_eq!(m.dual_norm_sq(&g), 26.0);
    let mut g2 = g;
    m.riesz_in_place(&mut g2);
    assert_eq!(g2, out);
    assert_eq!(
        m.inner(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]),
        0.5 * 3.0 + 12.0
    );
    assert!(Metric::default().is_euclidean() && Metric::euclidean(3).is_euclidean());
    assert!(!m.is_euclidean());
}

// ---------------------------------------------------------------------------------------
// Armijo, momentum.

/// L = ½θ², θ₀ = 1, first trial η = 4, ρ = ½, c = 1e-4. Armijo needs
/// ½(1 − t)² ≤ ½ − 1e-4·t: t = 4 gives 4.5 (reject), t = 2 gives 0.5 > 0.4998 (reject),
/// t = 1 gives 0 (accept). So one iteration lands on θ = 0 exactly after 3 trials
/// (4 evaluations with the initial one).
#[test]
fn armijo_by_hand_and_sufficient_decrease() {
    let mut q = Quadratic::diagonal(&[1.0]);
    let ls = BacktrackingConfig::new(4.0).build().unwrap();
    let (_, out) = traced(&mut q, &ls, vec![1.0], &Stopping::iterations(1));
    assert_eq!(out.state.params(), &[0.0]);
    assert_eq!(out.report.evaluations, 4);
    assert_eq!(out.state.last_step_size(), 1.0);

    // In the L² metric on a random quadratic, every accepted step satisfies
    // L_{k+1} ≤ L_k − c t_k ‖G_k‖²_M (checked as computed: it is the acceptance test itself,
    // so no tolerance), and the loss decreases monotonically.
    let mut rng = ChaCha8Rng::seed_from_u64(77);
    let mut q = Quadratic::random(6, 0.5, 20.0, &mut rng);
    let ls = BacktrackingConfig::new(10.0)
        .with_metric(Metric::l2_layers(3, 2, 1.0 / 3.0).unwrap())
        .build()
        .unwrap();
    let (t, out) = traced(&mut q, &ls, vec![1.0; 6], &Stopping::iterations(20));
    assert_eq!(out.report.iterations, 20);
    for k in 0..20 {
        assert!(t.loss[k + 1] <= t.loss[k] - 1e-4 * t.last_step[k + 1] * t.grad_norm_sq[k]);
    }
    // no backtracking allowed and a step far too long: the search fails
    let bad = BacktrackingConfig {
        max_backtracks: 0,
        ..BacktrackingConfig::new(1e3)
    }
    .build()
    .unwrap();
    let err = run(
        &mut q,
        &bad,
        State::new(vec![1.0; 6]),
        &Stopping::iterations(5),
        &mut [],
    )
    .unwrap_err();
    assert!(matches!(
        err,
        OptimError::LineSearchFailed {
            iteration: 0,
            backtracks: 0,
            ..
        }
    ));
}

/// L = ½θ², θ₀ = 1, η = 0.1, β = 0.9 (PyTorch SGD momentum, dampening 0):
/// heavy ball: b₁ = g₀ = 1, θ₁ = 1 − 0.1 = 0.9; b₂ = 0.9·1 + 0.9 = 1.8, θ₂ = 0.9 − 0.18 = 0.72.
/// Nesterov: b₁ = 1, θ₁ = 1 − 0.1(1 + 0.9) = 0.81; g₁ = 0.81, b₂ = 0.9 + 0.81 = 1.71,
/// θ₂ = 0.81 − 0.1(0.81 + 0.9·1.71) = 0.81 − 0.2349 = 0.5751. Tolerance: ≤ 8 roundings.
/// With β = 0 both are gradient descent bit for bit.
#[test]
fn momentum_by_hand_and_zero_momentum_is_gd() {
    let mut q = Quadratic::diagonal(&[1.0]);
    let hb = MomentumConfig::heavy_ball(0.1, 0.9).build().unwrap();
    let (t, _) = traced(&mut q, &hb, vec![1.0], &Stopping::iterations(2));
    assert_close(t.params[1][0], 0.9, 8.0 * U, "hb θ₁");
    assert_close(t.params[2][0], 0.72, 8.0 * U, "hb θ₂");
    let nag = MomentumConfig::nesterov(0.1, 0.9).build().unwrap();
    let (t, _) = traced(&mut q, &nag, vec![1.0], &Stopping::iterations(2));
    assert_close(t.params[1][0], 0.81, 8.0 * U, "nesterov θ₁");
    assert_close(t.params[2][0], 0.5751, 8.0 * U, "nesterov θ₂");

    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut q = Quadratic::random(4, 1.0, 3.0, &mut rng);
    let metric = Metric::l2_layers(2, 2, 0.5).unwrap();
    let gd = GradientDescentConfig::new(0.1)
        .with_metric(metric.clone())
        .build()
        .unwrap();
    let (tg, _) = traced(
        &mut q,
        &gd,
        vec![1.0, -1.0, 0.5, 2.0],
        &Stopping::iterations(15),
    );
    for cfg in [
        MomentumConfig::heavy_ball(0.1, 0.0),
        MomentumConfig::nesterov(0.1, 0.0),
    ] {
        let s = cfg.with_metric(metric.clone()).build().unwrap();
        let (tm, _) = traced(
            &mut q,
            &s,
            vec![1.0, -1.0, 0.5, 2.0],
            &Stopping::iterations(15),
        );
        assert_eq!(tg.params, tm.params);
    }
}

// ---------------------------------------------------------------------------------------
// Stopping, observers, errors.

#[test]
fn stopping_rules_and_observer_stop() {
    let mut q = Quadratic::diagonal(&[1.0, 2.0]);
    let gd = GradientDescentConfig::new(0.25).build().unwrap();
    // loss tolerance
    let out = run(
        &mut q,
        &gd,
        State::new(vec![1.0, 1.0]),
        &Stopping::iterations(1000).loss_below(1e-10),
        &mut [],
    )
    .unwrap();
    assert!(matches!(
        out.report.stop_reason,
        StopReason::LossTolerance { .. }
    ));
    assert!(out.report.stop_reason.converged());
    assert!(out.state.loss() <= 1e-10);
    // the iterate before was above the tolerance: iterations is minimal
    let prev = run(
        &mut q,
        &gd,
        State::new(vec![1.0, 1.0]),
        &Stopping::iterations(out.report.iterations - 1),
        &mut [],
    )
    .unwrap();
    assert!(prev.state.loss() > 1e-10);
    // gradient-norm tolerance, in the metric: ‖G‖ = ‖g‖/√w with one block of weight w = 4
    let gd4 = GradientDescentConfig::new(1.0)
        .with_metric(Metric::blocks(vec![(2, 4.0)]).unwrap())
        .build()
        .unwrap();
    let out = run(
        &mut q,
        &gd4,
        State::new(vec![1.0, 1.0]),
        &Stopping::iterations(1000).grad_norm_below(1e-6),
        &mut [],
    )
    .unwrap();
    let g = out.state.gradient();
    let norm = ((g[0] * g[0] + g[1] * g[1]) / 4.0).sqrt();
    assert_close(out.report.final_grad_norm, norm, 4.0 * U * norm, "‖G‖_M");
    assert!(matches!(
        out.report.stop_reason,
        StopReason::GradientNormTolerance { .. }
    ));
    // observer stop at iteration 3 (second observer); the first observer still saw it
    let mut h = History::new();
    let mut stop3 = |it: &Iterate<'_>| {
        if it.iteration == 3 {
            ObserverAction::Stop
        } else {
            ObserverAction::Continue
        }
    };
    let out = run(
        &mut q,
        &gd,
        State::new(vec![1.0, 1.0]),
        &Stopping::iterations(100),
        &mut [&mut h, &mut stop3],
    )
    .unwrap();
    assert_eq!(out.report.stop_reason, StopReason::Observer { index: 1 });
    assert_eq!(out.report.iterations, 3);
    assert_eq!(h.records.len(), 4);
    // max iterations; continuing the returned state counts towards the same budget
    let out = run(
        &mut q,
        &gd,
        State::new(vec![1.0, 1.0]),
        &Stopping::iterations(4),
        &mut [],
    )
    .unwrap();
    assert_eq!(
        out.report.stop_reason,
        StopReason::MaxIterations { max_iterations: 4 }
    );
    assert_eq!((out.report.iterations, out.report.evaluations), (4, 5));
    let again = run(&mut q, &gd, out.state, &Stopping::iterations(6), &mut []).unwrap();
    assert_eq!((again.report.iterations, again.report.evaluations), (2, 2));
    assert_eq!(again.report.final_iteration, 6);
}

#[test]
fn configuration_errors_are_typed() {
    let e = GradientDescentConfig::new(0.0).build().unwrap_err();
    assert_eq!(e, ConfigError::NonPositiveLearningRate { value: 0.0 });
    assert!(GradientDescentConfig::new(-1.0).build().is_err());
    assert!(GradientDescentConfig::new(f64::NAN).build().is_err());
    assert_eq!(
        MomentumConfig::heavy_ball(0.1, 1.0).build().unwrap_err(),
        ConfigError::MomentumOutOfRange {
            parameter: "momentum",
            value: 1.0
        }
    );
    assert!(MomentumConfig::nesterov(0.1, -0.1).build().is_err());
    assert_eq!(
        AdamConfig::adam(0.1)
            .with_betas(0.9, 1.0)
            .build()
            .unwrap_err(),
        ConfigError::MomentumOutOfRange {
            parameter: "beta2",
            value: 1.0
        }
    );
    assert!(AdamConfig::adam(0.1).with_betas(1.5, 0.9).build().is_err());
    assert!(matches!(
        AdamConfig::adam(0.1).with_eps(0.0).build(),
        Err(ConfigError::OutOfRange {
            parameter: "eps",
            ..
        })
    ));
    assert!(matches!(
        AdamConfig::adamw(0.1, -0.1).build(),
        Err(ConfigError::OutOfRange {
            parameter: "weight_decay",
            ..
        })
    ));
    assert_eq!(
        SgdConfig::new(0.1, 0, 1).build().unwrap_err(),
        ConfigError::ZeroBatchSize
    );
    assert!(
        AdamConfig::adam(0.1)
            .with_minibatch(Minibatch::new(0, 1))
            .build()
            .is_err()
    );
    assert!(matches!(
        BacktrackingConfig {
            c: 1.0,
            ..BacktrackingConfig::new(1.0)
        }
        .build(),
        Err(ConfigError::OutOfRange { parameter: "c", .. })
    ));
    assert!(
        BacktrackingConfig {
            shrink: 0.0,
            ..BacktrackingConfig::new(1.0)
        }
        .build()
        .is_err()
    );
    assert_eq!(
        Metric::l2_layers(3, 2, 0.0).unwrap_err(),
        ConfigError::NonPositiveMetricWeight {
            block: 0,
            weight: 0.0
        }
    );
    assert_eq!(
        Metric::blocks(vec![(1, 1.0), (0, 1.0)]).unwrap_err(),
        ConfigError::EmptyMetricBlock { block: 1 }
    );
    assert_eq!(
        Stopping::default().validate().unwrap_err(),
        ConfigError::Unbounded
    );
    assert!(Stopping::iterations(1).loss_below(-1.0).validate().is_err());
    assert!(Schedule::exponential(0.0).validate().is_err());
    assert!(Schedule::cosine(0, 0.0).validate().is_err());
    assert!(Schedule::Constant.with_warmup(0.0, 3).validate().is_err());
    assert!(Schedule::Constant.with_warmup(0.5, 0).validate().is_err());
    assert!(
        GradientDescentConfig::new(0.1)
            .with_schedule(Schedule::multi_step(vec![1], -0.5))
            .build()
            .is_err()
    );
    // the serialisable choice builds the same checks
    assert!(SolverConfig::Adam(AdamConfig::adam(-1.0)).build().is_err());
    assert_eq!(
        SolverConfig::Adam(AdamConfig::adamw(0.1, 0.01))
            .build()
            .unwrap()
            .name(),
        "adamw"
    );
}

#[test]
fn run_time_errors_are_typed() {
    let mut q = Quadratic::diagonal(&[1.0, 1.0]);
    let gd = GradientDescentConfig::new(0.1).build().unwrap();
    let s = Stopping::iterations(3);
    let gd3 = GradientDescentConfig::new(0.1)
        .with_metric(Metric::euclidean(3))
        .build()
        .unwrap();
    // three parameters for a problem of two; a metric of three for a problem of two
    for (solver, n) in [(&gd, 3), (&gd3, 2)] {
        let err = run(&mut q, solver, State::new(vec![1.0; n]), &s, &mut []).unwrap_err();
        assert!(matches!(
            err,
            OptimError::DimensionMismatch {
                expected: 2,
                got: 3,
                ..
            }
        ));
    }
    let sgd = SgdConfig::new(0.1, 2, 0).build().unwrap();
    let err = run(&mut q, &sgd, State::new(vec![1.0; 2]), &s, &mut []).unwrap_err();
    assert!(matches!(
        err,
        OptimError::MinibatchUnsupported { solver: "sgd" }
    ));
    let mut ls = LeastSquares::random(5, 2, 0);
    let sgd = SgdConfig {
        minibatch: Minibatch::new(6, 0).drop_last(true),
        ..SgdConfig::new(0.1, 6, 0)
    }
    .build()
    .unwrap();
    let err = run(&mut ls, &sgd, State::new(vec![1.0; 2]), &s, &mut []).unwrap_err();
    assert!(matches!(
        err,
        OptimError::BatchLargerThanDataset {
            batch_size: 6,
            n_samples: 5
        }
    ));
    assert!(matches!(
        run(
            &mut q,
            &gd,
            State::new(vec![1.0; 2]),
            &Stopping::default(),
            &mut []
        ),
        Err(OptimError::Config(ConfigError::Unbounded))
    ));
}

/// A model crate's own error travels through `ProblemError` and comes back typed.
#[test]
fn problem_errors_propagate_with_their_source() {
    #[derive(Debug, thiserror::Error)]
    #[error("model blew up at call {0}")]
    struct ModelError(u32);
    struct Failing(u32);
    impl Problem for Failing {
        fn n_params(&self) -> usize {
            1
        }
        fn loss_and_gradient(&mut self, p: &[f64], g: &mut [f64]) -> Result<f64, ProblemError> {
            self.0 += 1;
            if self.0 == 3 {
                return Err(ProblemError::new("forward pass failed", ModelError(self.0)));
            }
            g[0] = p[0];
            Ok(0.5 * p[0] * p[0])
        }
    }
    let gd = GradientDescentConfig::new(0.5).build().unwrap();
    let mut state = State::new(vec![1.0]);
    let err = run_in_place(
        &mut Failing(0),
        &gd,
        &mut state,
        &Stopping::iterations(10),
        &mut [],
    )
    .unwrap_err();
    let OptimError::Problem { iteration, source } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*iteration, 2);
    assert_eq!(source.message(), "forward pass failed");
    let inner = source
        .inner()
        .unwrap()
        .downcast_ref::<ModelError>()
        .unwrap();
    assert_eq!(inner.0, 3);
    assert_eq!(
        std::error::Error::source(&err).unwrap().to_string(),
        "forward pass failed"
    );
    // the state is still the last good iterate (θ₁ = 0.5)
    assert_eq!(state.iteration(), 1);
    assert_eq!(state.params(), &[0.5]);
}

// ---------------------------------------------------------------------------------------
// No allocation per iterate.

/// Heap allocations made by `iters` iterations of `solver` on `problem` from `p0` (through
/// `run_in_place`; the state is made before counting).
fn run_allocations(problem: &mut dyn Problem, solver: &dyn Solver, p0: &[f64], iters: u64) -> u64 {
    let mut state = State::new(p0.to_vec());
    let before = allocations();
    run_in_place(
        problem,
        solver,
        &mut state,
        &Stopping::iterations(iters),
        &mut [],
    )
    .unwrap();
    allocations() - before
}

/// The allocations of a run do not depend on its length: everything is allocated when the
/// run starts (same count for 5 and 200 iterations), for every solver, with minibatches.
#[test]
fn steps_do_not_allocate() {
    let solvers: Vec<Box<dyn Solver>> = vec![
        Box::new(
            GradientDescentConfig::new(0.1)
                .with_metric(Metric::l2_layers(2, 2, 0.5).unwrap())
                .build()
                .unwrap(),
        ),
        Box::new(BacktrackingConfig::new(1.0).build().unwrap()),
        Box::new(SgdConfig::new(0.1, 3, 1).build().unwrap()),
        Box::new(
            MomentumConfig::nesterov(0.05, 0.9)
                .with_minibatch(Minibatch::new(4, 2))
                .build()
                .unwrap(),
        ),
        Box::new(
            AdamConfig::adamw(0.01, 0.01)
                .with_minibatch(Minibatch::new(4, 3))
                .build()
                .unwrap(),
        ),
    ];
    for s in &solvers {
        let count = |iters: u64| {
            let mut ls = LeastSquares::random(10, 4, 8);
            run_allocations(&mut ls, s.as_ref(), &[0.1; 4], iters)
        };
        // warm-up: one-time registrations (e.g. tracing call sites) happen here
        count(1);
        assert_eq!(
            count(5),
            count(200),
            "{}: allocations grow with the number of steps",
            s.name()
        );
    }
    // and with a problem that does not allocate, full-batch runs do not either
    let mut q = Quadratic::diagonal(&[1.0, 0.5, 0.25]);
    for s in [
        Box::new(GradientDescentConfig::new(0.1).build().unwrap()) as Box<dyn Solver>,
        Box::new(BacktrackingConfig::new(1.0).build().unwrap()),
        Box::new(MomentumConfig::heavy_ball(0.1, 0.5).build().unwrap()),
        Box::new(AdamConfig::adam(0.01).build().unwrap()),
    ] {
        let count =
            |iters: u64, q: &mut Quadratic| run_allocations(q, s.as_ref(), &[1.0; 3], iters);
        count(1, &mut q);
        assert_eq!(count(5, &mut q), count(200, &mut q), "{}", s.name());
    }
}
