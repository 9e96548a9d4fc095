#!/usr/bin/env bash
# The freeze fuzzer (tests/fuzz/freeze_fuzz.py) in make test, on one
# interpreter: `bash mk/suites/freeze-fuzz.sh PYTHON BUILD_DIR`.
#   clean     a seeded run agrees with the model of the policy
#   injected  with issue 23's None bypass put back (--inject
#             submodule-none), the same run fails and minimizes to a few
#             operations, the failing one a None write
#   audit     the audit's counts of fuzzed programs are the model's
set -uo pipefail
py=${1:?usage: $0 PYTHON BUILD}
build=${2:?usage: $0 PYTHON BUILD}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

passed=0 failed=0
fuzz() {
  # The fuzzer needs freezing on, whatever the caller's test mode.
  env -u PYWATCH_DISABLE PYTHONPATH="$build" "$py" tests/fuzz/freeze_fuzz.py "$@" 2>&1
}
verdict() {
  if (($2)); then
    echo "$1: ok"
    passed=$((passed + 1))
  else
    echo "($1: FAILED)"
    failed=$((failed + 1))
  fi
}

# The clean run: 60000 operations on a release build (5 to 8 s).  A debug
# build (python3.14d) runs it three times slower and is here for CPython's
# assertions: a quarter of the run still makes every kind of operation
# hundreds of times under them; the release build of the same version runs
# the 60000.  The injected run stops at its first failure, in its first
# episode: its budget costs nothing.
ops=60000
if [[ $("$py" mk/pyinfo.py | cut -d' ' -f1) == *d ]]; then
  ops=15000
fi
echo "== clean"
out=$(fuzz --seed 1 --ops "$ops")
status=$?
echo "$out" | tail -n 12
verdict clean "status == 0"

echo "== injected: submodule-none"
out=$(fuzz --seed 1 --ops 60000 --inject submodule-none)
status=$?
echo "$out" | grep -A10 '^FAIL' | head -n 12
size=$(echo "$out" | sed -n 's/^  minimized to \([0-9]*\) operations:$/\1/p')
ok=0
if ((status == 1)) && [[ -n "$size" ]] && ((size <= 4)) &&
  echo "$out" | grep -A"$size" '^  minimized to' | grep -- '<- ' |
  grep -qw None; then
  ok=1
fi
verdict "injected (minimized to ${size:-?} operations)" "ok == 1"

echo "== audit"
out=$(fuzz --seed 1 --ops 1200 --episode-ops 200 --audit 6 --audit-ops 150)
status=$?
echo "$out" | tail -n 8
verdict audit "status == 0"

echo "$passed passed, $failed failed"
((failed == 0))
