//! The paper's convolutional ResNet for 28×28 grey images and 10 classes:
//! `B ∘ Φ ∘ A`, with
//! - input network `A = BN ∘ Conv2d(q, q, 4, stride 2) ∘ ReLU ∘ BN ∘ Conv2d(1, q, 4, stride 2)`
//!   (28×28 → q×13×13 → q×5×5),
//! - residual flow `Φ` ([`crate::flow`]) on `q × 5 × 5`,
//! - output network `B = Linear(25q → 10) ∘ Flatten ∘ BN`,
//!
//! trained with the softmax cross-entropy. During ResNet training `A` and `B` are fixed
//! (their parameters are not trained) but, as in PyTorch's `train()` mode, their batch
//! normalisations use batch statistics and update their running statistics; evaluation
//! ([`ConvResNet::predict`]) uses the running statistics. [`ConvResNet::ab_loss_and_gradient`]
//! is the optional pretraining of `B ∘ A` (no residual; with `θ = 0` the flow is the
//! identity, so the pretrained model is the ResNet at initialisation).
//!
//! **Initialisation** (seeded `ChaCha8Rng`, in this order): PyTorch's defaults for
//! `A`'s convolutions and `B`'s linear layer (weight and bias `U(−1/√fan_in, 1/√fan_in)`,
//! `fan_in = c_in k²` or `d_in`), batch norms `γ = 1, β = 0`; then `Ω` (linear) or every
//! `θ¹_k` (SHL) with entries `N(0, 1/(3 q_int))`; `θ` and `θ²` are zero.
//! The variance `1/(3 q_int)` is the one of the paper's code, kept so that our numbers
//! compare with the paper's. What it means: at an interior pixel each pre-activation
//! `u_j = (Ω * x)_j` sums `9q` terms, so `E u_j² = 9q/(3 q_int) · m₂ = 3 (q/q_int) m₂` with
//! `m₂` the mean square of the state's entries, and `E ReLU(u_j)² = 1.5 (q/q_int) m₂`: with
//! `q = q_int` the features have 1.5× the state's mean square (He's `2/fan_in` would give
//! exactly `m₂`), independently of the width — the scale does not drift with `q`.

use faer::Par;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};

use crate::flow::{ChunkedFlowWork, FlowWork, Residual, ResidualKind};
use crate::layers::batchnorm::BatchNorm;
use crate::layers::conv2d::{Conv2d, ConvSpec};
use crate::layers::flatten::{flatten, unflatten};
use crate::layers::linear::Linear;
use crate::layers::loss::{BatchLoss, argmax, softmax_cross_entropy};
use crate::layers::relu::{relu_backward_in_place, relu_in_place};
use crate::{ConvError, Real};

/// Image side (MNIST, Fashion-MNIST).
pub const IMAGE_SIDE: usize = 28;
/// Pixels per image.
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Classes.
pub const N_CLASSES: usize = 10;
/// Side after the first convolution of `A` (28 → 13).
pub const SIDE1: usize = 13;
/// Side of the residual state (13 → 5).
pub const SIDE2: usize = 5;

/// The model's size and the seed of its initialisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConvResNetConfig {
    /// Channels of the state `q`.
    pub q: usize,
    /// Hidden channels of the residual `q_int`.
    pub q_int: usize,
    /// Midpoint steps `L`.
    pub steps: usize,
    /// Linear or SHL residual.
    pub kind: ResidualKind,
    /// Seed of the initialisation.
    pub seed: u64,
}

impl ConvResNetConfig {
    /// Checks the sizes.
    ///
    /// # Errors
    /// [`ConvError::InvalidConfig`] when `q`, `q_int` or `steps` is zero.
    pub fn validate(&self) -> Result<(), ConvError> {
        for (field, v) in [("q", self.q), ("q_int", self.q_int), ("steps", self.steps)] {
            if v == 0 {
                return Err(ConvError::InvalidConfig {
                    field,
                    value: v.to_string(),
                    expected: "an integer ≥ 1",
                });
            }
        }
        Ok(())
    }
}

/// A set of images as `T`, one 28×28 image per row (pixels in `[0, 1]`), and labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Images<T> {
    /// `n × 784` row-major.
    pub pixels: Vec<T>,
    /// Labels `0..10`.
    pub labels: Vec<usize>,
}

