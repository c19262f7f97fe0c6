//! Experiment 6, `linear-vs-nonlinear`: the reference study's first figure.
//!
//! On the UCI handwritten digits shipped with plres-data (standardised, a seeded
//! train/test split, a fixed random embedding `A: R^64 → R^d` and a fixed random output
//! map `B: R^d → R^10`, softmax cross-entropy), two ResNets of depths `L ∈ {5, 10, 20}`
//! are trained by minibatch SGD in their `L²` metric with a MultiStep schedule:
//! * the LinearResNet over random ReLU features `φ(x) = √(2/p) relu(Wx + c)` (the hidden
//!   layer of the reference experiments: only `U_k` is trained, docs/theory.md §3.2);
//! * the ShlResNet `f_k(x) = U_k √(2/p) relu(W_k x + c_k)` with `U_k, W_k, c_k` trained
//!   (docs/theory.md §3.3).
//!
//! Train loss and test error per epoch, mean ± std over seeds (each seed draws its own
//! split, embedding, output map, features and batches) drawn as bands. Cross-entropy has
//! no PL guarantee (docs/theory.md §3.1), so this experiment reports measurements: its checks are
//! the empirical claims of the reference figure, stated with their tolerance.

use faer::Mat;
use plres_data::{Dataset, RandomEmbedding, load_digits, standardize_train_test, train_test_split};
use plres_optim::{Schedule, SgdConfig, State, Stopping};
use plres_resnet::loss::{argmax_rows, loss_value};
use plres_resnet::{
    Activation, Init, LinearResNet, LinearResNetConfig, Model, ShlResNet, ShlResNetConfig,
    TargetsRef, Trainable,
};
use plres_rff::RandomReluFeatures;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::common::{
    self, MAX_DEPTH, MAX_DIM, MAX_POINTS, MAX_REPEATS, MAX_STEPS, MAX_WIDTH, require,
    require_all_in_range, require_range, require_step,
};
use crate::error::{ExperimentError, ResultExt};
use crate::plot::{Plot, Series, mean_std};
use crate::registry::{Experiment, ExperimentConfig, Size};
use crate::run::{RunContext, RunOutput};
use crate::table::{ColumnType, Table};
use crate::{CheckReport, Relation, row};

/// The `linear-vs-nonlinear` experiment.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinearVsNonlinear;

/// Configuration of [`LinearVsNonlinear`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearVsNonlinearConfig {
    /// Fraction of the 1797 digits held out for testing.
    pub test_fraction: f64,
    /// Use at most this many training samples (`None`: all).
    pub max_train: Option<usize>,
    /// State dimension `d` of the ResNets (the embedding `A` is `d × 64`).
    pub dim: usize,
    /// Width `p` (random ReLU features / hidden units).
    pub width: usize,
    /// Depths `L`.
    pub depths: Vec<usize>,
    /// Repetitions (split, embedding, output map, features, batches all redrawn).
    pub seeds: usize,
    /// Epochs of SGD.
    pub epochs: u64,
    /// Minibatch size.
    pub batch_size: usize,
    /// Base step `η₀` of SGD in the `L²` metric.
    pub learning_rate: f64,
    /// Epochs at which the step is multiplied by `gamma` (MultiStep).
    pub milestones: Vec<u64>,
    /// MultiStep factor.
    pub gamma: f64,
}

impl ExperimentConfig for LinearVsNonlinearConfig {
    fn for_size(size: Size) -> Self {
        let (max_train, depths, seeds, epochs, batch_size) = match size {
            Size::Smoke => (Some(300), vec![5], 2, 4, 32),
            Size::Default => (None, vec![5, 10, 20], 5, 12, 64),
            Size::Full => (None, vec![5, 10, 20], 5, 40, 64),
        };
        Self {
            test_fraction: 0.25,
            max_train,
            dim: 24,
            width: 128,
            depths,
            seeds,
            epochs,
            batch_size,
            learning_rate: 0.5,
            milestones: vec![epochs / 2, 3 * epochs / 4],
            gamma: 0.1,
        }
    }

