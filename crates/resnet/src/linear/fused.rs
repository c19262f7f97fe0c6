//! The tiled forward-Euler training step for column-wise feature maps (cosine-with-phase
//! Fourier features, ReLU features): `Φ_k` never exists as an `N×p` matrix.
//!
//! With `φ_j(x) = s·σ(w_j·x + b_j)` ([`plres_rff::Columnwise`]), every product of the step
//! decomposes over tiles of `T` rows × `P_B` features:
//!
//! * forward, `X_{k+1} = X_k + h Φ_k U_kᵀ`:
//!   `X_{k+1}[I] += h · Φ[I, J] · U_kᵀ[J]` summed over the feature blocks `J`;
//! * backward (docs/theory.md §4, `P_k = P_{k+1} + h (P_{k+1} U_k ⊙ φ'(X_k)) W`,
//!   `∂L/∂U_kᵀ = h Φ_kᵀ P_{k+1}`): with `Φ[I, J]` and `S[I, J] = s·σ'(…)` recomputed,
//!   `G[J] += h Φ[I, J]ᵀ P_{k+1}[I]`, `V = h P_{k+1}[I] U_k[:, J] ⊙ S[I, J]`,
//!   `P_k[I] += V W[J]`.
//!
//! A tile (`T·P_B` doubles, two buffers per thread) stays in the L2 cache between the
//! activation and the two or three GEMMs that consume it, so the step's memory traffic is
//! the states, the adjoints and the parameters, and what must be kept for the backward pass
//! is only `X_0..X_L` (the features are recomputed: one more `X W_Jᵀ` and one more cosine
//! per entry, besides the sine the backward pass needs anyway). A tile's `Φ` comes from
//! [`Columnwise::block`] (for `d ≤ 32` the feature maps' fused register kernel, otherwise a
//! GEMM then the activation).
//!
//! When faer's global parallelism ([`faer::get_global_parallelism`]) allows more than one
//! thread, two tasks (`rayon::join`, each task's GEMMs sequential) split the work at fixed
//! positions: the rows in the forward pass; in the backward pass the features when `p ≥ N`
//! (the second thread's share of `P_k` goes to its own `N×d` buffer) and the rows otherwise
//! (its share of the gradient goes to its own `p×d` buffer); the shares are added after the
//! join, so the result does not depend on scheduling: same inputs and same parallelism
//! setting, same bits. With `Par::Seq`, or for batches under 128 rows, one task does all
//! the work (the same sums in another order: equal up to rounding).

use faer::linalg::matmul::matmul;
use faer::prelude::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, MatRef};
use plres_rff::Columnwise;
use plres_simd::hadamard::hadamard_in_place;

use crate::linear::workspace::{adjoint_pair, slice_t, slice_t_mut};
use crate::maps::parallel;

/// Rows per tile.
pub const TILE_ROWS: usize = 64;
/// Features per tile.
pub const TILE_FEATURES: usize = 128;
/// Batches smaller than this run on one thread (a fork/join costs ~10 µs).
const SPLIT_MIN_ROWS: usize = 2 * TILE_ROWS;

/// One thread's tile buffers: the `Φ` tile (then `V`) and the `σ'` tile.
#[derive(Debug, Clone)]
struct Tile {
    z: Vec<f64>,
    s: Vec<f64>,
}

impl Tile {
    fn new(p: usize) -> Self {
        let len = TILE_ROWS * TILE_FEATURES.min(p);
        Tile {
            z: vec![0.0; len],
            s: vec![0.0; len],
        }
    }

    fn bytes(&self) -> usize {
        8 * (self.z.len() + self.s.len())
    }
}

/// The tiled step's buffers: one tile pair per thread and the second thread's share of the
/// backward pass (`extra`, see [`backward`]; empty for forward-only use).
#[derive(Debug, Clone)]
pub(crate) struct Scratch {
    tiles: [Tile; 2],
    extra: Vec<f64>,
}

impl Scratch {
    /// Buffers for width `p`; `extra` doubles for the backward pass (`min(n_max, p)·d`,
    /// or 0 for forward passes only).
    pub(crate) fn new(p: usize, extra: usize) -> Self {
        Scratch {
            tiles: [Tile::new(p), Tile::new(p)],
            extra: vec![0.0; extra],
        }
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.tiles[0].bytes() + self.tiles[1].bytes() + 8 * self.extra.len()
    }
}

