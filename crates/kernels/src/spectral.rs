//! Spectral tools for Gram matrices: the quantities of the PL certificate (docs/theory.md §5).
//!
//! - [`SymEigen`]: the eigenvalues of symmetric matrices with a reusable workspace and a
//!   guard against subnormal or huge scales — the one `λ_min`/`λ_max` implementation of
//!   the workspace; [`lambda_min`], [`lambda_max`] and the `try_*` forms are one-off
//!   wrappers of it (`O(N³)`, lower triangle read).
//! - [`CertifiedLambdaMin`]: a certified lower bound of `λ_min` for positive
//!   semi-definite matrices, about 5× cheaper than [`SymEigen`] at `N = 256`.
//! - [`gershgorin_lower_bound`]: `min_i (K_ii − Σ_{j≠i} |K_ij|) ≤ λ_min(K)` (Gershgorin's
//!   circle theorem), `O(N²)`.
//! - [`gaussian_gershgorin_bound`]: the a-priori form of that bound for a Gaussian Gram of
//!   points with separation `δ`: `λ_min ≥ 1 − (N − 1) exp(−δ²/(2σ²))` (docs/theory.md §5, `λ_*`).
//! - [`is_positive_definite`]: whether a Cholesky factorisation `K = LLᵀ` succeeds.
//! - [`min_separation`]: `δ(X) = min_{i≠j} ‖x_i − x_j‖`, computed pair by pair (no
//!   cancellation from the GEMM distance formula, no `N×N` storage).
//!
//! The `f64`-returning functions are for matrices built by this workspace; the `try_*`
//! variants validate user-provided input and return a [`KernelError`].

use faer::{MatRef, Side};

use crate::KernelError;
use crate::validate::{check_batch, check_finite};

mod certified;
mod eigen;

pub use certified::{CertifiedLambdaMin, LambdaMinMethod};
pub use eigen::SymEigen;

fn assert_square(what: &str, k: MatRef<'_, f64>) {
    assert!(
        k.nrows() == k.ncols(),
        "{what}: matrix must be square, got {}×{}",
        k.nrows(),
        k.ncols()
    );
}

/// Panics unless `a` is the `n×n` matrix a workspace `what` was made for.
#[track_caller]
fn assert_workspace_size(what: &str, n: usize, a: MatRef<'_, f64>) {
    assert!(
        a.nrows() == n && a.ncols() == n,
        "{what}: workspace for {n}×{n}, matrix is {}×{}",
        a.nrows(),
        a.ncols(),
    );
}

fn check_square(k: MatRef<'_, f64>) -> Result<(), KernelError> {
    if k.nrows() != k.ncols() {
        return Err(KernelError::NotSquare {
            what: "k",
            rows: k.nrows(),
            cols: k.ncols(),
        });
    }
    check_batch("k", k)
}

/// All eigenvalues of the symmetric matrix `k` (lower triangle read), ascending; a
/// one-off [`SymEigen`] with faer's global parallelism.
///
/// # Errors
/// [`KernelError::NotSquare`], [`KernelError::Empty`], [`KernelError::NonFinite`],
/// [`KernelError::EigenNoConvergence`].
pub fn try_eigenvalues(k: MatRef<'_, f64>) -> Result<Vec<f64>, KernelError> {
    check_square(k)?;
    Ok(SymEigen::new(k.nrows(), faer::get_global_parallelism())
        .eigenvalues(k)?
        .to_vec())
}

/// `λ_min(K)` of a symmetric matrix, validated.
///
/// # Errors
/// As [`try_eigenvalues`].
pub fn try_lambda_min(k: MatRef<'_, f64>) -> Result<f64, KernelError> {
    Ok(try_eigenvalues(k)?[0])
}

/// `λ_max(K)` of a symmetric matrix, validated.
///
/// # Errors
/// As [`try_eigenvalues`].
pub fn try_lambda_max(k: MatRef<'_, f64>) -> Result<f64, KernelError> {
    let ev = try_eigenvalues(k)?;
    Ok(ev[ev.len() - 1])
}

