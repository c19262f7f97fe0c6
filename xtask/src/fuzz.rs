//! `cargo xtask fuzz [--short | --inputs N] [--seconds S] [--target NAME…] [--seed S]`:
//! mutation-based fuzzing of every parser and configuration reader, on stable Rust.
//!
//! **Targets** ([`TARGETS`]): IDX files (raw, gzipped, image/label pairs), the labelled CSV
//! and digits readers, the safetensors checkpoints of the linear, SHL and kernel ResNets,
//! the PyTorch peer's problem file, the convolutional models' tensor files, every
//! experiment's configuration (parse + `validate`), the run-folder JSON files
//! (`config.json`, `summary.json`, `checks.json`), optimizer configurations
//! (`SolverConfig`, `Stopping`), the optimizer state and the training checkpoint. A target
//! passes when every input returns — `Ok` or a typed error — without a panic, an abort,
//! running out of its address space, or exceeding its wall-clock limit.
//!
//! **Inputs.** Input `i` of a target is a function of `(seed, target, i)` alone: a file of the
//! seed corpus (`fuzz/corpus/<target>/`, under version control, written by
//! `--write-corpus` from valid files the library itself produces) with 1 to 8 stacked
//! mutations — bit flips, interesting bytes, 16/32/64-bit little- and big-endian integers
//! set to boundary values (0, 1, 2³¹, 2³², 2⁴⁰, `u64::MAX`, …), decimal numbers in text
//! replaced by boundary values (`1e18`, `-1`, `18446744073709551616`, `NaN`, …), insertions,
//! deletions, duplications, truncation, splices with another corpus file. So every failure
//! is reproducible from its index; it is also saved under `fuzz/crashes/<target>/`.
//!
//! **Isolation.** Each target runs in a child process (this binary, `fuzz --worker`) under
//! `ulimit -v` (an address-space limit, [`ADDRESS_SPACE_KIB`]): an allocation the input
//! makes too large fails there instead of swapping the machine, and an abort (failed
//! allocation, stack overflow) kills only the child. The child catches panics
//! (`catch_unwind`) per input and reports each input's index before running it; the parent
//! kills the child when one input exceeds the wall-clock limit, records the input, and
//! restarts the child after it. `--short` (CI) gives every target a few seconds (the round
//! stays under two minutes); `--inputs 100000` is the long round.

