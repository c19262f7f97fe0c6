//! The residual part: a neural ODE `ẋ = f_t(x)` on `[0, 1]` integrated by the midpoint
//! rule with `L` steps, and its exact discrete adjoint.
//!
//! **Fields.** With `*` a 3×3 convolution with padding 1 (`q → q_int` channels for `Ω`,
//! `θ¹`; `q_int → q` for `θ`, `θ²`, which carry a bias):
//! - linear ("RKHS") residual `f_t(x) = θ_t * ReLU(Ω * x)`, `Ω` fixed and shared by all
//!   times, `θ_t` trained: linear in the parameters;
//! - non-linear ("SHL") residual `f_t(x) = θ²_t * ReLU(θ¹_t * x)`, both trained.
//!
//! **Time.** Parameters live at the grid times `t_k = k/L`, `k = 0..=L`, and are linearly
//! interpolated in between; the midpoint rule only needs `t_k` and `t_k + h/2`, where the
//! interpolant is `(θ_k + θ_{k+1})/2`. With `h = 1/L`:
//!
//! `k₁ = f(x_k; θ_k)`, `x_{k+½} = x_k + (h/2) k₁`, `k₂ = f(x_{k+½}; (θ_k + θ_{k+1})/2)`,
//! `x_{k+1} = x_k + h k₂`.
//!
//! **Adjoint** (exact gradient of the discrete flow): from `a = ∂ℓ/∂x_{k+1}`,
//! `(g_½, ∂θ_m) = vjp of f at x_{k+½} applied to h a`, `∂θ_k, ∂θ_{k+1} += ∂θ_m / 2`;
//! `(g_0, ∂θ) = vjp of f at x_k applied to (h/2) g_½`, `∂θ_k += ∂θ`; and
//! `∂ℓ/∂x_k = a + g_½ + g_0`. The forward pass stores `z = ReLU(Ω * x)` at each of the
//! `2L` stages (and, for SHL, the stage input, needed for `∂θ¹`); the backward pass
//! multiplies them with the im2col of the incoming gradients. The convolutions are the
//! grouped ones of `same3.rs` (one GEMM per group of pixels with the same valid taps,
//! activations pixel-major inside the flow). Every buffer lives in [`FlowWork`], so a
//! training step allocates nothing once the workspace has its size.
//!
//! **Parameter vector** (`params`): the `L + 1` blocks of `θ` (for each `k`: weight
//! `(q, q_int, 3, 3)` then bias `(q)`), followed for SHL by the `L + 1` blocks of `θ¹`
//! (weight `(q_int, q, 3, 3)`, no bias). The gradient is the Euclidean one, `∂ℓ/∂params`,
//! as PyTorch's autograd gives it.

use faer::Par;

use crate::Real;
use crate::layers::conv2d::ConvSpec;
use crate::layers::relu::{relu_backward_in_place, relu_in_place};
use crate::same3::Plan;

/// Which residual field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResidualKind {
    /// `θ_t * ReLU(Ω * x)`, `Ω` fixed: linear in the trained parameters.
    Linear,
    /// `θ²_t * ReLU(θ¹_t * x)`, both trained (single hidden layer).
    Shl,
}

/// The residual flow's parameters and geometry.
#[derive(Debug, Clone, PartialEq)]
pub struct Residual<T> {
    /// Linear or SHL.
    pub kind: ResidualKind,
    /// State channels `q`.
    pub q: usize,
    /// Hidden channels `q_int`.
    pub q_int: usize,
    /// Midpoint steps `L`.
    pub steps: usize,
    /// Spatial size of the state `(h, w)`.
    pub hw: (usize, usize),
    /// `Ω`, `q_int × q·9` row-major (linear residual; empty for SHL).
    pub omega: Vec<T>,
    /// Trained parameters, see the module doc.
    pub params: Vec<T>,
}

