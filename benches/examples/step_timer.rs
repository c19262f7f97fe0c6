//! Times plres's float64 training step of the RFF ResNet and measures the machine's
//! limits; the plres side of `cargo xtask bench-peer` (issue 9, `benches/README.md`).
//!
//! The model (docs/theory.md §3.2, §4): `Φ_k = √(2/p) cos(X_k Ωᵀ + b)`, `X_{k+1} = X_k + h Φ_k U_kᵀ`
//! (forward Euler, `h = 1/L`), loss `(1/(2N))‖X_L − Y‖_F²`, one step = forward + adjoint
//! + Euclidean SGD update `U ← U − lr ∂L/∂U` (what a deep-learning framework does; lr 0.1).
//!
//! The problem of a size `(N, d, p, L)` and a seed is drawn from one
//! `ChaCha8Rng::seed_from_u64(seed)` stream, in this order: `Ω` (`p×d`, rows
//! `ω_j ~ N(0, I_d)`, Gaussian kernel σ = 1) and `b_j ~ U[0, 2π)` interleaved as
//! `RandomFourierFeatures::sample` draws them; then `X` (`N×d`, row by row) with iid
//! `N(0, 1)` entries; then `U` (`[L, d, p]`, row-major) with iid `N(0, 0.1²)` entries;
//! and `Y = X + ½ sin(2X)`.
//!
//! ```text
//! step_timer write   --size N,d,p,L [--seed S] --out FILE
//!     writes the problem in the peer format (plres_benches::peer): features.omega [p,d], features.bias [p],
//!     residual.u [L,d,p], data.x [N,d], data.y [N,d] (the PyTorch side reads this file)
//! step_timer time    (--size N,d,p,L [--seed S] | --input FILE) [--steps K] [--warmup W] [--lr LR]
//!     times K steps after W warm-up steps; prints one JSON object (per-step ms, losses,
//!     peak resident memory before and after the workspace exists). `--steps 0` only builds
//!     the problem and the model: the memory baseline.
//! step_timer machine [--gemm-reps R]
//!     faer GEMM rate (2048³, Par::rayon(2)) and plres's vectorised sincos rate (both
//!     cores and one), as JSON.
//! ```
//!
//! Build and run: `cargo run --release -p plres-benches --example step_timer -- time --size 1024,16,1024,32`.

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use plres_benches::{PeerProblem, cosine_features};
use plres_kernels::KernelSpec;
use plres_resnet::{Init, Integrator, LinearResNet, LinearResNetConfig, TargetsRef, Trainable};
use plres_theory::stats::median;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, StandardNormal};
use serde_json::json;

type Result<T> = std::result::Result<T, String>;

/// The kernel whose spectral measure the frequencies are drawn from (σ = 1).
const KERNEL: KernelSpec = KernelSpec::Gaussian { sigma: 1.0 };
/// Standard deviation of the initial `U` entries.
const U_STD: f64 = 0.1;

/// A benchmark size `(N, d, p, L)`.
#[derive(Clone, Copy, Debug)]
struct Size {
    n: usize,
    d: usize,
    p: usize,
    l: usize,
}

impl Size {
    fn parse(s: &str) -> Result<Self> {
        let v: Vec<usize> = s
            .split([',', 'x'])
            .map(|t| t.trim().parse::<usize>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| format!("size `{s}`: {e} (expected N,d,p,L)"))?;
        match v[..] {
            [n, d, p, l] if n > 0 && d > 0 && p > 0 && l > 0 => Ok(Self { n, d, p, l }),
            _ => Err(format!(
                "size `{s}`: expected four positive integers N,d,p,L"
            )),
        }
    }
}

/// One benchmark problem: the peer's problem (network with its initial `U`, data) and its
/// size.
struct Problem {
    size: Size,
    peer: PeerProblem,
}

