//! Element-wise `exp` for Gram passes, and the one piece of CPU-state hygiene the GEMM
//! driver needs. The crate's only `unsafe` code lives here.
//!
//! - [`exp_in_place`]: `exp` by Cody–Waite reduction `x = n ln 2 + r`, `|r| ≤ ln 2/2`, a
//!   degree-13 Taylor polynomial for `e^r` (truncation `< 0.3466¹⁴/14! ≈ 4·10⁻¹⁸`) and
//!   `2^n` assembled in the exponent bits. Branch-free, so the loop vectorises; compiled
//!   three times (AVX-512F, AVX2, baseline) and chosen at run time. Accurate to 2 ulp
//!   (tested against `f64::exp`); results below `e^{−708}` (`< 3.4·10⁻³⁰⁸`) flush to 0.
//! - [`clear_upper_state`]: `vzeroupper`. faer's AVX-512 GEMM kernels return with the
//!   upper halves of the vector registers dirty; on the target machine every later call
//!   into libm's `exp`, `sin`, `acos`, … then ran 35–50× slower (measured: 2²⁰ `exp`
//!   calls 35 ms before a faer GEMM, 1.2 s after it, 25 ms after `vzeroupper`). The Gram
//!   drivers call it after each GEMM on every thread that runs an element-wise pass.

#![allow(unsafe_code)] // runtime-dispatched target features and `vzeroupper`, see above

/// Clears the upper halves of the AVX registers (`vzeroupper`) when the CPU has AVX;
/// a no-op elsewhere.
#[inline]
pub(crate) fn clear_upper_state() {
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

/// `v_i ← exp(v_i)` for every entry (see the module doc for accuracy and range).
pub(crate) fn exp_in_place(v: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, the feature `exp_avx512` is compiled for.
            unsafe { exp_avx512(v) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, the feature `exp_avx2` is compiled for.
            unsafe { exp_avx2(v) };
            return;
        }
    }
    exp_loop(v);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn exp_avx512(v: &mut [f64]) {
    exp_loop(v);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn exp_avx2(v: &mut [f64]) {
    exp_loop(v);
}

#[inline(always)]
fn exp_loop(v: &mut [f64]) {
    for x in v.iter_mut() {
        *x = exp_scalar(*x);
    }
}

/// Branch-free `exp(x)`.
#[inline(always)]
pub(crate) fn exp_scalar(x: f64) -> f64 {
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
    let t = xc * LOG2E + SHIFT;
    let n = t - SHIFT;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    let mut p = C[11];
    for &c in C[..11].iter().rev() {
        p = p * r + c;
    }
    let p = (p * r * r + r) + 1.0;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between two positive finite doubles.
    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    /// ≤ 2 ulp against `f64::exp` on a dense sweep of `[−708, 709]` (std's `exp` is itself
    /// within 1 ulp, so the claim is ≤ 3 ulp from the exact value), and the documented
    /// behaviour outside: 0 below −708, ∞ above 709.
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
        assert!(worst <= 2, "worst error {worst} ulp");
        let mut edge = [-708.5, -1e4, 709.5, f64::NEG_INFINITY];
        exp_in_place(&mut edge);
        assert_eq!(edge, [0.0, 0.0, f64::INFINITY, 0.0]);
        // the scalar path agrees bit for bit with the dispatched one
        for (x, y) in v.iter().zip(&got).step_by(997) {
            assert_eq!(exp_scalar(*x).to_bits(), y.to_bits());
        }
    }
}
