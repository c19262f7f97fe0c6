//! Preallocated buffers of a [`super::LinearResNet`] and the forward-Euler hot loop.
//!
//! A [`LinearWorkspace`] is sized once for at most `n_max` samples (one full batch; minibatches
//! use the first rows) and holds, for forward Euler, the states `X_0..X_L`, the features
//! `Φ_k = φ(X_k)` and the feature map's vjp cache `S_k` of every layer (what the backward
//! pass needs), the adjoints `P_0..P_L`, one `N×p` scratch `V` and the output buffers.
//! A training step with a warm workspace allocates nothing: products are faer GEMMs
//! into these buffers, with faer's global parallelism above
//! [`crate::maps::PAR_THRESHOLD`].
//!
//! Memory: `8·n_max·((L+1)·2d + L·(p + cache_dim) + p + 2 d_out)` bytes for Euler when the
//! features are kept (the `Φ_k`, `S_k` dominate: 512 MiB at `N = 1024, p = 1024, L = 32`).
//! For a column-wise feature map ([`plres_rff::FeatureMap::columnwise`]) the default
//! workspace keeps no features: the tiled step of [`super::fused`] recomputes them, and the
//! buffers are `8·(n_max·((L+1)·2d + 2 d_out) + min(n_max, p)·d) + 2 tiles` bytes (the
//! `2 d_out` only with an output map `B`: with the identity the loss reads `X_L` and writes
//! `P_L` directly; the tiles `2·2·64·min(p, 128)·8` bytes, 256 KiB at most): 9 MiB at
//! `N = 1024, d = 16, L = 32`, 5 MiB for [`super::LinearResNet::training_workspace`], which
//! keeps two adjoints, not `L + 1`.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef};
use plres_rff::FeatureMap;

use crate::integrator::Integrator;
use crate::linear::field::OdeBuffers;
use crate::linear::fused;
use crate::maps::par_for;

/// Preallocated buffers for forward and backward passes of one model shape.
#[derive(Debug)]
pub struct LinearWorkspace {
    pub(crate) n_max: usize,
    pub(crate) n: usize,
    pub(crate) d: usize,
    pub(crate) p: usize,
    pub(crate) depth: usize,
    pub(crate) d_in: usize,
    pub(crate) d_out: usize,
    pub(crate) integrator: Integrator,
    /// `X_0..X_L`, `n_max × d`.
    pub(crate) states: Vec<Mat<f64>>,
    /// Euler: `Φ_0..Φ_{L−1}`, `n_max × p` (empty otherwise).
    pub(crate) phis: Vec<Mat<f64>>,
    /// Euler: vjp caches `S_0..S_{L−1}`, `n_max × cache_dim` (empty otherwise).
    pub(crate) caches: Vec<Mat<f64>>,
    /// `P_0..P_L`, `n_max × d`.
    pub(crate) adjoints: Vec<Mat<f64>>,
    /// `n_max × p` scratch (`V = h P_{k+1} U_k`).
    pub(crate) v: Mat<f64>,
    /// `Z = X_L Bᵀ`, `n_max × d_out` (empty when `B` is the identity: `Z` is `X_L`).
    pub(crate) z: Mat<f64>,
    /// `∂L/∂Z`, `n_max × d_out` (empty when `B` is the identity: the loss writes `∂L/∂Z`
    /// straight into `P_L`).
    pub(crate) gz: Mat<f64>,
    /// Whether the output map `B` is the identity (`z`, `gz` unused).
    pub(crate) identity_out: bool,
    /// Stage storage of the Runge–Kutta integrators (`None` for Euler).
    pub(crate) ode: Option<OdeBuffers>,
    /// Euler without kept features: the tiled step's buffers (`None` otherwise).
    pub(crate) tiled: Option<fused::Scratch>,
}

impl LinearWorkspace {
    /// Buffers for batches of at most `n_max` samples of a model with state dimension
    /// `d`, width `p`, vjp-cache width `cache_dim`, depth `L`, input and output
    /// dimensions `d_in`, `d_out`, and the given integrator.
    pub(crate) fn new(
        n_max: usize,
        d: usize,
        p: usize,
        cache_dim: usize,
        depth: usize,
        d_in: usize,
        d_out: usize,
        integrator: Integrator,
        keep_features: bool,
        keep_adjoints: bool,
        identity_out: bool,
    ) -> Self {
        let euler = integrator == Integrator::Euler;
        // the Runge–Kutta adjoint (plres-ode's tape) writes every P_k
        let n_adjoints = if keep_adjoints || !euler {
            depth + 1
        } else {
            2
        };
        let tiled = euler && !keep_features;
        let per_layer = |cols: usize| -> Vec<Mat<f64>> {
            if euler && keep_features {
                (0..depth).map(|_| Mat::zeros(n_max, cols)).collect()
            } else {
                Vec::new()
            }
        };
        Self {
            n_max,
            n: 0,
            d,
            p,
            depth,
            d_in,
            d_out,
            integrator,
            states: (0..=depth).map(|_| Mat::zeros(n_max, d)).collect(),
            phis: per_layer(p),
            caches: per_layer(cache_dim),
            adjoints: (0..n_adjoints).map(|_| Mat::zeros(n_max, d)).collect(),
            v: Mat::zeros(if tiled { 0 } else { n_max }, if tiled { 0 } else { p }),
            z: Mat::zeros(if identity_out { 0 } else { n_max }, d_out),
            gz: Mat::zeros(if identity_out { 0 } else { n_max }, d_out),
            identity_out,
            ode: (!euler).then(|| OdeBuffers::new(n_max, d, p, cache_dim, depth, integrator)),
            tiled: tiled.then(|| fused::Scratch::new(p, p.min(n_max) * d)),
        }
    }

