//! Losses on the network output `z_i = B x_i^L` and their gradients (docs/theory.md §3.1).
//!
//! * squared: `L = (1/N) Σ_i ½‖z_i − y_i‖²`, `∂L/∂z_i = (z_i − y_i)/N`;
//! * softmax cross-entropy on class labels `y_i ∈ {0..d_out−1}` with `z_i` as logits:
//!   `L = (1/N) Σ_i (lse(z_i) − z_{i,y_i})`, `lse(z) = m + ln Σ_j e^{z_j − m}`,
//!   `m = max_j z_j` (stable: every exponent is ≤ 0), and
//!   `∂L/∂z_i = (softmax(z_i) − e_{y_i})/N`.
//!
//! The factor `1/N` is part of the gradient, so the adjoint's terminal value is
//! `P^L = (∂L/∂Z) B` (docs/theory.md §4: `p_i^L = (1/N) Bᵀ∇ℓ`). The variant of
//! [`TargetsRef`] (plres-data's view of its `Targets`) chooses the loss. Squared loss on
//! one-hot codes of labels: [`one_hot`].

use faer::{Mat, MatMut, MatRef};
use plres_kernels::validate::first_non_finite;
use plres_simd::clear_upper_state;

use plres_data::TargetsRef;

use crate::error::ResNetError;
use crate::maps::check_dim;

/// Checks targets against `n` samples and an output dimension `d_out`: shape,
/// finiteness, labels `< d_out`. Every checked entry point calls it once per call.
///
/// # Errors
/// [`ResNetError::DimensionMismatch`] naming rows/columns/labels,
/// [`ResNetError::NonFinite`], [`ResNetError::LabelOutOfRange`].
pub fn validate_targets(
    targets: TargetsRef<'_>,
    n: usize,
    d_out: usize,
) -> Result<(), ResNetError> {
    match targets {
        TargetsRef::Regression(y) => {
            check_dim("target rows (one per sample)", n, y.nrows())?;
            check_dim("target columns (d_out)", d_out, y.ncols())?;
            check_finite(y, "targets")
        }
        TargetsRef::Classes(labels) => {
            check_dim("number of labels (one per sample)", n, labels.len())?;
            match labels.iter().position(|&c| c >= d_out) {
                Some(index) => Err(ResNetError::LabelOutOfRange {
                    index,
                    label: labels[index],
                    n_classes: d_out,
                }),
                None => Ok(()),
            }
        }
    }
}

/// Returns the first non-finite entry of `x` as a typed error naming `what`.
pub(crate) fn check_finite(x: MatRef<'_, f64>, what: &'static str) -> Result<(), ResNetError> {
    first_non_finite(x).map_or(Ok(()), |(row, col, value)| {
        Err(ResNetError::NonFinite {
            what,
            row,
            col,
            value,
        })
    })
}

/// Mean squared loss `(1/N) Σ_i ½‖z_i − y_i‖²`; writes `∂L/∂Z = (Z − Y)/N` into `grad`.
///
/// # Panics
/// If `z`, `y`, `grad` do not all have the same shape.
#[track_caller]
pub fn squared_loss_in_place(z: MatRef<'_, f64>, y: MatRef<'_, f64>, grad: MatMut<'_, f64>) -> f64 {
    let mut grad = grad;
    assert!(
        z.nrows() == y.nrows()
            && z.ncols() == y.ncols()
            && grad.nrows() == z.nrows()
            && grad.ncols() == z.ncols(),
        "squared_loss_in_place: z is {}×{} (N×d_out), y {}×{}, grad {}×{}: all must be N×d_out",
        z.nrows(),
        z.ncols(),
        y.nrows(),
        y.ncols(),
        grad.nrows(),
        grad.ncols()
    );
    let n = z.nrows();
    let inv_n = 1.0 / n as f64;
    let mut sum = 0.0;
    for j in 0..z.ncols() {
        for i in 0..n {
            let r = z[(i, j)] - y[(i, j)];
            sum += r * r;
            grad[(i, j)] = r * inv_n;
        }
    }
    0.5 * sum * inv_n
}

