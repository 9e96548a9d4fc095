#!/usr/bin/env bash
# `make test`: for every interpreter mk/interpreters.sh names (this
# machine's, and 3.14 and 3.15 in the Debian sid root, each also as its
# debug build, python3.14d: its own row, 3.14d), builds everything for it
# and runs every suite, each under a header; then prints a table (each
# suite's counts and seconds) and, as the very last line,
#   N passed, N failed
# summed over all suites and interpreters.  Exits 1 if anything failed or
# nothing passed.
#
# How each suite counts:
#   build          a failed build is 1 failed (make -k: what can be built
#                  still is, and runs; a program that could not is 1 failed);
#   tests/test_*   the numbers on its last line of stdout, "N passed, N
#                  failed".  Without that line (a crash, a timeout) it is 1
#                  failed, and so is a non-zero exit that reported none;
#   examples/*     1 passed if it exits 0, else 1 failed;
#   tests/python   tests/python/run.py (unittest), its last line likewise;
#   mk/suites/*.sh each run as `bash SUITE PYTHON BUILD`, likewise: its
#                  last line of stdout is "N passed, N failed";
#   installcheck   `make installcheck` once per group of interpreters run
#                  one after the other (see lane()), together (one
#                  prefix), likewise.
#
# Environment: MAKE (set by the Makefile), PYTHON (only that interpreter: a
# path, or sid:PATH), WATCH_SID_ROOT (mk/sid-root.sh; "none": no root),
# WATCH_REQUIRE_VERSIONS (X.Y versions that must be tested, 3.14d for a
# debug build, else each counts 1 failed), TEST_TIMEOUT (seconds per program, default 600).
set -uo pipefail # no -e: a failing suite is counted, not fatal

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
read -r -a make_cmd <<<"${MAKE:-make}"
timeout_s=${TEST_TIMEOUT:-600}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=$work/out        # each lane has its own (see lane())
records=$work/records

# record PYVER SUITE PASSED FAILED: one line of $records, summed at the end
# (lanes run in subshells), with the seconds since the suite's header.
record() {
  local seconds=$((SECONDS - started))
  printf '%s\t%s\t%d\t%d\t%d\n' "$1" "$2" "$3" "$4" "$seconds" >>"$records"
  printf -- '---- %s %s: %d passed, %d failed (%d s)\n\n' "$1" "$2" "$3" "$4" \
    "$seconds"
}

# record_counted PYVER SUITE: records the "N passed, N failed" line that
# ends $out; without one, or with a failing $status and no failure
# reported, the suite counts as 1 failed.
record_counted() {
  local summary p f
  summary=$(tail -n 1 "$out" | tr -d '\r')
  if [[ "$summary" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]}
    if ((status != 0 && f == 0)); then
      echo "($2: exit status $status, but it reported no failure)"
      f=1
    fi
    record "$1" "$2" "$p" "$f"
  else
    echo "($2: exit status $status, and no final 'N passed, N failed' line)"
    record "$1" "$2" 0 1
  fi
}

header() {
  started=$SECONDS
  printf '==== Python %s (%s): %s ====\n' "$1" "$2" "$3"
}

# run PROGRAM: runs it with a time limit, stdout shown and kept in $out,
# stderr shown; sets $status.
run() {
  {
    timeout --kill-after=10 "$timeout_s" "${on[@]}" "./$1" </dev/null |
      tee "$out"
    status=${PIPESTATUS[0]}
  } 2>&1
  if ((status == 124 || status == 137)); then
    echo "($1: killed after ${timeout_s}s)"
  elif ((status > 128)); then
    echo "($1: killed by signal $((status - 128)))"
  fi
}

# up_to_date PROGRAM: after a failed build, whether PROGRAM was built anew
# rather than left over from an earlier build (make -q: nothing to do).
up_to_date() {
  if ((built)) ||
    "${on[@]}" "${make_cmd[@]}" -q PYTHON="$py" "$1" >/dev/null 2>&1; then
    return 0
  fi
  echo "($1: not built, see the build above)"
  return 1
}

