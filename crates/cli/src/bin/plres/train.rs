//! `plres train`: a run folder like the experiments' (every file written atomically).
//!
//! ```text
//! RUN/config.json        the command's inputs and every resolved default (ResolvedConfig)
//! RUN/metrics.csv        one row per iterate: loss, ‖G‖², ρ, η, μ_cert, λ_min, μ_tight
//! RUN/certificate.csv    the certified iterates only (squared loss)
//! RUN/loss.{svg,png}     loss per iterate
//! RUN/certificate.{svg,png}  ρ, μ_cert, μ_tight per iterate (log scale)
//! RUN/model.safetensors  the trained network (docs/checkpoint-format.md)
//! RUN/summary.json       the training report; written last: its presence marks a finished run
//! RUN/snapshot/          while running: the last resumable snapshot (removed at the end)
//! ```

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use plres::io::write_file;
use plres::{
    Bandwidth, Budget, Estimator, EstimatorConfig, FeatureKind, Fitted, IntegratorKind, LossKind,
    ModelKind, OptimizerKind, PlresError, TraceRow, Width,
};
use plres_experiments::plot::{Plot, Series, render};
use plres_optim::{Iterate, Observer, ObserverAction};
use serde::{Deserialize, Serialize};

use crate::data::load;
use crate::{FeaturesArg, IntegratorArg, LossArg, ModelArg, OptimizerArg, TrainArgs, auto_or};

/// What `config.json` holds: enough to rerun (or resume) the command.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunConfig {
    /// The data file (absolute path).
    pub data: PathBuf,
    /// `--target`.
    pub target: Option<String>,
    /// `--labels`.
    pub labels: Option<String>,
    /// `--labels-file` (absolute path).
    pub labels_file: Option<PathBuf>,
    /// Input column names.
    pub input_names: Vec<String>,
    /// Target column names.
    pub target_names: Vec<String>,
    /// Snapshot period (iterates).
    pub snapshot_every: u64,
    /// The estimator's settings, every default resolved.
    pub config: plres::ResolvedConfig,
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

fn estimator_config(a: &TrainArgs) -> Result<EstimatorConfig, PlresError> {
    Ok(EstimatorConfig {
        model: match a.model {
            ModelArg::Linear => ModelKind::Linear,
            ModelArg::Kernel => ModelKind::Kernel,
            ModelArg::Shl => ModelKind::Shl,
        },
        features: match a.features {
            FeaturesArg::Gaussian => FeatureKind::Gaussian,
            FeaturesArg::Laplace => FeatureKind::Laplace,
            FeaturesArg::Matern32 => FeatureKind::Matern32,
            FeaturesArg::Matern52 => FeatureKind::Matern52,
            FeaturesArg::Relu => FeatureKind::Relu,
        },
        bandwidth: auto_or::<f64>("bandwidth", &a.bandwidth)?
            .map_or(Bandwidth::Auto, Bandwidth::Value),
        width: auto_or::<usize>("width", &a.width)?.map_or(Width::Auto, Width::Value),
        width_cap: a.width_cap,
        depth: a.depth,
        integrator: match a.integrator {
            IntegratorArg::Euler => IntegratorKind::Euler,
            IntegratorArg::Midpoint => IntegratorKind::Midpoint,
            IntegratorArg::Rk4 => IntegratorKind::Rk4,
        },
        loss: match a.loss {
            LossArg::Squared => LossKind::Squared,
            LossArg::CrossEntropy => LossKind::CrossEntropy,
        },
        optimizer: match a.optimizer {
            OptimizerArg::Gd => OptimizerKind::Gd,
            OptimizerArg::Sgd => OptimizerKind::Sgd,
            OptimizerArg::Adam => OptimizerKind::Adam,
        },
        lr: a.lr,
        budget: match (a.steps, a.epochs) {
            (Some(t), _) => Some(Budget::Steps(t)),
            (_, Some(e)) => Some(Budget::Epochs(e)),
            _ => None,
        },
        batch: a.batch,
        seed: a.seed,
        test_fraction: a.test_fraction,
        certify_every: a.certify_every,
    })
}

/// A progress bar, on a terminal only.
struct Progress(ProgressBar);

impl Observer for Progress {
    fn observe(&mut self, it: &Iterate<'_>) -> ObserverAction {
        self.0.set_position(it.iteration);
        self.0.set_message(format!("loss {:.3e}", it.loss));
        ObserverAction::Continue
    }
}