    fn validate(&self) -> Result<(), String> {
        require(
            self.test_fraction > 0.0 && self.test_fraction < 1.0,
            "test_fraction",
            self.test_fraction,
            "in (0, 1)",
        )?;
        // max_train only caps the data set's own size: any count ≥ 1 is in range
        require(
            self.max_train != Some(0),
            "max_train",
            0,
            "≥ 1 (or null: all)",
        )?;
        require_range("dim", self.dim, 1, MAX_DIM)?;
        require_range("width", self.width, 1, MAX_WIDTH)?;
        require_all_in_range("depths", &self.depths, 1, 1, MAX_DEPTH)?;
        require_range("seeds", self.seeds, 1, MAX_REPEATS)?;
        require_range("epochs", self.epochs, 1, MAX_STEPS)?;
        require_range("batch_size", self.batch_size, 1, MAX_POINTS)?;
        require_all_in_range("milestones", &self.milestones, 0, 0, MAX_STEPS)?;
        require_step(self.learning_rate)?;
        require(
            self.gamma > 0.0 && self.gamma <= 1.0,
            "gamma",
            self.gamma,
            "in (0, 1]",
        )
    }
}

/// The data of one repetition.
struct Split {
    x_train: Mat<f64>,
    y_train: Vec<usize>,
    x_test: Mat<f64>,
    y_test: Vec<usize>,
    embed: Mat<f64>,
    output: Mat<f64>,
}

/// Train loss and test error at the end of every epoch (index 0: before training).
struct Curves {
    train_loss: Vec<f64>,
    test_error: Vec<f64>,
    /// Entropy `−Σ_c π_c ln π_c` of the training labels' class frequencies: the
    /// cross-entropy of the best constant predictor.
    prior_entropy: f64,
    /// Number of test images (an error rate is a multiple of `1/n_test`).
    n_test: usize,
    /// `ρ = ‖G‖²/L` of the full training batch (metric norm) at the end of every epoch.
    rho: Vec<f64>,
}

/// `ρ = ‖G‖²/L` on the whole training set: the observed PL ratio (cross-entropy has no
/// certificate, docs/theory.md §3.1; this is measured, not bounded).
fn pl_ratio<M: Trainable>(m: &M, s: &Split) -> Result<f64, ExperimentError> {
    let g = m
        .gradient_report(s.x_train.as_ref(), TargetsRef::Classes(&s.y_train))
        .stage(|| "full-batch gradient".into())?;
    Ok(g.riesz_norm_sq / g.loss)
}

/// `−Σ_c π_c ln π_c` of the class frequencies of `labels`.
fn label_entropy(labels: &[usize]) -> f64 {
    let classes = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut count = vec![0usize; classes];
    for &l in labels {
        count[l] += 1;
    }
    let n = labels.len() as f64;
    count
        .iter()
        .filter(|c| **c > 0)
        .map(|&c| {
            let q = c as f64 / n;
            -q * q.ln()
        })
        .sum()
}

fn evaluate<M: Model>(m: &M, s: &Split) -> Result<(f64, f64), ExperimentError> {
    let z = m
        .forward(s.x_train.as_ref())
        .stage(|| "train logits".into())?;
    let loss = loss_value(z.as_ref(), TargetsRef::Classes(&s.y_train));
    let zt = m
        .forward(s.x_test.as_ref())
        .stage(|| "test logits".into())?;
    let mut pred = vec![0; zt.nrows()];
    argmax_rows(zt.as_ref(), &mut pred);
    let wrong = pred.iter().zip(&s.y_test).filter(|(a, b)| a != b).count();
    Ok((loss, wrong as f64 / s.y_test.len() as f64))
}

fn train<M: Trainable>(
    model: M,
    s: &Split,
    c: &LinearVsNonlinearConfig,
    shuffle_seed: u64,
    ctx: &RunContext,
    label: &str,
) -> Result<Curves, ExperimentError> {
    let sgd = SgdConfig::new(c.learning_rate, c.batch_size, shuffle_seed)
        .with_metric(model.metric())
        .with_schedule(Schedule::multi_step(c.milestones.clone(), c.gamma))
        .build()
        .stage(|| format!("{label}: SGD configuration"))?;
    let (l0, e0) = evaluate(&model, s)?;
    let batches = s.x_train.nrows().div_ceil(c.batch_size) as u64;
    let bar = ctx.progress_bar(c.epochs * batches, label.to_owned());
    let mut state = State::new(model.params().to_vec());
    let mut model = model;
    let mut curves = Curves {
        train_loss: vec![l0],
        test_error: vec![e0],
        prior_entropy: label_entropy(&s.y_train),
        n_test: s.y_test.len(),
        rho: vec![pl_ratio(&model, s)?],
    };
    for epoch in 0..c.epochs {
        let run = common::Training {
            model,
            x: s.x_train.as_ref(),
            targets: TargetsRef::Classes(&s.y_train),
            solver: &sgd,
            state,
            stopping: &Stopping::epochs(epoch + 1),
        };
        let (trained, _) = common::train(run, &mut [], &bar, &format!("{label}: epoch {epoch}"))?;
        (model, state) = (trained.model, trained.outcome.state);
        let (l, e) = evaluate(&model, s)?;
        curves.train_loss.push(l);
        curves.test_error.push(e);
        curves.rho.push(pl_ratio(&model, s)?);
    }
    bar.finish_and_clear();
    Ok(curves)
}

