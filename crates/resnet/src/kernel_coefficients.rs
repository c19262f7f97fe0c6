//! The kernel ResNet on a frozen dictionary of centres, as a flat-parameter problem.
//!
//! Gradient descent in the RKHS metric ([`crate::KernelResNet::gd_step`]) grows the
//! expansions by `N` centres per layer and step, so it has no fixed parameter vector.
//! To let every plres-optim optimizer train the kernel model too, [`KernelCoefficients`]
//! freezes the centres `C_k` (`m_k × d`) of every layer and trains only the coefficients
//! `A_k` (`m_k × d`): `θ_k = Σ_c k(·, c) a_c = K(·, C_k) A_k`. With
//! `G_k = K(X_k, C_k)` (`N×m_k`):
//!
//! * forward: `X_{k+1} = X_k + h G_k A_k`;
//! * adjoint: `P_k = P_{k+1} + h ∇`, `∇_i = Σ_c ∇_x k(x_i^k, c) (a_c·p_i^{k+1})`
//!   (the kernel's weighted gradient with weights `W = P_{k+1} A_kᵀ`);
//! * gradient: `∂L/∂A_k = h G_kᵀ P_{k+1}`.
//!
//! Parameters are the `A_k` concatenated, each row-major `[m_k, d]` (the layout of the
//! `layer.{k}.coefficients` checkpoint tensors). The metric is the `L²`-in-depth weight
//! `h` per layer on the coefficients; the exact RKHS metric `h Σ_k tr(A_kᵀ K_{C_k C_k} A_k)`
//! is not block-diagonal, which is why the RKHS gradient step lives in `gd_step`.
//! A dictionary is typically the trajectory of the data at initialisation
//! ([`crate::KernelResNet::add_trajectory_centres`]).

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef};
use plres_data::TargetsRef;
use plres_kernels::expansion::KernelExpansion;
use plres_optim::Metric;

use crate::error::ResNetError;
use crate::kernel::KernelResNet;
use crate::maps::par_for;
use crate::model::{Model, Trainable, Workspace};
use crate::report::Trajectory;

/// A [`KernelResNet`] with frozen centres and trainable coefficients (module docs).
#[derive(Clone, Debug)]
pub struct KernelCoefficients {
    net: KernelResNet,
    centres: Vec<Mat<f64>>,
    offsets: Vec<usize>,
    params: Vec<f64>,
}

/// Buffers of [`KernelCoefficients`]: states, cross Grams `K(X_k, C_k)`, adjoints and
/// scratch; an evaluation with a warm workspace allocates nothing in this crate.
#[derive(Debug)]
pub struct KernelCoefficientsWorkspace {
    n_max: usize,
    n: usize,
    states: Vec<Mat<f64>>,
    grams: Vec<Mat<f64>>,
    adjoints: Vec<Mat<f64>>,
    w: Mat<f64>,
    scratch: Mat<f64>,
    tmp: Mat<f64>,
    z: Mat<f64>,
    gz: Mat<f64>,
}

impl KernelCoefficientsWorkspace {
    /// State `X_k` of the last pass.
    pub fn state(&self, k: usize) -> MatRef<'_, f64> {
        self.states[k].as_ref().subrows(0, self.n)
    }
    /// Adjoint `P_k` of the last pass.
    pub fn adjoint(&self, k: usize) -> MatRef<'_, f64> {
        self.adjoints[k].as_ref().subrows(0, self.n)
    }
}

impl Workspace for KernelCoefficientsWorkspace {
    fn capacity(&self) -> usize {
        self.n_max
    }
}

