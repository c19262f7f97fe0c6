//! The [`FeatureMap`] trait and the blocked forward pass the feature maps share.
//!
//! Every feature map here has the form `φ(x) = s · σ(W x + b)` applied to a batch
//! `X ∈ R^{N×d}` (one sample per row): a GEMM `Z = X Wᵀ` followed by an element-wise
//! activation. For input dimension `d ≤ 64` (column-major data) the private `fused` kernel
//! does both in SIMD registers. Otherwise the driver here runs faer's GEMM on blocks of
//! columns (features) sized to stay in the L2 cache and applies the activation to each
//! block right after, so `Φ` travels through main memory once. Large outputs split their
//! columns between threads (the map's `Par`, by default faer's global setting) on either
//! path.

use faer::linalg::matmul::matmul;
use faer::prelude::ReborrowMut;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use plres_kernels::KernelSpec;

use crate::spec::FeatureSpec;

/// A finite feature map `φ: R^d → R^p` with its backward pass (docs/theory.md §3.2).
///
/// Batches are row-major in meaning: `X` is `N×d`, `Φ = φ(X)` is `N×p`, one sample per row.
/// The kernel of the map is `k_p(x, y) = φ(x)·φ(y)`; [`limit_kernel`](Self::limit_kernel)
/// is its expectation over the random weights (and its `p → ∞` limit).
pub trait FeatureMap: std::fmt::Debug + Send + Sync {
    /// Input dimension `d`.
    fn input_dim(&self) -> usize;

    /// Output dimension (number of features) `p`.
    fn output_dim(&self) -> usize;

    /// `Φ = φ(X)`: `x` is `N×d`, `phi` is `N×p` (overwritten).
    ///
    /// # Panics
    /// If the shapes disagree (the message names every dimension).
    fn apply_in_place(&self, x: MatRef<'_, f64>, phi: MatMut<'_, f64>);

    /// `φ(X)` as a new `N×p` matrix.
    fn apply(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        let mut phi = Mat::zeros(x.nrows(), self.output_dim());
        self.apply_in_place(x, phi.as_mut());
        phi
    }

    /// Columns of the per-sample cache the backward pass needs (`p` for all maps here).
    fn cache_dim(&self) -> usize;

    /// `Φ = φ(X)` and, in `cache` (`N × cache_dim`), what [`vjp_in_place`](Self::vjp_in_place)
    /// needs — for cosine features `−√(2/p) sin(XΩᵀ + b)`, evaluated together with the
    /// cosine from one range reduction: nothing is computed twice.
    ///
    /// # Panics
    /// If the shapes disagree.
    fn apply_with_cache(&self, x: MatRef<'_, f64>, phi: MatMut<'_, f64>, cache: MatMut<'_, f64>);

    /// Vector–Jacobian product: given `V` (`N×p`, the gradient with respect to `Φ`),
    /// `∇_X = (V ⊙ φ'(XWᵀ + b)) W` (`N×d`) is written into `grad_x` with `accum`
    /// (`Accum::Replace` or `Accum::Add`), using the cache of
    /// [`apply_with_cache`](Self::apply_with_cache) at the same `X`. `v` is used as scratch
    /// (overwritten); nothing is allocated.
    ///
    /// # Panics
    /// If the shapes disagree.
    fn vjp_in_place(
        &self,
        cache: MatRef<'_, f64>,
        v: MatMut<'_, f64>,
        grad_x: MatMut<'_, f64>,
        accum: Accum,
    );

    /// The kernel `k(x, y) = lim_{p→∞} φ(x)·φ(y) = E φ(x)·φ(y)`.
    fn limit_kernel(&self) -> KernelSpec;

    /// Pre-activation weights: rows `ω_j` / `w_j` (`p×d` for cosine and ReLU features,
    /// `p/2 × d` for paired Fourier features).
    fn weights(&self) -> MatRef<'_, f64>;

    /// Pre-activation bias (`p` entries; empty for paired Fourier features).
    fn bias(&self) -> &[f64];

    /// The serialisable description of this map (without its random weights): what a
    /// checkpoint records to rebuild it with [`FeatureSpec::from_parts`]. Each map states
    /// its own (no default: one read off the limit kernel would name a concrete map this
    /// trait cannot know about).
    fn spec(&self) -> FeatureSpec;

    /// The column-by-column structure `φ_j(x) = s·σ(w_j·x + b_j)` when the map has it
    /// (cosine-with-phase Fourier features, ReLU features), so that a consumer can compute
    /// any block of features of any block of rows itself — e.g. a training step that never
    /// holds a whole `N×p` matrix ([`Columnwise::block`]). `None` (the default) for maps
    /// without it (paired Fourier features, whose columns come in cos/sin pairs).
    fn columnwise(&self) -> Option<Columnwise<'_>> {
        None
    }

