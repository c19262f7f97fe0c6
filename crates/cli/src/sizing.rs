//! [`features_needed`]: both random-Fourier-feature counts of docs/theory.md §6 for a
//! kernel on given points, with the `λ_min` they use.
//!
//! With `K` the exact kernel Gram of the `N` points, `λ = λ_min(K)`, `‖K‖ = λ_max(K)`:
//!
//! * pointwise (matrix Bernstein, these `N` points, `ε = λ/2`):
//!   `p = ⌈2 (2N‖K‖ + 2Nε/3) ln(2N/δ) / ε²⌉`
//!   ([`plres_rff::bounds::features_needed_pointwise`]);
//! * uniform (Rahimi–Recht over a set of diameter `D`, here the points' diameter,
//!   `ε = λ/(2N)`): `p = ⌈(4(d+2)/ε²) ln(2⁸ (σ_ω D/ε)² / δ)⌉`
//!   ([`plres_rff::bounds::features_needed_uniform`]; none for a kernel whose spectral
//!   measure has no second moment, e.g. Laplace).
//!
//! Either gives `λ_min(K_p) ≥ λ/2` with probability `≥ 1 − δ`.

use faer::MatRef;
use plres_kernels::KernelSpec;
use serde::{Deserialize, Serialize};

use crate::error::PlresError;

/// Most points the Gram is formed on.
pub const MAX_POINTS: usize = 3000;

/// The two bounds and what they used (module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureBounds {
    /// The kernel.
    pub kernel: KernelSpec,
    /// `N`.
    pub n_samples: usize,
    /// `d`.
    pub dim: usize,
    /// `δ`.
    pub delta: f64,
    /// `λ_min(K)`.
    pub lambda_min: f64,
    /// `‖K‖ = λ_max(K)`.
    pub norm_k: f64,
    /// `max_{ij} ‖x_i − x_j‖`.
    pub diameter: f64,
    /// The pointwise count, or why there is none.
    pub pointwise: Result<usize, String>,
    /// The uniform count, or why there is none.
    pub uniform: Result<usize, String>,
}

/// Both bounds for `kernel` on the rows of `x` (module docs).
///
/// # Errors
/// [`PlresError::BadData`] for more than [`MAX_POINTS`] points or fewer than 2;
/// [`PlresError::InvalidSetting`] for `δ ∉ (0, 1)`; [`PlresError::Run`] if the kernel or
/// the eigenvalues fail.
pub fn features_needed(
    kernel: &KernelSpec,
    x: MatRef<'_, f64>,
    delta: f64,
) -> Result<FeatureBounds, PlresError> {
    if !(delta > 0.0 && delta < 1.0) {
        return Err(PlresError::setting(
            "delta",
            delta,
            "a probability in (0, 1)",
        ));
    }
    let n = x.nrows();
    if !(2..=MAX_POINTS).contains(&n) {
        return Err(PlresError::data(
            "x",
            format!(
                "{n} points: the bounds need λ_min of the N×N kernel Gram, 2 ≤ N ≤ {MAX_POINTS}"
            ),
        ));
    }
    crate::network::check_inputs("x", x, None)?;
    let k = kernel
        .build()
        .map_err(|e| PlresError::run("building the kernel", e))?;
    let gram = k.gram(x);
    let eig = plres_kernels::spectral::try_eigenvalues(gram.as_ref())
        .map_err(|e| PlresError::run("eigenvalues of the kernel Gram", e))?;
    let lambda_min = eig.iter().copied().fold(f64::INFINITY, f64::min);
    let norm_k = eig.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut diameter: f64 = 0.0;
    for i in 0..n {
        for j in i + 1..n {
            let s: f64 = (0..x.ncols())
                .map(|c| (x[(i, c)] - x[(j, c)]).powi(2))
                .sum();
            diameter = diameter.max(s.sqrt());
        }
    }
    let pointwise = plres_rff::bounds::features_needed_pointwise(n, lambda_min, norm_k, delta, 0.5)
        .map_err(|e| e.to_string());
    let uniform = match kernel.spectral_measure() {
        Some(m) => plres_rff::bounds::features_needed_uniform(
            x.ncols(),
            diameter,
            m.second_moment(x.ncols()),
            n,
            lambda_min,
            delta,
        )
        .map_err(|e| e.to_string()),
        None => Err("the kernel has no spectral measure".into()),
    };
    Ok(FeatureBounds {
        kernel: *kernel,
        n_samples: n,
        dim: x.ncols(),
        delta,
        lambda_min,
        norm_k,
        diameter,
        pointwise,
        uniform,
    })
}
