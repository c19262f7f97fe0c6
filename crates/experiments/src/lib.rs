//! # plres-experiments — the study's experiments
//!
//! One job: each experiment is a function from a serde `Config` to a run folder
//! (DESIGN §8: `config.json`, `metrics.csv`, `summary.json`, checks, plots).
//!
//! Planned modules: `run` (run folders, atomic writes), `plot`, `report`, and one module
//! per experiment (`pl_certificate`, `width`, `depth`, `width_limit`, `rff_bound`,
//! `linear_vs_nonlinear`, `lazy`).
