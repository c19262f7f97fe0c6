//! Vectorised `sin` / `cos` / `sincos` for `f64` slices.
//!
//! Random-feature maps spend `N·p` cosine evaluations per application; with libm's scalar
//! `cos` that costs several times the GEMM `X Ωᵀ` before it. This module evaluates them
//! with explicit SIMD code (AVX-512F or AVX2 + FMA, chosen at run time, see [`Backend`];
//! a portable scalar path with the same algorithm otherwise).
//!
//! # Algorithm
//!
//! Both functions reduce to `sin r` on `|r| ≤ π/2` and evaluate one odd polynomial:
//!
//! * `sin x`: `x = m·π + r`, `m = round(x/π)`, `sin x = (−1)^m sin r`;
//! * `cos x`: `x = (2m + 1)·π/2 + r`, `m = round(x/π − 1/2)`, `cos x = (−1)^{m+1} sin r`.
//!
//! **Range reduction (Cody–Waite, three parts).** Write both as `r = x − k·π/2` with the
//! integer `k = 2m` or `2m + 1`. For `|x| ≤` [`REDUCTION_LIMIT`] `= 10⁵`, `|k| ≤ 63 663 < 2¹⁶`.
//! `m` is obtained branch-free by adding and subtracting `1.5·2⁵²` (exact for
//! `|x/π| < 2⁵¹`), and its parity (the sign of the result) is read from the low bit of the
//! intermediate sum. `π/2` is split as `P₁ + P₂ + P₃` with `P₁`, `P₂` carrying 37
//! significant bits and `P₃` 53 bits, `|π/2 − P₁ − P₂ − P₃| < 2⁻¹³⁰`; so `k·P₁` and `k·P₂`
//! are exact (16 + 37 ≤ 53 bits). `x − k·P₁` is exact by Sterbenz' lemma (`k·P₁` within a
//! factor 2 of `x`) for every `k` except `k = ±1` with `|x| < π/4` (cosine only), where
//! instead `|r| > π/4` and its rounding error `≤ ulp(r)/2` is damped by `cot r < 1` in
//! `sin r`. Then `r = ((x − k·P₁) − k·P₂) − k·P₃` (fused multiply–adds on the FMA back
//! ends) carries at most two roundings of relative size `2⁻⁵³`, plus an absolute error
//! `≤ |k|·2⁻¹³⁰ + ulp(k·P₃)/2 ≤ 2⁻¹¹²` from the truncated `π/2` and the rounding of `k·P₃`.
//!
//! That absolute error only matters when `r` itself is tiny (`x` next to a zero of `sin`
//! or `cos`, where the result and its ulp are tiny too). Lanes with `|r| < 2⁻⁵⁰` are
//! therefore recomputed with libm, so on the fast path the absolute error is below
//! `2⁻⁶²·|r|`, negligible against the relative `2⁻⁵²`: the result is accurate *relative to
//! itself* everywhere, including next to the zeros. Such lanes occur with probability
//! about `2⁻⁵⁰` for arguments that are not special (and for `sin 0`), so they cost nothing
//! in practice. Lanes with `|x| > 10⁵`, infinities and NaNs also go to libm: every output
//! is always correct, only speed depends on the argument range.
//!
//! **Polynomial.** `sin r ≈ r + r³ Σ_{i<8} T_i r^{2i}` on `|r| ≤ π/2 + 10⁻⁶` (`T`: a
//! Chebyshev fit in `r²` computed with 50-digit arithmetic; fit error `< 4·10⁻¹⁹`, about
//! `0.32 ulp` once the coefficients are rounded to double), Horner with fused
//! multiply–adds.
//!
//! # Accuracy
//!
//! Tested against `f64::sin` / `f64::cos` (libm) on 10⁷ uniform points of `[−10⁴, 10⁴]` and
//! on the doubles next to multiples of `π/2`: at most 4 ulp on every back end (measured:
//! 2 ulp; see the crate's tests).
//!
//! # Reproducibility
//!
//! All paths are deterministic: the same input on the same machine gives bitwise the same
//! output, and the cosine of every function here (`sincos`, `cos_in_place`, the fused
//! feature passes) is the same bits for the same argument. Different back ends
//! ([`Backend::Scalar`] computes `a·b + c` in two roundings, the SIMD ones fused) may differ
//! in the last bits.