impl<T: Real> Residual<T> {
    /// Geometry of `Ω` / `θ¹`.
    pub fn spec_in(&self) -> ConvSpec {
        ConvSpec {
            c_in: self.q,
            c_out: self.q_int,
            k: 3,
            stride: 1,
            pad: 1,
        }
    }
    /// Geometry of `θ` / `θ²`.
    pub fn spec_out(&self) -> ConvSpec {
        ConvSpec {
            c_in: self.q_int,
            c_out: self.q,
            k: 3,
            stride: 1,
            pad: 1,
        }
    }
    /// Length of one `θ` block: weight and bias.
    pub fn theta_block(&self) -> usize {
        self.q * self.q_int * 9 + self.q
    }
    /// Length of one `θ¹` block (0 for the linear residual).
    pub fn theta1_block(&self) -> usize {
        match self.kind {
            ResidualKind::Linear => 0,
            ResidualKind::Shl => self.q_int * self.q * 9,
        }
    }
    /// Number of trained parameters: `(L + 1)(9 q q_int + q)` (linear),
    /// `(L + 1)(18 q q_int + q)` (SHL).
    pub fn n_params(&self) -> usize {
        (self.steps + 1) * (self.theta_block() + self.theta1_block())
    }
    fn theta1_offset(&self) -> usize {
        (self.steps + 1) * self.theta_block()
    }

    /// What the forward and the backward pass index with, for a batch of `n` images.
    fn layout(&self, n: usize) -> Layout<T> {
        let np = n * self.hw.0 * self.hw.1;
        Layout {
            l: self.steps,
            sx: self.q * np,
            sz: self.q_int * np,
            h: T::from_f64(1.0 / self.steps as f64),
            half: T::from_f64(0.5),
            tb: self.theta_block(),
            t1b: self.theta1_block(),
            t1o: self.theta1_offset(),
        }
    }

    /// The bias of the midpoint parameters of step `k`: `(b_k + b_{k+1})/2` into `bmid`.
    fn midpoint_bias(&self, lay: &Layout<T>, k: usize, bmid: &mut [T]) {
        let wl = lay.tb - self.q;
        let (bk, bk1) = (
            &lay.theta(&self.params, k)[wl..],
            &lay.theta(&self.params, k + 1)[wl..],
        );
        for ((m, &a), &b) in bmid.iter_mut().zip(bk).zip(bk1) {
            *m = lay.half * (a + b);
        }
    }

    /// The flow `x_0 ↦ x_L` in place on `x` (`q × n·h·w`, channel-major). With
    /// `store`, the stage values the backward pass needs are kept in `work`.
    pub fn forward(&self, x: &mut [T], n: usize, work: &mut FlowWork<T>, store: bool, par: Par) {
        self.forward_observed(x, n, work, store, par, |_, _| {});
    }

    /// [`Residual::forward`] that also hands each grid-time state `x_k` (`k = 0..=L`,
    /// channel-major `q × n·h·w`) to `observe(k, x_k)`.
    pub fn forward_observed(
        &self,
        x: &mut [T],
        n: usize,
        work: &mut FlowWork<T>,
        store: bool,
        par: Par,
        mut observe: impl FnMut(usize, &[T]),
    ) {
        work.ensure(self, n);
        let sx = self.q * n * self.hw.0 * self.hw.1;
        let x = &mut x[..sx];
        let (mut packed, mut xi, mut obs) = (
            std::mem::take(&mut work.packed),
            std::mem::take(&mut work.xi),
            std::mem::take(&mut work.obs),
        );
        packed.fill(self, &work.plan);
        work.plan.to_internal(x, self.q, n, 0, n, &mut xi);
        self.forward_core(&mut xi, n, work, &packed, store, par, |k, xk, plan| {
            plan.to_natural(xk, self.q, n, 0, n, &mut obs);
            observe(k, &obs[..sx]);
        });
        work.plan.to_natural(&xi, self.q, n, 0, n, x);
        (work.packed, work.xi, work.obs) = (packed, xi, obs);
    }

    /// The flow on `x` in the flow's pixel-major layout ([`crate::same3`]), with the
    /// weights packed in `packed` and `work` sized for `n` images; `observe(k, x_k, plan)`
    /// sees each grid-time state in that layout.
    fn forward_core(
        &self,
        x: &mut [T],
        n: usize,
        work: &mut FlowWork<T>,
        packed: &Packed<T>,
        store: bool,
        par: Par,
        mut observe: impl FnMut(usize, &[T], &Plan),
    ) {
        let lay = self.layout(n);
        let (sx, h, half) = (lay.sx, lay.h, lay.half);
        let wl = lay.tb - self.q;
        let x = &mut x[..sx];
        observe(0, x, &work.plan);
        for k in 0..lay.l {
            // parameters at t_k and at the midpoint
            let bk = &lay.theta(&self.params, k)[wl..];
            self.midpoint_bias(&lay, k, &mut work.bmid);
            let (s0, s1) = if store { (2 * k, 2 * k + 1) } else { (0, 0) };
            // stage 1 at x_k
            let grid = StageIn::Grid { x: &*x, b_out: bk };
            self.stage_f(work, packed, &lay, n, k, s0, store, grid, par);
            let hh = half * h;
            for ((m, &xv), &kv) in work.xh.iter_mut().zip(x.iter()).zip(&work.kbuf) {
                *m = xv + hh * kv;
            }
            // stage 2 at the midpoint
            self.stage_f(
                work,
                packed,
                &lay,
                n,
                lay.l + 1 + k,
                s1,
                store,
                StageIn::Midpoint,
                par,
            );
            for (xv, &kv) in x.iter_mut().zip(&work.kbuf) {
                *xv += h * kv;
            }
            observe(k + 1, x, &work.plan);
        }
    }

