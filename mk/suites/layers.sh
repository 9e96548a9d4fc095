#!/usr/bin/env bash
# The layering of libwatch/ and pywatch/ (mk/layers.txt): each object file
# calls functions, or names data, only of the files in layers below its
# own.  Which file refers to which is read from the objects' symbols with
# nm: a name an object leaves undefined, defined by another object of the
# same directory.  Inline functions of a header count where they are
# compiled in, as they run there.  Each reference up or sideways is listed,
# and so is a file the order does not name, or names but has no object.
# Then the check is shown to fail, on orders that are wrong on purpose: the
# declared one upside down, all of it in one layer, and one without a
# file.
# Usage: bash mk/suites/layers.sh PYTHON BUILD
set -uo pipefail
py=${1:?usage: $0 PYTHON BUILD}
build=${2:?usage: $0 PYTHON BUILD}
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

order=mk/layers.txt
work=$build/layers
mkdir -p "$work"
passed=0 failed=0

# layers ORDER DIR: the layers of DIR, bottom first, one line each (the
# files of a layer separated by spaces), from ORDER's "DIR: file..." lines.
layers() {
  sed -n "s/^$2:[[:space:]]*//p" "$1"
}

# references OBJDIR: "caller callee symbol" for every symbol an object of
# OBJDIR uses that another object there defines (file names without .o).
references() {
  local o
  for o in "$1"/*.o; do
    nm --defined-only "$o" |
      awk -v f="$(basename "$o" .o)" '$2 ~ /^[A-Z]$/ { print f, $3 }'
  done >"$work/defined"
  for o in "$1"/*.o; do
    nm --undefined-only "$o" |
      awk -v f="$(basename "$o" .o)" '{ print f, $2 }'
  done | awk 'NR == FNR { def[$2] = $1; next }
              ($2 in def) && def[$2] != $1 { print $1, def[$2], $2 }' \
    "$work/defined" -
}

# check ORDER DIR OBJDIR: 0 if DIR's objects keep ORDER, else 1, each
# breach listed.
check() {
  local order=$1 dir=$2 objdir=$3
  local objects
  objects=$(cd "$objdir" && ls -- *.o 2>/dev/null | sed 's/\.o$//')
  if [[ -z "$objects" ]]; then
    echo "  no objects in $objdir"
    return 1
  fi
  references "$objdir" | awk -v objects="$objects" '
    # The order: each file its layer, counted from the bottom.
    NR == FNR {
      for (i = 1; i <= NF; i++) {
        if ($i in layer) { print "  " $i ": named twice"; bad = 1 }
        layer[$i] = FNR
      }
      next
    }
    FNR == 1 {
      n = split(objects, obj, "\n")
      for (i = 1; i <= n; i++) {
        seen[obj[i]] = 1
        if (!(obj[i] in layer)) { print "  " obj[i] ": in no layer"; bad = 1 }
      }
      for (f in layer)
        if (!(f in seen)) { print "  " f ": in a layer, but no " f ".o"; bad = 1 }
    }
    ($1 in layer) && ($2 in layer) && layer[$2] >= layer[$1] {
      print "  " $1 " -> " $2 ": " $3 \
            (layer[$2] == layer[$1] ? " (same layer)" : " (up)")
      bad = 1
    }
    END { exit bad }' <(layers "$order" "$dir") -
}

# expect NAME STATUS ORDER DIR OBJDIR: runs check, which must end with
# STATUS (0: keeps the order, 1: breaks it).  What it lists is shown,
# but only counted when it is what a wrong order must give.
expect() {
  local name=$1 want=$2 got
  shift 2
  echo "== $name"
  check "$@" >"$work/listed"
  got=$?
  if ((got == 1 && want == 1)); then
    echo "  $(wc -l <"$work/listed") breaches listed"
  else
    cat "$work/listed"
  fi
  if ((got == want)); then
    passed=$((passed + 1))
  else
    echo "($name: the check said $([[ $got == 0 ]] && echo kept || echo broken))"
    failed=$((failed + 1))
  fi
}

# readme DIR: the files README's layout lists under DIR/, in its order.
readme() {
  awk -v head="\`$1/\`:" '
    /^## / { layout = $0 == "## Layout" }
    layout && $0 == head { listed = 1; next }
    listed && !/^- / { listed = 0 }
    listed { split($0, f, "`"); print f[2] }' README.md
}

if ! make --no-print-directory PYTHON="$py" all >/dev/null; then
  echo "(the build failed)"
  echo "$passed passed, 1 failed"
  exit 1
fi
for dir in libwatch pywatch; do
  objdir=$build/obj
  [[ $dir == pywatch ]] && objdir=$build/pywatch-obj
  expect "$dir keeps $order" 0 "$order" "$dir" "$objdir"
  # Upside down: every call that went down now goes up.
  layers "$order" "$dir" | tac | sed "s/^/$dir: /" >"$work/upside-down.txt"
  expect "$dir upside down breaks it (on purpose)" 1 \
    "$work/upside-down.txt" "$dir" "$objdir"
  echo "== README's layout lists $dir in the order of $order"
  if diff <(layers "$order" "$dir" | tr ' ' '\n' | grep . | sed 's/$/.c/') \
    <(readme "$dir"); then
    passed=$((passed + 1))
  else
    echo "(README's layout: < $order, > README.md)"
    failed=$((failed + 1))
  fi
  # All in one layer: every call is sideways.
  echo "$dir: $(layers "$order" "$dir" | tr '\n' ' ')" >"$work/one-layer.txt"
  expect "$dir in one layer breaks it (on purpose)" 1 \
    "$work/one-layer.txt" "$dir" "$objdir"
  # One file left out: the order must name every object.
  layers "$order" "$dir" | sed "1s/^[^ ]* *//; s/^/$dir: /" \
    >"$work/one-missing.txt"
  expect "$dir with a file left out breaks it (on purpose)" 1 \
    "$work/one-missing.txt" "$dir" "$objdir"
done
echo "$passed passed, $failed failed"
((failed == 0))
