//! Small statistics the checks need: least-squares line fits with standard errors,
//! binomial confidence intervals (Clopper–Pearson, Wilson) and the sample median.
//!
//! Everything here is closed-form or a one-dimensional bisection; no allocation beyond
//! the returned values.

use serde::{Deserialize, Serialize};

use crate::error::TheoryError;

/// An ordinary least-squares fit `y ≈ intercept + slope·x` with the classical standard
/// errors (homoscedastic residuals, `n − 2` degrees of freedom):
///
/// `s² = Σ rᵢ² / (n − 2)`, `se(slope) = s / √Sxx`, `se(intercept) = s √(1/n + x̄²/Sxx)`,
/// `Sxx = Σ (xᵢ − x̄)²`. With exactly two points the line interpolates and both standard
/// errors are 0 (no residual degrees of freedom: the uncertainty is unknown, not zero —
/// [`LinearFit::dof`] says so).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearFit {
    /// Fitted intercept.
    pub intercept: f64,
    /// Fitted slope.
    pub slope: f64,
    /// Standard error of the intercept.
    pub intercept_se: f64,
    /// Standard error of the slope.
    pub slope_se: f64,
    /// Coefficient of determination `1 − SSR/SST` (1 when `SST = 0`).
    pub r_squared: f64,
    /// Number of points used.
    pub n: usize,
}

impl LinearFit {
    /// Residual degrees of freedom `n − 2`.
    pub fn dof(&self) -> usize {
        self.n.saturating_sub(2)
    }
}

/// Fits `y ≈ a + b x` by ordinary least squares (centred two-pass formulas, which avoid
/// the cancellation of the normal equations).
///
/// # Errors
/// [`TheoryError::LengthMismatch`] when `x` and `y` differ in length,
/// [`TheoryError::TooFewPoints`] with fewer than two points,
/// [`TheoryError::NonFinite`] for a non-finite value,
/// [`TheoryError::DegenerateAbscissae`] when all `x` are equal.
///
/// ```
/// let x = [0.0, 1.0, 2.0, 3.0];
/// let y = [1.0, 3.0, 5.0, 7.0];
/// let fit = plres_theory::stats::linear_fit(&x, &y).unwrap();
/// assert!((fit.slope - 2.0).abs() < 1e-14 && fit.slope_se < 1e-14);
/// ```
pub fn linear_fit(x: &[f64], y: &[f64]) -> Result<LinearFit, TheoryError> {
    if x.len() != y.len() {
        return Err(TheoryError::LengthMismatch {
            what: "x and y of a line fit",
            left: x.len(),
            right: y.len(),
        });
    }
    let n = x.len();
    if n < 2 {
        return Err(TheoryError::TooFewPoints {
            what: "line fit",
            needed: 2,
            got: n,
        });
    }
    for (i, (&xi, &yi)) in x.iter().zip(y).enumerate() {
        if !xi.is_finite() || !yi.is_finite() {
            return Err(TheoryError::NonFinite {
                what: "line-fit data",
                index: i,
                value: if xi.is_finite() { yi } else { xi },
            });
        }
    }
    let nf = n as f64;
    let xm = x.iter().sum::<f64>() / nf;
    let ym = y.iter().sum::<f64>() / nf;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for (&xi, &yi) in x.iter().zip(y) {
        let (dx, dy) = (xi - xm, yi - ym);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    if sxx <= 0.0 {
        return Err(TheoryError::DegenerateAbscissae { value: xm });
    }
    let slope = sxy / sxx;
    let intercept = ym - slope * xm;
    let ssr: f64 = x
        .iter()
        .zip(y)
        .map(|(&xi, &yi)| {
            let r = yi - intercept - slope * xi;
            r * r
        })
        .sum();
    let (slope_se, intercept_se) = if n > 2 {
        let s2 = ssr / (nf - 2.0);
        ((s2 / sxx).sqrt(), (s2 * (1.0 / nf + xm * xm / sxx)).sqrt())
    } else {
        (0.0, 0.0)
    };
    let r_squared = if syy > 0.0 { 1.0 - ssr / syy } else { 1.0 };
    Ok(LinearFit {
        intercept,
        slope,
        intercept_se,
        slope_se,
        r_squared,
        n,
    })
}

/// Fits `log y ≈ a + b log x` (natural logarithms): the slope `b` is the exponent of a
/// power law `y ∝ x^b`.
///
/// # Errors
/// As [`linear_fit`], plus [`TheoryError::NotPositive`] for `xᵢ ≤ 0` or `yᵢ ≤ 0`.
pub fn log_log_fit(x: &[f64], y: &[f64]) -> Result<LinearFit, TheoryError> {
    let lx = logs(x, "log-log abscissa")?;
    let ly = logs(y, "log-log ordinate")?;
    linear_fit(&lx, &ly)
}

pub(crate) fn logs(v: &[f64], what: &'static str) -> Result<Vec<f64>, TheoryError> {
    v.iter()
        .enumerate()
        .map(|(i, &t)| {
            if t > 0.0 && t.is_finite() {
                Ok(t.ln())
            } else {
                Err(TheoryError::NotPositive {
                    what,
                    index: i,
                    value: t,
                })
            }
        })
        .collect()
}

/// A two-sided binomial confidence interval for a success probability.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BinomialInterval {
    /// Number of successes `k`.
    pub successes: u64,
    /// Number of trials `n`.
    pub trials: u64,
    /// Point estimate `k / n`.
    pub estimate: f64,
    /// Lower end of the interval.
    pub lower: f64,
    /// Upper end of the interval.
    pub upper: f64,
    /// Confidence level `1 − α` of the interval.
    pub confidence: f64,
}

