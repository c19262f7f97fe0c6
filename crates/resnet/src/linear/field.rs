//! The interpolated vector field `f(s, x) = U(s) φ(x)` and the Runge–Kutta path through
//! plres-ode (docs/theory.md §3.2).
//!
//! With `L+1` slices `U_0..U_L` on the grid `s_j = j h`, for `s = (k + τ) h`,
//! `τ ∈ [0,1]`: `U(s) = (1−τ) U_k + τ U_{k+1}`. Hence, one sample per row,
//!
//! * `eval`: `F = (1−τ) Φ U_kᵀ + τ Φ U_{k+1}ᵀ`, `Φ = φ(X)`;
//! * `vjp_state`: `out = vjp(S, V)` with `V = (1−τ) W U_k + τ W U_{k+1}` for the
//!   cotangent `W` (`out_i = Dφ(x_i)ᵀ U(s)ᵀ w_i`);
//! * `vjp_params`: `∂/∂U_kᵀ += (1−τ) Φᵀ W`, `∂/∂U_{k+1}ᵀ += τ Φᵀ W`.
//!
//! Training runs plres-ode's [`StoredTape`] (the discrete adjoint, exact for the
//! discrete model) on the grid `s_k = k/L`; the adjoints `P_k` at the grid points are read
//! by its hook. The tape and its stage buffers are allocated per forward pass (the Euler
//! path allocates nothing).
//!
//! The time `s` of a stage is mapped to `(k, τ)` by [`locate`]: a stage time within a
//! few ulps of a grid point is snapped to it, so stage times `s_k + c h` computed in
//! floating point do not put a `1e-16` weight on a neighbouring slice.

use std::cell::RefCell;

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef};
use plres_ode::{ButcherTableau, FixedSolver, Grid, Output, StoredTape, VectorField};
use plres_rff::FeatureMap;

use crate::integrator::Integrator;
use crate::linear::LinearResNet;
use crate::linear::workspace::{LinearWorkspace, slice_t, slice_t_mut};
use crate::maps::par_for;

/// `(k, τ)` with `s = (k + τ)/L`, `0 ≤ k < L`, `τ ∈ [0, 1]`.
pub fn locate(s: f64, depth: usize) -> (usize, f64) {
    let mut x = s * depth as f64;
    let r = x.round();
    if (x - r).abs() <= 16.0 * f64::EPSILON * r.abs().max(1.0) {
        x = r;
    }
    let k = (x.floor().max(0.0) as usize).min(depth - 1);
    let tau = (x - k as f64).clamp(0.0, 1.0);
    (k, tau)
}

/// The Butcher tableau of an integrator.
pub fn tableau(integrator: Integrator) -> ButcherTableau {
    match integrator {
        Integrator::Euler => ButcherTableau::euler(),
        Integrator::Midpoint => ButcherTableau::midpoint(),
        Integrator::Heun => ButcherTableau::heun(),
        Integrator::Rk4 => ButcherTableau::rk4(),
    }
}

/// Scratch of the field's evaluations (`N×p` features, cache, cotangent).
#[derive(Debug)]
pub(crate) struct FieldScratch {
    phi: Mat<f64>,
    cache: Mat<f64>,
    v: Mat<f64>,
}

impl FieldScratch {
    fn new(n: usize, p: usize, cache_dim: usize) -> Self {
        Self {
            phi: Mat::zeros(n, p),
            cache: Mat::zeros(n, cache_dim),
            v: Mat::zeros(n, p),
        }
    }
}

/// Runge–Kutta buffers kept in a [`LinearWorkspace`]: the tableau, the grid, the field scratch
/// and the tape of the last forward pass.
#[derive(Debug)]
pub(crate) struct OdeBuffers {
    tableau: ButcherTableau,
    grid: Grid,
    scratch: RefCell<FieldScratch>,
    tape: Option<StoredTape>,
}

impl OdeBuffers {
    pub(crate) fn new(
        n_max: usize,
        _d: usize,
        p: usize,
        cache_dim: usize,
        depth: usize,
        integrator: Integrator,
    ) -> Self {
        Self {
            tableau: tableau(integrator),
            grid: Grid::uniform(0.0, 1.0, depth).expect("depth ≥ 1 gives a valid grid"),
            scratch: RefCell::new(FieldScratch::new(n_max, p, cache_dim)),
            tape: None,
        }
    }
}

