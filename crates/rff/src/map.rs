//! The [`FeatureMap`] trait and the blocked forward pass the feature maps share.
//!
//! Every feature map here has the form `φ(x) = s · σ(W x + b)` applied to a batch
//! `X ∈ R^{N×d}` (one sample per row): a GEMM `Z = X Wᵀ` followed by an element-wise
//! activation. The forward pass runs the GEMM on blocks of rows sized to stay in the L2
//! cache and applies the activation to each block right after, so `Φ` travels through
//! main memory once; large batches split their rows between two threads (faer's
//! `Par::rayon(2)`).

use faer::linalg::matmul::matmul;
use faer::prelude::ReborrowMut;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use plres_kernels::KernelSpec;

use crate::fourier::FourierVariant;
use crate::spec::FeatureSpec;

/// A finite feature map `φ: R^d → R^p` with its backward pass (DESIGN §3.2).
///
/// Batches are row-major in meaning: `X` is `N×d`, `Φ = φ(X)` is `N×p`, one sample per row.
/// The kernel of the map is `k_p(x, y) = φ(x)·φ(y)`; [`limit_kernel`](Self::limit_kernel)
/// is its expectation over the random weights (and its `p → ∞` limit).
pub trait FeatureMap: std::fmt::Debug + Send + Sync {
    /// Input dimension `d`.
    fn input_dim(&self) -> usize;

    /// Output dimension (number of features) `p`.
    fn output_dim(&self) -> usize;

    /// `Φ = φ(X)`: `x` is `N×d`, `phi` is `N×p` (overwritten).
    ///
    /// # Panics
    /// If the shapes disagree (the message names every dimension).
    fn apply_in_place(&self, x: MatRef<'_, f64>, phi: MatMut<'_, f64>);

    /// `φ(X)` as a new `N×p` matrix.
    fn apply(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        let mut phi = Mat::zeros(x.nrows(), self.output_dim());
        self.apply_in_place(x, phi.as_mut());
        phi
    }

    /// Columns of the per-sample cache the backward pass needs (`p` for all maps here).
    fn cache_dim(&self) -> usize;

