//! `cargo xtask kill-test [NAME] [--rounds K] [--seed S]`: SIGKILLs `reproduce --smoke` of
//! one experiment at seeded random moments and checks what is left (issue 19, cases 6–8).
//!
//! The built binary runs itself (no cargo in the loop, so the moments are the run's own):
//! 1. a reference run into a fresh folder gives the expected `metrics.csv` and its
//!    duration `T`;
//! 2. each round starts `reproduce NAME --smoke --force` over a complete folder and kills
//!    it (SIGKILL) after a delay drawn uniformly from `[0, 1.2 T]` (seeded), then checks:
//!    the run folder is in place and complete (`summary.json` or `error.txt`) — the old
//!    one or the new one, whose `metrics.csv` equals the reference — never partial;
//!    `REPORT.md` is either the final report of a run that finished, or carries the
//!    in-progress banner; nothing else is in the output folder but hidden leftovers of the
//!    killed process (partial or moved-aside folders, temporary files);
//! 3. after each kill, `reproduce NAME --smoke --force --resume` runs to the end: no
//!    leftover remains, the folder is complete with the reference metrics, and `REPORT.md`
//!    is final (no banner) with every check holding.
//!
//! Then one MNIST round ([`MNIST`], issue 20's resumable runs): a reference
//! `reproduce mnist-pretrained --smoke` into a fresh folder; the same run again, killed
//! (SIGKILL) as soon as its first epoch checkpoint appears (mid-training: after epoch 1
//! of 2 of the first configuration); then `--resume`, which must finish it with the
//! reference's `metrics.csv` and, byte for byte, the reference's final checkpoints (every
//! parameter, running statistic, shuffle state and record bitwise), its log saying it
//! resumed from a checkpoint.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use plres_experiments::run::files;

use crate::reproduce::IN_PROGRESS;

/// The parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Args {
    /// The experiment (default `linear-vs-nonlinear`: about 2 s at smoke size, trains with
    /// plres-optim, writes tables and figures).
    pub name: String,
    /// Kill rounds.
    pub rounds: u32,
    /// Seed of the kill moments.
    pub seed: u64,
}

/// Parses the arguments after `kill-test`.
pub fn parse(args: &[String]) -> Result<Args> {
    let mut a = Args {
        name: "linear-vs-nonlinear".into(),
        rounds: 8,
        seed: 0,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| -> Result<String> {
            it.next()
                .cloned()
                .with_context(|| format!("{flag} needs a value"))
        };
        match arg.as_str() {
            "--rounds" => {
                let v = value("--rounds")?;
                a.rounds = v.parse().with_context(|| format!("--rounds: `{v}`"))?;
            }
            "--seed" => {
                let v = value("--seed")?;
                a.seed = v.parse().with_context(|| format!("--seed: `{v}`"))?;
            }
            flag if flag.starts_with('-') => bail!(
                "unknown option `{flag}`\nusage: cargo xtask kill-test [NAME] [--rounds K] [--seed S]"
            ),
            name => a.name = name.to_owned(),
        }
    }
    Ok(a)
}

/// The experiment of the MNIST round: two configurations (linear and SHL), with
/// pretraining, two epochs each at smoke size.
pub const MNIST: &str = "mnist-pretrained";

fn reproduce(out: &Path, name: &str, extra: &[&str]) -> Result<Command> {
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let mut c = Command::new(exe);
    c.args(["reproduce", name, "--smoke", "--out"])
        .arg(out)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Ok(c)
}

