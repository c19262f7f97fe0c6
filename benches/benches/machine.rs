//! The machine's limits: the rates the training-step floor of `cargo xtask bench-peer`
//! is built from (issue 9; `benches/README.md`).
//!
//! * `machine/gemm_2048_f64_par2` — faer's `C = A·B` on 2048×2048 operands, float64,
//!   `Par::rayon(2)`. Throughput is in "elements" = flops (`2·2048³` per product), so
//!   criterion's `elem/s` is the GEMM rate in flop/s.
//! * `machine/sincos_f64_1thread` — `plres_rff::trig::sincos` (runtime-dispatched SIMD)
//!   on 16 384 arguments in `[−16, 16]` (in L2), one thread. One element = `sin x` and
//!   `cos x` of one argument.
//! * `machine/sincos_f64_2threads` — the same on both cores at once (each core its own
//!   16 384 arguments, split with faer's `join_raw`): the sincos rate the floor uses.
//! * `machine/copy_64MiB` — `copy_from_slice` of 64 MiB (out of cache): main-memory
//!   bandwidth, `Throughput::Bytes` counting the bytes read plus written.
//!
//! The step timer (`cargo run --release -p plres-benches --example step_timer -- machine`)
//! measures the same GEMM and sincos rates with plain timers for `cargo xtask bench-peer`.
//!
//! Run: `cargo bench -p plres-benches --bench machine`.

#![forbid(unsafe_code)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use plres_benches::seeded_normal;

/// Side of the square GEMM.
const GEMM_N: usize = 2048;
/// Arguments per thread of the sincos rate (3 arrays × 128 KiB: in L2).
const TRIG_LEN: usize = 16_384;
/// Bytes of the source (and of the destination) of the bandwidth measurement.
const COPY_BYTES: usize = 64 << 20;

fn bench_gemm(c: &mut Criterion) {
    let a = seeded_normal(GEMM_N, GEMM_N, 1);
    let b = seeded_normal(GEMM_N, GEMM_N, 2);
    let mut out = Mat::<f64>::zeros(GEMM_N, GEMM_N);
    let mut group = c.benchmark_group("machine");
    // one product takes ~0.2 s: flat sampling, few samples
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Elements(2 * (GEMM_N as u64).pow(3)));
    group.bench_function("gemm_2048_f64_par2", |bench| {
        bench.iter(|| {
            matmul(
                out.as_mut(),
                Accum::Replace,
                a.as_ref(),
                b.as_ref(),
                1.0,
                Par::rayon(2),
            )
        })
    });
    group.finish();
}

/// `TRIG_LEN` arguments in `[−16, 16]` (the range of `ω·x + b` in the benchmark problems).
fn trig_args(seed: u64) -> Vec<f64> {
    seeded_normal(TRIG_LEN, 1, seed)
        .col(0)
        .iter()
        .map(|v| 16.0 * v.tanh())
        .collect()
}

fn bench_sincos(c: &mut Criterion) {
    let x = [trig_args(3), trig_args(4)];
    let mut s = [vec![0.0; TRIG_LEN], vec![0.0; TRIG_LEN]];
    let mut co = [vec![0.0; TRIG_LEN], vec![0.0; TRIG_LEN]];
    let mut group = common::sincos_group(c, "machine", TRIG_LEN);
    group.bench_function("sincos_f64_1thread", |bench| {
        bench.iter(|| plres_rff::trig::sincos(black_box(&x[0]), &mut s[0], &mut co[0]))
    });
    group.throughput(Throughput::Elements(2 * TRIG_LEN as u64));
    group.bench_function("sincos_f64_2threads", |bench| {
        let [s0, s1] = &mut s;
        let [c0, c1] = &mut co;
        let [x0, x1] = &x;
        bench.iter(|| {
            faer::utils::thread::join_raw(
                |_| plres_rff::trig::sincos(black_box(x0), s0, c0),
                |_| plres_rff::trig::sincos(black_box(x1), s1, c1),
                Par::rayon(2),
            )
        })
    });
    group.finish();
}

fn bench_copy(c: &mut Criterion) {
    let src = vec![1.0f64; COPY_BYTES / 8];
    let mut dst = vec![0.0f64; COPY_BYTES / 8];
    let mut group = c.benchmark_group("machine");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Bytes(2 * COPY_BYTES as u64));
    group.bench_function("copy_64MiB", |bench| {
        bench.iter(|| dst.copy_from_slice(black_box(&src)))
    });
    group.finish();
}

criterion_group!(benches, bench_gemm, bench_sincos, bench_copy);
criterion_main!(benches);
