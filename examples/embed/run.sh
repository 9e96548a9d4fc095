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
# X.Y and the ABI flags (3.14d for a debug build), as make names builds.
ver=$("$PY" -c 'import sys; print("%d.%d%s" % (sys.version_info[:2] + (sys.abiflags,)))')
out=$top/build/$ver/embed
rm -rf "$out"
mkdir -p "$out"

make -s -C "$top" --no-print-directory PYTHON="$PY" PREFIX=/usr \
  DESTDIR="$out/stage" install >/dev/null
pc() {
  PKG_CONFIG_PATH=$out/stage/usr/lib/pkgconfig \
    pkg-config --define-variable=prefix="$out/stage/usr" "$@" "libwatch-$ver"
}
suffix=$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
# shellcheck disable=SC2046 # pkg-config prints several flags
cc -std=c11 -O2 -Wall -Wextra -shared -fPIC -o "$out/constcache$suffix" \
  "$here/constcache.c" $(pc --cflags) $(pc --libs) \
  -Wl,-rpath,"$out/stage/usr/lib"

cd "$here"
PYTHONPATH=$out PYTHONDONTWRITEBYTECODE=1 "$PY" "$SCRIPT"
