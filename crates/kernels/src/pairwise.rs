//! The shared GEMM driver behind every Gram matrix of this crate.
//!
//! All kernels here are functions of inner products: distance-based ones through
//! `‖x − y‖² = ‖x‖² + ‖y‖² − 2 x·y`, the arc-cosine one through `x·y` and the norms, the
//! linear one is `x·y` itself. So a Gram matrix is one faer GEMM `G = X Yᵀ` followed by
//! an element-wise pass over the columns of `G` (parallel over column blocks, on
//! contiguous column slices so that the transcendental functions vectorise). The
//! symmetric Gram computes only the lower triangle (triangular GEMM) and mirrors it,
//! so it is exactly symmetric.

use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::prelude::ReborrowMut;
use faer::utils::thread::join_raw;
use faer::{Accum, MatMut, MatRef, Par};

/// Below this many entries an element-wise pass stays on one thread.
const PAR_MIN_ENTRIES: usize = 1 << 15;
/// Stack buffer length used when a column of the output is not contiguous.
const CHUNK: usize = 256;

/// The parallelism of every routine of this crate: faer's global setting.
pub(crate) fn par() -> Par {
    faer::get_global_parallelism()
}

/// Squared row norms `‖x_i‖²` of a batch.
pub(crate) fn row_sq_norms(x: MatRef<'_, f64>) -> Vec<f64> {
    let mut out = vec![0.0; x.nrows()];
    for l in 0..x.ncols() {
        let col = x.col(l);
        for (i, o) in out.iter_mut().enumerate() {
            let v = col[i];
            *o += v * v;
        }
    }
    out
}

/// `‖x_i − y_j‖²` computed directly (no cancellation).
pub(crate) fn direct_sq_dist(x: MatRef<'_, f64>, i: usize, y: MatRef<'_, f64>, j: usize) -> f64 {
    let mut s = 0.0;
    for l in 0..x.ncols() {
        let t = x[(i, l)] - y[(j, l)];
        s += t * t;
    }
    s
}

/// A column pass: called with the column index `j`, the first row `i0` and the entries
/// of rows `i0..i0 + seg.len()` of that column, which it transforms in place.
pub(crate) type ColumnFn<'f> = dyn Fn(usize, usize, &mut [f64]) + Sync + 'f;

/// Calls `f(j, i0, seg)` on rows `first_row(j)..nrows` of every column `j` of `out`
/// (`j` counted from `col0`), splitting the columns between threads by work.
fn for_each_column(
    out: MatMut<'_, f64>,
    col0: usize,
    first_row: &(dyn Fn(usize) -> usize + Sync),
    f: &ColumnFn<'_>,
    par: Par,
) {
    let n = out.nrows();
    let ncols = out.ncols();
    let work = |j: usize| n.saturating_sub(first_row(col0 + j));
    let total: usize = (0..ncols).map(work).sum();
    let threads = faer::utils::thread::parallelism_degree(par);
    if threads <= 1 || ncols < 2 || total < PAR_MIN_ENTRIES {
        let mut out = out;
        for j in 0..ncols {
            let i0 = first_row(col0 + j).min(n);
            let col = out.rb_mut().col_mut(j).subrows_mut(i0, n - i0);
            with_slices(col, i0, |i, seg| f(col0 + j, i, seg));
        }
        return;
    }
    // Split where the cumulative work reaches one half.
    let mut acc = 0;
    let mut mid = 1;
    for j in 0..ncols {
        acc += work(j);
        if 2 * acc >= total {
            mid = (j + 1).clamp(1, ncols - 1);
            break;
        }
    }
    let (left, right) = out.split_at_col_mut(mid);
    join_raw(
        |p| for_each_column(left, col0, first_row, f, p),
        |p| for_each_column(right, col0 + mid, first_row, f, p),
        par,
    );
}

/// Hands the entries of `col` (rows `i0..`) to `f` as slices: the column itself when it
/// is contiguous, otherwise through a stack buffer in chunks of [`CHUNK`].
fn with_slices(col: faer::ColMut<'_, f64>, i0: usize, mut f: impl FnMut(usize, &mut [f64])) {
    let len = col.nrows();
    if col.row_stride() == 1 {
        let slice = col
            .try_as_col_major_mut()
            .expect("unit stride")
            .as_slice_mut();
        f(i0, slice);
        return;
    }
    let mut col = col;
    let mut buf = [0.0; CHUNK];
    let mut start = 0;
    while start < len {
        let l = CHUNK.min(len - start);
        for k in 0..l {
            buf[k] = col[start + k];
        }
        f(i0 + start, &mut buf[..l]);
        for k in 0..l {
            col[start + k] = buf[k];
        }
        start += l;
    }
}

/// `out = X Yᵀ` (GEMM), then `f` on every column: the cross-Gram driver.
///
/// # Panics
/// If the shapes are not `x: N×d`, `y: M×d`, `out: N×M` (message names `what`).
pub(crate) fn cross_driver(
    what: &str,
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    mut out: MatMut<'_, f64>,
    f: &ColumnFn<'_>,
) {
    assert!(
        x.ncols() == y.ncols() && out.nrows() == x.nrows() && out.ncols() == y.nrows(),
        "{what}: x is {}×{}, y is {}×{}, out is {}×{}; need out N×M with x N×d, y M×d",
        x.nrows(),
        x.ncols(),
        y.nrows(),
        y.ncols(),
        out.nrows(),
        out.ncols()
    );
    if out.nrows() == 0 || out.ncols() == 0 {
        return;
    }
    let par = par();
    matmul(out.rb_mut(), Accum::Replace, x, y.transpose(), 1.0, par);
    for_each_column(out, 0, &|_| 0, f, par);
}

/// Lower triangle of `out = X Xᵀ` (triangular GEMM), `f` on the strictly lower part of
/// every column, `diag(i)` on the diagonal, then the lower triangle mirrored into the
/// upper one: the symmetric-Gram driver.
///
/// # Panics
/// If `out` is not `N×N` for `x` of `N` rows.
pub(crate) fn sym_driver(
    what: &str,
    x: MatRef<'_, f64>,
    mut out: MatMut<'_, f64>,
    f: &ColumnFn<'_>,
    diag: impl Fn(usize) -> f64,
) {
    let n = x.nrows();
    assert!(
        out.nrows() == n && out.ncols() == n,
        "{what}: x is {}×{}, out is {}×{}; need out N×N",
        x.nrows(),
        x.ncols(),
        out.nrows(),
        out.ncols()
    );
    if n == 0 {
        return;
    }
    let par = par();
    triangular::matmul(
        out.rb_mut(),
        BlockStructure::TriangularLower,
        Accum::Replace,
        x,
        BlockStructure::Rectangular,
        x.transpose(),
        BlockStructure::Rectangular,
        1.0,
        par,
    );
    for_each_column(out.rb_mut(), 0, &|j| j + 1, f, par);
    for i in 0..n {
        out[(i, i)] = diag(i);
    }
    mirror_lower(out);
}

/// Copies the strictly lower triangle into the strictly upper one, in cache blocks.
fn mirror_lower(mut out: MatMut<'_, f64>) {
    const B: usize = 64;
    let n = out.nrows();
    let mut jb = 0;
    while jb < n {
        let je = (jb + B).min(n);
        let mut ib = jb;
        while ib < n {
            let ie = (ib + B).min(n);
            for j in jb..je {
                for i in ib.max(j + 1)..ie {
                    out[(j, i)] = out[(i, j)];
                }
            }
            ib = ie;
        }
        jb = je;
    }
}
