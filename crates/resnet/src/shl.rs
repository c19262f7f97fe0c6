//! `ShlResNet`: the non-linear baseline of the reference study (docs/theory.md §3.3).
//!
//! Residual `f_k(x) = U_k s σ(W_k x + c_k)` with `U_k ∈ R^{d×p}`, `W_k ∈ R^{p×d}`,
//! `c_k ∈ R^p` all trained (mean-field-like), `s = √(2/p)`, `σ` = ReLU (the study) or
//! `tanh`. With `W_k = W`, `c_k = c` for every `k` and frozen, this is exactly the
//! [`crate::LinearResNet`] over random ReLU features `√(2/p) relu(Wx + c)`; the scale `s`
//! makes the two start from the same network.
//!
//! Forward Euler, one sample per row: `Z_k = X_k W_kᵀ + 1 c_kᵀ`, `A_k = s σ(Z_k)`,
//! `X_{k+1} = X_k + h A_k U_kᵀ`. Adjoint with `D_k = s σ'(Z_k)`:
//! `∂L/∂U_kᵀ = h A_kᵀ P_{k+1}`, `Δ_k = (h P_{k+1} U_k) ⊙ D_k`,
//! `∂L/∂W_kᵀ = X_kᵀ Δ_k`, `∂L/∂c_k = Δ_kᵀ 1`, `P_k = P_{k+1} + Δ_k W_k`.
//! (At a ReLU kink `σ'(0) = 0`; finite-difference tests use `tanh`.)
//!
//! Parameters, flat: `[U (L·d·p) | W (L·p·d) | c (L·p)]`, each block row-major as the
//! safetensors tensors `residual.u` `[L,d,p]`, `residual.w` `[L,p,d]`, `residual.c`
//! `[L,p]`. Metric: weight `h` on every layer's `(U_k, W_k, c_k)` (the `L²` metric in
//! depth).

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef};
use plres_data::TargetsRef;
use plres_optim::Metric;
use plres_simd::clear_upper_state;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, keys};
use crate::error::{CheckpointError, ResNetError};
use crate::linear::Init;
use crate::maps::{FixedMaps, par_for};
use crate::model::{Model, Trainable, Workspace};
use crate::report::Trajectory;

/// The activation `σ`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `max(z, 0)` (the study), `σ'(z) = [z > 0]`.
    #[default]
    Relu,
    /// `tanh z`, `σ' = 1 − tanh²` (smooth: used by finite-difference tests).
    Tanh,
}

impl Activation {
    fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
        }
    }
}

/// Shape and initialisation of a [`ShlResNet`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShlResNetConfig {
    /// State dimension `d ≥ 1`.
    pub dim: usize,
    /// Width `p ≥ 1`.
    pub width: usize,
    /// Depth `L ≥ 1`. Default 16.
    pub depth: usize,
    /// `σ`. Default ReLU.
    pub activation: Activation,
    /// Initial `U`. Default zero.
    pub init_u: Init,
    /// Seed of the `N(0,1)` draw of `W_k`, `c_k`.
    pub seed: u64,
    /// Whether all layers start from the same draw `W_k = W`, `c_k = c` (default
    /// `true`: the network starts as the LinearResNet over random ReLU features).
    pub shared_init: bool,
}

impl Default for ShlResNetConfig {
    fn default() -> Self {
        Self {
            dim: 2,
            width: 64,
            depth: 16,
            activation: Activation::Relu,
            init_u: Init::Zero,
            seed: 0,
            shared_init: true,
        }
    }
}

/// The non-linear baseline (module docs).
#[derive(Clone, Debug)]
pub struct ShlResNet {
    d: usize,
    p: usize,
    depth: usize,
    activation: Activation,
    scale: f64,
    seed: Option<u64>,
    params: Vec<f64>,
    maps: FixedMaps,
}

