//! The typed errors of sweeps: each names the file, the field and the value concerned.

use std::path::PathBuf;

/// Everything a user can cause while planning, running, submitting or collecting a sweep.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SweepError {
    /// The sweep file is not valid TOML or JSON.
    #[error("{}: {message}", file.display())]
    Syntax {
        /// The sweep file.
        file: PathBuf,
        /// The parser's message (with its line and column).
        message: String,
    },
    /// A field of the sweep file is missing, unknown, of the wrong kind or out of its
    /// domain.
    #[error("{}: field `{field}` = {value}: {reason}", file.display())]
    Field {
        /// The sweep file.
        file: PathBuf,
        /// The field, dotted (`grid.width`, `slurm.time`).
        field: String,
        /// The offending value as JSON text (`(missing)` when absent).
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// The experiment rejected a fixed setting or a grid value (unknown field, wrong
    /// kind, out of its domain).
    #[error("{}: field `{field}`: {error}", file.display())]
    Experiment {
        /// The sweep file.
        file: PathBuf,
        /// The sweep-file field that carried the value (`set.n`, `grid.sigma`).
        field: String,
        /// The experiment's error, naming the configuration key and value (shown in
        /// this error's message, so not a `source`: printed once).
        error: Box<plres_experiments::ExperimentError>,
    },
    /// The output folder already holds the plan of a different sweep (the grid or the
    /// command changed): running it there would mix two sweeps.
    #[error(
        "{} holds the plan of a different sweep ({difference}); use another `out` folder or remove it",
        path.display()
    )]
    PlanChanged {
        /// The existing `plan.json`.
        path: PathBuf,
        /// The first difference found.
        difference: String,
    },
    /// A file-system operation failed: what was being done, to which file or folder, and
    /// the OS error.
    #[error(transparent)]
    Io(#[from] plres_data::io::WriteError),
    /// A JSON file of the sweep folder (plan, task marker, summary) does not parse.
    #[error("{}: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A task index outside the plan (`sweep exec DIR INDEX`, a Slurm array index).
    #[error("task index {index} is out of range: the plan has {tasks} tasks")]
    NoSuchTask {
        /// The index asked for.
        index: usize,
        /// Tasks in the plan.
        tasks: usize,
    },
    /// A Slurm command (`sbatch`, `squeue`) could not be started or failed.
    #[error("`{command}` failed: {message}")]
    Slurm {
        /// The command line.
        command: String,
        /// Its standard error, or why it could not start.
        message: String,
    },
    /// Tasks of this sweep are still queued or running on Slurm: submitting again would
    /// run them twice.
    #[error(
        "job {job} still has {count} task(s) of this sweep queued or running; wait for them or `scancel {job}`"
    )]
    StillQueued {
        /// The Slurm job id.
        job: String,
        /// Its array tasks still in the queue.
        count: usize,
    },
    /// Drawing a plot failed.
    #[error(transparent)]
    Output(Box<plres_experiments::ExperimentError>),
}

impl From<plres_experiments::ExperimentError> for SweepError {
    fn from(e: plres_experiments::ExperimentError) -> Self {
        Self::Output(Box::new(e))
    }
}

impl SweepError {
    /// Wraps an I/O error with the action and path it concerns.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io(plres_data::io::WriteError {
            action,
            path: path.into(),
            source,
        })
    }
}
