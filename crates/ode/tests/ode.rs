//! Integration tests of plres-ode: convergence orders, adaptive accuracy and failures, exact
//! gradients (finite differences), checkpointing, continuous vs discrete adjoint.
//!
//! Every tolerance is derived in a comment from the method's error or from rounding.

#![forbid(unsafe_code)]

use faer::{Mat, MatMut, MatRef};
use plres_ode::problems::{
    CosineGrowth, ExactSolution, HarmonicOscillator, Linear, LotkaVolterra, NormalLinear,
    Parametric, ProtheroRobinson, Tanh,
};
use plres_ode::{
    AdaptiveConfig, AdaptiveSolver, ButcherTableau, CheckpointedTape, FixedMethod, FixedSolver,
    Grid, OdeError, Output, RkWorkspace, Solution, StoredTape, VectorField, compare_adjoints,
    continuous_adjoint, solve_adaptive, solve_fixed,
};
use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

// ---------------------------------------------------------------- helpers

/// Proptest case count: `PROPTEST_CASES` if set, else `default` (kept small: 2 shared cores).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Standard normal by Box–Muller from a seeded ChaCha stream.
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn gaussian(rows: usize, cols: usize, rng: &mut ChaCha8Rng) -> Mat<f64> {
    Mat::from_fn(rows, cols, |_, _| normal(rng))
}

fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

/// Least-squares slope of `log e` against `log h`.
fn fitted_order(hs: &[f64], errs: &[f64]) -> f64 {
    let xs: Vec<f64> = hs.iter().map(|h| h.ln()).collect();
    let ys: Vec<f64> = errs.iter().map(|e| e.ln()).collect();
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    sxy / sxx
}

/// A scalar field `ẋ = g(t, x)` (one column, no parameters) from `g` returning
/// `(g(t, x), ∂g/∂x(t, x))`.
struct Scalar<G>(G);

impl<G: Fn(f64, f64) -> (f64, f64)> VectorField for Scalar<G> {
    fn n_params(&self) -> usize {
        0
    }
    fn eval(&self, t: f64, x: MatRef<'_, f64>, mut out: MatMut<'_, f64>) {
        for i in 0..x.nrows() {
            out[(i, 0)] = (self.0)(t, x[(i, 0)]).0;
        }
    }
    fn vjp_state(&self, t: f64, x: MatRef<'_, f64>, v: MatRef<'_, f64>, mut out: MatMut<'_, f64>) {
        for i in 0..x.nrows() {
            out[(i, 0)] = (self.0)(t, x[(i, 0)]).1 * v[(i, 0)];
        }
    }
    fn vjp_params(&self, _: f64, _: MatRef<'_, f64>, _: MatRef<'_, f64>, _: &mut [f64]) {}
}

/// The state at the end of `grid` (fixed-grid solve with `tab`).
fn final_state<F: VectorField>(
    f: &F,
    tab: &ButcherTableau,
    grid: &Grid,
    x0: MatRef<'_, f64>,
) -> Mat<f64> {
    solve_fixed(f, tab, grid, x0, &Output::Final)
        .unwrap()
        .final_state
}

/// The adaptive solve most tests run: Dormand–Prince 5(4) from `t = 0` to `t1`.
fn dopri<F: VectorField>(
    f: &F,
    t1: f64,
    x0: &Mat<f64>,
    cfg: &AdaptiveConfig,
    output: Output,
) -> Result<Solution, OdeError> {
    let tab = ButcherTableau::dormand_prince54();
    solve_adaptive(f, &tab, 0.0, t1, x0.as_ref(), cfg, &output)
}

/// Relative and absolute tolerance both `tol`, other settings default.
fn tolerance(tol: f64) -> AdaptiveConfig {
    AdaptiveConfig {
        rtol: tol,
        atol: tol,
        ..AdaptiveConfig::default()
    }
}

fn max_abs_diff(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    let mut m = 0.0f64;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            m = m.max((a[(i, j)] - b[(i, j)]).abs());
        }
    }
    m
}

/// A random strictly monotone grid on `[t0, t1]` with `n` steps of lengths within a factor 3.
fn random_grid(t0: f64, t1: f64, n: usize, rng: &mut ChaCha8Rng) -> Grid {
    let w: Vec<f64> = (0..n).map(|_| uniform(rng, 1.0, 3.0)).collect();
    let total: f64 = w.iter().sum();
    let mut times = vec![t0];
    let mut acc = 0.0;
    for wi in &w[..n - 1] {
        acc += wi;
        times.push(t0 + (t1 - t0) * acc / total);
    }
    times.push(t1);
    Grid::new(times).unwrap()
}

fn random_tanh(d: usize, rng: &mut ChaCha8Rng) -> Tanh {
    let w = Mat::from_fn(d, d, |_, _| 0.8 * normal(rng) / (d as f64).sqrt());
    let b = (0..d).map(|_| 0.5 * normal(rng)).collect();
    Tanh::new(w, b)
}

fn frob(m: MatRef<'_, f64>) -> f64 {
    m.norm_l2()
}

