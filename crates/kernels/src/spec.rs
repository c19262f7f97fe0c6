//! [`KernelSpec`]: the serialisable choice of a kernel (configs, checkpoints).

use serde::{Deserialize, Serialize};

use crate::validate::check_param;
use crate::{
    ArcCosine1, Gaussian, InverseMultiquadric, Kernel, KernelError, Laplace, Linear, Matern32,
    Matern52, SpectralMeasure,
};

/// A serialisable choice of kernel, tagged by `kind`:
/// `{"kind": "gaussian", "sigma": 1.0}`, `{"kind": "arc_cosine1"}`, ….
///
/// ```
/// use plres_kernels::{KernelSpec, Kernel};
/// let k = KernelSpec::Matern52 { lengthscale: 1.0 }.build().unwrap();
/// assert_eq!(k.name(), "matern52");
/// assert!(KernelSpec::Gaussian { sigma: -1.0 }.build().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KernelSpec {
    /// [`Gaussian`] `exp(−‖x − y‖²/(2σ²))`.
    Gaussian {
        /// Bandwidth `σ > 0`.
        sigma: f64,
    },
    /// [`Laplace`] `exp(−‖x − y‖/ℓ)`.
    Laplace {
        /// Length-scale `ℓ > 0`.
        lengthscale: f64,
    },
    /// [`Matern32`].
    Matern32 {
        /// Length-scale `ℓ > 0`.
        lengthscale: f64,
    },
    /// [`Matern52`].
    Matern52 {
        /// Length-scale `ℓ > 0`.
        lengthscale: f64,
    },
    /// [`InverseMultiquadric`] `(1 + ‖x − y‖²/c²)^{−1/2}`.
    InverseMultiquadric {
        /// Scale `c > 0`.
        c: f64,
    },
    /// [`ArcCosine1`], the limit of random ReLU features.
    ArcCosine1,
    /// [`Linear`] `x·y`.
    Linear,
}

impl KernelSpec {
    /// The kernel this spec describes, with its parameters validated.
    ///
    /// # Errors
    /// [`KernelError::InvalidParameter`] for a non-finite or non-positive parameter.
    pub fn build(&self) -> Result<Box<dyn Kernel>, KernelError> {
        Ok(match *self {
            KernelSpec::Gaussian { sigma } => Box::new(Gaussian::new(sigma)?),
            KernelSpec::Laplace { lengthscale } => Box::new(Laplace::new(lengthscale)?),
            KernelSpec::Matern32 { lengthscale } => Box::new(Matern32::new(lengthscale)?),
            KernelSpec::Matern52 { lengthscale } => Box::new(Matern52::new(lengthscale)?),
            KernelSpec::InverseMultiquadric { c } => Box::new(InverseMultiquadric::new(c)?),
            KernelSpec::ArcCosine1 => Box::new(ArcCosine1),
            KernelSpec::Linear => Box::new(Linear),
        })
    }

    /// Checks the parameters without building.
    ///
    /// # Errors
    /// [`KernelError::InvalidParameter`].
    pub fn validate(&self) -> Result<(), KernelError> {
        match *self {
            KernelSpec::Gaussian { sigma } => check_param("sigma", sigma).map(drop),
            KernelSpec::Laplace { lengthscale }
            | KernelSpec::Matern32 { lengthscale }
            | KernelSpec::Matern52 { lengthscale } => {
                check_param("lengthscale", lengthscale).map(drop)
            }
            KernelSpec::InverseMultiquadric { c } => check_param("c", c).map(drop),
            KernelSpec::ArcCosine1 | KernelSpec::Linear => Ok(()),
        }
    }

    /// The `kind` tag (`"gaussian"`, `"laplace"`, `"matern32"`, `"matern52"`,
    /// `"inverse_multiquadric"`, `"arc_cosine1"`, `"linear"`), equal to [`Kernel::name`].
    pub fn kind(&self) -> &'static str {
        match self {
            KernelSpec::Gaussian { .. } => "gaussian",
            KernelSpec::Laplace { .. } => "laplace",
            KernelSpec::Matern32 { .. } => "matern32",
            KernelSpec::Matern52 { .. } => "matern52",
            KernelSpec::InverseMultiquadric { .. } => "inverse_multiquadric",
            KernelSpec::ArcCosine1 => "arc_cosine1",
            KernelSpec::Linear => "linear",
        }
    }

    /// The spectral measure of the described kernel (see [`Kernel::spectral_measure`]),
    /// without building it. Does not validate the parameters.
    pub fn spectral_measure(&self) -> Option<SpectralMeasure> {
        match *self {
            KernelSpec::Gaussian { sigma } => Some(SpectralMeasure::Gaussian { sigma }),
            KernelSpec::Laplace { lengthscale } => Some(SpectralMeasure::StudentT {
                dof: 1.0,
                lengthscale,
            }),
            KernelSpec::Matern32 { lengthscale } => Some(SpectralMeasure::StudentT {
                dof: 3.0,
                lengthscale,
            }),
            KernelSpec::Matern52 { lengthscale } => Some(SpectralMeasure::StudentT {
                dof: 5.0,
                lengthscale,
            }),
            KernelSpec::InverseMultiquadric { .. }
            | KernelSpec::ArcCosine1
            | KernelSpec::Linear => None,
        }
    }
}

macro_rules! spec_conversions {
    ($ty:ident, $kind:literal, $from:expr, $pat:pat => $build:expr) => {
        impl From<$ty> for KernelSpec {
            fn from(k: $ty) -> Self {
                #[allow(clippy::redundant_closure_call)] // one macro arm for fields and units
                ($from)(k)
            }
        }
        impl TryFrom<KernelSpec> for $ty {
            type Error = KernelError;
            fn try_from(spec: KernelSpec) -> Result<Self, KernelError> {
                match spec {
                    $pat => $build,
                    other => Err(KernelError::WrongKind {
                        expected: $kind,
                        found: other.kind(),
                    }),
                }
            }
        }
    };
}

spec_conversions!(Gaussian, "gaussian", |k: Gaussian| KernelSpec::Gaussian { sigma: k.sigma() },
    KernelSpec::Gaussian { sigma } => Gaussian::new(sigma));
spec_conversions!(Laplace, "laplace", |k: Laplace| KernelSpec::Laplace { lengthscale: k.lengthscale() },
    KernelSpec::Laplace { lengthscale } => Laplace::new(lengthscale));
spec_conversions!(Matern32, "matern32", |k: Matern32| KernelSpec::Matern32 { lengthscale: k.lengthscale() },
    KernelSpec::Matern32 { lengthscale } => Matern32::new(lengthscale));
spec_conversions!(Matern52, "matern52", |k: Matern52| KernelSpec::Matern52 { lengthscale: k.lengthscale() },
    KernelSpec::Matern52 { lengthscale } => Matern52::new(lengthscale));
spec_conversions!(InverseMultiquadric, "inverse_multiquadric",
    |k: InverseMultiquadric| KernelSpec::InverseMultiquadric { c: k.c() },
    KernelSpec::InverseMultiquadric { c } => InverseMultiquadric::new(c));
spec_conversions!(ArcCosine1, "arc_cosine1", |_: ArcCosine1| KernelSpec::ArcCosine1,
    KernelSpec::ArcCosine1 => Ok(ArcCosine1));
spec_conversions!(Linear, "linear", |_: Linear| KernelSpec::Linear,
    KernelSpec::Linear => Ok(Linear));