/// The smallest eigenvalue `λ_min(K)` of a symmetric matrix (lower triangle read).
///
/// Returns `+∞` for a `0×0` matrix and NaN if `k` holds a non-finite entry or the
/// eigensolver does not converge (use [`try_lambda_min`] to get the reason).
///
/// ```
/// use plres_kernels::spectral::lambda_min;
/// let k = faer::mat![[2.0, 1.0], [1.0, 2.0]];
/// assert!((lambda_min(k.as_ref()) - 1.0).abs() < 1e-14);
/// ```
///
/// # Panics
/// If `k` is not square.
pub fn lambda_min(k: MatRef<'_, f64>) -> f64 {
    assert_square("lambda_min", k);
    if k.nrows() == 0 {
        return f64::INFINITY;
    }
    try_lambda_min(k).unwrap_or(f64::NAN)
}

/// The largest eigenvalue `λ_max(K)` of a symmetric matrix (lower triangle read).
///
/// Returns `−∞` for a `0×0` matrix and NaN if `k` holds a non-finite entry or the
/// eigensolver does not converge (use [`try_lambda_max`] to get the reason).
///
/// # Panics
/// If `k` is not square.
pub fn lambda_max(k: MatRef<'_, f64>) -> f64 {
    assert_square("lambda_max", k);
    if k.nrows() == 0 {
        return f64::NEG_INFINITY;
    }
    try_lambda_max(k).unwrap_or(f64::NAN)
}

/// Gershgorin lower bound on the spectrum: `min_i (K_ii − Σ_{j≠i} |K_ij|) ≤ λ_min(K)`
/// (rows of `k`; for a symmetric matrix rows and columns agree). `+∞` for `0×0`.
///
/// # Panics
/// If `k` is not square.
pub fn gershgorin_lower_bound(k: MatRef<'_, f64>) -> f64 {
    assert_square("gershgorin_lower_bound", k);
    let n = k.nrows();
    // radius_i = Σ_{j≠i} |K_ij|, accumulated column by column (contiguous reads).
    let mut radius = vec![0.0; n];
    for j in 0..n {
        let col = k.col(j);
        for i in 0..n {
            if i != j {
                radius[i] += col[i].abs();
            }
        }
    }
    (0..n)
        .map(|i| k[(i, i)] - radius[i])
        .fold(f64::INFINITY, f64::min)
}

/// The a-priori Gershgorin bound for a Gaussian Gram matrix (docs/theory.md §5): `N` points with
/// pairwise distances `≥ δ` and bandwidth `σ` give
/// `λ_min ≥ λ_* = 1 − (N − 1) exp(−δ²/(2σ²))` (every off-diagonal entry is at most
/// `exp(−δ²/(2σ²))`). The expressivity condition is `λ_* > 0`.
pub fn gaussian_gershgorin_bound(n: usize, delta: f64, sigma: f64) -> f64 {
    1.0 - (n.saturating_sub(1)) as f64 * (-delta * delta / (2.0 * sigma * sigma)).exp()
}

/// Whether `k` is (numerically) positive definite: the Cholesky factorisation
/// `K = LLᵀ` of its lower triangle succeeds. `false` for a non-finite entry or an empty
/// matrix.
///
/// # Panics
/// If `k` is not square.
pub fn is_positive_definite(k: MatRef<'_, f64>) -> bool {
    assert_square("is_positive_definite", k);
    if k.nrows() == 0 || check_finite("k", k).is_err() {
        return false;
    }
    k.llt(Side::Lower).is_ok()
}

/// The minimum pairwise separation `δ(X) = min_{i<j} ‖x_i − x_j‖` of the rows of `x`
/// (`+∞` for fewer than two rows). `O(N² d)` time, `O(N d)` extra memory (one row-major
/// copy), each distance summed directly from coordinate differences.
pub fn min_separation(x: MatRef<'_, f64>) -> f64 {
    let (n, d) = (x.nrows(), x.ncols());
    let mut rows = vec![0.0; n * d];
    for i in 0..n {
        for l in 0..d {
            rows[i * d + l] = x[(i, l)];
        }
    }
    let mut best = f64::INFINITY;
    for i in 1..n {
        let xi = &rows[i * d..(i + 1) * d];
        for j in 0..i {
            let xj = &rows[j * d..(j + 1) * d];
            let mut s = 0.0;
            for l in 0..d {
                let t = xi[l] - xj[l];
                s += t * t;
            }
            if s < best {
                best = s;
            }
        }
    }
    best.sqrt()
}

/// [`min_separation`] with validation.
///
/// # Errors
/// [`KernelError::Empty`], [`KernelError::NonFinite`].
pub fn try_min_separation(x: MatRef<'_, f64>) -> Result<f64, KernelError> {
    check_batch("x", x)?;
    Ok(min_separation(x))
}
