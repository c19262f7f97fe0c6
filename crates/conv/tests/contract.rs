//! `ConvResNet<f64>` through plres-resnet's model contract (`Model`, `Trainable`): the
//! contract's gradient is the model's own, bit for bit; its prediction is the model's own
//! evaluation-mode prediction; its gradient is the derivative of its `loss_at` (central
//! finite differences along a random direction); and plres-optim's gradient descent trains
//! it through `TrainingProblem`.
//!
//! A separate test binary from `conv.rs`: importing the traits there would make the
//! model's inherent `&mut self` methods (`loss_and_gradient`, `loss`, `predict`)
//! resolve to the trait's `&self` methods.

#![forbid(unsafe_code)]

use faer::{Mat, MatRef};
use plres_conv::{ConvResNet, ConvResNetConfig, ResidualKind};
use plres_optim::{GradientDescentConfig, State, Stopping};
use plres_resnet::{Model, ResNetError, TargetsRef, Trainable, TrainingProblem};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

mod common;

use common::{PIXELS, images, tiny, tiny_cases};

/// The same images as the contract's `N × 784` matrix.
fn as_mat(x: &[f64], n: usize) -> Mat<f64> {
    Mat::from_fn(n, PIXELS, |i, j| x[i * PIXELS + j])
}

#[test]
fn contract_gradient_is_the_models_own_bit_for_bit_and_rejects_bad_input() {
    let n = 3;
    for (kind, mut model, x, y) in tiny_cases([1, 2], n) {
        let xm = as_mat(&x, n);
        let p = model.residual.params.clone();
        let mut ws = model.training_workspace(n);
        let mut g_trait = vec![0.0; p.len()];
        let l_trait = model
            .loss_and_gradient(
                &p,
                &mut ws,
                xm.as_ref(),
                TargetsRef::Classes(&y),
                &mut g_trait,
            )
            .unwrap();
        // the model's own (inherent, `&mut self`) training-mode step
        let mut g_own = vec![0.0; p.len()];
        let own = ConvResNet::<f64>::loss_and_gradient(&mut model, &x, &y, &mut g_own);
        assert_eq!(l_trait.to_bits(), own.loss.to_bits(), "{kind:?}: loss");
        assert!(
            g_trait
                .iter()
                .zip(&g_own)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{kind:?}: gradient"
        );
        // a second call on the warm workspace gives the same bits (running statistics
        // of the workspace's copy do not enter the training-mode loss)
        let mut g2 = vec![0.0; p.len()];
        let l2 = model
            .loss_and_gradient(&p, &mut ws, xm.as_ref(), TargetsRef::Classes(&y), &mut g2)
            .unwrap();
        assert_eq!(l2.to_bits(), l_trait.to_bits());
        assert_eq!(g2, g_trait);
        // loss_at is the same training-mode function (up to the summation order of a
        // forward pass that stores nothing)
        let l_at = model
            .loss_at(&p, xm.as_ref(), TargetsRef::Classes(&y))
            .unwrap();
        assert!(
            (l_at - l_trait).abs() <= 64.0 * f64::EPSILON * l_trait.abs().max(1.0),
            "{kind:?}: loss_at {l_at} vs loss_and_gradient {l_trait}"
        );

        // typed errors, no panic: the checked gradient's error for bad inputs
        let mut error = |params: &[f64], ws: &mut _, x: MatRef<'_, f64>, t: TargetsRef<'_>| {
            model
                .loss_and_gradient(params, ws, x, t, &mut g2)
                .unwrap_err()
        };
        let reg = Mat::<f64>::zeros(n, 10);
        let err = error(
            &p,
            &mut ws,
            xm.as_ref(),
            TargetsRef::Regression(reg.as_ref()),
        );
        assert!(matches!(err, ResNetError::Unsupported(_)), "{err}");
        // the same refusal before training starts (was a panic inside `run`)
        let Err(err) = TrainingProblem::new(
            model.clone(),
            xm.as_ref(),
            TargetsRef::Regression(reg.as_ref()),
        ) else {
            panic!("regression targets must be refused");
        };
        assert!(matches!(err, ResNetError::Unsupported(_)), "{err}");
        let bad = [0, 10, 1];
        let err = error(&p, &mut ws, xm.as_ref(), TargetsRef::Classes(&bad));
        assert!(
            matches!(
                err,
                ResNetError::LabelOutOfRange {
                    index: 1,
                    label: 10,
                    n_classes: 10
                }
            ),
            "{err}"
        );
        let err = error(&p[1..], &mut ws, xm.as_ref(), TargetsRef::Classes(&y));
        assert!(
            matches!(err, ResNetError::ParameterLength { what: "params", .. }),
            "{err}"
        );
        // 783 pixel columns instead of 784; 3 rows for a workspace of 2
        let mut small = model.training_workspace(2);
        let cases = [
            (xm.as_ref().subcols(0, 783), &mut ws, 784, 783),
            (xm.as_ref(), &mut small, 2, 3),
        ];
        for (x, ws, want, got) in cases {
            let err = error(&p, ws, x, TargetsRef::Classes(&y));
            assert!(
                matches!(err, ResNetError::DimensionMismatch { expected, found, .. }
                    if (expected, found) == (want, got)),
                "{err}"
            );
        }
    }
}

