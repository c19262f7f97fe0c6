//! The local PL inequality of DESIGN §5: the certificate `μ_cert` and its ingredients.
//!
//! * [`certificate`] — `μ_cert` (item 4) and its continuous analogue (item 5) as
//!   formulas of the per-layer `λ_k`, `a_k`.
//! * [`apriori`] — the a-priori bound on a ball `‖θ‖ ≤ R` from the separation of the
//!   data, through the admissibility constant `κ` of the kernel.

pub mod apriori;
pub mod certificate;