/// Preallocated buffers of a [`ShlResNet`] (states, activations `A_k`, derivatives
/// `D_k`, adjoints, scratch); a training step with a warm workspace allocates nothing.
#[derive(Debug)]
pub struct ShlWorkspace {
    n_max: usize,
    n: usize,
    shape: (usize, usize, usize, usize, usize),
    states: Vec<Mat<f64>>,
    acts: Vec<Mat<f64>>,
    ders: Vec<Mat<f64>>,
    adjoints: Vec<Mat<f64>>,
    delta: Mat<f64>,
    z: Mat<f64>,
    gz: Mat<f64>,
}

impl ShlWorkspace {
    /// State `X_k` of the last pass.
    pub fn state(&self, k: usize) -> MatRef<'_, f64> {
        self.states[k].as_ref().subrows(0, self.n)
    }
    /// Adjoint `P_k` of the last backward pass.
    pub fn adjoint(&self, k: usize) -> MatRef<'_, f64> {
        self.adjoints[k].as_ref().subrows(0, self.n)
    }
    /// Hidden features `A_k = s σ(X_k W_kᵀ + c_k)` of the last pass.
    pub fn activations(&self, k: usize) -> MatRef<'_, f64> {
        self.acts[k].as_ref().subrows(0, self.n)
    }
    /// Output `Z` of the last pass.
    pub fn output(&self) -> MatRef<'_, f64> {
        self.z.as_ref().subrows(0, self.n)
    }
}

impl ShlResNet {
    /// A baseline network; `W_k`, `c_k` drawn from `N(0,1)` with `config.seed`.
    ///
    /// # Errors
    /// [`ResNetError::ZeroDepth`], [`ResNetError::ZeroWidth`],
    /// [`ResNetError::ZeroDimension`], [`ResNetError::InvalidSetting`].
    pub fn new(config: ShlResNetConfig) -> Result<Self, ResNetError> {
        let (d, p, depth) = (config.dim, config.width, config.depth);
        if depth == 0 {
            return Err(ResNetError::ZeroDepth);
        }
        if p == 0 {
            return Err(ResNetError::ZeroWidth);
        }
        if d == 0 {
            return Err(ResNetError::ZeroDimension { what: "d (state)" });
        }
        let mut net = Self {
            d,
            p,
            depth,
            activation: config.activation,
            scale: (2.0 / p as f64).sqrt(),
            seed: Some(config.seed),
            params: crate::maps::zeros_checked(
                "parameters (depth·(2dp + p))",
                d.checked_mul(p)
                    .and_then(|dp| dp.checked_mul(2))
                    .and_then(|s| s.checked_add(p))
                    .and_then(|s| s.checked_mul(depth)),
                || format!("depth {depth} · (2 · d {d} · p {p} + p)"),
            )?,
            maps: FixedMaps::default(),
        };
        let nu = depth * d * p;
        config.init_u.fill(&mut net.params[..nu])?;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let layers = if config.shared_init { 1 } else { depth };
        let (w_len, c_len) = (p * d, p);
        for k in 0..layers {
            for v in &mut net.params[nu + k * w_len..nu + (k + 1) * w_len] {
                *v = StandardNormal.sample(&mut rng);
            }
            let c0 = nu + depth * w_len + k * c_len;
            for v in &mut net.params[c0..c0 + c_len] {
                *v = StandardNormal.sample(&mut rng);
            }
        }
        if config.shared_init {
            for k in 1..depth {
                net.params.copy_within(nu..nu + w_len, nu + k * w_len);
                let c0 = nu + depth * w_len;
                net.params.copy_within(c0..c0 + c_len, c0 + k * c_len);
            }
        }
        Ok(net)
    }

    crate::maps::fixed_maps_methods!();

