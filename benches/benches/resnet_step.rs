//! One LinearResNet training step (forward + adjoint + update) at the sizes,
//! the workload of the PyTorch/JAX peer (`benches/peer/torch_step.py`, docs/theory.md §8).
//!
//! * `resnet_step/step_N=…` — `Trainable::loss_and_gradient` of a `LinearResNet` in a warm
//!   `training_workspace` (the tiled Euler step of plres-resnet's crate-private `linear/fused.rs`: states
//!   kept, `Φ_k` recomputed tile by tile in the backward pass; adjoint, `∂L/∂U`) followed by
//!   the SGD update `U ← U − 0.1 ∂L/∂U` the peer times. Problem as the peer's
//!   `make_problem`: Gaussian RFF `σ = 1` (`√(2/p) cos(XΩᵀ + b)`), `X ~ N(0,1)`,
//!   `Y = X + ½ sin 2X`, `U ~ N(0, 0.1²)`, squared loss. Sizes `(N, d, p, L)` =
//!   `(1024, 16, 1024, 32)`, `(512, 64, 4096, 16)` and `(4096, 8, 256, 64)`.
//! * `resnet_step/gemm_N=…` — one bare faer GEMM `X Ωᵀ` of the layer shape (`N×d` by
//!   `d×p`, two threads): a step performs 5 GEMMs of this size per layer (2 forward,
//!   3 backward, `10·N·d·p·L` flop) plus `2·N·p·L` sin/cos, so `5·L·gemm` is the GEMM
//!   floor of a step.
//!
//! Run: `cargo bench -p plres-benches --bench resnet_step`.

#![forbid(unsafe_code)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use faer::Mat;
use plres_benches::{cosine_features, gemm_abt, par, seeded_normal};
use plres_kernels::KernelSpec;
use plres_resnet::Trainable as _;
use plres_resnet::{Init, Integrator, LinearResNet, LinearResNetConfig, TargetsRef};
use plres_rff::FeatureMap;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// `(N, d, p, L)` of the issue (the peer's three sizes).
const SIZES: [(usize, usize, usize, usize); 3] = [
    (1024, 16, 1024, 32),
    (512, 64, 4096, 16),
    (4096, 8, 256, 64),
];

/// The peer's learning rate.
const LR: f64 = 0.1;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("resnet_step");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    for (n, d, p, depth) in SIZES {
        let label = format!("N={n},d={d},p={p},L={depth}");
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let features = cosine_features(&KernelSpec::Gaussian { sigma: 1.0 }, d, p, &mut rng)
            .expect("valid configuration")
            .with_parallelism(par());
        let omega = features.weights().to_owned();
        let mut net = LinearResNet::new(
            Arc::new(features),
            LinearResNetConfig {
                depth,
                integrator: Integrator::Euler,
                init: Init::Normal { std: 0.1, seed: 1 },
            },
        )
        .expect("valid configuration");
        let x = seeded_normal(n, d, 2);
        let y = Mat::from_fn(n, d, |i, j| x[(i, j)] + 0.5 * (2.0 * x[(i, j)]).sin());
        let mut ws = net.training_workspace(n);
        let mut grad = vec![0.0; net.n_params()];
        group.bench_function(format!("step_{label}"), |bench| {
            bench.iter(|| {
                let loss = net
                    .loss_and_gradient(
                        net.params(),
                        &mut ws,
                        x.as_ref(),
                        TargetsRef::Regression(y.as_ref()),
                        &mut grad,
                    )
                    .expect("valid data");
                for (u, g) in net.params_mut().iter_mut().zip(&grad) {
                    *u -= LR * g;
                }
                black_box(loss)
            })
        });
        drop(ws);
        let mut out = Mat::<f64>::zeros(n, p);
        group.bench_function(format!("gemm_{label}"), |bench| {
            bench.iter(|| gemm_abt(&mut out, &x, &omega, par()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
