//! The runtime-dispatched inner loop of plres-ode's stage combinations,
//! `out = base + Σ_k c_k M_k` over a chunk, and the flat views of contiguous matrices it
//! runs on.
//!
//! The combinations `out = base + Σ c_k M_k` are compiled three times (AVX-512F, AVX2 and the
//! baseline) from one generic body and dispatched at run time. Each output element is computed
//! by the same sequence of IEEE operations (`mul` then `add`, never fused) in every version, so
//! the results are bitwise identical whichever version runs.

use faer::{MatMut, MatRef};

use crate::dispatch::{Backend, Simd, SliceFn, dispatch_slices};

/// How a chunk combination starts.
#[derive(Clone, Copy)]
pub enum ChunkBase<'a> {
    /// `out = c_0 M_0 + Σ_{k≥1} c_k M_k` (or 0 with no terms).
    Zero,
    /// `out += Σ c_k M_k`.
    InPlace,
    /// `out = b + Σ c_k M_k`.
    Slice(&'a [f64]),
}

/// Lanes of the non-finite detector (independent accumulators, so that the loop vectorises
/// and is not bound by the latency of one chain of additions).
const LANES: usize = 32;

#[inline(always)]
fn combine_body(out: &mut [f64], base: ChunkBase<'_>, coef: &[f64], cols: &[&[f64]]) -> f64 {
    let n = out.len();
    if coef.is_empty() {
        match base {
            ChunkBase::Slice(b) => out.copy_from_slice(&b[..n]),
            ChunkBase::Zero => out.fill(0.0),
            ChunkBase::InPlace => {}
        }
    } else {
        // The base is fused with the first term: b + c₀m₀ is what `o = b; o += c₀m₀` computes.
        let (c0, m0) = (coef[0], &cols[0][..n]);
        match base {
            ChunkBase::Slice(b) => {
                for ((o, bi), m) in out.iter_mut().zip(&b[..n]).zip(m0) {
                    *o = bi + c0 * m;
                }
            }
            ChunkBase::Zero => {
                for (o, m) in out.iter_mut().zip(m0) {
                    *o = c0 * m;
                }
            }
            ChunkBase::InPlace => {
                for (o, m) in out.iter_mut().zip(m0) {
                    *o += c0 * m;
                }
            }
        }
        for k in 1..coef.len() {
            let c = coef[k];
            for (o, m) in out.iter_mut().zip(&cols[k][..n]) {
                *o += c * m;
            }
        }
    }
    // x·0 is ±0 for finite x and NaN otherwise.
    let mut acc = [0.0f64; LANES];
    let mut chunks = out.chunks_exact(LANES);
    for c in &mut chunks {
        for l in 0..LANES {
            acc[l] += c[l] * 0.0;
        }
    }
    let mut tail = 0.0;
    for v in chunks.remainder() {
        tail += v * 0.0;
    }
    acc.iter().sum::<f64>() + tail
}

