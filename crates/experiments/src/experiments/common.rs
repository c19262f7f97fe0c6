//! Helpers shared by the experiments: feature maps, training loops with a progress bar,
//! configuration checks.

use std::sync::Arc;

use faer::Mat;
use indicatif::ProgressBar;
use plres_kernels::KernelSpec;
use plres_optim::{
    GradientDescentConfig, History, Iterate, Observer, ObserverAction, Outcome, Problem, State,
    Stopping, run,
};
use plres_resnet::{LinearResNet, LinearResNetConfig};
use plres_rff::{FeatureMap, FourierVariant, RandomFourierFeatures};
use rand::Rng;

use crate::error::{ExperimentError, ResultExt};

/// `√(2/p) cos(Ωx + b)` features of the Gaussian kernel `exp(−‖x−y‖²/(2σ²))`.
pub fn gaussian_features(
    sigma: f64,
    d: usize,
    p: usize,
    rng: &mut impl Rng,
) -> Result<Arc<dyn FeatureMap>, ExperimentError> {
    let phi = RandomFourierFeatures::sample(
        &KernelSpec::Gaussian { sigma },
        d,
        p,
        FourierVariant::CosineWithPhase,
        rng,
    )
    .stage(|| format!("sampling {p} Gaussian random Fourier features in R^{d}"))?;
    Ok(Arc::new(phi))
}

/// A zero-initialised Euler `LinearResNet` over `features`.
pub fn euler_resnet(
    features: Arc<dyn FeatureMap>,
    depth: usize,
) -> Result<LinearResNet, ExperimentError> {
    LinearResNet::new(
        features,
        LinearResNetConfig {
            depth,
            ..Default::default()
        },
    )
    .stage(|| format!("building a LinearResNet of depth {depth}"))
}

/// Advances a progress bar to each iterate's index.
pub struct Progress<'a>(pub &'a ProgressBar);

impl Observer for Progress<'_> {
    fn observe(&mut self, it: &Iterate<'_>) -> ObserverAction {
        self.0.set_position(it.iteration);
        ObserverAction::Continue
    }
}

/// Full-batch gradient descent with step `eta` in `metric` for `iterations` steps, with a
/// [`History`] of every iterate, a progress bar and any further observers.
pub fn gradient_descent(
    problem: &mut dyn Problem,
    metric: plres_optim::Metric,
    eta: f64,
    theta0: Vec<f64>,
    iterations: u64,
    bar: &ProgressBar,
    extra: &mut [&mut dyn Observer],
    stage: &str,
) -> Result<(Outcome, History), ExperimentError> {
    let gd = GradientDescentConfig::new(eta)
        .with_metric(metric)
        .build()
        .stage(|| format!("{stage}: gradient descent configuration"))?;
    let mut history = History::new();
    let mut progress = Progress(bar);
    let mut observers: Vec<&mut dyn Observer> = vec![&mut history, &mut progress];
    for o in extra.iter_mut() {
        observers.push(&mut **o);
    }
    let out = run(
        problem,
        &gd,
        State::new(theta0),
        &Stopping::iterations(iterations),
        &mut observers,
    )
    .stage(|| stage.to_owned())?;
    bar.finish_and_clear();
    Ok((out, history))
}

/// Fails with a message naming the field unless `ok`.
pub fn require(
    ok: bool,
    field: &str,
    value: impl std::fmt::Display,
    expected: &str,
) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("{field} = {value}: expected {expected}"))
    }
}

/// The powers of two from `lo` to `hi` inclusive (`lo`, `hi` powers of two).
pub fn powers_of_two(lo: usize, hi: usize) -> Vec<usize> {
    let mut v = Vec::new();
    let mut p = lo.max(1);
    while p <= hi {
        v.push(p);
        p *= 2;
    }
    v
}

/// `‖A − B‖_F / ‖B‖_F` (0 when both vanish).
pub fn relative_frobenius(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    let num = (a - b).norm_l2();
    let den = b.norm_l2();
    if den == 0.0 { num } else { num / den }
}
