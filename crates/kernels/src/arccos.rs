//! The degree-1 arc-cosine kernel of augmented inputs (docs/theory.md §3.2): the infinite-width
//! limit of random ReLU features `φ(x) = √(2/p) relu(Wx + c)`, `W, c ~ N(0, 1)`.
//!
//! With `x̃ = (x, 1)`, `ỹ = (y, 1)`, `a = ‖x̃‖`, `b = ‖ỹ‖` and `α ∈ [0, π]` the angle between
//! `x̃` and `ỹ`:
//!
//! `k(x, y) = (1/π) a b (sin α + (π − α) cos α) = 2 E_{w~N(0,I_{d+1})}[relu(w·x̃) relu(w·ỹ)]`
//!
//! (Cho & Saul 2009, `k_1 = 2·E[…]`; `(2/p) Σ_j relu(w_j·x̃) relu(w_j·ỹ)` → `k`).
//! At `x = y`, `α = 0` and `k = ‖x̃‖² = ‖x‖² + 1`.
//!
//! Gradient. Writing `k = (1/π)(√(a²b² − (x̃·ỹ)²) + (π − α) x̃·ỹ)` and differentiating, the
//! `1/sin α` terms cancel:
//!
//! `∇_x̃ k = (1/π) ((π − α) ỹ + (b/a) sin α · x̃)`,
//!
//! and `∇_x k` is its first `d` components: `((π − α)/π) y + (b sin α/(π a)) x`. No division
//! by `sin α`, so it is smooth up to `α = 0`. The angle itself is computed with Kahan's
//! formula `α = 2 atan2(‖b x̃ − a ỹ‖, ‖b x̃ + a ỹ‖)`, accurate also for tiny angles where
//! `acos(cos α)` loses half the digits; Gram matrices use `acos` of the GEMM cosine
//! clamped into `[−1, 1]` (`k` is flat in `α` at `α = 0`, so the value is unaffected), and
//! [`Kernel::weighted_grad_in_place`] switches to Kahan's formula when `1 − cos α < 10⁻⁶`.

use std::f64::consts::PI;

use faer::linalg::matmul::matmul;
use faer::prelude::{Reborrow, ReborrowMut};
use faer::{Accum, MatMut, MatRef};
use serde::{Deserialize, Serialize};

use crate::kernel::{check_grad_x, check_pair, check_weighted_grad_shapes};
use crate::pairwise::{ColumnFn, cross_driver, par, row_sq_norms, sym_driver};
use crate::{Kernel, KernelSpec};

/// Below this `1 − cos α` the angle is recomputed with Kahan's formula.
const SMALL_ANGLE: f64 = 1e-6;

/// Degree-1 arc-cosine kernel of the augmented inputs `(x, 1)`, `(y, 1)`:
/// `k = (1/π)‖x̃‖‖ỹ‖(sin α + (π − α) cos α)`. Not stationary: no spectral measure.
///
/// ```
/// use plres_kernels::{ArcCosine1, Kernel};
/// // at x = y the kernel is ‖x̃‖² = ‖x‖² + 1
/// assert!((ArcCosine1.eval(&[1.0, 2.0], &[1.0, 2.0]) - 6.0).abs() < 1e-14);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "KernelSpec", into = "KernelSpec")]
pub struct ArcCosine1;

/// Kahan's angle between `x̃ = (x, 1)` and `ỹ = (y, 1)` given `a = ‖x̃‖`, `b = ‖ỹ‖`,
/// reading coordinate `l` through the accessors.
fn kahan_angle(
    d: usize,
    xl: impl Fn(usize) -> f64,
    yl: impl Fn(usize) -> f64,
    a: f64,
    b: f64,
) -> f64 {
    // augmented coordinate: x̃_d = ỹ_d = 1
    let mut minus = (b - a) * (b - a);
    let mut plus = (b + a) * (b + a);
    for l in 0..d {
        let (u, v) = (b * xl(l), a * yl(l));
        minus += (u - v) * (u - v);
        plus += (u + v) * (u + v);
    }
    2.0 * minus.sqrt().atan2(plus.sqrt())
}

/// `(1/π)(sin α + (π − α) cos α)` — the angular factor `J(α)/π`.
#[inline]
fn angular(alpha: f64) -> f64 {
    (alpha.sin() + (PI - alpha) * alpha.cos()) / PI
}

fn aug_norm(x: &[f64]) -> f64 {
    (x.iter().map(|v| v * v).sum::<f64>() + 1.0).sqrt()
}