impl KernelCoefficients {
    /// Freezes the centres of `net`; the parameters start at its coefficients.
    ///
    /// # Errors
    /// [`ResNetError::Unsupported`] if no layer has a centre (nothing to train; add a
    /// dictionary with [`KernelResNet::add_trajectory_centres`]).
    pub fn new(net: KernelResNet) -> Result<Self, ResNetError> {
        let d = net.dim();
        let mut offsets = Vec::with_capacity(net.depth() + 1);
        let mut params = Vec::new();
        let mut centres = Vec::with_capacity(net.depth());
        offsets.push(0);
        for l in net.layers() {
            centres.push(l.centres().to_owned());
            let a = l.coefficients();
            for i in 0..a.nrows() {
                for j in 0..d {
                    params.push(a[(i, j)]);
                }
            }
            offsets.push(params.len());
        }
        if params.is_empty() {
            return Err(ResNetError::Unsupported(
                "a kernel ResNet without centres has no coefficients to train".into(),
            ));
        }
        Ok(Self {
            net,
            centres,
            offsets,
            params,
        })
    }

    /// The underlying network (its coefficients are those given to `new`, not the
    /// current parameters: see [`KernelCoefficients::to_network`]).
    pub fn network(&self) -> &KernelResNet {
        &self.net
    }

    /// The network with the current parameters as coefficients.
    ///
    /// # Errors
    /// [`ResNetError::Kernel`] if the expansions reject the parts.
    pub fn to_network(&self) -> Result<KernelResNet, ResNetError> {
        let mut net = self.net.clone();
        let d = net.dim();
        let kernel = net.kernel().clone();
        for (k, layer) in net.layers_mut().iter_mut().enumerate() {
            let m = self.centres[k].nrows();
            let a = MatRef::from_row_major_slice(
                &self.params[self.offsets[k]..self.offsets[k + 1]],
                m,
                d,
            );
            *layer = if m == 0 {
                KernelExpansion::new(kernel.clone(), d)
            } else {
                KernelExpansion::from_parts(kernel.clone(), self.centres[k].as_ref(), a)?
            };
        }
        Ok(net)
    }

    /// Forward pass at `params` into `ws` (states, cross Grams, output).
    fn forward_into(
        &self,
        params: &[f64],
        ws: &mut KernelCoefficientsWorkspace,
        x: MatRef<'_, f64>,
    ) {
        let net = &self.net;
        let (d, depth) = (net.dim(), net.depth());
        let h = 1.0 / depth as f64;
        let n = x.nrows();
        ws.n = n;
        let kernel = net.kernel();
        net.maps().embed(x, ws.states[0].as_mut().subrows_mut(0, n));
        for k in 0..depth {
            let m = self.centres[k].nrows();
            let (head, tail) = ws.states.split_at_mut(k + 1);
            let xk = head[k].as_ref().subrows(0, n);
            let mut xk1 = tail[0].as_mut().subrows_mut(0, n);
            xk1.copy_from(xk);
            if m == 0 {
                continue;
            }
            let mut g = ws.grams[k].as_mut().subrows_mut(0, n);
            kernel.cross_gram_in_place(xk, self.centres[k].as_ref(), g.as_mut());
            let a =
                MatRef::from_row_major_slice(&params[self.offsets[k]..self.offsets[k + 1]], m, d);
            matmul(xk1, Accum::Add, g.as_ref(), a, h, par_for(n, m, d));
        }
        net.maps().output(
            ws.states[depth].as_ref().subrows(0, n),
            ws.z.as_mut().subrows_mut(0, n),
        );
    }
}

impl Model for KernelCoefficients {
    fn input_dim(&self) -> usize {
        self.net.input_dim()
    }

    fn output_dim(&self) -> usize {
        self.net.output_dim()
    }

    fn trajectory_unchecked(&self, x: MatRef<'_, f64>) -> Trajectory {
        self.trajectory_at_unchecked(&self.params, x)
    }
}

impl Trainable for KernelCoefficients {
    type Workspace = KernelCoefficientsWorkspace;

    crate::maps::flat_params!(
        /// The coefficients `A_k` concatenated, each row-major `[m_k, d]` (module docs).
        params
    );