impl Problem {
    /// The seeded problem (module docs give the order of the draws).
    fn generate(size: Size, seed: u64) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let features =
            cosine_features(&KERNEL, size.d, size.p, &mut rng).map_err(|e| e.to_string())?;
        let mut x = Mat::<f64>::zeros(size.n, size.d);
        for i in 0..size.n {
            for j in 0..size.d {
                x[(i, j)] = StandardNormal.sample(&mut rng);
            }
        }
        let normal = Normal::new(0.0, U_STD).expect("finite positive std");
        let u: Vec<f64> = (0..size.l * size.d * size.p)
            .map(|_| normal.sample(&mut rng))
            .collect();
        let y = Mat::from_fn(size.n, size.d, |i, j| {
            let xij: f64 = x[(i, j)];
            xij + 0.5 * (2.0 * xij).sin()
        });
        let config = LinearResNetConfig {
            depth: size.l,
            integrator: Integrator::Euler,
            init: Init::Zero,
        };
        let mut model = LinearResNet::new(Arc::new(features), config).map_err(|e| e.to_string())?;
        model.set_params(&u).map_err(|e| e.to_string())?;
        Ok(Self {
            size,
            peer: PeerProblem { model, x, y },
        })
    }

    /// Writes the problem in the peer's format ([`PeerProblem::save`]).
    fn write(&self, path: &Path) -> Result<()> {
        self.peer
            .save(path)
            .map_err(|e| format!("writing {}: {e}", path.display()))
    }

    /// Reads a problem in the peer's format ([`PeerProblem::load`]).
    fn read(path: &Path) -> Result<Self> {
        let peer = PeerProblem::load(path, KERNEL).map_err(|e| e.to_string())?;
        let m = &peer.model;
        let size = Size {
            n: peer.x.nrows(),
            d: m.dim(),
            p: m.width(),
            l: m.depth(),
        };
        Ok(Self { size, peer })
    }
}

/// Peak resident set size of this process so far (`VmHWM`, Linux), in bytes.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Times `steps` training steps after `warmup` (module docs); prints one JSON object.
fn time(problem: Problem, steps: usize, warmup: usize, lr: f64) -> Result<()> {
    let Size { n, d, p, l } = problem.size;
    let PeerProblem { model: net, x, y } = problem.peer;
    let mut u = net.params().to_vec();
    // written, not only allocated: a zeroed allocation is not resident until first touched,
    // and the gradient's pages would otherwise count as memory of the step
    let mut grad = vec![1.0; net.n_params()];
    // baseline: data, features, parameters and gradient exist, the workspace does not
    let rss_baseline = peak_rss_bytes();
    let mut losses = Vec::with_capacity(warmup + steps);
    let mut step_ms = Vec::with_capacity(steps);
    if steps > 0 {
        let mut ws = net.training_workspace(n);
        for s in 0..warmup + steps {
            let t0 = Instant::now();
            let loss = net
                .loss_and_gradient(
                    &u,
                    &mut ws,
                    x.as_ref(),
                    TargetsRef::Regression(y.as_ref()),
                    &mut grad,
                )
                .map_err(|e| e.to_string())?;
            for (ui, gi) in u.iter_mut().zip(&grad) {
                *ui -= lr * gi;
            }
            let dt = t0.elapsed().as_secs_f64() * 1e3;
            losses.push(loss);
            if s >= warmup {
                step_ms.push(dt);
            }
        }
    }
    let rss_peak = peak_rss_bytes();
    let (min, max) = step_ms
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &t| {
            (a.min(t), b.max(t))
        });
    let out = json!({
        "impl": "plres",
        "size": {"n": n, "d": d, "p": p, "l": l},
        "warmup": warmup,
        "lr": lr,
        "step_ms": step_ms,
        "median_ms": if step_ms.is_empty() { None } else { Some(median(&step_ms)) },
        "min_ms": if step_ms.is_empty() { None } else { Some(min) },
        "max_ms": if step_ms.is_empty() { None } else { Some(max) },
        "losses": losses,
        // what the backward pass must keep: the states X_0..X_L (features are recomputed)
        "kept_bytes": (l + 1) * n * d * 8,
        "rss_baseline_bytes": rss_baseline,
        "rss_peak_bytes": rss_peak,
    });
    println!("{out}");
    Ok(())
}

/// Median and best GFLOP/s of faer's `C = A·B`, 2048×2048 operands, `Par::rayon(2)`.
fn gemm_rate(reps: usize) -> (f64, f64) {
    let n = 2048;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut normal = || -> f64 { StandardNormal.sample(&mut rng) };
    let a = Mat::from_fn(n, n, |_, _| normal());
    let b = Mat::from_fn(n, n, |_, _| normal());
    let mut c = Mat::<f64>::zeros(n, n);
    let flops = 2.0 * (n as f64).powi(3);
    let mut rates = Vec::with_capacity(reps);
    for rep in 0..=reps {
        let t0 = Instant::now();
        matmul(
            c.as_mut(),
            Accum::Replace,
            a.as_ref(),
            b.as_ref(),
            1.0,
            Par::rayon(2),
        );
        let dt = t0.elapsed().as_secs_f64();
        if rep > 0 {
            rates.push(flops / dt * 1e-9);
        }
    }
    (median(&rates), rates.iter().copied().fold(0.0, f64::max))
}

