"""scikit-learn estimators over the library estimator API of the ``plres`` Rust crate.

The network (theory §3): standardised inputs x̃, x⁰ = A x̃ (zero padding to the state
dimension d = max(d_in, d_out)), depth L, step h = 1/L,

    linear:  x^{k+1} = x^k + h U_k φ(x^k),        φ random Fourier/ReLU features, U_k trained
    kernel:  x^{k+1} = x^k + h θ_k(x^k),          θ_k = Σ_c k(·, c) a_c  (infinite width)

output z = B x^L (the first d_out coordinates), loss L = (1/N) Σ ½‖z_i − y_i‖² (class labels
one-hot), trained by gradient descent in the L²-in-depth metric. At every certified iterate
the run records ρ = ‖G‖²/L and the PL certificate

    μ_cert = (2/N) σ_min(Bᵀ)² h Σ_k λ_k Π_{j>k} (1 − h a_j)₊²,   λ_k = λ_min(K_k),

a theorem for these (Euler) networks: ρ ≥ μ_cert, hence linear convergence while it stays
positive (theory §5). ``certificate_`` holds that trace.

Every number comes from the Rust crate ``plres`` (crates/cli): ``fit`` is
``plres::Estimator::from_config(..).prepare(X, y)?.train(..)`` with the GIL released;
Ctrl-C stops a long fit at the next iterate and raises ``KeyboardInterrupt``.

Input conventions (scikit-learn's): X is converted to float64 if it is numeric (int,
bool, float32 — a copy), used as is (no copy) if it is float64 in C or Fortran order;
non-numeric, complex or sparse X raise; NaN/inf in X raise ``ValueError`` with the Rust
message, NaN/inf in y scikit-learn's.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Optional

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from . import _plres

try:  # scikit-learn ≥ 1.6
    from sklearn.utils.validation import validate_data as _sk_validate_data

    def _validate(est, X, y="no_validation", reset=True, **kw):
        return _sk_validate_data(est, X, y, reset=reset, **kw)

except ImportError:  # pragma: no cover - older scikit-learn

    def _validate(est, X, y="no_validation", reset=True, **kw):
        return est._validate_data(X, y, reset=reset, **kw)


def _finite_kw() -> dict:
    """Leave NaN/inf in X to the Rust checks (their message names row, column, value)."""
    import inspect

    from sklearn.utils.validation import check_array

    params = inspect.signature(check_array).parameters
    return {"ensure_all_finite": False} if "ensure_all_finite" in params else {"force_all_finite": False}


_X_KW = dict(dtype=np.float64, order=None, accept_sparse=False)

#: names of the trace arrays of ``certificate_`` (one entry per iterate; NaN where the
#: iterate was not certified)
TRACE_KEYS = (
    "iteration",
    "epoch",
    "loss",
    "grad_norm_sq",
    "rho",
    "learning_rate",
    "mu_cert",
    "rho_certified",
    "lambda_min",
    "mu_tight",
)


def _check_complex(X):
    if np.iscomplexobj(X) if hasattr(X, "dtype") else False:
        raise ValueError("Complex data not supported: X must be real (float64)")


class _Base(BaseEstimator):
    """Shared fit/predict/checkpoint plumbing; subclasses fix the model and the task."""

    _model = "linear"
    _classifier = False

    # -- settings -----------------------------------------------------------------------
    def _config(self) -> dict:
        """The serde form of ``plres::EstimatorConfig`` (names as in the config file)."""
        width = getattr(self, "n_features", None)
        bandwidth = self.bandwidth
        cfg: dict[str, Any] = {
            "model": self._model,
            "features": self.features,
            "bandwidth": "auto" if bandwidth == "auto" else {"value": float(bandwidth)},
            "width": "auto" if width in (None, "auto") else {"value": int(width)},
            "depth": int(self.depth),
            "integrator": self.integrator,
            "optimizer": self.optimizer,
            "lr": None if self.lr is None else float(self.lr),
            "budget": {"steps": int(self.steps)},
            "seed": int(self.seed),
            # scikit-learn does its own splitting: train on everything given
            "test_fraction": 0.0,
            "certify_every": None if self.certify_every is None else int(self.certify_every),
        }
        if getattr(self, "width_cap", None) is not None:
            cfg["width_cap"] = int(self.width_cap)
        if getattr(self, "batch_size", None) is not None:
            cfg["batch"] = int(self.batch_size)
        return cfg

    # -- validation ---------------------------------------------------------------------
    def _check_X(self, X, reset: bool) -> np.ndarray:
        _check_complex(X)
        X = _validate(self, X, reset=reset, **_X_KW, **_finite_kw())
        if reset and X.shape[0] == 1:
            raise ValueError(
                f"{type(self).__name__}: fitting needs at least 2 samples, got n_samples = 1"
            )
        return X

    def _prepare_y(self, y):
        raise NotImplementedError

    # -- scikit-learn API -----------------------------------------------------------------
    def fit(self, X, y):
        """Trains the network on (X, y); records the certificate trace in ``certificate_``."""
        _check_complex(X)
        X, y = _validate(
            self,
            X,
            y,
            reset=True,
            multi_output=not self._classifier,
            y_numeric=not self._classifier,
            **_X_KW,
            **_finite_kw(),
        )
        if X.shape[0] == 1:
            raise ValueError(
                f"{type(self).__name__}: fitting needs at least 2 samples, got n_samples = 1"
            )
        yt = self._prepare_y(y, fitting=True)
        net, trace, report, resolved = _plres.fit(
            json.dumps(self._config()), X, yt, self._classifier
        )
        self.network_ = net
        self.certificate_ = dict(trace)
        self.report_ = json.loads(report)
        self.resolved_config_ = json.loads(resolved)
        return self

    def predict(self, X) -> np.ndarray:
        """Predictions: class labels (classifier) or values (regressor; 1-D if y was)."""
        check_is_fitted(self, "network_")
        X = self._check_X(X, reset=False)
        return self._decode(self.network_.predict(X))

    def certify(self, X, y) -> dict:
        """The PL certificate at the trained parameters on (X, y): see :func:`plres.certify`."""
        check_is_fitted(self, "network_")
        X = self._check_X(X, reset=False)
        return _certificate_dict(self.network_.certify(X, self._prepare_y(y, fitting=False)))

    @property
    def params_(self) -> np.ndarray:
        """The trained parameters θ, flat (U_0, …, U_{L−1}; kernel: coefficients)."""
        check_is_fitted(self, "network_")
        return self.network_.params

    # -- checkpoints ----------------------------------------------------------------------
    def save(self, path) -> None:
        """Writes the trained network (weights, features, standardisation, task) as a
        plres safetensors checkpoint (the file the ``plres`` command line reads)."""
        check_is_fitted(self, "network_")
        self.network_.save(os.fspath(path))
        # the scikit-learn side (label encoding, 1-D y) travels beside it
        with open(os.fspath(path) + ".sklearn.json", "w") as f:
            json.dump(self._sidecar(), f)

    @classmethod
    def load(cls, path):
        """An estimator whose ``network_`` is the checkpoint at ``path`` (``certificate_``
        is not stored in checkpoints: ``None``)."""
        est = cls()
        est.network_ = _plres.Network.load(os.fspath(path))
        side = os.fspath(path) + ".sklearn.json"
        meta = {}
        if os.path.exists(side):
            with open(side) as f:
                meta = json.load(f)
        est.set_params(**{k: v for k, v in meta.get("params", {}).items() if k in est.get_params()})
        est._restore(meta)
        est.n_features_in_ = est.network_.input_dim
        est.certificate_ = None
        return est

    def _sidecar(self) -> dict:
        return {"params": self.get_params()}

    def _restore(self, meta: dict) -> None:
        pass

    # pickling goes through the same checkpoint
    def __getstate__(self):
        state = self.__dict__.copy()
        net = state.pop("network_", None)
        if net is not None:
            fd, tmp = tempfile.mkstemp(suffix=".safetensors")
            os.close(fd)
            try:
                net.save(tmp)
                with open(tmp, "rb") as f:
                    state["_checkpoint_bytes"] = f.read()
            finally:
                os.unlink(tmp)
        return state

    def __setstate__(self, state):
        blob = state.pop("_checkpoint_bytes", None)
        self.__dict__.update(state)
        if blob is not None:
            fd, tmp = tempfile.mkstemp(suffix=".safetensors")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(blob)
                self.network_ = _plres.Network.load(tmp)
            finally:
                os.unlink(tmp)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        if not self._classifier:
            tags.target_tags.multi_output = True
            tags.target_tags.single_output = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multioutput": not self._classifier}


class _LinearParams:
    """The parameters of the linear-model estimators (:class:`LinearResNetRegressor`
    documents them); scikit-learn reads them from this signature."""

    def __init__(
        self,
        depth: int = 8,
        n_features="auto",
        features: str = "gaussian",
        bandwidth="auto",
        width_cap: int = 512,
        integrator: str = "euler",
        optimizer: str = "gd",
        lr: Optional[float] = None,
        steps: int = 100,
        batch_size: Optional[int] = None,
        seed: int = 0,
        certify_every: Optional[int] = None,
    ):
        self.depth = depth
        self.n_features = n_features
        self.features = features
        self.bandwidth = bandwidth
        self.width_cap = width_cap
        self.integrator = integrator
        self.optimizer = optimizer
        self.lr = lr
        self.steps = steps
        self.batch_size = batch_size
        self.seed = seed
        self.certify_every = certify_every


class _RegressorBase(RegressorMixin, _Base):
    def _prepare_y(self, y, fitting: bool):
        y = np.asarray(y, dtype=np.float64)
        if fitting:
            self._y_1d = y.ndim == 1
        if y.ndim == 1:
            if not fitting and self.network_.n_outputs != 1:
                raise ValueError(
                    f"y: the network has {self.network_.n_outputs} outputs, got a 1-D y; "
                    f"pass y with shape (n_samples, {self.network_.n_outputs})"
                )
            y = y.reshape(-1, 1)
        elif y.ndim != 2:
            raise ValueError(f"y: expected a 1-D or 2-D array, got shape {y.shape}")
        return y

    def _decode(self, z):
        return z[:, 0].copy() if getattr(self, "_y_1d", False) else z

    def score(self, X, y, sample_weight=None) -> float:
        """scikit-learn's R² (uniform average over outputs) of ``predict(X)`` against y;
        a 1-D y for a network with several outputs is a ``ValueError``."""
        check_is_fitted(self, "network_")
        yy = np.asarray(y)
        if yy.ndim == 1 and self.network_.n_outputs != 1:
            self._prepare_y(yy, fitting=False)
        return super().score(X, y, sample_weight=sample_weight)

    def _sidecar(self):
        return {"params": self.get_params(), "y_1d": bool(self._y_1d)}

    def _restore(self, meta):
        self._y_1d = bool(meta.get("y_1d", False))


class LinearResNetRegressor(_LinearParams, _RegressorBase):
    """The ResNet linear in its trained parameters, x^{k+1} = x^k + h U_k φ(x^k), as a
    scikit-learn regressor (squared loss; module docs for the maths).

    Parameters
    ----------
    depth : int, default 8
        L; the step is h = 1/L.
    n_features : int or "auto", default "auto"
        p, the number of random features. "auto": the smallest p for which the matrix
        Bernstein bound gives λ_min(K_p) ≥ λ_min(K)/2 on the training inputs with probability
        ≥ 0.95 (theory §6), capped at ``width_cap``.
    features : {"gaussian", "laplace", "matern32", "matern52", "relu"}, default "gaussian"
        Random Fourier features of that kernel, or random ReLU features.
    bandwidth : float or "auto", default "auto"
        σ or ℓ of the kernel; "auto": the median pairwise distance of the standardised inputs.
    width_cap : int, default 512
        Largest p "auto" may choose.
    integrator : {"euler", "midpoint", "rk4"}, default "euler"
        Euler is the ResNet (μ_cert is a theorem); the others discretise the neural ODE.
    optimizer : {"gd", "sgd", "adam"}, default "gd"
        Steps in the L²-in-depth metric.
    lr : float or None, default None
        Learning rate (None: 0.5 for gd/sgd, 0.01 for adam).
    steps : int, default 100
        Optimizer steps.
    batch_size : int or None, default None
        Minibatch size (sgd/adam); None: the optimizer's default.
    seed : int, default 0
        Seed of every random draw (features, minibatches): the Rust API's bits.
    certify_every : int or None, default None
        Certify every k-th iterate (None: about 50 iterates per run, and the last).

    Attributes
    ----------
    certificate_ : dict of str → ndarray
        Per-iterate trace: iteration, epoch, loss, grad_norm_sq, rho (= ‖G‖²/L),
        learning_rate, mu_cert, rho_certified, lambda_min, mu_tight (NaN where not computed).
    report_ : dict
        The training report (iterations, initial/final loss, train score, μ_cert min, …).
    resolved_config_ : dict
        Every setting as resolved by Rust (the width and bandwidth actually used, …).
    network_ : plres._plres.Network
        The trained network.
    """

    _model = "linear"


class KernelResNetRegressor(_RegressorBase):
    """The infinite-width limit x^{k+1} = x^k + h θ_k(x^k), θ_k = Σ_c k(·, c) a_c in the
    RKHS of the kernel, with the coefficients trained on a frozen dictionary (the training
    trajectory at θ = 0), as a scikit-learn regressor (theory §3.4).

    Parameters are those of :class:`LinearResNetRegressor` without ``n_features`` and
    ``width_cap`` (the width is infinite); ``features`` names the kernel
    ("gaussian", "laplace", "matern32", "matern52"; "relu": the arc-cosine kernel).
    """

    _model = "kernel"

    def __init__(
        self,
        depth: int = 8,
        features: str = "gaussian",
        bandwidth="auto",
        integrator: str = "euler",
        optimizer: str = "gd",
        lr: Optional[float] = None,
        steps: int = 100,
        batch_size: Optional[int] = None,
        seed: int = 0,
        certify_every: Optional[int] = None,
    ):
        self.depth = depth
        self.features = features
        self.bandwidth = bandwidth
        self.integrator = integrator
        self.optimizer = optimizer
        self.lr = lr
        self.steps = steps
        self.batch_size = batch_size
        self.seed = seed
        self.certify_every = certify_every


class LinearResNetClassifier(_LinearParams, ClassifierMixin, _Base):
    """:class:`LinearResNetRegressor`'s network trained on one-hot labels (squared loss,
    so the PL certificate applies), predicting argmax_c z_c. Same parameters.

    Attributes
    ----------
    classes_ : ndarray
        The labels, in the order of the network's outputs.
    """

    _model = "linear"
    _classifier = True

    def _prepare_y(self, y, fitting: bool):
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(
                f"y: a classifier needs a 1-D array of labels, got shape {y.shape}"
            )
        if fitting:
            check_classification_targets(y)
            enc = LabelEncoder().fit(y)
            if len(enc.classes_) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs at least 2 classes in y, got 1 class"
                )
            self.classes_ = enc.classes_
        idx = np.searchsorted(self.classes_, y)
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        if not (self.classes_[idx] == y).all():
            bad = y[self.classes_[idx] != y][0]
            raise ValueError(f"y: label {bad!r} was not seen in fit (classes_: {self.classes_})")
        return idx.astype(np.int64)

    def _decode(self, c):
        return self.classes_[c]

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy of ``predict(X)``; y must be 1-D labels (``ValueError`` otherwise)."""
        check_is_fitted(self, "network_")
        if np.ndim(y) != 1:
            raise ValueError(
                f"y: a classifier needs a 1-D array of labels, got shape {np.shape(y)}"
            )
        return super().score(X, y, sample_weight=sample_weight)

    def _sidecar(self):
        return {"params": self.get_params(), "classes": self.classes_.tolist()}

    def _restore(self, meta):
        classes = meta.get("classes")
        self.classes_ = np.asarray(
            classes if classes is not None else np.arange(self.network_.n_outputs)
        )


