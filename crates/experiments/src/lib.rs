//! # plres-experiments — the study's experiments
//!
//! One job: each experiment of the study is a function from a serde `Config` to a run
//! folder (docs/theory.md §8): `config.json`, `metrics.csv` (one row per iterate),
//! `summary.json`, `checks.json` (the plres-theory [`CheckReport`]s) and plots as SVG
//! and PNG; `cargo xtask reproduce` runs them and writes `REPORT.md`.
//!
//! Modules:
//! - [`registry`] — [`Experiment`], [`Size`] (smoke / default / full), the registry;
//! - [`run`] — run folders, atomic writes, [`RunContext`] (seeded streams, progress bars),
//!   [`RunOutput`];
//! - [`table`] — the typed CSV writer of `metrics.csv`;
//! - [`plot`] — line plots (log axes, legends, mean ± std bands) and log-log scatters with
//!   fitted slopes, drawn to SVG and PNG with `plotters`;
//! - [`report`] — `REPORT.md`;
//! - [`error`] — [`ExperimentError`];
//! - [`experiments`] — the seven experiments, one module each.
//!
//! Running one experiment into a folder (what `cargo xtask reproduce rff-bound --smoke`
//! does, without the log file and the report):
//!
//! ```
//! use plres_experiments::{Size, registry::find, run};
//!
//! let out = std::env::temp_dir().join(format!("plres-doc-{}", std::process::id()));
//! let exp = find("rff-bound")?;
//! let record = run::run(&out, exp, exp.default_config(Size::Smoke), Size::Smoke, 0, false, false)?;
//! // none fails; some are VACUOUS (e.g. the uniform bound, not proven for these features)
//! assert!(record.checks.iter().all(|c| !c.fails()));
//! assert!(out.join("rff-bound/failure.png").is_file());
//! # std::fs::remove_dir_all(&out)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!

#![forbid(unsafe_code)]

pub mod error;
pub mod experiments;
pub mod plot;
pub mod registry;
pub mod report;
pub mod run;
pub mod table;

pub use error::{ExperimentError, ResultExt};
pub use plres_theory::{CheckReport, Relation};
pub use registry::{DynExperiment, Experiment, ExperimentConfig, Size};
pub use run::{RunContext, RunOutput};