    fn metric(&self) -> Metric {
        let h = 1.0 / self.net.depth() as f64;
        let blocks = self
            .offsets
            .windows(2)
            .map(|w| w[1] - w[0])
            .filter(|&len| len > 0)
            .map(|len| (len, h))
            .collect();
        Metric::blocks(blocks).expect("at least one non-empty layer, h > 0")
    }
    fn training_workspace(&self, n_max: usize) -> KernelCoefficientsWorkspace {
        let (d, depth) = (self.net.dim(), self.net.depth());
        let m_max = self.centres.iter().map(|c| c.nrows()).max().unwrap_or(0);
        let d_out = self.net.output_dim();
        KernelCoefficientsWorkspace {
            n_max,
            n: 0,
            states: (0..=depth).map(|_| Mat::zeros(n_max, d)).collect(),
            grams: self
                .centres
                .iter()
                .map(|c| Mat::zeros(n_max, c.nrows()))
                .collect(),
            adjoints: (0..=depth).map(|_| Mat::zeros(n_max, d)).collect(),
            w: Mat::zeros(n_max, m_max),
            scratch: Mat::zeros(n_max, m_max),
            tmp: Mat::zeros(n_max, d),
            z: Mat::zeros(n_max, d_out),
            gz: Mat::zeros(n_max, d_out),
        }
    }
    crate::maps::trajectory_from_forward!(training_workspace);

    #[track_caller]
    fn loss_and_gradient_unchecked(
        &self,
        params: &[f64],
        ws: &mut KernelCoefficientsWorkspace,
        x: MatRef<'_, f64>,
        targets: TargetsRef<'_>,
        grad: &mut [f64],
    ) -> f64 {
        assert!(
            x.nrows() <= ws.n_max
                && params.len() == self.params.len()
                && grad.len() == self.params.len(),
            "KernelCoefficients: batch of N={} rows (capacity n_max={}), params len {}, grad len \
             {}, expected n_params={}",
            x.nrows(),
            ws.n_max,
            params.len(),
            grad.len(),
            self.params.len()
        );
        let net = &self.net;
        let (d, depth) = (net.dim(), net.depth());
        let h = 1.0 / depth as f64;
        let n = x.nrows();
        let kernel = net.kernel();
        self.forward_into(params, ws, x);
        let loss = net.maps().terminal_loss(
            ws.z.as_ref().subrows(0, n),
            targets,
            ws.gz.as_mut().subrows_mut(0, n),
            ws.adjoints[depth].as_mut().subrows_mut(0, n),
        );
        for k in (0..depth).rev() {
            let m = self.centres[k].nrows();
            let (head, tail) = ws.adjoints.split_at_mut(k + 1);
            let pk1 = tail[0].as_ref().subrows(0, n);
            let mut pk = head[k].as_mut().subrows_mut(0, n);
            pk.copy_from(pk1);
            if m == 0 {
                continue;
            }
            let par = par_for(n, m, d);
            let g = ws.grams[k].as_ref().subrows(0, n);
            let a =
                MatRef::from_row_major_slice(&params[self.offsets[k]..self.offsets[k + 1]], m, d);
            matmul(
                MatMut::from_row_major_slice_mut(
                    &mut grad[self.offsets[k]..self.offsets[k + 1]],
                    m,
                    d,
                ),
                Accum::Replace,
                g.transpose(),
                pk1,
                h,
                par,
            );
            let mut w = ws.w.as_mut().subrows_mut(0, n).subcols_mut(0, m);
            matmul(w.as_mut(), Accum::Replace, pk1, a.transpose(), 1.0, par);
            let mut tmp = ws.tmp.as_mut().subrows_mut(0, n);
            kernel.weighted_grad_in_place(
                ws.states[k].as_ref().subrows(0, n),
                self.centres[k].as_ref(),
                w.as_ref(),
                ws.scratch.as_mut().subrows_mut(0, n).subcols_mut(0, m),
                tmp.as_mut(),
                Accum::Replace,
            );
            for j in 0..d {
                for i in 0..n {
                    pk[(i, j)] += h * tmp[(i, j)];
                }
            }
        }
        loss
    }
}
