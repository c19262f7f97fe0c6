//! Continuous adjoint: the augmented system integrated backwards with the forward tableau.

use faer::{Mat, MatRef};

use crate::adjoint::Gradients;
use crate::field::VectorField;
use crate::grid::Grid;
use crate::linalg::{Base, Terms, lincomb};
use crate::solution::Stats;
use crate::tableau::{ButcherTableau, MAX_STAGES};

/// Integrates `ẋ = f(t, x)`, `ȧ = −(∂f/∂x)ᵀ a`, `ġ = −(∂f/∂θ)ᵀ a` from `x(T) = x_final`,
/// `a(T) = lambda_final`, `g(T) = 0` back to `t_0` with `tableau` on the reversed `grid`
/// (module docs of [`adjoint`](crate::adjoint)); returns `a(t_0) ≈ ∂L/∂x_0` and
/// `g(t_0) ≈ ∂L/∂θ`. The state is re-integrated backwards (no tape), as in Chen et al.
/// (NeurIPS 2018): memory `O(s)` batches, independent of the number of steps, at the price of
/// an `O(h^p)` gradient error and of the backward stability of `ẋ = f`.
///
/// ```
/// use faer::Mat;
/// use plres_ode::{ButcherTableau, Grid, continuous_adjoint, problems::Linear};
/// // ẋ = a x: ∂x(1)/∂x(0) = e^a, ∂x(1)/∂a = x(0) e^a.
/// let a = -0.7;
/// let field = Linear::new(Mat::from_fn(1, 1, |_, _| a));
/// let grid = Grid::uniform(0.0, 1.0, 50).unwrap();
/// let x1 = Mat::from_fn(1, 1, |_, _| 2.0 * a.exp());
/// let g = continuous_adjoint(&field, &ButcherTableau::rk4(), &grid, x1.as_ref(), Mat::<f64>::ones(1, 1).as_ref());
/// assert!((g.state[(0, 0)] - a.exp()).abs() < 1e-8);
/// assert!((g.params[0] - 2.0 * a.exp()).abs() < 1e-8);
/// ```
///
/// # Panics
/// If `lambda_final` and `x_final` differ in shape.
pub fn continuous_adjoint<F: VectorField + ?Sized>(
    field: &F,
    tableau: &ButcherTableau,
    grid: &Grid,
    x_final: MatRef<'_, f64>,
    lambda_final: MatRef<'_, f64>,
) -> Gradients {
    let (nr, nc) = (x_final.nrows(), x_final.ncols());
    assert!(
        (lambda_final.nrows(), lambda_final.ncols()) == (nr, nc),
        "lambda_final is {}×{}, x_final is {nr}×{nc}",
        lambda_final.nrows(),
        lambda_final.ncols(),
    );
    let s = tableau.stages();
    let np = field.n_params();
    let rev = grid.reversed();
    let mut x = x_final.to_owned();
    let mut a = lambda_final.to_owned();
    let mut g = vec![0.0; np];
    let mut kx: Vec<Mat<f64>> = (0..s).map(|_| Mat::zeros(nr, nc)).collect();
    let mut ka: Vec<Mat<f64>> = (0..s).map(|_| Mat::zeros(nr, nc)).collect();
    let mut kg: Vec<Vec<f64>> = (0..s).map(|_| vec![0.0; np]).collect();
    let mut yx = Mat::zeros(nr, nc);
    let mut ya = Mat::zeros(nr, nc);
    let mut stats = Stats::default();
    let (b, c) = (tableau.b(), tableau.c());
    for step in 0..rev.n_steps() {
        let (t, h) = rev.step(step);
        for i in 0..s {
            if !tableau.is_needed(i) {
                continue;
            }
            if i > 0 {
                let mut tx = Terms::new();
                let mut ta = Terms::new();
                for (j, &aij) in tableau.a_row(i).iter().enumerate() {
                    if tableau.is_needed(j) {
                        tx.push(h * aij, kx[j].as_ref());
                        // ȧ = −Jᵀa: ka holds +Jᵀa, hence the minus sign.
                        ta.push(-h * aij, ka[j].as_ref());
                    }
                }
                lincomb(yx.as_mut(), Base::Mat(x.as_ref()), &tx);
                lincomb(ya.as_mut(), Base::Mat(a.as_ref()), &ta);
            }
            let (sx, sa) = if i == 0 {
                (x.as_ref(), a.as_ref())
            } else {
                (yx.as_ref(), ya.as_ref())
            };
            let ti = t + c[i] * h;
            field.eval(ti, sx, kx[i].as_mut());
            field.vjp_state(ti, sx, sa, ka[i].as_mut());
            kg[i].fill(0.0);
            field.vjp_params(ti, sx, sa, &mut kg[i]);
            stats.field_evals += 1;
            stats.vjp_state_evals += 1;
            stats.vjp_params_evals += 1;
        }
        let mut tx = Terms::new();
        let mut ta = Terms::new();
        let mut coef = [0.0f64; MAX_STAGES];
        for i in 0..s {
            if tableau.is_needed(i) {
                tx.push(h * b[i], kx[i].as_ref());
                ta.push(-h * b[i], ka[i].as_ref());
                coef[i] = -h * b[i];
            }
        }
        lincomb(x.as_mut(), Base::InPlace, &tx);
        lincomb(a.as_mut(), Base::InPlace, &ta);
        for (p, gp) in g.iter_mut().enumerate() {
            for i in 0..s {
                if coef[i] != 0.0 {
                    *gp += coef[i] * kg[i][p];
                }
            }
        }
        stats.steps_accepted += 1;
    }
    Gradients {
        state: a,
        params: g,
        stats,
    }
}
