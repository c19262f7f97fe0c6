//! The PL chain `μ_cert ≤ μ_tight ≤ ρ` along gradient descent (docs/theory.md §5 and
//! `plres_theory::pl::tight`): a small RFF ResNet trained in the L² metric on a 4×4 grid,
//! with `ρ = ‖G‖²/L`, the tight constant `μ_tight = (2/N) λ_min(Θ)`, the certificate
//! `μ_cert` and the looseness ratios `ρ/μ_tight`, `μ_tight/μ_cert` every 100 steps. At
//! `θ = 0` the chain is tight on the left (`Θ = K ⊗ I`, so `μ_tight = μ_cert`).
//!
//! Run: `cargo run --release -p plres-theory --example tight_pl`

use plres_optim::{GradientDescentConfig, State, Stopping, run};
use plres_resnet::{TargetsRef, Trainable as _, TrainingProblem};
use plres_theory::pl::{LinearCertifier, Looseness, TightCertifier};

mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 16 points on a 4×4 grid of spacing 2.5σ, targets a smooth deformation of the inputs
    let (net, x, y) = common::grid_problem()?;
    let n = x.nrows();

    let mut tight = TightCertifier::new(&net, n)?;
    let mut cert = LinearCertifier::new(&net, n)?;
    let mut problem =
        TrainingProblem::new(net.clone(), x.as_ref(), TargetsRef::Regression(y.as_ref()))?;
    let gd = GradientDescentConfig::new(1.0)
        .with_metric(net.metric())
        .build()?;
    let mut state = State::new(net.params().to_vec());
    println!("iteration,loss,rho,mu_tight,mu_cert,rho_over_tight,tight_over_cert");
    for chunk in 0..=5 {
        let params = state.params().to_vec();
        let t = tight.evaluate(&net, &params, x.as_ref())?;
        let s = cert.evaluate(&net, &params, x.as_ref(), y.as_ref())?;
        let l = Looseness::of(&s, &t);
        println!(
            "{},{:.4e},{:.4e},{:.4e},{:.4e},{:.3},{:.3}",
            chunk * 100,
            s.loss,
            l.rho,
            l.mu_tight,
            l.mu_cert,
            l.rho_over_tight,
            l.tight_over_cert
        );
        if chunk < 5 {
            // the stopping rule counts the state's iterations from the start of training
            let stop = Stopping::iterations(100 * (chunk as u64 + 1));
            state = run(&mut problem, &gd, state, &stop, &mut [])?.state;
        }
    }
    Ok(())
}
