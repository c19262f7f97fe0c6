//! Crash safety of run folders (issue 19, cases 6–8): a run is moved into place only when
//! it has ended, `force` replaces a folder only then (and replaces folders an interrupted
//! run left), leftovers of killed runs are cleaned, a divergence keeps the last good state,
//! and a training interrupted between checkpoints resumes bitwise.
//!
//! A kill is simulated in-process by a panic inside the experiment (caught here): like a
//! SIGKILL it stops the run before it is moved into place. The real SIGKILL test is
//! `cargo xtask kill-test` (run by `.ci/run`).

#![forbid(unsafe_code)]

/// Helpers shared with the other integration tests.
mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use faer::Mat;
use plres_experiments::experiments::common;
use plres_experiments::registry::DynExperiment;
use plres_experiments::run::{self, RunConfig, files, read_json};
use plres_experiments::table::{ColumnType, Table};
use plres_experiments::{ExperimentError, RunContext, RunOutput, Size, row};
use plres_optim::{AdamConfig, GradientDescentConfig, Minibatch, State, Stopping};
use plres_resnet::{TargetsRef, Trainable};
use support::temp_dir;

/// Set to make the next run of [`Tiny`] "die" half-way (after its first training segment
/// has been checkpointed).
static KILL: AtomicBool = AtomicBool::new(false);

/// The tests share [`KILL`]: they run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A small training run: a depth-3 Euler ResNet of 16 Gaussian features on 12 points of
/// R², minibatch Adam for 6 epochs with a checkpoint every 2 epochs
/// ([`common::train_resumable`]); `metrics.csv` holds every iterate's loss bits. With
/// `lr` large, plain gradient descent instead (which diverges).
struct Tiny {
    diverge: bool,
}

fn problem_data() -> (Mat<f64>, Mat<f64>) {
    let x = Mat::from_fn(12, 2, |i, j| ((i * 5 + j * 7) % 13) as f64 / 6.5 - 1.0);
    let y = Mat::from_fn(12, 2, |i, j| (2.0 * x[(i, 1 - j)]).sin() * 0.5);
    (x, y)
}

impl DynExperiment for Tiny {
    fn name(&self) -> &'static str {
        if self.diverge { "tiny-diverge" } else { "tiny" }
    }
    fn description(&self) -> &'static str {
        "A small training run."
    }
    fn default_config(&self, _size: Size) -> serde_json::Value {
        serde_json::json!({"epochs": 6})
    }
    fn run_json(
        &self,
        c: &serde_json::Value,
        ctx: &RunContext,
    ) -> Result<RunOutput, ExperimentError> {
        let epochs = c["epochs"].as_u64().unwrap();
        let (x, y) = problem_data();
        let phi = common::gaussian_features(1.0, 2, 16, &mut ctx.rng(1))?;
        let net = common::euler_resnet(phi, 3)?;
        let metric = net.metric();
        let bar = ctx.progress_bar(0, "training");
        let state = State::new(net.params().to_vec());
        let (trained, history) = if self.diverge {
            let gd = GradientDescentConfig::new(1e6)
                .with_metric(metric)
                .build()
                .unwrap();
            let run = common::Training {
                model: net,
                x: x.as_ref(),
                targets: TargetsRef::Regression(y.as_ref()),
                solver: &gd,
                state,
                stopping: &Stopping::iterations(200),
            };
            common::train(run, &mut [], &bar, "gd")?
        } else {
            let adam = AdamConfig::adam(0.05)
                .with_minibatch(Minibatch::new(5, 3))
                .with_metric(metric)
                .build()
                .unwrap();
            let train = |stopping: &Stopping, net| {
                let run = common::Training {
                    model: net,
                    x: x.as_ref(),
                    targets: TargetsRef::Regression(y.as_ref()),
                    solver: &adam,
                    state: state.clone(),
                    stopping,
                };
                common::train_resumable(run, 2, ctx, &bar, "adam")
            };
            if KILL.swap(false, Ordering::SeqCst) {
                // trains (and checkpoints) the first two epochs, then dies
                train(&Stopping::epochs(2), net)?;
                panic!("simulated kill");
            }
            train(&Stopping::epochs(epochs), net)?
        };
        let mut t = Table::new(&[
            ("iteration", ColumnType::Int),
            ("loss_bits", ColumnType::Text),
        ]);
        for r in &history.records {
            t.push(row![r.iteration, format!("{:016x}", r.loss.to_bits())])?;
        }
        let mut out = RunOutput::new(t);
        out.value(
            "params_bits",
            trained
                .model
                .params()
                .iter()
                .map(|p| format!("{:016x}", p.to_bits()))
                .collect::<Vec<_>>()
                .join(","),
        );
        Ok(out)
    }
}