    /// Largest batch these buffers hold.
    pub fn capacity(&self) -> usize {
        self.n_max
    }

    /// Number of samples of the last pass.
    pub fn n_rows(&self) -> usize {
        self.n
    }

    /// Depth `L` the buffers were made for.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// State `X_k` (`k = 0..=L`) of the last forward pass, `N×d`.
    ///
    /// # Panics
    /// If `k > L`.
    pub fn state(&self, k: usize) -> MatRef<'_, f64> {
        self.states[k].as_ref().subrows(0, self.n)
    }

    /// Adjoint `P_k = ∂L/∂X_k` (`k = 0..=L`) of the last backward pass, `N×d`. A
    /// training workspace ([`crate::Trainable::training_workspace`])
    /// keeps only `P_0` (the gradient with respect to the embedded input).
    ///
    /// # Panics
    /// If `k > L`, or `k > 0` and this workspace does not keep the adjoints
    /// ([`LinearWorkspace::keeps_adjoints`]).
    pub fn adjoint(&self, k: usize) -> MatRef<'_, f64> {
        assert!(
            k <= self.depth && (k == 0 || self.keeps_adjoints()),
            "adjoint P_{k} of a depth-{} workspace that keeps {}",
            self.depth,
            if self.keeps_adjoints() {
                "every P_k"
            } else {
                "only P_0"
            }
        );
        self.adjoints[self.adjoint_slot(k)]
            .as_ref()
            .subrows(0, self.n)
    }

    /// Whether every `P_k` of the last backward pass is kept (otherwise two `N×d` buffers
    /// alternate and only `P_0` survives the pass).
    pub fn keeps_adjoints(&self) -> bool {
        self.adjoints.len() == self.depth + 1
    }

    /// Buffer holding `P_k`.
    pub(crate) fn adjoint_slot(&self, k: usize) -> usize {
        if self.keeps_adjoints() { k } else { k % 2 }
    }

    /// Features `Φ_k = φ(X_k)` (`k < L`) kept by the last Euler training pass of a
    /// workspace made by [`LinearResNet::workspace_keeping_features`](super::LinearResNet::workspace_keeping_features)
    /// (`None` otherwise — the tiled step and the other integrators do not keep them:
    /// apply the feature map to [`LinearWorkspace::state`]).
    pub fn phi(&self, k: usize) -> Option<MatRef<'_, f64>> {
        self.phis.get(k).map(|m| m.as_ref().subrows(0, self.n))
    }

    /// Whether this workspace keeps every `Φ_k` (otherwise an Euler step is the tiled one of
    /// `fused.rs`).
    pub fn keeps_features(&self) -> bool {
        !self.phis.is_empty()
    }

    /// Bytes of the buffers held (what a training step keeps plus its scratch; for the
    /// Runge–Kutta integrators the stage tape plres-ode records during a pass is not
    /// counted).
    pub fn bytes(&self) -> usize {
        let mats = |v: &[Mat<f64>]| -> usize { v.iter().map(|m| 8 * m.nrows() * m.ncols()).sum() };
        mats(&self.states)
            + mats(&self.phis)
            + mats(&self.caches)
            + mats(&self.adjoints)
            + 8 * (self.v.nrows() * self.v.ncols()
                + self.z.nrows() * self.z.ncols()
                + self.gz.nrows() * self.gz.ncols())
            + self.tiled.as_ref().map_or(0, fused::Scratch::bytes)
    }

    /// Output `Z = X_L Bᵀ` of the last forward pass, `N×d_out`.
    pub fn output(&self) -> MatRef<'_, f64> {
        if self.identity_out {
            self.state(self.depth)
        } else {
            self.z.as_ref().subrows(0, self.n)
        }
    }

    /// The model dimensions the buffers were made for: `(d, p, L, d_in, d_out, integrator)`
    /// (a model's workspace fits it when this equals the model's own).
    pub(crate) fn dims(&self) -> (usize, usize, usize, usize, usize, Integrator) {
        (
            self.d,
            self.p,
            self.depth,
            self.d_in,
            self.d_out,
            self.integrator,
        )
    }
}