    /// Width `p`.
    pub fn width(&self) -> usize {
        self.p
    }
    /// The activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }
    /// `U_k ∈ R^{d×p}`.
    pub fn u(&self, k: usize) -> MatRef<'_, f64> {
        u_t(&self.params, k, self.d, self.p).transpose()
    }
    /// `W_k ∈ R^{p×d}`.
    pub fn w(&self, k: usize) -> MatRef<'_, f64> {
        w_t(&self.params, k, self.d, self.p, self.depth).transpose()
    }
    /// `c_k ∈ R^p`.
    pub fn c(&self, k: usize) -> &[f64] {
        let o = self.c_offset() + k * self.p;
        &self.params[o..o + self.p]
    }

    fn c_offset(&self) -> usize {
        self.depth * 2 * self.d * self.p
    }

    /// Buffers for batches of up to `n_max` samples.
    fn new_workspace(&self, n_max: usize) -> ShlWorkspace {
        let (d, p, depth) = (self.d, self.p, self.depth);
        ShlWorkspace {
            n_max,
            n: 0,
            shape: (d, p, depth, self.input_dim(), self.output_dim()),
            states: (0..=depth).map(|_| Mat::zeros(n_max, d)).collect(),
            acts: (0..depth).map(|_| Mat::zeros(n_max, p)).collect(),
            ders: (0..depth).map(|_| Mat::zeros(n_max, p)).collect(),
            adjoints: (0..=depth).map(|_| Mat::zeros(n_max, d)).collect(),
            delta: Mat::zeros(n_max, p),
            z: Mat::zeros(n_max, self.output_dim()),
            gz: Mat::zeros(n_max, self.output_dim()),
        }
    }

    /// Forward Euler into `ws` (states, `A_k`, `D_k`, output).
    fn forward_into(&self, params: &[f64], ws: &mut ShlWorkspace, x: MatRef<'_, f64>) {
        let (d, p, depth) = (self.d, self.p, self.depth);
        let n = x.nrows();
        ws.n = n;
        let h = 1.0 / depth as f64;
        let par = par_for(n, p, d);
        self.maps.embed(x, ws.states[0].as_mut().subrows_mut(0, n));
        let c0 = self.c_offset();
        for k in 0..depth {
            let (head, tail) = ws.states.split_at_mut(k + 1);
            let xk = head[k].as_ref().subrows(0, n);
            let a = &mut ws.acts[k];
            matmul(
                a.as_mut().subrows_mut(0, n),
                Accum::Replace,
                xk,
                w_t(params, k, d, p, depth),
                1.0,
                par,
            );
            let ck = &params[c0 + k * p..c0 + (k + 1) * p];
            let der = &mut ws.ders[k];
            clear_upper_state();
            for j in 0..p {
                let zc = &mut a.col_as_slice_mut(j)[..n];
                let dc = &mut der.col_as_slice_mut(j)[..n];
                activate(self.activation, self.scale, ck[j], zc, dc);
            }
            let mut xk1 = tail[0].as_mut().subrows_mut(0, n);
            xk1.copy_from(xk);
            matmul(
                xk1,
                Accum::Add,
                a.as_ref().subrows(0, n),
                u_t(params, k, d, p),
                h,
                par,
            );
        }
        let xl = ws.states[depth].as_ref().subrows(0, n);
        self.maps.output(xl, ws.z.as_mut().subrows_mut(0, n));
    }

    /// Panics unless `ws` was made for this model and holds `n` rows.
    #[track_caller]
    fn assert_workspace(&self, ws: &ShlWorkspace, n: usize) {
        let want = (
            self.d,
            self.p,
            self.depth,
            self.input_dim(),
            self.output_dim(),
        );
        assert!(
            ws.shape == want,
            "ShlWorkspace made for (d, p, L, d_in, d_out) = {:?}, model has {:?}",
            ws.shape,
            want
        );
        assert!(
            n <= ws.n_max,
            "batch of N={n} rows over the ShlWorkspace capacity n_max={}",
            ws.n_max
        );
    }

    /// The checkpoint (`residual.u`, `residual.w`, `residual.c`, optional `embed.*`).
    pub fn to_checkpoint(&self) -> Checkpoint {
        let (d, p, depth) = (self.d, self.p, self.depth);
        let mut c = Checkpoint::new();
        let nu = depth * d * p;
        c.insert("residual.u", vec![depth, d, p], self.params[..nu].to_vec());
        c.insert(
            "residual.w",
            vec![depth, p, d],
            self.params[nu..2 * nu].to_vec(),
        );
        c.insert("residual.c", vec![depth, p], self.params[2 * nu..].to_vec());
        crate::linear::io::insert_maps(&mut c, &self.maps);
        c.set_meta(keys::MODEL, "shl_resnet");
        c.set_meta(keys::FEATURE_MAP, format!("shl_{}", self.activation.name()));
        c.set_meta(keys::KERNEL, "none");
        c.set_meta(keys::BANDWIDTH, "none");
        c.set_meta(keys::DEPTH, depth.to_string());
        c.set_meta(keys::INTEGRATOR, "euler");
        c.set_meta_optional(keys::SEED, self.seed);
        c
    }

    /// Rebuilds a network from a checkpoint written by [`ShlResNet::to_checkpoint`].
    ///
    /// # Errors
    /// [`CheckpointError`] naming the missing/ill-shaped tensor or bad metadata.
    pub fn from_checkpoint(c: &Checkpoint) -> Result<Self, CheckpointError> {
        c.expect_model("shl_resnet")?;
        let activation = match c.meta(keys::FEATURE_MAP)? {
            "shl_relu" => Activation::Relu,
            "shl_tanh" => Activation::Tanh,
            other => {
                return Err(CheckpointError::InvalidMetadata {
                    key: keys::FEATURE_MAP,
                    value: other.to_string(),
                    reason: "expected shl_relu or shl_tanh".into(),
                });
            }
        };
        let ut = c.tensor_dims("residual.u", 3)?;
        let (slices, d, p) = (ut.shape[0], ut.shape[1], ut.shape[2]);
        let depth =
            c.depth_matching(Some(slices), &format!("`residual.u` holds {slices} slices"))?;
        let u = &ut.data;
        let w = c.tensor("residual.w", &[depth, p, d])?;
        let cc = c.tensor("residual.c", &[depth, p])?;
        let seed = c.meta_parse_optional::<u64>(keys::SEED)?;
        let mut net = ShlResNet::new(ShlResNetConfig {
            dim: d,
            width: p,
            depth,
            activation,
            init_u: Init::Zero,
            seed: 0,
            shared_init: true,
        })?;
        net.seed = seed;
        net.params.clear();
        net.params.extend_from_slice(u);
        net.params.extend_from_slice(w);
        net.params.extend_from_slice(cc);
        net.maps = crate::linear::io::read_maps(c, d)?;
        Ok(net)
    }

    crate::maps::checkpoint_file_methods!();
}

