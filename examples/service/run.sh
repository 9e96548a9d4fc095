#!/bin/sh
# Runs the service demo, serve.py under the audit, then its test suite with
# freezing switched off.
# Usage: examples/service/run.sh PYTHON   (PYTHONPATH set to build/X.Y)
set -eu
PY=${1:?usage: $0 PYTHON}
cd "$(dirname "$0")"
export PYTHONDONTWRITEBYTECODE=1
echo "== main.py (freezing on)"
env -u PYWATCH_DISABLE "$PY" main.py
echo "== serve.py under the audit: app.config safe to freeze, handlers's"
echo "   last_path written after the service's own freeze()"
json=$(mktemp)
trap 'rm -f "$json"' EXIT
env -u PYWATCH_DISABLE "$PY" -m pywatch audit --include 'app*' \
  --json "$json" serve.py
"$PY" - "$json" <<'EOF'
import json, sys
verdict = json.load(open(sys.argv[1]))["verdict"]
assert "app.config" in verdict["safe"], verdict
assert verdict["written_after_freeze"] == {"app.handlers": ["last_path"]}, \
    verdict
EOF
echo "== test_app.py (PYWATCH_DISABLE=1)"
PYWATCH_DISABLE=1 "$PY" -m unittest -v test_app
echo "== test_app.py (-X pywatch=off)"
env -u PYWATCH_DISABLE "$PY" -X pywatch=off -m unittest test_app
