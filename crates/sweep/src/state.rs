//! Task markers: what a task folder says about its task, and nothing else.
//!
//! An attempt writes `attempt.json` (its number, host, Slurm job) before the command
//! starts, and `done.json` or `failed.json` after it ends, each atomically and durably
//! (`plres_data::io::write_atomic`: synced temporary file, rename, synced folder). So a
//! task is exactly one of
//!
//! - **done**: `done.json` exists (the command finished; its summary, if any, is named);
//! - **failed**: `failed.json` exists (the command ended without finishing);
//! - **interrupted**: `attempt.json` but neither end marker: the attempt is still running,
//!   or was killed (SIGKILL, node failure, time limit) before it could write one;
//! - **missing**: nothing: never started.
//!
//! Only done tasks are aggregated, each once (one folder per task); every other state is
//! rerun by the next `run` or `submit`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::SweepError;
use crate::plan::{Plan, Task, read_json};

/// Marker file names inside a task folder.
pub mod files {
    /// Written when an attempt starts.
    pub const ATTEMPT: &str = "attempt.json";
    /// Written when the task finished.
    pub const DONE: &str = "done.json";
    /// Written when an attempt ended without finishing.
    pub const FAILED: &str = "failed.json";
    /// The command's standard output and error.
    pub const LOG: &str = "task.log";
    /// The completed run's summary: a plres run folder's `summary.json`.
    pub use plres_experiments::run::files::SUMMARY;
}

/// `attempt.json`: an attempt that started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1 for the first attempt, then one more for each rerun.
    pub attempt: u32,
    /// The machine it runs on.
    pub host: String,
    /// `SLURM_JOB_ID`/`SLURM_ARRAY_JOB_ID_TASK` when run by Slurm.
    pub slurm_job: Option<String>,
    /// Seconds since the Unix epoch at the start.
    pub started_unix: f64,
}

/// `done.json` or `failed.json`: how an attempt ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finished {
    /// The attempt's number.
    pub attempt: u32,
    /// The command's exit code (`None` when a signal ended it).
    pub exit_code: Option<i32>,
    /// The signal that ended it, if any.
    pub signal: Option<i32>,
    /// Wall-clock seconds of the attempt.
    pub wall_time_s: f64,
    /// The summary the attempt wrote, relative to the task folder.
    pub summary: Option<PathBuf>,
}

/// What a task folder says about its task (module doc).
#[derive(Clone, Debug, PartialEq)]
pub enum TaskState {
    /// Never started.
    Missing,
    /// Started (attempt number) and not ended: running, or killed.
    Interrupted(Attempt),
    /// Ended without finishing.
    Failed(Finished),
    /// Finished.
    Done(Finished),
}

impl TaskState {
    /// `done`, `failed`, `interrupted` or `missing`.
    pub fn word(&self) -> &'static str {
        match self {
            TaskState::Missing => "missing",
            TaskState::Interrupted(_) => "interrupted",
            TaskState::Failed(_) => "failed",
            TaskState::Done(_) => "done",
        }
    }

    /// Whether the task finished.
    pub fn is_done(&self) -> bool {
        matches!(self, TaskState::Done(_))
    }

    /// Attempts made so far.
    pub fn attempts(&self) -> u32 {
        match self {
            TaskState::Missing => 0,
            TaskState::Interrupted(a) => a.attempt,
            TaskState::Failed(f) | TaskState::Done(f) => f.attempt,
        }
    }
}

/// Reads the state of the task whose folder is `dir`.
///
/// # Errors
/// A marker that exists but cannot be read or parsed.
pub fn read_state(dir: &Path) -> Result<TaskState, SweepError> {
    let done = dir.join(files::DONE);
    if done.is_file() {
        return Ok(TaskState::Done(read_json(&done)?));
    }
    let failed = dir.join(files::FAILED);
    if failed.is_file() {
        return Ok(TaskState::Failed(read_json(&failed)?));
    }
    let attempt = dir.join(files::ATTEMPT);
    if attempt.is_file() {
        return Ok(TaskState::Interrupted(read_json(&attempt)?));
    }
    Ok(TaskState::Missing)
}

/// Every task of `plan` with its state, by index.
///
/// # Errors
/// See [`read_state`].
pub fn states(plan: &Plan) -> Result<Vec<(&Task, TaskState)>, SweepError> {
    plan.tasks
        .iter()
        .map(|t| read_state(&plan.task_dir(t)).map(|s| (t, s)))
        .collect()
}

/// The indices of the tasks that are not done: what `run` and `submit` (re)run.
///
/// # Errors
/// See [`read_state`].
pub fn pending(plan: &Plan) -> Result<Vec<usize>, SweepError> {
    Ok(states(plan)?
        .into_iter()
        .filter(|(_, s)| !s.is_done())
        .map(|(t, _)| t.index)
        .collect())
}
