//! The reverse sweep through the stages of one explicit Runge–Kutta step (shared by the stored
//! and the checkpointed tapes so that both perform the same operations in the same order).

use faer::prelude::{Reborrow, ReborrowMut};
use faer::{Mat, MatMut, MatRef};

use crate::field::VectorField;
use crate::linalg::{Base, Terms, lincomb};
use crate::solution::Stats;
use crate::tableau::ButcherTableau;

/// Per-stage adjoint buffers: `μ_i` for every stage and the stage cotangent `w`.
pub(crate) struct ReverseBuffers {
    mu: Vec<Mat<f64>>,
    w: Mat<f64>,
}

impl ReverseBuffers {
    pub(crate) fn new(tab: &ButcherTableau, nrows: usize, ncols: usize) -> Self {
        ReverseBuffers {
            mu: (0..tab.stages()).map(|_| Mat::zeros(nrows, ncols)).collect(),
            w: Mat::zeros(nrows, ncols),
        }
    }
}

/// `λ ← ∂L/∂x` of step `x → x'` from `λ = ∂L/∂x'` on entry; `grad += ∂L/∂θ` of the step.
/// `ys[i − 1]` holds the stage input `Y_i` (`i ≥ 1`; unneeded stages may be empty), `x = Y_0`.
pub(crate) fn reverse_step<F: VectorField + ?Sized>(
    tab: &ButcherTableau,
    field: &F,
    t: f64,
    h: f64,
    x: MatRef<'_, f64>,
    ys: &[Mat<f64>],
    mut lambda: MatMut<'_, f64>,
    buf: &mut ReverseBuffers,
    grad: &mut [f64],
    stats: &mut Stats,
) {
    let s = tab.stages();
    let (b, c) = (tab.b(), tab.c());
    for i in (0..s).rev() {
        if !tab.is_needed(i) {
            continue;
        }
        let (head, later) = buf.mu.split_at_mut(i + 1);
        let mut terms = Terms::new();
        terms.push(h * b[i], lambda.rb());
        for (off, mu_j) in later.iter().enumerate() {
            let j = i + 1 + off;
            if tab.is_needed(j) {
                terms.push(h * tab.a(j, i), mu_j.as_ref());
            }
        }
        lincomb(buf.w.as_mut(), Base::Zero, &terms);
        let yi = if i == 0 { x } else { ys[i - 1].as_ref() };
        let ti = t + c[i] * h;
        field.vjp_state(ti, yi, buf.w.as_ref(), head[i].as_mut());
        field.vjp_params(ti, yi, buf.w.as_ref(), grad);
        stats.vjp_state_evals += 1;
        stats.vjp_params_evals += 1;
    }
    let mut terms = Terms::new();
    for i in 0..s {
        if tab.is_needed(i) {
            terms.push(1.0, buf.mu[i].as_ref());
        }
    }
    lincomb(lambda.rb_mut(), Base::InPlace, &terms);
}
