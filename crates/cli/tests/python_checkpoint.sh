#!/usr/bin/env bash
# The Python snippet of docs/checkpoint-format.md against a checkpoint written by
# `plres train`: a venv with numpy and safetensors from PyPI, a small regression and a
# small classification run (one with ReLU features, one SHL), `plres predict --outputs`,
# and the snippet's NumPy forward pass, which must agree to rounding.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$root"
# the `plres` binary of the README's test build (`cargo test --workspace --all-targets`):
# in .ci/run `cargo xtask ci` has just built it, so this is a no-op that only re-links
# target/debug/plres. (`cargo build -p plres` resolves other features for the shared
# crates and recompiled plres-experiments & co.: 113 s of CI, measured 2026-12-03.)
cargo test -q --workspace --all-targets --no-run
plres="${CARGO_TARGET_DIR:-$root/target}/debug/plres"

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check numpy safetensors
py="$work/venv/bin/python"

# the first ```python block of the page is the snippet
awk '/^```python$/{on=1; next} /^```$/{if(on){exit}} on' docs/checkpoint-format.md > "$work/forward.py"

"$py" - "$work" <<'PY'
import sys
import numpy as np
work = sys.argv[1]
rng = np.random.default_rng(0)
x = rng.normal(size=(40, 3)) * [1.0, 3.0, 0.2] + [0.0, 5.0, -1.0]
y = np.sin(x[:, 0]) + 0.1 * x[:, 1] * x[:, 2]
label = (x[:, 0] + x[:, 2] > -1).astype(int) + (x[:, 1] > 5).astype(int)
np.save(f"{work}/x.npy", x)
np.savetxt(f"{work}/reg.csv", np.column_stack([x, y]), delimiter=",",
           header="a,b,c,y", comments="", fmt="%.17g")
np.savetxt(f"{work}/cls.csv", np.column_stack([x, label]), delimiter=",",
           header="a,b,c,label", comments="", fmt="%.17g")
PY

check() { # name, data, train flags…
  local name="$1" data="$2"; shift 2
  "$plres" train --data "$work/$data" --out "$work/$name" --steps 20 --width 48 --depth 4 "$@" > /dev/null
  "$plres" predict --checkpoint "$work/$name/model.safetensors" --data "$work/x.npy" \
    --outputs --out "$work/$name.npy"
  "$py" "$work/forward.py" "$work/$name/model.safetensors" "$work/x.npy" "$work/$name.npy"
}
check regression reg.csv --target y
check classes cls.csv --labels label --features relu
check shl reg.csv --target y --model shl
echo "python_checkpoint: the NumPy forward pass reproduces plres predict"
