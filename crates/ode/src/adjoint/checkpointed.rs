//! Checkpointed discrete adjoint: keep every `k`-th state, recompute each segment's stages
//! during the backward pass (Griewank's checkpointing in its simplest, uniform form).
//!
//! The recomputation runs the very same step code from the very same stored state, so the
//! stage inputs, and therefore the gradients, are bitwise identical to those of
//! [`StoredTape`](crate::StoredTape) (for a deterministic field). Memory: `⌈n/k⌉ + 1` stored
//! states plus, during the backward pass, one segment of `k` states and `k(s−1)` stage inputs
//! and `s` stage derivatives: `O(n/k + k·s)` batches, minimal near `k ≈ √n`. Cost: one extra
//! forward pass.

use faer::{Mat, MatMut, MatRef};

use crate::adjoint::reverse::{ReverseBuffers, reverse_step};
use crate::adjoint::{Gradients, stage_inputs};
use crate::error::OdeError;
use crate::field::VectorField;
use crate::grid::Grid;
use crate::solution::{Solution, Stats};
use crate::stepper::{RkWorkspace, blocks, combine_rows, needed_stages, row_block, sweep_stats};
use crate::tableau::ButcherTableau;

/// A forward pass that keeps the states `x_0, x_k, x_2k, …` only.
///
/// ```
/// use faer::Mat;
/// use plres_ode::{ButcherTableau, CheckpointedTape, Grid, StoredTape, problems::Tanh};
/// let field = Tanh::new(Mat::from_fn(2, 2, |i, j| 0.3 * (i as f64 - j as f64) + 0.1), vec![0.2, -0.1]);
/// let grid = Grid::uniform(0.0, 1.0, 20).unwrap();
/// let x0 = Mat::from_fn(4, 2, |i, j| (i + 2 * j) as f64 * 0.1);
/// let tab = ButcherTableau::rk4();
/// let lam = Mat::<f64>::ones(4, 2);
/// let full = StoredTape::record(&field, &tab, &grid, x0.as_ref()).unwrap().backward(&field, lam.as_ref());
/// let ck = CheckpointedTape::record(&field, &tab, &grid, x0.as_ref(), 6).unwrap().backward(&field, lam.as_ref());
/// assert_eq!(full.params, ck.params); // bitwise
/// assert_eq!(full.state, ck.state);
/// ```
#[derive(Debug, Clone)]
pub struct CheckpointedTape {
    tableau: ButcherTableau,
    grid: Grid,
    every: usize,
    checkpoints: Vec<Mat<f64>>,
    final_state: Mat<f64>,
    stats: Stats,
}

