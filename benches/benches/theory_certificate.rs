//! The PL certificate (all layers' λ_min) at N = 256, d = 16, p = 1024, L = 16.
//!
//! Reference: the bare faer GEMM of the same shapes (the figure the target compares with).

use criterion::{Criterion, criterion_group, criterion_main};
use plres_benches::{gemm_abt, par, seeded_normal};

fn bench(c: &mut Criterion) {
    let (m, k, n) = (256, 1024, 256);
    let a = seeded_normal(m, k, 1);
    let b = seeded_normal(n, k, 2);
    let mut out = faer::Mat::<f64>::zeros(m, n);
    c.bench_function("theory_certificate/reference_gemm_256x1024x256", |bench| {
        bench.iter(|| gemm_abt(&mut out, &a, &b, par()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
