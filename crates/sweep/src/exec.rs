//! Running tasks: one task ([`run_task`], what a Slurm array task and every worker of the
//! local pool call), and the local process pool ([`run_local`]).
//!
//! [`run_task`] skips a done task; otherwise it writes the next `attempt.json`, removes
//! a stale `failed.json`, runs the task's command line (stdout and stderr appended to
//! `task.log`, `RAYON_NUM_THREADS` set to the sweep's `threads`) and writes `done.json`
//! when the command exited 0 or wrote a summary newer than the attempt's start (a
//! reproduce run whose checks fail has finished: its checks are data for `collect`), and
//! `failed.json` otherwise. Killed before the end, it leaves `attempt.json` alone: the
//! task is *interrupted* and the next run reruns it. A built-in experiment restarts from
//! scratch (`reproduce --force` replaces the run folder); a command that keeps
//! checkpoints in its task folder may resume from them, since the folder is kept.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::error::SweepError;
use crate::plan::{Plan, Task, write_json};
use crate::spec::TaskKind;
use crate::state::{Attempt, Finished, TaskState, files, read_state};

/// How a call of [`run_task`] ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Ran {
    /// The task was done already; nothing ran.
    Skipped,
    /// The attempt finished.
    Done(Finished),
    /// The attempt ended without finishing.
    Failed(Finished),
}

fn host() -> String {
    std::env::var("SLURMD_NODENAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn slurm_job() -> Option<String> {
    match (
        std::env::var("SLURM_ARRAY_JOB_ID"),
        std::env::var("SLURM_ARRAY_TASK_ID"),
    ) {
        (Ok(job), Ok(task)) => Some(format!("{job}_{task}")),
        _ => std::env::var("SLURM_JOB_ID").ok(),
    }
}

/// The summary a finished attempt wrote, relative to the task folder: `EXPERIMENT/summary.json`
/// for a built-in experiment; `summary.json` or `*/summary.json` (first by name) for a
/// command. Only files modified at or after `since` count.
pub fn find_summary(plan: &Plan, dir: &Path, since: SystemTime) -> Option<PathBuf> {
    let fresh = |rel: &Path| {
        std::fs::metadata(dir.join(rel))
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= since)
    };
    let candidates: Vec<PathBuf> = match &plan.kind {
        TaskKind::Experiment { name, .. } => vec![Path::new(name).join(files::SUMMARY)],
        TaskKind::Command { .. } => {
            let mut subs: Vec<PathBuf> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| PathBuf::from(e.file_name()).join(files::SUMMARY))
                .collect();
            subs.sort();
            std::iter::once(PathBuf::from(files::SUMMARY))
                .chain(subs)
                .collect()
        }
    };
    candidates.into_iter().find(|c| fresh(c))
}

