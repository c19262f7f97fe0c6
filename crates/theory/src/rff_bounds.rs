//! How many random features the expressivity condition needs, measured (docs/theory.md §6).
//!
//! For fixed points `X` (`N×d`) and a stationary kernel `k`, a draw of `p` random
//! Fourier features *fails* when `λ_min(K_p) < λ_min(K)/2` (`K_p = ΦΦᵀ`, `K` the exact
//! Gram). Over `S` independent draws the number of failures is `Binomial(S, q_p)`; we
//! report the frequency `F/S` with an exact Clopper–Pearson (or Wilson) interval and
//! compare it with the `δ` a bound promises:
//!
//! * pointwise (matrix Bernstein): `p_pw(δ)` from
//!   [`plres_rff::bounds::features_needed_pointwise`] with `ε = λ_min(K)/2`;
//! * uniform over a set of diameter `D` (Rahimi–Recht): `p_unif(δ)` from
//!   [`plres_rff::bounds::features_needed_uniform`] with `ε = λ_min(K)/(2N)`, `D` the
//!   diameter of the points (the smallest compact that contains them).
//!
//! The *slack* of a bound is `p_bound / p_emp`, `p_emp` the smallest width of a grid from
//! which on the empirical failure frequency stays `≤ δ`: how many times more features
//! the bound asks for than the data need.

use faer::{Mat, MatRef, Par};
use plres_kernels::KernelSpec;
use plres_rff::bounds::{features_needed_pointwise, features_needed_uniform};
use plres_rff::{FeatureMap, FourierVariant, RandomFourierFeatures};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::TheoryError;
use crate::linalg::gram_in_place;
use crate::report::{CheckReport, Relation};
use crate::stats::{BinomialInterval, IntervalMethod, binomial_interval};
use plres_kernels::spectral::SymEigen;

/// Settings of a failure-frequency experiment.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailureConfig {
    /// Number of independent feature draws `S` (default 200).
    pub seeds: usize,
    /// Fourier variant (default cosine with phase, docs/theory.md's `√(2/p) cos(Ωx + b)`).
    pub variant: FourierVariant,
    /// Confidence level of the interval (default 0.95).
    pub confidence: f64,
    /// Interval method (default Clopper–Pearson, exact and conservative).
    pub method: IntervalMethod,
}

impl Default for FailureConfig {
    fn default() -> Self {
        Self {
            seeds: 200,
            variant: FourierVariant::CosineWithPhase,
            confidence: 0.95,
            method: IntervalMethod::ClopperPearson,
        }
    }
}

/// The exact Gram of the points and what the bounds need from it.
#[derive(Clone, Debug)]
pub struct ExactGram {
    /// `K = [k(x_i, x_j)]`.
    pub gram: Mat<f64>,
    /// `λ_min(K)`.
    pub lambda_min: f64,
    /// `‖K‖ = λ_max(K)`.
    pub norm: f64,
}

impl ExactGram {
    /// Builds `K` for `kernel` at the rows of `x` and its extreme eigenvalues.
    ///
    /// # Errors
    /// [`TheoryError::Model`] for an invalid kernel; [`TheoryError::NoConvergence`],
    /// [`TheoryError::Spectral`].
    pub fn new(kernel: &KernelSpec, x: MatRef<'_, f64>) -> Result<Self, TheoryError> {
        let k = kernel
            .build()
            .map_err(|e| TheoryError::Model(e.to_string()))?;
        let gram = k.gram(x);
        let mut eig = SymEigen::new(x.nrows(), Par::Seq);
        let v = eig.eigenvalues(gram.as_ref())?;
        let (lambda_min, norm) = (v[0], v[v.len() - 1]);
        Ok(Self {
            gram,
            lambda_min,
            norm,
        })
    }
}

/// The empirical failure frequency at one width.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailureEstimate {
    /// Width `p`.
    pub p: usize,
    /// `F/S` with its confidence interval.
    pub interval: BinomialInterval,
    /// Smallest `λ_min(K_p)` over the draws.
    pub min_lambda_p: f64,
    /// Mean `λ_min(K_p)` over the draws.
    pub mean_lambda_p: f64,
    /// The threshold `λ_min(K)/2`.
    pub threshold: f64,
}

/// Reusable buffers of the failure experiment at `N` points.
#[derive(Debug)]
struct Buffers {
    gram: Mat<f64>,
    eig: SymEigen,
}

