//! The PyTorch peer's problem format (`benches/peer/`): the one reader and writer.
//!
//! A safetensors file (float64, row-major) with `features.omega [p,d]`, `features.bias [p]`,
//! `residual.u [L,d,p]`, `data.x [N,d]`, `data.y [N,d]`: an Euler RFF ResNet with
//! `φ(x) = √(2/p) cos(Ωx + b)` (docs/theory.md §3.2), its data and its targets, squared
//! loss. The step timer (`examples/step_timer.rs`, run by `cargo xtask bench-peer`) writes
//! it for the PyTorch side; `examples/peer_gradcheck.rs` reads it to compare gradients.

use std::path::Path;
use std::sync::Arc;

use faer::{Mat, MatRef};
use plres_kernels::KernelSpec;
use plres_resnet::{
    Checkpoint, CheckpointError, Init, Integrator, LinearResNet, LinearResNetConfig, Model,
    ResNetError, Trainable,
};
use plres_rff::{FourierVariant, RandomFourierFeatures};

/// A problem in the peer's format (module docs).
#[derive(Clone, Debug)]
pub struct PeerProblem {
    /// The network (`Integrator::Euler`, `φ = √(2/p) cos(Ωx + b)`, no embedding).
    pub model: LinearResNet,
    /// `data.x`, `N×d`.
    pub x: Mat<f64>,
    /// `data.y`, `N×d`.
    pub y: Mat<f64>,
}

impl PeerProblem {
    /// Reads a peer file. The file carries no kernel; `kernel` (the one `Ω` was drawn for,
    /// Gaussian `σ = 1` for the peer) only labels the feature map — `Ω` and `b` define it.
    ///
    /// # Errors
    /// [`CheckpointError`] for an unreadable file, a missing tensor or an inconsistent
    /// shape (naming it), a zero axis ([`CheckpointError::ZeroDimension`]), non-F64 or
    /// non-finite values.
    pub fn load(path: impl AsRef<Path>, kernel: KernelSpec) -> Result<Self, CheckpointError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes, kernel).map_err(|e| e.in_file(path))
    }

    /// Parses the bytes of a peer file (what [`PeerProblem::load`] reads).
    ///
    /// # Errors
    /// As [`PeerProblem::load`], without the file's name.
    pub fn from_bytes(bytes: &[u8], kernel: KernelSpec) -> Result<Self, CheckpointError> {
        let c = Checkpoint::from_bytes_unversioned(bytes)?;
        let ot = c.tensor_dims("features.omega", 2)?;
        let (p, d) = (ot.shape[0], ot.shape[1]);
        let omega = MatRef::from_row_major_slice(&ot.data, p, d).to_owned();
        let bias = c.tensor("features.bias", &[p])?.to_vec();
        let depth = c.tensor_dims("residual.u", 3)?.shape[0];
        let u = c.tensor("residual.u", &[depth, d, p])?;
        let n = c.tensor_dims("data.x", 2)?.shape[0];
        let x = MatRef::from_row_major_slice(c.tensor("data.x", &[n, d])?, n, d).to_owned();
        let y = MatRef::from_row_major_slice(c.tensor("data.y", &[n, d])?, n, d).to_owned();
        let features = RandomFourierFeatures::from_parts(
            omega,
            bias,
            &kernel,
            FourierVariant::CosineWithPhase,
        )
        .map_err(ResNetError::from)?;
        let mut model = LinearResNet::new(
            Arc::new(features),
            LinearResNetConfig {
                depth,
                integrator: Integrator::Euler,
                init: Init::Zero,
            },
        )?;
        model.set_params(u)?;
        Ok(Self { model, x, y })
    }

    /// Writes the peer's format (readable by `torch_step.py`), atomically.
    ///
    /// # Errors
    /// [`CheckpointError::Io`], or [`CheckpointError::Model`] if the model is not an
    /// Euler network without embedding/output map over `p×d` weights with a bias of length
    /// `p` (what the peer models), or the data are not `N×d`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        let m = &self.model;
        let (d, p, depth) = (m.dim(), m.width(), m.depth());
        let w = m.features().weights();
        let bias = m.features().bias();
        let n = self.x.nrows();
        if m.integrator() != Integrator::Euler
            || m.input_dim() != d
            || m.output_dim() != d
            || m.maps().embed_out.is_some()
            || w.nrows() != p
            || bias.len() != p
            || self.x.ncols() != d
            || self.y.nrows() != n
            || self.y.ncols() != d
        {
            return Err(CheckpointError::Model(ResNetError::Unsupported(format!(
                "the peer format holds an Euler RFF ResNet with p×d weights, a bias of length p \
                 and no embedding, and N×d data; got {:?} with weights {}×{}, bias {}, \
                 d_in = {}, d_out = {}, x {}×{}, y {}×{}",
                m.integrator(),
                w.nrows(),
                w.ncols(),
                bias.len(),
                m.input_dim(),
                m.output_dim(),
                n,
                self.x.ncols(),
                self.y.nrows(),
                self.y.ncols()
            ))));
        }
        let mut c = Checkpoint::new();
        c.insert("features.omega", vec![p, d], row_major(w));
        c.insert("features.bias", vec![p], bias.to_vec());
        c.insert("residual.u", vec![depth, d, p], m.params().to_vec());
        c.insert("data.x", vec![n, d], row_major(self.x.as_ref()));
        c.insert("data.y", vec![n, d], row_major(self.y.as_ref()));
        c.save(path)
    }
}

