//! The shared GEMM driver behind every Gram matrix of this crate.
//!
//! All kernels here are functions of inner products: distance-based ones through
//! `‖x − y‖² = ‖x‖² + ‖y‖² − 2 x·y`, the arc-cosine one through `x·y` and the norms, the
//! linear one is `x·y` itself. So a Gram matrix is a faer GEMM `G = X Yᵀ` followed by an
//! element-wise pass over the columns of `G` (on contiguous column slices, so that the
//! transcendental functions vectorise).
//!
//! Both run panel by panel — [`PANEL`] columns at a time, GEMM then pass while the panel
//! is still in cache — and panels are shared between threads by work. The symmetric Gram
//! is split recursively, `[[K₁₁, K₂₁ᵀ], [K₂₁, K₂₂]]`: the diagonal blocks recurse down to
//! small leaves (triangular GEMM of the lower half, pass, mirror), each panel of the
//! off-diagonal block `K₂₁` is copied transposed into `K₁₂` straight after its pass. So
//! every entry is computed once and the result is exactly symmetric.
//!
//! Each thread clears the AVX upper state after its GEMM, before the pass (see
//! [`plres_simd::hygiene`]).

use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::prelude::{Reborrow, ReborrowMut};
use faer::utils::thread::{join_raw, parallelism_degree};
use faer::{Accum, MatMut, MatRef, Par};

use plres_simd::clear_upper_state;
use plres_simd::stream::{store_fence, stream_copy};

/// Columns per GEMM-then-pass panel (a 2048-row panel is 512 KiB: stays in L2).
const PANEL: usize = 128;
/// Order below which a diagonal block of a symmetric Gram is one leaf.
const SYM_LEAF: usize = 128;
/// Below this many entries work stays on one thread.
const PAR_MIN_ENTRIES: usize = 1 << 15;
/// Tile of the blocked transposed copy: `TILE_ROWS` source rows × `TILE` source columns
/// (32 KiB, in L1), so each destination column receives `TILE` contiguous entries.
const TILE: usize = 128;
const TILE_ROWS: usize = 32;
/// Outputs of at least this many entries (8 MiB) are mirrored with streaming stores.
const STREAM_MIN_ENTRIES: usize = 1 << 20;
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

/// A column pass: called with the (global) column index `j`, the (global) first row `i0`
/// and the entries of rows `i0..i0 + seg.len()` of that column, holding `x_i·y_j` on
/// entry, which it transforms in place into `k(x_i, y_j)`.
pub(crate) type ColumnFn<'f> = dyn Fn(usize, usize, &mut [f64]) + Sync + 'f;

/// Hands the entries of `col` (global rows `i0..`) to `f` as slices: the column itself
/// when it is contiguous, otherwise through a stack buffer in chunks of [`CHUNK`].
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

