"""The estimators: the Rust API's numbers, the certificate's theorem, checkpoints, bad input."""

import json
import math
import os
import pickle

import numpy as np
import pytest

import plres
from plres import _plres
from conftest import EPS, assert_bits_equal


def regression_data(n=40, d=2, k=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, d))
    Y = np.stack([np.sin(2 * X[:, 0] + j) * np.cos(X[:, 1]) for j in range(k)], axis=1)
    return X, Y


def small(**kw):
    params = dict(depth=4, n_features=64, steps=30, seed=3, certify_every=1)
    params.update(kw)
    return params


def test_fit_is_bitwise_the_rust_api():
    """The trace (loss, ‖G‖², ρ, μ_cert per iterate) and the trained θ equal those of
    `plres::Estimator::fit` called on owned matrices built from lists (src/estimators.rs,
    `_reference_fit`): the NumPy plumbing, the GIL release and the signal observer change
    no bit."""
    X, Y = regression_data(k=2)
    est = plres.LinearResNetRegressor(**small()).fit(np.asfortranarray(X), Y)
    rows, params = _plres._reference_fit(json.dumps(est._config()), X.tolist(), Y.tolist(), None)
    rows = np.array(rows)
    c = est.certificate_
    assert_bits_equal(c["iteration"].astype(np.float64), rows[:, 0])
    for j, key in enumerate(["loss", "grad_norm_sq", "rho", "mu_cert"], start=1):
        assert_bits_equal(c[key], rows[:, j])
    assert_bits_equal(est.params_, params)


def test_kernel_fit_is_bitwise_the_rust_api():
    X, Y = regression_data(n=20)
    est = plres.KernelResNetRegressor(depth=3, steps=10, seed=1, certify_every=1).fit(X, Y[:, 0])
    rows, params = _plres._reference_fit(json.dumps(est._config()), X.tolist(), Y.tolist(), None)
    assert_bits_equal(est.certificate_["loss"], np.array(rows)[:, 1])
    assert_bits_equal(est.params_, params)


def test_certificate_is_a_lower_bound_and_gd_converges():
    """Theorem (theory §5): for the Euler ResNet, ρ = ‖G‖²/L ≥ μ_cert at every iterate; and
    ρ is the quotient of the recorded ‖G‖² and L. Gradient descent decreases the loss."""
    X, Y = regression_data()
    est = plres.LinearResNetRegressor(**small(steps=40)).fit(X, Y[:, 0])
    c = est.certificate_
    certified = ~np.isnan(c["mu_cert"])
    assert certified.sum() >= 10
    assert (c["rho"][certified] >= c["mu_cert"][certified] * (1 - 1e-9)).all()
    assert np.allclose(c["rho"], c["grad_norm_sq"] / c["loss"], rtol=4 * EPS, atol=0)
    assert c["loss"][-1] < c["loss"][0]
    assert est.report_["final_loss"] < est.report_["initial_loss"]
    assert c["loss"].shape == c["iteration"].shape == (41,)


def test_certify_at_the_trained_parameters_matches_the_trace():
    """`certify` recomputes L, ‖G‖², μ_cert at θ_T on the training data: the same numbers
    as the last row of the run's trace (to rounding: different code path, same maths)."""
    X, Y = regression_data()
    est = plres.LinearResNetRegressor(**small()).fit(X, Y[:, 0])
    cert = plres.certify(est, X, Y[:, 0])
    last = {k: v[-1] for k, v in est.certificate_.items()}
    tol = 1e3 * EPS
    assert math.isclose(cert["loss"], last["loss"], rel_tol=tol)
    assert math.isclose(cert["grad_norm_sq"], last["grad_norm_sq"], rel_tol=tol)
    assert math.isclose(cert["mu_cert"], last["mu_cert"], rel_tol=1e-9)
    assert cert["rho"] >= cert["mu_cert"]
    assert cert["lambda"].shape == (4,)


def test_save_load_round_trip(tmp_path):
    X, Y = regression_data(k=2)
    est = plres.LinearResNetRegressor(**small()).fit(X, Y)
    path = tmp_path / "net.safetensors"
    est.save(path)
    back = plres.LinearResNetRegressor.load(path)
    assert_bits_equal(back.predict(X), est.predict(X))
    assert_bits_equal(back.params_, est.params_)
    assert back.get_params() == est.get_params()
    # the checkpoint certifies from its path too
    assert plres.certify(str(path), X, Y)["mu_cert"] == plres.certify(est, X, Y)["mu_cert"]
    # and pickling goes through the same checkpoint
    again = pickle.loads(pickle.dumps(est))
    assert_bits_equal(again.predict(X), est.predict(X))


