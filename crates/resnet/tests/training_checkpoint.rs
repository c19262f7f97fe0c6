//! Training checkpoints (issue 19, case 8): checkpoint bytes are a function of the
//! checkpoint (sorted metadata, the same in every process), and a training run of a model
//! stopped, saved to a file, reloaded and continued is bitwise the uninterrupted run.

#![forbid(unsafe_code)]

mod common;

use common::{bits, tmpdir};
use std::sync::Arc;

use faer::Mat;
use plres_optim::{AdamConfig, Minibatch, MomentumConfig, Solver, State, Stopping};
use plres_resnet::checkpoint::{Checkpoint, keys};
use plres_resnet::{
    CheckpointError, LinearResNet, LinearResNetConfig, ShlResNet, ShlResNetConfig, TargetsRef,
    Trainable, TrainingCheckpoint, TrainingProblem,
};
use plres_rff::RandomReluFeatures;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The exact bytes of a small checkpoint, written out by hand from the safetensors layout
/// (8-byte header length, JSON header with `__metadata__` first and keys sorted, tensors in
/// name order, space padding to 8 bytes, little-endian data): since they are a constant of
/// this test, every process writes them (the metadata used to be written from a `HashMap`
/// in a random order per process). safetensors itself reads them back.
#[test]
fn checkpoint_bytes_are_fixed_by_the_contents() {
    let mut c = Checkpoint::new();
    c.set_meta("zeta", "last");
    c.set_meta(keys::MODEL, "linear_resnet");
    c.set_meta(keys::DEPTH, "2");
    c.set_meta("quote", "a\"b");
    c.insert("b", vec![2], vec![1.0, -2.0]);
    c.insert("a", vec![1, 1], vec![0.5]);
    let header = concat!(
        r#"{"__metadata__":{"depth":"2","format_version":"1","model":"linear_resnet","quote":"a\"b","zeta":"last"},"#,
        r#""a":{"dtype":"F64","shape":[1,1],"data_offsets":[0,8]},"#,
        r#""b":{"dtype":"F64","shape":[2],"data_offsets":[8,24]}}"#
    );
    let mut padded = header.to_string();
    while !padded.len().is_multiple_of(8) {
        padded.push(' ');
    }
    let mut want = (padded.len() as u64).to_le_bytes().to_vec();
    want.extend_from_slice(padded.as_bytes());
    for v in [0.5f64, 1.0, -2.0] {
        want.extend_from_slice(&v.to_le_bytes());
    }
    for _ in 0..20 {
        assert!(
            c.to_bytes().unwrap() == want,
            "bytes differ from the layout"
        );
    }
    let back = Checkpoint::from_bytes(&want).unwrap();
    assert_eq!(back, c);
    let st = safetensors::SafeTensors::deserialize(&want).unwrap();
    assert_eq!(st.len(), 2);
}

fn data() -> (Mat<f64>, Mat<f64>) {
    let x = Mat::from_fn(10, 2, |i, j| ((i * 7 + j * 3) % 11) as f64 * 0.2 - 1.0);
    let y = Mat::from_fn(10, 2, |i, j| (x[(i, j)] * 1.3).sin() + 0.1 * j as f64);
    (x, y)
}

fn linear_net() -> LinearResNet {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let phi = RandomReluFeatures::sample(2, 16, &mut rng).unwrap();
    LinearResNet::new(
        Arc::new(phi),
        LinearResNetConfig {
            depth: 3,
            init: plres_resnet::Init::Normal { std: 0.3, seed: 4 },
            ..Default::default()
        },
    )
    .unwrap()
}

