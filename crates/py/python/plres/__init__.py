"""plres: exact gradients, PL certificates and random-feature bounds from NumPy.

plres makes executable R. Barboni, G. Peyré, F.-X. Vialard, *On global convergence of
ResNets: From finite to infinite width using linear parameterization* (NeurIPS 2022,
arXiv:2112.05531). ResNets whose residual blocks are linear in their trained parameters,

    x^{k+1} = x^k + h U_k φ(x^k),   h = 1/L,   φ(x) = √(2/p) cos(Ωx + b),

satisfy a local Polyak–Łojasiewicz inequality ‖∇L(θ)‖² ≥ μ L(θ), with μ controlled by the
smallest eigenvalues of kernel Gram matrices along the data trajectories.

This package is a thin layer over the Rust crates (built with PyO3 and maturin): the
numbers are the Rust API's, bit for bit, on the same seed.

Modules
-------
plres.rff
    Random Fourier / ReLU feature maps and the feature-count bounds (theory §3.2, §6).
plres.kernels
    Gram matrices, λ_min, Gershgorin bounds, minimum separation (theory §3.1, §5).
LinearResNetRegressor, LinearResNetClassifier, KernelResNetRegressor
    scikit-learn estimators over the Rust crate ``plres``'s Estimator: fit with the GIL
    released (Ctrl-C interrupts), ``certificate_`` (ρ, μ_cert, loss per iterate),
    ``save``/``load`` through safetensors checkpoints.
certify
    The PL certificate of a fitted estimator or a checkpoint on (X, y).

Arrays are NumPy float64, one sample per row; C- and Fortran-ordered input is used
without a copy. Bad input raises ``ValueError`` with the Rust message.
"""

from . import kernels, rff
from ._estimators import (
    KernelResNetRegressor,
    LinearResNetClassifier,
    LinearResNetRegressor,
    certify,
)
from ._plres import __version__

__all__ = [
    "KernelResNetRegressor",
    "LinearResNetClassifier",
    "LinearResNetRegressor",
    "certify",
    "kernels",
    "rff",
    "__version__",
]