impl Kernel for ArcCosine1 {
    fn name(&self) -> &'static str {
        "arc_cosine1"
    }

    fn eval(&self, x: &[f64], y: &[f64]) -> f64 {
        check_pair("eval", x, y);
        let (a, b) = (aug_norm(x), aug_norm(y));
        let alpha = kahan_angle(x.len(), |l| x[l], |l| y[l], a, b);
        a * b * angular(alpha)
    }

    fn grad_x(&self, x: &[f64], y: &[f64], out: &mut [f64]) {
        check_grad_x(x, y, out);
        let (a, b) = (aug_norm(x), aug_norm(y));
        let alpha = kahan_angle(x.len(), |l| x[l], |l| y[l], a, b);
        let cy = (PI - alpha) / PI;
        let cx = b * alpha.sin() / (PI * a);
        for ((o, xv), yv) in out.iter_mut().zip(x).zip(y) {
            *o = cy * yv + cx * xv;
        }
    }

    fn gram_in_place(&self, x: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        let an: Vec<f64> = row_sq_norms(x).iter().map(|n| (n + 1.0).sqrt()).collect();
        let f: &ColumnFn<'_> = &|j, i0, seg: &mut [f64]| {
            for (k, v) in seg.iter_mut().enumerate() {
                let ab = an[i0 + k] * an[j];
                let c = ((*v + 1.0) / ab).clamp(-1.0, 1.0);
                *v = ab * angular(c.acos());
            }
        };
        sym_driver("gram_in_place", x, out, f, |i| an[i] * an[i]);
    }

    fn cross_gram_in_place(&self, x: MatRef<'_, f64>, y: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        let an: Vec<f64> = row_sq_norms(x).iter().map(|n| (n + 1.0).sqrt()).collect();
        let bn: Vec<f64> = row_sq_norms(y).iter().map(|n| (n + 1.0).sqrt()).collect();
        let f: &ColumnFn<'_> = &|j, i0, seg: &mut [f64]| {
            for (k, v) in seg.iter_mut().enumerate() {
                let ab = an[i0 + k] * bn[j];
                let c = ((*v + 1.0) / ab).clamp(-1.0, 1.0);
                *v = ab * angular(c.acos());
            }
        };
        cross_driver("cross_gram_in_place", x, y, out, f);
    }

    fn spec(&self) -> Option<KernelSpec> {
        Some(KernelSpec::ArcCosine1)
    }

    /// `out_i (⊕)= Σ_j w_ij [((π − α_ij)/π) y_j + (b_j sin α_ij/(π a_i)) x_i]`: the angles
    /// go into `scratch` (GEMM + `acos`, Kahan for small angles), then one row-block
    /// pass turns them into `w_ij (π − α_ij)/π` while summing the `x_i` coefficients, and
    /// a GEMM adds `S Y`. Allocates `O(N + M)` for norms and row sums.
    fn weighted_grad_in_place(
        &self,
        x: MatRef<'_, f64>,
        y: MatRef<'_, f64>,
        w: MatRef<'_, f64>,
        mut scratch: MatMut<'_, f64>,
        mut out: MatMut<'_, f64>,
        accum: Accum,
    ) {
        let (n, m, d) = check_weighted_grad_shapes(x, y, w, scratch.rb(), out.rb());
        let an: Vec<f64> = row_sq_norms(x).iter().map(|v| (v + 1.0).sqrt()).collect();
        let bn: Vec<f64> = row_sq_norms(y).iter().map(|v| (v + 1.0).sqrt()).collect();
        let f: &ColumnFn<'_> = &|j, i0, seg: &mut [f64]| {
            for (k, v) in seg.iter_mut().enumerate() {
                let i = i0 + k;
                let (a, b) = (an[i], bn[j]);
                let c = (*v + 1.0) / (a * b);
                *v = if c > 1.0 - SMALL_ANGLE {
                    kahan_angle(d, |l| x[(i, l)], |l| y[(j, l)], a, b)
                } else {
                    c.max(-1.0).acos()
                };
            }
        };
        cross_driver("weighted_grad_in_place", x, y, scratch.rb_mut(), f);
        let mut r = vec![0.0; n];
        for j in 0..m {
            let b = bn[j];
            for i in 0..n {
                let alpha = scratch[(i, j)];
                let wij = w[(i, j)];
                r[i] += wij * b * alpha.sin();
                scratch[(i, j)] = wij * (PI - alpha) / PI;
            }
        }
        matmul(out.rb_mut(), accum, scratch.rb(), y, 1.0, par());
        for i in 0..n {
            let cx = r[i] / (PI * an[i]);
            for l in 0..d {
                out[(i, l)] += cx * x[(i, l)];
            }
        }
    }
}
