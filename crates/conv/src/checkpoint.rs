//! The epoch checkpoint of [`crate::train_resnet_checkpointed`]: everything that evolves
//! during SGD training, so a run killed after epoch `j` continues bitwise.
//!
//! What evolves, and so what the file holds: the trained residual parameters `θ`; the
//! running statistics of the three batch norms (a training step updates them, evaluation
//! reads them); the parameters of `B ∘ A` (fixed during ResNet training, but set by the
//! optional pretraining, which a resumed run therefore need not repeat); the epoch `j`
//! (the learning-rate schedule's position is a function of it, [`SgdConfig::lr_at`]); the
//! SGD step count (plain SGD has no momentum buffer); the shuffle generator's position
//! (ChaCha8 word position, the seed is the configuration's) and the permutation it
//! shuffles in place every epoch; and the [`EpochRecord`]s and initial errors so far.
//! `Ω` is stored too, and compared on load, so a checkpoint of another initialisation is
//! refused.
//!
//! ## Format
//! A plres-resnet safetensors [`Checkpoint`] (the project's checkpoint format: `F64`
//! tensors, string metadata in a sorted map, written atomically with
//! `plres_data::io::write_atomic`; the bytes are a function of the contents, the same in
//! every process). Values of an `f32` run are stored widened to `f64` (exact) and must
//! narrow back exactly on load.
//!
//! | tensor | shape | holds |
//! |---|---|---|
//! | `residual.params` | `[n_params]` | `θ` |
//! | `residual.omega` | `[9 q q_int]` (`[0]` for SHL) | the fixed `Ω` (compared) |
//! | `ab.params` | `[n_ab_params]` | `B ∘ A` in [`ConvResNet::ab_params`] order |
//! | `bn.{input1,input2,output}.running_{mean,var}` | `[q]` | running statistics |
//! | `sampler.order` | `[n_train]` | the permutation after epoch `j` |
//! | `report.initial` | `[2]` | train and test error before training |
//! | `history.{lr,train_loss,train_error,test_error}` | `[j]` | the records of epochs `1..=j` |
//!
//! | metadata key | value |
//! |---|---|
//! | `model` | `"conv_resnet_sgd"` |
//! | `sgd_checkpoint_version` | [`SGD_CHECKPOINT_VERSION`] |
//! | `model_config`, `sgd_config` | JSON of [`ConvResNetConfig`](crate::ConvResNetConfig), [`SgdConfig`] |
//! | `precision` | `"f32"` or `"f64"` |
//! | `data` | image counts and a 64-bit FNV-1a fingerprint of pixels and labels |
//! | `context` | the caller's description of the rest of the run (dataset, pretraining, seed) |
//! | `epoch` | `j` |
//! | `sgd_steps` | SGD steps taken |
//! | `rng_word_pos` | the shuffle generator's ChaCha8 word position |
//! | `checksum_fnv1a64` | 64-bit FNV-1a of all other metadata and tensors (bit patterns) |
//!
//! Loading checks the checksum (safetensors has none: a flipped bit in a parameter would
//! otherwise be resumed from silently), every identity entry against the run (a mismatch is
//! [`ConvError::CheckpointMismatch`]), every shape, that `sampler.order` is a permutation,
//! that `j` does not exceed the configured epochs and the records are finite; any failure
//! is [`ConvError::Checkpoint`] naming the file.

use std::path::Path;

use plres_resnet::Checkpoint;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::model::{ConvResNet, Images};
use crate::train::{EpochRecord, SgdConfig, TrainReport};
use crate::{ConvError, Real};

/// Version of the layout above (metadata `sgd_checkpoint_version`).
pub const SGD_CHECKPOINT_VERSION: u32 = 1;

/// The metadata key of the contents' checksum.
const CHECKSUM: &str = "checksum_fnv1a64";

