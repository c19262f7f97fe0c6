//! Exchange with the PyTorch peer (`benches/peer/conv_peer.py`): the model's tensors and a
//! batch in one safetensors file (float64, PyTorch's shapes and names), and the loss and
//! gradients computed on either side under the same names, to compare.
//!
//! Names: `a.conv1.weight (q,1,4,4)`, `a.conv1.bias`, `a.bn1.weight`, `a.bn1.bias`,
//! `a.conv2.weight (q,q,4,4)`, `a.conv2.bias`, `a.bn2.weight`, `a.bn2.bias`,
//! `b.bn.weight`, `b.bn.bias`, `b.fc.weight (10,25q)`, `b.fc.bias`; `res.omega
//! (q_int,q,3,3)` (linear) or `res.theta1 (L+1,q_int,q,3,3)` (SHL); `res.theta_w
//! (L+1,q,q_int,3,3)`, `res.theta_b (L+1,q)`; `data.images (n,1,28,28)`, `data.labels (n)`
//! (float64 holding integers). Metadata: `kind` (`linear`/`shl`), `steps`.
//! Results: `loss` (1), `grad.res.theta_w`, `grad.res.theta_b`, `grad.res.theta1` (SHL)
//! for the ResNet, and `ab_loss`, `grad.<name>` for every `a.*`/`b.*` parameter for the
//! pretraining model `B ∘ A`.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors};

use crate::ConvError;
use crate::flow::ResidualKind;
use crate::model::{ConvResNet, IMAGE_SIDE, N_CLASSES, SIDE2};

/// Named float64 tensors (row-major) and string metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TensorFile {
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// `name → (shape, values)`.
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f64>)>,
}

impl TensorFile {
    /// Adds a tensor.
    pub fn insert(&mut self, name: &str, shape: &[usize], data: Vec<f64>) {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len(), "{name}");
        self.tensors
            .insert(name.to_string(), (shape.to_vec(), data));
    }

    /// The values of tensor `name`.
    ///
    /// # Errors
    /// [`ConvError::Tensors`] when it is missing.
    pub fn get(&self, name: &str, file: &Path) -> Result<&[f64], ConvError> {
        self.tensors
            .get(name)
            .map(|(_, d)| d.as_slice())
            .ok_or_else(|| ConvError::Tensors {
                file: file.display().to_string(),
                message: format!("no tensor `{name}`"),
            })
    }

    /// Writes the file atomically, its bytes fixed by the contents (metadata sorted).
    ///
    /// # Errors
    /// [`ConvError::Tensors`] on an I/O or format error.
    pub fn write(&self, path: &Path) -> Result<(), ConvError> {
        let err = |m: String| ConvError::Tensors {
            file: path.display().to_string(),
            message: m,
        };
        // plres-resnet's writer: metadata in sorted order (the same bytes in every
        // process) and an atomic write
        let mut c = plres_resnet::Checkpoint::new();
        c.metadata = self.metadata.clone();
        for (n, (s, d)) in &self.tensors {
            c.insert(n.as_str(), s.clone(), d.clone());
        }
        c.save_unversioned(path).map_err(|e| err(e.to_string()))
    }

    /// Reads a file of float64 tensors.
    ///
    /// # Errors
    /// [`ConvError::Tensors`] on an I/O or format error or a tensor not float64.
    pub fn read(path: &Path) -> Result<Self, ConvError> {
        let err = |m: String| ConvError::Tensors {
            file: path.display().to_string(),
            message: m,
        };
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| err(e.to_string()))?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| err(e.to_string()))?;
        let mut out = TensorFile::default();
        if let Some(m) = meta.metadata() {
            out.metadata = m.clone().into_iter().collect();
        }
        for (name, view) in st.tensors() {
            if view.dtype() != Dtype::F64 {
                return Err(err(format!(
                    "tensor `{name}` is {:?}, expected F64",
                    view.dtype()
                )));
            }
            let data = view
                .data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect();
            out.tensors.insert(name, (view.shape().to_vec(), data));
        }
        Ok(out)
    }
}

/// The peer's input: every tensor of `model` and the batch `images` (`n × 784`), `labels`.
pub fn peer_problem(model: &ConvResNet<f64>, images: &[f64], labels: &[usize]) -> TensorFile {
    let c = model.config;
    let (q, qi, l) = (c.q, c.q_int, c.steps);
    let mut f = TensorFile::default();
    f.metadata.insert(
        "kind".into(),
        match c.kind {
            ResidualKind::Linear => "linear",
            ResidualKind::Shl => "shl",
        }
        .into(),
    );
    f.metadata.insert("steps".into(), l.to_string());
    let (a, b, r) = (&model.input, &model.output, &model.residual);
    for (i, conv, bn, c_in) in [(1, &a.conv1, &a.bn1, 1), (2, &a.conv2, &a.bn2, q)] {
        let bias = conv.bias.clone().unwrap_or_default();
        f.insert(
            &format!("a.conv{i}.weight"),
            &[q, c_in, 4, 4],
            conv.weight.clone(),
        );
        f.insert(&format!("a.conv{i}.bias"), &[q], bias);
        f.insert(&format!("a.bn{i}.weight"), &[q], bn.gamma.clone());
        f.insert(&format!("a.bn{i}.bias"), &[q], bn.beta.clone());
    }
    f.insert("b.bn.weight", &[q], b.bn.gamma.clone());
    f.insert("b.bn.bias", &[q], b.bn.beta.clone());
    f.insert(
        "b.fc.weight",
        &[N_CLASSES, q * SIDE2 * SIDE2],
        b.fc.weight.clone(),
    );
    f.insert("b.fc.bias", &[N_CLASSES], b.fc.bias.clone());
    let (tw, tb, t1) = split_theta(model, &r.params);
    f.insert("res.theta_w", &[l + 1, q, qi, 3, 3], tw);
    f.insert("res.theta_b", &[l + 1, q], tb);
    match c.kind {
        ResidualKind::Linear => f.insert("res.omega", &[qi, q, 3, 3], r.omega.clone()),
        ResidualKind::Shl => f.insert("res.theta1", &[l + 1, qi, q, 3, 3], t1),
    }
    let n = labels.len();
    f.insert(
        "data.images",
        &[n, 1, IMAGE_SIDE, IMAGE_SIDE],
        images.to_vec(),
    );
    f.insert(
        "data.labels",
        &[n],
        labels.iter().map(|&y| y as f64).collect(),
    );
    f
}

