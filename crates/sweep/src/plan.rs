//! Grid expansion: a [`Sweep`] becomes a [`Plan`], one [`Task`] per grid point, each with
//! a deterministic name, seed, folder and command line, saved as `OUT/plan.json`.
//!
//! The tasks are the product `axis₁ × … × axis_k × seeds` in that order (the axes sorted
//! by key, the first outermost, the seeds innermost), numbered from 0: the index is the
//! Slurm array index. A task's name lists its grid point, `key-value` pairs joined by
//! `_`, seed last (`sigma-0.5_seed-3`; `seed-3` when the seeds are the only axis); its
//! seed is the grid's seed, so the tasks of one seed share their random draws across
//! configurations (common random numbers). Its folder is `OUT/tasks/NAME`.
//!
//! `plan.json` pins the sweep to its folder: preparing a sweep whose tasks differ from
//! the saved plan fails ([`SweepError::PlanChanged`]) rather than mixing two sweeps.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use plres_experiments::Size;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::SweepError;
use crate::spec::{SlurmResources, Sweep, TaskKind};

/// File and folder names inside a sweep folder.
pub mod files {
    /// The plan.
    pub const PLAN: &str = "plan.json";
    /// The task folders' parent.
    pub const TASKS: &str = "tasks";
    /// Batch scripts, job records and Slurm logs.
    pub const SLURM: &str = "slurm";
    /// The aggregated report.
    pub const REPORT: &str = "REPORT.md";
    /// The aggregate as JSON.
    pub const AGGREGATE_JSON: &str = "aggregate.json";
    /// The aggregate as CSV (one row per configuration and value).
    pub const AGGREGATE_CSV: &str = "aggregate.csv";
    /// The aggregate's plots.
    pub const PLOTS: &str = "plots";
}

/// One grid point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Position in the plan (the Slurm array index).
    pub index: usize,
    /// Deterministic name: its folder's name.
    pub name: String,
    /// The seed.
    pub seed: u64,
    /// The grid point without the seed: axis key → value.
    pub params: BTreeMap<String, Value>,
    /// The arguments after the program.
    pub args: Vec<String>,
}

/// Every task of a sweep, and how to run each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The sweep's name.
    pub sweep: String,
    /// The sweep folder (absolute).
    pub out: PathBuf,
    /// What the tasks run.
    pub kind: TaskKind,
    /// The binary every task runs (absolute).
    pub program: PathBuf,
    /// The command that runs task `INDEX` of the plan in `OUT`, as `RUNNER… OUT INDEX`
    /// (e.g. `[/abs/xtask, sweep, exec]`): what a Slurm array task calls.
    pub runner: Vec<String>,
    /// The grid's axes (besides the seeds), in order.
    pub axes: Vec<String>,
    /// The seeds.
    pub seeds: Vec<u64>,
    /// `RAYON_NUM_THREADS` of every task.
    pub threads: u32,
    /// Estimated seconds per task before any has run.
    pub seconds_per_task: Option<f64>,
    /// Slurm resources.
    pub slurm: SlurmResources,
    /// The tasks, by index.
    pub tasks: Vec<Task>,
}