pub use crate::dispatch::Backend;
use crate::dispatch::{Simd, SliceFn, with_slices};

/// Largest `|x|` handled by the polynomial path; beyond it (and for NaN/∞) libm is used.
///
/// Bound chosen so that `|k| ≤ 63 663 < 2¹⁶` in `r = x − k·π/2`, which keeps `k·P₁` and
/// `k·P₂` exact (see the module docs).
pub const REDUCTION_LIMIT: f64 = 1.0e5;

/// Reduced arguments smaller than this are recomputed with libm (see the module docs).
const TINY_REDUCED: f64 = 8.881_784_197_001_252e-16; // 2⁻⁵⁰

/// `1/π` rounded to double.
const ONE_OVER_PI: f64 = f64::from_bits(0x3fd4_5f30_6dc9_c883);
/// `π/2 = P1 + P2 + P3 + O(2⁻¹³⁰)`; `P1`, `P2` have 37 significant bits.
const P1: f64 = f64::from_bits(0x3ff9_21fb_5444_0000);
const P2: f64 = f64::from_bits(0x3d86_8c23_4c4c_0000);
const P3: f64 = f64::from_bits(0x3b29_8a2e_0370_7345);
/// `1.5·2⁵²`: adding and subtracting it rounds to the nearest integer (ties to even).
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;

/// `sin r ≈ r + r³·Σ_i T_i r^{2i}` on `|r| ≤ π/2` (Chebyshev fit in `r²`, computed with
/// 50-digit arithmetic; fit error `< 4·10⁻¹⁹`, `≈ 0.32 ulp` after rounding the
/// coefficients to double).
const T: [f64; 8] = [
    f64::from_bits(0xbfc5_5555_5555_5555),
    f64::from_bits(0x3f81_1111_1111_1107),
    f64::from_bits(0xbf2a_01a0_1a01_8aad),
    f64::from_bits(0x3ec7_1de3_a545_670f),
    f64::from_bits(0xbe5a_e645_5a1d_6bef),
    f64::from_bits(0x3de6_1240_15b4_70e4),
    f64::from_bits(0xbd6a_e513_8b98_566e),
    f64::from_bits(0x3ce8_9a48_57c6_d256),
];

/// What a pass computes from its argument `y` (`y = x`, or `y = z + shift`).
enum Op<'a> {
    /// `s = sin x`, `c = cos x` (`x` read-only).
    SinCos {
        x: &'a [f64],
        s: &'a mut [f64],
        c: &'a mut [f64],
    },
    /// `io = sin io`.
    SinInPlace,
    /// `io = scale·cos(io + shift)`.
    ShiftedCos { shift: f64, scale: f64 },
    /// `io = a·cos(io + shift)`, `aux = b·sin(io + shift)`.
    ShiftedCosSin { shift: f64, a: f64, b: f64 },
}

/// Largest lane count of any back end (size of the stack buffers for tails).
const MAX_LANES: usize = 8;

/// `r = x − k·π/2` in three parts (module docs), given `−k`.
#[inline(always)]
fn reduce<S: Simd>(s: S, x: S::V, nk: S::V) -> S::V {
    s.fma(
        nk,
        s.splat(P3),
        s.fma(nk, s.splat(P2), s.fma(nk, s.splat(P1), x)),
    )
}

/// `±sin r` from the polynomial [`T`], the sign bit flipped where `flip` has it set.
#[inline(always)]
fn signed_sin_poly<S: Simd>(s: S, r: S::V, flip: S::V) -> S::V {
    let u = s.mul(r, r);
    let mut p = s.splat(T[7]);
    for c in T[..7].iter().rev() {
        p = s.fma(p, u, s.splat(*c));
    }
    s.xor(s.fma(s.mul(r, u), p, r), flip)
}