    /// The `N×N` Gram of the features, `K_p = Φ Φᵀ`, `(K_p)_{ij} = k_p(x_i, x_j)`.
    fn gram(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        let phi = self.apply(x);
        let n = x.nrows();
        let mut k = Mat::zeros(n, n);
        matmul(
            k.as_mut(),
            Accum::Replace,
            phi.as_ref(),
            phi.as_ref().transpose(),
            1.0,
            effective_par(faer::get_global_parallelism(), n, self.output_dim()),
        );
        k
    }
}

/// Below this many output entries (`N·p`) everything runs on one thread: the work is
/// then ≲ 50 µs, comparable with the cost of waking a second thread.
pub(crate) const PAR_THRESHOLD: usize = 1 << 16;

/// Target bytes of one column block of `Φ` (plus cache): about a typical 1 MiB L2.
const BLOCK_BYTES: usize = 1 << 20;

/// `par` for an `n × p` output, or `Par::Seq` if it is too small to be worth splitting.
pub(crate) fn effective_par(par: Par, n: usize, p: usize) -> Par {
    if n.saturating_mul(p) >= PAR_THRESHOLD {
        par
    } else {
        Par::Seq
    }
}

/// Column-aligned views of one forward pass: column `j` of `z` and of every `extra`
/// belongs to weight row `j` of `w` (and to `shift[j]` when `shift` is not empty).
pub(crate) struct Slab<'a> {
    /// Weight rows of these columns (`q×d`).
    pub w: MatRef<'a, f64>,
    /// Per-column shift (bias), `q` entries, or empty.
    pub shift: &'a [f64],
    /// `N×q`: receives `X Wᵀ`, then the activation overwrites it.
    pub z: MatMut<'a, f64>,
    /// Further `N×q` outputs of the activation (sin half, cache, …).
    pub extra: [Option<MatMut<'a, f64>>; 3],
}

impl<'a> Slab<'a> {
    fn cols(&self) -> usize {
        self.w.nrows()
    }

    fn sub(&mut self, j0: usize, len: usize) -> Slab<'_> {
        Slab {
            w: self.w.subrows(j0, len),
            shift: if self.shift.is_empty() {
                &[]
            } else {
                &self.shift[j0..j0 + len]
            },
            z: self.z.rb_mut().subcols_mut(j0, len),
            extra: self
                .extra
                .each_mut()
                .map(|e| e.as_mut().map(|m| m.rb_mut().subcols_mut(j0, len))),
        }
    }

    fn split(self, mid: usize) -> (Slab<'a>, Slab<'a>) {
        let (w0, w1) = self.w.split_at_row(mid);
        let (s0, s1) = if self.shift.is_empty() {
            (self.shift, self.shift)
        } else {
            self.shift.split_at(mid)
        };
        let (z0, z1) = self.z.split_at_col_mut(mid);
        let (mut e0, mut e1) = ([None, None, None], [None, None, None]);
        for (i, e) in self.extra.into_iter().enumerate() {
            if let Some(m) = e {
                let (a, b) = m.split_at_col_mut(mid);
                e0[i] = Some(a);
                e1[i] = Some(b);
            }
        }
        (
            Slab {
                w: w0,
                shift: s0,
                z: z0,
                extra: e0,
            },
            Slab {
                w: w1,
                shift: s1,
                z: z1,
                extra: e1,
            },
        )
    }
}

