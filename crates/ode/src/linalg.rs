//! Allocation-free linear combinations of `N × d` batches (the integrators' only arithmetic
//! besides the field).
//!
//! Every combination is evaluated element by element in one fixed order,
//! `acc = base; acc += c_1 M_1; acc += c_2 M_2; …`, whatever the memory layout, so that two
//! code paths doing the same combination produce the same bits (the checkpointed adjoint
//! relies on this). Column-major operands take a chunked fast path that keeps the destination
//! chunk in L1 while the terms stream through it.

use faer::prelude::{Reborrow, ReborrowMut};
use faer::{MatMut, MatRef};
use plres_simd::lincomb::{self, ChunkBase, combine_chunk};

use crate::tableau::MAX_STAGES;

/// Most terms in one combination: every stage plus one extra operand.
pub(crate) const MAX_TERMS: usize = MAX_STAGES + 1;
/// Rows per chunk of the fast path (4 KiB of `f64`).
const CHUNK: usize = 512;

/// A short list of `(coefficient, matrix)` terms on the stack.
#[derive(Clone, Copy)]
pub(crate) struct Terms<'a> {
    coef: [f64; MAX_TERMS],
    mat: [Option<MatRef<'a, f64>>; MAX_TERMS],
    len: usize,
}

impl<'a> Terms<'a> {
    pub(crate) fn new() -> Self {
        Terms {
            coef: [0.0; MAX_TERMS],
            mat: [None; MAX_TERMS],
            len: 0,
        }
    }
    /// Adds `c·m` unless `c == 0` (skipping zeros is part of the fixed operation order).
    #[inline]
    pub(crate) fn push(&mut self, c: f64, m: MatRef<'a, f64>) {
        if c != 0.0 {
            assert!(self.len < MAX_TERMS, "more than {MAX_TERMS} terms");
            self.coef[self.len] = c;
            self.mat[self.len] = Some(m);
            self.len += 1;
        }
    }
    fn get(&self, k: usize) -> (f64, MatRef<'a, f64>) {
        (self.coef[k], self.mat[k].expect("term set"))
    }
}

/// What the combination starts from.
#[derive(Clone, Copy)]
pub(crate) enum Base<'a> {
    /// `dst = Σ c_k M_k`.
    Zero,
    /// `dst += Σ c_k M_k`.
    InPlace,
    /// `dst = B + Σ c_k M_k`.
    Mat(MatRef<'a, f64>),
}

fn check_shape(what: &str, dst: (usize, usize), m: MatRef<'_, f64>) {
    assert!(
        (m.nrows(), m.ncols()) == dst,
        "lincomb: {what} is {}×{}, destination is {}×{}",
        m.nrows(),
        m.ncols(),
        dst.0,
        dst.1
    );
}

