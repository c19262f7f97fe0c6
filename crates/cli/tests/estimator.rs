//! The estimator API: a certified fit on a digits subset, the resolved defaults, the
//! checkpoint round trip, chunked training equal to one run, typed errors naming the
//! setting, and the types a Python wrapper holds being `Send + Sync`.

use faer::Mat;
use plres::{Estimator, ModelKind, Network, PlresError, Predictions, TargetsRef, Width};

fn digits(n: usize) -> (Mat<f64>, Vec<usize>) {
    let d = plres_data::load_digits().unwrap();
    let labels = d.y.labels().unwrap()[..n].to_vec();
    (d.x.as_ref().subrows(0, n).to_owned(), labels)
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<plres::Fitted>();
    check::<Network>();
    check::<Estimator>();
    check::<PlresError>();
    check::<plres::Certificate>();
}

/// 300 digits, `p = 512 ≥ N_train = 240`: the certificate is positive and `ρ ≥ μ_cert` at
/// every certified iterate; the saved network predicts as the fitted one, bitwise.
#[test]
fn certified_fit_on_digits_and_checkpoint_round_trip() {
    let (x, labels) = digits(300);
    let y = TargetsRef::Classes(&labels);
    let fitted = Estimator::new()
        .width(512)
        .depth(4)
        .steps(15)
        .certify_every(5)
        .fit(x.as_ref(), y)
        .unwrap();
    let c = &fitted.config;
    assert_eq!(
        (c.n_train, c.n_test, c.d_in, c.d_out, c.state_dim),
        (240, 60, 64, 10, 64)
    );
    assert_eq!(c.width.width, Some(512));
    assert!(c.bandwidth.unwrap() > 0.0);
    let certified: Vec<_> = fitted
        .trace
        .iter()
        .filter(|r| r.mu_cert.is_some())
        .collect();
    assert_eq!(
        certified.iter().map(|r| r.iteration).collect::<Vec<_>>(),
        vec![0, 5, 10, 15]
    );
    for r in &certified {
        let (rho, mu) = (r.rho_certified.unwrap(), r.mu_cert.unwrap());
        assert!(mu > 0.0, "p ≥ N: a positive certificate, got {mu}");
        assert!(rho >= mu * (1.0 - 1e-9), "ρ = {rho} < μ_cert = {mu}");
        // full batch: the optimizer's ρ and the monitor's are the same number
        assert!((r.rho - rho).abs() <= 1e-12 * rho);
    }
    assert!(fitted.report.violations.is_empty());
    assert!(fitted.report.final_loss < fitted.report.initial_loss);
    assert_eq!(fitted.trace.len(), 16);
    // score = accuracy of predict
    let acc = fitted.score(x.as_ref(), y).unwrap();
    let Predictions::Classes(p) = fitted.predict(x.as_ref()).unwrap() else {
        panic!("a classifier predicts classes")
    };
    let hits = p.iter().zip(&labels).filter(|(a, b)| a == b).count();
    assert_eq!(acc, hits as f64 / 300.0);
    // checkpoint round trip
    let path = std::env::temp_dir().join(format!("plres-est-{}.safetensors", std::process::id()));
    fitted.save(&path).unwrap();
    let back = Network::load(&path).unwrap();
    let (a, b) = (
        fitted.network.outputs(x.as_ref()).unwrap(),
        back.outputs(x.as_ref()).unwrap(),
    );
    for i in 0..a.nrows() {
        for j in 0..a.ncols() {
            assert_eq!(a[(i, j)].to_bits(), b[(i, j)].to_bits());
        }
    }
    // the certificate at the trained θ on 100 samples: μ_cert ≤ μ_tight ≤ ρ
    let cert = plres::certify(
        &back,
        x.as_ref().subrows(0, 100),
        TargetsRef::Classes(&labels[..100]),
    )
    .unwrap();
    let (mu, tight) = (cert.mu_cert.unwrap(), cert.mu_tight.unwrap());
    assert!(mu > 0.0 && mu <= tight * (1.0 + 1e-9) && tight <= cert.rho * (1.0 + 1e-9));
    assert!(
        cert.checks
            .iter()
            .all(|c| !matches!(c.verdict, plres_theory::Verdict::Fails))
    );
    std::fs::remove_file(&path).unwrap();
}