def _certificate_dict(text: str) -> dict:
    c = json.loads(text)
    for k in ("lambda", "a", "expressivity_lambda"):
        c[k] = np.asarray(c[k], dtype=np.float64)
    for k in ("mu_cert", "mu_tight"):
        if c.get(k) is None:
            c[k] = float("nan")
    return c


def certify(model, X, y) -> dict:
    """The PL certificate of a trained network on (X, y) at its parameters (theory §5).

    ``model`` is a fitted estimator or the path of a checkpoint. Returns a dict: ``loss``
    L(θ), ``grad_norm_sq`` ‖G‖², ``rho`` = ‖G‖²/L, ``mu_cert`` (a theorem for Euler
    networks: rho ≥ mu_cert), ``exact``, ``mu_tight`` = (2/N) λ_min(Θ) where computed,
    per-layer ``lambda`` (λ_k) and ``a`` (a_k) as arrays, ``expressivity_lambda`` (λ_min of
    the Gram at X⁰..X^L), the plres-theory ``checks`` and ``notes``.
    """
    if isinstance(model, (str, os.PathLike)):
        net = _plres.Network.load(os.fspath(model))
        X = np.asarray(X, dtype=np.float64) if not isinstance(X, np.ndarray) else X
        if net.is_classifier:
            yt = np.asarray(y).astype(np.int64)
        else:
            yt = np.asarray(y, dtype=np.float64)
            if yt.ndim == 1 and net.n_outputs == 1:
                yt = yt.reshape(-1, 1)
        return _certificate_dict(net.certify(X, yt))
    return model.certify(X, y)
