//! Adaptive step-size control with embedded pairs (Dormand–Prince 5(4), Bogacki–Shampine 3(2),
//! or any tableau with [`ButcherTableau::with_embedded`]).
//!
//! Step from `(t, x)` with step `h`: the propagated solution `x'` (local extrapolation: the
//! higher-order weights `b`) and the error estimate `E = h Σ (b_i − b̂_i) K_i`, measured by
//! `err = ‖E / (atol + rtol·max(|x|, |x'|))‖_rms` (Hairer–Nørsett–Wanner I §II.4 (4.11)). The
//! step is accepted iff `err ≤ 1`. The next step follows the PI controller of Gustafsson
//! (1991) in the form of Hairer's `dopri5` (HNW I §II.4, IV.2):
//!
//! ```text
//! fac = clamp( err^α / err_prev^β / safety, 1/fac_max, 1/fac_min ),   h_new = h / fac,
//! α = 1/(q+1) − 0.75 β,   q = order of the embedded method,
//! ```
//!
//! after a rejection the step may not grow, and on rejection `h_new = h / min(1/fac_min,
//! err^α / safety)`. FSAL pairs reuse their last stage as the next first stage. A non-finite
//! error estimate counts as a rejection with the strongest reduction, so a blow-up ends in
//! [`OdeError::StepSizeTooSmall`] or [`OdeError::TooManySteps`], never in a panic; both carry
//! the partial solution.
//!
//! Dense output at requested times uses the tableau's continuous extension (DP5(4): the
//! 4th-order `dopri5` interpolant; BS3(2): cubic Hermite through its FSAL stage); a tableau
//! without one gets the cubic Hermite interpolant with an extra end-point evaluation.

use faer::prelude::{Reborrow, ReborrowMut};
use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

use crate::error::OdeError;
use crate::field::VectorField;
use crate::fixed::hermite_into;
use crate::linalg::{Base, Terms, error_norm, lincomb, scaled_rms};
use crate::solution::{Output, Solution, Stats};
use crate::stepper::{StageSet, combine_rows, eval_blocked, stages_blocked};
use crate::tableau::{ButcherTableau, MAX_STAGES};

/// Settings of the adaptive solvers. Defaults in brackets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdaptiveConfig {
    /// Relative tolerance \[1e-6\].
    pub rtol: f64,
    /// Absolute tolerance \[1e-9\].
    pub atol: f64,
    /// First step size; `None` chooses it as Hairer's `hinit` (HNW I §II.4) \[None\].
    pub h_init: Option<f64>,
    /// Smallest step size allowed; below it the solve fails with
    /// [`OdeError::StepSizeTooSmall`]. A floor of `16 ε |t|` always applies \[0\].
    pub h_min: f64,
    /// Largest step size \[∞, i.e. the interval length\].
    pub h_max: f64,
    /// Most step attempts (accepted + rejected) \[100 000\].
    pub max_steps: usize,
    /// Safety factor \[0.9\].
    pub safety: f64,
    /// Smallest step-size ratio `h_new / h` \[0.2\].
    pub fac_min: f64,
    /// Largest step-size ratio `h_new / h` \[10\].
    pub fac_max: f64,
    /// PI (Lund) stabilisation exponent β \[0.04, `dopri5`'s value\]; 0 gives the classical
    /// I controller.
    pub beta: f64,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        AdaptiveConfig {
            rtol: 1e-6,
            atol: 1e-9,
            h_init: None,
            h_min: 0.0,
            h_max: f64::INFINITY,
            max_steps: 100_000,
            safety: 0.9,
            fac_min: 0.2,
            fac_max: 10.0,
            beta: 0.04,
        }
    }
}

fn invalid(name: &'static str, value: f64, reason: &'static str) -> OdeError {
    OdeError::InvalidConfig {
        name,
        value,
        reason,
    }
}

