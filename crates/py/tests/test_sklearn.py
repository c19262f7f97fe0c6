"""scikit-learn's estimator checks (``parametrize_with_checks``).

Every check runs; the ones listed in ``EXPECTED_FAILED`` are marked xfail by scikit-learn,
each with the reason (see the README of this package and the report)."""

import inspect

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import plres

# Settings that meet the checks' score thresholds (R² > 0.5 on their 200×10 regression,
# accuracy > 0.83 on their blobs) in a test's time: 300 full-batch GD steps at lr 2 in the
# L² metric, certifying only the last iterate (the certificate is tested elsewhere).
FAST = dict(depth=4, steps=300, lr=2.0, seed=0, certify_every=1000)

ESTIMATORS = [
    plres.LinearResNetRegressor(n_features=128, **FAST),
    plres.LinearResNetClassifier(n_features=128, **FAST),
    plres.KernelResNetRegressor(depth=4, steps=60, lr=0.1, seed=0, certify_every=1000),
]

_UNSCALED = (
    "the check's targets are unscaled make_regression outputs (|y| ~ 100): plain gradient "
    "descent on ½‖z − y‖² at a fixed learning rate diverges, and plres reports that as a "
    "ValueError naming the iterate (it does not rescale y: the certificate is about the loss "
    "on the y given)"
)
_KERNEL_BUDGET = (
    "the kernel ResNet's dictionary grows with N·L; on the check's 200×10 problem it reaches "
    "train R² 0.47 after 200 steps at lr 0.05 (10 s), short of the check's 0.5 within a test "
    "budget — an optimisation-budget limit, not an API one"
)

#: estimator → check name → why it does not apply
EXPECTED_FAILED: dict = {
    "LinearResNetRegressor": {"check_regressor_multioutput": _UNSCALED},
    "KernelResNetRegressor": {"check_regressors_train": _KERNEL_BUDGET},
}


def _expected(est):
    return EXPECTED_FAILED.get(type(est).__name__, {})


kw = {}
if "expected_failed_checks" in inspect.signature(parametrize_with_checks).parameters:
    kw["expected_failed_checks"] = _expected


@parametrize_with_checks(ESTIMATORS, **kw)
def test_sklearn_compatible(estimator, check):
    check(estimator)
