//! The optimizer's training checkpoint (issue 19, case 8): a run stopped after `k`
//! iterations, saved to bytes (or a file), restored and continued is bitwise the run that
//! never stopped — for every solver, full batch and minibatches, with schedules on either
//! clock — and malformed bytes are typed errors, never panics or huge allocations.

#![forbid(unsafe_code)]

use plres_optim::{
    AdamConfig, BacktrackingConfig, GradientDescentConfig, Iterate, Metric, Minibatch,
    MomentumConfig, ObserverAction, Outcome, Schedule, SgdConfig, Solver, State, StateFormatError,
    Stopping, run,
};

mod common;
use common::LeastSquares;

/// One iterate: its index, parameter bits, loss bits, rate bits and batch.
type Seen = (u64, Vec<u64>, u64, u64, Option<Vec<usize>>);

/// Every iterate seen.
#[derive(Default)]
struct Trace(Vec<Seen>);

impl plres_optim::Observer for Trace {
    fn observe(&mut self, it: &Iterate<'_>) -> ObserverAction {
        self.0.push((
            it.iteration,
            it.params.iter().map(|x| x.to_bits()).collect(),
            it.loss.to_bits(),
            it.learning_rate.to_bits(),
            it.batch.map(<[usize]>::to_vec),
        ));
        ObserverAction::Continue
    }
}

/// Every solver of the crate, with schedules on both clocks, and metrics with two blocks.
fn solvers() -> Vec<(&'static str, Box<dyn Solver>)> {
    let metric = || Metric::l2_layers(2, 2, 0.5).unwrap();
    let mb = Minibatch::new(4, 17);
    vec![
        (
            "gd, exponential per epoch, L² metric",
            Box::new(
                GradientDescentConfig::new(0.2)
                    .with_schedule(Schedule::exponential(0.97))
                    .with_metric(metric())
                    .build()
                    .unwrap(),
            ),
        ),
        (
            "armijo",
            Box::new(BacktrackingConfig::new(2.0).build().unwrap()),
        ),
        (
            "heavy ball, full batch, cosine",
            Box::new(
                MomentumConfig::heavy_ball(0.1, 0.8)
                    .with_schedule(Schedule::cosine(7, 0.01))
                    .build()
                    .unwrap(),
            ),
        ),
        (
            "nesterov, minibatches, warm-up per iteration",
            Box::new(
                MomentumConfig::nesterov(0.1, 0.9)
                    .with_minibatch(mb)
                    .with_schedule(Schedule::multi_step(vec![3, 9], 0.5).with_warmup(0.2, 4))
                    .per_iteration()
                    .build()
                    .unwrap(),
            ),
        ),
        (
            "sgd, drop_last, multistep per epoch",
            Box::new({
                let mut c =
                    SgdConfig::new(0.2, 3, 5).with_schedule(Schedule::multi_step(vec![2], 0.5));
                c.minibatch = c.minibatch.drop_last(true);
                c.build().unwrap()
            }),
        ),
        (
            "adam, full batch",
            Box::new(AdamConfig::adam(0.05).build().unwrap()),
        ),
        (
            "adam, minibatches, L² metric",
            Box::new(
                AdamConfig::adam(0.05)
                    .with_minibatch(mb)
                    .with_metric(metric())
                    .build()
                    .unwrap(),
            ),
        ),
        (
            "adamw, minibatches, exponential per iteration",
            Box::new(
                AdamConfig::adamw(0.05, 0.1)
                    .with_minibatch(Minibatch::new(3, 2))
                    .with_schedule(Schedule::exponential(0.95))
                    .per_iteration()
                    .build()
                    .unwrap(),
            ),
        ),
    ]
}

const TOTAL: u64 = 23;

fn theta0() -> Vec<f64> {
    vec![0.9, -0.7, 0.4, 1.1]
}

/// `solver` on `problem` from `state` until iteration `iterations`: the outcome and the
/// trace of every iterate seen.
fn run_traced(
    problem: &mut LeastSquares,
    solver: &dyn Solver,
    state: State,
    iterations: u64,
) -> (Outcome, Trace) {
    let mut trace = Trace::default();
    let out = run(
        problem,
        solver,
        state,
        &Stopping::iterations(iterations),
        &mut [&mut trace],
    )
    .unwrap();
    (out, trace)
}

