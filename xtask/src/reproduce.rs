//! `cargo xtask reproduce [NAME…] [--smoke | --full] [--out DIR] [--seed S] [--force]
//! [--set KEY=VALUE…]`: runs the study's experiments into run folders and writes
//! `DIR/REPORT.md`. `--set` overrides configuration fields (checked against every
//! selected experiment before anything runs: `registry::apply_overrides`); a sweep task
//! is one such command line (plres-sweep).
//!
//! Every selected run folder is checked first (none may exist unless `--force`), so a
//! long run never stops half-way on a name clash. Each experiment then runs with its
//! tracing log going to `run.log` in its folder and a progress bar per training loop on
//! stderr (hidden when stderr is not a terminal). An experiment that fails does not stop
//! the others; the report is written at the end in every case, and the command fails with
//! one line if any check failed or any experiment returned an error.
//!
//! Crash safety (plres_experiments::run): each run is built in a hidden partial folder and
//! moved into place only when it has ended, so a kill never leaves a run folder that reads
//! as complete. Before the first run, `REPORT.md` is rewritten from the folders on disk
//! with a banner saying which run is in progress (so a killed command leaves a report that
//! says so, and claims only what the folders hold); the full report replaces it at the end.
//! `--resume` continues a killed run: a partial folder of the same configuration is
//! adopted with its training checkpoints.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use plres_experiments::Size;
use plres_experiments::registry::{
    DynExperiment, apply_overrides, find_in, parse_override, registry,
};
use plres_experiments::report::{collect, render_markdown, write_report};
use plres_experiments::run::{
    RunRequest, check_run_folder, error_chain, execute, files, prepare_run, prepare_run_resuming,
};
use tracing_subscriber::EnvFilter;

/// The parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Args {
    /// Experiments to run (all when empty).
    pub names: Vec<String>,
    /// Size level.
    pub size: Size,
    /// Output directory (`results/` at the workspace root when `None`).
    pub out: Option<PathBuf>,
    /// Base seed.
    pub seed: u64,
    /// Replace existing run folders.
    pub force: bool,
    /// Configuration overrides `(key, value)`, in the order given.
    pub sets: Vec<(String, serde_json::Value)>,
    /// Adopt the partial folders (and checkpoints) of killed runs of the same configuration.
    pub resume: bool,
    /// Only list the experiments.
    pub list: bool,
    /// Only print the usage.
    pub help: bool,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            names: Vec::new(),
            size: Size::Default,
            out: None,
            seed: 0,
            force: false,
            sets: Vec::new(),
            resume: false,
            list: false,
            help: false,
        }
    }
}

/// The usage text.
pub fn usage() -> &'static str {
    "usage: cargo xtask reproduce [NAME…] [--smoke | --full] [--out DIR] [--seed S] [--force] [--resume]
                              [--set KEY=VALUE…] [--list]

Runs the named experiments (all by default) into DIR/<name>/ and writes DIR/REPORT.md.
  --smoke     tiny sizes (seconds in total; what CI runs)
  --full      the sizes of the study's figures
  --out DIR   output directory (default: results/ at the workspace root)
  --seed S    base seed of every random generator (default 0)
  --force     replace existing run folders (each only once its new run has ended)
  --resume    continue runs killed before they ended (same configuration) from their checkpoints
  --set K=V   set configuration field K (a.b: nested) to V (JSON, or text), repeatable
  --list      list the experiments and exit
Exits non-zero if any check fails or any experiment returns an error."
}

/// Parses the arguments that follow `reproduce`.
pub fn parse(args: &[String]) -> Result<Args> {
    let mut a = Args::default();
    let mut size_flag: Option<&str> = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| crate::flag_value(&mut it, flag, usage());
        match arg.as_str() {
            "--smoke" | "--full" => {
                if let Some(prev) = size_flag.filter(|p| *p != arg) {
                    bail!("{prev} and {arg} exclude each other");
                }
                size_flag = Some(if arg == "--smoke" {
                    "--smoke"
                } else {
                    "--full"
                });
                a.size = if arg == "--smoke" {
                    Size::Smoke
                } else {
                    Size::Full
                };
            }
            "--out" => a.out = Some(PathBuf::from(value("--out")?)),
            "--seed" => {
                let v = value("--seed")?;
                a.seed = v
                    .parse()
                    .with_context(|| format!("--seed expects a non-negative integer, got `{v}`"))?;
            }
            "--force" => a.force = true,
            "--set" => {
                let v = value("--set")?;
                let kv = parse_override(&v)
                    .with_context(|| format!("--set expects KEY=VALUE, got `{v}`"))?;
                a.sets.push(kv);
            }
            "--resume" => a.resume = true,
            "--list" => a.list = true,
            "-h" | "--help" => a.help = true,
            flag if flag.starts_with('-') => bail!("unknown option `{flag}`\n{}", usage()),
            name => {
                if !a.names.iter().any(|n| n == name) {
                    a.names.push(name.to_owned());
                }
            }
        }
    }
    Ok(a)
}

