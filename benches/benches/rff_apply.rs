//! RFF apply (N = 4096, d = 16, p = 2048) against the bare GEMM X·Ωᵀ, and the throughput
//! of plres's vectorised sincos.
//!
//! * `rff_apply/reference_gemm_4096x16x2048` — the bare faer GEMM `X Ωᵀ` (N×p output),
//!   two threads: the figure the target compares with (`apply` ≤ 1.5 × this).
//! * `rff_apply/apply_cosine_4096x16x2048` — `RandomFourierFeatures::apply_in_place`
//!   (Gaussian kernel, `√(2/p) cos(XΩᵀ + b)`): blocked GEMM + vectorised cosine.
//! * `rff_apply/apply_with_cache_cosine_4096x16x2048` — the training forward pass: Φ and
//!   the cache `−√(2/p) sin(XΩᵀ + b)` from one range reduction.
//! * `rff_apply/apply_relu_4096x16x2048` — `RandomReluFeatures::apply_in_place`.
//! * `trig/sincos_vectorised` and `trig/sincos_libm` — elements per second of
//!   `plres_rff::trig::sincos` (runtime-dispatched SIMD) and of `f64::sin_cos`, one
//!   thread, 16 384 arguments in `[−50, 50]` (in cache): "plres's measured vectorised
//!   sincos rate".
//!
//! Run: `cargo bench -p plres-benches --bench rff_apply`.

#![forbid(unsafe_code)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use plres_benches::{cosine_features, gemm_abt, par, seeded_normal};
use plres_kernels::KernelSpec;
use plres_rff::{FeatureMap, RandomReluFeatures};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn bench_apply(c: &mut Criterion) {
    let (m, k, n) = (4096, 16, 2048);
    let a = seeded_normal(m, k, 1);
    let b = seeded_normal(n, k, 2);
    let mut out = faer::Mat::<f64>::zeros(m, n);
    let mut group = c.benchmark_group("rff_apply");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(4));
    group.bench_function("reference_gemm_4096x16x2048", |bench| {
        bench.iter(|| gemm_abt(&mut out, &a, &b, par()))
    });

    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let rff = cosine_features(&KernelSpec::Gaussian { sigma: 4.0 }, k, n, &mut rng)
        .expect("valid configuration")
        .with_parallelism(par());
    group.bench_function("apply_cosine_4096x16x2048", |bench| {
        bench.iter(|| rff.apply_in_place(a.as_ref(), out.as_mut()))
    });
    let mut cache = faer::Mat::<f64>::zeros(m, n);
    group.bench_function("apply_with_cache_cosine_4096x16x2048", |bench| {
        bench.iter(|| rff.apply_with_cache(a.as_ref(), out.as_mut(), cache.as_mut()))
    });
    let relu = RandomReluFeatures::sample(k, n, &mut rng)
        .expect("valid configuration")
        .with_parallelism(par());
    group.bench_function("apply_relu_4096x16x2048", |bench| {
        bench.iter(|| relu.apply_in_place(a.as_ref(), out.as_mut()))
    });
    group.finish();
}

fn bench_sincos(c: &mut Criterion) {
    let len = 16_384;
    let x: Vec<f64> = seeded_normal(len, 1, 4)
        .col(0)
        .iter()
        .map(|v| 50.0 * v.tanh())
        .collect();
    let (mut s, mut co) = (vec![0.0; len], vec![0.0; len]);
    let mut group = common::sincos_group(c, "trig", len);
    group.bench_function("sincos_vectorised", |bench| {
        bench.iter(|| plres_rff::trig::sincos(black_box(&x), &mut s, &mut co))
    });
    group.bench_function("sincos_libm", |bench| {
        bench.iter(|| {
            for ((xi, si), ci) in black_box(&x).iter().zip(s.iter_mut()).zip(co.iter_mut()) {
                (*si, *ci) = xi.sin_cos();
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_apply, bench_sincos);
criterion_main!(benches);
