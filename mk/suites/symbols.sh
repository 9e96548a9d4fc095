#!/usr/bin/env bash
# What libwatch exports into the programs that link it: libwatch.a and
# libwatch.so define exactly the functions watch.h marks WATCH_EXTERN as
# global symbols, and the pywatch extension only its PyInit_ (its copy of
# libwatch is its own).  Each unexpected or missing name is listed.  Then
# tests/link/clash, a program with functions and data named like
# libwatch's internals, links libwatch.a statically and runs.
# Usage: bash mk/suites/symbols.sh PYTHON BUILD
set -uo pipefail
py=${1:?usage: $0 PYTHON BUILD}
build=${2:?usage: $0 PYTHON BUILD}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

passed=0 failed=0
expected_api=$(grep -o 'WATCH_EXTERN[^(]*(' include/watch.h |
  grep -o 'watch_[a-z0-9_]*($' | tr -d '(' | sort)
ext=$(echo "$build"/pywatch/_pywatch*.so)

# exports NAME EXPECTED NM_ARGS...: the global defined symbols nm lists
# must be EXPECTED, one per line.
exports() {
  local name=$1 expected=$2 actual
  shift 2
  echo "== $name"
  if ! actual=$(nm "$@" | awk 'NF == 3 { print $3 }' | sort); then
    echo "($name: nm failed)"
    failed=$((failed + 1))
    return
  fi
  if [[ "$actual" == "$expected" ]]; then
    echo "$name: $(echo "$actual" | wc -l) symbols, as expected"
    passed=$((passed + 1))
  else
    comm -13 <(echo "$expected") <(echo "$actual") | sed 's/^/  unexpected: /'
    comm -23 <(echo "$expected") <(echo "$actual") | sed 's/^/  missing: /'
    failed=$((failed + 1))
  fi
}

if make --no-print-directory PYTHON="$py" all link-programs >/dev/null; then
  exports libwatch.a "$expected_api" -g --defined-only "$build/libwatch.a"
  exports libwatch.so "$expected_api" -D --defined-only "$build/libwatch.so"
  exports "pywatch's extension" PyInit__pywatch -D --defined-only "$ext"
  echo "== tests/link/clash"
  if "$build/link/clash"; then
    passed=$((passed + 1))
  else
    echo "(tests/link/clash: exit status $?)"
    failed=$((failed + 1))
  fi
else
  echo "(the build failed)"
  failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
((failed == 0))