/// Splits a parameter (or gradient) vector of the flow into `(θ weights, θ biases, θ¹)`.
fn split_theta(model: &ConvResNet<f64>, p: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let r = &model.residual;
    let (tb, l) = (r.theta_block(), r.steps);
    let wl = r.spec_out().weight_len();
    let (mut w, mut b) = (Vec::new(), Vec::new());
    for k in 0..=l {
        w.extend_from_slice(&p[k * tb..k * tb + wl]);
        b.extend_from_slice(&p[k * tb + wl..(k + 1) * tb]);
    }
    (w, b, p[(l + 1) * tb..].to_vec())
}

/// plres's results under the peer's names: the ResNet's training-mode loss and gradient,
/// and the pretraining model's (`B ∘ A`). Leaves the running statistics as they were.
pub fn plres_results(model: &ConvResNet<f64>, images: &[f64], labels: &[usize]) -> TensorFile {
    let mut m = model.clone();
    let mut f = TensorFile::default();
    let mut g = vec![0.0; m.n_params()];
    let loss = m.loss_and_gradient(images, labels, &mut g);
    f.insert("loss", &[1], vec![loss.loss]);
    let (tw, tb, t1) = split_theta(model, &g);
    f.insert("grad.res.theta_w", &[tw.len()], tw);
    f.insert("grad.res.theta_b", &[tb.len()], tb);
    if model.config.kind == ResidualKind::Shl {
        f.insert("grad.res.theta1", &[t1.len()], t1);
    }
    let mut m = model.clone();
    let mut g = vec![0.0; m.n_ab_params()];
    let loss = m.ab_loss_and_gradient(images, labels, &mut g);
    f.insert("ab_loss", &[1], vec![loss.loss]);
    let names = [
        "a.conv1.weight",
        "a.conv1.bias",
        "a.bn1.weight",
        "a.bn1.bias",
        "a.conv2.weight",
        "a.conv2.bias",
        "a.bn2.weight",
        "a.bn2.bias",
        "b.bn.weight",
        "b.bn.bias",
        "b.fc.weight",
        "b.fc.bias",
    ];
    let p = peer_problem(model, images, labels);
    let mut off = 0;
    for name in names {
        let len = p.tensors[name].1.len();
        f.insert(&format!("grad.{name}"), &[len], g[off..off + len].to_vec());
        off += len;
    }
    f
}

/// Gradients that vanish in exact arithmetic: the biases of convolutions followed by a
/// training-mode batch norm (the mean subtraction removes them), and, in `B ∘ A` without
/// the flow, `γ` and `β` of `A`'s last batch norm, which feeds `B`'s batch norm directly
/// (a per-channel affine map is undone by the next normalisation). Their
/// computed values are rounding noise on both sides, so [`compare`] measures their
/// difference against the whole `B ∘ A` gradient instead of against themselves.
pub const VANISHING: [&str; 4] = [
    "grad.a.conv1.bias",
    "grad.a.conv2.bias",
    "grad.a.bn2.weight",
    "grad.a.bn2.bias",
];

/// Relative error of every tensor of `ours` against `theirs` (by name):
/// `‖a − b‖₂ / ‖b‖₂`, except for the [`VANISHING`] tensors, measured against the norm of
/// the whole `B ∘ A` gradient of `theirs` (`grad.a.*`, `grad.b.*`).
///
/// # Errors
/// [`ConvError::Tensors`] when `theirs` lacks a tensor or has another length.
pub fn compare(
    ours: &TensorFile,
    theirs: &TensorFile,
    file: &Path,
) -> Result<Vec<(String, f64)>, ConvError> {
    let mut out = Vec::new();
    let ab_norm = theirs
        .tensors
        .iter()
        .filter(|(n, _)| n.starts_with("grad.a.") || n.starts_with("grad.b."))
        .flat_map(|(_, (_, d))| d.iter())
        .map(|v| v * v)
        .sum::<f64>()
        .sqrt();
    for (name, (_, a)) in &ours.tensors {
        let b = theirs.get(name, file)?;
        if a.len() != b.len() {
            return Err(ConvError::Tensors {
                file: file.display().to_string(),
                message: format!("`{name}` has {} values, expected {}", b.len(), a.len()),
            });
        }
        let diff: f64 = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f64>()
            .sqrt();
        let norm: f64 = if VANISHING.contains(&name.as_str()) {
            ab_norm
        } else {
            b.iter().map(|y| y * y).sum::<f64>().sqrt()
        };
        out.push((name.clone(), if norm > 0.0 { diff / norm } else { diff }));
    }
    Ok(out)
}