#[test]
fn contract_prediction_is_the_models_evaluation_mode_prediction() {
    let n = 5;
    for (kind, mut model, x, y) in tiny_cases([3, 4], n) {
        // one training step of the model's own moves its running statistics away from
        // their initial (0, 1), so evaluation mode differs from training mode
        let mut g = vec![0.0; model.residual.params.len()];
        let _ = ConvResNet::<f64>::loss_and_gradient(&mut model, &x, &y, &mut g);
        let mut own = Vec::new();
        let correct = ConvResNet::<f64>::predict(&mut model, &x, &y, n, &mut own);
        let xm = as_mat(&x, n);
        let pred = Model::predict(&model, xm.as_ref()).unwrap();
        assert_eq!(pred, own, "{kind:?}");
        let acc = model.accuracy(xm.as_ref(), &y).unwrap();
        assert_eq!(acc, correct as f64 / n as f64);
        // the trajectory: L + 1 states of N × 25q, logits N × 10
        let traj = model.forward_trajectory(xm.as_ref()).unwrap();
        assert_eq!(traj.states.len(), model.config.steps + 1);
        for s in &traj.states {
            assert_eq!((s.nrows(), s.ncols()), (n, 25 * model.config.q));
        }
        assert_eq!((traj.output.nrows(), traj.output.ncols()), (n, 10));
        // evaluation mode is not training mode once the running statistics moved
        let train = model.trajectory_at_unchecked(&model.residual.params, xm.as_ref());
        assert_ne!(train.output, traj.output, "{kind:?}");
    }
}

#[test]
fn zero_theta_trajectory_is_constant_in_time() {
    let cfg = ConvResNetConfig {
        q: 2,
        q_int: 2,
        steps: 3,
        kind: ResidualKind::Linear,
        seed: 5,
    };
    let model = ConvResNet::<f64>::new(cfg).unwrap();
    assert!(model.residual.params.iter().all(|v| *v == 0.0));
    let (x, _) = images(2, 5);
    let traj = model.forward_trajectory(as_mat(&x, 2).as_ref()).unwrap();
    // θ = 0: f ≡ 0 (θ carries the bias too), every midpoint step is exactly the identity
    for s in &traj.states[1..] {
        assert_eq!(s, &traj.states[0]);
    }
    assert!(
        traj.states[0]
            .col_iter()
            .any(|c| c.iter().any(|v| *v != 0.0))
    );
}

