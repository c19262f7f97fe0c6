//! [`KernelExpansion`]: a vector-valued RKHS function `θ = Σ_c k(·, c) a_c` (docs/theory.md §3.4).
//!
//! Centres `C ∈ R^{m×d}` and coefficients `A ∈ R^{m×d}` are stored row-major (one centre
//! per row), so [`KernelExpansion::append`] is an amortised `O(d)` copy per centre — the
//! kernel ResNet adds `N` centres per layer and step. With the matrix-valued kernel
//! `K(x, x') = k(x, x') I_d`:
//!
//! - value on a batch: `Θ(X) = K(X, C) A` (`N×d`), one cross Gram and one GEMM per block of
//!   centres;
//! - Jacobian: `Dθ(x) = Σ_c a_c ∇_x k(x, c)ᵀ` (`d×d`);
//! - vector–Jacobian product: `Dθ(x_i)ᵀ v_i = Σ_c ∇_x k(x_i, c) (a_c·v_i)`, i.e.
//!   [`Kernel::weighted_grad_in_place`] with weights `W = V Aᵀ` (one GEMM) — for the radial
//!   kernels `out = diag(S 1) X − S C` with `S = W ⊙ g(D²)`, all GEMM;
//! - RKHS norm `‖θ‖²_H = Σ_{c,c'} k(c, c') a_c·a_{c'} = tr(Aᵀ K_CC A)` and inner product
//!   `⟨θ, η⟩_H = tr(Aᵀ K_{C C'} B)`; the reproducing property reads
//!   `⟨k(·, x) e_l, θ⟩_H = θ(x)_l`.
//!
//! Cost grows with the number of centres `m`: evaluation and vjp are `O(N m d)`, the norm
//! `O(m² d)`. Batch routines work on blocks of centres so that their workspace stays
//! below 2²¹ entries (16 MiB) per matrix whatever `m` is; the `*_with` variants take an
//! [`ExpansionWorkspace`] that is reused between calls (no allocation once it has grown).

use std::sync::Arc;

use faer::linalg::matmul::matmul;
use faer::prelude::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, MatRef};

use crate::pairwise::par;
use crate::validate::{check_batch, check_dim, check_finite};
use crate::{Kernel, KernelError};

/// Default entries of one `N × block` workspace matrix (2²¹ f64 = 16 MiB).
const WORKSPACE_ENTRIES: usize = 1 << 21;

/// Number of centres processed at once for a batch of `n` rows within `max_entries`
/// workspace entries (at least one).
fn block_len(n: usize, max_entries: usize) -> usize {
    (max_entries / n.max(1)).max(1)
}

/// Reusable workspace for [`KernelExpansion`] batch routines (one `N × block` matrix for
/// evaluation, two for vector–Jacobian products; grown on demand, never shrunk).
#[derive(Debug)]
pub struct ExpansionWorkspace {
    first: Mat<f64>,
    second: Mat<f64>,
    max_entries: usize,
}

impl Default for ExpansionWorkspace {
    fn default() -> Self {
        Self::new()
    }
}

impl ExpansionWorkspace {
    /// An empty workspace with the default budget of 2²¹ entries (16 MiB) per matrix.
    pub fn new() -> Self {
        Self::with_max_entries(WORKSPACE_ENTRIES)
    }

    /// An empty workspace whose matrices hold at most `max_entries` entries each (but at
    /// least one column of `N`): a batch of `N` rows is processed against
    /// `max(max_entries / N, 1)` centres at a time.
    pub fn with_max_entries(max_entries: usize) -> Self {
        Self {
            first: Mat::new(),
            second: Mat::new(),
            max_entries,
        }
    }

    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        8 * (self.first.nrows() * self.first.ncols() + self.second.nrows() * self.second.ncols())
    }

    fn ensure(mat: &mut Mat<f64>, rows: usize, cols: usize) {
        if mat.nrows() != rows || mat.ncols() < cols {
            *mat = Mat::zeros(rows, cols);
        }
    }

    /// One `rows × cols` view.
    fn one(&mut self, rows: usize, cols: usize) -> MatMut<'_, f64> {
        Self::ensure(&mut self.first, rows, cols);
        self.first.as_mut().subcols_mut(0, cols)
    }

    /// Two `rows × cols` views.
    fn two(&mut self, rows: usize, cols: usize) -> (MatMut<'_, f64>, MatMut<'_, f64>) {
        Self::ensure(&mut self.first, rows, cols);
        Self::ensure(&mut self.second, rows, cols);
        (
            self.first.as_mut().subcols_mut(0, cols),
            self.second.as_mut().subcols_mut(0, cols),
        )
    }
}

