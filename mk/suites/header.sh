#!/usr/bin/env bash
# watch.h compiles without libuv's headers: a file including only watch.h
# (tests/header/watch_only.c) is compiled with Python's include path and
# no libuv flags, first on the include path a uv.h that is an #error, so
# that libuv installed in a system directory cannot hide an include of it.
# Only a program that attaches its own loop includes <uv.h>.
# Usage: bash mk/suites/header.sh PYTHON BUILD
set -uo pipefail
py=${1:?usage: $0 PYTHON BUILD}
build=${2:?usage: $0 PYTHON BUILD}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
include=$("$py" mk/pyinfo.py | cut -d' ' -f4)
nouv=$build/header/nouv
mkdir -p "$nouv"
echo '#error "watch.h must not include uv.h"' >"$nouv/uv.h"

passed=0 failed=0
for std in c11 c99; do
  echo "== watch.h alone, -std=$std"
  if ${CC:-cc} -std=$std -Wall -Wextra -Werror -I"$nouv" -Iinclude \
    -I"$include" -fsyntax-only tests/header/watch_only.c; then
    passed=$((passed + 1))
  else
    echo "(watch.h does not compile without libuv)"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
((failed == 0))