static TINY: Tiny = Tiny { diverge: false };
static DIVERGE: Tiny = Tiny { diverge: true };

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn run_tiny(out: &Path, seed: u64, force: bool) -> Result<run::RunRecord, ExperimentError> {
    run::run(
        out,
        &TINY,
        TINY.default_config(Size::Smoke),
        Size::Smoke,
        seed,
        force,
        false,
    )
}

/// Killed half-way through a forced re-run, the old folder is still complete and
/// untouched; the next forced run cleans the partial folder and replaces the old one.
#[test]
fn a_killed_forced_run_leaves_the_old_folder_complete() {
    let _serial = serial();
    let out = temp_dir("force");
    run_tiny(&out, 1, false).unwrap();
    let before = std::fs::read(out.join("tiny").join(files::METRICS)).unwrap();
    KILL.store(true, Ordering::SeqCst);
    let died = catch_unwind(AssertUnwindSafe(|| run_tiny(&out, 2, true)));
    assert!(died.is_err(), "the run was killed");
    // the old run is in place, complete, with its own seed and metrics
    let c: RunConfig = read_json(&out.join("tiny").join(files::CONFIG)).unwrap();
    assert_eq!(c.seed, 1);
    assert!(out.join("tiny").join(files::SUMMARY).is_file());
    assert_eq!(
        std::fs::read(out.join("tiny").join(files::METRICS)).unwrap(),
        before
    );
    // the killed run is a hidden partial folder, with its checkpoint
    let partial: Vec<String> = names(&out)
        .into_iter()
        .filter(|n| n.starts_with(".tiny.partial-"))
        .collect();
    assert_eq!(partial.len(), 1, "{:?}", names(&out));
    assert!(
        out.join(&partial[0])
            .join("checkpoints/adam.ckpt")
            .is_file()
    );
    // the next forced run cleans it and replaces the folder
    run_tiny(&out, 3, true).unwrap();
    assert_eq!(names(&out), vec!["tiny"]);
    let c: RunConfig = read_json(&out.join("tiny").join(files::CONFIG)).unwrap();
    assert_eq!(c.seed, 3);
    std::fs::remove_dir_all(&out).unwrap();
}

/// The case: a folder holding only the temporary file of a `config.json` (a kill
/// 1 ms into an older version's run) is replaced by `force`, not refused; leftovers of
/// dead processes are removed, and a moved-aside folder whose replacement never arrived
/// is moved back.
#[test]
fn force_replaces_interrupted_folders_and_leftovers_are_cleaned() {
    let _serial = serial();
    let out = temp_dir("legacy");
    std::fs::create_dir_all(out.join("tiny")).unwrap();
    std::fs::write(out.join("tiny/.config.json.tmp-Ab12Cd"), b"{").unwrap();
    let err = run_tiny(&out, 1, false).unwrap_err();
    assert!(
        matches!(err, ExperimentError::RunFolderExists { .. }),
        "{err}"
    );
    // pids far above any pid_max: processes that do not exist
    std::fs::create_dir_all(out.join(".tiny.partial-4000000001/checkpoints")).unwrap();
    std::fs::create_dir_all(out.join(".tiny.old-4000000002")).unwrap();
    std::fs::create_dir_all(out.join(".other.partial-4000000003")).unwrap();
    run_tiny(&out, 1, true).unwrap();
    assert_eq!(names(&out), vec![".other.partial-4000000003", "tiny"]);
    assert!(out.join("tiny").join(files::SUMMARY).is_file());
    assert!(!out.join("tiny/.config.json.tmp-Ab12Cd").exists());

    // killed between moving the old folder aside and moving the new one in: the old one
    // comes back
    let good = std::fs::read(out.join("tiny").join(files::SUMMARY)).unwrap();
    std::fs::rename(out.join("tiny"), out.join(".tiny.old-4000000004")).unwrap();
    let touched = run::clean_leftovers(&out, "tiny").unwrap();
    assert_eq!(touched, vec![out.join(".tiny.old-4000000004")]);
    assert_eq!(
        std::fs::read(out.join("tiny").join(files::SUMMARY)).unwrap(),
        good
    );

    // a folder with files no run writes is never replaced
    let other = temp_dir("precious");
    std::fs::create_dir_all(other.join("tiny")).unwrap();
    std::fs::write(other.join("tiny/notes.md"), b"keep").unwrap();
    let err = run_tiny(&other, 1, true).unwrap_err();
    assert!(
        matches!(err, ExperimentError::NotARunFolder { .. }),
        "{err}"
    );
    assert!(other.join("tiny/notes.md").is_file());
    std::fs::remove_dir_all(&out).unwrap();
    std::fs::remove_dir_all(&other).unwrap();
}

