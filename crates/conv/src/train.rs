//! Training: plain SGD on the mean softmax cross-entropy, the paper code's defaults.
//!
//! `θ ← θ − η_e ∇ℓ_batch(θ)`, batch 256 drawn by a seeded reshuffle of the training set
//! every epoch (the last, smaller batch is kept, as PyTorch's `DataLoader`), no momentum,
//! no weight decay, `η_e = 0.5` for epochs `e < 35` and `0.5 · 0.2` after (PyTorch's
//! `MultiStepLR(milestones = [35], gamma = 0.2)` stepped once per epoch). A non-finite
//! batch loss or parameter stops the run: the report says at which epoch and batch it
//! diverged, and everything measured until then is kept.
//! The optional pretraining ([`pretrain`]) trains `B ∘ A` the same way with `η = 1`.
//! [`train_resnet_checkpointed`] checkpoints every epoch and continues a killed run
//! bitwise ([`crate::checkpoint`]).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::checkpoint::{CheckpointSpec, RunIdentity, SgdProgress};
use crate::model::{ConvResNet, IMAGE_PIXELS, Images};
use crate::{ConvError, Real};

/// The SGD protocol.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SgdConfig {
    /// Batch size (default 256).
    pub batch: usize,
    /// Learning rate (default 0.5).
    pub lr: f64,
    /// Epochs (default 40).
    pub epochs: usize,
    /// Epoch from which the learning rate is multiplied by `decay` (default 35).
    pub decay_epoch: usize,
    /// Learning-rate factor (default 0.2).
    pub decay: f64,
    /// Seed of the batch shuffling.
    pub seed: u64,
}

impl Default for SgdConfig {
    fn default() -> Self {
        Self {
            batch: 256,
            lr: 0.5,
            epochs: 40,
            decay_epoch: 35,
            decay: 0.2,
            seed: 0,
        }
    }
}

impl SgdConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// [`ConvError::InvalidConfig`] for a batch below 2, or a non-positive or non-finite
    /// learning rate or decay.
    pub fn validate(&self) -> Result<(), ConvError> {
        if self.batch < 2 {
            return Err(ConvError::InvalidConfig {
                field: "batch",
                value: self.batch.to_string(),
                expected: "an integer ≥ 2 (batch normalisation needs two samples)",
            });
        }
        for (field, v) in [("lr", self.lr), ("decay", self.decay)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(ConvError::InvalidConfig {
                    field,
                    value: v.to_string(),
                    expected: "a finite number > 0",
                });
            }
        }
        Ok(())
    }

    /// The learning rate of epoch `e` (0-based).
    pub fn lr_at(&self, e: usize) -> f64 {
        if e >= self.decay_epoch {
            self.lr * self.decay
        } else {
            self.lr
        }
    }
}

/// What one epoch measured.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochRecord {
    /// Epoch, 1-based (after this many epochs).
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f64,
    /// Mean training-mode batch loss over the epoch.
    pub train_loss: f64,
    /// Error on the evaluated training images (evaluation mode), in `[0, 1]`.
    pub train_error: f64,
    /// Test error (evaluation mode), in `[0, 1]`.
    pub test_error: f64,
}

/// Where a run diverged.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Divergence {
    /// Epoch (1-based) in which a non-finite loss or parameter appeared.
    pub epoch: usize,
    /// Batch (0-based) within it.
    pub batch: usize,
}

/// The outcome of a training run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainReport {
    /// One record per completed epoch.
    pub epochs: Vec<EpochRecord>,
    /// Set when the run stopped on a non-finite value.
    pub diverged: Option<Divergence>,
    /// Test error before training.
    pub initial_test_error: f64,
    /// Error on the evaluated training images before training.
    pub initial_train_error: f64,
}

/// Error rate of `model` in evaluation mode on `data` (chunks of 500 images).
pub fn error_rate<T: Real>(
    model: &mut ConvResNet<T>,
    data: &Images<T>,
    out: &mut Vec<usize>,
) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let correct = model.predict(&data.pixels, &data.labels, 500, out);
    1.0 - correct as f64 / data.len() as f64
}

/// Trains the residual parameters of `model` by SGD; `train_eval` is the (fixed) set of
/// training images on which the train error is measured each epoch; `on_epoch` sees
/// every record as it is made. [`train_resnet_checkpointed`] without a checkpoint.
///
/// # Errors
/// As [`SgdConfig::validate`].
pub fn train_resnet<T: Real>(
    model: &mut ConvResNet<T>,
    train: &Images<T>,
    train_eval: &Images<T>,
    test: &Images<T>,
    cfg: &SgdConfig,
    on_epoch: impl FnMut(&EpochRecord),
) -> Result<TrainReport, ConvError> {
    train_resnet_checkpointed(model, train, train_eval, test, cfg, None, on_epoch)
}

