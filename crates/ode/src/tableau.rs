//! Butcher tableaux as data, each naming its source.
//!
//! An explicit `s`-stage Runge–Kutta step from `(t, x)` with step `h` is
//!
//! ```text
//! Y_i = x + h Σ_{j<i} a_ij K_j,     K_i = f(t + c_i h, Y_i),     i = 1..s
//! x'  = x + h Σ_i b_i K_i
//! ```
//!
//! An embedded pair adds weights `b̂` of a lower order; `x' − x̂' = h Σ (b_i − b̂_i) K_i` is the
//! local error estimate of the adaptive solvers. A continuous extension (dense output) gives
//! `x(t + θh) ≈ x + h Σ_i b_i(θ) K_i` with polynomial weights `b_i(θ)`, `b_i(1) = b_i`.
//!
//! Built-in tableaux (sources: J. C. Butcher, *Numerical Methods for Ordinary Differential
//! Equations*, 2nd ed., Wiley 2008, §23 and §32; E. Hairer, S. P. Nørsett, G. Wanner,
//! *Solving Ordinary Differential Equations I*, 2nd ed., Springer 1993, §II.1, §II.4–II.6):
//! [`euler`](ButcherTableau::euler), [`midpoint`](ButcherTableau::midpoint),
//! [`heun`](ButcherTableau::heun), [`rk4`](ButcherTableau::rk4),
//! [`kutta38`](ButcherTableau::kutta38), and the embedded pairs
//! [`dormand_prince54`](ButcherTableau::dormand_prince54) and
//! [`bogacki_shampine32`](ButcherTableau::bogacki_shampine32).

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Largest number of stages a tableau may have (stage buffers live in fixed-size stack arrays
/// inside the step loop, which therefore never allocates).
pub const MAX_STAGES: usize = 16;

/// Why a tableau was refused by [`ButcherTableau::new`] or one of its builders.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum TableauError {
    /// No stages, or more than [`MAX_STAGES`].
    #[error("a tableau needs 1..={max} stages, got {stages}")]
    StageCount {
        /// Number of stages given.
        stages: usize,
        /// The limit, [`MAX_STAGES`].
        max: usize,
    },
    /// `a` is not strictly lower triangular (row `i` must have exactly `i` entries), or `b`,
    /// `c`, `b̂` or the dense-output table has the wrong length.
    #[error("tableau shape: {what} has length {got}, expected {expected}")]
    Shape {
        /// Which array.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The required length.
        expected: usize,
    },
    /// A coefficient is NaN or infinite.
    #[error("tableau coefficient {what} is not finite: {value}")]
    NotFinite {
        /// Which coefficient.
        what: &'static str,
        /// Its value.
        value: f64,
    },
    /// `c_i ≠ Σ_j a_ij` (the row-sum condition every tableau here satisfies).
    #[error("row-sum condition fails at stage {stage}: c = {c}, sum of a = {row_sum}")]
    RowSum {
        /// Stage index (0-based).
        stage: usize,
        /// The given node.
        c: f64,
        /// `Σ_j a_ij`.
        row_sum: f64,
    },
    /// Weights do not sum to one (first-order condition).
    #[error("{what} weights sum to {sum}, not 1")]
    WeightSum {
        /// `"b"`, `"b_hat"` or `"dense b(1)"`.
        what: &'static str,
        /// `Σ_i b_i`.
        sum: f64,
    },
    /// Order 0 claimed.
    #[error("order must be at least 1")]
    ZeroOrder,
    /// The dense-output weights do not reproduce `b` at `θ = 1`.
    #[error("dense output weight b_{stage}(1) = {value} differs from b_{stage} = {b}")]
    DenseEndpoint {
        /// Stage index.
        stage: usize,
        /// `b_i(1)`.
        value: f64,
        /// `b_i`.
        b: f64,
    },
}

/// The lower-order weights of an embedded pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedded {
    /// Weights `b̂` of the embedded (error-estimating) method.
    pub b_hat: Vec<f64>,
    /// Order of the embedded method.
    pub order: u32,
}

/// Polynomial continuous extension `b_i(θ) = Σ_k coeffs[i][k] θ^{k+1}`, `θ ∈ [0, 1]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenseOutput {
    /// `coeffs[i]` are the coefficients of `θ, θ², …` in `b_i(θ)` (all rows the same length).
    pub coeffs: Vec<Vec<f64>>,
    /// Order of the interpolant.
    pub order: u32,
    /// Where it comes from.
    pub source: String,
}

