//! A sweep end to end through the local pool, with tasks that are plain shell commands
//! (fast; the built-in experiments run through `cargo xtask sweep` in xtask's tests and in
//! `ci/slurm-test.sh`): aggregation against closed forms, a failed task rerun exactly
//! once, an interrupted task rerun, completed tasks never rerun, the batch script's tasks
//! giving the same report as the pool's.

use std::path::{Path, PathBuf};
use std::process::Command;

use plres_sweep::collect::{Group, collect, write};
use plres_sweep::exec::{Ran, run_local, run_task};
use plres_sweep::plan::files;
use plres_sweep::slurm::batch_script;
use plres_sweep::state::{TaskState, files as markers, pending, read_state, states};
use plres_sweep::stats::MeanInterval;
use plres_sweep::{Plan, Sweep};
use plres_theory::stats::student_t_quantile;
use serde_json::{Value, json};

fn temp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("plres-sweep-it-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A task that writes `summary.json` with `x = seed · scale` (null, i.e. diverged, for
/// seed 4 when `scale` is 3), one holding check, and fails on its first attempt when
/// the file `fail-once-SEED-SCALE` exists in the sweep folder's parent (removing it).
const SCRIPT: &str = r#"
set -e
seed=$1; scale=$2; dir=$3; flag="$dir/../../../fail-once-$seed-$scale"
if [ -e "$flag" ]; then rm "$flag"; exit 3; fi
mkdir -p "$dir"
x=$((seed * scale))
if [ "$scale" = 3 ] && [ "$seed" = 4 ]; then x=null; fi
printf '{"values": {"x": %s, "label": "s%s"}, "checks_total": 1, "checks_holding": 1, "checks_vacuous": 0}\n' "$x" "$seed" > "$dir/summary.json"
"#;

/// The aggregated statistics of `key` in `group` (panics if absent: the test expects it).
fn stats_of(group: &Group, key: &str) -> MeanInterval {
    group
        .values
        .iter()
        .find(|v| v.key == key)
        .unwrap_or_else(|| panic!("no aggregated value {key:?} in group {:?}", group.label))
        .stats
        .clone()
        .unwrap_or_else(|| panic!("{key:?} has no statistics in group {:?}", group.label))
}

fn sweep(root: &Path, out: &str) -> Sweep {
    let raw = json!({
        "name": "shell",
        "out": out,
        "command": {"program": "/bin/sh", "args": ["-c", SCRIPT, "sh", "{seed}", "{scale}", "{dir}"]},
        "grid": {"seeds": 5, "scale": [1, 3]},
        "slurm": {"time": "00:01:00", "max_parallel": 2}
    });
    Sweep::from_value(&root.join("shell.json"), &raw).unwrap()
}

fn plan(root: &Path, out: &str) -> Plan {
    let p = Plan::new(&sweep(root, out), &["/unused/runner".to_owned()]).unwrap();
    p.save().unwrap();
    p
}

#[test]
fn the_pool_runs_collects_and_reruns_exactly_the_missing_work() {
    let root = temp("pool");
    let p = plan(&root, "out");
    assert_eq!(p.tasks.len(), 10);
    std::fs::write(root.join("fail-once-2-1"), "").unwrap();

    let report = run_local(&p, 3, |_| {}).unwrap();
    assert_eq!((report.done, report.skipped), (9, 0));
    let failed: Vec<&str> = report
        .failed
        .iter()
        .map(|&i| p.tasks[i].name.as_str())
        .collect();
    assert_eq!(failed, ["scale-1_seed-2"]);
    let agg = collect(&p).unwrap();
    assert!(!agg.is_complete());
    assert_eq!(agg.missing.len(), 1, "{:?}", agg.missing);
    assert_eq!(agg.missing[0].state, "failed");
    write(&p, &agg).unwrap();
    let md = std::fs::read_to_string(p.out.join(files::REPORT)).unwrap();
    assert!(
        md.contains("**INCOMPLETE: 9 of 10 tasks done; 1 not done**"),
        "{md}"
    );

    // An interrupted attempt (the runner killed: attempt.json without an end marker).
    let victim = &p.tasks[6];
    let vdir = p.task_dir(victim);
    std::fs::remove_file(vdir.join(markers::DONE)).unwrap();
    assert!(matches!(
        read_state(&vdir).unwrap(),
        TaskState::Interrupted(_)
    ));
    assert_eq!(pending(&p).unwrap().len(), 2);

    // Rerun: exactly the two not done run (second attempts); the others are skipped.
    let again = run_local(&p, 2, |_| {}).unwrap();
    assert_eq!((again.done, again.skipped, again.failed.len()), (2, 8, 0));
    let attempts: Vec<u32> = states(&p)
        .unwrap()
        .iter()
        .map(|(_, s)| s.attempts())
        .collect();
    assert_eq!(attempts.iter().sum::<u32>(), 12, "{attempts:?}");
    assert_eq!(run_task(&p, 0).unwrap(), Ran::Skipped);

    let agg = collect(&p).unwrap();
    assert!(agg.is_complete());
    assert_eq!(agg.groups.len(), 2);
    let t = student_t_quantile(0.975, 4.0);
    // scale 1: x = 0..4: mean 2, s² = 10/4
    let g1 = &agg.groups[0];
    assert_eq!(
        (g1.label.as_str(), g1.done.len(), g1.diverged.len()),
        ("scale = 1", 5, 0)
    );
    assert_eq!((g1.checks.total, g1.checks.holding), (5, 5));
    let x1 = stats_of(g1, "x");
    let eps = 8.0 * f64::EPSILON;
    assert_eq!((x1.n, x1.mean, x1.min, x1.max), (5, 2.0, 0.0, 4.0));
    assert!((x1.std - 2.5_f64.sqrt()).abs() <= eps * 2.0);
    assert!((x1.ci_high.unwrap() - (2.0 + t * 2.5_f64.sqrt() / 5_f64.sqrt())).abs() <= eps * 8.0);
    // scale 3: seed 4 diverged (null): x = 0, 3, 6, 9 over four seeds
    let g3 = &agg.groups[1];
    assert_eq!(g3.diverged, [4]);
    let x3 = stats_of(g3, "x");
    assert_eq!((x3.n, x3.mean), (4, 4.5));
    assert!(
        g3.values.iter().all(|v| v.key != "label"),
        "strings are not aggregated"
    );

    write(&p, &agg).unwrap();
    let md = std::fs::read_to_string(p.out.join(files::REPORT)).unwrap();
    assert!(md.contains("**Complete: all 10 tasks done.**"), "{md}");
    assert!(md.contains("| `x` | 5 | 2 ± 1.581 |"), "{md}");
    assert!(md.contains("diverged: 1 (seeds 4)"), "{md}");
    assert!(p.out.join(files::PLOTS).join("x.png").is_file());
    let csv = std::fs::read_to_string(p.out.join(files::AGGREGATE_CSV)).unwrap();
    assert!(
        csv.starts_with("scale,value,n,mean,std,ci_low,ci_high,min,max,diverged\n1,x,5,2,"),
        "{csv}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

/// The batch script's array tasks, run by bash with the variable Slurm sets, call the
/// runner with the sweep folder and their index (here a stand-in that records them; the
/// real runner, `cargo xtask sweep exec`, is [`run_task`], called next); the tasks run
/// one by one that way give the same report, byte for byte, as the local pool.
#[test]
fn the_batch_script_and_the_pool_give_the_same_report() {
    let root = temp("same");
    let local = plan(&root, "local");
    run_local(&local, 2, |_| {}).unwrap();
    write(&local, &collect(&local).unwrap()).unwrap();

    let mut array = plan(&root, "array");
    let calls = root.join("calls");
    let runner = root.join("runner.sh");
    std::fs::write(&runner, "echo \"$@\" >> \"$PLRES_TEST_CALLS\"\n").unwrap();
    array.runner = vec!["/bin/sh".into(), runner.display().to_string()];
    let indices: Vec<usize> = (0..array.tasks.len()).collect();
    let script = batch_script(&array, &indices);
    assert!(script.contains("#SBATCH --array=0-9%2\n"), "{script}");
    assert!(script.contains("#SBATCH --time=00:01:00\n"), "{script}");
    assert!(!script.contains("cargo"), "{script}");
    let path = root.join("array.sbatch");
    std::fs::write(&path, &script).unwrap();
    for t in &array.tasks {
        let status = Command::new("bash")
            .arg(&path)
            .env("SLURM_ARRAY_TASK_ID", t.index.to_string())
            .env("PLRES_TEST_CALLS", &calls)
            .status()
            .unwrap();
        assert!(status.success());
        assert!(matches!(run_task(&array, t.index).unwrap(), Ran::Done(_)));
    }
    let expected: String = indices
        .iter()
        .map(|i| format!("{} {i}\n", array.out.display()))
        .collect();
    assert_eq!(std::fs::read_to_string(&calls).unwrap(), expected);
    write(&array, &collect(&array).unwrap()).unwrap();
    for f in [files::REPORT, files::AGGREGATE_JSON, files::AGGREGATE_CSV] {
        let a = std::fs::read(local.out.join(f)).unwrap();
        let b = std::fs::read(array.out.join(f)).unwrap();
        assert!(a == b, "{f} differs");
    }
    let report: Value =
        serde_json::from_slice(&std::fs::read(array.out.join(files::AGGREGATE_JSON)).unwrap())
            .unwrap();
    assert_eq!(report["done"], 10);
    std::fs::remove_dir_all(&root).unwrap();
}