/// `plres train` (fresh or `--resume`).
pub fn run(a: TrainArgs) -> Result<(), PlresError> {
    if let Some(run) = &a.resume {
        return crate::train::resume(run);
    }
    let out = a.out.clone().expect("clap requires --out without --resume");
    let data_path = a
        .data
        .clone()
        .expect("clap requires --data without --resume");
    if out.exists() && !a.force {
        return Err(PlresError::OutputExists { path: out });
    }
    let cfg = estimator_config(&a)?;
    cfg.validate()?;
    let loaded = load(&data_path, &a.targets, true)?;
    let y = loaded.y.as_ref().expect("targets required");
    let prepared = Estimator::from_config(cfg).prepare(loaded.x.as_ref(), y.as_ref())?;
    let total = total_steps(&prepared.config);
    let snapshot_every = a
        .snapshot_every
        .unwrap_or_else(|| total.div_ceil(20).max(1));
    if snapshot_every == 0 {
        return Err(PlresError::InvalidSetting {
            field: "snapshot-every",
            value: "0".into(),
            expected: "at least 1".into(),
        });
    }
    let run_config = RunConfig {
        data: absolute(&data_path),
        target: a.targets.target.clone(),
        labels: a.targets.labels.clone(),
        labels_file: a.targets.labels_file.as_deref().map(absolute),
        input_names: loaded.input_names.clone(),
        target_names: loaded.target_names.clone(),
        snapshot_every,
        config: prepared.config.clone(),
    };
    if out.exists() {
        std::fs::remove_dir_all(&out).map_err(|e| PlresError::Write {
            path: out.clone(),
            reason: format!("removing the old run folder: {e}"),
        })?;
    }
    std::fs::create_dir_all(&out).map_err(|e| PlresError::Write {
        path: out.clone(),
        reason: e.to_string(),
    })?;
    write_json(&out.join("config.json"), &run_config)?;
    let result = crate::train::execute(&out, &run_config, prepared, None);
    if result.is_err() {
        // a failed run (divergence) is not resumable: leave nothing behind
        let _ = std::fs::remove_dir_all(&out);
    }
    result
}

pub fn total_steps(c: &plres::ResolvedConfig) -> u64 {
    match c.budget {
        Budget::Steps(t) => t,
        Budget::Epochs(e) => e * c.batch.map_or(1, |b| c.n_train.div_ceil(b).max(1) as u64),
    }
}

/// `plres train --resume RUN`.
pub fn resume(run: &Path) -> Result<(), PlresError> {
    Err(PlresError::Incompatible {
        field: "resume",
        value: run.display().to_string(),
        reason: "not available yet".into(),
    })
}

/// Trains `prepared` (from `snapshot` when resuming) and writes every output of `out`.
pub fn execute(
    out: &Path,
    rc: &RunConfig,
    prepared: plres::Prepared,
    snapshot: Option<(plres_optim::State, Vec<TraceRow>)>,
) -> Result<(), PlresError> {
    let total = total_steps(&rc.config);
    let pb = if std::io::stderr().is_terminal() {
        let pb = ProgressBar::new(total);
        pb.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} iterates, {msg} ({eta})")
                .expect("a valid template"),
        );
        pb
    } else {
        ProgressBar::hidden()
    };
    let mut progress = Progress(pb.clone());
    let (state, earlier) = match snapshot {
        Some((s, rows)) => (Some(s), rows),
        None => (None, Vec::new()),
    };
    let fitted = prepared.train(state, &mut [&mut progress])?;
    pb.finish_and_clear();
    let mut trace = earlier;
    let first = fitted.trace.first().map_or(u64::MAX, |r| r.iteration);
    trace.retain(|r| r.iteration < first);
    trace.extend(fitted.trace.iter().copied());
    write_outputs(out, rc, &fitted, &trace)?;
    println!("{}", summary_line(out, &fitted));
    Ok(())
}

fn write_json(path: &Path, v: &impl Serialize) -> Result<(), PlresError> {
    let mut s = serde_json::to_string_pretty(v).expect("run files serialise");
    s.push('\n');
    write_file(path, s.as_bytes())
}

fn f(v: Option<f64>) -> String {
    v.map_or_else(|| "NaN".into(), |v| format!("{v:e}"))
}

/// `metrics.csv` text.
pub fn metrics_csv(trace: &[TraceRow]) -> String {
    let mut s = String::from(
        "iteration,epoch,loss,grad_norm_sq,rho,learning_rate,mu_cert,rho_certified,lambda_min,mu_tight\n",
    );
    for r in trace {
        s.push_str(&format!(
            "{},{},{:e},{:e},{:e},{:e},{},{},{},{}\n",
            r.iteration,
            r.epoch,
            r.loss,
            r.grad_norm_sq,
            r.rho,
            r.learning_rate,
            f(r.mu_cert),
            f(r.rho_certified),
            f(r.lambda_min),
            f(r.mu_tight)
        ));
    }
    s
}