use std::io::{BufRead, BufReader, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Address-space limit of a worker: 2 GiB, far above what any valid small input needs.
pub const ADDRESS_SPACE_KIB: u64 = 2 * 1024 * 1024;

/// Wall-clock limit of one input.
pub const INPUT_TIMEOUT: Duration = Duration::from_secs(10);

/// Seconds per target of the `--short` round.
pub const SHORT_SECONDS: f64 = 6.0;

type Run = fn(&[u8], &Path);

/// A fuzz target: its name and what it does with one input (`scratch` is a folder the
/// target may write temporary files into).
pub struct Target {
    /// Name (and corpus folder).
    pub name: &'static str,
    /// Runs one input; must return (any `Result`) and never panic.
    pub run: Run,
}

/// Every target.
pub static TARGETS: &[Target] = &[
    Target {
        name: "idx",
        run: targets::idx,
    },
    Target {
        name: "idx-gz",
        run: targets::idx_gz,
    },
    Target {
        name: "idx-pair",
        run: targets::idx_pair,
    },
    Target {
        name: "csv",
        run: targets::csv,
    },
    Target {
        name: "digits",
        run: targets::digits,
    },
    Target {
        name: "checkpoint-linear",
        run: targets::checkpoint_linear,
    },
    Target {
        name: "checkpoint-shl",
        run: targets::checkpoint_shl,
    },
    Target {
        name: "checkpoint-kernel",
        run: targets::checkpoint_kernel,
    },
    Target {
        name: "peer",
        run: targets::peer,
    },
    Target {
        name: "conv-tensors",
        run: targets::conv_tensors,
    },
    Target {
        name: "experiment-config",
        run: targets::experiment_config,
    },
    Target {
        name: "run-json",
        run: targets::run_json,
    },
    Target {
        name: "optim-config",
        run: targets::optim_config,
    },
    Target {
        name: "optim-state",
        run: targets::optim_state,
    },
    Target {
        name: "training-checkpoint",
        run: targets::training_checkpoint,
    },
];

/// The targets: each drives one reader with the bytes of an input.
mod targets {
    use std::path::Path;

    use plres_data::IdxKind;
    use plres_resnet::{Checkpoint, KernelResNet, LinearResNet, ShlResNet, TrainingCheckpoint};

    fn write(scratch: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = scratch.join(name);
        std::fs::write(&p, bytes).expect("the scratch folder is writable");
        p
    }

    pub fn idx(b: &[u8], _: &Path) {
        for kind in [IdxKind::Images, IdxKind::Labels, IdxKind::AnyU8] {
            let _ = plres_data::parse_idx(b, Path::new("fuzz.idx"), kind);
        }
    }

    pub fn idx_gz(b: &[u8], scratch: &Path) {
        let p = write(scratch, "fuzz.idx.gz", b);
        let _ = plres_data::read_idx(&p, IdxKind::Images);
    }

    /// The first 4 bytes (little-endian) split the input into the image and label files.
    pub fn idx_pair(b: &[u8], scratch: &Path) {
        if b.len() < 4 {
            return;
        }
        let cut = (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize).min(b.len() - 4);
        let img = write(scratch, "images.idx", &b[4..4 + cut]);
        let lab = write(scratch, "labels.idx", &b[4 + cut..]);
        let _ = plres_data::load_idx_pair(&img, &lab, 10);
    }

    pub fn csv(b: &[u8], _: &Path) {
        let _ = plres_data::parse_labelled_csv(b, Path::new("fuzz.csv"), 4, 3);
    }

    pub fn digits(b: &[u8], scratch: &Path) {
        let p = write(scratch, "digits.csv", b);
        let _ = plres_data::load_digits_from_path(&p);
    }

    pub fn checkpoint_linear(b: &[u8], _: &Path) {
        if let Ok(c) = Checkpoint::from_bytes(b) {
            let _ = LinearResNet::from_checkpoint(&c);
        }
    }

    pub fn checkpoint_shl(b: &[u8], _: &Path) {
        if let Ok(c) = Checkpoint::from_bytes(b) {
            let _ = ShlResNet::from_checkpoint(&c);
        }
    }

    pub fn checkpoint_kernel(b: &[u8], _: &Path) {
        if let Ok(c) = Checkpoint::from_bytes(b) {
            let _ = KernelResNet::from_checkpoint(&c);
        }
    }

    pub fn peer(b: &[u8], _: &Path) {
        let _ = plres_benches::peer::PeerProblem::from_bytes(b, plres_kernels_spec());
    }

    fn plres_kernels_spec() -> plres_kernels::KernelSpec {
        plres_kernels::KernelSpec::Gaussian { sigma: 1.0 }
    }

    pub fn conv_tensors(b: &[u8], scratch: &Path) {
        let p = write(scratch, "conv.safetensors", b);
        let _ = plres_conv::peer::TensorFile::read(&p);
    }

    /// The first byte picks the experiment, the rest is its JSON configuration.
    pub fn experiment_config(b: &[u8], _: &Path) {
        let Some((&which, json)) = b.split_first() else {
            return;
        };
        let experiments = plres_experiments::registry::registry();
        let e = experiments[which as usize % experiments.len()];
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(json) {
            let _ = e.check_json(&v);
        }
    }

    pub fn run_json(b: &[u8], _: &Path) {
        use plres_experiments::run::{RunConfig, RunSummary};
        let _ = serde_json::from_slice::<RunConfig>(b);
        let _ = serde_json::from_slice::<RunSummary>(b);
        let _ = serde_json::from_slice::<Vec<plres_experiments::CheckReport>>(b);
    }

    pub fn optim_config(b: &[u8], _: &Path) {
        if let Ok(c) = serde_json::from_slice::<plres_optim::SolverConfig>(b) {
            let _ = c.build();
        }
        if let Ok(s) = serde_json::from_slice::<plres_optim::Stopping>(b) {
            let _ = s.validate();
        }
    }

    pub fn optim_state(b: &[u8], _: &Path) {
        if let Ok(s) = plres_optim::State::from_bytes(b) {
            // what parses re-serialises to itself
            assert!(s.to_bytes() == b, "State bytes do not round-trip");
        }
    }

    pub fn training_checkpoint(b: &[u8], _: &Path) {
        if let Ok(c) = TrainingCheckpoint::from_bytes(b) {
            let _ = LinearResNet::from_checkpoint(&c.model);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Deterministic mutation.

/// SplitMix64: a tiny seeded generator (inputs are a function of the seed and index).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

const INTERESTING: &[u64] = &[
    0,
    1,
    2,
    7,
    8,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    1 << 32,
    1 << 40,
    1 << 53,
    i64::MAX as u64,
    u64::MAX,
];

const INTERESTING_TEXT: &[&str] = &[
    "0",
    "-1",
    "1e18",
    "1e308",
    "-1e308",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "1099511627776",
    "NaN",
    "inf",
    "1e-320",
    "0.5",
    "\"\"",
    "null",
    "[]",
    "{}",
];

/// Input `index` of a target: a corpus file with stacked mutations.
pub fn generate(corpus: &[Vec<u8>], seed: u64, target: &str, index: u64) -> Vec<u8> {
    let mut rng = Rng(seed ^ fnv(target) ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut b = if corpus.is_empty() {
        Vec::new()
    } else {
        corpus[rng.below(corpus.len())].clone()
    };
    let n = 1 + rng.below(8);
    for _ in 0..n {
        mutate(&mut b, corpus, &mut rng);
    }
    b
}

fn mutate(b: &mut Vec<u8>, corpus: &[Vec<u8>], rng: &mut Rng) {
    let len = b.len();
    match rng.below(12) {
        0 if len > 0 => {
            let i = rng.below(len);
            b[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            b[i] = [
                0u8, 1, 0x7f, 0x80, 0xff, b'0', b'9', b'-', b',', b'\n', b'"',
            ][rng.below(11)];
        }
        2 | 3 if len > 0 => {
            // an integer of 2, 4 or 8 bytes, either endianness, set to a boundary value
            let v = INTERESTING[rng.below(INTERESTING.len())];
            let width = [2usize, 4, 8][rng.below(3)];
            let bytes = if rng.below(2) == 0 {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            };
            let bytes = if rng.below(2) == 0 {
                &bytes[..width]
            } else {
                &bytes[8 - width..]
            };
            let at = rng.below(len);
            for (k, &x) in bytes.iter().enumerate() {
                if at + k < len {
                    b[at + k] = x;
                }
            }
        }
        4 => {
            // a decimal number in text replaced by a boundary value
            let digits: Vec<usize> = (0..len).filter(|&i| b[i].is_ascii_digit()).collect();
            if let Some(&start) = digits.get(rng.below(digits.len().max(1))) {
                let mut end = start;
                while end < len && (b[end].is_ascii_digit() || b"+-.eE".contains(&b[end])) {
                    end += 1;
                }
                let mut s = start;
                while s > 0 && (b[s - 1].is_ascii_digit() || b[s - 1] == b'-' || b[s - 1] == b'.') {
                    s -= 1;
                }
                let rep = INTERESTING_TEXT[rng.below(INTERESTING_TEXT.len())].as_bytes();
                b.splice(s..end, rep.iter().copied());
            }
        }
        5 => {
            let at = rng.below(len + 1);
            let k = 1 + rng.below(16);
            let fill: Vec<u8> = (0..k).map(|_| rng.next() as u8).collect();
            b.splice(at..at, fill);
        }
        6 if len > 0 => {
            let at = rng.below(len);
            let k = (1 + rng.below(32)).min(len - at);
            b.drain(at..at + k);
        }
        7 if len > 0 => {
            // duplicate a chunk
            let at = rng.below(len);
            let k = (1 + rng.below(64)).min(len - at);
            let chunk: Vec<u8> = b[at..at + k].to_vec();
            let to = rng.below(len + 1);
            b.splice(to..to, chunk);
        }
        8 if len > 0 => b.truncate(rng.below(len)),
        9 if !corpus.is_empty() => {
            // splice: our head, another file's tail
            let other = &corpus[rng.below(corpus.len())];
            let cut = rng.below(len + 1);
            let from = rng.below(other.len() + 1);
            b.truncate(cut);
            b.extend_from_slice(&other[from..]);
        }
        10 if len > 0 => {
            // an 8-byte float set to a special value
            let v: f64 = [
                f64::NAN,
                f64::INFINITY,
                -0.0,
                1e308,
                f64::MIN_POSITIVE,
                5e-324,
            ][rng.below(6)];
            let at = rng.below(len);
            for (k, &x) in v.to_le_bytes().iter().enumerate() {
                if at + k < len {
                    b[at + k] = x;
                }
            }
        }
        _ => {
            // repeat a byte run (long lines, deep nesting)
            let at = rng.below(len + 1);
            let byte = if len > 0 { b[rng.below(len)] } else { b'[' };
            let k = 1 + rng.below(512);
            b.splice(at..at, std::iter::repeat_n(byte, k));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Command line.

/// The parsed command line.
#[derive(Clone, Debug, PartialEq)]
pub struct Args {
    /// Targets (all when empty).
    pub targets: Vec<String>,
    /// Inputs per target (unbounded when `None`: the time budget decides).
    pub inputs: Option<u64>,
    /// Seconds per target (unbounded when `None`).
    pub seconds: Option<f64>,
    /// Base seed.
    pub seed: u64,
    /// Write the seed corpus and exit.
    pub write_corpus: bool,
    /// Internal: run as the worker of one target.
    pub worker: Option<(String, u64)>,
    /// Internal: run one saved input of a target in this process.
    pub replay: Option<PathBuf>,
}

/// The usage text.
pub fn usage() -> &'static str {
    "usage: cargo xtask fuzz [--short | --inputs N] [--seconds S] [--seed S] [--target NAME]… [--replay FILE] [--write-corpus]

Mutation-based fuzzing of every parser and config reader; fails on any panic, abort, hang.
  --short          a few seconds per target (the CI round, under two minutes)
  --inputs N       N inputs per target (the long round: --inputs 100000)
  --seconds S      at most S seconds per target
  --seed S         base seed (default 0); input i of a target depends only on (seed, i)
  --target NAME    only this target (repeatable); --list names them
  --replay FILE    run one input (e.g. from fuzz/crashes/) of the --target in-process
  --write-corpus   regenerate fuzz/corpus/ from the library's own valid files"
}

/// Parses the arguments after `fuzz`.
pub fn parse(args: &[String]) -> Result<Args> {
    let mut a = Args {
        targets: Vec::new(),
        inputs: None,
        seconds: None,
        seed: 0,
        write_corpus: false,
        worker: None,
        replay: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| crate::flag_value(&mut it, flag, usage());
        let num = |flag: &str, v: String| -> Result<u64> {
            v.parse()
                .with_context(|| format!("{flag} expects a non-negative integer, got `{v}`"))
        };
        match arg.as_str() {
            "--short" => a.seconds = Some(SHORT_SECONDS),
            "--inputs" => a.inputs = Some(num("--inputs", value("--inputs")?)?),
            "--seconds" => {
                let v = value("--seconds")?;
                let s: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0 && s.is_finite())
                    .with_context(|| format!("--seconds expects a positive number, got `{v}`"))?;
                a.seconds = Some(s);
            }
            "--seed" => a.seed = num("--seed", value("--seed")?)?,
            "--target" => a.targets.push(value("--target")?),
            "--write-corpus" => a.write_corpus = true,
            "--replay" => a.replay = Some(PathBuf::from(value("--replay")?)),
            "--worker" => {
                let t = value("--worker")?;
                let start = num("--worker", value("--worker")?)?;
                a.worker = Some((t, start));
            }
            "--list" => {
                for t in TARGETS {
                    println!("{}", t.name);
                }
                std::process::exit(0);
            }
            "-h" | "--help" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            other => bail!("unknown fuzz option `{other}`\n{}", usage()),
        }
    }
    for t in &a.targets {
        find(t)?;
    }
    Ok(a)
}

fn find(name: &str) -> Result<&'static Target> {
    TARGETS.iter().find(|t| t.name == name).with_context(|| {
        let known: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
        format!("unknown fuzz target `{name}` (known: {})", known.join(", "))
    })
}

fn corpus_dir(target: &str) -> PathBuf {
    crate::workspace_root().join("fuzz/corpus").join(target)
}

/// The corpus files of `target`, sorted by name.
pub fn load_corpus(target: &str) -> Result<Vec<Vec<u8>>> {
    let dir = corpus_dir(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| {
            format!(
                "reading the corpus {} (cargo xtask fuzz --write-corpus)",
                dir.display()
            )
        })?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("listing {}", dir.display()))?;
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
        .collect()
}

/// Runs `cargo xtask fuzz`.
pub fn main(args: &[String]) -> Result<()> {
    let a = parse(args)?;
    if a.write_corpus {
        return corpus::write_all();
    }
    if let Some((target, start)) = &a.worker {
        return worker(find(target)?, a.seed, *start, a.inputs);
    }
    if let Some(file) = &a.replay {
        let [name] = a.targets.as_slice() else {
            bail!("--replay needs exactly one --target");
        };
        let t = find(name)?;
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let scratch = scratch_dir()?;
        (t.run)(&bytes, &scratch);
        println!("{}: the input returned", t.name);
        return Ok(());
    }
    if a.inputs.is_none() && a.seconds.is_none() {
        bail!("give --short, --inputs N or --seconds S\n{}", usage());
    }
    let selected: Vec<&Target> = if a.targets.is_empty() {
        TARGETS.iter().collect()
    } else {
        a.targets.iter().map(|t| find(t)).collect::<Result<_>>()?
    };
    let mut failures = Vec::new();
    let start = Instant::now();
    println!(
        "{:<22} {:>9} {:>9} {:>11}  failures",
        "target", "inputs", "seconds", "inputs/s"
    );
    for t in selected {
        let r = fuzz_target(t, &a)?;
        println!(
            "{:<22} {:>9} {:>9.1} {:>11.0}  {}",
            t.name,
            r.inputs,
            r.seconds,
            r.inputs as f64 / r.seconds.max(1e-9),
            r.failures.len()
        );
        for f in &r.failures {
            println!("    {f}");
        }
        failures.extend(r.failures.into_iter().map(|f| format!("{}: {f}", t.name)));
    }
    println!("total {:.1} s", start.elapsed().as_secs_f64());
    if !failures.is_empty() {
        bail!(
            "{} fuzz failure(s): {}",
            failures.len(),
            failures.join("; ")
        );
    }
    Ok(())
}

fn scratch_dir() -> Result<PathBuf> {
    let d = std::env::temp_dir().join(format!("plres-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    Ok(d)
}

/// The worker: runs inputs `start, start + 1, …` (at most `count`), printing each index
/// before running it and `P <index> <message>` after a panic.
fn worker(t: &Target, seed: u64, start: u64, count: Option<u64>) -> Result<()> {
    let corpus = load_corpus(t.name)?;
    let scratch = scratch_dir()?;
    let message: Arc<Mutex<String>> = Arc::default();
    let m2 = Arc::clone(&message);
    std::panic::set_hook(Box::new(move |info| {
        let loc = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        if let Ok(mut m) = m2.lock() {
            *m = format!("{payload}{loc}");
        }
    }));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let end = count.map_or(u64::MAX, |c| start.saturating_add(c));
    for i in start..end {
        let input = generate(&corpus, seed, t.name, i);
        writeln!(out, "{i}")?;
        out.flush()?;
        if catch_unwind(AssertUnwindSafe(|| (t.run)(&input, &scratch))).is_err() {
            let msg = message
                .lock()
                .map(|m| m.replace('\n', " "))
                .unwrap_or_default();
            writeln!(out, "P {i} {msg}")?;
            out.flush()?;
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// Removes a worker's scratch folder when dropped.
struct ScratchGuard(PathBuf);

impl Drop for ScratchGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What fuzzing one target found.
struct TargetResult {
    inputs: u64,
    seconds: f64,
    failures: Vec<String>,
}

/// Runs the worker of `t` under the limits until the input or time budget is spent,
/// restarting it after an abort or a hang.
fn fuzz_target(t: &Target, a: &Args) -> Result<TargetResult> {
    let corpus = load_corpus(t.name)?;
    if corpus.is_empty() {
        bail!("the corpus of {} is empty", t.name);
    }
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let start = Instant::now();
    let budget = a.seconds.map(Duration::from_secs_f64);
    let mut next = 0u64;
    let mut failures = Vec::new();
    let total = a.inputs;
    'restart: while total.is_none_or(|n| next < n) && budget.is_none_or(|b| start.elapsed() < b) {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "ulimit -v {ADDRESS_SPACE_KIB} && exec \"$0\" \"$@\""
            ))
            .arg(&exe)
            .args(["fuzz", "--worker", t.name, &next.to_string(), "--seed"])
            .arg(a.seed.to_string())
            .env("MALLOC_ARENA_MAX", "2")
            .env("RAYON_NUM_THREADS", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(n) = total {
            cmd.args(["--inputs", &(n - next).to_string()]);
        }
        let mut child = cmd.spawn().context("starting a fuzz worker")?;
        // the worker's scratch folder (`scratch_dir` in the worker), removed whenever the
        // worker ends, also when it was killed
        let _scratch =
            ScratchGuard(std::env::temp_dir().join(format!("plres-fuzz-{}", child.id())));
        let (tx, rx) = mpsc::channel::<String>();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = child.stderr.take().expect("piped stderr");
        let err_text: Arc<Mutex<String>> = Arc::default();
        let e2 = Arc::clone(&err_text);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(mut e) = e2.lock()
                    && e.len() < 4000
                {
                    e.push_str(&line);
                    e.push(' ');
                }
            }
        });
        let mut current: Option<u64> = None;
        let mut since = Instant::now();
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("P ") {
                        let (i, msg) = rest.split_once(' ').unwrap_or((rest, ""));
                        let i: u64 = i.parse().unwrap_or(0);
                        failures.push(save(t.name, a.seed, i, "panic", &corpus, msg)?);
                    } else if let Ok(i) = line.parse::<u64>() {
                        current = Some(i);
                        next = i + 1;
                        since = Instant::now();
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // the worker ended: normally (budget of inputs spent) or by a signal
                    let status = child.wait().context("waiting for a fuzz worker")?;
                    if !status.success() {
                        let i = current.unwrap_or(next);
                        let why = format!(
                            "worker died ({status}) {}",
                            err_text.lock().map(|e| e.clone()).unwrap_or_default()
                        );
                        failures.push(save(t.name, a.seed, i, "abort", &corpus, &why)?);
                        next = i + 1;
                        continue 'restart;
                    }
                    break 'restart;
                }
            }
            let out_of_time = budget.is_some_and(|b| start.elapsed() >= b);
            if since.elapsed() > INPUT_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                let i = current.unwrap_or(next);
                failures.push(save(
                    t.name,
                    a.seed,
                    i,
                    "hang",
                    &corpus,
                    &format!("no return within {} s", INPUT_TIMEOUT.as_secs()),
                )?);
                next = i + 1;
                continue 'restart;
            }
            if out_of_time {
                let _ = child.kill();
                let _ = child.wait();
                // the input running when the budget ended is not counted
                next = current.unwrap_or(next);
                break 'restart;
            }
        }
    }
    Ok(TargetResult {
        inputs: next,
        seconds: start.elapsed().as_secs_f64(),
        failures,
    })
}

/// Saves input `i` (regenerated) under `fuzz/crashes/<target>/` and describes the failure.
fn save(
    target: &str,
    seed: u64,
    i: u64,
    kind: &str,
    corpus: &[Vec<u8>],
    why: &str,
) -> Result<String> {
    let dir = crate::workspace_root().join("fuzz/crashes").join(target);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{kind}-seed{seed}-{i}.bin"));
    std::fs::write(&path, generate(corpus, seed, target, i))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(format!(
        "{kind} on input {i}: {why} (saved {}; replay: cargo xtask fuzz --target {target} --replay {})",
        path.display(),
        path.display()
    ))
}

/// The seed corpus: small valid files produced by the library itself.
mod corpus {
    use std::path::Path;
    use std::sync::Arc;

    use anyhow::{Context, Result};
    use faer::Mat;
    use plres_data::{IdxArray, write_idx};
    use plres_optim::{AdamConfig, Minibatch, Problem, ProblemError, State, Stopping};
    use plres_resnet::{
        Checkpoint, KernelResNet, LinearResNet, LinearResNetConfig, ShlResNet, ShlResNetConfig,
        Trainable, TrainingCheckpoint,
    };
    use rand::SeedableRng;

    use super::corpus_dir;

    fn put(target: &str, name: &str, bytes: &[u8]) -> Result<()> {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(dir.join(name), bytes).with_context(|| format!("writing {name}"))
    }

    /// [`put`] of a value as compact JSON (a macro: xtask names no `Serialize` bound).
    macro_rules! put_json {
        ($target:expr, $name:expr, $value:expr) => {
            put($target, $name, serde_json::to_string($value)?.as_bytes())
        };
    }

    fn idx_bytes(a: &IdxArray, gzip: bool) -> Result<Vec<u8>> {
        let p = std::env::temp_dir().join(format!("plres-corpus-{}.idx", std::process::id()));
        write_idx(&p, a, gzip)?;
        let b = std::fs::read(&p)?;
        std::fs::remove_file(&p)?;
        Ok(b)
    }

    /// A least-squares problem for the optimizer-state corpus.
    struct Ls;
    impl Problem for Ls {
        fn n_params(&self) -> usize {
            3
        }
        fn loss_and_gradient(&mut self, p: &[f64], g: &mut [f64]) -> Result<f64, ProblemError> {
            let mut l = 0.0;
            for i in 0..3 {
                g[i] = p[i] - i as f64;
                l += 0.5 * g[i] * g[i];
            }
            Ok(l)
        }
        fn n_samples(&self) -> Option<usize> {
            Some(5)
        }
        fn minibatch_loss_and_gradient(
            &mut self,
            p: &[f64],
            _: &[usize],
            g: &mut [f64],
        ) -> Result<f64, ProblemError> {
            self.loss_and_gradient(p, g)
        }
    }

    pub fn write_all() -> Result<()> {
        let root = crate::workspace_root().join("fuzz/corpus");
        if root.exists() {
            std::fs::remove_dir_all(&root)
                .with_context(|| format!("removing {}", root.display()))?;
        }
        // IDX: 3 images of 2 × 2 and their labels
        let images = IdxArray {
            dims: vec![3, 2, 2],
            data: (0..12).map(|v| v as u8 * 20).collect(),
        };
        let labels = IdxArray {
            dims: vec![3],
            data: vec![1, 0, 9],
        };
        let (ib, lb) = (idx_bytes(&images, false)?, idx_bytes(&labels, false)?);
        put("idx", "images.idx", &ib)?;
        put("idx", "labels.idx", &lb)?;
        put("idx-gz", "images.idx.gz", &idx_bytes(&images, true)?)?;
        put("idx-gz", "labels.idx.gz", &idx_bytes(&labels, true)?)?;
        let mut pair = (ib.len() as u32).to_le_bytes().to_vec();
        pair.extend_from_slice(&ib);
        pair.extend_from_slice(&lb);
        put("idx-pair", "pair.bin", &pair)?;
        // CSV: 4 features and a label in 0..3; digits: 64 features, label in 0..10
        put(
            "csv",
            "small.csv",
            b"0.5,1,2,-3,0\n1e-3,2.5,0,7,2\r\n\n4,4,4,4,1.0\n",
        )?;
        let digits: String = (0..3)
            .map(|r| {
                let f: Vec<String> = (0..64).map(|j| ((j * 7 + r) % 17).to_string()).collect();
                format!("{},{}\n", f.join(","), r * 3)
            })
            .collect();
        put("digits", "digits.csv", digits.as_bytes())?;
        // checkpoints of each model (small)
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let phi = plres_rff::RandomFourierFeatures::sample(
            &plres_kernels::KernelSpec::Gaussian { sigma: 1.0 },
            2,
            4,
            plres_rff::FourierVariant::CosineWithPhase,
            &mut rng,
        )?;
        let net = LinearResNet::new(
            Arc::new(phi),
            LinearResNetConfig {
                depth: 2,
                ..Default::default()
            },
        )?;
        let lin = net.to_checkpoint()?;
        put("checkpoint-linear", "euler.safetensors", &lin.to_bytes()?)?;
        let relu = plres_rff::RandomReluFeatures::sample(2, 3, &mut rng)?;
        let rk4 = LinearResNet::new(
            Arc::new(relu),
            LinearResNetConfig {
                depth: 2,
                integrator: plres_resnet::Integrator::Rk4,
                ..Default::default()
            },
        )?;
        put(
            "checkpoint-linear",
            "rk4-relu.safetensors",
            &rk4.to_checkpoint()?.to_bytes()?,
        )?;
        let shl = ShlResNet::new(ShlResNetConfig {
            dim: 2,
            width: 3,
            depth: 2,
            ..Default::default()
        })?;
        put(
            "checkpoint-shl",
            "shl.safetensors",
            &shl.to_checkpoint().to_bytes()?,
        )?;
        let mut k = KernelResNet::new(plres_kernels::KernelSpec::Gaussian { sigma: 1.0 }, 2, 2)?;
        let x = Mat::from_fn(3, 2, |i, j| (i + 2 * j) as f64 * 0.3);
        let y = Mat::from_fn(3, 2, |i, j| (i * j) as f64 * 0.2);
        k.gd_step(
            x.as_ref(),
            plres_resnet::TargetsRef::Regression(y.as_ref()),
            0.5,
        )?;
        put(
            "checkpoint-kernel",
            "kernel.safetensors",
            &k.to_checkpoint().to_bytes()?,
        )?;
        // the peer's problem file
        let mut peer = Checkpoint::new();
        let (p, d) = (4, 2);
        let omega: Vec<f64> = (0..p * d).map(|i| (i as f64 - 3.0) * 0.4).collect();
        peer.insert("features.omega", vec![p, d], omega);
        peer.insert("features.bias", vec![p], vec![0.1, 0.2, 0.3, 0.4]);
        peer.insert("residual.u", vec![2, d, p], vec![0.01; 2 * d * p]);
        peer.insert("data.x", vec![3, d], vec![0.5, -0.5, 1.0, 0.0, 0.2, 0.3]);
        peer.insert("data.y", vec![3, d], vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
        put("peer", "peer.safetensors", &peer.to_bytes()?)?;
        put("conv-tensors", "tensors.safetensors", &peer.to_bytes()?)?;
        // experiment configurations: every experiment at every size
        for (i, e) in plres_experiments::registry::registry().iter().enumerate() {
            for size in [
                plres_experiments::Size::Smoke,
                plres_experiments::Size::Default,
                plres_experiments::Size::Full,
            ] {
                let mut b = vec![i as u8];
                b.extend_from_slice(serde_json::to_string(&e.default_config(size))?.as_bytes());
                put(
                    "experiment-config",
                    &format!("{}-{size}.json", e.name()),
                    &b,
                )?;
            }
        }
        // run-folder JSON
        let rc = plres_experiments::run::RunConfig {
            experiment: "width".into(),
            size: plres_experiments::Size::Smoke,
            seed: 3,
            plres_version: "0.1.0".into(),
            config: serde_json::json!({"widths": [8, 16], "depth": 4}),
        };
        put_json!("run-json", "config.json", &rc)?;
        let summary = plres_experiments::run::RunSummary {
            experiment: "width".into(),
            wall_time_s: 1.5,
            checks_total: 2,
            checks_holding: 1,
            checks_vacuous: 1,
            figures: vec![plres_experiments::run::FigureEntry {
                stem: "loss".into(),
                caption: "Loss.".into(),
            }],
            tables: vec!["widths.csv".into()],
            values: serde_json::Map::from_iter([("slope".to_owned(), serde_json::json!(-0.5))]),
        };
        put_json!("run-json", "summary.json", &summary)?;
        let checks = vec![plres_experiments::CheckReport::new(
            "claim",
            "source",
            0.5,
            1.0,
            1e-12,
            plres_experiments::Relation::AtMost,
        )];
        put_json!("run-json", "checks.json", &checks)?;
        // optimizer configurations
        let adam = plres_optim::SolverConfig::Adam(
            AdamConfig::adamw(0.01, 0.1)
                .with_minibatch(Minibatch::new(4, 2))
                .with_schedule(plres_optim::Schedule::cosine(10, 0.0).with_warmup(0.1, 3)),
        );
        put_json!("optim-config", "adamw.json", &adam)?;
        let gd = plres_optim::SolverConfig::GradientDescent(
            plres_optim::GradientDescentConfig::new(0.5)
                .with_metric(plres_optim::Metric::l2_layers(2, 3, 0.5)?)
                .with_schedule(plres_optim::Schedule::multi_step(vec![2, 5], 0.5)),
        );
        put_json!("optim-config", "gd.json", &gd)?;
        let stop = Stopping::iterations(100).max_epochs(3).loss_below(1e-9);
        put_json!("optim-config", "stopping.json", &stop)?;
        // optimizer states and a training checkpoint
        let solver = AdamConfig::adam(0.1)
            .with_minibatch(Minibatch::new(2, 1))
            .build()?;
        let out = plres_optim::run(
            &mut Ls,
            &solver,
            State::new(vec![1.0, -1.0, 0.5]),
            &Stopping::iterations(4),
            &mut [],
        )?;
        put("optim-state", "adam-minibatch.bin", &out.state.to_bytes())?;
        put(
            "optim-state",
            "fresh.bin",
            &State::new(vec![0.25, 2.0]).to_bytes(),
        )?;
        let ck = TrainingCheckpoint {
            model: lin,
            state: State::new(net.params().to_vec()),
        };
        put("training-checkpoint", "linear.ckpt", &ck.to_bytes()?)?;
        println!(
            "wrote the corpus under {}",
            Path::new("fuzz/corpus").display()
        );
        Ok(())
    }
}
