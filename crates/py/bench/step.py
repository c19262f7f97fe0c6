"""Python-call overhead of a fit: the estimator through Python vs the Rust API alone.

Run ONLY on a quiet machine (nothing else running; timings under load are meaningless):

    python crates/py/bench/step.py            # after `pip install ./crates/py`

For each size (N, d, p, L) of benches/README.md's training-step table (SIZES) it times `LinearResNetRegressor.fit` (steps = STEPS, certificate off: certify_every
larger than the run) from Python — array validation, the JSON settings, the GIL release,
the Ctrl-C observer, the trace's NumPy arrays — and `plres::Estimator::fit` on the same
owned matrices timed inside Rust (`_rust_fit_seconds`, no Python in the loop), as the
median of ROUNDS alternating rounds, and prints the per-step times and the overhead
(target: ≤ 5 %).
"""

import json
import statistics
import time

import numpy as np

import plres
from plres import _plres

# (N, d, p, L): the step sizes of benches/README.md (the PyTorch peer's problem)
SIZES = [(1024, 16, 1024, 32), (512, 64, 4096, 16), (4096, 8, 256, 64)]
STEPS = 10
ROUNDS = 7


def main():
    print(f"{'N':>6} {'d':>4} {'p':>6} {'L':>4} {'python ms/step':>15} {'rust ms/step':>13} {'overhead':>9}")
    for n, d, p, depth in SIZES:
        rng = np.random.default_rng(0)
        X = rng.uniform(-1, 1, (n, d))
        Y = np.sin(X) @ rng.standard_normal((d, d)) / np.sqrt(d)
        est = plres.LinearResNetRegressor(
            depth=depth, n_features=p, bandwidth=1.0, steps=STEPS, certify_every=10**9
        )
        cfg = json.dumps(est._config())
        py_t, rs_t = [], []
        est.fit(X, Y)  # warm-up (page faults, thread pool)
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            est.fit(X, Y)
            py_t.append(time.perf_counter() - t0)
            rs_t.append(_plres._rust_fit_seconds(cfg, X, Y))
        py_s, rs_s = statistics.median(py_t), statistics.median(rs_t)
        print(
            f"{n:>6} {d:>4} {p:>6} {depth:>4} {1e3 * py_s / STEPS:>15.3f} "
            f"{1e3 * rs_s / STEPS:>13.3f} {100 * (py_s / rs_s - 1):>8.1f}%"
        )


if __name__ == "__main__":
    main()