impl Experiment for LinearVsNonlinear {
    type Config = LinearVsNonlinearConfig;

    fn name(&self) -> &'static str {
        "linear-vs-nonlinear"
    }

    fn description(&self) -> &'static str {
        "LinearResNet over random ReLU features against the fully trained ShlResNet on the UCI \
         digits, L ∈ {5, 10, 20}, SGD with a MultiStep schedule: train loss and test error per \
         epoch, mean ± std over seeds (the reference study's first figure)."
    }

    fn run(
        &self,
        c: &LinearVsNonlinearConfig,
        ctx: &RunContext,
    ) -> Result<RunOutput, ExperimentError> {
        let digits = load_digits().stage(|| "loading the embedded digits".into())?;
        let mut metrics = Table::new(&[
            ("model", ColumnType::Text),
            ("depth", ColumnType::Int),
            ("seed", ColumnType::Int),
            ("epoch", ColumnType::Int),
            ("train_loss", ColumnType::Float),
            ("test_error", ColumnType::Float),
        ]);
        // curves[model][depth][seed]
        let mut curves: AllCurves = [Vec::new(), Vec::new()];
        for m in curves.iter_mut() {
            m.resize_with(c.depths.len(), Vec::new);
        }
        for seed in 0..c.seeds {
            repetition(c, ctx, &digits, seed, &mut metrics, &mut curves)?;
        }
        let mut out = RunOutput::new(metrics);
        plots(c, &curves, &mut out);
        checks(c, &curves, &mut out);
        Ok(out)
    }
}

/// Curves per model (0: LinearResNet, 1: ShlResNet), depth and seed.
type AllCurves = [Vec<Vec<Curves>>; 2];

/// Set-up of one repetition: a seeded split of the digits (at most `max_train` training
/// samples), standardised, with a random input embedding and output map.
fn make_split(
    c: &LinearVsNonlinearConfig,
    digits: &Dataset,
    rng: &mut ChaCha8Rng,
) -> Result<Split, ExperimentError> {
    let mut rng = rng;
    let split = train_test_split(digits, c.test_fraction, rng.next_u64())
        .stage(|| "train/test split".into())?;
    let (mut train_set, mut test_set) = (split.train, split.test);
    if let Some(m) = c.max_train.filter(|m| *m < train_set.n_samples()) {
        let idx: Vec<usize> = (0..m).collect();
        train_set = train_set.select(&idx);
    }
    standardize_train_test(&mut train_set, &mut test_set).stage(|| "standardising".into())?;
    let n_classes = train_set.y.n_outputs();
    let embed = RandomEmbedding::from_rng(train_set.d_in(), c.dim, &mut rng)
        .stage(|| "input embedding".into())?
        .a;
    let scale = 1.0 / (c.dim as f64).sqrt();
    let output = Mat::from_fn(n_classes, c.dim, |_, _| {
        let z: f64 = StandardNormal.sample(&mut rng);
        scale * z
    });
    let labels = |d: &plres_data::Dataset| -> Vec<usize> {
        d.y.labels().map(<[usize]>::to_vec).unwrap_or_default()
    };
    Ok(Split {
        y_train: labels(&train_set),
        y_test: labels(&test_set),
        x_train: train_set.x,
        x_test: test_set.x,
        embed,
        output,
    })
}

