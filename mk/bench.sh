#!/usr/bin/env bash
# `make bench`: `make bench-one` on every interpreter of mk/interpreters.sh
# (3.14 and 3.15 in the sid root, which has no gnuplot: their plots are
# drawn here, from the series they wrote).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0
for interpreter in $(bash mk/interpreters.sh); do
  py=${interpreter#sid:}
  echo "==== bench, $interpreter"
  bash mk/on.sh "$interpreter" make --no-print-directory PYTHON="$py" \
    bench-one || status=1
  if [[ $interpreter == sid:* ]]; then
    build=build/$(bash mk/on.sh "$interpreter" "$py" mk/pyinfo.py | cut -d' ' -f1)
    gnuplot -e "data='$build/bench'; out='$build/plots'" bench/plot.gp &&
      echo "== plots: $build/plots/invalidation.png $build/plots/store.png"
  fi
done
exit $status
