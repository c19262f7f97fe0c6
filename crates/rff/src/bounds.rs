//! How many random Fourier features the expressivity condition needs (docs/theory.md §6).
//!
//! Two bounds, each as a pair of inverse functions: `features_needed_*` (smallest width
//! `p` with failure probability `≤ δ`) and `failure_probability_*` (the probability bound
//! at a given `p`). The derivations are in `docs/rff-bounds.md`.
//!
//! * **Pointwise** (fixed points `x_1..x_n`, matrix Bernstein): the Gram of cosine
//!   features `K_p = (1/p) Σ_j z_j z_jᵀ`, `z_j = (√2 cos(ω_j·x_i + b_j))_i`, is an average
//!   of i.i.d. rank-one matrices with `E z_j z_jᵀ = K` and `‖z_j‖² ≤ 2n`; therefore
//!   `P(‖K_p − K‖ ≥ ε) ≤ 2n exp(−(pε²/2) / (2n‖K‖ + 2nε/3))`.
//!   With `ε = eps · λ_min(K)`, on the complementary event Weyl's inequality gives
//!   `λ_min(K_p) ≥ (1 − eps) λ_min(K)`; docs/theory.md §6 uses `eps = 1/2`. The same bound holds
//!   verbatim for the paired `[cos, sin]` features (`p/2` rank-two terms of norm `≤ n`).
//! * **Uniform** over a compact set `M` of diameter `D` (Rahimi & Recht 2007, Claim 1):
//!   `P(sup_{x,y∈M} |k_p(x,y) − k(x,y)| ≥ ε) ≤ 2⁸ (σ_ω D/ε)² exp(−pε²/(4(d+2)))`,
//!   `σ_ω² = E‖ω‖²` ([`plres_kernels::SpectralMeasure::second_moment`]). With
//!   `ε = λ/(2n)` every `n`-point Gram of points of `M` satisfies
//!   `‖K_p − K‖ ≤ n·max_{ij}|K_p − K|_{ij} < λ/2`, so `λ_min(K_p) > λ_min(K) − λ/2` along
//!   every trajectory that stays in `M` — the version the PL certificate needs when the
//!   points move during training. Implemented exactly as docs/theory.md §6 states it; Rahimi and
//!   Recht prove it for paired `[cos, sin]` features with `p` counting *frequencies*
//!   (`p/2` for plres's paired map of width `p`), and their argument does not cover
//!   cosine-with-phase features as written: see `docs/rff-bounds.md` §2 before relying on
//!   it as a guarantee. The pointwise bound is rigorous for both Fourier variants.
//!
//! All functions validate their arguments and return [`BoundError`] for `n = 0`,
//! `λ ≤ 0`, `δ ∉ (0, 1)`, non-finite values, etc. Probabilities are capped at 1.
//! A width is returned up to `2⁵³` (beyond, [`BoundError::TooManyFeatures`]); one above
//! [`MAX_FEATURES`](crate::MAX_FEATURES) is a valid answer to the question but cannot be
//! sampled: the constructors refuse it with [`RffError::TooLarge`](crate::RffError::TooLarge).

use crate::error::BoundError;

/// Largest width returned: beyond `2⁵³` the `f64` arithmetic on `p` is no longer exact.
const MAX_FEATURES: f64 = 9_007_199_254_740_992.0;

fn positive(name: &'static str, value: f64) -> Result<f64, BoundError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(BoundError::NotPositive { name, value })
    }
}

fn unit_open(name: &'static str, value: f64) -> Result<f64, BoundError> {
    if value > 0.0 && value < 1.0 {
        Ok(value)
    } else {
        Err(BoundError::NotInUnitInterval { name, value })
    }
}

fn nonzero(name: &'static str, value: usize) -> Result<f64, BoundError> {
    if value == 0 {
        Err(BoundError::Zero { name })
    } else {
        Ok(value as f64)
    }
}

/// Validated arguments of the pointwise bound: `(n, ε, ‖K‖)`.
fn pointwise_args(
    n: usize,
    lambda_min: f64,
    norm_k: f64,
    eps: f64,
) -> Result<(f64, f64, f64), BoundError> {
    let nf = nonzero("n", n)?;
    let lambda_min = positive("lambda_min", lambda_min)?;
    let norm_k = positive("norm_k", norm_k)?;
    let eps = unit_open("eps", eps)?;
    if norm_k < lambda_min || norm_k > 2.0 * nf {
        return Err(BoundError::InconsistentNorm {
            norm_k,
            lambda_min,
            two_n: 2.0 * nf,
        });
    }
    Ok((nf, eps * lambda_min, norm_k))
}

/// `2n exp(−(pε²/2)/(2n‖K‖ + 2nε/3))` before capping.
fn bernstein(p: f64, nf: f64, epsilon: f64, norm_k: f64) -> f64 {
    let variance = 2.0 * nf * norm_k + 2.0 * nf * epsilon / 3.0;
    2.0 * nf * (-(p * epsilon * epsilon / 2.0) / variance).exp()
}

