//! The PL certificate as a formula of the per-layer quantities (docs/theory.md §5 items 3–5).
//!
//! Given `λ_k = λ_min(K^k)` (the Gram of the kernel at the states of layer `k`) and
//! `a_k = max_i ‖Df_k(x_i^k)‖_op` for `k = 0..L−1`, step `h = 1/L`, `N` samples and the
//! output map `B`:
//!
//! * discrete certificate (item 4, exact for the Euler ResNet):
//!   `μ_cert = (2/N) σ_min(Bᵀ)² h Σ_k λ_k Π_{j>k} (1 − h a_j)₊²`;
//! * continuous analogue (item 5): `μ = (2/N) σ_min(Bᵀ)² ∫₀¹ λ(s) e^{−2∫_s^1 a(r) dr} ds`,
//!   evaluated on the layer grid either cell-wise (a right-end Riemann sum matching the
//!   Euler layers, [`continuous_analogue_cells`]) or by the trapezoid rule on nodes
//!   spanning `[0, 1]` ([`continuous_analogue_nodes`], for midpoint/Heun/RK4 with `L+1`
//!   slices).
//!
//! Why item 4 is a theorem: `‖G‖² = h Σ_k tr(P^{k+1ᵀ} K^k P^{k+1}) ≥ h Σ_k λ_k ‖P^{k+1}‖²_F`
//! (item 2), `‖P^{k+1}‖_F ≥ Π_{j>k}(1 − h a_j)₊ ‖P^L‖_F` (item 3, from
//! `p^k = (I + h Df_k(x^k)ᵀ) p^{k+1}`), and for the squared loss
//! `‖P^L‖²_F = (1/N²) Σ_i ‖Bᵀ r_i‖² ≥ σ_min(Bᵀ)² (2/N) L` (item 4).
//! Since `(1 − x)² ≤ e^{−2x}`, the cell-wise continuous analogue is never below the
//! discrete certificate; the two differ by `O(h)`.

use crate::error::TheoryError;

/// Writes `out[k] = Π_{j=k+1}^{L−1} (1 − h a_j)₊²` (the squared adjoint factor of item 3
/// of layer `k`); `out[L−1] = 1`.
///
/// # Panics
/// When `out.len() != a.len()`.
pub fn adjoint_factors_sq(a: &[f64], h: f64, out: &mut [f64]) {
    assert_eq!(
        a.len(),
        out.len(),
        "adjoint_factors_sq: a has {} layers, out has {}",
        a.len(),
        out.len()
    );
    let mut prod = 1.0;
    for k in (0..a.len()).rev() {
        out[k] = prod;
        let f = (1.0 - h * a[k]).max(0.0);
        prod *= f * f;
    }
}

/// The discrete PL certificate of docs/theory.md §5 item 4:
/// `μ_cert = (2/N) σ_B² h Σ_k λ_k Π_{j>k}(1 − h a_j)₊²` with `σ_B² = σ_min(Bᵀ)²`
/// (1 for `B = I`). Allocation-free, `O(L)`.
///
/// Negative `λ_k` (rounding of a singular Gram) are clamped to 0, so the certificate is
/// never negative.
///
/// # Panics
/// When `lambda.len() != a.len()`.
///
/// ```
/// use plres_theory::pl::certificate::mu_cert;
/// // θ = 0: a_k = 0, all λ_k = 1 → μ_cert = (2/N)·h·L = 2/N.
/// let mu = mu_cert(&[1.0; 4], &[0.0; 4], 0.25, 10, 1.0);
/// assert!((mu - 0.2).abs() < 1e-15);
/// ```
pub fn mu_cert(lambda: &[f64], a: &[f64], h: f64, n_samples: usize, sigma_b_sq: f64) -> f64 {
    assert_eq!(
        lambda.len(),
        a.len(),
        "mu_cert: {} λ_k but {} a_k",
        lambda.len(),
        a.len()
    );
    let mut prod = 1.0;
    let mut sum = 0.0;
    for k in (0..a.len()).rev() {
        sum += lambda[k].max(0.0) * prod;
        let f = (1.0 - h * a[k]).max(0.0);
        prod *= f * f;
    }
    2.0 / n_samples as f64 * sigma_b_sq * h * sum
}