/// `f(s, x) = U(s) φ(x)` over `L+1` linearly interpolated slices (module docs).
pub struct InterpolatedField<'a> {
    features: &'a dyn FeatureMap,
    u: &'a [f64],
    d: usize,
    p: usize,
    depth: usize,
    scratch: &'a RefCell<FieldScratch>,
}

impl std::fmt::Debug for InterpolatedField<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InterpolatedField")
            .field("d", &self.d)
            .field("p", &self.p)
            .field("depth", &self.depth)
            .finish()
    }
}

impl<'a> InterpolatedField<'a> {
    /// The field of `features` and the flat slices `u` (`[L+1, d, p]`), with scratch
    /// buffers of at least as many rows as the batches it will see.
    fn new(
        features: &'a dyn FeatureMap,
        u: &'a [f64],
        depth: usize,
        scratch: &'a RefCell<FieldScratch>,
    ) -> Self {
        let d = features.input_dim();
        let p = features.output_dim();
        assert_eq!(
            u.len(),
            (depth + 1) * d * p,
            "interpolated field: u has {} entries, (L+1)·d·p = {}·{}·{}",
            u.len(),
            depth + 1,
            d,
            p
        );
        Self {
            features,
            u,
            d,
            p,
            depth,
            scratch,
        }
    }

    /// `dst = (1−τ) A B_k + τ A B_{k+1}` with `B_j = U_jᵀ` (`p×d`), or `B_j = U_j` (`d×p`)
    /// when `transpose`: the product with the interpolated slice `U(s)` shared by `eval`
    /// and `vjp_state` (module docs). Two GEMMs into `dst`; the second is skipped on a grid
    /// point (`τ = 0`).
    #[inline]
    fn mul_interpolated(
        &self,
        mut dst: MatMut<'_, f64>,
        a: MatRef<'_, f64>,
        (k, tau): (usize, f64),
        transpose: bool,
    ) {
        let (d, p) = (self.d, self.p);
        let b = |j| {
            let u_j = slice_t(self.u, j, d, p);
            if transpose { u_j.transpose() } else { u_j }
        };
        let par = par_for(a.nrows(), p, d);
        matmul(dst.as_mut(), Accum::Replace, a, b(k), 1.0 - tau, par);
        if tau != 0.0 {
            matmul(dst, Accum::Add, a, b(k + 1), tau, par);
        }
    }
}

impl VectorField for InterpolatedField<'_> {
    fn n_params(&self) -> usize {
        self.u.len()
    }

    fn eval(&self, t: f64, x: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        let n = x.nrows();
        let mut s = self.scratch.borrow_mut();
        let mut phi = s.phi.as_mut().subrows_mut(0, n);
        self.features.apply_in_place(x, phi.as_mut());
        self.mul_interpolated(out, phi.as_ref(), locate(t, self.depth), false);
    }

    fn vjp_state(&self, t: f64, x: MatRef<'_, f64>, v: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        let n = x.nrows();
        let mut guard = self.scratch.borrow_mut();
        let s = &mut *guard;
        self.features.apply_with_cache(
            x,
            s.phi.as_mut().subrows_mut(0, n),
            s.cache.as_mut().subrows_mut(0, n),
        );
        let mut vf = s.v.as_mut().subrows_mut(0, n);
        self.mul_interpolated(vf.as_mut(), v, locate(t, self.depth), true);
        self.features
            .vjp_in_place(s.cache.as_ref().subrows(0, n), vf, out, Accum::Replace);
    }

    fn vjp_params(&self, t: f64, x: MatRef<'_, f64>, v: MatRef<'_, f64>, grad: &mut [f64]) {
        let (d, p) = (self.d, self.p);
        let n = x.nrows();
        let (k, tau) = locate(t, self.depth);
        let par = par_for(n, p, d);
        let mut s = self.scratch.borrow_mut();
        let mut phi = s.phi.as_mut().subrows_mut(0, n);
        self.features.apply_in_place(x, phi.as_mut());
        if tau != 1.0 {
            matmul(
                slice_t_mut(grad, k, d, p),
                Accum::Add,
                phi.as_ref().transpose(),
                v,
                1.0 - tau,
                par,
            );
        }
        if tau != 0.0 {
            matmul(
                slice_t_mut(grad, k + 1, d, p),
                Accum::Add,
                phi.as_ref().transpose(),
                v,
                tau,
                par,
            );
        }
    }
}

