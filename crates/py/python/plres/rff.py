"""Random feature maps and how many features the theory needs (plres-rff; theory §3.2, §6).

Random Fourier features (Bochner; Rahimi & Recht 2007) of a stationary kernel
k(x, y) = E_ω cos(ω·(x − y)):

* ``variant="cosine_with_phase"``: φ(x) = √(2/p) cos(Ωx + b), Ω ∈ R^{p×d}, b_j ~ U[0, 2π);
* ``variant="paired"``: φ(x) = √(2/p) [cos Ωx, sin Ωx], Ω ∈ R^{(p/2)×d} (p even);

rows ω_j from the kernel's spectral measure (N(0, σ⁻²I) for the Gaussian, Student-t for
Laplace and Matérn), so E φ(x)·φ(y) = k(x, y) with O(1/√p) fluctuations.
Random ReLU features φ(x) = √(2/p) relu(Wx + c), W, c ~ N(0, 1), have the degree-1
arc-cosine kernel of (x, 1), (y, 1) as their limit.

Feature counts (theory §6): with ε = eps·λ_min(K), matrix Bernstein gives
P(‖K_p − K‖ ≥ ε) ≤ 2n exp(−(pε²/2)/(2n‖K‖ + 2nε/3)), so λ_min(K_p) ≥ (1 − eps) λ_min(K)
with probability ≥ 1 − δ once p ≥ ⌈2(2n‖K‖ + 2nε/3) ln(2n/δ)/ε²⌉
(:func:`features_needed_pointwise`); the Rahimi–Recht covering bound
P(sup_M |k_p − k| ≥ ε) ≤ 2⁸(σ_ω D/ε)² exp(−pε²/(4(d+2))), ε = λ/(2n), holds uniformly
over a set of diameter D (:func:`features_needed_uniform`).

Sampling uses ``ChaCha8Rng::seed_from_u64(seed)`` in the order plres-rff documents: the
same seed gives the same Ω, b and φ(X), bit for bit, as the Rust API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np

from . import _plres
from ._plres import (
    failure_probability_pointwise,
    failure_probability_uniform,
    features_needed_pointwise,
    features_needed_uniform,
    spectral_second_moment,
)

if TYPE_CHECKING:
    import numpy.typing as npt

    F64 = npt.NDArray[np.float64]

__all__ = [
    "RandomFourierFeatures",
    "RandomReluFeatures",
    "failure_probability_pointwise",
    "failure_probability_uniform",
    "features_needed_pointwise",
    "features_needed_uniform",
    "spectral_second_moment",
]


class _FeatureMapBase:
    """fit/transform plumbing shared by the two maps (scikit-learn transformer protocol)."""

    _map: Optional[_plres.FeatureMap]
    n_features_in_: int

    def _sample(self, d: int) -> _plres.FeatureMap:  # pragma: no cover - overridden
        raise NotImplementedError

    def fit(self, X: F64, y: object = None) -> _FeatureMapBase:
        """Samples the random weights for ``d = X.shape[1]`` input features (``y`` ignored)."""
        X = _as_2d(X)
        self._map = self._sample(X.shape[1])
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: F64) -> F64:
        """Φ = φ(X), shape ``(n, p)``, one sample per row; fits first if not fitted.

        The result is Fortran-ordered (the Rust API's column-major matrix, written in
        place) and bitwise equal to ``FeatureMap::apply`` in Rust on the same seed.
        Fortran-ordered float64 X is read in place; C-ordered X is copied to column-major
        first (the fused kernels round differently on a row-major view).
        """
        if getattr(self, "_map", None) is None:
            self.fit(X)
        return self._map.transform(X)

    def fit_transform(self, X: F64, y: object = None) -> F64:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    @property
    def weights_(self) -> F64:
        """The sampled weights: Ω (``p × d``; ``p/2 × d`` for the paired variant) or W."""
        return self._fitted().weights

    @property
    def bias_(self) -> F64:
        """The sampled bias b (cosine with phase) or c (ReLU); empty for the paired variant."""
        return np.asarray(self._fitted().bias, dtype=np.float64)

    def limit_gram(self, X: F64) -> F64:
        """Gram matrix of the limit kernel, K(X, X) = lim_{p→∞} φ(X) φ(X)ᵀ."""
        return self._fitted().limit_gram(X)

    def _fitted(self) -> _plres.FeatureMap:
        if getattr(self, "_map", None) is None:
            raise ValueError(f"{type(self).__name__} is not fitted yet: call fit(X) first")
        return self._map


def _as_2d(X) -> np.ndarray:
    # fit only needs the width; transform validates the array itself (dtype, NaN, …)
    shape = np.shape(X)
    if len(shape) != 2 or shape[0] == 0 or shape[1] == 0:
        raise ValueError(
            f"X: expected a non-empty 2-D array (n_samples, n_features), got shape {shape}"
        )
    return X


class RandomFourierFeatures(_FeatureMapBase):
    """Random Fourier features φ: R^d → R^p of a stationary kernel (module docs).

    Parameters
    ----------
    kernel : {"gaussian", "laplace", "matern32", "matern52"}
        The kernel k approximated: E φ(x)·φ(y) = k(x, y).
    bandwidth : float
        σ (Gaussian) or ℓ (Laplace, Matérn); > 0.
    n_features : int
        p ≥ 1 (even for ``variant="paired"``).
    variant : {"cosine_with_phase", "paired"}
        √(2/p) cos(Ωx + b) or √(2/p) [cos Ωx, sin Ωx].
    seed : int
        Seed of ``ChaCha8Rng::seed_from_u64`` (the Rust API's generator).
    """

    kernel: str
    bandwidth: float
    n_features: int
    variant: str
    seed: int

    def __init__(
        self,
        kernel: str = "gaussian",
        bandwidth: float = 1.0,
        n_features: int = 256,
        variant: str = "cosine_with_phase",
        seed: int = 0,
    ) -> None:
        self.kernel = kernel
        self.bandwidth = bandwidth
        self.n_features = n_features
        self.variant = variant
        self.seed = seed
        self._map = None

    def _sample(self, d: int) -> _plres.FeatureMap:
        return _plres.FeatureMap(
            self.kernel, float(self.bandwidth), d, int(self.n_features), self.variant, int(self.seed)
        )


class RandomReluFeatures(_FeatureMapBase):
    """Random ReLU features φ(x) = √(2/p) relu(Wx + c), W, c ~ N(0, 1).

    Their limit kernel is the degree-1 arc-cosine kernel of (x, 1) and (y, 1)
    (``plres.kernels.gram(X, "arc_cosine1")``).

    Parameters
    ----------
    n_features : int
        p ≥ 1.
    seed : int
        Seed of ``ChaCha8Rng::seed_from_u64`` (the Rust API's generator).
    """

    n_features: int
    seed: int

    def __init__(self, n_features: int = 256, seed: int = 0) -> None:
        self.n_features = n_features
        self.seed = seed
        self._map = None

    def _sample(self, d: int) -> _plres.FeatureMap:
        return _plres.FeatureMap(None, 1.0, d, int(self.n_features), "cosine_with_phase", int(self.seed))
