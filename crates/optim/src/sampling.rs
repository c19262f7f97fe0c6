//! Seeded minibatch sampling: one deterministic shuffle per epoch.
//!
//! Epoch `e` visits the samples in the order of the permutation `π_e` obtained by a
//! Fisher–Yates shuffle (`rand` 0.10's `SliceRandom::shuffle`) of `0..N`, driven by
//! `ChaCha8Rng::seed_from_u64(seed)` on stream `e` (`set_stream(e)`). So `π_e` depends on
//! `(seed, e)` only: resuming a run at epoch `e` reproduces the same batches, and the same
//! seed gives bitwise identical trajectories. Batches are consecutive slices of `π_e` of
//! length `batch_size`; the last one is shorter unless `drop_last` (PyTorch `DataLoader`
//! with `shuffle=True` semantics).

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Minibatch configuration of a stochastic solver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Minibatch {
    /// Samples per batch, `≥ 1`.
    pub batch_size: usize,
    /// Seed of the per-epoch shuffles.
    pub seed: u64,
    /// Drop the last, incomplete batch of each epoch (default `false`).
    #[serde(default)]
    pub drop_last: bool,
}

impl Minibatch {
    /// Batches of `batch_size` samples shuffled from `seed`, keeping the last short batch.
    pub fn new(batch_size: usize, seed: u64) -> Self {
        Self {
            batch_size,
            seed,
            drop_last: false,
        }
    }

    /// Same with `drop_last` set.
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// Checks `batch_size ≥ 1`.
    ///
    /// # Errors
    /// [`ConfigError::ZeroBatchSize`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.batch_size == 0 {
            return Err(ConfigError::ZeroBatchSize);
        }
        Ok(())
    }

    /// Number of batches per epoch for `n_samples` samples: `⌈N/B⌉`, or `⌊N/B⌋` with
    /// `drop_last`.
    pub fn batches_per_epoch(&self, n_samples: usize) -> usize {
        if self.drop_last {
            n_samples / self.batch_size
        } else {
            n_samples.div_ceil(self.batch_size)
        }
    }

    /// Writes the sample order `π_epoch` of epoch `epoch` into `out` (length `N`).
    pub fn permutation(&self, epoch: u64, out: &mut [usize]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = i;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(epoch);
        out.shuffle(&mut rng);
    }
}

/// Run-time part of the sampling, kept in the [`crate::State`]: the permutation buffer and
/// where the current batch lies in it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sampler {
    pub(crate) config: Option<Minibatch>,
    pub(crate) n_samples: usize,
    pub(crate) perm: Vec<usize>,
    pub(crate) perm_epoch: Option<u64>,
    /// `[start, end)` of the current iterate's batch in `perm` (of the state's epoch).
    pub(crate) batch: (usize, usize),
}

/// Where a batch lies: epoch and range in that epoch's permutation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) epoch: u64,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl Sampler {
    fn limit(&self, mb: &Minibatch) -> usize {
        if mb.drop_last {
            (self.n_samples / mb.batch_size) * mb.batch_size
        } else {
            self.n_samples
        }
    }

    /// First batch of `epoch` (`None`: full batch).
    pub(crate) fn first(&self, epoch: u64) -> Position {
        match &self.config {
            None => Position {
                epoch,
                start: 0,
                end: 0,
            },
            Some(mb) => Position {
                epoch,
                start: 0,
                end: mb.batch_size.min(self.limit(mb)),
            },
        }
    }

    /// The batch after the current one, given the current epoch.
    pub(crate) fn next(&self, epoch: u64) -> Position {
        match &self.config {
            None => Position {
                epoch: epoch + 1,
                start: 0,
                end: 0,
            },
            Some(mb) => {
                let limit = self.limit(mb);
                let (_, end) = self.batch;
                if end < limit {
                    Position {
                        epoch,
                        start: end,
                        end: (end + mb.batch_size).min(limit),
                    }
                } else {
                    self.first(epoch + 1)
                }
            }
        }
    }

    /// Makes `perm` the permutation of `epoch` (no-op if it already is).
    pub(crate) fn ensure_perm(&mut self, epoch: u64) {
        match &self.config {
            Some(mb) if self.perm_epoch != Some(epoch) => {
                mb.permutation(epoch, &mut self.perm);
                self.perm_epoch = Some(epoch);
            }
            _ => {}
        }
    }

    /// The indices of `pos` (call [`Sampler::ensure_perm`] for its epoch first).
    pub(crate) fn indices(&self, pos: Position) -> Option<&[usize]> {
        self.config.map(|_| &self.perm[pos.start..pos.end])
    }
}
