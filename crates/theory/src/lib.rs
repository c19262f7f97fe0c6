//! # plres-theory — the theory's claims as executable checks
//!
//! One job: measure, at a given parameter or along training, the quantities of the local
//! Polyak–Łojasiewicz inequality (DESIGN §5), the expressivity condition and the RFF
//! feature-count bounds (§6), and report each as a `CheckReport`.
//!
//! Planned modules: `pl` (certificate `μ_cert`, monitor), `expressivity`, `rff_bounds`,
//! `convergence`, `limits`.
