//! Batch normalisation with PyTorch's semantics (`BatchNorm1d`/`BatchNorm2d`, affine,
//! `momentum = 0.1`, `eps = 1e-5`).
//!
//! Each channel `c` is a contiguous row of `m` values (`m = n·h·w` for 2-d, `m = n` for
//! 1-d, the feature matrix read channel-major).
//! - **Training**: `μ = (1/m) Σ x`, `σ² = (1/m) Σ (x − μ)²` (biased), `x̂ = (x − μ)/√(σ² + ε)`,
//!   `y = γ x̂ + β`; the running statistics become `μ_r ← (1 − 0.1) μ_r + 0.1 μ` and
//!   `σ²_r ← (1 − 0.1) σ²_r + 0.1 σ² m/(m − 1)` (unbiased).
//!   Backward: `∂γ = Σ ∂y x̂`, `∂β = Σ ∂y`,
//!   `∂x = γ/(m √(σ² + ε)) · (m ∂y − Σ ∂y − x̂ Σ ∂y x̂)`.
//! - **Evaluation**: `y = γ (x − μ_r)/√(σ²_r + ε) + β`.

use crate::Real;

/// PyTorch's default momentum of the running statistics.
pub const BN_MOMENTUM: f64 = 0.1;
/// PyTorch's default `ε`.
pub const BN_EPS: f64 = 1e-5;

/// A batch-normalisation layer over `c` channels.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNorm<T> {
    /// Channels.
    pub c: usize,
    /// Scale `γ` (initialised to 1).
    pub gamma: Vec<T>,
    /// Shift `β` (initialised to 0).
    pub beta: Vec<T>,
    /// Running mean (initialised to 0).
    pub running_mean: Vec<T>,
    /// Running (unbiased) variance (initialised to 1).
    pub running_var: Vec<T>,
}

impl<T: Real> BatchNorm<T> {
    /// PyTorch's initial state: `γ = 1`, `β = 0`, `μ_r = 0`, `σ²_r = 1`.
    pub fn new(c: usize) -> Self {
        Self {
            c,
            gamma: vec![T::ONE; c],
            beta: vec![T::ZERO; c],
            running_mean: vec![T::ZERO; c],
            running_var: vec![T::ONE; c],
        }
    }

    /// Training-mode forward over rows of `m` values: `y ← γ x̂ + β`, `xhat ← x̂`,
    /// `inv_std[c] ← 1/√(σ² + ε)`; updates the running statistics when `update_running`.
    ///
    /// # Panics
    /// If `m < 2` (the unbiased variance needs two values, as in PyTorch).
    pub fn forward_train(
        &mut self,
        x: &[T],
        m: usize,
        y: &mut [T],
        xhat: &mut [T],
        inv_std: &mut [T],
        update_running: bool,
    ) {
        assert!(
            m >= 2,
            "BatchNorm: {m} value(s) per channel in training mode, need ≥ 2"
        );
        let eps = T::from_f64(BN_EPS);
        let mom = T::from_f64(BN_MOMENTUM);
        let inv_m = T::from_f64(1.0 / m as f64);
        for c in 0..self.c {
            let xs = &x[c * m..(c + 1) * m];
            let mean = xs.iter().fold(T::ZERO, |a, &v| a + v) * inv_m;
            let var = xs.iter().fold(T::ZERO, |a, &v| a + (v - mean) * (v - mean)) * inv_m;
            let is = T::ONE / (var + eps).sqrt();
            inv_std[c] = is;
            let (g, b) = (self.gamma[c], self.beta[c]);
            let ys = &mut y[c * m..(c + 1) * m];
            let hs = &mut xhat[c * m..(c + 1) * m];
            for ((yv, hv), &xv) in ys.iter_mut().zip(hs.iter_mut()).zip(xs) {
                let h = (xv - mean) * is;
                *hv = h;
                *yv = g * h + b;
            }
            if update_running {
                let unbiased = var * T::from_f64(m as f64 / (m - 1) as f64);
                self.running_mean[c] = (T::ONE - mom) * self.running_mean[c] + mom * mean;
                self.running_var[c] = (T::ONE - mom) * self.running_var[c] + mom * unbiased;
            }
        }
    }

    /// Evaluation-mode forward with the running statistics.
    pub fn forward_eval(&self, x: &[T], m: usize, y: &mut [T]) {
        let eps = T::from_f64(BN_EPS);
        for c in 0..self.c {
            let scale = self.gamma[c] / (self.running_var[c] + eps).sqrt();
            let shift = self.beta[c] - scale * self.running_mean[c];
            for (yv, &xv) in y[c * m..(c + 1) * m].iter_mut().zip(&x[c * m..(c + 1) * m]) {
                *yv = scale * xv + shift;
            }
        }
    }

    /// Training-mode backward: `dx ← ∂x`, and `∂γ`, `∂β` added into `dgamma`, `dbeta`
    /// (when given).
    pub fn backward(
        &self,
        dy: &[T],
        xhat: &[T],
        inv_std: &[T],
        m: usize,
        dx: &mut [T],
        grads: Option<(&mut [T], &mut [T])>,
    ) {
        let mut grads = grads;
        let mt = T::from_f64(m as f64);
        for c in 0..self.c {
            let dys = &dy[c * m..(c + 1) * m];
            let hs = &xhat[c * m..(c + 1) * m];
            let (mut s, mut sh) = (T::ZERO, T::ZERO);
            for (&g, &h) in dys.iter().zip(hs) {
                s += g;
                sh += g * h;
            }
            if let Some((dg, db)) = grads.as_mut() {
                dg[c] += sh;
                db[c] += s;
            }
            let k = self.gamma[c] * inv_std[c] / mt;
            for ((d, &g), &h) in dx[c * m..(c + 1) * m].iter_mut().zip(dys).zip(hs) {
                *d = k * (mt * g - s - h * sh);
            }
        }
    }
}
