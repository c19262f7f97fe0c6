//! What `bench-peer` and `bench-peer --conv` share: building one of `plres-benches`'
//! example timers in the release profile, and running a command whose stdout ends with one
//! JSON object.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use crate::workspace_root;

/// Builds `plres-benches`' example `example` in the release profile; returns the
/// executable's path.
pub(crate) fn build_example(example: &str) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let args = [
        "build",
        "--release",
        "-p",
        "plres-benches",
        "--example",
        example,
        "--message-format=json-render-diagnostics",
    ];
    eprintln!("$ cargo {}", args.join(" "));
    let out = Command::new(cargo)
        .args(args)
        .current_dir(workspace_root())
        .stderr(Stdio::inherit())
        .output()
        .context("starting cargo build")?;
    if !out.status.success() {
        bail!("building {example} failed ({})", out.status);
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == example)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| anyhow!("cargo build reported no {example} executable"))
}

/// Runs a command whose stdout's last `{`-line is one JSON object; stderr passes through.
pub(crate) fn run_json(cmd: &mut Command, what: &str) -> Result<Value> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("starting {what}"))?;
    if !out.status.success() {
        bail!("{what} failed ({})", out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| anyhow!("{what} printed no JSON: {text}"))?;
    serde_json::from_str(line).with_context(|| format!("{what}: bad JSON `{line}`"))
}
