//! The sweep file: what to run, over which grid, where to, and with which Slurm
//! resources. TOML (`.toml`) or JSON (`.json`), the same fields either way:
//!
//! ```toml
//! name = "rff-seeds"        # optional: the file's stem
//! out = "runs/rff-seeds"    # the sweep folder, relative to this file's folder
//! experiment = "rff-bound"  # a `cargo xtask reproduce` experiment …
//! size = "smoke"            # … at this size (smoke, default, full; default: default)
//! threads = 1               # RAYON_NUM_THREADS of every task (default 1)
//! seconds_per_task = 4      # optional: the cost estimate before any task has run
//!
//! [set]                     # configuration fields fixed for every task
//! draws = 20
//!
//! [grid]                    # one task per point of the product of these lists
//! seeds = 6                 # seeds 0..6 (or a list: [0, 7, 9])
//! sigma = [0.5, 1.0]
//!
//! [slurm]                   # all optional
//! time = "00:10:00"
//! cpus_per_task = 1
//! mem = "1G"
//! partition = "debug"
//! max_parallel = 4          # the M of --array=…%M
//! extra = ["--qos=short"]   # further #SBATCH lines
//! ```
//!
//! Instead of `experiment` (and `size`), a `[command]` table runs any built binary, e.g.
//! a `plres train` configuration: `program` (an absolute path) and `args`, where `{dir}`
//! (the task folder), `{seed}`, `{name}`, `{index}` and `{KEY}` for every `set` and
//! `grid` key are replaced per task. Such a command is aggregated like an experiment when
//! it writes a plres run summary (`summary.json` with `values`, `checks_total`,
//! `checks_holding`, `checks_vacuous`) into `{dir}` or a folder of it; it counts as done
//! when it exits 0 or writes that summary. Every error names the file, the field and the value
//! ([`SweepError::Field`]); with `experiment`, every `set` and `grid` value is checked
//! against the experiment's configuration ([`SweepError::Experiment`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use plres_experiments::Size;
use plres_experiments::registry::{apply_overrides, find};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::SweepError;

/// What every task runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// A built-in experiment: `RUNNER reproduce NAME --out {dir} --seed {seed} --force
    /// --set K=V…`, `RUNNER` being the binary that plans the sweep (the xtask binary).
    Experiment {
        /// The registered experiment.
        name: String,
        /// Its size level.
        size: Size,
    },
    /// Any built binary and its arguments, with placeholders (module doc).
    Command {
        /// Absolute path of the binary.
        program: PathBuf,
        /// Its arguments, with placeholders.
        args: Vec<String>,
    },
}

/// One axis of the grid: a configuration key and its values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    /// The key (a configuration field, or a placeholder of the command).
    pub key: String,
    /// Its values, in the file's order.
    pub values: Vec<Value>,
}

/// Slurm resources of every array task (`#SBATCH` lines).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SlurmResources {
    /// `--time`, e.g. `00:10:00` or `2-00:00:00`.
    pub time: Option<String>,
    /// `--cpus-per-task`.
    pub cpus_per_task: Option<u32>,
    /// `--mem`, e.g. `1G`, `500M`.
    pub mem: Option<String>,
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// At most this many array tasks at once (`--array=…%M`).
    pub max_parallel: Option<u32>,
    /// Further `#SBATCH` options, verbatim (each starts with `-`).
    pub extra: Vec<String>,
}

/// A parsed and checked sweep file.
#[derive(Clone, Debug, PartialEq)]
pub struct Sweep {
    /// The sweep file (absolute).
    pub file: PathBuf,
    /// The sweep's name (file stem unless given).
    pub name: String,
    /// The sweep folder (absolute).
    pub out: PathBuf,
    /// What each task runs.
    pub kind: TaskKind,
    /// Settings fixed for every task, sorted by key.
    pub set: Vec<(String, Value)>,
    /// The grid's axes besides the seeds, sorted by key.
    pub axes: Vec<Axis>,
    /// The seeds.
    pub seeds: Vec<u64>,
    /// `RAYON_NUM_THREADS` of every task.
    pub threads: u32,
    /// Estimated seconds per task before any has run.
    pub seconds_per_task: Option<f64>,
    /// Slurm resources.
    pub slurm: SlurmResources,
}

