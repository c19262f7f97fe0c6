//! Checkpoints of a [`LinearResNet`] (docs/theory.md §8).
//!
//! A LinearResNet checkpoint holds `features.omega` (`[p, d]`, `[p/2, d]` for paired
//! features), `features.bias` (`[p]` or `[0]`), `residual.u` (`[S, d, p]`),
//! `embed.in` / `embed.out` when present, and the metadata of
//! [`crate::checkpoint::keys`]; `feature_map` is the JSON of the
//! `plres_rff::FeatureSpec` that rebuilds the map from `omega` and `bias`.
//! (The PyTorch peer's problem format is written and read by `plres_benches::peer`.)

use std::path::Path;
use std::sync::Arc;

use faer::{Mat, MatRef};
use plres_kernels::KernelSpec;
use plres_rff::{FeatureMap, FeatureSpec, FourierVariant};

use crate::checkpoint::{Checkpoint, keys};
use crate::error::{CheckpointError, ResNetError};
use crate::integrator::Integrator;
use crate::kernel::row_major;
use crate::linear::{Init, LinearResNet, LinearResNetConfig};
use crate::maps::FixedMaps;

/// Writes `embed.in` (`[d, d_in]`) and `embed.out` (`[d_out, d]`) when present.
pub(crate) fn insert_maps(c: &mut Checkpoint, maps: &FixedMaps) {
    if let Some(a) = &maps.embed_in {
        c.insert(
            "embed.in",
            vec![a.nrows(), a.ncols()],
            row_major(a.as_ref()),
        );
    }
    if let Some(b) = &maps.embed_out {
        c.insert(
            "embed.out",
            vec![b.nrows(), b.ncols()],
            row_major(b.as_ref()),
        );
    }
}

/// Reads the optional `embed.in`, `embed.out` for state dimension `d`.
pub(crate) fn read_maps(c: &Checkpoint, d: usize) -> Result<FixedMaps, CheckpointError> {
    Ok(FixedMaps {
        // A is d×d_in: its free dimension is its number of columns
        embed_in: read_map(c, "embed.in", d, true, FixedMaps::check_embed_in)?,
        // B is d_out×d: its free dimension is its number of rows
        embed_out: read_map(c, "embed.out", d, false, FixedMaps::check_embed_out)?,
    })
}

/// The optional `d × free` (`d_rows`) or `free × d` matrix `name`, validated by `check`
/// for state dimension `d`; `None` when the checkpoint has no such tensor.
fn read_map(
    c: &Checkpoint,
    name: &str,
    d: usize,
    d_rows: bool,
    check: fn(&Mat<f64>, usize) -> Result<(), ResNetError>,
) -> Result<Option<Mat<f64>>, CheckpointError> {
    if !c.tensors.contains_key(name) {
        return Ok(None);
    }
    let free = c.tensor_rank(name, 2)?.shape[usize::from(d_rows)];
    let (rows, cols) = if d_rows { (d, free) } else { (free, d) };
    let data = c.tensor(name, &[rows, cols])?;
    let m = MatRef::from_row_major_slice(data, rows, cols).to_owned();
    check(&m, d)?;
    Ok(Some(m))
}

/// The `bandwidth` metadata: `σ`, `ℓ` or `c` of the kernel, `"none"` otherwise.
pub(crate) fn bandwidth_of(spec: &KernelSpec) -> String {
    match *spec {
        KernelSpec::Gaussian { sigma } => sigma.to_string(),
        KernelSpec::Laplace { lengthscale }
        | KernelSpec::Matern32 { lengthscale }
        | KernelSpec::Matern52 { lengthscale } => lengthscale.to_string(),
        KernelSpec::InverseMultiquadric { c } => c.to_string(),
        _ => "none".to_string(),
    }
}

/// Parses the `kernel` metadata (JSON of a `KernelSpec`).
pub(crate) fn parse_kernel(c: &Checkpoint) -> Result<KernelSpec, CheckpointError> {
    let v = c.meta(keys::KERNEL)?;
    serde_json::from_str(v).map_err(|e| CheckpointError::InvalidMetadata {
        key: keys::KERNEL,
        value: v.to_string(),
        reason: e.to_string(),
    })
}

/// Rebuilds a feature map of the given spec from its weights and bias.
fn build_features(
    spec: &FeatureSpec,
    omega: Mat<f64>,
    bias: Vec<f64>,
) -> Result<Arc<dyn FeatureMap>, ResNetError> {
    Ok(Arc::from(spec.from_parts(omega, bias)?))
}