/// `dst = base + Σ_k c_k M_k`; returns whether every entry of the result is finite.
///
/// # Panics
/// If an operand's shape differs from `dst`'s.
pub(crate) fn lincomb(mut dst: MatMut<'_, f64>, base: Base<'_>, terms: &Terms<'_>) -> bool {
    let (n, d) = (dst.nrows(), dst.ncols());
    if let Base::Mat(b) = base {
        check_shape("base", (n, d), b);
    }
    for k in 0..terms.len {
        check_shape("term", (n, d), terms.get(k).1);
    }
    let contiguous = dst.row_stride() == 1
        && match base {
            Base::Mat(b) => b.row_stride() == 1,
            _ => true,
        }
        && (0..terms.len).all(|k| terms.get(k).1.row_stride() == 1);
    let mut nonfinite = 0.0f64;
    // Every operand one contiguous run of n·d elements (column stride = n): one long column.
    let whole =
        |m: MatRef<'_, f64>| m.row_stride() == 1 && (d <= 1 || m.col_stride() == n as isize);
    let flat = n > 0
        && d > 0
        && whole(dst.rb())
        && match base {
            Base::Mat(b) => whole(b),
            _ => true,
        }
        && (0..terms.len).all(|k| whole(terms.get(k).1));
    if flat {
        // every operand is one contiguous column-major run (checked above)
        fn as_slice(m: MatRef<'_, f64>) -> &[f64] {
            lincomb::flat(m).expect("contiguous operand")
        }
        let dst_all = lincomb::flat_mut(dst.rb_mut()).expect("contiguous destination");
        let empty: &[f64] = &[];
        let mut cols: [&[f64]; MAX_TERMS] = [empty; MAX_TERMS];
        for k in 0..terms.len {
            cols[k] = as_slice(terms.get(k).1);
        }
        let chunk_base = match base {
            Base::Mat(b) => ChunkBase::Slice(as_slice(b)),
            Base::InPlace => ChunkBase::InPlace,
            Base::Zero => ChunkBase::Zero,
        };
        nonfinite += combine_chunk(
            dst_all,
            chunk_base,
            &terms.coef[..terms.len],
            &cols[..terms.len],
        );
    } else if contiguous {
        let empty: &[f64] = &[];
        let mut cols: [&[f64]; MAX_TERMS] = [empty; MAX_TERMS];
        for j in 0..d {
            for k in 0..terms.len {
                cols[k] = terms
                    .get(k)
                    .1
                    .col(j)
                    .try_as_col_major()
                    .expect("row stride 1")
                    .as_slice();
            }
            let base_col = match base {
                Base::Mat(b) => Some(
                    b.col(j)
                        .try_as_col_major()
                        .expect("row stride 1")
                        .as_slice(),
                ),
                _ => None,
            };
            let dst_col = dst
                .rb_mut()
                .col_mut(j)
                .try_as_col_major_mut()
                .expect("row stride 1")
                .as_slice_mut();
            let mut start = 0;
            while start < n {
                let end = (start + CHUNK).min(n);
                let mut chunk_cols: [&[f64]; MAX_TERMS] = [empty; MAX_TERMS];
                for k in 0..terms.len {
                    chunk_cols[k] = &cols[k][start..end];
                }
                let chunk_base = match base_col {
                    Some(bc) => ChunkBase::Slice(&bc[start..end]),
                    None => match base {
                        Base::InPlace => ChunkBase::InPlace,
                        _ => ChunkBase::Zero,
                    },
                };
                nonfinite += combine_chunk(
                    &mut dst_col[start..end],
                    chunk_base,
                    &terms.coef[..terms.len],
                    &chunk_cols[..terms.len],
                );
                start = end;
            }
        }
    } else {
        for j in 0..d {
            for i in 0..n {
                let mut first = 0;
                let mut acc = match base {
                    Base::Mat(b) => b[(i, j)],
                    Base::InPlace => dst[(i, j)],
                    Base::Zero => {
                        if terms.len == 0 {
                            0.0
                        } else {
                            first = 1;
                            terms.coef[0] * terms.get(0).1[(i, j)]
                        }
                    }
                };
                for k in first..terms.len {
                    let (c, m) = terms.get(k);
                    acc += c * m[(i, j)];
                }
                dst[(i, j)] = acc;
                nonfinite += acc * 0.0;
            }
        }
    }
    nonfinite == 0.0
}

