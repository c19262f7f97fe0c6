//! Test problems, most with exact solutions, shared by tests, benches and experiments.
//!
//! | problem | equation | exact solution | parameters `θ` |
//! |---|---|---|---|
//! | [`Linear`] | `ẋ = A x` | — (see [`NormalLinear`]) | `A` (row-major) |
//! | [`NormalLinear`] | `ẋ = A x`, `A = Q B Qᵀ`, `B` = rotation–decay blocks | `x(t) = Q e^{(t−t₀)B} Qᵀ x₀` | — |
//! | [`HarmonicOscillator`] | `q̇ = p`, `ṗ = −ω² q` | rotation in phase space | `ω` |
//! | [`LotkaVolterra`] | `ẋ = αx − βxy`, `ẏ = δxy − γy` | — (first integral [`LotkaVolterra::invariant`]) | `α, β, γ, δ` |
//! | [`ProtheroRobinson`] | `ẋ = λ(x − sin t) + cos t` (stiff for `λ ≪ 0`) | `sin t + (x₀ − sin t₀) e^{λ(t−t₀)}` | `λ` |
//! | [`CosineGrowth`] | `ẋ = a cos(t) x` (time-dependent) | `x₀ e^{a(sin t − sin t₀)}` | `a` |
//! | [`Tanh`] | `ẋ = tanh(W x + t b)` (a residual-block-like field) | — | `W` (row-major), `b` |
//!
//! All act row by row on a batch `X ∈ R^{N×d}`. They favour clarity over speed: the
//! vector–Jacobian products of [`Linear`] and [`Tanh`] allocate small temporaries (their
//! `eval`, the part the benches time, does not).

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use plres_simd::clear_upper_state;

use crate::field::VectorField;

/// Problems with a closed-form solution.
pub trait ExactSolution {
    /// The exact state at `t` of the solution through `x0` at `t0` (batch, row by row).
    fn exact(&self, t0: f64, x0: MatRef<'_, f64>, t: f64) -> Mat<f64>;
}

/// Fields whose parameters can be read and replaced (for finite-difference checks of
/// parameter gradients).
pub trait Parametric: VectorField + Sized {
    /// The flat parameter vector `θ` in the order of [`VectorField::vjp_params`].
    fn params(&self) -> Vec<f64>;
    /// A copy of the field with parameters `θ`.
    ///
    /// # Panics
    /// If `params.len() != n_params()`.
    fn with_params(&self, params: &[f64]) -> Self;
}

fn check_params(expected: usize, got: usize) {
    assert_eq!(got, expected, "expected {expected} parameters, got {got}");
}

/// [`Parametric`] for the problems with one parameter (the field named), rebuilt by the
/// problem's `new`.
macro_rules! one_parameter {
    ($($problem:ident . $field:ident),*) => {$(
        impl Parametric for $problem {
            fn params(&self) -> Vec<f64> {
                vec![self.$field]
            }
            fn with_params(&self, p: &[f64]) -> Self {
                check_params(1, p.len());
                $problem::new(p[0])
            }
        }
    )*};
}

one_parameter!(
    HarmonicOscillator.omega,
    ProtheroRobinson.lambda,
    CosineGrowth.amp
);

fn add_row_major(grad: &mut [f64], g: MatRef<'_, f64>, offset: usize) {
    let d = g.ncols();
    for k in 0..g.nrows() {
        for l in 0..d {
            grad[offset + k * d + l] += g[(k, l)];
        }
    }
}

/// `ẋ = A x` (rows: `F = X Aᵀ`), parameters `A` row-major.
#[derive(Debug, Clone)]
pub struct Linear {
    a: Mat<f64>,
    par: Par,
}

impl Linear {
    /// The field `x ↦ A x`, products single-threaded.
    ///
    /// # Panics
    /// If `A` is not square.
    pub fn new(a: Mat<f64>) -> Self {
        assert_eq!(
            a.nrows(),
            a.ncols(),
            "A must be square, got {}×{}",
            a.nrows(),
            a.ncols()
        );
        Linear { a, par: Par::Seq }
    }
    /// The same field with products run with `par`.
    pub fn with_par(mut self, par: Par) -> Self {
        self.par = par;
        self
    }
    /// The matrix `A`.
    pub fn matrix(&self) -> MatRef<'_, f64> {
        self.a.as_ref()
    }
}

