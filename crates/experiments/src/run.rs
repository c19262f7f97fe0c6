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
//! half-written file.
//!
//! **Crash safety.** A run is built in a hidden sibling `out/.name.partial-<pid>/` and
//! renamed onto `out/name/` only when it has ended (with `summary.json`, or with
//! `error.txt`), the output folder synced after every rename
//! (`plres_data::io::rename_durable`). So `out/name/` always holds a finished run: a kill
//! at any moment leaves the previous run folder (or none) in place plus a hidden partial
//! folder, never a folder that reads as complete and is not. With `force` an existing run
//! folder is moved aside to `.name.old-<pid>` only once the new run has ended, and removed
//! after the new one is in place. Before a run starts, the leftovers of killed runs of the
//! same experiment are cleaned ([`clean_leftovers`]): partial folders and moved-aside
//! folders of processes that no longer exist (a moved-aside folder whose replacement never
//! arrived is moved back). An existing `out/name/` is only replaced when `force` is set,
//! and only if it is a run folder (it holds `config.json`, or only the files a run writes,
//! as a folder interrupted by an older version may) or is empty.
//!
//! **Divergence** ([`ExperimentError::Diverged`]) keeps the last good state: the run folder
//! gets `metrics.csv` with every iterate up to the last finite one,
//! `last_finite.safetensors` with its parameters (tensor `params`), and `error.txt`.
//!
//! **Resume.** A run that trains saves training checkpoints under
//! [`RunContext::checkpoint_path`]: `common::train_resumable` (plres-optim trainings,
//! plres-resnet's `TrainingCheckpoint`, every few epochs) and the MNIST experiments
//! (plres-conv's `train_resnet_checkpointed`, one checkpoint per data set, configuration
//! and seed, rewritten after every epoch). A later run of the same configuration started
//! with `resume` adopts the partial folder a kill left behind instead of deleting it
//! ([`prepare_run_resuming`]), so the checkpoints are found: finished trainings are not
//! repeated and the others continue from their last completed epoch, bitwise as if never
//! interrupted (the run's metrics, figures and checks are those of an uninterrupted run).

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
    /// The parameters of the last finite iterate of a diverged training (tensor `params`).
    pub const LAST_FINITE: &str = "last_finite.safetensors";
    /// The folder of training checkpoints ([`super::RunContext::checkpoint_path`]).
    pub const CHECKPOINTS: &str = "checkpoints";
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