    /// [`eval_f`](Self::eval_f) of one stage into `work.kbuf`, with the packed weights of
    /// block `block`, its hidden activation into stage slot `stage` of `work.zs`; with
    /// `store` (SHL) the stage input is also kept in slot `stage` of `work.xs`.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn stage_f(
        &self,
        work: &mut FlowWork<T>,
        packed: &Packed<T>,
        lay: &Layout<T>,
        n: usize,
        block: usize,
        stage: usize,
        store: bool,
        input: StageIn<'_, T>,
        par: Par,
    ) {
        let (sx, sz) = (lay.sx, lay.sz);
        let FlowWork {
            plan,
            xh,
            bmid,
            kbuf,
            zs,
            xs,
            colx,
            colz,
            ..
        } = work;
        let (x, b_out) = match input {
            StageIn::Grid { x, b_out } => (x, b_out),
            StageIn::Midpoint => (&xh[..], &bmid[..]),
        };
        let w1 = match self.kind {
            ResidualKind::Linear => &packed.omega[..],
            ResidualKind::Shl => packed.theta1(block),
        };
        if store && self.kind == ResidualKind::Shl {
            xs[stage * sx..(stage + 1) * sx].copy_from_slice(x);
        }
        self.eval_f(
            plan,
            w1,
            packed.theta(block),
            b_out,
            x,
            n,
            &mut zs[stage * sz..(stage + 1) * sz],
            colx,
            colz,
            kbuf,
            par,
        );
    }

    /// `out ← f(x) = θ_out * ReLU(w_in * x) + b_out`; `z ← ReLU(w_in * x)` (weights
    /// packed, activations pixel-major).
    fn eval_f(
        &self,
        plan: &Plan,
        w_in: &[T],
        w_out: &[T],
        b_out: &[T],
        x: &[T],
        n: usize,
        z: &mut [T],
        colx: &mut [T],
        colz: &mut [T],
        out: &mut [T],
        par: Par,
    ) {
        let (q, qi) = (self.q, self.q_int);
        plan.im2col(x, q, n, colx);
        plan.forward(w_in, None, colx, q, qi, n, z, par);
        relu_in_place(z);
        plan.im2col(z, qi, n, colz);
        plan.forward(w_out, Some(b_out), colz, qi, q, n, out, par);
    }

    /// Vector–Jacobian product of one stage: from `dout = ∂ℓ/∂f`, `dx ← ∂ℓ/∂x`,
    /// `dw_out (+)= ∂ℓ/∂θ_out` (weight and bias), `dw_in (+)= ∂ℓ/∂θ¹` (SHL; `x` is then
    /// the stage input); `wt_in`, `wt_out` are the packed transposed convolutions
    /// ([`Plan::pack_transposed`]).
    fn vjp_f(
        &self,
        plan: &Plan,
        wt_in: &[T],
        wt_out: &[T],
        x: &[T],
        z: &[T],
        n: usize,
        dout: &[T],
        dw_out: &mut [T],
        dw_in: Option<&mut [T]>,
        accum: bool,
        dx: &mut [T],
        scratch: &mut VjpScratch<'_, T>,
        par: Par,
    ) {
        let (q, qi) = (self.q, self.q_int);
        let np = n * self.hw.0 * self.hw.1;
        let (colx, colz, dpack) = (&mut *scratch.colx, &mut *scratch.colz, &mut *scratch.dpack);
        let dz = &mut scratch.dz[..qi * np];
        // through θ_out: col(∂f) (q channels) serves ∂θ_out and ∂z
        plan.im2col(dout, q, n, colx);
        let (dw, db) = dw_out.split_at_mut(dw_out.len() - q);
        plan.weight_gradient(z, colx, qi, q, n, dpack, dw, accum, par);
        plan.bias_gradient(dout, q, n, db, accum);
        plan.forward(wt_out, None, colx, q, qi, n, dz, par);
        relu_backward_in_place(z, dz);
        // through w_in: col(∂u) (q_int channels) serves ∂θ¹ and ∂x
        plan.im2col(dz, qi, n, colz);
        if let Some(dw1) = dw_in {
            plan.weight_gradient(x, colz, q, qi, n, dpack, dw1, accum, par);
        }
        plan.forward(wt_in, None, colz, qi, q, n, &mut dx[..q * np], par);
    }

    /// [`vjp_f`](Self::vjp_f) of the stored stage `stage` (`2k` at `x_k`, `2k + 1` at the
    /// midpoint) with the packed weights of block `block`, from `dout = work.dk`; the
    /// outputs go where `grads` says.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn stage_vjp(
        &self,
        work: &mut FlowWork<T>,
        packed: &Packed<T>,
        lay: &Layout<T>,
        n: usize,
        block: usize,
        stage: usize,
        grads: StageGrad<'_, T>,
        par: Par,
    ) {
        let shl = self.kind == ResidualKind::Shl;
        let (sx, sz) = (lay.sx, lay.sz);
        let FlowWork {
            plan,
            xs,
            zs,
            dk,
            dz,
            colx,
            colz,
            dpack,
            dtmid,
            dt1mid,
            dxh,
            dx0,
            ..
        } = work;
        let w1: &[T] = if shl {
            packed.theta1_t(block)
        } else {
            &packed.omega_t
        };
        let (dw_out, dw_in, accum, dx) = match grads {
            StageGrad::Midpoint => (
                &mut dtmid[..],
                if shl { Some(&mut dt1mid[..]) } else { None },
                false,
                &mut dxh[..],
            ),
            StageGrad::Grid { dw_out, dw_in } => (dw_out, dw_in, true, &mut dx0[..]),
        };
        let mut scratch = VjpScratch {
            dz: &mut dz[..],
            colx: &mut colx[..],
            colz: &mut colz[..],
            dpack: &mut dpack[..],
        };
        self.vjp_f(
            plan,
            w1,
            packed.theta_t(block),
            &xs[if shl { stage * sx } else { 0 }..][..if shl { sx } else { 0 }],
            &zs[stage * sz..(stage + 1) * sz],
            n,
            dk,
            dw_out,
            dw_in,
            accum,
            dx,
            &mut scratch,
            par,
        );
    }

    /// The exact adjoint of [`forward`](Self::forward) (which must have run with `store`
    /// on the same `work`): from `a = ∂ℓ/∂x_L` (overwritten with `∂ℓ/∂x_0`), writes
    /// `∂ℓ/∂params` into `grad` (overwritten).
    ///
    /// # Panics
    /// If `grad.len() != n_params()`.
    pub fn backward(
        &self,
        a: &mut [T],
        n: usize,
        work: &mut FlowWork<T>,
        grad: &mut [T],
        par: Par,
    ) {
        assert_eq!(
            grad.len(),
            self.n_params(),
            "Residual::backward: gradient length"
        );
        let sx = self.q * n * self.hw.0 * self.hw.1;
        let a = &mut a[..sx];
        let (mut packed, mut xi) = (
            std::mem::take(&mut work.packed),
            std::mem::take(&mut work.xi),
        );
        packed.fill(self, &work.plan);
        work.plan.to_internal(a, self.q, n, 0, n, &mut xi);
        self.backward_core(&mut xi, n, work, &packed, grad, par);
        work.plan.to_natural(&xi, self.q, n, 0, n, a);
        (work.packed, work.xi) = (packed, xi);
    }

    /// [`Residual::backward`] on `a` in the flow's pixel-major layout, after
    /// [`forward_core`](Self::forward_core) with `store` on the same `work` and `packed`.
    fn backward_core(
        &self,
        a: &mut [T],
        n: usize,
        work: &mut FlowWork<T>,
        packed: &Packed<T>,
        grad: &mut [T],
        par: Par,
    ) {
        let lay = self.layout(n);
        let (sx, h, half) = (lay.sx, lay.h, lay.half);
        let (l, tb, t1b, t1o) = (lay.l, lay.tb, lay.t1b, lay.t1o);
        let shl = self.kind == ResidualKind::Shl;
        grad.fill(T::ZERO);
        let a = &mut a[..sx];
        let w = work;
        for k in (0..l).rev() {
            let (s0, s1) = (2 * k, 2 * k + 1);
            // midpoint stage: dk = h a
            for (d, &av) in w.dk.iter_mut().zip(a.iter()) {
                *d = h * av;
            }
            self.stage_vjp(w, packed, &lay, n, l + 1 + k, s1, StageGrad::Midpoint, par);
            for (i, &g) in w.dtmid.iter().enumerate() {
                grad[k * tb + i] += half * g;
                grad[(k + 1) * tb + i] += half * g;
            }
            if shl {
                for (i, &g) in w.dt1mid.iter().enumerate() {
                    grad[t1o + k * t1b + i] += half * g;
                    grad[t1o + (k + 1) * t1b + i] += half * g;
                }
            }
            // first stage: dk = (h/2) g_½
            let hh = half * h;
            for (d, &g) in w.dk.iter_mut().zip(&w.dxh) {
                *d = hh * g;
            }
            let (gt, gt1) = grad.split_at_mut(t1o);
            let grid = StageGrad::Grid {
                dw_out: &mut gt[k * tb..(k + 1) * tb],
                dw_in: shl.then(|| &mut gt1[k * t1b..(k + 1) * t1b]),
            };
            self.stage_vjp(w, packed, &lay, n, k, s0, grid, par);
            for ((av, &g1), &g0) in a.iter_mut().zip(&w.dxh).zip(&w.dx0) {
                *av += g1 + g0;
            }
        }
    }
}

