//! The typed errors of running experiments and writing their results.

use std::path::PathBuf;

use crate::table::TableError;

/// Everything that can go wrong while preparing, running or recording an experiment.
///
/// Each variant carries the offending value (a path, a name, a message from the
/// library crate that failed) so that the binary can print one clear line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExperimentError {
    /// The run folder exists already and overwriting was not requested.
    #[error("run folder {} already exists (pass --force to overwrite it)", path.display())]
    RunFolderExists {
        /// The existing folder.
        path: PathBuf,
    },
    /// A folder exists where a run folder should go, but it holds files that no run
    /// wrote (no `config.json`), so it is not removed even with `force`.
    #[error(
        "{} exists and is not a run folder (no config.json): refusing to overwrite it",
        path.display()
    )]
    NotARunFolder {
        /// The folder that was left alone.
        path: PathBuf,
    },
    /// A file-system operation failed: what was being done (e.g. "writing"), to which
    /// file or folder, and the OS error.
    #[error(transparent)]
    Io(#[from] plres_data::io::WriteError),
    /// A JSON document could not be written or read.
    #[error("JSON of {}", path.display())]
    Json {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// No experiment of this name is registered.
    #[error("unknown experiment `{name}` (known: {known})")]
    UnknownExperiment {
        /// The name asked for.
        name: String,
        /// The registered names, comma-separated.
        known: String,
    },
    /// A configuration value is out of its domain, or a JSON config does not parse.
    #[error("invalid configuration of `{experiment}`: {message}")]
    InvalidConfig {
        /// The experiment.
        experiment: String,
        /// What is wrong, naming the field and value.
        message: String,
    },
    /// A `key=value` override (`cargo xtask reproduce --set`, a sweep's grid) names no
    /// field of the experiment's configuration, or gives it a value of the wrong kind.
    #[error("invalid override `{key}={value}` of `{experiment}`: {message}")]
    InvalidOverride {
        /// The experiment.
        experiment: String,
        /// The (dotted) key, as given.
        key: String,
        /// The value, as JSON text.
        value: String,
        /// What is wrong (the known keys, or the kind the field expects).
        message: String,
    },
    /// A metrics table was given a row that does not fit its columns.
    #[error(transparent)]
    Table(#[from] TableError),
    /// Drawing a plot failed.
    #[error("drawing {}: {message}", path.display())]
    Plot {
        /// The plot file.
        path: PathBuf,
        /// The backend's message.
        message: String,
    },
    /// Training diverged: the run keeps the last good state. The runner writes the
    /// iterates up to the last finite one (`metrics.csv`) and its parameters
    /// (`last_finite.safetensors`) beside `error.txt`.
    #[error("training {label} diverged")]
    Diverged {
        /// What was being trained.
        label: String,
        /// Every iterate up to the last finite one.
        history: Box<plres_optim::History>,
        /// The optimizer's error ([`plres_optim::OptimError::Diverged`], which holds the
        /// last finite parameters).
        #[source]
        source: plres_optim::OptimError,
    },
    /// A library crate (model, data, theory, …) returned an error during the run.
    #[error("{stage}")]
    Model {
        /// What the experiment was doing, e.g. "training p = 64".
        stage: String,
        /// The library's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl ExperimentError {
    /// Wraps an I/O error with the action and path it concerns.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io(plres_data::io::WriteError {
            action,
            path: path.into(),
            source,
        })
    }

    /// Wraps an error of a library crate with what the experiment was doing.
    pub fn model(
        stage: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Model {
            stage: stage.into(),
            source: Box::new(source),
        }
    }

    /// An out-of-domain configuration value.
    pub fn config(experiment: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidConfig {
            experiment: experiment.into(),
            message: message.into(),
        }
    }
}

/// Extension to attach a stage description to a library crate's `Result`.
pub trait ResultExt<T> {
    /// Turns the error into [`ExperimentError::Model`] with `stage` as context.
    fn stage(self, stage: impl FnOnce() -> String) -> Result<T, ExperimentError>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> ResultExt<T> for Result<T, E> {
    fn stage(self, stage: impl FnOnce() -> String) -> Result<T, ExperimentError> {
        self.map_err(|e| ExperimentError::model(stage(), e))
    }
}
