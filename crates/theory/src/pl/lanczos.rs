//! The smallest eigenvalue of a symmetric positive semi-definite operator `A` (`n×n`),
//! given only as `v ↦ Av`, by Lanczos with full reorthogonalisation, and an interval for
//! it from the Lanczos residuals — what [`crate::pl::tight`] uses for `λ_min(Θ)` when the
//! tangent Gram `Θ` is too large to form.
//!
//! ## Algorithm
//!
//! From a unit start vector `q_0` (standard normal entries from
//! `ChaCha8Rng::seed_from_u64(seed)`, normalised: seeded, so a run is reproducible),
//! `k` steps build an orthonormal basis `Q_k = [q_0 … q_{k−1}]` of the Krylov space
//! `span{q_0, Aq_0, …, A^{k−1}q_0}` and the tridiagonal `T_k = Q_kᵀ A Q_k`
//! (diagonal `α_j = q_jᵀAq_j`, off-diagonal `β_j`), with
//!
//! ```text
//! A Q_k = Q_k T_k + β_{k−1} q_k e_kᵀ.
//! ```
//!
//! Every new vector is orthogonalised against all previous ones twice (classical
//! Gram–Schmidt, "twice is enough"), so `Q_k` stays orthonormal to `O(n eps)` and no
//! spurious copies of converged Ritz values appear. Cost per step: one product `Av` and
//! `4 n k` flops; memory: `Q`, `n × (max_iter + 1)` doubles, allocated once in
//! [`Lanczos::new`]. The eigenvalues of `T_k` (faer's symmetric eigensolver on a `k×k`
//! matrix, every [`CHECK_EVERY`] steps) are the Ritz values `θ_1 ≤ θ_2 ≤ …`, with Ritz
//! vectors `y_i = Q_k s_i`.
//!
//! ## The interval
//!
//! For the Ritz pair `(θ_i, y_i)` the residual is `r_i = Ay_i − θ_i y_i = β_{k−1} s_{k−1,i} q_k`,
//! so `‖r_i‖ = |β_{k−1} s_{k−1,i}|` without another product. Then:
//!
//! * **upper end (a theorem):** `λ_min(A) ≤ θ_1`, since `θ_1` is the minimum of the
//!   Rayleigh quotient over the Krylov space (Courant–Fischer);
//! * **residual bound (a theorem):** some eigenvalue of `A` lies in
//!   `[θ_1 − ‖r_1‖, θ_1 + ‖r_1‖]` (Bauer–Fike for symmetric matrices; Parlett, *The
//!   Symmetric Eigenvalue Problem*, Thm 4.5.1);
//! * **gap bound (Kato–Temple):** if that eigenvalue is `λ_min` and the next one satisfies
//!   `λ_2 ≥ θ_2 − ‖r_2‖ > θ_1`, then `λ_min ≥ θ_1 − ‖r_1‖²/(θ_2 − ‖r_2‖ − θ_1)` (Parlett
//!   Thm 10.2.1), much sharper than `θ_1 − ‖r_1‖` once `‖r_1‖` is small against the gap.
//!
//! The reported lower end is the larger of the two bounds that apply, and never below 0
//! (`A ⪰ 0`). **What is and is not proven:** the upper end is a theorem. The lower end is a
//! theorem *for the eigenvalue the Ritz value `θ_1` approximates*; that this eigenvalue is
//! `λ_min` (no eigenvalue below it was missed) is not proven by any Krylov method. It holds
//! unless the start vector is (numerically) orthogonal to the bottom eigenvectors, an event
//! of probability zero for the random start, and a missed eigenvalue would have to sit
//! below every Ritz value while `‖r_1‖` is small. Both ends carry the caller's absolute
//! rounding slack (`±rounding`).
//!
//! The interval is **conclusive** when its width is at most `rel_tol · upper` beyond the
//! `2·rounding` both ends carry (or when the upper end is at rounding level: `λ_min = 0` to rounding); Lanczos stops there, at an
//! invariant subspace (`β ≈ 0`: the Ritz values are then exact eigenvalues), or after
//! `max_iter` steps with an inconclusive interval, which callers must report as such. An
//! inconclusive interval is reported as `[0, θ_1 + rounding]`, both ends theorems: before
//! convergence `θ_1 − ‖r_1‖` often bounds a higher eigenvalue than `λ_min` (the bottom of the
//! spectrum not reached yet — observed after 3 steps on a tangent Gram, where the residual
//! interval excluded `λ_min`), so it is not reported.

use faer::linalg::matmul::matmul;
use faer::{Accum, ColMut, Mat, MatRef, Par, Side};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::TheoryError;

