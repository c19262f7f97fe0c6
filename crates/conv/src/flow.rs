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
//! recomputes the im2col matrices from them. Every buffer lives in [`FlowWork`], so a
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

    /// The parameters at the midpoint of step `k`: `wmid = (θ_k + θ_{k+1})/2` and, for
    /// SHL, `w1mid = (θ¹_k + θ¹_{k+1})/2` (`w1mid` untouched for the linear residual).
    fn midpoint_params(&self, lay: &Layout<T>, k: usize, wmid: &mut [T], w1mid: &mut [T]) {
        let half = lay.half;
        let (wk, wk1) = (lay.theta(&self.params, k), lay.theta(&self.params, k + 1));
        for ((m, &a), &b) in wmid.iter_mut().zip(wk).zip(wk1) {
            *m = half * (a + b);
        }
        if self.kind == ResidualKind::Shl {
            let (a, b) = (lay.theta1(&self.params, k), lay.theta1(&self.params, k + 1));
            for ((m, &u), &v) in w1mid.iter_mut().zip(a).zip(b) {
                *m = half * (u + v);
            }
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
        let lay = self.layout(n);
        let (sx, sz, h, half) = (lay.sx, lay.sz, lay.h, lay.half);
        let x = &mut x[..sx];
        observe(0, x);
        for k in 0..lay.l {
            // parameters at t_k and at the midpoint
            let wk = lay.theta(&self.params, k);
            self.midpoint_params(&lay, k, &mut work.wmid, &mut work.w1mid);
            let (w1k, w1mid): (&[T], &[T]) = match self.kind {
                ResidualKind::Linear => (&self.omega, &self.omega),
                ResidualKind::Shl => (lay.theta1(&self.params, k), &work.w1mid),
            };
            let (s0, s1) = if store { (2 * k, 2 * k + 1) } else { (0, 0) };
            // stage 1 at x_k
            if store && self.kind == ResidualKind::Shl {
                work.xs[s0 * sx..(s0 + 1) * sx].copy_from_slice(x);
            }
            self.eval_f(
                w1k,
                wk,
                x,
                n,
                &mut work.zs[s0 * sz..(s0 + 1) * sz],
                &mut work.colx,
                &mut work.colz,
                &mut work.kbuf,
                par,
            );
            let hh = half * h;
            for ((m, &xv), &kv) in work.xh.iter_mut().zip(x.iter()).zip(&work.kbuf) {
                *m = xv + hh * kv;
            }
            // stage 2 at the midpoint
            if store && self.kind == ResidualKind::Shl {
                work.xs[s1 * sx..(s1 + 1) * sx].copy_from_slice(&work.xh);
            }
            let wmid = std::mem::take(&mut work.wmid);
            self.eval_f(
                w1mid,
                &wmid,
                &work.xh,
                n,
                &mut work.zs[s1 * sz..(s1 + 1) * sz],
                &mut work.colx,
                &mut work.colz,
                &mut work.kbuf,
                par,
            );
            work.wmid = wmid;
            for (xv, &kv) in x.iter_mut().zip(&work.kbuf) {
                *xv += h * kv;
            }
            observe(k + 1, x);
        }
    }

    /// `out ← f(x) = θ_out * ReLU(w_in * x)`; `z ← ReLU(w_in * x)`.
    fn eval_f(
        &self,
        w_in: &[T],
        w_out: &[T],
        x: &[T],
        n: usize,
        z: &mut [T],
        colx: &mut [T],
        colz: &mut [T],
        out: &mut [T],
        par: Par,
    ) {
        let (hh, ww) = self.hw;
        let np = n * hh * ww;
        let (si, so) = (self.spec_in(), self.spec_out());
        si.im2col(x, n, hh, ww, colx);
        si.gemm_forward(w_in, None, colx, np, z, par);
        relu_in_place(z);
        so.im2col(z, n, hh, ww, colz);
        let (w, b) = w_out.split_at(so.weight_len());
        so.gemm_forward(w, Some(b), colz, np, out, par);
    }

    /// Vector–Jacobian product of one stage: from `dout = ∂ℓ/∂f`, `dx ← ∂ℓ/∂x`,
    /// `dw_out (+)= ∂ℓ/∂θ_out`, `dw_in (+)= ∂ℓ/∂θ¹` (SHL; `x` is then the stage input).
    fn vjp_f(
        &self,
        w_in: &[T],
        w_out: &[T],
        x: &[T],
        z: &[T],
        n: usize,
        dout: &[T],
        dw_out: &mut [T],
        dw_in: Option<&mut [T]>,
        accum: bool,
        dx: &mut [T],
        work_dz: &mut [T],
        colx: &mut [T],
        colz: &mut [T],
        par: Par,
    ) {
        let (hh, ww) = self.hw;
        let np = n * hh * ww;
        let (si, so) = (self.spec_in(), self.spec_out());
        so.im2col(z, n, hh, ww, colz);
        let (w, _) = w_out.split_at(so.weight_len());
        let (dw, db) = dw_out.split_at_mut(so.weight_len());
        so.gemm_backward_params(dout, colz, np, T::ONE, dw, Some(db), accum, par);
        so.gemm_backward_col(w, dout, np, colz, par);
        let dz = &mut work_dz[..self.q_int * np];
        dz.fill(T::ZERO);
        so.col2im_add(colz, n, hh, ww, dz);
        relu_backward_in_place(z, dz);
        if let Some(dw1) = dw_in {
            si.im2col(x, n, hh, ww, colx);
            si.gemm_backward_params(dz, colx, np, T::ONE, dw1, None, accum, par);
        }
        si.gemm_backward_col(w_in, dz, np, colx, par);
        dx[..self.q * np].fill(T::ZERO);
        si.col2im_add(colx, n, hh, ww, dx);
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
        let lay = self.layout(n);
        let (sx, sz, h, half) = (lay.sx, lay.sz, lay.h, lay.half);
        let (l, tb, t1b, t1o) = (lay.l, lay.tb, lay.t1b, lay.t1o);
        let shl = self.kind == ResidualKind::Shl;
        grad.fill(T::ZERO);
        let a = &mut a[..sx];
        let w = work;
        for k in (0..l).rev() {
            let wk = lay.theta(&self.params, k);
            self.midpoint_params(&lay, k, &mut w.wmid, &mut w.w1mid);
            let (s0, s1) = (2 * k, 2 * k + 1);
            // midpoint stage: dk = h a
            for (d, &av) in w.dk.iter_mut().zip(a.iter()) {
                *d = h * av;
            }
            {
                let w1mid: &[T] = if shl { &w.w1mid } else { &self.omega };
                self.vjp_f(
                    w1mid,
                    &w.wmid,
                    &w.xs[if shl { s1 * sx } else { 0 }..][..if shl { sx } else { 0 }],
                    &w.zs[s1 * sz..(s1 + 1) * sz],
                    n,
                    &w.dk,
                    &mut w.dtmid,
                    if shl { Some(&mut w.dt1mid) } else { None },
                    false,
                    &mut w.dxh,
                    &mut w.dz,
                    &mut w.colx,
                    &mut w.colz,
                    par,
                );
            }
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
            {
                let (gt, gt1) = grad.split_at_mut(t1o);
                let w1k: &[T] = if shl {
                    lay.theta1(&self.params, k)
                } else {
                    &self.omega
                };
                self.vjp_f(
                    w1k,
                    wk,
                    &w.xs[if shl { s0 * sx } else { 0 }..][..if shl { sx } else { 0 }],
                    &w.zs[s0 * sz..(s0 + 1) * sz],
                    n,
                    &w.dk,
                    &mut gt[k * tb..(k + 1) * tb],
                    if shl {
                        Some(&mut gt1[k * t1b..(k + 1) * t1b])
                    } else {
                        None
                    },
                    true,
                    &mut w.dx0,
                    &mut w.dz,
                    &mut w.colx,
                    &mut w.colz,
                    par,
                );
            }
            for ((av, &g1), &g0) in a.iter_mut().zip(&w.dxh).zip(&w.dx0) {
                *av += g1 + g0;
            }
        }
    }
}