impl AdaptiveConfig {
    /// Checks every setting once.
    ///
    /// # Errors
    /// [`OdeError::InvalidConfig`] naming the first offending setting.
    pub fn validate(&self) -> Result<(), OdeError> {
        let nonneg = |name, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(invalid(name, v, "must be finite and ≥ 0"))
            }
        };
        nonneg("rtol", self.rtol)?;
        nonneg("atol", self.atol)?;
        if self.rtol == 0.0 && self.atol == 0.0 {
            return Err(invalid("atol", 0.0, "rtol and atol cannot both be 0"));
        }
        nonneg("h_min", self.h_min)?;
        if self.h_max.is_nan() || self.h_max <= 0.0 || self.h_max < self.h_min {
            return Err(invalid("h_max", self.h_max, "must be > 0 and ≥ h_min"));
        }
        if let Some(h) = self.h_init
            && (!h.is_finite() || h <= 0.0)
        {
            return Err(invalid("h_init", h, "must be finite and > 0"));
        }
        if self.max_steps == 0 {
            return Err(invalid("max_steps", 0.0, "must be ≥ 1"));
        }
        if !(self.safety > 0.0 && self.safety <= 1.0) {
            return Err(invalid("safety", self.safety, "must be in (0, 1]"));
        }
        if !(self.fac_min > 0.0 && self.fac_min <= 1.0) {
            return Err(invalid("fac_min", self.fac_min, "must be in (0, 1]"));
        }
        if !(self.fac_max >= 1.0 && self.fac_max.is_finite()) {
            return Err(invalid("fac_max", self.fac_max, "must be finite and ≥ 1"));
        }
        if !(0.0..=0.2).contains(&self.beta) {
            return Err(invalid("beta", self.beta, "must be in [0, 0.2]"));
        }
        Ok(())
    }
}

/// An adaptive solver: an embedded tableau with a checked configuration.
///
/// ```
/// use faer::Mat;
/// use plres_ode::{AdaptiveConfig, AdaptiveSolver, ButcherTableau, Output};
/// use plres_ode::problems::{ExactSolution, HarmonicOscillator};
/// let field = HarmonicOscillator::new(1.0);
/// let x0 = Mat::from_fn(1, 2, |_, j| if j == 0 { 1.0 } else { 0.0 });
/// let config = AdaptiveConfig { rtol: 1e-8, atol: 1e-8, ..AdaptiveConfig::default() };
/// let mut solver = AdaptiveSolver::new(ButcherTableau::dormand_prince54(), config).unwrap();
/// let sol = solver.solve(&field, 0.0, 10.0, x0.as_ref(), &Output::Final).unwrap();
/// let exact = field.exact(0.0, x0.as_ref(), 10.0);
/// assert!((&sol.final_state - &exact).norm_l2() < 1e-6);
/// assert!(sol.stats.steps_accepted > 10);
/// ```
#[derive(Debug, Clone)]
pub struct AdaptiveSolver {
    tableau: ButcherTableau,
    config: AdaptiveConfig,
}

impl AdaptiveSolver {
    /// Checks that `tableau` has an embedded pair and that `config` is valid.
    ///
    /// # Errors
    /// [`OdeError::NotAdaptive`], [`OdeError::InvalidConfig`].
    pub fn new(tableau: ButcherTableau, config: AdaptiveConfig) -> Result<Self, OdeError> {
        if tableau.embedded().is_none() {
            return Err(OdeError::NotAdaptive {
                name: tableau.name().to_string(),
            });
        }
        config.validate()?;
        Ok(AdaptiveSolver { tableau, config })
    }

    /// The tableau.
    pub fn tableau(&self) -> &ButcherTableau {
        &self.tableau
    }
    /// The configuration.
    pub fn config(&self) -> &AdaptiveConfig {
        &self.config
    }