impl<T: Real> Images<T> {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// Whether there is no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Gathers the images `idx` into `out` (row-major `idx.len() × 784`) and their labels.
    pub fn gather(&self, idx: &[usize], out: &mut Vec<T>, labels: &mut Vec<usize>) {
        out.clear();
        labels.clear();
        for &i in idx {
            out.extend_from_slice(&self.pixels[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS]);
            labels.push(self.labels[i]);
        }
    }
}

/// The input network `A` (fixed during ResNet training).
#[derive(Debug, Clone, PartialEq)]
pub struct InputNet<T> {
    /// `Conv2d(1, q, 4, stride 2)`.
    pub conv1: Conv2d<T>,
    /// `BatchNorm2d(q)`.
    pub bn1: BatchNorm<T>,
    /// `Conv2d(q, q, 4, stride 2)`.
    pub conv2: Conv2d<T>,
    /// `BatchNorm2d(q)`.
    pub bn2: BatchNorm<T>,
}

/// The output network `B` (fixed during ResNet training).
#[derive(Debug, Clone, PartialEq)]
pub struct OutputNet<T> {
    /// `BatchNorm2d(q)`.
    pub bn: BatchNorm<T>,
    /// `Linear(25q → 10)`.
    pub fc: Linear<T>,
}

/// The model `B ∘ Φ ∘ A` with its workspace.
#[derive(Debug, Clone)]
pub struct ConvResNet<T> {
    /// The configuration it was built from.
    pub config: ConvResNetConfig,
    /// Input network.
    pub input: InputNet<T>,
    /// Residual flow (holds the trained parameters).
    pub residual: Residual<T>,
    /// Output network.
    pub output: OutputNet<T>,
    /// Parallelism of the GEMMs.
    pub par: Par,
    work: Work<T>,
}

/// Buffers of the fixed networks for up to `n` samples (they only grow).
#[derive(Debug, Clone, Default)]
struct Work<T> {
    n: usize,
    col1: Vec<T>,
    pre1: Vec<T>,
    xhat1: Vec<T>,
    is1: Vec<T>,
    a1: Vec<T>,
    col2: Vec<T>,
    pre2: Vec<T>,
    xhat2: Vec<T>,
    is2: Vec<T>,
    x: Vec<T>,
    xhat_b: Vec<T>,
    is_b: Vec<T>,
    yb: Vec<T>,
    flat: Vec<T>,
    logits: Vec<T>,
    dlogits: Vec<T>,
    dflat: Vec<T>,
    dyb: Vec<T>,
    dx: Vec<T>,
    dx2: Vec<T>,
    da1: Vec<T>,
    dcol2: Vec<T>,
    scratch_fc_w: Vec<T>,
    scratch_fc_b: Vec<T>,
    flow: FlowWork<T>,
    chunked: ChunkedFlowWork<T>,
}

fn uniform_vec<T: Real>(len: usize, fan_in: usize, rng: &mut ChaCha8Rng) -> Vec<T> {
    let b = 1.0 / (fan_in as f64).sqrt();
    let u = Uniform::new(-b, b).expect("bound 1/√fan_in is finite and positive");
    (0..len).map(|_| T::from_f64(u.sample(rng))).collect()
}

fn normal_vec<T: Real>(len: usize, var: f64, rng: &mut ChaCha8Rng) -> Vec<T> {
    let d = Normal::new(0.0, var.sqrt()).expect("variance 1/(3 q_int) is finite and positive");
    (0..len).map(|_| T::from_f64(d.sample(rng))).collect()
}

