//! Element-wise kernels of the Gram passes, and the CPU-state hygiene the GEMM driver
//! needs. The crate's only `unsafe` code lives here.
//!
//! - [`exp_in_place`], [`scaled_exp_in_place`]: `exp` by Cody–Waite reduction
//!   `x = n ln 2 + r`, `|r| ≤ ln 2/2`, a degree-13 Taylor polynomial for `e^r`
//!   (truncation `< 0.3466¹⁴/14! ≈ 4·10⁻¹⁸`) and `2^n` assembled in the exponent bits.
//!   Branch-free, so loops vectorise. Accurate to 2 ulp (tested against `f64::exp`);
//!   results below `e^{−708}` (`< 3.4·10⁻³⁰⁸`) flush to 0.
//! - [`sq_dists_in_place`]: `‖x_i‖² + ‖y_j‖² − 2 x_i·y_j` over a column of GEMM entries,
//!   reporting whether any entry needs the direct recomputation.
//! - [`stream_copy`]: a copy with non-temporal stores, for the mirror of large symmetric
//!   Gram matrices (the destination is written once and not read back soon: streaming it
//!   skips the read-for-ownership of every cache line).
//! - [`clear_upper_state`]: `vzeroupper`. faer's AVX-512 GEMM kernels return with the
//!   upper halves of the vector registers dirty; on the target machine every later call
//!   into libm's `exp`, `sin`, `acos`, … then ran 35–50× slower (measured: 2²⁰ `exp`
//!   calls 35 ms before a faer GEMM, 1.2 s after it, 25 ms after `vzeroupper`). The Gram
//!   drivers call it after each GEMM on every thread that runs an element-wise pass.
//!
//! The arithmetic routines are compiled three times (AVX-512F + FMA, AVX2 + FMA, baseline)
//! and chosen at run time by [`simd_variants!`].

#![allow(unsafe_code)] // runtime-dispatched target features, non-temporal stores, `vzeroupper`

/// Multiply-add as the compiled variant does it.
trait MulAdd {
    fn madd(a: f64, b: f64, c: f64) -> f64;
}

/// `fma` — one instruction in the variants compiled with the `fma` feature.
struct Fused;
impl MulAdd for Fused {
    #[inline(always)]
    fn madd(a: f64, b: f64, c: f64) -> f64 {
        a.mul_add(b, c)
    }
}

/// Separate multiply and add (the baseline variant, where `mul_add` would be a libm call).
struct Unfused;
impl MulAdd for Unfused {
    #[inline(always)]
    fn madd(a: f64, b: f64, c: f64) -> f64 {
        a * b + c
    }
}