impl Model for ShlResNet {
    crate::maps::fixed_maps_dims!();

    fn trajectory_unchecked(&self, x: MatRef<'_, f64>) -> Trajectory {
        self.trajectory_at_unchecked(&self.params, x)
    }
}

impl Trainable for ShlResNet {
    type Workspace = ShlWorkspace;

    crate::maps::flat_params!(
        /// The flat parameters `[U | W | c]` (module docs): `L(2dp + p)` values.
        params
    );

    /// The `L²`-in-depth metric: weight `h` on every parameter.
    fn metric(&self) -> Metric {
        Metric::blocks(vec![(self.params.len(), 1.0 / self.depth as f64)])
            .expect("h > 0 and a non-empty block")
    }

    fn training_workspace(&self, n_max: usize) -> ShlWorkspace {
        self.new_workspace(n_max)
    }

    crate::maps::trajectory_from_forward!(new_workspace);

    /// States, activations and adjoints stay in `ws`.
    #[track_caller]
    fn loss_and_gradient_unchecked(
        &self,
        params: &[f64],
        ws: &mut ShlWorkspace,
        x: MatRef<'_, f64>,
        targets: TargetsRef<'_>,
        grad: &mut [f64],
    ) -> f64 {
        self.assert_workspace(ws, x.nrows());
        let (d, p, depth) = (self.d, self.p, self.depth);
        let n = x.nrows();
        let h = 1.0 / depth as f64;
        let par = par_for(n, p, d);
        self.forward_into(params, ws, x);
        let loss = self.maps.terminal_loss(
            ws.z.as_ref().subrows(0, n),
            targets,
            ws.gz.as_mut().subrows_mut(0, n),
            ws.adjoints[depth].as_mut().subrows_mut(0, n),
        );
        let nu = depth * d * p;
        let (gu, rest) = grad.split_at_mut(nu);
        let (gw, gc) = rest.split_at_mut(depth * p * d);
        for k in (0..depth).rev() {
            let (head, tail) = ws.adjoints.split_at_mut(k + 1);
            let pk1 = tail[0].as_ref().subrows(0, n);
            let xk = ws.states[k].as_ref().subrows(0, n);
            // ∂L/∂U_kᵀ = h A_kᵀ P_{k+1}
            matmul(
                MatMut::from_column_major_slice_mut(&mut gu[k * d * p..(k + 1) * d * p], p, d),
                Accum::Replace,
                ws.acts[k].as_ref().subrows(0, n).transpose(),
                pk1,
                h,
                par,
            );
            // Δ = (h P_{k+1} U_k) ⊙ D_k
            matmul(
                ws.delta.as_mut().subrows_mut(0, n),
                Accum::Replace,
                pk1,
                u_t(params, k, d, p).transpose(),
                h,
                par,
            );
            let gck = &mut gc[k * p..(k + 1) * p];
            for j in 0..p {
                let dc = &mut ws.delta.col_as_slice_mut(j)[..n];
                let der = &ws.ders[k].col_as_slice(j)[..n];
                let mut s = 0.0;
                for (v, &g) in dc.iter_mut().zip(der) {
                    *v *= g;
                    s += *v;
                }
                gck[j] = s;
            }
            let delta = ws.delta.as_ref().subrows(0, n);
            // ∂L/∂W_kᵀ = X_kᵀ Δ
            matmul(
                MatMut::from_column_major_slice_mut(&mut gw[k * p * d..(k + 1) * p * d], d, p),
                Accum::Replace,
                xk.transpose(),
                delta,
                1.0,
                par,
            );
            // P_k = P_{k+1} + Δ W_k
            let mut pk = head[k].as_mut().subrows_mut(0, n);
            pk.copy_from(pk1);
            matmul(
                pk,
                Accum::Add,
                delta,
                w_t(params, k, d, p, depth).transpose(),
                1.0,
                par,
            );
        }
        loss
    }
}

