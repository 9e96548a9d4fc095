#!/usr/bin/env bash
# The short seeded fuzz run of `make test` (tests/fuzz/fuzz.py), on one
# interpreter: `bash mk/suites/fuzz.sh PYTHON BUILD_DIR`.  `make fuzz` runs
# the long one.  A failure prints its seed and the minimized operations.
set -uo pipefail

py=$1 build=$2
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

# 200000 operations on a release build: 20 to 30 s.  A debug build
# (python3.14d) runs the fuzzer four to five times slower (115 s), and is
# in make test for what it alone has, CPython's assertions and exact
# reference counts: a quarter of the run, 25 episodes of 2000 operations
# (on 3.14d, 1300 invalidations of a broken assumption), puts them to work
# in about a third of the time.  The release build of the same version
# runs the 200000, and make fuzz runs 10^6 on every build, debug ones too.
ops=200000
if [[ $("$py" mk/pyinfo.py | cut -d' ' -f1) == *d ]]; then
  ops=50000
fi
# The fuzzer needs freezing on, whatever the caller's test mode.
if env -u PYWATCH_DISABLE PYTHONPATH="$build" "$py" tests/fuzz/fuzz.py \
  --seed 1 --ops "$ops"; then
  echo "1 passed, 0 failed"
else
  echo "0 passed, 1 failed"
  exit 1
fi
