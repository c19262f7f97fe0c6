//! Allocation-free dense linear algebra the checks repeat at every iterate: Gram
//! matrices from GEMMs and operator norms of small square matrices, each with a reusable
//! workspace. Eigenvalues (`λ_min`, `λ_max`) are plres-kernels' ([`SymEigen`],
//! [`plres_kernels::spectral::CertifiedLambdaMin`]).

use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::reborrow::ReborrowMut;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use plres_kernels::spectral::SymEigen;

use crate::error::TheoryError;

/// `out = Φ Φᵀ` (the features Gram `k_p(x_i, x_j) = φ(x_i)·φ(x_j)`), computed as a
/// lower-triangular GEMM (half the flops of a full product) and mirrored.
///
/// # Panics
/// When `out` is not `N×N` for `Φ` of `N` rows.
pub fn gram_in_place(phi: MatRef<'_, f64>, mut out: MatMut<'_, f64>, par: Par) {
    let n = phi.nrows();
    assert!(
        out.nrows() == n && out.ncols() == n,
        "gram_in_place: Φ is {}×{}, out is {}×{} (expected {n}×{n})",
        n,
        phi.ncols(),
        out.nrows(),
        out.ncols()
    );
    triangular::matmul(
        out.rb_mut(),
        BlockStructure::TriangularLower,
        Accum::Replace,
        phi,
        BlockStructure::Rectangular,
        phi.transpose(),
        BlockStructure::Rectangular,
        1.0,
        par,
    );
    for j in 0..n {
        for i in 0..j {
            out[(i, j)] = out[(j, i)];
        }
    }
}

/// Reusable workspace for `‖M‖_op` of `m×d` matrices, `‖M‖²_op = λ_max(MᵀM)`.
#[derive(Debug)]
pub struct OpNorm {
    mtm: Mat<f64>,
    scaled: Mat<f64>,
    eig: SymEigen,
}

impl OpNorm {
    /// A workspace for matrices with `d` columns.
    pub fn new(d: usize) -> Self {
        Self {
            mtm: Mat::zeros(d, d),
            scaled: Mat::zeros(d, d),
            eig: SymEigen::new(d, Par::Seq),
        }
    }

    /// `‖M‖_op = √λ_max(MᵀM)`. Forming `MᵀM` squares the relative rounding
    /// (`≈ eps·m` on `‖M‖²`), harmless for the `O(1)` norms the certificate uses.
    ///
    /// # Errors
    /// As [`SymEigen::eigenvalues`].
    ///
    /// # Panics
    /// When `M` does not have `d` columns.
    pub fn op_norm(&mut self, m: MatRef<'_, f64>) -> Result<f64, TheoryError> {
        let d = self.eig.dim();
        assert_eq!(
            m.ncols(),
            d,
            "OpNorm: workspace for {d} columns, matrix is {}×{}",
            m.nrows(),
            m.ncols()
        );
        if d == 0 {
            return Ok(0.0);
        }
        // ‖M‖ = s ‖M/s‖ with s = max|m_ij|: MᵀM neither underflows nor overflows
        let mut s = 0.0f64;
        for j in 0..d {
            for i in 0..m.nrows() {
                let v = m[(i, j)].abs();
                s = if v.is_nan() { f64::INFINITY } else { s.max(v) };
            }
        }
        if s == 0.0 {
            return Ok(0.0);
        }
        if !s.is_finite() {
            return Err(TheoryError::NoConvergence {
                what: "operator norm (non-finite entry)",
            });
        }
        let rows = m.nrows();
        if self.scaled.nrows() != rows {
            self.scaled = Mat::zeros(rows, d);
        }
        // divide (not multiply by 1/s, which overflows for subnormal s)
        for j in 0..d {
            for i in 0..rows {
                self.scaled[(i, j)] = m[(i, j)] / s;
            }
        }
        let ms = self.scaled.as_ref();
        triangular::matmul(
            self.mtm.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Replace,
            ms.transpose(),
            BlockStructure::Rectangular,
            ms,
            BlockStructure::Rectangular,
            1.0,
            Par::Seq,
        );
        Ok(s * self.eig.lambda_max(self.mtm.as_ref())?.max(0.0).sqrt())
    }
}

