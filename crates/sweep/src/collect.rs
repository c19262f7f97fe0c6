//! Reading a sweep back: task states ([`crate::state`]) and the summaries of done tasks,
//! aggregated over seeds for each configuration (grid point without its seed).
//!
//! For every headline value (a number in a task's `summary.json` `values`) and every
//! configuration: the count, mean ± sample standard deviation, the 95% Student-t
//! confidence interval of the mean ([`crate::stats`]), min and max, over the seeds whose
//! run finished and did not diverge. A run *diverged* when its summary says so
//! (`"diverged": true` or a positive count) or holds a null (a non-finite number: JSON
//! has none) where the configuration's other runs have a number; it is counted, and left
//! out of the means. The checks of the runs are counted (hold, vacuous, fail).
//!
//! [`write()`] puts `REPORT.md`, `aggregate.json`, `aggregate.csv` and one plot per value
//! (`plots/VALUE.{svg,png}`) into the sweep folder. None of them holds a path, a host or
//! a time, so the same sweep gives the same files whether its tasks ran locally or on
//! Slurm. A sweep with tasks not done is **incomplete**: the report says so first and
//! lists them, and [`Aggregate::is_complete`] is false.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use plres_experiments::plot::{Band, Plot, Series, Style, render};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::SweepError;
use crate::plan::{Plan, files, read_json, value_text, write_json};
use crate::state::{TaskState, states};
use crate::stats::{LEVEL, MeanInterval};

/// A task that is not done.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MissingTask {
    /// Its name.
    pub name: String,
    /// `missing`, `interrupted` or `failed`.
    pub state: String,
    /// Attempts made.
    pub attempts: u32,
}

/// Counts of the runs' checks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckCounts {
    /// All checks.
    pub total: usize,
    /// Checks that hold.
    pub holding: usize,
    /// Vacuous checks.
    pub vacuous: usize,
    /// Checks that fail.
    pub failing: usize,
}

/// One headline value over the seeds of a configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValueStats {
    /// The value's key in `summary.json`.
    pub key: String,
    /// Its statistics over the runs that have it (`None` if none has).
    pub stats: Option<MeanInterval>,
}

/// The seeds of one configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// The configuration: axis key → value.
    pub params: BTreeMap<String, Value>,
    /// `key = value, …`, or `all tasks` without axes.
    pub label: String,
    /// Tasks planned (one per seed).
    pub tasks: usize,
    /// Seeds whose task is done.
    pub done: Vec<u64>,
    /// Seeds whose run diverged.
    pub diverged: Vec<u64>,
    /// Seeds done without a summary (nothing to aggregate).
    pub without_summary: Vec<u64>,
    /// The runs' checks.
    pub checks: CheckCounts,
    /// The headline values, by key.
    pub values: Vec<ValueStats>,
}

/// A sweep read back (module doc).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    /// The sweep's name.
    pub sweep: String,
    /// What the tasks run.
    pub label: String,
    /// The grid's axes besides the seeds.
    pub axes: Vec<String>,
    /// The seeds.
    pub seeds: Vec<u64>,
    /// Tasks planned.
    pub tasks: usize,
    /// Tasks done.
    pub done: usize,
    /// Tasks not done, by index.
    pub missing: Vec<MissingTask>,
    /// One entry per configuration, in plan order.
    pub groups: Vec<Group>,
}

impl Aggregate {
    /// Every task is done.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }
}

fn is_diverged_flag(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|x| x > 0.0),
        _ => false,
    }
}

