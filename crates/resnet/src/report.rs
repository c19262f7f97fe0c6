//! What the public entry points return: trajectories and gradient reports.

use faer::Mat;

/// What to keep besides loss and gradients (plres-theory needs both: Φ-Grams along the
/// trajectory and the adjoints).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// Keep the states `X^0..X^L` (`N×d` each) at the layer boundaries `s_k = k h`.
    pub trajectory: bool,
    /// Keep the adjoints `P^0..P^L` (`N×d` each), `p_i^k = ∂L/∂x_i^k`.
    pub adjoints: bool,
}

impl Record {
    /// Keep nothing but loss and gradients.
    pub const NONE: Record = Record {
        trajectory: false,
        adjoints: false,
    };
    /// Keep trajectory and adjoints.
    pub const ALL: Record = Record {
        trajectory: true,
        adjoints: true,
    };
}

/// The forward pass with its states.
#[derive(Clone, Debug)]
pub struct Trajectory {
    /// `X^0..X^L` at the layer boundaries (`X^0` is the embedded input `X Aᵀ`).
    pub states: Vec<Mat<f64>>,
    /// The output `Z = X^L Bᵀ` (`N×d_out`).
    pub output: Mat<f64>,
}

/// Loss and gradients at one parameter value (docs/theory.md §4).
#[derive(Clone, Debug)]
pub struct GradientReport {
    /// `L(θ)`, mean over samples.
    pub loss: f64,
    /// Euclidean gradient `∂L/∂θ` in the layout of the flat parameter vector.
    pub euclidean: Vec<f64>,
    /// Riesz gradient in the model's metric (for the `L²` metric `G_k = (1/h) ∂L/∂U_k`).
    pub riesz: Vec<f64>,
    /// `‖G‖²` in the model's metric (`= ⟨∂L/∂θ, G⟩`).
    pub riesz_norm_sq: f64,
    /// States `X^0..X^L`, when requested.
    pub trajectory: Option<Vec<Mat<f64>>>,
    /// Adjoints `P^0..P^L`, when requested.
    pub adjoints: Option<Vec<Mat<f64>>>,
}
