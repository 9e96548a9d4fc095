#!/usr/bin/env bash
# CPython's own tests under `python -m pywatch audit` (issues 7 and 8): a
# subset of the interpreter's test package, run by regrtest once plainly
# and once with every module namespace tracked (not frozen), must give the
# same outcome for every test case.  One test module is one count: passed
# if its outcomes are identical with and without the audit.
#
#   bash mk/suites/cpython.sh PYTHON BUILD_DIR
#
# Sequential (no -j): regrtest's workers would run outside the audit.
set -uo pipefail

py=$1
build=$2
tests=(test_dict test_types test_descr test_module test_importlib
  test_unittest test_funcattrs test_json)
# A debug build (python3.14d) is here for CPython's assertions over what
# the audit does, and test_unittest is 40% of its run there (20 s of 55,
# twice): the seven others, test_importlib among them (it makes modules,
# what the audit tracks), keep the assertions at work.  The release build
# of the same version runs test_unittest, under the same audit.
if "$py" -c 'import sys; sys.exit(not hasattr(sys, "gettotalrefcount"))'; then
  tests=(test_dict test_types test_descr test_module test_importlib
    test_funcattrs test_json)
fi

if ! "$py" -c 'import test.libregrtest' 2>/dev/null; then
  echo "$py has no test package (CPython's test suite): nothing to compare"
  echo "0 passed, 0 failed"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
export PYTHONPATH=$build PYTHONDONTWRITEBYTECODE=1
unset PYWATCH_DISABLE

# run NAME [AUDIT...]: regrtest over the subset; its junit XML in NAME.xml,
# its exit status in NAME.rc, its output in NAME.out.
run() {
  local name=$1
  shift
  local start=$SECONDS
  "$py" "$@" -m test --junit-xml "$work/$name.xml" "${tests[@]}" \
    >"$name.out" 2>&1
  echo $? >"$name.rc"
  echo "$name: $(grep -a '^Result:' "$name.out") ($((SECONDS - start)) s)"
}

run plain
run audit -m pywatch audit --json "$work/report.json"

"$py" - "$work" <<'EOF'
import json
import os
import sys
import xml.etree.ElementTree as ET

work = sys.argv[1]


def outcomes(name):
    """{test module: {test case: outcome}} from regrtest's junit XML, which
    has one <testsuite> per test module (doctests included)."""
    path = os.path.join(work, name + ".xml")
    if not os.path.exists(path):
        return {}
    result = {}
    for suite in ET.parse(path).iter("testsuite"):
        cases = {}
        for case in suite.iter("testcase"):
            kinds = [c.tag for c in case
                     if c.tag in ("skipped", "failure", "error")]
            # regrtest writes a test case whose subtests failed as an
            # empty <testcase />.
            name = case.get("name") or "(a test case without a name)"
            cases[name] = kinds[0] if kinds else "ok"
        module = next((i.split(".")[1] for i in cases
                       if i.startswith("test.") and i.count(".") > 1), "?")
        result.setdefault(module, {}).update(cases)
    return result


def rc(name):
    with open(os.path.join(work, name + ".rc")) as f:
        return int(f.read())


plain, audit = outcomes("plain"), outcomes("audit")
passed = failed = 0
for module in sorted(set(plain) | set(audit)):
    p, a = plain.get(module, {}), audit.get(module, {})
    counts = {}
    for outcome in p.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    summary = ", ".join("%d %s" % (n, k) for k, n in sorted(counts.items()))
    if p == a:
        passed += 1
        print("%-16s same with and without audit (%s)" % (module, summary))
        continue
    failed += 1
    print("%-16s DIFFERS under audit (without: %s)" % (module, summary))
    for test_id in sorted(set(p) | set(a)):
        if p.get(test_id) != a.get(test_id):
            print("    %s: %s without, %s with audit"
                  % (test_id, p.get(test_id, "absent"),
                     a.get(test_id, "absent")))
if not plain:
    print("regrtest wrote no results without audit")
    failed += 1
if rc("plain") != rc("audit"):
    print("exit status %d without audit, %d with" % (rc("plain"),
                                                     rc("audit")))
    failed += 1
try:
    with open(os.path.join(work, "report.json")) as f:
        report = json.load(f)
    print("audit report: %d modules and %d classes tracked, %d namespaces "
          "written after import" % (report["tracked"]["modules"],
                                    report["tracked"]["classes"],
                                    len(report["namespaces"])))
except (OSError, ValueError, KeyError) as exc:
    print("no audit report: %s" % exc)
    failed += 1
if failed:
    for name in ("plain", "audit"):
        print("---- regrtest's output, %s (its end)" % name)
        with open(os.path.join(work, name + ".out"), errors="replace") as f:
            print("".join(f.readlines()[-40:]), end="")
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
EOF