/// Lanes needing libm: `|x| > 10⁵`, NaN/∞, or `|r| < 2⁻⁵⁰`.
#[inline(always)]
fn needs_libm<S: Simd>(s: S, x: S::V, r: S::V) -> S::M {
    s.or(
        s.not_le(s.abs(x), s.splat(REDUCTION_LIMIT)),
        s.lt(s.abs(r), s.splat(TINY_REDUCED)),
    )
}

/// The common tail of [`sin_v`] and [`cos_v`]: `±sin r` ([`signed_sin_poly`]) for `x`
/// reduced to `r`, with the lanes [`needs_libm`] flags recomputed by the libm function `f`.
#[inline(always)]
fn signed_sin_or_libm<S: Simd>(s: S, x: S::V, r: S::V, flip: S::V, f: fn(f64) -> f64) -> S::V {
    let v = signed_sin_poly(s, r, flip);
    let bad = needs_libm(s, x, r);
    if s.any(bad) {
        fix_lanes(s, x, bad, v, f)
    } else {
        v
    }
}

/// `sin x` lane by lane: `x = m·π + r`, `sin x = (−1)^m sin r` (module docs).
#[inline(always)]
pub(crate) fn sin_v<S: Simd>(s: S, x: S::V) -> S::V {
    let t = s.fma(x, s.splat(ONE_OVER_PI), s.splat(ROUND_MAGIC));
    let m = s.sub(t, s.splat(ROUND_MAGIC));
    let r = reduce(s, x, s.mul(m, s.splat(-2.0))); // −k = −2m, exact
    let flip = s.shl63(s.and(t, s.splat_bits(1))); // m odd
    signed_sin_or_libm(s, x, r, flip, f64::sin)
}

/// `cos x` lane by lane: `x = (2m + 1)·π/2 + r`, `cos x = (−1)^{m+1} sin r` (module docs).
#[inline(always)]
pub(crate) fn cos_v<S: Simd>(s: S, x: S::V) -> S::V {
    let t = s.add(
        s.fma(x, s.splat(ONE_OVER_PI), s.splat(-0.5)),
        s.splat(ROUND_MAGIC),
    );
    let m = s.sub(t, s.splat(ROUND_MAGIC));
    let r = reduce(s, x, s.fma(m, s.splat(-2.0), s.splat(-1.0))); // −k = −(2m + 1), exact
    let flip = s.shl63(s.and(s.xor(t, s.splat_bits(1)), s.splat_bits(1))); // m even
    signed_sin_or_libm(s, x, r, flip, f64::cos)
}

/// `(sin x, cos x)`: the two kernels above (the cosine is bitwise that of [`cos_v`]).
#[inline(always)]
pub(crate) fn sincos_v<S: Simd>(s: S, x: S::V) -> (S::V, S::V) {
    (sin_v(s, x), cos_v(s, x))
}

/// Recomputes the flagged lanes of `v` with the libm function `f` (rare: module docs).
#[inline(always)]
fn fix_lanes<S: Simd>(s: S, x: S::V, bad: S::M, v: S::V, f: fn(f64) -> f64) -> S::V {
    let mut xa = [0.0; MAX_LANES];
    let mut va = [0.0; MAX_LANES];
    let mut flags = [false; MAX_LANES];
    s.store(x, &mut xa);
    s.store(v, &mut va);
    for (i, flag) in flags.iter_mut().enumerate().take(S::LANES) {
        *flag = s.lane(bad, i);
    }
    libm_lanes(&xa, &flags, &mut va, f);
    s.load(&va)
}

/// The libm part of [`fix_lanes`], out of line and cold on purpose: inlined, LLVM treats
/// `sin`/`cos` as speculatable and may evaluate them on every lane of every block.
#[cold]
#[inline(never)]
fn libm_lanes(
    x: &[f64; MAX_LANES],
    bad: &[bool; MAX_LANES],
    v: &mut [f64; MAX_LANES],
    f: fn(f64) -> f64,
) {
    for i in 0..MAX_LANES {
        if bad[i] {
            v[i] = f(x[i]);
        }
    }
}

