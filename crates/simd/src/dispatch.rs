//! The one runtime-dispatch mechanism of plres: a [`Backend`] detected at run time, a
//! zero-sized token per back end implementing [`Simd`], and the dispatchers, which run a
//! kernel generic over the token inside a function compiled with that back end's target
//! features: [`with_simd`] for a [`SimdFn`] (a kernel holding its operands, e.g. raw views
//! of matrices), [`with_slices`] / [`dispatch_slices`] for a [`SliceFn`] (a kernel over an
//! output slice and a second operand, passed as arguments so that their `noalias` reaches
//! the vectoriser).
//!
//! The SIMD tokens can only be created (unsafely, here) after run-time feature detection,
//! which is what makes their safe methods sound. Every method is `#[inline(always)]` so
//! that, once the generic kernel is inlined into a `#[target_feature]` function, all
//! intrinsics are emitted inline. A kernel written with scalar `f64` code (autovectorised)
//! uses the token only for [`Simd::FMA`] / [`Simd::madd`]: its body is then compiled three
//! times, for AVX-512F + FMA, AVX2 + FMA and the baseline.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Vector operations on `LANES` doubles (`V`) and lane masks (`M`).
pub(crate) trait Simd: Copy {
    /// Lanes per vector.
    const LANES: usize;
    /// Whether `a·b + c` is fused (one rounding) on this back end.
    const FMA: bool;
    /// A vector of `LANES` doubles.
    type V: Copy;
    /// A lane mask.
    type M: Copy;
    /// One-lane back end performing, lane by lane, exactly the same roundings (fused or
    /// not), for the leftover elements: results do not depend on a value's position.
    type Tail: Simd;

    fn tail(self) -> Self::Tail;

