//! Statistics over seeds: mean, sample standard deviation and the Student-t confidence
//! interval of the mean.
//!
//! For `n` values with mean `x̄` and sample standard deviation `s` (divisor `n − 1`,
//! `plres_experiments::plot::mean_std`, the workspace's one copy), the level-`c`
//! interval is `x̄ ± t_{(1+c)/2, n−1} · s/√n`, exact when the values are i.i.d. normal.
//! The quantile `t_{p,ν}` inverts the t distribution function
//! `F_ν(t) = 1 − ½ I_{ν/(ν+t²)}(ν/2, ½)` (t ≥ 0; `I` the regularised incomplete beta
//! function, evaluated by its continued fraction, Numerical Recipes §6.4) by bisection:
//! [`plres_theory::stats::student_t_quantile`], the workspace's one copy.

use serde::{Deserialize, Serialize};

use plres_theory::stats::student_t_quantile;

/// The level of every confidence interval of a sweep report.
pub const LEVEL: f64 = 0.95;

/// Mean, spread and confidence interval of one value over seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeanInterval {
    /// Number of values.
    pub n: usize,
    /// Their mean `x̄`.
    pub mean: f64,
    /// Sample standard deviation (divisor `n − 1`; 0 for one value).
    pub std: f64,
    /// Lower end of the [`LEVEL`] Student-t interval (`None` for fewer than 2 values).
    pub ci_low: Option<f64>,
    /// Upper end.
    pub ci_high: Option<f64>,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl MeanInterval {
    /// The statistics of `values` (module doc); `None` when empty.
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let runs: Vec<Vec<f64>> = values.iter().map(|&v| vec![v]).collect();
        let (mean, std) = plres_experiments::plot::mean_std(1, &runs);
        let (mean, std) = (mean[0], std[0]);
        let n = values.len();
        let half = (n >= 2).then(|| {
            student_t_quantile(0.5 * (1.0 + LEVEL), (n - 1) as f64) * std / (n as f64).sqrt()
        });
        Some(Self {
            n,
            mean,
            std,
            ci_low: half.map(|h| mean - h),
            ci_high: half.map(|h| mean + h),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quantile is found to the last bit of the bisection, so its error is the
    /// distribution function's error (a few ulp from ln Γ and the continued fraction,
    /// say 64 eps) divided by the density there (≥ 0.02 for the cases below): 3200 eps.
    const TOL: f64 = 3200.0 * f64::EPSILON;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= TOL * b.abs().max(1.0)
    }

    #[test]
    fn quantiles_match_closed_forms() {
        for p in [0.6, 0.9, 0.975, 0.995] {
            // ν = 1 (Cauchy): tan(π(p − ½)); ν = 2: (2p − 1)/√(2p(1 − p))
            let cauchy = (std::f64::consts::PI * (p - 0.5)).tan();
            assert!(close(student_t_quantile(p, 1.0), cauchy), "ν=1 p={p}");
            let two = (2.0 * p - 1.0) / (2.0 * p * (1.0 - p)).sqrt();
            assert!(close(student_t_quantile(p, 2.0), two), "ν=2 p={p}");
            assert!(
                close(student_t_quantile(1.0 - p, 2.0), -two),
                "symmetry p={p}"
            );
        }
    }

    #[test]
    fn quantiles_match_tables_and_the_normal_limit() {
        // t_{0.975, 5} and t_{0.975, 19} (Abramowitz & Stegun table 26.10, 6 digits)
        assert!((student_t_quantile(0.975, 5.0) - 2.570_582).abs() < 1e-6);
        assert!((student_t_quantile(0.975, 19.0) - 2.093_024).abs() < 1e-6);
        // ν → ∞: Φ⁻¹(0.975) = 1.959963984540054; t − z = O(1/ν)
        let z = 1.959_963_984_540_054;
        let t = student_t_quantile(0.975, 1e7);
        assert!((t - z).abs() < 10.0 / 1e7, "{t}");
    }

    #[test]
    fn intervals_of_small_samples() {
        let m = MeanInterval::of(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!((m.n, m.mean, m.min, m.max), (4, 2.5, 1.0, 4.0));
        // s² = (2.25 + 0.25 + 0.25 + 2.25)/3 = 5/3
        assert!(close(m.std, (5.0_f64 / 3.0).sqrt()));
        let half = student_t_quantile(0.975, 3.0) * m.std / 2.0;
        assert!(close(m.ci_high.unwrap() - m.mean, half));
        assert!(close(m.mean - m.ci_low.unwrap(), half));
        let one = MeanInterval::of(&[7.0]).unwrap();
        assert_eq!((one.std, one.ci_low, one.ci_high), (0.0, None, None));
        assert_eq!(MeanInterval::of(&[]), None);
    }
}
