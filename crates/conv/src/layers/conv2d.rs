//! 2-d convolution (PyTorch's `Conv2d`, cross-correlation) by im2col and one faer GEMM.
//!
//! For input `X` (`c_in` channels, `h × w`), kernel `k`, stride `s`, zero padding `p`:
//! `h_o = ⌊(h + 2p − k)/s⌋ + 1` (same for `w_o`) and
//!
//! `Y[o, b, i, j] = bias[o] + Σ_{c, u, v} W[o, c, u, v] · X[c, b, s·i + u − p, s·j + v − p]`
//!
//! (`X` is zero outside the image). With `col(X)` the `c_in·k² × n·h_o·w_o` matrix whose row
//! `(c, u, v)` holds the shifted pixels, `Y = W col(X) + bias 1ᵀ`, and the backward pass is
//! `∂W = ∂Y col(X)ᵀ`, `∂bias = ∂Y 1`, `∂X = col2im(Wᵀ ∂Y)` (col2im, the adjoint of im2col,
//! adds every column entry back onto the pixel it was copied from).

use faer::linalg::matmul::matmul;
use faer::{Accum, Par};

use super::{rm, rm_mut};
use crate::Real;

/// The geometry of a convolution: channels, kernel size, stride, padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvSpec {
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel size (square).
    pub k: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on every side.
    pub pad: usize,
}

impl ConvSpec {
    /// Output size `(h_o, w_o)` for an `h × w` input.
    ///
    /// # Panics
    /// If the padded input is smaller than the kernel or the stride is zero.
    pub fn out_hw(&self, h: usize, w: usize) -> (usize, usize) {
        assert!(
            self.stride > 0 && h + 2 * self.pad >= self.k && w + 2 * self.pad >= self.k,
            "ConvSpec::out_hw: input {h}×{w}, padding {}, kernel {}, stride {}",
            self.pad,
            self.k,
            self.stride
        );
        (
            (h + 2 * self.pad - self.k) / self.stride + 1,
            (w + 2 * self.pad - self.k) / self.stride + 1,
        )
    }

    /// Rows of `col(X)` and columns of `W`: `c_in · k²`.
    pub fn patch_len(&self) -> usize {
        self.c_in * self.k * self.k
    }

    /// Entries of the weight: `c_out · c_in · k²`.
    pub fn weight_len(&self) -> usize {
        self.c_out * self.patch_len()
    }

    /// Entries of `col(X)` for a batch of `n` images of `h × w`.
    pub fn col_len(&self, n: usize, h: usize, w: usize) -> usize {
        let (ho, wo) = self.out_hw(h, w);
        self.patch_len() * n * ho * wo
    }

    /// Writes `col(X)` (row-major `c_in·k² × n·h_o·w_o`) into `col`.
    ///
    /// # Panics
    /// If `x` or `col` is too short.
    pub fn im2col<T: Real>(&self, x: &[T], n: usize, h: usize, w: usize, col: &mut [T]) {
        let (ho, wo) = self.out_hw(h, w);
        let npo = n * ho * wo;
        let (k, s, p) = (self.k, self.stride, self.pad as isize);
        assert!(
            x.len() >= self.c_in * n * h * w && col.len() >= self.patch_len() * npo,
            "im2col: x has {} entries (need {}), col {} (need {})",
            x.len(),
            self.c_in * n * h * w,
            col.len(),
            self.patch_len() * npo
        );
        if self.is_same_stride1() {
            return self.im2col_same(x, n, h, w, col);
        }
        for c in 0..self.c_in {
            for u in 0..k {
                for v in 0..k {
                    let r = (c * k + u) * k + v;
                    let row = &mut col[r * npo..(r + 1) * npo];
                    for b in 0..n {
                        for i in 0..ho {
                            let seg = &mut row[(b * ho + i) * wo..(b * ho + i + 1) * wo];
                            let y = (i * s + u) as isize - p;
                            if y < 0 || y >= h as isize {
                                seg.fill(T::ZERO);
                                continue;
                            }
                            let xrow = &x[((c * n + b) * h + y as usize) * w..][..w];
                            for (j, out) in seg.iter_mut().enumerate() {
                                let xx = (j * s + v) as isize - p;
                                *out = if xx >= 0 && xx < w as isize {
                                    xrow[xx as usize]
                                } else {
                                    T::ZERO
                                };
                            }
                        }
                    }
                }
            }
        }
    }

