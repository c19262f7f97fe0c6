//! What the public entry points return: trajectories and gradient reports (the states and
//! adjoints of a gradient evaluation stay in the model's workspace).

use faer::Mat;

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
}