impl CheckpointedTape {
    /// Runs the forward pass from `x0` along `grid`, storing the state before every step whose
    /// index is a multiple of `every`.
    ///
    /// # Errors
    /// [`OdeError::InvalidConfig`] if `every == 0`; [`OdeError::NonFinite`].
    pub fn record<F: VectorField + ?Sized>(
        field: &F,
        tableau: &ButcherTableau,
        grid: &Grid,
        x0: MatRef<'_, f64>,
        every: usize,
    ) -> Result<Self, OdeError> {
        if every == 0 {
            return Err(OdeError::InvalidConfig {
                name: "every",
                value: 0.0,
                reason: "checkpoint interval must be ≥ 1",
            });
        }
        let (nr, nc) = (x0.nrows(), x0.ncols());
        let n = grid.n_steps();
        let mut x = x0.to_owned();
        let mut checkpoints: Vec<Mat<f64>> =
            (0..n.div_ceil(every)).map(|_| Mat::zeros(nr, nc)).collect();
        // Row-block sweep (same partition and bits as the stored tape and the solvers).
        let mut failed = false;
        {
            let mut ws = RkWorkspace::new(tableau, nr, nc);
            let (k, ys) = ws.buffers();
            'blocks: for rows in blocks(nr, row_block(tableau, nr, nc)) {
                for step in 0..n {
                    if step % every == 0 {
                        checkpoints[step / every]
                            .as_mut()
                            .subrows_mut(rows.0, rows.1)
                            .copy_from(x.as_ref().subrows(rows.0, rows.1));
                    }
                    let (t, h) = grid.step(step);
                    needed_stages(tableau, field, t, h, x.as_ref(), k, ys, rows);
                    if !combine_rows(tableau, h, k, x.as_mut(), None, rows) {
                        failed = true;
                        break 'blocks;
                    }
                }
            }
        }
        if failed {
            // Replay step-major to report the first non-finite step with a coherent state.
            let mut ws = RkWorkspace::new(tableau, nr, nc);
            let mut x = x0.to_owned();
            let mut checkpoints = Vec::new();
            let mut stats = Stats::default();
            for step in 0..n {
                if step % every == 0 {
                    checkpoints.push(x.clone());
                }
                let (t, h) = grid.step(step);
                let info = ws.step(tableau, field, t, h, x.as_mut());
                stats.field_evals += info.field_evals;
                stats.steps_accepted += 1;
                if !info.finite {
                    let times = (0..checkpoints.len())
                        .map(|m| grid.times()[m * every])
                        .collect();
                    return Err(OdeError::NonFinite {
                        step,
                        t_reached: t,
                        partial: Box::new(Solution {
                            final_state: x,
                            t_final: grid.times()[step + 1],
                            times,
                            states: checkpoints,
                            stats,
                        }),
                    });
                }
            }
        }
        Ok(CheckpointedTape {
            tableau: tableau.clone(),
            grid: grid.clone(),
            every,
            checkpoints,
            final_state: x,
            stats: sweep_stats(tableau, n, nr),
        })
    }

    /// The state at the end of the grid.
    pub fn final_state(&self) -> MatRef<'_, f64> {
        self.final_state.as_ref()
    }
    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }
    /// The checkpoint interval `k`.
    pub fn every(&self) -> usize {
        self.every
    }
    /// Statistics of the forward pass.
    pub fn forward_stats(&self) -> Stats {
        self.stats
    }
    /// Peak bytes of tape data: the stored checkpoints and final state, plus the segment
    /// buffers (`k` states, `k(s−1)` stage inputs of needed stages, `s` stage derivatives) the
    /// backward pass allocates.
    pub fn memory_bytes(&self) -> usize {
        let batch = self.final_state.nrows() * self.final_state.ncols() * 8;
        let s = self.tableau.stages();
        let needed_inputs = (1..s).filter(|&i| self.tableau.is_needed(i)).count();
        let seg = self.every.min(self.grid.n_steps());
        (self.checkpoints.len() + 1 + seg * (1 + needed_inputs) + s) * batch
    }

    /// Gradients of a loss with `∂L/∂x_n = lambda_final`, recomputing each segment from its
    /// checkpoint. Bitwise equal to [`StoredTape::backward`](crate::StoredTape::backward).
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

    /// As [`backward`](CheckpointedTape::backward) with the per-grid-point hook of
    /// [`StoredTape::backward_with`](crate::StoredTape::backward_with).
    ///
    /// # Panics
    /// If `lambda_final`'s shape differs from the state's.
    pub fn backward_with<F: VectorField + ?Sized>(
        &self,
        field: &F,
        lambda_final: MatRef<'_, f64>,
        mut hook: impl FnMut(usize, f64, MatMut<'_, f64>),
    ) -> Gradients {
        let (nr, nc) = (self.final_state.nrows(), self.final_state.ncols());
        assert!(
            (lambda_final.nrows(), lambda_final.ncols()) == (nr, nc),
            "lambda_final is {}×{}, state is {nr}×{nc}",
            lambda_final.nrows(),
            lambda_final.ncols(),
        );
        let tab = &self.tableau;
        let s = tab.stages();
        let n = self.grid.n_steps();
        let seg_len = self.every.min(n);
        let mut seg_states: Vec<Mat<f64>> = (0..seg_len).map(|_| Mat::zeros(nr, nc)).collect();
        let mut seg_stages = stage_inputs(tab, seg_len, nr, nc);
        let mut k: Vec<Mat<f64>> = (0..s).map(|_| Mat::zeros(nr, nc)).collect();
        let mut buf = ReverseBuffers::new(tab, nr, nc);
        let mut lambda = lambda_final.to_owned();
        let mut grad = vec![0.0; field.n_params()];
        let mut stats = Stats::default();
        hook(n, self.grid.t_end(), lambda.as_mut());
        for (seg, checkpoint) in self.checkpoints.iter().enumerate().rev() {
            let start = seg * self.every;
            let len = self.every.min(n - start);
            seg_states[0].copy_from(checkpoint);
            // Recompute the segment with the forward pass's row blocks (hence its bits).
            for rows in blocks(nr, row_block(tab, nr, nc)) {
                for m in 0..len {
                    let (t, h) = self.grid.step(start + m);
                    let (done, next) = seg_states.split_at_mut(m + 1);
                    let ys = &mut seg_stages[m * (s - 1)..(m + 1) * (s - 1)];
                    let x = done[m].as_ref();
                    needed_stages(tab, field, t, h, x, &mut k, ys, rows);
                    // The segment's last state is the next checkpoint: stages only.
                    if m + 1 < len {
                        combine_rows(tab, h, &k, next[0].as_mut(), Some(x), rows);
                    }
                }
            }
            for m in (0..len).rev() {
                let (t, h) = self.grid.step(start + m);
                reverse_step(
                    tab,
                    field,
                    t,
                    h,
                    seg_states[m].as_ref(),
                    &seg_stages[m * (s - 1)..(m + 1) * (s - 1)],
                    lambda.as_mut(),
                    &mut buf,
                    &mut grad,
                    &mut stats,
                );
                stats.steps_accepted += 1;
                hook(start + m, t, lambda.as_mut());
            }
        }
        // the recomputation: every step's stages once more
        stats.field_evals += sweep_stats(tab, n, nr).field_evals;
        Gradients {
            state: lambda,
            params: grad,
            stats,
        }
    }
}