// ---------------------------------------------------------------- convergence orders

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(12)))]

    /// docs/theory.md §7: on a random linear system ẋ = Ax with exact flow Q e^{tB} Qᵀ, the global
    /// error at T = 1 behaves like C h^p; the least-squares slope of log error vs log h over
    /// four halvings is within ±0.15 of p = 1, 2, 2, 4 (Euler, midpoint, Heun, RK4).
    /// Spectrum: rates α ∈ [−1, 0.3], frequencies ω ∈ [0.5, 2] (|λ| ≤ 2.1), so with
    /// h|λ| ≤ 0.07 (order ≤ 2) or ≤ 0.27 (RK4) the next term of the error expansion changes the
    /// slope by O(h|λ|)·p/(p+1) ≲ 0.05; the smallest RK4 error (h = 1/64) is ~1e-9 of the
    /// state, far above rounding (~1e-15 · steps).
    #[test]
    fn fixed_methods_converge_at_their_order(seed in any::<u64>(), d in 2usize..=5) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let g = gaussian(d, d, &mut rng);
        let alpha: Vec<f64> = (0..d.div_ceil(2)).map(|_| uniform(&mut rng, -1.0, 0.3)).collect();
        let omega: Vec<f64> = (0..d / 2).map(|_| uniform(&mut rng, 0.5, 2.0)).collect();
        let field = NormalLinear::new(g.as_ref(), &alpha, &omega);
        let x0 = gaussian(3, d, &mut rng);
        let exact = field.exact(0.0, x0.as_ref(), 1.0);
        for (method, p, steps) in [
            (FixedMethod::Euler, 1.0, [32usize, 64, 128, 256]),
            (FixedMethod::Midpoint, 2.0, [32, 64, 128, 256]),
            (FixedMethod::Heun, 2.0, [32, 64, 128, 256]),
            (FixedMethod::Rk4, 4.0, [8, 16, 32, 64]),
        ] {
            let tab = method.tableau();
            let mut solver = FixedSolver::new(tab);
            let mut hs = vec![];
            let mut errs = vec![];
            for n in steps {
                let grid = Grid::uniform(0.0, 1.0, n).unwrap();
                let sol = solver.solve(&field, &grid, x0.as_ref(), &Output::Final).unwrap();
                hs.push(1.0 / n as f64);
                errs.push(frob((&sol.final_state - &exact).as_ref()));
            }
            let q = fitted_order(&hs, &errs);
            prop_assert!((q - p).abs() <= 0.15, "{method:?}: fitted order {q}, errors {errs:?}");
        }
    }
}

/// The non-autonomous ẋ = a cos(t) x exercises the nodes c_i: every tableau (Kutta 3/8, DP5
/// and BS3 on fixed grids included) converges at its order, ±0.15. The error is the largest
/// over six common grid points of [0, 3] (a single end time can sit near a zero of the leading
/// error coefficient, which fakes the slope). The step ranges are in the asymptotic regime
/// (successive slopes already within 0.13 of p) and the smallest error (≈ 6e-10) stays far
/// above rounding (≈ 1e-15 · steps).
#[test]
fn every_tableau_converges_on_a_time_dependent_problem() {
    let field = CosineGrowth::new(1.3);
    let x0 = Mat::from_fn(2, 2, |i, j| 0.5 + (i + 2 * j) as f64);
    let (t0, t1) = (0.0, 3.0);
    for tab in ButcherTableau::builtins() {
        let p = tab.order() as f64;
        let steps: [usize; 4] = match tab.order() {
            1..=4 => [40, 80, 160, 320],
            _ => [10, 20, 40, 80],
        };
        let mut hs = vec![];
        let mut errs = vec![];
        for n in steps {
            let grid = Grid::uniform(t0, t1, n).unwrap();
            let sol = solve_fixed(&field, &tab, &grid, x0.as_ref(), &Output::EveryStep).unwrap();
            let err = (0..=5)
                .map(|q| {
                    let k = q * n / 5;
                    let exact = field.exact(t0, x0.as_ref(), grid.times()[k]);
                    frob((&sol.states[k] - &exact).as_ref())
                })
                .fold(0.0, f64::max);
            hs.push((t1 - t0) / n as f64);
            errs.push(err);
        }
        let q = fitted_order(&hs, &errs);
        assert!(
            (q - p).abs() <= 0.15,
            "{}: fitted order {q} (errors {errs:?})",
            tab.name()
        );
    }
}

/// Evaluation counts: s evaluations per step for RK4, 6 (not 7) for DP5 on a fixed grid (its
/// FSAL stage does not influence x').
#[test]
fn fixed_grid_statistics() {
    let field = HarmonicOscillator::new(1.0);
    let x0 = Mat::from_fn(1, 2, |_, j| j as f64);
    let grid = Grid::uniform(0.0, 1.0, 10).unwrap();
    let solve = |tab: ButcherTableau| {
        solve_fixed(&field, &tab, &grid, x0.as_ref(), &Output::Final).unwrap()
    };
    let rk4 = solve(ButcherTableau::rk4());
    assert_eq!(rk4.stats.field_evals, 40);
    assert_eq!(rk4.stats.steps_accepted, 10);
    assert_eq!(rk4.stats.steps_rejected, 0);
    let dp = solve(ButcherTableau::dormand_prince54());
    assert_eq!(dp.stats.field_evals, 60);
}

// ---------------------------------------------------------------- outputs and grids

/// Every-step output returns the grid states, bitwise equal to the tape's, the in-place solve
/// and the bare workspace step (one code path for all forward passes).
#[test]
fn forward_paths_agree_bitwise() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let field = random_tanh(3, &mut rng);
    let x0 = gaussian(5, 3, &mut rng);
    let grid = random_grid(0.0, 1.5, 9, &mut rng);
    for tab in ButcherTableau::builtins() {
        let sol = solve_fixed(&field, &tab, &grid, x0.as_ref(), &Output::EveryStep).unwrap();
        let tape = StoredTape::record(&field, &tab, &grid, x0.as_ref()).unwrap();
        assert_eq!(sol.times, grid.times());
        assert_eq!(sol.states.len(), grid.times().len());
        for (a, b) in sol.states.iter().zip(tape.states()) {
            assert_eq!(a, b, "{}", tab.name());
        }
        let mut x = x0.clone();
        FixedSolver::new(tab.clone())
            .solve_in_place(&field, &grid, x.as_mut())
            .unwrap();
        assert_eq!(x, sol.final_state);
        let mut ws = RkWorkspace::new(&tab, 5, 3);
        let mut y = x0.clone();
        for k in 0..grid.n_steps() {
            let (t, h) = grid.step(k);
            ws.step(&tab, &field, t, h, y.as_mut());
        }
        assert_eq!(y, sol.final_state);
    }
}

