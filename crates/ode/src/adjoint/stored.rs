//! Discrete adjoint with every stage input stored (memory `O(n·s)` batches, no recomputation).

use faer::{Mat, MatMut, MatRef};

use crate::adjoint::reverse::{ReverseBuffers, reverse_step};
use crate::adjoint::{Gradients, stage_inputs};
use crate::error::OdeError;
use crate::field::VectorField;
use crate::grid::Grid;
use crate::solution::{Solution, Stats};
use crate::stepper::{blocks, combine_rows, needed_stages, row_block, step_blocked, sweep_stats};
use crate::tableau::ButcherTableau;

/// A forward pass on a fixed grid that keeps every state `x_k` and every stage input `Y_i`, so
/// that [`backward`](StoredTape::backward) is the exact reverse-mode derivative of the computed
/// map (module docs of [`adjoint`](crate::adjoint)).
///
/// ```
/// use faer::Mat;
/// use plres_ode::{ButcherTableau, Grid, StoredTape, problems::Linear};
/// // ẋ = a x, x_n = (1 + a h)^n x_0 with Euler: ∂x_n/∂x_0 = (1 + a h)^n.
/// let field = Linear::new(Mat::from_fn(1, 1, |_, _| -0.5));
/// let grid = Grid::uniform(0.0, 1.0, 10).unwrap();
/// let x0 = Mat::from_fn(1, 1, |_, _| 2.0);
/// let tape = StoredTape::record(&field, &ButcherTableau::euler(), &grid, x0.as_ref()).unwrap();
/// let g = tape.backward(&field, Mat::<f64>::ones(1, 1).as_ref());
/// assert!((g.state[(0, 0)] - 0.95f64.powi(10)).abs() < 1e-15);
/// ```
#[derive(Debug, Clone)]
pub struct StoredTape {
    tableau: ButcherTableau,
    grid: Grid,
    states: Vec<Mat<f64>>,
    /// Step `k`'s stage inputs `Y_1 … Y_{s−1}` at `stages[k(s−1) ..]` (empty if unneeded).
    stages: Vec<Mat<f64>>,
    stats: Stats,
}

