//! `KernelResNet`: the infinite-width limit (docs/theory.md §3.4), each residual `θ_k` an exact
//! kernel expansion `θ_k = Σ_c k(·, c) a_c` (plres-kernels `KernelExpansion`).
//!
//! Forward (Euler, one sample per row): `X_{k+1} = X_k + h θ_k(X_k)`.
//! Adjoint: `P_L = (∂L/∂Z) B`, `P_k = P_{k+1} + h Dθ_k(X_k)ᵀ P_{k+1}` (row-wise
//! `p_i^k = p_i^{k+1} + h Dθ_k(x_i^k)ᵀ p_i^{k+1}`).
//!
//! Gradient in the metric `⟨θ, θ'⟩ = h Σ_k ⟨θ_k, θ'_k⟩_H` (the `L²([0,1]; H)` inner
//! product discretised, docs/theory.md §4): the derivative of `L` in a direction `δθ_k` is
//! `h Σ_i ⟨p_i^{k+1}, δθ_k(x_i^k)⟩ = h ⟨Σ_i k(·, x_i^k) p_i^{k+1}, δθ_k⟩_H`, so the
//! Riesz gradient is `G_k = Σ_i k(·, x_i^k) p_i^{k+1}` and
//! `‖G‖² = h Σ_k Σ_{ij} ⟨p_i^{k+1}, p_j^{k+1}⟩ k(x_i^k, x_j^k)` (docs/theory.md §5 item 1).
//! A gradient step `θ_k ← θ_k − η G_k` appends the `N` points `x_i^k` as centres of
//! layer `k` with coefficients `−η p_i^{k+1}`: starting from `θ = 0` the expansion form
//! is kept exactly.
//!
//! ## Growth
//!
//! After `T` steps every layer has `m = T·N` centres. Memory: centres and coefficients,
//! `2·T·N·L·d` doubles, i.e. `O(T·N·L·d)`; one forward pass costs `O(T·N²·L·d)` kernel
//! work (`N` points against `T·N` centres per layer), a gradient twice that (forward +
//! vjp), so `T` steps cost `O(T²·N²·L·d)` in total. For the width-limit experiment
//! (`N = 64`, `L = 16`, `T = 500`) with `d = 16`:
//! `2·500·64·16·16·8 B = 131 MB` of centres and coefficients, plus the `N×m` cross-Gram
//! buffer of one layer at a time (`64·32 000·8 B = 16 MB`) — far within 2 GB (even
//! `d = 64` needs 0.52 GB). [`KernelResNet::memory_bytes`] reports the exact figure
//! (vector capacities, which grow by doubling: at most twice the entries held).
//!
//! Measured once (`cargo run -p plres-resnet --example kernel_growth -- 64 16 500 16`,
//! Gaussian `σ = 1`, `η = 0.5`, on the shared 2-vCPU machine at load ≈ 11): after 500
//! steps 32 000 centres per layer, expansions 134.2 MB, peak resident memory 188 MB,
//! loss 0.995 → 0.0029, 1960 s wall in total (step 50: 0.37 s, step 500: 12.4 s; the
//! per-step time grows with `T` as stated, the spread is the machine's load). The
//! `--memory-only` mode of the same example (the same appends, no evaluation) gives
//! 16.8 MB for `d = 2` and 537 MB for `d = 64`.

use std::sync::Arc;

use faer::Accum;
use faer::{Mat, MatRef};
use plres_data::TargetsRef;
use plres_kernels::expansion::{ExpansionWorkspace, KernelExpansion};
use plres_kernels::{Kernel, KernelSpec};

use crate::checkpoint::{Checkpoint, keys};
use crate::error::{CheckpointError, ResNetError};
use crate::loss::validate_targets;
use crate::maps::{FixedMaps, check_dim};
use crate::model::Model;
use crate::report::Trajectory;

/// The infinite-width ResNet (module docs).
///
/// ```
/// use faer::Mat;
/// use plres_kernels::KernelSpec;
/// use plres_resnet::{KernelResNet, TargetsRef};
///
/// let mut net = KernelResNet::new(KernelSpec::Gaussian { sigma: 1.0 }, 2, 4).unwrap();
/// let x = Mat::from_fn(3, 2, |i, j| (i + 2 * j) as f64 * 0.3);
/// let y = Mat::from_fn(3, 2, |i, j| (i * j) as f64 * 0.2 + 0.1);
/// let r0 = net.gd_step(x.as_ref(), TargetsRef::Regression(y.as_ref()), 0.5).unwrap();
/// let r1 = net.gd_step(x.as_ref(), TargetsRef::Regression(y.as_ref()), 0.5).unwrap();
/// assert!(r1.loss < r0.loss);
/// assert_eq!(net.n_centres(), 2 * 3 * 4); // 2 steps × N × L
/// ```
#[derive(Clone, Debug)]
pub struct KernelResNet {
    spec: KernelSpec,
    kernel: Arc<dyn Kernel>,
    d: usize,
    depth: usize,
    layers: Vec<KernelExpansion>,
    maps: FixedMaps,
    steps: usize,
}