/// Batches larger than one row block (d = 16, N = 700 > every tableau's block of 224–680 rows)
/// go through the row-block sweep: the solvers, the stored tape, the checkpointed tape (and its
/// recomputation) and the bare step still agree bitwise, requested-time output (step-major)
/// too; and the blocking is invisible to the values: solving the rows in two separate halves
/// gives the same states up to rounding (64ε relative: only the GEMM inside the field may sum
/// in another order on other row counts).
#[test]
fn row_blocking_keeps_every_path_bitwise_equal() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let (n, d) = (700, 16);
    let field = random_tanh(d, &mut rng);
    let x0 = gaussian(n, d, &mut rng);
    let lam = gaussian(n, d, &mut rng);
    let grid = random_grid(0.0, 0.8, 5, &mut rng);
    for tab in ButcherTableau::builtins() {
        assert!(
            plres_ode::stepper::row_block(&tab, n, d) < n,
            "{}",
            tab.name()
        );
        let every = solve_fixed(&field, &tab, &grid, x0.as_ref(), &Output::EveryStep).unwrap();
        let at = solve_fixed(
            &field,
            &tab,
            &grid,
            x0.as_ref(),
            &Output::AtTimes(grid.times().to_vec()),
        )
        .unwrap();
        let tape = StoredTape::record(&field, &tab, &grid, x0.as_ref()).unwrap();
        let ck = CheckpointedTape::record(&field, &tab, &grid, x0.as_ref(), 2).unwrap();
        let mut ws = RkWorkspace::new(&tab, n, d);
        let mut y = x0.clone();
        for k in 0..grid.n_steps() {
            let (t, h) = grid.step(k);
            ws.step(&tab, &field, t, h, y.as_mut());
        }
        for k in 0..=grid.n_steps() {
            assert_eq!(
                every.states[k],
                tape.states()[k],
                "{} state {k}",
                tab.name()
            );
            assert_eq!(at.states[k], tape.states()[k], "{} state {k}", tab.name());
        }
        assert_eq!(y, every.final_state);
        assert_eq!(ck.final_state(), tape.final_state());
        let ga = tape.backward(&field, lam.as_ref());
        let gb = ck.backward(&field, lam.as_ref());
        assert_eq!(ga.state, gb.state);
        assert_eq!(ga.params, gb.params);
        let half = n / 2;
        let top = final_state(&field, &tab, &grid, x0.as_ref().subrows(0, half));
        let bottom = final_state(&field, &tab, &grid, x0.as_ref().subrows(half, n - half));
        let scale = every.final_state.norm_max();
        let e = max_abs_diff(top.as_ref(), every.final_state.as_ref().subrows(0, half)).max(
            max_abs_diff(
                bottom.as_ref(),
                every.final_state.as_ref().subrows(half, n - half),
            ),
        );
        assert!(
            e <= 64.0 * f64::EPSILON * scale,
            "{}: blocking changed values by {e}",
            tab.name()
        );
    }
}

/// A blow-up in a late row block is reported as from the step-major order: the first
/// non-finite step, the partial state after it, every-step outputs up to before it.
#[test]
fn row_sweep_failure_is_reported_step_major() {
    let n = 6000; // > one row block for d = 1 (5456 rows)
    // ẋ = cos(t) x, x = x₀ e^{sin t}: only the last row, starting at 1.5e308, overflows, once
    // e^{sin t} > 1.2 (t ≈ 0.18, the second step of eight).
    let field = CosineGrowth::new(1.0);
    let x0 = Mat::from_fn(n, 1, |i, _| if i == n - 1 { 1.5e308 } else { 1.0 });
    let grid = Grid::uniform(0.0, 1.0, 8).unwrap();
    let tab = ButcherTableau::rk4();
    assert!(plres_ode::stepper::row_block(&tab, n, 1) < n);
    let mut first = None;
    for output in [Output::Final, Output::EveryStep] {
        let err = solve_fixed(&field, &tab, &grid, x0.as_ref(), &output).unwrap_err();
        let OdeError::NonFinite {
            step,
            t_reached,
            partial,
        } = err
        else {
            panic!("{err}")
        };
        assert!((1..4).contains(&step), "step {step}");
        assert_eq!(t_reached, grid.times()[step]);
        assert_eq!(partial.t_final, grid.times()[step + 1]);
        assert!(!partial.final_state[(n - 1, 0)].is_finite());
        // The other rows are at t_{step+1} (RK4 error ≪ 1e-6 at h = 1/8).
        let want = partial.t_final.sin().exp();
        assert!((partial.final_state[(0, 0)] - want).abs() < 1e-6);
        assert_eq!(partial.stats.steps_accepted, step + 1);
        if output == Output::EveryStep {
            assert_eq!(partial.states.len(), step + 1);
        }
        first = Some(step);
    }
    let step = first.unwrap();
    let err = StoredTape::record(&field, &tab, &grid, x0.as_ref()).unwrap_err();
    assert!(matches!(err, OdeError::NonFinite { step: s, .. } if s == step));
    let err = CheckpointedTape::record(&field, &tab, &grid, x0.as_ref(), 3).unwrap_err();
    assert!(matches!(err, OdeError::NonFinite { step: s, .. } if s == step));
}

