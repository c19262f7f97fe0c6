//! [`Network`]: a trained model with the preprocessing it was trained with — what
//! `predict`, `score`, `certify` and checkpoints work on.
//!
//! A network maps raw inputs `x ∈ R^{d_in}` to outputs `z = B x^L ∈ R^{d_out}`:
//! standardisation `x̃_j = (x_j − m_j)/s_j` (fitted on the training split), the fixed
//! input embedding `x^0 = A x̃` (zero padding when `d = d_out > d_in`), the residual flow,
//! and the fixed output map `B` (the first `d_out` state coordinates when `d_out < d`).
//! A classifier predicts `argmax_c z_c`; a regressor predicts `z`.
//!
//! ## Checkpoint
//!
//! [`Network::save`] writes the model's own safetensors checkpoint (plres-resnet's
//! tensors and metadata, docs/checkpoint-format.md) with two more tensors and keys:
//! `preprocess.mean`, `preprocess.scale` (`[d_in]`, `F64`) and the metadata `task`
//! (`"regression"` or `"classification"`) and `n_outputs`. [`Network::load`] refuses a
//! file without them (not written by plres) with a one-line [`PlresError::Checkpoint`].

use std::path::Path;

use faer::{Mat, MatRef};
use plres_data::{Standardizer, TargetsRef};
use plres_resnet::checkpoint::keys;
use plres_resnet::{Checkpoint, KernelResNet, LinearResNet, Model, ShlResNet, Trainable};
use serde::{Deserialize, Serialize};

use crate::error::PlresError;

/// Metadata key: `"regression"` or `"classification"`.
pub const TASK_KEY: &str = "task";
/// Metadata key: the number of outputs (classes or regression targets).
pub const N_OUTPUTS_KEY: &str = "n_outputs";
/// Tensor: column means of the training inputs, `[d_in]`.
pub const MEAN_TENSOR: &str = "preprocess.mean";
/// Tensor: column scales of the training inputs, `[d_in]` (1 for constant columns).
pub const SCALE_TENSOR: &str = "preprocess.scale";

/// What the network predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Task {
    /// Real vectors `y ∈ R^{outputs}`.
    Regression {
        /// `d_out`.
        outputs: usize,
    },
    /// Labels `0..classes`.
    Classification {
        /// Number of classes (`d_out`).
        classes: usize,
    },
}

impl Task {
    /// `d_out`.
    pub fn n_outputs(self) -> usize {
        match self {
            Task::Regression { outputs } => outputs,
            Task::Classification { classes } => classes,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Task::Regression { .. } => "regression",
            Task::Classification { .. } => "classification",
        }
    }
}

/// The trained model (owned, `Send + Sync`).
#[derive(Clone, Debug)]
pub enum TrainedModel {
    /// [`LinearResNet`].
    Linear(LinearResNet),
    /// [`KernelResNet`] (the coefficients trained on the frozen dictionary).
    Kernel(KernelResNet),
    /// [`ShlResNet`].
    Shl(ShlResNet),
}

impl TrainedModel {
    /// The model as plres-resnet's [`Model`].
    pub fn as_model(&self) -> &dyn Model {
        match self {
            TrainedModel::Linear(m) => m,
            TrainedModel::Kernel(m) => m,
            TrainedModel::Shl(m) => m,
        }
    }