/// The final state of [`run_traced`].
fn run_from(
    problem: &mut LeastSquares,
    solver: &dyn Solver,
    state: State,
    iterations: u64,
) -> State {
    run_traced(problem, solver, state, iterations).0.state
}

fn bits(p: &[f64]) -> Vec<u64> {
    p.iter().map(|x| x.to_bits()).collect()
}

/// Stopping after `k` iterations, saving, restoring and continuing reproduces every iterate
/// of the uninterrupted run bit for bit, and the final states serialise to the same bytes
/// (so buffers, moments, counters and sampler position agree too). `k` runs over every
/// iteration, so stops at epoch boundaries and mid-epoch (10 samples in batches of 4 or 3)
/// are all covered.
#[test]
fn resume_from_bytes_is_bitwise_for_every_solver_and_every_stop() {
    for (what, solver) in solvers() {
        let mut problem = LeastSquares::random(10, 4, 3).with_quartic(0.1);
        let (whole, whole_trace) = run_traced(&mut problem, &*solver, State::new(theta0()), TOTAL);
        assert_eq!(whole_trace.0.len() as u64, TOTAL + 1, "{what}");
        let whole_bytes = whole.state.to_bytes();
        for k in 0..TOTAL {
            let (part, first) = run_traced(&mut problem, &*solver, State::new(theta0()), k);
            let bytes = part.state.to_bytes();
            assert_eq!(
                bytes,
                part.state.clone().to_bytes(),
                "{what}: bytes of a clone"
            );
            drop(part);
            let restored = State::from_bytes(&bytes).unwrap();
            assert_eq!(
                restored.to_bytes(),
                bytes,
                "{what}, k = {k}: bytes round trip"
            );
            restored.check_resume(&*solver, &problem).unwrap();
            let (rest, second) = run_traced(&mut problem, &*solver, restored, TOTAL);
            assert_eq!(rest.report.iterations, TOTAL - k, "{what}, k = {k}");
            // the stop iterate is seen by both runs
            assert_eq!(first.0.last(), second.0.first(), "{what}, k = {k}");
            let joined: Vec<_> = first.0.iter().chain(&second.0[1..]).cloned().collect();
            assert!(
                joined == whole_trace.0,
                "{what}, k = {k}: trajectories differ"
            );
            assert_eq!(
                bits(rest.state.params()),
                bits(whole.state.params()),
                "{what}, k = {k}"
            );
            assert!(
                rest.state.to_bytes() == whole_bytes,
                "{what}, k = {k}: final states differ"
            );
        }
    }
}

