//! Growth of the kernel ResNet under gradient descent (docs/theory.md §3.4): centres, memory
//! and time per step for the width-limit experiment's size.
//!
//! ```text
//! cargo run -p plres-resnet --example kernel_growth -- [N] [L] [T] [d] [--memory-only]
//! ```
//! (defaults `N = 64, L = 16, T = 500, d = 16`). Prints every 50 steps the loss, the
//! centres per layer, the bytes held by the expansions, the process's peak resident
//! memory (`VmHWM`) and the time of the last step. `--memory-only` performs exactly the
//! appends of `T` steps (`N` centres per layer and step) without evaluating anything:
//! the memory of a `T`-step run in seconds.

#![forbid(unsafe_code)]

use std::time::Instant;

use faer::Mat;
use plres_kernels::KernelSpec;
use plres_resnet::{KernelResNet, TargetsRef};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let memory_only = std::env::args().any(|a| a == "--memory-only");
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|a| a != "--memory-only")
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let arg = |i: usize, default: usize| args.get(i).copied().unwrap_or(default);
    let (n, depth, steps, d) = (arg(0, 64), arg(1, 16), arg(2, 500), arg(3, 16));
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let x: Mat<f64> = Mat::from_fn(n, d, |_, _| StandardNormal.sample(&mut rng));
    let y = Mat::from_fn(n, d, |i, j| x[(i, j)] + 0.5 * (2.0 * x[(i, j)]).sin());
    let mut net = KernelResNet::new(KernelSpec::Gaussian { sigma: 1.0 }, d, depth)?;
    let start = Instant::now();
    println!("N = {n}, L = {depth}, d = {d}, T = {steps}");
    if memory_only {
        let zeros = Mat::<f64>::zeros(n, d);
        for _ in 0..steps {
            for layer in net.layers_mut() {
                layer.append(x.as_ref(), zeros.as_ref())?;
            }
        }
        println!(
            "appends of {steps} steps: {} centres/layer, expansions {:.1} MB, peak RSS {:.1} MB",
            net.n_centres() / depth,
            net.memory_bytes() as f64 / 1e6,
            peak_rss_kib().unwrap_or(0) as f64 / 1024.0
        );
        return Ok(());
    }
    println!("step  loss        centres/layer  expansion MB  peak RSS MB  step s  total s");
    for t in 1..=steps {
        let t0 = Instant::now();
        let r = net.gd_step(x.as_ref(), TargetsRef::Regression(y.as_ref()), 0.5)?;
        let dt = t0.elapsed().as_secs_f64();
        if t % 50 == 0 || t == 1 || t == steps {
            println!(
                "{t:4}  {:.4e}  {:13}  {:12.1}  {:11.1}  {dt:6.3}  {:7.1}",
                r.loss,
                r.n_centres / depth,
                r.memory_bytes as f64 / 1e6,
                peak_rss_kib().unwrap_or(0) as f64 / 1024.0,
                start.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}
