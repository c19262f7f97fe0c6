//! One explicit Runge–Kutta step on a batch, allocation-free, and the reusable stage buffers.
//!
//! Every forward path of the crate (fixed-grid solve, adaptive solve, the stored and the
//! checkpointed adjoint tapes) goes through the same stage and combination routines with the
//! same row blocking ([`row_block`]), so that the same step from the same state gives the same
//! bits everywhere.

use faer::prelude::{Reborrow, ReborrowMut};
use faer::{Mat, MatMut, MatRef};

use crate::field::VectorField;
use crate::linalg::{Base, Terms, lincomb};
use crate::solution::Stats;
use crate::tableau::ButcherTableau;

/// Which stages to evaluate.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum StageSet {
    /// Only stages that influence `x'` ([`ButcherTableau::is_needed`]): fixed grids.
    Needed,
    /// All stages (the error estimate uses them): adaptive steps.
    All,
}

/// Bytes of stage data (state, stage input, `s` stage derivatives) one row block should
/// occupy: about a fast core-private cache's worth, so that a step's combinations read what
/// the field just wrote from cache instead of memory.
const BLOCK_BYTES: usize = 256 * 1024;

/// Rows per block of a step for `tableau` on an `nrows × ncols` batch (every row if the batch
/// is small): `⌊256 KiB / ((s + 2)·d·8)⌋`, at least 64, rounded down to a multiple of 8.
///
/// Steps are computed block by block (all stages of rows `r..r+B`, then the next rows): the
/// field acts row by row, so this changes no value, only the cache behaviour. Every forward
/// path of the crate uses this same blocking, so that (for a field whose `eval` on a subset of
/// rows gives the same bits as on the full batch, or not) the solves and the tapes agree
/// bitwise.
pub fn row_block(tableau: &ButcherTableau, nrows: usize, ncols: usize) -> usize {
    let per_row = (tableau.stages() + 2) * ncols.max(1) * 8;
    let b = ((BLOCK_BYTES / per_row).max(64) / 8) * 8;
    if b >= nrows { nrows.max(1) } else { b }
}

/// `(first row, rows)` of each block.
pub(crate) fn blocks(nrows: usize, block: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..nrows)
        .step_by(block.max(1))
        .map(move |r0| (r0, block.min(nrows - r0)))
}

/// `out = f(t, x)` evaluated block by block with the blocking of [`row_block`].
pub(crate) fn eval_blocked<F: VectorField + ?Sized>(
    tab: &ButcherTableau,
    field: &F,
    t: f64,
    x: MatRef<'_, f64>,
    mut out: MatMut<'_, f64>,
) {
    let b = row_block(tab, x.nrows(), x.ncols());
    for (r0, len) in blocks(x.nrows(), b) {
        crate::field::eval(
            field,
            t,
            x.subrows(r0, len),
            out.rb_mut().subrows_mut(r0, len),
        );
    }
}

/// Computes, for rows `r0 .. r0 + len`, the stage derivatives `K_i = f(t + c_i h, Y_i)` of one
/// step from `x`, writing the stage inputs `Y_i` (`i ≥ 1`) into `ys[i − 1]` (or into `ys[0]`
/// if `ys` has one buffer, which is then reused). `k0_known`: `k[0]` already holds
/// `f(t, x)`. Returns the number of field evaluations (calls on this block).
pub(crate) fn stages_rows<F: VectorField + ?Sized>(
    tab: &ButcherTableau,
    field: &F,
    t: f64,
    h: f64,
    x: MatRef<'_, f64>,
    k: &mut [Mat<f64>],
    ys: &mut [Mat<f64>],
    k0_known: bool,
    set: StageSet,
    (r0, len): (usize, usize),
) -> usize {
    let s = tab.stages();
    let xr = x.subrows(r0, len);
    let mut evals = 0;
    if !k0_known && (set == StageSet::All || tab.is_needed(0)) {
        crate::field::eval(field, t, xr, k[0].as_mut().subrows_mut(r0, len));
        evals += 1;
    }
    let c = tab.c();
    for i in 1..s {
        if set == StageSet::Needed && !tab.is_needed(i) {
            continue;
        }
        let (done, rest) = k.split_at_mut(i);
        let yi = if ys.len() == 1 {
            &mut ys[0]
        } else {
            &mut ys[i - 1]
        };
        let mut terms = Terms::new();
        for (j, &aij) in tab.a_row(i).iter().enumerate() {
            terms.push(h * aij, done[j].as_ref().subrows(r0, len));
        }
        lincomb(yi.as_mut().subrows_mut(r0, len), Base::Mat(xr), &terms);
        crate::field::eval(
            field,
            t + c[i] * h,
            yi.as_ref().subrows(r0, len),
            rest[0].as_mut().subrows_mut(r0, len),
        );
        evals += 1;
    }
    evals
}