/// The activation applied to one column block: on entry `slab.z = X·slab.wᵀ`.
pub(crate) type Activation<'f> = dyn for<'s> Fn(Slab<'s>) + Sync + 'f;

/// `slab.z = X Wᵀ` and then `act(slab)`, block of columns by block of columns: each block
/// (`N × q_b`, with its extras ≈ [`BLOCK_BYTES`]) is activated right after its GEMM, while
/// it is still in cache. With `par = Par::rayon(t)`, `t ≥ 2`, and a large enough output,
/// the columns are split between two threads.
pub(crate) fn forward_blocked(x: MatRef<'_, f64>, slab: Slab<'_>, par: Par, act: &Activation<'_>) {
    let n = x.nrows();
    let matrices = 1 + slab.extra.iter().filter(|e| e.is_some()).count();
    let par = effective_par(par, n, matrices * slab.cols());
    let block = (BLOCK_BYTES / (8 * matrices * n.max(1))).clamp(16, 1024) / 8 * 8;
    drive(x, slab, block, par, act);
}

fn drive(x: MatRef<'_, f64>, mut slab: Slab<'_>, block: usize, par: Par, act: &Activation<'_>) {
    let q = slab.cols();
    if let Par::Rayon(threads) = par
        && threads.get() >= 2
        && q >= 16
    {
        let mid = q.div_ceil(2);
        let (a, b) = slab.split(mid);
        faer::utils::thread::join_raw(
            |par| drive(x, a, block, par, act),
            |par| drive(x, b, block, par, act),
            par,
        );
        return;
    }
    let mut j0 = 0;
    while j0 < q {
        let len = block.min(q - j0);
        let mut sub = slab.sub(j0, len);
        matmul(
            sub.z.rb_mut(),
            Accum::Replace,
            x,
            sub.w.transpose(),
            1.0,
            Par::Seq,
        );
        act(sub);
        j0 += len;
    }
}

/// Rows handled at once when a column is not contiguous (copied through a stack buffer).
const STRIDED_CHUNK: usize = 64;

/// Calls `f(j, a_col_j)` on contiguous pieces of every column of `a` (whole columns when
/// `a` is column-major; stack-buffered pieces of `STRIDED_CHUNK` rows otherwise).
pub(crate) fn for_each_col(mut a: MatMut<'_, f64>, mut f: impl FnMut(usize, &mut [f64])) {
    let n = a.nrows();
    if let Some(mut a) = a.rb_mut().try_as_col_major_mut() {
        for j in 0..a.ncols() {
            f(j, a.rb_mut().col_mut(j).as_slice_mut());
        }
        return;
    }
    let mut buf = [0.0; STRIDED_CHUNK];
    for j in 0..a.ncols() {
        let mut i0 = 0;
        while i0 < n {
            let len = STRIDED_CHUNK.min(n - i0);
            for i in 0..len {
                buf[i] = a[(i0 + i, j)];
            }
            f(j, &mut buf[..len]);
            for i in 0..len {
                a[(i0 + i, j)] = buf[i];
            }
            i0 += len;
        }
    }
}

/// Like [`for_each_col`] on two matrices of the same shape at once: `f(j, a_j, b_j)`.
pub(crate) fn for_each_col2(
    mut a: MatMut<'_, f64>,
    mut b: MatMut<'_, f64>,
    mut f: impl FnMut(usize, &mut [f64], &mut [f64]),
) {
    assert!(
        a.nrows() == b.nrows() && a.ncols() == b.ncols(),
        "for_each_col2: {}×{} vs {}×{}",
        a.nrows(),
        a.ncols(),
        b.nrows(),
        b.ncols()
    );
    let n = a.nrows();
    if let (Some(mut ac), Some(mut bc)) = (
        a.rb_mut().try_as_col_major_mut(),
        b.rb_mut().try_as_col_major_mut(),
    ) {
        for j in 0..ac.ncols() {
            f(
                j,
                ac.rb_mut().col_mut(j).as_slice_mut(),
                bc.rb_mut().col_mut(j).as_slice_mut(),
            );
        }
        return;
    }
    let mut abuf = [0.0; STRIDED_CHUNK];
    let mut bbuf = [0.0; STRIDED_CHUNK];
    for j in 0..a.ncols() {
        let mut i0 = 0;
        while i0 < n {
            let len = STRIDED_CHUNK.min(n - i0);
            for i in 0..len {
                abuf[i] = a[(i0 + i, j)];
                bbuf[i] = b[(i0 + i, j)];
            }
            f(j, &mut abuf[..len], &mut bbuf[..len]);
            for i in 0..len {
                a[(i0 + i, j)] = abuf[i];
                b[(i0 + i, j)] = bbuf[i];
            }
            i0 += len;
        }
    }
}

/// `v ← v ⊙ c` (same shapes; checked by the callers).
pub(crate) fn hadamard_in_place(mut v: MatMut<'_, f64>, c: MatRef<'_, f64>) {
    if let (Some(mut vc), Some(cc)) = (v.rb_mut().try_as_col_major_mut(), c.try_as_col_major()) {
        for j in 0..vc.ncols() {
            let vj = vc.rb_mut().col_mut(j).as_slice_mut();
            for (a, b) in vj.iter_mut().zip(cc.col(j).as_slice()) {
                *a *= b;
            }
        }
        return;
    }
    for j in 0..v.ncols() {
        for i in 0..v.nrows() {
            v[(i, j)] *= c[(i, j)];
        }
    }
}

/// Panics unless `x` is `n×d` and `phi` is `n×p` for the map's `d`, `p`.
pub(crate) fn check_forward(
    name: &str,
    d: usize,
    p: usize,
    x: MatRef<'_, f64>,
    phi: MatRef<'_, f64>,
) {
    assert!(
        x.ncols() == d && phi.nrows() == x.nrows() && phi.ncols() == p,
        "{name}: x is {}×{} and phi is {}×{}, expected N×{d} and N×{p}",
        x.nrows(),
        x.ncols(),
        phi.nrows(),
        phi.ncols()
    );
}

/// Panics unless `cache` and `v` are `n×p` and `grad_x` is `n×d`.
pub(crate) fn check_backward(
    name: &str,
    d: usize,
    p: usize,
    cache: MatRef<'_, f64>,
    v: MatRef<'_, f64>,
    grad_x: MatRef<'_, f64>,
) {
    let n = v.nrows();
    assert!(
        v.ncols() == p
            && cache.nrows() == n
            && cache.ncols() == p
            && grad_x.nrows() == n
            && grad_x.ncols() == d,
        "{name} vjp: cache is {}×{}, v is {}×{}, grad_x is {}×{}, expected N×{p}, N×{p}, N×{d}",
        cache.nrows(),
        cache.ncols(),
        v.nrows(),
        v.ncols(),
        grad_x.nrows(),
        grad_x.ncols()
    );
}

/// `dst ← alpha · src` (same shapes; checked by the callers).
pub(crate) fn scaled_copy(mut dst: MatMut<'_, f64>, src: MatRef<'_, f64>, alpha: f64) {
    if let (Some(mut dc), Some(sc)) = (dst.rb_mut().try_as_col_major_mut(), src.try_as_col_major())
    {
        for j in 0..dc.ncols() {
            let dj = dc.rb_mut().col_mut(j).as_slice_mut();
            for (a, b) in dj.iter_mut().zip(sc.col(j).as_slice()) {
                *a = alpha * b;
            }
        }
        return;
    }
    for j in 0..dst.ncols() {
        for i in 0..dst.nrows() {
            dst[(i, j)] = alpha * src[(i, j)];
        }
    }
}

/// Largest input dimension for which [`Columnwise::block`] uses the fused kernel.
const FUSED_BLOCK_MAX_DIM: usize = 32;

/// The element-wise activation `σ` of a [`Columnwise`] map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnActivation {
    /// `σ = cos`, `σ' = −sin` (random Fourier features with a phase).
    Cos,
    /// `σ = relu`, `σ'(y) = 1[y > 0]` (0 at the kink; NaN stays NaN in `σ`).
    Relu,
}