    /// `"linear"`, `"kernel"`, `"shl"`.
    pub fn kind(&self) -> &'static str {
        match self {
            TrainedModel::Linear(_) => "linear",
            TrainedModel::Kernel(_) => "kernel",
            TrainedModel::Shl(_) => "shl",
        }
    }

    /// The trained parameters (flat; the kernel model's coefficients layer by layer).
    pub fn params(&self) -> Vec<f64> {
        match self {
            TrainedModel::Linear(m) => m.params().to_vec(),
            TrainedModel::Shl(m) => m.params().to_vec(),
            TrainedModel::Kernel(m) => m
                .layers()
                .iter()
                .flat_map(|l| {
                    let a = l.coefficients();
                    (0..a.nrows())
                        .flat_map(move |i| (0..a.ncols()).map(move |j| a[(i, j)]))
                        .collect::<Vec<_>>()
                })
                .collect(),
        }
    }

    fn to_checkpoint(&self) -> Result<Checkpoint, PlresError> {
        Ok(match self {
            TrainedModel::Linear(m) => m
                .to_checkpoint()
                .map_err(|e| PlresError::run("writing the checkpoint", e))?,
            TrainedModel::Kernel(m) => m.to_checkpoint(),
            TrainedModel::Shl(m) => m.to_checkpoint(),
        })
    }
}

/// Predictions of a [`Network`].
#[derive(Clone, Debug, PartialEq)]
pub enum Predictions {
    /// One class per sample.
    Classes(Vec<usize>),
    /// One row of `d_out` values per sample.
    Values(Mat<f64>),
}

/// A trained model with its preprocessing (module docs). Owned, `Send + Sync`, no
/// lifetimes: what a Python wrapper holds.
#[derive(Clone, Debug)]
pub struct Network {
    pub(crate) model: TrainedModel,
    pub(crate) standardizer: Standardizer,
    pub(crate) task: Task,
}

impl Network {
    /// The trained model.
    pub fn model(&self) -> &TrainedModel {
        &self.model
    }

    /// The standardisation fitted on the training inputs.
    pub fn standardizer(&self) -> &Standardizer {
        &self.standardizer
    }

    /// Regression or classification, and `d_out`.
    pub fn task(&self) -> Task {
        self.task
    }

    /// Input dimension `d_in`.
    pub fn input_dim(&self) -> usize {
        self.standardizer.dim()
    }

