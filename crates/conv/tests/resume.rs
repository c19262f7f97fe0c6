//! The epoch checkpoint of `train_resnet_checkpointed` (issues 19 and 20): a run "killed"
//! after epoch `j` (its state dropped, only the checkpoint written after epoch `j` kept)
//! and continued in a fresh model is bitwise the uninterrupted run — every parameter,
//! running statistic and record — for both residuals, both precisions, on 1 and 2
//! threads, with pretraining before it and the learning-rate decay after the first epoch;
//! a truncated or corrupted checkpoint is a typed error naming the file, and a checkpoint
//! of another configuration is refused (and left as it was).

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use faer::Par;
use plres_conv::{
    CheckpointSpec, ConvError, ConvResNet, ConvResNetConfig, EpochRecord, Images, Real,
    ResidualKind, SgdConfig, TrainReport, pretrain, train_resnet, train_resnet_checkpointed,
};

#[allow(dead_code)] // `tiny` serves the gradient-check binaries, not this one
mod common;

/// A fresh folder for one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("plres-conv-resume-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn to_images<T: Real>(x: &[f64], y: &[usize]) -> Images<T> {
    Images {
        pixels: x.iter().map(|&v| T::from_f64(v)).collect(),
        labels: y.to_vec(),
    }
}

/// Train (30 images: batches of 8, 8, 8, 6), train-eval and test images.
fn data<T: Real>() -> [Images<T>; 3] {
    let (x, y) = common::images(30, 3);
    let (xt, yt) = common::images(12, 4);
    [
        to_images(&x, &y),
        to_images(&x[..10 * common::PIXELS], &y[..10]),
        to_images(&xt, &yt),
    ]
}

fn model_cfg(kind: ResidualKind) -> ConvResNetConfig {
    ConvResNetConfig {
        q: 2,
        q_int: 3,
        steps: 2,
        kind,
        seed: 11,
    }
}

fn sgd() -> SgdConfig {
    SgdConfig {
        batch: 8,
        lr: 0.3,
        epochs: 4,
        decay_epoch: 1,
        decay: 0.2,
        seed: 5,
    }
}

/// A model as a run builds it: initialised, pretrained one epoch (which a resumed run
/// does not repeat: the checkpoint holds `B ∘ A`).
fn fresh<T: Real>(
    kind: ResidualKind,
    par: Par,
    train: &Images<T>,
    pretrained: bool,
) -> ConvResNet<T> {
    let mut m = ConvResNet::<T>::new(model_cfg(kind)).unwrap();
    m.par = par;
    if pretrained {
        pretrain(&mut m, train, 1, 1.0, 8, 9).unwrap();
    }
    m
}

/// Every number of a trained model and its report, as bit patterns.
fn fingerprint<T: Real>(m: &ConvResNet<T>, r: &TrainReport) -> Vec<u64> {
    let mut v: Vec<u64> = m.params().iter().map(|x| x.to_f64().to_bits()).collect();
    v.extend(m.ab_params().iter().map(|x| x.to_f64().to_bits()));
    for bn in [&m.input.bn1, &m.input.bn2, &m.output.bn] {
        v.extend(bn.running_mean.iter().map(|x| x.to_f64().to_bits()));
        v.extend(bn.running_var.iter().map(|x| x.to_f64().to_bits()));
    }
    v.push(r.initial_test_error.to_bits());
    v.push(r.initial_train_error.to_bits());
    for e in &r.epochs {
        v.extend([
            e.epoch as u64,
            e.lr.to_bits(),
            e.train_loss.to_bits(),
            e.train_error.to_bits(),
            e.test_error.to_bits(),
        ]);
    }
    v
}

fn spec<'a>(path: &'a Path, context: &'a str) -> CheckpointSpec<'a> {
    CheckpointSpec { path, context }
}