/// One repetition (seed): both models at every depth trained by SGD on that seed's split;
/// their rows of the per-epoch table and their curves.
fn repetition(
    c: &LinearVsNonlinearConfig,
    ctx: &RunContext,
    digits: &Dataset,
    seed: usize,
    metrics: &mut Table,
    curves: &mut AllCurves,
) -> Result<(), ExperimentError> {
    let mut rng = ctx.rng(seed as u64);
    let s = make_split(c, digits, &mut rng)?;
    let features = Arc::new(
        RandomReluFeatures::sample(c.dim, c.width, &mut rng)
            .stage(|| "random ReLU features".into())?,
    );
    let shl_seed = rng.next_u64();
    let shuffle_seed = rng.next_u64();
    for (di, &l) in c.depths.iter().enumerate() {
        let linear = LinearResNet::new(
            features.clone(),
            LinearResNetConfig {
                depth: l,
                ..Default::default()
            },
        )
        .and_then(|m| m.with_input_embedding(s.embed.clone()))
        .and_then(|m| m.with_output_map(s.output.clone()))
        .stage(|| format!("LinearResNet, L = {l}"))?;
        let shl = ShlResNet::new(ShlResNetConfig {
            dim: c.dim,
            width: c.width,
            depth: l,
            activation: Activation::Relu,
            init_u: Init::Zero,
            seed: shl_seed,
            shared_init: true,
        })
        .and_then(|m| m.with_input_embedding(s.embed.clone()))
        .and_then(|m| m.with_output_map(s.output.clone()))
        .stage(|| format!("ShlResNet, L = {l}"))?;
        let lin = train(
            linear,
            &s,
            c,
            shuffle_seed,
            ctx,
            &format!("linear L={l} s={seed}"),
        )?;
        let non = train(
            shl,
            &s,
            c,
            shuffle_seed,
            ctx,
            &format!("shl L={l} s={seed}"),
        )?;
        for (name, cv) in [("linear", &lin), ("shl", &non)] {
            for (e, (tl, te)) in cv.train_loss.iter().zip(&cv.test_error).enumerate() {
                metrics.push(row![name, l, seed, e, *tl, *te])?;
            }
        }
        tracing::info!(
            depth = l,
            seed,
            linear_test_error = lin.test_error.last().copied(),
            shl_test_error = non.test_error.last().copied(),
            "repetition done"
        );
        curves[0][di].push(lin);
        curves[1][di].push(non);
    }
    Ok(())
}

/// The figure: one panel per depth and quantity (top row training loss, bottom row test
/// error, each on its own axis), both models, mean ± std over seeds.
fn plots(c: &LinearVsNonlinearConfig, curves: &AllCurves, out: &mut RunOutput) {
    let epochs: Vec<f64> = (0..=c.epochs).map(|e| e as f64).collect();
    let names = ["LinearResNet (ReLU features)", "ShlResNet"];
    let mut loss_panels = Vec::new();
    let mut err_panels = Vec::new();
    let mut rho_panels = Vec::new();
    for (di, &l) in c.depths.iter().enumerate() {
        let mut loss_plot = Plot::new(
            format!("L = {l}: training loss"),
            "epoch",
            "train cross-entropy",
        )
        .log_y();
        let mut err_plot = Plot::new(format!("L = {l}: test error"), "epoch", "test error");
        let mut rho_plot = Plot::new(
            format!("L = {l}: ρ = ‖G‖²/L (no certificate)"),
            "epoch",
            "ρ (full batch)",
        )
        .log_y();
        for (mi, name) in names.iter().enumerate() {
            let runs = &curves[mi][di];
            let tl: Vec<Vec<f64>> = runs.iter().map(|r| r.train_loss.clone()).collect();
            let te: Vec<Vec<f64>> = runs.iter().map(|r| r.test_error.clone()).collect();
            loss_plot = loss_plot.with(Series::mean_std(*name, epochs.clone(), &tl));
            err_plot = err_plot.with(Series::mean_std(*name, epochs.clone(), &te));
            let rho: Vec<Vec<f64>> = runs.iter().map(|r| r.rho.clone()).collect();
            rho_plot = rho_plot.with(Series::mean_std(*name, epochs.clone(), &rho));
        }
        loss_panels.push(loss_plot);
        err_panels.push(err_plot);
        rho_panels.push(rho_plot);
    }
    loss_panels.extend(err_panels);
    loss_panels.extend(rho_panels);
    out.figure(
        "curves",
        format!(
            "Digits: training loss (top), test error (middle) and the full-batch ratio \
             ρ = ‖G‖²/L (bottom) per epoch for every depth {:?}, mean ± std over {} seeds (SGD, \
             MultiStep at epochs {:?}). Cross-entropy has no PL certificate (docs/theory.md \
             §3.1): ρ is measured for both models, nothing bounds it from below.",
            c.depths, c.seeds, c.milestones
        ),
        Plot::panels(
            format!(
                "LinearResNet vs ShlResNet on the digits ({} seeds)",
                c.seeds
            ),
            c.depths.len(),
            loss_panels,
        ),
    );
}