/// An explicit Runge–Kutta method as data: `a` (strictly lower triangular), `b`, `c`, its
/// order and the reference it comes from; optionally an embedded pair and a continuous
/// extension. Validated on construction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawTableau", into = "RawTableau")]
pub struct ButcherTableau {
    name: String,
    /// Row `i` holds `a_i0 … a_i(i−1)`.
    a: Vec<Vec<f64>>,
    b: Vec<f64>,
    c: Vec<f64>,
    order: u32,
    source: String,
    embedded: Option<Embedded>,
    dense: Option<DenseOutput>,
    /// Stage `i` influences `x'` (through `b` or a later needed stage). Unneeded stages are not
    /// evaluated by fixed-grid steps (e.g. the FSAL stage of DP5(4)).
    needed: Vec<bool>,
    /// First Same As Last: the last stage input equals `x'` and `c_s = 1`.
    fsal: bool,
}

/// Serde mirror of [`ButcherTableau`] without the derived fields (validated on the way in).
#[derive(Serialize, Deserialize)]
struct RawTableau {
    name: String,
    a: Vec<Vec<f64>>,
    b: Vec<f64>,
    c: Vec<f64>,
    order: u32,
    source: String,
    embedded: Option<Embedded>,
    dense: Option<DenseOutput>,
}

impl TryFrom<RawTableau> for ButcherTableau {
    type Error = TableauError;
    fn try_from(r: RawTableau) -> Result<Self, TableauError> {
        let mut t = ButcherTableau::new(r.name, r.a, r.b, r.c, r.order, r.source)?;
        if let Some(e) = r.embedded {
            t = t.with_embedded(e.b_hat, e.order)?;
        }
        if let Some(d) = r.dense {
            t = t.with_dense_output(d.coeffs, d.order, d.source)?;
        }
        Ok(t)
    }
}

impl From<ButcherTableau> for RawTableau {
    fn from(t: ButcherTableau) -> Self {
        RawTableau {
            name: t.name,
            a: t.a,
            b: t.b,
            c: t.c,
            order: t.order,
            source: t.source,
            embedded: t.embedded,
            dense: t.dense,
        }
    }
}

fn check_finite(what: &'static str, v: &[f64]) -> Result<(), TableauError> {
    match v.iter().find(|x| !x.is_finite()) {
        Some(&value) => Err(TableauError::NotFinite { what, value }),
        None => Ok(()),
    }
}

/// Tolerance for sums of `n` coefficients of total magnitude `mag` computed in `f64`.
fn sum_tol(n: usize, mag: f64) -> f64 {
    8.0 * (n as f64 + 1.0) * f64::EPSILON * (1.0 + mag)
}

fn check_weight_sum(what: &'static str, w: &[f64]) -> Result<(), TableauError> {
    let sum: f64 = w.iter().sum();
    let mag: f64 = w.iter().map(|x| x.abs()).sum();
    if (sum - 1.0).abs() > sum_tol(w.len(), mag) {
        return Err(TableauError::WeightSum { what, sum });
    }
    Ok(())
}