/// Ritz values are computed every `CHECK_EVERY` steps (and at the last one): each check
/// costs an `O(k³)` eigendecomposition of `T_k`, small against `CHECK_EVERY` products `Av`.
pub const CHECK_EVERY: usize = 5;

/// Parameters of [`Lanczos`] (defaults in [`LanczosConfig::default`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LanczosConfig {
    /// Largest number of steps (products `Av`); capped at `n`. Default 400.
    pub max_iter: usize,
    /// The interval is conclusive (and Lanczos stops) when
    /// `upper − lower ≤ rel_tol·upper + 2·rounding`.
    /// Default `1e-2` (a looseness ratio known to 1 %).
    pub rel_tol: f64,
    /// Seed of the start vector. Default `0x01a2_c705` (any fixed value).
    pub seed: u64,
}

impl Default for LanczosConfig {
    fn default() -> Self {
        Self {
            max_iter: 400,
            rel_tol: 1e-2,
            seed: 0x01a2_c705,
        }
    }
}

/// Which bound gave the lower end of a [`BottomEigen`] interval (module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LowerBound {
    /// `θ_1 − ‖r_1‖` (residual bound).
    Residual,
    /// `θ_1 − ‖r_1‖²/(θ_2 − ‖r_2‖ − θ_1)` (Kato–Temple with the gap to `θ_2`).
    Gap,
    /// `0` (`A ⪰ 0`): the residual bounds were below it, or the interval is inconclusive.
    Zero,
}

/// The result of [`Lanczos::bottom`]: `λ_min(A) ∈ [lower, upper]` (module docs for which
/// end is a theorem; an inconclusive result has `lower = 0`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BottomEigen {
    /// The smallest Ritz value `θ_1`.
    pub ritz: f64,
    /// `‖Ay_1 − θ_1 y_1‖` for the unit Ritz vector `y_1`.
    pub residual: f64,
    /// Lower end: `max(bound, 0) − rounding`, clamped at 0, when conclusive; 0 otherwise
    /// (module docs).
    pub lower: f64,
    /// Upper end: `θ_1 + rounding`.
    pub upper: f64,
    /// Which bound gave `lower`.
    pub bound: LowerBound,
    /// Lanczos steps taken (products `Av`).
    pub iterations: usize,
    /// Whether the interval met the tolerance (module docs, "conclusive").
    pub conclusive: bool,
}

/// Workspace of the Lanczos iteration for `n×n` operators (module docs).
#[derive(Debug)]
pub struct Lanczos {
    n: usize,
    m: usize,
    cfg: LanczosConfig,
    /// `Q`: columns `q_0 … q_m`.
    q: Mat<f64>,
    /// `A q_j`, then the next direction.
    w: Mat<f64>,
    /// Gram–Schmidt coefficients `Q_kᵀ w`.
    coef: Mat<f64>,
    alpha: Vec<f64>,
    beta: Vec<f64>,
}

impl Lanczos {
    /// A workspace for operators of size `n`.
    ///
    /// # Errors
    /// [`TheoryError::InvalidParameter`] for `n = 0`, `max_iter = 0` or a `rel_tol` that is
    /// not positive and finite.
    pub fn new(n: usize, cfg: LanczosConfig) -> Result<Self, TheoryError> {
        if n == 0 {
            return Err(TheoryError::InvalidParameter {
                name: "n (Lanczos operator size)",
                value: 0.0,
                expected: "≥ 1",
            });
        }
        if cfg.max_iter == 0 {
            return Err(TheoryError::InvalidParameter {
                name: "max_iter",
                value: 0.0,
                expected: "≥ 1 Lanczos step",
            });
        }
        if !(cfg.rel_tol > 0.0 && cfg.rel_tol.is_finite()) {
            return Err(TheoryError::InvalidParameter {
                name: "rel_tol",
                value: cfg.rel_tol,
                expected: "a positive finite relative width",
            });
        }
        let m = cfg.max_iter.min(n);
        Ok(Self {
            n,
            m,
            cfg,
            q: Mat::zeros(n, m + 1),
            w: Mat::zeros(n, 1),
            coef: Mat::zeros(m + 1, 1),
            alpha: Vec::with_capacity(m),
            beta: Vec::with_capacity(m),
        })
    }

    /// The operator size `n`.
    pub fn dim(&self) -> usize {
        self.n
    }

    /// The configuration.
    pub fn config(&self) -> LanczosConfig {
        self.cfg
    }