/// A vector field `θ: R^d → R^d`, `θ(x) = Σ_c k(x, c) a_c`, in the RKHS of the matrix
/// kernel `k(x, x') I_d`.
///
/// ```
/// use plres_kernels::{KernelSpec, expansion::KernelExpansion};
/// use faer::mat;
/// let kernel = KernelSpec::Gaussian { sigma: 1.0 }.build().unwrap(); // Box<dyn Kernel>
/// let mut theta = KernelExpansion::new(kernel, 2);
/// theta.append(mat![[0.0, 0.0]].as_ref(), mat![[1.0, -1.0]].as_ref()).unwrap();
/// // θ(c) = k(c, c) a = a, and ‖θ‖² = k(c, c) ‖a‖² = 2
/// let v = theta.eval(mat![[0.0, 0.0]].as_ref());
/// assert_eq!((v[(0, 0)], v[(0, 1)]), (1.0, -1.0));
/// assert!((theta.norm_sq() - 2.0).abs() < 1e-15);
/// ```
#[derive(Clone, Debug)]
pub struct KernelExpansion {
    kernel: Arc<dyn Kernel>,
    d: usize,
    /// `m×d`, row-major.
    centres: Vec<f64>,
    /// `m×d`, row-major.
    coeffs: Vec<f64>,
}

impl KernelExpansion {
    /// The zero function `θ = 0` on `R^d` (no centres). `kernel` is a `Box<dyn Kernel>`
    /// (e.g. from [`crate::KernelSpec::build`]) or an `Arc<dyn Kernel>`.
    ///
    /// # Panics
    /// If `d == 0`.
    pub fn new(kernel: impl Into<Arc<dyn Kernel>>, d: usize) -> Self {
        assert!(
            d > 0,
            "KernelExpansion::new: dimension d must be ≥ 1, got 0"
        );
        Self {
            kernel: kernel.into(),
            d,
            centres: Vec::new(),
            coeffs: Vec::new(),
        }
    }

    /// An expansion with the given centres (`m×d`) and coefficients (`m×d`), e.g. from a
    /// checkpoint.
    ///
    /// # Errors
    /// [`KernelError::Empty`] if `d = 0`, [`KernelError::DimensionMismatch`] if the shapes
    /// disagree, [`KernelError::NonFinite`] for a NaN/∞ entry.
    pub fn from_parts(
        kernel: impl Into<Arc<dyn Kernel>>,
        centres: MatRef<'_, f64>,
        coeffs: MatRef<'_, f64>,
    ) -> Result<Self, KernelError> {
        let d = centres.ncols();
        if d == 0 {
            return Err(KernelError::Empty {
                what: "centres",
                rows: centres.nrows(),
                cols: 0,
            });
        }
        let mut out = Self::new(kernel, d);
        out.append(centres, coeffs)?;
        Ok(out)
    }

    /// The kernel `k`.
    pub fn kernel(&self) -> &Arc<dyn Kernel> {
        &self.kernel
    }

    /// The dimension `d` of the domain and of the values.
    pub fn d(&self) -> usize {
        self.d
    }

    /// The number of centres `m`.
    pub fn n_centres(&self) -> usize {
        self.centres.len() / self.d
    }

    /// Whether there are no centres (`θ = 0`).
    pub fn is_empty(&self) -> bool {
        self.centres.is_empty()
    }

