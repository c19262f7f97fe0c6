//! The training checkpoint of the optimizer: every evolving quantity of a [`State`] as bytes,
//! so a run stopped after `k` iterations and continued from the restored state is bitwise
//! the run that never stopped.
//!
//! What a state holds, and so what the bytes hold: `θ_k`, `L(θ_k)`, `∂L/∂θ(θ_k)`, `G`,
//! `‖G‖²_M` and whether they belong to `θ_k`; the counters (iteration `k`, epoch,
//! evaluations); the learning rate and last step size; the solver's buffers (momentum `b`,
//! Adam's `m`, `v`), their owner and the solver's step counter `t`; the sampler's
//! configuration (batch size, seed, `drop_last`), sample count and the position of the
//! current batch inside the epoch. Nothing else evolves: the schedule's position is a
//! function of `(k, epoch)` ([`crate::LearningRate::at`]) and the epoch's permutation a
//! function of `(seed, epoch)` ([`crate::Minibatch::permutation`]), so there is no
//! generator state to save; the candidate buffers and the permutation are scratch,
//! refilled by [`crate::run`].
//!
//! ## Format (version 1, little-endian, no padding)
//!
//! | field | bytes |
//! |---|---|
//! | magic `PLRSTATE` | 8 |
//! | format version (`u32`) | 4 |
//! | `n` = number of parameters (`u64`), then `θ` | 8 + 8n |
//! | evaluated (`u8`: 0 or 1) | 1 |
//! | loss, `‖G‖²_M`, learning rate, last step size (`f64` bit patterns) | 32 |
//! | gradient, Riesz gradient: each a length (`0` or `n`) and the values | 16 + … |
//! | iteration, epoch, evaluations (`u64`) | 24 |
//! | solver name: length (`u64`, `0` = none, at most 64) and UTF-8 bytes | 8 + … |
//! | solver step counter `t` (`u64`), number of buffers `m` (`u64`), `m·n` values | 16 + 8mn |
//! | minibatch: `u8` (0 none, 1 some); batch size, seed (`u64`), drop_last (`u8`) | 1 + 17 |
//! | sample count, batch start, batch end (`u64`) | 24 |
//!
//! Floats are stored as their bit patterns (NaN payloads and `−0` survive), so the bytes are
//! a function of the state alone: the same state gives the same bytes in any process.
//! [`State::from_bytes`] checks every length against the bytes actually present before
//! allocating, and every invariant of a state (an evaluated state is finite; a batch lies
//! inside the data), returning a [`StateFormatError`] that names the field and byte offset.
//!
//! ```
//! use plres_optim::{GradientDescentConfig, Problem, ProblemError, State, Stopping, run};
//! struct Quad;
//! impl Problem for Quad {
//!     fn n_params(&self) -> usize { 1 }
//!     fn loss_and_gradient(&mut self, p: &[f64], g: &mut [f64]) -> Result<f64, ProblemError> {
//!         g[0] = p[0];
//!         Ok(0.5 * p[0] * p[0])
//!     }
//! }
//! let gd = GradientDescentConfig::new(0.3).build()?;
//! let whole = run(&mut Quad, &gd, State::new(vec![1.0]), &Stopping::iterations(6), &mut [])?;
//! let half = run(&mut Quad, &gd, State::new(vec![1.0]), &Stopping::iterations(2), &mut [])?;
//! let restored = State::from_bytes(&half.state.to_bytes())?;
//! restored.check_resume(&gd, &Quad)?;
//! let rest = run(&mut Quad, &gd, restored, &Stopping::iterations(6), &mut [])?;
//! assert_eq!(whole.state.params()[0].to_bits(), rest.state.params()[0].to_bits());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;

use crate::problem::Problem;
use crate::sampling::{Minibatch, Sampler};
use crate::solver::Solver;
use crate::state::{SolverBuffers, State};

/// The first 8 bytes of a serialised [`State`].
pub const STATE_MAGIC: &[u8; 8] = b"PLRSTATE";

/// The format version this build writes and reads.
pub const STATE_FORMAT_VERSION: u32 = 1;

/// Longest solver name the format accepts (names are short identifiers such as `"adamw"`).
const MAX_NAME_LEN: u64 = 64;

