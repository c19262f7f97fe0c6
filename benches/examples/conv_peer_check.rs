//! plres-conv against its PyTorch peer (`benches/peer/conv_peer.py`), float64: the loss
//! and every gradient of the convolutional ResNet (linear and SHL residuals) and of the
//! pretraining model `B ∘ A`, on real MNIST images (the vendored 10k subset), must agree
//! to a relative error `‖g − g_torch‖ / ‖g_torch‖ ≤ 1e-10`.
//!
//! Usage: `cargo run -p plres-benches --example conv_peer_check -- [--python PATH]
//! [--q Q] [--q-int QI] [--steps L] [--batch N]` (defaults python3, 4, 5, 3, 16). Exits
//! with status 1 when a tensor differs by more than the tolerance, 2 on a usage or
//! set-up error.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use plres_benches::{flag_usize, flag_value};
use plres_conv::peer::{TensorFile, compare, peer_problem, plres_results};
use plres_conv::{ConvResNet, ConvResNetConfig, ResidualKind};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

const TOL: f64 = 1e-10;

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("conv_peer_check: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<bool, String> {
    let mut python = "python3".to_string();
    let (mut q, mut q_int, mut steps, mut batch) = (4usize, 5usize, 3usize, 16usize);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let v = flag_value(&args, i)?;
        let num = || flag_usize(&args[i], v);
        match args[i].as_str() {
            "--python" => python = v.clone(),
            "--q" => q = num()?,
            "--q-int" => q_int = num()?,
            "--steps" => steps = num()?,
            "--batch" => batch = num()?,
            other => return Err(format!("unknown argument {other}")),
        }
        i += 2;
    }
    let (train, _) = plres_data::load_mnist10k_split().map_err(|e| e.to_string())?;
    let n = batch.min(train.n_samples());
    let idx: Vec<usize> = (0..n).map(|i| i * (train.n_samples() / n)).collect();
    let sub = train.select(&idx);
    let images: Vec<f64> = (0..n)
        .flat_map(|i| (0..784).map(move |j| (i, j)))
        .map(|(i, j)| sub.x[(i, j)])
        .collect();
    let labels = sub.y.labels().ok_or("MNIST has class labels")?.to_vec();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peer/conv_peer.py");
    let dir = std::env::temp_dir().join(format!("plres-conv-peer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut ok = true;
    println!("| residual | tensor | relative error |\n|---|---|---|");
    for (kind, name) in [(ResidualKind::Linear, "linear"), (ResidualKind::Shl, "shl")] {
        let cfg = ConvResNetConfig {
            q,
            q_int,
            steps,
            kind,
            seed: 11,
        };
        let mut model = ConvResNet::<f64>::new(cfg).map_err(|e| e.to_string())?;
        // nonzero θ (θ = 0 at initialisation would leave most gradient paths unused)
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let p: Vec<f64> = model
            .params()
            .iter()
            .map(|&v| v + 0.1 * Distribution::<f64>::sample(&StandardNormal, &mut rng))
            .collect();
        model.set_params(&p);
        let input = dir.join(format!("{name}-problem.safetensors"));
        let output = dir.join(format!("{name}-torch.safetensors"));
        peer_problem(&model, &images, &labels)
            .write(&input)
            .map_err(|e| e.to_string())?;
        let status = Command::new(&python)
            .arg(&script)
            .args(["grad", "--input"])
            .arg(&input)
            .arg("--output")
            .arg(&output)
            .status()
            .map_err(|e| format!("cannot run {python}: {e}"))?;
        if !status.success() {
            return Err(format!("{python} {} failed ({status})", script.display()));
        }
        let theirs = TensorFile::read(&output).map_err(|e| e.to_string())?;
        let ours = plres_results(&model, &images, &labels);
        for (tensor, err) in compare(&ours, &theirs, &output).map_err(|e| e.to_string())? {
            let flag = if err <= TOL {
                ""
            } else {
                "  ← exceeds 1e-10"
            };
            ok &= err <= TOL;
            println!("| {name} | {tensor} | {err:.2e}{flag} |");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    println!(
        "\nq = {q}, q_int = {q_int}, L = {steps}, batch = {n} MNIST images, float64: {}",
        if ok { "all within 1e-10" } else { "MISMATCH" }
    );
    Ok(ok)
}
