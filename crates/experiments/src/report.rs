//! `REPORT.md`: every run folder under an output directory, as one Markdown page.
//!
//! The report is built from what is on disk (the run folders of the registered
//! experiments found under the output directory), so running experiments one at a time
//! still ends in one complete report. For each run it shows the figures (PNG embedded,
//! SVG linked, relative paths), every check as a table row (a failing check is shown as
//! **FAILS** and also listed at the top, never hidden; a vacuous one as **VACUOUS** with
//! its reason, and listed at the top too), the headline values and the configuration.
//! The top of the page says how many checks hold, how many fail and how many are vacuous.

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
        self.checks.iter().filter(|c| c.fails())
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
    /// Checks that are vacuous (neither hold nor fail).
    pub vacuous: usize,
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
            .map(|e| e.checks.iter().filter(|c| c.holds()).count())
            .sum(),
        vacuous: entries
            .iter()
            .map(|e| e.checks.iter().filter(|c| c.is_vacuous()).count())
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
            let failing = e.checks.iter().filter(|c| c.fails()).count();
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

/// The paper the report reproduces.
pub const CITATION: &str = "Reproduces R. Barboni, G. Peyré, F.-X. Vialard, \"On global convergence \
of ResNets: From finite to infinite width using linear parameterization\", NeurIPS 2022, \
arXiv:2112.05531. docs/theory.md is the in-repository statement of its claims (section \
numbers below).";

/// One row of the claims table: the checks of one run that share a source.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimRow<'a> {
    /// The run the checks belong to.
    pub experiment: &'a str,
    /// The shared source (docs/theory.md section, paper, standard result).
    pub source: &'a str,
    /// The checks, in run order.
    pub checks: Vec<&'a CheckReport>,
}

impl ClaimRow<'_> {
    /// The verdict of the claim: does not hold if one check fails; holds if none fails
    /// and one holds; vacuous if every check is vacuous.
    pub fn verdict(&self) -> &'static str {
        if self.checks.iter().any(|c| c.fails()) {
            "**does not hold**"
        } else if self.checks.iter().any(|c| c.holds()) {
            "holds"
        } else {
            "**vacuous**"
        }
    }

    /// The check shown for the claim: the first failing one, else the first that holds,
    /// else the first.
    pub fn shown(&self) -> &CheckReport {
        self.checks
            .iter()
            .find(|c| c.fails())
            .or_else(|| self.checks.iter().find(|c| c.holds()))
            .unwrap_or(&self.checks[0])
    }
}

/// The claims of the completed runs: each run's checks grouped by source, in order of
/// first appearance.
pub fn claims(entries: &[ReportEntry]) -> Vec<ClaimRow<'_>> {
    let mut rows: Vec<ClaimRow<'_>> = Vec::new();
    for e in entries {
        let start = rows.len();
        for c in &e.checks {
            match rows[start..].iter_mut().find(|r| r.source == c.source) {
                Some(r) => r.checks.push(c),
                None => rows.push(ClaimRow {
                    experiment: &e.name,
                    source: &c.source,
                    checks: vec![c],
                }),
            }
        }
    }
    rows
}

fn render_claims(w: &mut String, entries: &[ReportEntry]) {
    let rows = claims(entries);
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        w,
        "## Claims\n\nEach row gathers the checks of one run that test the same source; the \
         check shown is the first failing one, else the first that holds, else the first \
         (vacuous). The verdict is *does not hold* if any check fails, *vacuous* if every \
         check compares with a bound that is 0 or infinite.\n"
    );
    let _ = writeln!(
        w,
        "| claim | source | what plres measured | verdict |\n|---|---|---|---|"
    );
    for r in &rows {
        let c = r.shown();
        let rel = match c.relation {
            plres_theory::Relation::AtLeast => "≥",
            plres_theory::Relation::AtMost => "≤",
            plres_theory::Relation::Within => "≈",
        };
        let more = if r.checks.len() > 1 {
            format!(" (+{} more checks)", r.checks.len() - 1)
        } else {
            String::new()
        };
        let measured = match c.vacuous_reason() {
            Some(reason) => reason.to_owned(),
            None => format!(
                "{:.4e} {rel} {:.4e} (tolerance {:.1e})",
                c.measured, c.predicted, c.tolerance
            ),
        };
        let _ = writeln!(
            w,
            "| `{}`: {}{more} | {} | {} | {} |",
            r.experiment,
            c.claim.replace('|', "\\|"),
            r.source.replace('|', "\\|"),
            measured.replace('|', "\\|"),
            r.verdict()
        );
    }
    let _ = writeln!(w);
}

