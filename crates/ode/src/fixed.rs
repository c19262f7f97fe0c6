//! Fixed-step integration on an explicit grid with any explicit tableau.
//!
//! `x_{k+1} = x_k + h_k Σ_i b_i K_i`, `h_k = t_{k+1} − t_k` for the given grid (docs/theory.md §3.2:
//! this is the ResNet forward pass when `f` is the residual field). Requested output times
//! between grid points are filled by cubic Hermite interpolation of `(x_k, f(t_k, x_k),
//! x_{k+1}, f(t_{k+1}, x_{k+1}))` (local error `O(h⁴)`); the end-point evaluation is reused as
//! the first stage of the next step, so it costs nothing when the step is not the last.

use faer::prelude::{Reborrow, ReborrowMut};
use faer::{Mat, MatMut, MatRef};

use crate::error::OdeError;
use crate::field::VectorField;
use crate::grid::Grid;
use crate::linalg::{Base, Terms, hermite_basis, lincomb};
use crate::solution::{Output, Solution, Stats};
use crate::stepper::{
    RkWorkspace, blocks, combine_rows, eval_blocked, needed_stages, row_block, sweep_stats,
};
use crate::tableau::ButcherTableau;

/// A fixed-grid solver: a tableau plus reusable buffers (re-allocated only when the batch shape
/// changes), so repeated solves and the step loop allocate nothing.
///
/// Without requested output times the solve sweeps row blocks ([`row_block`]): every step on
/// the first block of rows, then every step on the next, keeping each block's working set in
/// cache for the whole solve. Requested output times use the step-major order (same bits).
///
/// ```
/// use faer::Mat;
/// use plres_ode::{ButcherTableau, FixedSolver, Grid, Output};
/// use plres_ode::problems::{ExactSolution, HarmonicOscillator};
/// let field = HarmonicOscillator::new(2.0);
/// let x0 = Mat::from_fn(3, 2, |i, j| (i + j) as f64);
/// let grid = Grid::uniform(0.0, 1.0, 200).unwrap();
/// let mut solver = FixedSolver::new(ButcherTableau::rk4());
/// let sol = solver.solve(&field, &grid, x0.as_ref(), &Output::Final).unwrap();
/// let exact = field.exact(0.0, x0.as_ref(), 1.0);
/// assert!((&sol.final_state - &exact).norm_l2() < 1e-8);
/// assert_eq!(sol.stats.field_evals, 4 * 200);
/// ```
#[derive(Debug, Clone)]
pub struct FixedSolver {
    tableau: ButcherTableau,
    ws: RkWorkspace,
    x_old: Mat<f64>,
    x_init: Mat<f64>,
    f1: Mat<f64>,
    /// The row-block sweep's own contiguous buffers (one block's state, stages and stage
    /// input): a block of a tall batch is `d` column pieces a full column apart, and with a
    /// power-of-two row count those pieces alias in the caches' sets; copied into contiguous
    /// buffers they stay resident.
    block_ws: RkWorkspace,
    block_x: Mat<f64>,
}

impl FixedSolver {
    /// A solver for `tableau` (buffers are sized on first use).
    pub fn new(tableau: ButcherTableau) -> Self {
        let ws = RkWorkspace::new(&tableau, 0, 0);
        let block_ws = ws.clone();
        FixedSolver {
            tableau,
            ws,
            x_old: Mat::zeros(0, 0),
            x_init: Mat::zeros(0, 0),
            f1: Mat::zeros(0, 0),
            block_ws,
            block_x: Mat::zeros(0, 0),
        }
    }

    /// The tableau.
    pub fn tableau(&self) -> &ButcherTableau {
        &self.tableau
    }

    fn ensure(&mut self, nrows: usize, ncols: usize) {
        if !self.ws.fits(&self.tableau, nrows, ncols) {
            self.ws = RkWorkspace::new(&self.tableau, nrows, ncols);
            self.x_old = Mat::zeros(nrows, ncols);
            self.x_init = Mat::zeros(nrows, ncols);
            self.f1 = Mat::zeros(nrows, ncols);
            let b = row_block(&self.tableau, nrows, ncols);
            self.block_ws = RkWorkspace::new(&self.tableau, b, ncols);
            self.block_x = Mat::zeros(b, ncols);
        }
    }

