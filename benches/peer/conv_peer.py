#!/usr/bin/env python3
"""PyTorch peer of plres-conv: the paper's convolutional neural-ODE ResNet for MNIST.

Model (crates/conv/src/lib.rs), PyTorch modules in train() mode:
    A = Conv2d(1,q,4,stride 2) - BatchNorm2d(q) - ReLU - Conv2d(q,q,4,stride 2) - BatchNorm2d(q)
    flow: midpoint rule, L steps on [0,1], h = 1/L, parameters at t_k = k/L linearly
          interpolated (the midpoint uses the mean of the two neighbours):
          f(x; W_in, W, b) = conv3x3(ReLU(conv3x3(x, W_in)), W, b)   (padding 1)
          linear residual: W_in = Omega (fixed); SHL residual: W_in = theta1_t (trained)
    B = BatchNorm2d(q) - Flatten - Linear(25q, 10)
    loss = cross_entropy (mean over the batch)

Input: a safetensors file written by plres (plres_conv::peer::peer_problem): float64
tensors a.*, b.*, res.*, data.images (n,1,28,28), data.labels (n); metadata kind, steps.

Modes:
  grad  --input IN --output OUT
        float64: the ResNet's loss and gradient w.r.t. res.theta_w, res.theta_b (and
        res.theta1 for SHL), A and B fixed; and the pretraining model B∘A's loss and
        gradient w.r.t. every a.*/b.* parameter. Written as safetensors (names in
        crates/conv/src/peer.rs).
  epoch --input IN [--dtype float64|float32] [--threads 2] [--batch 256] [--lr 0.5]
        [--warmup 2]
        times one SGD epoch of the ResNet on the file's images (after `warmup` untimed
        batches); prints one JSON object (seconds, batches, loss, peak RSS).
"""

import argparse
import json
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file


def load(path):
    tensors = {}
    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
        for name in f.keys():
            tensors[name] = f.get_tensor(name)
    for name, t in tensors.items():
        if t.dtype != torch.float64:
            sys.exit(f"conv_peer: {path}: {name} is {t.dtype}, expected float64")
    if meta.get("kind") not in ("linear", "shl") or "steps" not in meta:
        sys.exit(f"conv_peer: {path}: metadata needs kind (linear|shl) and steps, got {meta}")
    return tensors, meta["kind"], int(meta["steps"])


class Net(nn.Module):
    """A, the flow and B with the file's parameters, in dtype `dtype`."""

    def __init__(self, t, kind, steps, dtype):
        super().__init__()
        q = t["a.conv1.weight"].shape[0]
        self.kind, self.steps = kind, steps
        self.a = nn.Sequential(
            nn.Conv2d(1, q, 4, stride=2),
            nn.BatchNorm2d(q),
            nn.ReLU(),
            nn.Conv2d(q, q, 4, stride=2),
            nn.BatchNorm2d(q),
        )
        self.b_bn = nn.BatchNorm2d(q)
        self.b_fc = nn.Linear(25 * q, 10)
        self.to(dtype)  # before copying: float64 values must not pass through float32
        with torch.no_grad():
            pairs = [
                (self.a[0].weight, "a.conv1.weight"), (self.a[0].bias, "a.conv1.bias"),
                (self.a[1].weight, "a.bn1.weight"), (self.a[1].bias, "a.bn1.bias"),
                (self.a[3].weight, "a.conv2.weight"), (self.a[3].bias, "a.conv2.bias"),
                (self.a[4].weight, "a.bn2.weight"), (self.a[4].bias, "a.bn2.bias"),
                (self.b_bn.weight, "b.bn.weight"), (self.b_bn.bias, "b.bn.bias"),
                (self.b_fc.weight, "b.fc.weight"), (self.b_fc.bias, "b.fc.bias"),
            ]
            for p, name in pairs:
                p.copy_(t[name].reshape(p.shape))
        self.ab_names = [name for _, name in pairs]
        self.theta_w = nn.Parameter(t["res.theta_w"].to(dtype).clone())
        self.theta_b = nn.Parameter(t["res.theta_b"].to(dtype).clone())
        if kind == "linear":
            self.register_buffer("omega", t["res.omega"].to(dtype).clone())
        else:
            self.theta1 = nn.Parameter(t["res.theta1"].to(dtype).clone())

    def ab_params(self):
        return [self.a[0].weight, self.a[0].bias, self.a[1].weight, self.a[1].bias,
                self.a[3].weight, self.a[3].bias, self.a[4].weight, self.a[4].bias,
                self.b_bn.weight, self.b_bn.bias, self.b_fc.weight, self.b_fc.bias]

    def res_params(self):
        return [self.theta_w, self.theta_b] + ([self.theta1] if self.kind == "shl" else [])

    def flow(self, x):
        h = 1.0 / self.steps
        tw, tb = self.theta_w, self.theta_b
        for k in range(self.steps):
            if self.kind == "linear":
                w_in_k = w_in_m = self.omega
            else:
                w_in_k = self.theta1[k]
                w_in_m = 0.5 * (self.theta1[k] + self.theta1[k + 1])
            k1 = F.conv2d(F.relu(F.conv2d(x, w_in_k, padding=1)), tw[k], tb[k], padding=1)
            xh = x + (0.5 * h) * k1
            wm, bm = 0.5 * (tw[k] + tw[k + 1]), 0.5 * (tb[k] + tb[k + 1])
            k2 = F.conv2d(F.relu(F.conv2d(xh, w_in_m, padding=1)), wm, bm, padding=1)
            x = x + h * k2
        return x

    def forward(self, images, with_flow=True):
        x = self.a(images)
        if with_flow:
            x = self.flow(x)
        return self.b_fc(torch.flatten(self.b_bn(x), 1))


