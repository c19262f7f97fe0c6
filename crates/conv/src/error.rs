//! The crate's error type.

/// What a user can get wrong, and runs that fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConvError {
    /// A configuration value is out of range.
    #[error("invalid {field} = {value}: expected {expected}")]
    InvalidConfig {
        /// The field.
        field: &'static str,
        /// Its value.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// A non-finite loss where the caller cannot continue.
    #[error("{stage} diverged (non-finite loss) in epoch {epoch}")]
    Diverged {
        /// Which stage.
        stage: &'static str,
        /// Epoch, 1-based.
        epoch: usize,
    },
    /// A training checkpoint could not be read, parsed or written.
    #[error("training checkpoint {}: {reason}", path.display())]
    Checkpoint {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong (field, offset or tensor and value).
        reason: String,
    },
    /// A training checkpoint of another run: continuing from it would not be this run.
    #[error(
        "training checkpoint {}: it belongs to another run, its {what} is {saved}, this run's is {given}",
        path.display()
    )]
    CheckpointMismatch {
        /// The file.
        path: std::path::PathBuf,
        /// What differs (`model_config`, `sgd_config`, `precision`, `data`, `context`,
        /// `residual.omega`).
        what: &'static str,
        /// The checkpoint's value.
        saved: String,
        /// The run's value.
        given: String,
    },
    /// A safetensors file could not be read or written, or lacks a tensor.
    #[error("{file}: {message}")]
    Tensors {
        /// The file.
        file: String,
        /// What went wrong.
        message: String,
    },
}
