//! Softmax cross-entropy, averaged over the batch (PyTorch's `cross_entropy`):
//! `ℓ = (1/n) Σ_b [log Σ_j e^{z_bj} − z_{b,y_b}]`, `∂ℓ/∂z_b = (softmax(z_b) − e_{y_b})/n`.
//! The log-sum-exp is shifted by the row maximum and accumulated in `f64`.

use crate::Real;

/// Loss and number of correct arg-max predictions of a batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchLoss {
    /// Mean cross-entropy (`f64` whatever the compute type).
    pub loss: f64,
    /// Samples whose largest logit is their label's (first maximum on ties).
    pub correct: usize,
}

/// The arg-max of a row (first maximum; a NaN row gives 0).
pub fn argmax<T: Real>(row: &[T]) -> usize {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = j;
        }
    }
    best
}

/// Mean softmax cross-entropy of `logits` (row-major `n × k`) against `labels`; when
/// `dlogits` is given it receives `∂ℓ/∂z`.
///
/// # Panics
/// If a label is `≥ k` or the slices are too short.
pub fn softmax_cross_entropy<T: Real>(
    logits: &[T],
    labels: &[usize],
    k: usize,
    dlogits: Option<&mut [T]>,
) -> BatchLoss {
    let n = labels.len();
    let mut total = 0.0;
    let mut correct = 0;
    for (b, &y) in labels.iter().enumerate() {
        assert!(
            y < k,
            "softmax_cross_entropy: label {y} of sample {b} ≥ k = {k}"
        );
        let row = &logits[b * k..(b + 1) * k];
        let m = row
            .iter()
            .fold(f64::NEG_INFINITY, |a, &v| a.max(v.to_f64()));
        let s: f64 = row.iter().map(|&v| (v.to_f64() - m).exp()).sum();
        total += m + s.ln() - row[y].to_f64();
        if argmax(row) == y {
            correct += 1;
        }
    }
    if let Some(d) = dlogits {
        let inv_n = 1.0 / n as f64;
        for (b, &y) in labels.iter().enumerate() {
            let row = &logits[b * k..(b + 1) * k];
            let m = row
                .iter()
                .fold(f64::NEG_INFINITY, |a, &v| a.max(v.to_f64()));
            let s: f64 = row.iter().map(|&v| (v.to_f64() - m).exp()).sum();
            for j in 0..k {
                let p = (row[j].to_f64() - m).exp() / s;
                let g = (p - if j == y { 1.0 } else { 0.0 }) * inv_n;
                d[b * k + j] = T::from_f64(g);
            }
        }
    }
    BatchLoss {
        loss: total / n as f64,
        correct,
    }
}
