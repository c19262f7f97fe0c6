//! Two moons, concentric circles (both as in scikit-learn's `make_moons` /
//! `make_circles`) and uniform points on the unit sphere.
//!
//! Moons and circles: the first `⌊N/2⌋` samples are class 0, the others class 1; points
//! are placed at evenly spaced angles, Gaussian noise `N(0, noise² I_2)` is added, then
//! the rows are shuffled (Fisher–Yates); all draws come from the passed generator.

use std::f64::consts::PI;

use faer::Mat;
use rand::Rng;

use crate::rng_util::{fisher_yates, gaussian, unit_sphere_point};
use crate::{DataError, Dataset, Targets};

fn check_noise(noise: f64) -> Result<(), DataError> {
    DataError::check_nonnegative("noise", noise)
}

/// `k`-th of `m` evenly spaced values in `[0, span]`, both ends included (`0` if `m = 1`).
fn linspace(k: usize, m: usize, span: f64) -> f64 {
    if m <= 1 {
        0.0
    } else {
        span * k as f64 / (m - 1) as f64
    }
}

/// Adds noise in generation order, then shuffles rows and labels together.
fn finish<R: Rng + ?Sized>(
    pts: Vec<[f64; 2]>,
    labels: Vec<usize>,
    noise: f64,
    rng: &mut R,
) -> Dataset {
    let n = pts.len();
    let mut rows: Vec<([f64; 2], usize)> = pts
        .into_iter()
        .zip(labels)
        .map(|(p, l)| {
            (
                [p[0] + noise * gaussian(rng), p[1] + noise * gaussian(rng)],
                l,
            )
        })
        .collect();
    fisher_yates(&mut rows, rng);
    let x = Mat::from_fn(n, 2, |i, j| rows[i].0[j]);
    Dataset {
        x,
        y: Targets::Classes {
            labels: rows.iter().map(|r| r.1).collect(),
            n_classes: 2,
        },
    }
}

/// Two interleaving half circles in `R^2`: class 0 on `(cos t, sin t)`, class 1 on
/// `(1 − cos t, 1/2 − sin t)`, `t ∈ [0, π]` evenly spaced; plus noise (module doc).
///
/// # Errors
/// [`DataError::InvalidParameter`] if `noise` is negative or not finite.
pub fn two_moons<R: Rng + ?Sized>(n: usize, noise: f64, rng: &mut R) -> Result<Dataset, DataError> {
    check_noise(noise)?;
    let (n0, n1) = (n / 2, n - n / 2);
    let mut pts = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    for k in 0..n0 {
        let t = linspace(k, n0, PI);
        pts.push([t.cos(), t.sin()]);
        labels.push(0);
    }
    for k in 0..n1 {
        let t = linspace(k, n1, PI);
        pts.push([1.0 - t.cos(), 0.5 - t.sin()]);
        labels.push(1);
    }
    Ok(finish(pts, labels, noise, rng))
}

/// Two concentric circles in `R^2`: class 0 on the unit circle, class 1 on the circle of
/// radius `factor`, angles `2πk/m` (`k < m`); plus noise (module doc).
///
/// # Errors
/// [`DataError::InvalidParameter`] unless `0 < factor < 1` and `noise ≥ 0` is finite.
pub fn circles<R: Rng + ?Sized>(
    n: usize,
    factor: f64,
    noise: f64,
    rng: &mut R,
) -> Result<Dataset, DataError> {
    check_noise(noise)?;
    if !(factor > 0.0 && factor < 1.0) {
        return Err(DataError::param("factor", factor, "a number in (0, 1)"));
    }
    let (n0, n1) = (n / 2, n - n / 2);
    let mut pts = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    for (m, r, label) in [(n0, 1.0, 0), (n1, factor, 1)] {
        for k in 0..m {
            let t = 2.0 * PI * k as f64 / m as f64;
            pts.push([r * t.cos(), r * t.sin()]);
            labels.push(label);
        }
    }
    Ok(finish(pts, labels, noise, rng))
}

/// `n` i.i.d. uniform points on the unit sphere `S^{dim−1} ⊂ R^{dim}` (rows), each a
/// standard Gaussian vector divided by its norm. Combine with
/// [`crate::TeacherFlow`] for targets.
///
/// # Errors
/// [`DataError::InvalidParameter`] if `dim == 0`.
pub fn unit_sphere<R: Rng + ?Sized>(
    n: usize,
    dim: usize,
    rng: &mut R,
) -> Result<Mat<f64>, DataError> {
    if dim == 0 {
        return Err(DataError::param("dim", dim, "at least 1"));
    }
    let mut x = Mat::zeros(n, dim);
    let mut p = vec![0.0; dim];
    for i in 0..n {
        unit_sphere_point(rng, &mut p);
        for k in 0..dim {
            x[(i, k)] = p[k];
        }
    }
    Ok(x)
}
