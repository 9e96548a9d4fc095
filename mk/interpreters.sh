#!/usr/bin/env bash
# Every interpreter that `make test` and CI run on, one per line: this
# machine's (mk/pythons.sh) as absolute paths, then those of the
# Debian sid root (mk/sid-root.sh, made here if need be) as sid:PATH: 3.14
# and 3.15, then their debug builds (sid:/usr/bin/python3.14d...).
# mk/on.sh runs a command where one of them lives.
#
#   bash mk/interpreters.sh [host|sid]    only this machine's, or the root's
#
# PYTHON=... names a single one (a path, or sid:PATH).  When the root cannot
# be made, one line on stderr says why and which versions are then missing;
# WATCH_SID_ROOT=none skips it on purpose, and says so too.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
which=${1:-all}

if [[ -n "${PYTHON:-}" ]]; then
  case $which:$PYTHON in
  host:sid:*) ;;
  sid:sid:* | all:sid:*) bash mk/sid-root.sh make >&2 && echo "$PYTHON" ;;
  sid:*) ;;
  *) bash mk/pythons.sh ;;
  esac
  exit
fi

if [[ $which != sid ]]; then
  bash mk/pythons.sh
fi
if [[ $which != host ]]; then
  if [[ "${WATCH_SID_ROOT:-}" == none ]]; then
    echo "mk/interpreters.sh: WATCH_SID_ROOT=none: CPython 3.14 and 3.15 (and 3.14d and 3.15d) are not tested" >&2
  elif bash mk/sid-root.sh make >&2; then
    bash mk/sid-root.sh pythons | sed 's/^/sid:/'
  else
    echo "mk/interpreters.sh: CPython 3.14 and 3.15 (and 3.14d and 3.15d) are not tested (the line above says why)" >&2
  fi
fi
