"""Freezes every module of a process running workload.py, as the audit's
verdict (a --json report, argv[1]) says, then runs the workload again.

main() runs once unfrozen, so that everything it imports is loaded; then
every module in sys.modules but sys and __main__ is frozen: the verdict's
safe ones as they are, its allow= ones with those names, and the modules
the audit did not track (pywatch's own, this driver's) as they are.  The
second run's output must be the first's, with no write blocked or
reported."""
import io
import json
import sys
import contextlib

import pywatch
import workload


def freeze_all(verdict):
    frozen = 0
    for name, module in list(sys.modules.items()):
        if module is None or name in ("sys", "__main__") \
                or name in verdict["not_freezable"]:
            continue
        pywatch.freeze(module, allow=tuple(verdict["allow"].get(name, ())))
        frozen += 1
    return frozen


def run():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        workload.main()
    return out.getvalue()


def main():
    with open(sys.argv[1]) as f:
        verdict = json.load(f)["verdict"]
    before = run()
    frozen = freeze_all(verdict)
    after = run()
    pywatch.flush()
    stats = pywatch.stats()
    print("frozen", frozen)
    print("identical", before == after)
    print("blocked", stats["frozen_writes_blocked"])
    print("reported", stats["frozen_writes_detected"])
    sys.stdout.write(after)


if __name__ == "__main__":
    main()
