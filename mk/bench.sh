#!/usr/bin/env bash
# `make bench`: `make bench-one` on every interpreter of mk/interpreters.sh,
# each output kept in build/X.Y/bench/output.txt; then one table of the
# figures with targets, per version (mk/bench_table.py), and the plots of
# all versions together in build/plots (bench/plot.gp, drawn here: the sid
# root has no gnuplot).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
versions=()
for interpreter in $(bash mk/interpreters.sh); do
  py=${interpreter#sid:}
  ver=$(bash mk/on.sh "$interpreter" "$py" mk/pyinfo.py | cut -d' ' -f1)
  # A debug build's (3.14d) figures would time CPython's own checks.
  if [[ $ver == *d ]]; then
    echo "==== bench, Python $ver ($interpreter): skipped, a debug build"
    continue
  fi
  echo "==== bench, Python $ver ($interpreter)"
  mkdir -p "build/$ver/bench"
  bash mk/on.sh "$interpreter" make --no-print-directory PYTHON="$py" \
    bench-one 2>&1 | tee "build/$ver/bench/output.txt"
  versions+=("$ver")
done

mapfile -t versions < <(printf '%s\n' "${versions[@]}" | sort -V)
mkdir -p build/plots
for v in "${versions[@]}"; do
  # store.dat: a label and a figure per line, after one comment line.
  echo "$v $(awk 'NR > 1 { print $NF }' "build/$v/bench/store.dat" | paste -sd' ')"
done >build/plots/store.dat
gnuplot -e "versions='${versions[*]}'; out='build/plots'" bench/plot.gp
echo "== plots: build/plots/invalidation.png build/plots/store.png"
python3 mk/bench_table.py "${versions[@]}"