impl ButcherTableau {
    /// A validated explicit tableau. `a[i]` holds the `i` coefficients `a_i0 … a_i(i−1)`
    /// (so `a[0]` is empty); `b` and `c` have `s` entries; `c_i = Σ_j a_ij` and `Σ b_i = 1` are
    /// checked to `8(s+1)ε(1 + Σ|·|)`.
    ///
    /// # Errors
    /// [`TableauError`] naming the offending array or value.
    pub fn new(
        name: impl Into<String>,
        a: Vec<Vec<f64>>,
        b: Vec<f64>,
        c: Vec<f64>,
        order: u32,
        source: impl Into<String>,
    ) -> Result<Self, TableauError> {
        let s = b.len();
        if s == 0 || s > MAX_STAGES {
            return Err(TableauError::StageCount {
                stages: s,
                max: MAX_STAGES,
            });
        }
        if a.len() != s {
            return Err(TableauError::Shape {
                what: "a (rows)",
                got: a.len(),
                expected: s,
            });
        }
        for (i, row) in a.iter().enumerate() {
            if row.len() != i {
                return Err(TableauError::Shape {
                    what: "a (row length, strictly lower triangular)",
                    got: row.len(),
                    expected: i,
                });
            }
            check_finite("a", row)?;
        }
        if c.len() != s {
            return Err(TableauError::Shape {
                what: "c",
                got: c.len(),
                expected: s,
            });
        }
        check_finite("b", &b)?;
        check_finite("c", &c)?;
        if order == 0 {
            return Err(TableauError::ZeroOrder);
        }
        for (i, row) in a.iter().enumerate() {
            let row_sum: f64 = row.iter().sum();
            let mag: f64 = row.iter().map(|x| x.abs()).sum();
            if (row_sum - c[i]).abs() > sum_tol(row.len(), mag) {
                return Err(TableauError::RowSum {
                    stage: i,
                    c: c[i],
                    row_sum,
                });
            }
        }
        check_weight_sum("b", &b)?;
        // A stage is needed if it feeds x' directly (b_i ≠ 0) or a later needed stage.
        let mut needed = vec![false; s];
        for i in (0..s).rev() {
            needed[i] = b[i] != 0.0 || (i + 1..s).any(|j| needed[j] && a[j][i] != 0.0);
        }
        let fsal = s > 1 && c[s - 1] == 1.0 && b[s - 1] == 0.0 && a[s - 1][..] == b[..s - 1];
        Ok(ButcherTableau {
            name: name.into(),
            a,
            b,
            c,
            order,
            source: source.into(),
            embedded: None,
            dense: None,
            needed,
            fsal,
        })
    }

    /// Adds embedded weights `b̂` of order `order` (for adaptive step control).
    ///
    /// # Errors
    /// Wrong length, non-finite weights or `Σ b̂ ≠ 1`.
    pub fn with_embedded(mut self, b_hat: Vec<f64>, order: u32) -> Result<Self, TableauError> {
        if b_hat.len() != self.stages() {
            return Err(TableauError::Shape {
                what: "b_hat",
                got: b_hat.len(),
                expected: self.stages(),
            });
        }
        check_finite("b_hat", &b_hat)?;
        check_weight_sum("b_hat", &b_hat)?;
        if order == 0 {
            return Err(TableauError::ZeroOrder);
        }
        self.embedded = Some(Embedded { b_hat, order });
        Ok(self)
    }

    /// Adds a continuous extension `b_i(θ) = Σ_k coeffs[i][k] θ^{k+1}`; `b_i(1) = b_i` is
    /// checked.
    ///
    /// # Errors
    /// Wrong shape, non-finite coefficients or `b_i(1) ≠ b_i`.
    pub fn with_dense_output(
        mut self,
        coeffs: Vec<Vec<f64>>,
        order: u32,
        source: impl Into<String>,
    ) -> Result<Self, TableauError> {
        if coeffs.len() != self.stages() {
            return Err(TableauError::Shape {
                what: "dense coefficients (rows)",
                got: coeffs.len(),
                expected: self.stages(),
            });
        }
        let deg = coeffs[0].len();
        for (i, row) in coeffs.iter().enumerate() {
            if row.len() != deg {
                return Err(TableauError::Shape {
                    what: "dense coefficients (row length)",
                    got: row.len(),
                    expected: deg,
                });
            }
            check_finite("dense coefficients", row)?;
            let value: f64 = row.iter().sum();
            let mag: f64 = row.iter().map(|x| x.abs()).sum();
            if (value - self.b[i]).abs() > sum_tol(deg, mag) {
                return Err(TableauError::DenseEndpoint {
                    stage: i,
                    value,
                    b: self.b[i],
                });
            }
        }
        if order == 0 {
            return Err(TableauError::ZeroOrder);
        }
        self.dense = Some(DenseOutput {
            coeffs,
            order,
            source: source.into(),
        });
        Ok(self)
    }

    /// Every built-in tableau: Euler, midpoint, Heun, RK4,
    /// Kutta's 3/8 rule, Dormand–Prince 5(4), Bogacki–Shampine 3(2).
    pub fn builtins() -> Vec<Self> {
        vec![
            Self::euler(),
            Self::midpoint(),
            Self::heun(),
            Self::rk4(),
            Self::kutta38(),
            Self::dormand_prince54(),
            Self::bogacki_shampine32(),
        ]
    }