    /// The standardised copy of raw inputs, after checking their shape and finiteness.
    ///
    /// # Errors
    /// [`PlresError::BadData`] (no rows, wrong column count), [`PlresError::NonFinite`].
    pub fn preprocess(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>, PlresError> {
        check_inputs("x", x, Some(self.input_dim()))?;
        Ok(self.standardizer.transform(x))
    }

    /// The outputs `Z` (`N × d_out`; logits for a classifier).
    ///
    /// # Errors
    /// As [`Network::preprocess`].
    pub fn outputs(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>, PlresError> {
        let xs = self.preprocess(x)?;
        self.model
            .as_model()
            .forward(xs.as_ref())
            .map_err(|e| PlresError::run("forward pass", e))
    }

    /// Classes (`argmax`, ties to the lowest index) or values.
    ///
    /// # Errors
    /// As [`Network::preprocess`].
    pub fn predict(&self, x: MatRef<'_, f64>) -> Result<Predictions, PlresError> {
        let z = self.outputs(x)?;
        Ok(match self.task {
            Task::Classification { .. } => Predictions::Classes(
                (0..z.nrows())
                    .map(|i| {
                        (0..z.ncols())
                            .fold(0, |best, c| if z[(i, c)] > z[(i, best)] { c } else { best })
                    })
                    .collect(),
            ),
            Task::Regression { .. } => Predictions::Values(z),
        })
    }

    /// Accuracy (classification) or the coefficient of determination
    /// `R² = 1 − Σ‖z_i − y_i‖² / Σ‖y_i − ȳ‖²` (regression, all outputs pooled).
    ///
    /// # Errors
    /// As [`Network::preprocess`]; [`PlresError::BadData`] for targets of the other kind,
    /// another count or another dimension, labels out of range.
    pub fn score(&self, x: MatRef<'_, f64>, y: TargetsRef<'_>) -> Result<f64, PlresError> {
        check_targets(y, x.nrows(), self.task)?;
        match (self.predict(x)?, y) {
            (Predictions::Classes(p), TargetsRef::Classes(l)) => {
                Ok(p.iter().zip(l).filter(|(a, b)| a == b).count() as f64 / l.len() as f64)
            }
            (Predictions::Values(z), TargetsRef::Regression(y)) => Ok(r_squared(z.as_ref(), y)),
            _ => unreachable!("check_targets matched the task"),
        }
    }

    /// The checkpoint (module docs).
    ///
    /// # Errors
    /// [`PlresError::Run`] if the model cannot be serialised.
    pub fn to_checkpoint(&self) -> Result<Checkpoint, PlresError> {
        let mut c = self.model.to_checkpoint()?;
        let d_in = self.input_dim();
        c.insert(MEAN_TENSOR, vec![d_in], self.standardizer.mean.clone());
        c.insert(SCALE_TENSOR, vec![d_in], self.standardizer.scale.clone());
        c.set_meta(TASK_KEY, self.task.name());
        c.set_meta(N_OUTPUTS_KEY, self.task.n_outputs().to_string());
        Ok(c)
    }

    /// Writes the checkpoint atomically (a reader sees the old file or the new one).
    ///
    /// # Errors
    /// [`PlresError::Write`] naming the file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), PlresError> {
        let path = path.as_ref();
        self.to_checkpoint()?
            .save(path)
            .map_err(|e| PlresError::Write {
                path: path.to_path_buf(),
                reason: crate::error::error_chain(&e),
            })
    }

    /// Rebuilds a network from a checkpoint written by [`Network::to_checkpoint`].
    ///
    /// # Errors
    /// [`PlresError::Checkpoint`] naming `path` and the tensor or key at fault.
    pub fn from_checkpoint(c: &Checkpoint, path: &Path) -> Result<Self, PlresError> {
        let bad = |reason: String| PlresError::Checkpoint {
            path: path.to_path_buf(),
            reason,
        };
        let ck = |e: plres_resnet::CheckpointError| bad(crate::error::error_chain(&e));
        let model = match c.meta(keys::MODEL).map_err(ck)? {
            "linear_resnet" => TrainedModel::Linear(LinearResNet::from_checkpoint(c).map_err(ck)?),
            "kernel_resnet" => TrainedModel::Kernel(KernelResNet::from_checkpoint(c).map_err(ck)?),
            "shl_resnet" => TrainedModel::Shl(ShlResNet::from_checkpoint(c).map_err(ck)?),
            other => {
                return Err(bad(format!(
                    "model {other:?} is not one plres trains (linear_resnet, kernel_resnet, shl_resnet)"
                )));
            }
        };
        let task_name = c.metadata.get(TASK_KEY).ok_or_else(|| {
            bad(format!(
                "no `{TASK_KEY}` metadata: not a checkpoint written by `plres train` or the estimator"
            ))
        })?;
        let n_out: usize = c.meta_parse(N_OUTPUTS_KEY).map_err(ck)?;
        let m = model.as_model();
        if n_out != m.output_dim() {
            return Err(bad(format!(
                "metadata {N_OUTPUTS_KEY} = {n_out} but the model has {} outputs",
                m.output_dim()
            )));
        }
        let task = match task_name.as_str() {
            "regression" => Task::Regression { outputs: n_out },
            "classification" => Task::Classification { classes: n_out },
            other => {
                return Err(bad(format!(
                    "metadata {TASK_KEY} = {other:?}: expected regression or classification"
                )));
            }
        };
        let d_in = m.input_dim();
        let mean = c.tensor(MEAN_TENSOR, &[d_in]).map_err(ck)?.to_vec();
        let scale = c.tensor(SCALE_TENSOR, &[d_in]).map_err(ck)?.to_vec();
        if let Some(j) = scale.iter().position(|s| *s <= 0.0) {
            return Err(bad(format!(
                "tensor `{SCALE_TENSOR}`: entry {j} is {} (scales must be > 0)",
                scale[j]
            )));
        }
        let constant = scale.iter().map(|s| *s == 1.0).collect();
        Ok(Self {
            model,
            standardizer: Standardizer {
                mean,
                scale,
                constant,
            },
            task,
        })
    }

    /// Loads a checkpoint (module docs).
    ///
    /// # Errors
    /// [`PlresError::Checkpoint`] naming `path` and the tensor or key at fault.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, PlresError> {
        let path = path.as_ref();
        let c = Checkpoint::load(path).map_err(|e| PlresError::Checkpoint {
            path: path.to_path_buf(),
            reason: crate::error::error_chain(&e),
        })?;
        Self::from_checkpoint(&c, path)
    }
}