/// Writes `bytes` to `path` atomically and durably (`plres_data::io::write_atomic`, the
/// workspace's one atomic write).
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), ExperimentError> {
    Ok(write_atomic(path, bytes)?)
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

    /// Where the training `label` keeps its checkpoint in this run:
    /// `checkpoints/<label>.ckpt` in the run folder (the folder is created). A run resumed
    /// after a kill ([`prepare_run_resuming`]) finds the checkpoints saved before it.
    ///
    /// # Errors
    /// [`ExperimentError::InvalidConfig`] if `label` is not a valid file stem,
    /// [`ExperimentError::Io`] if the folder cannot be created.
    pub fn checkpoint_path(&self, label: &str) -> Result<PathBuf, ExperimentError> {
        if !valid_stem(label) {
            return Err(ExperimentError::config(
                &self.name,
                format!("checkpoint label `{label}` is not a file stem"),
            ));
        }
        let dir = self.dir.join(files::CHECKPOINTS);
        std::fs::create_dir_all(&dir).map_err(|e| ExperimentError::io("creating", &dir, e))?;
        Ok(dir.join(format!("{label}.ckpt")))
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

/// A run being built: its partial folder (holding `config.json`) and where it goes when
/// it has ended.
#[derive(Clone, Debug)]
pub struct RunFolder {
    path: PathBuf,
    final_path: PathBuf,
    config: RunConfig,
}

impl RunFolder {
    /// The folder the run writes into now (the hidden partial folder until
    /// [`RunFolder::publish`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the run folder goes once the run has ended: `out/name/`.
    pub fn final_path(&self) -> &Path {
        &self.final_path
    }

    /// Its `config.json`.
    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// Moves the ended run into place (module docs): an existing folder is moved aside,
    /// the partial folder renamed onto `out/name/`, the output folder synced, the old folder
    /// removed. Afterwards [`RunFolder::path`] is the final folder.
    ///
    /// # Errors
    /// [`ExperimentError::Io`] naming the folder of the step that failed.
    pub fn publish(&mut self) -> Result<(), ExperimentError> {
        if self.path == self.final_path {
            return Ok(());
        }
        let out_dir = parent_dir(&self.final_path);
        let name = file_name(&self.final_path);
        let old = out_dir.join(format!(".{name}.old-{}", std::process::id()));
        let moved_aside = self.final_path.exists();
        if moved_aside {
            if old.exists() {
                std::fs::remove_dir_all(&old)
                    .map_err(|e| ExperimentError::io("removing", &old, e))?;
            }
            rename_durable(&self.final_path, &old)?;
        }
        rename_durable(&self.path, &self.final_path)?;
        self.path = self.final_path.clone();
        if moved_aside {
            std::fs::remove_dir_all(&old).map_err(|e| ExperimentError::io("removing", &old, e))?;
            plres_data::io::sync_dir(&out_dir)?;
        }
        Ok(())
    }
}

fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Whether process `pid` exists (Linux: `/proc/<pid>`; elsewhere every other process is
/// taken as gone, so a concurrent run into the same folder is not protected there).
fn process_alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists()
}

/// A leftover of a run of `name` in the output folder: `.name.partial-<pid>` or
/// `.name.old-<pid>`, with its kind and pid.
fn leftover(entry: &str, name: &str) -> Option<(&'static str, u32)> {
    let rest = entry
        .strip_prefix('.')?
        .strip_prefix(name)?
        .strip_prefix('.')?;
    for kind in ["partial", "old"] {
        if let Some(pid) = rest.strip_prefix(kind).and_then(|r| r.strip_prefix('-')) {
            return pid.parse().ok().map(|pid| (kind, pid));
        }
    }
    None
}

/// The partial folders of killed runs of `name` under `out_dir` (their processes are gone).
fn dead_leftovers(
    out_dir: &Path,
    name: &str,
) -> Result<Vec<(&'static str, PathBuf)>, ExperimentError> {
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(out_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(ExperimentError::io("listing", out_dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| ExperimentError::io("listing", out_dir, e))?;
        let file = entry.file_name();
        if let Some((kind, pid)) = leftover(&file.to_string_lossy(), name)
            && !process_alive(pid)
        {
            found.push((kind, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Cleans what killed runs of `name` left under `out_dir`: a moved-aside folder whose
/// replacement never arrived is moved back onto `out/name/`; other moved-aside folders and
/// every partial folder of a process that no longer exists are removed; the output folder
/// is synced. Returns the paths removed or restored.
///
/// # Errors
/// [`ExperimentError::Io`] naming the folder.
pub fn clean_leftovers(out_dir: &Path, name: &str) -> Result<Vec<PathBuf>, ExperimentError> {
    let found = dead_leftovers(out_dir, name)?;
    let target = out_dir.join(name);
    let mut touched = Vec::new();
    for (kind, path) in found {
        if kind == "old" && !target.exists() {
            rename_durable(&path, &target)?;
        } else {
            std::fs::remove_dir_all(&path)
                .map_err(|e| ExperimentError::io("removing", &path, e))?;
        }
        touched.push(path);
    }
    if !touched.is_empty() {
        plres_data::io::sync_dir(out_dir)?;
    }
    Ok(touched)
}

fn rename_durable(from: &Path, to: &Path) -> Result<(), ExperimentError> {
    Ok(plres_data::io::rename_durable(from, to)?)
}

/// Whether `entry` is a file name a run (of this or an older version) writes into its
/// folder: the run's files, tables, figures, checkpoints, logs and temporary files.
fn run_artefact(entry: &str) -> bool {
    (entry.starts_with('.') && entry.contains(".tmp-"))
        || [
            files::CONFIG,
            files::METRICS,
            files::CHECKS,
            files::SUMMARY,
            files::ERROR,
            files::LOG,
            files::LAST_FINITE,
            files::CHECKPOINTS,
        ]
        .contains(&entry)
        || [".csv", ".svg", ".png", ".json", ".safetensors"]
            .iter()
            .any(|ext| entry.ends_with(ext))
}

/// Where experiment `name`'s run folder goes under `out_dir`; errors if it exists and
/// `force` is off, or exists and is not a run folder (it holds no `config.json` and some
/// file no run writes).
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
    if path.join(files::CONFIG).is_file() {
        return Ok(path);
    }
    let entries = std::fs::read_dir(&path).map_err(|e| ExperimentError::io("listing", &path, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| ExperimentError::io("listing", &path, e))?;
        if !run_artefact(&entry.file_name().to_string_lossy()) {
            return Err(ExperimentError::NotARunFolder { path });
        }
    }
    Ok(path)
}

/// A run to start: which experiment, with what configuration, where.
#[derive(Clone)]
pub struct RunRequest<'a> {
    /// The folder the run folder goes in.
    pub out_dir: &'a Path,
    /// The experiment.
    pub experiment: &'a dyn DynExperiment,
    /// Its configuration (JSON, validated when the experiment runs).
    pub config: Value,
    /// The size level.
    pub size: Size,
    /// The run's seed.
    pub seed: u64,
    /// Replace an existing run folder (see [`check_run_folder`]).
    pub force: bool,
}

/// Starts the run of the request's `experiment` under its `out_dir`: checks the target folder
/// ([`check_run_folder`]), cleans leftovers of killed runs ([`clean_leftovers`]), creates
/// the partial folder and writes its `config.json`. The existing run folder (with `force`)
/// stays in place until [`RunFolder::publish`].
pub fn prepare_run(request: RunRequest<'_>) -> Result<RunFolder, ExperimentError> {
    prepare(request, false)
}

/// As [`prepare_run`], but a partial folder left by a killed run of the *same* `config.json`
/// is adopted (renamed to this process's partial folder, its checkpoints kept) instead of
/// removed, so the experiment resumes from its checkpoints. Returns whether one was
/// adopted.
pub fn prepare_run_resuming(request: RunRequest<'_>) -> Result<(RunFolder, bool), ExperimentError> {
    let folder = prepare(request, true)?;
    let adopted = folder.path.join(files::CHECKPOINTS).is_dir();
    Ok((folder, adopted))
}

fn prepare(request: RunRequest<'_>, resume: bool) -> Result<RunFolder, ExperimentError> {
    let out_dir = request.out_dir;
    let name = request.experiment.name();
    let final_path = check_run_folder(out_dir, name, request.force)?;
    std::fs::create_dir_all(out_dir).map_err(|e| ExperimentError::io("creating", out_dir, e))?;
    let config = RunConfig {
        experiment: name.to_owned(),
        size: request.size,
        seed: request.seed,
        plres_version: env!("CARGO_PKG_VERSION").to_owned(),
        config: request.config,
    };
    let path = out_dir.join(format!(".{name}.partial-{}", std::process::id()));
    if resume {
        for (kind, dead) in dead_leftovers(out_dir, name)? {
            let same = kind == "partial"
                && read_json::<RunConfig>(&dead.join(files::CONFIG))
                    .ok()
                    .as_ref()
                    == Some(&config);
            if same && dead != path && !path.exists() {
                rename_durable(&dead, &path)?;
                tracing::info!(from = %dead.display(), "adopting the partial folder of a killed run");
            }
        }
    }
    clean_leftovers(out_dir, name)?;
    if !resume && path.exists() {
        // a run of this process that ended before it was moved into place
        std::fs::remove_dir_all(&path).map_err(|e| ExperimentError::io("removing", &path, e))?;
    }
    if !path.exists() {
        std::fs::create_dir(&path).map_err(|e| ExperimentError::io("creating", &path, e))?;
    }
    // files other than checkpoints of an adopted folder are rewritten by this run
    let entries = std::fs::read_dir(&path).map_err(|e| ExperimentError::io("listing", &path, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| ExperimentError::io("listing", &path, e))?;
        if entry.file_name() != files::CHECKPOINTS {
            let p = entry.path();
            if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            }
            .map_err(|e| ExperimentError::io("removing", &p, e))?;
        }
    }
    write_json(&path.join(files::CONFIG), &config)?;
    plres_data::io::sync_dir(out_dir)?;
    Ok(RunFolder {
        path,
        final_path,
        config,
    })
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

/// Runs the experiment in a prepared folder, records its output there and moves the
/// folder into place ([`RunFolder::publish`]). If the experiment fails, its error (with its
/// causes) is written to `error.txt` — after the last good state of a divergence
/// (`metrics.csv` up to the last finite iterate, `last_finite.safetensors`) — the folder
/// is moved into place all the same and the error returned.
pub fn execute(
    experiment: &dyn DynExperiment,
    folder: &RunFolder,
    progress: bool,
) -> Result<RunRecord, ExperimentError> {
    let mut folder = folder.clone();
    let cfg = folder.config().clone();
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
            folder.publish()?;
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
            let mut text = error_chain(&e);
            if let ExperimentError::Diverged {
                history, source, ..
            } = &e
            {
                text.push_str(&keep_last_good_state(folder.path(), history, source)?);
            }
            tracing::error!(error = %text, "run failed");
            write_atomic(
                &folder.path().join(files::ERROR),
                format!("{text}\n").as_bytes(),
            )?;
            folder.publish()?;
            Err(e)
        }
    }
}

/// Writes the last good state of a diverged training into `dir` and says what was kept.
fn keep_last_good_state(
    dir: &Path,
    history: &plres_optim::History,
    source: &plres_optim::OptimError,
) -> Result<String, ExperimentError> {
    use crate::table::ColumnType;
    let mut t = Table::new(&[
        ("iteration", ColumnType::Int),
        ("epoch", ColumnType::Int),
        ("loss", ColumnType::Float),
        ("grad_norm_sq", ColumnType::Float),
        ("learning_rate", ColumnType::Float),
    ]);
    for r in &history.records {
        t.push(crate::row![
            r.iteration,
            r.epoch,
            r.loss,
            r.grad_norm_sq,
            r.learning_rate
        ])?;
    }
    write_atomic(&dir.join(files::METRICS), t.to_csv().as_bytes())?;
    let mut kept = format!(
        "; kept {} with the {} iterates up to the last finite one",
        files::METRICS,
        history.records.len()
    );
    if let plres_optim::OptimError::Diverged {
        iteration,
        last_finite_params,
        last_finite_loss,
        ..
    } = source
    {
        let mut c = plres_resnet::Checkpoint::new();
        c.insert(
            "params",
            vec![last_finite_params.len()],
            last_finite_params.clone(),
        );
        c.set_meta("iteration", (iteration - 1).to_string());
        c.set_meta("loss", format!("{last_finite_loss:e}"));
        let path = dir.join(files::LAST_FINITE);
        c.save(&path)
            .map_err(|e| ExperimentError::model(format!("writing {}", path.display()), e))?;
        kept.push_str(&format!(
            " and {} with the parameters of iterate {}",
            files::LAST_FINITE,
            iteration - 1
        ));
    }
    Ok(kept)
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
    let folder = prepare_run(RunRequest {
        out_dir,
        experiment,
        config,
        size,
        seed,
        force,
    })?;
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