    /// Forward Euler: `x' = x + h f(t, x)`. Order 1.
    pub fn euler() -> Self {
        Self::new(
            "euler",
            vec![vec![]],
            vec![1.0],
            vec![0.0],
            1,
            "L. Euler (1768); Hairer–Nørsett–Wanner I (1993) §I.7, eq. (7.3)",
        )
        .expect("built-in tableau is valid")
    }

    /// Explicit midpoint (Runge 1895): `K_2 = f(t + h/2, x + h/2 K_1)`, `x' = x + h K_2`.
    /// Order 2.
    pub fn midpoint() -> Self {
        Self::new(
            "midpoint",
            vec![vec![], vec![0.5]],
            vec![0.0, 1.0],
            vec![0.0, 0.5],
            2,
            "C. Runge (1895); Hairer–Nørsett–Wanner I (1993) §II.1, Table 1.1 (left)",
        )
        .expect("built-in tableau is valid")
    }

    /// Heun's method (explicit trapezoidal rule): `x' = x + h/2 (K_1 + K_2)`,
    /// `K_2 = f(t + h, x + h K_1)`. Order 2.
    pub fn heun() -> Self {
        Self::new(
            "heun",
            vec![vec![], vec![1.0]],
            vec![0.5, 0.5],
            vec![0.0, 1.0],
            2,
            "K. Heun (1900); Butcher (2008) §232, Hairer–Nørsett–Wanner I (1993) §II.1, Table 1.1 (right)",
        )
        .expect("built-in tableau is valid")
    }

    /// The classical fourth-order Runge–Kutta method (Kutta 1901), nodes `0, ½, ½, 1`,
    /// weights `1/6, 1/3, 1/3, 1/6`. Order 4.
    pub fn rk4() -> Self {
        Self::new(
            "rk4",
            vec![vec![], vec![0.5], vec![0.0, 0.5], vec![0.0, 0.0, 1.0]],
            vec![1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0],
            vec![0.0, 0.5, 0.5, 1.0],
            4,
            "W. Kutta (1901); Butcher (2008) §235, Hairer–Nørsett–Wanner I (1993) §II.1, Table 1.2 (left)",
        )
        .expect("built-in tableau is valid")
    }

    /// Kutta's 3/8 rule (Kutta 1901), nodes `0, ⅓, ⅔, 1`, weights `⅛, ⅜, ⅜, ⅛`. Order 4.
    pub fn kutta38() -> Self {
        Self::new(
            "kutta38",
            vec![
                vec![],
                vec![1.0 / 3.0],
                vec![-1.0 / 3.0, 1.0],
                vec![1.0, -1.0, 1.0],
            ],
            vec![1.0 / 8.0, 3.0 / 8.0, 3.0 / 8.0, 1.0 / 8.0],
            vec![0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0],
            4,
            "W. Kutta (1901); Hairer–Nørsett–Wanner I (1993) §II.1, Table 1.2 (right)",
        )
        .expect("built-in tableau is valid")
    }

