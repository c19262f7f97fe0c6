//! The certificate of a finite-width [`LinearResNet`] at a parameter `θ`, computed with
//! reusable buffers.
//!
//! Per layer (Euler) or node (interpolated integrators) `k`, with `X^k` the states of
//! the model's own forward pass:
//! * `Φ_k = φ(X^k)` and the feature map's vjp cache, one feature evaluation;
//! * `K_k = Φ_kΦ_kᵀ` by a lower-triangular GEMM, `λ_k = λ_min(K_k)` — for `N > 64` a
//!   Lanczos estimate certified from below by a Cholesky factorisation
//!   ([`CertifiedLambdaMin`]: a lower bound within `1e-10` relative in the usual case,
//!   exact symmetric QR otherwise), so `μ_cert` is never overestimated;
//! * `M_i = U_k Dφ(x_i^k)` for all `i` at once: row `c` of every `M_i` is
//!   `Dφ(x_i)ᵀ U_k[c,:]ᵀ`, i.e. the feature map's vjp with all rows of `V` equal to
//!   `U_k[c,:]` — `d` vjps, each an `N×p` Hadamard product and an `(N×p)·(p×d)` GEMM, for
//!   any feature map; for maps whose vjp is `(V ⊙ cache) W̃` (all plres-rff maps, verified
//!   once numerically) the same `M_i` come from one `(N×p)·(p×d²)` GEMM. Then `a_k = max_i ‖M_i‖_op` from `λ_max(M_iᵀM_i)`
//!   (`d×d` symmetric eigenvalues), split over two threads;
//! * Euler only: `tr(P^{k+1ᵀ} K_k P^{k+1})` (item 1) from one `N×N×d` GEMM, and
//!   `‖P^{k+1}‖²_F`.
//!
//! Cost per layer: `2Npd` (features) `+ N²p` (Gram) `+ 2Npd²` (Jacobians) `+ O(N³)`
//! (`λ_min`) `+ O(N d³)` (operator norms), plus one forward and backward pass of the
//! model for `L(θ)`, `G` and `P`. Nothing is allocated after the first call.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use plres_optim::Metric;
use plres_resnet::{Integrator, LinearResNet, LinearWorkspace, TargetsRef};
use plres_resnet::{Model as _, Trainable as _};
use plres_rff::FeatureMap;

use crate::error::TheoryError;
use crate::linalg::{MaxOpNorm, gram_in_place};
use crate::pl::certificate::{continuous_analogue_cells, continuous_analogue_nodes, mu_cert};
use crate::pl::snapshot::{CertificateKind, PlSnapshot};
use plres_kernels::spectral::CertifiedLambdaMin;

pub(crate) fn model_err(e: impl std::fmt::Display) -> TheoryError {
    TheoryError::Model(e.to_string())
}

/// Below this many multiply–adds a product runs on one thread.
const PAR_WORK: usize = 1 << 18;

pub(crate) fn par_for(work: usize) -> Par {
    if work >= PAR_WORK {
        Par::rayon(2)
    } else {
        Par::Seq
    }
}

/// The Euler item-1 sums over layers (docs/theory.md §5): `identity = h Σ_k tr(Pᵀ K P)`
/// and the rounding scales `scale = h Σ_k (Σ_i ‖p_i‖ √K_ii)²`,
/// `eig_scale = h Σ_k tr K · ‖P‖²_F` (`P = P^{k+1}`, `K = K_k`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct IdentitySums {
    pub(crate) identity: f64,
    pub(crate) scale: f64,
    pub(crate) eig_scale: f64,
}

impl IdentitySums {
    /// Adds layer `k` from `KP = K P` and `P` (`N×d`), `K_ii` given by `k_ii(i)`; returns
    /// `‖P‖²_F`.
    #[inline]
    pub(crate) fn add_layer(
        &mut self,
        h: f64,
        kp: MatRef<'_, f64>,
        pk1: MatRef<'_, f64>,
        mut k_ii: impl FnMut(usize) -> f64,
    ) -> f64 {
        let (mut tr, mut pn, mut s, mut trace_k) = (0.0, 0.0, 0.0, 0.0);
        for i in 0..pk1.nrows() {
            let mut pi2 = 0.0;
            for c in 0..pk1.ncols() {
                tr += kp[(i, c)] * pk1[(i, c)];
                pi2 += pk1[(i, c)] * pk1[(i, c)];
            }
            let kii = k_ii(i);
            pn += pi2;
            s += (pi2 * kii).sqrt();
            trace_k += kii;
        }
        self.identity += h * tr;
        self.scale += h * s * s;
        self.eig_scale += h * trace_k * pn;
        pn
    }
}

