//! `cargo xtask sweep plan|run|submit|status|collect|exec`: experiment grids over seeds
//! (plres-sweep), run by a local process pool or as a Slurm job array, read back into one
//! aggregated report. The logic is plres-sweep's; this is its command line.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use plres_sweep::collect::{collect, is_sweep_folder, write};
use plres_sweep::exec::{Event, Ran, run_local, run_task};
use plres_sweep::slurm::{batch_script, is_executable, job_name, queued, submissions, submit};
use plres_sweep::state::{TaskState, pending, states};
use plres_sweep::status::Estimate;
use plres_sweep::{Plan, Sweep};

/// The usage text.
pub fn usage() -> &'static str {
    "usage: cargo xtask sweep <command> …

  plan SWEEP [--out DIR]                 print the tasks and the estimated cost
  run SWEEP --local [--jobs J] [--out DIR]
                                         run the tasks not done through a pool of J processes
  submit SWEEP [--out DIR] [--dry-run]   submit the tasks not done as a Slurm job array
                                         (--dry-run: prepare DIR, print the batch script)
  status SWEEP|DIR [--out DIR]           task states, Slurm queue, cost of what is left
  collect SWEEP|DIR [--out DIR]          aggregate over seeds: DIR/REPORT.md, aggregate.json,
                                         aggregate.csv, plots/; fails while tasks are missing
  exec DIR INDEX                         run task INDEX of the sweep in DIR (what an array
                                         task calls)

SWEEP is a sweep file (.toml or .json, see README.md); DIR a sweep folder (its `out`).
--out overrides the file's `out`. Done tasks are never rerun; failed, interrupted and
missing ones are rerun by `run` and `submit`."
}

/// The command that runs one task: this binary's `sweep exec` (absolute path).
fn runner() -> Result<Vec<String>> {
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    Ok(vec![
        exe.display().to_string(),
        "sweep".into(),
        "exec".into(),
    ])
}

struct Opts {
    target: PathBuf,
    out: Option<PathBuf>,
    jobs: Option<usize>,
    local: bool,
    dry_run: bool,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        target: PathBuf::new(),
        out: None,
        jobs: None,
        local: false,
        dry_run: false,
    };
    let mut target = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => o.out = Some(PathBuf::from(it.next().context("--out needs a value")?)),
            "--jobs" | "-j" => {
                let v = it.next().context("--jobs needs a value")?;
                let j: usize = v
                    .parse()
                    .ok()
                    .filter(|j| *j > 0)
                    .with_context(|| format!("--jobs expects a positive integer, got `{v}`"))?;
                o.jobs = Some(j);
            }
            "--local" => o.local = true,
            "--dry-run" => o.dry_run = true,
            flag if flag.starts_with('-') => bail!("unknown option `{flag}`\n{}", usage()),
            t if target.is_none() => target = Some(PathBuf::from(t)),
            extra => bail!("unexpected argument `{extra}`\n{}", usage()),
        }
    }
    o.target = target.with_context(|| format!("missing the sweep file\n{}", usage()))?;
    Ok(o)
}

/// The plan of a sweep file (with `--out` applied), not yet saved.
fn plan_of_file(file: &Path, out: Option<&Path>) -> Result<Plan> {
    let mut sweep = Sweep::load(file)?;
    if let Some(out) = out {
        sweep.out = std::path::absolute(out)?;
    }
    Ok(Plan::new(&sweep, &runner()?)?)
}

/// The plan saved in a sweep folder, or that of a sweep file (saved one if it exists).
fn plan_of(o: &Opts) -> Result<Plan> {
    if o.target.is_dir() {
        if !is_sweep_folder(&o.target) {
            bail!(
                "{} is not a sweep folder (no plan.json)",
                o.target.display()
            );
        }
        return Ok(Plan::load(&o.target)?);
    }
    plan_of_file(&o.target, o.out.as_deref())
}

fn default_jobs(plan: &Plan) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / plan.threads as usize).max(1)
}