/// 64-bit FNV-1a of everything in `c` but the checksum entry itself (metadata and
/// tensors in their sorted order, floats as bit patterns), as 16 hex digits: a flipped
/// bit anywhere in a checkpoint is detected, not resumed from.
fn checksum(c: &Checkpoint) -> String {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    for (k, v) in &c.metadata {
        if k != CHECKSUM && k != "format_version" {
            h.bytes(k.as_bytes());
            h.bytes(v.as_bytes());
        }
    }
    for (name, t) in &c.tensors {
        h.bytes(name.as_bytes());
        for &d in &t.shape {
            h.word(d as u64);
        }
        for &x in &t.data {
            h.word(x.to_bits());
        }
    }
    format!("{:016x}", h.0)
}

/// The value of the `model` metadata key.
const MODEL_TAG: &str = "conv_resnet_sgd";

/// Where [`crate::train_resnet_checkpointed`] keeps its checkpoint, and what else
/// identifies the run.
#[derive(Clone, Copy, Debug)]
pub struct CheckpointSpec<'a> {
    /// The checkpoint file (read if present, rewritten after every epoch).
    pub path: &'a Path,
    /// Everything that determines the run besides the model, SGD configuration, precision
    /// and images (e.g. dataset name, pretraining epochs, seed): a checkpoint with another
    /// context is refused.
    pub context: &'a str,
}

/// What a checkpoint must match to be continued: the metadata entries that identify a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RunIdentity {
    entries: [(&'static str, String); 5],
}

/// 64-bit FNV-1a over 64-bit words.
struct Fnv(u64);

impl Fnv {
    fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(0x0000_0100_0000_01b3);
    }

    /// A length-prefixed byte string.
    fn bytes(&mut self, b: &[u8]) {
        self.word(b.len() as u64);
        for &x in b {
            self.word(u64::from(x));
        }
    }
}

impl RunIdentity {
    pub(crate) fn new<T: Real>(
        model: &ConvResNet<T>,
        cfg: &SgdConfig,
        context: &str,
        data: [&Images<T>; 3],
    ) -> Self {
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        for images in data {
            h.word(images.len() as u64);
            for &p in &images.pixels {
                h.word(p.to_f64().to_bits());
            }
            for &y in &images.labels {
                h.word(y as u64);
            }
        }
        Self {
            entries: [
                ("model_config", json(&model.config)),
                ("sgd_config", json(cfg)),
                ("precision", precision::<T>().to_owned()),
                (
                    "data",
                    format!(
                        "train {}, train_eval {}, test {} images, fingerprint {:016x}",
                        data[0].len(),
                        data[1].len(),
                        data[2].len(),
                        h.0
                    ),
                ),
                ("context", context.to_owned()),
            ],
        }
    }
}

/// JSON of a configuration (serde; floats round-trip exactly).
fn json<S: serde::Serialize>(v: &S) -> String {
    serde_json::to_string(v).expect("a configuration of numbers and enums serialises to JSON")
}

fn precision<T: Real>() -> &'static str {
    if std::mem::size_of::<T>() == 4 {
        "f32"
    } else {
        "f64"
    }
}

/// The state of an SGD run between epochs.
pub(crate) struct SgdProgress {
    /// The shuffle generator.
    pub(crate) rng: ChaCha8Rng,
    /// The permutation it shuffles in place every epoch.
    pub(crate) order: Vec<usize>,
    /// SGD steps taken.
    pub(crate) steps: u64,
    /// The records so far (one per completed epoch).
    pub(crate) report: TrainReport,
}

fn widen<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