shopt -s nullglob
tests=(tests/test_*.c)
examples=(examples/*.c)
suites=(mk/suites/*.sh)
if ((${#tests[@]} + ${#examples[@]} == 0)); then
  echo "mk/run-tests.sh: no tests/test_*.c and no examples/*.c: nothing to run"
  echo "0 passed, 0 failed"
  exit 1
fi


# test_on INTERPRETER: builds for it and runs every suite.
test_on() {
  local on=(bash mk/on.sh "$1") start=$SECONDS
  py=${1#sid:}
  read -r ver _ < <("${on[@]}" "$py" mk/pyinfo.py)
  build=build/$ver
  echo "$ver" >>"$work/tested"

  header "$ver" "$1" "build"
  built=1
  if ! "${on[@]}" "${make_cmd[@]}" -k --no-print-directory PYTHON="$py" \
    programs; then
    record "$ver" build 0 1
    built=0
  else
    echo "---- $ver build: done ($((SECONDS - started)) s)"
  fi
  echo

  for src in "${tests[@]}"; do
    prog=$build/${src%.c}
    header "$ver" "$1" "$prog"
    if ! up_to_date "$prog"; then
      record "$ver" "$prog" 0 1
      continue
    fi
    run "$prog"
    record_counted "$ver" "$prog"
  done

  for src in "${examples[@]}"; do
    prog=$build/${src%.c}
    header "$ver" "$1" "$prog"
    if ! up_to_date "$prog"; then
      record "$ver" "$prog" 0 1
      continue
    fi
    run "$prog"
    if ((status == 0)); then
      record "$ver" "$prog" 1 0
    else
      echo "($prog: exit status $status)"
      record "$ver" "$prog" 0 1
    fi
  done

  # The Python example, against the pywatch built in $build.
  header "$ver" "$1" "examples/service"
  {
    timeout --kill-after=10 "$timeout_s" "${on[@]}" env \
      PYTHONPATH="$PWD/$build" bash examples/service/run.sh "$py" </dev/null
    status=$?
  } 2>&1
  if ((status == 0)); then
    record "$ver" examples/service 1 0
  else
    echo "(examples/service: exit status $status)"
    record "$ver" examples/service 0 1
  fi

  # The Python suites, against the pywatch built in $build.
  header "$ver" "$1" "tests/python"
  {
    timeout --kill-after=10 "$timeout_s" "${on[@]}" env PYTHONPATH="$build" \
      "$py" tests/python/run.py </dev/null | tee "$out"
    status=${PIPESTATUS[0]}
  } 2>&1
  record_counted "$ver" tests/python

  for suite in "${suites[@]}"; do
    header "$ver" "$1" "$suite"
    {
      timeout --kill-after=10 "$timeout_s" "${on[@]}" \
        bash "$suite" "$py" "$PWD/$build" </dev/null | tee "$out"
      status=${PIPESTATUS[0]}
    } 2>&1
    record_counted "$ver" "$suite"
  done
  echo "---- $ver: built and tested in $((SECONDS - start)) s"
  echo
}

# group WHERE INTERPRETER...: test_on for each, one after the other, then
# `make installcheck` for them together (one prefix).
group() {
  local where=$1 pys=() vers=() interpreter on ver
  shift
  (($#)) || return 0
  for interpreter; do
    test_on "$interpreter"
    pys+=("${interpreter#sid:}")
    vers+=("$ver")
  done
  on=(bash mk/on.sh "$interpreter")
  ver=$(IFS=+; echo "${vers[*]}")
  header "$ver" "$where" installcheck
  {
    timeout --kill-after=10 "$timeout_s" "${on[@]}" "${make_cmd[@]}" \
      --no-print-directory PYTHON="${pys[0]}" PYTHONS="${pys[*]}" \
      installcheck </dev/null | tee "$out"
    status=${PIPESTATUS[0]}
  } 2>&1
  record_counted "$ver" installcheck
}

# lane WHERE: the interpreters that mk/interpreters.sh WHERE names, with a
# $out of its own.  The sid lane first makes the root (mostly waiting on
# the network).  The root's debug interpreters (python3.14d: their names
# end in d) take about twice as long as a release one: the sid lane keeps
# the first and hands the others to the host lane ($work/handoff), which
# runs them once its own are done, so that the two lanes end together.
lane() {
  out=$work/out-$1
  if [[ $1 == sid && -z "${PYTHON:-}" && "${WATCH_SID_ROOT:-}" != none ]]; then
    bash mk/sid-root.sh make 2>&1
  fi
  local interpreters=() kept=() given=() debug=0 interpreter
  mapfile -t interpreters < <(bash mk/interpreters.sh "$1")
  if [[ $1 == host ]]; then
    group host "${interpreters[@]}"
    # The sid lane writes the file even when it has nothing to give.
    while [[ ! -e "$work/handoff" ]] && kill -0 "$sid_lane" 2>/dev/null; do
      sleep 1
    done
    [[ -e "$work/handoff" ]] && mapfile -t given <"$work/handoff"
    group sid "${given[@]}"
    return
  fi
  for interpreter in "${interpreters[@]}"; do
    if [[ $interpreter == *d && -z "${PYTHON:-}" ]]; then
      debug=$((debug + 1))
      if ((debug > 1)); then
        given+=("$interpreter")
        continue
      fi
    fi
    kept+=("$interpreter")
  done
  printf '%s\n' "${given[@]}" | grep . >"$work/handoff.new"
  mv "$work/handoff.new" "$work/handoff"
  group sid "${kept[@]}"
}

# Most suites keep one core busy: the two lanes, this machine's
# interpreters and the root's, run side by side.  The host lane shows its
# output as it goes, the sid lane's follows it.
: >"$records"
: >"$work/tested"
lane sid >"$work/sid.log" 2>&1 &
sid_lane=$!
lane host
wait "$sid_lane"
cat "$work/sid.log"

passed=0
failed=0
table=()
while IFS=$'\t' read -r ver suite p f seconds; do
  passed=$((passed + p))
  failed=$((failed + f))
  table+=("$(printf '  %-9s %-36s %5d passed %5d failed %4d s' "$ver" "$suite" \
    "$p" "$f" "$seconds")")
done <"$records"
mapfile -t tested <"$work/tested"

# CI names the versions it needs (WATCH_REQUIRE_VERSIONS="3.12 3.13 ..."):
# one that could not be tested is a failure, never a silent skip.
for need in ${WATCH_REQUIRE_VERSIONS:-}; do
  if [[ " ${tested[*]} " != *" $need "* ]]; then
    echo "mk/run-tests.sh: CPython $need was required but could not be tested"
    failed=$((failed + 1))
    table+=("$(printf '  %-9s %-36s %5d passed %5d failed %4d s' "$need" \
      "(not tested)" 0 1 0)")
  fi
done

echo "==== Summary ===="
printf '%s\n' "${table[@]}"
echo "$passed passed, $failed failed"
((failed == 0 && passed > 0))
