//! One KernelResNet gradient step (exact kernel, growing expansion) at the size of the
//! width-limit experiment.
//!
//! * `kernel_resnet_step/gd_step_N=64,d=16,L=16,T=100` — `KernelResNet::gd_step` (forward
//!   through `L` kernel expansions, adjoint with their vjps, `‖G‖²` from the `N×N` Grams,
//!   appending `N` centres per layer) from a network that has already taken `T = 100`
//!   steps, i.e. `m = T·N = 6400` centres per layer. Gaussian kernel `σ = 1`,
//!   `X ~ N(0,1)`, `Y = X + ½ sin 2X`, `η = 0.5`. Each measured step starts from a clone
//!   of that network (cloning is outside the timed routine). The cost of a step grows
//!   linearly in `T` (`O(T·N²·L·d)`), so step `t` of a run costs about `t/100` of this.
//! * `kernel_resnet_step/reference_cross_gram_64x6400x16` — one Gaussian cross Gram
//!   `K(X, C)` of the layer shape, the kernel work a layer performs about three times per
//!   step (value, vjp) besides the GEMMs.
//!
//! Run: `cargo bench -p plres-benches --bench kernel_resnet_step`.

#![forbid(unsafe_code)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use faer::Mat;
use plres_benches::seeded_normal;
use plres_kernels::{Gaussian, Kernel, KernelSpec};
use plres_resnet::{KernelResNet, TargetsRef};

const N: usize = 64;
const D: usize = 16;
const L: usize = 16;
const T: usize = 100;
const ETA: f64 = 0.5;

fn bench(c: &mut Criterion) {
    let x = seeded_normal(N, D, 1);
    let y = Mat::from_fn(N, D, |i, j| x[(i, j)] + 0.5 * (2.0 * x[(i, j)]).sin());
    let t = TargetsRef::Regression(y.as_ref());
    let mut net = KernelResNet::new(KernelSpec::Gaussian { sigma: 1.0 }, D, L).expect("valid");
    for _ in 0..T {
        net.gd_step(x.as_ref(), t, ETA).expect("valid data");
    }
    let mut group = c.benchmark_group("kernel_resnet_step");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function(format!("gd_step_N={N},d={D},L={L},T={T}"), |bench| {
        bench.iter_batched(
            || net.clone(),
            |mut m| black_box(m.gd_step(x.as_ref(), t, ETA).expect("valid data")),
            BatchSize::LargeInput,
        )
    });
    let centres = seeded_normal(T * N, D, 2);
    let k = Gaussian::new(1.0).expect("valid");
    let mut out = Mat::<f64>::zeros(N, T * N);
    group.bench_function(format!("reference_cross_gram_{N}x{}x{D}", T * N), |bench| {
        bench.iter(|| k.cross_gram_in_place(x.as_ref(), centres.as_ref(), out.as_mut()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
