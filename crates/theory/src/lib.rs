//! # plres-theory — the theory's claims as executable checks
//!
//! One job: measure, at a given parameter or along training, the quantities of the local
//! Polyak–Łojasiewicz inequality (DESIGN §5), the expressivity condition and the RFF
//! feature-count bounds (§6), and report each as a [`CheckReport`].
//!
//! Modules: [`pl`] (certificate formulas, a-priori bound), [`convergence`] (observed vs
//! predicted rate, path length), [`limits`] (fitted orders and slopes), [`stats`] (line
//! fits, binomial intervals), [`linalg`] (Grams, `λ_min`, operator norms with
//! workspaces), [`report`], [`error`].

pub mod convergence;
pub mod error;
pub mod expressivity;
pub mod limits;
pub mod linalg;
pub mod pl;
pub mod report;
pub mod rff_bounds;
pub mod stats;

pub use error::TheoryError;
pub use report::{CheckReport, Relation};
