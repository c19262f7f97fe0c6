"""Kernels, Gram matrices and their spectra (plres-kernels; theory §3.1, §5).

Kernels (``r = ‖x − y‖``), named by a string and one ``bandwidth``:

=========================  ======================================  =============
name                       k(x, y)                                 bandwidth
=========================  ======================================  =============
``gaussian``               exp(−r²/(2σ²))                          σ
``laplace``                exp(−r/ℓ)                               ℓ
``matern32``               (1 + √3 r/ℓ) exp(−√3 r/ℓ)               ℓ
``matern52``               (1 + √5 r/ℓ + 5r²/(3ℓ²)) exp(−√5 r/ℓ)   ℓ
``inverse_multiquadric``   (1 + r²/c²)^(−1/2)                      c
``arc_cosine1``            (1/π)‖x̃‖‖ỹ‖(sin α + (π − α) cos α)      (ignored)
``linear``                 x·y                                     (ignored)
=========================  ======================================  =============

The PL certificate of the paper is built from λ_min of Gram matrices along the
trajectories; a-priori, Gershgorin gives λ_min(K) ≥ min_i (K_ii − Σ_{j≠i} |K_ij|), and for
the Gaussian kernel on δ-separated points λ_min ≥ 1 − (N − 1) exp(−δ²/(2σ²)).

Every function takes NumPy float64 arrays (one sample per row) and raises ``ValueError``
(the Rust message) on an empty, non-finite, wrongly shaped or wrongly typed input.
"""

from ._plres import (
    cross_gram,
    eigenvalues,
    gaussian_gershgorin_bound,
    gershgorin_lower_bound,
    gram,
    lambda_min,
    min_separation,
)

__all__ = [
    "cross_gram",
    "eigenvalues",
    "gaussian_gershgorin_bound",
    "gershgorin_lower_bound",
    "gram",
    "lambda_min",
    "min_separation",
]