impl<T: Real> ConvResNet<T> {
    /// A model initialised as described in the module doc.
    ///
    /// # Errors
    /// As [`ConvResNetConfig::validate`].
    pub fn new(config: ConvResNetConfig) -> Result<Self, ConvError> {
        config.validate()?;
        let (q, qi, l) = (config.q, config.q_int, config.steps);
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let s1 = ConvSpec {
            c_in: 1,
            c_out: q,
            k: 4,
            stride: 2,
            pad: 0,
        };
        let s2 = ConvSpec {
            c_in: q,
            c_out: q,
            k: 4,
            stride: 2,
            pad: 0,
        };
        let conv1 = Conv2d {
            spec: s1,
            weight: uniform_vec(s1.weight_len(), s1.patch_len(), &mut rng),
            bias: Some(uniform_vec(q, s1.patch_len(), &mut rng)),
        };
        let conv2 = Conv2d {
            spec: s2,
            weight: uniform_vec(s2.weight_len(), s2.patch_len(), &mut rng),
            bias: Some(uniform_vec(q, s2.patch_len(), &mut rng)),
        };
        let d = q * SIDE2 * SIDE2;
        let fc = Linear {
            d_in: d,
            d_out: N_CLASSES,
            weight: uniform_vec(N_CLASSES * d, d, &mut rng),
            bias: uniform_vec(N_CLASSES, d, &mut rng),
        };
        let var = 1.0 / (3.0 * qi as f64);
        let mut residual = Residual {
            kind: config.kind,
            q,
            q_int: qi,
            steps: l,
            hw: (SIDE2, SIDE2),
            omega: Vec::new(),
            params: Vec::new(),
        };
        let tb = residual.theta_block();
        let t1b = residual.theta1_block();
        let mut params = vec![T::ZERO; (l + 1) * tb];
        match config.kind {
            ResidualKind::Linear => residual.omega = normal_vec(qi * q * 9, var, &mut rng),
            ResidualKind::Shl => params.extend(normal_vec::<T>((l + 1) * t1b, var, &mut rng)),
        }
        residual.params = params;
        Ok(Self {
            config,
            input: InputNet {
                conv1,
                bn1: BatchNorm::new(q),
                conv2,
                bn2: BatchNorm::new(q),
            },
            residual,
            output: OutputNet {
                bn: BatchNorm::new(q),
                fc,
            },
            par: Par::Seq,
            work: Work::default(),
        })
    }

    /// The trained parameters (see [`crate::flow`] for their order).
    pub fn params(&self) -> &[T] {
        &self.residual.params
    }

    /// Number of trained parameters.
    pub fn n_params(&self) -> usize {
        self.residual.n_params()
    }

    /// Replaces the trained parameters.
    ///
    /// # Panics
    /// If `p.len() != n_params()`.
    pub fn set_params(&mut self, p: &[T]) {
        assert_eq!(p.len(), self.n_params(), "ConvResNet::set_params: length");
        self.residual.params.copy_from_slice(p);
    }

    /// A copy of the model (parameters, running statistics, `Ω`, parallelism) with empty
    /// buffers: the scratch model behind the [`plres_resnet::Model`] implementation.
    pub(crate) fn without_buffers(&self) -> Self {
        Self {
            config: self.config,
            input: self.input.clone(),
            residual: self.residual.clone(),
            output: self.output.clone(),
            par: self.par,
            work: Work::default(),
        }
    }

    /// The forward pass of `n` images (row-major `n × 784`) in training mode (batch
    /// statistics, running statistics neither read nor updated) or evaluation mode
    /// (running statistics), handing each grid-time state `x_k` (channel-major
    /// `q × n·25`) to `observe(k, x_k)`; returns the logits (row-major `n × 10`).
    pub(crate) fn forward_observed(
        &mut self,
        images: &[T],
        n: usize,
        train: bool,
        observe: impl FnMut(usize, &[T]),
    ) -> &[T] {
        self.ensure(n);
        self.forward_input(images, n, train, false);
        let par = self.par;
        self.residual.forward_observed(
            &mut self.work.x,
            n,
            &mut self.work.flow,
            false,
            par,
            observe,
        );
        self.forward_output(n, train, false);
        &self.work.logits[..n * N_CLASSES]
    }

