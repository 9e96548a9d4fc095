#!/usr/bin/env bash
# The Python examples, run as a newcomer would: each examples/*.py against
# the pywatch in BUILD, examples/embed (a C extension built from the
# installed header and pkg-config file), and examples/cython (a Cython
# extension built from the installed watch.pxd) with tests/cython, which
# checks watch.pxd against watch.h and runs doc/cython.md's example.  Each counts 1 passed if it exits 0.
# Usage: mk/suites/examples.sh PYTHON BUILD
set -uo pipefail
py=${1:?usage: $0 PYTHON BUILD}
build=${2:?usage: $0 PYTHON BUILD}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

passed=0 failed=0
check() {
  local name=$1
  shift
  echo "== $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    echo "($name: exit status $?)"
    failed=$((failed + 1))
  fi
}

for example in examples/*.py; do
  check "$example" env PYTHONPATH="$build" PYTHONDONTWRITEBYTECODE=1 \
    "$py" "$example"
done
check examples/embed bash examples/embed/run.sh "$py"
# Cython's output, cythonized in the sid root for the host's interpreters.
if bash mk/cython.sh --version >/dev/null 2>&1; then
  check examples/cython bash examples/cython/run.sh "$py"
  check "watch.pxd (tests/cython)" bash examples/cython/run.sh "$py" \
    tests/cython/check_api.py tests/cython/api.pyx
  check doc/cython.md bash tests/cython/doc.sh "$py"
else
  echo "== examples/cython: not run: no cython3 here, and no sid root to run" \
    "it in (bash mk/sid-root.sh make)"
fi

echo "$passed passed, $failed failed"
((failed == 0))
