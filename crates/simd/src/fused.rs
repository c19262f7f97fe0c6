//! Fused pre-activation and activation for small input dimensions: the column-wise
//! activation kernel of plres-rff's cosine, paired-cosine and ReLU feature maps.
//!
//! For `d ≤` [`MAX_FUSED_DIM`] the "GEMM" `Z = X Wᵀ` has only `d` multiply–adds per output,
//! fewer than the activation itself, and writing `Z` to memory only to read it back for
//! the activation costs more than computing it. This kernel computes, for a group of
//! `GROUP` (8) features `j` and `LANES` consecutive samples `i` at a time,
//! `z_ij = b_j + Σ_l x_il w_jl` in registers (one fused multiply–add per `l`, the weight
//! broadcast) and applies the activation before the single store of `φ` (and of the
//! cache). `Φ` therefore crosses memory once, and the work is compute-bound: a SIMD
//! polynomial cosine plus `d` FMAs per vector of outputs.
//!
//! Requirements (checked by [`try_forward`], which returns `false` otherwise so that the
//! caller falls back to faer's GEMM + a separate activation pass): `X`, `Φ` and the cache
//! column-major with unit row stride (faer's default layout), `d ≤ MAX_FUSED_DIM`.

use faer::{MatMut, MatRef, Par};

use crate::dispatch::{Backend, Simd, SimdFn, with_simd};
use crate::trig;

/// Largest input dimension handled by the fused kernel; beyond it faer's cache-blocked
/// GEMM wins and the activation pass is comparatively cheap.
pub const MAX_FUSED_DIM: usize = 64;

/// Features per register group (one accumulator vector each).
const GROUP: usize = 8;

/// The activation, applied to the pre-activation `z` (bias included) of feature `j`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// `φ_j = s cos z`; cache `−s sin z`.
    Cos,
    /// `φ_j = s cos z`, `φ_{h+j} = s sin z`; cache `−φ_{h+j}`, `φ_j`.
    Paired,
    /// `φ_j = s relu(z)`; cache `s 1[z > 0]`.
    Relu,
}

/// A column-major matrix with unit row stride, seen through a raw pointer so that two
/// threads can write disjoint column ranges.
#[derive(Clone, Copy)]
struct Cols {
    ptr: *mut f64,
    col_stride: isize,
}

// SAFETY: `Cols` is only a view; the code that writes through it (`Kernel::put`) is given
// disjoint column ranges per thread by `try_forward`, and the borrow of the underlying
// `MatMut` outlives every use.
unsafe impl Send for Cols {}
// SAFETY: as for `Send`: concurrent users read shared inputs and write disjoint columns.
unsafe impl Sync for Cols {}

impl Cols {
    /// Pointer to entry `(i, j)`.
    ///
    /// # Safety
    /// `(i, j)` must lie inside the matrix.
    #[inline(always)]
    unsafe fn at(self, i: usize, j: usize) -> *mut f64 {
        // SAFETY: in bounds by the caller's contract.
        unsafe { self.ptr.offset(i as isize + j as isize * self.col_stride) }
    }
}

/// One call of the fused kernel: features `cols` (rows of `W`) for all samples.
#[derive(Clone, Copy)]
struct Kernel<'a> {
    x: Cols,
    n: usize,
    d: usize,
    w: Cols,
    bias: &'a [f64],
    scale: f64,
    act: Activation,
    /// Column offset of the sin half (paired features).
    half: usize,
    phi: Cols,
    cache: Option<Cols>,
    cols: (usize, usize),
}

impl SimdFn for Kernel<'_> {
    type Output = ();
    #[inline(always)]
    fn call<S: Simd>(self, s: S) {
        let full = self.n - self.n % S::LANES;
        let (start, end) = self.cols;
        let mut j = start;
        while j + GROUP <= end {
            self.group::<S, GROUP>(s, j, 0, full);
            j += GROUP;
        }
        while j < end {
            self.group::<S, 1>(s, j, 0, full);
            j += 1;
        }
        // the last n mod LANES samples, one at a time, with lane-identical arithmetic
        for j in start..end {
            self.group::<S::Tail, 1>(s.tail(), j, full, self.n);
        }
    }
}

