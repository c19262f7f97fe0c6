//! Eigenvalues of symmetric matrices with a reusable workspace ([`SymEigen`]): faer's
//! self-adjoint QR iteration (tridiagonalisation, implicit QR), eigenvalues only.
//!
//! **Scale guard.** The iteration fails on matrices whose entries are all of subnormal
//! (or huge) magnitude, e.g. the Jacobian of a kernel expansion far from its centres.
//! When `amax = max|a_ij|` (lower triangle) lies outside `[1e-150, 1e150]` the matrix is
//! divided by `amax` first and the eigenvalues multiplied back: `λ(A) = amax · λ(A/amax)`,
//! exact up to one rounding per entry.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{ComputeEigenvectors, self_adjoint_evd, self_adjoint_evd_scratch};
use faer::{Col, Mat, MatRef, Par};

use crate::KernelError;

/// Reusable workspace for the eigenvalues of `n×n` symmetric matrices (no eigenvectors).
pub struct SymEigen {
    n: usize,
    par: Par,
    buf: MemBuffer,
    vals: Col<f64>,
    scaled: Mat<f64>,
}

/// Entries of magnitude outside `[SAFE_MIN, SAFE_MAX]` are rescaled before the
/// eigenvalue iteration (it fails on matrices of subnormal scale, e.g. the Jacobian of
/// a kernel expansion far from its centres).
const SAFE_MIN: f64 = 1e-150;
const SAFE_MAX: f64 = 1e150;

impl std::fmt::Debug for SymEigen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SymEigen")
            .field("n", &self.n)
            .field("par", &self.par)
            .finish_non_exhaustive()
    }
}

impl SymEigen {
    /// A workspace for `n×n` matrices, with parallelism `par` for the tridiagonalisation.
    pub fn new(n: usize, par: Par) -> Self {
        let req =
            self_adjoint_evd_scratch::<f64>(n, ComputeEigenvectors::No, par, Default::default());
        Self {
            n,
            par,
            buf: MemBuffer::new(req),
            vals: Col::zeros(n),
            scaled: Mat::zeros(0, 0),
        }
    }

    /// The dimension this workspace serves.
    pub fn dim(&self) -> usize {
        self.n
    }

    /// The eigenvalues of the symmetric `a` (only its lower triangle is read), in
    /// non-decreasing order.
    ///
    /// # Errors
    /// [`KernelError::NonFinite`] for a NaN or infinite entry of the lower triangle;
    /// [`KernelError::EigenNoConvergence`] when the QR iteration fails.
    ///
    /// # Panics
    /// When `a` is not `n×n`.
    pub fn eigenvalues(&mut self, a: MatRef<'_, f64>) -> Result<&[f64], KernelError> {
        super::assert_workspace_size("SymEigen", self.n, a);
        // largest magnitude of the lower triangle (the part the iteration reads)
        let mut amax = 0.0f64;
        for j in 0..self.n {
            for i in j..self.n {
                let v = a[(i, j)];
                if !v.is_finite() {
                    return Err(KernelError::NonFinite {
                        what: "symmetric matrix",
                        row: i,
                        col: j,
                        value: v,
                    });
                }
                amax = amax.max(v.abs());
            }
        }
        if amax == 0.0 {
            self.vals.fill(0.0);
            return Ok(self
                .vals
                .as_ref()
                .try_as_col_major()
                .expect("owned column is contiguous")
                .as_slice());
        }
        let scale = if (SAFE_MIN..=SAFE_MAX).contains(&amax) {
            1.0
        } else {
            amax
        };
        let a = if scale == 1.0 {
            a
        } else {
            if self.scaled.nrows() != self.n {
                self.scaled = Mat::zeros(self.n, self.n);
            }
            for j in 0..self.n {
                for i in j..self.n {
                    self.scaled[(i, j)] = a[(i, j)] / scale;
                }
            }
            self.scaled.as_ref()
        };
        self_adjoint_evd(
            a,
            self.vals.as_mut().as_diagonal_mut(),
            None,
            self.par,
            MemStack::new(&mut self.buf),
            Default::default(),
        )
        .map_err(|_| KernelError::EigenNoConvergence { n: self.n })?;
        if scale != 1.0 {
            for v in self.vals.iter_mut() {
                *v *= scale;
            }
        }
        Ok(self
            .vals
            .as_ref()
            .try_as_col_major()
            .expect("owned column is contiguous")
            .as_slice())
    }