/// The continuous analogue of item 5 on Euler cells: layer `k` occupies
/// `[kh, (k+1)h)` with constant `λ_k`, `a_k`, and the exponent is taken at the cell's
/// right end, `∫_{(k+1)h}^1 a = h Σ_{j>k} a_j`:
/// `μ ≈ (2/N) σ_B² h Σ_k λ_k exp(−2h Σ_{j>k} a_j)`.
/// It is `≥` [`mu_cert`] (since `(1−x)² ≤ e^{−2x}`) and differs from it by `O(h)`.
///
/// # Panics
/// When `lambda.len() != a.len()`.
pub fn continuous_analogue_cells(
    lambda: &[f64],
    a: &[f64],
    h: f64,
    n_samples: usize,
    sigma_b_sq: f64,
) -> f64 {
    assert_eq!(
        lambda.len(),
        a.len(),
        "continuous_analogue_cells: {} λ_k but {} a_k",
        lambda.len(),
        a.len()
    );
    let mut tail = 0.0f64; // ∫_{(k+1)h}^1 a
    let mut sum = 0.0;
    for k in (0..a.len()).rev() {
        sum += lambda[k].max(0.0) * (-2.0 * tail).exp();
        tail += h * a[k];
    }
    2.0 / n_samples as f64 * sigma_b_sq * h * sum
}

