//! Set-up shared by the conv test binaries (`conv.rs`, `contract.rs`): seeded images and
//! the tiny perturbed model their gradient checks run on.

use plres_conv::{ConvResNet, ConvResNetConfig, ResidualKind};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Pixels of one MNIST image (`28 × 28`).
pub const PIXELS: usize = 784;

/// `n` random images (row-major `n × 784`, pixels in `[0, 1)`) with labels `(3i + 1) mod 10`.
pub fn images(n: usize, seed: u64) -> (Vec<f64>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x: Vec<f64> = (0..n * PIXELS)
        .map(|_| rand::RngExt::random::<f64>(&mut rng))
        .collect();
    let y: Vec<usize> = (0..n).map(|i| (i * 3 + 1) % 10).collect();
    (x, y)
}

/// A tiny model with `θ` perturbed by `0.2 N(0, 1)` (every path of the flow carries
/// gradient).
pub fn tiny(kind: ResidualKind, seed: u64) -> ConvResNet<f64> {
    let cfg = ConvResNetConfig {
        q: 2,
        q_int: 3,
        steps: 2,
        kind,
        seed,
    };
    let mut model = ConvResNet::<f64>::new(cfg).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 10);
    let p: Vec<f64> = model
        .residual
        .params
        .iter()
        .map(|&v| v + 0.2 * Distribution::<f64>::sample(&StandardNormal, &mut rng))
        .collect();
    model.residual.params.copy_from_slice(&p);
    model
}

/// The two residual kinds, each with its [`tiny`] model and `n` [`images`], both drawn
/// with the kind's seed (`seeds[0]` linear, `seeds[1]` SHL): `(kind, model, x, y)`.
pub fn tiny_cases(
    seeds: [u64; 2],
    n: usize,
) -> impl Iterator<Item = (ResidualKind, ConvResNet<f64>, Vec<f64>, Vec<usize>)> {
    [
        (ResidualKind::Linear, seeds[0]),
        (ResidualKind::Shl, seeds[1]),
    ]
    .into_iter()
    .map(move |(kind, seed)| {
        let model = tiny(kind, seed);
        let (x, y) = images(n, seed);
        (kind, model, x, y)
    })
}
