//! # plres-kernels — positive-definite kernels and their RKHS
//!
//! One job: kernels `k(x, y)`, their Gram matrices, spectral tools, and vector-valued
//! RKHS functions `θ = Σ_c k(·, c) a_c` (DESIGN §3.1, §3.4, §5).
