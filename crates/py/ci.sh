#!/usr/bin/env bash
# CI for the Python package: a fresh virtual environment, the wheel built by maturin from
# this directory (release profile of Cargo.toml), then the pytest suite. Fails if the
# build fails, if any test fails, or if no test ran (pytest's exit code 5).
#
#   crates/py/ci.sh            (PYTHON=python3.11 to choose the interpreter)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$python" -m venv "$work/venv"
py="$work/venv/bin/python"
# maturin's build backend calls the `maturin` executable: the venv's bin first on PATH
export PATH="$work/venv/bin:$PATH"
"$py" -m pip install --quiet --upgrade pip
"$py" -m pip install --quiet "maturin>=1.9,<2" numpy pytest scikit-learn
# the README's install command: pip builds the wheel with maturin and installs it
"$py" -m pip install --quiet --no-build-isolation "$here"

# run from a directory that is not the source tree, so that `import plres` finds the
# installed wheel (with its native module) and not crates/py/python/plres
cd "$work"
set +e
"$py" -m pytest -q -rsxX -p no:cacheprovider "$here/tests"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "crates/py/ci.sh: pytest collected no tests" >&2
    exit 1
fi
exit "$rc"