/// The row where the second task's half starts (`n` when the batch is too small to split or
/// faer's global parallelism is sequential), a multiple of 8.
fn split_row(n: usize) -> usize {
    if n < SPLIT_MIN_ROWS || !parallel() {
        n
    } else {
        (n / 2).div_ceil(8) * 8
    }
}

/// `X_{k+1}[rows] += h Φ(X_k[rows]) U_kᵀ`, tile by tile (`xk1` already holds `X_k`).
fn forward_rows(
    cw: &Columnwise<'_>,
    ukt: MatRef<'_, f64>,
    xk: MatRef<'_, f64>,
    mut xk1: MatMut<'_, f64>,
    h: f64,
    tile: &mut Tile,
) {
    let (m, p) = (xk.nrows(), ukt.nrows());
    let mut j0 = 0;
    while j0 < p {
        let jb = TILE_FEATURES.min(p - j0);
        let mut i0 = 0;
        while i0 < m {
            let ib = TILE_ROWS.min(m - i0);
            let z = &mut tile.z[..ib * jb];
            cw.block(xk.subrows(i0, ib), j0, z, None);
            matmul(
                xk1.rb_mut().subrows_mut(i0, ib),
                Accum::Add,
                MatRef::from_column_major_slice(z, ib, jb),
                ukt.subrows(j0, jb),
                h,
                faer::Par::Seq,
            );
            i0 += ib;
        }
        j0 += jb;
    }
}

/// One thread's share of the backward pass of layer `k`, for the rows of `xk` and the
/// features `j_lo..j_hi`: `g ← h Φ[:, J]ᵀ P_{k+1}` (`g` is `(j_hi − j_lo)×d`, rows of
/// `∂L/∂U_kᵀ`) and `pk += (h P_{k+1} U_k[:, J] ⊙ S[:, J]) W[J]`. The `V` tile reuses the `Φ`
/// tile's buffer once the gradient product has consumed it.
#[allow(clippy::too_many_arguments)]
fn backward_part(
    cw: &Columnwise<'_>,
    ukt: MatRef<'_, f64>,
    xk: MatRef<'_, f64>,
    pk1: MatRef<'_, f64>,
    mut pk: MatMut<'_, f64>,
    mut g: MatMut<'_, f64>,
    (j_lo, j_hi): (usize, usize),
    h: f64,
    tile: &mut Tile,
) {
    let m = xk.nrows();
    if m == 0 {
        g.fill(0.0);
        return;
    }
    let mut j0 = j_lo;
    while j0 < j_hi {
        let jb = TILE_FEATURES.min(j_hi - j0);
        let mut i0 = 0;
        while i0 < m {
            let ib = TILE_ROWS.min(m - i0);
            let (z, s) = (&mut tile.z[..ib * jb], &mut tile.s[..ib * jb]);
            cw.block(xk.subrows(i0, ib), j0, z, Some(&mut *s));
            let pt = pk1.subrows(i0, ib);
            matmul(
                g.rb_mut().subrows_mut(j0 - j_lo, jb),
                if i0 == 0 { Accum::Replace } else { Accum::Add },
                MatRef::from_column_major_slice(z, ib, jb).transpose(),
                pt,
                h,
                faer::Par::Seq,
            );
            let v = z;
            matmul(
                MatMut::from_column_major_slice_mut(v, ib, jb),
                Accum::Replace,
                pt,
                ukt.subrows(j0, jb).transpose(),
                h,
                faer::Par::Seq,
            );
            hadamard_in_place(v, s);
            matmul(
                pk.rb_mut().subrows_mut(i0, ib),
                Accum::Add,
                MatRef::from_column_major_slice(v, ib, jb),
                cw.weights.subrows(j0, jb),
                1.0,
                faer::Par::Seq,
            );
            i0 += ib;
        }
        j0 += jb;
    }
}

