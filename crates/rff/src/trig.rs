//! Vectorised `sin` / `cos` / `sincos` for `f64` slices.
//!
//! Random-feature maps spend `N·p` cosine evaluations per application; with libm's scalar
//! `cos` that costs more than the GEMM `X Ωᵀ` before it. This module evaluates them with a
//! polynomial kernel that LLVM vectorises, dispatched at run time to the widest SIMD unit
//! the CPU has ([`Backend`]).
//!
//! # Algorithm
//!
//! **Range reduction (Cody–Waite, three parts).** For `|x| ≤` [`REDUCTION_LIMIT`] `= 10⁵`
//! write `x = k·π/2 + r` with `k = round(x·2/π)` and `|r| ≤ π/4 + 10⁻¹¹`. The integer `k`
//! is obtained branch-free by adding and subtracting `1.5·2⁵²` (exact for `|x·2/π| < 2⁵¹`),
//! and its two low bits (the quadrant) are read from the bits of the intermediate sum.
//! `π/2` is split as `P₁ + P₂ + P₃` with `P₁`, `P₂` carrying 37 significant bits and `P₃`
//! 53 bits, `|π/2 − P₁ − P₂ − P₃| < 2⁻¹³⁰`. Because `|k| ≤ 63 662 < 2¹⁶`, the products
//! `k·P₁` and `k·P₂` are exact (16 + 37 ≤ 53 bits), and `x − k·P₁` is exact by Sterbenz'
//! lemma (`k·P₁` is within a factor 2 of `x`). Then
//! `r = ((x − k·P₁) − k·P₂) − k·P₃` carries two roundings of relative size `2⁻⁵³` each,
//! plus an absolute error `≤ |k|·2⁻¹³⁰ + ulp(k·P₃)/2 ≤ 2⁻¹¹²` from the truncated `π/2`
//! and the rounding of `k·P₃`.
//!
//! That absolute error only matters when `r` itself is tiny (`x` next to a zero of
//! `sin` or `cos`, where the result is tiny and its ulp is tiny too). Lanes with
//! `|r| < 2⁻⁵⁰` are therefore recomputed with libm, so on the fast path the absolute error
//! is below `2⁻⁶²·|r|`, i.e. negligible against the relative `2⁻⁵²`; the result is
//! accurate *relative to itself* everywhere, including next to the zeros. Such lanes occur
//! with probability about `2⁻⁵⁰` for arguments that are not special (and for `x = 0`),
//! so they cost nothing in practice. Lanes with `|x| > 10⁵`, infinities and NaNs also go to libm:
//! every output is always correct, only speed depends on the argument range.
//!
//! **Polynomials.** On `|r| ≤ π/4` the fdlibm kernels (Sun Microsystems, `k_sin.c` /
//! `k_cos.c`, minimax, approximation error below `2⁻⁵⁸` relative):
//! `sin r ≈ r + r³(S₁ + r²(S₂ + … + r²S₆))`, and
//! `cos r ≈ w + (((1 − w) − r²/2) + r⁴(C₁ + … + r¹⁰C₆))` with `w = 1 − r²/2` (the
//! bracket recovers the rounding error of `w`). Horner steps use fused multiply–add on
//! the FMA back ends.
//!
//! **Quadrant selection** (`q = k mod 4`, branch-free: selects and a sign-bit XOR):
//! `sin x = (sin r, cos r, −sin r, −cos r)[q]`, `cos x = (cos r, −sin r, −cos r, sin r)[q]`.
//!
//! # Accuracy
//!
//! Tested against `f64::sin`/`f64::cos` (libm) on 10⁷ uniform points of `[−10⁴, 10⁴]` and on
//! the doubles next to multiples of `π/2`: at most 4 ulp on every back end (measured
//! figures in the crate's tests; typically ≤ 2 ulp).
//!
//! # Reproducibility
//!
//! All paths are deterministic: the same input on the same machine gives bitwise the
//! same output. Different back ends ([`Backend::Scalar`] uses `a·b + c`, the SIMD ones
//! fused `fma`) may differ in the last bits.

/// Largest `|x|` handled by the polynomial path; beyond it (and for NaN/∞) libm is used.
///
/// Bound chosen so that `|k| = |round(x·2/π)| ≤ 63 662 < 2¹⁶`, which keeps `k·P₁` and
/// `k·P₂` exact (see the module docs).
pub const REDUCTION_LIMIT: f64 = 1.0e5;

/// Reduced arguments smaller than this are recomputed with libm (see the module docs).
const TINY_REDUCED: f64 = 8.881_784_197_001_252e-16; // 2⁻⁵⁰

/// `2/π` rounded to double.
const TWO_OVER_PI: f64 = f64::from_bits(0x3fe4_5f30_6dc9_c883);
/// `π/2 = P1 + P2 + P3 + O(2⁻¹³⁰)`; `P1`, `P2` have 37 significant bits.
const P1: f64 = f64::from_bits(0x3ff9_21fb_5444_0000);
const P2: f64 = f64::from_bits(0x3d86_8c23_4c4c_0000);
const P3: f64 = f64::from_bits(0x3b29_8a2e_0370_7345);
/// `1.5·2⁵²`: adding and subtracting it rounds to the nearest integer (ties to even).
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;

