//! # plres-theory — the theory's claims as executable checks
//!
//! One job: measure, at a given parameter or along training, the quantities of the local
//! Polyak–Łojasiewicz inequality (DESIGN §5), the expressivity condition and the RFF
//! feature-count bounds (§6), and report each as a [`CheckReport`].
//!
//! Modules: [`report`] (the `CheckReport` every check returns). Planned: `pl`
//! (certificate `μ_cert`, monitor), `expressivity`, `rff_bounds`, `convergence`, `limits`.

pub mod report;

pub use report::{CheckReport, Relation};
