//! Times one SGD epoch of plres-conv's convolutional ResNet (default: linear residual,
//! `L = 20`, `q = q_int = 32`, 8 000 MNIST images, batch 256, midpoint, lr 0.5), for
//! `cargo xtask bench-peer --conv` beside `benches/peer/conv_peer.py epoch`.
//!
//! `conv_epoch_timer write --out FILE [OPTIONS]` writes the model and the images in the
//! peer's safetensors format (float64); `conv_epoch_timer time --precision f64|f32
//! [OPTIONS]` rebuilds the identical model (same seed) and prints one JSON object: the
//! epoch's wall time (after `--warmup` untimed batches), the GEMM flops of the epoch
//! (direct-convolution count, below), faer's measured rate on the residual's GEMM shape
//! and the resulting floor, and peak RSS.
//!
//! Options (both modes): `--images N` (8000), `--steps L` (20), `--q Q` (32), `--kind
//! linear|shl` (linear), `--batch B` (256), `--seed S` (0), `--warmup W` (2).
//!
//! Flops of one epoch, `P = n·5·5` state pixels per batch: each of the `2L` midpoint
//! stages costs `2·(2·9·q·q_int·P)` forward (Ω or θ¹, then θ) and `3·(2·9·q·q_int·P)`
//! backward (`∂θ`, `Wᵀ∂Y` through θ, `Ωᵀ∂U`; one more, `∂θ¹`, for SHL), plus the fixed
//! networks' forward `2·16·q·n·13² + 2·16·q²·n·5²` and `B`'s `2·10·25q·n` forward and
//! backward.

#![forbid(unsafe_code)]

use std::time::Instant;

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use plres_benches::{flag_usize, flag_value};
use plres_conv::peer::peer_problem;
use plres_conv::{ConvResNet, ConvResNetConfig, Images, Real, ResidualKind};

struct Opts {
    images: usize,
    steps: usize,
    q: usize,
    kind: ResidualKind,
    batch: usize,
    seed: u64,
    warmup: usize,
    precision: String,
    out: Option<String>,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        images: 8000,
        steps: 20,
        q: 32,
        kind: ResidualKind::Linear,
        batch: 256,
        seed: 0,
        warmup: 2,
        precision: "f64".into(),
        out: None,
    };
    let mut i = 0;
    while i < args.len() {
        let v = flag_value(args, i)?;
        let num = || flag_usize(&args[i], v);
        match args[i].as_str() {
            "--images" => o.images = num()?,
            "--steps" => o.steps = num()?,
            "--q" => o.q = num()?,
            "--batch" => o.batch = num()?,
            "--seed" => o.seed = num()? as u64,
            "--warmup" => o.warmup = num()?,
            "--precision" => o.precision = v.clone(),
            "--out" => o.out = Some(v.clone()),
            "--kind" => {
                o.kind = match v.as_str() {
                    "linear" => ResidualKind::Linear,
                    "shl" => ResidualKind::Shl,
                    _ => return Err(format!("--kind {v}: expected linear or shl")),
                }
            }
            other => return Err(format!("unknown argument {other}")),
        }
        i += 2;
    }
    Ok(o)
}

fn images(o: &Opts) -> Result<(Vec<f64>, Vec<usize>), String> {
    let (train, _) = plres_data::load_mnist10k_split().map_err(|e| e.to_string())?;
    let n = o.images.min(train.n_samples());
    let x = (0..n)
        .flat_map(|i| (0..784).map(move |j| (i, j)))
        .map(|(i, j)| train.x[(i, j)])
        .collect();
    let y = train.y.labels().ok_or("labels")?[..n].to_vec();
    Ok((x, y))
}