impl VectorField for Linear {
    fn n_params(&self) -> usize {
        self.a.nrows() * self.a.ncols()
    }
    fn eval(&self, _t: f64, x: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        matmul(out, Accum::Replace, x, self.a.transpose(), 1.0, self.par);
    }
    fn vjp_state(&self, _t: f64, _x: MatRef<'_, f64>, v: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        // out_i = Aᵀ v_i, i.e. OUT = V A.
        matmul(out, Accum::Replace, v, self.a.as_ref(), 1.0, self.par);
    }
    fn vjp_params(&self, _t: f64, x: MatRef<'_, f64>, v: MatRef<'_, f64>, grad: &mut [f64]) {
        // ∂(v·Ax)/∂A = v xᵀ, summed over rows: Vᵀ X.
        let d = self.a.nrows();
        let mut g = Mat::zeros(d, d);
        matmul(g.as_mut(), Accum::Replace, v.transpose(), x, 1.0, self.par);
        clear_upper_state();
        add_row_major(grad, g.as_ref(), 0);
    }
}

impl Parametric for Linear {
    fn params(&self) -> Vec<f64> {
        let d = self.a.ncols();
        (0..d * d).map(|k| self.a[(k / d, k % d)]).collect()
    }
    fn with_params(&self, params: &[f64]) -> Self {
        let d = self.a.ncols();
        check_params(d * d, params.len());
        Linear {
            a: Mat::from_fn(d, d, |i, j| params[i * d + j]),
            par: self.par,
        }
    }
}

/// `ẋ = A x` with `A = Q B Qᵀ` normal: `Q` orthogonal, `B` block diagonal with blocks
/// `[[α_k, ω_k], [−ω_k, α_k]]` (and a trailing `1 × 1` block `α` when `d` is odd). The exact
/// flow is `e^{τA} = Q e^{τB} Qᵀ` with `e^{τ[[α, ω],[−ω, α]]} = e^{ατ}[[cos ωτ, sin ωτ],
/// [−sin ωτ, cos ωτ]]`: no matrix exponential to approximate.
#[derive(Debug, Clone)]
pub struct NormalLinear {
    linear: Linear,
    q: Mat<f64>,
    alpha: Vec<f64>,
    omega: Vec<f64>,
}

impl NormalLinear {
    /// Builds `A` from any full-rank `d × d` matrix `g` (orthonormalised into `Q` by
    /// Gram–Schmidt with re-orthogonalisation; a Gaussian `g` gives a Haar-random `Q`), the
    /// `⌈d/2⌉` rates `alpha` and the `⌊d/2⌋` frequencies `omega`.
    ///
    /// # Panics
    /// On wrong lengths or a (numerically) rank-deficient `g`.
    pub fn new(g: MatRef<'_, f64>, alpha: &[f64], omega: &[f64]) -> Self {
        let d = g.nrows();
        assert_eq!(g.ncols(), d, "g must be square, got {}×{}", d, g.ncols());
        assert_eq!(
            alpha.len(),
            d.div_ceil(2),
            "need ⌈d/2⌉ = {} rates",
            d.div_ceil(2)
        );
        assert_eq!(omega.len(), d / 2, "need ⌊d/2⌋ = {} frequencies", d / 2);
        let q = orthonormalise(g);
        let mut b = Mat::<f64>::zeros(d, d);
        for k in 0..d / 2 {
            b[(2 * k, 2 * k)] = alpha[k];
            b[(2 * k + 1, 2 * k + 1)] = alpha[k];
            b[(2 * k, 2 * k + 1)] = omega[k];
            b[(2 * k + 1, 2 * k)] = -omega[k];
        }
        if d % 2 == 1 {
            b[(d - 1, d - 1)] = alpha[d / 2];
        }
        let a = &q * &b * q.transpose();
        NormalLinear {
            linear: Linear::new(a),
            q,
            alpha: alpha.to_vec(),
            omega: omega.to_vec(),
        }
    }
    /// The matrix `A`.
    pub fn matrix(&self) -> MatRef<'_, f64> {
        self.linear.matrix()
    }
    /// The field as a plain [`Linear`] (parameters `A`).
    pub fn as_linear(&self) -> &Linear {
        &self.linear
    }
    /// `e^{τA}`.
    pub fn propagator(&self, tau: f64) -> Mat<f64> {
        let d = self.q.nrows();
        let mut e = Mat::<f64>::zeros(d, d);
        for k in 0..d / 2 {
            let (s, c) = (self.omega[k] * tau).sin_cos();
            let r = (self.alpha[k] * tau).exp();
            e[(2 * k, 2 * k)] = r * c;
            e[(2 * k, 2 * k + 1)] = r * s;
            e[(2 * k + 1, 2 * k)] = -r * s;
            e[(2 * k + 1, 2 * k + 1)] = r * c;
        }
        if d % 2 == 1 {
            e[(d - 1, d - 1)] = (self.alpha[d / 2] * tau).exp();
        }
        &self.q * &e * self.q.transpose()
    }
}

