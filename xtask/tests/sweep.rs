//! `cargo xtask sweep` end to end on a built-in experiment (`rff-bound` at smoke size
//! over 3 seeds): the local pool, and the Slurm path without the scheduler — the batch
//! script that `submit` would hand to `sbatch`, run by bash once per array index with
//! `SLURM_ARRAY_TASK_ID` set, calling this binary's `sweep exec` — give byte-identical
//! aggregated reports; an interrupted task is listed by `collect`, rerun alone, and not
//! counted twice. (`ci/slurm-test.sh` runs the same against real Slurm daemons.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("running xtask")
}

fn ok(args: &[&str]) -> String {
    let out = xtask(args);
    assert!(
        out.status.success(),
        "xtask {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

#[test]
fn local_pool_and_batch_script_agree_and_reruns_count_once() {
    let root: PathBuf = std::env::temp_dir().join(format!("xtask-sweep-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let file = root.join("rff.toml");
    std::fs::write(
        &file,
        "name = \"rff-seeds\"\nout = \"unused\"\nexperiment = \"rff-bound\"\nsize = \"smoke\"\n\
         [set]\ndraws = 20\n[grid]\nseeds = 3\n[slurm]\ntime = \"00:05:00\"\nmax_parallel = 2\n",
    )
    .unwrap();
    let (local, array) = (root.join("local"), root.join("array"));

    let plan = ok(&["sweep", "plan", s(&file)]);
    assert!(
        plan.contains("seed-2") && plan.contains("--set draws=20"),
        "{plan}"
    );
    assert!(plan.contains("3 tasks, 3 not done"), "{plan}");

    ok(&[
        "sweep",
        "run",
        s(&file),
        "--local",
        "--jobs",
        "2",
        "--out",
        s(&local),
    ]);
    ok(&["sweep", "collect", s(&local)]);

    let script = ok(&["sweep", "submit", s(&file), "--out", s(&array), "--dry-run"]);
    assert!(script.contains("#SBATCH --array=0-2%2"), "{script}");
    assert!(
        script.contains(env!("CARGO_BIN_EXE_xtask")) && !script.contains("cargo "),
        "{script}"
    );
    let path = root.join("array.sbatch");
    std::fs::write(&path, &script).unwrap();
    let run_array_task = |i: usize| {
        let st = Command::new("bash")
            .arg(&path)
            .env("SLURM_ARRAY_TASK_ID", i.to_string())
            .status()
            .unwrap();
        assert!(st.success(), "array task {i}");
    };
    for i in 0..3 {
        run_array_task(i);
    }
    ok(&["sweep", "collect", s(&array)]);
    let same = |what: &str| {
        for f in ["REPORT.md", "aggregate.json", "aggregate.csv"] {
            let (a, b) = (
                std::fs::read(local.join(f)).unwrap(),
                std::fs::read(array.join(f)).unwrap(),
            );
            assert!(a == b, "{what}: {f} differs");
        }
    };
    same("first collect");
    let md = std::fs::read_to_string(array.join("REPORT.md")).unwrap();
    assert!(md.contains("**Complete: all 3 tasks done.**"), "{md}");
    assert!(md.contains("| `lambda_min_k` | 3 |"), "{md}");

    // seed 1 killed mid-run: its attempt marker and no end marker
    let victim = array.join("tasks").join("seed-1");
    std::fs::remove_file(victim.join("done.json")).unwrap();
    assert!(ok(&["sweep", "status", s(&array)]).contains("interrupted attempts 1  seed-1"));
    let out = xtask(&["sweep", "collect", s(&array)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("INCOMPLETE: 2 of 3 tasks done; not done: seed-1 (interrupted)"),
        "{err}"
    );
    // the resubmitted array is exactly the missing task, and running it completes the sweep
    let script = ok(&["sweep", "submit", s(&file), "--out", s(&array), "--dry-run"]);
    assert!(script.contains("#SBATCH --array=1%2\n"), "{script}");
    for i in 0..3 {
        run_array_task(i); // 0 and 2 are done: `sweep exec` skips them
    }
    let done: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(victim.join("done.json")).unwrap()).unwrap();
    assert_eq!(done["attempt"], 2);
    let first: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(array.join("tasks").join("seed-0").join("done.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(first["attempt"], 1);
    ok(&["sweep", "collect", s(&array)]);
    same("after the rerun");
    std::fs::remove_dir_all(&root).unwrap();
}