    /// Dormand–Prince 5(4), seven stages, FSAL, with the 4th-order continuous extension of
    /// Hairer's `dopri5` (`contd5`). Propagates the 5th-order solution (local extrapolation).
    pub fn dormand_prince54() -> Self {
        let a = vec![
            vec![],
            vec![1.0 / 5.0],
            vec![3.0 / 40.0, 9.0 / 40.0],
            vec![44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
            vec![
                19372.0 / 6561.0,
                -25360.0 / 2187.0,
                64448.0 / 6561.0,
                -212.0 / 729.0,
            ],
            vec![
                9017.0 / 3168.0,
                -355.0 / 33.0,
                46732.0 / 5247.0,
                49.0 / 176.0,
                -5103.0 / 18656.0,
            ],
            vec![
                35.0 / 384.0,
                0.0,
                500.0 / 1113.0,
                125.0 / 192.0,
                -2187.0 / 6784.0,
                11.0 / 84.0,
            ],
        ];
        let b = vec![
            35.0 / 384.0,
            0.0,
            500.0 / 1113.0,
            125.0 / 192.0,
            -2187.0 / 6784.0,
            11.0 / 84.0,
            0.0,
        ];
        let b_hat = vec![
            5179.0 / 57600.0,
            0.0,
            7571.0 / 16695.0,
            393.0 / 640.0,
            -92097.0 / 339200.0,
            187.0 / 2100.0,
            1.0 / 40.0,
        ];
        let c = vec![0.0, 0.2, 0.3, 0.8, 8.0 / 9.0, 1.0, 1.0];
        // Continuous extension of dopri5 (Hairer–Nørsett–Wanner I §II.6, code `contd5`):
        // x(θ) = y0 + θ(Δ + (1−θ)(hK_1 − Δ + θ(2Δ − hK_1 − hK_7 + (1−θ) h Σ d_i K_i))),
        // Δ = y1 − y0 = h Σ b_i K_i, i.e. the cubic Hermite interpolant plus θ²(1−θ)² h Σ d_i K_i.
        // Expanded: b_i(θ) = δ_i1 θ + (3b_i − 2δ_i1 − δ_i7 + d_i) θ²
        //                    + (−2b_i + δ_i1 + δ_i7 − 2d_i) θ³ + d_i θ⁴.
        let d = [
            -12715105075.0 / 11282082432.0,
            0.0,
            87487479700.0 / 32700410799.0,
            -10690763975.0 / 1880347072.0,
            701980252875.0 / 199316789632.0,
            -1453857185.0 / 822651844.0,
            69997945.0 / 29380423.0,
        ];
        let coeffs = quartic_hermite_plus(&b, &d);
        Self::new(
            "dormand_prince54",
            a,
            b,
            c,
            5,
            "J. R. Dormand, P. J. Prince, J. Comput. Appl. Math. 6 (1980) 19–26; \
             Hairer–Nørsett–Wanner I (1993) §II.5, Table 5.2",
        )
        .and_then(|t| t.with_embedded(b_hat, 4))
        .and_then(|t| {
            t.with_dense_output(
                coeffs,
                4,
                "Hairer–Nørsett–Wanner I (1993) §II.6, dense output of dopri5 (contd5)",
            )
        })
        .expect("built-in tableau is valid")
    }

    /// Bogacki–Shampine 3(2), four stages, FSAL; dense output is the cubic Hermite
    /// interpolant (free thanks to FSAL; third order).
    pub fn bogacki_shampine32() -> Self {
        let b = vec![2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0, 0.0];
        let coeffs = quartic_hermite_plus(&b, &[0.0; 4]);
        Self::new(
            "bogacki_shampine32",
            vec![
                vec![],
                vec![0.5],
                vec![0.0, 0.75],
                vec![2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0],
            ],
            b,
            vec![0.0, 0.5, 0.75, 1.0],
            3,
            "P. Bogacki, L. F. Shampine, Appl. Math. Lett. 2 (1989) 321–325",
        )
        .and_then(|t| t.with_embedded(vec![7.0 / 24.0, 0.25, 1.0 / 3.0, 0.125], 2))
        .and_then(|t| {
            t.with_dense_output(
                coeffs,
                3,
                "cubic Hermite interpolation of (y0, f0, y1, f1), f1 the FSAL stage",
            )
        })
        .expect("built-in tableau is valid")
    }

    /// Short name (`"rk4"`, …).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Bibliographic source of the coefficients.
    pub fn source(&self) -> &str {
        &self.source
    }
    /// Number of stages `s`.
    pub fn stages(&self) -> usize {
        self.b.len()
    }
    /// Classical order of the propagated solution.
    pub fn order(&self) -> u32 {
        self.order
    }
    /// `a_ij` for `j < i` (zero on and above the diagonal).
    pub fn a(&self, i: usize, j: usize) -> f64 {
        if j < i { self.a[i][j] } else { 0.0 }
    }
    /// Row `i` of `a`: `a_i0 … a_i(i−1)`.
    pub fn a_row(&self, i: usize) -> &[f64] {
        &self.a[i]
    }
    /// Weights `b`.
    pub fn b(&self) -> &[f64] {
        &self.b
    }
    /// Nodes `c`.
    pub fn c(&self) -> &[f64] {
        &self.c
    }
    /// The embedded pair, if any.
    pub fn embedded(&self) -> Option<&Embedded> {
        self.embedded.as_ref()
    }
    /// The continuous extension, if any.
    pub fn dense_output(&self) -> Option<&DenseOutput> {
        self.dense.as_ref()
    }
    /// Whether stage `i` influences the step result `x'` (unneeded stages are skipped by
    /// fixed-grid steps and carry no adjoint).
    pub fn is_needed(&self, i: usize) -> bool {
        self.needed[i]
    }
    /// First Same As Last: the last stage is evaluated at `(t + h, x')`.
    pub fn is_fsal(&self) -> bool {
        self.fsal
    }
    /// Weights of the continuous extension at `θ`, written into `out[..s]`.
    pub(crate) fn dense_weights(&self, theta: f64, out: &mut [f64]) -> bool {
        let Some(d) = &self.dense else { return false };
        for (o, row) in out.iter_mut().zip(&d.coeffs) {
            // Horner in θ for Σ_k c_k θ^{k+1}.
            let mut acc = 0.0;
            for &ck in row.iter().rev() {
                acc = acc * theta + ck;
            }
            *o = acc * theta;
        }
        true
    }
}

/// Coefficients (of `θ, θ², θ³, θ⁴`) of the weights of the cubic Hermite interpolant of an
/// FSAL pair (`K_1 = f(y0)`, `K_s = f(y1)`) plus the quartic bubble `θ²(1−θ)² d_i`.
fn quartic_hermite_plus(b: &[f64], d: &[f64]) -> Vec<Vec<f64>> {
    let s = b.len();
    (0..s)
        .map(|i| {
            let first = if i == 0 { 1.0 } else { 0.0 };
            let last = if i == s - 1 { 1.0 } else { 0.0 };
            vec![
                first,
                3.0 * b[i] - 2.0 * first - last + d[i],
                -2.0 * b[i] + first + last - 2.0 * d[i],
                d[i],
            ]
        })
        .collect()
}

/// The fixed-step methods by name (for configs and checkpoint metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FixedMethod {
    /// [`ButcherTableau::euler`].
    Euler,
    /// [`ButcherTableau::midpoint`].
    Midpoint,
    /// [`ButcherTableau::heun`].
    Heun,
    /// [`ButcherTableau::rk4`].
    Rk4,
    /// [`ButcherTableau::kutta38`].
    Kutta38,
}

