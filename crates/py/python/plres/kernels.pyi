# the kernels module re-exports the native module's functions (same signatures)
from ._plres import cross_gram as cross_gram
from ._plres import eigenvalues as eigenvalues
from ._plres import gaussian_gershgorin_bound as gaussian_gershgorin_bound
from ._plres import gershgorin_lower_bound as gershgorin_lower_bound
from ._plres import gram as gram
from ._plres import lambda_min as lambda_min
from ._plres import min_separation as min_separation