#[derive(Serialize)]
struct Summary<'a> {
    report: &'a plres::TrainingReport,
    model: &'a str,
    width: Option<usize>,
    depth: usize,
    n_params: usize,
    checkpoint: &'a str,
    final_certificate: Option<&'a TraceRow>,
}

fn write_outputs(
    out: &Path,
    _rc: &RunConfig,
    fitted: &Fitted,
    trace: &[TraceRow],
) -> Result<(), PlresError> {
    write_file(&out.join("metrics.csv"), metrics_csv(trace).as_bytes())?;
    let cert: Vec<&TraceRow> = trace.iter().filter(|r| r.mu_cert.is_some()).collect();
    if !cert.is_empty() {
        let mut s = String::from("iteration,loss,rho,mu_cert,lambda_min,mu_tight\n");
        for r in &cert {
            s.push_str(&format!(
                "{},{:e},{},{},{},{}\n",
                r.iteration,
                r.loss,
                f(r.rho_certified),
                f(r.mu_cert),
                f(r.lambda_min),
                f(r.mu_tight)
            ));
        }
        write_file(&out.join("certificate.csv"), s.as_bytes())?;
    }
    let it: Vec<f64> = trace.iter().map(|r| r.iteration as f64).collect();
    let plot_err = |e: plres_experiments::ExperimentError| PlresError::Write {
        path: out.to_path_buf(),
        reason: e.to_string(),
    };
    render(
        &Plot::new("Training loss", "iteration", "loss")
            .log_y()
            .with(Series::line(
                "loss L(θ_t)",
                it,
                trace.iter().map(|r| r.loss).collect(),
            )),
        out,
        "loss",
    )
    .map_err(plot_err)?;
    if !cert.is_empty() {
        let ci: Vec<f64> = cert.iter().map(|r| r.iteration as f64).collect();
        let mut plot = Plot::new("PL certificate: ρ ≥ μ_cert", "iteration", "value")
            .log_y()
            .with(Series::line(
                "ρ = ‖G‖²/L",
                ci.clone(),
                cert.iter()
                    .map(|r| r.rho_certified.unwrap_or(f64::NAN))
                    .collect(),
            ))
            .with(Series::line(
                "μ_cert",
                ci,
                cert.iter().map(|r| r.mu_cert.unwrap_or(f64::NAN)).collect(),
            ));
        let tight: Vec<&&TraceRow> = cert.iter().filter(|r| r.mu_tight.is_some()).collect();
        if !tight.is_empty() {
            plot = plot.with(Series::points(
                "μ_tight",
                tight.iter().map(|r| r.iteration as f64).collect(),
                tight
                    .iter()
                    .map(|r| r.mu_tight.unwrap_or(f64::NAN))
                    .collect(),
            ));
        }
        render(&plot, out, "certificate").map_err(plot_err)?;
    }
    fitted.save(out.join("model.safetensors"))?;
    let summary = Summary {
        report: &fitted.report,
        model: &fitted.config.model,
        width: fitted.config.width.width,
        depth: fitted.config.depth,
        n_params: fitted.network.model().params().len(),
        checkpoint: "model.safetensors",
        final_certificate: cert.last().copied(),
    };
    write_json(&out.join("summary.json"), &summary)?;
    let snap = out.join("snapshot");
    if snap.exists() {
        std::fs::remove_dir_all(&snap).map_err(|e| PlresError::Write {
            path: snap,
            reason: e.to_string(),
        })?;
    }
    Ok(())
}

fn summary_line(out: &Path, fitted: &Fitted) -> String {
    let r = &fitted.report;
    let c = &fitted.config;
    let width = c
        .width
        .width
        .map_or_else(|| "∞".to_string(), |p| p.to_string());
    let test = r
        .test_score
        .map_or_else(String::new, |s| format!(", test {} {s:.4}", r.score_name));
    let cert = match r.mu_cert_min {
        Some(mu) => format!(", μ_cert ≥ {mu:.3e} ({} violations)", r.violations.len()),
        None => String::new(),
    };
    format!(
        "plres train: {} ResNet (p = {width}, L = {}), {} steps in {:.1} s: loss {:.4e} → {:.4e}, train {} {:.4}{test}{cert} → {}",
        c.model,
        c.depth,
        r.iterations,
        r.seconds,
        r.initial_loss,
        r.final_loss,
        r.score_name,
        r.train_score,
        out.display()
    )
}