/// Training in snapshot chunks is the uninterrupted run (SGD, regression), and resuming
/// from a snapshot's state finishes it bitwise.
#[test]
fn chunks_and_resume_are_the_uninterrupted_run() {
    let x = Mat::from_fn(40, 2, |i, j| {
        ((i * 3 + j * 5) as f64 * 0.37).sin() + 0.05 * i as f64
    });
    let yv = Mat::from_fn(40, 1, |i, _| x[(i, 0)] * x[(i, 1)]);
    let y = TargetsRef::Regression(yv.as_ref());
    let est = Estimator::new()
        .width(Width::Value(40))
        .depth(3)
        .optimizer(plres::OptimizerKind::Sgd)
        .batch(8)
        .epochs(4);
    let whole = est.fit(x.as_ref(), y).unwrap();
    let mut saved = Vec::new();
    let mut save = |s: &plres_optim::State, rows: &[plres::TraceRow]| {
        saved.push((s.clone(), rows.to_vec()));
        Ok(())
    };
    let chunked = est
        .prepare(x.as_ref(), y)
        .unwrap()
        .train_with_snapshots(
            None,
            &mut [],
            Some(plres::Snapshots {
                every: 7,
                save: &mut save,
            }),
        )
        .unwrap();
    assert_eq!(whole.trace, chunked.trace);
    assert_eq!(
        whole.network.model().params(),
        chunked.network.model().params()
    );
    let (state, _) = saved.first().cloned().unwrap();
    assert_eq!(state.iteration(), 7);
    let state = plres_optim::State::from_bytes(&state.to_bytes()).unwrap();
    let resumed = est
        .prepare(x.as_ref(), y)
        .unwrap()
        .train(Some(state), &mut [])
        .unwrap();
    assert_eq!(
        whole.network.model().params(),
        resumed.network.model().params()
    );
    assert_eq!(&whole.trace[7..], &resumed.trace[..]);
}

#[test]
fn errors_name_the_setting_and_the_value() {
    let (x, labels) = digits(20);
    let y = TargetsRef::Classes(&labels);
    let e = Estimator::new().lr(-0.5).fit(x.as_ref(), y).unwrap_err();
    assert!(
        matches!(e, PlresError::InvalidSetting { field: "lr", .. }),
        "{e}"
    );
    assert!(e.to_string().contains("-0.5"));
    let e = Estimator::new()
        .test_fraction(1.0)
        .fit(x.as_ref(), y)
        .unwrap_err();
    assert!(e.to_string().contains("test_fraction = 1"), "{e}");
    let e = Estimator::new()
        .model(ModelKind::Kernel)
        .width(10)
        .fit(x.as_ref(), y)
        .unwrap_err();
    assert!(
        matches!(e, PlresError::Incompatible { field: "width", .. }),
        "{e}"
    );
    let mut bad = x.clone();
    bad[(3, 7)] = f64::NAN;
    let e = Estimator::new().fit(bad.as_ref(), y).unwrap_err();
    assert!(
        matches!(
            e,
            PlresError::NonFinite {
                row: 3,
                column: 7,
                ..
            }
        ),
        "{e}"
    );
    let e = Estimator::new()
        .fit(x.as_ref(), TargetsRef::Classes(&labels[..5]))
        .unwrap_err();
    assert!(e.to_string().contains("5 targets for 20 samples"), "{e}");
}

/// `auto` width: the pointwise bound when it is below the cap (a Gaussian kernel of small
/// bandwidth on well-separated points), the cap otherwise, and which one is reported.
#[test]
fn auto_width_is_the_bound_or_the_cap() {
    let x = Mat::from_fn(6, 2, |i, j| {
        if j == 0 {
            3.0 * i as f64
        } else {
            (i % 2) as f64
        }
    });
    let yv = Mat::from_fn(6, 1, |i, _| i as f64);
    let y = TargetsRef::Regression(yv.as_ref());
    let est = Estimator::new()
        .bandwidth(0.3)
        .width_cap(1_000_000)
        .steps(1);
    let p = est.prepare(x.as_ref(), y).unwrap();
    let w = &p.config.width;
    assert_eq!(w.source, "bound");
    let bound = w.bound.unwrap();
    assert_eq!(w.width, Some(bound));
    // the bound at δ = 0.05 on the standardised training inputs, from the library directly
    let (lmin, norm) = (w.lambda_min.unwrap(), w.norm_k.unwrap());
    let n = p.config.n_train;
    use plres_rff::bounds::failure_probability_pointwise as fp;
    assert!(fp(bound, n, lmin, norm, 0.5).unwrap() <= 0.05);
    assert!(fp(bound - 1, n, lmin, norm, 0.5).unwrap() > 0.05);
    let capped = Estimator::new().bandwidth(0.3).width_cap(7).steps(1);
    let w = capped.prepare(x.as_ref(), y).unwrap().config.width;
    assert_eq!(
        (w.width, w.source.as_str(), w.bound),
        (Some(7), "cap", Some(bound))
    );
    assert!(w.note.unwrap().contains("cap"));
}
