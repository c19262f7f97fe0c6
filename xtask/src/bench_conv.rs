//! `cargo xtask bench-peer --conv [--python PATH] [--kind linear|shl] [--images N]
//! [--steps L] [--q Q]`: one SGD epoch of plres-conv's convolutional ResNet (default: the
//! issue's linear model, `L = 20`, `q = q_int = 32`, 8 000 MNIST images, batch 256,
//! midpoint) in float64 and float32, beside PyTorch eager (`benches/peer/conv_peer.py
//! epoch`, 2 threads) on the identical model and images (issue 20, `benches/README.md`).
//!
//! 1. Builds `plres-benches`' example `conv_epoch_timer` (release profile).
//! 2. `conv_epoch_timer write` writes the model and the images as safetensors (float64).
//! 3. Runs plres f64, plres f32 and, with `--python`, PyTorch float64 and float32, one
//!    epoch each, and prints one table: epoch seconds, ratio to PyTorch of the same
//!    precision, the GEMM floor (the epoch's direct-convolution flops at faer's rate on
//!    the residual's GEMM shape, measured by the timer) and peak RSS.

use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use crate::peer_run::{build_example, run_json};
use crate::workspace_root;

const USAGE: &str = "usage: cargo xtask bench-peer --conv [--python PATH] [--kind linear|shl]
                          [--images N] [--steps L] [--q Q]";

/// `cargo xtask bench-peer --conv …` (module docs).
pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut python: Option<String> = None;
    let mut model_args: Vec<String> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--conv" => i += 1,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            "--python" | "--kind" | "--images" | "--steps" | "--q" => {
                let v = args
                    .get(i + 1)
                    .ok_or_else(|| anyhow!("`{}` needs a value\n{USAGE}", args[i]))?;
                if args[i] == "--python" {
                    python = Some(v.clone());
                } else {
                    model_args.extend([args[i].clone(), v.clone()]);
                }
                i += 2;
            }
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    let timer = build_example("conv_epoch_timer")?;
    let dir = std::env::temp_dir().join(format!("plres-bench-conv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let file = dir.join("conv_problem.safetensors");
    let result = (|| -> Result<Vec<Value>> {
        run_json(
            Command::new(&timer)
                .arg("write")
                .args(&model_args)
                .arg("--out")
                .arg(&file),
            "conv_epoch_timer write",
        )?;
        let mut rows = Vec::new();
        for p in ["f64", "f32"] {
            rows.push(run_json(
                Command::new(&timer)
                    .args(["time", "--precision", p])
                    .args(&model_args),
                "conv_epoch_timer time",
            )?);
        }
        if let Some(py) = &python {
            let script = workspace_root().join("benches/peer/conv_peer.py");
            for d in ["float64", "float32"] {
                rows.push(run_json(
                    Command::new(py)
                        .arg(&script)
                        .args(["epoch", "--threads", "2", "--dtype", d, "--input"])
                        .arg(&file),
                    "conv_peer.py epoch",
                )?);
            }
        }
        Ok(rows)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    let rows = result?;
    let secs = |v: &Value| v["epoch_seconds"].as_f64().unwrap_or(f64::NAN);
    let torch = |d: &str| {
        rows.iter()
            .find(|r| r["peer"] == "pytorch" && r["dtype"] == d)
            .map(secs)
    };
    println!(
        "| side | precision | epoch (s) | vs PyTorch same precision | GEMM floor (s) | faer GFLOP/s on shape | peak RSS (MB) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        let plres = r["peer"] == "plres";
        let d = r["dtype"].as_str().unwrap_or("?");
        let same = if d.ends_with("64") {
            "float64"
        } else {
            "float32"
        };
        let ratio = match (plres, torch(same)) {
            (true, Some(t)) => format!("{:.2}×", secs(r) / t),
            _ => "–".into(),
        };
        let floor = r["gemm_floor_seconds"]
            .as_f64()
            .map_or("–".into(), |f| format!("{f:.2}"));
        let rate = r["faer_gflops_on_shape"]
            .as_f64()
            .map_or("–".into(), |f| format!("{f:.1}"));
        println!(
            "| {} | {d} | {:.2} | {ratio} | {floor} | {rate} | {:.0} |",
            r["peer"].as_str().unwrap_or("?"),
            secs(r),
            r["peak_rss_mb"].as_f64().unwrap_or(f64::NAN)
        );
    }
    Ok(())
}