fn check_points(x: MatRef<'_, f64>) -> Result<(), TheoryError> {
    if x.nrows() < 2 {
        return Err(TheoryError::TooFewPoints {
            what: "RFF failure experiment",
            needed: 2,
            got: x.nrows(),
        });
    }
    for j in 0..x.ncols() {
        for i in 0..x.nrows() {
            if !x[(i, j)].is_finite() {
                return Err(TheoryError::NonFinite {
                    what: "points",
                    index: i,
                    value: x[(i, j)],
                });
            }
        }
    }
    Ok(())
}

fn estimate_at(
    kernel: &KernelSpec,
    x: MatRef<'_, f64>,
    exact: &ExactGram,
    p: usize,
    cfg: &FailureConfig,
    buf: &mut Buffers,
    rng: &mut impl Rng,
) -> Result<FailureEstimate, TheoryError> {
    let threshold = exact.lambda_min / 2.0;
    let mut phi = Mat::<f64>::zeros(x.nrows(), p);
    let (mut failures, mut min_l, mut sum_l) = (0u64, f64::INFINITY, 0.0);
    for _ in 0..cfg.seeds {
        let map = RandomFourierFeatures::sample(kernel, x.ncols(), p, cfg.variant, rng)
            .map_err(|e| TheoryError::Model(e.to_string()))?;
        map.apply_in_place(x, phi.as_mut());
        gram_in_place(phi.as_ref(), buf.gram.as_mut(), Par::Seq);
        let l = buf.eig.lambda_min(buf.gram.as_ref())?;
        if l < threshold {
            failures += 1;
        }
        min_l = min_l.min(l);
        sum_l += l;
    }
    Ok(FailureEstimate {
        p,
        interval: binomial_interval(failures, cfg.seeds as u64, cfg.confidence, cfg.method)?,
        min_lambda_p: min_l,
        mean_lambda_p: sum_l / cfg.seeds as f64,
        threshold,
    })
}

/// The empirical frequency of `λ_min(K_p) < λ_min(K)/2` over `cfg.seeds` draws of `p`
/// random Fourier features of `kernel` at the rows of `x`, with its confidence interval.
///
/// # Errors
/// [`TheoryError::InvalidParameter`] for `seeds = 0` or `p = 0`;
/// [`TheoryError::TooFewPoints`], [`TheoryError::NonFinite`] for bad points;
/// [`TheoryError::Model`] when the features cannot be sampled (non-stationary kernel,
/// odd `p` with paired features).
pub fn failure_frequency(
    kernel: &KernelSpec,
    x: MatRef<'_, f64>,
    p: usize,
    cfg: &FailureConfig,
    rng: &mut impl Rng,
) -> Result<FailureEstimate, TheoryError> {
    check_points(x)?;
    check_cfg(cfg, p)?;
    let exact = ExactGram::new(kernel, x)?;
    let mut buf = Buffers {
        gram: Mat::zeros(x.nrows(), x.nrows()),
        eig: SymEigen::new(x.nrows(), Par::Seq),
    };
    estimate_at(kernel, x, &exact, p, cfg, &mut buf, rng)
}

fn check_cfg(cfg: &FailureConfig, p: usize) -> Result<(), TheoryError> {
    if cfg.seeds == 0 {
        return Err(TheoryError::InvalidParameter {
            name: "seeds",
            value: 0.0,
            expected: "at least one draw",
        });
    }
    if p == 0 {
        return Err(TheoryError::InvalidParameter {
            name: "p",
            value: 0.0,
            expected: "at least one feature",
        });
    }
    Ok(())
}

/// Check: at a width a bound prescribes for failure probability `δ`, the failure
/// probability is `≤ δ`; holds unless the whole confidence interval lies above `δ`
/// (`measured` = frequency, `tolerance` = frequency − lower end).
pub fn failure_report(est: &FailureEstimate, delta: f64, bound_name: &str) -> CheckReport {
    let ci = est.interval;
    CheckReport::new(
        format!(
            "P(λ_min(K_p) < λ_min(K)/2) ≤ δ at p = {} ({bound_name}): {}/{} failures, {:.0}% CI [{:.4}, {:.4}]",
            est.p,
            ci.successes,
            ci.trials,
            100.0 * ci.confidence,
            ci.lower,
            ci.upper
        ),
        "docs/theory.md §6",
        ci.estimate,
        delta,
        ci.estimate - ci.lower,
        Relation::AtMost,
    )
}

