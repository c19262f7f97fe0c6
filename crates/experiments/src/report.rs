//! `REPORT.md`: every run folder under an output directory, as one Markdown page.
//!
//! The report is built from what is on disk (the run folders of the registered
//! experiments found under the output directory), so running experiments one at a time
//! still ends in one complete report. For each run it shows the figures (PNG embedded,
//! SVG linked, relative paths), every check as a table row (a failing check is shown as
//! **NO** and also listed at the top, never hidden), the headline values and the
//! configuration. The top of the page says how many checks hold.

use std::fmt::Write as _;
use std::path::Path;

use plres_data::io::write_atomic;
use plres_theory::CheckReport;
use serde_json::Value;

use crate::error::ExperimentError;
use crate::registry::DynExperiment;
use crate::run::{RunConfig, RunSummary, files, read_json};

/// The state of one run folder.
#[derive(Clone, Debug)]
pub enum RunState {
    /// `summary.json` is present.
    Completed(RunSummary),
    /// `error.txt` is present: the experiment failed with this message.
    Failed(String),
    /// Neither: the run was interrupted (or is still running).
    Incomplete,
}

/// One run folder as the report shows it.
#[derive(Clone, Debug)]
pub struct ReportEntry {
    /// The experiment's name (and folder name).
    pub name: String,
    /// Its description.
    pub description: String,
    /// Its `config.json`.
    pub config: RunConfig,
    /// Its checks (empty unless completed).
    pub checks: Vec<CheckReport>,
    /// How the run ended.
    pub state: RunState,
}

impl ReportEntry {
    fn failing(&self) -> impl Iterator<Item = &CheckReport> {
        self.checks.iter().filter(|c| !c.holds)
    }
}

/// Totals over a report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportTotals {
    /// Run folders shown.
    pub runs: usize,
    /// Checks shown.
    pub checks: usize,
    /// Checks that hold.
    pub holding: usize,
    /// Runs that failed with an error or did not complete.
    pub not_completed: usize,
}

/// Reads the run folders of `experiments` that exist under `out_dir`, in order.
pub fn collect(
    out_dir: &Path,
    experiments: &[&dyn DynExperiment],
) -> Result<Vec<ReportEntry>, ExperimentError> {
    let mut entries = Vec::new();
    for e in experiments {
        let dir = out_dir.join(e.name());
        let config_path = dir.join(files::CONFIG);
        if !config_path.is_file() {
            continue;
        }
        let config: RunConfig = read_json(&config_path)?;
        let summary_path = dir.join(files::SUMMARY);
        let error_path = dir.join(files::ERROR);
        let (state, checks) = if summary_path.is_file() {
            let checks: Vec<CheckReport> = read_json(&dir.join(files::CHECKS))?;
            (RunState::Completed(read_json(&summary_path)?), checks)
        } else if error_path.is_file() {
            let msg = std::fs::read_to_string(&error_path)
                .map_err(|err| ExperimentError::io("reading", &error_path, err))?;
            (RunState::Failed(msg.trim().to_owned()), Vec::new())
        } else {
            (RunState::Incomplete, Vec::new())
        };
        entries.push(ReportEntry {
            name: e.name().to_owned(),
            description: e.description().to_owned(),
            config,
            checks,
            state,
        });
    }
    Ok(entries)
}

/// Totals of a list of entries.
pub fn totals(entries: &[ReportEntry]) -> ReportTotals {
    ReportTotals {
        runs: entries.len(),
        checks: entries.iter().map(|e| e.checks.len()).sum(),
        holding: entries
            .iter()
            .map(|e| e.checks.iter().filter(|c| c.holds).count())
            .sum(),
        not_completed: entries
            .iter()
            .filter(|e| !matches!(e.state, RunState::Completed(_)))
            .count(),
    }
}

fn state_cell(e: &ReportEntry) -> String {
    match &e.state {
        RunState::Completed(s) => {
            let failing = s.checks_total - s.checks_holding;
            if failing == 0 {
                format!("completed in {:.1} s", s.wall_time_s)
            } else {
                format!(
                    "completed in {:.1} s, **{failing} check(s) FAIL**",
                    s.wall_time_s
                )
            }
        }
        RunState::Failed(_) => "**ERROR**".to_owned(),
        RunState::Incomplete => "**incomplete** (interrupted?)".to_owned(),
    }
}

