//! One LinearResNet training step (forward + adjoint + update) at the sizes.
//!
//! Reference: the bare faer GEMM of the same shapes (the figure the target compares with).

use criterion::{Criterion, criterion_group, criterion_main};
use plres_benches::{gemm_abt, par, seeded_normal};

fn bench(c: &mut Criterion) {
    let (m, k, n) = (1024, 16, 1024);
    let a = seeded_normal(m, k, 1);
    let b = seeded_normal(n, k, 2);
    let mut out = faer::Mat::<f64>::zeros(m, n);
    c.bench_function("resnet_step/reference_gemm_1024x16x1024", |bench| {
        bench.iter(|| gemm_abt(&mut out, &a, &b, par()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
