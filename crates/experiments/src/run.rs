//! Run folders (docs/theory.md §8): one folder per experiment run, every file written atomically.
//!
//! A run of experiment `name` into `out/` produces `out/name/` holding
//! - `config.json`: a [`RunConfig`] (experiment, size, seed, version, the experiment's
//!   own `Config`), written first, before the experiment starts;
//! - `metrics.csv` (one row per iterate) and any further `<table>.csv`;
//! - `<stem>.svg` and `<stem>.png` for every figure;
//! - `checks.json`: the `CheckReport`s;
//! - `summary.json`: a [`RunSummary`], written last, so its presence marks a completed
//!   run; or `error.txt` when the experiment returned an error.
//!
//! Every file goes to a temporary file in the same folder, is synced and renamed into
//! place and the folder synced (`plres_data::io::write_atomic`), so a reader never sees a
//! half-written file. An existing run folder is only replaced when
//! `force` is set, and only if it is one (it holds `config.json`) or is empty.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use plres_data::io::write_atomic;
use plres_theory::CheckReport;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ExperimentError;
use crate::plot::{Plot, render};
use crate::registry::{DynExperiment, Size};
use crate::table::Table;

/// File names inside a run folder.
pub mod files {
    /// The run's configuration.
    pub const CONFIG: &str = "config.json";
    /// One row per iterate.
    pub const METRICS: &str = "metrics.csv";
    /// The checks of theoretical claims.
    pub const CHECKS: &str = "checks.json";
    /// Written last: marks a completed run.
    pub const SUMMARY: &str = "summary.json";
    /// Written instead of the summary when the experiment failed.
    pub const ERROR: &str = "error.txt";
    /// The tracing log (written by the binary that runs the experiment).
    pub const LOG: &str = "run.log";
}

/// Writes `value` as pretty JSON (with a final newline) to `path` atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), ExperimentError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|source| ExperimentError::Json {
        path: path.to_owned(),
        source,
    })?;
    text.push('\n');
    Ok(write_atomic(path, text.as_bytes())?)
}

/// Reads a JSON file into `T`.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ExperimentError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| ExperimentError::io("reading", path, e))?;
    serde_json::from_str(&text).map_err(|source| ExperimentError::Json {
        path: path.to_owned(),
        source,
    })
}

/// `config.json`: what identifies a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// The experiment's registered name.
    pub experiment: String,
    /// The size level the configuration was made for (or started from).
    pub size: Size,
    /// The seed every random generator of the run derives from.
    pub seed: u64,
    /// Version of plres-experiments that ran it.
    pub plres_version: String,
    /// The experiment's own configuration.
    pub config: Value,
}

/// A figure of `summary.json`: its file stem and caption.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FigureEntry {
    /// `<stem>.svg` and `<stem>.png` are in the run folder.
    pub stem: String,
    /// One sentence saying what the figure shows.
    pub caption: String,
}

/// `summary.json`: written last; its presence marks a completed run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The experiment's registered name.
    pub experiment: String,
    /// Wall-clock time of the run in seconds.
    pub wall_time_s: f64,
    /// Number of checks.
    pub checks_total: usize,
    /// Number of checks that hold.
    pub checks_holding: usize,
    /// Number of vacuous checks (bound 0 or infinite; absent in summaries written before
    /// vacuous verdicts existed, read as 0).
    #[serde(default)]
    pub checks_vacuous: usize,
    /// The figures, in the order the report shows them.
    pub figures: Vec<FigureEntry>,
    /// The CSV files of the run besides `metrics.csv` (file names).
    pub tables: Vec<String>,
    /// The experiment's headline numbers (final loss, fitted slopes, …).
    pub values: Map<String, Value>,
}

/// A figure an experiment produced: drawn to `<stem>.svg` and `<stem>.png`.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// File stem: lowercase ASCII letters, digits, `-` and `_`.
    pub stem: String,
    /// One sentence saying what the figure shows.
    pub caption: String,
    /// The plot.
    pub plot: Plot,
}

/// What an experiment returns; the runner writes it into the run folder.
#[derive(Clone, Debug, Default)]
pub struct RunOutput {
    /// `metrics.csv`: one row per iterate.
    pub metrics: Option<Table>,
    /// Further tables, written as `<name>.csv` (e.g. one row per width of a sweep).
    pub tables: Vec<(String, Table)>,
    /// Figures.
    pub figures: Vec<Figure>,
    /// Checks of the theory's claims.
    pub checks: Vec<CheckReport>,
    /// Headline numbers for `summary.json` and the report.
    pub values: Map<String, Value>,
}

impl RunOutput {
    /// An output with this metrics table and nothing else yet.
    pub fn new(metrics: Table) -> Self {
        Self {
            metrics: Some(metrics),
            ..Self::default()
        }
    }