/// Pointwise failure probability (matrix Bernstein, docs/theory.md §6): an upper bound on
/// `P(‖K_p − K‖ ≥ eps·λ_min(K))` for the Gram `K_p` of `p` cosine features at `n` fixed
/// points,
///
/// `P ≤ min(1, 2n exp(−(pε²/2) / (2n‖K‖ + 2nε/3)))`, `ε = eps · λ_min(K)`.
///
/// On the complementary event `λ_min(K_p) ≥ (1 − eps) λ_min(K)`.
///
/// # Errors
/// [`BoundError`] if `n = 0` or `p = 0`, `lambda_min` or `norm_k` is not finite and
/// positive, `eps ∉ (0, 1)`, or `‖K‖ ∉ [λ_min, 2n]`.
///
/// # Examples
/// ```
/// use plres_rff::bounds::*;
/// let p = features_needed_pointwise(20, 0.3, 4.0, 0.05, 0.5).unwrap();
/// assert!(failure_probability_pointwise(p, 20, 0.3, 4.0, 0.5).unwrap() <= 0.05);
/// assert!(failure_probability_pointwise(p - 1, 20, 0.3, 4.0, 0.5).unwrap() > 0.05);
/// ```
pub fn failure_probability_pointwise(
    p: usize,
    n: usize,
    lambda_min: f64,
    norm_k: f64,
    eps: f64,
) -> Result<f64, BoundError> {
    let pf = nonzero("p", p)?;
    let (nf, epsilon, norm_k) = pointwise_args(n, lambda_min, norm_k, eps)?;
    Ok(bernstein(pf, nf, epsilon, norm_k).min(1.0))
}

/// Smallest width `p` for which [`failure_probability_pointwise`] is `≤ delta`:
///
/// `p = ⌈ 2 (2n‖K‖ + 2nε/3) ln(2n/δ) / ε² ⌉`, `ε = eps · λ_min(K)`,
///
/// so that `λ_min(K_p) ≥ (1 − eps) λ_min(K)` with probability `≥ 1 − δ`
/// (docs/theory.md §6 takes `eps = 1/2`). The result is checked against the forward formula, so
/// `failure_probability_pointwise(p, …) ≤ δ` holds in floating point too. At least 1.
///
/// # Errors
/// As [`failure_probability_pointwise`], plus `delta ∉ (0, 1)` and
/// [`BoundError::TooManyFeatures`] beyond `2⁵³`.
pub fn features_needed_pointwise(
    n: usize,
    lambda_min: f64,
    norm_k: f64,
    delta: f64,
    eps: f64,
) -> Result<usize, BoundError> {
    let (nf, epsilon, norm_k) = pointwise_args(n, lambda_min, norm_k, eps)?;
    let delta = unit_open("delta", delta)?;
    let variance = 2.0 * nf * norm_k + 2.0 * nf * epsilon / 3.0;
    let required = 2.0 * variance * (2.0 * nf / delta).ln() / (epsilon * epsilon);
    smallest_width(required, |p| bernstein(p, nf, epsilon, norm_k) <= delta)
}

/// `⌈required⌉` (at least 1), nudged up until `ok` holds (guards against the last-bit
/// rounding of the closed-form inverse).
fn smallest_width(required: f64, ok: impl Fn(f64) -> bool) -> Result<usize, BoundError> {
    let mut p = required.ceil().max(1.0);
    if p.is_nan() || p > MAX_FEATURES {
        return Err(BoundError::TooManyFeatures { required });
    }
    while !ok(p) {
        p += 1.0;
        if p > MAX_FEATURES {
            return Err(BoundError::TooManyFeatures { required });
        }
    }
    // p ≤ 2⁵³ is an integer; on a target whose usize is narrower it may still not fit
    if p > usize::MAX as f64 {
        return Err(BoundError::TooManyFeatures { required });
    }
    Ok(p as usize)
}

/// Validated arguments of the uniform bound: `(d, ε, σ_ω D)`.
fn uniform_args(
    d: usize,
    diameter: f64,
    sigma_omega_sq: f64,
    n: usize,
    lambda: f64,
) -> Result<(f64, f64, f64), BoundError> {
    let df = nonzero("d", d)?;
    let diameter = positive("diameter", diameter)?;
    let sigma_omega_sq = positive("sigma_omega_sq", sigma_omega_sq)?;
    let nf = nonzero("n", n)?;
    let lambda = positive("lambda", lambda)?;
    Ok((df, lambda / (2.0 * nf), sigma_omega_sq.sqrt() * diameter))
}

/// `ln` of `2⁸ (σ_ω D/ε)²`, the covering prefactor of the uniform bound.
fn uniform_log_prefactor(epsilon: f64, sigma_d: f64) -> f64 {
    8.0 * std::f64::consts::LN_2 + 2.0 * (sigma_d / epsilon).ln()
}

