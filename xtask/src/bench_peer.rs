//! `cargo xtask bench-peer`: plres's float64 training step side by side with PyTorch eager
//! on the identical problem, and against the machine's floor (issue 9, `benches/README.md`).
//!
//! 1. Builds the step timer (`plres-benches` example `step_timer`, release profile).
//! 2. Measures the machine: faer's GEMM rate (2048³, `Par::rayon(2)`) and plres's
//!    vectorised sincos rate on both cores (`step_timer machine`), before and after the runs.
//! 3. Writes each size's problem once (`step_timer write`, seeded ChaCha8) to a safetensors
//!    file that both sides read.
//! 4. For each round and each size, runs `step_timer time --input FILE` and, with
//!    `--python`, `benches/peer/torch_step.py --input FILE`, in alternating order, so that
//!    drifts of the shared machine hit both alike.
//! 5. Prints one table: per size plres's and PyTorch's step time (median and min–max over
//!    all timed steps of all rounds), their ratio (median over rounds of the per-round
//!    ratio of medians), the floor and its two terms, and plres / floor; then the memory
//!    figures and the loss agreement of the two sides (the same problem gives the same
//!    losses up to rounding).
//!
//! Floor of one step (float64): `10·N·d·p·L / R_gemm + 2·N·p·L / R_sincos`: the GEMM flops
//! of forward (2 products per layer) and backward (3 per layer) at faer's square-GEMM rate,
//! plus the `2·N·p·L` trigonometric evaluations (cos in the forward, sin in the backward)
//! each priced at one sincos element on both cores. The higher of the two machine
//! measurements is used (the tighter floor).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use plres_theory::stats::median;

use crate::peer_run::{build_example, run_json};
use crate::workspace_root;

/// The sizes `(N, d, p, L)`, with plres's target ratio to PyTorch eager.
const DEFAULT_SIZES: [([usize; 4], f64); 3] = [
    ([1024, 16, 1024, 32], 1.0 / 3.0),
    ([512, 64, 4096, 16], 0.6),
    ([4096, 8, 256, 64], 1.0 / 3.0),
];

/// Target of plres's step time over its floor (issue 9).
const FLOOR_TARGET: f64 = 1.5;

/// Relative loss difference under which the two sides count as having run the same problem:
/// the losses are sums of `N·d` squares computed in float64 along different summation
/// orders and with different cosines (≤ 4 ulp apart), so they agree to ~`1e-13` relative;
/// `1e-9` leaves room for the `W + K` SGD updates amplifying the difference.
const LOSS_RTOL: f64 = 1e-9;

struct Options {
    python: Option<PathBuf>,
    sizes: Vec<[usize; 4]>,
    rounds: usize,
    steps: usize,
    warmup: usize,
    seed: u64,
    json: Option<PathBuf>,
}

const USAGE: &str =
    "usage: cargo xtask bench-peer [--python PATH] [--sizes N,d,p,L ...] [--rounds R]
                          [--steps K] [--warmup W] [--seed S] [--json FILE]

  --python PATH   a Python with torch and safetensors (e.g. benches/peer/.venv/bin/python):
                  also time benches/peer/torch_step.py on the same problem
  --sizes ...     one or more N,d,p,L (default: 1024,16,1024,32 512,64,4096,16 4096,8,256,64)
  --rounds R      interleaved rounds (default 3)
  --steps K       timed steps per round and side (default 5)
  --warmup W      untimed steps before them (default 2)
  --seed S        problem seed (default 0)
  --json FILE     also write every measurement as JSON";

