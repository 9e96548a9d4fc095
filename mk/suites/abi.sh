#!/usr/bin/env bash
# Two copies of libwatch in one process, pywatch's and an embedder's
# libwatch.so, share an interpreter's state (tests/link/two_copies, the
# one copy starting first, then the other), and a copy of another ABI
# version refuses to (tests/link/abi_refuse, against a libwatch.so built
# with -DWATCH_TEST_ABI_VERSION=999).  One test per run; and doc/c-api.md
# names the capsule of this version.
# Usage: bash mk/suites/abi.sh PYTHON BUILD
set -uo pipefail
py=${1:?usage: $0 PYTHON BUILD}
build=${2:?usage: $0 PYTHON BUILD}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
ver=$("$py" mk/pyinfo.py | cut -d' ' -f1)
other=build/abi999-$ver/libwatch.so

passed=0 failed=0
check() {
  echo "== $*"
  if env PYTHONPATH="$build" PYTHONDONTWRITEBYTECODE=1 "$@"; then
    passed=$((passed + 1))
  else
    echo "($*: exit status $?)"
    failed=$((failed + 1))
  fi
}

if make --no-print-directory PYTHON="$py" all link-programs >/dev/null &&
  make --no-print-directory PYTHON="$py" VARIANT=abi999- \
    CFLAGS="-O2 -g -DWATCH_TEST_ABI_VERSION=999" "$other" >/dev/null; then
  check "$build/link/two_copies" so-first
  check "$build/link/two_copies" pywatch-first
  check "$build/link/abi_refuse" "$PWD/$other"
else
  echo "(the build failed)"
  failed=$((failed + 1))
fi
# doc/c-api.md names the state's capsule, whose name carries the version:
# it must follow every bump.
version=$(sed -n 's/^#define WATCH_ABI_VERSION \([0-9]*\)$/\1/p' \
  libwatch/internal.h)
check grep -q "\"libwatch.state.v$version\"" doc/c-api.md
echo "$passed passed, $failed failed"
((failed == 0))