/// Modified Gram–Schmidt, twice ("twice is enough", Giraud et al. 2005).
fn orthonormalise(g: MatRef<'_, f64>) -> Mat<f64> {
    let d = g.nrows();
    let mut q = g.to_owned();
    for j in 0..d {
        let orig = q.col(j).norm_l2();
        for _pass in 0..2 {
            for k in 0..j {
                let dot: f64 = (0..d).map(|i| q[(i, k)] * q[(i, j)]).sum();
                for i in 0..d {
                    q[(i, j)] -= dot * q[(i, k)];
                }
            }
        }
        let norm = q.col(j).norm_l2();
        assert!(
            norm > 1e-8 * orig && norm > 0.0,
            "g is rank deficient (column {j})"
        );
        for i in 0..d {
            q[(i, j)] /= norm;
        }
    }
    q
}

impl VectorField for NormalLinear {
    fn n_params(&self) -> usize {
        self.linear.n_params()
    }
    fn eval(&self, t: f64, x: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        self.linear.eval(t, x, out)
    }
    fn vjp_state(&self, t: f64, x: MatRef<'_, f64>, v: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        self.linear.vjp_state(t, x, v, out)
    }
    fn vjp_params(&self, t: f64, x: MatRef<'_, f64>, v: MatRef<'_, f64>, grad: &mut [f64]) {
        self.linear.vjp_params(t, x, v, grad)
    }
}

impl ExactSolution for NormalLinear {
    fn exact(&self, t0: f64, x0: MatRef<'_, f64>, t: f64) -> Mat<f64> {
        x0 * self.propagator(t - t0).transpose()
    }
}

/// Harmonic oscillator `q̇ = p`, `ṗ = −ω² q` on rows `(q, p)` (`d = 2`), parameter `ω`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HarmonicOscillator {
    /// Angular frequency `ω > 0`.
    pub omega: f64,
}

impl HarmonicOscillator {
    /// The oscillator of angular frequency `omega`.
    pub fn new(omega: f64) -> Self {
        HarmonicOscillator { omega }
    }
}

fn check_d(name: &str, x: MatRef<'_, f64>, d: usize) {
    assert_eq!(
        x.ncols(),
        d,
        "{name} acts on d = {d}, got a batch with {} columns",
        x.ncols()
    );
}

impl VectorField for HarmonicOscillator {
    fn n_params(&self) -> usize {
        1
    }
    fn eval(&self, _t: f64, x: MatRef<'_, f64>, mut out: MatMut<'_, f64>) {
        check_d("HarmonicOscillator", x, 2);
        let w2 = self.omega * self.omega;
        for i in 0..x.nrows() {
            let (q, p) = (x[(i, 0)], x[(i, 1)]);
            out[(i, 0)] = p;
            out[(i, 1)] = -w2 * q;
        }
    }
    fn vjp_state(
        &self,
        _t: f64,
        _x: MatRef<'_, f64>,
        v: MatRef<'_, f64>,
        mut out: MatMut<'_, f64>,
    ) {
        let w2 = self.omega * self.omega;
        for i in 0..v.nrows() {
            let (v0, v1) = (v[(i, 0)], v[(i, 1)]);
            out[(i, 0)] = -w2 * v1;
            out[(i, 1)] = v0;
        }
    }
    fn vjp_params(&self, _t: f64, x: MatRef<'_, f64>, v: MatRef<'_, f64>, grad: &mut [f64]) {
        grad[0] += (0..x.nrows())
            .map(|i| -2.0 * self.omega * x[(i, 0)] * v[(i, 1)])
            .sum::<f64>();
    }
}

