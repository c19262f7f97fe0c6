//! safetensors checkpoints (docs/theory.md §8): a set of named little-endian `F64` tensors plus
//! string metadata, written atomically and validated on load.
//!
//! Tensor names (row-major, as PyTorch/NumPy read them):
//!
//! | name | shape | holds |
//! |---|---|---|
//! | `features.omega` | `[p, d]` (`[p/2, d]` for paired Fourier features) | rows `ω_j` / `w_j` of the fixed feature map |
//! | `features.bias` | `[p]` (`[0]` when the map has no bias) | phases `b_j` / biases `c_j` |
//! | `residual.u` | `[L, d, p]` (`[L+1, d, p]` for interpolated integrators) | trained `U_k` |
//! | `residual.w`, `residual.c` | `[L, p, d]`, `[L, p]` | trained `W_k`, `c_k` of the SHL baseline |
//! | `embed.in` | `[d, d_in]` | fixed input embedding `A` (when present) |
//! | `embed.out` | `[d_out, d]` | fixed output map `B` (when not the identity) |
//! | `layer.{k}.centres`, `layer.{k}.coefficients` | `[m_k, d]` | kernel ResNet expansions |
//!
//! Metadata keys: `model`, `feature_map`, `kernel`, `bandwidth`, `depth`, `integrator`,
//! `seed`, `format_version` (see [`keys`]); values are strings (safetensors metadata is a
//! string map): `kernel` holds the JSON of a `plres_kernels::KernelSpec`, `feature_map`
//! the JSON of a `plres_rff::FeatureSpec`.
//!
//! Writing is atomic (`plres_data::io::write_atomic`): the bytes go to a temporary file in
//! the target's directory, which is fsynced and then renamed over the target (the
//! directory is fsynced too), so a reader sees either the old file or the new one, never
//! a torn one. Loading checks the
//! `format_version`, that every tensor is `F64` and finite, and (in the model loaders)
//! that each required tensor is present with the right shape — each failure a
//! [`CheckpointError`] naming the tensor. A file written here loads in PyTorch with
//! `safetensors.torch.load_file` and in NumPy with `safetensors.numpy.load_file`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use plres_optim::State;
use safetensors::tensor::{Dtype, SafeTensors};

use crate::error::CheckpointError;

/// The checkpoint format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Metadata keys (docs/theory.md §8).
pub mod keys {
    /// `"linear_resnet"`, `"shl_resnet"` or `"kernel_resnet"`.
    pub const MODEL: &str = "model";
    /// JSON of the `plres_rff::FeatureSpec` (or `"none"`).
    pub const FEATURE_MAP: &str = "feature_map";
    /// JSON of the `plres_kernels::KernelSpec` (or `"none"`).
    pub const KERNEL: &str = "kernel";
    /// The kernel's bandwidth / lengthscale as a decimal number (or `"none"`).
    pub const BANDWIDTH: &str = "bandwidth";
    /// Depth `L` (number of layers).
    pub const DEPTH: &str = "depth";
    /// `"euler"`, `"midpoint"`, `"heun"` or `"rk4"`.
    pub const INTEGRATOR: &str = "integrator";
    /// The seed the random parts were drawn with (or `"none"`).
    pub const SEED: &str = "seed";
    /// [`super::FORMAT_VERSION`] as a decimal string.
    pub const FORMAT_VERSION: &str = "format_version";
}

/// One float64 tensor: its shape and its values in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// The shape (row-major).
    pub shape: Vec<usize>,
    /// The values, `shape.iter().product()` of them.
    pub data: Vec<f64>,
}

/// A checkpoint in memory: tensors and metadata, as stored in the file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checkpoint {
    /// String metadata (`format_version` is added on write).
    pub metadata: BTreeMap<String, String>,
    /// Named tensors.
    pub tensors: BTreeMap<String, Tensor>,
}