/// Bytes of one chunk's largest im2col matrix in the batch-chunked flow
/// ([`Residual::forward_chunked`]): half of a core's 1 MiB L2 cache on the machines this
/// was tuned for, so the matrix a GEMM reads was written moments before and is still in
/// cache. A chunk of `c` images has matrices of `9 max(q, q_int) × 25c` values.
pub const FLOW_CHUNK_BYTES: usize = 512 * 1024;

/// Images per chunk: as many as fit [`FLOW_CHUNK_BYTES`], between 4 and 64 (below 4 the
/// GEMMs are too thin for the micro-kernels). Depends only on the model's shape and `T`,
/// never on the thread count, so every result has the same bits on any number of threads.
pub fn flow_chunk<T>(res: &Residual<T>) -> usize {
    let col_bytes = 9 * res.q.max(res.q_int) * res.hw.0 * res.hw.1 * std::mem::size_of::<T>();
    (FLOW_CHUNK_BYTES / col_bytes.max(1)).clamp(4, 64)
}

/// Workspaces of the batch-chunked flow: one [`FlowWork`], state buffer and gradient per
/// chunk of [`flow_chunk`] images. Grown by [`Residual::forward_chunked`] (the only place
/// that allocates), reused by every later call.
#[derive(Debug, Default, Clone)]
pub struct ChunkedFlowWork<T> {
    slots: Vec<Slot<T>>,
}