/// The AVX-512 version, written out: one pass over `out` with every term (8 lanes at a time,
/// `v = base; v = v + c_k·m_k` for k in order, `mul` then `add` as in [`combine_body`], so the
/// same bits), the number of terms a compile-time constant for the common counts, and the
/// non-finite detector an integer OR of `v·0` (±0 for finite lanes, NaN otherwise): a
/// one-cycle dependency instead of a floating-point addition chain.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn combine_avx512(out: &mut [f64], base: ChunkBase<'_>, coef: &[f64], cols: &[&[f64]]) -> f64 {
    let n = out.len();
    let nt = coef.len();
    if nt == 0 || nt > MAX_TERMS_SIMD {
        return combine_body(out, base, coef, cols);
    }
    assert!(cols.len() >= nt && cols[..nt].iter().all(|c| c.len() >= n));
    if let ChunkBase::Slice(b) = base {
        assert!(b.len() >= n);
    }
    let mut ptr = [std::ptr::null::<f64>(); MAX_TERMS_SIMD];
    for k in 0..nt {
        ptr[k] = cols[k].as_ptr();
    }
    // SAFETY: (all calls) every column and the base slice hold at least n elements
    // (asserted above), which is all `avx512_terms` requires besides AVX-512F (enabled
    // here).
    let (done, bits) = unsafe {
        match nt {
            1 => avx512_terms::<1>(out, base, coef, &ptr),
            2 => avx512_terms::<2>(out, base, coef, &ptr),
            3 => avx512_terms::<3>(out, base, coef, &ptr),
            4 => avx512_terms::<4>(out, base, coef, &ptr),
            5 => avx512_terms::<5>(out, base, coef, &ptr),
            6 => avx512_terms::<6>(out, base, coef, &ptr),
            7 => avx512_terms::<7>(out, base, coef, &ptr),
            _ => avx512_terms::<0>(out, base, coef, &ptr),
        }
    };
    let tail_base = match base {
        ChunkBase::Slice(b) => ChunkBase::Slice(&b[done..]),
        other => other,
    };
    let mut tail_cols: [&[f64]; MAX_TERMS_SIMD] = [&[]; MAX_TERMS_SIMD];
    for k in 0..nt {
        tail_cols[k] = &cols[k][done..];
    }
    let tail = combine_body(&mut out[done..], tail_base, coef, &tail_cols[..nt]);
    // Without the sign bit, the OR of the v·0 bits is 0 iff every lane was finite.
    let head = if bits & 0x7fff_ffff_ffff_ffff == 0 {
        0.0
    } else {
        f64::NAN
    };
    head + tail
}

/// The vector part of [`combine_avx512`] with `NT` terms (`NT = 0`: `coef.len()` terms, read
/// at run time). Returns the elements done (a multiple of 8) and the OR of the bits of `v·0`.
///
/// # Safety
/// AVX-512F must be available; `ptr[k]` (k < number of terms) and a `Slice` base must point to
/// at least `out.len()` readable elements.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn avx512_terms<const NT: usize>(
    out: &mut [f64],
    base: ChunkBase<'_>,
    coef: &[f64],
    ptr: &[*const f64; MAX_TERMS_SIMD],
) -> (usize, u64) {
    use std::arch::x86_64::{
        __m512i, _mm512_add_pd, _mm512_castpd_si512, _mm512_loadu_pd, _mm512_mul_pd,
        _mm512_or_si512, _mm512_reduce_or_epi64, _mm512_set1_pd, _mm512_setzero_pd,
        _mm512_setzero_si512, _mm512_storeu_pd,
    };
    let nt = if NT == 0 { coef.len() } else { NT };
    let n = out.len();
    let mut cv = [_mm512_setzero_pd(); MAX_TERMS_SIMD];
    for k in 0..nt {
        cv[k] = _mm512_set1_pd(coef[k]);
    }
    let zero = _mm512_setzero_pd();
    let mut bits: __m512i = _mm512_setzero_si512();
    let o = out.as_mut_ptr();
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 ≤ n and every operand holds n elements (the caller's contract).
        unsafe {
            let t0 = _mm512_mul_pd(cv[0], _mm512_loadu_pd(ptr[0].add(i)));
            let mut v = match base {
                ChunkBase::Slice(b) => _mm512_add_pd(_mm512_loadu_pd(b.as_ptr().add(i)), t0),
                ChunkBase::InPlace => _mm512_add_pd(_mm512_loadu_pd(o.add(i)), t0),
                ChunkBase::Zero => t0,
            };
            for k in 1..nt {
                v = _mm512_add_pd(v, _mm512_mul_pd(cv[k], _mm512_loadu_pd(ptr[k].add(i))));
            }
            _mm512_storeu_pd(o.add(i), v);
            bits = _mm512_or_si512(bits, _mm512_castpd_si512(_mm512_mul_pd(v, zero)));
        }
        i += 8;
    }
    (i, _mm512_reduce_or_epi64(bits) as u64)
}

/// Most terms the written-out AVX-512 version takes (more fall back to the generic body).
const MAX_TERMS_SIMD: usize = 16;