/// Bytes that are not a serialised [`State`] of this build: each variant names the field and
/// the byte offset where reading stopped.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StateFormatError {
    /// The bytes do not start with [`STATE_MAGIC`].
    #[error("not an optimizer state: the file starts with {found:?}, expected \"PLRSTATE\"")]
    BadMagic {
        /// Up to the first 8 bytes found.
        found: Vec<u8>,
    },
    /// A format version this build does not read.
    #[error("unsupported optimizer-state format version {found} (this build reads {supported})")]
    UnsupportedVersion {
        /// The version found.
        found: u32,
        /// [`STATE_FORMAT_VERSION`].
        supported: u32,
    },
    /// The bytes end inside a field (or a declared length exceeds what is left).
    #[error(
        "optimizer state truncated in `{field}` at byte {offset}: {needed} bytes needed, {available} left"
    )]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Byte offset of the field.
        offset: usize,
        /// Bytes the field declares (saturated at `u64::MAX` when its size overflows).
        needed: u64,
        /// Bytes left in the input.
        available: usize,
    },
    /// A field holds a value no state can have.
    #[error("invalid `{field}` in the optimizer state at byte {offset}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Byte offset of the field.
        offset: usize,
        /// Why it is rejected.
        reason: String,
    },
    /// Bytes follow the last field.
    #[error("{extra} unexpected bytes after the optimizer state (from byte {offset})")]
    TrailingBytes {
        /// Byte offset of the first extra byte.
        offset: usize,
        /// How many bytes follow.
        extra: usize,
    },
}

/// A restored [`State`] that does not fit the solver or problem it is about to continue
/// with: continuing would silently restart the solver's buffers or the epoch, so the run
/// would not be the one that was saved ([`State::check_resume`]).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("cannot resume: the saved state has {what} {saved}, the run has {given}")]
pub struct ResumeMismatch {
    /// What differs (`"parameter count"`, `"solver"`, `"minibatch"`, `"sample count"`).
    pub what: &'static str,
    /// The saved value.
    pub saved: String,
    /// The value of the run.
    pub given: String,
}

impl State {
    /// The state as bytes (the module docs give the format). The same state gives the same
    /// bytes in every process; [`State::from_bytes`] gives back a state that continues
    /// bitwise like this one.
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.params.len();
        let mut out = Vec::with_capacity(
            200 + 8 * (n + self.gradient.len() + self.riesz.len())
                + 8 * n * self.buffers.vectors.len(),
        );
        out.extend_from_slice(STATE_MAGIC);
        out.extend_from_slice(&STATE_FORMAT_VERSION.to_le_bytes());
        put_floats(&mut out, &self.params);
        out.push(u8::from(self.evaluated));
        for x in [
            self.loss,
            self.grad_norm_sq,
            self.learning_rate,
            self.last_step_size,
        ] {
            out.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        put_floats(&mut out, &self.gradient);
        put_floats(&mut out, &self.riesz);
        for k in [self.iteration, self.epoch, self.evaluations] {
            put_u64(&mut out, k);
        }
        let name = self.buffers.owner.as_deref().unwrap_or("");
        put_u64(&mut out, name.len() as u64);
        out.extend_from_slice(name.as_bytes());
        put_u64(&mut out, self.buffers.steps);
        put_u64(&mut out, self.buffers.vectors.len() as u64);
        for v in &self.buffers.vectors {
            for x in v {
                out.extend_from_slice(&x.to_bits().to_le_bytes());
            }
        }
        let s = &self.sampler;
        match s.config {
            None => out.extend_from_slice(&[0; 18]),
            Some(mb) => {
                out.push(1);
                put_u64(&mut out, mb.batch_size as u64);
                put_u64(&mut out, mb.seed);
                out.push(u8::from(mb.drop_last));
            }
        }
        put_u64(&mut out, s.n_samples as u64);
        put_u64(&mut out, s.batch.0 as u64);
        put_u64(&mut out, s.batch.1 as u64);
        out
    }