    /// Integrates in place along `grid`: on return `x` holds the state at `grid.t_end()`.
    /// The step loop allocates nothing.
    ///
    /// # Errors
    /// [`OdeError::NonFinite`] if a step produces NaN or ∞ (the partial solution holds the
    /// offending state).
    pub fn solve_in_place<F: VectorField + ?Sized>(
        &mut self,
        field: &F,
        grid: &Grid,
        x: MatMut<'_, f64>,
    ) -> Result<Stats, OdeError> {
        self.run(
            field,
            grid,
            x,
            &Output::Final,
            &mut Vec::new(),
            &mut Vec::new(),
        )
    }

    /// Integrates from `x0` at `grid.t0()` to `grid.t_end()`, recording the states `output`
    /// asks for.
    ///
    /// # Errors
    /// Invalid output times ([`OdeError::OutputTimeOutOfRange`],
    /// [`OdeError::OutputTimesNotSorted`]); [`OdeError::NonFinite`].
    pub fn solve<F: VectorField + ?Sized>(
        &mut self,
        field: &F,
        grid: &Grid,
        x0: MatRef<'_, f64>,
        output: &Output,
    ) -> Result<Solution, OdeError> {
        output.validate(grid.t0(), grid.t_end())?;
        let mut x = x0.to_owned();
        let mut times = Vec::new();
        let mut states = Vec::new();
        let stats = self.run(field, grid, x.as_mut(), output, &mut times, &mut states)?;
        Ok(Solution {
            final_state: x,
            t_final: grid.t_end(),
            times,
            states,
            stats,
        })
    }

    fn run<F: VectorField + ?Sized>(
        &mut self,
        field: &F,
        grid: &Grid,
        x: MatMut<'_, f64>,
        output: &Output,
        times: &mut Vec<f64>,
        states: &mut Vec<Mat<f64>>,
    ) -> Result<Stats, OdeError> {
        self.ensure(x.nrows(), x.ncols());
        match output {
            Output::AtTimes(_) => self.run_step_major(field, grid, x, output, times, states),
            _ => self.run_sweep(field, grid, x, output, times, states),
        }
    }