#[test]
fn contract_gradient_matches_central_differences_along_a_random_direction() {
    for (kind, seed) in [(ResidualKind::Linear, 6), (ResidualKind::Shl, 7)] {
        let model = tiny(kind, seed);
        let n = 3;
        let (x, y) = images(n, seed);
        let xm = as_mat(&x, n);
        let t = TargetsRef::Classes(&y);
        let p = model.residual.params.clone();
        let mut ws = model.training_workspace(n);
        let mut g = vec![0.0; p.len()];
        let loss = model
            .loss_and_gradient(&p, &mut ws, xm.as_ref(), t, &mut g)
            .unwrap();
        // unit direction v
        let mut rng = ChaCha8Rng::seed_from_u64(seed + 100);
        let mut v: Vec<f64> = (0..p.len())
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        v.iter_mut().for_each(|a| *a /= norm);
        // F(s) = loss_at(p + s v): D = (F(h) − F(−h)) / 2h, h = ε^{1/3}, truncation
        // ≤ h² M₃/6 and rounding ≲ ε S/h; tolerance 100 (h² + ε/h) S with S = 100 (1 + L)
        // as the crate's other whole-model checks (tests/conv.rs)
        let eps = f64::EPSILON;
        let h = eps.cbrt();
        let at = |s: f64| {
            let q: Vec<f64> = p.iter().zip(&v).map(|(a, b)| a + s * b).collect();
            model.loss_at(&q, xm.as_ref(), t).unwrap()
        };
        let fd = (at(h) - at(-h)) / (2.0 * h);
        let dir: f64 = g.iter().zip(&v).map(|(a, b)| a * b).sum();
        let tol = 100.0 * (h * h + eps / h) * 100.0 * (1.0 + loss);
        assert!(
            (fd - dir).abs() <= tol,
            "{kind:?}: fd {fd:e} vs gradient·v {dir:e} (tol {tol:e})"
        );
        // the check can fail: the directional derivative is far from 0 at this scale
        assert!(
            dir.abs() > 10.0 * tol,
            "{kind:?}: vacuous check, g·v = {dir:e}"
        );
    }
}

#[test]
fn gradient_descent_through_training_problem_lowers_the_loss() {
    let model = tiny(ResidualKind::Linear, 8);
    let n = 6;
    let (x, y) = images(n, 8);
    let xm = as_mat(&x, n);
    let t = TargetsRef::Classes(&y);
    let p0 = model.residual.params.clone();
    let l0 = model.loss_at(&p0, xm.as_ref(), t).unwrap();
    let metric = model.metric();
    let gd = GradientDescentConfig {
        metric,
        ..GradientDescentConfig::new(0.05)
    }
    .build()
    .unwrap();
    let problem = TrainingProblem::new(model, xm.as_ref(), t).unwrap();
    let trained = problem
        .run(
            &gd,
            State::new(p0.clone()),
            &Stopping::iterations(5),
            &mut [],
        )
        .unwrap();
    assert_eq!(trained.model.params(), trained.outcome.state.params());
    assert_ne!(trained.model.params(), &p0[..]);
    let l1 = trained
        .model
        .loss_at(trained.model.params(), xm.as_ref(), t)
        .unwrap();
    assert!(
        (l1 - trained.outcome.report.final_loss).abs() <= 64.0 * f64::EPSILON * l1.max(1.0),
        "loss_at {l1} vs the run's final loss {}",
        trained.outcome.report.final_loss
    );
    assert!(l1 < l0, "5 steps of gradient descent: {l0} → {l1}");
}

#[test]
fn metric_is_the_trapezoid_l2_metric_of_the_slices() {
    for kind in [ResidualKind::Linear, ResidualKind::Shl] {
        let model = tiny(kind, 9);
        let l = model.config.steps;
        let h = 1.0 / l as f64;
        let blocks = model.metric().block_list().unwrap().to_vec();
        let slices = if kind == ResidualKind::Shl { 2 } else { 1 };
        assert_eq!(blocks.len(), slices * (l + 1));
        let total: usize = blocks.iter().map(|b| b.len).sum();
        assert_eq!(total, model.residual.params.len());
        for (j, b) in blocks.iter().enumerate() {
            let k = j % (l + 1);
            let w = if k == 0 || k == l { h / 2.0 } else { h };
            assert_eq!(b.weight, w, "{kind:?} block {j}");
        }
        // the weights integrate 1 over [0, 1] (trapezoid rule)
        let sum: f64 = blocks[..=l].iter().map(|b| b.weight).sum();
        assert!((sum - 1.0).abs() <= 4.0 * f64::EPSILON);
    }
}