/// Runs `cargo xtask sweep …`.
pub fn main(args: &[String]) -> Result<()> {
    let Some(command) = args.first() else {
        println!("{}", usage());
        return Ok(());
    };
    let rest = &args[1..];
    match command.as_str() {
        "-h" | "--help" => {
            println!("{}", usage());
            Ok(())
        }
        "exec" => exec(rest),
        "plan" => plan_cmd(&parse(rest)?),
        "run" => run_cmd(&parse(rest)?),
        "submit" => submit_cmd(&parse(rest)?),
        "status" => status_cmd(&parse(rest)?),
        "collect" => collect_cmd(&parse(rest)?),
        other => bail!("unknown sweep command `{other}`\n{}", usage()),
    }
}

fn exec(args: &[String]) -> Result<()> {
    let [dir, index] = args else {
        bail!("usage: cargo xtask sweep exec DIR INDEX");
    };
    let index: usize = index
        .parse()
        .with_context(|| format!("INDEX expects a task index, got `{index}`"))?;
    let plan = Plan::load(Path::new(dir))?;
    let name = plan.task(index)?.name.clone();
    match run_task(&plan, index)? {
        Ran::Skipped => eprintln!("{name}: done already, skipped"),
        Ran::Done(f) => eprintln!(
            "{name}: done (attempt {}, {:.1} s)",
            f.attempt, f.wall_time_s
        ),
        Ran::Failed(f) => bail!(
            "{name}: failed (attempt {}, exit {:?}, signal {:?}); see {}",
            f.attempt,
            f.exit_code,
            f.signal,
            plan.task_dir(plan.task(index)?).join("task.log").display()
        ),
    }
    Ok(())
}

fn plan_cmd(o: &Opts) -> Result<()> {
    let plan = plan_of(o)?;
    println!(
        "sweep `{}`: {} into {}",
        plan.sweep,
        plan.label(),
        plan.out.display()
    );
    for t in &plan.tasks {
        println!(
            "{:>4}  {}  {}",
            t.index,
            t.name,
            plan.command_line(t).join(" ")
        );
    }
    let states: Vec<TaskState> = if is_sweep_folder(&plan.out) {
        states(&plan)?.into_iter().map(|(_, s)| s).collect()
    } else {
        vec![TaskState::Missing; plan.tasks.len()]
    };
    let e = Estimate::new(&plan, &states);
    println!("{}", e.line(default_jobs(&plan)));
    if let Some((m, w)) = plan
        .slurm
        .max_parallel
        .and_then(|m| Some((m, e.wall_seconds(m as usize)?)))
    {
        println!("on Slurm with max_parallel = {m}: ≈ {w:.0} s of wall time");
    }
    Ok(())
}

