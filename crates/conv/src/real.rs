//! The scalar types of the layers: `f64` (gradient checks, the PyTorch comparison) and
//! `f32` (the fast training path). faer's GEMM serves both.

use faer::traits::RealField;

/// A real floating-point scalar the layers compute in (`f32` or `f64`).
pub trait Real: RealField + Copy + Default + Send + Sync + 'static {
    /// The value `v` rounded to this type.
    fn from_f64(v: f64) -> Self;
    /// This value as `f64` (exact).
    fn to_f64(self) -> f64;
    /// `√self`.
    fn sqrt(self) -> Self;
    /// `e^self`.
    fn exp(self) -> Self;
    /// Machine epsilon of the type.
    const EPSILON: Self;
    /// `0`.
    const ZERO: Self;
    /// `1`.
    const ONE: Self;
}

macro_rules! impl_real {
    ($t:ty) => {
        impl Real for $t {
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                f64::from(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            const EPSILON: Self = <$t>::EPSILON;
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
        }
    };
}
impl_real!(f32);
impl_real!(f64);
