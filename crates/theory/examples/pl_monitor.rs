//! Train a small RFF ResNet by gradient descent in the L² metric and certify the local
//! PL inequality along the way (docs/theory.md §5): the monitor's rows, then every check.
//!
//! Run: `cargo run --release -p plres-theory --example pl_monitor`

#![forbid(unsafe_code)]

use std::sync::Arc;

use faer::Mat;
use plres_kernels::KernelSpec;
use plres_optim::{GradientDescentConfig, State, Stopping};
use plres_resnet::Trainable as _;
use plres_resnet::{LinearResNet, LinearResNetConfig, TargetsRef, TrainingProblem};
use plres_rff::{FourierVariant, RandomFourierFeatures};
use plres_theory::CheckReport;
use plres_theory::expressivity::linear_expressivity;
use plres_theory::pl::{LinearCertifier, Monitor, MonitorConfig, MonitorRow};
use rand::SeedableRng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (n, d, p, depth) = (16, 2, 64, 8);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let phi = RandomFourierFeatures::sample(
        &KernelSpec::Gaussian { sigma: 1.0 },
        d,
        p,
        FourierVariant::CosineWithPhase,
        &mut rng,
    )?;
    let net = LinearResNet::new(
        Arc::new(phi),
        LinearResNetConfig {
            depth,
            ..Default::default()
        },
    )?;
    // points on a 4×4 grid of spacing 2.5σ, targets a smooth deformation of the inputs
    let x = Mat::from_fn(n, d, |i, j| {
        2.5 * if j == 0 {
            (i % 4) as f64
        } else {
            (i / 4) as f64
        }
    });
    let y = Mat::from_fn(n, d, |i, j| x[(i, j)] + 0.3 * ((i + 2 * j) as f64).sin());

    let mut monitor = Monitor::new(
        &net,
        x.as_ref(),
        y.as_ref(),
        MonitorConfig {
            every: 50,
            ..Default::default()
        },
    )?;
    let metric = net.metric();
    let theta0 = net.params().to_vec();
    let problem = TrainingProblem::new(net, x.as_ref(), TargetsRef::Regression(y.as_ref()))?;
    let gd = GradientDescentConfig::new(1.0)
        .with_metric(metric)
        .build()?;
    // the outcome hands back the model with the trained θ
    let trained = problem
        .run(
            &gd,
            State::new(theta0),
            &Stopping::iterations(500),
            &mut [&mut monitor],
        )?
        .model;

    println!("{}", MonitorRow::CSV_HEADER);
    for r in monitor.rows() {
        println!("{}", r.csv_line());
    }

    let mut cert = LinearCertifier::new(&trained, n)?;
    let snap = cert.evaluate(&trained, trained.params(), x.as_ref(), y.as_ref())?;
    println!("\n{}", CheckReport::table_header());
    let expressivity = linear_expressivity(&trained, x.as_ref())?;
    for r in snap
        .reports()
        .iter()
        .chain(&monitor.reports())
        .chain(&expressivity.reports())
    {
        println!("{}", r.table_row());
    }
    Ok(())
}
