//! Every check of the experiments can fail: each test feeds an experiment's own check
//! function the measurements of a run perturbed in what the check is about (a wrong
//! order, a shuffled target, a too-small width, a too-large step, a stalled run) and
//! asserts the verdict turns to Fails — next to the unperturbed measurements, which hold.

use plres_experiments::experiments::{
    depth, lazy, linear_vs_nonlinear as lvn, pl_certificate as pl, rff_bound as rff, width_limit,
};
use plres_theory::convergence::sufficient_decrease_constant;
use plres_theory::limits::IntegratorOrder;
use plres_theory::pl::{MonitorRow, MonitorSummary, monitor_reports};
use plres_theory::rff_bounds::{FailureEstimate, SlackReport};
use plres_theory::stats::{IntervalMethod, binomial_interval};

/// A run that decays exactly at its certified rate: `L_{t+1} = (1 − cημ_t) L_t`.
fn certified_run(l0: f64, mu: &[f64], c: f64, eta: f64) -> Vec<f64> {
    let mut l = vec![l0];
    for m in mu {
        let last = *l.last().unwrap();
        l.push(last * (1.0 - c * eta * m));
    }
    l
}

/// The certificates of the smoke `pl-certificate` run, in shape: 0.038 at θ₀, then
/// about 0.011 (121 iterates).
fn smoke_like_mu() -> Vec<f64> {
    (0..=120)
        .map(|t| {
            if t == 0 {
                0.038
            } else {
                0.0107 + 1e-5 * t as f64
            }
        })
        .collect()
}

fn rounding() -> pl::LossRounding {
    pl::LossRounding {
        relative: 1e-13,
        floor: 1e-28,
    }
}

/// The linear-rate check compares the observed per-step rate with the product of the
/// certified per-step rates along the run, not with `1 − ημ_min/2`: a run lowering the loss
/// by only 0.003 % per step fails it (it passed the old `≤ 1 − ημ_min/2 + 3 s.e.`), while
/// a run at the certified rate and a faster one hold.
#[test]
fn linear_rate_check_fails_for_a_run_lowering_the_loss_by_0_003_percent_per_step() {
    let mu = smoke_like_mu();
    let (eta, c) = (1.0, 0.9);
    let exact = certified_run(0.5, &mu[..120], c, eta);
    let rep = pl::certified_decay_report(&exact, &mu, eta, c, rounding());
    assert!(rep.holds(), "{rep:?}");
    let faster = certified_run(0.5, &mu[..120], 2.0 * c, eta);
    assert!(pl::certified_decay_report(&faster, &mu, eta, c, rounding()).holds());
    let slow: Vec<f64> = (0..=120).map(|t| 0.5 * (1.0 - 3e-5f64).powi(t)).collect();
    let rep = pl::certified_decay_report(&slow, &mu, eta, c, rounding());
    assert!(rep.fails(), "{rep:?}");
    // a run 1 % slower than certified per step fails too: the tolerance is rounding only
    let slower: Vec<f64> = exact
        .iter()
        .enumerate()
        .map(|(t, l)| l * 1.01f64.powi(t as i32))
        .collect();
    assert!(pl::certified_decay_report(&slower, &mu, eta, c, rounding()).fails());
    // without certificates, or with a step that raised the loss, it says nothing
    let zero = vec![0.0; 121];
    assert!(pl::certified_decay_report(&slow, &zero, eta, c, rounding()).is_vacuous());
    assert!(pl::certified_decay_report(&slow, &mu, eta, -0.1, rounding()).is_vacuous());
}

/// The `width` headline uses the same check per width: a stalled run passed off with the
/// certificates of a wide run fails, the wide run's own decay holds, and below `p = N`
/// (every certificate 0) it is vacuous.
#[test]
fn width_headline_fails_for_a_stalled_run_with_wide_certificates() {
    let mu = vec![0.02; 100];
    let wide = certified_run(1.0, &mu[..99], 1.0, 1.0);
    assert!(pl::certified_decay_report(&wide, &mu, 1.0, 1.0, rounding()).holds());
    let stalled: Vec<f64> = (0..100).map(|t| 1.0 - 1e-4 * t as f64).collect();
    assert!(pl::certified_decay_report(&stalled, &mu, 1.0, 1.0, rounding()).fails());
    let narrow = vec![0.0; 100];
    assert!(pl::certified_decay_report(&stalled, &narrow, 1.0, 1.0, rounding()).is_vacuous());
}

