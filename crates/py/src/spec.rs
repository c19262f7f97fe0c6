//! Python names of kernels and feature variants, turned into plres' serialisable specs.
//!
//! A kernel is a name and one bandwidth: `"gaussian"` (`σ`), `"laplace"`, `"matern32"`,
//! `"matern52"` (length-scale `ℓ`), `"inverse_multiquadric"` (`c`), and the
//! parameter-free `"arc_cosine1"` and `"linear"` (bandwidth ignored).

use plres_kernels::KernelSpec;
use plres_rff::FourierVariant;
use pyo3::PyResult;

use crate::arrays::value_error;

/// The kernel names accepted everywhere, in the order of the error message.
pub(crate) const KERNELS: &str =
    "gaussian, laplace, matern32, matern52, inverse_multiquadric, arc_cosine1, linear";

/// `KernelSpec` of `(name, bandwidth)`, its parameter validated by plres-kernels.
///
/// # Errors
/// `ValueError` for an unknown name or an invalid bandwidth (the Rust message).
pub(crate) fn kernel(name: &str, bandwidth: f64) -> PyResult<KernelSpec> {
    let spec = match name {
        "gaussian" => KernelSpec::Gaussian { sigma: bandwidth },
        "laplace" => KernelSpec::Laplace {
            lengthscale: bandwidth,
        },
        "matern32" => KernelSpec::Matern32 {
            lengthscale: bandwidth,
        },
        "matern52" => KernelSpec::Matern52 {
            lengthscale: bandwidth,
        },
        "inverse_multiquadric" => KernelSpec::InverseMultiquadric { c: bandwidth },
        "arc_cosine1" => KernelSpec::ArcCosine1,
        "linear" => KernelSpec::Linear,
        other => {
            return Err(value_error(format!(
                "kernel: unknown kernel {other:?}; expected one of {KERNELS}"
            )));
        }
    };
    spec.validate().map_err(crate::arrays::to_py)?;
    Ok(spec)
}

/// `FourierVariant` of `"cosine_with_phase"` or `"paired"`.
///
/// # Errors
/// `ValueError` for another name.
pub(crate) fn variant(name: &str) -> PyResult<FourierVariant> {
    match name {
        "cosine_with_phase" => Ok(FourierVariant::CosineWithPhase),
        "paired" => Ok(FourierVariant::Paired),
        other => Err(value_error(format!(
            "variant: unknown Fourier variant {other:?}; expected \"cosine_with_phase\" or \"paired\""
        ))),
    }
}
