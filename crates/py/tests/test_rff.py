"""plres.rff: bitwise equality with the Rust API, the feature maps' maths, the bounds."""

import math

import numpy as np
import pytest

import plres
from plres import _plres, rff
from conftest import EPS, assert_bits_equal, points

FOURIER = [
    ("gaussian", 0.7),
    ("laplace", 1.3),
    ("matern32", 0.9),
    ("matern52", 2.0),
]


def reference(kernel, bandwidth, p, variant, seed, X):
    """φ(X) through the pure-Rust path (lists in, lists out; see src/reference.rs)."""
    return np.array(_plres._reference_transform(kernel, bandwidth, p, variant, seed, X.tolist()))


@pytest.mark.parametrize("kernel,bandwidth", FOURIER)
@pytest.mark.parametrize("variant", ["cosine_with_phase", "paired"])
@pytest.mark.parametrize("d", [3, 80])  # d ≤ 64 takes the fused SIMD path, d > 64 the GEMM
def test_fourier_transform_is_bitwise_the_rust_api(rng, kernel, bandwidth, variant, d):
    X = points(rng, 37, d)
    want = reference(kernel, bandwidth, 96, variant, 5, X)
    f = rff.RandomFourierFeatures(kernel, bandwidth, 96, variant, seed=5)
    assert_bits_equal(f.fit_transform(X), want)
    assert_bits_equal(f.transform(np.asfortranarray(X)), want)
    # a strided view is copied once, and still gives the same bits
    wide = np.zeros((37, 2 * d))
    wide[:, ::2] = X
    assert_bits_equal(f.transform(wide[:, ::2]), want)


def test_relu_transform_is_bitwise_the_rust_api(rng):
    X = points(rng, 20, 5)
    want = reference(None, 1.0, 64, "cosine_with_phase", 11, X)
    got = rff.RandomReluFeatures(64, seed=11).fit_transform(X)
    assert_bits_equal(got, want)
    assert (got >= 0).all()


@pytest.mark.parametrize("kernel", [None, "gaussian"])
def test_weights_are_the_rust_draws(kernel):
    w, b = _plres._reference_weights(kernel, 1.5, 4, 32, "cosine_with_phase", 9)
    f = (rff.RandomReluFeatures(32, seed=9) if kernel is None
         else rff.RandomFourierFeatures(kernel, 1.5, 32, seed=9))
    f.fit(np.zeros((1, 4)))
    assert_bits_equal(f.weights_, w)
    assert_bits_equal(f.bias_, b)


def test_same_seed_same_bits_other_seed_other_bits(rng):
    X = points(rng, 10, 3)
    a = rff.RandomFourierFeatures(seed=1).fit_transform(X)
    assert_bits_equal(rff.RandomFourierFeatures(seed=1).fit_transform(X), a)
    assert not np.array_equal(rff.RandomFourierFeatures(seed=2).fit_transform(X), a)


@pytest.mark.parametrize("variant", ["cosine_with_phase", "paired"])
def test_transform_matches_the_formula_in_numpy(rng, variant):
    """Independent implementation: φ(x) = √(2/p) cos(Ωx + b) or √(2/p)[cos Ωx, sin Ωx].

    Tolerance: the argument z = Ωx + b is a d-term dot product (error ≤ (d+1)·eps·Σ|ω_l x_l|
    + eps·|b|); plres' sin/cos are within 4 ulp; so |Δφ| ≤ √(2/p)·(that + 4·eps) (·2 margin).
    """
    d, p = 6, 128
    X = points(rng, 25, d)
    f = rff.RandomFourierFeatures("gaussian", 0.8, p, variant, seed=3).fit(X)
    W, b = f.weights_, f.bias_
    z = X @ W.T + (b if variant == "cosine_with_phase" else 0.0)
    zabs = np.abs(X) @ np.abs(W).T + (np.abs(b) if variant == "cosine_with_phase" else 0.0)
    s = math.sqrt(2.0 / p)
    want = s * (np.cos(z) if variant == "cosine_with_phase" else np.hstack([np.cos(z), np.sin(z)]))
    tol = 2 * s * ((d + 1) * EPS * zabs + 4 * EPS)
    if variant == "paired":
        tol = np.hstack([tol, tol])
    assert (np.abs(f.transform(X) - want) <= tol).all()


