#!/usr/bin/env bash
# The fuzzer finds, by itself, the bug classes that issue 14 fixed: for
# each, libwatch is built with a test-only switch that undoes the fix
# (libwatch/internal.h), and the short seeded fuzz run must fail and
# minimize the failure to a few operations, among them the kind that
# provokes it.  One test per class:
#   reentry  Python code in a key's __hash__ or __del__ releasing a
#            dependent while libwatch is mid-change (rhash, rdel)
#   cycle    a specialization whose install invalidates its own guard (spec)
# Usage: bash mk/suites/fuzz-injected.sh PYTHON BUILD
set -uo pipefail
py=${1:?usage: $0 PYTHON BUILD}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
ver=$("$py" mk/pyinfo.py | cut -d' ' -f1)

# Not on a debug build (python3.14d): what this checks is the fuzzer's
# power to find and minimize a bug of libwatch, which the release build of
# the same version shows, running the same lines of libwatch and of the
# fuzzer; on a debug build its two builds and the minimizing replays took
# a minute of make test.
if [[ $ver == *d ]]; then
  echo "a debug build: the fuzzer's finding power is checked on the release build"
  echo "0 passed, 0 failed"
  exit 0
fi

passed=0 failed=0
# check NAME SWITCH OPS_PATTERN
check() {
  local name=$1 switch=$2 pattern=$3 variant=unfix-$1- out
  echo "== $name: libwatch built with -D$switch"
  if ! make --no-print-directory -j2 PYTHON="$py" VARIANT="$variant" \
    CFLAGS="-O2 -g -D$switch" all >/dev/null; then
    echo "($name: the build failed)"
    failed=$((failed + 1))
    return
  fi
  out=$(env -u PYWATCH_DISABLE PYTHONPATH="build/$variant$ver" "$py" \
    tests/fuzz/fuzz.py --seed 1 --ops 200000 2>&1)
  local status=$?
  echo "$out" | grep -A12 '^FAIL' | head -n 16
  local size
  size=$(echo "$out" | sed -n 's/^  minimized to \([0-9]*\) operations:$/\1/p')
  # A few operations: with libwatch's per-state freelists, a freed record
  # is used again only by the next allocation of its size, so a
  # use-after-free crashes an operation or two after the bug.
  if ((status == 1)) && [[ -n "$size" ]] && ((size <= 6)) &&
    echo "$out" | grep -A"$size" '^  minimized to' | grep -Eq "$pattern"; then
    echo "$name: found and minimized to $size operations"
    passed=$((passed + 1))
  else
    echo "($name: the fuzzer did not find and minimize it; exit status $status)"
    failed=$((failed + 1))
  fi
}

check reentry WATCH_TEST_UNFIX_REENTRY "rhash|rdel|__hash__|when dropped"
check cycle WATCH_TEST_UNFIX_CYCLE 'specialize\('
echo "$passed passed, $failed failed"
((failed == 0))