// fdlibm k_sin.c / k_cos.c literals, kept verbatim so they can be checked against the source
// (they round to the same doubles as clippy's shorter forms).
#[allow(clippy::excessive_precision)]
mod coef {
    pub(super) const S1: f64 = -1.666_666_666_666_663_243_48e-1;
    pub(super) const S2: f64 = 8.333_333_333_322_489_461_24e-3;
    pub(super) const S3: f64 = -1.984_126_982_985_794_931_34e-4;
    pub(super) const S4: f64 = 2.755_731_370_707_006_767_89e-6;
    pub(super) const S5: f64 = -2.505_076_025_340_686_341_95e-8;
    pub(super) const S6: f64 = 1.589_690_995_211_550_102_21e-10;
    pub(super) const C1: f64 = 4.166_666_666_666_660_190_37e-2;
    pub(super) const C2: f64 = -1.388_888_888_887_410_957_49e-3;
    pub(super) const C3: f64 = 2.480_158_728_947_672_941_78e-5;
    pub(super) const C4: f64 = -2.755_731_435_139_066_330_35e-7;
    pub(super) const C5: f64 = 2.087_572_321_298_174_827_90e-9;
    pub(super) const C6: f64 = -1.135_964_755_778_819_482_65e-11;
}
use coef::*;

/// Lanes per block: one AVX-512 register, two AVX2 registers.
const W: usize = 8;

/// An instruction-set path for the polynomial kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// Portable code without FMA (`a·b + c`), compiled for the baseline target.
    Scalar,
    /// x86-64 AVX2 + FMA (4 lanes per register).
    Avx2Fma,
    /// x86-64 AVX-512F (8 lanes per register).
    Avx512,
}

