from typing import Optional

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

class _FeatureMapBase:
    n_features_in_: int
    def fit(self, X: F64, y: object = None) -> "_FeatureMapBase": ...
    def transform(self, X: F64) -> F64: ...
    def fit_transform(self, X: F64, y: object = None) -> F64: ...
    @property
    def weights_(self) -> F64: ...
    @property
    def bias_(self) -> F64: ...
    def limit_gram(self, X: F64) -> F64: ...

class RandomFourierFeatures(_FeatureMapBase):
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
    ) -> None: ...

class RandomReluFeatures(_FeatureMapBase):
    n_features: int
    seed: int
    def __init__(self, n_features: int = 256, seed: int = 0) -> None: ...

# the bounds are the native module's own functions (same signatures)
from ._plres import failure_probability_pointwise as failure_probability_pointwise
from ._plres import failure_probability_uniform as failure_probability_uniform
from ._plres import features_needed_pointwise as features_needed_pointwise
from ._plres import features_needed_uniform as features_needed_uniform
from ._plres import spectral_second_moment as spectral_second_moment
