//! Where the time of `apply` goes (N = 4096, d = 16, p = 2048).
//!
//! `apply_profile MODE REPS` runs one component REPS times; on a shared machine measure
//! CPU time rather than wall time, e.g. `perf stat -e task-clock` (subtract `MODE = setup`):
//! modes `setup`, `gemm`, `apply`, `apply_with_cache`, `cos_pass`, `relu` (one thread) and
//! `gemm2`, `apply2`, `apply_with_cache2` (two threads). Without arguments, prints the
//! minimum wall time of each one-thread component.

#![forbid(unsafe_code)]

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use plres_kernels::KernelSpec;
use plres_rff::{FeatureMap, FourierVariant, RandomFourierFeatures, RandomReluFeatures};
use rand::SeedableRng;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (n, d, p) = (4096, 16, 2048);
    let x = Mat::from_fn(n, d, |i, l| ((i * 31 + l * 7) as f64 * 0.01).sin());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let kernel = KernelSpec::Gaussian { sigma: 4.0 };
    let variant = FourierVariant::CosineWithPhase;
    let rff = RandomFourierFeatures::sample(&kernel, d, p, variant, &mut rng).unwrap();
    let relu = RandomReluFeatures::sample(d, p, &mut rng).unwrap();
    let w = rff.weights().to_owned();
    let b = rff.bias().to_vec();
    let mut phi = Mat::<f64>::zeros(n, p);
    let mut cache = Mat::<f64>::zeros(n, p);
    let seq = rff.clone().with_parallelism(Par::Seq);
    let relu_seq = relu.clone().with_parallelism(Par::Seq);
    let mut run = |mode: &str| match mode {
        "setup" => {}
        "gemm" | "gemm2" => {
            let par = if mode == "gemm" {
                Par::Seq
            } else {
                Par::rayon(2)
            };
            matmul(
                phi.as_mut(),
                Accum::Replace,
                x.as_ref(),
                w.as_ref().transpose(),
                1.0,
                par,
            )
        }
        "apply" => seq.apply_in_place(x.as_ref(), phi.as_mut()),
        "apply2" => rff.apply_in_place(x.as_ref(), phi.as_mut()),
        "apply_with_cache" => seq.apply_with_cache(x.as_ref(), phi.as_mut(), cache.as_mut()),
        "apply_with_cache2" => rff.apply_with_cache(x.as_ref(), phi.as_mut(), cache.as_mut()),
        "relu" => relu_seq.apply_in_place(x.as_ref(), phi.as_mut()),
        "cos_pass" => {
            for j in 0..p {
                let col = phi
                    .as_mut()
                    .col_mut(j)
                    .try_as_col_major_mut()
                    .unwrap()
                    .as_slice_mut();
                plres_rff::trig::shifted_cos_in_place(col, b[j], 0.03);
            }
        }
        other => panic!("unknown mode {other}"),
    };
    if args.len() >= 3 {
        let reps: usize = args[2].parse().unwrap();
        for _ in 0..reps {
            run(&args[1]);
        }
        return;
    }
    for mode in ["gemm", "apply", "apply_with_cache", "cos_pass", "relu"] {
        run(mode);
        let ms = (0..10)
            .map(|_| {
                let t = Instant::now();
                run(mode);
                t.elapsed().as_secs_f64() * 1e3
            })
            .fold(f64::INFINITY, f64::min);
        println!("{mode}: {ms:.2} ms");
    }
}