    /// `λ_min(A)` as an interval (module docs). `apply(v, out)` writes `Av` into `out`
    /// (both of length `n`); `rounding` is the absolute rounding slack of `A`'s eigenvalues
    /// (e.g. `c·n·eps·tr A`) added to both ends.
    ///
    /// # Errors
    /// Whatever `apply` returns; [`TheoryError::NoConvergence`] for a non-finite product
    /// or a failed eigendecomposition of `T_k`.
    pub fn bottom(
        &mut self,
        mut apply: impl FnMut(&[f64], &mut [f64]) -> Result<(), TheoryError>,
        rounding: f64,
    ) -> Result<BottomEigen, TheoryError> {
        let (n, m) = (self.n, self.m);
        self.alpha.clear();
        self.beta.clear();
        let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.seed);
        let mut q0 = self.q.as_mut().col_mut(0);
        for i in 0..n {
            q0[i] = StandardNormal.sample(&mut rng);
        }
        normalise(q0);
        let mut last = None;
        for j in 0..m {
            apply(self.q.col_as_slice(j), self.w.col_as_slice_mut(0))?;
            let a = dot(self.q.col(j), self.w.col(0));
            if !a.is_finite() {
                return Err(TheoryError::NoConvergence {
                    what: "Lanczos (non-finite product Av)",
                });
            }
            self.alpha.push(a);
            // w ← (I − Q_{0..=j} Q_{0..=j}ᵀ) w, twice (covers the three-term recurrence)
            for _ in 0..2 {
                let qk = self.q.as_ref().subcols(0, j + 1);
                let mut c = self.coef.as_mut().subrows_mut(0, j + 1);
                matmul(
                    c.as_mut(),
                    Accum::Replace,
                    qk.transpose(),
                    self.w.as_ref(),
                    1.0,
                    Par::Seq,
                );
                matmul(self.w.as_mut(), Accum::Add, qk, c.as_ref(), -1.0, Par::Seq);
            }
            let b = dot(self.w.col(0), self.w.col(0)).sqrt();
            self.beta.push(b);
            // invariant subspace: β below the rounding of the product
            let tnorm = self.alpha.iter().fold(0.0f64, |s, &x| s.max(x.abs()));
            let breakdown = b <= 64.0 * n as f64 * f64::EPSILON * tnorm.max(f64::MIN_POSITIVE);
            let k = j + 1;
            if breakdown || k == m || k % CHECK_EVERY == 0 {
                let res =
                    self.ritz_interval(k, if breakdown { 0.0 } else { b }, breakdown, rounding)?;
                last = Some(res);
                if res.conclusive || breakdown {
                    return Ok(res);
                }
            }
            if k < m {
                let mut next = self.q.as_mut().col_mut(k);
                for i in 0..n {
                    next[i] = self.w[(i, 0)] / b;
                }
            }
        }
        Ok(last.expect("the last step always computes the Ritz values"))
    }

    /// Ritz values of `T_k` and the interval (module docs); `b = β_{k−1}`, `exact` at an
    /// invariant subspace.
    fn ritz_interval(
        &self,
        k: usize,
        b: f64,
        exact: bool,
        rounding: f64,
    ) -> Result<BottomEigen, TheoryError> {
        let t = Mat::from_fn(k, k, |i, j| {
            if i == j {
                self.alpha[i]
            } else if i == j + 1 || j == i + 1 {
                self.beta[i.min(j)]
            } else {
                0.0
            }
        });
        let e = t
            .self_adjoint_eigen(Side::Lower)
            .map_err(|_| TheoryError::NoConvergence {
                what: "Lanczos (eigenvalues of the tridiagonal T_k)",
            })?;
        let s = e.S().column_vector();
        let u = e.U();
        // faer sorts ascending; take the order explicitly anyway
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_unstable_by(|&x, &y| s[x].total_cmp(&s[y]));
        let (i1, theta1) = (order[0], s[order[0]]);
        let r1 = (b * u[(k - 1, i1)]).abs();
        let mut lower = theta1 - r1;
        let mut bound = LowerBound::Residual;
        if k >= 2 {
            let i2 = order[1];
            let (theta2, r2) = (s[i2], (b * u[(k - 1, i2)]).abs());
            let beta_gap = theta2 - r2;
            if beta_gap > theta1 {
                let kt = theta1 - r1 * r1 / (beta_gap - theta1);
                if kt > lower {
                    lower = kt;
                    bound = LowerBound::Gap;
                }
            }
        }
        if lower < 0.0 {
            lower = 0.0;
            bound = LowerBound::Zero;
        }
        let upper = theta1 + rounding;
        let mut lower = (lower - rounding).max(0.0);
        // the rounding widens both ends: the tolerance applies to the rest of the width
        let conclusive = exact
            || upper - lower <= self.cfg.rel_tol * upper + 2.0 * rounding
            || upper <= 2.0 * rounding;
        if !conclusive {
            // before convergence θ_1 − ‖r_1‖ may bound a higher eigenvalue (the bottom one
            // not reached yet): report only what is a theorem, [0, θ_1]
            lower = 0.0;
            bound = LowerBound::Zero;
        }
        Ok(BottomEigen {
            ritz: theta1,
            residual: r1,
            lower,
            upper,
            bound,
            iterations: k,
            conclusive,
        })
    }
}