    /// Integrates from `x0` at `t0` to `t1` (either direction).
    ///
    /// # Errors
    /// [`OdeError::InvalidInterval`], invalid output times, [`OdeError::TooManySteps`],
    /// [`OdeError::StepSizeTooSmall`], [`OdeError::NonFinite`] (step 0) for a NaN or
    /// infinite `x0` (the last three carry the partial solution).
    pub fn solve<F: VectorField + ?Sized>(
        &self,
        field: &F,
        t0: f64,
        t1: f64,
        x0: MatRef<'_, f64>,
        output: &Output,
    ) -> Result<Solution, OdeError> {
        if !t0.is_finite() || !t1.is_finite() || t0 == t1 {
            return Err(OdeError::InvalidInterval { t0, t1 });
        }
        output.validate(t0, t1)?;
        let tab = &self.tableau;
        let cfg = &self.config;
        let emb = tab.embedded().expect("checked in new");
        let s = tab.stages();
        let (nr, nc) = (x0.nrows(), x0.ncols());
        let dir = (t1 - t0).signum();
        let requested: &[f64] = match output {
            Output::AtTimes(t) => t,
            _ => &[],
        };

        let mut k: Vec<Mat<f64>> = (0..s).map(|_| Mat::zeros(nr, nc)).collect();
        let mut ys = vec![Mat::zeros(nr, nc)];
        let mut x = x0.to_owned();
        let mut x_new = Mat::zeros(nr, nc);
        let mut f1 = Mat::zeros(nr, nc);
        let mut stats = Stats::default();
        let mut times = Vec::new();
        let mut states = Vec::new();
        let mut p = 0;
        match output {
            Output::EveryStep => {
                times.push(t0);
                states.push(x.clone());
            }
            Output::AtTimes(_) => {
                while p < requested.len() && requested[p] == t0 {
                    times.push(t0);
                    states.push(x.clone());
                    p += 1;
                }
            }
            Output::Final => {}
        }

        let mut t = t0;
        // A non-finite start would make every error estimate NaN and the step control
        // shrink `h` to 0: report the state instead.
        if x.col_iter().any(|c| c.iter().any(|v| !v.is_finite())) {
            return Err(OdeError::NonFinite {
                step: 0,
                t_reached: t0,
                partial: Box::new(Solution {
                    final_state: x,
                    t_final: t0,
                    times,
                    states,
                    stats,
                }),
            });
        }
        eval_blocked(tab, field, t, x.as_ref(), k[0].as_mut());
        stats.field_evals += 1;
        let h_max = cfg.h_max.min((t1 - t0).abs());
        let q = emb.order.min(tab.order());
        let alpha = 1.0 / (q as f64 + 1.0) - 0.75 * cfg.beta;
        let mut h = match cfg.h_init {
            Some(h) => h.min(h_max),
            None => {
                stats.field_evals += usize::from(s > 1);
                let (k0, rest) = k.split_at_mut(1);
                initial_step(
                    field,
                    t,
                    dir,
                    x.as_ref(),
                    k0[0].as_ref(),
                    x_new.as_mut(),
                    rest.first_mut().map(|m| m.as_mut()),
                    ys[0].as_mut(),
                    cfg,
                    tab.order(),
                    h_max,
                )
            }
        };
        let mut facold = 1e-4f64;
        let mut last_rejected = false;
        let mut attempts = 0usize;
        let mut err_terms_coef = [0.0f64; MAX_STAGES];
        for i in 0..s {
            err_terms_coef[i] = tab.b()[i] - emb.b_hat[i];
        }

        loop {
            let partial =
                |x: &Mat<f64>, times: &mut Vec<f64>, states: &mut Vec<Mat<f64>>, stats| {
                    Box::new(Solution {
                        final_state: x.clone(),
                        t_final: t,
                        times: std::mem::take(times),
                        states: std::mem::take(states),
                        stats,
                    })
                };
            if attempts >= cfg.max_steps {
                return Err(OdeError::TooManySteps {
                    max_steps: cfg.max_steps,
                    t_reached: t,
                    partial: partial(&x, &mut times, &mut states, stats),
                });
            }
            let h_floor = cfg.h_min.max(16.0 * f64::EPSILON * t.abs());
            if h < h_floor || h == 0.0 {
                return Err(OdeError::StepSizeTooSmall {
                    h,
                    h_min: h_floor,
                    t_reached: t,
                    partial: partial(&x, &mut times, &mut states, stats),
                });
            }
            let mut hs = dir * h;
            let mut last = false;
            if dir * (t + 1.01 * hs - t1) >= 0.0 {
                hs = t1 - t;
                last = true;
            }
            attempts += 1;
            stats.field_evals += stages_blocked(
                tab,
                field,
                t,
                hs,
                x.as_ref(),
                &mut k,
                &mut ys,
                true,
                StageSet::All,
            );
            if tab.is_fsal() {
                // The last stage input is x + h Σ b_j K_j: it is the new state.
                std::mem::swap(&mut ys[0], &mut x_new);
            } else {
                combine_rows(tab, hs, &k, x_new.as_mut(), Some(x.as_ref()), (0, nr));
            }
            let mut terms = Terms::new();
            for i in 0..s {
                terms.push(hs * err_terms_coef[i], k[i].as_ref());
            }
            let err = error_norm(x.as_ref(), x_new.as_ref(), &terms, cfg.rtol, cfg.atol);

            if err.is_finite() && err <= 1.0 {
                let fac11 = err.powf(alpha);
                let fac = (fac11 / facold.powf(cfg.beta) / cfg.safety)
                    .clamp(1.0 / cfg.fac_max, 1.0 / cfg.fac_min);
                let mut h_new = hs.abs() / fac;
                facold = err.max(1e-4);
                stats.steps_accepted += 1;
                let t_new = if last { t1 } else { t + hs };

                // Dense output for requested times in (t, t_new].
                let mut f1_done = false;
                while p < requested.len() && dir * (requested[p] - t_new) <= 0.0 {
                    let tau = requested[p];
                    if tau == t_new {
                        states.push(x_new.clone());
                    } else {
                        let theta = (tau - t) / hs;
                        let mut out = Mat::zeros(nr, nc);
                        let mut w = [0.0f64; MAX_STAGES];
                        if tab.dense_weights(theta, &mut w) {
                            let mut terms = Terms::new();
                            for i in 0..s {
                                terms.push(hs * w[i], k[i].as_ref());
                            }
                            lincomb(out.as_mut(), Base::Mat(x.as_ref()), &terms);
                        } else {
                            let fend = if tab.is_fsal() {
                                k[s - 1].as_ref()
                            } else {
                                if !f1_done {
                                    eval_blocked(tab, field, t_new, x_new.as_ref(), f1.as_mut());
                                    stats.field_evals += 1;
                                    f1_done = true;
                                }
                                f1.as_ref()
                            };
                            hermite_into(
                                out.as_mut(),
                                x.as_ref(),
                                k[0].as_ref(),
                                x_new.as_ref(),
                                fend,
                                hs,
                                theta,
                            );
                        }
                        states.push(out);
                    }
                    times.push(tau);
                    p += 1;
                }

                t = t_new;
                std::mem::swap(&mut x, &mut x_new);
                if matches!(output, Output::EveryStep) {
                    times.push(t);
                    states.push(x.clone());
                }
                if last {
                    break;
                }
                if tab.is_fsal() {
                    k.swap(0, s - 1);
                } else if f1_done {
                    std::mem::swap(&mut k[0], &mut f1);
                } else {
                    eval_blocked(tab, field, t, x.as_ref(), k[0].as_mut());
                    stats.field_evals += 1;
                }
                if last_rejected {
                    h_new = h_new.min(hs.abs());
                }
                last_rejected = false;
                h = h_new.min(h_max);
            } else {
                let fac11 = if err.is_finite() {
                    err.powf(alpha)
                } else {
                    f64::INFINITY
                };
                h = hs.abs() / (1.0 / cfg.fac_min).min(fac11 / cfg.safety);
                stats.steps_rejected += 1;
                last_rejected = true;
            }
        }
        Ok(Solution {
            final_state: x,
            t_final: t1,
            times,
            states,
            stats,
        })
    }
}

