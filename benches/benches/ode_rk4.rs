//! RK4, 64 steps, batch 4096×16, cheap field: integrator overhead against the field's cost.
//!
//! Reference: the bare faer GEMM of the same shapes (the figure the target compares with).

use criterion::{Criterion, criterion_group, criterion_main};
use plres_benches::{gemm_abt, par, seeded_normal};

fn bench(c: &mut Criterion) {
    let (m, k, n) = (4096, 16, 16);
    let a = seeded_normal(m, k, 1);
    let b = seeded_normal(n, k, 2);
    let mut out = faer::Mat::<f64>::zeros(m, n);
    c.bench_function("ode_rk4/reference_gemm_4096x16x16", |bench| {
        bench.iter(|| gemm_abt(&mut out, &a, &b, par()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