/// Forward pass of a Runge–Kutta model over the first `n` rows of `ws`, recording the
/// tape for [`ode_backward`]. A non-finite state makes every later state NaN (the loss
/// is then NaN and optimizers report divergence).
pub(crate) fn ode_forward(model: &LinearResNet, u: &[f64], ws: &mut LinearWorkspace, n: usize) {
    let depth = model.depth;
    let ode = ws.ode.as_mut().expect("Runge–Kutta workspace");
    let field = InterpolatedField::new(model.features.as_ref(), u, depth, &ode.scratch);
    let x0 = ws.states[0].as_ref().subrows(0, n);
    match StoredTape::record(&field, &ode.tableau, &ode.grid, x0) {
        Ok(tape) => {
            for (k, s) in tape.states().iter().enumerate().skip(1) {
                ws.states[k]
                    .as_mut()
                    .subrows_mut(0, n)
                    .copy_from(s.as_ref());
            }
            ode.tape = Some(tape);
        }
        Err(_) => {
            for s in ws.states.iter_mut().skip(1) {
                s.as_mut().subrows_mut(0, n).fill(f64::NAN);
            }
            ode.tape = None;
        }
    }
}

/// Discrete adjoint of the last [`ode_forward`]: `∂L/∂U` into `grad`, `P_k` into
/// `ws.adjoints` (from `ws.adjoints[L]`, already `P_L`).
pub(crate) fn ode_backward(
    model: &LinearResNet,
    u: &[f64],
    ws: &mut LinearWorkspace,
    n: usize,
    grad: &mut [f64],
) {
    let depth = model.depth;
    let LinearWorkspace { ode, adjoints, .. } = ws;
    let ode = ode.as_mut().expect("Runge–Kutta workspace");
    let Some(tape) = ode.tape.take() else {
        grad.fill(f64::NAN);
        for a in adjoints.iter_mut().take(depth) {
            a.as_mut().subrows_mut(0, n).fill(f64::NAN);
        }
        return;
    };
    let field = InterpolatedField::new(model.features.as_ref(), u, depth, &ode.scratch);
    let (head, tail) = adjoints.split_at_mut(depth);
    let pl = tail[0].as_ref().subrows(0, n);
    let g = tape.backward_with(&field, pl, |k, _, lambda| {
        if k < depth {
            head[k]
                .as_mut()
                .subrows_mut(0, n)
                .copy_from(lambda.as_ref());
        }
    });
    grad.copy_from_slice(&g.params);
    ode.tape = Some(tape);
}

/// Forward pass for evaluation (no tape kept): states at the grid points into `states`
/// (`L+1` buffers of `N×d`, `states[0]` already the embedded input).
pub(crate) fn ode_forward_eval(model: &LinearResNet, u: &[f64], states: &mut [Mat<f64>]) {
    let depth = model.depth;
    let n = states[0].nrows();
    let scratch = RefCell::new(FieldScratch::new(n, model.p, model.features.cache_dim()));
    let field = InterpolatedField::new(model.features.as_ref(), u, depth, &scratch);
    let grid = Grid::uniform(0.0, 1.0, depth).expect("depth ≥ 1 gives a valid grid");
    let mut solver = FixedSolver::new(tableau(model.integrator));
    match solver.solve(&field, &grid, states[0].as_ref(), &Output::EveryStep) {
        Ok(sol) => {
            for (k, s) in sol.states.into_iter().enumerate().skip(1) {
                states[k] = s;
            }
        }
        Err(_) => {
            for s in states.iter_mut().skip(1) {
                s.fill(f64::NAN);
            }
        }
    }
}
