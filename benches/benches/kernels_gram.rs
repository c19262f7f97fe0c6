//! Gaussian Gram matrix (N = 2048, d = 16) against a plain faer matmul of the same shapes.
//!
//! - `kernels_gram/reference_gemm_2048x16x2048/{par2,seq}`: `X Yᵀ` by faer's GEMM, the
//!   reference (`plres_benches::gemm_abt`).
//! - `kernels_gram/gaussian_gram_2048x16/{par2,seq}`: `Gaussian::gram_in_place(X)` —
//!   triangular GEMMs on the diagonal blocks, panelled GEMMs off them, the element-wise
//!   `exp(−(‖x_i‖² + ‖x_j‖² − 2x_i·x_j)/(2σ²))` pass and the mirror into the upper triangle.
//! - `kernels_gram/gaussian_cross_gram_2048x16x2048/{par2,seq}`: `cross_gram_in_place(X, Y)`.
//!
//! Target: the Gram costs at most twice the reference GEMM. `par2` uses both cores
//! (`Par::rayon(2)`, the workspace setting, also set as faer's global parallelism that
//! the kernels crate follows); `seq` one thread. Inputs are seeded normals, outputs
//! preallocated outside the timed loop.

#![forbid(unsafe_code)]

use criterion::{Criterion, criterion_group, criterion_main};
use faer::Par;
use plres_benches::{gemm_abt, par, seeded_normal};
use plres_kernels::{Gaussian, Kernel};

fn bench(c: &mut Criterion) {
    let (n, d) = (2048, 16);
    let x = seeded_normal(n, d, 1);
    let y = seeded_normal(n, d, 2);
    let mut out = faer::Mat::<f64>::zeros(n, n);
    // σ = √d: typical entries of the Gram are O(1), neither all 0 nor all 1.
    let kernel = Gaussian::new((d as f64).sqrt()).unwrap();
    for (tag, p) in [("par2", par()), ("seq", Par::Seq)] {
        faer::set_global_parallelism(p);
        c.bench_function(
            &format!("kernels_gram/reference_gemm_2048x16x2048/{tag}"),
            |b| b.iter(|| gemm_abt(&mut out, &x, &y, p)),
        );
        c.bench_function(&format!("kernels_gram/gaussian_gram_2048x16/{tag}"), |b| {
            b.iter(|| kernel.gram_in_place(x.as_ref(), out.as_mut()))
        });
        c.bench_function(
            &format!("kernels_gram/gaussian_cross_gram_2048x16x2048/{tag}"),
            |b| b.iter(|| kernel.cross_gram_in_place(x.as_ref(), y.as_ref(), out.as_mut())),
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