/// Runs task `index` of `plan` once (module doc), unless it is done.
///
/// # Errors
/// [`SweepError::NoSuchTask`]; failing to write a marker or the log, or to start the
/// program. The command failing is not an error: it is [`Ran::Failed`].
pub fn run_task(plan: &Plan, index: usize) -> Result<Ran, SweepError> {
    let task = plan.task(index)?;
    let dir = plan.task_dir(task);
    let previous = read_state(&dir)?;
    if previous.is_done() {
        return Ok(Ran::Skipped);
    }
    std::fs::create_dir_all(&dir).map_err(|e| SweepError::io("creating", &dir, e))?;
    let failed = dir.join(files::FAILED);
    if failed.exists() {
        std::fs::remove_file(&failed).map_err(|e| SweepError::io("removing", &failed, e))?;
    }
    let started = SystemTime::now();
    let attempt = Attempt {
        attempt: previous.attempts() + 1,
        host: host(),
        slurm_job: slurm_job(),
        started_unix: started
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
    };
    write_json(&dir.join(files::ATTEMPT), &attempt)?;
    // "fresh" is judged on the file system's own clock: the kernel stamps files from a
    // coarse clock (one scheduler tick, a few ms, behind `SystemTime::now()`), so a summary
    // written right after `started` could carry an earlier mtime; the attempt marker's
    // mtime is on the same clock as every file the attempt writes
    let started = std::fs::metadata(dir.join(files::ATTEMPT))
        .and_then(|m| m.modified())
        .unwrap_or(started);

    let log_path = dir.join(files::LOG);
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| SweepError::io("opening", &log_path, e))?;
    let line = plan.command_line(task);
    writeln!(
        log,
        "== attempt {} on {}: {}",
        attempt.attempt,
        attempt.host,
        line.join(" ")
    )
    .map_err(|e| SweepError::io("writing", &log_path, e))?;
    let err_log = log
        .try_clone()
        .map_err(|e| SweepError::io("opening", &log_path, e))?;
    let clock = Instant::now();
    let status = Command::new(&plan.program)
        .args(&task.args)
        .env("RAYON_NUM_THREADS", plan.threads.to_string())
        .env("PLRES_SWEEP_TASK", &task.name)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err_log)
        .status()
        .map_err(|e| SweepError::io("starting", &plan.program, e))?;
    let summary = find_summary(plan, &dir, started);
    #[cfg(unix)]
    let signal = std::os::unix::process::ExitStatusExt::signal(&status);
    #[cfg(not(unix))]
    let signal = None;
    let finished = Finished {
        attempt: attempt.attempt,
        exit_code: status.code(),
        signal,
        wall_time_s: clock.elapsed().as_secs_f64(),
        summary: summary.clone(),
    };
    if status.success() || summary.is_some() {
        write_json(&dir.join(files::DONE), &finished)?;
        Ok(Ran::Done(finished))
    } else {
        write_json(&failed, &finished)?;
        Ok(Ran::Failed(finished))
    }
}

/// What the local pool reports while it works.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A task is starting.
    Started {
        /// Its index.
        index: usize,
        /// Its name.
        name: String,
    },
    /// A task ended (or could not be run: the error's text).
    Ended {
        /// Its index.
        index: usize,
        /// Its name.
        name: String,
        /// How.
        outcome: Result<Ran, String>,
    },
}

/// What the local pool did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PoolReport {
    /// Tasks skipped because they were done.
    pub skipped: usize,
    /// Tasks that finished now.
    pub done: usize,
    /// Tasks that failed (or could not be started), by index.
    pub failed: Vec<usize>,
}

/// Runs every task of `plan` that is not done through a pool of `jobs` worker threads,
/// each running one task's process at a time ([`run_task`]: the same folders and markers
/// as a Slurm array). `on_event` sees every start and end, on the calling thread.
///
/// # Errors
/// Reading the task states.
///
/// # Panics
/// If `jobs` is 0.
pub fn run_local(
    plan: &Plan,
    jobs: usize,
    mut on_event: impl FnMut(&Event),
) -> Result<PoolReport, SweepError> {
    assert!(jobs > 0, "a pool needs at least one worker");
    let mut report = PoolReport::default();
    let mut todo: Vec<&Task> = Vec::new();
    for task in &plan.tasks {
        match read_state(&plan.task_dir(task))? {
            TaskState::Done(_) => report.skipped += 1,
            _ => todo.push(task),
        }
    }
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<Event>();
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(todo.len()) {
            let tx = tx.clone();
            let (todo, next) = (&todo, &next);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(task) = todo.get(i) else { break };
                    let name = task.name.clone();
                    let _ = tx.send(Event::Started {
                        index: task.index,
                        name: name.clone(),
                    });
                    let outcome = run_task(plan, task.index).map_err(|e| crate::error_chain(&e));
                    let _ = tx.send(Event::Ended {
                        index: task.index,
                        name,
                        outcome,
                    });
                }
            });
        }
        drop(tx);
        for event in rx {
            if let Event::Ended { index, outcome, .. } = &event {
                match outcome {
                    Ok(Ran::Done(_)) => report.done += 1,
                    Ok(Ran::Skipped) => report.skipped += 1,
                    Ok(Ran::Failed(_)) | Err(_) => report.failed.push(*index),
                }
            }
            on_event(&event);
        }
    });
    report.failed.sort_unstable();
    Ok(report)
}