/// The same through a file, for minibatch Adam stopped mid-epoch (the case of issue 19:
/// restarting from the parameters alone differed by 0.21); restarting from the parameters
/// alone is shown to differ, so the test can tell the two apart.
#[test]
fn resume_through_a_file_and_parameters_alone_do_not_suffice() {
    let adam = AdamConfig::adam(0.05)
        .with_minibatch(Minibatch::new(4, 9))
        .build()
        .unwrap();
    let mut problem = LeastSquares::random(10, 4, 5).with_quartic(0.1);
    let whole = run_from(&mut problem, &adam, State::new(theta0()), 14);
    let part = run_from(&mut problem, &adam, State::new(theta0()), 6);
    let dir = std::env::temp_dir().join(format!("plres-optim-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.bin");
    std::fs::write(&path, part.to_bytes()).unwrap();
    let restored = State::from_bytes(&std::fs::read(&path).unwrap()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let rest = run_from(&mut problem, &adam, restored, 14);
    assert_eq!(bits(rest.params()), bits(whole.params()));
    // a fresh state at the saved parameters (moments zero, epoch 0) takes another path
    let naive = run_from(&mut problem, &adam, State::new(part.params().to_vec()), 8);
    assert_ne!(bits(naive.params()), bits(whole.params()));
}

/// The bytes are a function of the state: a golden prefix (magic, version, `n`, first
/// parameter) fixes the layout, so a file written by another process reads the same.
#[test]
fn bytes_have_the_documented_layout() {
    let s = State::new(vec![1.5, -0.0]);
    let b = s.to_bytes();
    assert_eq!(&b[..8], b"PLRSTATE");
    assert_eq!(u32::from_le_bytes(b[8..12].try_into().unwrap()), 1);
    assert_eq!(u64::from_le_bytes(b[12..20].try_into().unwrap()), 2);
    assert_eq!(f64::from_le_bytes(b[20..28].try_into().unwrap()), 1.5);
    assert_eq!(b[28..36], (-0.0f64).to_le_bytes());
    // 8+4 | 8+16 | 1 | 32 | 8 | 8 | 24 | 8 | 8 | 8 | 18 | 24
    assert_eq!(b.len(), 12 + 24 + 1 + 32 + 8 + 8 + 24 + 8 + 8 + 8 + 18 + 24);
    let back = State::from_bytes(&b).unwrap();
    assert_eq!(bits(back.params()), bits(s.params()));
    assert!(!back.is_evaluated());
    assert!(back.loss().is_nan());
}

/// Every truncation, every single-byte corruption and trailing bytes give a typed error or a
/// valid state (never a panic), and lengths far beyond the input are refused before any
/// allocation.
#[test]
fn malformed_bytes_are_typed_errors() {
    let mut problem = LeastSquares::random(10, 4, 5).with_quartic(0.1);
    let adam = AdamConfig::adamw(0.05, 0.1)
        .with_minibatch(Minibatch::new(4, 9))
        .build()
        .unwrap();
    let out = run_from(&mut problem, &adam, State::new(theta0()), 5);
    let b = out.to_bytes();
    for cut in 0..b.len() {
        let e = State::from_bytes(&b[..cut]).unwrap_err();
        assert!(
            matches!(
                e,
                StateFormatError::Truncated { .. } | StateFormatError::BadMagic { .. }
            ),
            "cut {cut}: {e}"
        );
    }
    let mut longer = b.clone();
    longer.push(0);
    assert_eq!(
        State::from_bytes(&longer).unwrap_err(),
        StateFormatError::TrailingBytes {
            offset: b.len(),
            extra: 1
        }
    );
    for i in 0..b.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut c = b.clone();
            c[i] ^= flip;
            if let Ok(s) = State::from_bytes(&c) {
                // whatever parses re-serialises to itself
                assert_eq!(s.to_bytes(), c, "byte {i} ^ {flip:#x}");
            }
        }
    }
    // a huge parameter count in a short file
    let mut huge = b[..12].to_vec();
    huge.extend_from_slice(&(u64::MAX / 2).to_le_bytes());
    let e = State::from_bytes(&huge).unwrap_err();
    assert!(
        matches!(
            e,
            StateFormatError::Truncated {
                field: "params",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("params"), "{e}");
    // wrong magic and version
    assert!(matches!(
        State::from_bytes(b"PLRSTATX\x01\0\0\0").unwrap_err(),
        StateFormatError::BadMagic { .. }
    ));
    let mut v2 = b.clone();
    v2[8] = 2;
    assert_eq!(
        State::from_bytes(&v2).unwrap_err(),
        StateFormatError::UnsupportedVersion {
            found: 2,
            supported: 1
        }
    );
}

/// A restored state refuses another solver, another batch size or another data set size
/// (which would silently restart buffers or the epoch).
#[test]
fn check_resume_names_what_differs() {
    let mut problem = LeastSquares::random(10, 4, 5).with_quartic(0.1);
    let adam = AdamConfig::adam(0.05)
        .with_minibatch(Minibatch::new(4, 9))
        .build()
        .unwrap();
    let out = run_from(&mut problem, &adam, State::new(theta0()), 3);
    let s = State::from_bytes(&out.to_bytes()).unwrap();
    s.check_resume(&adam, &problem).unwrap();
    let sgd = SgdConfig::new(0.1, 4, 9).build().unwrap();
    assert_eq!(s.check_resume(&sgd, &problem).unwrap_err().what, "solver");
    let adam8 = AdamConfig::adam(0.05)
        .with_minibatch(Minibatch::new(8, 9))
        .build()
        .unwrap();
    assert_eq!(
        s.check_resume(&adam8, &problem).unwrap_err().what,
        "minibatch"
    );
    let other = LeastSquares::random(12, 4, 5).with_quartic(0.1);
    let e = s.check_resume(&adam, &other).unwrap_err();
    assert_eq!(e.what, "sample count");
    assert!(
        e.to_string().contains("10") && e.to_string().contains("12"),
        "{e}"
    );
    let wider = LeastSquares::random(10, 5, 5).with_quartic(0.1);
    assert_eq!(
        s.check_resume(&adam, &wider).unwrap_err().what,
        "parameter count"
    );
}
