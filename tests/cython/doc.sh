#!/bin/sh
# doc/cython.md's example as written: its Cython module (the ```cython
# block) and its use (the ```python block), built by examples/cython/run.sh
# as the doc's commands build it, from an install in a scratch prefix.
# Usage: tests/cython/doc.sh PYTHON
set -eu
PY=${1:?usage: $0 PYTHON}
top=$(cd "$(dirname "$0")/../.." && pwd)
ver=$("$PY" -c 'import sys; print("%d.%d%s" % (sys.version_info[:2] + (sys.abiflags,)))')
dir=$top/build/$ver/doc-cython
rm -rf "$dir"
mkdir -p "$dir"
block() { # block LANG: the first ```LANG block of the doc
  awk -v lang="$1" '$0 == "```" lang { on = 1; next }
    on && $0 == "```" { exit } on' "$top/doc/cython.md"
}
block cython >"$dir/fast.pyx"
block python >"$dir/use.py"
echo "TIMEOUT = 30" >"$dir/settings.py"
[ -s "$dir/fast.pyx" ] && [ -s "$dir/use.py" ]
bash "$top/examples/cython/run.sh" "$PY" "$dir/use.py" "$dir/fast.pyx"
echo "doc/cython.md's example: ok"