/// Scaled RMS norm of the embedded error estimate `E = h Σ_i e_i K_i` (Hairer–Nørsett–Wanner I
/// §II.4, eq. (4.11)):
/// `sqrt( (1/(N d)) Σ (E_ij / (atol + rtol·max(|x_ij|, |x'_ij|)))² )`. NaN if anything is not
/// finite.
pub(crate) fn error_norm(
    x: MatRef<'_, f64>,
    x_new: MatRef<'_, f64>,
    terms: &Terms<'_>,
    rtol: f64,
    atol: f64,
) -> f64 {
    let (n, d) = (x.nrows(), x.ncols());
    check_shape("x_new", (n, d), x_new);
    let mut sum = 0.0;
    let mut buf = [0.0f64; CHUNK];
    for j in 0..d {
        let mut start = 0;
        while start < n {
            let end = (start + CHUNK).min(n);
            let e = &mut buf[..end - start];
            e.fill(0.0);
            for k in 0..terms.len {
                let (c, m) = terms.get(k);
                for (r, ei) in e.iter_mut().enumerate() {
                    *ei += c * m[(start + r, j)];
                }
            }
            for (r, ei) in e.iter().enumerate() {
                let sk = atol + rtol * x[(start + r, j)].abs().max(x_new[(start + r, j)].abs());
                let q = ei / sk;
                sum += q * q;
            }
            start = end;
        }
    }
    if n * d == 0 {
        return 0.0;
    }
    (sum / (n * d) as f64).sqrt()
}

/// Scaled RMS norm `sqrt((1/(N d)) Σ (v_ij / sk_ij)²)` with `sk = atol + rtol |x|`.
pub(crate) fn scaled_rms(v: MatRef<'_, f64>, x: MatRef<'_, f64>, rtol: f64, atol: f64) -> f64 {
    let (n, d) = (v.nrows(), v.ncols());
    if n * d == 0 {
        return 0.0;
    }
    let mut sum = 0.0;
    for j in 0..d {
        for i in 0..n {
            let q = v[(i, j)] / (atol + rtol * x[(i, j)].abs());
            sum += q * q;
        }
    }
    (sum / (n * d) as f64).sqrt()
}

/// Cubic Hermite basis at `θ`: weights of `(y0, h f0, y1, h f1)`.
pub(crate) fn hermite_basis(theta: f64) -> [f64; 4] {
    let t2 = theta * theta;
    let t3 = t2 * theta;
    [
        2.0 * t3 - 3.0 * t2 + 1.0,
        t3 - 2.0 * t2 + theta,
        -2.0 * t3 + 3.0 * t2,
        t3 - t2,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;

    /// The strided fallback and the chunked fast path give the same bits.
    #[test]
    fn fast_and_strided_paths_agree_bitwise() {
        let (n, d) = (1100, 3);
        let f = |s: f64| Mat::from_fn(n, d, |i, j| ((i * 7 + j * 13) as f64 * s).sin());
        let (b, m1, m2) = (f(0.1), f(0.37), f(1.3));
        let mut t = Terms::new();
        t.push(0.3, m1.as_ref());
        t.push(-1.7, m2.as_ref());
        let mut fast = Mat::zeros(n, d);
        assert!(lincomb(fast.as_mut(), Base::Mat(b.as_ref()), &t));
        // Transposed storage forces the strided path.
        let bt = b.transpose().to_owned();
        let m1t = m1.transpose().to_owned();
        let m2t = m2.transpose().to_owned();
        let mut t2 = Terms::new();
        t2.push(0.3, m1t.transpose());
        t2.push(-1.7, m2t.transpose());
        let mut slow_t = Mat::<f64>::zeros(d, n);
        assert!(lincomb(
            slow_t.as_mut().transpose_mut(),
            Base::Mat(bt.transpose()),
            &t2
        ));
        for j in 0..d {
            for i in 0..n {
                assert_eq!(fast[(i, j)].to_bits(), slow_t[(j, i)].to_bits());
            }
        }
        let mut inplace = b.clone();
        lincomb(inplace.as_mut(), Base::InPlace, &t);
        assert_eq!(inplace, fast);
    }

    #[test]
    fn non_finite_is_flagged() {
        let mut x = Mat::<f64>::zeros(4, 2);
        let mut m = Mat::<f64>::zeros(4, 2);
        m[(3, 1)] = f64::INFINITY;
        let mut t = Terms::new();
        t.push(1.0, m.as_ref());
        assert!(!lincomb(x.as_mut(), Base::InPlace, &t));
    }
}