/// Which binomial interval to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntervalMethod {
    /// Exact (conservative) Clopper–Pearson interval: Beta quantiles
    /// `[B⁻¹(α/2; k, n−k+1), B⁻¹(1−α/2; k+1, n−k)]`.
    ClopperPearson,
    /// Wilson score interval `(k + z²/2)/(n + z²) ± z/(n + z²) √(k(n−k)/n + z²/4)`,
    /// `z = Φ⁻¹(1 − α/2)`.
    Wilson,
}

/// A binomial confidence interval for `k` successes in `n` trials at level `confidence`.
///
/// # Errors
/// [`TheoryError::InvalidParameter`] when `n = 0`, `k > n` or `confidence ∉ (0, 1)`.
///
/// ```
/// use plres_theory::stats::{binomial_interval, IntervalMethod};
/// // k = 0: the Clopper–Pearson upper end is 1 − (α/2)^{1/n} in closed form.
/// let ci = binomial_interval(0, 100, 0.95, IntervalMethod::ClopperPearson).unwrap();
/// assert_eq!(ci.lower, 0.0);
/// assert!((ci.upper - (1.0 - 0.025f64.powf(0.01))).abs() < 1e-12);
/// ```
pub fn binomial_interval(
    successes: u64,
    trials: u64,
    confidence: f64,
    method: IntervalMethod,
) -> Result<BinomialInterval, TheoryError> {
    if trials == 0 {
        return Err(TheoryError::InvalidParameter {
            name: "trials",
            value: 0.0,
            expected: "at least one trial",
        });
    }
    if successes > trials {
        return Err(TheoryError::InvalidParameter {
            name: "successes",
            value: successes as f64,
            expected: "successes ≤ trials",
        });
    }
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(TheoryError::InvalidParameter {
            name: "confidence",
            value: confidence,
            expected: "a level in (0, 1)",
        });
    }
    let (k, n) = (successes as f64, trials as f64);
    let alpha = 1.0 - confidence;
    let (lower, upper) = match method {
        IntervalMethod::ClopperPearson => {
            let lower = if successes == 0 {
                0.0
            } else {
                beta_quantile(alpha / 2.0, k, n - k + 1.0)
            };
            let upper = if successes == trials {
                1.0
            } else {
                beta_quantile(1.0 - alpha / 2.0, k + 1.0, n - k)
            };
            (lower, upper)
        }
        IntervalMethod::Wilson => {
            let z = normal_quantile(1.0 - alpha / 2.0);
            let z2 = z * z;
            let centre = (k + z2 / 2.0) / (n + z2);
            let half = z / (n + z2) * (k * (n - k) / n + z2 / 4.0).sqrt();
            ((centre - half).max(0.0), (centre + half).min(1.0))
        }
    };
    Ok(BinomialInterval {
        successes,
        trials,
        estimate: k / n,
        lower,
        upper,
        confidence,
    })
}

/// The sample median: the middle value of `v` sorted by [`f64::total_cmp`], the mean of
/// the two middle values for an even count. Allocates one sorted copy.
///
/// # Panics
/// On an empty slice.
pub fn median(v: &[f64]) -> f64 {
    assert!(!v.is_empty(), "median of an empty slice");
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        0.5 * (s[m - 1] + s[m])
    }
}