/// `X` must be `n × d_in` (the certifier's `N`, the model's input dimension).
pub(crate) fn check_x(x: MatRef<'_, f64>, n: usize, d_in: usize) -> Result<(), TheoryError> {
    if x.nrows() != n {
        return Err(TheoryError::Shape {
            what: "rows of X (the certifier's N)",
            expected: n,
            got: x.nrows(),
        });
    }
    if x.ncols() != d_in {
        return Err(TheoryError::Shape {
            what: "columns of X (the model's d_in)",
            expected: d_in,
            got: x.ncols(),
        });
    }
    Ok(())
}

/// The start of a certifier's `Debug`: its name and the shape `n`, `d`, `p`, `depth`.
pub(crate) fn debug_shape<'a, 'b>(
    f: &'a mut std::fmt::Formatter<'b>,
    name: &str,
    [n, d, p, depth]: [usize; 4],
) -> std::fmt::DebugStruct<'a, 'b> {
    let mut s = f.debug_struct(name);
    s.field("n", &n)
        .field("d", &d)
        .field("p", &p)
        .field("depth", &depth);
    s
}

/// `σ_min(Bᵀ)² = λ_min(BBᵀ)` of an output map `B` (`d_out×d`); 1 for `None` (identity).
/// Zero when `d_out > d` (then `Bᵀ` has a kernel and the certificate is void).
///
/// # Errors
/// [`TheoryError::NoConvergence`], [`TheoryError::Spectral`].
pub fn sigma_min_sq(b: Option<MatRef<'_, f64>>) -> Result<f64, TheoryError> {
    match b {
        None => Ok(1.0),
        Some(b) => {
            let bbt = b * b.transpose();
            Ok(
                plres_kernels::spectral::SymEigen::new(bbt.nrows(), Par::Seq)
                    .lambda_min(bbt.as_ref())?
                    .max(0.0),
            )
        }
    }
}

/// Reusable buffers computing [`PlSnapshot`]s of one [`LinearResNet`] shape on one data
/// set of `N` samples (module docs).
pub struct LinearCertifier {
    n: usize,
    d: usize,
    p: usize,
    depth: usize,
    integrator: Integrator,
    metric: Metric,
    sigma_b_sq: f64,
    ws: LinearWorkspace,
    grad: Vec<f64>,
    phi: Mat<f64>,
    cache: Mat<f64>,
    v: Mat<f64>,
    /// `N × d²`: columns `c·d..(c+1)·d` hold row `c` of every `M_i`.
    jac: Mat<f64>,
    /// `X^k` of the certificate's own Euler forward pass ([`LinearCertifier::certify`]).
    xk: Mat<f64>,
    /// The fused Jacobian path when the map's vjp is `(V ⊙ cache) W̃` (verified).
    fused: Option<Fused>,
    gram: Mat<f64>,
    kp: Mat<f64>,
    eig: CertifiedLambdaMin,
    opn: MaxOpNorm,
    lambda: Vec<f64>,
    a: Vec<f64>,
    adj: Vec<f64>,
}

impl std::fmt::Debug for LinearCertifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_shape(f, "LinearCertifier", [self.n, self.d, self.p, self.depth])
            .field("integrator", &self.integrator)
            .finish_non_exhaustive()
    }
}