    /// Adds a further table, written as `<name>.csv`.
    pub fn table(&mut self, name: impl Into<String>, table: Table) -> &mut Self {
        self.tables.push((name.into(), table));
        self
    }

    /// Adds a figure.
    pub fn figure(
        &mut self,
        stem: impl Into<String>,
        caption: impl Into<String>,
        plot: Plot,
    ) -> &mut Self {
        self.figures.push(Figure {
            stem: stem.into(),
            caption: caption.into(),
            plot,
        });
        self
    }

    /// Adds a check.
    pub fn check(&mut self, report: CheckReport) -> &mut Self {
        self.checks.push(report);
        self
    }

    /// Records a headline number (or any JSON value) under `key`.
    pub fn value(&mut self, key: impl Into<String>, value: impl Into<Value>) -> &mut Self {
        self.values.insert(key.into(), value.into());
        self
    }
}

/// What an experiment can use while it runs: its folder, seed, size and progress bars.
#[derive(Clone, Debug)]
pub struct RunContext {
    name: String,
    dir: PathBuf,
    seed: u64,
    size: Size,
    progress: bool,
}

impl RunContext {
    /// A context for experiment `name` running in `dir`; `progress` says whether
    /// progress bars are drawn (on stderr) or hidden.
    pub fn new(
        name: impl Into<String>,
        dir: PathBuf,
        seed: u64,
        size: Size,
        progress: bool,
    ) -> Self {
        Self {
            name: name.into(),
            dir,
            seed,
            size,
            progress,
        }
    }

    /// The run folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The run's base seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The size level.
    pub fn size(&self) -> Size {
        self.size
    }

    /// The experiment's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// An independent seeded generator: the run's seed, ChaCha stream `stream`. Use one
    /// stream per purpose (data, features, each repetition) so that changing one part of
    /// an experiment does not shift the random numbers of another.
    pub fn rng(&self, stream: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(stream);
        rng
    }

    /// A progress bar of `len` steps for one training loop, drawn on stderr when progress
    /// is on and hidden otherwise (`ProgressDrawTarget::hidden()`).
    pub fn progress_bar(&self, len: u64, message: impl Into<Cow<'static, str>>) -> ProgressBar {
        let target = if self.progress {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(len), target);
        let style = ProgressStyle::with_template(
            "{prefix:>20} {msg:<28} [{bar:32}] {pos:>6}/{len:<6} {elapsed:>4} eta {eta:>4}",
        )
        .expect("the progress template is valid")
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(self.name.clone());
        bar.set_message(message);
        bar
    }
}

/// A run folder that exists and holds the run's `config.json`.
#[derive(Clone, Debug)]
pub struct RunFolder {
    path: PathBuf,
    config: RunConfig,
}

impl RunFolder {
    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its `config.json`.
    pub fn config(&self) -> &RunConfig {
        &self.config
    }
}

/// Where experiment `name`'s run folder goes under `out_dir`; errors if it exists and
/// `force` is off, or exists, is not empty and is not a run folder.
pub fn check_run_folder(
    out_dir: &Path,
    name: &str,
    force: bool,
) -> Result<PathBuf, ExperimentError> {
    let path = out_dir.join(name);
    if !path.exists() {
        return Ok(path);
    }
    if !force {
        return Err(ExperimentError::RunFolderExists { path });
    }
    let is_empty = std::fs::read_dir(&path)
        .map_err(|e| ExperimentError::io("listing", &path, e))?
        .next()
        .is_none();
    if !is_empty && !path.join(files::CONFIG).is_file() {
        return Err(ExperimentError::NotARunFolder { path });
    }
    Ok(path)
}

/// Creates the run folder of `experiment` under `out_dir` and writes its `config.json`.
/// With `force`, an existing run folder is removed first (see [`check_run_folder`]).
pub fn prepare_run(
    out_dir: &Path,
    experiment: &dyn DynExperiment,
    config: Value,
    size: Size,
    seed: u64,
    force: bool,
) -> Result<RunFolder, ExperimentError> {
    let path = check_run_folder(out_dir, experiment.name(), force)?;
    if path.exists() {
        std::fs::remove_dir_all(&path).map_err(|e| ExperimentError::io("removing", &path, e))?;
    }
    std::fs::create_dir_all(&path).map_err(|e| ExperimentError::io("creating", &path, e))?;
    let config = RunConfig {
        experiment: experiment.name().to_owned(),
        size,
        seed,
        plres_version: env!("CARGO_PKG_VERSION").to_owned(),
        config,
    };
    write_json(&path.join(files::CONFIG), &config)?;
    Ok(RunFolder { path, config })
}