/// Hairer's starting step (`hinit` of `dopri5`, HNW I §II.4): a guess from
/// `‖x0‖/‖f0‖`, refined by an estimate of the second derivative from one explicit Euler
/// step; uses one field evaluation.
fn initial_step<F: VectorField + ?Sized>(
    field: &F,
    t: f64,
    dir: f64,
    x0: MatRef<'_, f64>,
    f0: MatRef<'_, f64>,
    mut y1: faer::MatMut<'_, f64>,
    f1: Option<faer::MatMut<'_, f64>>,
    mut diff: faer::MatMut<'_, f64>,
    cfg: &AdaptiveConfig,
    order: u32,
    h_max: f64,
) -> f64 {
    let dnf = scaled_rms(f0, x0, cfg.rtol, cfg.atol);
    let dny = scaled_rms(x0, x0, cfg.rtol, cfg.atol);
    let mut h = if dnf <= 1e-5 || dny <= 1e-5 {
        1e-6
    } else {
        0.01 * dny / dnf
    };
    h = h.min(h_max);
    let Some(mut f1) = f1 else { return h };
    let mut terms = Terms::new();
    terms.push(dir * h, f0);
    lincomb(y1.rb_mut(), Base::Mat(x0), &terms);
    crate::field::eval(field, t + dir * h, y1.rb(), f1.rb_mut());
    let mut terms = Terms::new();
    terms.push(-1.0, f0);
    lincomb(diff.rb_mut(), Base::Mat(f1.rb()), &terms);
    let der2 = scaled_rms(diff.rb(), x0, cfg.rtol, cfg.atol) / h;
    let der12 = der2.abs().max(dnf);
    let h1 = if der12 <= 1e-15 {
        1e-6f64.max(h * 1e-3)
    } else {
        (0.01 / der12).powf(1.0 / order as f64)
    };
    (100.0 * h).min(h1).min(h_max)
}

/// Convenience: [`AdaptiveSolver::new`] then [`AdaptiveSolver::solve`].
///
/// # Errors
/// As those two.
pub fn solve_adaptive<F: VectorField + ?Sized>(
    field: &F,
    tableau: &ButcherTableau,
    t0: f64,
    t1: f64,
    x0: MatRef<'_, f64>,
    config: &AdaptiveConfig,
    output: &Output,
) -> Result<Solution, OdeError> {
    AdaptiveSolver::new(tableau.clone(), *config)?.solve(field, t0, t1, x0, output)
}
