//! The "tidy" checks (ARCHITECTURE.md, "Dependency rules"):
//!
//! - layering: the workspace's internal dependency edges must be a subset of the allowed
//!   ones. Reads `cargo metadata --no-deps` and compares every edge between workspace
//!   members (normal, dev and build dependencies alike) with [`ALLOWED`];
//! - `unsafe` only in plres-simd: no `.rs` file outside `crates/simd` may contain the
//!   keyword in code ([`unsafe_lines`]; comments and string literals are skipped by a small
//!   Rust lexer, [`code_only`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Every allowed edge `(from, to)` between workspace packages. Anything else fails.
///
/// simd depends on no plres crate and kernels, rff, ode, resnet and the benches may use it
/// (optim's tests too, for the counting allocator); kernels ← rff ← resnet; ode and optim
/// otherwise stand alone; data may use kernels, rff and ode (the teacher flow's features
/// and integrator, the minimum separation); resnet may use kernels, rff, ode, optim and
/// data (whose `Targets` is the one target type); theory may use all of those;
/// experiments uses all; nothing depends on theory or experiments except experiments (on
/// theory), the benches (which measure theory's certificate), xtask (which runs
/// experiments) and `plres` (crates/cli: the estimator API and the command line, beside
/// xtask at the top; nothing depends on it).
pub const ALLOWED: &[(&str, &str)] = &[
    ("plres-kernels", "plres-simd"),
    ("plres-rff", "plres-simd"),
    ("plres-ode", "plres-simd"),
    ("plres-optim", "plres-simd"),
    ("plres-resnet", "plres-simd"),
    ("plres-benches", "plres-simd"),
    ("plres-rff", "plres-kernels"),
    ("plres-resnet", "plres-kernels"),
    ("plres-resnet", "plres-rff"),
    ("plres-resnet", "plres-ode"),
    ("plres-resnet", "plres-optim"),
    ("plres-resnet", "plres-data"),
    ("plres-data", "plres-kernels"),
    ("plres-data", "plres-rff"),
    ("plres-data", "plres-ode"),
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
    ("plres", "plres-kernels"),
    ("plres", "plres-rff"),
    ("plres", "plres-optim"),
    ("plres", "plres-resnet"),
    ("plres", "plres-theory"),
    ("plres", "plres-data"),
    ("plres", "plres-experiments"),
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

/// The only directory (relative to the workspace root) whose Rust files may use `unsafe`.
pub const UNSAFE_HOME: &str = "crates/simd";

/// `src` with every comment and every string, byte-string and character literal replaced
/// by spaces (line breaks kept, so line numbers are preserved). Handles nested block
/// comments, escapes, raw strings (`r#"…"#`, `br"…"`, `cr"…"`) and tells character
/// literals from lifetimes and labels.
pub fn code_only(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    // blank everything in c[from..to] except line breaks
    let blank = |out: &mut String, from: usize, to: usize| {
        for &ch in &c[from..to] {
            out.push(if ch == '\n' { '\n' } else { ' ' });
        }
    };
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        let at = |k: usize| c.get(k).copied();
        // a prefix letter glued to an identifier (`xr"…"` is not a raw string)
        let after_ident = i > 0 && ident(c[i - 1]);
        if c[i] == '/' && at(i + 1) == Some('/') {
            let end = (i..c.len()).find(|&k| c[k] == '\n').unwrap_or(c.len());
            blank(&mut out, i, end);
            i = end;
        } else if c[i] == '/' && at(i + 1) == Some('*') {
            let (mut depth, mut k) = (1, i + 2);
            while k < c.len() && depth > 0 {
                if c[k] == '/' && at(k + 1) == Some('*') {
                    depth += 1;
                    k += 2;
                } else if c[k] == '*' && at(k + 1) == Some('/') {
                    depth -= 1;
                    k += 2;
                } else {
                    k += 1;
                }
            }
            blank(&mut out, i, k);
            i = k;
        } else if !after_ident && let Some(end) = raw_string_end(&c, i) {
            blank(&mut out, i, end);
            i = end;
        } else if c[i] == '"' {
            let mut k = i + 1;
            while k < c.len() && c[k] != '"' {
                k += if c[k] == '\\' { 2 } else { 1 };
            }
            let end = (k + 1).min(c.len());
            blank(&mut out, i, end);
            i = end;
        } else if c[i] == '\'' {
            // `'\…'` and `'x'` are character literals; `'a` (no closing quote right after
            // one character) is a lifetime or a label
            let end = if at(i + 1) == Some('\\') {
                let mut k = i + 2;
                while k < c.len() && c[k] != '\'' {
                    k += if c[k] == '\\' { 2 } else { 1 };
                }
                Some((k + 1).min(c.len()))
            } else if at(i + 2) == Some('\'') {
                Some(i + 3)
            } else {
                None
            };
            match end {
                Some(end) => {
                    blank(&mut out, i, end);
                    i = end;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// If a raw string literal (`r"…"`, `r#"…"#`, `br…`, `cr…`) starts at `i`, the index
/// just past it.
fn raw_string_end(c: &[char], i: usize) -> Option<usize> {
    let mut k = i;
    if matches!(c.get(k), Some('b' | 'c')) {
        k += 1;
    }
    if c.get(k) != Some(&'r') {
        return None;
    }
    k += 1;
    let hashes = c[k..].iter().take_while(|&&ch| ch == '#').count();
    k += hashes;
    if c.get(k) != Some(&'"') {
        return None;
    }
    k += 1;
    while k < c.len() {
        if c[k] == '"' && c[k + 1..].iter().take_while(|&&ch| ch == '#').count() >= hashes {
            return Some(k + 1 + hashes);
        }
        k += 1;
    }
    Some(c.len())
}

/// The 1-based numbers of the lines of `src` whose code (outside comments and literals)
/// contains the keyword `unsafe` (as a whole identifier: `unsafe_code` does not count).
pub fn unsafe_lines(src: &str) -> Vec<usize> {
    const KEYWORD: &str = "unsafe";
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    code_only(src)
        .lines()
        .enumerate()
        .filter(|(_, line)| {
            line.match_indices(KEYWORD).any(|(at, _)| {
                let before = line[..at].chars().next_back();
                let after = line[at + KEYWORD.len()..].chars().next();
                !before.is_some_and(ident) && !after.is_some_and(ident)
            })
        })
        .map(|(n, _)| n + 1)
        .collect()
}

/// Every `.rs` file under `dir`, skipping build output (`target`) and hidden directories.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out)?;
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// `file:line` of every use of `unsafe` in a `.rs` file under `root` outside
/// [`UNSAFE_HOME`].
pub fn unsafe_outside_home(root: &Path) -> Result<Vec<String>> {
    let mut files = Vec::new();
    rust_files(root, &mut files)?;
    files.sort();
    let home = root.join(UNSAFE_HOME);
    let mut found = Vec::new();
    for file in files.iter().filter(|f| !f.starts_with(&home)) {
        let src =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let rel = file.strip_prefix(root).unwrap_or(file);
        found.extend(
            unsafe_lines(&src)
                .into_iter()
                .map(|n| format!("{}:{n}", rel.display())),
        );
    }
    Ok(found)
}

/// Runs both checks on the workspace: no forbidden dependency edge, no `unsafe` outside
/// [`UNSAFE_HOME`].
pub fn check() -> Result<()> {
    check_layering()?;
    let found = unsafe_outside_home(&crate::workspace_root())?;
    if !found.is_empty() {
        bail!(
            "`unsafe` outside {UNSAFE_HOME} (all unsafe code belongs in plres-simd, \
             behind a safe function): {}",
            found.join(", ")
        );
    }
    Ok(())
}

/// Runs `cargo metadata` on the workspace and fails on any forbidden edge.
fn check_layering() -> Result<()> {
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

    /// The real workspace obeys the layering rules and keeps `unsafe` in plres-simd.
    #[test]
    fn workspace_layering_holds() {
        check().unwrap();
    }

    /// The `unsafe` check is not vacuous: a planted `unsafe` block in a file outside
    /// plres-simd is reported with its line, while the same word in comments, strings,
    /// raw strings, char-literal neighbourhoods and longer identifiers is not, and files
    /// inside `crates/simd` are exempt.
    #[test]
    fn unsafe_check_rejects_planted_unsafe() {
        let clean = concat!(
            "#![forbid(unsafe_code)]\n",
            "// an unsafe word in a comment\n",
            "/* nested /* unsafe */ still a comment: unsafe */\n",
            "/// doc: unsafe\n",
            "fn f<'a>(x: &'a str) -> (&'a str, char, &'static str) {\n",
            "    let s = \"unsafe \\\" unsafe\";\n",
            "    let r = r#\"unsafe \" unsafe\"#;\n",
            "    let not_unsafe_ident = 1;\n",
            "    (x, '\\'', s)\n",
            "}\n",
        );
        assert_eq!(unsafe_lines(clean), Vec::<usize>::new());
        let planted = format!(
            "{clean}fn g(p: *const u8) -> u8 {{\n    {} {{ *p }}\n}}\n",
            "unsafe"
        );
        assert_eq!(unsafe_lines(&planted), vec![12]);
        assert_eq!(unsafe_lines("'x'; unsafe impl Send for X {}"), vec![1]);

        let root = std::env::temp_dir().join(format!("plres-tidy-{}", std::process::id()));
        let home = root.join(UNSAFE_HOME).join("src");
        let other = root.join("crates/kernels/src");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(home.join("lib.rs"), &planted).unwrap();
        std::fs::write(other.join("lib.rs"), clean).unwrap();
        assert_eq!(unsafe_outside_home(&root).unwrap(), Vec::<String>::new());
        std::fs::write(other.join("lib.rs"), &planted).unwrap();
        let found = unsafe_outside_home(&root).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(found, vec!["crates/kernels/src/lib.rs:12".to_owned()]);
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