impl LinearCertifier {
    /// Buffers for `model`'s shape and batches of `n` samples.
    ///
    /// # Errors
    /// [`TheoryError::InvalidParameter`] for `n = 0`; [`TheoryError::Spectral`] (the
    /// singular values of `B`).
    pub fn new(model: &LinearResNet, n: usize) -> Result<Self, TheoryError> {
        if n == 0 {
            return Err(TheoryError::InvalidParameter {
                name: "n",
                value: 0.0,
                expected: "at least one sample",
            });
        }
        let (d, p, depth) = (model.dim(), model.width(), model.depth());
        let nodes = model.n_slices();
        let cache_dim = model.features().cache_dim();
        Ok(Self {
            n,
            d,
            p,
            depth,
            integrator: model.integrator(),
            metric: model.metric(),
            sigma_b_sq: sigma_min_sq(model.maps().embed_out.as_ref().map(|b| b.as_ref()))?,
            ws: model.workspace(n),
            grad: vec![0.0; model.n_params()],
            phi: Mat::zeros(n, p),
            cache: Mat::zeros(n, cache_dim),
            v: Mat::zeros(n, p),
            jac: Mat::zeros(n, d * d),
            xk: Mat::zeros(n, d),
            fused: Fused::detect(model.features().as_ref()),
            gram: Mat::zeros(n, n),
            kp: Mat::zeros(n, d),
            eig: CertifiedLambdaMin::new(n, par_for(n * n * n)),
            opn: MaxOpNorm::new(d),
            lambda: vec![0.0; nodes],
            a: vec![0.0; nodes],
            adj: vec![0.0; nodes],
        })
    }

    /// `σ_min(Bᵀ)²` of the model's output map.
    pub fn sigma_b_sq(&self) -> f64 {
        self.sigma_b_sq
    }

    /// The snapshot of docs/theory.md §5 at `params` (layout of [`LinearResNet::params`]) for the
    /// squared loss on `(x, y)`.
    ///
    /// # Errors
    /// The model's data errors (shapes, non-finite values, wrong parameter length) as
    /// [`TheoryError::Model`]; [`TheoryError::Shape`] when `x` does not have the `N` rows
    /// the certifier was made for; [`TheoryError::NoConvergence`],
    /// [`TheoryError::Spectral`].
    ///
    /// # Panics
    /// If `model` does not have the shape the certifier was made for.
    pub fn evaluate(
        &mut self,
        model: &LinearResNet,
        params: &[f64],
        x: MatRef<'_, f64>,
        y: MatRef<'_, f64>,
    ) -> Result<PlSnapshot, TheoryError> {
        self.check_shape(model, x)?;
        let loss = model
            .loss_and_gradient(
                params,
                &mut self.ws,
                x,
                TargetsRef::Regression(y),
                &mut self.grad,
            )
            .map_err(model_err)?;
        let grad_norm_sq = self.metric.dual_norm_sq(&self.grad);
        let (n, d, p, depth) = (self.n, self.d, self.p, self.depth);
        let h = 1.0 / depth as f64;
        let euler = self.integrator == Integrator::Euler;
        let nodes = self.lambda.len();
        let features: &dyn FeatureMap = model.features().as_ref();
        let mut sums = IdentitySums::default();
        for k in 0..nodes {
            features.apply_with_cache(self.ws.state(k), self.phi.as_mut(), self.cache.as_mut());
            self.layer_quantities(features, params, k)?;
            if euler {
                // item 1 term tr(Pᵀ K P), ‖P‖², and the rounding scales
                let pk1 = self.ws.adjoint(k + 1);
                matmul(
                    self.kp.as_mut(),
                    Accum::Replace,
                    self.gram.as_ref(),
                    pk1,
                    1.0,
                    par_for(n * n * d),
                );
                let phi = &self.phi;
                self.adj[k] = sums.add_layer(h, self.kp.as_ref(), pk1, |i| {
                    let mut fi2 = 0.0;
                    for j in 0..p {
                        fi2 += phi[(i, j)] * phi[(i, j)];
                    }
                    fi2
                });
            }
        }
        let extras = euler.then(|| EulerExtras {
            identity: Some(sums.identity),
            kernel_bound: Some(
                h * self
                    .lambda
                    .iter()
                    .zip(&self.adj)
                    .map(|(l, q)| l * q)
                    .sum::<f64>(),
            ),
            adjoint_norm_sq: self.adj.clone(),
            terminal: frob_sq(self.ws.adjoint(depth)),
            scale: sums.scale,
            eig_scale: sums.eig_scale,
        });
        Ok(self.snapshot(loss, grad_norm_sq, extras))
    }