/// The checks of the reference figure, per depth: both models train ([`trains_report`])
/// and the linear-in-parameters model's final test error is comparable to the non-linear
/// one's ([`comparable_report`]); with the final test errors as values.
fn checks(c: &LinearVsNonlinearConfig, curves: &AllCurves, out: &mut RunOutput) {
    let last = c.epochs as usize;
    for (di, &l) in c.depths.iter().enumerate() {
        let final_errors =
            |mi: usize| -> Vec<f64> { curves[mi][di].iter().map(|r| r.test_error[last]).collect() };
        let n_test = curves[0][di].iter().map(|r| r.n_test).min().unwrap_or(0);
        let rep = comparable_report(l, &final_errors(0), &final_errors(1), n_test);
        out.check(rep);
        for (mi, name) in ["LinearResNet", "ShlResNet"].iter().enumerate() {
            let finals: Vec<f64> = curves[mi][di].iter().map(|r| r.train_loss[last]).collect();
            let prior = curves[mi][di]
                .iter()
                .map(|r| r.prior_entropy)
                .fold(f64::INFINITY, f64::min);
            out.check(trains_report(&format!("L = {l}: {name}"), &finals, prior));
        }
        let ms = |v: &[f64]| {
            let runs: Vec<Vec<f64>> = v.iter().map(|x| vec![*x]).collect();
            let (m, s) = mean_std(1, &runs);
            (m[0], s[0])
        };
        let (lm, ls) = ms(&final_errors(0));
        let (sm, ss) = ms(&final_errors(1));
        out.value(format!("linear_test_error_L{l}"), lm)
            .value(format!("shl_test_error_L{l}"), sm)
            .value(format!("linear_test_error_std_L{l}"), ls)
            .value(format!("shl_test_error_std_L{l}"), ss);
    }
}

/// Sample mean and standard deviation (`n − 1`; 0 for one value).
fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (m, var.sqrt())
}

/// "The linear-in-parameters model is as good as the non-linear one" (reference study,
/// Figure 1): the mean final test error of the LinearResNet over the seeds is at most the
/// ShlResNet's plus the 95 % confidence half-width of the difference of the means
/// (`t₉₇.₅(2k−2)·√((s_lin² + s_shl²)/k)`, `k` seeds: the seed spread) plus `1/n_test` (an
/// error rate is a multiple of `1/n_test`). Vacuous with one seed (no spread).
pub fn comparable_report(depth: usize, linear: &[f64], shl: &[f64], n_test: usize) -> CheckReport {
    let k = linear.len().min(shl.len());
    let (lm, ls) = mean_sd(linear);
    let (sm, ss) = mean_sd(shl);
    let t = super::common::student_t_975((2 * k).saturating_sub(2));
    let half = t * ((ls * ls + ss * ss) / k as f64).sqrt();
    let grain = 1.0 / n_test.max(1) as f64;
    CheckReport::new(
        format!(
            "L = {depth}: LinearResNet test error {lm:.3} ± {ls:.3} is comparable to ShlResNet's \
             {sm:.3} ± {ss:.3} (≤ ShlResNet + 95 % CI of the difference {half:.3} + 1/n_test {grain:.4}; {k} seeds)"
        ),
        "reference study, Figure 1 (empirical)",
        lm,
        sm,
        half + grain,
        Relation::AtMost,
    )
    .vacuous_if(k < 2, || {
        "one seed: the seed spread, hence the tolerance, is unknown".to_owned()
    })
}

/// "SGD trains the model": the upper 95 % confidence bound of the mean final training
/// cross-entropy over the seeds (`mean + t₉₇.₅(k−1)·s/√k`) is below the cross-entropy of
/// the best constant predictor, the entropy of the training labels' class frequencies
/// (`≈ ln 10` for the digits): a model that learnt nothing beyond the class frequencies,
/// e.g. one trained on shuffled labels, cannot pass. Vacuous with one seed.
pub fn trains_report(what: &str, final_losses: &[f64], prior_entropy: f64) -> CheckReport {
    let k = final_losses.len();
    let (m, s) = mean_sd(final_losses);
    let upper = m + super::common::student_t_975(k.saturating_sub(1)) * s / (k as f64).sqrt();
    CheckReport::new(
        format!(
            "{what}: SGD trains — mean final training cross-entropy {m:.3} (95 % upper bound {upper:.3}) \
             below the best constant predictor's, the label entropy {prior_entropy:.3}"
        ),
        "reference study, Figure 1 (empirical); constant predictor: cross-entropy = entropy",
        upper,
        prior_entropy,
        0.0,
        Relation::AtMost,
    )
    .vacuous_if(k < 2, || {
        "one seed: the seed spread, hence the upper bound, is unknown".to_owned()
    })
}