/// The slack of the two bounds of docs/theory.md §6 against the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlackReport {
    /// Target failure probability `δ`.
    pub delta: f64,
    /// `λ_min(K)` and `‖K‖` of the exact Gram.
    pub lambda_min: f64,
    /// `‖K‖`.
    pub norm_k: f64,
    /// The empirical estimates on the grid, in grid order.
    pub grid: Vec<FailureEstimate>,
    /// Smallest grid width from which on every frequency is `≤ δ` (`None` if even the
    /// largest fails).
    pub empirical_p: Option<usize>,
    /// The pointwise (matrix Bernstein) width `p_pw(δ)`.
    pub pointwise_p: usize,
    /// The uniform (Rahimi–Recht) width `p_unif(δ)` over the diameter of the points
    /// (`None` when `E‖ω‖² = ∞`, e.g. Laplace, or beyond `2⁵³`).
    pub uniform_p: Option<usize>,
    /// Diameter `D` of the points.
    pub diameter: f64,
    /// `p_pw / p_emp` (NaN without `p_emp`).
    pub pointwise_slack: f64,
    /// `p_unif / p_emp` (NaN without one of them).
    pub uniform_slack: f64,
}

impl SlackReport {
    /// Checks: each bound asks for at least as many features as the data need
    /// (`slack ≥ 1`; a bound below the empirical width would be wrong). Without a finite
    /// uniform width the uniform check is vacuous.
    pub fn reports(&self) -> Vec<CheckReport> {
        let mut out = vec![CheckReport::new(
            format!(
                "pointwise bound is conservative: p_pw = {} vs empirical p = {:?} (slack {:.1})",
                self.pointwise_p, self.empirical_p, self.pointwise_slack
            ),
            "docs/theory.md §6 pointwise",
            self.pointwise_slack,
            1.0,
            0.0,
            Relation::AtLeast,
        )];
        if let Some(pu) = self.uniform_p {
            out.push(CheckReport::new(
                format!(
                    "uniform bound is conservative: p_unif = {pu} vs empirical p = {:?} (slack {:.1})",
                    self.empirical_p, self.uniform_slack
                ),
                "docs/theory.md §6 uniform",
                self.uniform_slack,
                1.0,
                0.0,
                Relation::AtLeast,
            ));
        } else {
            out.push(CheckReport::vacuous(
                format!(
                    "uniform bound is conservative: p_unif vs empirical p = {:?}",
                    self.empirical_p
                ),
                "docs/theory.md §6 uniform",
                self.uniform_slack,
                f64::INFINITY,
                Relation::AtLeast,
                "the uniform width p_unif is infinite (E‖ω‖² = ∞, e.g. Laplace, or p_unif > 2⁵³): \
                 the bound prescribes no finite width",
            ));
        }
        out
    }
}

/// The maximum pairwise distance of the rows of `x`.
pub fn diameter(x: MatRef<'_, f64>) -> f64 {
    let mut best = 0.0f64;
    for i in 0..x.nrows() {
        for j in 0..i {
            let mut s = 0.0;
            for c in 0..x.ncols() {
                let t = x[(i, c)] - x[(j, c)];
                s += t * t;
            }
            best = best.max(s);
        }
    }
    best.sqrt()
}