fn dot(a: faer::ColRef<'_, f64>, b: faer::ColRef<'_, f64>) -> f64 {
    let mut s = 0.0;
    for i in 0..a.nrows() {
        s += a[i] * b[i];
    }
    s
}

fn normalise(mut v: ColMut<'_, f64>) {
    let mut s = 0.0;
    for i in 0..v.nrows() {
        s += v[i] * v[i];
    }
    let s = s.sqrt();
    for i in 0..v.nrows() {
        v[i] /= s;
    }
}

/// `λ_min` of a dense symmetric matrix by [`Lanczos`] (allocates; for tests and one-off
/// use): the operator is `v ↦ Av` by a GEMV, the rounding `4 n eps ‖A‖_F`.
///
/// # Errors
/// As [`Lanczos::new`] and [`Lanczos::bottom`].
pub fn bottom_of_dense(a: MatRef<'_, f64>, cfg: LanczosConfig) -> Result<BottomEigen, TheoryError> {
    let n = a.nrows();
    let mut lz = Lanczos::new(n, cfg)?;
    let rounding = 4.0 * n as f64 * f64::EPSILON * a.norm_l2();
    lz.bottom(
        |v, out| {
            let v = MatRef::from_column_major_slice(v, n, 1);
            let out = faer::MatMut::from_column_major_slice_mut(out, n, 1);
            matmul(out, Accum::Replace, a, v, 1.0, Par::Seq);
            Ok(())
        },
        rounding,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `diag(1, 2, …, n)` rotated by a Householder reflection: `λ_min = 1` exactly; the
    /// interval contains it, is conclusive, and its width meets the tolerance.
    #[test]
    fn diagonal_closed_form() {
        let n = 60;
        let v: Vec<f64> = (0..n).map(|i| ((i as f64) * 0.37).sin()).collect();
        let vn: f64 = v.iter().map(|x| x * x).sum();
        let h = Mat::from_fn(n, n, |i, j| {
            f64::from(u8::from(i == j)) - 2.0 * v[i] * v[j] / vn
        });
        let d = Mat::from_fn(n, n, |i, j| if i == j { (i + 1) as f64 } else { 0.0 });
        let a = &h * &d * &h;
        let r = bottom_of_dense(a.as_ref(), LanczosConfig::default()).unwrap();
        assert!(r.conclusive, "{r:?}");
        assert!(r.lower <= 1.0 && 1.0 <= r.upper, "{r:?}");
        assert!(r.upper - r.lower <= 1e-2 * r.upper, "{r:?}");
        // the plain diagonal matrix: the Krylov space of a generic start reaches everything
        let r = bottom_of_dense(d.as_ref(), LanczosConfig::default()).unwrap();
        assert!(r.lower <= 1.0 && 1.0 <= r.upper && r.conclusive, "{r:?}");
    }

    /// With too few steps the interval is wide and must say so (`conclusive = false`).
    #[test]
    fn too_few_steps_are_inconclusive() {
        let n = 200;
        // eigenvalues clustered at the bottom: 1e-3, 2e-3, … then up to 1
        let d = Mat::from_fn(n, n, |i, j| {
            if i == j {
                1e-3 * (1.0 + i as f64).powi(2)
            } else {
                0.0
            }
        });
        let cfg = LanczosConfig {
            max_iter: 5,
            ..Default::default()
        };
        let r = bottom_of_dense(d.as_ref(), cfg).unwrap();
        assert!(!r.conclusive, "{r:?}");
        assert_eq!(r.iterations, 5);
        // still a valid (wide) interval
        assert!(r.lower <= 1e-3 && 1e-3 <= r.upper, "{r:?}");
    }

    #[test]
    fn invalid_configs_are_typed_errors() {
        for cfg in [
            LanczosConfig {
                max_iter: 0,
                ..Default::default()
            },
            LanczosConfig {
                rel_tol: f64::NAN,
                ..Default::default()
            },
        ] {
            assert!(matches!(
                Lanczos::new(3, cfg),
                Err(TheoryError::InvalidParameter { .. })
            ));
        }
        assert!(Lanczos::new(0, LanczosConfig::default()).is_err());
    }
}
