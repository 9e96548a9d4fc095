#!/bin/sh
# Builds a Cython extension over libwatch the way a user of an installed
# libwatch would: libwatch is installed into a scratch prefix (make
# install), cython finds watch.pxd beside watch.h there, and the C compiler
# takes pkg-config's flags alone.  Then SCRIPT runs, from its directory.
# Defaults: globalsum.pyx and demo.py, beside this file.
# Usage: examples/cython/run.sh PYTHON [SCRIPT PYX...]
set -eu
PY=${1:?usage: $0 PYTHON [SCRIPT PYX...]}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
if [ $# -gt 1 ]; then
  script=$(realpath "$2")
  shift 2
else
  script=$here/demo.py
  set -- "$here/globalsum.pyx"
fi
. "$top/examples/scratch-install.sh"
# build/X.Y/examples-cython for examples/cython/demo.py.
dir=$(dirname "$script")
out=$top/build/$ver/$(echo "${dir#"$top"/}" | tr / -)
scratch_install "$out"
for pyx in "$@"; do
  name=$(basename "$pyx" .pyx)
  bash "$top/mk/cython.sh" -I "$(pc --variable=includedir)" \
    -o "$out/$name.c" "$(realpath "$pyx")"
  # Types that differ from watch.h's are errors, not warnings.
  # shellcheck disable=SC2046 # pkg-config prints several flags
  cc -O2 -shared -fPIC -Werror=incompatible-pointer-types \
    -Werror=int-conversion -o "$out/$name$suffix" "$out/$name.c" \
    $(pc --cflags) $(pc --libs) -Wl,-rpath,"$stage/usr/lib"
done

cd "$dir"
PYTHONPATH=$out PYTHONDONTWRITEBYTECODE=1 "$PY" "$script"