/// `value` as command-line text: strings as they are, anything else as JSON.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `text` with every byte outside `[A-Za-z0-9.+-]` replaced by `_` (a file name part).
fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Plan {
    /// Expands `sweep` into its tasks. `runner` is the command prefix that runs one task
    /// (`[/abs/xtask, sweep, exec]`); for a built-in experiment its first element is also
    /// the program every task runs (`… reproduce NAME …`).
    ///
    /// # Errors
    /// [`SweepError::Field`] when two grid points get the same name (values that differ
    /// only in characters replaced by `_`).
    ///
    /// # Panics
    /// If `runner` is empty (a programming error of the caller).
    pub fn new(sweep: &Sweep, runner: &[String]) -> Result<Self, SweepError> {
        assert!(!runner.is_empty(), "the runner command is empty");
        let program = match &sweep.kind {
            TaskKind::Experiment { .. } => PathBuf::from(&runner[0]),
            TaskKind::Command { program, .. } => program.clone(),
        };
        let mut points: Vec<BTreeMap<String, Value>> = vec![BTreeMap::new()];
        for axis in &sweep.axes {
            points = points
                .into_iter()
                .flat_map(|p| {
                    axis.values.iter().map(move |v| {
                        let mut q = p.clone();
                        q.insert(axis.key.clone(), v.clone());
                        q
                    })
                })
                .collect();
        }
        let mut tasks = Vec::with_capacity(points.len() * sweep.seeds.len());
        let mut names = BTreeSet::new();
        for params in points {
            for &seed in &sweep.seeds {
                let index = tasks.len();
                let mut parts: Vec<String> = sweep
                    .axes
                    .iter()
                    .map(|a| {
                        format!(
                            "{}-{}",
                            sanitize(&a.key),
                            sanitize(&value_text(&params[&a.key]))
                        )
                    })
                    .collect();
                parts.push(format!("seed-{seed}"));
                let name = parts.join("_");
                if !names.insert(name.clone()) {
                    return Err(SweepError::Field {
                        file: sweep.file.clone(),
                        field: "grid".to_owned(),
                        value: serde_json::to_string(&params).unwrap_or_default(),
                        reason: format!("two grid points are both named `{name}`"),
                    });
                }
                let dir = sweep.out.join(files::TASKS).join(&name);
                let args = task_args(sweep, &params, seed, &name, index, &dir);
                tasks.push(Task {
                    index,
                    name,
                    seed,
                    params: params.clone(),
                    args,
                });
            }
        }
        Ok(Self {
            sweep: sweep.name.clone(),
            out: sweep.out.clone(),
            kind: sweep.kind.clone(),
            program,
            runner: runner.to_vec(),
            axes: sweep.axes.iter().map(|a| a.key.clone()).collect(),
            seeds: sweep.seeds.clone(),
            threads: sweep.threads,
            seconds_per_task: sweep.seconds_per_task,
            slurm: sweep.slurm.clone(),
            tasks,
        })
    }

    /// The folder of task `task`.
    pub fn task_dir(&self, task: &Task) -> PathBuf {
        self.out.join(files::TASKS).join(&task.name)
    }

    /// The task of index `index`.
    ///
    /// # Errors
    /// [`SweepError::NoSuchTask`] when it is out of range.
    pub fn task(&self, index: usize) -> Result<&Task, SweepError> {
        self.tasks.get(index).ok_or(SweepError::NoSuchTask {
            index,
            tasks: self.tasks.len(),
        })
    }

    /// The full command line of `task`: program, then arguments.
    pub fn command_line(&self, task: &Task) -> Vec<String> {
        std::iter::once(self.program.display().to_string())
            .chain(task.args.iter().cloned())
            .collect()
    }

    /// A human label of what the tasks run: ``experiment `rff-bound` (smoke size)``, or
    /// ``command `plres` `` (the program's file name: reports hold no paths).
    pub fn label(&self) -> String {
        match &self.kind {
            TaskKind::Experiment { name, size } => format!("experiment `{name}` ({size} size)"),
            TaskKind::Command { program, .. } => format!(
                "command `{}`",
                program.file_name().map_or_else(
                    || program.display().to_string(),
                    |n| n.to_string_lossy().into_owned()
                )
            ),
        }
    }

    /// The first difference between the tasks of `self` and `other` (names, seeds, grid
    /// points, arguments, kind), or `None` if they run the same work. The program and
    /// runner paths may differ (the binary may be rebuilt elsewhere).
    pub fn difference(&self, other: &Plan) -> Option<String> {
        if self.kind != other.kind {
            return Some("the experiment or command differs".to_owned());
        }
        if self.tasks.len() != other.tasks.len() {
            return Some(format!(
                "{} tasks, not {}",
                other.tasks.len(),
                self.tasks.len()
            ));
        }
        self.tasks.iter().zip(&other.tasks).find_map(|(a, b)| {
            (a != b).then(|| format!("task {} is `{}`, not `{}`", a.index, b.name, a.name))
        })
    }

    /// Creates the sweep folder and saves the plan there; if a plan is saved already it
    /// must describe the same tasks ([`Plan::difference`]), and it is then replaced (so
    /// the program and runner paths are current).
    ///
    /// # Errors
    /// [`SweepError::PlanChanged`] naming the difference; I/O and parse errors of
    /// `plan.json`.
    pub fn save(&self) -> Result<(), SweepError> {
        let path = self.out.join(files::PLAN);
        if path.is_file() {
            let saved = Plan::load(&self.out)?;
            if let Some(difference) = saved.difference(self) {
                return Err(SweepError::PlanChanged { path, difference });
            }
        }
        std::fs::create_dir_all(self.out.join(files::TASKS))
            .map_err(|e| SweepError::io("creating", self.out.join(files::TASKS), e))?;
        write_json(&path, self)
    }

    /// Reads the plan saved in sweep folder `out`.
    ///
    /// # Errors
    /// I/O and parse errors of `OUT/plan.json`.
    pub fn load(out: &Path) -> Result<Self, SweepError> {
        read_json(&out.join(files::PLAN))
    }
}