/// Sufficient decrease `c ≥ ½`: gradient descent on `f(x) = βx²/2` has
/// `c = 1 − ηβ/2` exactly, so `η = 1/β` holds and a too-large step `η = 1.5/β` fails.
#[test]
fn sufficient_decrease_check_fails_for_a_too_large_step() {
    let beta = 2.0;
    let run = |eta: f64| -> f64 {
        let mut x = 1.0f64;
        let (mut losses, mut grads) = (Vec::new(), Vec::new());
        for _ in 0..20 {
            losses.push(0.5 * beta * x * x);
            grads.push((beta * x).powi(2));
            x -= eta * beta * x;
        }
        losses.push(0.5 * beta * x * x);
        sufficient_decrease_constant(&losses, &grads, eta).unwrap()
    };
    let ok = run(1.0 / beta);
    assert!((ok - 0.5).abs() < 1e-12);
    assert!(pl::sufficient_decrease_report(ok).holds());
    assert!(pl::sufficient_decrease_report(run(1.5 / beta)).fails());
}

fn row(t: u64, loss: f64, rho: f64, mu: f64, path: f64) -> MonitorRow {
    MonitorRow {
        iteration: t,
        loss,
        grad_norm_sq: rho * loss,
        rho,
        mu_cert: mu,
        lambda_min: 0.1,
        a_max: 0.0,
        distance: path,
        path_length: path,
        path_bound: 2.0 * (1.0f64 / mu).sqrt(),
        exact: true,
        violation: rho < mu,
        mu_tight: f64::NAN,
    }
}

/// The monitor's checks (`pl-certificate`, `lazy`): `ρ ≥ μ_cert` fails when one iterate's
/// `ρ` is perturbed below its certificate, and the path-length bound fails when the path
/// is perturbed above `(1/c)·2√(L₀/μ_min)`.
#[test]
fn monitor_checks_fail_on_a_perturbed_certificate_or_path() {
    let rows: Vec<MonitorRow> = (0..10)
        .map(|t| row(t, 0.9f64.powi(t as i32), 0.2, 0.1, 0.1 * t as f64))
        .collect();
    let summary = MonitorSummary {
        l0: 1.0,
        mu_min: 0.1,
        decrease_c: 0.8,
        path_length: 0.9,
        rel_tol: 1e-9,
    };
    let ok = monitor_reports(&rows, &summary);
    assert!(ok.iter().all(|r| r.holds()), "{ok:?}");
    let mut bad = rows.clone();
    bad[5].rho = 0.1 * (1.0 - 1e-6);
    assert!(monitor_reports(&bad, &summary)[0].fails());
    let far = MonitorSummary {
        path_length: 1.01 * 2.0 * (1.0f64 / 0.1).sqrt() / 0.8,
        ..summary
    };
    assert!(monitor_reports(&rows, &far)[1].fails());
}

/// Depth orders without the old `+0.25` slack: an order-0.75 method fails as Euler, an
/// order-1 method with pre-asymptotic curvature holds, an order-1.5 method fails as
/// midpoint; the curve gaps fail at order ½.
#[test]
fn depth_order_checks_fail_for_a_wrong_order() {
    let hs: Vec<f64> = [4.0, 8.0, 16.0, 32.0, 64.0]
        .iter()
        .map(|l| 1.0 / l)
        .collect();
    let with_order = |q: f64| -> Vec<f64> {
        hs.iter()
            .enumerate()
            .map(|(i, h)| h.powf(q) * (1.0 + 0.2 * h) * (1.0 + 1e-3 * (i % 2) as f64))
            .collect()
    };
    let (_, ok) = depth::order_report(IntegratorOrder::Euler, &hs, &with_order(1.0)).unwrap();
    assert!(ok.holds(), "{ok:?}");
    let (_, bad) = depth::order_report(IntegratorOrder::Euler, &hs, &with_order(0.75)).unwrap();
    assert!(bad.fails(), "{bad:?}");
    let (_, bad) = depth::order_report(IntegratorOrder::Midpoint, &hs, &with_order(1.5)).unwrap();
    assert!(bad.fails(), "{bad:?}");
    let (_, ok) = depth::curve_gap_report(&hs, &with_order(1.0)).unwrap();
    assert!(ok.holds());
    let (_, bad) = depth::curve_gap_report(&hs, &with_order(0.5)).unwrap();
    assert!(bad.fails());
}