    /// The centres `C` (`m×d`, a row-major view).
    pub fn centres(&self) -> MatRef<'_, f64> {
        MatRef::from_row_major_slice(&self.centres, self.n_centres(), self.d)
    }

    /// The coefficients `A` (`m×d`, a row-major view).
    pub fn coefficients(&self) -> MatRef<'_, f64> {
        MatRef::from_row_major_slice(&self.coeffs, self.n_centres(), self.d)
    }

    /// Heap bytes held by centres and coefficients (capacity, not length).
    pub fn memory_bytes(&self) -> usize {
        8 * (self.centres.capacity() + self.coeffs.capacity())
    }

    /// Appends centres `C_new` (`k×d`) with coefficients `A_new` (`k×d`):
    /// `θ ← θ + Σ_{c ∈ C_new} k(·, c) a_c`.
    ///
    /// # Errors
    /// [`KernelError::DimensionMismatch`], [`KernelError::NonFinite`]; `θ` is unchanged on
    /// error.
    pub fn append(
        &mut self,
        c_new: MatRef<'_, f64>,
        a_new: MatRef<'_, f64>,
    ) -> Result<(), KernelError> {
        self.append_scaled(c_new, a_new, 1.0)
    }

    /// Appends centres `C_new` with coefficients `alpha · A_new` — the kernel-ResNet step
    /// `θ_k ← θ_k − η Σ_i k(·, x_i^k) p_i^{k+1}` is `append_scaled(X^k, P^{k+1}, −η)`
    /// (docs/theory.md §4).
    ///
    /// # Errors
    /// [`KernelError::DimensionMismatch`], [`KernelError::NonFinite`] (also for a
    /// non-finite `alpha`); `θ` is unchanged on error.
    pub fn append_scaled(
        &mut self,
        c_new: MatRef<'_, f64>,
        a_new: MatRef<'_, f64>,
        alpha: f64,
    ) -> Result<(), KernelError> {
        check_dim("columns of the new centres (= d)", self.d, c_new.ncols())?;
        check_dim(
            "columns of the new coefficients (= d)",
            self.d,
            a_new.ncols(),
        )?;
        check_dim(
            "rows of the new coefficients (= rows of the new centres)",
            c_new.nrows(),
            a_new.nrows(),
        )?;
        check_finite("new centres", c_new)?;
        check_finite("new coefficients", a_new)?;
        if !alpha.is_finite() {
            return Err(KernelError::NonFinite {
                what: "coefficient scale alpha",
                row: 0,
                col: 0,
                value: alpha,
            });
        }
        let k = c_new.nrows();
        self.centres.reserve(k * self.d);
        self.coeffs.reserve(k * self.d);
        for i in 0..k {
            for l in 0..self.d {
                self.centres.push(c_new[(i, l)]);
                self.coeffs.push(alpha * a_new[(i, l)]);
            }
        }
        Ok(())
    }

    fn block(&self, start: usize, len: usize) -> (MatRef<'_, f64>, MatRef<'_, f64>) {
        let r = start * self.d..(start + len) * self.d;
        (
            MatRef::from_row_major_slice(&self.centres[r.clone()], len, self.d),
            MatRef::from_row_major_slice(&self.coeffs[r], len, self.d),
        )
    }

    fn assert_batch(&self, what: &str, x: MatRef<'_, f64>, out: MatRef<'_, f64>) {
        assert!(
            x.ncols() == self.d && out.nrows() == x.nrows() && out.ncols() == self.d,
            "{what}: d = {}, x is {}×{}, out is {}×{}; need x N×d and out N×d",
            self.d,
            x.nrows(),
            x.ncols(),
            out.nrows(),
            out.ncols()
        );
    }

    /// `out = Θ(X)`, row `i` = `θ(x_i) = Σ_c k(x_i, c) a_c` (`X`: `N×d`, `out`: `N×d`).
    /// Allocates a workspace; see [`KernelExpansion::eval_in_place_with`].
    ///
    /// # Panics
    /// If `x` or `out` is not `N×d`.
    pub fn eval_in_place(&self, x: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        self.eval_in_place_with(x, out, &mut ExpansionWorkspace::new());
    }

    /// [`KernelExpansion::eval_in_place`] with a reusable workspace: per block of centres
    /// `C_b`, `K_b = K(X, C_b)` then `out += K_b A_b` (GEMM).
    ///
    /// # Panics
    /// If `x` or `out` is not `N×d`.
    pub fn eval_in_place_with(
        &self,
        x: MatRef<'_, f64>,
        mut out: MatMut<'_, f64>,
        ws: &mut ExpansionWorkspace,
    ) {
        self.assert_batch("KernelExpansion::eval_in_place", x, out.rb());
        let (n, m) = (x.nrows(), self.n_centres());
        if m == 0 || n == 0 {
            out.fill(0.0);
            return;
        }
        let bs = block_len(n, ws.max_entries).min(m);
        let mut k = ws.one(n, bs);
        let mut start = 0;
        while start < m {
            let len = bs.min(m - start);
            let (c, a) = self.block(start, len);
            let mut kb = k.rb_mut().subcols_mut(0, len);
            self.kernel.cross_gram_in_place(x, c, kb.rb_mut());
            let accum = if start == 0 {
                Accum::Replace
            } else {
                Accum::Add
            };
            matmul(out.rb_mut(), accum, kb.rb(), a, 1.0, par());
            start += len;
        }
    }

    /// Owning `Θ(X)`.
    ///
    /// # Panics
    /// If `x` does not have `d` columns.
    pub fn eval(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        let mut out = Mat::zeros(x.nrows(), self.d);
        self.eval_in_place(x, out.as_mut());
        out
    }

    /// Validated `Θ(X)`.
    ///
    /// # Errors
    /// [`KernelError::Empty`], [`KernelError::NonFinite`], [`KernelError::DimensionMismatch`].
    pub fn try_eval(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>, KernelError> {
        check_batch("x", x)?;
        check_dim("columns of x (= d)", self.d, x.ncols())?;
        Ok(self.eval(x))
    }

    /// The Jacobian `Dθ(x) = Σ_c a_c ∇_x k(x, c)ᵀ` (`d×d`, `out_pq = ∂θ_p/∂x_q`).
    /// `O(m d²)`; one length-`d` buffer per call.
    ///
    /// # Panics
    /// If `x.len() != d` or `out` is not `d×d`.
    pub fn jacobian_at(&self, x: &[f64], mut out: MatMut<'_, f64>) {
        let d = self.d;
        assert!(
            x.len() == d && out.nrows() == d && out.ncols() == d,
            "KernelExpansion::jacobian_at: d = {d}, x has length {}, out is {}×{}; need x of \
             length d and out d×d",
            x.len(),
            out.nrows(),
            out.ncols()
        );
        out.fill(0.0);
        let mut g = vec![0.0; d];
        for c in 0..self.n_centres() {
            let r = c * d..(c + 1) * d;
            self.kernel.grad_x(x, &self.centres[r.clone()], &mut g);
            let a = &self.coeffs[r];
            for q in 0..d {
                let gq = g[q];
                let mut col = out.rb_mut().col_mut(q);
                for p in 0..d {
                    col[p] += a[p] * gq;
                }
            }
        }
    }

    /// Vector–Jacobian product on a batch: `out_i = Dθ(x_i)ᵀ v_i` (`X`, `V`, `out`: `N×d`).
    /// Allocates a workspace; see [`KernelExpansion::vjp_in_place_with`].
    ///
    /// # Panics
    /// If `x`, `v` or `out` is not `N×d`.
    pub fn vjp_in_place(&self, x: MatRef<'_, f64>, v: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        self.vjp_in_place_with(x, v, out, Accum::Replace, &mut ExpansionWorkspace::new());
    }

    /// `out_i (⊕)= Dθ(x_i)ᵀ v_i = Σ_c ∇_x k(x_i, c)(a_c·v_i)`, with `accum`
    /// (`Replace`: `=`, `Add`: `+=`): per block of centres, `W_b = V A_bᵀ` (GEMM) then
    /// [`Kernel::weighted_grad_in_place`]`(X, C_b, W_b)`.
    ///
    /// # Panics
    /// If `x`, `v` or `out` is not `N×d`.
    pub fn vjp_in_place_with(
        &self,
        x: MatRef<'_, f64>,
        v: MatRef<'_, f64>,
        mut out: MatMut<'_, f64>,
        accum: Accum,
        ws: &mut ExpansionWorkspace,
    ) {
        self.assert_batch("KernelExpansion::vjp_in_place", x, out.rb());
        assert!(
            v.nrows() == x.nrows() && v.ncols() == self.d,
            "KernelExpansion::vjp_in_place: x is {}×{}, v is {}×{}; need v N×d",
            x.nrows(),
            x.ncols(),
            v.nrows(),
            v.ncols()
        );
        let (n, m) = (x.nrows(), self.n_centres());
        if m == 0 || n == 0 {
            if accum == Accum::Replace {
                out.fill(0.0);
            }
            return;
        }
        let bs = block_len(n, ws.max_entries).min(m);
        let (mut w, mut s) = ws.two(n, bs);
        let mut start = 0;
        while start < m {
            let len = bs.min(m - start);
            let (c, a) = self.block(start, len);
            let mut wb = w.rb_mut().subcols_mut(0, len);
            matmul(wb.rb_mut(), Accum::Replace, v, a.transpose(), 1.0, par());
            let acc = if start == 0 { accum } else { Accum::Add };
            self.kernel.weighted_grad_in_place(
                x,
                c,
                wb.rb(),
                s.rb_mut().subcols_mut(0, len),
                out.rb_mut(),
                acc,
            );
            start += len;
        }
    }

    /// The RKHS inner product `⟨θ, η⟩_H = Σ_{c∈θ, c'∈η} k(c, c') a_c·b_{c'}
    /// = tr(Aᵀ K(C, C') B)`. `O(m m' d)` time, blocks of at most 2²¹ kernel entries.
    ///
    /// Both expansions must use the same kernel (checked when both have a
    /// [`Kernel::spec`]); `self`'s kernel is the one evaluated.
    ///
    /// # Panics
    /// If the dimensions differ, or both kernels have specs and they differ.
    pub fn inner(&self, other: &KernelExpansion) -> f64 {
        assert!(
            self.d == other.d,
            "KernelExpansion::inner: dimensions differ ({} vs {})",
            self.d,
            other.d
        );
        if let (Some(a), Some(b)) = (self.kernel.spec(), other.kernel.spec()) {
            assert!(
                a == b,
                "KernelExpansion::inner: kernels differ ({a:?} vs {b:?})"
            );
        }
        let (m1, m2) = (self.n_centres(), other.n_centres());
        if m1 == 0 || m2 == 0 {
            return 0.0;
        }
        let bs = block_len(m2, WORKSPACE_ENTRIES).min(m1);
        let mut k = Mat::<f64>::zeros(bs, m2);
        let mut t = Mat::<f64>::zeros(bs, self.d);
        let b = other.coefficients();
        let mut total = 0.0;
        let mut start = 0;
        while start < m1 {
            let len = bs.min(m1 - start);
            let (c, a) = self.block(start, len);
            let mut kb = k.as_mut().subrows_mut(0, len);
            self.kernel
                .cross_gram_in_place(c, other.centres(), kb.rb_mut());
            let mut tb = t.as_mut().subrows_mut(0, len);
            matmul(tb.rb_mut(), Accum::Replace, kb.rb(), b, 1.0, par());
            for l in 0..self.d {
                for i in 0..len {
                    total += a[(i, l)] * tb[(i, l)];
                }
            }
            start += len;
        }
        total
    }

    /// The squared RKHS norm `‖θ‖²_H = tr(Aᵀ K_CC A)`, clamped at `0` (rounding can make
    /// the computed sum of a tiny norm slightly negative). `O(m² d)`.
    pub fn norm_sq(&self) -> f64 {
        self.inner(self).max(0.0)
    }
}