impl Checkpoint {
    /// An empty checkpoint.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a tensor.
    ///
    /// # Panics
    /// If `data.len()` is not the product of `shape`.
    pub fn insert(&mut self, name: impl Into<String>, shape: Vec<usize>, data: Vec<f64>) {
        let name = name.into();
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "tensor `{name}`: shape {shape:?} does not hold {} values",
            data.len()
        );
        self.tensors.insert(name, Tensor { shape, data });
    }

    /// Sets a metadata entry.
    pub fn set_meta(&mut self, key: &str, value: impl Into<String>) {
        self.metadata.insert(key.to_string(), value.into());
    }

    /// Sets metadata `key` to `value`, or to `"none"` without one (read back by
    /// [`Checkpoint::meta_parse_optional`]).
    pub fn set_meta_optional(&mut self, key: &str, value: Option<impl ToString>) {
        self.set_meta(
            key,
            value.map_or_else(|| "none".to_string(), |v| v.to_string()),
        );
    }

    /// A metadata value.
    ///
    /// # Errors
    /// [`CheckpointError::MissingMetadata`].
    pub fn meta(&self, key: &'static str) -> Result<&str, CheckpointError> {
        self.metadata
            .get(key)
            .map(String::as_str)
            .ok_or(CheckpointError::MissingMetadata { key })
    }

    /// Checks that the checkpoint holds a model of kind `expected` (metadata
    /// [`keys::MODEL`]).
    ///
    /// # Errors
    /// [`CheckpointError::MissingMetadata`], [`CheckpointError::WrongModel`].
    pub fn expect_model(&self, expected: &'static str) -> Result<(), CheckpointError> {
        let model = self.meta(keys::MODEL)?;
        if model == expected {
            Ok(())
        } else {
            Err(CheckpointError::WrongModel {
                expected,
                found: model.to_string(),
            })
        }
    }

    /// A metadata value parsed with `FromStr`.
    ///
    /// # Errors
    /// [`CheckpointError::MissingMetadata`], [`CheckpointError::InvalidMetadata`].
    pub fn meta_parse<T>(&self, key: &'static str) -> Result<T, CheckpointError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        let value = self.meta(key)?;
        value
            .parse()
            .map_err(|e: T::Err| CheckpointError::InvalidMetadata {
                key,
                value: value.to_string(),
                reason: e.to_string(),
            })
    }

    /// A metadata value that may be `"none"` (`None`), parsed as by
    /// [`Checkpoint::meta_parse`] otherwise.
    ///
    /// # Errors
    /// [`CheckpointError::MissingMetadata`], [`CheckpointError::InvalidMetadata`].
    pub fn meta_parse_optional<T>(&self, key: &'static str) -> Result<Option<T>, CheckpointError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        if self.meta(key)? == "none" {
            Ok(None)
        } else {
            self.meta_parse(key).map(Some)
        }
    }

    /// The tensor `name`, required to have exactly `shape`.
    ///
    /// # Errors
    /// [`CheckpointError::MissingTensor`], [`CheckpointError::WrongShape`].
    pub fn tensor(&self, name: &str, shape: &[usize]) -> Result<&[f64], CheckpointError> {
        let t = self.tensor_any(name)?;
        if t.shape != shape {
            return Err(CheckpointError::WrongShape {
                name: name.to_string(),
                expected: shape.to_vec(),
                found: t.shape.clone(),
            });
        }
        Ok(&t.data)
    }

    /// The tensor `name`, any shape.
    ///
    /// # Errors
    /// [`CheckpointError::MissingTensor`].
    pub fn tensor_any(&self, name: &str) -> Result<&Tensor, CheckpointError> {
        self.tensors
            .get(name)
            .ok_or_else(|| CheckpointError::MissingTensor {
                name: name.to_string(),
            })
    }

    /// The tensor `name` with `rank` axes (shape otherwise free), for loaders that read a
    /// dimension off the file.
    ///
    /// # Errors
    /// [`CheckpointError::MissingTensor`], [`CheckpointError::WrongShape`] (rank).
    pub fn tensor_rank(&self, name: &str, rank: usize) -> Result<&Tensor, CheckpointError> {
        let t = self.tensor_any(name)?;
        if t.shape.len() != rank {
            return Err(CheckpointError::WrongShape {
                name: name.to_string(),
                expected: vec![0; rank],
                found: t.shape.clone(),
            });
        }
        Ok(t)
    }

    /// As [`Checkpoint::tensor_rank`], for a tensor whose axes set model dimensions:
    /// every axis must be at least 1. (A tensor with a zero axis holds no values, so a
    /// file of a few bytes could otherwise announce a `0 × 2⁴⁰` matrix.)
    ///
    /// # Errors
    /// [`CheckpointError::MissingTensor`], [`CheckpointError::WrongShape`] (rank),
    /// [`CheckpointError::ZeroDimension`].
    pub fn tensor_dims(&self, name: &str, rank: usize) -> Result<&Tensor, CheckpointError> {
        let t = self.tensor_rank(name, rank)?;
        if t.shape.contains(&0) {
            return Err(CheckpointError::ZeroDimension {
                name: name.to_string(),
                shape: t.shape.clone(),
            });
        }
        Ok(t)
    }

    /// The `depth` metadata, required to equal `held`, the depth the tensors in the file
    /// actually hold (`what` says how that was read, e.g. ``"`residual.u` holds 3 slices"``).
    /// Loaders call this before allocating anything of size `depth`, so a file of a few
    /// bytes cannot announce 10¹⁸ layers.
    ///
    /// # Errors
    /// [`CheckpointError::MissingMetadata`], [`CheckpointError::InvalidMetadata`] (not an
    /// integer, or not `held`, with `what` in the reason).
    pub fn depth_matching(
        &self,
        held: Option<usize>,
        what: &str,
    ) -> Result<usize, CheckpointError> {
        let depth: usize = self.meta_parse(keys::DEPTH)?;
        if Some(depth) != held {
            return Err(CheckpointError::InvalidMetadata {
                key: keys::DEPTH,
                value: depth.to_string(),
                reason: format!("the file's tensors hold another depth: {what}"),
            });
        }
        Ok(depth)
    }

    /// The safetensors bytes (with `format_version` set to [`FORMAT_VERSION`]).
    ///
    /// The bytes are a function of the checkpoint alone (the same in every process): the
    /// header lists `__metadata__` first with its keys in sorted order, then the tensors
    /// in name order, each as `{"dtype":"F64","shape":[…],"data_offsets":[begin,end]}`,
    /// padded with spaces to a multiple of 8 bytes, exactly the layout `safetensors`
    /// writes — except that its metadata map would be written in a per-process random
    /// order.
    ///
    /// # Errors
    /// [`CheckpointError::Format`] if a tensor's data length disagrees with its shape or
    /// the header exceeds safetensors' 100 MB limit.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CheckpointError> {
        self.encode(true)
    }

    /// As [`Checkpoint::to_bytes`] without adding `format_version`: for foreign formats
    /// such as the PyTorch peers' tensor files (read back with
    /// [`Checkpoint::from_bytes_unversioned`]).
    ///
    /// # Errors
    /// As [`Checkpoint::to_bytes`].
    pub fn to_bytes_unversioned(&self) -> Result<Vec<u8>, CheckpointError> {
        self.encode(false)
    }

    fn encode(&self, versioned: bool) -> Result<Vec<u8>, CheckpointError> {
        let json = |s: &str| serde_json::to_string(s).expect("a string always serialises");
        let mut meta = self.metadata.clone();
        if versioned {
            meta.insert(keys::FORMAT_VERSION.to_string(), FORMAT_VERSION.to_string());
        }
        let mut header = String::from("{\"__metadata__\":{");
        for (i, (k, v)) in meta.iter().enumerate() {
            if i > 0 {
                header.push(',');
            }
            header.push_str(&json(k));
            header.push(':');
            header.push_str(&json(v));
        }
        header.push('}');
        let mut offset = 0usize;
        for (name, t) in &self.tensors {
            let count = t.shape.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
            if count != Some(t.data.len()) {
                return Err(CheckpointError::Format(format!(
                    "tensor `{name}` has shape {:?} but {} values",
                    t.shape,
                    t.data.len()
                )));
            }
            let end = offset + 8 * t.data.len();
            let shape: Vec<String> = t.shape.iter().map(usize::to_string).collect();
            header.push_str(&format!(
                ",{}:{{\"dtype\":\"F64\",\"shape\":[{}],\"data_offsets\":[{offset},{end}]}}",
                json(name),
                shape.join(",")
            ));
            offset = end;
        }
        header.push('}');
        while !header.len().is_multiple_of(8) {
            header.push(' ');
        }
        if header.len() > 100_000_000 {
            return Err(CheckpointError::Format(format!(
                "header of {} bytes exceeds safetensors' limit of 100 MB",
                header.len()
            )));
        }
        let mut out = Vec::with_capacity(8 + header.len() + offset);
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        for t in self.tensors.values() {
            for v in &t.data {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        Ok(out)
    }

    /// Parses and validates safetensors bytes: a supported `format_version`, every
    /// tensor `F64` and finite. (Which tensors must exist, with which shapes, is checked
    /// by the model loaders.)
    ///
    /// # Errors
    /// [`CheckpointError::Format`], [`CheckpointError::UnsupportedFormatVersion`],
    /// [`CheckpointError::WrongDtype`], [`CheckpointError::NonFinite`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CheckpointError> {
        Self::parse(bytes, true)
    }

    /// As [`Checkpoint::from_bytes`] without requiring `format_version`: for foreign
    /// files such as the PyTorch peer's gradient-check inputs, which carry no metadata.
    /// Tensors are still checked to be `F64` and finite.
    ///
    /// # Errors
    /// [`CheckpointError::Format`], [`CheckpointError::WrongDtype`],
    /// [`CheckpointError::NonFinite`].
    pub fn from_bytes_unversioned(bytes: &[u8]) -> Result<Self, CheckpointError> {
        Self::parse(bytes, false)
    }

    fn parse(bytes: &[u8], require_version: bool) -> Result<Self, CheckpointError> {
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| CheckpointError::Format(e.to_string()))?;
        let metadata: BTreeMap<String, String> = header
            .metadata()
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let version = metadata.get(keys::FORMAT_VERSION);
        if require_version
            && version.map(String::as_str) != Some(FORMAT_VERSION.to_string().as_str())
        {
            return Err(CheckpointError::UnsupportedFormatVersion {
                found: version.cloned(),
                supported: FORMAT_VERSION,
            });
        }
        let st =
            SafeTensors::deserialize(bytes).map_err(|e| CheckpointError::Format(e.to_string()))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.iter() {
            if view.dtype() != Dtype::F64 {
                return Err(CheckpointError::WrongDtype {
                    name: name.to_string(),
                    found: format!("{:?}", view.dtype()),
                });
            }
            let data: Vec<f64> = view
                .data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("chunks of 8 bytes")))
                .collect();
            if let Some(index) = data.iter().position(|v| !v.is_finite()) {
                return Err(CheckpointError::NonFinite {
                    name: name.to_string(),
                    index,
                    value: data[index],
                });
            }
            tensors.insert(
                name.to_string(),
                Tensor {
                    shape: view.shape().to_vec(),
                    data,
                },
            );
        }
        let mut metadata = metadata;
        metadata.remove(keys::FORMAT_VERSION);
        Ok(Self { metadata, tensors })
    }

    /// Writes the checkpoint to `path` atomically (see the module docs).
    ///
    /// # Errors
    /// [`CheckpointError::Io`] naming the file, [`CheckpointError::Format`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        write_file(path.as_ref(), &self.to_bytes()?)
    }

    /// [`Checkpoint::to_bytes_unversioned`] written to `path` atomically.
    ///
    /// # Errors
    /// As [`Checkpoint::save`].
    pub fn save_unversioned(&self, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        write_file(path.as_ref(), &self.to_bytes_unversioned()?)
    }

    /// Reads and validates the checkpoint at `path` (see [`Checkpoint::from_bytes`]).
    ///
    /// # Errors
    /// [`CheckpointError::Io`], or [`CheckpointError::InFile`] naming `path` around the
    /// errors of [`Checkpoint::from_bytes`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        read_file(path.as_ref(), Self::from_bytes)
    }
}

