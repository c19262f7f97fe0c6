//! Vector-register hygiene: [`clear_upper_state`] (`vzeroupper`), the one copy for all of
//! plres.
//!
//! **Why this exists.** faer's GEMM kernels (AVX-512 / AVX2) return with the upper halves of
//! the vector registers dirty (no `vzeroupper`). On Intel cores every *legacy-SSE*
//! instruction executed afterwards (Rust code compiled for the baseline x86-64 target,
//! libm's `exp`, `sin`, `tanh`, `acos`, …) then pays a transition penalty. Measured on this
//! project's machine: 2²⁰ libm `exp` calls took 35 ms before a faer GEMM, 1.2 s after it and
//! 25 ms after `vzeroupper`; an axpy after a faer matmul ran 8× slower and `tanh` 15× slower
//! until a `vzeroupper`. The Gram drivers (plres-kernels), the integrators (plres-ode, after
//! every field evaluation or vector–Jacobian product), the feature maps (plres-rff) and the
//! models (plres-resnet) call it after each product on every thread that then runs scalar
//! or baseline code.

/// Clears the upper halves of the AVX registers (`vzeroupper`) when the CPU has AVX;
/// a no-op elsewhere. faer's GEMM kernels return with that state dirty, and scalar or SSE
/// code run after them (libm's `exp`, loops compiled for the baseline x86-64 target) is then
/// several times slower on Intel cores: call this after a product, before such code. Costs
/// about one cycle.
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
