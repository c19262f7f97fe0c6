//! What `sweep plan` and `sweep status` print: task counts by state and the cost
//! estimate.
//!
//! The estimate of one task's wall time is the mean wall time of the sweep's tasks done so
//! far when there are any (measured on this sweep's machines), else the sweep file's
//! `seconds_per_task`, else unknown. The remaining work is that times the tasks not done;
//! with `P` tasks at once (local jobs, or Slurm's `max_parallel`) it takes about
//! `⌈pending/P⌉` task times.

use crate::plan::Plan;
use crate::state::TaskState;

/// Where a per-task estimate comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Basis {
    /// The mean wall time of this many done tasks.
    Measured(usize),
    /// The sweep file's `seconds_per_task`.
    Declared,
}

/// The cost of what is left of a sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Tasks planned.
    pub tasks: usize,
    /// Tasks not done.
    pub pending: usize,
    /// Seconds per task and where that comes from (`None`: unknown).
    pub per_task: Option<(f64, Basis)>,
}

impl Estimate {
    /// The estimate for `plan` given its task states (module doc).
    pub fn new(plan: &Plan, states: &[TaskState]) -> Self {
        let times: Vec<f64> = states
            .iter()
            .filter_map(|s| match s {
                TaskState::Done(f) => Some(f.wall_time_s),
                _ => None,
            })
            .collect();
        let per_task = if times.is_empty() {
            plan.seconds_per_task.map(|s| (s, Basis::Declared))
        } else {
            Some((
                times.iter().sum::<f64>() / times.len() as f64,
                Basis::Measured(times.len()),
            ))
        };
        Self {
            tasks: plan.tasks.len(),
            pending: states.iter().filter(|s| !s.is_done()).count(),
            per_task,
        }
    }

    /// CPU-seconds of the pending tasks (`None`: unknown).
    pub fn remaining_seconds(&self) -> Option<f64> {
        self.per_task.map(|(s, _)| s * self.pending as f64)
    }

    /// Wall-clock seconds with `parallel` tasks at once (`None`: unknown).
    pub fn wall_seconds(&self, parallel: usize) -> Option<f64> {
        let p = parallel.max(1);
        self.per_task
            .map(|(s, _)| s * self.pending.div_ceil(p) as f64)
    }

    /// One line: `6 tasks, 2 not done; ≈ 3.1 s per task (mean of 4 done): ≈ 6.2 CPU-s,
    /// ≈ 3.1 s with 4 at once`.
    pub fn line(&self, parallel: usize) -> String {
        let head = format!("{} tasks, {} not done", self.tasks, self.pending);
        match self.per_task {
            None => format!(
                "{head}; cost unknown (set `seconds_per_task` in the sweep file, or run a few tasks)"
            ),
            Some((s, basis)) => {
                let basis = match basis {
                    Basis::Measured(n) => format!("mean of {n} done"),
                    Basis::Declared => "seconds_per_task of the sweep file".to_owned(),
                };
                format!(
                    "{head}; ≈ {s:.1} s per task ({basis}): ≈ {:.0} CPU-s left, ≈ {:.0} s with {} at once",
                    self.remaining_seconds().unwrap_or(0.0),
                    self.wall_seconds(parallel).unwrap_or(0.0),
                    parallel.max(1)
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Attempt, Finished};

    fn finished(t: f64) -> TaskState {
        TaskState::Done(Finished {
            attempt: 1,
            exit_code: Some(0),
            signal: None,
            wall_time_s: t,
            summary: None,
        })
    }

    #[test]
    fn estimates_from_measured_then_declared_times() {
        let raw = serde_json::json!({"out": "o", "command": {"program": "/bin/true"}, "grid": {"seeds": 5}, "seconds_per_task": 10});
        let sweep = crate::Sweep::from_value(std::path::Path::new("/s.json"), &raw).unwrap();
        let plan = Plan::new(&sweep, &["/x".to_owned()]).unwrap();
        let interrupted = TaskState::Interrupted(Attempt {
            attempt: 1,
            host: "h".into(),
            slurm_job: None,
            started_unix: 0.0,
        });
        let states = [
            finished(2.0),
            finished(4.0),
            interrupted,
            TaskState::Missing,
            TaskState::Missing,
        ];
        let e = Estimate::new(&plan, &states);
        assert_eq!(e.per_task, Some((3.0, Basis::Measured(2))));
        assert_eq!(e.remaining_seconds(), Some(9.0));
        assert_eq!(e.wall_seconds(2), Some(6.0));
        let fresh = Estimate::new(&plan, &vec![TaskState::Missing; 5]);
        assert_eq!(fresh.per_task, Some((10.0, Basis::Declared)));
        assert_eq!(fresh.wall_seconds(4), Some(20.0));
    }
}
