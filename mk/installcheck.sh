#!/usr/bin/env bash
# `make installcheck`: installs libwatch and pywatch for each PYTHON given
# into one prefix, as a user with a custom prefix would, and checks that
# the builds coexist there; then, for each, uses the install the way
# README's "Use it from C" says, through pkg-config alone:
#   - an extension (examples/embed/constcache.c), imported and run;
#   - an embedding program (examples/demo.c), with python-X.Y-embed;
#   - the installed pywatch, imported from another directory.
# Ends with "N passed, N failed", one check per line before it.
#
# Usage: bash mk/installcheck.sh PYTHON...
set -uo pipefail # no -e: every check runs and is counted
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
(($# > 0)) || { echo "usage: $0 PYTHON..." >&2; exit 2; }

passed=0
failed=0
check() { # check WHAT CMD...: runs CMD, counts it
  local what=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "ok: $what"
  else
    failed=$((failed + 1))
    echo "FAILED: $what"
  fi
}

# X.Y and the ABI flags, as make names the build (mk/pyinfo.py): 3.14d.
ver_of() { "$1" -c 'import sys; print("%d.%d%s" % (sys.version_info[:2] + (sys.abiflags,)))'; }
config() { "$1" -c 'import sys, sysconfig
print(sysconfig.get_config_var(sys.argv[1]) or "")' "$2"; }

versions=()
for py in "$@"; do versions+=("$(ver_of "$py")"); done
# One prefix per set of versions: make test runs two sets side by side.
work=$PWD/build/installcheck-$(IFS=-; echo "${versions[*]}")
prefix=$work/prefix
rm -rf "$work"
mkdir -p "$work"

for py in "$@"; do
  check "make install PYTHON=$py PREFIX=$prefix" \
    make -s --no-print-directory PYTHON="$py" PREFIX="$prefix" install
done

lib=$prefix/lib
check "one header, and its Cython declarations" \
  test -f "$prefix/include/watch.h" -a -f "$prefix/include/watch.pxd"
for ver in "${versions[@]}"; do
  so=libwatch-$ver.so.0
  check "$ver: its libraries and .pc" test -f "$lib/libwatch-$ver.a" \
    -a -f "$lib/$so" -a -L "$lib/libwatch-$ver.so" \
    -a -f "$lib/pkgconfig/libwatch-$ver.pc"
  check "$ver: soname $so, and no libpython needed" sh -c "
    readelf -d '$lib/$so' > '$work/dynamic-$ver.txt' &&
    grep -q 'SONAME.*\[$so\]' '$work/dynamic-$ver.txt' &&
    ! grep -q 'NEEDED.*libpython' '$work/dynamic-$ver.txt'"
done

for py in "$@"; do
  ver=$(ver_of "$py")
  out=$work/use-$ver
  mkdir -p "$out"
  export PKG_CONFIG_PATH=$lib/pkgconfig:$(config "$py" LIBPC)
  site=$("$py" -c 'import sys, sysconfig
print(sysconfig.get_path("platlib", "posix_prefix",
                         {"base": sys.argv[1], "platbase": sys.argv[1]}))' \
    "$prefix")

  ext=$out/constcache$(config "$py" EXT_SUFFIX)
  # shellcheck disable=SC2046 # pkg-config prints several flags
  check "$ver: an extension built with pkg-config libwatch-$ver" \
    cc -std=c11 -O2 -Wall -Wextra -Werror -shared -fPIC -o "$ext" \
    examples/embed/constcache.c $(pkg-config --cflags --libs "libwatch-$ver") \
    -Wl,-rpath,"$lib"
  check "$ver: the extension runs, loading libwatch-$ver.so.0" sh -c "
    cd examples/embed && PYTHONPATH='$out' PYTHONDONTWRITEBYTECODE=1 \
      '$py' demo.py >/dev/null &&
    ldd '$ext' | grep -q 'libwatch-$ver\.so\.0 => $lib/'"

  # shellcheck disable=SC2046
  check "$ver: an embedding program built with pkg-config" \
    cc -std=c11 -O2 -Wall -Wextra -o "$out/demo" examples/demo.c \
    $(pkg-config --cflags --libs "libwatch-$ver" "python-$ver-embed") \
    -Wl,-rpath,"$lib" -Wl,-rpath,"$(config "$py" LIBDIR)"
  check "$ver: the embedding program runs" sh -c "'$out/demo' >/dev/null"

  check "$ver: the installed pywatch, imported from elsewhere" sh -c "
    cd / && PYTHONPATH='$site' '$py' -c '
import pywatch, sys, types
assert pywatch.__file__.startswith(sys.argv[1]), pywatch.__file__
m = types.ModuleType(\"m\"); m.x = 1
seen = []
d = pywatch.watch(m, \"x\", lambda dep, event: seen.append(event))
m.x = 2
pywatch.flush()
assert len(seen) == 1, seen
' '$site'"
done

echo "$passed passed, $failed failed"
((failed == 0))