/// Dense output on a fixed grid (cubic Hermite, local error O(h⁴)): at grid points it returns
/// the grid state exactly; in between, on the oscillator with RK4 and h = 0.05, the error is
/// below 1e-6 (Hermite error ≤ h⁴/384·max|x⁗| ≈ 1.6e-8 plus the RK4 global error ≈ 1e-7).
/// Interpolating costs one evaluation per step that contains output times, reused by the next
/// step, so the count is unchanged except for the last step.
#[test]
fn fixed_grid_dense_output() {
    let field = HarmonicOscillator::new(1.0);
    let x0 = Mat::from_fn(2, 2, |i, j| if i == j { 1.0 } else { 0.5 });
    let grid = Grid::uniform(0.0, 2.0, 40).unwrap();
    let times = vec![0.0, 0.01, 0.5, 0.73, 0.73, 1.999, 2.0];
    let tab = ButcherTableau::rk4();
    let sol = solve_fixed(
        &field,
        &tab,
        &grid,
        x0.as_ref(),
        &Output::AtTimes(times.clone()),
    )
    .unwrap();
    let every = solve_fixed(&field, &tab, &grid, x0.as_ref(), &Output::EveryStep).unwrap();
    assert_eq!(sol.times, times);
    assert_eq!(sol.states[0], x0);
    assert_eq!(sol.states[2], every.states[10]); // t = 0.5 is grid point 10
    assert_eq!(sol.states[6], every.final_state);
    for (t, s) in times.iter().zip(&sol.states) {
        let e = field.exact(0.0, x0.as_ref(), *t);
        assert!(max_abs_diff(s.as_ref(), e.as_ref()) < 1e-6, "t = {t}");
    }
    // Steps containing interior times: 0.01, 0.73, 1.999 → 3 end-point evaluations, of which
    // the two not on the last step are reused as the next first stage.
    assert_eq!(sol.stats.field_evals, every.stats.field_evals + 1);
    assert_eq!(sol.final_state, every.final_state);
}

#[test]
fn backward_grids_integrate_backwards() {
    let field = HarmonicOscillator::new(1.5);
    let x1 = Mat::from_fn(1, 2, |_, j| 1.0 - j as f64);
    let grid = Grid::uniform(1.0, 0.0, 100).unwrap();
    let x_end = final_state(&field, &ButcherTableau::rk4(), &grid, x1.as_ref());
    let exact = field.exact(1.0, x1.as_ref(), 0.0);
    // RK4 global error ≈ T h⁴ ω⁵/120 ≈ 1e-9.
    assert!(max_abs_diff(x_end.as_ref(), exact.as_ref()) < 1e-8);
}

/// Issue 19, case 3: every size `Grid::uniform` computes from its arguments is checked
/// before anything is allocated. Before the fix `n_steps = usize::MAX` panicked (capacity
/// overflow of `0..=n`), a step count of 2⁴⁰ tried to allocate 8 TiB, and a span that
/// overflows to infinity was only noticed after the points were built.
#[test]
fn uniform_grid_sizes_are_checked() {
    let max = Grid::MAX_UNIFORM_STEPS;
    for n in [usize::MAX, usize::MAX - 1, 1 << 40, max + 1] {
        match Grid::uniform(0.0, 1.0, n) {
            Err(e @ OdeError::GridTooLong { n_steps, max: m }) => {
                assert_eq!((n_steps, m), (n, max));
                assert!(e.to_string().contains(&n.to_string()), "{e}");
            }
            other => panic!("n = {n}: expected GridTooLong, got {other:?}"),
        }
    }
    for (t0, t1) in [
        (-f64::MAX, f64::MAX), // span overflows to +∞
        (f64::NAN, 1.0),
        (0.0, f64::INFINITY),
        (2.0, 2.0),
    ] {
        assert!(
            matches!(
                Grid::uniform(t0, t1, 3),
                Err(OdeError::InvalidInterval { .. })
            ),
            "[{t0}, {t1}]"
        );
    }
    // A step below the resolution of f64 at t0: the points collapse, a typed error.
    assert!(matches!(
        Grid::uniform(1.0, 1.0 + 4.0 * f64::EPSILON, 1000),
        Err(OdeError::GridNotMonotone { .. })
    ));
    // Valid grids keep their closed form t_k = t0 + k h, last point exactly t1, in both
    // directions (1/8 is a power of two: every point is exact).
    let g = Grid::uniform(1.0, 2.0, 8).unwrap();
    assert!(
        g.times()
            .iter()
            .enumerate()
            .all(|(k, &t)| t == 1.0 + k as f64 / 8.0)
    );
    let back = Grid::uniform(2.0, 1.0, 8).unwrap();
    assert_eq!(back.times(), g.reversed().times());
}

#[test]
fn invalid_grids_and_outputs_are_typed_errors() {
    assert!(matches!(
        Grid::new(vec![0.0]),
        Err(OdeError::GridTooShort { len: 1 })
    ));
    assert!(matches!(
        Grid::new(vec![0.0, 0.5, 0.4]),
        Err(OdeError::GridNotMonotone { index: 2, .. })
    ));
    assert!(matches!(
        Grid::new(vec![0.0, 0.0]),
        Err(OdeError::GridNotMonotone { index: 1, .. })
    ));
    assert!(matches!(
        Grid::new(vec![0.0, f64::NAN]),
        Err(OdeError::GridNotFinite { index: 1, .. })
    ));
    assert!(matches!(
        Grid::uniform(0.0, 1.0, 0),
        Err(OdeError::GridTooShort { .. })
    ));
    let field = HarmonicOscillator::new(1.0);
    let x0 = Mat::<f64>::zeros(1, 2);
    let grid = Grid::uniform(0.0, 1.0, 4).unwrap();
    let tab = ButcherTableau::euler();
    let at =
        |times: Vec<f64>| solve_fixed(&field, &tab, &grid, x0.as_ref(), &Output::AtTimes(times));
    assert!(matches!(
        at(vec![0.5, 1.5]),
        Err(OdeError::OutputTimeOutOfRange { index: 1, .. })
    ));
    assert!(matches!(
        at(vec![0.5, 0.2]),
        Err(OdeError::OutputTimesNotSorted { index: 1, .. })
    ));
    let r = AdaptiveSolver::new(ButcherTableau::rk4(), AdaptiveConfig::default());
    assert!(matches!(r, Err(OdeError::NotAdaptive { .. })));
    let bad = AdaptiveConfig {
        rtol: -1.0,
        ..AdaptiveConfig::default()
    };
    assert!(matches!(
        AdaptiveSolver::new(ButcherTableau::dormand_prince54(), bad),
        Err(OdeError::InvalidConfig { name: "rtol", .. })
    ));
    let bad = AdaptiveConfig {
        h_min: 1.0,
        h_max: 0.5,
        ..AdaptiveConfig::default()
    };
    assert!(matches!(
        bad.validate(),
        Err(OdeError::InvalidConfig { name: "h_max", .. })
    ));
    let r = solve_adaptive(
        &field,
        &ButcherTableau::dormand_prince54(),
        1.0,
        1.0,
        x0.as_ref(),
        &AdaptiveConfig::default(),
        &Output::Final,
    );
    assert!(matches!(r, Err(OdeError::InvalidInterval { .. })));
}

