//! The test problem shared by the optim test binaries.

use plres_optim::{Problem, ProblemError};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Least squares `L(θ) = (1/N) Σ_i ½(a_i·θ − y_i)² + (c/4) Σ_j θ_j⁴` with minibatches
/// (allocation-free). The quartic term (`c = 0` unless [`LeastSquares::with_quartic`])
/// makes every solver's path non-linear in `θ`, so an error in any saved quantity shows
/// in the parameters.
pub struct LeastSquares {
    n: usize,
    a: Vec<Vec<f64>>,
    y: Vec<f64>,
    all: Vec<usize>,
    quartic: f64,
}

impl LeastSquares {
    pub fn random(n_samples: usize, n: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let a = (0..n_samples)
            .map(|_| (0..n).map(|_| rng.random_range(-1.0..1.0)).collect())
            .collect();
        let y = (0..n_samples)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        Self {
            n,
            a,
            y,
            all: (0..n_samples).collect(),
            quartic: 0.0,
        }
    }

    /// The same problem with the quartic term `(c/4) Σ_j θ_j⁴`.
    #[allow(dead_code)] // not every test binary uses it
    pub fn with_quartic(mut self, c: f64) -> Self {
        self.quartic = c;
        self
    }

    fn eval(&self, p: &[f64], idx: &[usize], g: &mut [f64]) -> f64 {
        let inv = 1.0 / idx.len() as f64;
        let mut loss = 0.0;
        for &i in idx {
            let r: f64 = self.a[i].iter().zip(p).map(|(a, b)| a * b).sum::<f64>() - self.y[i];
            loss += 0.5 * r * r;
            for (gj, aj) in g.iter_mut().zip(&self.a[i]) {
                *gj += inv * r * aj;
            }
        }
        if self.quartic != 0.0 {
            for (gj, pj) in g.iter_mut().zip(p) {
                loss += 0.25 * self.quartic * pj.powi(4) / inv;
                *gj += self.quartic * pj.powi(3);
            }
        }
        loss * inv
    }
}

impl Problem for LeastSquares {
    fn n_params(&self) -> usize {
        self.n
    }
    fn loss_and_gradient(&mut self, p: &[f64], g: &mut [f64]) -> Result<f64, ProblemError> {
        Ok(self.eval(p, &self.all, g))
    }
    fn n_samples(&self) -> Option<usize> {
        Some(self.y.len())
    }
    fn minibatch_loss_and_gradient(
        &mut self,
        p: &[f64],
        idx: &[usize],
        g: &mut [f64],
    ) -> Result<f64, ProblemError> {
        Ok(self.eval(p, idx, g))
    }
}