/// The standard normal quantile `Φ⁻¹(q)` for `q ∈ (0, 1)` (Acklam's rational
/// approximation, relative error below 1.2e-9 — ample for confidence levels).
///
/// # Panics
/// When `q ∉ (0, 1)`.
pub fn normal_quantile(q: f64) -> f64 {
    assert!(
        q > 0.0 && q < 1.0,
        "normal_quantile: q = {q} is not in (0, 1)"
    );
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const P_LOW: f64 = 0.02425;
    if q < P_LOW {
        let t = (-2.0 * q.ln()).sqrt();
        (((((C[0] * t + C[1]) * t + C[2]) * t + C[3]) * t + C[4]) * t + C[5])
            / ((((D[0] * t + D[1]) * t + D[2]) * t + D[3]) * t + 1.0)
    } else if q <= 1.0 - P_LOW {
        let u = q - 0.5;
        let r = u * u;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * u
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -normal_quantile(1.0 - q)
    }
}

/// `ln Γ(x)` for `x > 0` (Lanczos approximation, g = 7, 9 terms; relative error ≈ 1e-15).
pub(crate) fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEF: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // reflection Γ(x)Γ(1−x) = π / sin(πx)
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut acc = COEF[0];
    for (i, &c) in COEF.iter().enumerate().skip(1) {
        acc += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + acc.ln()
}

/// The regularised incomplete beta function `I_x(a, b)` (continued fraction, modified
/// Lentz; symmetric switch `I_x(a,b) = 1 − I_{1−x}(b,a)` for convergence).
pub(crate) fn regularized_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(x, a, b) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(1.0 - x, b, a) / b
    }
}

/// The Student-t distribution function `F_ν(t)`.
pub fn student_t_cdf(t: f64, dof: f64) -> f64 {
    let tail = 0.5 * regularized_beta(dof / (dof + t * t), 0.5 * dof, 0.5);
    if t >= 0.0 { 1.0 - tail } else { tail }
}

/// The Student-t quantile `t_{p,ν}`: `F_ν(t) = p`, for `p ∈ (0, 1)` and `ν > 0`, by
/// bisection to the last bit.
///
/// # Panics
/// When `p ∉ (0, 1)` or `ν ≤ 0`.
pub fn student_t_quantile(p: f64, dof: f64) -> f64 {
    assert!(
        p > 0.0 && p < 1.0,
        "student_t_quantile: p = {p} is not in (0, 1)"
    );
    assert!(dof > 0.0, "student_t_quantile: ν = {dof} is not positive");
    if p < 0.5 {
        return -student_t_quantile(1.0 - p, dof);
    }
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    while student_t_cdf(hi, dof) < p {
        lo = hi;
        hi *= 2.0;
    }
    loop {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            return mid;
        }
        if student_t_cdf(mid, dof) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
}

/// Floor of the modified Lentz iteration (keeps `c`, `d` away from 0).
const TINY: f64 = 1e-300;

/// One modified-Lentz step of a continued fraction with partial numerator `aa`: updates
/// `c` and `d` and returns the factor `d·c` that multiplies the convergent.
fn lentz_step(aa: f64, c: &mut f64, d: &mut f64) -> f64 {
    *d = 1.0 + aa * *d;
    if d.abs() < TINY {
        *d = TINY;
    }
    *c = 1.0 + aa / *c;
    if c.abs() < TINY {
        *c = TINY;
    }
    *d = 1.0 / *d;
    *d * *c
}