/// [`combine_body`] as a [`SliceFn`] (`out` the chunk; no input slice): compiled for
/// AVX2 (+ FMA, unused: the body never fuses) and the baseline, autovectorised.
struct Combine<'b> {
    base: ChunkBase<'b>,
    coef: &'b [f64],
    cols: &'b [&'b [f64]],
}

impl SliceFn<()> for Combine<'_> {
    type Output = f64;
    #[inline(always)]
    fn call<S: Simd>(self, _: S, out: &mut [f64], _: ()) -> f64 {
        combine_body(out, self.base, self.coef, self.cols)
    }
}

/// `out = base + Σ_k coef[k]·cols[k]` over a chunk; returns 0 if every result is finite and
/// NaN otherwise.
///
/// # Panics
/// If a column is shorter than `out`.
pub fn combine_chunk(out: &mut [f64], base: ChunkBase<'_>, coef: &[f64], cols: &[&[f64]]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if Backend::detect() == Backend::Avx512 {
        // SAFETY: `detect` returns `Avx512` only when the CPU has AVX-512F, the feature
        // `combine_avx512` is compiled for.
        return unsafe { combine_avx512(out, base, coef, cols) };
    }
    dispatch_slices(Combine { base, coef, cols }, out, ())
}

/// The `n·d` entries of `m` as one slice, if `m` is stored as one contiguous column-major
/// run (unit row stride and column stride `n`, or a single column); `None` otherwise.
pub fn flat(m: MatRef<'_, f64>) -> Option<&[f64]> {
    let (n, d) = m.shape();
    if n == 0 || d == 0 || !is_flat(m.row_stride(), m.col_stride(), n, d) {
        return None;
    }
    // SAFETY: unit row stride and column stride n (checked above) mean the n·d entries are
    // exactly the n·d consecutive f64 from the first one, all inside `m`'s allocation; the
    // slice borrows `m` (shared) for its lifetime.
    Some(unsafe { std::slice::from_raw_parts(m.as_ptr(), n * d) })
}

/// [`flat`] for a mutable matrix.
pub fn flat_mut(m: MatMut<'_, f64>) -> Option<&mut [f64]> {
    let (n, d) = m.shape();
    if n == 0 || d == 0 || !is_flat(m.row_stride(), m.col_stride(), n, d) {
        return None;
    }
    // SAFETY: as in `flat`; the slice takes over `m`'s exclusive borrow, so nothing else
    // reads or writes these entries while it lives.
    Some(unsafe { std::slice::from_raw_parts_mut(m.as_ptr_mut(), n * d) })
}