/// [`stages_rows`] as the forward row-block sweeps call it: the stages the update needs,
/// `K_0` not known. Each call makes [`sweep_stats`]'s evaluations per step.
#[inline]
pub(crate) fn needed_stages<F: VectorField + ?Sized>(
    tab: &ButcherTableau,
    field: &F,
    t: f64,
    h: f64,
    x: MatRef<'_, f64>,
    k: &mut [Mat<f64>],
    ys: &mut [Mat<f64>],
    rows: (usize, usize),
) {
    stages_rows(tab, field, t, h, x, k, ys, false, StageSet::Needed, rows);
}

/// The statistics of a row-block sweep of `n_steps` steps over `n_rows` rows that called
/// [`needed_stages`] on each: every step evaluates the field once per needed stage (counted
/// once per batch, as the step-major order does), none without rows.
pub(crate) fn sweep_stats(tab: &ButcherTableau, n_steps: usize, n_rows: usize) -> Stats {
    let steps = if n_rows == 0 { 0 } else { n_steps };
    Stats {
        field_evals: steps * (0..tab.stages()).filter(|&i| tab.is_needed(i)).count(),
        steps_accepted: steps,
        ..Stats::default()
    }
}

/// Rows `r0 .. r0 + len` of `dst = base + h Σ_i b_i K_i` (`base` = `dst` itself for `None`);
/// returns whether they are finite.
pub(crate) fn combine_rows(
    tab: &ButcherTableau,
    h: f64,
    k: &[Mat<f64>],
    dst: MatMut<'_, f64>,
    base: Option<MatRef<'_, f64>>,
    (r0, len): (usize, usize),
) -> bool {
    let mut terms = Terms::new();
    for (i, &bi) in tab.b().iter().enumerate() {
        terms.push(h * bi, k[i].as_ref().subrows(r0, len));
    }
    lincomb(
        dst.subrows_mut(r0, len),
        match base {
            Some(b) => Base::Mat(b.subrows(r0, len)),
            None => Base::InPlace,
        },
        &terms,
    )
}

/// Stages only, on every row block; returns the field evaluations of the full batch.
pub(crate) fn stages_blocked<F: VectorField + ?Sized>(
    tab: &ButcherTableau,
    field: &F,
    t: f64,
    h: f64,
    x: MatRef<'_, f64>,
    k: &mut [Mat<f64>],
    ys: &mut [Mat<f64>],
    k0_known: bool,
    set: StageSet,
) -> usize {
    let b = row_block(tab, x.nrows(), x.ncols());
    let mut evals = 0;
    for (r0, len) in blocks(x.nrows(), b) {
        let e = stages_rows(tab, field, t, h, x, k, ys, k0_known, set, (r0, len));
        if r0 == 0 {
            evals = e;
        }
    }
    evals
}

/// One step on every row block: stages, then `dst = x + h Σ b_i K_i` (into `dst`, or in
/// place when `dst` is `None`, in which case `x` must be the state being updated).
/// Returns (field evaluations of the full batch, finite).
pub(crate) fn step_blocked<F: VectorField + ?Sized>(
    tab: &ButcherTableau,
    field: &F,
    t: f64,
    h: f64,
    mut x: MatMut<'_, f64>,
    k: &mut [Mat<f64>],
    ys: &mut [Mat<f64>],
    k0_known: bool,
    mut dst: Option<MatMut<'_, f64>>,
) -> (usize, bool) {
    let b = row_block(tab, x.nrows(), x.ncols());
    let mut evals = 0;
    let mut finite = true;
    for (r0, len) in blocks(x.nrows(), b) {
        let e = stages_rows(
            tab,
            field,
            t,
            h,
            x.rb(),
            k,
            ys,
            k0_known,
            StageSet::Needed,
            (r0, len),
        );
        if r0 == 0 {
            evals = e;
        }
        finite &= match dst.as_mut() {
            Some(d) => combine_rows(tab, h, k, d.rb_mut(), Some(x.rb()), (r0, len)),
            None => combine_rows(tab, h, k, x.rb_mut(), None, (r0, len)),
        };
    }
    (evals, finite)
}