/// The delay of round `k`: uniform in `[0, max]` from a SplitMix64 of `(seed, k)`.
fn delay(seed: u64, k: u32, max: Duration) -> Duration {
    let mut z = seed ^ (u64::from(k) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    max.mul_f64((z >> 11) as f64 / (1u64 << 53) as f64)
}

/// Checks the output folder after a kill; returns whether the run had finished.
fn check_after_kill(out: &Path, name: &str, reference: &[u8], pid: u32) -> Result<bool> {
    let dir = out.join(name);
    if !dir.is_dir() {
        // killed between moving the old folder aside and moving the new one in: the old
        // one is kept aside, and the next run moves it back
        let aside = out.join(format!(".{name}.old-{pid}"));
        ensure!(
            aside.join(files::SUMMARY).is_file(),
            "{} is missing after the kill and no complete folder was kept aside",
            dir.display()
        );
        return Ok(false);
    }
    let complete = dir.join(files::SUMMARY).is_file() || dir.join(files::ERROR).is_file();
    ensure!(complete, "{} is in place but incomplete", dir.display());
    let metrics = std::fs::read(dir.join(files::METRICS))
        .with_context(|| format!("reading the metrics of {}", dir.display()))?;
    ensure!(
        metrics == reference,
        "{} holds other metrics than the reference run",
        dir.display()
    );
    let report = std::fs::read_to_string(out.join("REPORT.md")).context("reading REPORT.md")?;
    let finished = !report.starts_with(IN_PROGRESS);
    if finished {
        ensure!(
            report.contains("checks hold"),
            "a report without the in-progress banner must be a final one:\n{report}"
        );
    }
    for entry in std::fs::read_dir(out)? {
        let n = entry?.file_name().to_string_lossy().into_owned();
        let leftover = n == name
            || n == "REPORT.md"
            || n.starts_with(".REPORT.md.tmp-")
            || n == format!(".{name}.partial-{pid}")
            || n == format!(".{name}.old-{pid}");
        ensure!(
            leftover,
            "unexpected `{n}` in the output folder after the kill"
        );
    }
    Ok(finished)
}

/// Checks the output folder after a run that ended normally.
fn check_clean(out: &Path, name: &str, reference: &[u8]) -> Result<()> {
    let mut names: Vec<String> = std::fs::read_dir(out)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    ensure!(
        names == vec!["REPORT.md".to_owned(), name.to_owned()],
        "leftovers after a complete run: {names:?}"
    );
    let dir = out.join(name);
    ensure!(
        dir.join(files::SUMMARY).is_file(),
        "{} has no summary",
        dir.display()
    );
    ensure!(
        std::fs::read(dir.join(files::METRICS))? == reference,
        "the resumed run's metrics differ from the reference"
    );
    let inner: Vec<String> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()?;
    ensure!(
        !inner.iter().any(|n| n.contains(".tmp-")),
        "temporary files in {}: {inner:?}",
        dir.display()
    );
    let report = std::fs::read_to_string(out.join("REPORT.md"))?;
    ensure!(
        !report.starts_with(IN_PROGRESS),
        "the final report still says in progress"
    );
    ensure!(
        report.contains("checks hold") && !report.contains("FAIL"),
        "the final report does not say every check holds"
    );
    Ok(())
}

/// Runs the kill test.
pub fn main(args: &[String]) -> Result<()> {
    let a = parse(args)?;
    let root: PathBuf =
        std::env::temp_dir().join(format!("plres-kill-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let reference_out = root.join("reference");
    let t0 = Instant::now();
    let status = reproduce(&reference_out, &a.name, &[])?.status()?;
    ensure!(status.success(), "the reference run failed ({status})");
    let duration = t0.elapsed();
    let reference = std::fs::read(reference_out.join(&a.name).join(files::METRICS))?;
    check_clean(&reference_out, &a.name, &reference)?;
    let out = root.join("killed");
    let status = reproduce(&out, &a.name, &[])?.status()?;
    ensure!(status.success(), "the first run failed ({status})");
    let mut finished_rounds = 0;
    for k in 0..a.rounds {
        let wait = delay(a.seed, k, duration.mul_f64(1.1));
        let mut child = reproduce(&out, &a.name, &["--force"])?.spawn()?;
        std::thread::sleep(wait);
        let pid = child.id();
        let _ = child.kill(); // SIGKILL
        let killed = child.wait()?;
        let finished = check_after_kill(&out, &a.name, &reference, pid)
            .with_context(|| format!("round {k}: killed after {:.3} s", wait.as_secs_f64()))?
            && killed.success();
        finished_rounds += u32::from(finished);
        let status = reproduce(&out, &a.name, &["--force", "--resume"])?.status()?;
        ensure!(
            status.success(),
            "round {k}: the resumed run failed ({status})"
        );
        check_clean(&out, &a.name, &reference)
            .with_context(|| format!("round {k}: after resuming"))?;
        println!(
            "round {k}: killed after {:.3} s ({}); folder, report and resumed run check",
            wait.as_secs_f64(),
            if finished {
                "it had finished"
            } else {
                "mid-run"
            }
        );
    }
    println!(
        "kill test: {} rounds ({finished_rounds} ended before the kill), reference run {:.2} s",
        a.rounds,
        duration.as_secs_f64()
    );
    mnist_round(&root).context("the MNIST round")?;
    std::fs::remove_dir_all(&root).ok();
    Ok(())
}

/// The files of a run's `checkpoints/` folder (name, bytes), sorted by name.
fn checkpoints(run: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let dir = run.join(files::CHECKPOINTS);
    let mut v = Vec::new();
    if dir.is_dir() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let n = entry.file_name().to_string_lossy().into_owned();
            if n.ends_with(".ckpt") && !n.starts_with('.') {
                v.push((n, std::fs::read(entry.path())?));
            }
        }
    }
    v.sort();
    Ok(v)
}

/// The MNIST round (module docs).
fn mnist_round(root: &Path) -> Result<()> {
    let t0 = Instant::now();
    let reference_out = root.join("mnist-reference");
    let status = reproduce(&reference_out, MNIST, &[])?.status()?;
    ensure!(status.success(), "the reference run failed ({status})");
    let duration = t0.elapsed();
    let reference_dir = reference_out.join(MNIST);
    let reference = std::fs::read(reference_dir.join(files::METRICS))?;
    let reference_ckpts = checkpoints(&reference_dir)?;
    ensure!(
        !reference_ckpts.is_empty(),
        "the reference run wrote no checkpoint"
    );
    let out = root.join("mnist-killed");
    let mut child = reproduce(&out, MNIST, &[])?.spawn()?;
    let pid = child.id();
    let partial = out.join(format!(".{MNIST}.partial-{pid}"));
    let deadline = Instant::now() + duration.mul_f64(3.0) + Duration::from_secs(10);
    let seen = loop {
        let found = checkpoints(&partial).unwrap_or_default();
        if !found.is_empty() {
            let _ = child.kill(); // SIGKILL, at once
            break found;
        }
        if Instant::now() > deadline || child.try_wait()?.is_some() {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "no epoch checkpoint appeared in {} before the run ended",
                partial.display()
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    child.wait()?;
    let killed_at: Vec<String> = seen
        .iter()
        .map(|(n, bytes)| {
            let epoch = plres_resnet::Checkpoint::from_bytes(bytes)
                .ok()
                .and_then(|c| c.metadata.get("epoch").cloned())
                .unwrap_or_else(|| "?".into());
            format!("{n} at epoch {epoch}")
        })
        .collect();
    ensure!(
        !out.join(MNIST).exists(),
        "the run was in place before the kill: not a mid-training kill"
    );
    let status = reproduce(&out, MNIST, &["--resume"])?.status()?;
    ensure!(status.success(), "the resumed run failed ({status})");
    check_clean(&out, MNIST, &reference).context("after resuming")?;
    let dir = out.join(MNIST);
    ensure!(
        checkpoints(&dir)? == reference_ckpts,
        "the resumed run's final checkpoints differ from the uninterrupted run's"
    );
    let log = std::fs::read_to_string(dir.join(files::LOG))?;
    ensure!(
        log.contains("resuming MNIST training from its epoch checkpoint"),
        "the resumed run did not resume from a checkpoint (run.log)"
    );
    println!(
        "MNIST round: {MNIST} --smoke killed with {}; resumed bitwise equal to the \
         uninterrupted run (metrics and {} checkpoints); {:.2} s in all",
        killed_at.join(", "),
        reference_ckpts.len(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
