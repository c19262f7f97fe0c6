//! One explicit Runge–Kutta step on a batch, allocation-free, and the reusable stage buffers.
//!
//! Every forward path of the crate (fixed-grid solve, adaptive solve, the stored and the
//! checkpointed adjoint tapes) goes through [`compute_stages`] and [`combine_step`], so that the
//! same step from the same state gives the same bits everywhere.

use faer::prelude::{Reborrow, ReborrowMut};
use faer::{Mat, MatMut, MatRef};

use crate::field::VectorField;
use crate::linalg::{Base, Terms, lincomb};
use crate::tableau::ButcherTableau;

/// Which stages to evaluate.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum StageSet {
    /// Only stages that influence `x'` ([`ButcherTableau::is_needed`]): fixed grids.
    Needed,
    /// All stages (the error estimate uses them): adaptive steps.
    All,
}

/// Computes the stage derivatives `K_i = f(t + c_i h, Y_i)` of one step from `x`, writing the
/// stage inputs `Y_i` (`i ≥ 1`) into `ys[i − 1]` (or into `ys[0]` if `ys` has one buffer, which
/// is then reused). `k0_known`: `k[0]` already holds `f(t, x)`. Returns the number of field
/// evaluations.
pub(crate) fn compute_stages<F: VectorField + ?Sized>(
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
    let s = tab.stages();
    let mut evals = 0;
    if !k0_known && (set == StageSet::All || tab.is_needed(0)) {
        field.eval(t, x, k[0].as_mut());
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
            terms.push(h * aij, done[j].as_ref());
        }
        lincomb(yi.as_mut(), Base::Mat(x), &terms);
        field.eval(t + c[i] * h, yi.as_ref(), rest[0].as_mut());
        evals += 1;
    }
    evals
}

/// `dst = base + h Σ_i b_i K_i` (`base` = `dst` itself for `None`); returns whether the result
/// is finite.
pub(crate) fn combine_step(
    tab: &ButcherTableau,
    h: f64,
    k: &[Mat<f64>],
    dst: MatMut<'_, f64>,
    base: Option<MatRef<'_, f64>>,
) -> bool {
    let mut terms = Terms::new();
    for (i, &bi) in tab.b().iter().enumerate() {
        terms.push(h * bi, k[i].as_ref());
    }
    lincomb(
        dst,
        match base {
            Some(b) => Base::Mat(b),
            None => Base::InPlace,
        },
        &terms,
    )
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
        let field_evals = compute_stages(
            tableau,
            field,
            t,
            h,
            x.rb(),
            &mut self.k,
            &mut self.y,
            k0_known,
            StageSet::Needed,
        );
        let finite = combine_step(tableau, h, &self.k, x.rb_mut(), None);
        StepInfo {
            field_evals,
            finite,
        }
    }

    pub(crate) fn k(&self) -> &[Mat<f64>] {
        &self.k
    }
    pub(crate) fn k_mut(&mut self) -> &mut [Mat<f64>] {
        &mut self.k
    }
}