fn beta_cf(x: f64, a: f64, b: f64) -> f64 {
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..10_000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        h *= lentz_step(aa, &mut c, &mut d);
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        let del = lentz_step(aa, &mut c, &mut d);
        h *= del;
        if (del - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// The `q`-quantile of Beta(a, b): the `x` with `I_x(a, b) = q`, by bisection on the
/// monotone CDF down to the resolution of `f64` (at most 200 halvings).
pub(crate) fn beta_quantile(q: f64, a: f64, b: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if regularized_beta(mid, a, b) < q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Odd count: the middle order statistic; even count: the mean of the two middle ones
    /// (exact in floating point for these values).
    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, -1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[7.0]), 7.0);
    }

    #[test]
    fn fit_recovers_exact_line_and_known_standard_error() {
        // y = 1 + 2x + e with residuals e = (+1, −1, −1, +1) orthogonal to 1 and x − x̄
        // ... choose x symmetric so the slope is untouched: x = (−3, −1, 1, 3).
        let x = [-3.0, -1.0, 1.0, 3.0];
        let e = [1.0, -1.0, -1.0, 1.0];
        let y: Vec<f64> = x.iter().zip(e).map(|(&x, e)| 1.0 + 2.0 * x + e).collect();
        let fit = linear_fit(&x, &y).unwrap();
        // Σ e·x = −3 + 1 − 1 + 3 = 0 and Σ e = 0, so the fit is exact in a and b.
        assert!((fit.slope - 2.0).abs() < 1e-14);
        assert!((fit.intercept - 1.0).abs() < 1e-14);
        // SSR = 4, s² = 4/2 = 2, Sxx = 20 → se(b) = √(2/20); se(a) = √(2/4).
        assert!((fit.slope_se - (0.1f64).sqrt()).abs() < 1e-14);
        assert!((fit.intercept_se - (0.5f64).sqrt()).abs() < 1e-14);
        assert_eq!(fit.dof(), 2);
    }

    #[test]
    fn fit_errors() {
        assert!(matches!(
            linear_fit(&[1.0], &[1.0]),
            Err(TheoryError::TooFewPoints { .. })
        ));
        assert!(matches!(
            linear_fit(&[1.0, 1.0], &[1.0, 2.0]),
            Err(TheoryError::DegenerateAbscissae { .. })
        ));
        assert!(matches!(
            linear_fit(&[1.0, 2.0], &[1.0]),
            Err(TheoryError::LengthMismatch { .. })
        ));
        assert!(matches!(
            log_log_fit(&[1.0, 0.0], &[1.0, 2.0]),
            Err(TheoryError::NotPositive { index: 1, .. })
        ));
        assert!(matches!(
            linear_fit(&[1.0, f64::NAN], &[1.0, 2.0]),
            Err(TheoryError::NonFinite { index: 1, .. })
        ));
    }

    #[test]
    fn log_log_recovers_power_law() {
        let x = [1.0, 2.0, 4.0, 8.0, 16.0];
        let y: Vec<f64> = x.iter().map(|&x: &f64| 3.0 * x.powf(-0.5)).collect();
        let fit = log_log_fit(&x, &y).unwrap();
        // exact data: error is rounding of ln, a few ulps times n
        assert!((fit.slope + 0.5).abs() < 1e-13, "{fit:?}");
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        let mut fact = 1.0f64;
        for n in 1..30 {
            // Γ(n) = (n−1)!
            let rel = (ln_gamma(n as f64) - fact.ln()).abs() / fact.ln().abs().max(1.0);
            assert!(rel < 1e-13, "n = {n}: {rel}");
            fact *= n as f64;
        }
        // Γ(1/2) = √π
        assert!((ln_gamma(0.5) - 0.5 * std::f64::consts::PI.ln()).abs() < 1e-14);
    }

    #[test]
    fn incomplete_beta_closed_forms() {
        for &x in &[0.01, 0.2, 0.5, 0.77, 0.99] {
            // I_x(1, b) = 1 − (1 − x)^b ; I_x(a, 1) = x^a
            assert!((regularized_beta(x, 1.0, 3.0) - (1.0 - (1.0 - x).powi(3))).abs() < 1e-14);
            assert!((regularized_beta(x, 4.0, 1.0) - x.powi(4)).abs() < 1e-14);
            // I_x(2, 2) = 3x² − 2x³
            assert!(
                (regularized_beta(x, 2.0, 2.0) - (3.0 * x * x - 2.0 * x * x * x)).abs() < 1e-14
            );
        }
    }

    #[test]
    fn clopper_pearson_closed_forms() {
        let n = 40u64;
        let ci = binomial_interval(n, n, 0.9, IntervalMethod::ClopperPearson).unwrap();
        assert_eq!(ci.upper, 1.0);
        assert!((ci.lower - 0.05f64.powf(1.0 / n as f64)).abs() < 1e-12);
        // k = 1, n = 2: lower solves I_x(1, 2) = α/2 → 1 − (1 − x)² = α/2.
        let ci = binomial_interval(1, 2, 0.95, IntervalMethod::ClopperPearson).unwrap();
        assert!((ci.lower - (1.0 - (1.0f64 - 0.025).sqrt())).abs() < 1e-12);
        assert!((ci.upper - (1.0 - 0.025f64).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn wilson_and_normal_quantile() {
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 3e-9);
        assert!((normal_quantile(0.5)).abs() < 1e-15);
        assert!((normal_quantile(0.001) + 3.090_232_306_167_813).abs() < 4e-9);
        let ci = binomial_interval(10, 100, 0.95, IntervalMethod::Wilson).unwrap();
        // textbook value for 10/100 at 95 %: [0.0552, 0.1744]
        assert!(
            (ci.lower - 0.0552).abs() < 1e-4 && (ci.upper - 0.1744).abs() < 1e-4,
            "{ci:?}"
        );
        // Clopper–Pearson is wider than Wilson (conservative)
        let cp = binomial_interval(10, 100, 0.95, IntervalMethod::ClopperPearson).unwrap();
        assert!(cp.lower < ci.lower && cp.upper > ci.upper);
        assert!(binomial_interval(3, 2, 0.95, IntervalMethod::Wilson).is_err());
        assert!(binomial_interval(0, 0, 0.95, IntervalMethod::Wilson).is_err());
        assert!(binomial_interval(0, 5, 1.0, IntervalMethod::Wilson).is_err());
    }
}