/// A run killed after its first checkpoint and resumed (its partial folder adopted) ends
/// with the metrics and parameters of the run that was never killed, bit for bit.
#[test]
fn a_killed_training_resumes_bitwise_from_its_checkpoint() {
    let _serial = serial();
    let whole = temp_dir("whole");
    run_tiny(&whole, 7, false).unwrap();
    let out = temp_dir("resumed");
    KILL.store(true, Ordering::SeqCst);
    assert!(catch_unwind(AssertUnwindSafe(|| run_tiny(&out, 7, false))).is_err());
    assert!(!out.join("tiny").exists(), "a killed run is not in place");
    let (folder, adopted) = run::prepare_run_resuming(run::RunRequest {
        out_dir: &out,
        experiment: &TINY,
        config: TINY.default_config(Size::Smoke),
        size: Size::Smoke,
        seed: 7,
        force: false,
    })
    .unwrap();
    assert!(adopted, "the partial folder with its checkpoint is adopted");
    let ck = plres_resnet::TrainingCheckpoint::load(folder.path().join("checkpoints/adam.ckpt"))
        .unwrap();
    assert_eq!(ck.state.epoch(), 2, "killed after epoch 2");
    run::execute(&TINY, &folder, false).unwrap();
    for f in [files::METRICS, files::SUMMARY] {
        let a = std::fs::read_to_string(whole.join("tiny").join(f)).unwrap();
        let b = std::fs::read_to_string(out.join("tiny").join(f)).unwrap();
        if f == files::SUMMARY {
            let strip = |s: &str| -> serde_json::Value {
                let mut v: serde_json::Value = serde_json::from_str(s).unwrap();
                v.as_object_mut().unwrap().remove("wall_time_s");
                v
            };
            assert_eq!(strip(&a), strip(&b), "summary (parameters' bits)");
        } else {
            assert!(a == b, "metrics of the resumed run differ");
        }
    }
    // 12 samples in batches of 5: 3 batches per epoch, 6 epochs, 18 steps, 19 iterates
    let metrics = std::fs::read_to_string(out.join("tiny").join(files::METRICS)).unwrap();
    assert_eq!(metrics.lines().count(), 1 + 19);
    std::fs::remove_dir_all(&whole).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
}

/// A diverging training leaves `metrics.csv` up to the last finite iterate,
/// `last_finite.safetensors` with finite parameters and the error (with what was kept) in
/// `error.txt`, and the folder is in place.
#[test]
fn divergence_keeps_the_last_good_state() {
    let _serial = serial();
    let out = temp_dir("diverge");
    let err = run::run(
        &out,
        &DIVERGE,
        DIVERGE.default_config(Size::Smoke),
        Size::Smoke,
        1,
        false,
        false,
    )
    .unwrap_err();
    let (last_iteration, last_loss) = match &err {
        ExperimentError::Diverged {
            source:
                plres_optim::OptimError::Diverged {
                    iteration,
                    last_finite_loss,
                    ..
                },
            ..
        } => (iteration - 1, *last_finite_loss),
        other => panic!("expected a divergence, got {other:?}"),
    };
    let dir = out.join("tiny-diverge");
    let metrics = std::fs::read_to_string(dir.join(files::METRICS)).unwrap();
    let rows: Vec<&str> = metrics.lines().skip(1).collect();
    assert_eq!(rows.len() as u64, last_iteration + 1, "{metrics}");
    let last: Vec<&str> = rows.last().unwrap().split(',').collect();
    assert_eq!(last[0], last_iteration.to_string());
    assert_eq!(last[2].parse::<f64>().unwrap(), last_loss);
    let ck = plres_resnet::Checkpoint::load(dir.join(files::LAST_FINITE)).unwrap();
    assert!(ck.tensors["params"].data.iter().all(|p| p.is_finite()));
    assert_eq!(ck.metadata["iteration"], last_iteration.to_string());
    let text = std::fs::read_to_string(dir.join(files::ERROR)).unwrap();
    assert!(
        text.contains("diverged") && text.contains("last_finite.safetensors"),
        "{text}"
    );
    assert!(!dir.join(files::SUMMARY).exists());
    std::fs::remove_dir_all(&out).unwrap();
}