    /// Row-block sweep: all steps on the first block of rows, then all steps on the next, so
    /// that a block's state, stages and stage inputs stay in cache for the whole solve (the
    /// field acts row by row, so only the order of the calls changes; the partition is the
    /// one of [`row_block`](crate::stepper::row_block), hence the same bits as the step-major
    /// order). If a block produces a non-finite value, the solve is replayed step-major from
    /// the saved initial state to report the failure exactly as the step-major loop would.
    fn run_sweep<F: VectorField + ?Sized>(
        &mut self,
        field: &F,
        grid: &Grid,
        mut x: MatMut<'_, f64>,
        output: &Output,
        times: &mut Vec<f64>,
        states: &mut Vec<Mat<f64>>,
    ) -> Result<Stats, OdeError> {
        let (nr, nc) = (x.nrows(), x.ncols());
        let n = grid.n_steps();
        let every = matches!(output, Output::EveryStep);
        if every {
            times.extend_from_slice(grid.times());
            states.push(x.rb().to_owned());
            states.extend((0..n).map(|_| Mat::zeros(nr, nc)));
        }
        self.x_init.copy_from(x.rb());
        let tab = &self.tableau;
        let (k, ys) = self.block_ws.buffers();
        let xb = &mut self.block_x;
        let mut failed = false;
        'blocks: for rows in blocks(nr, row_block(tab, nr, nc)) {
            let local = (0, rows.1);
            xb.as_mut()
                .subrows_mut(0, rows.1)
                .copy_from(x.rb().subrows(rows.0, rows.1));
            for step in 0..n {
                let (t, h) = grid.step(step);
                needed_stages(tab, field, t, h, xb.as_ref(), k, ys, local);
                let finite = combine_rows(tab, h, k, xb.as_mut(), None, local);
                if every {
                    states[step + 1]
                        .as_mut()
                        .subrows_mut(rows.0, rows.1)
                        .copy_from(xb.as_ref().subrows(0, rows.1));
                }
                if !finite {
                    failed = true;
                    break 'blocks;
                }
            }
            x.rb_mut()
                .subrows_mut(rows.0, rows.1)
                .copy_from(xb.as_ref().subrows(0, rows.1));
        }
        if failed {
            x.copy_from(self.x_init.as_ref());
            times.clear();
            states.clear();
            return self.run_step_major(field, grid, x, output, times, states);
        }
        Ok(sweep_stats(tab, n, nr))
    }

    fn run_step_major<F: VectorField + ?Sized>(
        &mut self,
        field: &F,
        grid: &Grid,
        mut x: MatMut<'_, f64>,
        output: &Output,
        times: &mut Vec<f64>,
        states: &mut Vec<Mat<f64>>,
    ) -> Result<Stats, OdeError> {
        let dir = grid.direction();
        let requested: &[f64] = match output {
            Output::AtTimes(t) => t,
            _ => &[],
        };
        let mut stats = Stats::default();
        let mut p = 0;
        let t0 = grid.t0();
        match output {
            Output::EveryStep => {
                times.push(t0);
                states.push(x.rb().to_owned());
            }
            Output::AtTimes(_) => {
                while p < requested.len() && requested[p] == t0 {
                    times.push(t0);
                    states.push(x.rb().to_owned());
                    p += 1;
                }
            }
            Output::Final => {}
        }
        let mut k0_known = false;
        for n in 0..grid.n_steps() {
            let (t, h) = grid.step(n);
            let t1 = grid.times()[n + 1];
            let interior = |tau: f64| dir * (tau - t) > 0.0 && dir * (tau - t1) < 0.0;
            let needs_interp = p < requested.len() && interior(requested[p]);
            if needs_interp {
                self.x_old.copy_from(x.rb());
            }
            let info = self
                .ws
                .step_inner(&self.tableau, field, t, h, x.rb_mut(), k0_known);
            k0_known = false;
            stats.field_evals += info.field_evals;
            stats.steps_accepted += 1;
            if !info.finite {
                return Err(OdeError::NonFinite {
                    step: n,
                    t_reached: t,
                    partial: Box::new(Solution {
                        final_state: x.rb().to_owned(),
                        t_final: t1,
                        times: std::mem::take(times),
                        states: std::mem::take(states),
                        stats,
                    }),
                });
            }
            match output {
                Output::EveryStep => {
                    times.push(t1);
                    states.push(x.rb().to_owned());
                }
                Output::AtTimes(_) => {
                    let mut f1_done = false;
                    while p < requested.len() && dir * (requested[p] - t1) <= 0.0 {
                        let tau = requested[p];
                        if tau == t1 {
                            states.push(x.rb().to_owned());
                        } else {
                            if !f1_done {
                                eval_blocked(&self.tableau, field, t1, x.rb(), self.f1.as_mut());
                                stats.field_evals += 1;
                                f1_done = true;
                                if !self.tableau.is_needed(0) {
                                    // Stage 0 was skipped by the step: Hermite needs f(t, x_old).
                                    eval_blocked(
                                        &self.tableau,
                                        field,
                                        t,
                                        self.x_old.as_ref(),
                                        self.ws.k_mut()[0].as_mut(),
                                    );
                                    stats.field_evals += 1;
                                }
                            }
                            let mut out = Mat::zeros(x.nrows(), x.ncols());
                            hermite_into(
                                out.as_mut(),
                                self.x_old.as_ref(),
                                self.ws.k()[0].as_ref(),
                                x.rb(),
                                self.f1.as_ref(),
                                h,
                                (tau - t) / h,
                            );
                            states.push(out);
                        }
                        times.push(tau);
                        p += 1;
                    }
                    if f1_done {
                        // f(t_{k+1}, x_{k+1}) is the first stage of the next step.
                        std::mem::swap(&mut self.ws.k_mut()[0], &mut self.f1);
                        k0_known = true;
                    }
                }
                Output::Final => {}
            }
        }
        Ok(stats)
    }
}

/// `out = H(θ)`: cubic Hermite interpolant of `(x0, f0)` at `θ = 0` and `(x1, f1)` at `θ = 1`
/// over a step of length `h`.
pub(crate) fn hermite_into(
    out: MatMut<'_, f64>,
    x0: MatRef<'_, f64>,
    f0: MatRef<'_, f64>,
    x1: MatRef<'_, f64>,
    f1: MatRef<'_, f64>,
    h: f64,
    theta: f64,
) {
    let [h00, h10, h01, h11] = hermite_basis(theta);
    let mut terms = Terms::new();
    terms.push(h00, x0);
    terms.push(h * h10, f0);
    terms.push(h01, x1);
    terms.push(h * h11, f1);
    lincomb(out, Base::Zero, &terms);
}

/// Convenience: a one-off [`FixedSolver::solve`] with `tableau`.
///
/// # Errors
/// As [`FixedSolver::solve`].
pub fn solve_fixed<F: VectorField + ?Sized>(
    field: &F,
    tableau: &ButcherTableau,
    grid: &Grid,
    x0: MatRef<'_, f64>,
    output: &Output,
) -> Result<Solution, OdeError> {
    FixedSolver::new(tableau.clone()).solve(field, grid, x0, output)
}