/// `dst = srcᵀ` (`src`: `r×c`, `dst`: `c×r`), tile by tile so that the reads of a tile
/// stay in L1 and each destination column receives [`TILE`] contiguous entries, written
/// with non-temporal stores when `stream` (large outputs: the lines are not read again
/// soon, so skipping their read-for-ownership halves the traffic). faer's `copy_from` of a
/// transposed view was 3× slower than a GEMM of the same size here.
fn transpose_into(src: MatRef<'_, f64>, mut dst: MatMut<'_, f64>, stream: bool) {
    let (r, c) = (src.nrows(), src.ncols());
    debug_assert!(dst.nrows() == c && dst.ncols() == r);
    if r == 0 || c == 0 {
        return;
    }
    if src.row_stride() != 1 || dst.row_stride() != 1 {
        for i in 0..r {
            let mut dcol = dst.rb_mut().col_mut(i);
            for j in 0..c {
                dcol[j] = src[(i, j)];
            }
        }
        return;
    }
    // A tile of TILE_ROWS source rows × TILE source columns is first copied column by
    // column into a compact buffer: reading one row across TILE columns directly would
    // hit addresses a power-of-two column stride apart, which share cache sets.
    let mut tile = [0.0; TILE * TILE_ROWS];
    let mut buf = [0.0; TILE];
    for jb in (0..c).step_by(TILE) {
        let w = TILE.min(c - jb);
        for ib in (0..r).step_by(TILE_ROWS) {
            let h = TILE_ROWS.min(r - ib);
            for k in 0..w {
                let sc = src
                    .col(jb + k)
                    .try_as_col_major()
                    .expect("unit stride")
                    .as_slice();
                let dst_k = &mut tile[k * TILE_ROWS..k * TILE_ROWS + h];
                if let (Ok(d), Ok(s)) = (
                    <&mut [f64; TILE_ROWS]>::try_from(&mut *dst_k),
                    <&[f64; TILE_ROWS]>::try_from(&sc[ib..ib + h]),
                ) {
                    *d = *s; // fixed length: inlined vector moves, no memmove call
                } else {
                    dst_k.copy_from_slice(&sc[ib..ib + h]);
                }
            }
            for t in 0..h {
                for (k, b) in buf[..w].iter_mut().enumerate() {
                    *b = tile[k * TILE_ROWS + t];
                }
                let dcol = dst
                    .rb_mut()
                    .col_mut(ib + t)
                    .try_as_col_major_mut()
                    .expect("unit stride");
                let d = &mut dcol.as_slice_mut()[jb..jb + w];
                if stream {
                    stream_copy(d, &buf[..w]);
                } else {
                    d.copy_from_slice(&buf[..w]);
                }
            }
        }
    }
    if stream {
        store_fence();
    }
}

/// One panel: `out = X Y_pᵀ` (sequential GEMM), then `f` on each column; `out` holds rows
/// `i0..` and columns `j0..` (global indices) of the full result.
fn panel(
    x: MatRef<'_, f64>,
    yp: MatRef<'_, f64>,
    mut out: MatMut<'_, f64>,
    i0: usize,
    j0: usize,
    f: &ColumnFn<'_>,
) {
    matmul(
        out.rb_mut(),
        Accum::Replace,
        x,
        yp.transpose(),
        1.0,
        Par::Seq,
    );
    clear_upper_state();
    for j in 0..out.ncols() {
        with_slices(out.rb_mut().col_mut(j), i0, |i, seg| f(j0 + j, i, seg));
    }
}

/// `out = k(X, Y)` over column panels, split between threads; `out` holds rows `i0..`
/// and columns `j0..` (global) and `y` the matching rows of `Y`. When `mirror` is given
/// (`Y`-rows × `X`-rows), each finished panel is also copied transposed into it.
fn cross_panels(
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    mut out: MatMut<'_, f64>,
    mut mirror: Option<MatMut<'_, f64>>,
    i0: usize,
    j0: usize,
    f: &ColumnFn<'_>,
    stream: bool,
    par: Par,
) {
    let m = out.ncols();
    if parallelism_degree(par) > 1 && m > PANEL && out.nrows() * m >= PAR_MIN_ENTRIES {
        let mid = (m / 2).div_ceil(PANEL) * PANEL;
        let (yl, yr) = (y.subrows(0, mid), y.subrows(mid, m - mid));
        let (ol, or) = out.split_at_col_mut(mid);
        let (ml, mr) = mirror.map(|mm| mm.split_at_row_mut(mid)).unzip();
        join_raw(
            |p| cross_panels(x, yl, ol, ml, i0, j0, f, stream, p),
            |p| cross_panels(x, yr, or, mr, i0, j0 + mid, f, stream, p),
            par,
        );
        return;
    }
    let mut c = 0;
    while c < m {
        let w = PANEL.min(m - c);
        let mut op = out.rb_mut().subcols_mut(c, w);
        panel(x, y.subrows(c, w), op.rb_mut(), i0, j0 + c, f);
        if let Some(mm) = mirror.as_mut() {
            transpose_into(op.rb(), mm.rb_mut().subrows_mut(c, w), stream);
        }
        c += w;
    }
}