/// Defines `fn name(args) -> ret` whose body (generic over `M: MulAdd`) is compiled for
/// AVX-512F + FMA, AVX2 + FMA and the baseline, picking the best the CPU supports.
macro_rules! simd_variants {
    ($(#[$attr:meta])* $vis:vis fn $name:ident<$m:ident>($($arg:ident: $ty:ty),*) $(-> $ret:ty)? $body:block) => {
        $(#[$attr])* $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn imp<$m: MulAdd>($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,fma")]
            fn avx512($($arg: $ty),*) $(-> $ret)? {
                imp::<Fused>($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            fn avx2($($arg: $ty),*) $(-> $ret)? {
                imp::<Fused>($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU supports AVX-512F (and hence FMA), the features
                    // `avx512` is compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU supports AVX2 and FMA, the features `avx2` is
                    // compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            imp::<Unfused>($($arg),*)
        }
    };
}

simd_variants! {
    /// `v_i ← exp(v_i)` for every entry (see the module doc for accuracy and range).
    pub(crate) fn exp_in_place<M>(v: &mut [f64]) {
        for x in v.iter_mut() {
            *x = exp_with::<M>(*x);
        }
    }
}

simd_variants! {
    /// `v_i ← exp(c · v_i)` for every entry (the Gaussian profile with `c = −1/(2σ²)`).
    pub(crate) fn scaled_exp_in_place<M>(v: &mut [f64], c: f64) {
        for x in v.iter_mut() {
            *x = exp_with::<M>(c * *x);
        }
    }
}

simd_variants! {
    /// `seg_i ← nxs_i + nj − 2 seg_i`: squared distances from GEMM entries `x_i·y_j`, the
    /// squared norms `nxs_i = ‖x_i‖²` and `nj = ‖y_j‖²`. Returns whether any entry is
    /// below `refine · (nxs_i + nj)` (cancellation: the caller recomputes those directly).
    pub(crate) fn sq_dists_in_place<M>(seg: &mut [f64], nxs: &[f64], nj: f64, refine: f64) -> bool {
        let mut near = false;
        for (v, &ni) in seg.iter_mut().zip(nxs) {
            let t = ni + nj;
            let s = M::madd(-2.0, *v, t);
            near |= s < refine * t;
            *v = s;
        }
        near
    }
}

/// `exp(x)` with separate multiply and add, the baseline variant.
#[cfg(test)]
fn exp_scalar(x: f64) -> f64 {
    exp_with::<Unfused>(x)
}

/// Branch-free `exp(x)`.
#[inline(always)]
fn exp_with<M: MulAdd>(x: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    // fdlibm's split of ln 2: LN2_HI has 32 significant bits, so n·LN2_HI is exact.
    const LN2_HI: f64 = 0.6931471803691238;
    const LN2_LO: f64 = 1.9082149292705877e-10;
    // 1.5·2⁵²: adding it rounds to an integer held in the low mantissa bits.
    const SHIFT: f64 = 6_755_399_441_055_744.0;
    const LO: f64 = -708.0;
    const HI: f64 = 709.0;
    // 1/k!, k = 2..=13
    const C: [f64; 12] = [
        0.5,
        0.16666666666666666,
        0.041666666666666664,
        0.008333333333333333,
        0.001388888888888889,
        0.0001984126984126984,
        2.48015873015873e-05,
        2.7557319223985893e-06,
        2.755731922398589e-07,
        2.505210838544172e-08,
        2.08767569878681e-09,
        1.6059043836821613e-10,
    ];
    let xc = x.clamp(LO, HI);
    let t = M::madd(xc, LOG2E, SHIFT);
    let n = t - SHIFT;
    let r = M::madd(-n, LN2_LO, M::madd(-n, LN2_HI, xc));
    let mut p = C[11];
    for &c in C[..11].iter().rev() {
        p = M::madd(p, r, c);
    }
    let p = M::madd(p * r, r, r) + 1.0;
    let k = (t.to_bits() as i64).wrapping_sub(SHIFT.to_bits() as i64);
    let scale = f64::from_bits(((k + 1023) as u64) << 52);
    let y = p * scale;
    if x < LO {
        0.0
    } else if x > HI {
        f64::INFINITY
    } else {
        y
    }
}

/// `dst ← src` with non-temporal (cache-bypassing) stores for the 16-byte-aligned part
/// on x86-64, a plain copy elsewhere. Call [`store_fence`] before the data is read by
/// another thread.
///
/// # Panics
/// If the lengths differ.
pub(crate) fn stream_copy(dst: &mut [f64], src: &[f64]) {
    assert_eq!(
        dst.len(),
        src.len(),
        "stream_copy: dst and src lengths differ"
    );
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_loadu_pd, _mm_stream_pd};
        let len = dst.len();
        let head = dst.as_ptr().align_offset(16).min(len);
        let body_end = head + (len - head) / 2 * 2;
        dst[..head].copy_from_slice(&src[..head]);
        let mut k = head;
        while k < body_end {
            // SAFETY: k + 2 ≤ body_end ≤ len, so both pairs are in bounds of their
            // slices; `dst + k` is 16-byte aligned (head aligns it, k − head is even), as
            // `_mm_stream_pd` requires; `_mm_loadu_pd` needs no alignment; SSE2 is part
            // of x86-64.
            unsafe {
                _mm_stream_pd(dst.as_mut_ptr().add(k), _mm_loadu_pd(src.as_ptr().add(k)));
            }
            k += 2;
        }
        dst[body_end..].copy_from_slice(&src[body_end..]);
    }
    #[cfg(not(target_arch = "x86_64"))]
    dst.copy_from_slice(src);
}

/// Orders earlier non-temporal stores before later stores (`sfence`).
pub(crate) fn store_fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `sfence` has no preconditions beyond SSE, which x86-64 always has.
    unsafe {
        std::arch::x86_64::_mm_sfence();
    }
}

/// Clears the upper halves of the AVX registers (`vzeroupper`) when the CPU has AVX;
/// a no-op elsewhere. faer's GEMM kernels return with that state dirty, and scalar or SSE
/// code run after them (libm's `exp`, loops compiled for the baseline x86-64 target) is then
/// several times slower on Intel cores: call this after a product, before such code. Public
/// for the crates above this one (plres-rff, plres-resnet; plres-ode, which depends on no
/// plres crate, has its own `plres_ode::simd::clear_avx_upper`).
#[inline]
pub fn clear_upper_state() {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: AVX is available (checked just above), the only requirement of
            // `vzeroupper`. It zeroes bits ≥ 128 of ymm0–15/zmm0–15; LLVM models the
            // intrinsic as clobbering them, so no live value is lost.
            unsafe { std::arch::x86_64::_mm256_zeroupper() }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between two positive finite doubles.
    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    /// ≤ 2 ulp against `f64::exp` on a dense sweep of `[−708, 709]` (std's `exp` is itself
    /// within 1 ulp, so the claim is ≤ 3 ulp from the exact value), for the dispatched
    /// and the baseline variant, and the documented behaviour outside: 0 below −708, ∞
    /// above 709.
    #[test]
    fn exp_matches_std_within_two_ulp() {
        let n = 400_000;
        let mut v: Vec<f64> = (0..=n)
            .map(|i| -708.0 + 1417.0 * i as f64 / n as f64)
            .collect();
        v.extend([
            0.0,
            -0.0,
            1e-300,
            -1e-17,
            0.5 * std::f64::consts::LN_2,
            -0.3466,
        ]);
        let reference: Vec<f64> = v.iter().map(|x| x.exp()).collect();
        let mut got = v.clone();
        exp_in_place(&mut got);
        let worst = got
            .iter()
            .zip(&reference)
            .map(|(a, b)| ulps(*a, *b))
            .max()
            .unwrap();
        assert!(worst <= 2, "dispatched: worst error {worst} ulp");
        let worst = v
            .iter()
            .zip(&reference)
            .map(|(x, b)| ulps(exp_scalar(*x), *b))
            .max()
            .unwrap();
        assert!(worst <= 2, "baseline: worst error {worst} ulp");
        let mut scaled: Vec<f64> = v.iter().map(|x| -x).collect();
        scaled_exp_in_place(&mut scaled, -1.0);
        assert_eq!(scaled, got, "exp(−1·(−x)) = exp(x) exactly");
        let mut edge = [-708.5, -1e4, 709.5, f64::NEG_INFINITY];
        exp_in_place(&mut edge);
        assert_eq!(edge, [0.0, 0.0, f64::INFINITY, 0.0]);
    }

    /// The squared distances equal `t − 2g` up to one rounding (fused or not) and the
    /// near flag is raised exactly when some entry is below the threshold.
    #[test]
    fn sq_dists_and_near_flag() {
        let nxs = [1.0, 4.0, 9.0, 2.0];
        let mut seg = [0.5, 1.0, 3.0, 1.5];
        let near = sq_dists_in_place(&mut seg, &nxs, 2.0, 1e-6);
        assert_eq!(seg, [2.0, 4.0, 5.0, 1.0]);
        assert!(!near);
        let mut seg = [1.5, 0.0, 0.0, 0.0];
        assert!(sq_dists_in_place(&mut seg, &nxs, 2.0, 1e-6)); // 1 + 2 − 3 = 0
    }

    /// The streaming copy copies, whatever the alignment and length.
    #[test]
    fn stream_copy_copies() {
        let src: Vec<f64> = (0..37).map(f64::from).collect();
        for start in 0..3 {
            for len in 0..30 {
                let mut dst = vec![-1.0; 40];
                stream_copy(&mut dst[start..start + len], &src[..len]);
                store_fence();
                assert_eq!(&dst[start..start + len], &src[..len]);
                assert!(
                    dst[..start]
                        .iter()
                        .chain(&dst[start + len..])
                        .all(|&v| v == -1.0)
                );
            }
        }
    }
}