/// Mean softmax cross-entropy `(1/N) Σ_i (lse(z_i) − z_{i,y_i})` with a stable
/// log-sum-exp; writes `∂L/∂Z = (softmax(Z) − onehot(y))/N` into `grad`.
///
/// # Panics
/// If `labels.len() != z.nrows()`, `grad` has another shape than `z`, or a label is
/// `≥ z.ncols()` (public entry points check labels first with [`validate_targets`]).
#[track_caller]
pub fn cross_entropy_loss_in_place(
    z: MatRef<'_, f64>,
    labels: &[usize],
    grad: MatMut<'_, f64>,
) -> f64 {
    let mut grad = grad;
    assert!(
        labels.len() == z.nrows() && grad.nrows() == z.nrows() && grad.ncols() == z.ncols(),
        "cross_entropy_loss_in_place: z is {}×{} (N×d_out), {} labels (N), grad {}×{} (N×d_out)",
        z.nrows(),
        z.ncols(),
        labels.len(),
        grad.nrows(),
        grad.ncols()
    );
    let n = z.nrows();
    let c = z.ncols();
    let inv_n = 1.0 / n as f64;
    let mut total = 0.0;
    clear_upper_state();
    for i in 0..n {
        let label = labels[i];
        assert!(
            label < c,
            "label {label} of sample {i} ≥ d_out = {c} classes"
        );
        let mut m = f64::NEG_INFINITY;
        for j in 0..c {
            m = m.max(z[(i, j)]);
        }
        let mut s = 0.0;
        for j in 0..c {
            let e = (z[(i, j)] - m).exp();
            grad[(i, j)] = e;
            s += e;
        }
        total += m + s.ln() - z[(i, label)];
        let scale = inv_n / s;
        for j in 0..c {
            grad[(i, j)] *= scale;
        }
        grad[(i, label)] -= inv_n;
    }
    total * inv_n
}

/// The loss selected by `targets` and its gradient `∂L/∂Z` (including `1/N`) in `grad`.
///
/// # Panics
/// On shape mismatches (see [`squared_loss_in_place`], [`cross_entropy_loss_in_place`]).
#[track_caller]
pub fn loss_in_place(z: MatRef<'_, f64>, targets: TargetsRef<'_>, grad: MatMut<'_, f64>) -> f64 {
    match targets {
        TargetsRef::Regression(y) => squared_loss_in_place(z, y, grad),
        TargetsRef::Classes(labels) => cross_entropy_loss_in_place(z, labels, grad),
    }
}

/// The loss selected by `targets`, without its gradient (no allocation).
///
/// # Panics
/// On shape mismatches.
#[track_caller]
pub fn loss_value(z: MatRef<'_, f64>, targets: TargetsRef<'_>) -> f64 {
    let n = z.nrows();
    let inv_n = 1.0 / n as f64;
    match targets {
        TargetsRef::Regression(y) => {
            assert!(
                y.nrows() == n && y.ncols() == z.ncols(),
                "loss_value: z is {}×{} (N×d_out), y {}×{}: must be N×d_out",
                n,
                z.ncols(),
                y.nrows(),
                y.ncols()
            );
            let mut sum = 0.0;
            for j in 0..z.ncols() {
                for i in 0..n {
                    let r = z[(i, j)] - y[(i, j)];
                    sum += r * r;
                }
            }
            0.5 * sum * inv_n
        }
        TargetsRef::Classes(labels) => {
            assert!(
                labels.len() == n,
                "loss_value: z has N = {n} rows, {} labels (one per row)",
                labels.len()
            );
            let mut total = 0.0;
            clear_upper_state();
            for (i, &label) in labels.iter().enumerate() {
                let mut m = f64::NEG_INFINITY;
                for j in 0..z.ncols() {
                    m = m.max(z[(i, j)]);
                }
                let s: f64 = (0..z.ncols()).map(|j| (z[(i, j)] - m).exp()).sum();
                total += m + s.ln() - z[(i, label)];
            }
            total * inv_n
        }
    }
}

/// Index of the largest entry of each row (the predicted class; ties go to the lowest
/// index), written into `out` (len = rows).
///
/// # Panics
/// If `out.len() != z.nrows()` or `z` has no columns.
#[track_caller]
pub fn argmax_rows(z: MatRef<'_, f64>, out: &mut [usize]) {
    assert!(
        out.len() == z.nrows() && z.ncols() > 0,
        "argmax_rows: z is {}×{} (N×classes, classes ≥ 1), out len {} (N)",
        z.nrows(),
        z.ncols(),
        out.len()
    );
    for (i, o) in out.iter_mut().enumerate() {
        let mut best = 0;
        for j in 1..z.ncols() {
            if z[(i, j)] > z[(i, best)] {
                best = j;
            }
        }
        *o = best;
    }
}