/// The fields a sweep file may have.
const TOP_FIELDS: &[&str] = &[
    "name",
    "out",
    "experiment",
    "size",
    "threads",
    "seconds_per_task",
    "set",
    "grid",
    "command",
    "slurm",
];

/// Placeholders every command may use besides its `set` and `grid` keys.
pub const PLACEHOLDERS: &[&str] = &["dir", "seed", "name", "index"];

/// The grid key holding the seeds.
pub const SEEDS: &str = "seeds";

struct Reader<'a> {
    file: &'a Path,
}

impl Reader<'_> {
    fn field(&self, field: &str, value: Option<&Value>, reason: impl Into<String>) -> SweepError {
        SweepError::Field {
            file: self.file.to_owned(),
            field: field.to_owned(),
            value: value.map_or_else(|| "(missing)".to_owned(), Value::to_string),
            reason: reason.into(),
        }
    }

    fn string(&self, field: &str, v: &Value) -> Result<String, SweepError> {
        match v {
            Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
            _ => Err(self.field(field, Some(v), "expected a non-empty string")),
        }
    }

    fn count(&self, field: &str, v: &Value, min: u64) -> Result<u64, SweepError> {
        match v.as_u64() {
            Some(n) if n >= min => Ok(n),
            _ => Err(self.field(field, Some(v), format!("expected an integer ≥ {min}"))),
        }
    }

    fn table<'v>(&self, field: &str, v: &'v Value) -> Result<&'v Map<String, Value>, SweepError> {
        v.as_object()
            .ok_or_else(|| self.field(field, Some(v), "expected a table"))
    }

    fn strings(&self, field: &str, v: &Value) -> Result<Vec<String>, SweepError> {
        let items = v
            .as_array()
            .ok_or_else(|| self.field(field, Some(v), "expected a list of strings"))?;
        items
            .iter()
            .enumerate()
            .map(|(i, x)| {
                x.as_str().map(str::to_owned).ok_or_else(|| {
                    self.field(&format!("{field}[{i}]"), Some(x), "expected a string")
                })
            })
            .collect()
    }
}

/// Reads a sweep file (TOML for `.toml`, JSON otherwise) into its raw JSON value.
///
/// # Errors
/// [`SweepError::Io`] when it cannot be read, [`SweepError::Syntax`] when it does not
/// parse.
pub fn read_raw(file: &Path) -> Result<Value, SweepError> {
    let text = std::fs::read_to_string(file).map_err(|e| SweepError::io("reading", file, e))?;
    let syntax = |message: String| SweepError::Syntax {
        file: file.to_owned(),
        message,
    };
    if file.extension().is_some_and(|e| e == "toml") {
        toml::from_str::<Value>(&text).map_err(|e| syntax(e.to_string().trim_end().to_owned()))
    } else {
        serde_json::from_str(&text).map_err(|e| syntax(e.to_string()))
    }
}

impl Sweep {
    /// Reads and checks a sweep file; `out` relative paths are taken from the file's
    /// folder.
    ///
    /// # Errors
    /// See [`read_raw`] and [`Sweep::from_value`].
    pub fn load(file: &Path) -> Result<Self, SweepError> {
        let file = std::path::absolute(file).map_err(|e| SweepError::io("resolving", file, e))?;
        let raw = read_raw(&file)?;
        Self::from_value(&file, &raw)
    }