    /// `λ_min(a)` of the symmetric `a`.
    ///
    /// # Errors
    /// As [`SymEigen::eigenvalues`].
    pub fn lambda_min(&mut self, a: MatRef<'_, f64>) -> Result<f64, KernelError> {
        if self.n == 0 {
            return Ok(f64::INFINITY);
        }
        Ok(self.eigenvalues(a)?[0])
    }

    /// `λ_max(a)` of the symmetric `a`.
    ///
    /// # Errors
    /// As [`SymEigen::eigenvalues`].
    pub fn lambda_max(&mut self, a: MatRef<'_, f64>) -> Result<f64, KernelError> {
        if self.n == 0 {
            return Ok(f64::NEG_INFINITY);
        }
        Ok(*self.eigenvalues(a)?.last().expect("n ≥ 1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Q diag(1, 2, 3) Qᵀ` with a Householder `Q` has eigenvalues 1, 2, 3; the QR
    /// iteration is backward stable, error `≤ c n eps ‖A‖` (`c = 16`).
    #[test]
    fn eigenvalues_of_a_known_spectrum() {
        let v = [0.6, 0.0, 0.8];
        let q = Mat::from_fn(3, 3, |i, j| f64::from(u8::from(i == j)) - 2.0 * v[i] * v[j]);
        let dmat = Mat::from_fn(3, 3, |i, j| if i == j { (i + 1) as f64 } else { 0.0 });
        let a = &q * &dmat * q.transpose();
        let mut w = SymEigen::new(3, Par::Seq);
        let vals = w.eigenvalues(a.as_ref()).unwrap().to_vec();
        for (k, l) in vals.iter().enumerate() {
            assert!((l - (k + 1) as f64).abs() < 16.0 * f64::EPSILON * 3.0 * 3.0);
        }
        assert!((w.lambda_min(a.as_ref()).unwrap() - 1.0).abs() < 16.0 * f64::EPSILON * 9.0);
        assert!((w.lambda_max(a.as_ref()).unwrap() - 3.0).abs() < 16.0 * f64::EPSILON * 9.0);
    }

    /// The scale guard: diagonal matrices of subnormal and huge scale come back exactly
    /// (`amax` is a power-of-ten multiple of an entry, division and product round once
    /// each and cancel here), zero gives zeros, NaN is reported with its position.
    #[test]
    fn tiny_and_huge_scales() {
        let mut e = SymEigen::new(2, Par::Seq);
        let a = Mat::from_fn(2, 2, |i, j| if i == j { [1e-310, 3e-310][i] } else { 0.0 });
        let v = e.eigenvalues(a.as_ref()).unwrap().to_vec();
        assert_eq!(v, vec![1e-310, 3e-310]);
        let a = Mat::from_fn(2, 2, |i, j| if i == j { [1e200, 3e200][i] } else { 0.0 });
        assert_eq!(e.lambda_max(a.as_ref()).unwrap(), 3e200);
        assert_eq!(
            e.eigenvalues(Mat::<f64>::zeros(2, 2).as_ref()).unwrap(),
            &[0.0, 0.0]
        );
        let a = Mat::from_fn(2, 2, |i, j| if (i, j) == (1, 0) { f64::NAN } else { 1.0 });
        assert!(matches!(
            e.eigenvalues(a.as_ref()),
            Err(KernelError::NonFinite { row: 1, col: 0, .. })
        ));
        assert_eq!(
            SymEigen::new(0, Par::Seq).lambda_min(Mat::<f64>::zeros(0, 0).as_ref()),
            Ok(f64::INFINITY)
        );
    }
}