/// Trains `model` for `total` iterations in one go, and again stopped after `k`, saved to a
/// training checkpoint file, rebuilt from it with `rebuild`, and continued: same parameters
/// bit for bit and the same checkpoint bytes at the end.
fn resume_matches<M: Trainable + Clone>(
    model: M,
    solver: &dyn Solver,
    to_ck: impl Fn(&M) -> Checkpoint,
    rebuild: impl Fn(&Checkpoint) -> M,
    total: u64,
    k: u64,
    name: &str,
) {
    let (x, y) = data();
    let targets = TargetsRef::Regression(y.as_ref());
    let p0 = model.params().to_vec();
    let whole = TrainingProblem::new(model.clone(), x.as_ref(), targets)
        .unwrap()
        .run(
            solver,
            State::new(p0.clone()),
            &Stopping::iterations(total),
            &mut [],
        )
        .unwrap();
    let part = TrainingProblem::new(model, x.as_ref(), targets)
        .unwrap()
        .run(solver, State::new(p0), &Stopping::iterations(k), &mut [])
        .unwrap();
    let dir = tmpdir(name);
    let path = dir.join("train.ckpt");
    TrainingCheckpoint {
        model: to_ck(&part.model),
        state: part.outcome.state,
    }
    .save(&path)
    .unwrap();
    let ck = TrainingCheckpoint::load(&path).unwrap();
    let model = rebuild(&ck.model);
    let problem = TrainingProblem::new(model, x.as_ref(), targets).unwrap();
    ck.state.check_resume(solver, &problem).unwrap();
    let rest = problem
        .run(solver, ck.state, &Stopping::iterations(total), &mut [])
        .unwrap();
    assert_eq!(rest.outcome.report.iterations, total - k, "{name}");
    assert_eq!(
        bits(rest.model.params()),
        bits(whole.model.params()),
        "{name}: resumed parameters differ"
    );
    let final_bytes = |m: &M, s: &State| {
        TrainingCheckpoint {
            model: to_ck(m),
            state: s.clone(),
        }
        .to_bytes()
        .unwrap()
    };
    assert!(
        final_bytes(&rest.model, &rest.outcome.state)
            == final_bytes(&whole.model, &whole.outcome.state),
        "{name}: final checkpoints differ"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn linear_resnet_resumes_bitwise_from_a_training_checkpoint_file() {
    // minibatch Adam stopped mid-epoch (10 samples, batches of 4: iteration 5 is inside
    // epoch 1)
    let adam = AdamConfig::adam(0.02)
        .with_minibatch(Minibatch::new(4, 3))
        .with_metric(linear_net().metric())
        .build()
        .unwrap();
    resume_matches(
        linear_net(),
        &adam,
        |m| m.to_checkpoint().unwrap(),
        |c| LinearResNet::from_checkpoint(c).unwrap(),
        12,
        5,
        "linear-adam",
    );
}

#[test]
fn shl_resnet_resumes_bitwise_from_a_training_checkpoint_file() {
    let shl = ShlResNet::new(ShlResNetConfig {
        dim: 2,
        width: 8,
        depth: 2,
        ..Default::default()
    })
    .unwrap();
    let nesterov = MomentumConfig::nesterov(0.05, 0.9)
        .with_minibatch(Minibatch::new(3, 8))
        .build()
        .unwrap();
    resume_matches(
        shl,
        &nesterov,
        ShlResNet::to_checkpoint,
        |c| ShlResNet::from_checkpoint(c).unwrap(),
        11,
        7,
        "shl-nesterov",
    );
}

/// A damaged training checkpoint is a typed error naming the file and what is wrong.
#[test]
fn damaged_training_checkpoints_name_the_file() {
    let dir = tmpdir("damaged");
    let ck = TrainingCheckpoint {
        model: linear_net().to_checkpoint().unwrap(),
        state: State::new(linear_net().params().to_vec()),
    };
    let good = ck.to_bytes().unwrap();
    let path = dir.join("t.ckpt");
    for (what, bytes, needle) in [
        (
            "truncated",
            good[..good.len() - 3].to_vec(),
            "optimizer state",
        ),
        ("bad magic", b"PLRESTRX\x01\0\0\0".to_vec(), "PLRESTRN"),
        (
            "trailing",
            [good.clone(), vec![0]].concat(),
            "unexpected bytes",
        ),
        (
            "huge length",
            {
                let mut b = good[..12].to_vec();
                b.extend_from_slice(&u64::MAX.to_le_bytes());
                b
            },
            "model declares",
        ),
    ] {
        std::fs::write(&path, &bytes).unwrap();
        let e = TrainingCheckpoint::load(&path).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, CheckpointError::InFile { .. }), "{what}: {e:?}");
        assert!(
            msg.contains("t.ckpt") && msg.contains(needle),
            "{what}: {msg}"
        );
        assert!(
            matches!(e.cause(), CheckpointError::Format(_)),
            "{what}: {e:?}"
        );
    }
    // a damaged state inside a sound container
    let model = ck.model.to_bytes().unwrap();
    let mut state = ck.state.to_bytes();
    state[8] = 9; // version
    let mut b = good[..12].to_vec();
    for part in [&model, &state] {
        b.extend_from_slice(&(part.len() as u64).to_le_bytes());
        b.extend_from_slice(part);
    }
    std::fs::write(&path, &b).unwrap();
    let e = TrainingCheckpoint::load(&path).unwrap_err();
    assert!(matches!(e.cause(), CheckpointError::State(_)), "{e:?}");
    assert!(e.to_string().contains("version 9"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