    /// Reads a state written by [`State::to_bytes`]. Every declared length is checked
    /// against the bytes present before anything is allocated.
    ///
    /// # Errors
    /// A [`StateFormatError`] naming the field and byte offset: wrong magic or version,
    /// truncation, a length that disagrees with the parameter count, a non-finite value in
    /// an evaluated state, a batch outside the data, trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<State, StateFormatError> {
        let mut r = Reader { bytes, pos: 0 };
        let magic = r.take("magic", 8).map_err(|_| StateFormatError::BadMagic {
            found: bytes[..bytes.len().min(8)].to_vec(),
        })?;
        if magic != STATE_MAGIC {
            return Err(StateFormatError::BadMagic {
                found: magic.to_vec(),
            });
        }
        let version = u32::from_le_bytes(r.array::<4>("format version")?);
        if version != STATE_FORMAT_VERSION {
            return Err(StateFormatError::UnsupportedVersion {
                found: version,
                supported: STATE_FORMAT_VERSION,
            });
        }
        let params_at = r.pos;
        let params = r.floats("params", None)?;
        let n = params.len();
        let evaluated = r.flag("evaluated")?;
        let loss = r.f64("loss")?;
        let grad_norm_sq = r.f64("grad_norm_sq")?;
        let learning_rate = r.f64("learning_rate")?;
        let last_step_size = r.f64("last_step_size")?;
        let gradient_at = r.pos;
        let gradient = r.floats("gradient", Some(n))?;
        let riesz = r.floats("riesz_gradient", Some(n))?;
        let iteration = r.u64("iteration")?;
        let epoch = r.u64("epoch")?;
        let evaluations = r.u64("evaluations")?;
        let name_at = r.pos;
        let name_len = r.u64("solver name length")?;
        if name_len > MAX_NAME_LEN {
            return Err(r.invalid(
                "solver name length",
                name_at,
                format!("{name_len} bytes, at most {MAX_NAME_LEN}"),
            ));
        }
        let name = r.take("solver name", name_len)?;
        let owner = match std::str::from_utf8(name) {
            Ok("") => None,
            Ok(s) => Some(Cow::Owned(s.to_owned())),
            Err(e) => return Err(r.invalid("solver name", name_at + 8, e.to_string())),
        };
        let steps = r.u64("solver steps")?;
        let m_at = r.pos;
        let m = r.u64("solver buffer count")?;
        let total = m.checked_mul(n as u64).and_then(|t| t.checked_mul(8));
        match total {
            Some(t) if t <= r.left() as u64 => {}
            _ => {
                return Err(StateFormatError::Truncated {
                    field: "solver buffers",
                    offset: m_at,
                    needed: total.unwrap_or(u64::MAX),
                    available: r.left(),
                });
            }
        }
        if n == 0 && m > MAX_NAME_LEN {
            // no bytes bound an empty buffer's count: keep the allocation small
            return Err(r.invalid(
                "solver buffer count",
                m_at,
                format!("{m} buffers of zero parameters"),
            ));
        }
        let mut vectors = Vec::with_capacity(m as usize);
        for _ in 0..m {
            vectors.push(r.raw_floats("solver buffers", n)?);
        }
        let mb_at = r.pos;
        let has_mb = r.flag("minibatch")?;
        let batch_size = r.u64("batch size")?;
        let seed = r.u64("seed")?;
        let drop_last = r.flag("drop_last")?;
        let n_samples = r.usize("sample count")?;
        let start = r.usize("batch start")?;
        let end = r.usize("batch end")?;
        if r.left() != 0 {
            return Err(StateFormatError::TrailingBytes {
                offset: r.pos,
                extra: r.left(),
            });
        }
        let config = if has_mb {
            let batch_size = usize::try_from(batch_size).map_err(|_| {
                r.invalid(
                    "batch size",
                    mb_at + 1,
                    format!("{batch_size} overflows usize"),
                )
            })?;
            if batch_size == 0 {
                return Err(r.invalid("batch size", mb_at + 1, "zero".into()));
            }
            if !(start <= end && end <= n_samples) {
                return Err(r.invalid(
                    "batch",
                    mb_at + 18,
                    format!("[{start}, {end}) does not lie in the {n_samples} samples"),
                ));
            }
            Some(Minibatch {
                batch_size,
                seed,
                drop_last,
            })
        } else {
            if batch_size != 0 || seed != 0 || drop_last {
                return Err(r.invalid(
                    "minibatch",
                    mb_at,
                    "full-batch state with minibatch settings".into(),
                ));
            }
            None
        };
        if evaluated {
            if gradient.len() != n {
                return Err(r.invalid(
                    "gradient",
                    gradient_at,
                    format!("an evaluated state needs {n} gradient entries, found none"),
                ));
            }
            let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
            if !(loss.is_finite() && finite(&params) && finite(&gradient)) {
                return Err(r.invalid(
                    "params",
                    params_at,
                    "an evaluated state holds a non-finite loss, parameter or gradient".into(),
                ));
            }
        }
        Ok(State {
            params,
            loss,
            gradient,
            riesz,
            grad_norm_sq,
            evaluated,
            iteration,
            epoch,
            learning_rate,
            last_step_size,
            evaluations,
            candidate: Vec::new(),
            candidate_gradient: Vec::new(),
            buffers: SolverBuffers {
                owner,
                vectors,
                steps,
            },
            sampler: Sampler {
                config,
                n_samples,
                perm: Vec::new(),
                perm_epoch: None,
                batch: (start, end),
            },
        })
    }

    /// Checks that continuing this (restored) state with `solver` on `problem` is the run
    /// that was saved: same parameter count, the solver that owns the buffers, the same
    /// minibatch settings and sample count. [`crate::run`] itself accepts any state (a
    /// different solver starts from fresh buffers, a different sampling from the first batch
    /// of the epoch); call this first when resuming.
    ///
    /// # Errors
    /// [`ResumeMismatch`] naming what differs.
    pub fn check_resume(
        &self,
        solver: &dyn Solver,
        problem: &dyn Problem,
    ) -> Result<(), ResumeMismatch> {
        let mismatch =
            |what, saved: String, given: String| Err(ResumeMismatch { what, saved, given });
        if self.params.len() != problem.n_params() {
            return mismatch(
                "parameter count",
                self.params.len().to_string(),
                problem.n_params().to_string(),
            );
        }
        if let Some(owner) = self.buffers.owner.as_deref() {
            if owner != solver.name() || self.buffers.vectors.len() != solver.n_buffers() {
                return mismatch(
                    "solver",
                    format!("{owner} ({} buffers)", self.buffers.vectors.len()),
                    format!("{} ({} buffers)", solver.name(), solver.n_buffers()),
                );
            }
        } else if self.iteration > 0 {
            return mismatch("solver", "none".into(), solver.name().into());
        }
        if self.evaluated {
            let given = solver.minibatch().copied();
            if self.sampler.config != given {
                return mismatch(
                    "minibatch",
                    format!("{:?}", self.sampler.config),
                    format!("{given:?}"),
                );
            }
            let ns = if given.is_some() {
                problem.n_samples().unwrap_or(0)
            } else {
                0
            };
            if self.sampler.n_samples != ns {
                return mismatch(
                    "sample count",
                    self.sampler.n_samples.to_string(),
                    ns.to_string(),
                );
            }
        }
        Ok(())
    }
}