/// Uniform failure probability (Rahimi & Recht 2007, Claim 1; docs/theory.md §6): an upper bound
/// on `P(sup_{x,y∈M} |k_p(x,y) − k(x,y)| ≥ ε)` over a compact `M ⊂ R^d` of diameter `D`,
///
/// `P ≤ min(1, 2⁸ (σ_ω D/ε)² exp(−pε²/(4(d+2))))`, `ε = λ/(2n)`, `σ_ω² = E‖ω‖²`.
///
/// On the complementary event every Gram of `n` points of `M` has
/// `λ_min(K_p) > λ_min(K) − λ/2` (so `≥ λ/2` where `λ_min(K) ≥ λ`).
///
/// # Errors
/// [`BoundError`] if `d`, `n` or `p` is 0, or `diameter`, `sigma_omega_sq` (infinite for
/// the Laplace kernel, whose spectral measure has no second moment) or `lambda` is not
/// finite and positive.
///
/// # Examples
/// ```
/// use plres_rff::bounds::*;
/// let p = features_needed_uniform(2, 3.0, 2.0, 10, 0.5, 0.01).unwrap();
/// assert!(failure_probability_uniform(p, 2, 3.0, 2.0, 10, 0.5).unwrap() <= 0.01);
/// ```
pub fn failure_probability_uniform(
    p: usize,
    d: usize,
    diameter: f64,
    sigma_omega_sq: f64,
    n: usize,
    lambda: f64,
) -> Result<f64, BoundError> {
    let pf = nonzero("p", p)?;
    let (df, epsilon, sigma_d) = uniform_args(d, diameter, sigma_omega_sq, n, lambda)?;
    let log_p =
        uniform_log_prefactor(epsilon, sigma_d) - pf * epsilon * epsilon / (4.0 * (df + 2.0));
    Ok(log_p.exp().min(1.0))
}

/// Smallest width `p` for which [`failure_probability_uniform`] is `≤ delta`:
///
/// `p = ⌈ (4(d+2)/ε²) ln(2⁸ (σ_ω D/ε)² / δ) ⌉`, `ε = λ/(2n)` (at least 1).
///
/// # Errors
/// As [`failure_probability_uniform`], plus `delta ∉ (0, 1)` and
/// [`BoundError::TooManyFeatures`] beyond `2⁵³`.
pub fn features_needed_uniform(
    d: usize,
    diameter: f64,
    sigma_omega_sq: f64,
    n: usize,
    lambda: f64,
    delta: f64,
) -> Result<usize, BoundError> {
    let (df, epsilon, sigma_d) = uniform_args(d, diameter, sigma_omega_sq, n, lambda)?;
    let delta = unit_open("delta", delta)?;
    let log_pre = uniform_log_prefactor(epsilon, sigma_d);
    let rate = epsilon * epsilon / (4.0 * (df + 2.0));
    let required = (log_pre - delta.ln()) / rate;
    smallest_width(required, |p| (log_pre - p * rate).exp() <= delta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_arguments_are_typed_errors() {
        assert_eq!(
            features_needed_pointwise(0, 0.1, 1.0, 0.1, 0.5),
            Err(BoundError::Zero { name: "n" })
        );
        assert!(matches!(
            features_needed_pointwise(5, -0.1, 1.0, 0.1, 0.5),
            Err(BoundError::NotPositive {
                name: "lambda_min",
                ..
            })
        ));
        assert!(matches!(
            features_needed_pointwise(5, 0.1, 1.0, 1.0, 0.5),
            Err(BoundError::NotInUnitInterval { name: "delta", .. })
        ));
        assert!(matches!(
            features_needed_pointwise(5, 0.1, 1.0, f64::NAN, 0.5),
            Err(BoundError::NotInUnitInterval { name: "delta", .. })
        ));
        assert!(matches!(
            features_needed_pointwise(5, 0.1, 11.0, 0.1, 0.5),
            Err(BoundError::InconsistentNorm { .. })
        ));
        assert!(matches!(
            features_needed_uniform(3, 1.0, f64::INFINITY, 5, 0.1, 0.1),
            Err(BoundError::NotPositive {
                name: "sigma_omega_sq",
                ..
            })
        ));
        assert!(matches!(
            failure_probability_uniform(0, 3, 1.0, 1.0, 5, 0.1),
            Err(BoundError::Zero { name: "p" })
        ));
        assert!(matches!(
            features_needed_pointwise(5, 1e-200, 1.0, 0.1, 0.5),
            Err(BoundError::TooManyFeatures { .. })
        ));
    }

    /// The closed form `p` against a hand evaluation of docs/theory.md §6's formula:
    /// n = 10, λ = 0.4, ‖K‖ = 3, eps = 1/2 → ε = 0.2, variance term 2·10·3 + 2·10·0.2/3,
    /// p* = 2·(60 + 4/3)·ln(20/0.1)/0.04.
    #[test]
    fn pointwise_closed_form() {
        let expected = (2.0 * (60.0 + 4.0 / 3.0) * (200.0f64).ln() / 0.04).ceil() as usize;
        let p = features_needed_pointwise(10, 0.4, 3.0, 0.1, 0.5).unwrap();
        assert!(p == expected || p == expected + 1, "{p} vs {expected}");
    }
}
