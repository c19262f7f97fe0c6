//! Gradients of what the integrators computed (docs/theory.md §4).
//!
//! For a loss `L(x_n)` of the final state, write `λ_n = ∂L/∂x_n`. Three ways back to
//! `∂L/∂x_0` and `∂L/∂θ`:
//!
//! 1. [`stored`]: the **discrete adjoint**, reverse mode through every stage of the explicit
//!    tableau, stage inputs kept from the forward pass. For one step
//!    `x' = x + h Σ b_i K_i`, `K_i = f(t + c_i h, Y_i)`, `Y_i = x + h Σ_{j<i} a_ij K_j`,
//!    going backwards over the stages `i = s … 1`:
//!    ```text
//!    w_i = h b_i λ' + h Σ_{j>i} a_ji μ_j          (∂L/∂K_i)
//!    μ_i = (∂f/∂x(t + c_i h, Y_i))ᵀ w_i             (∂L/∂Y_i, vjp_state)
//!    ∂L/∂θ += (∂f/∂θ(t + c_i h, Y_i))ᵀ w_i          (vjp_params)
//!    λ = λ' + Σ_i μ_i
//!    ```
//!    Exact for the discrete map (up to rounding). For Euler this is docs/theory.md §4's
//!    `p^k = p^{k+1} + h Df_k(x^k)ᵀ p^{k+1}`, `∂L/∂U_k = h Σ_i p_i^{k+1} φ(x_i^k)ᵀ`.
//! 2. [`checkpointed`]: the same recursion, storing only every `k`-th state and recomputing
//!    each segment's stages with the same code; the result is bitwise identical to (1) and the
//!    memory is `O(n/k + k·s)` batches instead of `O(n·s)`.
//! 3. [`continuous`]: the **continuous adjoint**: integrate backwards, with the same tableau
//!    on the reversed grid, the augmented system
//!    ```text
//!    ẋ = f(t, x),   ȧ = −(∂f/∂x)ᵀ a,   ġ = −(∂f/∂θ)ᵀ a,
//!    x(T) = x_n,    a(T) = λ_n,        g(T) = 0,
//!    ```
//!    giving `a(t_0) ≈ ∂L/∂x_0`, `g(t_0) ≈ ∂L/∂θ`. It approximates the gradient of the exact
//!    flow; the discrete adjoint is the exact gradient of the computed map. Both converge to
//!    the same limit as `h → 0`; [`compare`] reports their difference.

pub mod checkpointed;
pub mod compare;
pub mod continuous;
pub(crate) mod reverse;
pub mod stored;

use faer::Mat;

use crate::solution::Stats;
use crate::tableau::ButcherTableau;

/// Gradients of a loss of the final state.
#[derive(Debug, Clone)]
pub struct Gradients {
    /// `∂L/∂x_0` (`N × d`).
    pub state: Mat<f64>,
    /// `∂L/∂θ` (length [`n_params`](crate::VectorField::n_params)).
    pub params: Vec<f64>,
    /// Work done by the backward pass (recomputations included).
    pub stats: Stats,
}

/// Buffers for the stage inputs `Y_1 … Y_{s−1}` of `steps` steps (`N×d` each, `nr × nc`),
/// step `k`'s at `[k(s−1) ..]`; an unneeded stage's buffer is empty. What both tapes
/// record and replay.
pub(crate) fn stage_inputs(
    tab: &ButcherTableau,
    steps: usize,
    nr: usize,
    nc: usize,
) -> Vec<Mat<f64>> {
    let s = tab.stages();
    (0..steps * (s - 1))
        .map(|j| {
            if tab.is_needed(1 + j % (s - 1)) {
                Mat::zeros(nr, nc)
            } else {
                Mat::zeros(0, 0)
            }
        })
        .collect()
}