    /// `λ_k`, `a_k` (into `self.lambda[k]`, `self.a[k]`) and the Gram `K_k` (left in
    /// `self.gram`) from `Φ_k`, the vjp cache (already in `self.phi`, `self.cache`) and
    /// the slice `U_k` of `params`.
    fn layer_quantities(
        &mut self,
        features: &dyn FeatureMap,
        params: &[f64],
        k: usize,
    ) -> Result<(), TheoryError> {
        let (n, d, p) = (self.n, self.d, self.p);
        gram_in_place(self.phi.as_ref(), self.gram.as_mut(), par_for(n * n * p));
        self.lambda[k] = self.eig.lambda_min(self.gram.as_ref())?;
        // a_k from the Jacobians M_i = U_k Dφ(x_i)
        let uk = &params[k * d * p..(k + 1) * d * p];
        if let Some(f) = &mut self.fused {
            // M = S T with T[j, c·d + e] = U_k[c, j] W̃[j, e]: one (N×p)·(p×d²) GEMM
            for c in 0..d {
                let row = &uk[c * p..(c + 1) * p];
                for e in 0..d {
                    let wcol = f.w.col(e);
                    let mut tcol = f.t.col_mut(c * d + e);
                    for j in 0..p {
                        tcol[j] = row[j] * wcol[j];
                    }
                }
            }
            matmul(
                self.jac.as_mut(),
                Accum::Replace,
                self.cache.as_ref(),
                f.t.as_ref(),
                1.0,
                par_for(n * p * d * d),
            );
        } else {
            for c in 0..d {
                let row = &uk[c * p..(c + 1) * p];
                for (j, &val) in row.iter().enumerate() {
                    self.v.col_mut(j).fill(val);
                }
                features.vjp_in_place(
                    self.cache.as_ref(),
                    self.v.as_mut(),
                    self.jac.as_mut().subcols_mut(c * d, d),
                    Accum::Replace,
                );
            }
        }
        self.a[k] = self.opn.max_rows(self.jac.as_ref())?.0;
        Ok(())
    }

    /// The certificate alone at `params` — `λ_k`, `a_k`, `μ_cert` (or the continuous
    /// analogue) — with the loss `L(θ)` and `‖G‖²` supplied by the caller (e.g. an
    /// optimizer's full-batch iterate, whose gradient the model's metric turns into
    /// `‖G‖²`). For Euler models the forward pass runs inside the layer loop (one extra
    /// `(N×p)·(p×d)` GEMM per layer), so no backward pass is spent: this is the
    /// monitor's hot path. Items 1–3 need the adjoints and are left out of the snapshot
    /// (`identity`, `kernel_bound` are `None`); use [`LinearCertifier::evaluate`] for
    /// them.
    ///
    /// # Errors
    /// As [`LinearCertifier::evaluate`].
    ///
    /// # Panics
    /// As [`LinearCertifier::evaluate`], and when `params` does not have the model's
    /// length.
    pub fn certify(
        &mut self,
        model: &LinearResNet,
        params: &[f64],
        x: MatRef<'_, f64>,
        loss: f64,
        grad_norm_sq: f64,
    ) -> Result<PlSnapshot, TheoryError> {
        self.check_shape(model, x)?;
        assert_eq!(
            params.len(),
            model.n_params(),
            "certify: {} parameters for a model of {}",
            params.len(),
            model.n_params()
        );
        let (n, d, p, depth) = (self.n, self.d, self.p, self.depth);
        let h = 1.0 / depth as f64;
        let features: &dyn FeatureMap = model.features().as_ref();
        if self.integrator == Integrator::Euler {
            // X^0 = X Aᵀ, then X^{k+1} = X^k + h Φ_k U_kᵀ alongside the layer quantities
            let maps = model.maps();
            match &maps.embed_in {
                None => self.xk.copy_from(x),
                Some(a) => matmul(
                    self.xk.as_mut(),
                    Accum::Replace,
                    x,
                    a.transpose(),
                    1.0,
                    Par::Seq,
                ),
            }
            for k in 0..depth {
                features.apply_with_cache(self.xk.as_ref(), self.phi.as_mut(), self.cache.as_mut());
                self.layer_quantities(features, params, k)?;
                let ukt =
                    MatRef::from_column_major_slice(&params[k * d * p..(k + 1) * d * p], p, d);
                matmul(
                    self.xk.as_mut(),
                    Accum::Add,
                    self.phi.as_ref(),
                    ukt,
                    h,
                    par_for(n * p * d),
                );
            }
        } else {
            let mut m = model.clone();
            m.set_params(params).map_err(model_err)?;
            let traj = m.forward_trajectory(x).map_err(model_err)?;
            for (k, xk) in traj.states.iter().enumerate() {
                features.apply_with_cache(xk.as_ref(), self.phi.as_mut(), self.cache.as_mut());
                self.layer_quantities(features, params, k)?;
            }
        }
        Ok(self.snapshot(loss, grad_norm_sq, None))
    }