/// The input and output bias of one stage in [`Residual::forward_core`].
enum StageIn<'x, T> {
    /// The grid-time stage: the state `x_k` and the bias `b_k`.
    Grid { x: &'x [T], b_out: &'x [T] },
    /// The midpoint stage: `work.xh` and the midpoint bias `work.bmid`.
    Midpoint,
}

/// Where one stage's vector–Jacobian product in [`Residual::backward_core`] writes
/// its parameter gradients and its `∂ℓ/∂x`.
enum StageGrad<'g, T> {
    /// The midpoint stage: overwrite `work.dtmid` (and `work.dt1mid`, SHL), `∂x` into
    /// `work.dxh`.
    Midpoint,
    /// The grid-time stage: accumulate into the step's `θ` block (and `θ¹` block, SHL),
    /// `∂x` into `work.dx0`.
    Grid {
        dw_out: &'g mut [T],
        dw_in: Option<&'g mut [T]>,
    },
}

/// The scratch buffers of one vector–Jacobian product.
struct VjpScratch<'a, T> {
    dz: &'a mut [T],
    colx: &'a mut [T],
    colz: &'a mut [T],
    dpack: &'a mut [T],
}

/// The weights of every stage packed for the grouped convolutions ([`Plan::pack`]) and
/// their transposed convolutions ([`Plan::pack_transposed`], for the backward pass): `Ω`
/// (linear), and `θ` (then `θ¹`, SHL) at the grid times `k = 0..=L` followed by the
/// midpoints `(θ_k + θ_{k+1})/2`, `k = 0..L`: `2L + 1` blocks each. Filled once per
/// forward or backward call and shared by all chunks.
#[derive(Debug, Default, Clone)]
struct Packed<T> {
    omega: Vec<T>,
    omega_t: Vec<T>,
    theta: Vec<T>,
    theta_t: Vec<T>,
    theta1: Vec<T>,
    theta1_t: Vec<T>,
    /// Length of a packed `θ` block and of a packed `θ¹` block.
    len_out: usize,
    len_in: usize,
}