def test_classifier_round_trip_and_labels(tmp_path):
    rng = np.random.default_rng(5)
    X = np.concatenate([rng.normal(-1, 0.3, (15, 2)), rng.normal(1, 0.3, (15, 2))])
    y = np.array(["a"] * 15 + ["b"] * 15)
    clf = plres.LinearResNetClassifier(**small(steps=60)).fit(X, y)
    assert list(clf.classes_) == ["a", "b"]
    assert clf.score(X, y) >= 0.9
    clf.save(tmp_path / "c.safetensors")
    back = plres.LinearResNetClassifier.load(tmp_path / "c.safetensors")
    assert (back.predict(X) == clf.predict(X)).all()


def test_seeds_give_the_same_bits():
    X, Y = regression_data()
    a = plres.LinearResNetRegressor(**small()).fit(X, Y[:, 0]).predict(X)
    b = plres.LinearResNetRegressor(**small()).fit(np.asfortranarray(X), Y[:, 0]).predict(X)
    assert_bits_equal(a, b)
    c = plres.LinearResNetRegressor(**small(seed=4)).fit(X, Y[:, 0]).predict(X)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(
    "X,y,message",
    [
        (np.array([[np.nan, 1.0], [0.0, 1.0], [1.0, 2.0]]), np.zeros(3), "non-finite value NaN"),
        (np.array([[0.0, 1.0], [np.inf, 1.0], [1.0, 2.0]]), np.zeros(3), "inf"),
        (np.zeros((0, 2)), np.zeros(0), "0 sample"),
        (np.zeros(5), np.zeros(5), "2D array"),
        (np.array([["a", "b"], ["c", "d"]]), np.zeros(2), "could not convert|float"),
        (np.ones((4, 2)) * (1 + 1j), np.zeros(4), "Complex data not supported"),
        (np.ones((4, 2)), np.array([0.0, np.nan, 1.0, 2.0]), "NaN"),
        (np.ones((4, 2)), np.zeros(3), "inconsistent numbers of samples"),
        (np.ones((1, 2)), np.zeros(1), "n_samples = 1"),
    ],
)
def test_bad_input_to_fit_is_a_value_error(X, y, message):
    with pytest.raises(ValueError, match=message):
        plres.LinearResNetRegressor(**small()).fit(X, y)


def test_bad_input_after_fit():
    X, Y = regression_data(k=2)
    est = plres.LinearResNetRegressor(**small()).fit(X, Y)
    with pytest.raises(ValueError, match="X has 3 features"):
        est.predict(np.ones((2, 3)))
    with pytest.raises(ValueError, match="2 outputs, got a 1-D y"):
        est.score(X, Y[:, 0])
    with pytest.raises(ValueError, match="non-finite value NaN"):
        est.predict(np.where(X == X[1, 1], np.nan, X))
    clf = plres.LinearResNetClassifier(**small()).fit(X, (Y[:, 0] > 0).astype(int))
    with pytest.raises(ValueError, match="1-D array of labels"):
        clf.score(X, np.stack([Y[:, 0] > 0] * 2, axis=1))
    with pytest.raises(ValueError, match="continuous|Unknown label type"):
        plres.LinearResNetClassifier(**small()).fit(X, Y[:, 0])


@pytest.mark.parametrize(
    "params,message",
    [
        (dict(depth=0), "depth"),
        (dict(lr=-1.0), "lr"),
        (dict(n_features=0), "width"),
        (dict(bandwidth=-2.0), "bandwidth"),
        (dict(features="rbf"), "estimator settings"),
        (dict(optimizer="gd", batch_size=4), "batch"),
    ],
)
def test_bad_settings_are_value_errors(params, message):
    X, Y = regression_data()
    with pytest.raises(ValueError, match=message):
        plres.LinearResNetRegressor(**small(**params)).fit(X, Y[:, 0])


def test_the_gil_is_released_during_fit():
    """A second thread runs Python code while the main thread is inside `fit`."""
    import threading
    import time

    X, Y = regression_data(n=200, d=4)
    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=tick)
    t.start()
    try:
        t0 = time.perf_counter()
        plres.LinearResNetRegressor(depth=8, n_features=256, steps=150, certify_every=1000).fit(X, Y[:, 0])
        t1 = time.perf_counter()
    finally:
        done.set()
        t.join()
    inside = [s for s in ticks if t0 < s < t1]
    assert len(inside) >= 3, (len(inside), t1 - t0)


def test_ctrl_c_interrupts_a_long_fit():
    """SIGINT during a long fit: `KeyboardInterrupt` at the next poll, the estimator stays
    unfitted, and it fits normally afterwards."""
    import signal
    import threading
    import time

    if not hasattr(signal, "pthread_kill"):
        pytest.skip("needs pthread_kill")
    X, Y = regression_data(n=200, d=4)
    est = plres.LinearResNetRegressor(depth=8, n_features=256, steps=10**7, certify_every=10**6)
    main = threading.main_thread().ident
    timer = threading.Timer(0.5, lambda: signal.pthread_kill(main, signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, Y[:, 0])
    assert time.perf_counter() - t0 < 60
    assert not hasattr(est, "network_")
    est.set_params(steps=5).fit(X, Y[:, 0])
    assert est.certificate_["loss"].shape == (6,)