/// Loss and gradient of a [`KernelResNet`] at its current `θ`.
#[derive(Clone, Debug)]
pub struct KernelGradient {
    /// `L(θ)`.
    pub loss: f64,
    /// States `X_0..X_L`.
    pub states: Vec<Mat<f64>>,
    /// Adjoints `P_0..P_L`; the Riesz gradient is `G_k = Σ_i k(·, x_i^k) p_i^{k+1}`.
    pub adjoints: Vec<Mat<f64>>,
    /// `‖G‖² = h Σ_k tr(P_{k+1}ᵀ K(X_k, X_k) P_{k+1})`.
    pub riesz_norm_sq: f64,
}

/// What one gradient step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KernelStepReport {
    /// Loss before the step.
    pub loss: f64,
    /// `‖G‖²` before the step.
    pub riesz_norm_sq: f64,
    /// Centres over all layers after the step.
    pub n_centres: usize,
    /// Bytes held by the expansions after the step.
    pub memory_bytes: usize,
}

impl KernelResNet {
    /// `θ = 0` for `kernel` on `R^dim`, `depth` layers.
    ///
    /// # Errors
    /// [`ResNetError::ZeroDepth`], [`ResNetError::ZeroDimension`],
    /// [`ResNetError::Kernel`] (invalid kernel parameters).
    pub fn new(kernel: KernelSpec, dim: usize, depth: usize) -> Result<Self, ResNetError> {
        if depth == 0 {
            return Err(ResNetError::ZeroDepth);
        }
        if dim == 0 {
            return Err(ResNetError::ZeroDimension { what: "d (state)" });
        }
        let k: Arc<dyn Kernel> = Arc::from(kernel.build()?);
        let layers = (0..depth)
            .map(|_| KernelExpansion::new(k.clone(), dim))
            .collect();
        Ok(Self {
            spec: kernel,
            kernel: k,
            d: dim,
            depth,
            layers,
            maps: FixedMaps::default(),
            steps: 0,
        })
    }

    crate::maps::fixed_maps_methods!();

    /// The kernel's description.
    pub fn kernel_spec(&self) -> &KernelSpec {
        &self.spec
    }
    /// The kernel.
    pub fn kernel(&self) -> &Arc<dyn Kernel> {
        &self.kernel
    }
    /// The layers `θ_0..θ_{L−1}`.
    pub fn layers(&self) -> &[KernelExpansion] {
        &self.layers
    }
    /// Mutable layers (e.g. to append centres by hand).
    pub fn layers_mut(&mut self) -> &mut [KernelExpansion] {
        &mut self.layers
    }
    /// Gradient steps taken so far.
    pub fn steps(&self) -> usize {
        self.steps
    }
    /// Centres over all layers.
    pub fn n_centres(&self) -> usize {
        self.layers.iter().map(|l| l.n_centres()).sum()
    }
    /// Centres per layer.
    pub fn centres_per_layer(&self) -> Vec<usize> {
        self.layers.iter().map(|l| l.n_centres()).collect()
    }
    /// Bytes held by the expansions (centres and coefficients).
    pub fn memory_bytes(&self) -> usize {
        self.layers.iter().map(|l| l.memory_bytes()).sum()
    }
    /// `‖θ‖² = h Σ_k ‖θ_k‖²_H`.
    pub fn norm_sq(&self) -> f64 {
        let h = 1.0 / self.depth as f64;
        h * self.layers.iter().map(|l| l.norm_sq()).sum::<f64>()
    }

    /// States `X_0..X_L` for a validated batch.
    fn states(&self, x: MatRef<'_, f64>) -> Vec<Mat<f64>> {
        let n = x.nrows();
        let h = 1.0 / self.depth as f64;
        let mut states = Vec::with_capacity(self.depth + 1);
        let mut x0 = Mat::zeros(n, self.d);
        self.maps.embed(x, x0.as_mut());
        states.push(x0);
        let mut f = Mat::zeros(n, self.d);
        let mut ews = ExpansionWorkspace::new();
        for k in 0..self.depth {
            self.layers[k].eval_in_place_with(states[k].as_ref(), f.as_mut(), &mut ews);
            let next = &states[k] + h * &f;
            states.push(next);
        }
        states
    }