impl LinearResNet {
    /// The checkpoint of this network (module docs).
    ///
    /// # Errors
    /// None today (the `Result` leaves room for feature maps that cannot be
    /// serialised).
    pub fn to_checkpoint(&self) -> Result<Checkpoint, CheckpointError> {
        let spec = self.features.spec();
        let (d, p) = (self.d, self.p);
        let mut c = Checkpoint::new();
        let w = self.features.weights();
        c.insert("features.omega", vec![w.nrows(), w.ncols()], row_major(w));
        let b = self.features.bias();
        c.insert("features.bias", vec![b.len()], b.to_vec());
        c.insert("residual.u", vec![self.n_slices(), d, p], self.u.clone());
        insert_maps(&mut c, &self.maps);
        let kernel = self.features.limit_kernel();
        c.set_meta(keys::MODEL, "linear_resnet");
        c.set_meta(
            keys::FEATURE_MAP,
            serde_json::to_string(&spec).expect("FeatureSpec serialises"),
        );
        c.set_meta(
            keys::KERNEL,
            serde_json::to_string(&kernel).expect("KernelSpec serialises"),
        );
        c.set_meta(keys::BANDWIDTH, bandwidth_of(&kernel));
        c.set_meta(keys::DEPTH, self.depth.to_string());
        c.set_meta(keys::INTEGRATOR, self.integrator.name());
        c.set_meta_optional(keys::SEED, self.seed);
        Ok(c)
    }

    /// Rebuilds a network from a checkpoint written by [`LinearResNet::to_checkpoint`].
    ///
    /// # Errors
    /// [`CheckpointError::WrongModel`], [`CheckpointError::MissingMetadata`],
    /// [`CheckpointError::InvalidMetadata`], [`CheckpointError::MissingTensor`],
    /// [`CheckpointError::WrongShape`] (each naming the tensor),
    /// [`CheckpointError::Model`] (the parts do not make a valid feature map).
    pub fn from_checkpoint(c: &Checkpoint) -> Result<Self, CheckpointError> {
        c.expect_model("linear_resnet")?;
        let spec_str = c.meta(keys::FEATURE_MAP)?;
        let spec: FeatureSpec =
            serde_json::from_str(spec_str).map_err(|e| CheckpointError::InvalidMetadata {
                key: keys::FEATURE_MAP,
                value: spec_str.to_string(),
                reason: e.to_string(),
            })?;
        let integ_str = c.meta(keys::INTEGRATOR)?;
        let integrator =
            Integrator::from_name(integ_str).ok_or_else(|| CheckpointError::InvalidMetadata {
                key: keys::INTEGRATOR,
                value: integ_str.to_string(),
                reason: "expected euler, midpoint, heun or rk4".into(),
            })?;
        let seed = c.meta_parse_optional::<u64>(keys::SEED)?;
        let ut = c.tensor_dims("residual.u", 3)?;
        let (slices, d, p) = (ut.shape[0], ut.shape[1], ut.shape[2]);
        // `L` slices for Euler, `L + 1` otherwise: the depth the file holds.
        let held = match integrator {
            Integrator::Euler => Some(slices),
            _ => slices.checked_sub(1),
        };
        let depth = c.depth_matching(
            held,
            &format!(
                "`residual.u` holds {slices} slices, and {} uses {}",
                integrator.name(),
                if integrator == Integrator::Euler {
                    "L"
                } else {
                    "L + 1"
                }
            ),
        )?;
        let u = &ut.data;
        let paired = matches!(
            spec,
            FeatureSpec::Fourier {
                variant: FourierVariant::Paired,
                ..
            }
        );
        // `features.omega` and (unpaired) `features.bias` also carry `p` and `d`: when
        // they agree with each other but not with `residual.u`, blame `residual.u`.
        if let (Ok(ot), Ok(bt)) = (
            c.tensor_rank("features.omega", 2),
            c.tensor_rank("features.bias", 1),
        ) {
            let (p_o, d_o) = (
                if paired { 2 * ot.shape[0] } else { ot.shape[0] },
                ot.shape[1],
            );
            if (paired || bt.shape[0] == p_o) && (d_o, p_o) != (d, p) {
                return Err(CheckpointError::WrongShape {
                    name: "residual.u".into(),
                    expected: vec![slices, d_o, p_o],
                    found: ut.shape.clone(),
                });
            }
        }
        let rows = if paired { p / 2 } else { p };
        let omega = c.tensor("features.omega", &[rows, d])?;
        let bt = c.tensor_rank("features.bias", 1)?;
        let bias_len = if paired { bt.shape[0] } else { p };
        let bias = c.tensor("features.bias", &[bias_len])?;
        let omega = MatRef::from_row_major_slice(omega, rows, d).to_owned();
        let features = build_features(&spec, omega, bias.to_vec())?;
        let mut net = LinearResNet::new(
            features,
            LinearResNetConfig {
                depth,
                integrator,
                init: Init::Zero,
            },
        )?;
        if net.p != p || net.d != d {
            return Err(CheckpointError::WrongShape {
                name: "residual.u".into(),
                expected: vec![slices, net.d, net.p],
                found: vec![slices, d, p],
            });
        }
        net.u.copy_from_slice(u);
        net.seed = seed;
        net.maps = read_maps(c, d)?;
        Ok(net)
    }

    /// Saves atomically to `path` (safetensors, module docs).
    ///
    /// # Errors
    /// As [`LinearResNet::to_checkpoint`], and [`CheckpointError::Io`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        self.to_checkpoint()?.save(path)
    }

    /// Loads and validates a checkpoint.
    ///
    /// # Errors
    /// Every [`CheckpointError`] case, each naming the tensor or key at fault, inside
    /// [`CheckpointError::InFile`] naming the file (I/O errors name it themselves).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        let path = path.as_ref();
        Self::from_checkpoint(&Checkpoint::load(path)?).map_err(|e| e.in_file(path))
    }
}