/// The width-limit slope is `−1/2` within its confidence interval only: a Monte-Carlo
/// error with small noise holds, `p^{−1/4}` (too slow) and `p^{−1}` (too fast) fail.
#[test]
fn width_limit_slope_check_fails_for_a_wrong_rate() {
    let ps: Vec<f64> = (3..11).map(|k| 2f64.powi(k)).collect();
    let err = |q: f64| -> Vec<f64> {
        ps.iter()
            .enumerate()
            .map(|(i, p)| p.powf(q) * (1.0 + 0.05 * [1.0, -1.0, 0.5, -0.5][i % 4]))
            .collect()
    };
    assert!(
        width_limit::width_slope_check("test", &ps, &err(-0.5))
            .unwrap()
            .holds()
    );
    assert!(
        width_limit::width_slope_check("test", &ps, &err(-0.25))
            .unwrap()
            .fails()
    );
    assert!(
        width_limit::width_slope_check("test", &ps, &err(-1.0))
            .unwrap()
            .fails()
    );
}

fn estimate(p: usize, failures: u64, draws: u64) -> FailureEstimate {
    FailureEstimate {
        p,
        interval: binomial_interval(failures, draws, 0.95, IntervalMethod::ClopperPearson).unwrap(),
        min_lambda_p: 0.1,
        mean_lambda_p: 0.2,
        threshold: 0.25,
    }
}

fn slack(empirical: Option<usize>, uniform: Option<usize>) -> SlackReport {
    SlackReport {
        delta: 0.1,
        lambda_min: 0.5,
        norm_k: 1.5,
        grid: vec![estimate(32, 13, 40), estimate(64, 1, 40)],
        empirical_p: empirical,
        pointwise_p: 3708,
        uniform_p: uniform,
        diameter: 3.5,
        pointwise_slack: f64::NAN,
        uniform_slack: f64::NAN,
    }
}

/// RFF bounds: a bound asking for a too-small width (a quarter of the empirical one)
/// fails, half of it is within the doubling grid's resolution; the paired uniform bound
/// fails when too small; the cosine-with-phase uniform comparison is vacuous (not proven).
#[test]
fn rff_slack_checks_fail_for_a_too_small_width() {
    assert!(rff::slack_report("b", "s", Some(3708), Some(64)).holds());
    assert!(rff::slack_report("b", "s", Some(32), Some(64)).holds());
    assert!(rff::slack_report("b", "s", Some(16), Some(64)).fails());
    assert!(rff::slack_report("b", "s", None, Some(64)).is_vacuous());
    let good = rff::uniform_reports(&slack(Some(64), Some(1000)), &slack(Some(64), Some(1000)));
    assert!(good[0].holds() && good[1].is_vacuous());
    let small = rff::uniform_reports(&slack(Some(64), None), &slack(Some(64), Some(8)));
    assert!(small[0].fails());
}

/// The bound as a curve: where it says something (`δ_pw(p) < 1`) a measured frequency
/// well above it fails; where it is ≥ 1 everywhere the check is vacuous; at a width a
/// bound prescribes, 13/40 failures against `δ = 0.1` fail.
#[test]
fn rff_failure_checks_fail_when_the_bound_is_too_optimistic() {
    let honest = [(estimate(32, 13, 40), 1.0), (estimate(4096, 0, 40), 0.05)];
    assert!(rff::bound_curve_report(&honest, 3708).holds());
    let optimistic = [(estimate(32, 13, 40), 0.01), (estimate(64, 1, 40), 0.001)];
    assert!(rff::bound_curve_report(&optimistic, 3708).fails());
    let silent = [(estimate(32, 13, 40), 1.0), (estimate(64, 1, 40), 1.0)];
    assert!(rff::bound_curve_report(&silent, 3708).is_vacuous());
    let too_small = estimate(32, 13, 40);
    assert!(plres_theory::rff_bounds::failure_report(&too_small, 0.1, "test").fails());
    assert!(plres_theory::rff_bounds::failure_report(&estimate(3708, 0, 40), 0.1, "t").holds());
}