/// `max_i ‖M_i‖_op` over many small `d×d` matrices, pruned: for each `M_i` the cheap
/// upper bound `‖M_i‖² ≤ tr(A)·‖(A/tr A)⁴‖_F^{1/4}` (`A = M_iᵀM_i`; `(Σλ⁸)^{1/8} ≥ λ_max`,
/// within a factor `d^{1/8}` and typically 1 %), then exact norms in decreasing order of
/// the bound until the next bound falls below the best exact norm. The result is the
/// exact maximum (the pruned matrices provably have smaller norms, up to the rounding of
/// the bound, `O(d eps)` relative).
pub struct MaxOpNorm {
    d: usize,
    m: Mat<f64>,
    a: Mat<f64>,
    a2: Mat<f64>,
    a4: Mat<f64>,
    bounds: Vec<(f64, usize)>,
    exact: OpNorm,
}

impl std::fmt::Debug for MaxOpNorm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaxOpNorm")
            .field("d", &self.d)
            .finish_non_exhaustive()
    }
}

/// `out = a·a` (sequential GEMM; `a` square).
#[inline]
fn square_into(out: MatMut<'_, f64>, a: MatRef<'_, f64>) {
    matmul(out, Accum::Replace, a, a, 1.0, Par::Seq);
}

impl MaxOpNorm {
    /// A workspace for `d×d` matrices.
    pub fn new(d: usize) -> Self {
        Self {
            d,
            m: Mat::zeros(d, d),
            a: Mat::zeros(d, d),
            a2: Mat::zeros(d, d),
            a4: Mat::zeros(d, d),
            bounds: Vec::new(),
            exact: OpNorm::new(d),
        }
    }

    fn load(&mut self, rows: MatRef<'_, f64>, i: usize) {
        let d = self.d;
        for c in 0..d {
            for e in 0..d {
                self.m[(c, e)] = rows[(i, c * d + e)];
            }
        }
    }

    /// `max_i ‖M_i‖_op` where row `i` of `rows` (`N × d²`) holds `M_i` row by row:
    /// `M_i[c, e] = rows[i, c·d + e]`. Also returns how many exact norms were computed.
    ///
    /// # Errors
    /// [`TheoryError::NoConvergence`] (non-finite entries).
    ///
    /// # Panics
    /// When `rows` does not have `d²` columns.
    pub fn max_rows(&mut self, rows: MatRef<'_, f64>) -> Result<(f64, usize), TheoryError> {
        let d = self.d;
        assert_eq!(
            rows.ncols(),
            d * d,
            "MaxOpNorm: rows have {} columns, expected d² = {}",
            rows.ncols(),
            d * d
        );
        self.bounds.clear();
        for i in 0..rows.nrows() {
            self.load(rows, i);
            let mut tr = 0.0;
            for c in 0..d {
                for e in 0..d {
                    let v = self.m[(c, e)];
                    tr += v * v;
                }
            }
            if !tr.is_finite() {
                return Err(TheoryError::NoConvergence {
                    what: "operator norm (non-finite entry)",
                });
            }
            if tr == 0.0 {
                continue;
            }
            matmul(
                self.a.as_mut(),
                Accum::Replace,
                self.m.transpose(),
                self.m.as_ref(),
                1.0 / tr,
                Par::Seq,
            );
            square_into(self.a2.as_mut(), self.a.as_ref());
            square_into(self.a4.as_mut(), self.a2.as_ref());
            let mut f2 = 0.0;
            for c in 0..d {
                for e in 0..d {
                    f2 += self.a4[(c, e)] * self.a4[(c, e)];
                }
            }
            // ‖M‖² = tr · λ_max(A/tr) ≤ tr · ‖(A/tr)⁴‖_F^{1/4}; 1 + 8d eps covers the
            // rounding of the bound itself
            let bound =
                (tr * f2.sqrt().sqrt().sqrt()).sqrt() * (1.0 + 8.0 * d as f64 * f64::EPSILON);
            self.bounds.push((bound.min(tr.sqrt()), i));
        }
        self.bounds.sort_unstable_by(|x, y| y.0.total_cmp(&x.0));
        let mut best = 0.0f64;
        let mut exact = 0;
        for j in 0..self.bounds.len() {
            let (b, i) = self.bounds[j];
            if b <= best {
                break;
            }
            self.load(rows, i);
            best = best.max(self.exact.op_norm(self.m.as_ref())?);
            exact += 1;
        }
        Ok((best, exact))
    }
}

