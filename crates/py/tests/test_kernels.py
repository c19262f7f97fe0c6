"""plres.kernels: Gram matrices and spectra, bitwise the Rust API and checked in NumPy."""

import numpy as np
import pytest

from plres import _plres, kernels
from conftest import EPS, assert_bits_equal, points

ALL = [
    ("gaussian", 0.8),
    ("laplace", 1.2),
    ("matern32", 1.0),
    ("matern52", 0.5),
    ("inverse_multiquadric", 1.5),
    ("arc_cosine1", 1.0),
    ("linear", 1.0),
]


@pytest.mark.parametrize("kernel,bandwidth", ALL)
def test_gram_is_bitwise_the_rust_api(rng, kernel, bandwidth):
    X = points(rng, 40, 5)
    want = np.array(_plres._reference_gram(kernel, bandwidth, X.tolist()))
    assert_bits_equal(kernels.gram(X, kernel, bandwidth), want)
    assert_bits_equal(kernels.gram(np.asfortranarray(X), kernel, bandwidth), want)


def test_gram_matches_the_formulas(rng):
    """Independent NumPy evaluation; the GEMM identity ‖x−y‖² = ‖x‖² + ‖y‖² − 2x·y loses
    ≈ (d+2)·eps·(‖x‖² + ‖y‖²) absolutely in r², which |∂k/∂r²| ≤ 1/(2σ²) carries to k."""
    X = points(rng, 30, 4)
    r2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    sq = (X**2).sum(1)
    slack = 4 * (4 + 2) * EPS * (sq[:, None] + sq[None, :])
    sigma = 0.9
    K = kernels.gram(X, "gaussian", sigma)
    assert (np.abs(K - np.exp(-r2 / (2 * sigma**2))) <= slack / (2 * sigma**2) + 4 * EPS).all()
    assert_bits_equal(K, K.T)
    assert (np.diag(K) == 1.0).all()
    lin = kernels.gram(X, "linear")
    assert np.allclose(lin, X @ X.T, rtol=0, atol=8 * 4 * EPS * np.sqrt(np.outer(sq, sq)).max())


def test_cross_gram_blocks_of_the_gram(rng):
    X = points(rng, 12, 3)
    K = kernels.gram(X, "matern52", 1.1)
    C = kernels.cross_gram(X[:5], X[5:], "matern52", 1.1)
    assert np.allclose(C, K[:5, 5:], rtol=0, atol=64 * EPS)


def test_spectrum_is_bitwise_the_rust_api_and_agrees_with_lapack(rng):
    X = points(rng, 25, 3)
    K = kernels.gram(X, "gaussian", 0.7)
    lmin, gersh = _plres._reference_spectrum(K.tolist())
    assert kernels.lambda_min(K) == lmin
    assert kernels.gershgorin_lower_bound(K) == gersh
    ev = np.linalg.eigvalsh(K)
    # backward-stable symmetric eigensolvers: |Δλ| ≤ c·n·eps·‖K‖₂
    tol = 8 * K.shape[0] * EPS * ev[-1]
    assert abs(kernels.lambda_min(K) - ev[0]) <= tol
    assert np.allclose(kernels.eigenvalues(K), ev, rtol=0, atol=tol)
    assert gersh <= lmin


def test_gaussian_gershgorin_bound_is_a_lower_bound(rng):
    X = points(rng, 8, 2, scale=3.0)
    sigma = 0.5
    delta = kernels.min_separation(X)
    bound = kernels.gaussian_gershgorin_bound(len(X), delta, sigma)
    assert bound == 1 - (len(X) - 1) * np.exp(-delta**2 / (2 * sigma**2))
    assert bound <= kernels.lambda_min(kernels.gram(X, "gaussian", sigma))


def test_min_separation_is_the_rust_value_and_the_brute_force(rng):
    X = points(rng, 30, 3)
    assert kernels.min_separation(X) == _plres._reference_min_separation(X.tolist())
    D = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)) + np.diag(np.full(len(X), np.inf))
    assert abs(kernels.min_separation(X) - D.min()) <= 4 * EPS * D.min()
    assert kernels.min_separation(X[:1]) == np.inf


@pytest.mark.parametrize(
    "K,message",
    [
        (np.ones((2, 3)), "must be square, got 2×3"),
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), "non-finite value NaN at \\(1, 0\\)"),
        (np.zeros((0, 0)), "empty"),
        (np.eye(3, dtype=np.float32), "float32"),
        (np.ones(3), "1-D"),
    ],
)
def test_bad_matrices(K, message):
    with pytest.raises(ValueError, match=message):
        kernels.lambda_min(K)


def test_bad_kernel_arguments(rng):
    X = points(rng, 3, 2)
    with pytest.raises(ValueError, match="sigma"):
        kernels.gram(X, "gaussian", 0.0)
    with pytest.raises(ValueError, match="unknown kernel"):
        kernels.gram(X, "rbf")
    with pytest.raises(ValueError, match="expected 2 columns"):
        kernels.cross_gram(X, points(rng, 3, 3))
    with pytest.raises(ValueError, match="sigma"):
        kernels.gaussian_gershgorin_bound(3, 0.5, -1.0)