/// ẋ = A x with A x₀ overflowing: the fixed-grid solve stops with a typed error at step 0.
#[test]
fn fixed_grid_overflow_is_a_typed_error() {
    let field = Linear::new(Mat::from_fn(1, 1, |_, _| 1e300));
    let x0 = Mat::from_fn(1, 1, |_, _| 1e300);
    let grid = Grid::uniform(0.0, 1.0, 4).unwrap();
    let rk4 = ButcherTableau::rk4();
    let err = solve_fixed(&field, &rk4, &grid, x0.as_ref(), &Output::EveryStep).unwrap_err();
    match err {
        OdeError::NonFinite {
            step,
            t_reached,
            partial,
        } => {
            assert_eq!(step, 0);
            assert_eq!(t_reached, 0.0);
            assert_eq!(partial.states.len(), 1);
            assert_eq!(partial.stats.steps_accepted, 1);
        }
        e => panic!("unexpected {e}"),
    }
}

// ---------------------------------------------------------------- adaptive

/// Dormand–Prince with rtol = atol = tol on the oscillator over [0, 10] (ω = 1.7, ≈ 2.7
/// periods): the global error stays ≤ 10·tol (component-wise, states O(1)) for
/// tol = 1e-4 … 1e-10 (measured ≈ 7·tol: the global error accumulates the controlled local
/// errors); the dense output at requested times too.
#[test]
fn dormand_prince_meets_tolerance_on_the_oscillator() {
    let field = HarmonicOscillator::new(1.7);
    let x0 = Mat::from_fn(3, 2, |i, j| [1.0, 0.0, 0.3, -1.0, 0.7, 0.2][2 * i + j]);
    let times: Vec<f64> = (0..=20).map(|k| k as f64 * 0.5).collect();
    for tol in [1e-4, 1e-6, 1e-8, 1e-10] {
        let sol = dopri(
            &field,
            10.0,
            &x0,
            &tolerance(tol),
            Output::AtTimes(times.clone()),
        )
        .unwrap();
        let exact = field.exact(0.0, x0.as_ref(), 10.0);
        let e = max_abs_diff(sol.final_state.as_ref(), exact.as_ref());
        assert!(e <= 10.0 * tol, "tol {tol}: error {e}");
        for (t, s) in sol.times.iter().zip(&sol.states) {
            let ex = field.exact(0.0, x0.as_ref(), *t);
            let e = max_abs_diff(s.as_ref(), ex.as_ref());
            assert!(e <= 10.0 * tol, "tol {tol}, dense output at {t}: error {e}");
        }
        // FSAL: one evaluation for f(t0), one for the starting step, six per attempt.
        let st = sol.stats;
        assert_eq!(
            st.field_evals,
            2 + 6 * (st.steps_accepted + st.steps_rejected)
        );
    }
}

/// Lotka–Volterra (classic parameters, x₀ = (1, 1), [0, 10], ≈ 3 orbits) against RK4 with
/// h = 1e-4 (its own error ≈ 1e-13). DP5: error ≤ 10·tol·(1 + |x|) for tol = 1e-8 … 1e-10 (at
/// looser tolerances the accumulated global error over three orbits is 10–20·tol, measured);
/// the first integral is conserved to the same accuracy along the accepted steps. BS3 (lower
/// order, more steps, more accumulation): error ≤ 100·tol and tolerance-proportional (the
/// ratio error/tol varies by less than 2× over two decades).
/// Issue 19, case 5: an adaptive solve from a NaN (or infinite) state used to report
/// "step size 0 below the minimum 0"; it is a non-finite-state error at the start time.
#[test]
fn adaptive_solve_from_a_non_finite_state_reports_it() {
    let field = LotkaVolterra::classic();
    for bad in [f64::NAN, f64::INFINITY] {
        let x0 = Mat::from_fn(1, 2, |_, j| if j == 1 { bad } else { 1.0 });
        let err = dopri(&field, 1.0, &x0, &AdaptiveConfig::default(), Output::Final).unwrap_err();
        match &err {
            OdeError::NonFinite {
                step: 0, t_reached, ..
            } => assert_eq!(*t_reached, 0.0),
            other => panic!("{bad}: expected NonFinite at step 0, got {other:?}"),
        }
        assert!(err.to_string().contains("non-finite"), "{err}");
    }
}

#[test]
fn adaptive_pairs_meet_tolerance_on_lotka_volterra() {
    let field = LotkaVolterra::classic();
    let x0 = Mat::from_fn(1, 2, |_, _| 1.0);
    let grid = Grid::uniform(0.0, 10.0, 100_000).unwrap();
    let reference = final_state(&field, &ButcherTableau::rk4(), &grid, x0.as_ref());
    let v0 = field.invariant(1.0, 1.0);
    for (tab, factor, tols) in [
        (
            ButcherTableau::dormand_prince54(),
            10.0,
            [1e-8, 1e-9, 1e-10],
        ),
        (
            ButcherTableau::bogacki_shampine32(),
            100.0,
            [1e-6, 1e-7, 1e-8],
        ),
    ] {
        let mut ratios = vec![];
        for tol in tols {
            let cfg = tolerance(tol);
            let sol = solve_adaptive(
                &field,
                &tab,
                0.0,
                10.0,
                x0.as_ref(),
                &cfg,
                &Output::EveryStep,
            )
            .unwrap();
            let mut worst = 0.0f64;
            for j in 0..2 {
                let e = (sol.final_state[(0, j)] - reference[(0, j)]).abs();
                worst = worst.max(e / (1.0 + reference[(0, j)].abs()));
            }
            assert!(
                worst <= factor * tol,
                "{} tol {tol}: scaled error {worst}",
                tab.name()
            );
            ratios.push(worst / tol);
            for s in &sol.states {
                let dv = (field.invariant(s[(0, 0)], s[(0, 1)]) - v0).abs();
                assert!(
                    dv <= factor * tol * (1.0 + v0.abs()),
                    "{}: invariant drift {dv}",
                    tab.name()
                );
            }
            assert_eq!(sol.stats.steps_accepted + 1, sol.states.len());
        }
        if tab.order() == 3 {
            let (lo, hi) = ratios
                .iter()
                .fold((f64::MAX, 0.0f64), |(a, b), &r| (a.min(r), b.max(r)));
            assert!(hi / lo < 2.0, "not tolerance-proportional: {ratios:?}");
        }
    }
}

