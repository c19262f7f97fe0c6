//! Bounds on the sizes a user gives a feature map, and fallible allocation of its weights.
//!
//! A map with `p` features on `R^d` holds a `q×d` weight matrix (`q = p`, or `p/2` for
//! paired Fourier features) and a bias of `q` entries, and every batch it sees produces an
//! `N×p` output. Widths come from configs, checkpoints and the feature-count bounds
//! ([`crate::bounds`] can ask for up to `2⁵³` features), so they are checked here before
//! anything is allocated: the product `q·d` with checked arithmetic, `p` and `q·d` against
//! [`MAX_FEATURES`] and [`MAX_WEIGHTS`], and the allocation itself with `try_reserve`,
//! so that a width that is representable but does not fit in memory is a typed error
//! rather than an abort.

use faer::Mat;

use crate::error::RffError;

/// Most features a map may have: `2³⁰` (an `N×p` output of one sample is then 8 GiB).
pub const MAX_FEATURES: usize = 1 << 30;

/// Most weight entries `q·d` a map may have: `2³⁰` (8 GiB of `f64`).
pub const MAX_WEIGHTS: usize = 1 << 30;

/// Checks `p` features with `rows` weight rows on `R^d` against [`MAX_FEATURES`] and
/// [`MAX_WEIGHTS`] (the product with checked arithmetic).
///
/// # Errors
/// [`RffError::TooLarge`] naming `d`, `p` and the limit exceeded.
pub(crate) fn check_size(d: usize, p: usize, rows: usize) -> Result<(), RffError> {
    let too_large = |what: &'static str, limit: usize| RffError::TooLarge { d, p, what, limit };
    if p > MAX_FEATURES {
        return Err(too_large("features p", MAX_FEATURES));
    }
    match rows.checked_mul(d) {
        Some(entries) if entries <= MAX_WEIGHTS => Ok(()),
        _ => Err(too_large("weight entries", MAX_WEIGHTS)),
    }
}

/// A `rows × cols` matrix of zeros, allocated fallibly.
///
/// # Errors
/// [`RffError::OutOfMemory`] when the allocator refuses.
pub(crate) fn try_zeros(rows: usize, cols: usize) -> Result<Mat<f64>, RffError> {
    let mut m = Mat::new();
    m.try_reserve(rows, cols)
        .map_err(|_| RffError::OutOfMemory { rows, cols })?;
    m.resize_with(rows, cols, |_, _| 0.0);
    Ok(m)
}

/// An empty vector with room for `len` entries, allocated fallibly.
///
/// # Errors
/// [`RffError::OutOfMemory`] (as a `len × 1` allocation) when the allocator refuses.
pub(crate) fn try_vec(len: usize) -> Result<Vec<f64>, RffError> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| RffError::OutOfMemory { rows: len, cols: 1 })?;
    Ok(v)
}
