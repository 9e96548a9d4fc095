#!/usr/bin/env bash
# The reference-leak check (tests/python/refleak.py): each module of the
# Python test suite run several rounds in one process against the pywatch in
# BUILD; fails if allocated blocks, GC objects or libwatch's counters grow
# round after round, or, on a debug build (python3.14d), if the total
# reference count (sys.gettotalrefcount()) changes at all after the warm-up.
# Run by `make test` once per interpreter:  bash mk/suites/refleak.sh PYTHON BUILD
set -euo pipefail
py=${1:?usage: $0 PYTHON BUILD}
build=${2:?usage: $0 PYTHON BUILD}
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PYTHONPATH=$build exec "$py" tests/python/refleak.py