fn put_u64(out: &mut Vec<u8>, x: u64) {
    out.extend_from_slice(&x.to_le_bytes());
}

fn put_floats(out: &mut Vec<u8>, v: &[f64]) {
    put_u64(out, v.len() as u64);
    for x in v {
        out.extend_from_slice(&x.to_bits().to_le_bytes());
    }
}

/// A cursor over the input that never reads or allocates past its end.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn invalid(&self, field: &'static str, offset: usize, reason: String) -> StateFormatError {
        StateFormatError::Invalid {
            field,
            offset,
            reason,
        }
    }

    fn take(&mut self, field: &'static str, len: u64) -> Result<&'a [u8], StateFormatError> {
        match usize::try_from(len) {
            Ok(l) if l <= self.left() => {
                let s = &self.bytes[self.pos..self.pos + l];
                self.pos += l;
                Ok(s)
            }
            _ => Err(StateFormatError::Truncated {
                field,
                offset: self.pos,
                needed: len,
                available: self.left(),
            }),
        }
    }

    fn array<const K: usize>(&mut self, field: &'static str) -> Result<[u8; K], StateFormatError> {
        let s = self.take(field, K as u64)?;
        let mut a = [0; K];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, StateFormatError> {
        Ok(u64::from_le_bytes(self.array::<8>(field)?))
    }

    fn usize(&mut self, field: &'static str) -> Result<usize, StateFormatError> {
        let at = self.pos;
        let x = self.u64(field)?;
        usize::try_from(x).map_err(|_| self.invalid(field, at, format!("{x} overflows usize")))
    }

    fn f64(&mut self, field: &'static str) -> Result<f64, StateFormatError> {
        Ok(f64::from_bits(self.u64(field)?))
    }

    fn flag(&mut self, field: &'static str) -> Result<bool, StateFormatError> {
        let at = self.pos;
        match self.array::<1>(field)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(self.invalid(field, at, format!("flag byte {b}, expected 0 or 1"))),
        }
    }

    /// `count` floats without a length prefix (`count · 8` bytes checked first).
    fn raw_floats(
        &mut self,
        field: &'static str,
        count: usize,
    ) -> Result<Vec<f64>, StateFormatError> {
        let len = (count as u64).saturating_mul(8);
        let s = self.take(field, len)?;
        Ok(s.chunks_exact(8)
            .map(|c| f64::from_bits(u64::from_le_bytes(c.try_into().expect("8 bytes"))))
            .collect())
    }

    /// A length-prefixed float vector; with `Some(n)` its length must be `0` or `n`.
    fn floats(
        &mut self,
        field: &'static str,
        n: Option<usize>,
    ) -> Result<Vec<f64>, StateFormatError> {
        let at = self.pos;
        let len = self.u64(field)?;
        if let Some(n) = n
            && len != 0
            && len != n as u64
        {
            return Err(self.invalid(
                field,
                at,
                format!("length {len}, expected 0 or the parameter count {n}"),
            ));
        }
        let count = usize::try_from(len).unwrap_or(usize::MAX);
        self.raw_floats(field, count)
    }
}