impl ExactSolution for HarmonicOscillator {
    fn exact(&self, t0: f64, x0: MatRef<'_, f64>, t: f64) -> Mat<f64> {
        let w = self.omega;
        let (s, c) = (w * (t - t0)).sin_cos();
        Mat::from_fn(x0.nrows(), 2, |i, j| {
            let (q, p) = (x0[(i, 0)], x0[(i, 1)]);
            if j == 0 {
                q * c + p / w * s
            } else {
                -q * w * s + p * c
            }
        })
    }
}

/// Lotka–Volterra predator–prey system on rows `(x, y)` (`d = 2`):
/// `ẋ = αx − βxy`, `ẏ = δxy − γy`; parameters `(α, β, γ, δ)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LotkaVolterra {
    /// Prey growth rate α.
    pub alpha: f64,
    /// Predation rate β.
    pub beta: f64,
    /// Predator death rate γ.
    pub gamma: f64,
    /// Predator growth per prey δ.
    pub delta: f64,
}

impl LotkaVolterra {
    /// The usual test values `α = 1.5, β = 1, γ = 3, δ = 1` (periodic orbits around `(3, 1.5)`).
    pub fn classic() -> Self {
        LotkaVolterra {
            alpha: 1.5,
            beta: 1.0,
            gamma: 3.0,
            delta: 1.0,
        }
    }
    /// The first integral `V = δx − γ ln x + βy − α ln y`, constant along solutions.
    pub fn invariant(&self, x: f64, y: f64) -> f64 {
        self.delta * x - self.gamma * x.ln() + self.beta * y - self.alpha * y.ln()
    }
}

impl VectorField for LotkaVolterra {
    fn n_params(&self) -> usize {
        4
    }
    fn eval(&self, _t: f64, s: MatRef<'_, f64>, mut out: MatMut<'_, f64>) {
        check_d("LotkaVolterra", s, 2);
        for i in 0..s.nrows() {
            let (x, y) = (s[(i, 0)], s[(i, 1)]);
            out[(i, 0)] = self.alpha * x - self.beta * x * y;
            out[(i, 1)] = self.delta * x * y - self.gamma * y;
        }
    }
    fn vjp_state(&self, _t: f64, s: MatRef<'_, f64>, v: MatRef<'_, f64>, mut out: MatMut<'_, f64>) {
        for i in 0..s.nrows() {
            let (x, y) = (s[(i, 0)], s[(i, 1)]);
            let (v0, v1) = (v[(i, 0)], v[(i, 1)]);
            // J = [[α − βy, −βx], [δy, δx − γ]]
            out[(i, 0)] = (self.alpha - self.beta * y) * v0 + self.delta * y * v1;
            out[(i, 1)] = -self.beta * x * v0 + (self.delta * x - self.gamma) * v1;
        }
    }
    fn vjp_params(&self, _t: f64, s: MatRef<'_, f64>, v: MatRef<'_, f64>, grad: &mut [f64]) {
        for i in 0..s.nrows() {
            let (x, y) = (s[(i, 0)], s[(i, 1)]);
            let (v0, v1) = (v[(i, 0)], v[(i, 1)]);
            grad[0] += x * v0;
            grad[1] -= x * y * v0;
            grad[2] -= y * v1;
            grad[3] += x * y * v1;
        }
    }
}

impl Parametric for LotkaVolterra {
    fn params(&self) -> Vec<f64> {
        vec![self.alpha, self.beta, self.gamma, self.delta]
    }
    fn with_params(&self, p: &[f64]) -> Self {
        check_params(4, p.len());
        LotkaVolterra {
            alpha: p[0],
            beta: p[1],
            gamma: p[2],
            delta: p[3],
        }
    }
}