    pub(crate) fn ensure(&mut self, n: usize) {
        if n <= self.work.n {
            return;
        }
        let q = self.config.q;
        let (n1, n2) = (n * SIDE1 * SIDE1, n * SIDE2 * SIDE2);
        let z = T::ZERO;
        let w = &mut self.work;
        w.n = n;
        w.col1 = vec![z; 16 * n1];
        w.pre1 = vec![z; q * n1];
        w.xhat1 = vec![z; q * n1];
        w.is1 = vec![z; q];
        w.a1 = vec![z; q * n1];
        w.col2 = vec![z; q * 16 * n2];
        w.pre2 = vec![z; q * n2];
        w.xhat2 = vec![z; q * n2];
        w.is2 = vec![z; q];
        w.x = vec![z; q * n2];
        w.xhat_b = vec![z; q * n2];
        w.is_b = vec![z; q];
        w.yb = vec![z; q * n2];
        w.flat = vec![z; q * n2];
        w.logits = vec![z; N_CLASSES * n];
        w.dlogits = vec![z; N_CLASSES * n];
        w.dflat = vec![z; q * n2];
        w.dyb = vec![z; q * n2];
        w.dx = vec![z; q * n2];
        w.dx2 = vec![z; q * n2];
        w.da1 = vec![z; q * n1];
        w.dcol2 = vec![z; q * 16 * n2];
        w.scratch_fc_w = vec![z; N_CLASSES * q * SIDE2 * SIDE2];
        w.scratch_fc_b = vec![z; N_CLASSES];
    }

    /// `A` on a batch (`images` row-major `n × 784`) into `work.x`.
    fn forward_input(&mut self, images: &[T], n: usize, train: bool, update: bool) {
        let (n1, n2) = (n * SIDE1 * SIDE1, n * SIDE2 * SIDE2);
        let (a, w, par) = (&mut self.input, &mut self.work, self.par);
        // images, one per row, are the channel-major layout of a 1-channel batch
        a.conv1.forward(
            images,
            n,
            IMAGE_SIDE,
            IMAGE_SIDE,
            &mut w.col1,
            &mut w.pre1,
            par,
        );
        if train {
            a.bn1
                .forward_train(&w.pre1, n1, &mut w.a1, &mut w.xhat1, &mut w.is1, update);
        } else {
            a.bn1.forward_eval(&w.pre1, n1, &mut w.a1);
        }
        relu_in_place(&mut w.a1[..a.conv1.spec.c_out * n1]);
        a.conv2
            .forward(&w.a1, n, SIDE1, SIDE1, &mut w.col2, &mut w.pre2, par);
        if train {
            a.bn2
                .forward_train(&w.pre2, n2, &mut w.x, &mut w.xhat2, &mut w.is2, update);
        } else {
            a.bn2.forward_eval(&w.pre2, n2, &mut w.x);
        }
    }

    /// `B` on `work.x` into `work.logits`.
    fn forward_output(&mut self, n: usize, train: bool, update: bool) {
        let q = self.config.q;
        let n2 = n * SIDE2 * SIDE2;
        let (b, w, par) = (&mut self.output, &mut self.work, self.par);
        if train {
            b.bn.forward_train(&w.x, n2, &mut w.yb, &mut w.xhat_b, &mut w.is_b, update);
        } else {
            b.bn.forward_eval(&w.x, n2, &mut w.yb);
        }
        flatten(&w.yb, q, n, SIDE2 * SIDE2, &mut w.flat);
        b.fc.forward(&w.flat, n, &mut w.logits, par);
    }

    /// Backward through `B` from `work.dlogits` into `work.dx`; `B`'s parameter
    /// gradients go to `grads` (`[bn.γ, bn.β, fc.w, fc.b]` slices) or to scratch.
    fn backward_output(&mut self, n: usize, grads: Option<[&mut [T]; 4]>) {
        let q = self.config.q;
        let n2 = n * SIDE2 * SIDE2;
        let (b, w, par) = (&self.output, &mut self.work, self.par);
        let (bn_grads, fw, fb) = match grads {
            Some([g, be, fw, fb]) => (Some((g, be)), fw, fb),
            None => (None, &mut w.scratch_fc_w[..], &mut w.scratch_fc_b[..]),
        };
        b.fc.backward(&w.dlogits, &w.flat, n, fw, fb, Some(&mut w.dflat), par);
        unflatten(&w.dflat, q, n, SIDE2 * SIDE2, &mut w.dyb);
        b.bn.backward(&w.dyb, &w.xhat_b, &w.is_b, n2, &mut w.dx, bn_grads);
    }