    /// Whether this is a stride-1 "same" convolution (`k = 2p + 1`, output size = input
    /// size): then row `(c, u, v)` of `col(X)` is channel `c` of `X`, flattened over
    /// `(b, y, x)`, shifted by `δ = (u − p)·w + (v − p)` with the entries whose source
    /// pixel falls outside the image zeroed — one long copy per row instead of a loop
    /// over pixels (the residual's 3×3 convolutions).
    fn is_same_stride1(&self) -> bool {
        self.stride == 1 && self.k == 2 * self.pad + 1
    }

    /// Calls `f(start, len)` for every run of entries of a shifted row `(u, v)` whose
    /// source pixel is outside the image (`n` images of `h × w`).
    #[inline]
    fn for_each_invalid(
        &self,
        u: usize,
        v: usize,
        n: usize,
        h: usize,
        w: usize,
        mut f: impl FnMut(usize, usize),
    ) {
        let p = self.pad as isize;
        let (du, dv) = (u as isize - p, v as isize - p);
        // columns j with j + dv outside [0, w): the first -dv or the last dv of each row
        let (j0, jl) = if dv < 0 {
            (0, (-dv) as usize)
        } else {
            (w.saturating_sub(dv as usize), dv as usize)
        };
        for b in 0..n {
            for i in 0..h {
                let y = i as isize + du;
                let base = (b * h + i) * w;
                if y < 0 || y >= h as isize {
                    f(base, w);
                } else if jl > 0 {
                    f(base + j0, jl.min(w - j0));
                }
            }
        }
    }

    fn im2col_same<T: Real>(&self, x: &[T], n: usize, h: usize, w: usize, col: &mut [T]) {
        let (k, p) = (self.k, self.pad as isize);
        let total = n * h * w;
        for c in 0..self.c_in {
            let xc = &x[c * total..(c + 1) * total];
            for u in 0..k {
                for v in 0..k {
                    let r = (c * k + u) * k + v;
                    let row = &mut col[r * total..(r + 1) * total];
                    let delta = (u as isize - p) * w as isize + (v as isize - p);
                    // row[m] = xc[m + δ] where that index exists
                    let lo = ((-delta).max(0) as usize).min(total);
                    let hi = (total as isize - delta.max(0)).max(0) as usize;
                    row[..lo].fill(T::ZERO);
                    row[hi.max(lo)..].fill(T::ZERO);
                    if lo < hi {
                        let src = (lo as isize + delta) as usize;
                        row[lo..hi].copy_from_slice(&xc[src..src + (hi - lo)]);
                    }
                    self.for_each_invalid(u, v, n, h, w, |s, len| row[s..s + len].fill(T::ZERO));
                }
            }
        }
    }

