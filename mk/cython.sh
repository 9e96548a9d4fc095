#!/usr/bin/env bash
# Runs cython3 with ARGS: the one on PATH if there is one (in the Debian sid
# root, where mk/sid-root.sh installs it), else the root's, through
# `mk/sid-root.sh run` (this machine's Debian has no Cython recent enough
# for CPython 3.13+).  The root sees only the source tree: paths are
# absolute under it, or relative to its top.
# Usage: bash mk/cython.sh ARGS...
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if command -v cython3 >/dev/null; then
  exec cython3 "$@"
fi
exec bash mk/sid-root.sh run cython3 "$@"