    fn splat(self, x: f64) -> Self::V;
    fn splat_bits(self, bits: u64) -> Self::V;
    /// Loads `LANES` values from the front of `x` (`x.len() ≥ LANES`).
    fn load(self, x: &[f64]) -> Self::V;
    /// Stores `LANES` values into the front of `out` (`out.len() ≥ LANES`).
    fn store(self, v: Self::V, out: &mut [f64]);
    /// Loads `LANES` values starting at `p`.
    ///
    /// # Safety
    /// `p..p + LANES` must be valid for reads.
    unsafe fn load_ptr(self, p: *const f64) -> Self::V;
    /// Stores `LANES` values starting at `p`.
    ///
    /// # Safety
    /// `p..p + LANES` must be valid for writes and not aliased.
    unsafe fn store_ptr(self, v: Self::V, p: *mut f64);
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a·b + c`, fused where the instruction set has FMA.
    fn fma(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// Bitwise and / xor of the IEEE bit patterns.
    fn and(self, a: Self::V, b: Self::V) -> Self::V;
    fn xor(self, a: Self::V, b: Self::V) -> Self::V;
    /// Bit patterns shifted left by 63.
    fn shl63(self, a: Self::V) -> Self::V;
    /// `a < b` (false for NaN).
    fn lt(self, a: Self::V, b: Self::V) -> Self::M;
    /// `!(a ≤ b)` (true for NaN).
    fn not_le(self, a: Self::V, b: Self::V) -> Self::M;
    fn or(self, a: Self::M, b: Self::M) -> Self::M;
    fn any(self, m: Self::M) -> bool;
    fn lane(self, m: Self::M, i: usize) -> bool;
    /// `m ? a : b`, lane by lane.
    fn select(self, m: Self::M, a: Self::V, b: Self::V) -> Self::V;

    /// Scalar `a·b + c` rounded as this back end rounds it: fused (one instruction) on the
    /// FMA back ends, two roundings on the baseline (where `mul_add` would be a libm call).
    #[inline(always)]
    fn madd(self, a: f64, b: f64, c: f64) -> f64 {
        if Self::FMA {
            a.mul_add(b, c)
        } else {
            a * b + c
        }
    }

    #[inline(always)]
    fn abs(self, a: Self::V) -> Self::V {
        self.and(a, self.splat_bits(!(1 << 63)))
    }

    #[inline(always)]
    fn neg(self, a: Self::V) -> Self::V {
        self.xor(a, self.splat_bits(1 << 63))
    }
}

/// Scalar code, one lane: `a·b + c` rounded twice (`FMA = false`, the portable back end)
/// or fused with `f64::mul_add` (`FMA = true`, the tails of the FMA back ends).
#[derive(Clone, Copy)]
pub(crate) struct Scalar<const FMA: bool>;

impl<const FMA: bool> Simd for Scalar<FMA> {
    const LANES: usize = 1;
    const FMA: bool = FMA;
    type V = f64;
    type M = bool;
    type Tail = Self;

    #[inline(always)]
    fn tail(self) -> Self {
        self
    }

    #[inline(always)]
    fn splat(self, x: f64) -> f64 {
        x
    }
    #[inline(always)]
    fn splat_bits(self, bits: u64) -> f64 {
        f64::from_bits(bits)
    }
    #[inline(always)]
    fn load(self, x: &[f64]) -> f64 {
        x[0]
    }
    #[inline(always)]
    fn store(self, v: f64, out: &mut [f64]) {
        out[0] = v;
    }
    #[inline(always)]
    unsafe fn load_ptr(self, p: *const f64) -> f64 {
        // SAFETY: the caller guarantees `p` is valid for one read.
        unsafe { *p }
    }
    #[inline(always)]
    unsafe fn store_ptr(self, v: f64, p: *mut f64) {
        // SAFETY: the caller guarantees `p` is valid for one write.
        unsafe { *p = v }
    }
    #[inline(always)]
    fn add(self, a: f64, b: f64) -> f64 {
        a + b
    }
    #[inline(always)]
    fn sub(self, a: f64, b: f64) -> f64 {
        a - b
    }
    #[inline(always)]
    fn mul(self, a: f64, b: f64) -> f64 {
        a * b
    }
    #[inline(always)]
    fn fma(self, a: f64, b: f64, c: f64) -> f64 {
        if FMA { a.mul_add(b, c) } else { a * b + c }
    }
    #[inline(always)]
    fn and(self, a: f64, b: f64) -> f64 {
        f64::from_bits(a.to_bits() & b.to_bits())
    }
    #[inline(always)]
    fn xor(self, a: f64, b: f64) -> f64 {
        f64::from_bits(a.to_bits() ^ b.to_bits())
    }
    #[inline(always)]
    fn shl63(self, a: f64) -> f64 {
        f64::from_bits(a.to_bits() << 63)
    }
    #[inline(always)]
    fn lt(self, a: f64, b: f64) -> bool {
        a < b
    }
    #[inline(always)]
    fn not_le(self, a: f64, b: f64) -> bool {
        // deliberately true for NaN
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        let r = !(a <= b);
        r
    }
    #[inline(always)]
    fn or(self, a: bool, b: bool) -> bool {
        a | b
    }
    #[inline(always)]
    fn any(self, m: bool) -> bool {
        m
    }
    #[inline(always)]
    fn lane(self, m: bool, _: usize) -> bool {
        m
    }
    #[inline(always)]
    fn select(self, m: bool, a: f64, b: f64) -> f64 {
        if m { a } else { b }
    }
}

/// AVX2 + FMA, 4 lanes. Masks are all-ones / all-zeros lanes.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Avx2(());

#[cfg(target_arch = "x86_64")]
impl Avx2 {
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline(always)]
    pub(crate) unsafe fn new_unchecked() -> Self {
        Avx2(())
    }
}

// SAFETY (all `unsafe` blocks in this impl): an `Avx2` token exists only after
// `Backend::is_available` confirmed AVX2 and FMA; loads and stores are bounds-checked
// against `LANES` first.
#[cfg(target_arch = "x86_64")]
impl Simd for Avx2 {
    const LANES: usize = 4;
    const FMA: bool = true;
    type V = __m256d;
    type M = __m256d;
    type Tail = Scalar<true>;

    #[inline(always)]
    fn tail(self) -> Scalar<true> {
        Scalar
    }

    #[inline(always)]
    fn splat(self, x: f64) -> __m256d {
        // SAFETY: the token proves AVX2 and FMA, all this intrinsic requires.
        unsafe { _mm256_set1_pd(x) }
    }
    #[inline(always)]
    fn splat_bits(self, bits: u64) -> __m256d {
        // SAFETY: the token proves AVX2 and FMA, all this intrinsic requires.
        unsafe { _mm256_castsi256_pd(_mm256_set1_epi64x(bits as i64)) }
    }
    #[inline(always)]
    fn load(self, x: &[f64]) -> __m256d {
        assert!(x.len() >= 4);
        // SAFETY: the token proves AVX2 and FMA; the length was asserted just above.
        unsafe { _mm256_loadu_pd(x.as_ptr()) }
    }
    #[inline(always)]
    fn store(self, v: __m256d, out: &mut [f64]) {
        assert!(out.len() >= 4);
        // SAFETY: the token proves AVX2 and FMA; the length was asserted just above.
        unsafe { _mm256_storeu_pd(out.as_mut_ptr(), v) }
    }
    #[inline(always)]
    unsafe fn load_ptr(self, p: *const f64) -> __m256d {
        // SAFETY: the caller guarantees 4 readable values at `p`.
        unsafe { _mm256_loadu_pd(p) }
    }
    #[inline(always)]
    unsafe fn store_ptr(self, v: __m256d, p: *mut f64) {
        // SAFETY: the caller guarantees 4 writable values at `p`.
        unsafe { _mm256_storeu_pd(p, v) }
    }
    #[inline(always)]
    fn add(self, a: __m256d, b: __m256d) -> __m256d {
        // SAFETY: the token proves AVX2 and FMA, all this intrinsic requires.
        unsafe { _mm256_add_pd(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: __m256d, b: __m256d) -> __m256d {
        // SAFETY: the token proves AVX2 and FMA, all this intrinsic requires.
        unsafe { _mm256_sub_pd(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: __m256d, b: __m256d) -> __m256d {
        // SAFETY: the token proves AVX2 and FMA, all this intrinsic requires.
        unsafe { _mm256_mul_pd(a, b) }
    }
    #[inline(always)]
    fn fma(self, a: __m256d, b: __m256d, c: __m256d) -> __m256d {
        // SAFETY: the token proves AVX2 and FMA, all this intrinsic requires.
        unsafe { _mm256_fmadd_pd(a, b, c) }
    }
    #[inline(always)]
    fn and(self, a: __m256d, b: __m256d) -> __m256d {
        // SAFETY: the token proves AVX2 and FMA, all this intrinsic requires.
        unsafe { _mm256_and_pd(a, b) }
    }
    #[inline(always)]
    fn xor(self, a: __m256d, b: __m256d) -> __m256d {
        // SAFETY: the token proves AVX2 and FMA, all this intrinsic requires.
        unsafe { _mm256_xor_pd(a, b) }
    }
    #[inline(always)]
    fn shl63(self, a: __m256d) -> __m256d {
        // SAFETY: the token proves AVX2 and FMA, all this intrinsic requires.
        unsafe { _mm256_castsi256_pd(_mm256_slli_epi64::<63>(_mm256_castpd_si256(a))) }
    }
    #[inline(always)]
    fn lt(self, a: __m256d, b: __m256d) -> __m256d {
        // SAFETY: the token proves AVX2 and FMA, all this intrinsic requires.
        unsafe { _mm256_cmp_pd::<_CMP_LT_OQ>(a, b) }
    }
    #[inline(always)]
    fn not_le(self, a: __m256d, b: __m256d) -> __m256d {
        // SAFETY: the token proves AVX2 and FMA, all this intrinsic requires.
        unsafe { _mm256_cmp_pd::<_CMP_NLE_UQ>(a, b) }
    }
    #[inline(always)]
    fn or(self, a: __m256d, b: __m256d) -> __m256d {
        // SAFETY: the token proves AVX2 and FMA, all this intrinsic requires.
        unsafe { _mm256_or_pd(a, b) }
    }
    #[inline(always)]
    fn any(self, m: __m256d) -> bool {
        // SAFETY: the token proves AVX2 and FMA, all this intrinsic requires.
        unsafe { _mm256_movemask_pd(m) != 0 }
    }
    #[inline(always)]
    fn lane(self, m: __m256d, i: usize) -> bool {
        // SAFETY: the token proves AVX2 and FMA, all this intrinsic requires.
        unsafe { (_mm256_movemask_pd(m) >> i) & 1 != 0 }
    }
    #[inline(always)]
    fn select(self, m: __m256d, a: __m256d, b: __m256d) -> __m256d {
        // SAFETY: the token proves AVX2 and FMA, all this intrinsic requires.
        unsafe { _mm256_blendv_pd(b, a, m) }
    }
}

/// AVX-512F, 8 lanes, `__mmask8` masks.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Avx512(());

#[cfg(target_arch = "x86_64")]
impl Avx512 {
    /// # Safety
    /// The CPU must support AVX-512F and FMA.
    #[inline(always)]
    pub(crate) unsafe fn new_unchecked() -> Self {
        Avx512(())
    }
}

// SAFETY (all `unsafe` blocks in this impl): an `Avx512` token exists only after
// `Backend::is_available` confirmed AVX-512F and FMA; loads and stores are
// bounds-checked against `LANES` first.
#[cfg(target_arch = "x86_64")]
impl Simd for Avx512 {
    const LANES: usize = 8;
    const FMA: bool = true;
    type V = __m512d;
    type M = __mmask8;
    type Tail = Scalar<true>;

    #[inline(always)]
    fn tail(self) -> Scalar<true> {
        Scalar
    }

    #[inline(always)]
    fn splat(self, x: f64) -> __m512d {
        // SAFETY: the token proves AVX-512F and FMA, all this intrinsic requires.
        unsafe { _mm512_set1_pd(x) }
    }
    #[inline(always)]
    fn splat_bits(self, bits: u64) -> __m512d {
        // SAFETY: the token proves AVX-512F and FMA, all this intrinsic requires.
        unsafe { _mm512_castsi512_pd(_mm512_set1_epi64(bits as i64)) }
    }
    #[inline(always)]
    fn load(self, x: &[f64]) -> __m512d {
        assert!(x.len() >= 8);
        // SAFETY: the token proves AVX-512F and FMA; the length was asserted just above.
        unsafe { _mm512_loadu_pd(x.as_ptr()) }
    }
    #[inline(always)]
    fn store(self, v: __m512d, out: &mut [f64]) {
        assert!(out.len() >= 8);
        // SAFETY: the token proves AVX-512F and FMA; the length was asserted just above.
        unsafe { _mm512_storeu_pd(out.as_mut_ptr(), v) }
    }
    #[inline(always)]
    unsafe fn load_ptr(self, p: *const f64) -> __m512d {
        // SAFETY: the caller guarantees 8 readable values at `p`.
        unsafe { _mm512_loadu_pd(p) }
    }
    #[inline(always)]
    unsafe fn store_ptr(self, v: __m512d, p: *mut f64) {
        // SAFETY: the caller guarantees 8 writable values at `p`.
        unsafe { _mm512_storeu_pd(p, v) }
    }
    #[inline(always)]
    fn add(self, a: __m512d, b: __m512d) -> __m512d {
        // SAFETY: the token proves AVX-512F and FMA, all this intrinsic requires.
        unsafe { _mm512_add_pd(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: __m512d, b: __m512d) -> __m512d {
        // SAFETY: the token proves AVX-512F and FMA, all this intrinsic requires.
        unsafe { _mm512_sub_pd(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: __m512d, b: __m512d) -> __m512d {
        // SAFETY: the token proves AVX-512F and FMA, all this intrinsic requires.
        unsafe { _mm512_mul_pd(a, b) }
    }
    #[inline(always)]
    fn fma(self, a: __m512d, b: __m512d, c: __m512d) -> __m512d {
        // SAFETY: the token proves AVX-512F and FMA, all this intrinsic requires.
        unsafe { _mm512_fmadd_pd(a, b, c) }
    }
    #[inline(always)]
    fn and(self, a: __m512d, b: __m512d) -> __m512d {
        // SAFETY: the token proves AVX-512F and FMA, all this intrinsic requires.
        unsafe {
            _mm512_castsi512_pd(_mm512_and_si512(
                _mm512_castpd_si512(a),
                _mm512_castpd_si512(b),
            ))
        }
    }
    #[inline(always)]
    fn xor(self, a: __m512d, b: __m512d) -> __m512d {
        // SAFETY: the token proves AVX-512F and FMA, all this intrinsic requires.
        unsafe {
            _mm512_castsi512_pd(_mm512_xor_si512(
                _mm512_castpd_si512(a),
                _mm512_castpd_si512(b),
            ))
        }
    }
    #[inline(always)]
    fn shl63(self, a: __m512d) -> __m512d {
        // SAFETY: the token proves AVX-512F and FMA, all this intrinsic requires.
        unsafe { _mm512_castsi512_pd(_mm512_slli_epi64::<63>(_mm512_castpd_si512(a))) }
    }
    #[inline(always)]
    fn lt(self, a: __m512d, b: __m512d) -> __mmask8 {
        // SAFETY: the token proves AVX-512F and FMA, all this intrinsic requires.
        unsafe { _mm512_cmp_pd_mask::<_CMP_LT_OQ>(a, b) }
    }
    #[inline(always)]
    fn not_le(self, a: __m512d, b: __m512d) -> __mmask8 {
        // SAFETY: the token proves AVX-512F and FMA, all this intrinsic requires.
        unsafe { _mm512_cmp_pd_mask::<_CMP_NLE_UQ>(a, b) }
    }
    #[inline(always)]
    fn or(self, a: __mmask8, b: __mmask8) -> __mmask8 {
        a | b
    }
    #[inline(always)]
    fn any(self, m: __mmask8) -> bool {
        m != 0
    }
    #[inline(always)]
    fn lane(self, m: __mmask8, i: usize) -> bool {
        (m >> i) & 1 != 0
    }
    #[inline(always)]
    fn select(self, m: __mmask8, a: __m512d, b: __m512d) -> __m512d {
        // SAFETY: the token proves AVX-512F and FMA, all this intrinsic requires.
        unsafe { _mm512_mask_blend_pd(m, b, a) }
    }
}

/// An instruction-set path: which compilation of a kernel runs.
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

/// A computation generic over the SIMD back end (see [`with_simd`]).
pub(crate) trait SimdFn {
    /// What the computation returns.
    type Output;
    /// Runs with the back end `s`; must be `#[inline(always)]` so that it is compiled
    /// with the target features of the caller in [`with_simd`].
    fn call<S: Simd>(self, s: S) -> Self::Output;
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn call_avx512<F: SimdFn>(f: F) -> F::Output {
    // SAFETY: only called by `with_simd`, after checking that the CPU has
    // AVX-512F and FMA (this function's target features, and the token's promise).
    f.call(unsafe { Avx512::new_unchecked() })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn call_avx2<F: SimdFn>(f: F) -> F::Output {
    // SAFETY: only called by `with_simd`, after checking that the CPU has
    // AVX2 and FMA (this function's target features, and the token's promise).
    f.call(unsafe { Avx2::new_unchecked() })
}

/// Runs `f` on `backend` (compiled with that back end's target features).
///
/// # Panics
/// If the CPU does not support `backend`.
pub(crate) fn with_simd<F: SimdFn>(backend: Backend, f: F) -> F::Output {
    assert!(
        backend.is_available(),
        "SIMD back end {backend:?} is not supported by this CPU"
    );
    match backend {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `is_available` checked that the CPU has AVX-512F and FMA.
        Backend::Avx512 => unsafe { call_avx512(f) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `is_available` checked that the CPU has AVX2 and FMA.
        Backend::Avx2Fma => unsafe { call_avx2(f) },
        _ => f.call(Scalar::<false>),
    }
}

/// A computation over an output slice and a second operand `B` (`&[f64]` or `&mut [f64]`),
/// generic over the back end: like [`SimdFn`], but the slices are arguments of the
/// `#[target_feature]` function, so their `noalias` reaches LLVM (slices held in a struct
/// would not carry it, and an autovectorised loop would get a run-time overlap check and a
/// second, scalar copy).
pub(crate) trait SliceFn<B> {
    /// What the computation returns.
    type Output;
    /// Runs with the back end `s`; must be `#[inline(always)]` (see [`SimdFn::call`]).
    fn call<S: Simd>(self, s: S, out: &mut [f64], second: B) -> Self::Output;
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn slices_avx512<B, F: SliceFn<B>>(f: F, out: &mut [f64], second: B) -> F::Output {
    // SAFETY: only called by `with_slices` after checking that the CPU has AVX-512F and
    // FMA (this function's target features, and the token's promise).
    f.call(unsafe { Avx512::new_unchecked() }, out, second)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn slices_avx2<B, F: SliceFn<B>>(f: F, out: &mut [f64], second: B) -> F::Output {
    // SAFETY: only called by `with_slices` after checking that the CPU has AVX2 and FMA
    // (this function's target features, and the token's promise).
    f.call(unsafe { Avx2::new_unchecked() }, out, second)
}

/// Runs the slice kernel `f` on `out`, `second` on `backend`, which the caller has checked
/// is available ([`Backend::detect`] or [`Backend::is_available`]).
#[inline]
fn with_slices_checked<B, F: SliceFn<B>>(
    backend: Backend,
    f: F,
    out: &mut [f64],
    second: B,
) -> F::Output {
    match backend {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller checked that the CPU has AVX-512F and FMA.
        Backend::Avx512 => unsafe { slices_avx512(f, out, second) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller checked that the CPU has AVX2 and FMA.
        Backend::Avx2Fma => unsafe { slices_avx2(f, out, second) },
        _ => f.call(Scalar::<false>, out, second),
    }
}

/// Runs the slice kernel `f` on `backend`.
///
/// # Panics
/// If the CPU does not support `backend`.
pub(crate) fn with_slices<B, F: SliceFn<B>>(
    backend: Backend,
    f: F,
    out: &mut [f64],
    second: B,
) -> F::Output {
    assert!(
        backend.is_available(),
        "SIMD back end {backend:?} is not supported by this CPU"
    );
    with_slices_checked(backend, f, out, second)
}

/// Runs the slice kernel `f` on the widest back end this CPU supports.
#[inline]
pub(crate) fn dispatch_slices<B, F: SliceFn<B>>(f: F, out: &mut [f64], second: B) -> F::Output {
    with_slices_checked(Backend::detect(), f, out, second)
}