fn parse_size(s: &str) -> Result<[usize; 4]> {
    let v: Vec<usize> = s
        .split([',', 'x'])
        .map(|t| t.trim().parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .with_context(|| format!("size `{s}` (expected N,d,p,L)"))?;
    match v[..] {
        [n, d, p, l] if v.iter().all(|&x| x > 0) => Ok([n, d, p, l]),
        _ => bail!("size `{s}`: expected four positive integers N,d,p,L"),
    }
}

fn parse_options(args: &[String]) -> Result<Options> {
    let mut o = Options {
        python: None,
        sizes: Vec::new(),
        rounds: 3,
        steps: 5,
        warmup: 2,
        seed: 0,
        json: None,
    };
    let mut i = 0;
    let value = |i: usize| -> Result<&String> {
        args.get(i + 1)
            .ok_or_else(|| anyhow!("`{}` needs a value\n{USAGE}", args[i]))
    };
    let number = |i: usize| -> Result<usize> {
        let v = value(i)?;
        v.parse()
            .with_context(|| format!("`{} {v}`: not a count", args[i]))
    };
    while i < args.len() {
        match args[i].as_str() {
            "--python" => o.python = Some(PathBuf::from(value(i)?)),
            "--rounds" => o.rounds = number(i)?,
            "--steps" => o.steps = number(i)?,
            "--warmup" => o.warmup = number(i)?,
            "--seed" => o.seed = number(i)? as u64,
            "--json" => o.json = Some(PathBuf::from(value(i)?)),
            "--sizes" => {
                // every following argument up to the next option, each possibly `;`-separated
                let mut j = i + 1;
                while j < args.len() && !args[j].starts_with("--") {
                    for s in args[j].split(';').filter(|s| !s.trim().is_empty()) {
                        o.sizes.push(parse_size(s)?);
                    }
                    j += 1;
                }
                if j == i + 1 {
                    bail!("`--sizes` needs at least one N,d,p,L\n{USAGE}");
                }
                i = j;
                continue;
            }
            other => bail!("unknown option `{other}`\n{USAGE}"),
        }
        i += 2;
    }
    if o.rounds == 0 || o.steps == 0 {
        bail!("--rounds and --steps must be at least 1");
    }
    if o.sizes.is_empty() {
        o.sizes = DEFAULT_SIZES.iter().map(|(s, _)| *s).collect();
    }
    Ok(o)
}

fn f64_of(v: &Value, key: &str) -> Result<f64> {
    v[key]
        .as_f64()
        .ok_or_else(|| anyhow!("missing number `{key}` in {v}"))
}

fn floats(v: &Value, key: &str) -> Result<Vec<f64>> {
    v[key]
        .as_array()
        .ok_or_else(|| anyhow!("missing array `{key}` in {v}"))?
        .iter()
        .map(|x| {
            x.as_f64()
                .ok_or_else(|| anyhow!("`{key}` holds a non-number"))
        })
        .collect()
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        })
}

/// Step times of one side over all rounds, and the loss trace of its first round.
#[derive(Default)]
struct Side {
    steps: Vec<f64>,
    round_medians: Vec<f64>,
    losses: Vec<f64>,
    runs: Vec<Value>,
}

impl Side {
    fn push(&mut self, run: Value) -> Result<()> {
        let steps = floats(&run, "step_ms")?;
        self.round_medians.push(median(&steps));
        self.steps.extend(steps);
        if self.losses.is_empty() {
            self.losses = floats(&run, "losses")?;
        }
        self.runs.push(run);
        Ok(())
    }

    fn summary(&self) -> String {
        let (lo, hi) = min_max(&self.steps);
        format!("{:.1} ({:.1}–{:.1})", median(&self.steps), lo, hi)
    }
}

/// The floor of one step and its GEMM and trig terms, in ms.
fn floor_ms([n, d, p, l]: [usize; 4], gemm_gflops: f64, sincos_per_s: f64) -> (f64, f64, f64) {
    let (n, d, p, l) = (n as f64, d as f64, p as f64, l as f64);
    let gemm = 10.0 * n * d * p * l / (gemm_gflops * 1e9) * 1e3;
    let trig = 2.0 * n * p * l / sincos_per_s * 1e3;
    (gemm + trig, gemm, trig)
}

fn target_ratio(size: [usize; 4]) -> Option<f64> {
    DEFAULT_SIZES
        .iter()
        .find(|(s, _)| *s == size)
        .map(|(_, t)| *t)
}

fn fmt_size([n, d, p, l]: [usize; 4]) -> String {
    format!("{n},{d},{p},{l}")
}

fn mib(bytes: f64) -> String {
    format!("{:.1}", bytes / (1024.0 * 1024.0))
}

