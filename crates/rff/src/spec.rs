//! [`FeatureSpec`]: the serialisable choice of a feature map (configs, checkpoints).

use faer::Mat;
use plres_kernels::KernelSpec;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::RffError;
use crate::fourier::{FourierVariant, RandomFourierFeatures};
use crate::map::FeatureMap;
use crate::relu::RandomReluFeatures;

/// A feature map without its random weights, tagged by `kind`:
/// `{"kind": "fourier", "kernel": {"kind": "gaussian", "sigma": 1.0}, "variant":
/// "cosine_with_phase"}` or `{"kind": "relu"}`.
///
/// ```
/// use plres_kernels::KernelSpec;
/// use plres_rff::{FeatureSpec, FourierVariant};
/// use rand::SeedableRng;
///
/// let spec = FeatureSpec::Fourier {
///     kernel: KernelSpec::Matern52 { lengthscale: 2.0 },
///     variant: FourierVariant::Paired,
/// };
/// let map = spec.sample(3, 64, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0)).unwrap();
/// assert_eq!((map.input_dim(), map.output_dim()), (3, 64));
/// assert_eq!(map.spec(), spec);
/// assert_eq!(FeatureSpec::Relu.limit_kernel(), KernelSpec::ArcCosine1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeatureSpec {
    /// [`RandomFourierFeatures`] of a stationary kernel.
    Fourier {
        /// The kernel approximated (must have a spectral measure).
        kernel: KernelSpec,
        /// Cosine-with-phase or paired features.
        variant: FourierVariant,
    },
    /// [`RandomReluFeatures`] (limit: the degree-1 arc-cosine kernel).
    Relu,
}

impl FeatureSpec {
    /// The kernel the sampled map approximates.
    pub fn limit_kernel(&self) -> KernelSpec {
        match *self {
            FeatureSpec::Fourier { kernel, .. } => kernel,
            FeatureSpec::Relu => KernelSpec::ArcCosine1,
        }
    }

    /// `"fourier_cosine"`, `"fourier_paired"` or `"relu"` (checkpoint metadata).
    pub fn name(&self) -> &'static str {
        match self {
            FeatureSpec::Fourier {
                variant: FourierVariant::CosineWithPhase,
                ..
            } => "fourier_cosine",
            FeatureSpec::Fourier {
                variant: FourierVariant::Paired,
                ..
            } => "fourier_paired",
            FeatureSpec::Relu => "relu",
        }
    }

    /// Samples a map of this kind with `p` features on `R^d`.
    ///
    /// # Errors
    /// As [`RandomFourierFeatures::sample`] / [`RandomReluFeatures::sample`].
    pub fn sample(
        &self,
        d: usize,
        p: usize,
        rng: &mut impl Rng,
    ) -> Result<Box<dyn FeatureMap>, RffError> {
        Ok(match *self {
            FeatureSpec::Fourier { kernel, variant } => {
                Box::new(RandomFourierFeatures::sample(&kernel, d, p, variant, rng)?)
            }
            FeatureSpec::Relu => Box::new(RandomReluFeatures::sample(d, p, rng)?),
        })
    }

    /// Rebuilds a map of this kind from checkpointed weights and bias.
    ///
    /// # Errors
    /// As [`RandomFourierFeatures::from_parts`] / [`RandomReluFeatures::from_parts`].
    pub fn from_parts(
        &self,
        weights: Mat<f64>,
        bias: Vec<f64>,
    ) -> Result<Box<dyn FeatureMap>, RffError> {
        Ok(match *self {
            FeatureSpec::Fourier { kernel, variant } => Box::new(
                RandomFourierFeatures::from_parts(weights, bias, &kernel, variant)?,
            ),
            FeatureSpec::Relu => Box::new(RandomReluFeatures::from_parts(weights, bias)?),
        })
    }
}
