//! `plres`: train, certify and size a linear-residual ResNet on your own data.
//!
//! A thin command line over the `plres` library (the estimator API): `train` writes a run
//! folder, `certify` the PL certificate of a checkpoint on data, `features-needed` both
//! random-feature bounds, `predict` predictions. Errors are one line on stderr; exit code
//! 2 for bad input (files, values, an existing output), 1 for a failed run.

#![forbid(unsafe_code)]

mod commands;
mod data;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use plres::PlresError;

/// Train, certify and size linear-residual ResNets on your own data (plres).
#[derive(Debug, Parser)]
#[command(name = "plres", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a network and write a run folder (config.json, metrics.csv, plots,
    /// summary.json, model.safetensors, the certificate per iterate).
    Train(Box<TrainArgs>),
    /// The PL certificate of a checkpoint on data: μ_cert, ρ, μ_tight, the per-layer
    /// λ_min and the expressivity check, as a table and JSON.
    Certify(CertifyArgs),
    /// How many random Fourier features the expressivity condition needs on the data:
    /// the pointwise and the uniform bound (docs/theory.md §6), with the λ_min they used.
    FeaturesNeeded(FeaturesArgs),
    /// Predictions of a checkpoint on data, written as CSV or .npy.
    Predict(PredictArgs),
}

