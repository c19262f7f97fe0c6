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
    /// A safetensors file could not be read or written, or lacks a tensor.
    #[error("{file}: {message}")]
    Tensors {
        /// The file.
        file: String,
        /// What went wrong.
        message: String,
    },
}