/// `U_kᵀ` as a `p×d` column-major view of the row-major `d×p` block `k` of `u`.
#[inline]
pub(crate) fn slice_t(u: &[f64], k: usize, d: usize, p: usize) -> MatRef<'_, f64> {
    MatRef::from_column_major_slice(&u[k * d * p..(k + 1) * d * p], p, d)
}

/// Mutable `p×d` column-major view of block `k` of a flat `[S, d, p]` vector.
#[inline]
pub(crate) fn slice_t_mut(u: &mut [f64], k: usize, d: usize, p: usize) -> MatMut<'_, f64> {
    MatMut::from_column_major_slice_mut(&mut u[k * d * p..(k + 1) * d * p], p, d)
}

/// Forward Euler over the first `n` rows, starting from `ws.states[0]`:
/// `Φ_k = φ(X_k)` (with the vjp cache `S_k`), `X_{k+1} = X_k + h Φ_k U_kᵀ`.
pub(crate) fn euler_forward(
    features: &dyn FeatureMap,
    u: &[f64],
    ws: &mut LinearWorkspace,
    n: usize,
) {
    let (d, p, depth) = (ws.d, ws.p, ws.depth);
    let h = 1.0 / depth as f64;
    let par = par_for(n, p, d);
    for k in 0..depth {
        let (head, tail) = ws.states.split_at_mut(k + 1);
        let xk = head[k].as_ref().subrows(0, n);
        let mut xk1 = tail[0].as_mut().subrows_mut(0, n);
        let mut phi = ws.phis[k].as_mut().subrows_mut(0, n);
        features.apply_with_cache(xk, phi.as_mut(), ws.caches[k].as_mut().subrows_mut(0, n));
        xk1.copy_from(xk);
        matmul(xk1, Accum::Add, phi.as_ref(), slice_t(u, k, d, p), h, par);
    }
}

/// Backward Euler adjoint over the first `n` rows from `ws.adjoints[L]` (already
/// `P_L`): writes `∂L/∂U_kᵀ = h Φ_kᵀ P_{k+1}` into block `k` of `grad` and
/// `P_k = P_{k+1} + vjp(S_k, h P_{k+1} U_k)`.
pub(crate) fn euler_backward(
    features: &dyn FeatureMap,
    u: &[f64],
    ws: &mut LinearWorkspace,
    n: usize,
    grad: &mut [f64],
) {
    let (d, p, depth) = (ws.d, ws.p, ws.depth);
    let h = 1.0 / depth as f64;
    let par = par_for(n, p, d);
    for k in (0..depth).rev() {
        let (pk1, pk) = adjoint_pair(&mut ws.adjoints, depth, k);
        let pk1 = pk1.as_ref().subrows(0, n);
        let mut pk = pk.as_mut().subrows_mut(0, n);
        let phi = ws.phis[k].as_ref().subrows(0, n);
        matmul(
            slice_t_mut(grad, k, d, p),
            Accum::Replace,
            phi.transpose(),
            pk1,
            h,
            par,
        );
        let mut v = ws.v.as_mut().subrows_mut(0, n);
        matmul(
            v.as_mut(),
            Accum::Replace,
            pk1,
            slice_t(u, k, d, p).transpose(),
            h,
            par,
        );
        pk.copy_from(pk1);
        features.vjp_in_place(ws.caches[k].as_ref().subrows(0, n), v, pk, Accum::Add);
    }
}

/// `(P_{k+1}, P_k)` from the adjoint buffers of a depth-`depth` pass: every `P_k` kept
/// (`depth + 1` buffers) or two alternating buffers (`P_k` in buffer `k mod 2`).
pub(crate) fn adjoint_pair(
    adjoints: &mut [Mat<f64>],
    depth: usize,
    k: usize,
) -> (&Mat<f64>, &mut Mat<f64>) {
    if adjoints.len() == depth + 1 {
        let (head, tail) = adjoints.split_at_mut(k + 1);
        (&tail[0], &mut head[k])
    } else {
        let (a, b) = adjoints.split_at_mut(1);
        if k.is_multiple_of(2) {
            (&b[0], &mut a[0])
        } else {
            (&a[0], &mut b[0])
        }
    }
}

/// Forward Euler without caches for prediction, over `n` rows, into `states` (`L+1`
/// buffers) using one `Φ` scratch buffer.
pub(crate) fn euler_forward_eval(
    features: &dyn FeatureMap,
    u: &[f64],
    states: &mut [Mat<f64>],
    phi: &mut Mat<f64>,
    n: usize,
    d: usize,
    p: usize,
) {
    let depth = states.len() - 1;
    let h = 1.0 / depth as f64;
    let par = par_for(n, p, d);
    for k in 0..depth {
        let (head, tail) = states.split_at_mut(k + 1);
        let xk = head[k].as_ref().subrows(0, n);
        let mut xk1 = tail[0].as_mut().subrows_mut(0, n);
        let mut phi = phi.as_mut().subrows_mut(0, n);
        features.apply_in_place(xk, phi.as_mut());
        xk1.copy_from(xk);
        matmul(xk1, Accum::Add, phi.as_ref(), slice_t(u, k, d, p), h, par);
    }
}