def grad_mode(args):
    torch.set_num_threads(args.threads)
    t, kind, steps = load(args.input)
    images, labels = t["data.images"], t["data.labels"].long()
    out = {}
    # the ResNet: A and B fixed (no gradient), batch norms in train mode
    net = Net(t, kind, steps, torch.float64)
    net.train()
    for p in net.ab_params():
        p.requires_grad_(False)
    loss = F.cross_entropy(net(images), labels)
    loss.backward()
    out["loss"] = loss.detach().reshape(1)
    out["grad.res.theta_w"] = net.theta_w.grad.reshape(-1)
    out["grad.res.theta_b"] = net.theta_b.grad.reshape(-1)
    if kind == "shl":
        out["grad.res.theta1"] = net.theta1.grad.reshape(-1)
    # the pretraining model B∘A, every parameter trained
    net = Net(t, kind, steps, torch.float64)
    net.train()
    loss = F.cross_entropy(net(images, with_flow=False), labels)
    loss.backward()
    out["ab_loss"] = loss.detach().reshape(1)
    for p, name in zip(net.ab_params(), net.ab_names):
        out[f"grad.{name}"] = p.grad.reshape(-1)
    save_file({k: v.contiguous() for k, v in out.items()}, args.output)


def epoch_mode(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dtype = {"float64": torch.float64, "float32": torch.float32}[args.dtype]
    t, kind, steps = load(args.input)
    images, labels = t["data.images"].to(dtype), t["data.labels"].long()
    net = Net(t, kind, steps, dtype)
    net.train()
    for p in net.ab_params():
        p.requires_grad_(False)
    opt = torch.optim.SGD(net.res_params(), lr=args.lr)
    n = images.shape[0]
    perm = torch.randperm(n)
    batches = [perm[i:i + args.batch] for i in range(0, n, args.batch)]

    def step(idx):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(images[idx]), labels[idx])
        loss.backward()
        opt.step()
        return loss.item()

    for idx in batches[: args.warmup]:
        step(idx)
    t0 = time.perf_counter()
    loss = float("nan")
    for idx in batches:
        loss = step(idx)
    seconds = time.perf_counter() - t0
    print(json.dumps({
        "peer": "pytorch", "torch": torch.__version__, "dtype": args.dtype,
        "threads": args.threads, "kind": kind, "steps": steps, "images": n,
        "batch": args.batch, "batches": len(batches), "epoch_seconds": seconds,
        "last_loss": loss,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["grad", "epoch"])
    ap.add_argument("--input", required=True)
    ap.add_argument("--output")
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    if args.mode == "grad":
        if not args.output:
            sys.exit("conv_peer: grad needs --output")
        grad_mode(args)
    else:
        epoch_mode(args)


if __name__ == "__main__":
    main()