    /// `Φ = φ(X)` and, in `cache` (`N × cache_dim`), what [`vjp_in_place`](Self::vjp_in_place)
    /// needs — for cosine features `−√(2/p) sin(XΩᵀ + b)`, evaluated together with the
    /// cosine from one range reduction: nothing is computed twice.
    ///
    /// # Panics
    /// If the shapes disagree.
    fn apply_with_cache(&self, x: MatRef<'_, f64>, phi: MatMut<'_, f64>, cache: MatMut<'_, f64>);

    /// Vector–Jacobian product: given `V` (`N×p`, the gradient with respect to `Φ`),
    /// `∇_X = (V ⊙ φ'(XWᵀ + b)) W` (`N×d`) is written into `grad_x` with `accum`
    /// (`Accum::Replace` or `Accum::Add`), using the cache of
    /// [`apply_with_cache`](Self::apply_with_cache) at the same `X`. `v` is used as scratch
    /// (overwritten); nothing is allocated.
    ///
    /// # Panics
    /// If the shapes disagree.
    fn vjp_in_place(
        &self,
        cache: MatRef<'_, f64>,
        v: MatMut<'_, f64>,
        grad_x: MatMut<'_, f64>,
        accum: Accum,
    );

    /// The kernel `k(x, y) = lim_{p→∞} φ(x)·φ(y) = E φ(x)·φ(y)`.
    fn limit_kernel(&self) -> KernelSpec;

    /// Pre-activation weights: rows `ω_j` / `w_j` (`p×d` for cosine and ReLU features,
    /// `p/2 × d` for paired Fourier features).
    fn weights(&self) -> MatRef<'_, f64>;

    /// Pre-activation bias (`p` entries; empty for paired Fourier features).
    fn bias(&self) -> &[f64];

    /// The serialisable description of this map (without its random weights). The
    /// default reads it off [`limit_kernel`](Self::limit_kernel) and [`bias`](Self::bias).
    fn spec(&self) -> FeatureSpec {
        match self.limit_kernel() {
            KernelSpec::ArcCosine1 => FeatureSpec::Relu,
            kernel => FeatureSpec::Fourier {
                kernel,
                variant: if self.bias().is_empty() {
                    FourierVariant::Paired
                } else {
                    FourierVariant::CosineWithPhase
                },
            },
        }
    }

    /// The `N×N` Gram of the features, `K_p = Φ Φᵀ`, `(K_p)_{ij} = k_p(x_i, x_j)`.
    fn gram(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        let phi = self.apply(x);
        let n = x.nrows();
        let mut k = Mat::zeros(n, n);
        matmul(
            k.as_mut(),
            Accum::Replace,
            phi.as_ref(),
            phi.as_ref().transpose(),
            1.0,
            effective_par(Par::rayon(2), n, self.output_dim()),
        );
        k
    }
}

/// Below this many output entries (`N·p`) everything runs on one thread: the work is
/// then ≲ 50 µs, comparable with the cost of waking a second thread.
pub(crate) const PAR_THRESHOLD: usize = 1 << 16;

/// Target bytes of one row block of `Φ` (plus cache): half a typical 1 MiB L2.
const BLOCK_BYTES: usize = 512 * 1024;

/// `par` for an `n × p` output, or `Par::Seq` if it is too small to be worth splitting.
pub(crate) fn effective_par(par: Par, n: usize, p: usize) -> Par {
    if n.saturating_mul(p) >= PAR_THRESHOLD {
        par
    } else {
        Par::Seq
    }
}

/// Rows per block: a multiple of 8 with `rows × cols × 8 B ≈ BLOCK_BYTES`.
fn block_rows(cols: usize) -> usize {
    (BLOCK_BYTES / 8 / cols.max(1)).clamp(16, 2048) / 8 * 8
}

/// The activation applied to one row block: `(Φ block, cache block)`, where the first
/// `gemm_cols` columns of the `Φ` block hold `X Wᵀ` on entry.
pub(crate) type Activation<'f> = dyn Fn(MatMut<'_, f64>, MatMut<'_, f64>) + Sync + 'f;

/// `Φ[:, ..gemm_cols] = X Wᵀ` and then `act(Φ, cache)`, block of rows by block of rows.
/// `cache` has the rows of `phi` and any number of columns (0 when not wanted).
pub(crate) fn forward_blocked(
    x: MatRef<'_, f64>,
    w: MatRef<'_, f64>,
    phi: MatMut<'_, f64>,
    cache: MatMut<'_, f64>,
    gemm_cols: usize,
    par: Par,
    act: &Activation<'_>,
) {
    let n = x.nrows();
    let par = effective_par(par, n, phi.ncols());
    let rows = block_rows(phi.ncols() + cache.ncols());
    drive(x, w, phi, cache, gemm_cols, rows, par, act);
}

#[allow(clippy::too_many_arguments)] // private recursive driver, arguments passed through
fn drive(
    x: MatRef<'_, f64>,
    w: MatRef<'_, f64>,
    mut phi: MatMut<'_, f64>,
    mut cache: MatMut<'_, f64>,
    gemm_cols: usize,
    rows: usize,
    par: Par,
    act: &Activation<'_>,
) {
    let n = x.nrows();
    if let Par::Rayon(threads) = par
        && threads.get() >= 2
        && n >= 2 * rows
    {
        // split on a block boundary so that both halves keep full blocks
        let mid = n.div_ceil(2).div_ceil(rows) * rows;
        let (x0, x1) = x.split_at_row(mid);
        let (p0, p1) = phi.split_at_row_mut(mid);
        let (c0, c1) = cache.split_at_row_mut(mid);
        faer::utils::thread::join_raw(
            |par| drive(x0, w, p0, c0, gemm_cols, rows, par, act),
            |par| drive(x1, w, p1, c1, gemm_cols, rows, par, act),
            par,
        );
        return;
    }
    let mut start = 0;
    while start < n {
        let len = rows.min(n - start);
        let mut pb = phi.rb_mut().subrows_mut(start, len);
        matmul(
            pb.rb_mut().subcols_mut(0, gemm_cols),
            Accum::Replace,
            x.subrows(start, len),
            w.transpose(),
            1.0,
            Par::Seq,
        );
        act(pb, cache.rb_mut().subrows_mut(start, len));
        start += len;
    }
}

/// Rows handled at once when a column is not contiguous (copied through a stack buffer).
const STRIDED_CHUNK: usize = 64;

/// Calls `f(j, a_col_j)` on contiguous pieces of every column of `a` (whole columns when
/// `a` is column-major; stack-buffered pieces of `STRIDED_CHUNK` rows otherwise).
pub(crate) fn for_each_col(mut a: MatMut<'_, f64>, mut f: impl FnMut(usize, &mut [f64])) {
    let n = a.nrows();
    if let Some(mut a) = a.rb_mut().try_as_col_major_mut() {
        for j in 0..a.ncols() {
            f(j, a.rb_mut().col_mut(j).as_slice_mut());
        }
        return;
    }
    let mut buf = [0.0; STRIDED_CHUNK];
    for j in 0..a.ncols() {
        let mut i0 = 0;
        while i0 < n {
            let len = STRIDED_CHUNK.min(n - i0);
            for i in 0..len {
                buf[i] = a[(i0 + i, j)];
            }
            f(j, &mut buf[..len]);
            for i in 0..len {
                a[(i0 + i, j)] = buf[i];
            }
            i0 += len;
        }
    }
}

/// Like [`for_each_col`] on two matrices of the same shape at once: `f(j, a_j, b_j)`.
pub(crate) fn for_each_col2(
    mut a: MatMut<'_, f64>,
    mut b: MatMut<'_, f64>,
    mut f: impl FnMut(usize, &mut [f64], &mut [f64]),
) {
    assert!(
        a.nrows() == b.nrows() && a.ncols() == b.ncols(),
        "for_each_col2: {}×{} vs {}×{}",
        a.nrows(),
        a.ncols(),
        b.nrows(),
        b.ncols()
    );
    let n = a.nrows();
    if let (Some(mut ac), Some(mut bc)) = (
        a.rb_mut().try_as_col_major_mut(),
        b.rb_mut().try_as_col_major_mut(),
    ) {
        for j in 0..ac.ncols() {
            f(
                j,
                ac.rb_mut().col_mut(j).as_slice_mut(),
                bc.rb_mut().col_mut(j).as_slice_mut(),
            );
        }
        return;
    }
    let mut abuf = [0.0; STRIDED_CHUNK];
    let mut bbuf = [0.0; STRIDED_CHUNK];
    for j in 0..a.ncols() {
        let mut i0 = 0;
        while i0 < n {
            let len = STRIDED_CHUNK.min(n - i0);
            for i in 0..len {
                abuf[i] = a[(i0 + i, j)];
                bbuf[i] = b[(i0 + i, j)];
            }
            f(j, &mut abuf[..len], &mut bbuf[..len]);
            for i in 0..len {
                a[(i0 + i, j)] = abuf[i];
                b[(i0 + i, j)] = bbuf[i];
            }
            i0 += len;
        }
    }
}

/// `v ← v ⊙ c` (same shapes; checked by the callers).
pub(crate) fn hadamard_in_place(mut v: MatMut<'_, f64>, c: MatRef<'_, f64>) {
    if let (Some(mut vc), Some(cc)) = (v.rb_mut().try_as_col_major_mut(), c.try_as_col_major()) {
        for j in 0..vc.ncols() {
            let vj = vc.rb_mut().col_mut(j).as_slice_mut();
            for (a, b) in vj.iter_mut().zip(cc.col(j).as_slice()) {
                *a *= b;
            }
        }
        return;
    }
    for j in 0..v.ncols() {
        for i in 0..v.nrows() {
            v[(i, j)] *= c[(i, j)];
        }
    }
}

/// Panics unless `x` is `n×d` and `phi` is `n×p` for the map's `d`, `p`.
pub(crate) fn check_forward(
    name: &str,
    d: usize,
    p: usize,
    x: MatRef<'_, f64>,
    phi: MatRef<'_, f64>,
) {
    assert!(
        x.ncols() == d && phi.nrows() == x.nrows() && phi.ncols() == p,
        "{name}: x is {}×{} and phi is {}×{}, expected N×{d} and N×{p}",
        x.nrows(),
        x.ncols(),
        phi.nrows(),
        phi.ncols()
    );
}

/// Panics unless `cache` and `v` are `n×p` and `grad_x` is `n×d`.
pub(crate) fn check_backward(
    name: &str,
    d: usize,
    p: usize,
    cache: MatRef<'_, f64>,
    v: MatRef<'_, f64>,
    grad_x: MatRef<'_, f64>,
) {
    let n = v.nrows();
    assert!(
        v.ncols() == p
            && cache.nrows() == n
            && cache.ncols() == p
            && grad_x.nrows() == n
            && grad_x.ncols() == d,
        "{name} vjp: cache is {}×{}, v is {}×{}, grad_x is {}×{}, expected N×{p}, N×{p}, N×{d}",
        cache.nrows(),
        cache.ncols(),
        v.nrows(),
        v.ncols(),
        grad_x.nrows(),
        grad_x.ncols()
    );
}

/// A `n × 0` view standing for "no cache".
pub(crate) fn no_cache<'a>(n: usize) -> MatMut<'a, f64> {
    MatMut::from_column_major_slice_mut(&mut [], n, 0)
}