impl<T: Real> Packed<T> {
    /// Packs `res`'s weights with `plan` (sizes the buffers on first use).
    fn fill(&mut self, res: &Residual<T>, plan: &Plan) {
        let (q, qi, l) = (res.q, res.q_int, res.steps);
        let lay = res.layout(0);
        let wl = lay.tb - q;
        let (lo, li) = (plan.packed_len(qi, q), plan.packed_len(q, qi));
        (self.len_out, self.len_in) = (lo, li);
        let half = lay.half;
        let midpoints = |v: &mut [T], len: usize| {
            for k in 0..l {
                let (grid, mid) = v.split_at_mut((l + 1) * len);
                for ((m, &a), &b) in mid[k * len..(k + 1) * len]
                    .iter_mut()
                    .zip(&grid[k * len..(k + 1) * len])
                    .zip(&grid[(k + 1) * len..(k + 2) * len])
                {
                    *m = half * (a + b);
                }
            }
        };
        self.theta.resize((2 * l + 1) * lo, T::ZERO);
        self.theta_t.resize((2 * l + 1) * lo, T::ZERO);
        for k in 0..=l {
            let w = &lay.theta(&res.params, k)[..wl];
            plan.pack(w, qi, q, &mut self.theta[k * lo..]);
            plan.pack_transposed(w, qi, q, &mut self.theta_t[k * lo..]);
        }
        midpoints(&mut self.theta, lo);
        midpoints(&mut self.theta_t, lo);
        match res.kind {
            ResidualKind::Linear => {
                self.omega.resize(li, T::ZERO);
                self.omega_t.resize(li, T::ZERO);
                plan.pack(&res.omega, q, qi, &mut self.omega);
                plan.pack_transposed(&res.omega, q, qi, &mut self.omega_t);
            }
            ResidualKind::Shl => {
                self.theta1.resize((2 * l + 1) * li, T::ZERO);
                self.theta1_t.resize((2 * l + 1) * li, T::ZERO);
                for k in 0..=l {
                    let w = lay.theta1(&res.params, k);
                    plan.pack(w, q, qi, &mut self.theta1[k * li..]);
                    plan.pack_transposed(w, q, qi, &mut self.theta1_t[k * li..]);
                }
                midpoints(&mut self.theta1, li);
                midpoints(&mut self.theta1_t, li);
            }
        }
    }

