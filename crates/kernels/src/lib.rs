//! # plres-kernels — positive-definite kernels and their RKHS
//!
//! One job: kernels `k(x, y)` on `R^d`, their Gram matrices, the spectral quantities the
//! PL certificate needs, and vector-valued RKHS functions `θ = Σ_c k(·, c) a_c`
//! (DESIGN §3.1, §3.4, §5).
//!
//! Modules: [`kernel`] (the [`Kernel`] trait, [`SpectralMeasure`]), [`radial`], [`arccos`],
//! [`linear`] (the kernels), [`spec`] ([`KernelSpec`]), [`validate`], [`error`].

#![forbid(unsafe_code)]

pub mod arccos;
pub mod error;
pub mod expansion;
pub mod kernel;
pub mod linear;
mod pairwise;
pub mod radial;
pub mod spec;
pub mod spectral;
pub mod validate;

pub use arccos::ArcCosine1;
pub use error::KernelError;
pub use kernel::{Kernel, SpectralMeasure};
pub use linear::Linear;
pub use radial::{Gaussian, InverseMultiquadric, Laplace, Matern32, Matern52};
pub use spec::KernelSpec;