impl Workspace for ShlWorkspace {
    fn capacity(&self) -> usize {
        self.n_max
    }
}

/// `U_kᵀ` (`p×d` view) of the flat parameters.
fn u_t(params: &[f64], k: usize, d: usize, p: usize) -> MatRef<'_, f64> {
    MatRef::from_column_major_slice(&params[k * d * p..(k + 1) * d * p], p, d)
}

/// `W_kᵀ` (`d×p` view) of the flat parameters.
fn w_t(params: &[f64], k: usize, d: usize, p: usize, depth: usize) -> MatRef<'_, f64> {
    let o = depth * d * p + k * p * d;
    MatRef::from_column_major_slice(&params[o..o + p * d], d, p)
}

/// On one column `z` of pre-activations (without bias): `z ← s σ(z + c)`,
/// `der ← s σ'(z + c)`.
#[inline]
fn activate(act: Activation, s: f64, c: f64, z: &mut [f64], der: &mut [f64]) {
    match act {
        Activation::Relu => {
            for (v, g) in z.iter_mut().zip(der.iter_mut()) {
                let t = *v + c;
                let pos = t > 0.0;
                *v = if pos { s * t } else { 0.0 };
                *g = if pos { s } else { 0.0 };
            }
        }
        Activation::Tanh => {
            for (v, g) in z.iter_mut().zip(der.iter_mut()) {
                let t = (*v + c).tanh();
                *v = s * t;
                *g = s * (1.0 - t * t);
            }
        }
    }
}
