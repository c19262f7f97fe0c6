//! # plres-ode — explicit integrators for batched states with adjoints
//!
//! One job: integrate `Ẋ = f(t, X)` for a batch `X ∈ R^{N×d}` with explicit Runge–Kutta
//! methods and give exact gradients of what was computed (DESIGN §4, §7).