impl Kernel<'_> {
    /// Features `j0..j0 + C`, samples `r0..r1` (`r1 − r0` a multiple of `S::LANES`).
    #[inline(always)]
    fn group<S: Simd, const C: usize>(self, s: S, j0: usize, r0: usize, r1: usize) {
        let mut i = r0;
        while i < r1 {
            let mut acc = [s.splat(0.0); C];
            for c in 0..C {
                if !self.bias.is_empty() {
                    acc[c] = s.splat(self.bias[j0 + c]);
                }
            }
            for l in 0..self.d {
                // SAFETY: i + LANES ≤ n and l < d: inside X; j0 + c < q and l < d: inside W.
                let xv = unsafe { s.load_ptr(self.x.at(i, l)) };
                for c in 0..C {
                    // SAFETY: j0 + c < q and l < d: inside W (shape asserted by
                    // `try_forward`).
                    let w = unsafe { *self.w.at(j0 + c, l) };
                    acc[c] = s.fma(xv, s.splat(w), acc[c]);
                }
            }
            for c in 0..C {
                // SAFETY: rows i..i + LANES ≤ n, column j0 + c in this kernel's range.
                unsafe { self.put(s, j0 + c, i, acc[c]) };
            }
            i += S::LANES;
        }
    }

    /// Writes the activation of `z` (feature `j`, samples `i..i + LANES`).
    ///
    /// # Safety
    /// `i + LANES ≤ n`, `j` in `self.cols`; `Φ` (and the cache) have the columns the
    /// activation writes.
    #[inline(always)]
    unsafe fn put<S: Simd>(self, s: S, j: usize, i: usize, z: S::V) {
        let sc = s.splat(self.scale);
        // SAFETY: (all stores) in bounds by this function's contract.
        unsafe {
            match self.act {
                Activation::Cos => match self.cache {
                    None => s.store_ptr(s.mul(sc, trig::cos_v(s, z)), self.phi.at(i, j)),
                    Some(cache) => {
                        let (sn, cs) = trig::sincos_v(s, z);
                        s.store_ptr(s.mul(sc, cs), self.phi.at(i, j));
                        s.store_ptr(s.neg(s.mul(sc, sn)), cache.at(i, j));
                    }
                },
                Activation::Paired => {
                    let (sn, cs) = trig::sincos_v(s, z);
                    let (pc, ps) = (s.mul(sc, cs), s.mul(sc, sn));
                    s.store_ptr(pc, self.phi.at(i, j));
                    s.store_ptr(ps, self.phi.at(i, self.half + j));
                    if let Some(cache) = self.cache {
                        s.store_ptr(s.neg(ps), cache.at(i, j));
                        s.store_ptr(pc, cache.at(i, self.half + j));
                    }
                }
                Activation::Relu => {
                    let zero = s.splat(0.0);
                    // NaN stays NaN in φ (`z < 0` is false); its derivative is 0
                    s.store_ptr(
                        s.mul(sc, s.select(s.lt(z, zero), zero, z)),
                        self.phi.at(i, j),
                    );
                    if let Some(cache) = self.cache {
                        s.store_ptr(s.select(s.lt(zero, z), sc, zero), cache.at(i, j));
                    }
                }
            }
        }
    }
}

/// `Φ = act(X Wᵀ + b)` (and the cache) with the fused kernel, if the layouts and `d`
/// allow it; returns `false` (having written nothing) otherwise. The feature columns are
/// halved between the threads of `par` (the caller decides whether the work is worth a
/// second thread).
///
/// `w` is `q×d` (`q = p`, or `p/2` for paired features, whose sin half is written into
/// columns `q..2q` of `phi`); `bias` has `q` entries or none; `cache` has `phi`'s shape.
///
/// # Panics
/// If `w` does not have `d` columns, `bias` is neither empty nor of length `q`, or `phi`
/// (or the cache) does not have `n` rows and at least `q` columns (`2q` for paired
/// features); every dimension is named. These checks are what makes the kernel's raw
/// pointer accesses in bounds.
#[allow(clippy::too_many_arguments)] // mirrors the maths' list of operands
pub fn try_forward(
    x: MatRef<'_, f64>,
    w: MatRef<'_, f64>,
    bias: &[f64],
    scale: f64,
    act: Activation,
    phi: MatMut<'_, f64>,
    cache: Option<MatMut<'_, f64>>,
    par: Par,
) -> bool {
    let (n, d) = x.shape();
    let q = w.nrows();
    let outputs = if act == Activation::Paired { 2 * q } else { q };
    assert!(
        w.ncols() == d && (bias.is_empty() || bias.len() == q),
        "fused forward: X is {n}×{d}, W is {q}×{}, bias has {} entries (want {q} or 0)",
        w.ncols(),
        bias.len()
    );
    for (what, shape) in [
        ("Φ", Some(phi.shape())),
        ("cache", cache.as_ref().map(|c| c.shape())),
    ] {
        if let Some((rows, cols)) = shape {
            assert!(
                rows == n && cols >= outputs,
                "fused forward: {what} is {rows}×{cols}, want {n} rows and ≥ {outputs} columns"
            );
        }
    }
    let unit_rows = |rs: isize, rows: usize| rs == 1 || rows <= 1;
    let mut cache = cache;
    let layouts_ok = unit_rows(x.row_stride(), n)
        && unit_rows(w.row_stride(), q)
        && unit_rows(phi.row_stride(), n)
        && cache.as_ref().is_none_or(|c| unit_rows(c.row_stride(), n));
    if d > MAX_FUSED_DIM || !layouts_ok || n == 0 || q == 0 {
        return false;
    }
    let phi_cols = Cols {
        ptr: phi.as_ptr_mut(),
        col_stride: phi.col_stride(),
    };
    let cache_cols = cache.as_mut().map(|c| Cols {
        ptr: c.as_ptr_mut(),
        col_stride: c.col_stride(),
    });
    let kernel = Kernel {
        x: Cols {
            ptr: x.as_ptr().cast_mut(),
            col_stride: x.col_stride(),
        },
        n,
        d,
        w: Cols {
            ptr: w.as_ptr().cast_mut(),
            col_stride: w.col_stride(),
        },
        bias,
        scale,
        act,
        half: q,
        phi: phi_cols,
        cache: cache_cols,
        cols: (0, q),
    };
    let backend = Backend::detect();
    split(kernel, backend, par);
    true
}

/// Runs `kernel` over its column range, halved between the threads of `par`.
fn split(kernel: Kernel<'_>, backend: Backend, par: Par) {
    let (start, end) = kernel.cols;
    if let Par::Rayon(threads) = par
        && threads.get() >= 2
        && end - start >= 2 * GROUP
    {
        // split on a group boundary so that both halves run full register groups
        let mid = start + ((end - start) / 2).div_ceil(GROUP) * GROUP;
        let (a, b) = (
            Kernel {
                cols: (start, mid),
                ..kernel
            },
            Kernel {
                cols: (mid, end),
                ..kernel
            },
        );
        faer::utils::thread::join_raw(
            |par| split(a, backend, par),
            |par| split(b, backend, par),
            par,
        );
        return;
    }
    with_simd(backend, kernel);
}