/// Linear vs non-linear on the digits: a LinearResNet trained on shuffled labels (test
/// error near chance 0.9) is not comparable to the ShlResNet, and a final training loss at
/// the label entropy (nothing learnt) does not count as training.
#[test]
fn linear_vs_nonlinear_checks_fail_for_shuffled_targets() {
    let shl = [0.33, 0.30, 0.35];
    assert!(lvn::comparable_report(5, &[0.32, 0.31, 0.36], &shl, 450).holds());
    assert!(lvn::comparable_report(5, &[0.90, 0.88, 0.91], &shl, 450).fails());
    assert!(lvn::comparable_report(5, &[0.3], &[0.3], 450).is_vacuous());
    let ln10 = 10f64.ln();
    assert!(lvn::trains_report("t", &[0.88, 0.90, 0.86], ln10).holds());
    assert!(lvn::trains_report("t", &[2.30, 2.31, 2.29], ln10).fails());
}

/// Lazy regime in `L₀`: distance and Gram drift scaling as `√L₀` hold; a run whose
/// distance does not shrink with `L₀` (slope 0) fails, and so does one shrinking like `L₀`.
#[test]
fn lazy_l0_checks_fail_when_the_distance_does_not_shrink() {
    let l0s: Vec<f64> = [1e-2, 2.5e-3, 6.25e-4, 1.5625e-4].to_vec();
    let pow = |q: f64| -> Vec<f64> {
        l0s.iter()
            .enumerate()
            .map(|(i, l)| 3.0 * l.powf(q) * (1.0 + 0.3 * l.sqrt()) * (1.0 + 1e-3 * (i % 2) as f64))
            .collect()
    };
    assert!(
        lazy::l0_slope_report("distance", &l0s, &pow(0.5))
            .unwrap()
            .holds()
    );
    assert!(
        lazy::l0_slope_report("distance", &l0s, &pow(0.0))
            .unwrap()
            .fails()
    );
    assert!(
        lazy::l0_slope_report("distance", &l0s, &pow(1.0))
            .unwrap()
            .fails()
    );
}

/// The a-priori checks (`pl-certificate` along the run and on the small ball, `lazy`'s
/// `λ_k(θ_T) ≥ λ_R`): a certificate or an eigenvalue perturbed just below its bound fails.
#[test]
fn apriori_checks_fail_below_their_bound() {
    assert!(pl::apriori_report("t".into(), 4.2e-3, 1e-3).holds());
    assert!(pl::apriori_report("t".into(), 1e-3 * (1.0 - 1e-6), 1e-3).fails());
    assert!(lazy::apriori_lambda_report("t".into(), 0.3, 0.2, 8, 3.0).holds());
    assert!(lazy::apriori_lambda_report("t".into(), 0.2 * (1.0 - 1e-6), 0.2, 8, 3.0).fails());
}

/// Items 1–4 of docs/theory.md §5 at an iterate (`pl-certificate`'s final iterate, `width`'s
/// per-width `ρ ≥ μ_cert`) and the Gershgorin bounds at `θ = 0`, on a real model: all hold
/// as measured, and each fails when the quantity it bounds is perturbed (a gradient norm off
/// by 1e-6, a vanished adjoint, a loss the adjoint does not match, `ρ` below `μ_cert`, an
/// eigenvalue below its Gershgorin bound).
#[test]
fn certificate_items_fail_on_perturbed_measurements() {
    use faer::Mat;
    use plres_experiments::experiments::common::{euler_resnet, gaussian_features};
    use plres_resnet::Trainable as _;
    use plres_theory::expressivity::linear_expressivity;
    use plres_theory::pl::LinearCertifier;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(15);
    let (n, d) = (6, 2);
    let x = Mat::from_fn(n, d, |i, j| (i as f64 * 0.7 + j as f64 * 0.3).sin() * 1.5);
    let y = Mat::from_fn(n, d, |i, j| (i as f64 + 2.0 * j as f64).cos());
    let features = gaussian_features(0.75, d, 32, &mut rng).unwrap();
    let mut net = euler_resnet(features, 4).unwrap();
    let theta: Vec<f64> = (0..net.n_params())
        .map(|_| {
            let z: f64 = StandardNormal.sample(&mut rng);
            0.05 * z
        })
        .collect();
    net.set_params(&theta).unwrap();
    let mut cert = LinearCertifier::new(&net, n).unwrap();
    let snap = cert.evaluate(&net, &theta, x.as_ref(), y.as_ref()).unwrap();
    let reports = snap.reports();
    assert!(
        reports.len() >= 5 && reports.iter().all(|r| r.holds()),
        "{reports:?}"
    );
    let verdict = |s: &plres_theory::pl::PlSnapshot, prefix: &str| -> bool {
        s.reports()
            .into_iter()
            .find(|r| r.claim.starts_with(prefix))
            .unwrap()
            .fails()
    };
    let mut g = snap.clone();
    g.grad_norm_sq *= 1.0 + 1e-6;
    assert!(verdict(&g, "exact identity"));
    let mut k = snap.clone();
    k.grad_norm_sq = k.kernel_bound.unwrap() * (1.0 - 1e-6);
    assert!(verdict(&k, "kernel bound"));
    let mut a = snap.clone();
    a.adjoint_norm_sq[0] = 0.0;
    assert!(verdict(&a, "adjoint bound"));
    let mut t = snap.clone();
    t.loss *= 3.0 * t.terminal_adjoint_sq / (t.sigma_b_sq * 2.0 / n as f64 * t.loss);
    assert!(verdict(&t, "terminal adjoint"));
    let mut r = snap.clone();
    r.rho = r.mu_cert.unwrap() * (1.0 - 1e-6);
    assert!(verdict(&r, "PL certificate"));

    let expr = linear_expressivity(&net, x.as_ref()).unwrap();
    let ok = expr.reports();
    assert!(ok.iter().all(|r| r.holds()), "{ok:?}");
    let mut low = expr.clone();
    low.lambda[1] = low.gershgorin[1] - 1e-3 * low.trace[1];
    let bad = low.reports();
    assert!(
        bad.iter()
            .any(|r| r.claim.starts_with("Gershgorin:") && r.fails())
    );
}