fn kill_and_resume<T: Real>(kind: ResidualKind, par: Par, dir: &Path) {
    let [train, eval, test] = data::<T>();
    let cfg = sgd();
    let full = dir.join(format!("full-{}.ckpt", std::mem::size_of::<T>()));
    // the uninterrupted run, keeping the checkpoint file as it was after every epoch
    let mut model = fresh(kind, par, &train, true);
    let mut after_epoch: Vec<Vec<u8>> = Vec::new();
    let report = train_resnet_checkpointed(
        &mut model,
        &train,
        &eval,
        &test,
        &cfg,
        Some(&spec(&full, "test run")),
        |r: &EpochRecord| {
            assert_eq!(r.epoch, after_epoch.len() + 1);
            after_epoch.push(std::fs::read(&full).unwrap());
        },
    )
    .unwrap();
    assert_eq!(report.epochs.len(), cfg.epochs);
    assert!(report.diverged.is_none());
    // the lr decays after epoch 1: every resumed run below crosses or follows the step
    assert!(report.epochs[0].lr > report.epochs[1].lr);
    let want = fingerprint(&model, &report);
    // checkpointing does not change the computation
    let mut plain = fresh(kind, par, &train, true);
    let plain_report = train_resnet(&mut plain, &train, &eval, &test, &cfg, |_| {}).unwrap();
    assert_eq!(
        fingerprint(&plain, &plain_report),
        want,
        "{kind:?}: checkpointing changed the run"
    );
    // killed after epoch j: only that epoch's checkpoint survives; a fresh process
    // (fresh, not pretrained model) continues from it
    for j in 1..=cfg.epochs {
        let ck = dir.join(format!("killed-{j}-{}.ckpt", std::mem::size_of::<T>()));
        std::fs::write(&ck, &after_epoch[j - 1]).unwrap();
        let mut resumed = fresh(kind, par, &train, false);
        let mut trained = Vec::new();
        let r = train_resnet_checkpointed(
            &mut resumed,
            &train,
            &eval,
            &test,
            &cfg,
            Some(&spec(&ck, "test run")),
            |rec: &EpochRecord| trained.push(rec.epoch),
        )
        .unwrap();
        assert_eq!(
            trained,
            ((j + 1)..=cfg.epochs).collect::<Vec<_>>(),
            "epochs trained after a kill at {j}"
        );
        assert_eq!(
            fingerprint(&resumed, &r),
            want,
            "{kind:?}, {par:?}: resumed after epoch {j} differs from the uninterrupted run"
        );
        assert_eq!(
            std::fs::read(&ck).unwrap(),
            after_epoch[cfg.epochs - 1],
            "{kind:?}: final checkpoint bytes after a kill at {j}"
        );
    }
}