/// `bytes` to `path` with plres-data's atomic write.
/// `parse` of the bytes of the file at `path`; its errors name the file.
fn read_file<T>(
    path: &Path,
    parse: impl FnOnce(&[u8]) -> Result<T, CheckpointError>,
) -> Result<T, CheckpointError> {
    let bytes = fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&bytes).map_err(|e| e.in_file(path))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    plres_data::io::write_atomic(path, bytes).map_err(|e| CheckpointError::Io {
        path: e.path,
        source: e.source,
    })
}

/// The first 8 bytes of a [`TrainingCheckpoint`] file.
pub const TRAINING_MAGIC: &[u8; 8] = b"PLRESTRN";

/// The training-checkpoint format this build writes and reads.
pub const TRAINING_FORMAT_VERSION: u32 = 1;

/// Everything needed to continue a training run bitwise: the model (its checkpoint, from
/// the model's `to_checkpoint`) and the optimizer's [`State`] (parameters, solver buffers
/// and step count, counters, schedule and sampler position; see
/// [`plres_optim::checkpoint`]).
///
/// One file, written atomically: magic `PLRESTRN`, format version (`u32`), the length
/// (`u64`) and bytes of the model's safetensors file, the length (`u64`) and bytes of the
/// state ([`State::to_bytes`]); little-endian, nothing after. The bytes are a function of
/// the contents (sorted metadata, bit patterns of floats), the same in every process.
///
/// To resume: load, rebuild the model with its `from_checkpoint`, build the
/// [`crate::TrainingProblem`] on the same data, check [`State::check_resume`] against the
/// same solver, and pass `state` to [`crate::TrainingProblem::run`] with the original
/// stopping rule (budgets count the state's totals, so the run ends where the
/// uninterrupted one would).
///
/// ```
/// use plres_optim::State;
/// use plres_resnet::{Checkpoint, TrainingCheckpoint};
/// let ck = TrainingCheckpoint { model: Checkpoint::new(), state: State::new(vec![0.5, -1.0]) };
/// let back = TrainingCheckpoint::from_bytes(&ck.to_bytes()?)?;
/// assert_eq!(back.state.params(), ck.state.params());
/// assert_eq!(back.to_bytes()?, ck.to_bytes()?);
/// # Ok::<(), plres_resnet::CheckpointError>(())
/// ```
#[derive(Clone, Debug)]
pub struct TrainingCheckpoint {
    /// The model (fixed parts and parameters; the parameters the run continues from are
    /// `state.params()`).
    pub model: Checkpoint,
    /// The optimizer state.
    pub state: State,
}