/// `cargo xtask bench-peer …` (module docs).
pub(crate) fn run(args: &[String]) -> Result<()> {
    if args.iter().any(|a| a == "--conv") {
        return crate::bench_conv::run(args);
    }
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return Ok(());
    }
    let o = parse_options(args)?;
    let script = workspace_root().join("benches/peer/torch_step.py");
    if o.python.is_some() && !script.is_file() {
        bail!("{} is missing", script.display());
    }
    let timer = build_example("step_timer")?;
    let dir = std::env::temp_dir().join(format!("plres-bench-peer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = run_in(&o, &timer, &script, &dir);
    // the problem files can be large (N·d·p·L bytes of U); never leave them behind
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(o: &Options, timer: &Path, script: &Path, dir: &Path) -> Result<()> {
    let load = || -> String {
        std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "?".into())
    };
    let load_before = load();
    eprintln!("load average before: {load_before}");
    let machine = || run_json(Command::new(timer).arg("machine"), "step_timer machine");
    let m0 = machine()?;

    let mut files = Vec::new();
    for &size in &o.sizes {
        let file = dir.join(format!(
            "problem_{}.safetensors",
            fmt_size(size).replace(',', "_")
        ));
        let status = Command::new(timer)
            .args([
                "write",
                "--size",
                &fmt_size(size),
                "--seed",
                &o.seed.to_string(),
            ])
            .arg("--out")
            .arg(&file)
            .status()
            .context("starting step_timer write")?;
        if !status.success() {
            bail!(
                "step_timer write --size {} failed ({status})",
                fmt_size(size)
            );
        }
        files.push(file);
    }

    let mut plres: Vec<Side> = o.sizes.iter().map(|_| Side::default()).collect();
    let mut torch: Vec<Side> = o.sizes.iter().map(|_| Side::default()).collect();
    let (k, w) = (o.steps.to_string(), o.warmup.to_string());
    for round in 0..o.rounds {
        for (i, file) in files.iter().enumerate() {
            let size = fmt_size(o.sizes[i]);
            eprintln!("round {}/{}: size {size}", round + 1, o.rounds);
            let run_plres = |side: &mut Side| -> Result<()> {
                let mut cmd = Command::new(timer);
                cmd.args(["time", "--steps", &k, "--warmup", &w, "--input"])
                    .arg(file);
                side.push(run_json(&mut cmd, "step_timer time")?)
            };
            let run_torch = |side: &mut Side, python: &Path| -> Result<()> {
                let mut cmd = Command::new(python);
                cmd.arg(script)
                    .args(["--steps", &k, "--warmup", &w, "--threads", "2", "--input"])
                    .arg(file);
                side.push(run_json(&mut cmd, "torch_step.py")?)
            };
            match &o.python {
                // alternate who goes first, so that neither side always runs on a warmer machine
                Some(py) if round % 2 == 1 => {
                    run_torch(&mut torch[i], py)?;
                    run_plres(&mut plres[i])?;
                }
                Some(py) => {
                    run_plres(&mut plres[i])?;
                    run_torch(&mut torch[i], py)?;
                }
                None => run_plres(&mut plres[i])?,
            }
        }
    }

    let m1 = machine()?;
    let load_after = load();
    let gemm = f64_of(&m0, "gemm_gflops")?.max(f64_of(&m1, "gemm_gflops")?);
    let trig = f64_of(&m0, "sincos_elems_per_s")?.max(f64_of(&m1, "sincos_elems_per_s")?);

    println!();
    println!(
        "machine: faer GEMM 2048³ Par::rayon(2) {:.1} / {:.1} GFLOP/s (before / after), plres sincos \
         {:.3} / {:.3} Gelem/s on 2 cores ({} backend); the floor uses the higher of each",
        f64_of(&m0, "gemm_gflops")?,
        f64_of(&m1, "gemm_gflops")?,
        f64_of(&m0, "sincos_elems_per_s")? * 1e-9,
        f64_of(&m1, "sincos_elems_per_s")? * 1e-9,
        m0["trig_backend"].as_str().unwrap_or("?"),
    );
    println!(
        "runs: {} round(s) × {} timed step(s) after {} warm-up, seed {}; load average {} → {}",
        o.rounds, o.steps, o.warmup, o.seed, load_before, load_after
    );
    println!();
    let with_torch = o.python.is_some();
    if with_torch {
        println!(
            "| size N,d,p,L | plres ms (min–max) | PyTorch ms (min–max) | plres/PyTorch | target | floor ms | GEMM term ms | trig term ms | plres/floor |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
    } else {
        println!(
            "| size N,d,p,L | plres ms (min–max) | floor ms | GEMM term ms | trig term ms | plres/floor |"
        );
        println!("|---|---|---|---|---|---|");
    }
    for (i, &size) in o.sizes.iter().enumerate() {
        let (floor, fg, ft) = floor_ms(size, gemm, trig);
        let ours = median(&plres[i].steps);
        let vs_floor = format!("{:.2} (target ≤ {FLOOR_TARGET})", ours / floor);
        if with_torch {
            let ratios: Vec<f64> = plres[i]
                .round_medians
                .iter()
                .zip(&torch[i].round_medians)
                .map(|(a, b)| a / b)
                .collect();
            let target = target_ratio(size).map_or("–".to_string(), |t| format!("≤ {t:.2}"));
            println!(
                "| {} | {} | {} | {:.3} | {target} | {floor:.1} | {fg:.1} | {ft:.1} | {vs_floor} |",
                fmt_size(size),
                plres[i].summary(),
                torch[i].summary(),
                median(&ratios),
            );
        } else {
            println!(
                "| {} | {} | {floor:.1} | {fg:.1} | {ft:.1} | {vs_floor} |",
                fmt_size(size),
                plres[i].summary(),
            );
        }
    }

    println!();
    println!(
        "memory (peak RSS, MiB): step = peak − baseline (problem, model, U and gradient built; no \
         workspace); kept = the states X_0..X_L the backward pass needs, (L+1)·N·d·8 bytes"
    );
    println!(
        "| size N,d,p,L | plres peak | plres baseline | plres step | kept | step/kept (target ≤ 1.5) |{}",
        if with_torch { " PyTorch peak |" } else { "" }
    );
    println!(
        "|---|---|---|---|---|---|{}",
        if with_torch { "---|" } else { "" }
    );
    for (i, &size) in o.sizes.iter().enumerate() {
        let peak = plres[i]
            .runs
            .iter()
            .map(|r| f64_of(r, "rss_peak_bytes"))
            .collect::<Result<Vec<_>>>()?;
        let base = plres[i]
            .runs
            .iter()
            .map(|r| f64_of(r, "rss_baseline_bytes"))
            .collect::<Result<Vec<_>>>()?;
        let kept = f64_of(&plres[i].runs[0], "kept_bytes")?;
        let (peak, base) = (median(&peak), median(&base));
        let torch_peak = if with_torch {
            let v = torch[i]
                .runs
                .iter()
                .map(|r| f64_of(r, "rss_peak_bytes"))
                .collect::<Result<Vec<_>>>()?;
            format!(" {} |", mib(median(&v)))
        } else {
            String::new()
        };
        println!(
            "| {} | {} | {} | {} | {} | {:.2} |{torch_peak}",
            fmt_size(size),
            mib(peak),
            mib(base),
            mib(peak - base),
            mib(kept),
            (peak - base) / kept,
        );
    }

    if with_torch {
        println!();
        println!(
            "same problem (loss of the first and the last step, plres vs PyTorch, rtol {LOSS_RTOL:e}):"
        );
        for (i, &size) in o.sizes.iter().enumerate() {
            let (a, b) = (&plres[i].losses, &torch[i].losses);
            let rel = |x: f64, y: f64| (x - y).abs() / y.abs().max(f64::MIN_POSITIVE);
            let (first, last) = (rel(a[0], b[0]), rel(a[a.len() - 1], b[b.len() - 1]));
            let ok = first <= LOSS_RTOL && last <= LOSS_RTOL && a.len() == b.len();
            println!(
                "  {}: first {:.12} vs {:.12} (rel {first:.1e}), last {:.12} vs {:.12} (rel {last:.1e}): {}",
                fmt_size(size),
                a[0],
                b[0],
                a[a.len() - 1],
                b[b.len() - 1],
                if ok { "agree" } else { "DISAGREE" }
            );
        }
    }

    if let Some(path) = &o.json {
        let sides =
            |v: &[Side]| -> Value { v.iter().map(|s| Value::Array(s.runs.clone())).collect() };
        let all = serde_json::json!({
            "sizes": o.sizes,
            "rounds": o.rounds,
            "steps": o.steps,
            "warmup": o.warmup,
            "seed": o.seed,
            "machine_before": m0,
            "machine_after": m1,
            "load_before": load_before,
            "load_after": load_after,
            "plres": sides(&plres),
            "torch": sides(&torch),
        });
        std::fs::write(path, serde_json::to_string_pretty(&all)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
