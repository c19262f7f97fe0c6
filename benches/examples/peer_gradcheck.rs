//! Loss and gradient in the PyTorch peer's gradient-check format (`benches/peer/`, docs/theory.md §8).
//!
//! ```text
//! cargo run -p plres-benches --example peer_gradcheck -- IN.safetensors OUT.safetensors
//! cargo run -p plres-benches --example peer_gradcheck -- --make IN.safetensors N d p L seed
//! ```
//! The first form reads a peer input file (`features.omega [p,d]`, `features.bias [p]`,
//! `residual.u [L,d,p]`, `data.x [N,d]`, `data.y [N,d]`) and writes what the peer's
//! `cli.py gradcheck` writes: `loss` `[1]` and `grad.u` `[L,d,p]` (float64), so the two
//! files can be compared entry by entry. The second form writes an input file from a
//! seeded problem (Gaussian RFF `σ = 1`, `X ~ N(0,1)`, `Y = X + ½ sin 2X`,
//! `U ~ N(0, 0.1²)`), readable by the peer.

#![forbid(unsafe_code)]

use std::sync::Arc;

use faer::Mat;
use plres_benches::{PeerProblem, cosine_features};
use plres_kernels::KernelSpec;
use plres_resnet::{Checkpoint, Init, LinearResNet, LinearResNetConfig, TargetsRef, Trainable};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kernel = KernelSpec::Gaussian { sigma: 1.0 };
    if args.first().map(String::as_str) == Some("--make") {
        let num = |i: usize| -> Result<usize, Box<dyn std::error::Error>> {
            Ok(args.get(i).ok_or("missing argument")?.parse()?)
        };
        let (n, d, p, depth, seed) = (num(2)?, num(3)?, num(4)?, num(5)?, num(6)? as u64);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let features = cosine_features(&kernel, d, p, &mut rng)?;
        let model = LinearResNet::new(
            Arc::new(features),
            LinearResNetConfig {
                depth,
                init: Init::Normal {
                    std: 0.1,
                    seed: seed + 1,
                },
                ..Default::default()
            },
        )?;
        let x: Mat<f64> = Mat::from_fn(n, d, |_, _| StandardNormal.sample(&mut rng));
        let y = Mat::from_fn(n, d, |i, j| x[(i, j)] + 0.5 * (2.0 * x[(i, j)]).sin());
        PeerProblem { model, x, y }.save(&args[1])?;
        return Ok(());
    }
    let [input, output] = args.as_slice() else {
        return Err("usage: peer_gradcheck IN OUT | --make IN N d p L seed".into());
    };
    let prob = PeerProblem::load(input, kernel)?;
    let rep = prob
        .model
        .gradient_report(prob.x.as_ref(), TargetsRef::Regression(prob.y.as_ref()))?;
    let (d, p, depth) = (prob.model.dim(), prob.model.width(), prob.model.depth());
    let mut out = Checkpoint::new();
    out.insert("loss", vec![1], vec![rep.loss]);
    out.insert("grad.u", vec![depth, d, p], rep.euclidean);
    out.save(output)?;
    println!("loss {:.17e}", rep.loss);
    Ok(())
}
