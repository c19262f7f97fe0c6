//! # plres-sweep — experiment grids over seeds, locally or on Slurm, nothing lost
//!
//! One job: run a grid of experiment configurations × seeds as independent tasks and
//! aggregate them. A *sweep file* ([`spec`], TOML or JSON) names what each task runs (a
//! `cargo xtask reproduce` experiment, or any built binary and its arguments — the seam
//! for `plres train` configurations), the grid and the output folder; [`plan`] expands
//! it into tasks with deterministic names, seeds, folders and command lines. The tasks
//! run through a local process pool ([`exec::run_local`]) or as a Slurm job array
//! ([`slurm`]: a generated batch script submitted with `sbatch`), and both go through
//! the same [`exec::run_task`], so the folder layout is the same:
//!
//! ```text
//! OUT/plan.json                     the tasks (pins the folder to this sweep)
//! OUT/tasks/NAME/attempt.json       written when an attempt starts
//! OUT/tasks/NAME/done.json          … when it finished (or failed.json)
//! OUT/tasks/NAME/task.log           the command's output, every attempt
//! OUT/tasks/NAME/EXPERIMENT/…       the run folder (summary.json, metrics.csv, …)
//! OUT/slurm/array-K.sbatch, jobs.json, logs/
//! OUT/REPORT.md, aggregate.json, aggregate.csv, plots/   written by collect
//! ```
//!
//! Nothing lost, nothing counted twice ([`state`]): markers are written atomically and
//! durably (`plres_data::io::write_atomic`); a task is done only once `done.json`
//! exists; `run` and `submit` rerun exactly the tasks not done; [`collect`] aggregates
//! each done task once and calls the sweep incomplete, listing them, while any is not.
//! Over the seeds of each configuration it reports mean ± sample standard deviation and
//! the Student-t interval `x̄ ± t_{0.975, n−1} s/√n` ([`stats`]), and divergence counts.
//!
//! Planning a sweep (what `cargo xtask sweep plan` prints):
//!
//! ```
//! use plres_sweep::{Plan, Sweep};
//!
//! let raw = serde_json::json!({
//!     "out": "runs/rff", "experiment": "rff-bound", "size": "smoke",
//!     "grid": {"seeds": 3, "sigma": [0.5, 1.0]}
//! });
//! let sweep = Sweep::from_value(std::path::Path::new("/work/rff.json"), &raw)?;
//! let plan = Plan::new(&sweep, &["/bin/xtask".into(), "sweep".into(), "exec".into()])?;
//! assert_eq!(plan.tasks.len(), 2 * 3);
//! assert_eq!(plan.tasks[4].name, "sigma-1.0_seed-1");
//! assert_eq!(
//!     plan.command_line(&plan.tasks[4]).join(" "),
//!     "/bin/xtask reproduce rff-bound --smoke --out /work/runs/rff/tasks/sigma-1.0_seed-1 \
//!      --seed 1 --force --set sigma=1.0"
//! );
//! # Ok::<(), plres_sweep::SweepError>(())
//! ```
//!
//! Modules: [`spec`] (the sweep file), [`plan`] (grid expansion, `plan.json`), [`state`]
//! (task markers), [`exec`] (one task; the local pool), [`slurm`] (batch script, `sbatch`,
//! `squeue`), [`collect`] (aggregate, report, plots), [`stats`] (t quantiles, intervals),
//! [`status`] (counts and the cost estimate), [`error`].

#![forbid(unsafe_code)]

pub mod collect;
pub mod error;
pub mod exec;
pub mod plan;
pub mod slurm;
pub mod spec;
pub mod state;
pub mod stats;
pub mod status;

pub use error::SweepError;
pub use plan::{Plan, Task};
pub use spec::Sweep;

/// An error and its causes on one line, `outer: inner: …`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    plres_experiments::run::error_chain(e)
}