def test_kernel_is_the_expectation_of_the_features(rng):
    """E φ(x)·φ(y) = k(x, y): each product √(2/p)² cos·cos lies in [−2/p, 2/p], so by
    Hoeffding |Φ Φᵀ − K|_ij ≤ 4·√(ln(2/δ)/(2p)) with probability ≥ 1 − δ per entry
    (δ = 1e-9, a union over 36 entries)."""
    p = 20000
    X = points(rng, 6, 2, scale=0.6)
    f = rff.RandomFourierFeatures("gaussian", 1.0, p, seed=4)
    phi = f.fit_transform(X)
    tol = 4 * math.sqrt(math.log(2e9) / (2 * p))
    assert np.abs(phi @ phi.T - f.limit_gram(X)).max() <= tol


def test_pointwise_bound_is_the_closed_form_and_tight():
    n, lam, norm_k, delta, eps = 20, 0.3, 4.0, 0.05, 0.5
    p = rff.features_needed_pointwise(n, lam, norm_k, delta, eps)
    e = eps * lam
    closed = math.ceil(2 * (2 * n * norm_k + 2 * n * e / 3) * math.log(2 * n / delta) / e**2)
    assert abs(p - closed) <= 1
    assert rff.failure_probability_pointwise(p, n, lam, norm_k, eps) <= delta
    assert rff.failure_probability_pointwise(p - 1, n, lam, norm_k, eps) > delta


def test_uniform_bound_is_the_closed_form_and_tight():
    d, diameter, n, lam, delta = 2, 3.0, 10, 0.5, 0.01
    s2 = rff.spectral_second_moment("gaussian", 1.0, d)
    assert s2 == d / 1.0**2
    p = rff.features_needed_uniform(d, diameter, s2, n, lam, delta)
    e = lam / (2 * n)
    closed = math.ceil((4 * (d + 2) / e**2) * math.log(2**8 * (math.sqrt(s2) * diameter / e) ** 2 / delta))
    assert abs(p - closed) <= 1
    assert rff.failure_probability_uniform(p, d, diameter, s2, n, lam) <= delta
    assert rff.failure_probability_uniform(p - 1, d, diameter, s2, n, lam) > delta


def test_input_is_used_without_a_copy_when_contiguous(rng):
    X = points(rng, 8, 3)
    assert _plres._input_is_view(X)
    assert _plres._input_is_view(np.asfortranarray(X))
    assert not _plres._input_is_view(X[::2])
    # the feature maps read Fortran order in place and copy C order (their fused kernels
    # round differently on a row-major view; the copy keeps the Rust API's bits)
    assert _plres._input_is_view(np.asfortranarray(X), True)
    assert not _plres._input_is_view(X, True)


BAD = [
    (lambda X: X.astype(np.float32), "float32"),
    (lambda X: X.astype(np.int64), "int64"),
    (lambda X: X[:, 0], "1-D"),
    (lambda X: X[None], "3-D"),
    (lambda X: X.tolist(), "list"),
    (lambda X: X[:0], "empty"),
    (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 4, np.nan, X), "non-finite value NaN at (1, 1)"),
    (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 0, np.inf, X), "non-finite value inf at (0, 0)"),
]


@pytest.mark.parametrize("bad,message", BAD)
def test_bad_input_is_a_value_error_with_the_message(rng, bad, message):
    X = points(rng, 4, 3)
    f = rff.RandomFourierFeatures(n_features=8).fit(X)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        f.transform(bad(X))


@pytest.mark.parametrize(
    "args,message",
    [
        (("gaussian", -1.0, 8, "cosine_with_phase"), "sigma"),
        (("gaussian", float("nan"), 8, "cosine_with_phase"), "sigma"),
        (("cauchy", 1.0, 8, "cosine_with_phase"), "unknown kernel"),
        (("linear", 1.0, 8, "cosine_with_phase"), "no spectral measure"),
        (("gaussian", 1.0, 7, "paired"), "even number of features"),
        (("gaussian", 1.0, 8, "sine"), "unknown Fourier variant"),
        (("gaussian", 1.0, 0, "cosine_with_phase"), "p ≥ 1"),
    ],
)
def test_bad_configuration_is_a_value_error(args, message):
    with pytest.raises(ValueError, match=message):
        rff.RandomFourierFeatures(*args).fit(np.zeros((2, 3)))


def test_dimension_mismatch_and_bad_bounds(rng):
    f = rff.RandomFourierFeatures(n_features=8).fit(points(rng, 3, 3))
    with pytest.raises(ValueError, match="d = 3"):
        f.transform(points(rng, 3, 4))
    with pytest.raises(ValueError, match="delta"):
        rff.features_needed_pointwise(10, 0.2, 3.0, 1.5)
    with pytest.raises(ValueError, match="n must be at least 1"):
        rff.features_needed_pointwise(0, 0.2, 3.0, 0.1)
    with pytest.raises(ValueError, match="not fitted"):
        rff.RandomReluFeatures().weights_


def test_version():
    assert plres.__version__ == "0.1.0"