/// `1 − SS_res/SS_tot`, pooled over outputs (`ȳ` per output); `SS_tot = 0` gives 1 for
/// a perfect fit and `−∞` otherwise (scikit-learn's convention, pooled).
pub(crate) fn r_squared(z: MatRef<'_, f64>, y: MatRef<'_, f64>) -> f64 {
    let n = y.nrows() as f64;
    let (mut ss_res, mut ss_tot) = (0.0, 0.0);
    for j in 0..y.ncols() {
        let mean = (0..y.nrows()).map(|i| y[(i, j)]).sum::<f64>() / n;
        for i in 0..y.nrows() {
            ss_res += (z[(i, j)] - y[(i, j)]).powi(2);
            ss_tot += (y[(i, j)] - mean).powi(2);
        }
    }
    if ss_tot == 0.0 {
        return if ss_res == 0.0 {
            1.0
        } else {
            f64::NEG_INFINITY
        };
    }
    1.0 - ss_res / ss_tot
}

/// Inputs: at least one row, `d_in` columns when given, every entry finite.
pub(crate) fn check_inputs(
    what: &str,
    x: MatRef<'_, f64>,
    d_in: Option<usize>,
) -> Result<(), PlresError> {
    if x.nrows() == 0 || x.ncols() == 0 {
        return Err(PlresError::data(
            what,
            format!(
                "{}×{} inputs: no samples or no columns",
                x.nrows(),
                x.ncols()
            ),
        ));
    }
    if let Some(d) = d_in
        && x.ncols() != d
    {
        return Err(PlresError::data(
            what,
            format!("{} columns, but the model takes {d} inputs", x.ncols()),
        ));
    }
    for j in 0..x.ncols() {
        for i in 0..x.nrows() {
            let v = x[(i, j)];
            if !v.is_finite() {
                return Err(PlresError::NonFinite {
                    what: what.to_string(),
                    row: i,
                    column: j,
                    value: v,
                });
            }
        }
    }
    Ok(())
}

/// Targets against `n` samples and a task.
pub(crate) fn check_targets(y: TargetsRef<'_>, n: usize, task: Task) -> Result<(), PlresError> {
    if y.n_samples() != n {
        return Err(PlresError::data(
            "targets",
            format!("{} targets for {n} samples", y.n_samples()),
        ));
    }
    match (y, task) {
        (TargetsRef::Classes(l), Task::Classification { classes }) => {
            if let Some(i) = l.iter().position(|&c| c >= classes) {
                return Err(PlresError::data(
                    "targets",
                    format!(
                        "label {} at row {i} is not one of the model's {classes} classes",
                        l[i]
                    ),
                ));
            }
        }
        (TargetsRef::Regression(y), Task::Regression { outputs }) => {
            if y.ncols() != outputs {
                return Err(PlresError::data(
                    "targets",
                    format!(
                        "{} target columns, but the model has {outputs} outputs",
                        y.ncols()
                    ),
                ));
            }
            check_inputs("targets", y, None)?;
        }
        (TargetsRef::Classes(_), Task::Regression { .. }) => {
            return Err(PlresError::data(
                "targets",
                "class labels given to a regression model",
            ));
        }
        (TargetsRef::Regression(_), Task::Classification { .. }) => {
            return Err(PlresError::data(
                "targets",
                "real-valued targets given to a classifier (give the labels)",
            ));
        }
    }
    Ok(())
}