    fn output_of(&self, xl: MatRef<'_, f64>) -> Mat<f64> {
        let mut z = Mat::zeros(xl.nrows(), self.output_dim());
        self.maps.output(xl, z.as_mut());
        z
    }

    /// Loss, states, adjoints and `‖G‖²` at the current `θ` (module docs).
    ///
    /// # Errors
    /// Bad data or targets.
    pub fn loss_and_gradient(
        &self,
        x: MatRef<'_, f64>,
        targets: TargetsRef<'_>,
    ) -> Result<KernelGradient, ResNetError> {
        self.check_input(x)?;
        validate_targets(targets, x.nrows(), self.output_dim())?;
        let n = x.nrows();
        let h = 1.0 / self.depth as f64;
        let states = self.states(x);
        let z = self.output_of(states[self.depth].as_ref());
        let mut gz = Mat::zeros(n, self.output_dim());
        let mut adjoints: Vec<Mat<f64>> = (0..=self.depth).map(|_| Mat::zeros(n, self.d)).collect();
        let loss = self.maps.terminal_loss(
            z.as_ref(),
            targets,
            gz.as_mut(),
            adjoints[self.depth].as_mut(),
        );
        let mut tmp = Mat::zeros(n, self.d);
        let mut gram = Mat::zeros(n, n);
        let mut riesz_norm_sq = 0.0;
        let mut ews = ExpansionWorkspace::new();
        for k in (0..self.depth).rev() {
            let (head, tail) = adjoints.split_at_mut(k + 1);
            let pk1 = tail[0].as_ref();
            // ‖G_k‖²_H = tr(P_{k+1}ᵀ K(X_k, X_k) P_{k+1})
            self.kernel.gram_in_place(states[k].as_ref(), gram.as_mut());
            let kp = &gram * pk1;
            let mut s = 0.0;
            for j in 0..self.d {
                for i in 0..n {
                    s += kp[(i, j)] * pk1[(i, j)];
                }
            }
            riesz_norm_sq += h * s;
            self.layers[k].vjp_in_place_with(
                states[k].as_ref(),
                pk1,
                tmp.as_mut(),
                Accum::Replace,
                &mut ews,
            );
            head[k] = pk1 + h * &tmp;
        }
        Ok(KernelGradient {
            loss,
            states,
            adjoints,
            riesz_norm_sq,
        })
    }

    /// Applies `θ_k ← θ_k − η G_k` for a gradient computed at the current `θ`: appends
    /// the centres `x_i^k` with coefficients `−η p_i^{k+1}` to every layer.
    ///
    /// # Errors
    /// [`ResNetError::InvalidSetting`] for `η` not finite and positive;
    /// [`ResNetError::DimensionMismatch`] if `g` has another depth or dimension.
    pub fn apply_gradient(&mut self, g: &KernelGradient, eta: f64) -> Result<(), ResNetError> {
        if !(eta > 0.0 && eta.is_finite()) {
            return Err(ResNetError::InvalidSetting {
                what: "learning rate η",
                value: eta,
                reason: "must be finite and > 0",
            });
        }
        if g.states.len() != self.depth + 1 || g.adjoints.len() != self.depth + 1 {
            return Err(ResNetError::DimensionMismatch {
                what: "gradient layers (L+1 states and adjoints)",
                expected: self.depth + 1,
                found: g.states.len().min(g.adjoints.len()),
            });
        }
        check_dim("gradient state dimension (d)", self.d, g.states[0].ncols())?;
        for k in 0..self.depth {
            self.layers[k].append_scaled(g.states[k].as_ref(), g.adjoints[k + 1].as_ref(), -eta)?;
        }
        self.steps += 1;
        Ok(())
    }

    /// One gradient-descent step in the `L²` metric with learning rate `η` (module
    /// docs); returns the loss and `‖G‖²` before the step and the size after it.
    ///
    /// # Errors
    /// Bad data or targets; invalid `η`.
    pub fn gd_step(
        &mut self,
        x: MatRef<'_, f64>,
        targets: TargetsRef<'_>,
        eta: f64,
    ) -> Result<KernelStepReport, ResNetError> {
        let g = self.loss_and_gradient(x, targets)?;
        self.apply_gradient(&g, eta)?;
        Ok(KernelStepReport {
            loss: g.loss,
            riesz_norm_sq: g.riesz_norm_sq,
            n_centres: self.n_centres(),
            memory_bytes: self.memory_bytes(),
        })
    }