/// `out_ij = f(x_ij)` for every entry (column by column) of the elementwise problems.
fn map_entries(x: MatRef<'_, f64>, mut out: MatMut<'_, f64>, f: impl Fn(f64) -> f64) {
    for j in 0..x.ncols() {
        for i in 0..x.nrows() {
            out[(i, j)] = f(x[(i, j)]);
        }
    }
}

/// `Σ_ij f(x_ij) v_ij`, summed column by column (the parameter VJP of the elementwise
/// problems).
fn weighted_sum(x: MatRef<'_, f64>, v: MatRef<'_, f64>, f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = 0.0;
    for j in 0..x.ncols() {
        for i in 0..x.nrows() {
            acc += f(x[(i, j)]) * v[(i, j)];
        }
    }
    acc
}

/// Prothero–Robinson `ẋ = λ(x − sin t) + cos t`, elementwise on any `d`; stiff for `λ ≪ 0`
/// (explicit methods need `|λ| h = O(1)`). Parameter `λ`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProtheroRobinson {
    /// The stiffness `λ`.
    pub lambda: f64,
}

impl ProtheroRobinson {
    /// The problem with stiffness `lambda`.
    pub fn new(lambda: f64) -> Self {
        ProtheroRobinson { lambda }
    }
}

impl VectorField for ProtheroRobinson {
    fn n_params(&self) -> usize {
        1
    }
    fn eval(&self, t: f64, x: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        let (s, c) = t.sin_cos();
        map_entries(x, out, |x| self.lambda * (x - s) + c);
    }
    fn vjp_state(&self, _t: f64, _x: MatRef<'_, f64>, v: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        map_entries(v, out, |v| self.lambda * v);
    }
    fn vjp_params(&self, t: f64, x: MatRef<'_, f64>, v: MatRef<'_, f64>, grad: &mut [f64]) {
        let s = t.sin();
        grad[0] += weighted_sum(x, v, |x| x - s);
    }
}

impl ExactSolution for ProtheroRobinson {
    fn exact(&self, t0: f64, x0: MatRef<'_, f64>, t: f64) -> Mat<f64> {
        let decay = (self.lambda * (t - t0)).exp();
        Mat::from_fn(x0.nrows(), x0.ncols(), |i, j| {
            t.sin() + (x0[(i, j)] - t0.sin()) * decay
        })
    }
}

/// `ẋ = a cos(t) x`, elementwise on any `d` (a non-autonomous linear problem: it exercises
/// the nodes `c_i`). Parameter `a`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CosineGrowth {
    /// The amplitude `a`.
    pub amp: f64,
}

impl CosineGrowth {
    /// The problem with amplitude `amp`.
    pub fn new(amp: f64) -> Self {
        CosineGrowth { amp }
    }
}

impl VectorField for CosineGrowth {
    fn n_params(&self) -> usize {
        1
    }
    fn eval(&self, t: f64, x: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        let r = self.amp * t.cos();
        map_entries(x, out, |x| r * x);
    }
    fn vjp_state(&self, t: f64, _x: MatRef<'_, f64>, v: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        let r = self.amp * t.cos();
        map_entries(v, out, |v| r * v);
    }
    fn vjp_params(&self, t: f64, x: MatRef<'_, f64>, v: MatRef<'_, f64>, grad: &mut [f64]) {
        grad[0] += t.cos() * weighted_sum(x, v, |x| x);
    }
}

impl ExactSolution for CosineGrowth {
    fn exact(&self, t0: f64, x0: MatRef<'_, f64>, t: f64) -> Mat<f64> {
        let r = (self.amp * (t.sin() - t0.sin())).exp();
        Mat::from_fn(x0.nrows(), x0.ncols(), |i, j| r * x0[(i, j)])
    }
}

/// `ẋ = tanh(W x + t b)` (rows: `F = tanh(X Wᵀ + t 1bᵀ)`), parameters `W` (row-major) then
/// `b`: a smooth, non-linear, time-dependent field shaped like a residual block.
#[derive(Debug, Clone)]
pub struct Tanh {
    w: Mat<f64>,
    b: Vec<f64>,
    par: Par,
}