#[test]
fn a_run_killed_after_any_epoch_resumes_bitwise() {
    for (threads, par) in [(1, Par::Seq), (2, Par::rayon(2))] {
        for kind in [ResidualKind::Linear, ResidualKind::Shl] {
            let dir = scratch(&format!("kill-{threads}-{kind:?}"));
            kill_and_resume::<f32>(kind, par, &dir);
            kill_and_resume::<f64>(kind, par, &dir);
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
}

/// The checkpoint after epoch 1 of the linear `f64` run, at `dir/ck.ckpt` (the run of
/// [`resume_from`] with no checkpoint there yet).
fn one_epoch_checkpoint(dir: &Path) -> (PathBuf, Vec<u8>) {
    let path = dir.join("ck.ckpt");
    resume_from(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

/// Resumes the one-epoch run of [`one_epoch_checkpoint`] from `path`.
fn resume_from(path: &Path) -> Result<TrainReport, ConvError> {
    let [train, eval, test] = data::<f64>();
    let cfg = SgdConfig { epochs: 1, ..sgd() };
    let mut m = fresh(ResidualKind::Linear, Par::Seq, &train, false);
    train_resnet_checkpointed(
        &mut m,
        &train,
        &eval,
        &test,
        &cfg,
        Some(&spec(path, "ctx")),
        |_| {},
    )
}

#[test]
fn truncated_or_corrupted_checkpoints_are_typed_errors_naming_the_file() {
    let dir = scratch("corrupt");
    let (path, bytes) = one_epoch_checkpoint(&dir);
    // the intact file resumes (a finished run: nothing left to train)
    assert_eq!(resume_from(&path).unwrap().epochs.len(), 1);
    let name = path.display().to_string();
    let expect_error = |what: String| match resume_from(&path) {
        Err(e @ ConvError::Checkpoint { .. }) => {
            assert!(
                e.to_string().contains(&name),
                "{what}: `{e}` does not name the file"
            );
        }
        other => panic!("{what}: expected a checkpoint error, got {other:?}"),
    };
    let n = bytes.len();
    for len in [0, 7, 8, 100, n / 3, n / 2, n - 9, n - 1] {
        std::fs::write(&path, &bytes[..len]).unwrap();
        expect_error(format!("truncated to {len} of {n} bytes"));
    }
    // one bit flipped: in the header's length, the JSON header, the tensor data
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut positions = vec![0, 3];
    positions.extend((0..40).map(|k| 8 + k * header_len / 40));
    positions.extend((0..40).map(|k| 8 + header_len + k * (n - 8 - header_len) / 40));
    positions.push(n - 1);
    for pos in positions {
        let mut b = bytes.clone();
        b[pos] ^= 0x01;
        std::fs::write(&path, &b).unwrap();
        match resume_from(&path) {
            Err(e @ (ConvError::Checkpoint { .. } | ConvError::CheckpointMismatch { .. })) => {
                assert!(
                    e.to_string().contains(&name),
                    "bit flip at {pos}: `{e}` does not name the file"
                );
            }
            other => panic!("bit flip at byte {pos} of {n}: expected an error, got {other:?}"),
        }
    }
    // not a checkpoint at all
    std::fs::write(&path, b"not a checkpoint").unwrap();
    expect_error("garbage".into());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_checkpoint_of_another_configuration_is_refused() {
    let dir = scratch("mismatch");
    let (path, bytes) = one_epoch_checkpoint(&dir);
    let [train, eval, test] = data::<f64>();
    let base = SgdConfig { epochs: 1, ..sgd() };
    let run = |m: &mut ConvResNet<f64>, cfg: &SgdConfig, imgs: [&Images<f64>; 3], ctx: &str| {
        train_resnet_checkpointed(
            m,
            imgs[0],
            imgs[1],
            imgs[2],
            cfg,
            Some(&spec(&path, ctx)),
            |_| {},
        )
    };
    let lin = || fresh::<f64>(ResidualKind::Linear, Par::Seq, &train, false);
    let lin_with = |cfg: SgdConfig| run(&mut lin(), &cfg, [&train, &eval, &test], "ctx");
    let mut other_labels = data::<f64>()[0].labels.clone();
    other_labels[0] = (other_labels[0] + 1) % 10;
    let relabelled = Images {
        pixels: train.pixels.clone(),
        labels: other_labels,
    };
    let cases: Vec<(&str, Result<TrainReport, ConvError>)> = vec![
        ("sgd_config", lin_with(SgdConfig { lr: 0.25, ..base })),
        ("sgd_config", lin_with(SgdConfig { seed: 6, ..base })),
        ("model_config", {
            let mut m = ConvResNet::<f64>::new(ConvResNetConfig {
                seed: 12,
                ..model_cfg(ResidualKind::Linear)
            })
            .unwrap();
            run(&mut m, &base, [&train, &eval, &test], "ctx")
        }),
        (
            "model_config",
            run(
                &mut fresh(ResidualKind::Shl, Par::Seq, &train, false),
                &base,
                [&train, &eval, &test],
                "ctx",
            ),
        ),
        (
            "data",
            run(&mut lin(), &base, [&relabelled, &eval, &test], "ctx"),
        ),
        (
            "data",
            run(&mut lin(), &base, [&train, &eval, &eval], "ctx"),
        ),
        (
            "context",
            run(&mut lin(), &base, [&train, &eval, &test], "another dataset"),
        ),
        ("precision", {
            let [tr, ev, te] = data::<f32>();
            let mut m = fresh::<f32>(ResidualKind::Linear, Par::Seq, &tr, false);
            train_resnet_checkpointed(
                &mut m,
                &tr,
                &ev,
                &te,
                &base,
                Some(&spec(&path, "ctx")),
                |_| {},
            )
        }),
    ];
    for (want, got) in cases {
        match got {
            Err(ConvError::CheckpointMismatch { path: p, what, .. }) => {
                assert_eq!(p, path);
                assert_eq!(what, want);
            }
            other => panic!("a checkpoint with another {want}: expected a refusal, got {other:?}"),
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "a refused checkpoint was modified"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn checkpoint_bytes_are_the_same_in_every_run() {
    // deterministic bytes: two runs of the same configuration write identical files
    let (d1, d2) = (scratch("bytes-1"), scratch("bytes-2"));
    let (_, a) = one_epoch_checkpoint(&d1);
    let (_, b) = one_epoch_checkpoint(&d2);
    assert_eq!(a, b);
    std::fs::remove_dir_all(&d1).unwrap();
    std::fs::remove_dir_all(&d2).unwrap();
}