/// Median elements/s (one element = `sin x` and `cos x` of one argument) of
/// `plres_rff::trig::sincos` on `threads` (1 or 2) cores, each on its own 16 384
/// arguments in `[−16, 16]` (in L2), 9 measurements of `inner` passes.
fn sincos_rate(threads: usize) -> f64 {
    const LEN: usize = 16_384;
    let inner = 400;
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut args = || -> Vec<f64> {
        (0..LEN)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut rng);
                16.0 * z.tanh()
            })
            .collect::<Vec<f64>>()
    };
    let x = [args(), args()];
    let mut s = [vec![0.0; LEN], vec![0.0; LEN]];
    let mut c = [vec![0.0; LEN], vec![0.0; LEN]];
    let run = |x: &[f64], s: &mut [f64], c: &mut [f64]| {
        for _ in 0..inner {
            plres_rff::trig::sincos(std::hint::black_box(x), s, c);
        }
    };
    let mut rates = Vec::new();
    for rep in 0..10 {
        let t0 = Instant::now();
        let [s0, s1] = &mut s;
        let [c0, c1] = &mut c;
        if threads >= 2 {
            faer::utils::thread::join_raw(
                |_| run(&x[0], s0, c0),
                |_| run(&x[1], s1, c1),
                Par::rayon(2),
            );
        } else {
            run(&x[0], s0, c0);
        }
        let dt = t0.elapsed().as_secs_f64();
        if rep > 0 {
            rates.push((threads.min(2) * LEN * inner) as f64 / dt);
        }
    }
    median(&rates)
}

fn machine(gemm_reps: usize) {
    let (gemm_median, gemm_best) = gemm_rate(gemm_reps);
    let trig2 = sincos_rate(2);
    let trig1 = sincos_rate(1);
    let out = json!({
        "gemm_gflops": gemm_median,
        "gemm_gflops_best": gemm_best,
        "gemm": "faer matmul C = A·B, 2048×2048 f64, Par::rayon(2); median of reps",
        "sincos_elems_per_s": trig2,
        "sincos_elems_per_s_1thread": trig1,
        "sincos": "plres_rff::trig::sincos, one element = sin and cos of one argument; both cores",
        "trig_backend": format!("{:?}", plres_rff::trig::Backend::detect()),
    });
    println!("{out}");
}

/// `--name value` pairs after the subcommand.
fn options(args: &[String]) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let key = a
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument `{a}`"))?;
        let value = it
            .next()
            .ok_or_else(|| format!("`--{key}` needs a value"))?;
        out.insert(key.to_string(), value.clone());
    }
    Ok(out)
}

fn parse<T: std::str::FromStr>(opts: &HashMap<String, String>, key: &str, default: T) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    match opts.get(key) {
        Some(v) => v.parse().map_err(|e| format!("--{key} {v}: {e}")),
        None => Ok(default),
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: step_timer write --size N,d,p,L [--seed S] --out FILE\n       \
                 step_timer time (--size N,d,p,L [--seed S] | --input FILE) [--steps K] [--warmup W] [--lr LR]\n       \
                 step_timer machine [--gemm-reps R]";
    let Some(cmd) = args.first() else {
        return Err(usage.to_string());
    };
    let opts = options(&args[1..])?;
    let seed: u64 = parse(&opts, "seed", 0)?;
    let size = opts.get("size").map(|s| Size::parse(s)).transpose()?;
    match cmd.as_str() {
        "write" => {
            let size = size.ok_or("write needs --size")?;
            let out = opts.get("out").ok_or("write needs --out FILE")?;
            Problem::generate(size, seed)?.write(Path::new(out))
        }
        "time" => {
            let problem = match (opts.get("input"), size) {
                (Some(path), None) => Problem::read(Path::new(path))?,
                (None, Some(size)) => Problem::generate(size, seed)?,
                _ => return Err("time needs exactly one of --input FILE and --size N,d,p,L".into()),
            };
            time(
                problem,
                parse(&opts, "steps", 5)?,
                parse(&opts, "warmup", 2)?,
                parse(&opts, "lr", 0.1)?,
            )
        }
        "machine" => {
            machine(parse(&opts, "gemm-reps", 5)?);
            Ok(())
        }
        "-h" | "--help" => {
            println!("{usage}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n{usage}")),
    }
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("step_timer: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