/// One-hot codes `Y_{i,c} = [c = labels_i]` (`N × n_classes`), for squared loss on
/// class labels (the setting of the PL theory).
///
/// # Errors
/// [`ResNetError::LabelOutOfRange`] if a label is `≥ n_classes`.
pub fn one_hot(labels: &[usize], n_classes: usize) -> Result<Mat<f64>, ResNetError> {
    if let Some(index) = labels.iter().position(|&c| c >= n_classes) {
        return Err(ResNetError::LabelOutOfRange {
            index,
            label: labels[index],
            n_classes,
        });
    }
    Ok(Mat::from_fn(labels.len(), n_classes, |i, c| {
        if labels[i] == c { 1.0 } else { 0.0 }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Central differences of `loss_value` against the analytic gradient. The loss is
    /// smooth with O(1) third derivatives at these inputs, so the FD error is
    /// O(ε²) + O(eps_mach/ε); ε = 1e-5 gives ~1e-10 absolute.
    fn check_fd(z: &Mat<f64>, targets: TargetsRef<'_>) {
        let mut grad = Mat::zeros(z.nrows(), z.ncols());
        let l = loss_in_place(z.as_ref(), targets, grad.as_mut());
        assert!((l - loss_value(z.as_ref(), targets)).abs() <= 1e-14 * l.abs().max(1.0));
        let eps = 1e-5;
        for i in 0..z.nrows() {
            for j in 0..z.ncols() {
                let mut zp = z.clone();
                zp[(i, j)] += eps;
                let mut zm = z.clone();
                zm[(i, j)] -= eps;
                let fd = (loss_value(zp.as_ref(), targets) - loss_value(zm.as_ref(), targets))
                    / (2.0 * eps);
                assert!((fd - grad[(i, j)]).abs() < 1e-9, "{fd} vs {}", grad[(i, j)]);
            }
        }
    }

    #[test]
    fn squared_and_cross_entropy_gradients_match_finite_differences() {
        let z = Mat::from_fn(4, 3, |i, j| ((i * 3 + j) as f64 * 0.7).sin() * 2.0);
        let y = Mat::from_fn(4, 3, |i, j| ((i + 2 * j) as f64 * 0.3).cos());
        check_fd(&z, TargetsRef::Regression(y.as_ref()));
        check_fd(&z, TargetsRef::Classes(&[0, 2, 1, 2]));
    }

    #[test]
    fn cross_entropy_is_stable_for_huge_logits() {
        // lse(z) − z_y with z = (1000, 0): exactly 1000 − 1000 + ln(1 + e^{-1000}) = 0
        // for label 0, and 1000 for label 1; a naive exp would overflow to inf.
        let z = Mat::from_fn(2, 2, |_, j| if j == 0 { 1000.0 } else { 0.0 });
        let mut g = Mat::zeros(2, 2);
        let l = cross_entropy_loss_in_place(z.as_ref(), &[0, 1], g.as_mut());
        assert_eq!(l, 0.5 * (0.0 + 1000.0));
        assert!(
            g.col(0)
                .iter()
                .chain(g.col(1).iter())
                .all(|v| v.is_finite())
        );
        // gradient rows sum to zero (softmax sums to one)
        for i in 0..2 {
            assert!((g[(i, 0)] + g[(i, 1)]).abs() < 1e-16);
        }
    }

    #[test]
    fn squared_loss_closed_form() {
        // z − y = 1 everywhere on a 2×3 batch: L = (1/2)·½·6 = 1.5
        let z = Mat::from_fn(2, 3, |_, _| 2.0);
        let y = Mat::from_fn(2, 3, |_, _| 1.0);
        let mut g = Mat::zeros(2, 3);
        assert_eq!(
            squared_loss_in_place(z.as_ref(), y.as_ref(), g.as_mut()),
            1.5
        );
        assert!(g.col(0).iter().all(|&v| v == 0.5));
    }

    #[test]
    fn labels_are_validated() {
        let z = Mat::<f64>::zeros(2, 3);
        let t = TargetsRef::Classes(&[0, 3]);
        assert!(matches!(
            validate_targets(t, z.nrows(), z.ncols()),
            Err(ResNetError::LabelOutOfRange {
                index: 1,
                label: 3,
                n_classes: 3
            })
        ));
        assert!(one_hot(&[0, 5], 3).is_err());
        let y = one_hot(&[2, 0], 3).unwrap();
        assert_eq!((y[(0, 2)], y[(1, 0)], y[(0, 0)]), (1.0, 1.0, 0.0));
    }
}
