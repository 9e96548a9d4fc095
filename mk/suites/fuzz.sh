#!/usr/bin/env bash
# The short seeded fuzz run of `make test` (tests/fuzz/fuzz.py), on one
# interpreter: `bash mk/suites/fuzz.sh PYTHON BUILD_DIR`.  `make fuzz` runs
# the long one.  A failure prints its seed and the minimized operations.
set -uo pipefail

py=$1 build=$2
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

# The fuzzer needs freezing on, whatever the caller's test mode.
if env -u PYWATCH_DISABLE PYTHONPATH="$build" "$py" tests/fuzz/fuzz.py \
  --seed 1 --ops 200000; then
  echo "1 passed, 0 failed"
else
  echo "0 passed, 1 failed"
  exit 1
fi
