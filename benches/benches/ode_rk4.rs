//! RK4, 64 steps, batch 4096×16, cheap fields: integrator overhead against the field's cost.
//!
//! For each field, two timings:
//! - `…/solve_64_steps`: `FixedSolver::solve_in_place` with RK4 on a 64-step grid (256 field
//!   evaluations plus the stage combinations; no allocation in the step loop);
//! - `…/field_evals_256`: the same 256 evaluations alone, on a fixed input.
//!
//! Overhead = solve / evals − 1 (target ≤ 10 %). It is also printed directly after the criterion
//! runs, from interleaved medians of 15 runs of each, against the evaluations on the whole batch
//! and against the same evaluations on the solver's row blocks (the solver sweeps row blocks so
//! that its working set stays in cache; `plres_ode::stepper::row_block`). Fields
//! (single-threaded; the integrator's combinations are single-threaded too, so the ratio is per
//! core):
//! - `linear`: `F = X Aᵀ` (one 4096×16×16 GEMM; the cheapest field: the hardest target);
//! - `tanh`: `F = tanh(X Wᵀ + t b)` (a residual-block-like field).

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use faer::{Mat, Par};
use plres_benches::seeded_normal;
use plres_ode::problems::{Linear, Tanh};
use plres_ode::stepper::row_block;
use plres_ode::{ButcherTableau, FixedSolver, Grid, VectorField};
use plres_simd::clear_upper_state;

const N: usize = 4096;
const D: usize = 16;
const STEPS: usize = 64;

/// The 4·64 evaluations of the solve, on the whole batch at once (`block = N`) or on the
/// solver's row blocks.
fn evals<F: VectorField>(field: &F, grid: &Grid, x: &Mat<f64>, out: &mut Mat<f64>, block: usize) {
    let c = [0.0, 0.5, 0.5, 1.0];
    for k in 0..grid.n_steps() {
        let (t, h) = grid.step(k);
        for ci in c {
            let mut r0 = 0;
            while r0 < N {
                let len = block.min(N - r0);
                field.eval(
                    t + ci * h,
                    x.as_ref().subrows(r0, len),
                    out.as_mut().subrows_mut(r0, len),
                );
                r0 += len;
            }
            clear_upper_state();
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench_field<F: VectorField>(c: &mut Criterion, name: &str, field: &F) {
    let x0 = seeded_normal(N, D, 1);
    let grid = Grid::uniform(0.0, 1.0, STEPS).unwrap();
    let mut solver = FixedSolver::new(ButcherTableau::rk4());
    let mut out = Mat::<f64>::zeros(N, D);
    let block = row_block(solver.tableau(), N, D);
    c.bench_function(&format!("ode_rk4/{name}/solve_64_steps"), |b| {
        b.iter_batched_ref(
            || x0.clone(),
            |x| solver.solve_in_place(field, &grid, x.as_mut()).unwrap(),
            BatchSize::LargeInput,
        )
    });
    c.bench_function(&format!("ode_rk4/{name}/field_evals_256"), |b| {
        b.iter(|| evals(field, &grid, &x0, &mut out, N))
    });

    // Interleaved runs, so that a busy machine slows all three alike.
    let (mut ts, mut te, mut tb) = (vec![], vec![], vec![]);
    let mut x = x0.clone();
    for _ in 0..15 {
        x.copy_from(&x0);
        let t = Instant::now();
        solver.solve_in_place(field, &grid, x.as_mut()).unwrap();
        ts.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        evals(field, &grid, &x0, &mut out, N);
        te.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        evals(field, &grid, &x0, &mut out, block);
        tb.push(t.elapsed().as_secs_f64());
    }
    let (s, e, b) = (median(ts), median(te), median(tb));
    eprintln!(
        "ode_rk4/{name}: solve {:.2} ms | 256 evals {:.2} ms (whole batch), {:.2} ms (row blocks of {block}) \
         | overhead {:+.1} % vs whole-batch evals, {:+.1} % vs row-block evals (target ≤ 10 %)",
        s * 1e3,
        e * 1e3,
        b * 1e3,
        100.0 * (s / e - 1.0),
        100.0 * (s / b - 1.0),
    );
}

fn bench(c: &mut Criterion) {
    // A = G/√d: spectral radius O(1), so the flow stays O(1) over [0, 1].
    let a = seeded_normal(D, D, 2) * faer::Scale(1.0 / (D as f64).sqrt());
    let linear = Linear::new(a.clone()).with_par(Par::Seq);
    bench_field(c, "linear", &linear);
    let b: Vec<f64> = (0..D).map(|j| (j as f64 * 0.37).sin()).collect();
    let tanh = Tanh::new(a, b).with_par(Par::Seq);
    bench_field(c, "tanh", &tanh);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