/// The outcome of a completed run.
#[derive(Clone, Debug)]
pub struct RunRecord {
    /// The experiment.
    pub name: String,
    /// Its run folder.
    pub folder: PathBuf,
    /// Its checks.
    pub checks: Vec<CheckReport>,
    /// Wall-clock time.
    pub wall_time: Duration,
}

impl RunRecord {
    /// The checks that do not hold.
    pub fn failing(&self) -> impl Iterator<Item = &CheckReport> {
        self.checks.iter().filter(|c| c.fails())
    }
}

/// Runs the experiment in a prepared folder and records its output there. If the
/// experiment fails, its error (with its causes) is written to `error.txt` and returned.
pub fn execute(
    experiment: &dyn DynExperiment,
    folder: &RunFolder,
    progress: bool,
) -> Result<RunRecord, ExperimentError> {
    let cfg = folder.config();
    let ctx = RunContext::new(
        experiment.name(),
        folder.path().to_owned(),
        cfg.seed,
        cfg.size,
        progress,
    );
    let start = Instant::now();
    tracing::info!(experiment = experiment.name(), size = %cfg.size, seed = cfg.seed, "run starts");
    let result = experiment
        .run_json(&cfg.config, &ctx)
        .and_then(|out| record(folder.path(), experiment.name(), &out, start).map(|()| out));
    match result {
        Ok(out) => {
            let wall_time = start.elapsed();
            tracing::info!(
                seconds = wall_time.as_secs_f64(),
                checks = out.checks.len(),
                failing = out.checks.iter().filter(|c| c.fails()).count(),
                vacuous = out.checks.iter().filter(|c| c.is_vacuous()).count(),
                "run done"
            );
            Ok(RunRecord {
                name: experiment.name().to_owned(),
                folder: folder.path().to_owned(),
                checks: out.checks,
                wall_time,
            })
        }
        Err(e) => {
            let text = error_chain(&e);
            tracing::error!(error = %text, "run failed");
            write_atomic(
                &folder.path().join(files::ERROR),
                format!("{text}\n").as_bytes(),
            )?;
            Err(e)
        }
    }
}

/// Prepares and executes in one go (no logging set up: see the `xtask` binary for that).
pub fn run(
    out_dir: &Path,
    experiment: &dyn DynExperiment,
    config: Value,
    size: Size,
    seed: u64,
    force: bool,
    progress: bool,
) -> Result<RunRecord, ExperimentError> {
    let folder = prepare_run(out_dir, experiment, config, size, seed, force)?;
    execute(experiment, &folder, progress)
}

/// An error and its causes on one line, `outer: inner: …`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

fn valid_stem(stem: &str) -> bool {
    !stem.is_empty()
        && stem
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Writes the output of a run: tables, figures, checks, then the summary.
///
/// # Panics
/// If a figure stem or table name is not a valid file stem (lowercase ASCII, digits,
/// `-`, `_`), if two figures or two tables share one, or a table is named `metrics`:
/// these are written in the experiment's code.
fn record(dir: &Path, name: &str, out: &RunOutput, start: Instant) -> Result<(), ExperimentError> {
    let mut stems: Vec<&str> = Vec::new();
    for f in &out.figures {
        assert!(
            valid_stem(&f.stem),
            "figure stem `{}` is not a valid file stem",
            f.stem
        );
        assert!(
            !stems.contains(&f.stem.as_str()),
            "figure stem `{}` used twice",
            f.stem
        );
        stems.push(&f.stem);
    }
    let mut table_files = Vec::new();
    for (t, _) in &out.tables {
        assert!(
            valid_stem(t) && t != "metrics",
            "table name `{t}` is not allowed"
        );
        let file = format!("{t}.csv");
        assert!(!table_files.contains(&file), "table `{t}` used twice");
        table_files.push(file);
    }
    if let Some(m) = &out.metrics {
        write_atomic(&dir.join(files::METRICS), m.to_csv().as_bytes())?;
    }
    for ((_, t), file) in out.tables.iter().zip(&table_files) {
        write_atomic(&dir.join(file), t.to_csv().as_bytes())?;
    }
    for f in &out.figures {
        render(&f.plot, dir, &f.stem)?;
    }
    write_json(&dir.join(files::CHECKS), &out.checks)?;
    let summary = RunSummary {
        experiment: name.to_owned(),
        wall_time_s: start.elapsed().as_secs_f64(),
        checks_total: out.checks.len(),
        checks_holding: out.checks.iter().filter(|c| c.holds()).count(),
        checks_vacuous: out.checks.iter().filter(|c| c.is_vacuous()).count(),
        figures: out
            .figures
            .iter()
            .map(|f| FigureEntry {
                stem: f.stem.clone(),
                caption: f.caption.clone(),
            })
            .collect(),
        tables: table_files,
        values: out.values.clone(),
    };
    write_json(&dir.join(files::SUMMARY), &summary)
}
