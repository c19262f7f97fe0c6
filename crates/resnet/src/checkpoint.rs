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

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, View};

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

/// A borrowed view of a tensor as safetensors wants it (bytes little-endian).
struct F64View<'a> {
    shape: &'a [usize],
    data: &'a [f64],
}

impl View for F64View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F64
    }
    fn shape(&self) -> &[usize] {
        self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        let mut bytes = Vec::with_capacity(self.data.len() * 8);
        for v in self.data {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        bytes.into()
    }
    fn data_len(&self) -> usize {
        self.data.len() * 8
    }
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
    /// # Errors
    /// [`CheckpointError::Format`] if safetensors refuses the header.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CheckpointError> {
        let mut meta: HashMap<String, String> = self
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        meta.insert(keys::FORMAT_VERSION.to_string(), FORMAT_VERSION.to_string());
        let views = self.tensors.iter().map(|(name, t)| {
            (
                name.as_str(),
                F64View {
                    shape: &t.shape,
                    data: &t.data,
                },
            )
        });
        safetensors::serialize(views, Some(meta))
            .map_err(|e| CheckpointError::Format(e.to_string()))
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
        plres_data::io::write_atomic(path.as_ref(), &self.to_bytes()?).map_err(|e| {
            CheckpointError::Io {
                path: e.path,
                source: e.source,
            }
        })
    }

    /// Reads and validates the checkpoint at `path` (see [`Checkpoint::from_bytes`]).
    ///
    /// # Errors
    /// [`CheckpointError::Io`] and the errors of [`Checkpoint::from_bytes`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(|source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes)
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