/// Forward Euler over the first `n` rows of `states` (`states[0]` already `X_0`):
/// `X_{k+1} = X_k + h Φ_k U_kᵀ`, tiled, split in two when parallel (module docs).
pub(crate) fn forward(
    cw: &Columnwise<'_>,
    u: &[f64],
    states: &mut [Mat<f64>],
    n: usize,
    scratch: &mut Scratch,
) {
    let depth = states.len() - 1;
    let (p, d) = (cw.weights.nrows(), states[0].ncols());
    let h = 1.0 / depth as f64;
    let mid = split_row(n);
    for k in 0..depth {
        let (head, tail) = states.split_at_mut(k + 1);
        let xk = head[k].as_ref().subrows(0, n);
        let mut xk1 = tail[0].as_mut().subrows_mut(0, n);
        xk1.copy_from(xk);
        let ukt = slice_t(u, k, d, p);
        let (x0, x1) = xk.split_at_row(mid);
        let (y0, y1) = xk1.split_at_row_mut(mid);
        let [t0, t1] = &mut scratch.tiles;
        if mid == n {
            forward_rows(cw, ukt, x0, y0, h, t0);
        } else {
            rayon::join(
                || forward_rows(cw, ukt, x0, y0, h, t0),
                || forward_rows(cw, ukt, x1, y1, h, t1),
            );
        }
    }
}

/// Backward Euler adjoint over the first `n` rows from `P_L` (already in its adjoint
/// buffer, [`adjoint_pair`]): block `k` of `grad` ← `∂L/∂U_kᵀ = h Φ_kᵀ P_{k+1}`, `P_k` into
/// its buffer. Two threads split the smaller side: the features when `p ≥ N` (each writes
/// its rows of the gradient; the second thread's share of `P_k` goes to `extra`, `N×d`), the
/// rows otherwise (the second thread's gradient goes to `extra`, `p×d`); `extra`
/// (`scratch`'s, at least `min(N, p)·d` doubles) is added after the join.
pub(crate) fn backward(
    cw: &Columnwise<'_>,
    u: &[f64],
    states: &[Mat<f64>],
    adjoints: &mut [Mat<f64>],
    n: usize,
    grad: &mut [f64],
    scratch: &mut Scratch,
) {
    let Scratch { tiles, extra } = scratch;
    let depth = states.len() - 1;
    let (p, d) = (cw.weights.nrows(), states[0].ncols());
    let h = 1.0 / depth as f64;
    let mid = split_row(n);
    let by_features = mid < n && p >= n;
    let jmid = (p / 2).div_ceil(8) * 8;
    for k in (0..depth).rev() {
        let (pk1, pk) = adjoint_pair(adjoints, depth, k);
        let pk1 = pk1.as_ref().subrows(0, n);
        let mut pk = pk.as_mut().subrows_mut(0, n);
        pk.copy_from(pk1);
        let xk = states[k].as_ref().subrows(0, n);
        let ukt = slice_t(u, k, d, p);
        let [t0, t1] = tiles;
        let gk = slice_t_mut(grad, k, d, p);
        if mid == n {
            backward_part(cw, ukt, xk, pk1, pk, gk, (0, p), h, t0);
        } else if by_features {
            let mut pbuf = MatMut::from_column_major_slice_mut(&mut extra[..n * d], n, d);
            pbuf.fill(0.0);
            let (g0, g1) = gk.split_at_row_mut(jmid);
            rayon::join(
                || backward_part(cw, ukt, xk, pk1, pk.rb_mut(), g0, (0, jmid), h, t0),
                || backward_part(cw, ukt, xk, pk1, pbuf.rb_mut(), g1, (jmid, p), h, t1),
            );
            plres_simd::clear_upper_state();
            pk += pbuf.rb();
        } else {
            let (x0, x1) = xk.split_at_row(mid);
            let (q0, q1) = pk1.split_at_row(mid);
            let (r0, r1) = pk.split_at_row_mut(mid);
            let g1m = MatMut::from_column_major_slice_mut(&mut extra[..p * d], p, d);
            rayon::join(
                || backward_part(cw, ukt, x0, q0, r0, gk, (0, p), h, t0),
                || backward_part(cw, ukt, x1, q1, r1, g1m, (0, p), h, t1),
            );
            plres_simd::clear_upper_state();
            for (a, b) in grad[k * d * p..(k + 1) * d * p]
                .iter_mut()
                .zip(extra[..p * d].iter())
            {
                *a += *b;
            }
        }
    }
}