/// Reusable stage buffers for one tableau and one batch shape: `s` stage derivatives and one
/// stage input. With it, [`RkWorkspace::step`] allocates nothing.
///
/// ```
/// use faer::Mat;
/// use plres_ode::{ButcherTableau, RkWorkspace, problems::HarmonicOscillator};
/// let tab = ButcherTableau::rk4();
/// let field = HarmonicOscillator::new(1.0);
/// let mut x = Mat::from_fn(1, 2, |_, j| if j == 0 { 1.0 } else { 0.0 });
/// let mut ws = RkWorkspace::new(&tab, 1, 2);
/// let h = 0.01;
/// for n in 0..100 {
///     ws.step(&tab, &field, n as f64 * h, h, x.as_mut());
/// }
/// assert!((x[(0, 0)] - 1.0f64.cos()).abs() < 1e-9);
/// ```
#[derive(Debug, Clone)]
pub struct RkWorkspace {
    k: Vec<Mat<f64>>,
    y: Vec<Mat<f64>>,
    nrows: usize,
    ncols: usize,
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepInfo {
    /// Field evaluations used.
    pub field_evals: usize,
    /// Whether the new state is finite.
    pub finite: bool,
}

impl RkWorkspace {
    /// Buffers for `tableau` and batches of shape `nrows × ncols`.
    pub fn new(tableau: &ButcherTableau, nrows: usize, ncols: usize) -> Self {
        RkWorkspace {
            k: (0..tableau.stages())
                .map(|_| Mat::zeros(nrows, ncols))
                .collect(),
            y: vec![Mat::zeros(nrows, ncols)],
            nrows,
            ncols,
        }
    }

    /// Whether the buffers fit `tableau` and the shape.
    pub fn fits(&self, tableau: &ButcherTableau, nrows: usize, ncols: usize) -> bool {
        self.k.len() == tableau.stages() && self.nrows == nrows && self.ncols == ncols
    }

    /// One step `x ← x + h Σ b_i K_i` from time `t`, in place, evaluating only the needed
    /// stages. Allocates nothing.
    ///
    /// # Panics
    /// If `x` is not `nrows × ncols` or the workspace was built for another tableau size.
    pub fn step<F: VectorField + ?Sized>(
        &mut self,
        tableau: &ButcherTableau,
        field: &F,
        t: f64,
        h: f64,
        x: MatMut<'_, f64>,
    ) -> StepInfo {
        self.step_inner(tableau, field, t, h, x, false)
    }

    pub(crate) fn step_inner<F: VectorField + ?Sized>(
        &mut self,
        tableau: &ButcherTableau,
        field: &F,
        t: f64,
        h: f64,
        mut x: MatMut<'_, f64>,
        k0_known: bool,
    ) -> StepInfo {
        assert!(
            self.fits(tableau, x.nrows(), x.ncols()),
            "RkWorkspace built for {} stages of {}×{}, used with {} stages of {}×{}",
            self.k.len(),
            self.nrows,
            self.ncols,
            tableau.stages(),
            x.nrows(),
            x.ncols()
        );
        let (field_evals, finite) = step_blocked(
            tableau,
            field,
            t,
            h,
            x.rb_mut(),
            &mut self.k,
            &mut self.y,
            k0_known,
            None,
        );
        StepInfo {
            field_evals,
            finite,
        }
    }

    /// Stage derivatives and stage-input buffer, borrowed together.
    pub(crate) fn buffers(&mut self) -> (&mut [Mat<f64>], &mut [Mat<f64>]) {
        (&mut self.k, &mut self.y)
    }
    pub(crate) fn k(&self) -> &[Mat<f64>] {
        &self.k
    }
    pub(crate) fn k_mut(&mut self) -> &mut [Mat<f64>] {
        &mut self.k
    }
}
