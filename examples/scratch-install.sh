# What examples/embed/run.sh and examples/cython/run.sh share, sourced by
# each with PY (the interpreter) and top (the repository) set.  Both build
# the way a user of an installed libwatch would, from what `make install`
# puts in a prefix alone, so each first installs into a scratch one.
#   ver                  X.Y and the ABI flags (3.14d for a debug build), as
#                        make names builds
#   suffix               the interpreter's suffix for extension modules
#   scratch_install OUT  empties OUT and installs libwatch there, into
#                        OUT/stage/usr (make install with DESTDIR)
#   pc ARGS...           pkg-config on that install's libwatch-$ver
# shellcheck shell=sh disable=SC2034,SC2154 # suffix is the caller's; top too
ver=$("$PY" -c 'import sys; print("%d.%d%s" % (sys.version_info[:2] + (sys.abiflags,)))')
suffix=$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')

scratch_install() {
  stage=$1/stage
  rm -rf "$1"
  mkdir -p "$1"
  make -s -C "$top" --no-print-directory PYTHON="$PY" PREFIX=/usr \
    DESTDIR="$stage" install >/dev/null
}

pc() {
  PKG_CONFIG_PATH=$stage/usr/lib/pkgconfig \
    pkg-config --define-variable=prefix="$stage/usr" "$@" "libwatch-$ver"
}
