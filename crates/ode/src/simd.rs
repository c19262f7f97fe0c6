//! Vector-register hygiene and the runtime-dispatched inner loop of the stage combinations.
//!
//! **Why this exists.** faer's GEMM kernels (AVX-512 / AVX2) return with the upper halves of
//! the vector registers dirty (no `vzeroupper`). On Intel cores every *legacy-SSE* instruction
//! executed afterwards (Rust code compiled for the baseline x86-64 target, glibc's `tanh`,
//! `exp`, …) then pays a transition penalty: measured on this project's machine, an axpy after
//! a faer matmul ran 8× slower and `tanh` 15× slower until a `vzeroupper`.
//! [`clear_avx_upper`] issues that instruction; the integrators call it after every field
//! evaluation or vector–Jacobian product, and fields that run scalar maths after a faer product
//! (e.g. [`problems::Tanh`](crate::problems::Tanh)) should call it too.
//!
//! The combinations `out = base + Σ c_k M_k` are compiled three times (AVX-512F, AVX2 and the
//! baseline) from one generic body and dispatched at run time. Each output element is computed
//! by the same sequence of IEEE operations (`mul` then `add`, never fused) in every version, so
//! the results are bitwise identical whichever version runs.

/// Zeroes the upper halves of the AVX registers (`vzeroupper`) when the CPU has AVX; a no-op
/// elsewhere. Costs about one cycle.
#[inline]
pub fn clear_avx_upper() {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: AVX is available (checked above), which is all `vzeroupper` requires. It
            // only clears bits 128 and up of the vector registers; code compiled for the
            // baseline target keeps no live values there, and LLVM models the intrinsic as
            // clobbering them.
            unsafe { std::arch::x86_64::_mm256_zeroupper() }
        }
    }
}

/// How a chunk combination starts.
#[derive(Clone, Copy)]
pub(crate) enum ChunkBase<'a> {
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

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn combine_avx512(out: &mut [f64], base: ChunkBase<'_>, coef: &[f64], cols: &[&[f64]]) -> f64 {
    combine_body(out, base, coef, cols)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn combine_avx2(out: &mut [f64], base: ChunkBase<'_>, coef: &[f64], cols: &[&[f64]]) -> f64 {
    combine_body(out, base, coef, cols)
}

/// `out = base + Σ_k coef[k]·cols[k]` over a chunk; returns 0 if every result is finite and
/// NaN otherwise.
///
/// # Panics
/// If a column is shorter than `out`.
pub(crate) fn combine_chunk(
    out: &mut [f64],
    base: ChunkBase<'_>,
    coef: &[f64],
    cols: &[&[f64]],
) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            return unsafe { combine_avx512(out, base, coef, cols) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { combine_avx2(out, base, coef, cols) };
        }
    }
    combine_body(out, base, coef, cols)
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
}
