//! Train a small RFF ResNet by gradient descent in the L² metric and certify the local
//! PL inequality along the way (docs/theory.md §5): the monitor's rows, then every check.
//!
//! Run: `cargo run --release -p plres-theory --example pl_monitor`

#![forbid(unsafe_code)]

use plres_optim::{GradientDescentConfig, State, Stopping};
use plres_resnet::Trainable as _;
use plres_resnet::{TargetsRef, TrainingProblem};
use plres_theory::CheckReport;
use plres_theory::expressivity::linear_expressivity;
use plres_theory::pl::{LinearCertifier, Monitor, MonitorConfig, MonitorRow};

mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 16 points on a 4×4 grid of spacing 2.5σ, targets a smooth deformation of the inputs
    let (net, x, y) = common::grid_problem()?;
    let n = x.nrows();

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