impl FixedMethod {
    /// Every fixed method, lowest order first.
    pub const ALL: [FixedMethod; 5] = [
        FixedMethod::Euler,
        FixedMethod::Midpoint,
        FixedMethod::Heun,
        FixedMethod::Rk4,
        FixedMethod::Kutta38,
    ];
    /// The tableau.
    pub fn tableau(self) -> ButcherTableau {
        match self {
            FixedMethod::Euler => ButcherTableau::euler(),
            FixedMethod::Midpoint => ButcherTableau::midpoint(),
            FixedMethod::Heun => ButcherTableau::heun(),
            FixedMethod::Rk4 => ButcherTableau::rk4(),
            FixedMethod::Kutta38 => ButcherTableau::kutta38(),
        }
    }
}

/// The embedded pairs by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdaptiveMethod {
    /// [`ButcherTableau::dormand_prince54`].
    DormandPrince54,
    /// [`ButcherTableau::bogacki_shampine32`].
    BogackiShampine32,
}

impl AdaptiveMethod {
    /// The tableau.
    pub fn tableau(self) -> ButcherTableau {
        match self {
            AdaptiveMethod::DormandPrince54 => ButcherTableau::dormand_prince54(),
            AdaptiveMethod::BogackiShampine32 => ButcherTableau::bogacki_shampine32(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Σ_i w_i Φ_i(tree)` for the rooted trees up to order 5 (Butcher 2008 §31,
    /// Hairer–Nørsett–Wanner I Table II.2.2): returns (order, residual) pairs.
    fn order_residuals(t: &ButcherTableau, w: &[f64]) -> Vec<(u32, f64)> {
        let s = t.stages();
        let a = |i: usize, j: usize| t.a(i, j);
        let c = t.c();
        let mv = |v: &[f64]| -> Vec<f64> {
            (0..s)
                .map(|i| (0..s).map(|j| a(i, j) * v[j]).sum())
                .collect()
        };
        let dot = |u: &[f64]| -> f64 { w.iter().zip(u).map(|(x, y)| x * y).sum() };
        let pw = |k: i32| -> Vec<f64> { c.iter().map(|x| x.powi(k)).collect() };
        let had =
            |u: &[f64], v: &[f64]| -> Vec<f64> { u.iter().zip(v).map(|(x, y)| x * y).collect() };
        let ones = vec![1.0; s];
        let ac = mv(c);
        let ac2 = mv(&pw(2));
        let aac = mv(&ac);
        let mut r = vec![
            (1, dot(&ones) - 1.0),
            (2, dot(c) - 0.5),
            (3, dot(&pw(2)) - 1.0 / 3.0),
            (3, dot(&ac) - 1.0 / 6.0),
            (4, dot(&pw(3)) - 0.25),
            (4, dot(&had(c, &ac)) - 1.0 / 8.0),
            (4, dot(&ac2) - 1.0 / 12.0),
            (4, dot(&aac) - 1.0 / 24.0),
        ];
        r.extend([
            (5, dot(&pw(4)) - 0.2),
            (5, dot(&had(&pw(2), &ac)) - 0.1),
            (5, dot(&had(&ac, &ac)) - 0.05),
            (5, dot(&had(c, &ac2)) - 1.0 / 15.0),
            (5, dot(&had(c, &aac)) - 1.0 / 30.0),
            (5, dot(&mv(&pw(3))) - 0.05),
            (5, dot(&mv(&had(c, &ac))) - 1.0 / 40.0),
            (5, dot(&mv(&ac2)) - 1.0 / 60.0),
            (5, dot(&mv(&aac)) - 1.0 / 120.0),
        ]);
        r
    }

    /// Every built-in tableau satisfies the order conditions up to its claimed order (to
    /// 64ε·Σ|coefficients| ≈ 1e-12) and violates at least one of the next order (so the
    /// claimed order is exact).
    #[test]
    fn builtin_tableaux_satisfy_their_order_conditions() {
        let all = ButcherTableau::builtins();
        let tol = 1e-12;
        for t in &all {
            let mut cases = vec![(t.order(), t.b().to_vec(), "b")];
            if let Some(e) = t.embedded() {
                cases.push((e.order, e.b_hat.clone(), "b_hat"));
            }
            for (p, w, what) in cases {
                let res = order_residuals(t, &w);
                for &(q, r) in &res {
                    if q <= p {
                        assert!(
                            r.abs() < tol,
                            "{} {what}: order-{q} condition residual {r}",
                            t.name()
                        );
                    }
                }
                if p < 5 {
                    assert!(
                        res.iter().any(|&(q, r)| q == p + 1 && r.abs() > 1e-6),
                        "{} {what}: satisfies all order-{} conditions",
                        t.name(),
                        p + 1
                    );
                }
            }
        }
    }

    #[test]
    fn fsal_and_needed_stages() {
        let dp = ButcherTableau::dormand_prince54();
        assert!(dp.is_fsal());
        assert!(!dp.is_needed(6));
        assert!((0..6).all(|i| dp.is_needed(i)));
        assert!(ButcherTableau::bogacki_shampine32().is_fsal());
        assert!(!ButcherTableau::rk4().is_fsal());
        assert!(ButcherTableau::midpoint().is_needed(0));
    }

    #[test]
    fn invalid_tableaux_are_refused() {
        let e = ButcherTableau::new(
            "x",
            vec![vec![], vec![0.5]],
            vec![0.5, 0.5],
            vec![0.0, 1.0],
            2,
            "",
        );
        assert!(matches!(e, Err(TableauError::RowSum { stage: 1, .. })));
        let e = ButcherTableau::new(
            "x",
            vec![vec![], vec![1.0]],
            vec![0.6, 0.5],
            vec![0.0, 1.0],
            2,
            "",
        );
        assert!(matches!(e, Err(TableauError::WeightSum { .. })));
        let e = ButcherTableau::new("x", vec![vec![1.0]], vec![1.0], vec![0.0], 1, "");
        assert!(matches!(e, Err(TableauError::Shape { .. })));
        let e = ButcherTableau::new("x", vec![vec![]], vec![f64::NAN], vec![0.0], 1, "");
        assert!(matches!(e, Err(TableauError::NotFinite { .. })));
        let e = ButcherTableau::new("x", vec![], vec![], vec![], 1, "");
        assert!(matches!(e, Err(TableauError::StageCount { .. })));
    }

    #[test]
    fn serde_round_trip_validates() {
        let dp = ButcherTableau::dormand_prince54();
        let json = serde_json_like(&dp);
        assert_eq!(json, dp);
    }

    /// Round trip through the serde mirror (no JSON crate is a dependency of this crate).
    fn serde_json_like(t: &ButcherTableau) -> ButcherTableau {
        let raw: RawTableau = t.clone().into();
        ButcherTableau::try_from(raw).unwrap()
    }
}