impl SgdProgress {
    /// Writes the checkpoint of `model` and this progress to `path` (atomically).
    pub(crate) fn save<T: Real>(
        &self,
        path: &Path,
        id: &RunIdentity,
        model: &ConvResNet<T>,
    ) -> Result<(), ConvError> {
        let mut c = Checkpoint::new();
        c.set_meta("model", MODEL_TAG);
        c.set_meta("sgd_checkpoint_version", SGD_CHECKPOINT_VERSION.to_string());
        for (k, v) in &id.entries {
            c.set_meta(k, v.clone());
        }
        let j = self.report.epochs.len();
        c.set_meta("epoch", j.to_string());
        c.set_meta("sgd_steps", self.steps.to_string());
        c.set_meta("rng_word_pos", self.rng.get_word_pos().to_string());
        let mut put = |name: &str, v: Vec<f64>| c.insert(name, vec![v.len()], v);
        put("residual.params", widen(model.params()));
        put("residual.omega", widen(&model.residual.omega));
        put("ab.params", widen(&model.ab_params()));
        for (name, bn) in bns(model) {
            put(&format!("bn.{name}.running_mean"), widen(&bn.running_mean));
            put(&format!("bn.{name}.running_var"), widen(&bn.running_var));
        }
        put(
            "sampler.order",
            self.order.iter().map(|&i| i as f64).collect(),
        );
        put(
            "report.initial",
            vec![
                self.report.initial_train_error,
                self.report.initial_test_error,
            ],
        );
        let col = |f: fn(&EpochRecord) -> f64| self.report.epochs.iter().map(f).collect();
        put("history.lr", col(|r| r.lr));
        put("history.train_loss", col(|r| r.train_loss));
        put("history.train_error", col(|r| r.train_error));
        put("history.test_error", col(|r| r.test_error));
        let sum = checksum(&c);
        c.set_meta(CHECKSUM, sum);
        c.save(path).map_err(|e| ConvError::Checkpoint {
            path: path.to_owned(),
            reason: format!("writing: {}", cause(&e)),
        })
    }