fn value_cell(v: &Value) -> String {
    let s = match v {
        Value::Number(n) => match n.as_f64() {
            Some(x) if n.is_f64() => format!("{x:.6e}"),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    s.replace('|', "\\|")
}

/// The Markdown text of the report. `command` is shown as how it was produced.
pub fn render_markdown(entries: &[ReportEntry], command: &str) -> String {
    let t = totals(entries);
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "# plres — reproduction report\n");
    let _ = writeln!(
        w,
        "Produced by `{command}`. Each section below is one run folder (docs/theory.md §8): \
         its figures, its checks of the theory's claims and its configuration.\n"
    );
    let verdict = if t.holding == t.checks && t.not_completed == 0 {
        format!("**All {} checks hold** across {} runs.", t.checks, t.runs)
    } else {
        format!(
            "**{} of {} checks hold; {} FAIL** across {} runs ({} did not complete).",
            t.holding,
            t.checks,
            t.checks - t.holding,
            t.runs,
            t.not_completed
        )
    };
    let _ = writeln!(w, "{verdict}\n");
    let _ = writeln!(w, "| experiment | size | seed | checks holding | status |");
    let _ = writeln!(w, "|---|---|---|---|---|");
    for e in entries {
        let _ = writeln!(
            w,
            "| [{0}](#{0}) | {1} | {2} | {3}/{4} | {5} |",
            e.name,
            e.config.size,
            e.config.seed,
            e.checks.iter().filter(|c| c.holds).count(),
            e.checks.len(),
            state_cell(e)
        );
    }
    let failing: Vec<(&str, &CheckReport)> = entries
        .iter()
        .flat_map(|e| e.failing().map(move |c| (e.name.as_str(), c)))
        .collect();
    if !failing.is_empty() {
        let _ = writeln!(w, "\n## Failing checks\n");
        for (name, c) in &failing {
            let _ = writeln!(
                w,
                "- `{name}`: {} ({}): measured {:.6e}, predicted {:.6e}",
                c.claim, c.source, c.measured, c.predicted
            );
        }
    }
    for e in entries {
        let _ = writeln!(w, "\n## {}\n", e.name);
        let _ = writeln!(w, "{}\n", e.description);
        let _ = writeln!(
            w,
            "Folder [`{0}/`]({0}/) · size `{1}` · seed `{2}` · {3}\n",
            e.name,
            e.config.size,
            e.config.seed,
            state_cell(e)
        );
        match &e.state {
            RunState::Failed(msg) => {
                let _ = writeln!(w, "The run failed:\n\n```text\n{msg}\n```\n");
            }
            RunState::Incomplete => {
                let _ = writeln!(
                    w,
                    "The run has no `summary.json` and no `error.txt`: it was interrupted.\n"
                );
            }
            RunState::Completed(summary) => {
                for f in &summary.figures {
                    let _ = writeln!(
                        w,
                        "![{cap}]({n}/{st}.png)\n\n*{cap}* ([SVG]({n}/{st}.svg))\n",
                        cap = f.caption.replace(['[', ']'], ""),
                        n = e.name,
                        st = f.stem
                    );
                }
                let _ = writeln!(w, "### Checks\n");
                if e.checks.is_empty() {
                    let _ = writeln!(w, "(none)\n");
                } else {
                    let _ = writeln!(w, "{}", CheckReport::table_header());
                    for c in &e.checks {
                        let _ = writeln!(w, "{}", c.table_row());
                    }
                    let _ = writeln!(w);
                }
                if !summary.values.is_empty() {
                    let _ = writeln!(w, "### Values\n\n| quantity | value |\n|---|---|");
                    for (k, v) in &summary.values {
                        let _ = writeln!(w, "| {} | {} |", k.replace('|', "\\|"), value_cell(v));
                    }
                    let _ = writeln!(w);
                }
                let mut data = vec![format!("[`metrics.csv`]({}/metrics.csv)", e.name)];
                data.extend(
                    summary
                        .tables
                        .iter()
                        .map(|t| format!("[`{t}`]({}/{t})", e.name)),
                );
                let _ = writeln!(w, "Data: {}\n", data.join(", "));
            }
        }
        let config = serde_json::to_string_pretty(&e.config.config)
            .unwrap_or_else(|_| e.config.config.to_string());
        let _ = writeln!(w, "### Configuration\n\n```json\n{config}\n```");
    }
    s
}

/// Collects the run folders of `experiments` under `out_dir`, writes
/// `out_dir/REPORT.md` atomically and returns the totals.
pub fn write_report(
    out_dir: &Path,
    experiments: &[&dyn DynExperiment],
    command: &str,
) -> Result<ReportTotals, ExperimentError> {
    let entries = collect(out_dir, experiments)?;
    let text = render_markdown(&entries, command);
    write_atomic(&out_dir.join("REPORT.md"), text.as_bytes())?;
    Ok(totals(&entries))
}