/// Unit row stride and column stride `n` (any column stride for one column).
fn is_flat(row_stride: isize, col_stride: isize, n: usize, d: usize) -> bool {
    row_stride == 1 && (d <= 1 || col_stride == n as isize)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every dispatched version gives the bits of the baseline one.
    #[test]
    fn versions_agree_bitwise() {
        let n = 1037;
        let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin() * 1e3).collect();
        let b: Vec<f64> = (0..n).map(|i| (i as f64 * 1.1).cos() / 7.0).collect();
        let base: Vec<f64> = (0..n).map(|i| (i as f64).sqrt()).collect();
        let coef = [0.1, -3.3];
        let cols = [&a[..], &b[..]];
        let mut want = vec![0.0; n];
        combine_body(&mut want, ChunkBase::Slice(&base), &coef, &cols);
        let mut got = vec![0.0; n];
        assert_eq!(
            combine_chunk(&mut got, ChunkBase::Slice(&base), &coef, &cols),
            0.0
        );
        assert!(
            want.iter()
                .zip(&got)
                .all(|(x, y)| x.to_bits() == y.to_bits())
        );
        let mut z = vec![0.0; n];
        combine_chunk(&mut z, ChunkBase::Zero, &coef, &cols);
        let mut inplace = base.clone();
        combine_chunk(&mut inplace, ChunkBase::InPlace, &coef, &cols);
        for i in 0..n {
            assert_eq!(z[i], 0.1 * a[i] + -3.3 * b[i]);
            assert_eq!(inplace[i], want[i]);
        }
        let mut bad = vec![0.0; n];
        let inf = vec![f64::INFINITY; n];
        assert!(combine_chunk(&mut bad, ChunkBase::Zero, &[1.0], &[&inf[..]]).is_nan());
    }

    /// Every term count (the specialised 1–7, the run-time-count path 8–16, the generic
    /// fallback beyond), every base, lengths with and without a tail: the dispatched version
    /// gives the baseline's bits, and a single non-finite entry anywhere is reported.
    #[test]
    fn every_term_count_agrees_bitwise_and_detects_non_finite() {
        for n in [0usize, 5, 8, 64, 77] {
            let cols: Vec<Vec<f64>> = (0..18)
                .map(|k| {
                    (0..n)
                        .map(|i| ((i * 31 + k * 7) as f64 * 0.13).sin() * 1e2)
                        .collect()
                })
                .collect();
            let base: Vec<f64> = (0..n).map(|i| (i as f64 + 0.5).ln()).collect();
            for nt in 0..=17 {
                let coef: Vec<f64> = (0..nt).map(|k| 0.3 - 0.07 * k as f64).collect();
                let refs: Vec<&[f64]> = cols[..nt].iter().map(|c| &c[..]).collect();
                for which in 0..3 {
                    let b = || match which {
                        0 => ChunkBase::Zero,
                        1 => ChunkBase::InPlace,
                        _ => ChunkBase::Slice(&base),
                    };
                    let mut want = base.clone();
                    combine_body(&mut want, b(), &coef, &refs);
                    let mut got = base.clone();
                    assert_eq!(combine_chunk(&mut got, b(), &coef, &refs), 0.0);
                    assert!(
                        want.iter()
                            .zip(&got)
                            .all(|(x, y)| x.to_bits() == y.to_bits()),
                        "n = {n}, {nt} terms, base {which}"
                    );
                }
                if nt > 0 {
                    for bad_at in [0, n / 2, n.saturating_sub(1)] {
                        if n == 0 {
                            continue;
                        }
                        let mut poisoned = cols[nt - 1].clone();
                        poisoned[bad_at] = f64::NAN;
                        let mut refs = refs.clone();
                        refs[nt - 1] = &poisoned;
                        let mut out = vec![0.0; n];
                        assert!(
                            combine_chunk(&mut out, ChunkBase::Zero, &coef, &refs).is_nan(),
                            "n = {n}, {nt} terms, NaN at {bad_at} not reported"
                        );
                    }
                }
            }
        }
    }

    /// `flat` sees exactly the column-major entries of a contiguous matrix (and of one
    /// column of a larger one), and refuses row-major views, row blocks (column stride ≠
    /// rows), faer's padded `Mat` (column stride rounded up) and empty matrices; `flat_mut`
    /// writes through to the matrix.
    #[test]
    fn flat_views_only_contiguous_matrices() {
        let mut data: Vec<f64> = (0..4)
            .flat_map(|j| (0..3).map(move |i| (10 * i + j) as f64))
            .collect();
        let want = data.clone();
        let m = MatRef::from_column_major_slice(&data, 3, 4);
        assert_eq!(flat(m), Some(&want[..]));
        assert_eq!(flat(m.col(2).as_mat()), Some(&want[6..9]));
        assert_eq!(flat(m.transpose()), None);
        assert_eq!(flat(m.subrows(0, 2)), None);
        assert_eq!(flat(m.subcols(0, 0)), None);
        let padded = faer::Mat::from_fn(3, 4, |i, j| m[(i, j)]);
        assert_eq!(
            flat(padded.as_ref()).is_some(),
            padded.col_stride() == 3,
            "a faer Mat is flat exactly when its columns are not padded"
        );
        let mm = MatMut::from_column_major_slice_mut(&mut data, 3, 4);
        flat_mut(mm).expect("contiguous")[4] = -1.0;
        assert_eq!(data[4], -1.0);
        assert_eq!(MatRef::from_column_major_slice(&data, 3, 4)[(1, 1)], -1.0);
    }
}