/// The continuous analogue of item 5 by the trapezoid rule on nodes
/// `s_0 < s_1 < … < s_M` (normally `s_m = m h`, `m = 0..L`, the `L+1` slices of the
/// interpolated integrators) with values `λ(s_m)`, `a(s_m)`:
/// `A_m = ∫_{s_m}^{s_M} a` (trapezoid), `μ ≈ (2/N) σ_B² ∫ λ e^{−2A}` (trapezoid).
/// The integral runs over `[s_0, s_M]`; pass nodes spanning `[0, 1]`. As an estimate of
/// the certificate of a midpoint/Heun/RK4 network it is an approximation of order `h`.
///
/// # Errors
/// [`TheoryError::LengthMismatch`], [`TheoryError::TooFewPoints`] (fewer than 2 nodes),
/// [`TheoryError::InvalidParameter`] when the nodes are not strictly increasing,
/// [`TheoryError::NonFinite`].
pub fn continuous_analogue_nodes(
    s: &[f64],
    lambda: &[f64],
    a: &[f64],
    n_samples: usize,
    sigma_b_sq: f64,
) -> Result<f64, TheoryError> {
    if s.len() != lambda.len() || s.len() != a.len() {
        return Err(TheoryError::LengthMismatch {
            what: "nodes, λ(s) and a(s)",
            left: s.len(),
            right: if s.len() != lambda.len() {
                lambda.len()
            } else {
                a.len()
            },
        });
    }
    if s.len() < 2 {
        return Err(TheoryError::TooFewPoints {
            what: "trapezoid rule",
            needed: 2,
            got: s.len(),
        });
    }
    for (i, v) in s.iter().chain(lambda).chain(a).enumerate() {
        if !v.is_finite() {
            return Err(TheoryError::NonFinite {
                what: "continuous-analogue input",
                index: i % s.len(),
                value: *v,
            });
        }
    }
    for w in s.windows(2) {
        if w[1] <= w[0] {
            return Err(TheoryError::InvalidParameter {
                name: "node",
                value: w[1],
                expected: "strictly increasing nodes",
            });
        }
    }
    let m = s.len();
    let mut tail = 0.0f64; // A_m
    let mut f_next = lambda[m - 1].max(0.0); // f at s_M (A = 0)
    let mut integral = 0.0;
    for i in (0..m - 1).rev() {
        let ds = s[i + 1] - s[i];
        tail += 0.5 * ds * (a[i] + a[i + 1]);
        let f = lambda[i].max(0.0) * (-2.0 * tail).exp();
        integral += 0.5 * ds * (f + f_next);
        f_next = f;
    }
    Ok(2.0 / n_samples as f64 * sigma_b_sq * integral)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_closed_form_constant_layers() {
        // constant λ, a: Σ_{k} Π_{j>k} q = Σ_{m=0}^{L-1} q^m, q = (1 − h a)².
        let (l, a, lam, n) = (8usize, 0.7, 0.3, 5usize);
        let h = 1.0 / l as f64;
        let q: f64 = (1.0 - h * a) * (1.0 - h * a);
        let geo = (1.0 - q.powi(l as i32)) / (1.0 - q);
        let expected = 2.0 / n as f64 * h * lam * geo;
        let got = mu_cert(&vec![lam; l], &vec![a; l], h, n, 1.0);
        // a geometric sum of L terms: relative rounding ≤ L·eps
        assert!((got - expected).abs() <= 16.0 * f64::EPSILON * expected);
        let mut f = vec![0.0; l];
        adjoint_factors_sq(&vec![a; l], h, &mut f);
        assert_eq!(f[l - 1], 1.0);
        assert!((f[0] - q.powi(l as i32 - 1)).abs() < 1e-15);
    }

    #[test]
    fn factor_clamps_at_zero_and_sigma_b_scales() {
        // h a_j > 1 kills every layer before j
        let mu = mu_cert(&[1.0, 1.0, 1.0], &[0.0, 5.0, 0.0], 1.0 / 3.0, 2, 1.0);
        // layers 1 and 2 survive (their Π_{j>k} excludes layer 1 for k = 1): (1/3)(1+1)
        assert!((mu - 2.0 / 3.0).abs() < 1e-15);
        let mu4 = mu_cert(&[1.0, 1.0, 1.0], &[0.0, 5.0, 0.0], 1.0 / 3.0, 2, 0.25);
        assert!((mu4 - mu * 0.25).abs() < 1e-15);
    }

    #[test]
    fn continuous_analogue_limits() {
        // λ ≡ λ0, a ≡ a0: μ = (2/N) λ0 (1 − e^{−2a0})/(2 a0).
        let (lam, a, n) = (0.4f64, 1.3f64, 3usize);
        let exact = 2.0 / n as f64 * lam * (1.0 - (-2.0 * a).exp()) / (2.0 * a);
        let mut prev_err = f64::INFINITY;
        for &l in &[8usize, 16, 32, 64] {
            let h = 1.0 / l as f64;
            let cells = continuous_analogue_cells(&vec![lam; l], &vec![a; l], h, n, 1.0);
            let disc = mu_cert(&vec![lam; l], &vec![a; l], h, n, 1.0);
            assert!(cells >= disc, "(1−x)² ≤ e^{{−2x}} ordering");
            // right-end Riemann sum of a smooth integrand: error O(h), halves with h
            let err = (cells - exact).abs();
            assert!(err < prev_err * 0.6, "L = {l}: {err} vs {prev_err}");
            prev_err = err;
            let s: Vec<f64> = (0..=l).map(|m| m as f64 * h).collect();
            let nodes =
                continuous_analogue_nodes(&s, &vec![lam; l + 1], &vec![a; l + 1], n, 1.0).unwrap();
            // trapezoid of e^{−2a(1−s)}: error ≤ h²/12 · max|f''| = h²/12 · 4a² · (2/N)λ
            let bound = h * h / 12.0 * 4.0 * a * a * 2.0 / n as f64 * lam;
            assert!((nodes - exact).abs() <= bound, "L = {l}");
        }
    }

    #[test]
    fn nodes_validation() {
        assert!(continuous_analogue_nodes(&[0.0], &[1.0], &[0.0], 1, 1.0).is_err());
        assert!(continuous_analogue_nodes(&[0.0, 0.0], &[1.0; 2], &[0.0; 2], 1, 1.0).is_err());
        assert!(continuous_analogue_nodes(&[0.0, 1.0], &[1.0; 3], &[0.0; 2], 1, 1.0).is_err());
        assert!(
            continuous_analogue_nodes(&[0.0, 1.0], &[1.0, f64::NAN], &[0.0; 2], 1, 1.0).is_err()
        );
    }
}