    /// Mean cross-entropy of a batch in training mode and its gradient w.r.t. the trained
    /// parameters (written into `grad`, length [`n_params`](Self::n_params)). Like a
    /// PyTorch training step, it updates the running statistics of the batch norms (the
    /// training-mode loss does not depend on them).
    ///
    /// # Panics
    /// If `images.len() != 784 · labels.len()`, `grad` has the wrong length or the batch
    /// has one image (batch statistics need two values).
    pub fn loss_and_gradient(
        &mut self,
        images: &[T],
        labels: &[usize],
        grad: &mut [T],
    ) -> BatchLoss {
        let n = labels.len();
        assert_eq!(
            images.len(),
            n * IMAGE_PIXELS,
            "loss_and_gradient: images for {n} labels"
        );
        self.forward_train(images, n, true, true);
        let par = self.par;
        let w = &mut self.work;
        let loss = softmax_cross_entropy(&w.logits, labels, N_CLASSES, Some(&mut w.dlogits));
        self.backward_output(n, None);
        let w = &mut self.work;
        self.residual
            .backward_chunked(&mut w.dx, n, &mut w.chunked, grad, par);
        loss
    }

    /// The training-mode forward pass of a batch of `n` images up to the logits, through
    /// the residual flow when `residual` (not for `B ∘ A`), keeping what the backward pass
    /// needs when `store`.
    fn forward_train(&mut self, images: &[T], n: usize, residual: bool, store: bool) {
        self.ensure(n);
        self.forward_input(images, n, true, store);
        if residual {
            let par = self.par;
            self.residual
                .forward_chunked(&mut self.work.x, n, &mut self.work.chunked, store, par);
        }
        self.forward_output(n, true, store);
    }

    /// Mean cross-entropy in training mode without gradient (updates nothing).
    pub fn loss(&mut self, images: &[T], labels: &[usize]) -> BatchLoss {
        self.forward_train(images, labels.len(), true, false);
        softmax_cross_entropy(&self.work.logits, labels, N_CLASSES, None)
    }

    /// Mean cross-entropy of `B ∘ A` (no residual) in training mode, without gradient
    /// (updates nothing).
    pub fn ab_loss(&mut self, images: &[T], labels: &[usize]) -> BatchLoss {
        self.forward_train(images, labels.len(), false, false);
        softmax_cross_entropy(&self.work.logits, labels, N_CLASSES, None)
    }

    /// Predicted classes (evaluation mode: running statistics) for `images` (row-major
    /// `n × 784`), processed in chunks of at most `chunk` images; returns the number
    /// of correct predictions against `labels`.
    pub fn predict(
        &mut self,
        images: &[T],
        labels: &[usize],
        chunk: usize,
        out: &mut Vec<usize>,
    ) -> usize {
        out.clear();
        let mut correct = 0;
        let par = self.par;
        for (ci, lab) in labels.chunks(chunk.max(1)).enumerate() {
            let n = lab.len();
            let start = ci * chunk.max(1) * IMAGE_PIXELS;
            self.ensure(n);
            self.forward_input(&images[start..start + n * IMAGE_PIXELS], n, false, false);
            self.residual
                .forward_chunked(&mut self.work.x, n, &mut self.work.chunked, false, par);
            self.forward_output(n, false, false);
            for (b, &y) in lab.iter().enumerate() {
                let p = argmax(&self.work.logits[b * N_CLASSES..(b + 1) * N_CLASSES]);
                correct += usize::from(p == y);
                out.push(p);
            }
        }
        correct
    }

    /// Number of parameters of `B ∘ A` (pretraining).
    pub fn n_ab_params(&self) -> usize {
        let (a, b) = (&self.input, &self.output);
        a.conv1.weight.len()
            + self.config.q * 6
            + a.conv2.weight.len()
            + b.fc.weight.len()
            + b.fc.bias.len()
            + self.config.q * 2
    }

    /// The parameters of `B ∘ A`, in the order conv1.w, conv1.b, bn1.γ, bn1.β, conv2.w,
    /// conv2.b, bn2.γ, bn2.β, bn.γ, bn.β, fc.w, fc.b.
    pub fn ab_params(&self) -> Vec<T> {
        let mut v = Vec::with_capacity(self.n_ab_params());
        for s in self.ab_slices() {
            v.extend_from_slice(s);
        }
        v
    }

