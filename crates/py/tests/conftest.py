"""Shared helpers: bitwise comparison and seeded data."""

import numpy as np
import pytest

EPS = np.finfo(np.float64).eps


def assert_bits_equal(a, b):
    """Same shape and the same 64 bits in every entry (NaN payloads included)."""
    a = np.ascontiguousarray(np.asarray(a, dtype=np.float64))
    b = np.ascontiguousarray(np.asarray(b, dtype=np.float64))
    assert a.shape == b.shape, (a.shape, b.shape)
    diff = a.view(np.uint64) != b.view(np.uint64)
    assert not diff.any(), f"{diff.sum()} entries differ, first at {np.argwhere(diff)[0]}"


@pytest.fixture
def rng():
    return np.random.default_rng(20221128)


def points(rng, n, d, scale=1.0):
    return scale * rng.standard_normal((n, d))
