//! Allocation-free dense linear algebra the checks repeat at every iterate: Gram
//! matrices from GEMMs, smallest eigenvalues of symmetric matrices and operator norms of
//! small square matrices, each with a reusable workspace.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{ComputeEigenvectors, self_adjoint_evd, self_adjoint_evd_scratch};
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Col, Mat, MatMut, MatRef, Par};

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
    /// [`TheoryError::NoConvergence`] when the QR iteration fails (non-finite input).
    ///
    /// # Panics
    /// When `a` is not `n×n`.
    pub fn eigenvalues(&mut self, a: MatRef<'_, f64>) -> Result<&[f64], TheoryError> {
        assert!(
            a.nrows() == self.n && a.ncols() == self.n,
            "SymEigen: workspace for {n}×{n}, matrix is {}×{}",
            a.nrows(),
            a.ncols(),
            n = self.n
        );
        // largest magnitude of the lower triangle (the part the iteration reads)
        let mut amax = 0.0f64;
        for j in 0..self.n {
            for i in j..self.n {
                // `f64::max` ignores NaN: fold it into ∞ so it is reported
                let v = a[(i, j)].abs();
                amax = if v.is_nan() {
                    f64::INFINITY
                } else {
                    amax.max(v)
                };
            }
        }
        if !amax.is_finite() {
            return Err(TheoryError::NoConvergence {
                what: "symmetric eigenvalues (non-finite entry)",
            });
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
        .map_err(|_| TheoryError::NoConvergence {
            what: "symmetric eigenvalues",
        })?;
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
    pub fn lambda_min(&mut self, a: MatRef<'_, f64>) -> Result<f64, TheoryError> {
        if self.n == 0 {
            return Ok(f64::INFINITY);
        }
        Ok(self.eigenvalues(a)?[0])
    }

    /// `λ_max(a)` of the symmetric `a`.
    ///
    /// # Errors
    /// As [`SymEigen::eigenvalues`].
    pub fn lambda_max(&mut self, a: MatRef<'_, f64>) -> Result<f64, TheoryError> {
        if self.n == 0 {
            return Ok(f64::NEG_INFINITY);
        }
        Ok(*self.eigenvalues(a)?.last().expect("n ≥ 1"))
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

/// How a [`CertifiedLambdaMin`] obtained its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LambdaMinMethod {
    /// A Lanczos estimate `λ̂` certified by a Cholesky factorisation of `A − tI`,
    /// `t = λ̂(1 − τ)`: the value `t − (n+1) eps tr(A)` is a lower bound of `λ_min(A)`
    /// (Cholesky's backward error is at most `(n+1) eps tr(A)` in norm).
    CertifiedLowerBound,
    /// The symmetric QR eigenvalues (small matrices, or when the certification failed:
    /// singular or badly clustered spectra).
    Exact,
}

/// `λ_min` of a symmetric positive semi-definite `n×n` matrix, fast: a Cholesky
/// factorisation, `k` steps of Lanczos on `A⁻¹` (its largest Ritz value `1/λ̂`), and a
/// second Cholesky of `A − λ̂(1 − τ) I` that certifies `λ_min ≥ λ̂(1 − τ)` up to rounding
/// (`τ ∈ {1e-10, 1e-6, 1e-3}` tried in turn). Falls back to [`SymEigen`] when `A` is not
/// numerically positive definite or no `τ` certifies; matrices with `n ≤ 64` always use
/// the exact path. Every value returned is therefore either exact (QR) or a certified
/// lower bound — never an overestimate beyond rounding, which is what a PL certificate
/// needs. About 5× cheaper than the full eigenvalue decomposition at `n = 256`.
pub struct CertifiedLambdaMin {
    n: usize,
    k: usize,
    par: Par,
    l: Mat<f64>,
    buf: MemBuffer,
    q: Mat<f64>,
    w: Mat<f64>,
    coef: Mat<f64>,
    t: Mat<f64>,
    small: SymEigen,
    exact: SymEigen,
    last: LambdaMinMethod,
}

impl std::fmt::Debug for CertifiedLambdaMin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertifiedLambdaMin")
            .field("n", &self.n)
            .field("k", &self.k)
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

/// Matrices up to this size go straight to the exact eigenvalues.
const LANCZOS_MIN_DIM: usize = 64;

impl CertifiedLambdaMin {
    /// A workspace for `n×n` matrices (`par` for the factorisations and the fallback).
    pub fn new(n: usize, par: Par) -> Self {
        use faer::linalg::cholesky::llt::factor::cholesky_in_place_scratch;
        let k = if n <= LANCZOS_MIN_DIM { 0 } else { 48.min(n) };
        Self {
            n,
            k,
            par,
            l: Mat::zeros(if k > 0 { n } else { 0 }, if k > 0 { n } else { 0 }),
            buf: MemBuffer::new(cholesky_in_place_scratch::<f64>(n, par, Default::default())),
            q: Mat::zeros(n, k + 1),
            w: Mat::zeros(n, 1),
            coef: Mat::zeros(k + 1, 1),
            t: Mat::zeros(k, k),
            small: SymEigen::new(k, Par::Seq),
            exact: SymEigen::new(n, par),
            last: LambdaMinMethod::Exact,
        }
    }

    /// How the last value was obtained.
    pub fn last_method(&self) -> LambdaMinMethod {
        self.last
    }

    /// Cholesky of `A − shift·I` (lower triangle) into `self.l`; whether it succeeded.
    fn factor(&mut self, a: MatRef<'_, f64>, shift: f64) -> bool {
        use faer::linalg::cholesky::llt::factor::cholesky_in_place;
        let n = self.n;
        for j in 0..n {
            for i in j..n {
                self.l[(i, j)] = a[(i, j)];
            }
            self.l[(j, j)] -= shift;
        }
        matches!(
            cholesky_in_place(
                self.l.as_mut(),
                Default::default(),
                self.par,
                MemStack::new(&mut self.buf),
                Default::default(),
            ),
            Ok(info) if info.dynamic_regularization_count == 0
        )
    }

    /// `λ_min(a)` (or a certified lower bound of it; see [`CertifiedLambdaMin::last_method`])
    /// of the symmetric positive semi-definite `a` (lower triangle read).
    ///
    /// # Errors
    /// [`TheoryError::NoConvergence`] (non-finite entries).
    ///
    /// # Panics
    /// When `a` is not `n×n`.
    pub fn lambda_min(&mut self, a: MatRef<'_, f64>) -> Result<f64, TheoryError> {
        use faer::linalg::cholesky::llt::solve::solve_in_place;
        assert!(
            a.nrows() == self.n && a.ncols() == self.n,
            "CertifiedLambdaMin: workspace for {n}×{n}, matrix is {}×{}",
            a.nrows(),
            a.ncols(),
            n = self.n
        );
        self.last = LambdaMinMethod::Exact;
        let n = self.n;
        if self.k == 0 || !self.factor(a, 0.0) {
            return self.exact.lambda_min(a);
        }
        let trace: f64 = (0..n).map(|i| a[(i, i)]).sum();
        // Lanczos on A⁻¹ with full reorthogonalisation, deterministic start vector
        let k = self.k;
        let inv_sqrt_n = 1.0 / (n as f64).sqrt();
        for i in 0..n {
            self.q[(i, 0)] = inv_sqrt_n * (1.0 + 0.5 * ((i as f64) * 0.754_877_666).sin());
        }
        let q0 = self.q.col(0).norm_l2();
        for i in 0..n {
            self.q[(i, 0)] /= q0;
        }
        self.t.fill(0.0);
        for j in 0..k {
            self.w.col_mut(0).copy_from(self.q.col(j));
            solve_in_place(
                self.l.as_ref(),
                self.w.as_mut(),
                Par::Seq,
                MemStack::new(&mut []),
            );
            let alpha = self.q.col(j).transpose() * self.w.col(0);
            self.t[(j, j)] = alpha;
            // w ← w − Q_{0..=j}(Q_{0..=j}ᵀ w), twice ("twice is enough")
            for _ in 0..2 {
                let qj = self.q.as_ref().subcols(0, j + 1);
                let mut coef = self.coef.as_mut().subrows_mut(0, j + 1);
                matmul(
                    coef.rb_mut(),
                    Accum::Replace,
                    qj.transpose(),
                    self.w.as_ref(),
                    1.0,
                    Par::Seq,
                );
                matmul(self.w.as_mut(), Accum::Add, qj, coef.rb(), -1.0, Par::Seq);
            }
            let beta = self.w.col(0).norm_l2();
            if j + 1 == k || beta <= 1e-14 * alpha.abs() {
                break;
            }
            self.t[(j + 1, j)] = beta;
            self.t[(j, j + 1)] = beta;
            for i in 0..n {
                self.q[(i, j + 1)] = self.w[(i, 0)] / beta;
            }
        }
        // T is zero beyond the steps taken: the padding only adds zero Ritz values
        let theta = self.small.lambda_max(self.t.as_ref())?;
        if !(theta.is_finite() && theta > 0.0) {
            return self.exact.lambda_min(a);
        }
        let lam_hat = 1.0 / theta;
        for tau in [1e-10, 1e-6, 1e-3] {
            let t = lam_hat * (1.0 - tau);
            if self.factor(a, t) {
                self.last = LambdaMinMethod::CertifiedLowerBound;
                return Ok(t - (n as f64 + 1.0) * f64::EPSILON * trace);
            }
        }
        self.exact.lambda_min(a)
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
            matmul(
                self.a2.as_mut(),
                Accum::Replace,
                self.a.as_ref(),
                self.a.as_ref(),
                1.0,
                Par::Seq,
            );
            matmul(
                self.a4.as_mut(),
                Accum::Replace,
                self.a2.as_ref(),
                self.a2.as_ref(),
                1.0,
                Par::Seq,
            );
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

/// `λ_min` of a symmetric matrix (allocates a workspace; for one-off use).
///
/// # Errors
/// As [`SymEigen::eigenvalues`].
pub fn lambda_min_sym(a: MatRef<'_, f64>) -> Result<f64, TheoryError> {
    SymEigen::new(a.nrows(), Par::Seq).lambda_min(a)
}

/// The minimum pairwise Euclidean distance `δ = min_{i≠j} ‖x_i − x_j‖` of the rows of
/// `X` (`+∞` for fewer than two rows). `O(N²d)`, direct differences (no cancellation
/// of the `‖x‖² + ‖y‖² − 2x·y` expansion).
pub fn min_separation(x: MatRef<'_, f64>) -> f64 {
    let (n, d) = (x.nrows(), x.ncols());
    let mut best = f64::INFINITY;
    for i in 0..n {
        for j in 0..i {
            let mut s = 0.0;
            for c in 0..d {
                let t = x[(i, c)] - x[(j, c)];
                s += t * t;
            }
            best = best.min(s);
        }
    }
    best.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gram_matches_full_product_and_eigs_of_diagonalisable() {
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
        let mut w = SymEigen::new(3, Par::Seq);
        let vals = w.eigenvalues(a.as_ref()).unwrap().to_vec();
        for (k, l) in vals.iter().enumerate() {
            assert!((l - (k + 1) as f64).abs() < 16.0 * f64::EPSILON * 3.0);
        }
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
        let mut e = SymEigen::new(2, Par::Seq);
        let a = Mat::from_fn(2, 2, |i, j| if i == j { [1e-310, 3e-310][i] } else { 0.0 });
        let v = e.eigenvalues(a.as_ref()).unwrap().to_vec();
        assert_eq!(v, vec![1e-310, 3e-310]);
        let a = Mat::from_fn(2, 2, |i, j| if i == j { [1e200, 3e200][i] } else { 0.0 });
        assert_eq!(e.lambda_max(a.as_ref()).unwrap(), 3e200);
        let a = Mat::from_fn(2, 2, |_, _| f64::NAN);
        assert!(e.eigenvalues(a.as_ref()).is_err());
        assert!(
            w.op_norm(Mat::from_fn(2, 2, |i, _| if i == 0 { f64::NAN } else { 1.0 }).as_ref())
                .is_err()
        );
    }

    #[test]
    fn certified_lambda_min_is_a_tight_lower_bound() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        for &(n, p) in &[(40usize, 80usize), (100, 300), (150, 160), (120, 100)] {
            let phi = Mat::from_fn(n, p, |_, _| {
                let z: f64 = StandardNormal.sample(&mut rng);
                z / (p as f64).sqrt()
            });
            let mut g = Mat::zeros(n, n);
            gram_in_place(phi.as_ref(), g.as_mut(), Par::Seq);
            let exact = lambda_min_sym(g.as_ref()).unwrap();
            let mut c = CertifiedLambdaMin::new(n, Par::Seq);
            let got = c.lambda_min(g.as_ref()).unwrap();
            let tr: f64 = (0..n).map(|i| g[(i, i)]).sum();
            // never above λ_min beyond the QR rounding (n eps tr); when certified, within
            // τ = 1e-6 relative (+ the rounding allowance) below it
            assert!(
                got <= exact + 4.0 * n as f64 * f64::EPSILON * tr,
                "n = {n}: {got} > {exact}"
            );
            if c.last_method() == LambdaMinMethod::CertifiedLowerBound {
                assert!(got >= exact * (1.0 - 1e-3) - 4.0 * n as f64 * f64::EPSILON * tr);
            }
            if n > 64 && p >= 2 * n {
                assert_eq!(
                    c.last_method(),
                    LambdaMinMethod::CertifiedLowerBound,
                    "n = {n}"
                );
                assert!(got >= exact * (1.0 - 1e-6) - 4.0 * n as f64 * f64::EPSILON * tr);
            }
        }
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

    #[test]
    fn separation() {
        let x = Mat::from_fn(3, 2, |i, j| [[0.0, 0.0], [3.0, 4.0], [0.0, 1.5]][i][j]);
        assert_eq!(min_separation(x.as_ref()), 1.5);
        assert_eq!(min_separation(x.as_ref().subrows(0, 1)), f64::INFINITY);
    }
}