/// The MNIST gates: a dropped seed (finished + diverged < seeds) and a run that did not
/// learn (final mean test error at its initial value, what shuffled labels give: no
/// signal, the error stays at chance ≈ 0.9) fail; the smoke run's counts and errors hold.
#[test]
fn mnist_checks_fail_for_a_dropped_seed_or_a_run_that_did_not_learn() {
    use plres_experiments::experiments::mnist;
    assert!(mnist::seeds_accounted_report("smoke", 1, 0, 1).holds());
    assert!(mnist::seeds_accounted_report("smoke", 2, 1, 3).holds());
    assert!(mnist::seeds_accounted_report("dropped", 1, 0, 2).fails());
    assert!(mnist::seeds_accounted_report("counted twice", 2, 1, 2).fails());
    // smoke-size measurements: 0.898 before, 0.792 after two SGD steps
    assert!(mnist::sgd_lowers_error_report("smoke", 0.898, 0.792).holds());
    // shuffled labels: the error does not move below its initial value
    assert!(mnist::sgd_lowers_error_report("shuffled", 0.898, 0.898 + 1.0 / 500.0).fails());
}

/// `pl-certificate` on the vendored MNIST (`μ_tight` by Lanczos, an interval): the chain
/// `μ_cert ≤ μ_tight ≤ ρ` holds on measurements shaped like a default run (ρ two orders
/// above a conclusive interval, μ_cert = 0); it fails when ρ is perturbed just below the
/// interval's lower end (a residual better than the worst direction) or a certificate just
/// above its upper end (plus rounding); and an interval from too few Lanczos steps is
/// VACUOUS ("inconclusive"), neither holding nor failing.
#[test]
fn mnist_chain_check_fails_on_a_broken_chain_and_is_inconclusive_for_a_short_lanczos() {
    use plres_theory::pl::tight::Looseness;
    let (lo, hi, rounding) = (4.0e-5, 4.03e-5, 1e-12);
    let at = |rho: f64, cert: f64, conclusive: bool| {
        Looseness::with_interval(rho, lo, hi, conclusive, rounding, cert)
    };
    let ok = [at(3.1e-3, 0.0, true), at(1.2e-3, 0.0, true)];
    assert!(pl::real_data_chain_report("MNIST", 450, &ok).holds());
    let rho_low = [ok[0], at(lo * (1.0 - 1e-6), 0.0, true)];
    assert!(pl::real_data_chain_report("MNIST", 450, &rho_low).fails());
    let cert_high = [ok[0], at(3.1e-3, (hi + rounding) * (1.0 + 1e-6), true)];
    assert!(pl::real_data_chain_report("MNIST", 450, &cert_high).fails());
    let short = [at(3.1e-3, 0.0, false), at(lo * 0.5, 0.0, false)];
    let rep = pl::real_data_chain_report("MNIST", 450, &short);
    assert!(rep.is_vacuous(), "{}", rep.table_row());
    assert!(rep.vacuous_reason().unwrap().contains("inconclusive"));
}