/// A continuous extension of order q integrates ẋ = (q) t^{q−1} exactly between steps: DP5's
/// quartic dense output reproduces t⁴ and BS3's cubic Hermite reproduces t³, up to rounding
/// (64ε relative).
#[test]
fn dense_output_is_exact_on_polynomials_of_its_order() {
    // ẋ = q t^{q−1}, independent of x
    let power = |q: i32| Scalar(move |t: f64, _: f64| (q as f64 * t.powi(q - 1), 0.0));
    let times: Vec<f64> = (1..40).map(|k| k as f64 * 0.049).collect();
    for (tab, q) in [
        (ButcherTableau::dormand_prince54(), 4),
        (ButcherTableau::bogacki_shampine32(), 3),
    ] {
        let cfg = AdaptiveConfig {
            h_init: Some(0.3),
            h_max: 0.3,
            ..AdaptiveConfig::default()
        };
        let x0 = Mat::<f64>::zeros(1, 1);
        let sol = solve_adaptive(
            &power(q),
            &tab,
            0.0,
            2.0,
            x0.as_ref(),
            &cfg,
            &Output::AtTimes(times.clone()),
        )
        .unwrap();
        for (t, s) in sol.times.iter().zip(&sol.states) {
            let e = t.powi(q);
            assert!(
                (s[(0, 0)] - e).abs() <= 64.0 * f64::EPSILON * (1.0 + e),
                "{}: t = {t}",
                tab.name()
            );
        }
    }
}

/// Stiff Prothero–Robinson (λ = −1e6 on [0, 10]): explicit stability limits h to ≈ 3.3e-6, so
/// 2000 attempts end in TooManySteps, carrying a finite partial solution at t_reached < 10
/// that matches the exact (smooth) solution sin t to the tolerance, with the statistics.
#[test]
fn stiff_problem_hits_the_step_limit() {
    let field = ProtheroRobinson::new(-1e6);
    let x0 = Mat::<f64>::zeros(2, 1);
    let cfg = AdaptiveConfig {
        rtol: 1e-6,
        atol: 1e-6,
        max_steps: 2000,
        ..AdaptiveConfig::default()
    };
    let err = dopri(&field, 10.0, &x0, &cfg, Output::EveryStep).unwrap_err();
    let OdeError::TooManySteps {
        max_steps,
        t_reached,
        partial,
    } = err
    else {
        panic!("expected TooManySteps, got {err}")
    };
    assert_eq!(max_steps, 2000);
    assert!(t_reached > 0.0 && t_reached < 0.1, "t_reached {t_reached}");
    assert_eq!(partial.t_final, t_reached);
    assert_eq!(
        partial.stats.steps_accepted + partial.stats.steps_rejected,
        2000
    );
    assert_eq!(partial.states.len(), partial.stats.steps_accepted + 1);
    let e = (partial.final_state[(0, 0)] - t_reached.sin()).abs();
    assert!(e < 10.0 * 1e-6, "partial state error {e}");
    // The same problem with a minimum step above the stability limit fails on h_min instead.
    let cfg = AdaptiveConfig { h_min: 1e-4, ..cfg };
    let err = dopri(&field, 10.0, &x0, &cfg, Output::Final).unwrap_err();
    assert!(matches!(err, OdeError::StepSizeTooSmall { .. }), "{err}");
    assert!(err.partial().is_some());
}

/// ẋ = x² from x(0) = 1 blows up at t = 1: the adaptive solver stops cleanly near t = 1 with a
/// typed error carrying a finite partial state, never a panic or a NaN result.
#[test]
fn blow_up_ends_in_a_typed_error() {
    let riccati = Scalar(|_: f64, x: f64| (x * x, 2.0 * x));
    let x0 = Mat::from_fn(1, 1, |_, _| 1.0);
    let err = dopri(
        &riccati,
        2.0,
        &x0,
        &AdaptiveConfig::default(),
        Output::Final,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        OdeError::StepSizeTooSmall { .. } | OdeError::TooManySteps { .. }
    ));
    let partial = err.partial().expect("carries the partial solution");
    // The step size collapses at the singularity (the last accepted point may straddle it by
    // a step of relative size ~ tol^{1/5}·(1 − t)).
    assert!((partial.t_final - 1.0).abs() < 1e-3, "{err}");
    assert!(partial.final_state[(0, 0)].is_finite());
}

// ---------------------------------------------------------------- gradients

/// Loss `L = ⟨C, x_n⟩ + ½‖x_n‖²`, gradient `λ_n = C + x_n`.
fn loss(c: &Mat<f64>, xn: MatRef<'_, f64>) -> f64 {
    let mut l = 0.0;
    for j in 0..xn.ncols() {
        for i in 0..xn.nrows() {
            l += c[(i, j)] * xn[(i, j)] + 0.5 * xn[(i, j)] * xn[(i, j)];
        }
    }
    l
}