fn run_cmd(o: &Opts) -> Result<()> {
    if !o.local {
        bail!("`sweep run` runs on this machine: pass --local (or use `sweep submit` for Slurm)");
    }
    let plan = plan_of(o)?;
    plan.save()?;
    if !submissions(&plan)?.is_empty()
        && let Some((job, _, _)) = queued(&plan)?.first()
    {
        bail!(
            "job {job} of this sweep is still in the Slurm queue: running its tasks here too would run them twice"
        );
    }
    let jobs = o.jobs.unwrap_or_else(|| default_jobs(&plan));
    eprintln!(
        "sweep `{}`: {} tasks, {} jobs, into {}",
        plan.sweep,
        plan.tasks.len(),
        jobs,
        plan.out.display()
    );
    let report = run_local(&plan, jobs, |e| match e {
        Event::Started { name, .. } => eprintln!("{name}: running"),
        Event::Ended { name, outcome, .. } => match outcome {
            Ok(Ran::Done(f)) => eprintln!("{name}: done ({:.1} s)", f.wall_time_s),
            Ok(Ran::Skipped) => eprintln!("{name}: done already"),
            Ok(Ran::Failed(f)) => eprintln!(
                "{name}: FAILED (exit {:?}, signal {:?}; see its task.log)",
                f.exit_code, f.signal
            ),
            Err(e) => eprintln!("{name}: ERROR {e}"),
        },
    })?;
    eprintln!(
        "{} done now, {} done before, {} failed; `cargo xtask sweep collect {}` aggregates",
        report.done,
        report.skipped,
        report.failed.len(),
        plan.out.display()
    );
    if !report.failed.is_empty() {
        bail!(
            "{} task(s) failed: {}",
            report.failed.len(),
            report
                .failed
                .iter()
                .map(|&i| plan.tasks[i].name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

fn submit_cmd(o: &Opts) -> Result<()> {
    let plan = plan_of(o)?;
    let exe = Path::new(&plan.runner[0]);
    if !is_executable(exe) {
        bail!("{} is not an executable file", exe.display());
    }
    plan.save()?;
    let todo = pending(&plan)?;
    if todo.is_empty() {
        eprintln!("all {} tasks are done: nothing to submit", plan.tasks.len());
        return Ok(());
    }
    if o.dry_run {
        print!("{}", batch_script(&plan, &todo));
        return Ok(());
    }
    let s = submit(&plan, &todo)?;
    eprintln!(
        "submitted job {} ({}): {} of {} tasks; script {}",
        s.job_id,
        job_name(&plan),
        todo.len(),
        plan.tasks.len(),
        s.script.display()
    );
    println!("{}", s.job_id);
    Ok(())
}

/// The plan of `o`, and the one saved in its folder when that holds a sweep.
fn saved_plan(o: &Opts) -> Result<(Plan, Option<Plan>)> {
    let plan = plan_of(o)?;
    let saved = if is_sweep_folder(&plan.out) {
        Some(Plan::load(&plan.out)?)
    } else {
        None
    };
    Ok((plan, saved))
}

fn status_cmd(o: &Opts) -> Result<()> {
    let (plan, saved) = saved_plan(o)?;
    let Some(plan) = saved else {
        println!(
            "sweep `{}`: nothing run yet in {}",
            plan.sweep,
            plan.out.display()
        );
        return Ok(());
    };
    let rows = states(&plan)?;
    let mut slurm: Vec<(usize, String)> = Vec::new();
    if !submissions(&plan)?.is_empty() {
        match queued(&plan) {
            Ok(q) => slurm.extend(q.into_iter().filter_map(|(_, i, s)| Some((i?, s)))),
            Err(e) => eprintln!("(Slurm queue not read: {e})"),
        }
    }
    for (t, s) in &rows {
        let extra = match s {
            TaskState::Done(f) | TaskState::Failed(f) => format!("{:.1} s", f.wall_time_s),
            _ => String::new(),
        };
        let queue = slurm
            .iter()
            .find(|(i, _)| *i == t.index)
            .map(|(_, s)| format!(" [slurm: {s}]"))
            .unwrap_or_default();
        println!(
            "{:>4}  {:<11} attempts {}  {}  {extra}{queue}",
            t.index,
            s.word(),
            s.attempts(),
            t.name
        );
    }
    let states: Vec<TaskState> = rows.into_iter().map(|(_, s)| s).collect();
    let done = states.iter().filter(|s| s.is_done()).count();
    println!(
        "sweep `{}`: {done} of {} tasks done",
        plan.sweep,
        plan.tasks.len()
    );
    println!(
        "{}",
        Estimate::new(&plan, &states).line(default_jobs(&plan))
    );
    Ok(())
}

fn collect_cmd(o: &Opts) -> Result<()> {
    let (plan, saved) = saved_plan(o)?;
    let Some(plan) = saved else {
        bail!(
            "nothing to collect: {} holds no sweep (run or submit it first)",
            plan.out.display()
        );
    };
    let agg = collect(&plan)?;
    write(&plan, &agg)?;
    let report = plan.out.join(plres_sweep::plan::files::REPORT);
    if !agg.is_complete() {
        bail!(
            "sweep `{}` is INCOMPLETE: {} of {} tasks done; not done: {} (report: {})",
            plan.sweep,
            agg.done,
            agg.tasks,
            agg.missing
                .iter()
                .map(|m| format!("{} ({})", m.name, m.state))
                .collect::<Vec<_>>()
                .join(", "),
            report.display()
        );
    }
    let diverged: usize = agg.groups.iter().map(|g| g.diverged.len()).sum();
    let failing: usize = agg.groups.iter().map(|g| g.checks.failing).sum();
    eprintln!(
        "sweep `{}` complete: {} tasks, {} configuration(s), {diverged} diverged, {failing} failing check(s); report: {}",
        plan.sweep,
        agg.tasks,
        agg.groups.len(),
        report.display()
    );
    Ok(())
}