impl TrainingCheckpoint {
    /// The checkpoint's bytes (format in the type's docs).
    ///
    /// # Errors
    /// [`CheckpointError::Format`] from the model's [`Checkpoint::to_bytes`].
    pub fn to_bytes(&self) -> Result<Vec<u8>, CheckpointError> {
        let model = self.model.to_bytes()?;
        let state = self.state.to_bytes();
        let mut out = Vec::with_capacity(28 + model.len() + state.len());
        out.extend_from_slice(TRAINING_MAGIC);
        out.extend_from_slice(&TRAINING_FORMAT_VERSION.to_le_bytes());
        for part in [&model, &state] {
            out.extend_from_slice(&(part.len() as u64).to_le_bytes());
            out.extend_from_slice(part);
        }
        Ok(out)
    }

    /// Parses and validates a training checkpoint: the container, the model's safetensors
    /// file ([`Checkpoint::from_bytes`]) and the optimizer state ([`State::from_bytes`]).
    ///
    /// # Errors
    /// [`CheckpointError::Format`] for the container (magic, version, lengths naming the
    /// part and offset), the model's errors, [`CheckpointError::State`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CheckpointError> {
        let bad =
            |reason: String| CheckpointError::Format(format!("training checkpoint: {reason}"));
        if bytes.len() < 12 || &bytes[..8] != TRAINING_MAGIC {
            return Err(bad(format!(
                "the file starts with {:?}, expected \"PLRESTRN\"",
                &bytes[..bytes.len().min(8)]
            )));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != TRAINING_FORMAT_VERSION {
            return Err(bad(format!(
                "format version {version}, this build reads {TRAINING_FORMAT_VERSION}"
            )));
        }
        let mut pos = 12;
        let mut part = |what: &str| -> Result<&[u8], CheckpointError> {
            let left = bytes.len() - pos;
            if left < 8 {
                return Err(bad(format!("{what} length missing at byte {pos}")));
            }
            let len = u64::from_le_bytes(bytes[pos..pos + 8].try_into().expect("8 bytes"));
            match usize::try_from(len) {
                Ok(l) if l <= left - 8 => {
                    let s = &bytes[pos + 8..pos + 8 + l];
                    pos += 8 + l;
                    Ok(s)
                }
                _ => Err(bad(format!(
                    "{what} declares {len} bytes at byte {pos}, {} left",
                    left - 8
                ))),
            }
        };
        let model = part("model")?;
        let state = part("optimizer state")?;
        if pos != bytes.len() {
            return Err(bad(format!(
                "{} unexpected bytes after the optimizer state (from byte {pos})",
                bytes.len() - pos
            )));
        }
        Ok(Self {
            model: Checkpoint::from_bytes(model)?,
            state: State::from_bytes(state)?,
        })
    }