/// Central finite differences of `L(x_n(x0, θ))` in every coordinate of `x0` and `θ`.
fn fd_gradient<F: Parametric>(
    f: &F,
    tab: &ButcherTableau,
    grid: &Grid,
    x0: &Mat<f64>,
    c: &Mat<f64>,
    eps: f64,
) -> (Mat<f64>, Vec<f64>) {
    let mut gx = Mat::zeros(x0.nrows(), x0.ncols());
    for j in 0..x0.ncols() {
        for i in 0..x0.nrows() {
            let mut xp = x0.clone();
            let mut xm = x0.clone();
            xp[(i, j)] += eps;
            xm[(i, j)] -= eps;
            let lp = loss(c, final_state(f, tab, grid, xp.as_ref()).as_ref());
            let lm = loss(c, final_state(f, tab, grid, xm.as_ref()).as_ref());
            gx[(i, j)] = (lp - lm) / (2.0 * eps);
        }
    }
    let theta = f.params();
    let mut gp = vec![0.0; theta.len()];
    for k in 0..theta.len() {
        let mut tp = theta.clone();
        let mut tm = theta.clone();
        tp[k] += eps;
        tm[k] -= eps;
        let lp = loss(
            c,
            final_state(&f.with_params(&tp), tab, grid, x0.as_ref()).as_ref(),
        );
        let lm = loss(
            c,
            final_state(&f.with_params(&tm), tab, grid, x0.as_ref()).as_ref(),
        );
        gp[k] = (lp - lm) / (2.0 * eps);
    }
    (gx, gp)
}

fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den.max(f64::MIN_POSITIVE)).sqrt()
}

fn flat(m: &Mat<f64>) -> Vec<f64> {
    (0..m.ncols())
        .flat_map(|j| (0..m.nrows()).map(move |i| (i, j)))
        .map(|ij| m[ij])
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(16)))]

    /// The discrete adjoint is the exact derivative of the computed map: against central
    /// differences with ε = 1e-5 (truncation ε²·|L'''|/6 ≈ 1e-11, rounding ε_mach·|L|/ε ≈
    /// 1e-11, relative to gradients of size ≥ 1e-2) the relative error is ≤ 1e-6, for every
    /// tableau, random non-uniform grids in either direction and a random tanh field.
    #[test]
    fn discrete_adjoint_matches_finite_differences(
        seed in any::<u64>(),
        d in 1usize..=3,
        n_rows in 1usize..=3,
        n_steps in 2usize..=6,
        which in 0usize..7,
        backwards in any::<bool>(),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let field = random_tanh(d, &mut rng);
        let x0 = gaussian(n_rows, d, &mut rng);
        let c = gaussian(n_rows, d, &mut rng);
        let (t0, t1) = if backwards { (1.0, -0.2) } else { (-0.2, 1.0) };
        let grid = random_grid(t0, t1, n_steps, &mut rng);
        let tab = ButcherTableau::builtins().swap_remove(which);
        let tape = StoredTape::record(&field, &tab, &grid, x0.as_ref()).unwrap();
        let lambda = &c + tape.final_state();
        let g = tape.backward(&field, lambda.as_ref());
        let (gx, gp) = fd_gradient(&field, &tab, &grid, &x0, &c, 1e-5);
        let ex = rel_err(&flat(&g.state), &flat(&gx));
        let ep = rel_err(&g.params, &gp);
        prop_assert!(ex <= 1e-6, "{}: state gradient rel err {ex}", tab.name());
        prop_assert!(ep <= 1e-6, "{}: param gradient rel err {ep}", tab.name());
        // One vjp pair per needed stage per step.
        let needed = (0..tab.stages()).filter(|&i| tab.is_needed(i)).count();
        prop_assert_eq!(g.stats.vjp_state_evals, needed * n_steps);
    }

    /// Checkpointing recomputes each segment with the same code from the same stored state:
    /// gradients and every intermediate adjoint λ_k are bitwise equal to the stored tape's,
    /// for any interval k (dividing n or not, larger than n included).
    #[test]
    fn checkpointed_equals_stored_bitwise(
        seed in any::<u64>(),
        n_steps in 1usize..=12,
        every in 1usize..=14,
        which in 0usize..7,
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let field = random_tanh(3, &mut rng);
        let x0 = gaussian(4, 3, &mut rng);
        let lam = gaussian(4, 3, &mut rng);
        let grid = if n_steps == 1 { Grid::uniform(0.0, 1.0, 1).unwrap() } else { random_grid(0.0, 1.0, n_steps, &mut rng) };
        let tab = ButcherTableau::builtins().swap_remove(which);
        let stored = StoredTape::record(&field, &tab, &grid, x0.as_ref()).unwrap();
        let ck = CheckpointedTape::record(&field, &tab, &grid, x0.as_ref(), every).unwrap();
        prop_assert_eq!(stored.final_state(), ck.final_state());
        let mut seq_a = vec![];
        let mut seq_b = vec![];
        let ga = stored.backward_with(&field, lam.as_ref(), |k, t, l| seq_a.push((k, t, l.to_owned())));
        let gb = ck.backward_with(&field, lam.as_ref(), |k, t, l| seq_b.push((k, t, l.to_owned())));
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        prop_assert_eq!(bits(&ga.params), bits(&gb.params));
        prop_assert_eq!(bits(&flat(&ga.state)), bits(&flat(&gb.state)));
        prop_assert_eq!(seq_a.len(), n_steps + 1);
        for ((ka, ta, la), (kb, tb, lb)) in seq_a.iter().zip(&seq_b) {
            prop_assert_eq!((ka, ta.to_bits()), (kb, tb.to_bits()));
            prop_assert_eq!(bits(&flat(la)), bits(&flat(lb)));
        }
        // The recomputation costs one more forward pass.
        prop_assert_eq!(gb.stats.field_evals, stored.forward_stats().field_evals);
    }
}