/// A feature map seen column by column: `φ_j(x) = s·σ(w_j·x + b_j)`, `j < p`
/// ([`FeatureMap::columnwise`]).
#[derive(Clone, Copy, Debug)]
pub struct Columnwise<'a> {
    /// Rows `w_j`: `p×d`.
    pub weights: MatRef<'a, f64>,
    /// `b_j`: `p` entries.
    pub bias: &'a [f64],
    /// `s` (`√(2/p)` for the maps here).
    pub scale: f64,
    /// `σ`.
    pub activation: ColumnActivation,
}

impl Columnwise<'_> {
    /// Features `j0 .. j0 + jb` of the rows `x` (`ib×d`), with `jb = z.len() / ib`:
    /// `z ← s·σ(x W_{j0..}ᵀ + b_{j0..})` and, when given, `deriv ← s·σ'(…)`, both `ib×jb`
    /// column-major. The map's own forward kernels, single-threaded: for `d ≤ 32` the fused
    /// kernel (`b_j + w_j·x` and the activation in registers), otherwise one GEMM, then
    /// `y = z + b_j` rounded, then the activation.
    ///
    /// # Panics
    /// If `z.len()` is not a multiple of `x.nrows()`, the block runs past `p`, `x` does not
    /// have `d` columns, or `deriv` has another length than `z`.
    pub fn block(&self, x: MatRef<'_, f64>, j0: usize, z: &mut [f64], deriv: Option<&mut [f64]>) {
        let (ib, d) = (x.nrows(), self.weights.ncols());
        assert!(
            ib > 0 && z.len().is_multiple_of(ib),
            "Columnwise::block: z has length {}, not a multiple of the {ib} rows",
            z.len()
        );
        let jb = z.len() / ib;
        assert!(
            j0 + jb <= self.weights.nrows() && x.ncols() == d,
            "Columnwise::block: features {j0}..{} of {}, x is {ib}×{} (d = {d})",
            j0 + jb,
            self.weights.nrows(),
            x.ncols()
        );
        if let Some(g) = deriv.as_deref() {
            assert_eq!(g.len(), z.len(), "Columnwise::block: deriv length");
        }
        forward_columnwise(
            x,
            self.weights.subrows(j0, jb),
            &self.bias[j0..j0 + jb],
            self.scale,
            self.activation,
            MatMut::from_column_major_slice_mut(z, ib, jb),
            deriv.map(|g| MatMut::from_column_major_slice_mut(g, ib, jb)),
            Par::Seq,
            // measured on the training step's 64-row tiles, the fused kernel beats GEMM then
            // activation by ~10 % at d = 8 and is no faster at d = 64
            FUSED_BLOCK_MAX_DIM,
        );
    }
}