impl StoredTape {
    /// Runs the forward pass from `x0` along `grid`, storing states and stage inputs.
    ///
    /// # Errors
    /// [`OdeError::NonFinite`] if a step produces NaN or ∞.
    pub fn record<F: VectorField + ?Sized>(
        field: &F,
        tableau: &ButcherTableau,
        grid: &Grid,
        x0: MatRef<'_, f64>,
    ) -> Result<Self, OdeError> {
        let s = tableau.stages();
        let (nr, nc) = (x0.nrows(), x0.ncols());
        let n = grid.n_steps();
        let mut states = Vec::with_capacity(n + 1);
        states.push(x0.to_owned());
        states.extend((0..n).map(|_| Mat::zeros(nr, nc)));
        let mut stages = stage_inputs(tableau, n, nr, nc);
        let mut k: Vec<Mat<f64>> = (0..s).map(|_| Mat::zeros(nr, nc)).collect();
        // Row-block sweep (as FixedSolver: same partition, same bits, cache-resident blocks).
        let mut failed = false;
        'blocks: for rows in blocks(nr, row_block(tableau, nr, nc)) {
            for step in 0..n {
                let (t, h) = grid.step(step);
                let (done, next) = states.split_at_mut(step + 1);
                let ys = &mut stages[step * (s - 1)..(step + 1) * (s - 1)];
                let x = done[step].as_ref();
                needed_stages(tableau, field, t, h, x, &mut k, ys, rows);
                if !combine_rows(tableau, h, &k, next[0].as_mut(), Some(x), rows) {
                    failed = true;
                    break 'blocks;
                }
            }
        }
        if !failed {
            return Ok(StoredTape {
                tableau: tableau.clone(),
                grid: grid.clone(),
                states,
                stages,
                stats: sweep_stats(tableau, n, nr),
            });
        }
        // Replay step-major to report the first non-finite step with a coherent partial state.
        let mut stats = Stats::default();
        for step in 0..n {
            let (t, h) = grid.step(step);
            let (done, next) = states.split_at_mut(step + 1);
            let (evals, finite) = step_blocked(
                tableau,
                field,
                t,
                h,
                done[step].as_mut(),
                &mut k,
                &mut stages[step * (s - 1)..(step + 1) * (s - 1)],
                false,
                Some(next[0].as_mut()),
            );
            stats.field_evals += evals;
            stats.steps_accepted += 1;
            if !finite {
                let final_state = next[0].clone();
                states.truncate(step + 1);
                return Err(OdeError::NonFinite {
                    step,
                    t_reached: t,
                    partial: Box::new(Solution {
                        final_state,
                        t_final: grid.times()[step + 1],
                        times: grid.times()[..=step].to_vec(),
                        states,
                        stats,
                    }),
                });
            }
        }
        Ok(StoredTape {
            tableau: tableau.clone(),
            grid: grid.clone(),
            states,
            stages,
            stats,
        })
    }

    /// The state at the end of the grid.
    pub fn final_state(&self) -> MatRef<'_, f64> {
        self.states[self.states.len() - 1].as_ref()
    }
    /// The states `x_0 … x_n` at the grid points.
    pub fn states(&self) -> &[Mat<f64>] {
        &self.states
    }
    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }
    /// Statistics of the forward pass.
    pub fn forward_stats(&self) -> Stats {
        self.stats
    }
    /// Bytes held by the tape (states and stage inputs).
    pub fn memory_bytes(&self) -> usize {
        self.states
            .iter()
            .chain(&self.stages)
            .map(|m| m.nrows() * m.ncols() * 8)
            .sum()
    }

    /// Gradients of a loss with `∂L/∂x_n = lambda_final`. `field` must be the field of the
    /// forward pass.
    ///
    /// # Panics
    /// If `lambda_final`'s shape differs from the state's.
    pub fn backward<F: VectorField + ?Sized>(
        &self,
        field: &F,
        lambda_final: MatRef<'_, f64>,
    ) -> Gradients {
        self.backward_with(field, lambda_final, |_, _, _| {})
    }

    /// As [`backward`](StoredTape::backward), calling `hook(k, t_k, λ_k)` at every grid point
    /// `k = n … 0` once `λ_k = ∂L/∂x_k` is known. The hook may read `λ_k` (e.g. the adjoint
    /// states of docs/theory.md §5) or add to it the gradient of a loss term on `x_k`.
    ///
    /// # Panics
    /// If `lambda_final`'s shape differs from the state's.
    pub fn backward_with<F: VectorField + ?Sized>(
        &self,
        field: &F,
        lambda_final: MatRef<'_, f64>,
        mut hook: impl FnMut(usize, f64, MatMut<'_, f64>),
    ) -> Gradients {
        let x_n = self.final_state();
        assert!(
            (lambda_final.nrows(), lambda_final.ncols()) == (x_n.nrows(), x_n.ncols()),
            "lambda_final is {}×{}, state is {}×{}",
            lambda_final.nrows(),
            lambda_final.ncols(),
            x_n.nrows(),
            x_n.ncols()
        );
        let s = self.tableau.stages();
        let n = self.grid.n_steps();
        let mut lambda = lambda_final.to_owned();
        let mut grad = vec![0.0; field.n_params()];
        let mut stats = Stats::default();
        let mut buf = ReverseBuffers::new(&self.tableau, x_n.nrows(), x_n.ncols());
        hook(n, self.grid.t_end(), lambda.as_mut());
        for step in (0..n).rev() {
            let (t, h) = self.grid.step(step);
            reverse_step(
                &self.tableau,
                field,
                t,
                h,
                self.states[step].as_ref(),
                &self.stages[step * (s - 1)..(step + 1) * (s - 1)],
                lambda.as_mut(),
                &mut buf,
                &mut grad,
                &mut stats,
            );
            stats.steps_accepted += 1;
            hook(step, t, lambda.as_mut());
        }
        Gradients {
            state: lambda,
            params: grad,
            stats,
        }
    }
}