impl Tanh {
    /// The field with weights `w` (`d × d`) and time-bias `b` (length `d`).
    ///
    /// # Panics
    /// On inconsistent shapes.
    pub fn new(w: Mat<f64>, b: Vec<f64>) -> Self {
        let d = w.nrows();
        assert!(
            w.ncols() == d && b.len() == d,
            "W must be d×d and b of length d: W is {}×{}, b has {}",
            d,
            w.ncols(),
            b.len()
        );
        Tanh {
            w,
            b,
            par: Par::Seq,
        }
    }
    /// The same field with products run with `par`.
    pub fn with_par(mut self, par: Par) -> Self {
        self.par = par;
        self
    }
    /// `S = 1 − tanh²(X Wᵀ + t b)`.
    fn slope(&self, t: f64, x: MatRef<'_, f64>) -> Mat<f64> {
        let mut s = Mat::zeros(x.nrows(), x.ncols());
        self.eval(t, x, s.as_mut());
        for j in 0..s.ncols() {
            for i in 0..s.nrows() {
                let f = s[(i, j)];
                s[(i, j)] = 1.0 - f * f;
            }
        }
        s
    }
}

impl VectorField for Tanh {
    fn n_params(&self) -> usize {
        let d = self.w.nrows();
        d * d + d
    }
    fn eval(&self, t: f64, x: MatRef<'_, f64>, mut out: MatMut<'_, f64>) {
        matmul(
            out.as_mut(),
            Accum::Replace,
            x,
            self.w.transpose(),
            1.0,
            self.par,
        );
        // faer's kernels leave the AVX upper state dirty; libm's tanh would pay for it.
        clear_upper_state();
        for j in 0..out.ncols() {
            let shift = t * self.b[j];
            if let Some(col) = out.as_mut().col_mut(j).try_as_col_major_mut() {
                for z in col.as_slice_mut() {
                    *z = (*z + shift).tanh();
                }
            } else {
                for i in 0..out.nrows() {
                    out[(i, j)] = (out[(i, j)] + shift).tanh();
                }
            }
        }
    }
    fn vjp_state(&self, t: f64, x: MatRef<'_, f64>, v: MatRef<'_, f64>, out: MatMut<'_, f64>) {
        let mut vs = self.slope(t, x);
        for j in 0..vs.ncols() {
            for i in 0..vs.nrows() {
                vs[(i, j)] *= v[(i, j)];
            }
        }
        // out_i = Wᵀ (v_i ⊙ s_i): OUT = (V ⊙ S) W.
        matmul(
            out,
            Accum::Replace,
            vs.as_ref(),
            self.w.as_ref(),
            1.0,
            self.par,
        );
    }
    fn vjp_params(&self, t: f64, x: MatRef<'_, f64>, v: MatRef<'_, f64>, grad: &mut [f64]) {
        let d = self.w.nrows();
        let mut vs = self.slope(t, x);
        for j in 0..d {
            for i in 0..vs.nrows() {
                vs[(i, j)] *= v[(i, j)];
            }
        }
        let mut g = Mat::zeros(d, d);
        matmul(g.as_mut(), Accum::Replace, vs.transpose(), x, 1.0, self.par);
        clear_upper_state();
        add_row_major(grad, g.as_ref(), 0);
        for j in 0..d {
            grad[d * d + j] += t * (0..vs.nrows()).map(|i| vs[(i, j)]).sum::<f64>();
        }
    }
}

impl Parametric for Tanh {
    fn params(&self) -> Vec<f64> {
        let d = self.w.nrows();
        let mut p: Vec<f64> = (0..d * d).map(|k| self.w[(k / d, k % d)]).collect();
        p.extend_from_slice(&self.b);
        p
    }
    fn with_params(&self, p: &[f64]) -> Self {
        let d = self.w.nrows();
        check_params(d * d + d, p.len());
        Tanh {
            w: Mat::from_fn(d, d, |i, j| p[i * d + j]),
            b: p[d * d..].to_vec(),
            par: self.par,
        }
    }
}