    /// Writes the checkpoint to `path` atomically and durably (`plres_data::io::write_atomic`:
    /// a reader, or a run killed at any moment, sees the old file or the new one).
    ///
    /// # Errors
    /// [`CheckpointError::Io`] naming the file, [`CheckpointError::Format`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        write_file(path.as_ref(), &self.to_bytes()?)
    }

    /// Reads and validates the checkpoint at `path`.
    ///
    /// # Errors
    /// [`CheckpointError::Io`], or [`CheckpointError::InFile`] naming `path` around the
    /// errors of [`TrainingCheckpoint::from_bytes`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        read_file(path.as_ref(), Self::from_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_is_bitwise() {
        let mut c = Checkpoint::new();
        let vals = vec![0.1, -0.0, f64::MIN_POSITIVE, 1e300, -3.5, f64::EPSILON];
        c.insert("a.b", vec![2, 3], vals.clone());
        c.insert("empty", vec![0], vec![]);
        c.set_meta(keys::MODEL, "linear_resnet");
        let back = Checkpoint::from_bytes(&c.to_bytes().unwrap()).unwrap();
        assert_eq!(back.metadata, c.metadata);
        let got = &back.tensors["a.b"];
        assert_eq!(got.shape, vec![2, 3]);
        for (x, y) in got.data.iter().zip(&vals) {
            assert_eq!(x.to_bits(), y.to_bits());
        }
        assert_eq!(back.tensors["empty"].shape, vec![0]);
    }
}