    /// Adds the trajectory `x_i^k` of the batch under the current `θ` as centres of
    /// layer `k` with zero coefficients (a representer dictionary for
    /// [`crate::KernelCoefficients`]); `θ` itself is unchanged.
    ///
    /// # Errors
    /// Bad data.
    pub fn add_trajectory_centres(&mut self, x: MatRef<'_, f64>) -> Result<(), ResNetError> {
        self.check_input(x)?;
        let states = self.states(x);
        let zeros = Mat::<f64>::zeros(x.nrows(), self.d);
        for (k, layer) in self.layers.iter_mut().enumerate() {
            layer.append(states[k].as_ref(), zeros.as_ref())?;
        }
        Ok(())
    }

    /// The checkpoint: `layer.{k}.centres` and `layer.{k}.coefficients` (`[m_k, d]`),
    /// optional `embed.*`, metadata with the kernel's JSON.
    pub fn to_checkpoint(&self) -> Checkpoint {
        let mut c = Checkpoint::new();
        for (k, l) in self.layers.iter().enumerate() {
            let m = l.n_centres();
            c.insert(
                format!("layer.{k}.centres"),
                vec![m, self.d],
                row_major(l.centres()),
            );
            c.insert(
                format!("layer.{k}.coefficients"),
                vec![m, self.d],
                row_major(l.coefficients()),
            );
        }
        crate::linear::io::insert_maps(&mut c, &self.maps);
        c.set_meta(keys::MODEL, "kernel_resnet");
        c.set_meta(keys::FEATURE_MAP, "none");
        c.set_meta(
            keys::KERNEL,
            serde_json::to_string(&self.spec).expect("KernelSpec serialises"),
        );
        c.set_meta(keys::BANDWIDTH, crate::linear::io::bandwidth_of(&self.spec));
        c.set_meta(keys::DEPTH, self.depth.to_string());
        c.set_meta(keys::INTEGRATOR, "euler");
        c.set_meta(keys::SEED, "none");
        c.set_meta("steps", self.steps.to_string());
        c
    }

    /// Rebuilds a network from [`KernelResNet::to_checkpoint`]'s output.
    ///
    /// # Errors
    /// [`CheckpointError`] naming the missing/ill-shaped tensor or bad metadata.
    pub fn from_checkpoint(c: &Checkpoint) -> Result<Self, CheckpointError> {
        c.expect_model("kernel_resnet")?;
        let spec = crate::linear::io::parse_kernel(c)?;
        // Count the layers present before allocating `depth` of them.
        let held = c
            .tensors
            .keys()
            .filter(|n| n.starts_with("layer.") && n.ends_with(".centres"))
            .count();
        let depth =
            c.depth_matching(Some(held), &format!("{held} `layer.{{k}}.centres` tensors"))?;
        let first = c.tensor_rank("layer.0.centres", 2)?;
        let d = first.shape[1];
        let mut net = KernelResNet::new(spec, d, depth)?;
        for k in 0..depth {
            let cname = format!("layer.{k}.centres");
            let m = c.tensor_rank(&cname, 2)?.shape[0];
            let cen = c.tensor(&cname, &[m, d])?;
            let coe = c.tensor(&format!("layer.{k}.coefficients"), &[m, d])?;
            let cen = MatRef::from_row_major_slice(cen, m, d);
            let coe = MatRef::from_row_major_slice(coe, m, d);
            net.layers[k].append(cen, coe).map_err(ResNetError::from)?;
        }
        net.maps = crate::linear::io::read_maps(c, d)?;
        net.steps = c
            .metadata
            .get("steps")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok(net)
    }

    crate::maps::checkpoint_file_methods!();
}

impl Model for KernelResNet {
    crate::maps::fixed_maps_dims!();

    fn trajectory_unchecked(&self, x: MatRef<'_, f64>) -> Trajectory {
        let states = self.states(x);
        let output = self.output_of(states[self.depth].as_ref());
        Trajectory { states, output }
    }
}

/// Row-major copy of a matrix (safetensors order).
pub(crate) fn row_major(m: MatRef<'_, f64>) -> Vec<f64> {
    let mut out = Vec::with_capacity(m.nrows() * m.ncols());
    for i in 0..m.nrows() {
        for j in 0..m.ncols() {
            out.push(m[(i, j)]);
        }
    }
    out
}