    /// Reads the checkpoint at `path`, checks it against the run and restores `model`
    /// from it; returns the progress to continue from.
    pub(crate) fn load<T: Real>(
        path: &Path,
        id: &RunIdentity,
        model: &mut ConvResNet<T>,
        cfg: &SgdConfig,
        n_train: usize,
    ) -> Result<Self, ConvError> {
        let bad = |reason: String| ConvError::Checkpoint {
            path: path.to_owned(),
            reason,
        };
        let c = Checkpoint::load(path).map_err(|e| bad(cause(&e)))?;
        let stored = c.meta(CHECKSUM).map_err(|e| bad(e.to_string()))?;
        let computed = checksum(&c);
        if stored != computed {
            return Err(bad(format!(
                "metadata {CHECKSUM} = {stored}, the contents give {computed}: the file is corrupted"
            )));
        }
        let tag = c.meta("model").map_err(|e| bad(e.to_string()))?;
        if tag != MODEL_TAG {
            return Err(bad(format!(
                "metadata model = `{tag}`, expected `{MODEL_TAG}` (not an SGD epoch checkpoint)"
            )));
        }
        let version: u32 = c
            .meta_parse("sgd_checkpoint_version")
            .map_err(|e| bad(e.to_string()))?;
        if version != SGD_CHECKPOINT_VERSION {
            return Err(bad(format!(
                "sgd_checkpoint_version {version}, this build reads {SGD_CHECKPOINT_VERSION}"
            )));
        }
        for (key, given) in &id.entries {
            let saved = c.metadata.get(*key).map_or("(missing)", String::as_str);
            if saved != given {
                return Err(ConvError::CheckpointMismatch {
                    path: path.to_owned(),
                    what: key,
                    saved: saved.to_owned(),
                    given: given.clone(),
                });
            }
        }
        let j: usize = c.meta_parse("epoch").map_err(|e| bad(e.to_string()))?;
        if j > cfg.epochs {
            return Err(bad(format!(
                "epoch = {j}, beyond the run's {} epochs",
                cfg.epochs
            )));
        }
        let steps: u64 = c.meta_parse("sgd_steps").map_err(|e| bad(e.to_string()))?;
        let word_pos: u128 = c
            .meta_parse("rng_word_pos")
            .map_err(|e| bad(e.to_string()))?;
        let get = |name: &str, len: usize| -> Result<Vec<T>, ConvError> {
            let v = c.tensor(name, &[len]).map_err(|e| bad(e.to_string()))?;
            v.iter()
                .map(|&x| {
                    let t = T::from_f64(x);
                    if t.to_f64().to_bits() == x.to_bits() {
                        Ok(t)
                    } else {
                        Err(bad(format!(
                            "tensor `{name}` holds {x:e}, not a value of the run's precision {}",
                            precision::<T>()
                        )))
                    }
                })
                .collect()
        };
        let omega = get("residual.omega", model.residual.omega.len())?;
        let same_omega = omega
            .iter()
            .zip(&model.residual.omega)
            .all(|(a, b)| a.to_f64().to_bits() == b.to_f64().to_bits());
        if !same_omega {
            return Err(ConvError::CheckpointMismatch {
                path: path.to_owned(),
                what: "residual.omega",
                saved: "another Ω".into(),
                given: "the Ω of this model's initialisation".into(),
            });
        }
        let params = get("residual.params", model.n_params())?;
        let ab = get("ab.params", model.n_ab_params())?;
        let q = model.config.q;
        let mut stats = Vec::with_capacity(6);
        for (name, _) in bns(model) {
            stats.push(get(&format!("bn.{name}.running_mean"), q)?);
            stats.push(get(&format!("bn.{name}.running_var"), q)?);
        }
        let order_f = c
            .tensor("sampler.order", &[n_train])
            .map_err(|e| bad(e.to_string()))?;
        let mut seen = vec![false; n_train];
        let mut order = Vec::with_capacity(n_train);
        for &x in order_f {
            let i = x as usize;
            if x.fract() != 0.0 || x < 0.0 || i >= n_train || seen[i] {
                return Err(bad(format!(
                    "tensor `sampler.order` is not a permutation of 0..{n_train} (value {x})"
                )));
            }
            seen[i] = true;
            order.push(i);
        }
        let initial = c
            .tensor("report.initial", &[2])
            .map_err(|e| bad(e.to_string()))?;
        let col = |name: &str| c.tensor(name, &[j]).map_err(|e| bad(e.to_string()));
        let (lr, loss, tr, te) = (
            col("history.lr")?,
            col("history.train_loss")?,
            col("history.train_error")?,
            col("history.test_error")?,
        );
        let epochs = (0..j)
            .map(|i| EpochRecord {
                epoch: i + 1,
                lr: lr[i],
                train_loss: loss[i],
                train_error: tr[i],
                test_error: te[i],
            })
            .collect();
        // everything checked: restore
        model.set_params(&params);
        model.set_ab_params(&ab);
        let mut stats = stats.into_iter();
        for bn in bns_mut(model) {
            bn.running_mean = stats.next().expect("six statistics");
            bn.running_var = stats.next().expect("six statistics");
        }
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        rng.set_word_pos(word_pos);
        Ok(Self {
            rng,
            order,
            steps,
            report: TrainReport {
                epochs,
                diverged: None,
                initial_test_error: initial[1],
                initial_train_error: initial[0],
            },
        })
    }
}

fn bns<T>(m: &ConvResNet<T>) -> [(&'static str, &crate::layers::batchnorm::BatchNorm<T>); 3] {
    [
        ("input1", &m.input.bn1),
        ("input2", &m.input.bn2),
        ("output", &m.output.bn),
    ]
}

fn bns_mut<T>(m: &mut ConvResNet<T>) -> [&mut crate::layers::batchnorm::BatchNorm<T>; 3] {
    [&mut m.input.bn1, &mut m.input.bn2, &mut m.output.bn]
}

/// What went wrong with the file, without its name (the caller's error names it).
fn cause(e: &plres_resnet::CheckpointError) -> String {
    match e.cause() {
        plres_resnet::CheckpointError::Io { source, .. } => source.to_string(),
        other => chain(other),
    }
}

/// An error and its causes, `outer: inner`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}