    /// Packed `θ` block `j` (`j ≤ L`: grid time `j`; `j = L + 1 + k`: midpoint of step `k`).
    fn theta(&self, j: usize) -> &[T] {
        &self.theta[j * self.len_out..(j + 1) * self.len_out]
    }

    /// Packed transposed `θ` block `j` (as [`theta`](Self::theta)).
    fn theta_t(&self, j: usize) -> &[T] {
        &self.theta_t[j * self.len_out..(j + 1) * self.len_out]
    }

    /// Packed `θ¹` block `j` (as [`theta`](Self::theta)).
    fn theta1(&self, j: usize) -> &[T] {
        &self.theta1[j * self.len_in..(j + 1) * self.len_in]
    }

    /// Packed transposed `θ¹` block `j` (as [`theta`](Self::theta)).
    fn theta1_t(&self, j: usize) -> &[T] {
        &self.theta1_t[j * self.len_in..(j + 1) * self.len_in]
    }
}

/// Bytes of one chunk's largest im2col matrix in the batch-chunked flow
/// ([`Residual::forward_chunked`]): half of a core's 1 MiB L2 cache on the machines this
/// was tuned for, so the matrix a GEMM reads was written moments before and is still in
/// cache. A chunk of `c` images has matrices of at most `9 max(q, q_int) × 25c` values
/// (`177/225` of that with the grouped convolutions on 5×5).
pub const FLOW_CHUNK_BYTES: usize = 512 * 1024;

/// Images per chunk: as many as fit [`FLOW_CHUNK_BYTES`], between 4 and 64 (below 4 the
/// GEMMs are too thin for the micro-kernels). Depends only on the model's shape and `T`,
/// never on the thread count, so every result has the same bits on any number of threads.
pub fn flow_chunk<T>(res: &Residual<T>) -> usize {
    let col_bytes = 9 * res.q.max(res.q_int) * res.hw.0 * res.hw.1 * std::mem::size_of::<T>();
    (FLOW_CHUNK_BYTES / col_bytes.max(1)).clamp(4, 64)
}

/// Workspaces of the batch-chunked flow: one [`FlowWork`], state buffer and gradient per
/// chunk of [`flow_chunk`] images, and the packed weights all chunks share. Grown by
/// [`Residual::forward_chunked`] (the only place that allocates), reused by every later
/// call.
#[derive(Debug, Default, Clone)]
pub struct ChunkedFlowWork<T> {
    slots: Vec<Slot<T>>,
    plan: Plan,
    packed: Packed<T>,
}

#[derive(Debug, Default, Clone)]
struct Slot<T> {
    /// First image and number of images of the chunk.
    start: usize,
    n: usize,
    /// The chunk's state (forward) or adjoint (backward), `q × n·h·w` pixel-major.
    x: Vec<T>,
    work: FlowWork<T>,
    /// The chunk's parameter gradient.
    grad: Vec<T>,
}