impl Backend {
    /// The widest back end this CPU supports (detected once per call, cheaply cached by std).
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("fma") {
                return Backend::Avx512;
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Backend::Avx2Fma;
            }
        }
        Backend::Scalar
    }

    /// Whether this CPU can run `self`.
    pub fn is_available(self) -> bool {
        match self {
            Backend::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2Fma => {
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512 => {
                std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// All back ends this CPU can run, narrowest first.
    pub fn available() -> Vec<Backend> {
        [Backend::Scalar, Backend::Avx2Fma, Backend::Avx512]
            .into_iter()
            .filter(|b| b.is_available())
            .collect()
    }
}

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

#[inline(always)]
fn madd<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// The polynomial kernel on one block of `W` lanes: returns `(sin y, cos y)` and whether
/// any lane must be recomputed with libm.
#[inline(always)]
fn block<const FMA: bool>(y: &[f64; W]) -> ([f64; W], [f64; W], bool) {
    let mut s = [0.0; W];
    let mut c = [0.0; W];
    let mut bad = [false; W];
    for i in 0..W {
        let x = y[i];
        let t = x * TWO_OVER_PI + ROUND_MAGIC;
        let q = t.to_bits() & 3;
        let k = t - ROUND_MAGIC;
        // exact: k·P1, k·P2 have ≤ 53 bits and x − k·P1 is a Sterbenz subtraction
        let r = ((x - k * P1) - k * P2) - k * P3;
        // `!(a <= b)` is deliberately true for NaN as well as for large |x|
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        let out_of_range = !(x.abs() <= REDUCTION_LIMIT);
        bad[i] = out_of_range | (r.abs() < TINY_REDUCED);

        let z = r * r;
        // sin r
        let ps = madd::<FMA>(
            z,
            madd::<FMA>(z, madd::<FMA>(z, madd::<FMA>(z, S6, S5), S4), S3),
            S2,
        );
        let v = z * r;
        let sr = madd::<FMA>(v, madd::<FMA>(z, ps, S1), r);
        // cos r
        let pc = madd::<FMA>(
            z,
            madd::<FMA>(
                z,
                madd::<FMA>(z, madd::<FMA>(z, madd::<FMA>(z, C6, C5), C4), C3),
                C2,
            ),
            C1,
        );
        let hz = 0.5 * z;
        let w = 1.0 - hz;
        let cr = w + (((1.0 - w) - hz) + z * (z * pc));

        let swap = (q & 1) != 0;
        let a = if swap { cr } else { sr };
        let b = if swap { sr } else { cr };
        s[i] = f64::from_bits(a.to_bits() ^ ((q & 2) << 62));
        c[i] = f64::from_bits(b.to_bits() ^ (((q + 1) & 2) << 62));
    }
    let mut any = false;
    for flag in bad {
        any |= flag;
    }
    if any {
        for i in 0..W {
            if bad[i] {
                s[i] = y[i].sin();
                c[i] = y[i].cos();
            }
        }
    }
    (s, c, any)
}

/// Runs `op` over `io` (the argument, overwritten for in-place ops) and `aux`
/// (the second output of `ShiftedCosSin`, empty otherwise).
///
/// Everything below is `#[inline(always)]` and closure-free so that it is compiled with
/// the target features of the `run_*` function that calls it (closures would not be).
#[inline(always)]
fn run<const FMA: bool>(op: Op<'_>, io: &mut [f64], aux: &mut [f64]) {
    match op {
        Op::SinCos { x, s, c } => {
            let n = x.len();
            let full = n - n % W;
            for ((xb, sb), cb) in x[..full]
                .chunks_exact(W)
                .zip(s[..full].chunks_exact_mut(W))
                .zip(c[..full].chunks_exact_mut(W))
            {
                let (sv, cv, _) = block::<FMA>(xb.try_into().expect("block of W"));
                sb.copy_from_slice(&sv);
                cb.copy_from_slice(&cv);
            }
            if full < n {
                let y = padded(&x[full..]);
                let (sv, cv, _) = block::<FMA>(&y);
                s[full..].copy_from_slice(&sv[..n - full]);
                c[full..].copy_from_slice(&cv[..n - full]);
            }
        }
        Op::SinInPlace => {
            let n = io.len();
            let full = n - n % W;
            for yb in io[..full].chunks_exact_mut(W) {
                let (sv, _, _) = block::<FMA>(yb.as_ref().try_into().expect("block of W"));
                yb.copy_from_slice(&sv);
            }
            if full < n {
                let (sv, _, _) = block::<FMA>(&padded(&io[full..]));
                io[full..].copy_from_slice(&sv[..n - full]);
            }
        }
        Op::ShiftedCos { shift, scale } => {
            let n = io.len();
            let full = n - n % W;
            for yb in io[..full].chunks_exact_mut(W) {
                shifted_cos_block::<FMA>(yb, shift, scale);
            }
            if full < n {
                let mut y = padded(&io[full..]);
                shifted_cos_block::<FMA>(&mut y, shift, scale);
                io[full..].copy_from_slice(&y[..n - full]);
            }
        }
        Op::ShiftedCosSin { shift, a, b } => {
            let n = io.len();
            let full = n - n % W;
            for (yb, nb) in io[..full]
                .chunks_exact_mut(W)
                .zip(aux[..full].chunks_exact_mut(W))
            {
                shifted_cos_sin_block::<FMA>(yb, nb, shift, a, b);
            }
            if full < n {
                let mut y = padded(&io[full..]);
                let mut ns = [0.0; W];
                shifted_cos_sin_block::<FMA>(&mut y, &mut ns, shift, a, b);
                io[full..].copy_from_slice(&y[..n - full]);
                aux[full..].copy_from_slice(&ns[..n - full]);
            }
        }
    }
}

/// A tail of fewer than `W` values, padded with a harmless argument.
#[inline(always)]
fn padded(tail: &[f64]) -> [f64; W] {
    let mut y = [1.0; W];
    y[..tail.len()].copy_from_slice(tail);
    y
}

/// `y ← scale·cos(y + shift)` on one block (`y.len() == W`).
#[inline(always)]
fn shifted_cos_block<const FMA: bool>(y: &mut [f64], shift: f64, scale: f64) {
    let mut a = [0.0; W];
    for i in 0..W {
        a[i] = y[i] + shift;
    }
    let (_, cv, _) = block::<FMA>(&a);
    for i in 0..W {
        y[i] = scale * cv[i];
    }
}

/// `y ← a·cos(y + shift)`, `ns ← b·sin(y + shift)` on one block.
#[inline(always)]
fn shifted_cos_sin_block<const FMA: bool>(
    y: &mut [f64],
    ns: &mut [f64],
    shift: f64,
    a: f64,
    b: f64,
) {
    let mut arg = [0.0; W];
    for i in 0..W {
        arg[i] = y[i] + shift;
    }
    let (sv, cv, _) = block::<FMA>(&arg);
    for i in 0..W {
        y[i] = a * cv[i];
        ns[i] = b * sv[i];
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn run_avx512(op: Op<'_>, io: &mut [f64], aux: &mut [f64]) {
    run::<true>(op, io, aux);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn run_avx2(op: Op<'_>, io: &mut [f64], aux: &mut [f64]) {
    run::<true>(op, io, aux);
}

fn dispatch(backend: Backend, op: Op<'_>, io: &mut [f64], aux: &mut [f64]) {
    assert!(
        backend.is_available(),
        "trig back end {backend:?} is not supported by this CPU"
    );
    match backend {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `is_available` checked that the CPU has AVX-512F and FMA.
        Backend::Avx512 => unsafe { run_avx512(op, io, aux) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `is_available` checked that the CPU has AVX2 and FMA.
        Backend::Avx2Fma => unsafe { run_avx2(op, io, aux) },
        _ => run::<false>(op, io, aux),
    }
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
/// plres_rff::trig::sincos(&x, &mut s, &mut c);
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
/// plres_rff::trig::shifted_cos_sin(&mut z, 0.5, 2.0, &mut d);
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
            for i in 0..x.len() {
                assert_eq!(
                    s[i].to_bits(),
                    x[i].sin().to_bits(),
                    "{backend:?} sin({})",
                    x[i]
                );
                assert_eq!(
                    c[i].to_bits(),
                    x[i].cos().to_bits(),
                    "{backend:?} cos({})",
                    x[i]
                );
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