    /// Checks the raw content `raw` of sweep file `file` (absolute) field by field.
    ///
    /// # Errors
    /// [`SweepError::Field`] naming the first wrong field and its value;
    /// [`SweepError::Experiment`] when the experiment rejects a setting or grid value.
    pub fn from_value(file: &Path, raw: &Value) -> Result<Self, SweepError> {
        let r = Reader { file };
        let top = r.table("(top level)", raw)?;
        for key in top.keys() {
            if !TOP_FIELDS.contains(&key.as_str()) {
                return Err(r.field(
                    key,
                    top.get(key),
                    format!("unknown field (known: {})", TOP_FIELDS.join(", ")),
                ));
            }
        }
        let name = match top.get("name") {
            Some(v) => r.string("name", v)?,
            None => file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "sweep".to_owned()),
        };
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err(r.field(
                "name",
                Some(&Value::String(name)),
                "use ASCII letters, digits, `-`, `_` and `.` (it names the Slurm job)",
            ));
        }
        let out_text = r.string("out", top.get("out").unwrap_or(&Value::Null))?;
        let base = file.parent().unwrap_or(Path::new("/"));
        let out = base.join(out_text);

        let set: Vec<(String, Value)> = match top.get("set") {
            Some(v) => r
                .table("set", v)?
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            None => Vec::new(),
        };
        let (axes, seeds) = parse_grid(&r, top.get("grid"))?;

        let kind = match (top.get("experiment"), top.get("command")) {
            (Some(_), Some(c)) => {
                return Err(r.field("command", Some(c), "give either `experiment` or `command`"));
            }
            (None, None) => {
                return Err(r.field(
                    "experiment",
                    None,
                    "give `experiment` (or a `command` table)",
                ));
            }
            (Some(e), None) => {
                let name = r.string("experiment", e)?;
                let size = match top.get("size") {
                    Some(v) => r
                        .string("size", v)?
                        .parse::<Size>()
                        .map_err(|e| r.field("size", Some(v), e.to_string()))?,
                    None => Size::Default,
                };
                TaskKind::Experiment { name, size }
            }
            (None, Some(c)) => {
                if let Some(s) = top.get("size") {
                    return Err(r.field("size", Some(s), "only with `experiment`"));
                }
                parse_command(&r, c, &set, &axes)?
            }
        };
        if let TaskKind::Experiment { name, size } = &kind {
            check_experiment(file, name, *size, &set, &axes)?;
        }

        let threads = match top.get("threads") {
            Some(v) => u32::try_from(r.count("threads", v, 1)?)
                .map_err(|_| r.field("threads", Some(v), "too large"))?,
            None => 1,
        };
        let seconds_per_task = match top.get("seconds_per_task") {
            Some(v) => match v.as_f64() {
                Some(s) if s > 0.0 && s.is_finite() => Some(s),
                _ => {
                    return Err(r.field("seconds_per_task", Some(v), "expected a positive number"));
                }
            },
            None => None,
        };
        let slurm = match top.get("slurm") {
            Some(v) => parse_slurm(&r, v)?,
            None => SlurmResources::default(),
        };
        Ok(Self {
            file: file.to_owned(),
            name,
            out,
            kind,
            set,
            axes,
            seeds,
            threads,
            seconds_per_task,
            slurm,
        })
    }

    /// Number of tasks: the product of the axes' lengths and the number of seeds.
    pub fn task_count(&self) -> usize {
        self.axes.iter().map(|a| a.values.len()).product::<usize>() * self.seeds.len()
    }
}

fn parse_grid(r: &Reader<'_>, grid: Option<&Value>) -> Result<(Vec<Axis>, Vec<u64>), SweepError> {
    let mut axes = Vec::new();
    let mut seeds = vec![0];
    let Some(grid) = grid else {
        return Ok((axes, seeds));
    };
    for (key, v) in r.table("grid", grid)? {
        let field = format!("grid.{key}");
        if key == SEEDS {
            seeds = match v {
                Value::Array(items) => {
                    let mut seen = BTreeSet::new();
                    let mut out = Vec::with_capacity(items.len());
                    for (i, x) in items.iter().enumerate() {
                        let s = x.as_u64().ok_or_else(|| {
                            r.field(
                                &format!("{field}[{i}]"),
                                Some(x),
                                "expected a non-negative integer",
                            )
                        })?;
                        if !seen.insert(s) {
                            return Err(r.field(
                                &format!("{field}[{i}]"),
                                Some(x),
                                "seed listed twice",
                            ));
                        }
                        out.push(s);
                    }
                    if out.is_empty() {
                        return Err(r.field(&field, Some(v), "expected at least one seed"));
                    }
                    out
                }
                _ => (0..r.count(&field, v, 1)?).collect(),
            };
            continue;
        }
        if PLACEHOLDERS.contains(&key.as_str()) {
            return Err(r.field(
                &field,
                Some(v),
                "reserved name (a placeholder of every task)",
            ));
        }
        let values = match v {
            Value::Array(items) if !items.is_empty() => items.clone(),
            _ => return Err(r.field(&field, Some(v), "expected a non-empty list of values")),
        };
        for (i, x) in values.iter().enumerate() {
            if values[..i].contains(x) {
                return Err(r.field(&format!("{field}[{i}]"), Some(x), "value listed twice"));
            }
        }
        axes.push(Axis {
            key: key.clone(),
            values,
        });
    }
    axes.sort_by(|a, b| a.key.cmp(&b.key));
    Ok((axes, seeds))
}

