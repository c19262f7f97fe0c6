//! The set-up both PL examples share: a small Euler RFF ResNet (Gaussian kernel `σ = 1`,
//! `p = 64` features, `L = 8`, seed 42) and 16 points on a 4×4 grid of spacing `2.5σ`,
//! with targets a smooth deformation of the inputs.

use std::sync::Arc;

use faer::Mat;
use plres_kernels::KernelSpec;
use plres_resnet::{LinearResNet, LinearResNetConfig};
use plres_rff::{FourierVariant, RandomFourierFeatures};
use rand::SeedableRng;

/// The example's network with its inputs `X` (`16×2`) and targets `Y` (`16×2`).
pub type GridProblem = (LinearResNet, Mat<f64>, Mat<f64>);

/// The network, the inputs `X` and the targets `Y`.
pub fn grid_problem() -> Result<GridProblem, Box<dyn std::error::Error>> {
    let (n, d, p, depth) = (16, 2, 64, 8);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let phi = RandomFourierFeatures::sample(
        &KernelSpec::Gaussian { sigma: 1.0 },
        d,
        p,
        FourierVariant::CosineWithPhase,
        &mut rng,
    )?;
    let net = LinearResNet::new(
        Arc::new(phi),
        LinearResNetConfig {
            depth,
            ..Default::default()
        },
    )?;
    let x = Mat::from_fn(n, d, |i, j| {
        2.5 * if j == 0 {
            (i % 4) as f64
        } else {
            (i / 4) as f64
        }
    });
    let y = Mat::from_fn(n, d, |i, j| x[(i, j)] + 0.3 * ((i + 2 * j) as f64).sin());
    Ok((net, x, y))
}
