//! `cargo xtask`: the project's developer tasks.
//!
//! - `cargo xtask ci`: what `.ci/run` runs, cheapest first (fmt, clippy, tests).
//! - `cargo xtask tidy`: the layering check (ARCHITECTURE.md, dependency rules).
//! - `cargo xtask reproduce`: runs the study's experiments and writes `results/REPORT.md`
//!   (see [`reproduce`]).
//! - `cargo xtask sweep plan|run --local [--jobs J]|submit|status|collect SWEEP`: grids of
//!   experiments over seeds, locally or as a Slurm job array (see [`sweep`]).
//! - `cargo xtask fuzz --short | --inputs N`: mutation-based fuzzing of every parser and
//!   config reader in child processes with address-space and time limits (see [`fuzz`]).
//! - `cargo xtask kill-test`: SIGKILLs `reproduce --smoke` at seeded moments and checks the
//!   run folder, `REPORT.md` and the resumed run (see [`kill_test`]).
//! - `cargo xtask bench-peer --conv [--python PATH]`: one SGD epoch of the convolutional
//!   ResNet (plres-conv, f64 and f32) beside PyTorch (`benches/peer/conv_peer.py`).
//! - `cargo xtask bench-peer [--python PATH]`: the training-step timer beside the
//!   project's own PyTorch script (see `benches/README.md`).

#![forbid(unsafe_code)]

mod bench_conv;
mod bench_peer;
mod fuzz;
mod kill_test;
mod peer_run;
mod reproduce;
mod sweep;
mod tidy;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

/// The workspace root (the parent of this crate's manifest directory).
pub(crate) fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn cargo(args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(cargo)
        .args(args)
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("starting cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// The test command README.md shows, as cargo arguments.
pub(crate) const TEST_ARGS: &[&str] = &["test", "--workspace", "--all-targets"];

fn ci() -> Result<()> {
    cargo(&["fmt", "--all", "--", "--check"])?;
    tidy::check()?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    cargo(TEST_ARGS)?;
    cargo(&["test", "--workspace", "--doc"])?;
    Ok(())
}

/// The value after `flag` (`--flag VALUE`) taken from `it`, or an error naming the flag
/// followed by the subcommand's `usage`.
fn flag_value(it: &mut std::slice::Iter<'_, String>, flag: &str, usage: &str) -> Result<String> {
    it.next()
        .cloned()
        .with_context(|| format!("{flag} needs a value\n{usage}"))
}

fn usage() -> &'static str {
    "usage: cargo xtask <command>\n\ncommands:\n  ci     fmt, tidy, clippy -D warnings, tests (what .ci/run runs)\n  tidy   check the crate layering rules\n  reproduce [NAME…] [--smoke | --full] [--out DIR] [--seed S] [--force] [--resume] [--set KEY=VALUE]\n         run the experiments, write results/REPORT.md (--help for more)\n  sweep plan|run --local [--jobs J]|submit|status|collect SWEEP\n         experiment grids over seeds, locally or on Slurm (sweep --help)\n  fuzz --short | --inputs N [--target NAME]\n         fuzz every parser and config reader (--help for more)\n  kill-test [NAME] [--rounds K]\n         SIGKILL reproduce --smoke at random moments, check folder, report, resume\n  bench-peer [--python PATH]\n         time the training step (beside PyTorch given a Python with torch)\n  bench-peer --conv [--python PATH]\n         time one epoch of the convolutional ResNet (f64, f32) beside PyTorch"
}

/// The command-line arguments after the program name as UTF-8 strings, or an error naming
/// the first argument (1-based) that is not valid UTF-8 and showing it lossily
/// (`std::env::args` would panic on it).
fn utf8_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Vec<String>> {
    args.into_iter()
        .enumerate()
        .map(|(i, a)| {
            a.into_string().map_err(|a| {
                anyhow::anyhow!(
                    "argument {} ({:?}) is not valid UTF-8",
                    i + 1,
                    a.to_string_lossy()
                )
            })
        })
        .collect()
}

fn main() -> ExitCode {
    let result = utf8_args(std::env::args_os().skip(1)).and_then(|args| run(&args));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("tidy") => tidy::check(),
        Some("bench-peer") => bench_peer::run(&args[1..]),
        Some("reproduce") => reproduce::main(&args[1..]),
        Some("sweep") => sweep::main(&args[1..]),
        Some("fuzz") => fuzz::main(&args[1..]),
        Some("kill-test") => kill_test::main(&args[1..]),
        Some("-h" | "--help") | None => {
            println!("{}", usage());
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("unknown command `{other}`\n{}", usage())),
    }
}