/// Runs `op` over `io` (the argument, overwritten for in-place ops) and `aux` (the second
/// output of `ShiftedCosSin`, empty otherwise), `S::LANES` elements at a time; the tail
/// goes through a stack buffer padded with a harmless argument.
#[inline(always)]
fn run<S: Simd>(s: S, op: Op<'_>, io: &mut [f64], aux: &mut [f64]) {
    let lanes = S::LANES;
    match op {
        Op::SinCos { x, s: so, c: co } => {
            let n = x.len();
            let full = n - n % lanes;
            let mut i = 0;
            while i < full {
                let (sv, cv) = sincos_v(s, s.load(&x[i..]));
                s.store(sv, &mut so[i..]);
                s.store(cv, &mut co[i..]);
                i += lanes;
            }
            if full < n {
                let mut buf = [1.0; MAX_LANES];
                buf[..n - full].copy_from_slice(&x[full..]);
                let (sv, cv) = sincos_v(s, s.load(&buf));
                let mut sb = [0.0; MAX_LANES];
                s.store(sv, &mut sb);
                s.store(cv, &mut buf);
                so[full..].copy_from_slice(&sb[..n - full]);
                co[full..].copy_from_slice(&buf[..n - full]);
            }
        }
        Op::SinInPlace => {
            let n = io.len();
            let full = n - n % lanes;
            let mut i = 0;
            while i < full {
                let sv = sin_v(s, s.load(&io[i..]));
                s.store(sv, &mut io[i..]);
                i += lanes;
            }
            if full < n {
                let mut buf = [1.0; MAX_LANES];
                buf[..n - full].copy_from_slice(&io[full..]);
                let sv = sin_v(s, s.load(&buf));
                s.store(sv, &mut buf);
                io[full..].copy_from_slice(&buf[..n - full]);
            }
        }
        Op::ShiftedCos { shift, scale } => {
            let (shift_v, scale_v) = (s.splat(shift), s.splat(scale));
            let n = io.len();
            let full = n - n % lanes;
            let mut i = 0;
            while i < full {
                let cv = cos_v(s, s.add(s.load(&io[i..]), shift_v));
                s.store(s.mul(scale_v, cv), &mut io[i..]);
                i += lanes;
            }
            if full < n {
                let mut buf = [1.0; MAX_LANES];
                buf[..n - full].copy_from_slice(&io[full..]);
                let cv = cos_v(s, s.add(s.load(&buf), shift_v));
                s.store(s.mul(scale_v, cv), &mut buf);
                io[full..].copy_from_slice(&buf[..n - full]);
            }
        }
        Op::ShiftedCosSin { shift, a, b } => {
            let (shift_v, a_v, b_v) = (s.splat(shift), s.splat(a), s.splat(b));
            let n = io.len();
            let full = n - n % lanes;
            let mut i = 0;
            while i < full {
                let (sv, cv) = sincos_v(s, s.add(s.load(&io[i..]), shift_v));
                s.store(s.mul(a_v, cv), &mut io[i..]);
                s.store(s.mul(b_v, sv), &mut aux[i..]);
                i += lanes;
            }
            if full < n {
                let mut buf = [1.0; MAX_LANES];
                buf[..n - full].copy_from_slice(&io[full..]);
                let (sv, cv) = sincos_v(s, s.add(s.load(&buf), shift_v));
                let mut sb = [0.0; MAX_LANES];
                s.store(s.mul(a_v, cv), &mut buf);
                s.store(s.mul(b_v, sv), &mut sb);
                io[full..].copy_from_slice(&buf[..n - full]);
                aux[full..].copy_from_slice(&sb[..n - full]);
            }
        }
    }
}

/// One pass of [`run`] as a [`SliceFn`] (`io`, `aux` its slices).
struct Run<'a>(Op<'a>);

impl SliceFn<&mut [f64]> for Run<'_> {
    type Output = ();
    #[inline(always)]
    fn call<S: Simd>(self, s: S, io: &mut [f64], aux: &mut [f64]) {
        run(s, self.0, io, aux);
    }
}

