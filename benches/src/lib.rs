//! Shared set-up for the plres criterion benches in `benches/benches/` (see
//! `benches/README.md` for what each measures and the latest figures).
//!
//! Everything here runs outside the timed loops: seeded inputs and the reference GEMM
//! every bench compares itself with; and [`peer`], the PyTorch peer's problem format.

#![forbid(unsafe_code)]

pub mod peer;

pub use peer::PeerProblem;

use faer::{Accum, Mat, Par};
use plres_kernels::KernelSpec;
use plres_rff::{FourierVariant, RandomFourierFeatures, RffError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// The value after the flag `args[i]` on an example's command line (`--flag value`).
pub fn flag_value(args: &[String], i: usize) -> Result<&String, String> {
    args.get(i + 1)
        .ok_or_else(|| format!("{} needs a value", args[i]))
}

/// `v`, the value of the flag `flag`, as an integer.
pub fn flag_usize(flag: &str, v: &str) -> Result<usize, String> {
    v.parse::<usize>()
        .map_err(|_| format!("{flag}: not an integer: {v}"))
}

/// A `rows × cols` matrix of independent standard normals from a seeded ChaCha8 stream.
pub fn seeded_normal(rows: usize, cols: usize, seed: u64) -> Mat<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Mat::from_fn(rows, cols, |_, _| StandardNormal.sample(&mut rng))
}

/// The feature map of every benchmark problem and of the PyTorch peer: `p` random Fourier
/// features of `kernel` on `R^d` in the cosine-with-phase variant (docs/theory.md §6),
/// drawn from `rng`.
///
/// # Errors
/// [`RffError`] for an invalid kernel or a zero dimension.
pub fn cosine_features(
    kernel: &KernelSpec,
    d: usize,
    p: usize,
    rng: &mut impl Rng,
) -> Result<RandomFourierFeatures, RffError> {
    RandomFourierFeatures::sample(kernel, d, p, FourierVariant::CosineWithPhase, rng)
}

/// The parallelism every plres bench uses: both cores of the target machine.
pub fn par() -> Par {
    Par::rayon(2)
}

/// `dst = lhs · rhsᵀ` with faer's GEMM: the product shape every feature map and
/// residual layer performs (`X Ωᵀ`, `Φ Uᵀ`). The reference the benches compare with.
pub fn gemm_abt(dst: &mut Mat<f64>, lhs: &Mat<f64>, rhs: &Mat<f64>, par: Par) {
    faer::linalg::matmul::matmul(
        dst.as_mut(),
        Accum::Replace,
        lhs.as_ref(),
        rhs.as_ref().transpose(),
        1.0,
        par,
    );
}