    fn check_shape(&self, model: &LinearResNet, x: MatRef<'_, f64>) -> Result<(), TheoryError> {
        assert!(
            model.dim() == self.d
                && model.width() == self.p
                && model.depth() == self.depth
                && model.integrator() == self.integrator,
            "LinearCertifier made for d={}, p={}, L={}, {:?}; model has d={}, p={}, L={}, {:?}",
            self.d,
            self.p,
            self.depth,
            self.integrator,
            model.dim(),
            model.width(),
            model.depth(),
            model.integrator()
        );
        check_x(x, self.n, model.input_dim())
    }

    /// Assembles the snapshot from `self.lambda`, `self.a` (and, for the full Euler
    /// evaluation, the adjoint terms).
    fn snapshot(&self, loss: f64, grad_norm_sq: f64, extras: Option<EulerExtras>) -> PlSnapshot {
        let (n, p, depth) = (self.n, self.p, self.depth);
        let h = 1.0 / depth as f64;
        let rho = if loss > 0.0 {
            grad_norm_sq / loss
        } else {
            f64::NAN
        };
        let euler = self.integrator == Integrator::Euler;
        let (mu_cert, mu_continuous) = if euler {
            (
                Some(mu_cert(&self.lambda, &self.a, h, n, self.sigma_b_sq)),
                continuous_analogue_cells(&self.lambda, &self.a, h, n, self.sigma_b_sq),
            )
        } else {
            let s: Vec<f64> = (0..self.lambda.len()).map(|k| k as f64 * h).collect();
            (
                None,
                continuous_analogue_nodes(&s, &self.lambda, &self.a, n, self.sigma_b_sq)
                    .expect("nodes k·h are increasing and the values finite"),
            )
        };
        let e = extras.unwrap_or(EulerExtras {
            identity: None,
            kernel_bound: None,
            adjoint_norm_sq: Vec::new(),
            terminal: f64::NAN,
            scale: 0.0,
            eig_scale: 0.0,
        });
        PlSnapshot {
            kind: if euler {
                CertificateKind::Exact
            } else {
                CertificateKind::ApproximateOrderH
            },
            n_samples: n,
            depth,
            width: Some(p),
            loss,
            grad_norm_sq,
            rho,
            lambda: self.lambda.clone(),
            a: self.a.clone(),
            sigma_b_sq: self.sigma_b_sq,
            adjoint_norm_sq: e.adjoint_norm_sq,
            terminal_adjoint_sq: e.terminal,
            identity: e.identity,
            kernel_bound: e.kernel_bound,
            rounding_scale: e.scale,
            n_inner: 2 * n + p * self.d + self.d,
            eig_scale: e.eig_scale,
            mu_cert,
            mu_continuous,
        }
    }
}

/// The adjoint-based terms of the full Euler evaluation (items 1–3).
struct EulerExtras {
    identity: Option<f64>,
    kernel_bound: Option<f64>,
    adjoint_norm_sq: Vec<f64>,
    terminal: f64,
    scale: f64,
    eig_scale: f64,
}

/// The fused Jacobian path: when a feature map's vjp is `∇_X = (V ⊙ C) W̃` with `C` its
/// cache and `W̃` its weights (`W̃ = [Ω; Ω]` for paired features), every
/// `M_i = U_k Dφ(x_i) = U_k diag(C_i) W̃`, and all of them are one GEMM `C T` with
/// `T[j, c·d + e] = U_k[c, j] W̃[j, e]`. Detected by running the map's own vjp on a
/// seeded random batch and comparing; maps that do not match use `d` vjps.
#[derive(Debug)]
struct Fused {
    /// `W̃`, `p×d`.
    w: Mat<f64>,
    /// `T`, `p×d²` (rewritten per layer).
    t: Mat<f64>,
}