/// Runs `op` on `backend`.
///
/// # Panics
/// If the CPU does not support `backend`.
fn dispatch(backend: Backend, op: Op<'_>, io: &mut [f64], aux: &mut [f64]) {
    with_slices(backend, Run(op), io, aux);
}

/// `s_i = sin x_i`, `c_i = cos x_i`, both from one range reduction, on the best back end.
///
/// # Panics
/// If `s` or `c` does not have the length of `x` (all three lengths are named).
///
/// # Examples
/// ```
/// let x = [0.5, -3.0, 1.0e4];
/// let (mut s, mut c) = ([0.0; 3], [0.0; 3]);
/// plres_simd::trig::sincos(&x, &mut s, &mut c);
/// for i in 0..3 {
///     assert!((s[i] - x[i].sin()).abs() <= 4.0 * f64::EPSILON);
///     assert!((c[i] - x[i].cos()).abs() <= 4.0 * f64::EPSILON);
/// }
/// ```
pub fn sincos(x: &[f64], s: &mut [f64], c: &mut [f64]) {
    sincos_with(Backend::detect(), x, s, c);
}

/// [`sincos`] on an explicitly chosen back end (for testing and benchmarking each path).
///
/// # Panics
/// If the lengths differ, or if the CPU does not support `backend`.
pub fn sincos_with(backend: Backend, x: &[f64], s: &mut [f64], c: &mut [f64]) {
    assert!(
        s.len() == x.len() && c.len() == x.len(),
        "sincos: x has length {}, s {}, c {}",
        x.len(),
        s.len(),
        c.len()
    );
    dispatch(backend, Op::SinCos { x, s, c }, &mut [], &mut []);
}

/// `x_i ← cos x_i` on the best back end.
pub fn cos_in_place(x: &mut [f64]) {
    shifted_cos_in_place(x, 0.0, 1.0);
}

/// `x_i ← sin x_i` on the best back end.
pub fn sin_in_place(x: &mut [f64]) {
    sin_in_place_with(Backend::detect(), x);
}

/// [`sin_in_place`] on an explicitly chosen back end.
///
/// # Panics
/// If the CPU does not support `backend`.
pub fn sin_in_place_with(backend: Backend, x: &mut [f64]) {
    dispatch(backend, Op::SinInPlace, x, &mut []);
}

/// `z_i ← scale · cos(z_i + shift)`: the random-Fourier-feature activation of one column
/// (`shift = b_j`, `scale = √(2/p)`). `z_i + shift` is rounded first, then its cosine
/// is evaluated as in [`sincos`].
pub fn shifted_cos_in_place(z: &mut [f64], shift: f64, scale: f64) {
    shifted_cos_in_place_with(Backend::detect(), z, shift, scale);
}

/// [`shifted_cos_in_place`] on an explicitly chosen back end.
///
/// # Panics
/// If the CPU does not support `backend`.
pub fn shifted_cos_in_place_with(backend: Backend, z: &mut [f64], shift: f64, scale: f64) {
    dispatch(backend, Op::ShiftedCos { shift, scale }, z, &mut []);
}

/// The fused forward pass of cosine features: with `y_i = z_i + shift`,
/// `z_i ← scale · cos y_i` (the feature `φ`) and `neg_sin_i ← −scale · sin y_i`
/// (its derivative `∂φ/∂y`, what the backward pass needs), from one range reduction.
///
/// # Panics
/// If `neg_sin` does not have the length of `z`.
///
/// # Examples
/// ```
/// let mut z = [0.25, 2.0];
/// let mut d = [0.0; 2];
/// plres_simd::trig::shifted_cos_sin(&mut z, 0.5, 2.0, &mut d);
/// assert!((z[1] - 2.0 * 2.5f64.cos()).abs() <= 1e-15);
/// assert!((d[1] + 2.0 * 2.5f64.sin()).abs() <= 1e-15);
/// ```
pub fn shifted_cos_sin(z: &mut [f64], shift: f64, scale: f64, neg_sin: &mut [f64]) {
    shifted_cos_sin_with(Backend::detect(), z, shift, scale, neg_sin);
}

