//! Gaussian Gram matrix (N = 2048, d = 16) against a plain faer matmul of the same shapes.
//!
//! Reference: the bare faer GEMM of the same shapes (the figure the target compares with).

use criterion::{Criterion, criterion_group, criterion_main};
use plres_benches::{gemm_abt, par, seeded_normal};

fn bench(c: &mut Criterion) {
    let (m, k, n) = (2048, 16, 2048);
    let a = seeded_normal(m, k, 1);
    let b = seeded_normal(n, k, 2);
    let mut out = faer::Mat::<f64>::zeros(m, n);
    c.bench_function("kernels_gram/reference_gemm_2048x16x2048", |bench| {
        bench.iter(|| gemm_abt(&mut out, &a, &b, par()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