    fn ab_slices(&self) -> [&[T]; 12] {
        let (a, b) = (&self.input, &self.output);
        [
            &a.conv1.weight,
            a.conv1.bias.as_deref().unwrap_or(&[]),
            &a.bn1.gamma,
            &a.bn1.beta,
            &a.conv2.weight,
            a.conv2.bias.as_deref().unwrap_or(&[]),
            &a.bn2.gamma,
            &a.bn2.beta,
            &b.bn.gamma,
            &b.bn.beta,
            &b.fc.weight,
            &b.fc.bias,
        ]
    }

    /// [`ab_slices`](Self::ab_slices), writable.
    fn ab_slices_mut(&mut self) -> [&mut [T]; 12] {
        let (a, b) = (&mut self.input, &mut self.output);
        [
            &mut a.conv1.weight,
            a.conv1.bias.as_deref_mut().unwrap_or(&mut []),
            &mut a.bn1.gamma,
            &mut a.bn1.beta,
            &mut a.conv2.weight,
            a.conv2.bias.as_deref_mut().unwrap_or(&mut []),
            &mut a.bn2.gamma,
            &mut a.bn2.beta,
            &mut b.bn.gamma,
            &mut b.bn.beta,
            &mut b.fc.weight,
            &mut b.fc.bias,
        ]
    }

    /// Sets the parameters of `B ∘ A` (order of [`ab_params`](Self::ab_params)).
    ///
    /// # Panics
    /// If `p.len() != n_ab_params()`.
    pub fn set_ab_params(&mut self, p: &[T]) {
        assert_eq!(p.len(), self.n_ab_params(), "set_ab_params: length");
        let mut rest = p;
        for dst in self.ab_slices_mut() {
            let (h, t) = rest.split_at(dst.len());
            dst.copy_from_slice(h);
            rest = t;
        }
    }

    /// Mean cross-entropy of `B ∘ A` (no residual) in training mode and its gradient
    /// w.r.t. [`ab_params`](Self::ab_params), written into `grad` (the pretraining step;
    /// updates the running statistics).
    pub fn ab_loss_and_gradient(
        &mut self,
        images: &[T],
        labels: &[usize],
        grad: &mut [T],
    ) -> BatchLoss {
        let n = labels.len();
        assert_eq!(
            grad.len(),
            self.n_ab_params(),
            "ab_loss_and_gradient: gradient length"
        );
        self.forward_train(images, n, false, true);
        let loss = {
            let w = &mut self.work;
            softmax_cross_entropy(&w.logits, labels, N_CLASSES, Some(&mut w.dlogits))
        };
        grad.fill(T::ZERO);
        let q = self.config.q;
        let lens: Vec<usize> = self.ab_slices().iter().map(|s| s.len()).collect();
        let mut parts: Vec<&mut [T]> = Vec::with_capacity(12);
        let mut rest = &mut grad[..];
        for &l in &lens {
            let (h, t) = rest.split_at_mut(l);
            parts.push(h);
            rest = t;
        }
        let mut it = parts.into_iter();
        let mut next = || it.next().expect("12 parameter slices");
        let (c1w, c1b, g1, b1, c2w, c2b, g2, b2) = (
            next(),
            next(),
            next(),
            next(),
            next(),
            next(),
            next(),
            next(),
        );
        let (gb, bb, fw, fb) = (next(), next(), next(), next());
        self.backward_output(n, Some([gb, bb, fw, fb]));
        let (n1, n2) = (n * SIDE1 * SIDE1, n * SIDE2 * SIDE2);
        let (a, w, par) = (&self.input, &mut self.work, self.par);
        a.bn2
            .backward(&w.dx, &w.xhat2, &w.is2, n2, &mut w.dx2, Some((g2, b2)));
        a.conv2.backward(
            &w.dx2,
            &w.col2,
            n,
            SIDE1,
            SIDE1,
            c2w,
            Some(c2b),
            Some((&mut w.da1, &mut w.dcol2)),
            par,
        );
        relu_backward_in_place(&w.a1[..q * n1], &mut w.da1[..q * n1]);
        // dpre1 reuses pre1 (its value is no longer needed)
        a.bn1
            .backward(&w.da1, &w.xhat1, &w.is1, n1, &mut w.pre1, Some((g1, b1)));
        a.conv1.backward(
            &w.pre1,
            &w.col1,
            n,
            IMAGE_SIDE,
            IMAGE_SIDE,
            c1w,
            Some(c1b),
            None,
            par,
        );
        let _ = q;
        loss
    }
}
