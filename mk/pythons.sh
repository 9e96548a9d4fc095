#!/usr/bin/env bash
# Prints the CPython interpreters (>= 3.12, headers and shared libpython
# present) that libwatch can be built and tested for: absolute paths, one per
# X.Y (with its ABI flags: 3.14d is not 3.14, see mk/pyinfo.py), newest
# first.  If $PYTHON is set, it is the only candidate and must be
# usable.  Every candidate is run (mk/pyinfo.py) rather than trusted by name:
# pyenv shims exist for versions they then refuse to run.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
me=mk/pythons.sh
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT

# probe PATH: on success sets $info to mk/pyinfo.py's line; on failure sets
# $why to the first thing the candidate said.
probe() {
  local status=0
  info=$("$1" "$here/pyinfo.py" </dev/null 2>"$errors") || status=$?
  if ((status == 0)); then
    return 0
  fi
  why=$(grep -m 1 . "$errors") || why="exited with status $status"
  return 1
}

if [[ -n "${PYTHON:-}" ]]; then
  if ! path=$(command -v -- "$PYTHON"); then
    echo "$me: PYTHON=$PYTHON: no such command" >&2
    exit 1
  fi
  [[ "$path" == /* ]] || path="$PWD/$path"
  if ! probe "$path"; then
    echo "$me: PYTHON=$PYTHON cannot be used: $why" >&2
    exit 1
  fi
  read -r _ _ _ _ exe _ <<<"$info"
  echo "$exe"
  exit 0
fi

candidates=()
add() { [[ -x "$1" ]] && candidates+=("$1"); return 0; }

for v in 15 14 13 12; do
  add "$(command -v "python3.$v" || true)"
done
add "$(command -v python3 || true)"

pyenv_roots=("${PYENV_ROOT:-}" "$HOME/.pyenv")
if command -v pyenv >/dev/null; then
  pyenv_roots=("$(pyenv root)" "${pyenv_roots[@]}")
fi
for root in "${pyenv_roots[@]}"; do
  [[ -n "$root" ]] || continue
  for dir in "$root"/versions/*; do
    # Skip what pyenv names as too old (2.x, 3.0-3.11) without running it.
    [[ "${dir##*/}" =~ ^(2|3\.([0-9]|1[01]))\. ]] || add "$dir/bin/python3"
  done
done

for v in 15 14 13 12; do
  add "/usr/bin/python3.$v"
  add "/usr/local/bin/python3.$v"
done

found=()    # "X.Y executable", in search order
rejected=() # why the others were not
declare -A seen=()
for c in "${candidates[@]}"; do
  real=$(readlink -f -- "$c")
  [[ -z "${seen[$real]:-}" ]] || continue
  seen[$real]=1
  if probe "$c"; then
    read -r ver _ _ _ exe _ <<<"$info"
    found+=("$ver $exe")
  else
    rejected+=("  $c: $why")
  fi
done

if ((${#found[@]} == 0)); then
  {
    echo "$me: no usable CPython >= 3.12 (with headers and a shared libpython)."
    if ((${#rejected[@]})); then
      echo "Rejected:"
      printf '%s\n' "${rejected[@]}"
    fi
    echo "Install one (e.g. pyenv install 3.13), or set PYTHON=/path/to/python3.x."
  } >&2
  exit 1
fi

# Newest first; within one X.Y the first found wins (sort -s keeps order).
printf '%s\n' "${found[@]}" | sort -s -k1,1Vr | awk '!seen[$1]++ { print $2 }'