fn parse_command(
    r: &Reader<'_>,
    c: &Value,
    set: &[(String, Value)],
    axes: &[Axis],
) -> Result<TaskKind, SweepError> {
    let t = r.table("command", c)?;
    for key in t.keys() {
        if key != "program" && key != "args" {
            return Err(r.field(
                &format!("command.{key}"),
                t.get(key),
                "unknown field (known: program, args)",
            ));
        }
    }
    let program_value = t.get("program").unwrap_or(&Value::Null);
    let program = PathBuf::from(r.string("command.program", program_value)?);
    if !program.is_absolute() {
        return Err(r.field(
            "command.program",
            Some(program_value),
            "must be an absolute path (tasks never build: compute nodes run the built binary)",
        ));
    }
    let args = match t.get("args") {
        Some(v) => r.strings("command.args", v)?,
        None => Vec::new(),
    };
    let known: BTreeSet<&str> = PLACEHOLDERS
        .iter()
        .copied()
        .chain(set.iter().map(|(k, _)| k.as_str()))
        .chain(axes.iter().map(|a| a.key.as_str()))
        .collect();
    for (i, a) in args.iter().enumerate() {
        for p in placeholders(a) {
            if !known.contains(p) {
                return Err(r.field(
                    &format!("command.args[{i}]"),
                    Some(&Value::String(a.clone())),
                    format!(
                        "unknown placeholder `{{{p}}}` (known: {})",
                        known.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
    }
    Ok(TaskKind::Command { program, args })
}

/// The `{name}` placeholders of `text`, in order: braces around a name of ASCII
/// letters, digits, `_`, `-` and `.`; other braces (JSON in an argument) are text.
pub fn placeholders(text: &str) -> Vec<&str> {
    let is_name = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    };
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if is_name(&after[..close]) => {
                out.push(&after[..close]);
                rest = &after[close + 1..];
            }
            Some(_) => rest = after,
            None => break,
        }
    }
    out
}

/// Every fixed setting, and every grid value with the fixed settings, must be accepted
/// by the experiment's configuration (`apply_overrides`: the key exists, the kind fits,
/// the experiment's own validation passes).
fn check_experiment(
    file: &Path,
    name: &str,
    size: Size,
    set: &[(String, Value)],
    axes: &[Axis],
) -> Result<(), SweepError> {
    let r = Reader { file };
    let experiment = find(name).map_err(|e| {
        r.field(
            "experiment",
            Some(&Value::String(name.to_owned())),
            e.to_string(),
        )
    })?;
    let wrap = |field: String, error| SweepError::Experiment {
        file: file.to_owned(),
        field,
        error: Box::new(error),
    };
    for (i, (key, _)) in set.iter().enumerate() {
        let mut config = experiment.default_config(size);
        apply_overrides(experiment, &mut config, &set[i..=i])
            .map_err(|e| wrap(format!("set.{key}"), e))?;
    }
    let mut config = experiment.default_config(size);
    apply_overrides(experiment, &mut config, set).map_err(|e| wrap("set".to_owned(), e))?;
    for axis in axes {
        for (i, v) in axis.values.iter().enumerate() {
            let mut c = config.clone();
            apply_overrides(experiment, &mut c, &[(axis.key.clone(), v.clone())])
                .map_err(|e| wrap(format!("grid.{}[{i}]", axis.key), e))?;
        }
    }
    Ok(())
}

fn parse_slurm(r: &Reader<'_>, v: &Value) -> Result<SlurmResources, SweepError> {
    const FIELDS: &[&str] = &[
        "time",
        "cpus_per_task",
        "mem",
        "partition",
        "account",
        "max_parallel",
        "extra",
    ];
    let t = r.table("slurm", v)?;
    let mut s = SlurmResources::default();
    for (key, v) in t {
        let field = format!("slurm.{key}");
        match key.as_str() {
            "time" => {
                let text = r.string(&field, v)?;
                if !valid_time(&text) {
                    return Err(r.field(
                        &field,
                        Some(v),
                        "expected MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS",
                    ));
                }
                s.time = Some(text);
            }
            "cpus_per_task" => {
                s.cpus_per_task = Some(
                    u32::try_from(r.count(&field, v, 1)?)
                        .map_err(|_| r.field(&field, Some(v), "too large"))?,
                );
            }
            "max_parallel" => {
                s.max_parallel = Some(
                    u32::try_from(r.count(&field, v, 1)?)
                        .map_err(|_| r.field(&field, Some(v), "too large"))?,
                );
            }
            "mem" => {
                let text = r.string(&field, v)?;
                let digits = text.trim_end_matches(['K', 'M', 'G', 'T']);
                if digits.is_empty()
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                    || text.len() > digits.len() + 1
                {
                    return Err(r.field(
                        &field,
                        Some(v),
                        "expected an integer with an optional K, M, G or T",
                    ));
                }
                s.mem = Some(text);
            }
            "partition" | "account" => {
                let text = r.string(&field, v)?;
                if text.chars().any(|c| c.is_whitespace() || c == '#') {
                    return Err(r.field(&field, Some(v), "no spaces or `#`"));
                }
                if key == "partition" {
                    s.partition = Some(text);
                } else {
                    s.account = Some(text);
                }
            }
            "extra" => {
                s.extra = r.strings(&field, v)?;
                for (i, x) in s.extra.iter().enumerate() {
                    if !x.starts_with('-') || x.contains('\n') {
                        return Err(r.field(
                            &format!("{field}[{i}]"),
                            Some(&Value::String(x.clone())),
                            "an sbatch option on one line, starting with `-`",
                        ));
                    }
                }
            }
            _ => {
                return Err(r.field(
                    &field,
                    Some(v),
                    format!("unknown field (known: {})", FIELDS.join(", ")),
                ));
            }
        }
    }
    Ok(s)
}

/// Slurm's time formats: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S` (digits).
fn valid_time(text: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (days, rest) = match text.split_once('-') {
        Some((d, rest)) => (Some(d), rest),
        None => (None, text),
    };
    if days.is_some_and(|d| !digits(d)) {
        return false;
    }
    let parts: Vec<&str> = rest.split(':').collect();
    parts.len() <= 3 && parts.iter().all(|p| digits(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn file() -> PathBuf {
        PathBuf::from("/sweeps/s.toml")
    }

    fn sweep(raw: Value) -> Result<Sweep, SweepError> {
        Sweep::from_value(&file(), &raw)
    }

    fn message(raw: Value) -> String {
        sweep(raw).unwrap_err().to_string()
    }

    #[test]
    fn reads_an_experiment_grid() {
        let s = sweep(json!({
            "out": "runs/x",
            "experiment": "rff-bound",
            "size": "smoke",
            "set": {"draws": 10},
            "grid": {"seeds": 3, "sigma": [0.5, 1.0], "n": [4, 6]},
            "slurm": {"time": "00:05:00", "max_parallel": 2, "mem": "1G"}
        }))
        .unwrap();
        assert_eq!(s.name, "s");
        assert_eq!(s.out, PathBuf::from("/sweeps/runs/x"));
        assert_eq!(s.seeds, vec![0, 1, 2]);
        assert_eq!(
            s.axes.iter().map(|a| a.key.as_str()).collect::<Vec<_>>(),
            ["n", "sigma"]
        );
        assert_eq!(s.task_count(), 2 * 2 * 3);
        assert_eq!(s.threads, 1);
        assert_eq!(s.slurm.max_parallel, Some(2));
    }

    #[test]
    fn errors_name_file_field_and_value() {
        let base = || json!({"out": "o", "experiment": "rff-bound", "size": "smoke"});
        let with = |k: &str, v: Value| {
            let mut b = base();
            b[k] = v;
            message(b)
        };
        assert_eq!(
            with("sizes", json!(3)),
            "/sweeps/s.toml: field `sizes` = 3: unknown field (known: name, out, experiment, size, threads, seconds_per_task, set, grid, command, slurm)"
        );
        assert_eq!(
            with("size", json!("huge")),
            "/sweeps/s.toml: field `size` = \"huge\": unknown size `huge` (expected smoke, default or full)"
        );
        assert!(
            with("experiment", json!("nope"))
                .contains("field `experiment` = \"nope\": unknown experiment `nope`")
        );
        assert_eq!(
            with("grid", json!({"seeds": [1, 1]})),
            "/sweeps/s.toml: field `grid.seeds[1]` = 1: seed listed twice"
        );
        assert_eq!(
            with("grid", json!({"sigma": []})),
            "/sweeps/s.toml: field `grid.sigma` = []: expected a non-empty list of values"
        );
        let bad_key = with("grid", json!({"width": [1, 2]}));
        assert!(bad_key.starts_with("/sweeps/s.toml: field `grid.width[0]`: invalid override `width=1` of `rff-bound`: no field `width`"), "{bad_key}");
        let domain = with("set", json!({"n": 1}));
        assert!(
            domain
                .starts_with("/sweeps/s.toml: field `set.n`: invalid configuration of `rff-bound`"),
            "{domain}"
        );
        assert_eq!(
            with("slurm", json!({"time": "ten minutes"})),
            "/sweeps/s.toml: field `slurm.time` = \"ten minutes\": expected MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS"
        );
        assert!(with("slurm", json!({"mem": "1GB"})).contains("field `slurm.mem` = \"1GB\""));
        assert!(with("threads", json!(0)).contains("field `threads` = 0: expected an integer ≥ 1"));
        assert_eq!(
            message(json!({"experiment": "rff-bound"})),
            "/sweeps/s.toml: field `out` = null: expected a non-empty string"
        );
    }

    #[test]
    fn commands_take_placeholders_and_absolute_programs() {
        let s = sweep(json!({
            "out": "o",
            "command": {"program": "/opt/plres/bin/plres",
                        "args": ["train", "--out", "{dir}", "--seed", "{seed}", "--set", "width={width}", "lr={lr}"]},
            "set": {"lr": 0.1},
            "grid": {"width": [8, 16]}
        }))
        .unwrap();
        assert!(matches!(s.kind, TaskKind::Command { .. }));
        assert_eq!(
            message(json!({"out": "o", "command": {"program": "plres"}})),
            "/sweeps/s.toml: field `command.program` = \"plres\": must be an absolute path (tasks never build: compute nodes run the built binary)"
        );
        assert_eq!(
            message(json!({"out": "o", "command": {"program": "/bin/x", "args": ["{depth}"]}})),
            "/sweeps/s.toml: field `command.args[0]` = \"{depth}\": unknown placeholder `{depth}` (known: dir, index, name, seed)"
        );
    }

    #[test]
    fn placeholders_are_names_in_braces() {
        assert_eq!(
            placeholders(r#"{dir}/x-{seed}{"a": {b}} {} {not a name} {w.1"#),
            ["dir", "seed", "b"]
        );
    }

    #[test]
    fn slurm_times() {
        for ok in ["10", "10:30", "01:00:00", "2-00", "2-00:30", "1-02:03:04"] {
            assert!(valid_time(ok), "{ok}");
        }
        for bad in ["", "1:2:3:4", "a", "-1", "1-", "1h"] {
            assert!(!valid_time(bad), "{bad}");
        }
    }

    #[test]
    fn toml_and_json_read_alike() {
        let dir = std::env::temp_dir().join(format!("plres-sweep-spec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let t = dir.join("a.toml");
        std::fs::write(
            &t,
            "out = \"o\"\nexperiment = \"rff-bound\"\nsize = \"smoke\"\n[grid]\nseeds = [2, 5]\n",
        )
        .unwrap();
        let j = dir.join("a.json");
        std::fs::write(
            &j,
            r#"{"out": "o", "experiment": "rff-bound", "size": "smoke", "grid": {"seeds": [2, 5]}}"#,
        )
        .unwrap();
        let (a, b) = (Sweep::load(&t).unwrap(), Sweep::load(&j).unwrap());
        assert_eq!(
            (a.seeds.clone(), a.kind.clone(), a.out.clone()),
            (b.seeds, b.kind, b.out)
        );
        std::fs::write(&t, "out = \n").unwrap();
        let e = Sweep::load(&t).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}: ", t.display())) && e.contains("line 1"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
