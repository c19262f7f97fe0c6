//! Typed errors for everything a user (or a file) can get wrong.
//!
//! Inputs are checked once per call at the public entry points (`forward`,
//! `loss_and_gradient`, the `Problem` implementations, constructors, checkpoint loading),
//! never inside the per-layer loops. Internal shape mismatches between routines of this
//! crate are programmer errors and panic with a message naming every dimension.

use std::path::PathBuf;

/// An error caused by a model's inputs or configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResNetError {
    /// A dimension of the data does not match the model (or the data disagree among
    /// themselves).
    #[error("dimension mismatch in {what}: expected {expected}, found {found}")]
    DimensionMismatch {
        /// Which quantity, e.g. `"input columns (d_in)"`.
        what: &'static str,
        /// What the model expects.
        expected: usize,
        /// What was passed.
        found: usize,
    },
    /// The data have no rows (no samples).
    #[error("empty data: {what} has no samples")]
    EmptyData {
        /// Which input was empty.
        what: &'static str,
    },
    /// Depth `L = 0`: a ResNet needs at least one layer.
    #[error("depth L must be at least 1, found 0")]
    ZeroDepth,
    /// Width `p = 0`: the feature map has no features.
    #[error("width p must be at least 1, found 0")]
    ZeroWidth,
    /// State dimension `d = 0` (or an embedding/output map with no rows or columns).
    #[error("dimension {what} must be at least 1, found 0")]
    ZeroDimension {
        /// Which dimension.
        what: &'static str,
    },
    /// A non-finite value (NaN or ±∞) in the data or in a parameter.
    #[error("non-finite value {value} in {what} at ({row}, {col})")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Row (sample) index.
        row: usize,
        /// Column index.
        col: usize,
        /// The offending value.
        value: f64,
    },
    /// A class label is not below the number of classes (the output dimension).
    #[error("label {label} of sample {index} out of range: the model has {n_classes} classes")]
    LabelOutOfRange {
        /// Sample index.
        index: usize,
        /// The label found.
        label: usize,
        /// Number of classes (`d_out`).
        n_classes: usize,
    },
    /// A flat parameter vector (or gradient buffer) of the wrong length.
    #[error("{what} has length {found}, the model has {expected} parameters")]
    ParameterLength {
        /// `"params"` or `"grad"`.
        what: &'static str,
        /// Number of trained parameters.
        expected: usize,
        /// Length passed.
        found: usize,
    },
    /// A minibatch index is not a sample index.
    #[error("minibatch index {index} out of range for {n_samples} samples")]
    IndexOutOfRange {
        /// The offending index.
        index: usize,
        /// Number of samples.
        n_samples: usize,
    },
    /// A scalar setting outside its valid range (learning rate, init scale, …).
    #[error("invalid {what}: {value} ({reason})")]
    InvalidSetting {
        /// Which setting.
        what: &'static str,
        /// The value passed.
        value: f64,
        /// What is required.
        reason: &'static str,
    },
    /// The loss (or a state) became non-finite during a computation: the iterate
    /// diverged.
    #[error("non-finite loss {value}: the parameters diverged")]
    NonFiniteLoss {
        /// The loss value.
        value: f64,
    },
    /// A size computed from user values (`slices·d·p`, …) overflows `usize` or cannot
    /// be allocated.
    #[error("{what} = {value} is too large to allocate")]
    TooLarge {
        /// Which size, e.g. `"parameters (slices·d·p)"`.
        what: &'static str,
        /// The size, or the operands when the product overflows.
        value: String,
    },
    /// The requested operation does not exist for this configuration.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The feature map rejected its construction parameters.
    #[error("feature map: {0}")]
    Features(#[from] plres_rff::RffError),
    /// The kernel rejected its construction parameters.
    #[error("kernel: {0}")]
    Kernel(#[from] plres_kernels::KernelError),
}

/// An error while saving or loading a safetensors checkpoint. Every variant about a
/// tensor names the tensor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Reading, writing, syncing or renaming the file failed.
    #[error("checkpoint I/O on {path}: {source}")]
    Io {
        /// The file (or its temporary sibling).
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The bytes are not a valid safetensors file.
    #[error("not a valid safetensors file: {0}")]
    Format(String),
    /// The `format_version` metadata is not one this crate reads.
    #[error("unsupported checkpoint format_version {found:?} (this build reads {supported})")]
    UnsupportedFormatVersion {
        /// The version string found (`None` if the key is absent).
        found: Option<String>,
        /// The version this build writes and reads.
        supported: u32,
    },
    /// A required metadata key is absent.
    #[error("missing metadata key `{key}`")]
    MissingMetadata {
        /// The key.
        key: &'static str,
    },
    /// A metadata value cannot be parsed or is not allowed.
    #[error("invalid metadata `{key}` = {value:?}: {reason}")]
    InvalidMetadata {
        /// The key.
        key: &'static str,
        /// The value found.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A required tensor is absent.
    #[error("missing tensor `{name}`")]
    MissingTensor {
        /// Tensor name.
        name: String,
    },
    /// A tensor has the wrong shape.
    #[error("tensor `{name}` has shape {found:?}, expected {expected:?}")]
    WrongShape {
        /// Tensor name.
        name: String,
        /// The shape required by the rest of the checkpoint.
        expected: Vec<usize>,
        /// The shape found.
        found: Vec<usize>,
    },
    /// A tensor that sets a model dimension has a zero axis: the model would be empty,
    /// and beside a huge other axis the empty matrix alone takes unbounded time to build.
    #[error("tensor `{name}` has shape {shape:?}: a zero axis leaves the model empty")]
    ZeroDimension {
        /// Tensor name.
        name: String,
        /// The shape found.
        shape: Vec<usize>,
    },
    /// A tensor is not float64.
    #[error("tensor `{name}` has dtype {found}, expected F64")]
    WrongDtype {
        /// Tensor name.
        name: String,
        /// The dtype found.
        found: String,
    },
    /// A tensor holds NaN or ±∞.
    #[error("tensor `{name}` holds the non-finite value {value} at flat index {index}")]
    NonFinite {
        /// Tensor name.
        name: String,
        /// Flat (row-major) index of the first non-finite entry.
        index: usize,
        /// The value.
        value: f64,
    },
    /// The checkpoint holds another kind of model.
    #[error("checkpoint holds a `{found}` model, expected `{expected}`")]
    WrongModel {
        /// The model kind asked for.
        expected: &'static str,
        /// The `model` metadata found.
        found: String,
    },
    /// The tensors are well-formed but do not make a valid model.
    #[error("checkpoint does not make a valid model: {0}")]
    Model(#[from] ResNetError),
    /// The optimizer state of a training checkpoint is malformed.
    #[error("optimizer state: {0}")]
    State(#[from] plres_optim::StateFormatError),
    /// Any other error, about the file at `path` (the loaders' errors name their file).
    /// Match on [`CheckpointError::cause`] to see the error inside.
    #[error("{}: {source}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: Box<CheckpointError>,
    },
}

impl CheckpointError {
    /// The error wrapped with the file it is about (an [`CheckpointError::Io`] or an
    /// error already naming a file is returned as is).
    pub fn in_file(self, path: &std::path::Path) -> Self {
        match self {
            e @ (CheckpointError::Io { .. } | CheckpointError::InFile { .. }) => e,
            e => CheckpointError::InFile {
                path: path.to_path_buf(),
                source: Box::new(e),
            },
        }
    }

    /// The error without its file: the variant to match on.
    pub fn cause(&self) -> &CheckpointError {
        match self {
            CheckpointError::InFile { source, .. } => source.cause(),
            e => e,
        }
    }
}