fn config(o: &Opts) -> ConvResNetConfig {
    ConvResNetConfig {
        q: o.q,
        q_int: o.q,
        steps: o.steps,
        kind: o.kind,
        seed: o.seed,
    }
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// faer's rate (flop/s) on the residual's GEMM shape `q × 9q · 9q × (batch·25)`.
fn gemm_rate<T: Real>(q: usize, batch: usize) -> f64 {
    let (m, k, n) = (q, 9 * q, batch * 25);
    let a = Mat::<T>::from_fn(m, k, |i, j| {
        T::from_f64(((i * 7 + j * 3) % 11) as f64 * 0.1)
    });
    let b = Mat::<T>::from_fn(k, n, |i, j| T::from_f64(((i * 5 + j) % 13) as f64 * 0.1));
    let mut c = Mat::<T>::zeros(m, n);
    let reps = 20;
    let mut product = || {
        matmul(
            c.as_mut(),
            Accum::Replace,
            a.as_ref(),
            b.as_ref(),
            T::ONE,
            Par::rayon(0),
        )
    };
    product(); // warm-up, untimed
    let t = Instant::now();
    for _ in 0..reps {
        product();
    }
    (2 * m * k * n * reps) as f64 / t.elapsed().as_secs_f64()
}

fn epoch_flops(o: &Opts, n: usize) -> f64 {
    let (q, l) = (o.q as f64, o.steps as f64);
    let p = n as f64 * 25.0;
    let g = 2.0 * 9.0 * q * q * p;
    let per_stage = match o.kind {
        ResidualKind::Linear => 5.0 * g,
        ResidualKind::Shl => 6.0 * g,
    };
    let fixed = 2.0 * 16.0 * q * n as f64 * 169.0
        + 2.0 * 16.0 * q * q * p
        + 3.0 * 2.0 * 10.0 * 25.0 * q * n as f64;
    2.0 * l * per_stage + fixed
}

fn time<T: Real>(o: &Opts) -> Result<String, String> {
    let (x, y) = images(o)?;
    let data = Images::<T> {
        pixels: x.iter().map(|&v| T::from_f64(v)).collect(),
        labels: y,
    };
    let mut model = ConvResNet::<T>::new(config(o)).map_err(|e| e.to_string())?;
    model.par = Par::rayon(0);
    let mut grad = vec![T::ZERO; model.n_params()];
    let mut params = model.params().to_vec();
    let (mut xb, mut yb) = (Vec::new(), Vec::new());
    let order: Vec<usize> = (0..data.len()).collect();
    let lr = T::from_f64(0.5);
    let mut step = |idx: &[usize], model: &mut ConvResNet<T>| -> f64 {
        data.gather(idx, &mut xb, &mut yb);
        let l = model.loss_and_gradient(&xb, &yb, &mut grad);
        for (p, &g) in params.iter_mut().zip(&grad) {
            *p -= lr * g;
        }
        model.set_params(&params);
        l.loss
    };
    for idx in order.chunks(o.batch).take(o.warmup) {
        step(idx, &mut model);
    }
    let t = Instant::now();
    let mut last = f64::NAN;
    let mut batches = 0;
    for idx in order.chunks(o.batch) {
        last = step(idx, &mut model);
        batches += 1;
    }
    let seconds = t.elapsed().as_secs_f64();
    let flops = epoch_flops(o, data.len());
    let rate = gemm_rate::<T>(o.q, o.batch);
    Ok(format!(
        "{{\"peer\": \"plres\", \"dtype\": \"{}\", \"kind\": \"{}\", \"steps\": {}, \"q\": {}, \"images\": {}, \
         \"batch\": {}, \"batches\": {batches}, \"epoch_seconds\": {seconds}, \"last_loss\": {last}, \
         \"epoch_gflop\": {}, \"faer_gflops_on_shape\": {}, \"gemm_floor_seconds\": {}, \"peak_rss_mb\": {}}}",
        o.precision,
        if o.kind == ResidualKind::Linear {
            "linear"
        } else {
            "shl"
        },
        o.steps,
        o.q,
        data.len(),
        o.batch,
        flops / 1e9,
        rate / 1e9,
        flops / rate,
        peak_rss_mb()
    ))
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("write") => parse(&args[1..]).and_then(|o| {
            let (x, y) = images(&o)?;
            let model = ConvResNet::<f64>::new(config(&o)).map_err(|e| e.to_string())?;
            let out = o.out.clone().ok_or("write needs --out FILE")?;
            peer_problem(&model, &x, &y).write(std::path::Path::new(&out)).map_err(|e| e.to_string())?;
            Ok(format!("{{\"written\": \"{out}\", \"images\": {}}}", y.len()))
        }),
        Some("time") => parse(&args[1..]).and_then(|o| match o.precision.as_str() {
            "f64" => time::<f64>(&o),
            "f32" => time::<f32>(&o),
            p => Err(format!("--precision {p}: expected f64 or f32")),
        }),
        _ => Err("usage: conv_epoch_timer write --out FILE [OPTIONS] | time --precision f64|f32 [OPTIONS]".into()),
    };
    match result {
        Ok(json) => {
            println!("{json}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("conv_epoch_timer: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