impl<T: Real> ChunkedFlowWork<T> {
    fn ensure(&mut self, res: &Residual<T>, n: usize, store: bool) {
        if self.plan.hw() != res.hw {
            self.plan = Plan::new(res.hw.0, res.hw.1);
        }
        let c = flow_chunk(res);
        let chunks = n.div_ceil(c);
        if self.slots.len() < chunks {
            self.slots.resize_with(chunks, Slot::default);
        }
        let sx = res.q * res.hw.0 * res.hw.1;
        for (i, slot) in self.slots[..chunks].iter_mut().enumerate() {
            slot.start = i * c;
            slot.n = c.min(n - slot.start);
            if slot.x.len() < sx * slot.n {
                slot.x.resize(sx * slot.n, T::ZERO);
            }
            slot.work.ensure(res, slot.n);
            if store && slot.grad.len() != res.n_params() {
                slot.grad = vec![T::ZERO; res.n_params()];
            }
        }
    }
}

/// Runs `job` on every slot, on `par.degree()` threads (contiguous groups of slots, so
/// the work of a slot, and hence every result, does not depend on the thread count).
fn for_each_slot<T: Send>(slots: &mut [Slot<T>], par: Par, job: impl Fn(&mut Slot<T>) + Sync) {
    let threads = par.degree().clamp(1, slots.len().max(1));
    if threads == 1 {
        slots.iter_mut().for_each(&job);
        return;
    }
    let per = slots.len().div_ceil(threads);
    std::thread::scope(|scope| {
        for group in slots.chunks_mut(per) {
            let job = &job;
            scope.spawn(move || group.iter_mut().for_each(job));
        }
    });
}

impl<T: Real> Residual<T> {
    /// [`Residual::forward`] on chunks of [`flow_chunk`] images, spread over
    /// `par.degree()` threads, each chunk's GEMMs sequential. The flow acts on each image
    /// independently, so this is the same map; the chunks keep the im2col matrices in
    /// cache and the threads synchronise once per call instead of once per GEMM. Results
    /// are the same bits for every thread count.
    pub fn forward_chunked(
        &self,
        x: &mut [T],
        n: usize,
        work: &mut ChunkedFlowWork<T>,
        store: bool,
        par: Par,
    ) {
        work.ensure(self, n, store);
        self.over_chunks(
            x,
            n,
            work,
            par,
            |slot, packed| {
                let (x, work) = (&mut slot.x, &mut slot.work);
                self.forward_core(x, slot.n, work, packed, store, Par::Seq, |_, _, _| {});
            },
            |_| {},
        );
    }

    /// The exact adjoint of [`Residual::forward_chunked`] (which must have run with
    /// `store` on the same `work` and `n`): `a` from `∂ℓ/∂x_L` to `∂ℓ/∂x_0`, and
    /// `grad ← ∂ℓ/∂params`, the sum of the chunks' gradients in chunk order.
    ///
    /// # Panics
    /// If `grad.len() != n_params()`.
    pub fn backward_chunked(
        &self,
        a: &mut [T],
        n: usize,
        work: &mut ChunkedFlowWork<T>,
        grad: &mut [T],
        par: Par,
    ) {
        assert_eq!(
            grad.len(),
            self.n_params(),
            "Residual::backward_chunked: gradient length"
        );
        grad.fill(T::ZERO);
        self.over_chunks(
            a,
            n,
            work,
            par,
            |slot, packed| {
                let (a, work, g) = (&mut slot.x, &mut slot.work, &mut slot.grad);
                self.backward_core(a, slot.n, work, packed, g, Par::Seq);
            },
            |slot| {
                for (g, &v) in grad.iter_mut().zip(&slot.grad) {
                    *g += v;
                }
            },
        );
    }

    /// The chunked passes' frame: packs the weights into `work`, copies each chunk of
    /// `x` into its slot (pixel-major), runs `job(slot, packed)` on every slot
    /// ([`for_each_slot`]), then copies each slot back into `x` and hands it to
    /// `gather`, in chunk order.
    fn over_chunks(
        &self,
        x: &mut [T],
        n: usize,
        work: &mut ChunkedFlowWork<T>,
        par: Par,
        job: impl Fn(&mut Slot<T>, &Packed<T>) + Sync,
        mut gather: impl FnMut(&Slot<T>),
    ) {
        let (plan, packed) = (&work.plan, &mut work.packed);
        packed.fill(self, plan);
        let packed = &*packed;
        let slots = &mut work.slots[..n.div_ceil(flow_chunk(self))];
        for slot in slots.iter_mut() {
            plan.to_internal(x, self.q, n, slot.start, slot.n, &mut slot.x);
        }
        for_each_slot(slots, par, |slot| job(slot, packed));
        for slot in slots.iter() {
            plan.to_natural(&slot.x, self.q, n, slot.start, slot.n, x);
            gather(slot);
        }
    }
}