/// Measures the failure frequency on a grid of widths (sorted ascending internally) and
/// compares with both bounds at `δ` (module docs).
///
/// # Errors
/// As [`failure_frequency`]; [`TheoryError::InvalidParameter`] for `δ ∉ (0,1)`, an empty
/// grid, or a singular exact Gram (`λ_min(K) ≤ 0`: no width can help);
/// [`TheoryError::Model`] when the pointwise bound cannot be evaluated.
pub fn bound_slack(
    kernel: &KernelSpec,
    x: MatRef<'_, f64>,
    grid: &[usize],
    delta: f64,
    cfg: &FailureConfig,
    rng: &mut impl Rng,
) -> Result<SlackReport, TheoryError> {
    check_points(x)?;
    if !(delta > 0.0 && delta < 1.0) {
        return Err(TheoryError::InvalidParameter {
            name: "delta",
            value: delta,
            expected: "a probability in (0, 1)",
        });
    }
    if grid.is_empty() {
        return Err(TheoryError::TooFewPoints {
            what: "width grid",
            needed: 1,
            got: 0,
        });
    }
    let exact = ExactGram::new(kernel, x)?;
    if exact.lambda_min.is_nan() || exact.lambda_min <= 0.0 {
        return Err(TheoryError::InvalidParameter {
            name: "lambda_min(K)",
            value: exact.lambda_min,
            expected: "a positive definite exact Gram (distinct points, universal kernel)",
        });
    }
    let mut widths = grid.to_vec();
    widths.sort_unstable();
    widths.dedup();
    let mut buf = Buffers {
        gram: Mat::zeros(x.nrows(), x.nrows()),
        eig: SymEigen::new(x.nrows(), Par::Seq),
    };
    let mut ests = Vec::with_capacity(widths.len());
    for &p in &widths {
        check_cfg(cfg, p)?;
        ests.push(estimate_at(kernel, x, &exact, p, cfg, &mut buf, rng)?);
    }
    // smallest grid width from which on every frequency is ≤ δ
    let mut empirical_p = None;
    for e in ests.iter().rev() {
        if e.interval.estimate <= delta {
            empirical_p = Some(e.p);
        } else {
            break;
        }
    }
    let n = x.nrows();
    let pointwise_p = features_needed_pointwise(n, exact.lambda_min, exact.norm, delta, 0.5)
        .map_err(|e| TheoryError::Model(e.to_string()))?;
    let diam = diameter(x);
    let uniform_p = kernel.spectral_measure().and_then(|m| {
        let s2 = m.second_moment(x.ncols());
        features_needed_uniform(x.ncols(), diam, s2, n, exact.lambda_min, delta).ok()
    });
    let pe = empirical_p.map_or(f64::NAN, |p| p as f64);
    Ok(SlackReport {
        delta,
        lambda_min: exact.lambda_min,
        norm_k: exact.norm,
        grid: ests,
        empirical_p,
        pointwise_p,
        uniform_p,
        diameter: diam,
        pointwise_slack: pointwise_p as f64 / pe,
        uniform_slack: uniform_p.map_or(f64::NAN, |p| p as f64 / pe),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// `n` points on a line with spacing `gap` (separation δ₀ = gap), in R².
    fn line(n: usize, gap: f64) -> Mat<f64> {
        Mat::from_fn(n, 2, |i, j| {
            if j == 0 {
                i as f64 * gap
            } else {
                0.3 * (i % 2) as f64
            }
        })
    }

    #[test]
    fn bound_width_has_small_failure_and_narrow_width_fails() {
        let kernel = KernelSpec::Gaussian { sigma: 1.0 };
        let x = line(8, 2.0);
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let exact = ExactGram::new(&kernel, x.as_ref()).unwrap();
        let delta = 0.1;
        let p = features_needed_pointwise(8, exact.lambda_min, exact.norm, delta, 0.5).unwrap();
        let cfg = FailureConfig {
            seeds: 40,
            ..Default::default()
        };
        let est = failure_frequency(&kernel, x.as_ref(), p, &cfg, &mut rng).unwrap();
        assert!(failure_report(&est, delta, "pointwise").holds(), "{est:?}");
        // p < N: K_p has rank ≤ p < N, so λ_min(K_p) = 0 (up to rounding) at every draw
        let est = failure_frequency(&kernel, x.as_ref(), 4, &cfg, &mut rng).unwrap();
        assert_eq!(est.interval.successes, 40);
        assert!(est.min_lambda_p.abs() < 1e-12);
        let rep = failure_report(&est, delta, "p < N");
        assert!(!rep.holds(), "{rep:?}");
    }

    #[test]
    fn slack_of_both_bounds_is_at_least_one() {
        let kernel = KernelSpec::Gaussian { sigma: 1.0 };
        let x = line(6, 2.5);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let cfg = FailureConfig {
            seeds: 60,
            ..Default::default()
        };
        let rep =
            bound_slack(&kernel, x.as_ref(), &[512, 8, 32, 128], 0.1, &cfg, &mut rng).unwrap();
        assert_eq!(
            rep.grid.iter().map(|e| e.p).collect::<Vec<_>>(),
            vec![8, 32, 128, 512]
        );
        let pe = rep
            .empirical_p
            .expect("512 features suffice for 6 separated points");
        assert!(pe <= 512);
        assert!(
            rep.uniform_p.unwrap() > rep.pointwise_p,
            "uniform (ε = λ/2N) is the larger"
        );
        for r in rep.reports() {
            assert!(r.holds(), "{r:?}");
        }
        assert!((rep.diameter - (12.5f64 * 12.5 + 0.09).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn errors() {
        let kernel = KernelSpec::Gaussian { sigma: 1.0 };
        let x = line(3, 1.0);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let cfg = FailureConfig::default();
        assert!(bound_slack(&kernel, x.as_ref(), &[8], 1.5, &cfg, &mut rng).is_err());
        assert!(bound_slack(&kernel, x.as_ref(), &[], 0.1, &cfg, &mut rng).is_err());
        let c0 = FailureConfig { seeds: 0, ..cfg };
        assert!(failure_frequency(&kernel, x.as_ref(), 8, &c0, &mut rng).is_err());
        assert!(failure_frequency(&KernelSpec::ArcCosine1, x.as_ref(), 8, &cfg, &mut rng).is_err());
        assert!(failure_frequency(&kernel, line(1, 1.0).as_ref(), 8, &cfg, &mut rng).is_err());
    }
}