/// Row-major copy of a matrix (safetensors order).
fn row_major(m: MatRef<'_, f64>) -> Vec<f64> {
    (0..m.nrows())
        .flat_map(|i| (0..m.ncols()).map(move |j| m[(i, j)]))
        .collect()
}

#[cfg(test)]
mod tests {
    use faer::Mat;
    use plres_kernels::KernelSpec;
    use plres_resnet::{Init, LinearResNet, LinearResNetConfig, Model, TargetsRef, Trainable};
    use plres_rff::FeatureMap;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};
    use std::sync::Arc;

    use super::PeerProblem;

    fn gaussian_rff(d: usize, p: usize, seed: u64) -> Arc<dyn FeatureMap> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let spec = KernelSpec::Gaussian { sigma: 1.0 };
        Arc::new(crate::cosine_features(&spec, d, p, &mut rng).unwrap())
    }

    fn normal_mat(rows: usize, cols: usize, seed: u64) -> Mat<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Mat::from_fn(rows, cols, |_, _| StandardNormal.sample(&mut rng))
    }

    /// Issue 19, case 1: a peer file whose `features.omega` is `[0, 2⁴⁰]` (no values,
    /// so a few hundred bytes) used to hang building a `0 × 2⁴⁰` matrix; it is refused at
    /// once with an error naming the tensor and its shape.
    #[test]
    fn peer_file_with_a_zero_axis_is_refused_at_once() {
        use plres_resnet::{Checkpoint, CheckpointError};
        let dir = std::env::temp_dir().join(format!("plres-benches-zero-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("zero.safetensors");
        let huge = 1usize << 40;
        let mut c = Checkpoint::new();
        c.insert("features.omega", vec![0, huge], vec![]);
        c.insert("features.bias", vec![0], vec![]);
        c.insert("residual.u", vec![1, huge, 0], vec![]);
        c.insert("data.x", vec![0, huge], vec![]);
        c.insert("data.y", vec![0, huge], vec![]);
        c.save(&path).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let p2 = path.clone();
        std::thread::spawn(move || {
            let _ = tx.send(PeerProblem::load(&p2, KernelSpec::Gaussian { sigma: 1.0 }));
        });
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("PeerProblem::load hangs on a zero axis");
        match got.as_ref().map_err(CheckpointError::cause) {
            Err(CheckpointError::ZeroDimension { name, shape }) => {
                assert!(
                    got.as_ref()
                        .unwrap_err()
                        .to_string()
                        .contains("zero.safetensors")
                );
                assert_eq!((name.as_str(), shape), ("features.omega", &vec![0, huge]));
            }
            other => panic!("expected ZeroDimension, got {other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The PyTorch peer's gradient-check input format: written and read back, and its
    /// loss is the spec's `1/(2N) ‖X_L − Y‖²` of the literal recursion.
    #[test]
    fn peer_format_round_trip() {
        let dir = std::env::temp_dir().join(format!("plres-benches-peer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (n, d, p, depth) = (7, 3, 5, 4);
        let mut model = LinearResNet::new(
            gaussian_rff(d, p, 101),
            LinearResNetConfig {
                depth,
                init: Init::Normal {
                    std: 0.1,
                    seed: 102,
                },
                ..Default::default()
            },
        )
        .unwrap();
        model.params_mut()[0] = 0.25;
        let x = normal_mat(n, d, 103);
        let y = Mat::from_fn(n, d, |i, j| x[(i, j)] + 0.5 * (2.0 * x[(i, j)]).sin());
        let prob = PeerProblem { model, x, y };
        let path = dir.join("in.safetensors");
        prob.save(&path).unwrap();
        let back = PeerProblem::load(&path, KernelSpec::Gaussian { sigma: 1.0 }).unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(back.model.params()), bits(prob.model.params()));
        assert_eq!(back.x, prob.x);
        let l = back
            .model
            .loss(back.x.as_ref(), TargetsRef::Regression(back.y.as_ref()))
            .unwrap();
        let z = prob.model.forward(prob.x.as_ref()).unwrap();
        let r = &z - &prob.y;
        let direct = r.squared_norm_l2() / (2.0 * n as f64);
        assert!((l - direct).abs() <= 1e-14 * direct);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