/// `‖A‖_op = max(|λ_min|, |λ_max|)` of a symmetric matrix (allocates a workspace; for
/// one-off use).
///
/// # Errors
/// As [`SymEigen::eigenvalues`].
pub fn spectral_norm_sym(a: MatRef<'_, f64>) -> Result<f64, TheoryError> {
    let mut w = SymEigen::new(a.nrows(), Par::Seq);
    let v = w.eigenvalues(a)?;
    Ok(v.first()
        .map_or(0.0, |&l| l.abs())
        .max(v.last().map_or(0.0, |&l| l.abs())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gram_matches_full_product_and_norm_of_diagonalisable() {
        let phi = Mat::from_fn(5, 7, |i, j| ((i * 7 + j) as f64 * 0.37).sin());
        let mut g = Mat::zeros(5, 5);
        gram_in_place(phi.as_ref(), g.as_mut(), Par::Seq);
        let full = &phi * phi.transpose();
        for j in 0..5 {
            for i in 0..5 {
                // same dot products, possibly summed in another order: ≤ 7·eps·Σ|φφ|
                assert!((g[(i, j)] - full[(i, j)]).abs() < 7.0 * 7.0 * f64::EPSILON);
            }
        }
        // Q diag(1, 2, 3) Qᵀ with a Householder Q
        let v = [0.6, 0.0, 0.8];
        let q = Mat::from_fn(3, 3, |i, j| f64::from(u8::from(i == j)) - 2.0 * v[i] * v[j]);
        let dmat = Mat::from_fn(3, 3, |i, j| if i == j { (i + 1) as f64 } else { 0.0 });
        let a = &q * &dmat * q.transpose();
        assert!((spectral_norm_sym(a.as_ref()).unwrap() - 3.0).abs() < 1e-14);
    }

    #[test]
    fn op_norm_of_rank_one_and_diagonal() {
        // u vᵀ has norm ‖u‖‖v‖
        let u = [1.0, 2.0, 2.0];
        let v = [3.0, 4.0];
        let m = Mat::from_fn(3, 2, |i, j| u[i] * v[j]);
        let mut w = OpNorm::new(2);
        assert!((w.op_norm(m.as_ref()).unwrap() - 15.0).abs() < 1e-13);
        let dmat = Mat::from_fn(4, 2, |i, j| if i == j { [-5.0, 2.0][i] } else { 0.0 });
        assert!((w.op_norm(dmat.as_ref()).unwrap() - 5.0).abs() < 1e-14);
    }

    #[test]
    fn tiny_and_huge_scales() {
        // a matrix of subnormal-scale MᵀM: ‖c·uvᵀ‖ = c‖u‖‖v‖ exactly representable
        let mut w = OpNorm::new(2);
        for c in [1e-157, 1e-315] {
            let m = Mat::from_fn(2, 2, |i, j| c * [1.0, 2.0][i] * [3.0, 4.0][j]);
            let got = w.op_norm(m.as_ref()).unwrap();
            let want = c * 5f64.sqrt() * 5.0;
            // subnormal inputs carry absolute rounding ~ 5e-324 per entry
            assert!(
                (got - want).abs() <= 1e-14 * want + 1e-321,
                "{got:e} vs {want:e}"
            );
        }
        assert_eq!(w.op_norm(Mat::<f64>::zeros(3, 2).as_ref()).unwrap(), 0.0);
        assert!(
            w.op_norm(Mat::from_fn(2, 2, |i, _| if i == 0 { f64::NAN } else { 1.0 }).as_ref())
                .is_err()
        );
    }

    #[test]
    fn pruned_max_op_norm_is_the_exact_maximum() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let (n, d) = (200, 5);
        let rows = Mat::from_fn(n, d * d, |i, _| {
            let z: f64 = StandardNormal.sample(&mut rng);
            z * (1.0 + (i % 7) as f64 * 0.05)
        });
        let mut w = MaxOpNorm::new(d);
        let (got, exact_count) = w.max_rows(rows.as_ref()).unwrap();
        let mut op = OpNorm::new(d);
        let mut brute = 0.0f64;
        for i in 0..n {
            let m = Mat::from_fn(d, d, |c, e| rows[(i, c * d + e)]);
            brute = brute.max(op.op_norm(m.as_ref()).unwrap());
        }
        assert_eq!(got, brute);
        assert!(exact_count < n / 4, "pruning computed {exact_count} of {n}");
        assert_eq!(
            w.max_rows(Mat::<f64>::zeros(3, d * d).as_ref()).unwrap().0,
            0.0
        );
    }
}
