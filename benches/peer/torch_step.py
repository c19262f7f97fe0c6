#!/usr/bin/env python3
"""PyTorch eager float64 training step of the RFF ResNet: the peer `cargo xtask bench-peer`
times plres against (see benches/README.md).

Model (docs/theory.md §3.2, §4), one sample per row:
    Phi_k   = sqrt(2/p) * cos(X_k @ Omega.T + b)
    X_{k+1} = X_k + h * Phi_k @ U_k.T              (forward Euler, h = 1/L, k = 0..L-1)
    loss    = ||X_L - Y||_F^2 / (2 N)
One step = forward + backward (autograd) + SGD update U <- U - lr * dloss/dU, on the CPU with
torch.set_num_threads(THREADS) (2 by default: the benchmark machine's cores).

Input: a safetensors file (float64) with features.omega [p, d], features.bias [p],
residual.u [L, d, p], data.x [N, d], data.y [N, d], e.g. written by
`cargo run --release -p plres-benches --example step_timer -- write --size N,d,p,L --out FILE`.

Output: one JSON object on stdout: per-step wall times (ms) of the timed steps, the loss of
every step (warm-up included, so the first is the loss at the file's U), peak RSS.

Usage: python torch_step.py --input FILE [--steps 5] [--warmup 2] [--lr 0.1] [--threads 2]
"""

import argparse
import json
import math
import resource
import statistics
import sys
import time

import torch
from safetensors.torch import load_file

NAMES = ("features.omega", "features.bias", "residual.u", "data.x", "data.y")


def load_problem(path):
    """The five tensors, checked for dtype and consistent shapes."""
    tensors = load_file(path)
    missing = [n for n in NAMES if n not in tensors]
    if missing:
        raise SystemExit(f"torch_step: {path}: missing tensors {missing}")
    omega, bias, u, x, y = (tensors[n] for n in NAMES)
    for name in NAMES:
        if tensors[name].dtype != torch.float64:
            raise SystemExit(f"torch_step: {path}: {name} is {tensors[name].dtype}, expected float64")
    p, d = omega.shape
    n_layers = u.shape[0]
    if (
        bias.shape != (p,)
        or u.dim() != 3
        or u.shape[1:] != (d, p)
        or x.dim() != 2
        or x.shape[1] != d
        or y.shape != x.shape
    ):
        raise SystemExit(
            f"torch_step: {path}: inconsistent shapes omega {tuple(omega.shape)}, bias "
            f"{tuple(bias.shape)}, u {tuple(u.shape)}, x {tuple(x.shape)}, y {tuple(y.shape)}"
        )
    return omega, bias, u, x, y, n_layers


def make_loss(omega, bias, x, y, n_layers):
    """loss(U): the forward pass and the squared loss, as PyTorch code one would write."""
    n, _ = x.shape
    p = omega.shape[0]
    h = 1.0 / n_layers
    alpha = h * math.sqrt(2.0 / p)  # h * sqrt(2/p), folded into the residual product
    omega_t = omega.t()

    def loss(u):
        xk = x
        # unbind: one view per layer, whose backward stacks the layer gradients once
        for uk in u.unbind(0):
            z = torch.addmm(bias, xk, omega_t)  # X_k Omega^T + b, N x p
            xk = torch.addmm(xk, torch.cos(z), uk.t(), alpha=alpha)  # X_k + h Phi_k U_k^T
        r = xk - y
        return (r * r).sum() / (2.0 * n)

    return loss


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", required=True, help="safetensors problem file (float64)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--lr", type=float, default=0.1, help="SGD learning rate")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    omega, bias, u0, x, y, n_layers = load_problem(args.input)
    loss_fn = make_loss(omega, bias, x, y, n_layers)
    u = u0.clone().requires_grad_(True)

    losses, step_ms = [], []
    for s in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        loss = loss_fn(u)
        loss.backward()
        with torch.no_grad():
            u.sub_(u.grad, alpha=args.lr)
        u.grad = None
        dt = (time.perf_counter() - t0) * 1e3
        losses.append(loss.item())
        if s >= args.warmup:
            step_ms.append(dt)

    n, d = x.shape
    p = omega.shape[0]
    out = {
        "impl": "torch-eager",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "size": {"n": n, "d": d, "p": p, "l": n_layers},
        "warmup": args.warmup,
        "lr": args.lr,
        "step_ms": step_ms,
        "median_ms": statistics.median(step_ms) if step_ms else None,
        "min_ms": min(step_ms) if step_ms else None,
        "max_ms": max(step_ms) if step_ms else None,
        "losses": losses,
        # ru_maxrss is in KiB on Linux
        "rss_peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