/// [`shifted_cos_sin`] on an explicitly chosen back end.
///
/// # Panics
/// If the lengths differ, or if the CPU does not support `backend`.
pub fn shifted_cos_sin_with(
    backend: Backend,
    z: &mut [f64],
    shift: f64,
    scale: f64,
    neg_sin: &mut [f64],
) {
    cos_sin_in_place_with(backend, z, shift, scale, -scale, neg_sin);
}

/// The general in-place form: with `y_i = z_i + shift`, `z_i ← a · cos y_i` and
/// `sin_out_i ← b · sin y_i`, from one range reduction ([`shifted_cos_sin`] is
/// `a = scale`, `b = −scale`; paired Fourier features use `a = b = √(2/p)`).
///
/// # Panics
/// If `sin_out` does not have the length of `z`.
pub fn cos_sin_in_place(z: &mut [f64], shift: f64, a: f64, b: f64, sin_out: &mut [f64]) {
    cos_sin_in_place_with(Backend::detect(), z, shift, a, b, sin_out);
}

/// [`cos_sin_in_place`] on an explicitly chosen back end.
///
/// # Panics
/// If the lengths differ, or if the CPU does not support `backend`.
pub fn cos_sin_in_place_with(
    backend: Backend,
    z: &mut [f64],
    shift: f64,
    a: f64,
    b: f64,
    sin_out: &mut [f64],
) {
    assert_eq!(
        z.len(),
        sin_out.len(),
        "cos_sin_in_place: z has length {}, sin_out {}",
        z.len(),
        sin_out.len()
    );
    dispatch(backend, Op::ShiftedCosSin { shift, a, b }, z, sin_out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_values_go_to_libm() {
        let x = [
            0.0,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            -f64::INFINITY,
            1.0e6,
            -3.0e300,
            1e-300,
        ];
        for backend in Backend::available() {
            let (mut s, mut c) = ([0.0; 8], [0.0; 8]);
            sincos_with(backend, &x, &mut s, &mut c);
            let mut c_only = x;
            shifted_cos_in_place_with(backend, &mut c_only, 0.0, 1.0);
            for i in 0..x.len() {
                assert_eq!(
                    s[i].to_bits(),
                    x[i].sin().to_bits(),
                    "{backend:?} sin({})",
                    x[i]
                );
                assert_eq!(
                    c_only[i].to_bits(),
                    c[i].to_bits(),
                    "{backend:?} cos({})",
                    x[i]
                );
                if x[i].abs() < 1.0 {
                    // cos of (nearly) zero stays on the polynomial path (r = ∓π/2): within
                    // one ulp of 1
                    assert!(
                        (c[i] - 1.0).abs() <= f64::EPSILON,
                        "{backend:?} cos({})",
                        x[i]
                    );
                } else {
                    assert_eq!(
                        c[i].to_bits(),
                        x[i].cos().to_bits(),
                        "{backend:?} cos({})",
                        x[i]
                    );
                }
            }
        }
    }

    #[test]
    fn tails_and_in_place_variants_agree_with_sincos() {
        let x: Vec<f64> = (0..29).map(|i| 0.37 * i as f64 - 5.0).collect();
        for backend in Backend::available() {
            let (mut s, mut c) = (vec![0.0; x.len()], vec![0.0; x.len()]);
            sincos_with(backend, &x, &mut s, &mut c);
            let mut si = x.clone();
            sin_in_place_with(backend, &mut si);
            let mut ci = x.clone();
            shifted_cos_in_place_with(backend, &mut ci, 0.0, 1.0);
            assert_eq!(si, s);
            assert_eq!(ci, c);
            // shift and scale: the same kernel on y = x + shift, then one exact-ish product
            let mut z = x.clone();
            let mut ns = vec![0.0; x.len()];
            shifted_cos_sin_with(backend, &mut z, 0.75, 2.0, &mut ns);
            let y: Vec<f64> = x.iter().map(|v| v + 0.75).collect();
            sincos_with(backend, &y, &mut s, &mut c);
            for i in 0..x.len() {
                assert_eq!(z[i], 2.0 * c[i]);
                assert_eq!(ns[i], -2.0 * s[i]);
            }
        }
    }
}