/// One line per experiment: name and description.
pub fn list(experiments: &[&dyn DynExperiment]) -> String {
    let width = experiments
        .iter()
        .map(|e| e.name().len())
        .max()
        .unwrap_or(0);
    experiments
        .iter()
        .map(|e| format!("{:width$}  {}", e.name(), e.description()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a reproduce run ended with (when it did not fail outright).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Experiments run.
    pub ran: Vec<String>,
    /// Checks of the runs, and how many hold.
    pub checks: usize,
    /// Checks that hold.
    pub holding: usize,
    /// Checks that are vacuous (their bound is 0 or infinite: they neither hold nor fail).
    pub vacuous: usize,
}

/// Runs `cargo xtask reproduce` with its arguments.
pub fn main(args: &[String]) -> Result<()> {
    let parsed = parse(args)?;
    if parsed.help {
        println!("{}", usage());
        return Ok(());
    }
    if parsed.list {
        println!("{}", list(registry()));
        return Ok(());
    }
    let out = parsed
        .out
        .clone()
        .unwrap_or_else(|| crate::workspace_root().join("results"));
    let command = format!("cargo xtask reproduce {}", args.join(" "));
    let progress = std::io::stderr().is_terminal();
    let outcome = run_with(&parsed, registry(), &out, command.trim_end(), progress)?;
    eprintln!(
        "{} checks of {} experiment(s) hold, {} vacuous, none fails; report: {}",
        outcome.holding,
        outcome.ran.len(),
        outcome.vacuous,
        out.join("REPORT.md").display()
    );
    Ok(())
}

/// Runs the selected experiments of `experiments` into `out`, writes the report and
/// returns the outcome; fails (after writing the report) if a check fails or an
/// experiment errs.
pub fn run_with(
    args: &Args,
    experiments: &[&dyn DynExperiment],
    out: &Path,
    command: &str,
    progress: bool,
) -> Result<Outcome> {
    let selected: Vec<&dyn DynExperiment> = if args.names.is_empty() {
        experiments.to_vec()
    } else {
        args.names
            .iter()
            .map(|n| find_in(experiments, n))
            .collect::<Result<_, _>>()?
    };
    if selected.is_empty() {
        bail!("no experiments to run");
    }
    let mut configs = Vec::with_capacity(selected.len());
    for e in &selected {
        check_run_folder(out, e.name(), args.force)?;
        let mut config = e.default_config(args.size);
        apply_overrides(*e, &mut config, &args.sets)?;
        configs.push(config);
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    clean_report_leftovers(out)?;
    let names: Vec<&str> = selected.iter().map(|e| e.name()).collect();
    write_report_in_progress(out, experiments, command, &names)?;

    let mut failures: Vec<String> = Vec::new();
    let mut outcome = Outcome {
        ran: Vec::new(),
        checks: 0,
        holding: 0,
        vacuous: 0,
    };
    for (e, config) in selected.iter().zip(configs) {
        let request = RunRequest {
            out_dir: out,
            experiment: *e,
            config,
            size: args.size,
            seed: args.seed,
            force: args.force,
        };
        let folder = if args.resume {
            let (folder, adopted) = prepare_run_resuming(request)?;
            if adopted {
                eprintln!(
                    "{}: resuming from the checkpoints of a killed run",
                    e.name()
                );
            }
            folder
        } else {
            prepare_run(request)?
        };
        let log_path = folder.path().join(files::LOG);
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
        let subscriber = tracing_subscriber::fmt()
            .with_writer(Mutex::new(log))
            .with_ansi(false)
            .with_env_filter(filter)
            .finish();
        eprintln!("{}: running ({} size)…", e.name(), args.size);
        let result =
            tracing::subscriber::with_default(subscriber, || execute(*e, &folder, progress));
        outcome.ran.push(e.name().to_owned());
        match result {
            Ok(rec) => {
                let holding = rec.checks.iter().filter(|c| c.holds()).count();
                let vacuous = rec.checks.iter().filter(|c| c.is_vacuous()).count();
                outcome.checks += rec.checks.len();
                outcome.holding += holding;
                outcome.vacuous += vacuous;
                eprintln!(
                    "{}: {holding}/{} checks hold, {vacuous} vacuous ({:.1} s) → {}",
                    e.name(),
                    rec.checks.len(),
                    rec.wall_time.as_secs_f64(),
                    rec.folder.display()
                );
                for c in rec.checks.iter().filter(|c| c.is_vacuous()) {
                    eprintln!(
                        "{}: check VACUOUS: {} — {}",
                        e.name(),
                        c.claim,
                        c.vacuous_reason().unwrap_or_default()
                    );
                }
                for c in rec.failing() {
                    eprintln!("{}: check FAILS: {}", e.name(), c.table_row());
                    failures.push(format!("{}: check fails: {}", e.name(), c.claim));
                }
            }
            Err(err) => {
                let text = error_chain(&err);
                eprintln!("{}: ERROR: {text}", e.name());
                failures.push(format!("{}: {text}", e.name()));
            }
        }
    }
    let report = out.join("REPORT.md");
    write_report(out, experiments, command)
        .with_context(|| format!("writing {}", report.display()))?;
    if !failures.is_empty() {
        bail!(
            "{} problem(s), see {}: {}",
            failures.len(),
            report.display(),
            failures.join("; ")
        );
    }
    Ok(outcome)
}

/// Removes the temporary files of `REPORT.md` that a killed write left in `out`.
fn clean_report_leftovers(out: &Path) -> Result<()> {
    for entry in std::fs::read_dir(out).with_context(|| format!("listing {}", out.display()))? {
        let entry = entry.with_context(|| format!("listing {}", out.display()))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(".REPORT.md.tmp-") {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// The first line of a report written while `command` runs.
pub const IN_PROGRESS: &str = "> **Run in progress:**";

/// Rewrites `REPORT.md` from the run folders on disk, under a banner saying that `command`
/// is running `names` (each of their folders is replaced only once its new run has ended).
fn write_report_in_progress(
    out: &Path,
    experiments: &[&dyn DynExperiment],
    command: &str,
    names: &[&str],
) -> Result<()> {
    let entries = collect(out, experiments).context("reading the run folders")?;
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let banner = format!(
        "{IN_PROGRESS} `{command}` (process {}, started at Unix time {started}) is running {}. \
         What follows is what the run folders held when it started; each of those folders is \
         replaced only once its new run has ended, and this report is rewritten at the end. \
         If that process is gone, it was interrupted: run the command again (`--resume` \
         continues from checkpoints).\n\n",
        std::process::id(),
        names.join(", ")
    );
    let text = banner + &render_markdown(&entries, command);
    let report = out.join("REPORT.md");
    write_text(&report, text.as_bytes())
}

fn write_text(path: &Path, bytes: &[u8]) -> Result<()> {
    plres_experiments::run::write_bytes(path, bytes)
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use plres_experiments::plot::{Plot, Series};
    use plres_experiments::table::{ColumnType, Table};
    use plres_experiments::{CheckReport, ExperimentError, Relation, RunContext, RunOutput, row};

    fn s(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn parses_every_option() {
        let a = parse(&s(&[
            "width",
            "--smoke",
            "--out",
            "/tmp/x",
            "--seed",
            "42",
            "--force",
            "depth",
            "width",
            "--set",
            "terms=3",
            "--set",
            "ratio=x=y",
        ]))
        .unwrap();
        assert_eq!(
            a,
            Args {
                names: vec!["width".into(), "depth".into()],
                size: Size::Smoke,
                out: Some("/tmp/x".into()),
                seed: 42,
                force: true,
                sets: vec![("terms".into(), 3.into()), ("ratio".into(), "x=y".into())],
                resume: false,
                list: false,
                help: false,
            }
        );
        assert_eq!(parse(&[]).unwrap(), Args::default());
        assert_eq!(parse(&s(&["--full"])).unwrap().size, Size::Full);
        assert!(parse(&s(&["--list"])).unwrap().list);
    }

    #[test]
    fn rejects_bad_arguments() {
        let msg = |a: &[&str]| parse(&s(a)).unwrap_err().to_string();
        assert!(msg(&["--smoke", "--full"]).contains("exclude each other"));
        assert!(msg(&["--seed", "-3"]).contains("got `-3`"));
        assert!(msg(&["--seed"]).contains("--seed needs a value"));
        assert!(msg(&["--out"]).contains("--out needs a value"));
        assert!(msg(&["--fast"]).contains("unknown option `--fast`"));
        assert!(msg(&["--set", "terms"]).contains("--set expects KEY=VALUE, got `terms`"));
    }

    /// Partial sums of the geometric series Σ r^k against the closed form
    /// (1 − r^{n+1})/(1 − r): a real check whose claim can be made false on purpose.
    struct Geometric {
        name: &'static str,
        /// Claims the infinite sum 1/(1 − r) is reached already (false for finite n).
        claim_limit: bool,
        /// Returns an error instead of running.
        fail: bool,
    }

    /// The configuration, as JSON (implementing `DynExperiment` directly keeps xtask
    /// free of a serde dependency): `{"ratio": r, "terms": n}`.
    fn geometric_config(size: Size) -> serde_json::Value {
        serde_json::json!({"ratio": 0.5, "terms": if size == Size::Smoke { 10 } else { 40 }})
    }

    impl DynExperiment for Geometric {
        fn name(&self) -> &'static str {
            self.name
        }
        fn description(&self) -> &'static str {
            "Partial sums of a geometric series."
        }
        fn default_config(&self, size: Size) -> serde_json::Value {
            geometric_config(size)
        }
        fn run_json(
            &self,
            c: &serde_json::Value,
            ctx: &RunContext,
        ) -> Result<RunOutput, ExperimentError> {
            if self.fail {
                return Err(ExperimentError::config(self.name, "asked to fail"));
            }
            let ratio = c["ratio"].as_f64().expect("ratio");
            let terms = c["terms"].as_u64().expect("terms") as usize;
            tracing::info!(terms, "summing");
            let mut t = Table::new(&[("k", ColumnType::Int), ("partial_sum", ColumnType::Float)]);
            let bar = ctx.progress_bar(terms as u64, "summing");
            let (mut sum, mut term) = (0.0, 1.0);
            let mut ys = Vec::new();
            for k in 0..=terms {
                sum += term;
                term *= ratio;
                t.push(row![k, sum])?;
                ys.push(sum);
                bar.inc(1);
            }
            bar.finish_and_clear();
            let predicted = if self.claim_limit {
                1.0 / (1.0 - ratio)
            } else {
                (1.0 - ratio.powi(terms as i32 + 1)) / (1.0 - ratio)
            };
            let xs = (0..=terms).map(|k| k as f64).collect();
            let mut out = RunOutput::new(t);
            out.figure(
                "sums",
                "Partial sums.",
                Plot::new("partial sums", "k", "sum").with(Series::line("S_k", xs, ys)),
            )
            .check(CheckReport::new(
                "S_n = (1 − r^{n+1})/(1 − r)",
                "closed form",
                sum,
                predicted,
                // n + 1 additions, each rounding by at most eps·|S| ≤ 2 eps
                2.0 * (terms as f64 + 1.0) * f64::EPSILON,
                Relation::Within,
            ));
            Ok(out)
        }
    }

    static EXPERIMENTS: &[&dyn DynExperiment] = &[&Geometric {
        name: "geometric",
        claim_limit: false,
        fail: false,
    }];

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xtask-reproduce-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn runs_logs_reports_and_protects_folders() {
        let out = temp_dir("ok");
        let args = parse(&s(&["--smoke", "--seed", "5"])).unwrap();
        let o = run_with(&args, EXPERIMENTS, &out, "cmd", false).unwrap();
        assert_eq!((o.ran.len(), o.checks, o.holding), (1, 1, 1));
        let dir = out.join("geometric");
        for f in [
            "config.json",
            "metrics.csv",
            "summary.json",
            "checks.json",
            "sums.svg",
            "sums.png",
        ] {
            assert!(dir.join(f).is_file(), "{f} missing");
        }
        let log = std::fs::read_to_string(dir.join(files::LOG)).unwrap();
        assert!(
            log.contains("summing") && log.contains("run starts"),
            "{log}"
        );
        let md = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
        assert!(md.contains("**All 1 checks hold**"), "{md}");
        assert!(md.contains("Produced by `cmd`"));

        // A second run without --force refuses, naming the folder, and leaves it alone.
        let err = run_with(&args, EXPERIMENTS, &out, "cmd", false).unwrap_err();
        assert!(
            err.to_string().contains(&dir.display().to_string()),
            "{err}"
        );
        let forced = parse(&s(&["geometric", "--smoke", "--force"])).unwrap();
        run_with(&forced, EXPERIMENTS, &out, "cmd", false).unwrap();

        let unknown = parse(&s(&["nope"])).unwrap();
        let err = run_with(&unknown, EXPERIMENTS, &out, "cmd", false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown experiment `nope` (known: geometric)"
        );
        std::fs::remove_dir_all(&out).unwrap();
    }

    /// `--set` reaches the run's `config.json`; a key the configuration lacks fails
    /// before any folder is made, naming the key and the known fields.
    #[test]
    fn set_overrides_configuration_fields() {
        let out = temp_dir("set");
        let args = parse(&s(&["--smoke", "--set", "terms=3"])).unwrap();
        run_with(&args, EXPERIMENTS, &out, "cmd", false).unwrap();
        let cfg: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("geometric").join(files::CONFIG)).unwrap(),
        )
        .unwrap();
        assert_eq!(cfg["config"]["terms"], 3);
        assert_eq!(
            std::fs::read_to_string(out.join("geometric").join("metrics.csv"))
                .unwrap()
                .lines()
                .count(),
            1 + 4,
            "header and k = 0..=3"
        );
        let other = temp_dir("set-bad");
        let bad = parse(&s(&["--set", "term=3"])).unwrap();
        let err = run_with(&bad, EXPERIMENTS, &other, "cmd", false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "invalid override `term=3` of `geometric`: no field `term` (known: ratio, terms)"
        );
        assert!(!other.exists());
    }

    /// While a run is in progress REPORT.md opens with the banner naming it, over what the
    /// folders held when it started; the report written at the end has no banner.
    #[test]
    fn report_marks_a_run_in_progress() {
        let out = temp_dir("progress");
        let args = parse(&s(&["--smoke"])).unwrap();
        run_with(&args, EXPERIMENTS, &out, "cmd", false).unwrap();
        let final_md = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
        assert!(!final_md.starts_with(IN_PROGRESS), "{final_md}");
        write_report_in_progress(&out, EXPERIMENTS, "cmd --force", &["geometric"]).unwrap();
        let md = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
        assert!(md.starts_with(IN_PROGRESS), "{md}");
        assert!(md.contains("is running geometric"), "{md}");
        // below the banner: the report of the folders on disk
        let body = md.split_once("\n\n").unwrap().1;
        assert_eq!(
            body,
            render_markdown(&collect(&out, EXPERIMENTS).unwrap(), "cmd --force")
        );
        std::fs::write(out.join(".REPORT.md.tmp-x1"), b"partial").unwrap();
        let forced = parse(&s(&["--smoke", "--force"])).unwrap();
        run_with(&forced, EXPERIMENTS, &out, "cmd", false).unwrap();
        assert!(!out.join(".REPORT.md.tmp-x1").exists(), "leftover cleaned");
        let md = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
        assert!(!md.starts_with(IN_PROGRESS));
        std::fs::remove_dir_all(&out).unwrap();
    }

    /// A failing check and an erroring experiment both make the command fail with one
    /// line naming them, after the report (which shows them) is written; the other
    /// experiments still run.
    #[test]
    fn failures_make_the_command_fail() {
        static MIXED: &[&dyn DynExperiment] = &[
            &Geometric {
                name: "broken",
                claim_limit: false,
                fail: true,
            },
            &Geometric {
                name: "overclaim",
                claim_limit: true,
                fail: false,
            },
            &Geometric {
                name: "fine",
                claim_limit: false,
                fail: false,
            },
        ];
        let out = temp_dir("fail");
        let err = run_with(&Args::default(), MIXED, &out, "cmd", false).unwrap_err();
        let msg = err.to_string();
        assert!(!msg.contains('\n'), "one line: {msg}");
        assert!(msg.starts_with("2 problem(s)"), "{msg}");
        assert!(
            msg.contains("broken: invalid configuration of `broken`: asked to fail"),
            "{msg}"
        );
        assert!(msg.contains("overclaim: check fails: S_n"), "{msg}");
        assert!(
            out.join("fine").join(files::SUMMARY).is_file(),
            "later runs still ran"
        );
        let md = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
        assert!(
            md.contains("**1 of 2 checks hold; 1 FAIL** across 3 runs (1 did not complete)"),
            "{md}"
        );
        assert!(md.contains("| **FAILS** |") && md.contains("asked to fail"));
        std::fs::remove_dir_all(&out).unwrap();
    }
}