impl Fused {
    fn detect(features: &dyn FeatureMap) -> Option<Self> {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        let (d, p, cd) = (
            features.input_dim(),
            features.output_dim(),
            features.cache_dim(),
        );
        if cd != p {
            return None;
        }
        let w = features.weights();
        let w_eff = if w.nrows() == p && w.ncols() == d {
            w.to_owned()
        } else if 2 * w.nrows() == p && w.ncols() == d {
            Mat::from_fn(p, d, |j, e| w[(j % (p / 2), e)])
        } else {
            return None;
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x5eed);
        let mut draw =
            |r: usize, c: usize| Mat::from_fn(r, c, |_, _| StandardNormal.sample(&mut rng));
        let m = 3;
        let x = draw(m, d);
        let v0 = draw(m, p);
        let mut phi = Mat::zeros(m, p);
        let mut cache = Mat::zeros(m, p);
        features.apply_with_cache(x.as_ref(), phi.as_mut(), cache.as_mut());
        let mut v = v0.clone();
        let mut g1 = Mat::zeros(m, d);
        features.vjp_in_place(cache.as_ref(), v.as_mut(), g1.as_mut(), Accum::Replace);
        let vc = Mat::from_fn(m, p, |i, j| v0[(i, j)] * cache[(i, j)]);
        let g2 = &vc * &w_eff;
        // both sides sum p products |v c w|: agreement to 8 p eps of that scale
        let mut scale = 0.0f64;
        for i in 0..m {
            for e in 0..d {
                let s: f64 = (0..p).map(|j| (vc[(i, j)] * w_eff[(j, e)]).abs()).sum();
                scale = scale.max(s);
            }
        }
        let err = (0..m)
            .flat_map(|i| (0..d).map(move |e| (i, e)))
            .map(|(i, e)| (g1[(i, e)] - g2[(i, e)]).abs())
            .fold(0.0f64, f64::max);
        (err <= 8.0 * p as f64 * f64::EPSILON * scale.max(f64::MIN_POSITIVE)).then(|| Fused {
            w: w_eff,
            t: Mat::zeros(p, d * d),
        })
    }
}

