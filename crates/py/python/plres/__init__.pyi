from . import kernels as kernels, rff as rff
from ._estimators import (
    KernelResNetRegressor as KernelResNetRegressor,
    LinearResNetClassifier as LinearResNetClassifier,
    LinearResNetRegressor as LinearResNetRegressor,
    certify as certify,
)

__version__: str