/// `Φ = s·σ(X Wᵀ + b)` and, with `cache`, `s·σ'(X Wᵀ + b)` for a column-wise activation:
/// the fused register kernel when `d ≤ fused_max_dim` and the layouts allow it, otherwise
/// faer's GEMM on column blocks ([`forward_blocked`]) with the activation right after each
/// block (`y = z + b_j` rounded, then `σ`). The one forward pass of
/// [`RandomFourierFeatures`](crate::RandomFourierFeatures) (cosine variant),
/// [`RandomReluFeatures`](crate::RandomReluFeatures) and [`Columnwise::block`].
#[allow(clippy::too_many_arguments)] // private; mirrors the maths' list of operands
pub(crate) fn forward_columnwise(
    x: MatRef<'_, f64>,
    w: MatRef<'_, f64>,
    bias: &[f64],
    s: f64,
    act: ColumnActivation,
    mut phi: MatMut<'_, f64>,
    mut cache: Option<MatMut<'_, f64>>,
    par: Par,
    fused_max_dim: usize,
) {
    let fused_act = match act {
        ColumnActivation::Cos => crate::fused::Activation::Cos,
        ColumnActivation::Relu => crate::fused::Activation::Relu,
    };
    if x.ncols() <= fused_max_dim
        && crate::fused::try_forward(
            x,
            w,
            bias,
            s,
            fused_act,
            phi.rb_mut(),
            cache.as_mut().map(|c| c.rb_mut()),
            crate::fused::fused_par(par, x.nrows(), w.nrows(), fused_act),
        )
    {
        return;
    }
    let slab = Slab {
        w,
        shift: bias,
        z: phi,
        extra: [cache, None, None],
    };
    match act {
        ColumnActivation::Cos => {
            let backend = crate::trig::Backend::detect();
            let act = |slab: Slab<'_>| {
                let shift = slab.shift;
                match slab.extra {
                    [Some(cache), ..] => for_each_col2(slab.z, cache, |j, z, c| {
                        crate::trig::cos_sin_in_place_with(backend, z, shift[j], s, -s, c);
                    }),
                    _ => for_each_col(slab.z, |j, z| {
                        crate::trig::shifted_cos_in_place_with(backend, z, shift[j], s);
                    }),
                }
            };
            forward_blocked(x, slab, par, &act);
        }
        ColumnActivation::Relu => {
            let act = |slab: Slab<'_>| {
                // faer's kernels leave the upper vector state dirty; the baseline-x86-64
                // loops below would pay an SSE/AVX transition penalty on every instruction
                plres_simd::clear_upper_state();
                let c = slab.shift;
                match slab.extra {
                    [Some(cache), ..] => for_each_col2(slab.z, cache, |j, z, g| {
                        for (zi, gi) in z.iter_mut().zip(g.iter_mut()) {
                            let y = *zi + c[j];
                            // NaN stays NaN in φ (`y < 0` is false); its derivative is 0
                            *zi = s * if y < 0.0 { 0.0 } else { y };
                            *gi = if y > 0.0 { s } else { 0.0 };
                        }
                    }),
                    _ => for_each_col(slab.z, |j, z| {
                        for zi in z.iter_mut() {
                            let y = *zi + c[j];
                            *zi = s * if y < 0.0 { 0.0 } else { y };
                        }
                    }),
                }
            };
            forward_blocked(x, slab, par, &act);
        }
    }
}

/// `parallelism` and `with_parallelism` of a feature map with a field `par: Par` (the
/// attributes go on `parallelism`'s doc).
macro_rules! parallelism_methods {
    ($(#[$doc:meta])*) => {
        /// The parallelism used for large batches (default: faer's global setting at
        /// construction, `faer::get_global_parallelism`).
        $(#[$doc])*
        pub fn parallelism(&self) -> Par {
            self.par
        }

        /// Sets the parallelism (e.g. `Par::Seq` inside an already parallel caller).
        pub fn with_parallelism(mut self, par: Par) -> Self {
            self.par = par;
            self
        }
    };
}
pub(crate) use parallelism_methods;
