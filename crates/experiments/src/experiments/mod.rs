//! The seven experiments of the study (issue 8), one module each, and what they share.
//!
//! | name | module | what it shows |
//! |---|---|---|
//! | `pl-certificate` | [`pl_certificate`] | the local PL inequality along training |
//! | `width` | [`width`] | the expressivity transition at `p = N` |
//! | `depth` | [`depth`] | the `L²`-metric depth limit and integrator orders |
//! | `width-limit` | [`width_limit`] | RFF ResNet → kernel ResNet at rate `p^{−1/2}` |
//! | `rff-bound` | [`rff_bound`] | failure probability of RFF against both bounds |
//! | `linear-vs-nonlinear` | [`linear_vs_nonlinear`] | LinearResNet vs ShlResNet on digits |
//! | `lazy` | [`lazy`] | distance travelled and Gram drift against width |
//! | `mnist-depth`, `mnist-pretrained`, `mnist-width` | [`mnist`] | the paper's MNIST figures with convolutional ResNets |

pub mod common;
pub mod depth;
pub mod lazy;
pub mod linear_vs_nonlinear;
pub mod mnist;
pub mod pl_certificate;
pub mod rff_bound;
pub mod width;
pub mod width_limit;

pub use depth::{Depth, DepthConfig};
pub use lazy::{Lazy, LazyConfig};
pub use linear_vs_nonlinear::{LinearVsNonlinear, LinearVsNonlinearConfig};
pub use mnist::{MnistDepth, MnistPretrained, MnistWidth};
pub use pl_certificate::{PlCertificate, PlCertificateConfig};
pub use rff_bound::{RffBound, RffBoundConfig};
pub use width::{Width, WidthConfig};
pub use width_limit::{WidthLimit, WidthLimitConfig};