#[derive(Debug, Default, Clone)]
struct Slot<T> {
    /// First image and number of images of the chunk.
    start: usize,
    n: usize,
    /// The chunk's state (forward) or adjoint (backward), `q × n·h·w`.
    x: Vec<T>,
    work: FlowWork<T>,
    /// The chunk's parameter gradient.
    grad: Vec<T>,
}

impl<T: Real> ChunkedFlowWork<T> {
    fn ensure(&mut self, res: &Residual<T>, n: usize, store: bool) {
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

/// Copies the columns `[start·s, (start + n)·s)` of each of the `rows` rows of `src`
/// (row length `stride`) into `dst` (`rows × n·s`, contiguous), or back with `back`.
fn gather_columns<T: Copy>(
    src: &mut [T],
    stride: usize,
    rows: usize,
    cols: std::ops::Range<usize>,
    dst: &mut [T],
    back: bool,
) {
    let w = cols.len();
    for r in 0..rows {
        let s = &mut src[r * stride + cols.start..r * stride + cols.end];
        let d = &mut dst[r * w..(r + 1) * w];
        if back {
            s.copy_from_slice(d);
        } else {
            d.copy_from_slice(s);
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
        let s = self.hw.0 * self.hw.1;
        let slots = &mut work.slots[..n.div_ceil(flow_chunk(self))];
        for slot in slots.iter_mut() {
            let cols = slot.start * s..(slot.start + slot.n) * s;
            gather_columns(x, n * s, self.q, cols, &mut slot.x, false);
        }
        for_each_slot(slots, par, |slot| {
            self.forward(&mut slot.x, slot.n, &mut slot.work, store, Par::Seq);
        });
        for slot in slots.iter_mut() {
            let cols = slot.start * s..(slot.start + slot.n) * s;
            gather_columns(x, n * s, self.q, cols, &mut slot.x, true);
        }
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
        let s = self.hw.0 * self.hw.1;
        let slots = &mut work.slots[..n.div_ceil(flow_chunk(self))];
        for slot in slots.iter_mut() {
            let cols = slot.start * s..(slot.start + slot.n) * s;
            gather_columns(a, n * s, self.q, cols, &mut slot.x, false);
        }
        for_each_slot(slots, par, |slot| {
            self.backward(
                &mut slot.x,
                slot.n,
                &mut slot.work,
                &mut slot.grad,
                Par::Seq,
            );
        });
        grad.fill(T::ZERO);
        for slot in slots.iter_mut() {
            let cols = slot.start * s..(slot.start + slot.n) * s;
            gather_columns(a, n * s, self.q, cols, &mut slot.x, true);
            for (g, &v) in grad.iter_mut().zip(&slot.grad) {
                *g += v;
            }
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
/// that allocates), reused by every later call.
#[derive(Debug, Default, Clone)]
pub struct FlowWork<T> {
    n: usize,
    key: (usize, usize, usize, usize, usize),
    xh: Vec<T>,
    kbuf: Vec<T>,
    zs: Vec<T>,
    xs: Vec<T>,
    colx: Vec<T>,
    colz: Vec<T>,
    wmid: Vec<T>,
    w1mid: Vec<T>,
    dk: Vec<T>,
    dxh: Vec<T>,
    dx0: Vec<T>,
    dz: Vec<T>,
    dtmid: Vec<T>,
    dt1mid: Vec<T>,
}

impl<T: Real> FlowWork<T> {
    /// Sizes the buffers for `n` samples of `res` (no-op when already sized).
    pub fn ensure(&mut self, res: &Residual<T>, n: usize) {
        let key = (
            res.q,
            res.q_int,
            res.steps,
            res.hw.0 * res.hw.1,
            res.theta1_block(),
        );
        if self.n == n && self.key == key {
            return;
        }
        self.n = n;
        self.key = key;
        let np = n * res.hw.0 * res.hw.1;
        let (sx, sz) = (res.q * np, res.q_int * np);
        let z = T::ZERO;
        self.xh = vec![z; sx];
        self.kbuf = vec![z; sx];
        self.zs = vec![z; 2 * res.steps * sz];
        self.xs = if res.kind == ResidualKind::Shl {
            vec![z; 2 * res.steps * sx]
        } else {
            Vec::new()
        };
        self.colx = vec![z; 9 * sx];
        self.colz = vec![z; 9 * sz];
        self.wmid = vec![z; res.theta_block()];
        self.w1mid = vec![z; res.theta1_block()];
        self.dk = vec![z; sx];
        self.dxh = vec![z; sx];
        self.dx0 = vec![z; sx];
        self.dz = vec![z; sz];
        self.dtmid = vec![z; res.theta_block()];
        self.dt1mid = vec![z; res.theta1_block()];
    }
}