/// `‖M‖²_F`.
pub(crate) fn frob_sq(m: MatRef<'_, f64>) -> f64 {
    let mut s = 0.0;
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            s += m[(i, j)] * m[(i, j)];
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use plres_kernels::KernelSpec;
    use plres_resnet::LinearResNetConfig;
    use plres_rff::{FourierVariant, RandomFourierFeatures, RandomReluFeatures};
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    use super::*;

    fn maps(rng: &mut rand_chacha::ChaCha8Rng, d: usize, p: usize) -> Vec<Arc<dyn FeatureMap>> {
        let g = KernelSpec::Gaussian { sigma: 1.3 };
        vec![
            Arc::new(
                RandomFourierFeatures::sample(&g, d, p, FourierVariant::CosineWithPhase, rng)
                    .unwrap(),
            ),
            Arc::new(RandomFourierFeatures::sample(&g, d, p, FourierVariant::Paired, rng).unwrap()),
            Arc::new(RandomReluFeatures::sample(d, p, rng).unwrap()),
        ]
    }

    /// An Euler `LinearResNet` of `depth` layers on `phi` with `N(0, s²)` parameters, and
    /// `N(0, 1)` inputs `X` (`n × d`), drawn in that order.
    fn random_net(
        phi: Arc<dyn FeatureMap>,
        depth: usize,
        s: f64,
        n: usize,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> (LinearResNet, Mat<f64>) {
        let d = phi.input_dim();
        let cfg = LinearResNetConfig {
            depth,
            ..Default::default()
        };
        let mut net = LinearResNet::new(phi, cfg).unwrap();
        for v in net.params_mut() {
            *v = s * {
                let z: f64 = StandardNormal.sample(rng);
                z
            };
        }
        let x = Mat::from_fn(n, d, |_, _| StandardNormal.sample(rng));
        (net, x)
    }

    /// The fused Jacobian GEMM is detected for every plres-rff map and gives the same
    /// `a_k` as the generic vjp path (both sum the same `p` products: agreement to
    /// `8 p eps` relative).
    #[test]
    fn fused_and_generic_jacobians_agree() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let (n, d, p) = (7, 3, 16);
        for phi in maps(&mut rng, d, p) {
            let (net, x) = random_net(phi, 3, 0.7, n, &mut rng);
            let y = Mat::from_fn(n, d, |_, _| StandardNormal.sample(&mut rng));
            let mut cert = LinearCertifier::new(&net, n).unwrap();
            assert!(cert.fused.is_some());
            let params = net.params().to_vec();
            let fused = cert
                .evaluate(&net, &params, x.as_ref(), y.as_ref())
                .unwrap();
            cert.fused = None;
            let generic = cert
                .evaluate(&net, &params, x.as_ref(), y.as_ref())
                .unwrap();
            for (a, b) in fused.a.iter().zip(&generic.a) {
                assert!(
                    (a - b).abs() <= 8.0 * p as f64 * f64::EPSILON * a.max(1.0),
                    "{a} vs {b}"
                );
            }
        }
    }

    /// The fast path (`certify`: own Euler forward inside the layer loop, or the model's
    /// trajectory for the other integrators) gives the `λ_k`, `a_k` and certificate of
    /// the full evaluation (same states up to the rounding of one GEMM per layer:
    /// relative 1e-12), with an input embedding.
    #[test]
    fn certify_matches_evaluate() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
        let (n, d, p) = (9, 3, 20);
        let mut z = move || -> f64 { StandardNormal.sample(&mut rng) };
        for integrator in [Integrator::Euler, Integrator::Heun, Integrator::Rk4] {
            let mut r2 = rand_chacha::ChaCha8Rng::seed_from_u64(integrator as u64);
            let phi = maps(&mut r2, d, p).remove(0);
            let cfg = LinearResNetConfig {
                depth: 4,
                integrator,
                ..Default::default()
            };
            let mut net = LinearResNet::new(phi, cfg).unwrap();
            for v in net.params_mut() {
                *v = 0.4 * z();
            }
            let a = Mat::from_fn(d, d + 2, |_, _| 0.5 * z());
            let net = net.with_input_embedding(a).unwrap();
            let x = Mat::from_fn(n, d + 2, |_, _| z());
            let y = Mat::from_fn(n, d, |_, _| z());
            let mut cert = LinearCertifier::new(&net, n).unwrap();
            let params = net.params().to_vec();
            let full = cert
                .evaluate(&net, &params, x.as_ref(), y.as_ref())
                .unwrap();
            let fast = cert
                .certify(&net, &params, x.as_ref(), full.loss, full.grad_norm_sq)
                .unwrap();
            let close = |u: f64, v: f64| (u - v).abs() <= 1e-12 * u.abs().max(v.abs()).max(1e-300);
            for k in 0..full.lambda.len() {
                assert!(
                    close(full.lambda[k], fast.lambda[k]) && close(full.a[k], fast.a[k]),
                    "{integrator:?} layer {k}"
                );
            }
            assert!(close(full.mu(), fast.mu()));
            assert_eq!(fast.rho, full.rho);
            assert!(fast.identity.is_none());
        }
    }

    /// `a_k = max_i ‖U_k Dφ(x_i^k)‖` against a central-difference Jacobian of
    /// `x ↦ U_k φ(x)` (Gaussian features, smooth): step τ = 1e-5, error
    /// `O(τ² ‖U‖‖D³φ‖) + O(eps/τ)` ≈ 1e-9, tolerance 1e-7.
    #[test]
    fn jacobian_norms_match_finite_differences() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        let (n, d, p) = (5, 3, 12);
        let phi = maps(&mut rng, d, p).remove(0);
        let (net, x) = random_net(phi.clone(), 2, 0.5, n, &mut rng);
        let y = Mat::zeros(n, d);
        let mut cert = LinearCertifier::new(&net, n).unwrap();
        let snap = cert
            .evaluate(&net, net.params(), x.as_ref(), y.as_ref())
            .unwrap();
        let traj = net.forward_trajectory(x.as_ref()).unwrap();
        let tau = 1e-5;
        let mut opn = crate::linalg::OpNorm::new(d);
        for k in 0..2 {
            let u = net.slice(k);
            let mut best = 0.0f64;
            for i in 0..n {
                let mut jac = Mat::<f64>::zeros(d, d);
                for e in 0..d {
                    let mut xp = traj.states[k].as_ref().subrows(i, 1).to_owned();
                    let mut xm = xp.clone();
                    xp[(0, e)] += tau;
                    xm[(0, e)] -= tau;
                    let fp = phi.apply(xp.as_ref()) * u.transpose();
                    let fm = phi.apply(xm.as_ref()) * u.transpose();
                    for c in 0..d {
                        jac[(c, e)] = (fp[(0, c)] - fm[(0, c)]) / (2.0 * tau);
                    }
                }
                best = best.max(opn.op_norm(jac.as_ref()).unwrap());
            }
            assert!(
                (best - snap.a[k]).abs() < 1e-7,
                "layer {k}: {best} vs {}",
                snap.a[k]
            );
        }
    }
}
