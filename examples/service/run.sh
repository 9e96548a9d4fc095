#!/bin/sh
# Runs the service demo, then its test suite with freezing switched off.
# Usage: examples/service/run.sh PYTHON   (PYTHONPATH set to build/X.Y)
set -eu
PY=${1:?usage: $0 PYTHON}
cd "$(dirname "$0")"
export PYTHONDONTWRITEBYTECODE=1
echo "== main.py (freezing on)"
env -u PYWATCH_DISABLE "$PY" main.py
echo "== test_app.py (PYWATCH_DISABLE=1)"
PYWATCH_DISABLE=1 "$PY" -m unittest -v test_app
echo "== test_app.py (-X pywatch=off)"
env -u PYWATCH_DISABLE "$PY" -X pywatch=off -m unittest test_app
