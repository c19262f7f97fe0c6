//! Gradient descent in the L² layer metric vs Euclidean gradient descent, and AdamW with
//! warm-up + cosine, on a diagonal quadratic with `L` "layers"; prints the reports.
//!
//! `cargo run -p plres-optim --example quadratic --release`

#![forbid(unsafe_code)]

use plres_optim::{
    AdamConfig, GradientDescentConfig, Metric, ObserverAction, Problem, ProblemError, Schedule,
    Solver, State, Stopping, run,
};

/// `L(θ) = ½ Σ_i a_i θ_i²` with `a_i ∈ [0.5, 2]`: μ = 0.5, β = 2.
struct Diagonal(Vec<f64>);

impl Problem for Diagonal {
    fn n_params(&self) -> usize {
        self.0.len()
    }
    fn loss_and_gradient(&mut self, p: &[f64], g: &mut [f64]) -> Result<f64, ProblemError> {
        let mut loss = 0.0;
        for ((gi, &ai), &pi) in g.iter_mut().zip(&self.0).zip(p) {
            *gi = ai * pi;
            loss += 0.5 * ai * pi * pi;
        }
        Ok(loss)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (layers, block) = (16, 1000);
    let n = layers * block;
    let h = 1.0 / layers as f64;
    let a: Vec<f64> = (0..n).map(|i| 0.5 + 1.5 * (i % 97) as f64 / 96.0).collect();
    let mut problem = Diagonal(a);
    let theta0 = vec![1.0; n];
    let stopping = Stopping::iterations(2000).loss_below(1e-20);

    // Same trajectory: step η·h in the L² metric is step η Euclidean (η = 1/β = 0.5).
    let l2 = GradientDescentConfig::new(0.5 * h)
        .with_metric(Metric::l2_layers(layers, block, h)?)
        .build()?;
    let euclid = GradientDescentConfig::new(0.5).build()?;
    let adamw = AdamConfig::adamw(0.05, 1e-4)
        .with_schedule(Schedule::cosine(1990, 0.0).with_warmup(0.1, 10))
        .build()?;
    let solvers: [(&str, &dyn Solver); 3] = [
        ("GD, L² metric", &l2),
        ("GD, Euclidean", &euclid),
        ("AdamW", &adamw),
    ];
    for (label, solver) in solvers {
        let mut worst_ratio: f64 = 0.0;
        let mut prev = f64::NAN;
        let mut ratio = |it: &plres_optim::Iterate<'_>| {
            if prev.is_finite() && prev > 0.0 {
                worst_ratio = worst_ratio.max(it.loss / prev);
            }
            prev = it.loss;
            ObserverAction::Continue
        };
        let out = run(
            &mut problem,
            solver,
            State::new(theta0.clone()),
            &stopping,
            &mut [&mut ratio],
        )?;
        let r = &out.report;
        println!(
            "{label:>15}: {:>4} iterations, {:>4} evaluations, final loss {:.3e}, ‖G‖ {:.3e}, max L_{{k+1}}/L_k {:.4}, {:?} ({:.2} µs/iteration, n = {n})",
            r.iterations,
            r.evaluations,
            r.final_loss,
            r.final_grad_norm,
            worst_ratio,
            r.stop_reason,
            r.elapsed.as_secs_f64() * 1e6 / r.iterations.max(1) as f64,
        );
    }
    Ok(())
}
