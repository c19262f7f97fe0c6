//! The layering ("tidy") check: the workspace's internal dependency edges must be a
//! subset of the allowed ones (ARCHITECTURE.md, "Dependency rules").
//!
//! Reads `cargo metadata --no-deps` and compares every edge between workspace members
//! (normal, dev and build dependencies alike) with [`ALLOWED`].

use std::collections::BTreeSet;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Every allowed edge `(from, to)` between workspace packages. Anything else fails.
///
/// kernels ← rff ← resnet; ode and optim stand alone; resnet may use kernels, rff, ode,
/// optim; theory may use all of those; data depends on nothing; experiments uses all;
/// nothing depends on theory or experiments except experiments (on theory), the benches
/// (which measure theory's certificate) and xtask (which runs experiments).
pub const ALLOWED: &[(&str, &str)] = &[
    ("plres-rff", "plres-kernels"),
    ("plres-resnet", "plres-kernels"),
    ("plres-resnet", "plres-rff"),
    ("plres-resnet", "plres-ode"),
    ("plres-resnet", "plres-optim"),
    ("plres-theory", "plres-kernels"),
    ("plres-theory", "plres-rff"),
    ("plres-theory", "plres-ode"),
    ("plres-theory", "plres-optim"),
    ("plres-theory", "plres-resnet"),
    ("plres-experiments", "plres-kernels"),
    ("plres-experiments", "plres-rff"),
    ("plres-experiments", "plres-ode"),
    ("plres-experiments", "plres-optim"),
    ("plres-experiments", "plres-resnet"),
    ("plres-experiments", "plres-theory"),
    ("plres-experiments", "plres-data"),
    ("plres-experiments", "plres-conv"),
    ("plres-conv", "plres-optim"),
    ("plres-conv", "plres-resnet"),
    ("plres-benches", "plres-conv"),
    ("xtask", "plres-conv"),
    ("plres-benches", "plres-kernels"),
    ("plres-benches", "plres-rff"),
    ("plres-benches", "plres-ode"),
    ("plres-benches", "plres-optim"),
    ("plres-benches", "plres-resnet"),
    ("plres-benches", "plres-theory"),
    ("plres-benches", "plres-data"),
    ("xtask", "plres-experiments"),
    ("xtask", "plres-data"),
    ("xtask", "plres-resnet"),
    ("xtask", "plres-rff"),
    ("xtask", "plres-theory"),
];

/// The internal edges `(from, to)` of the workspace described by `cargo metadata` JSON.
pub fn internal_edges(metadata: &serde_json::Value) -> Result<BTreeSet<(String, String)>> {
    let packages = metadata["packages"]
        .as_array()
        .context("metadata has no `packages` array")?;
    let members: BTreeSet<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    let mut edges = BTreeSet::new();
    for p in packages {
        let from = p["name"].as_str().context("package without a name")?;
        for dep in p["dependencies"].as_array().into_iter().flatten() {
            let to = dep["name"].as_str().context("dependency without a name")?;
            if members.contains(to) {
                edges.insert((from.to_owned(), to.to_owned()));
            }
        }
    }
    Ok(edges)
}

/// The edges of `edges` that are not in [`ALLOWED`].
pub fn forbidden(edges: &BTreeSet<(String, String)>) -> Vec<(String, String)> {
    let allowed: BTreeSet<(&str, &str)> = ALLOWED.iter().copied().collect();
    edges
        .iter()
        .filter(|(a, b)| !allowed.contains(&(a.as_str(), b.as_str())))
        .cloned()
        .collect()
}

/// Runs `cargo metadata` on the workspace and fails on any forbidden edge.
pub fn check() -> Result<()> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(crate::workspace_root())
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("parsing cargo metadata output")?;
    let bad = forbidden(&internal_edges(&meta)?);
    if !bad.is_empty() {
        let list: Vec<String> = bad.iter().map(|(a, b)| format!("{a} -> {b}")).collect();
        bail!(
            "forbidden dependency edges (see ARCHITECTURE.md): {}",
            list.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real workspace obeys the layering rules.
    #[test]
    fn workspace_layering_holds() {
        check().unwrap();
    }

    /// The checker is not vacuous: an edge into theory from below is caught, and so is
    /// an upward edge kernels → resnet.
    #[test]
    fn checker_rejects_forbidden_edges() {
        let meta = serde_json::json!({ "packages": [
            { "name": "plres-kernels", "dependencies": [ { "name": "plres-resnet" } ] },
            { "name": "plres-resnet", "dependencies": [ { "name": "plres-theory" }, { "name": "faer" } ] },
            { "name": "plres-theory", "dependencies": [] },
        ]});
        let bad = forbidden(&internal_edges(&meta).unwrap());
        assert_eq!(
            bad,
            vec![
                ("plres-kernels".to_owned(), "plres-resnet".to_owned()),
                ("plres-resnet".to_owned(), "plres-theory".to_owned()),
            ]
        );
    }
}
