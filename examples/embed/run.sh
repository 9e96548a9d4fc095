#!/bin/sh
# Builds constcache the way a user of an installed libwatch would: from the
# installed header and pkg-config file alone.  libwatch is installed into a
# scratch prefix first (make install), then SCRIPT (default demo.py) runs.
# Usage: examples/embed/run.sh PYTHON [SCRIPT]
set -eu
PY=${1:?usage: $0 PYTHON [SCRIPT]}
SCRIPT=${2:-demo.py}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/examples/scratch-install.sh"
out=$top/build/$ver/embed
scratch_install "$out"
# shellcheck disable=SC2046 # pkg-config prints several flags
cc -std=c11 -O2 -Wall -Wextra -shared -fPIC -o "$out/constcache$suffix" \
  "$here/constcache.c" $(pc --cflags) $(pc --libs) \
  -Wl,-rpath,"$stage/usr/lib"

cd "$here"
PYTHONPATH=$out PYTHONDONTWRITEBYTECODE=1 "$PY" "$SCRIPT"
