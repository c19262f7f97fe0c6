//! The depth discretisation of the flow `ẋ = θ_s(x)` (docs/theory.md §3.2).

use serde::{Deserialize, Serialize};

/// How the `L` layers discretise `s ∈ [0,1]` (step `h = 1/L`).
///
/// * [`Integrator::Euler`] — the ResNet itself, `x^{k+1} = x^k + h U_k φ(x^k)`, with `L`
///   trained slices `U_0..U_{L−1}` (the default; the PL certificate is exact for it).
/// * [`Integrator::Midpoint`], [`Integrator::Heun`], [`Integrator::Rk4`] — explicit
///   Runge–Kutta steps of plres-ode on the grid `s_k = k h`, with `L+1` slices
///   `U_0..U_L` and `U(s) = (1−τ) U_k + τ U_{k+1}` for `s = (k+τ) h`, `τ ∈ [0,1]` (linear
///   interpolation, as the reference code does). Gradients are plres-ode's discrete
///   adjoint: exact for the discrete model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Integrator {
    /// Forward Euler (the ResNet), `L` slices.
    #[default]
    Euler,
    /// Explicit midpoint rule (order 2), `L+1` interpolated slices.
    Midpoint,
    /// Heun's method (explicit trapezoid, order 2), `L+1` interpolated slices.
    Heun,
    /// Classical fourth-order Runge–Kutta, `L+1` interpolated slices.
    Rk4,
}

impl Integrator {
    /// Every integrator, Euler first.
    pub const ALL: [Integrator; 4] = [
        Integrator::Euler,
        Integrator::Midpoint,
        Integrator::Heun,
        Integrator::Rk4,
    ];

    /// Number of parameter slices for depth `L`: `L` for Euler, `L+1` otherwise.
    pub fn n_slices(self, depth: usize) -> usize {
        match self {
            Integrator::Euler => depth,
            _ => depth + 1,
        }
    }

    /// The name used in checkpoints and configs (`"euler"`, `"midpoint"`, `"heun"`,
    /// `"rk4"`).
    pub fn name(self) -> &'static str {
        match self {
            Integrator::Euler => "euler",
            Integrator::Midpoint => "midpoint",
            Integrator::Heun => "heun",
            Integrator::Rk4 => "rk4",
        }
    }

    /// Parses [`Integrator::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.name() == name)
    }

    /// Layer weights `w_j` of the discretised `L²([0,1])` inner product on the slices:
    /// `h` per layer for Euler (piecewise constant, docs/theory.md §4), and the lumped
    /// (trapezoidal) mass matrix of the piecewise-linear interpolant otherwise:
    /// `h/2` for `U_0` and `U_L`, `h` in between.
    pub fn slice_weights(self, depth: usize) -> Vec<f64> {
        let h = 1.0 / depth as f64;
        match self {
            Integrator::Euler => vec![h; depth],
            _ => (0..=depth)
                .map(|j| if j == 0 || j == depth { 0.5 * h } else { h })
                .collect(),
        }
    }
}