/// [`train_resnet`] that survives a kill: with `checkpoint = Some(c)`, the whole training
/// state is written to `c.path` at the end of every epoch ([`crate::checkpoint`]: the
/// model's parameters, running statistics and `B ∘ A`, the epoch, the SGD step count, the
/// shuffle generator's position and permutation, the records so far), atomically; and if
/// `c.path` holds such a checkpoint when training starts, the model is restored from it
/// and training continues with its next epoch. The continued run is bitwise the
/// uninterrupted one (same parameters, same records), whatever the epoch of the
/// interruption; a checkpoint of a finished run returns its report without training.
/// `on_epoch` sees only the epochs trained by this call.
///
/// # Errors
/// As [`SgdConfig::validate`]; [`ConvError::Checkpoint`] naming the file when the
/// checkpoint cannot be read, written or parsed; [`ConvError::CheckpointMismatch`] when it
/// belongs to another configuration (model, SGD protocol, precision, data or the caller's
/// context).
pub fn train_resnet_checkpointed<T: Real>(
    model: &mut ConvResNet<T>,
    train: &Images<T>,
    train_eval: &Images<T>,
    test: &Images<T>,
    cfg: &SgdConfig,
    checkpoint: Option<&CheckpointSpec<'_>>,
    mut on_epoch: impl FnMut(&EpochRecord),
) -> Result<TrainReport, ConvError> {
    cfg.validate()?;
    let identity =
        checkpoint.map(|c| RunIdentity::new(&*model, cfg, c.context, [train, train_eval, test]));
    let resumed = match (checkpoint, &identity) {
        (Some(c), Some(id)) if c.path.is_file() => {
            Some(SgdProgress::load(c.path, id, model, cfg, train.len())?)
        }
        _ => None,
    };
    let mut grad = vec![T::ZERO; model.n_params()];
    let (mut xb, mut yb) = (
        Vec::with_capacity(cfg.batch * IMAGE_PIXELS),
        Vec::with_capacity(cfg.batch),
    );
    let mut pred = Vec::new();
    let mut progress = match resumed {
        Some(p) => p,
        None => {
            let initial_train_error = error_rate(model, train_eval, &mut pred);
            let initial_test_error = error_rate(model, test, &mut pred);
            SgdProgress {
                rng: ChaCha8Rng::seed_from_u64(cfg.seed),
                order: (0..train.len()).collect(),
                steps: 0,
                report: TrainReport {
                    epochs: Vec::new(),
                    diverged: None,
                    initial_test_error,
                    initial_train_error,
                },
            }
        }
    };
    let mut params = model.params().to_vec();
    for e in progress.report.epochs.len()..cfg.epochs {
        let lr = cfg.lr_at(e);
        let step = T::from_f64(lr);
        shuffle(&mut progress.order, &mut progress.rng);
        let mut loss_sum = 0.0;
        let mut batches = 0;
        for (bi, idx) in progress.order.chunks(cfg.batch).enumerate() {
            if idx.len() < 2 {
                continue; // a single image has no batch statistics (PyTorch raises)
            }
            train.gather(idx, &mut xb, &mut yb);
            let l = model.loss_and_gradient(&xb, &yb, &mut grad);
            for (p, &g) in params.iter_mut().zip(&grad) {
                *p -= step * g;
            }
            if !l.loss.is_finite() || params.iter().any(|p| !p.to_f64().is_finite()) {
                progress.report.diverged = Some(Divergence {
                    epoch: e + 1,
                    batch: bi,
                });
                return Ok(progress.report);
            }
            model.set_params(&params);
            loss_sum += l.loss;
            batches += 1;
            progress.steps += 1;
        }
        let rec = EpochRecord {
            epoch: e + 1,
            lr,
            train_loss: loss_sum / batches.max(1) as f64,
            train_error: error_rate(model, train_eval, &mut pred),
            test_error: error_rate(model, test, &mut pred),
        };
        progress.report.epochs.push(rec);
        if let (Some(c), Some(id)) = (checkpoint, &identity) {
            progress.save(c.path, id, model)?;
        }
        on_epoch(&rec);
    }
    Ok(progress.report)
}

/// Pretrains `B ∘ A` (all its parameters, batch norms included) for `epochs` epochs of
/// SGD with learning rate `lr` (the paper: 1) and batch `batch`, shuffled with `seed`.
/// Returns the mean loss of each epoch; a non-finite loss stops early with
/// [`ConvError::Diverged`].
///
/// # Errors
/// [`ConvError::Diverged`] on a non-finite loss.
pub fn pretrain<T: Real>(
    model: &mut ConvResNet<T>,
    train: &Images<T>,
    epochs: usize,
    lr: f64,
    batch: usize,
    seed: u64,
) -> Result<Vec<f64>, ConvError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut params = model.ab_params();
    let mut grad = vec![T::ZERO; params.len()];
    let (mut xb, mut yb) = (Vec::new(), Vec::new());
    let step = T::from_f64(lr);
    let mut losses = Vec::with_capacity(epochs);
    for e in 0..epochs {
        shuffle(&mut order, &mut rng);
        let (mut sum, mut count) = (0.0, 0);
        for idx in order.chunks(batch.max(2)) {
            if idx.len() < 2 {
                continue;
            }
            train.gather(idx, &mut xb, &mut yb);
            let l = model.ab_loss_and_gradient(&xb, &yb, &mut grad);
            if !l.loss.is_finite() {
                return Err(ConvError::Diverged {
                    stage: "pretraining",
                    epoch: e + 1,
                });
            }
            for (p, &g) in params.iter_mut().zip(&grad) {
                *p -= step * g;
            }
            model.set_ab_params(&params);
            sum += l.loss;
            count += 1;
        }
        losses.push(sum / count.max(1) as f64);
    }
    Ok(losses)
}

/// Fisher–Yates shuffle on `next_u64` with Lemire's bounded draw (so the permutation
/// depends only on the ChaCha stream, not on `rand`'s range sampling).
pub fn shuffle<R: rand::Rng>(items: &mut [usize], rng: &mut R) {
    for i in (1..items.len()).rev() {
        let n = i as u64 + 1;
        let mut m = u128::from(rng.next_u64()) * u128::from(n);
        if (m as u64) < n {
            let t = n.wrapping_neg() % n;
            while (m as u64) < t {
                m = u128::from(rng.next_u64()) * u128::from(n);
            }
        }
        items.swap(i, (m >> 64) as usize);
    }
}
