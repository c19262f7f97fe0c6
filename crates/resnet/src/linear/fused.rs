//! The tiled forward-Euler training step for column-wise feature maps (cosine-with-phase
//! Fourier features, ReLU features): `Φ_k` never exists as an `N×p` matrix.
//!
//! With `φ_j(x) = s·σ(w_j·x + b_j)` ([`plres_rff::Columnwise`]), every product of the step
//! decomposes over tiles of `T` rows × `P_B` features:
//!
//! * forward, `X_{k+1} = X_k + h Φ_k U_kᵀ`:
//!   `X_{k+1}[I] += h · Φ[I, J] · U_kᵀ[J]` summed over the feature blocks `J`;
//! * backward (DESIGN §4, `P_k = P_{k+1} + h (P_{k+1} U_k ⊙ φ'(X_k)) W`,
//!   `∂L/∂U_kᵀ = h Φ_kᵀ P_{k+1}`): with `Φ[I, J]` and `S[I, J] = s·σ'(…)` recomputed,
//!   `G[J] += h Φ[I, J]ᵀ P_{k+1}[I]`, `V = h P_{k+1}[I] U_k[:, J] ⊙ S[I, J]`,
//!   `P_k[I] += V W[J]`.
//!
//! A tile (`T·P_B` doubles, three buffers per thread) stays in the L2 cache between the
//! activation and the two or three GEMMs that consume it, so the step's memory traffic is
//! the states, the adjoints and the parameters, and what must be kept for the backward pass
//! is only `X_0..X_L` (the features are recomputed: one more GEMM `X W_Jᵀ` and one more
//! `sincos` per tile, the cheapest terms of the step). The rows are split between two
//! threads at a fixed row (`rayon::join`, each thread's GEMMs sequential); the second
//! thread's gradient goes to its own buffer and is added after, so the result does not depend
//! on scheduling: same inputs, same bits.

use faer::linalg::matmul::matmul;
use faer::prelude::ReborrowMut;
use faer::{Accum, Mat, MatMut, MatRef};
use plres_rff::Columnwise;

use crate::linear::workspace::{adjoint_pair, slice_t, slice_t_mut};

/// Rows per tile.
pub const TILE_ROWS: usize = 64;
/// Features per tile.
pub const TILE_FEATURES: usize = 512;
/// Batches smaller than this run on one thread (a fork/join costs ~10 µs).
const SPLIT_MIN_ROWS: usize = 2 * TILE_ROWS;

/// One thread's tile buffers: `Φ` tile, `σ'` tile, `V` tile.
#[derive(Debug, Clone)]
pub(crate) struct Tile {
    z: Vec<f64>,
    s: Vec<f64>,
    v: Vec<f64>,
}

impl Tile {
    pub(crate) fn new(p: usize) -> Self {
        let len = TILE_ROWS * TILE_FEATURES.min(p);
        Tile {
            z: vec![0.0; len],
            s: vec![0.0; len],
            v: vec![0.0; len],
        }
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        8 * (self.z.len() + self.s.len() + self.v.len())
    }
}

/// The row where the second thread's half starts (`n` when the batch is too small to split),
/// a multiple of 8.
fn split_row(n: usize) -> usize {
    if n < SPLIT_MIN_ROWS {
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

/// For the rows of one thread: `g ← h Φᵀ P_{k+1}` (`p×d`, `U_kᵀ` layout) and
/// `P_k += (h P_{k+1} U_k ⊙ S) W` (`pk` already holds `P_{k+1}`).
#[allow(clippy::too_many_arguments)]
fn backward_rows(
    cw: &Columnwise<'_>,
    ukt: MatRef<'_, f64>,
    xk: MatRef<'_, f64>,
    pk1: MatRef<'_, f64>,
    mut pk: MatMut<'_, f64>,
    mut g: MatMut<'_, f64>,
    h: f64,
    tile: &mut Tile,
) {
    let (m, p) = (xk.nrows(), ukt.nrows());
    if m == 0 {
        g.fill(0.0);
        return;
    }
    let mut j0 = 0;
    while j0 < p {
        let jb = TILE_FEATURES.min(p - j0);
        let mut i0 = 0;
        while i0 < m {
            let ib = TILE_ROWS.min(m - i0);
            let (z, s, v) = (
                &mut tile.z[..ib * jb],
                &mut tile.s[..ib * jb],
                &mut tile.v[..ib * jb],
            );
            cw.block(xk.subrows(i0, ib), j0, z, Some(&mut *s));
            let pt = pk1.subrows(i0, ib);
            matmul(
                g.rb_mut().subrows_mut(j0, jb),
                if i0 == 0 { Accum::Replace } else { Accum::Add },
                MatRef::from_column_major_slice(z, ib, jb).transpose(),
                pt,
                h,
                faer::Par::Seq,
            );
            matmul(
                MatMut::from_column_major_slice_mut(v, ib, jb),
                Accum::Replace,
                pt,
                ukt.subrows(j0, jb).transpose(),
                h,
                faer::Par::Seq,
            );
            crate::maps::clear_upper_simd_state();
            for (vi, si) in v.iter_mut().zip(s.iter()) {
                *vi *= *si;
            }
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
/// `X_{k+1} = X_k + h Φ_k U_kᵀ`, tiled, on two threads.
pub(crate) fn forward(
    cw: &Columnwise<'_>,
    u: &[f64],
    states: &mut [Mat<f64>],
    n: usize,
    tiles: &mut [Tile; 2],
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
        let [t0, t1] = tiles;
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
/// its buffer. `g1` is the
/// second thread's `p×d` gradient buffer.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    cw: &Columnwise<'_>,
    u: &[f64],
    states: &[Mat<f64>],
    adjoints: &mut [Mat<f64>],
    n: usize,
    grad: &mut [f64],
    tiles: &mut [Tile; 2],
    g1: &mut [f64],
) {
    let depth = states.len() - 1;
    let (p, d) = (cw.weights.nrows(), states[0].ncols());
    let h = 1.0 / depth as f64;
    let mid = split_row(n);
    for k in (0..depth).rev() {
        let (pk1, pk) = adjoint_pair(adjoints, depth, k);
        let pk1 = pk1.as_ref().subrows(0, n);
        let mut pk = pk.as_mut().subrows_mut(0, n);
        pk.copy_from(pk1);
        let xk = states[k].as_ref().subrows(0, n);
        let ukt = slice_t(u, k, d, p);
        let (x0, x1) = xk.split_at_row(mid);
        let (q0, q1) = pk1.split_at_row(mid);
        let (r0, r1) = pk.split_at_row_mut(mid);
        let [t0, t1] = tiles;
        let gk = slice_t_mut(grad, k, d, p);
        if mid == n {
            backward_rows(cw, ukt, x0, q0, r0, gk, h, t0);
        } else {
            let g1m = MatMut::from_column_major_slice_mut(&mut *g1, p, d);
            rayon::join(
                || backward_rows(cw, ukt, x0, q0, r0, gk, h, t0),
                || backward_rows(cw, ukt, x1, q1, r1, g1m, h, t1),
            );
            crate::maps::clear_upper_simd_state();
            for (a, b) in grad[k * d * p..(k + 1) * d * p].iter_mut().zip(g1.iter()) {
                *a += *b;
            }
        }
    }
}