/// `out = k(X, Y)`: GEMM and `f` panel by panel — the cross-Gram driver.
///
/// # Panics
/// If the shapes are not `x: N×d`, `y: M×d`, `out: N×M` (message names `what`).
pub(crate) fn cross_driver(
    what: &str,
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    out: MatMut<'_, f64>,
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
    cross_panels(x, y, out, None, 0, 0, f, false, par());
}

/// `out = k(X, X)`, exactly symmetric: `f` on the strictly lower triangle, `diag(i)` on
/// the diagonal, the upper triangle mirrored — the symmetric-Gram driver.
///
/// # Panics
/// If `out` is not `N×N` for `x` of `N` rows.
pub(crate) fn sym_driver(
    what: &str,
    x: MatRef<'_, f64>,
    out: MatMut<'_, f64>,
    f: &ColumnFn<'_>,
    diag: impl Fn(usize) -> f64 + Sync,
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
    let stream = n * n >= STREAM_MIN_ENTRIES;
    sym_block(x, out, 0, f, &diag, stream, par());
}

/// The diagonal block of rows/columns `r0..r0 + n` (`x` holds exactly those rows).
fn sym_block(
    x: MatRef<'_, f64>,
    mut out: MatMut<'_, f64>,
    r0: usize,
    f: &ColumnFn<'_>,
    diag: &(dyn Fn(usize) -> f64 + Sync),
    stream: bool,
    par: Par,
) {
    let n = out.nrows();
    if n <= SYM_LEAF {
        triangular::matmul(
            out.rb_mut(),
            BlockStructure::TriangularLower,
            Accum::Replace,
            x,
            BlockStructure::Rectangular,
            x.transpose(),
            BlockStructure::Rectangular,
            1.0,
            Par::Seq,
        );
        clear_upper_state();
        for j in 0..n {
            let col = out.rb_mut().col_mut(j).subrows_mut(j + 1, n - j - 1);
            with_slices(col, r0 + j + 1, |i, seg| f(r0 + j, i, seg));
        }
        for j in 0..n {
            out[(j, j)] = diag(r0 + j);
        }
        for jb in (0..n).step_by(TILE_ROWS) {
            let w = TILE_ROWS.min(n - jb);
            // below-diagonal tiles of this tile column: one transposed copy
            let (left, right) = out.rb_mut().split_at_col_mut(jb + w);
            let src = left.rb().submatrix(jb + w, jb, n - jb - w, w);
            transpose_into(src, right.submatrix_mut(jb, 0, w, n - jb - w), false);
            // the diagonal tile itself
            for j in jb..jb + w {
                for i in j + 1..jb + w {
                    out[(j, i)] = out[(i, j)];
                }
            }
        }
        return;
    }
    let mid = n / 2;
    let (x1, x2) = (x.subrows(0, mid), x.subrows(mid, n - mid));
    let (left, right) = out.split_at_col_mut(mid);
    let (a11, a21) = left.split_at_row_mut(mid);
    let (a12, a22) = right.split_at_row_mut(mid);
    // K₂₁ (n/2)² entries against the two diagonal blocks' (n/2)²/2 each: one half each.
    let diagonal = |p: Par| {
        sym_block(x1, a11, r0, f, diag, stream, p);
        sym_block(x2, a22, r0 + mid, f, diag, stream, p);
    };
    let off = |p: Par| cross_panels(x2, x1, a21, Some(a12), r0 + mid, r0, f, stream, p);
    if parallelism_degree(par) > 1 && n * n >= PAR_MIN_ENTRIES {
        join_raw(diagonal, off, par);
    } else {
        diagonal(par);
        off(par);
    }
}