/// The arguments of one task: for an experiment, `reproduce NAME [--smoke|--full] --out
/// DIR --seed S --force --set K=V…` (fixed settings, then the grid point); for a
/// command, its arguments with placeholders replaced.
fn task_args(
    sweep: &Sweep,
    params: &BTreeMap<String, Value>,
    seed: u64,
    name: &str,
    index: usize,
    dir: &Path,
) -> Vec<String> {
    match &sweep.kind {
        TaskKind::Experiment { name: exp, size } => {
            let mut a = vec!["reproduce".to_owned(), exp.clone()];
            match size {
                Size::Smoke => a.push("--smoke".to_owned()),
                Size::Full => a.push("--full".to_owned()),
                Size::Default => {}
            }
            a.extend([
                "--out".to_owned(),
                dir.display().to_string(),
                "--seed".to_owned(),
                seed.to_string(),
                // a rerun replaces the folder of an interrupted attempt
                "--force".to_owned(),
            ]);
            for (k, v) in sweep.set.iter().map(|(k, v)| (k, v)).chain(params.iter()) {
                a.push("--set".to_owned());
                a.push(format!("{k}={}", value_text(v)));
            }
            a
        }
        TaskKind::Command { args, .. } => {
            let mut values: BTreeMap<&str, String> = BTreeMap::new();
            values.insert("dir", dir.display().to_string());
            values.insert("seed", seed.to_string());
            values.insert("name", name.to_owned());
            values.insert("index", index.to_string());
            for (k, v) in sweep.set.iter().map(|(k, v)| (k, v)).chain(params.iter()) {
                values.insert(k, value_text(v));
            }
            args.iter()
                .map(|a| {
                    let mut s = a.clone();
                    for (k, v) in &values {
                        s = s.replace(&format!("{{{k}}}"), v);
                    }
                    s
                })
                .collect()
        }
    }
}

/// Writes `value` as pretty JSON with a final newline, atomically and durably
/// (`plres_data::io::write_atomic`).
pub(crate) fn write_json(path: &Path, value: &impl Serialize) -> Result<(), SweepError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| SweepError::Corrupt {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    text.push('\n');
    Ok(plres_data::io::write_atomic(path, text.as_bytes())?)
}

/// Reads a JSON file of the sweep folder.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, SweepError> {
    let text = std::fs::read_to_string(path).map_err(|e| SweepError::io("reading", path, e))?;
    serde_json::from_str(&text).map_err(|e| SweepError::Corrupt {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sweep(raw: Value) -> Sweep {
        Sweep::from_value(Path::new("/s/x.json"), &raw).unwrap()
    }

    fn runner() -> Vec<String> {
        vec!["/bin/xtask".into(), "sweep".into(), "exec".into()]
    }

    #[test]
    fn grid_expands_in_order_with_deterministic_names() {
        let s = sweep(json!({
            "out": "o", "experiment": "rff-bound", "size": "smoke",
            "set": {"draws": 10},
            "grid": {"seeds": [4, 9], "sigma": [0.5, 1.0], "n": [6]}
        }));
        let p = Plan::new(&s, &runner()).unwrap();
        let names: Vec<&str> = p.tasks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "n-6_sigma-0.5_seed-4",
                "n-6_sigma-0.5_seed-9",
                "n-6_sigma-1.0_seed-4",
                "n-6_sigma-1.0_seed-9"
            ]
        );
        assert_eq!(
            p.tasks.iter().map(|t| t.seed).collect::<Vec<_>>(),
            [4, 9, 4, 9]
        );
        assert_eq!(
            p.command_line(&p.tasks[1]).join(" "),
            "/bin/xtask reproduce rff-bound --smoke --out /s/o/tasks/n-6_sigma-0.5_seed-9 \
             --seed 9 --force --set draws=10 --set n=6 --set sigma=0.5"
        );
        assert_eq!(Plan::new(&s, &runner()).unwrap(), p, "deterministic");
    }

    #[test]
    fn commands_get_their_placeholders() {
        let s = sweep(json!({
            "out": "o",
            "command": {"program": "/opt/plres", "args": ["train", "--out", "{dir}", "--seed", "{seed}", "--set", "width={width}", "--set", "kernel={kernel}", "{name}#{index}"]},
            "set": {"kernel": "laplace"},
            "grid": {"width": [8], "seeds": 1}
        }));
        let p = Plan::new(&s, &runner()).unwrap();
        assert_eq!(
            p.command_line(&p.tasks[0]).join(" "),
            "/opt/plres train --out /s/o/tasks/width-8_seed-0 --seed 0 --set width=8 --set kernel=laplace width-8_seed-0#0"
        );
    }

    #[test]
    fn colliding_names_are_an_error() {
        let s = sweep(json!({
            "out": "o", "command": {"program": "/bin/true"},
            "grid": {"tag": ["a b", "a/b"]}
        }));
        let e = Plan::new(&s, &runner()).unwrap_err().to_string();
        assert!(
            e.contains("two grid points are both named `tag-a_b_seed-0`"),
            "{e}"
        );
    }

    #[test]
    fn a_saved_plan_pins_its_folder() {
        let out = std::env::temp_dir().join(format!("plres-sweep-plan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let raw = |seeds: u64| json!({"out": out.display().to_string(), "experiment": "rff-bound", "size": "smoke", "grid": {"seeds": seeds}});
        let p = Plan::new(&sweep(raw(2)), &runner()).unwrap();
        p.save().unwrap();
        assert_eq!(Plan::load(&out).unwrap(), p);
        let mut moved = p.clone();
        moved.runner[0] = "/elsewhere/xtask".into();
        moved.save().unwrap();
        let e = Plan::new(&sweep(raw(3)), &runner())
            .unwrap()
            .save()
            .unwrap_err();
        assert!(e.to_string().contains("(3 tasks, not 2)"), "{e}");
        std::fs::remove_dir_all(&out).unwrap();
    }
}
