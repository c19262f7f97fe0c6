#!/usr/bin/env bash
# Make the Python environment of the PyTorch peers: a virtualenv at benches/peer/.venv
# (or $PEER_VENV) with the pins of requirements.txt, from PyPI.
#   benches/peer/setup.sh && cargo xtask bench-peer --python benches/peer/.venv/bin/python
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=${PEER_VENV:-.venv}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -r requirements.txt
"$VENV/bin/python" -c "import torch, numpy, safetensors; print('torch', torch.__version__)"