/// Sizes, step and parameter offsets of the midpoint steps on a batch ([`Residual`]'s
/// `layout`): what the forward and the backward pass both index with.
#[derive(Debug, Clone, Copy)]
struct Layout<T> {
    /// Steps `L`.
    l: usize,
    /// Length of a state (`q·n·h·w`).
    sx: usize,
    /// Length of a hidden activation (`q_int·n·h·w`).
    sz: usize,
    /// Step `h = 1/L`.
    h: T,
    /// `½`.
    half: T,
    /// Length of a `θ` block.
    tb: usize,
    /// Length of a `θ¹` block (0 for the linear residual).
    t1b: usize,
    /// Offset of the `θ¹` blocks in the parameter vector.
    t1o: usize,
}

impl<T> Layout<T> {
    /// The block `θ_k` of `params`.
    fn theta<'p>(&self, params: &'p [T], k: usize) -> &'p [T] {
        &params[k * self.tb..(k + 1) * self.tb]
    }
    /// The block `θ¹_k` of `params` (empty for the linear residual).
    fn theta1<'p>(&self, params: &'p [T], k: usize) -> &'p [T] {
        &params[self.t1o + k * self.t1b..self.t1o + (k + 1) * self.t1b]
    }
}

/// Buffers of the flow for a batch size; grown by [`FlowWork::ensure`] (the only place
/// that allocates, with the packed weights of the first plain call), reused by every
/// later call.
#[derive(Debug, Default, Clone)]
pub struct FlowWork<T> {
    n: usize,
    key: (usize, usize, usize, (usize, usize), usize),
    /// The pixel groups of the state's image size.
    plan: Plan,
    /// Packed weights of the plain (unchunked) calls.
    packed: Packed<T>,
    /// The state or adjoint in the flow's pixel-major layout (plain calls), and a
    /// channel-major copy for the observer.
    xi: Vec<T>,
    obs: Vec<T>,
    xh: Vec<T>,
    kbuf: Vec<T>,
    zs: Vec<T>,
    xs: Vec<T>,
    colx: Vec<T>,
    colz: Vec<T>,
    bmid: Vec<T>,
    dk: Vec<T>,
    dxh: Vec<T>,
    dx0: Vec<T>,
    dz: Vec<T>,
    dtmid: Vec<T>,
    dt1mid: Vec<T>,
    dpack: Vec<T>,
}

impl<T: Real> FlowWork<T> {
    /// Sizes the buffers for `n` samples of `res` (no-op when already sized).
    pub fn ensure(&mut self, res: &Residual<T>, n: usize) {
        let key = (res.q, res.q_int, res.steps, res.hw, res.theta1_block());
        if self.n == n && self.key == key {
            return;
        }
        self.n = n;
        self.key = key;
        if self.plan.hw() != res.hw {
            self.plan = Plan::new(res.hw.0, res.hw.1);
        }
        let np = n * res.hw.0 * res.hw.1;
        let (sx, sz) = (res.q * np, res.q_int * np);
        let z = T::ZERO;
        self.xi = vec![z; sx];
        self.obs = vec![z; sx];
        self.xh = vec![z; sx];
        self.kbuf = vec![z; sx];
        self.zs = vec![z; 2 * res.steps * sz];
        self.xs = if res.kind == ResidualKind::Shl {
            vec![z; 2 * res.steps * sx]
        } else {
            Vec::new()
        };
        self.colx = vec![z; self.plan.col_len(res.q, n)];
        self.colz = vec![z; self.plan.col_len(res.q_int, n)];
        self.bmid = vec![z; res.q];
        self.dk = vec![z; sx];
        self.dxh = vec![z; sx];
        self.dx0 = vec![z; sx];
        self.dz = vec![z; sz];
        self.dtmid = vec![z; res.theta_block()];
        self.dt1mid = vec![z; res.theta1_block()];
        self.dpack = vec![z; self.plan.packed_len(res.q, res.q_int)];
    }
}
