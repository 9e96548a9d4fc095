#!/usr/bin/env bash
# A free-threaded CPython (Py_GIL_DISABLED) cannot be installed here, so
# libwatch refuses to build for one, with one clear #error: checked by
# compiling watch.h as if pyconfig.h defined it.
#   bash mk/suites/free-threading.sh PYTHON BUILD
set -uo pipefail
py=${1:?usage: $0 PYTHON BUILD}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
include=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("INCLUDEPY"))')
out=$(printf '#include <watch.h>\n' |
  cc -std=c11 -fsyntax-only -DPy_GIL_DISABLED -Iinclude -I"$include" \
    $(pkg-config --cflags libuv) -x c - 2>&1)
status=$?
echo "$out" | grep -m 1 'error:'
if ((status != 0)) && grep -q 'does not support free-threaded CPython' <<<"$out" &&
  [[ $(grep -c 'error:' <<<"$out") == 1 ]]; then
  echo "1 passed, 0 failed"
else
  echo "(expected exactly one #error naming free-threaded CPython)"
  echo "0 passed, 1 failed"
  exit 1
fi