/// Which columns of the data file are targets.
#[derive(Debug, Clone, Args, Default)]
pub struct TargetArgs {
    /// Regression target columns: names from the CSV header or 0-based indices,
    /// comma-separated (the other columns are the inputs).
    #[arg(long, value_name = "COLS", conflicts_with = "labels")]
    pub target: Option<String>,
    /// The column holding class labels (integers 0, 1, …): name or 0-based index.
    #[arg(long, value_name = "COL")]
    pub labels: Option<String>,
    /// Class labels from a separate file (an IDX labels file, or a one-column CSV/.npy)
    /// instead of a column of the data.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["target", "labels"])]
    pub labels_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModelArg {
    Linear,
    Kernel,
    Shl,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FeaturesArg {
    Gaussian,
    Laplace,
    Matern32,
    Matern52,
    Relu,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum IntegratorArg {
    Euler,
    Midpoint,
    Rk4,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LossArg {
    Squared,
    CrossEntropy,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OptimizerArg {
    Gd,
    Sgd,
    Adam,
}

/// `plres train`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("budget").args(["epochs", "steps"])))]
struct TrainArgs {
    /// Data file: CSV with a header, .npy (2-D, one sample per row) or IDX.
    #[arg(long, value_name = "FILE", required_unless_present = "resume")]
    data: Option<PathBuf>,
    #[command(flatten)]
    targets: TargetArgs,
    /// The network: linear (random features), kernel (infinite width) or shl (baseline).
    #[arg(long, value_enum, default_value = "linear")]
    model: ModelArg,
    /// Feature map (linear) or kernel (kernel model).
    #[arg(long, value_enum, default_value = "gaussian")]
    features: FeaturesArg,
    /// Kernel bandwidth σ (or ℓ), or auto: the median pairwise distance.
    #[arg(long, value_name = "auto|σ", default_value = "auto")]
    bandwidth: String,
    /// Width p, or auto: the pointwise feature-count bound at δ = 0.05, capped.
    #[arg(long, value_name = "auto|p", default_value = "auto")]
    width: String,
    /// The cap of --width auto.
    #[arg(long, value_name = "P", default_value_t = 512)]
    width_cap: usize,
    /// Depth L.
    #[arg(long, value_name = "L", default_value_t = 8)]
    depth: usize,
    /// Depth discretisation.
    #[arg(long, value_enum, default_value = "euler")]
    integrator: IntegratorArg,
    /// Loss (the certificate is for the squared loss).
    #[arg(long, value_enum, default_value = "squared")]
    loss: LossArg,
    /// Optimizer (all in the model's L² metric).
    #[arg(long, value_enum, default_value = "gd")]
    optimizer: OptimizerArg,
    /// Learning rate (default 0.5 for gd and sgd, 0.01 for adam).
    #[arg(long, value_name = "η")]
    lr: Option<f64>,
    /// Passes over the training data (default: 20 for sgd and adam).
    #[arg(long, value_name = "E")]
    epochs: Option<u64>,
    /// Optimizer steps (default: 100 for gd).
    #[arg(long, value_name = "T")]
    steps: Option<u64>,
    /// Minibatch size (sgd: default 64; adam: full batch by default).
    #[arg(long, value_name = "B")]
    batch: Option<usize>,
    /// Seed of every random draw.
    #[arg(long, value_name = "S", default_value_t = 0)]
    seed: u64,
    /// Fraction of the samples held out for testing.
    #[arg(long, value_name = "f", default_value_t = 0.2)]
    test_fraction: f64,
    /// Certify every k-th iterate (default: about 50 iterates per run).
    #[arg(long, value_name = "k")]
    certify_every: Option<u64>,
    /// Save a resumable snapshot every k iterates (default: about 20 per run).
    #[arg(long, value_name = "k")]
    snapshot_every: Option<u64>,
    /// The run folder to write (must not exist, unless --force).
    #[arg(long, value_name = "RUN", required_unless_present = "resume")]
    out: Option<PathBuf>,
    /// Replace an existing run folder.
    #[arg(long)]
    force: bool,
    /// Continue an interrupted run from its last snapshot (every other option is read
    /// from the run's config.json).
    #[arg(long, value_name = "RUN", conflicts_with_all = ["data", "out", "force"])]
    resume: Option<PathBuf>,
}

/// `plres certify`.
#[derive(Debug, Args)]
struct CertifyArgs {
    /// A checkpoint written by `plres train` (model.safetensors).
    #[arg(long, value_name = "FILE")]
    checkpoint: PathBuf,
    /// Data file (CSV, .npy, IDX) with the targets.
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    #[command(flatten)]
    targets: TargetArgs,
    /// Also write the certificate as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Print JSON on stdout instead of the table.
    #[arg(long)]
    print_json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum KernelArg {
    Gaussian,
    Laplace,
    Matern32,
    Matern52,
}

/// `plres features-needed`.
#[derive(Debug, Args)]
struct FeaturesArgs {
    /// The kernel whose random Fourier features are counted.
    #[arg(long, value_enum, default_value = "gaussian")]
    kernel: KernelArg,
    /// Bandwidth σ (or ℓ), or auto: the median pairwise distance.
    #[arg(long, value_name = "auto|σ", default_value = "auto")]
    bandwidth: String,
    /// Data file (CSV, .npy, IDX); target columns given with --target/--labels are left out.
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    #[command(flatten)]
    targets: TargetArgs,
    /// Failure probability δ.
    #[arg(long, value_name = "δ", default_value_t = 0.05)]
    delta: f64,
    /// Use the inputs as they are (default: standardised, as `plres train` does).
    #[arg(long)]
    raw: bool,
    /// Print JSON instead of the table.
    #[arg(long)]
    print_json: bool,
}

/// `plres predict`.
#[derive(Debug, Args)]
struct PredictArgs {
    /// A checkpoint written by `plres train`.
    #[arg(long, value_name = "FILE")]
    checkpoint: PathBuf,
    /// Inputs (CSV, .npy, IDX); target columns given with --target/--labels are dropped.
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    #[command(flatten)]
    targets: TargetArgs,
    /// Output file, .csv or .npy.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Write the raw outputs (logits of a classifier) instead of the predictions.
    #[arg(long)]
    outputs: bool,
    /// Replace an existing output file.
    #[arg(long)]
    force: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(a) => train::run(*a),
        Command::Certify(a) => commands::certify(a),
        Command::FeaturesNeeded(a) => commands::features_needed(a),
        Command::Predict(a) => commands::predict(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("plres: error: {}", plres::error::error_chain(&e));
            ExitCode::from(if e.is_user_error() { 2 } else { 1 })
        }
    }
}

/// Parses `auto` or a number for a flag.
fn auto_or<T: std::str::FromStr>(flag: &'static str, s: &str) -> Result<Option<T>, PlresError> {
    if s.trim().eq_ignore_ascii_case("auto") {
        return Ok(None);
    }
    s.trim()
        .parse()
        .map(Some)
        .map_err(|_| PlresError::InvalidSetting {
            field: flag,
            value: s.to_string(),
            expected: "auto or a number".into(),
        })
}
