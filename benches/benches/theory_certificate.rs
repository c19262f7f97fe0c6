//! The PL certificate at N = 256, d = 16, p = 1024, L = 16 beside one training step of
//! the same size (issue 9): the certificate every 10 iterates must cost less than the
//! 10 training steps it monitors, i.e. `certificate < 10 × training_step`.
//!
//! * `certificate`: `LinearCertifier::certify`, what `pl::Monitor` spends at a certified
//!   full-batch iterate (`L` and `∂L/∂θ` come from the optimizer): per layer `Φ_k` with
//!   its vjp cache, the Gram `Φ_kΦ_kᵀ` (triangular GEMM), `λ_min` (symmetric QR), the
//!   `N` Jacobians `U_k Dφ(x_i)` (one `(N×p)·(p×d²)` GEMM) and their operator norms
//!   `a_k`, the Euler update to the next layer; then `μ_cert`.
//! * `full_evaluation`: `LinearCertifier::evaluate` — its own forward/backward pass and
//!   the adjoint-based checks of docs/theory.md §5 items 1–3 on top of the certificate.
//! * `training_step`: `loss_and_gradient` of the training problem plus the metric GD
//!   update `θ ← θ − ηG` (what a GD iteration does).
//! * `reference_gemm_256x1024x256`: the bare faer GEMM of one layer's Gram, the floor
//!   of the certificate's dominant products.
//!
//! Run: `cargo bench -p plres-benches --bench theory_certificate`.

#![forbid(unsafe_code)]

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use plres_benches::{cosine_features, gemm_abt, par, seeded_normal};
use plres_kernels::KernelSpec;
use plres_optim::Problem;
use plres_resnet::Trainable as _;
use plres_resnet::{Init, LinearResNet, LinearResNetConfig, TargetsRef, TrainingProblem};
use plres_theory::pl::LinearCertifier;
use rand::SeedableRng;

const N: usize = 256;
const D: usize = 16;
const P: usize = 1024;
const L: usize = 16;

fn bench(c: &mut Criterion) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let sigma = (D as f64).sqrt();
    let phi =
        cosine_features(&KernelSpec::Gaussian { sigma }, D, P, &mut rng).expect("valid features");
    let net = LinearResNet::new(
        Arc::new(phi),
        LinearResNetConfig {
            depth: L,
            init: Init::Normal {
                std: 0.02,
                seed: 10,
            },
            ..Default::default()
        },
    )
    .expect("valid network");
    let x = seeded_normal(N, D, 1);
    let y = seeded_normal(N, D, 2);
    let theta = net.params().to_vec();

    let mut cert = LinearCertifier::new(&net, N).expect("certifier");
    // warm-up and a sanity check outside the timed loop
    let snap = cert
        .evaluate(&net, &theta, x.as_ref(), y.as_ref())
        .expect("certificate");
    assert!(snap.rho >= snap.mu() * (1.0 - 1e-9), "{snap:?}");
    // what the monitor spends every k iterates: λ_k, a_k and μ_cert, with L and ‖G‖²
    // taken from the optimizer's iterate
    let (loss, gns) = (snap.loss, snap.grad_norm_sq);
    c.bench_function("theory_certificate/certificate_N256_d16_p1024_L16", |b| {
        b.iter(|| {
            cert.certify(&net, &theta, x.as_ref(), loss, gns)
                .expect("certificate")
                .mu()
        })
    });
    // the full evaluation: own forward/backward pass plus the checks of items 1–3
    c.bench_function(
        "theory_certificate/full_evaluation_N256_d16_p1024_L16",
        |b| {
            b.iter(|| {
                cert.evaluate(&net, &theta, x.as_ref(), y.as_ref())
                    .expect("evaluation")
                    .mu()
            })
        },
    );

    let metric = net.metric();
    let mut problem =
        TrainingProblem::new(net, x.as_ref(), TargetsRef::Regression(y.as_ref())).expect("problem");
    let mut params = theta.clone();
    let mut grad = vec![0.0; params.len()];
    let eta = 1e-3;
    c.bench_function("theory_certificate/training_step_N256_d16_p1024_L16", |b| {
        b.iter(|| {
            let loss = problem
                .loss_and_gradient(&params, &mut grad)
                .expect("gradient");
            metric.riesz_in_place(&mut grad);
            for (t, g) in params.iter_mut().zip(&grad) {
                *t -= eta * g;
            }
            loss
        })
    });

    let (m, k, n) = (N, P, N);
    let a = seeded_normal(m, k, 1);
    let bm = seeded_normal(n, k, 2);
    let mut out = faer::Mat::<f64>::zeros(m, n);
    c.bench_function("theory_certificate/reference_gemm_256x1024x256", |bench| {
        bench.iter(|| gemm_abt(&mut out, &a, &bm, par()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