/// The Markdown text of the report. `command` is shown as how it was produced.
pub fn render_markdown(entries: &[ReportEntry], command: &str) -> String {
    let t = totals(entries);
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "# plres — reproduction report\n");
    let _ = writeln!(w, "{CITATION}\n");
    render_claims(w, entries);
    let _ = writeln!(
        w,
        "Produced by `{command}`. Each section below is one run folder (docs/theory.md §8): \
         its figures, its checks of the theory's claims and its configuration.\n"
    );
    let failing_total = t.checks - t.holding - t.vacuous;
    let vacuous_note = if t.vacuous == 0 {
        String::new()
    } else {
        format!(
            " {} check(s) are **VACUOUS** (their bound is 0 or infinite, so they neither hold nor \
             fail; the reason is given in each row).",
            t.vacuous
        )
    };
    let verdict = if failing_total == 0 && t.not_completed == 0 {
        if t.vacuous == 0 {
            format!("**All {} checks hold** across {} runs.", t.checks, t.runs)
        } else {
            format!(
                "**{} of {} checks hold, {} vacuous, none fails** across {} runs.{vacuous_note}",
                t.holding, t.checks, t.vacuous, t.runs
            )
        }
    } else {
        let vacuous = if t.vacuous == 0 {
            String::new()
        } else {
            format!("; {} vacuous", t.vacuous)
        };
        format!(
            "**{} of {} checks hold; {} FAIL{vacuous}** across {} runs ({} did not complete).{vacuous_note}",
            t.holding, t.checks, failing_total, t.runs, t.not_completed
        )
    };
    let _ = writeln!(w, "{verdict}\n");
    let _ = writeln!(
        w,
        "| experiment | size | seed | checks holding | vacuous | status |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|");
    for e in entries {
        let _ = writeln!(
            w,
            "| [{0}](#{0}) | {1} | {2} | {3}/{4} | {5} | {6} |",
            e.name,
            e.config.size,
            e.config.seed,
            e.checks.iter().filter(|c| c.holds()).count(),
            e.checks.len(),
            e.checks.iter().filter(|c| c.is_vacuous()).count(),
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
    let vacuous: Vec<(&str, &CheckReport)> = entries
        .iter()
        .flat_map(|e| {
            e.checks
                .iter()
                .filter(|c| c.is_vacuous())
                .map(move |c| (e.name.as_str(), c))
        })
        .collect();
    if !vacuous.is_empty() {
        let _ = writeln!(w, "\n## Vacuous checks\n");
        let _ = writeln!(
            w,
            "A vacuous check compares with a bound that is 0 or infinite: it neither holds nor \
             fails, it says nothing. Each is listed with the reason.\n"
        );
        for (name, c) in &vacuous {
            let _ = writeln!(
                w,
                "- `{name}`: VACUOUS — {} ({}): {}",
                c.claim,
                c.source,
                c.vacuous_reason().unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Size;
    use plres_theory::Relation;

    fn entry(checks: Vec<CheckReport>) -> ReportEntry {
        ReportEntry {
            name: "exp".into(),
            description: "d".into(),
            config: RunConfig {
                experiment: "exp".into(),
                size: Size::Smoke,
                seed: 1,
                plres_version: "0".into(),
                config: Value::Null,
            },
            state: RunState::Completed(RunSummary {
                experiment: "exp".into(),
                wall_time_s: 0.1,
                checks_total: checks.len(),
                checks_holding: checks.iter().filter(|c| c.holds()).count(),
                checks_vacuous: checks.iter().filter(|c| c.is_vacuous()).count(),
                figures: Vec::new(),
                tables: Vec::new(),
                values: serde_json::Map::new(),
            }),
            checks,
        }
    }

    /// A vacuous check is counted apart, listed with its reason at the top and in its
    /// run's table, and does not make the run fail; a failing one still does.
    #[test]
    fn vacuous_checks_are_counted_apart_and_shown_with_their_reason() {
        let holds = CheckReport::new("a", "s", 2.0, 1.0, 0.0, Relation::AtLeast);
        let vac = CheckReport::vacuous(
            "bound",
            "s",
            1.0,
            0.0,
            Relation::AtLeast,
            "separation too small for N = 48",
        );
        let entries = [entry(vec![holds.clone(), vac.clone()])];
        let t = totals(&entries);
        assert_eq!((t.checks, t.holding, t.vacuous), (2, 1, 1));
        let md = render_markdown(&entries, "cmd");
        assert!(
            md.contains("**1 of 2 checks hold, 1 vacuous, none fails**"),
            "{md}"
        );
        assert!(md.contains("## Vacuous checks"));
        assert!(md.contains("VACUOUS — bound (s): separation too small for N = 48"));
        assert!(md.contains("| **VACUOUS**: separation too small for N = 48 |"));
        assert!(!md.contains("FAIL"), "{md}");
        assert!(md.starts_with("# plres — reproduction report\n\nReproduces R. Barboni"));
        let claims_at = md.find("## Claims").unwrap();
        assert!(claims_at < md.find("## Vacuous checks").unwrap());
        assert!(md.contains("| `exp`: a (+1 more checks) | s |"), "{md}");
        let fails = CheckReport::new("b", "s", 0.0, 1.0, 0.0, Relation::AtLeast);
        let md = render_markdown(&[entry(vec![holds, vac, fails])], "cmd");
        assert!(
            md.contains("**1 of 3 checks hold; 1 FAIL; 1 vacuous**"),
            "{md}"
        );
        assert!(md.contains("| **does not hold** |"), "{md}");
    }
}