/// Reads every task of `plan` and aggregates the done ones (module doc).
///
/// # Errors
/// A marker or a summary that cannot be read or parsed.
pub fn collect(plan: &Plan) -> Result<Aggregate, SweepError> {
    let mut missing = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    // per group: (seed, values object) of done runs with a summary
    let mut runs: Vec<Vec<(u64, serde_json::Map<String, Value>)>> = Vec::new();
    for (task, state) in states(plan)? {
        let gi = match groups.iter().position(|g| g.params == task.params) {
            Some(i) => i,
            None => {
                let label = if task.params.is_empty() {
                    "all tasks".to_owned()
                } else {
                    task.params
                        .iter()
                        .map(|(k, v)| format!("{k} = {}", value_text(v)))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                groups.push(Group {
                    params: task.params.clone(),
                    label,
                    tasks: 0,
                    done: Vec::new(),
                    diverged: Vec::new(),
                    without_summary: Vec::new(),
                    checks: CheckCounts::default(),
                    values: Vec::new(),
                });
                runs.push(Vec::new());
                groups.len() - 1
            }
        };
        let group = &mut groups[gi];
        group.tasks += 1;
        let TaskState::Done(finished) = &state else {
            missing.push(MissingTask {
                name: task.name.clone(),
                state: state.word().to_owned(),
                attempts: state.attempts(),
            });
            continue;
        };
        group.done.push(task.seed);
        let Some(rel) = &finished.summary else {
            group.without_summary.push(task.seed);
            continue;
        };
        let summary: Value = read_json(&plan.task_dir(task).join(rel))?;
        let count = |k: &str| summary[k].as_u64().unwrap_or(0) as usize;
        let (total, holding, vacuous) = (
            count("checks_total"),
            count("checks_holding"),
            count("checks_vacuous"),
        );
        group.checks.total += total;
        group.checks.holding += holding;
        group.checks.vacuous += vacuous;
        group.checks.failing += total.saturating_sub(holding + vacuous);
        let values = summary["values"].as_object().cloned().unwrap_or_default();
        runs[gi].push((task.seed, values));
    }
    for (group, runs) in groups.iter_mut().zip(&runs) {
        let numeric: BTreeSet<&String> = runs
            .iter()
            .flat_map(|(_, v)| v.iter())
            .filter(|(k, v)| v.is_number() && k.as_str() != "diverged")
            .map(|(k, _)| k)
            .collect();
        let diverged: BTreeSet<u64> = runs
            .iter()
            .filter(|(_, v)| {
                is_diverged_flag(v.get("diverged"))
                    || numeric
                        .iter()
                        .any(|k| v.get(k.as_str()).is_some_and(Value::is_null))
            })
            .map(|(s, _)| *s)
            .collect();
        group.diverged = diverged.iter().copied().collect();
        group.values = numeric
            .iter()
            .map(|k| {
                let xs: Vec<f64> = runs
                    .iter()
                    .filter(|(s, _)| !diverged.contains(s))
                    .filter_map(|(_, v)| v.get(k.as_str()).and_then(Value::as_f64))
                    .filter(|x| x.is_finite())
                    .collect();
                ValueStats {
                    key: (*k).clone(),
                    stats: MeanInterval::of(&xs),
                }
            })
            .collect();
    }
    let done = plan.tasks.len() - missing.len();
    Ok(Aggregate {
        sweep: plan.sweep.clone(),
        label: plan.label(),
        axes: plan.axes.clone(),
        seeds: plan.seeds.clone(),
        tasks: plan.tasks.len(),
        done,
        missing,
        groups,
    })
}

/// A number with about four significant digits, plain in `[1e-3, 1e5)`, else scientific;
/// integers below 10⁷ exactly.
pub fn fmt_number(x: f64) -> String {
    if x == 0.0 {
        return "0".to_owned(); // and not "-0"
    }
    let a = x.abs();
    if x.fract() == 0.0 && a < 1e7 {
        return format!("{x:.0}");
    }
    if (1e-3..1e5).contains(&a) {
        let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
        format!("{x:.decimals$}")
    } else {
        format!("{x:.3e}")
    }
}

fn seed_list(seeds: &[u64]) -> String {
    seeds
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// File stems of the plots: the keys made lowercase `[a-z0-9_-]`, made unique.
fn plot_stems(keys: &[&str]) -> Vec<String> {
    let mut used = BTreeSet::new();
    keys.iter()
        .map(|k| {
            let base: String = k
                .chars()
                .map(|c| {
                    let c = c.to_ascii_lowercase();
                    if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let mut stem = if base.is_empty() {
                "value".to_owned()
            } else {
                base
            };
            let mut n = 2;
            while !used.insert(stem.clone()) {
                stem = format!("{}-{n}", stem.trim_end_matches(char::is_numeric));
                n += 1;
            }
            stem
        })
        .collect()
}

/// The plot of value `key`: mean ± std against the first numeric axis (a line with a
/// band per configuration of the other axes), or, without one, the value of every seed
/// as points per configuration. `None` when no run has the value.
fn value_plot(agg: &Aggregate, key: &str, runs: &PerSeed) -> Option<Plot> {
    let axis = agg.axes.iter().find(|a| {
        agg.groups
            .iter()
            .all(|g| g.params.get(a.as_str()).is_some_and(Value::is_number))
    });
    let mut plot;
    if let Some(axis) = axis {
        plot = Plot::new(format!("{key} (mean ± std over seeds)"), axis.as_str(), key);
        let mut lines: BTreeMap<String, Vec<(f64, &MeanInterval)>> = BTreeMap::new();
        for g in &agg.groups {
            let others: Vec<String> = g
                .params
                .iter()
                .filter(|(k, _)| *k != axis)
                .map(|(k, v)| format!("{k} = {}", value_text(v)))
                .collect();
            let x = g.params[axis].as_f64()?;
            if let Some(stats) = g
                .values
                .iter()
                .find(|v| v.key == key)
                .and_then(|v| v.stats.as_ref())
            {
                let label = if others.is_empty() {
                    key.to_owned()
                } else {
                    others.join(", ")
                };
                lines.entry(label).or_default().push((x, stats));
            }
        }
        for (label, mut pts) in lines {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let x: Vec<f64> = pts.iter().map(|p| p.0).collect();
            let y: Vec<f64> = pts.iter().map(|p| p.1.mean).collect();
            let mut s = Series::with_style(label, x, y, Style::LineAndPoints);
            s.band = Some(Band {
                lower: pts.iter().map(|p| p.1.mean - p.1.std).collect(),
                upper: pts.iter().map(|p| p.1.mean + p.1.std).collect(),
            });
            plot = plot.with(s);
        }
    } else {
        plot = Plot::new(format!("{key} per seed"), "seed", key);
        for (g, seeds) in agg.groups.iter().zip(runs) {
            let pts: Vec<(f64, f64)> = seeds
                .iter()
                .filter(|(s, _)| !g.diverged.contains(s))
                .filter_map(|(s, v)| Some((*s as f64, v.get(key)?.as_f64()?)))
                .collect();
            if !pts.is_empty() {
                let (x, y) = pts.into_iter().unzip();
                plot = plot.with(Series::points(g.label.clone(), x, y));
            }
        }
    }
    (!plot.series.is_empty()).then_some(plot)
}

type PerSeed = Vec<Vec<(u64, serde_json::Map<String, Value>)>>;

/// The values of every done run with a summary, per group (for the per-seed plots).
fn per_seed(plan: &Plan, agg: &Aggregate) -> Result<PerSeed, SweepError> {
    let mut out: PerSeed = vec![Vec::new(); agg.groups.len()];
    for (task, state) in states(plan)? {
        let (TaskState::Done(f), Some(gi)) = (
            &state,
            agg.groups.iter().position(|g| g.params == task.params),
        ) else {
            continue;
        };
        if let Some(rel) = &f.summary {
            let s: Value = read_json(&plan.task_dir(task).join(rel))?;
            out[gi].push((
                task.seed,
                s["values"].as_object().cloned().unwrap_or_default(),
            ));
        }
    }
    Ok(out)
}

/// `REPORT.md` of `agg` (module doc); `plots` pairs value keys with plot stems.
pub fn report_markdown(agg: &Aggregate, plots: &[(String, String)]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Sweep `{}`\n", agg.sweep);
    let axes = if agg.axes.is_empty() {
        "seeds".to_owned()
    } else {
        format!("{} × seeds", agg.axes.join(" × "))
    };
    let _ = writeln!(
        md,
        "{}; grid {axes} ({} configuration(s) × {} seed(s): {}); {} tasks.\n",
        agg.label,
        agg.groups.len(),
        agg.seeds.len(),
        seed_list(&agg.seeds),
        agg.tasks
    );
    if agg.is_complete() {
        let _ = writeln!(md, "**Complete: all {} tasks done.**\n", agg.tasks);
    } else {
        let _ = writeln!(
            md,
            "**INCOMPLETE: {} of {} tasks done; {} not done** (rerun them with `sweep run` or \
             `sweep submit`: done tasks are skipped):\n",
            agg.done,
            agg.tasks,
            agg.missing.len()
        );
        for m in &agg.missing {
            let _ = writeln!(
                md,
                "- `{}`: {} after {} attempt(s)",
                m.name, m.state, m.attempts
            );
        }
        md.push('\n');
    }
    let _ = writeln!(
        md,
        "Each value: over the seeds whose run finished and did not diverge, n, mean ± sample \
         standard deviation, the {:.0}% Student-t confidence interval of the mean, min and max. \
         A diverged run (a non-finite value, or one that reports `diverged`) is counted and \
         left out.\n",
        LEVEL * 100.0
    );
    for g in &agg.groups {
        let _ = writeln!(md, "## {}\n", g.label);
        let _ = writeln!(
            md,
            "{} of {} seeds done; diverged: {}; checks: {} of {} hold, {} vacuous, {} fail{}.\n",
            g.done.len(),
            g.tasks,
            if g.diverged.is_empty() {
                "none".to_owned()
            } else {
                format!("{} (seeds {})", g.diverged.len(), seed_list(&g.diverged))
            },
            g.checks.holding,
            g.checks.total,
            g.checks.vacuous,
            g.checks.failing,
            if g.without_summary.is_empty() {
                String::new()
            } else {
                format!("; no summary from seeds {}", seed_list(&g.without_summary))
            }
        );
        if g.values.is_empty() {
            continue;
        }
        md.push_str("| value | n | mean ± std | 95% CI | min | max |\n|---|---|---|---|---|---|\n");
        for v in &g.values {
            match &v.stats {
                Some(s) => {
                    let ci = match (s.ci_low, s.ci_high) {
                        (Some(lo), Some(hi)) => format!("[{}, {}]", fmt_number(lo), fmt_number(hi)),
                        _ => "—".to_owned(),
                    };
                    let _ = writeln!(
                        md,
                        "| `{}` | {} | {} ± {} | {ci} | {} | {} |",
                        v.key,
                        s.n,
                        fmt_number(s.mean),
                        fmt_number(s.std),
                        fmt_number(s.min),
                        fmt_number(s.max)
                    );
                }
                None => {
                    let _ = writeln!(md, "| `{}` | 0 | — | — | — | — |", v.key);
                }
            }
        }
        md.push('\n');
    }
    if !plots.is_empty() {
        md.push_str("## Plots\n\n");
        for (key, stem) in plots {
            let _ = writeln!(md, "![{key}]({}/{stem}.png)\n", files::PLOTS);
        }
    }
    md
}

/// `aggregate.csv`: one row per configuration and value.
pub fn csv(agg: &Aggregate) -> String {
    let cell = |s: String| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    };
    let opt = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
    let mut out: Vec<String> = agg.axes.iter().map(|a| cell(a.clone())).collect();
    out.extend(
        [
            "value", "n", "mean", "std", "ci_low", "ci_high", "min", "max", "diverged",
        ]
        .map(str::to_owned),
    );
    let mut text = out.join(",") + "\n";
    for g in &agg.groups {
        for v in &g.values {
            let mut row: Vec<String> = agg
                .axes
                .iter()
                .map(|a| cell(g.params.get(a).map(value_text).unwrap_or_default()))
                .collect();
            row.push(cell(v.key.clone()));
            match &v.stats {
                Some(s) => row.extend([
                    s.n.to_string(),
                    s.mean.to_string(),
                    s.std.to_string(),
                    opt(s.ci_low),
                    opt(s.ci_high),
                    s.min.to_string(),
                    s.max.to_string(),
                ]),
                None => row.extend(
                    ["0".to_owned()]
                        .into_iter()
                        .chain(std::iter::repeat_n(String::new(), 6)),
                ),
            }
            row.push(g.diverged.len().to_string());
            text.push_str(&row.join(","));
            text.push('\n');
        }
    }
    text
}

/// Writes `REPORT.md`, `aggregate.json`, `aggregate.csv` and the plots of `agg` into the
/// sweep folder of `plan`, each file atomically.
///
/// # Errors
/// Reading the summaries again (for the per-seed plots), writing or drawing.
pub fn write(plan: &Plan, agg: &Aggregate) -> Result<(), SweepError> {
    let out = &plan.out;
    let keys: BTreeSet<&str> = agg
        .groups
        .iter()
        .flat_map(|g| g.values.iter().map(|v| v.key.as_str()))
        .collect();
    let keys: Vec<&str> = keys.into_iter().collect();
    let stems = plot_stems(&keys);
    let dir = out.join(files::PLOTS);
    std::fs::create_dir_all(&dir).map_err(|e| SweepError::io("creating", &dir, e))?;
    let runs = per_seed(plan, agg)?;
    let mut plots = Vec::new();
    for (key, stem) in keys.iter().zip(stems) {
        if let Some(plot) = value_plot(agg, key, &runs) {
            render(&plot, &dir, &stem)?;
            plots.push(((*key).to_owned(), stem));
        }
    }
    plres_data::io::write_atomic(
        &out.join(files::REPORT),
        report_markdown(agg, &plots).as_bytes(),
    )?;
    write_json(&out.join(files::AGGREGATE_JSON), agg)?;
    plres_data::io::write_atomic(&out.join(files::AGGREGATE_CSV), csv(agg).as_bytes())?;
    Ok(())
}

/// Whether `dir` is a sweep folder (holds `plan.json`).
pub fn is_sweep_folder(dir: &Path) -> bool {
    dir.join(files::PLAN).is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_four_significant_digits() {
        assert_eq!(fmt_number(0.0), "0");
        assert_eq!(fmt_number(64.0), "64");
        assert_eq!(fmt_number(-278_745.0), "-278745");
        assert_eq!(fmt_number(2.5e7), "2.500e7");
        assert_eq!(fmt_number(1.234_567), "1.235");
        assert_eq!(fmt_number(-12_345.6), "-12346");
        assert_eq!(fmt_number(0.001_234_5), "0.001234");
        assert_eq!(fmt_number(1.5e-7), "1.500e-7");
        assert_eq!(fmt_number(2.0e9), "2.000e9");
    }

    #[test]
    fn stems_are_unique_file_names() {
        assert_eq!(
            plot_stems(&["Loss", "loss", "a.b", ""]),
            ["loss", "loss-2", "a_b", "value"]
        );
    }
}