/// The backward hook can add the gradient of a loss on an intermediate state: with
/// L = ⟨C₁, x_j⟩ + ⟨C₂, x_n⟩ the result matches central differences (ε = 1e-5, rel ≤ 1e-6 as
/// above).
#[test]
fn hook_adds_intermediate_losses() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let field = random_tanh(2, &mut rng);
    let x0 = gaussian(3, 2, &mut rng);
    let (c1, c2) = (gaussian(3, 2, &mut rng), gaussian(3, 2, &mut rng));
    let grid = random_grid(0.0, 1.0, 8, &mut rng);
    let tab = ButcherTableau::heun();
    let j = 3;
    let tape = StoredTape::record(&field, &tab, &grid, x0.as_ref()).unwrap();
    let g = tape.backward_with(&field, c2.as_ref(), |k, _, mut lam| {
        if k == j {
            lam += &c1;
        }
    });
    let l = |x: &Mat<f64>| {
        let sol = solve_fixed(&field, &tab, &grid, x.as_ref(), &Output::EveryStep).unwrap();
        let dot = |a: &Mat<f64>, b: &Mat<f64>| {
            flat(a).iter().zip(flat(b)).map(|(p, q)| p * q).sum::<f64>()
        };
        dot(&c1, &sol.states[j]) + dot(&c2, &sol.final_state)
    };
    let eps = 1e-5;
    let fd = Mat::from_fn(3, 2, |r, c| {
        let (mut xp, mut xm) = (x0.clone(), x0.clone());
        xp[(r, c)] += eps;
        xm[(r, c)] -= eps;
        (l(&xp) - l(&xm)) / (2.0 * eps)
    });
    assert!(rel_err(&flat(&g.state), &flat(&fd)) <= 1e-6);
}

/// Checkpoint memory is O(n/k + k·s): for n = 64 RK4 steps, k = 8 stores 8 checkpoints plus a
/// segment of 8 states, 24 stage inputs and 4 stage derivatives (45 batches) against the
/// stored tape's 65 states + 192 stage inputs (257 batches).
#[test]
fn checkpoint_memory_scales_as_claimed() {
    let field = HarmonicOscillator::new(1.0);
    let x0 = Mat::from_fn(10, 2, |i, j| (i + j) as f64);
    let grid = Grid::uniform(0.0, 1.0, 64).unwrap();
    let tab = ButcherTableau::rk4();
    let batch = 10 * 2 * 8;
    let stored = StoredTape::record(&field, &tab, &grid, x0.as_ref()).unwrap();
    assert_eq!(stored.memory_bytes(), (65 + 64 * 3) * batch);
    let ck = CheckpointedTape::record(&field, &tab, &grid, x0.as_ref(), 8).unwrap();
    assert_eq!(ck.memory_bytes(), (8 + 1 + 8 * 4 + 4) * batch);
    let best = (1..=64)
        .min_by_key(|&k| {
            CheckpointedTape::record(&field, &tab, &grid, x0.as_ref(), k)
                .unwrap()
                .memory_bytes()
        })
        .unwrap();
    assert!(
        (3..=8).contains(&best),
        "optimal interval {best} not near √(n/s)"
    );
}

/// The continuous adjoint approaches the discrete one as h → 0, at the method's order or
/// better: both are O(h^p) approximations of the exact-flow gradient, so their relative
/// difference has fitted slope ≥ p − 0.15 (measured: Euler 1.0, midpoint 2.0, Heun 3.0 —
/// its adjoint is superconvergent —, RK4 4.0), on a tanh field with time-dependent bias; and
/// it is small (< 5 %) on the finest grid.
#[test]
fn continuous_adjoint_converges_to_discrete() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let field = random_tanh(3, &mut rng);
    let x0 = gaussian(4, 3, &mut rng);
    let c = gaussian(4, 3, &mut rng);
    for (tab, min_slope, steps) in [
        (ButcherTableau::euler(), 0.85, [16usize, 32, 64, 128]),
        (ButcherTableau::midpoint(), 1.85, [16, 32, 64, 128]),
        (ButcherTableau::heun(), 1.85, [16, 32, 64, 128]),
        (ButcherTableau::rk4(), 3.85, [4, 8, 16, 32]),
    ] {
        let mut hs = vec![];
        let (mut ds, mut dp) = (vec![], vec![]);
        for n in steps {
            let grid = Grid::uniform(0.0, 1.0, n).unwrap();
            let cmp = compare_adjoints(&field, &tab, &grid, x0.as_ref(), |xn| &c + xn).unwrap();
            hs.push(1.0 / n as f64);
            ds.push(cmp.state_rel_diff);
            dp.push(cmp.params_rel_diff);
        }
        let (qs, qp) = (fitted_order(&hs, &ds), fitted_order(&hs, &dp));
        assert!(qs >= min_slope, "{}: state slope {qs} ({ds:?})", tab.name());
        assert!(qp >= min_slope, "{}: param slope {qp} ({dp:?})", tab.name());
        assert!(
            ds[3] < 0.05 && dp[3] < 0.05,
            "{}: {ds:?} {dp:?}",
            tab.name()
        );
    }
}

/// On ẋ = Ax the continuous adjoint has a closed form: ∂L/∂x₀ = e^{TAᵀ} λ and
/// ∂L/∂A = ∫₀ᵀ a(t) x(t)ᵀ dt. RK4 with 64 steps reproduces e^{TAᵀ}λ to its global error
/// (≈ h⁴ = 6e-8 relative), on the exact flow of a NormalLinear system.
#[test]
fn continuous_adjoint_matches_the_exact_linear_adjoint() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let g = gaussian(4, 4, &mut rng);
    let field = NormalLinear::new(g.as_ref(), &[-0.5, 0.2], &[1.0, 1.7]);
    let x0 = gaussian(2, 4, &mut rng);
    let lam = gaussian(2, 4, &mut rng);
    let grid = Grid::uniform(0.0, 1.0, 64).unwrap();
    let x1 = field.exact(0.0, x0.as_ref(), 1.0);
    let got = continuous_adjoint(
        &field,
        &ButcherTableau::rk4(),
        &grid,
        x1.as_ref(),
        lam.as_ref(),
    );
    // a(0) = e^{Aᵀ} λ, rows: a_i(0)ᵀ = λ_iᵀ e^{A}.
    let want = &lam * field.propagator(1.0);
    let r = frob((&got.state - &want).as_ref()) / frob(want.as_ref());
    assert!(r < 1e-6, "relative error {r}");
}