    /// `dx += col2im(dcol)`: the adjoint of [`im2col`](Self::im2col). `dcol` is used as
    /// scratch: for stride-1 "same" convolutions its entries without a source pixel are
    /// zeroed.
    pub fn col2im_add<T: Real>(&self, dcol: &mut [T], n: usize, h: usize, w: usize, dx: &mut [T]) {
        let (ho, wo) = self.out_hw(h, w);
        let npo = n * ho * wo;
        let (k, s, p) = (self.k, self.stride, self.pad as isize);
        assert!(
            dx.len() >= self.c_in * n * h * w && dcol.len() >= self.patch_len() * npo,
            "col2im_add: dx has {} entries (need {}), dcol {} (need {})",
            dx.len(),
            self.c_in * n * h * w,
            dcol.len(),
            self.patch_len() * npo
        );
        if self.is_same_stride1() {
            let total = n * h * w;
            for c in 0..self.c_in {
                let dxc = &mut dx[c * total..(c + 1) * total];
                for u in 0..k {
                    for v in 0..k {
                        let r = (c * k + u) * k + v;
                        let row = &mut dcol[r * total..(r + 1) * total];
                        self.for_each_invalid(u, v, n, h, w, |s, len| {
                            row[s..s + len].fill(T::ZERO)
                        });
                        let delta = (u as isize - p) * w as isize + (v as isize - p);
                        let lo = ((-delta).max(0) as usize).min(total);
                        let hi = (total as isize - delta.max(0)).max(0) as usize;
                        if lo < hi {
                            let dst = (lo as isize + delta) as usize;
                            for (d, &g) in dxc[dst..dst + (hi - lo)].iter_mut().zip(&row[lo..hi]) {
                                *d += g;
                            }
                        }
                    }
                }
            }
            return;
        }
        for c in 0..self.c_in {
            for u in 0..k {
                for v in 0..k {
                    let r = (c * k + u) * k + v;
                    let row = &dcol[r * npo..(r + 1) * npo];
                    for b in 0..n {
                        for i in 0..ho {
                            let y = (i * s + u) as isize - p;
                            if y < 0 || y >= h as isize {
                                continue;
                            }
                            let seg = &row[(b * ho + i) * wo..(b * ho + i + 1) * wo];
                            let xrow = &mut dx[((c * n + b) * h + y as usize) * w..][..w];
                            for (j, &g) in seg.iter().enumerate() {
                                let xx = (j * s + v) as isize - p;
                                if xx >= 0 && xx < w as isize {
                                    xrow[xx as usize] += g;
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// `Y = W col + bias 1ᵀ` for `npo = n·h_o·w_o` output pixels (`Y` row-major
    /// `c_out × npo`).
    pub fn gemm_forward<T: Real>(
        &self,
        weight: &[T],
        bias: Option<&[T]>,
        col: &[T],
        npo: usize,
        y: &mut [T],
        par: Par,
    ) {
        let (co, kk) = (self.c_out, self.patch_len());
        matmul(
            rm_mut(y, co, npo),
            Accum::Replace,
            rm(weight, co, kk),
            rm(col, kk, npo),
            T::ONE,
            par,
        );
        if let Some(bias) = bias {
            for (o, &b) in bias.iter().enumerate().take(co) {
                for v in &mut y[o * npo..(o + 1) * npo] {
                    *v += b;
                }
            }
        }
    }

    /// Parameter gradients: `dW (+)= α ∂Y colᵀ`, `dbias (+)= α ∂Y 1` (added when `accum`).
    pub fn gemm_backward_params<T: Real>(
        &self,
        dy: &[T],
        col: &[T],
        npo: usize,
        alpha: T,
        dweight: &mut [T],
        dbias: Option<&mut [T]>,
        accum: bool,
        par: Par,
    ) {
        let (co, kk) = (self.c_out, self.patch_len());
        matmul(
            rm_mut(dweight, co, kk),
            if accum { Accum::Add } else { Accum::Replace },
            rm(dy, co, npo),
            rm(col, kk, npo).transpose(),
            alpha,
            par,
        );
        if let Some(db) = dbias {
            for o in 0..co {
                let s = dy[o * npo..(o + 1) * npo]
                    .iter()
                    .fold(T::ZERO, |a, &v| a + v);
                db[o] = if accum { db[o] + alpha * s } else { alpha * s };
            }
        }
    }

    /// `dcol = Wᵀ ∂Y` (row-major `c_in·k² × npo`).
    pub fn gemm_backward_col<T: Real>(
        &self,
        weight: &[T],
        dy: &[T],
        npo: usize,
        dcol: &mut [T],
        par: Par,
    ) {
        let (co, kk) = (self.c_out, self.patch_len());
        matmul(
            rm_mut(dcol, kk, npo),
            Accum::Replace,
            rm(weight, co, kk).transpose(),
            rm(dy, co, npo),
            T::ONE,
            par,
        );
    }
}

/// A convolution layer with its own weight `(c_out, c_in, k, k)` and optional bias.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv2d<T> {
    /// Geometry.
    pub spec: ConvSpec,
    /// Weight, `c_out × c_in·k²` row-major (PyTorch's layout).
    pub weight: Vec<T>,
    /// Bias (`c_out`), if any.
    pub bias: Option<Vec<T>>,
}

impl<T: Real> Conv2d<T> {
    /// Forward pass: `col ← col(X)`, `y ← W col + bias` (`col` is kept for backward).
    pub fn forward(
        &self,
        x: &[T],
        n: usize,
        h: usize,
        w: usize,
        col: &mut [T],
        y: &mut [T],
        par: Par,
    ) {
        let (ho, wo) = self.spec.out_hw(h, w);
        self.spec.im2col(x, n, h, w, col);
        self.spec
            .gemm_forward(&self.weight, self.bias.as_deref(), col, n * ho * wo, y, par);
    }

    /// Backward pass from `∂Y`: parameter gradients added into `dweight`/`dbias`, and, if
    /// `dx` is given, `dx ← ∂X` (overwritten), using `dcol` as scratch.
    pub fn backward(
        &self,
        dy: &[T],
        col: &[T],
        n: usize,
        h: usize,
        w: usize,
        dweight: &mut [T],
        dbias: Option<&mut [T]>,
        dx: Option<(&mut [T], &mut [T])>,
        par: Par,
    ) {
        let (ho, wo) = self.spec.out_hw(h, w);
        let npo = n * ho * wo;
        self.spec
            .gemm_backward_params(dy, col, npo, T::ONE, dweight, dbias, true, par);
        if let Some((dx, dcol)) = dx {
            self.spec
                .gemm_backward_col(&self.weight, dy, npo, dcol, par);
            dx[..self.spec.c_in * n * h * w].fill(T::ZERO);
            self.spec.col2im_add(dcol, n, h, w, dx);
        }
    }
}
