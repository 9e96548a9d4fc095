"""Reference-leak check: runs the Python test suite several rounds in one
process and fails if what is alive grows from one round to the next.

After each round (callbacks flushed, garbage collected), it reads
sys.getallocatedblocks(), len(gc.get_objects()) and libwatch's and
freezing's own counters from pywatch.stats().  The first rounds warm up
(caches, imports, interned names, trackers of modules frozen for good);
each later round is compared with the one before.  As in CPython's
`regrtest -R`, a quantity leaks if it grew in every compared round: a
leak of one object per test run grows every time, while allocator and
cache noise does not.

Test modules that set IN_CHILDREN = True are left out: each of their
tests runs pywatch in child processes only.

Usage: PYTHONPATH=build/X.Y python refleak.py [--rounds N] [--warmup N] [DIR]
(DIR: where the test_*.py are, by default this file's directory).  The last
line is "N passed, N failed", one check per quantity."""
import argparse
import array
import gc
import io
import os
import sys
import unittest

import pywatch

COUNTERS = ("dependents", "edges", "namespaces", "keys", "bytes",
            "tracked_namespaces")


def run_round(directory):
    """Runs the suite once, but for the modules whose tests run pywatch in
    child processes only (IN_CHILDREN = True): nothing of theirs can grow
    in this one, and they are most of the suite's time.  Returns the
    unittest result."""
    suite = unittest.defaultTestLoader.discover(directory,
                                                top_level_dir=directory)
    kept = unittest.TestSuite(test for test in _tests(suite)
                              if not getattr(sys.modules[type(test).__module__],
                                             "IN_CHILDREN", False))
    return unittest.TextTestRunner(stream=io.StringIO(), verbosity=0).run(kept)


def _tests(suite):
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from _tests(test)
        else:
            yield test


QUANTITIES = ("allocated blocks", "gc objects") + COUNTERS


def measure(history, n):
    """Stores in history[quantity][n] what is alive once what the round left
    can be freed.  history holds preallocated arrays: storing allocates
    nothing, so that keeping the figures does not count as growth."""
    pywatch.flush()
    for _ in range(3):  # finalizers may free more cycles
        gc.collect()
    pywatch.flush()
    # 3.14 deprecates the old name.
    getattr(sys, "_clear_internal_caches", sys._clear_type_cache)()
    history["allocated blocks"][n] = sys.getallocatedblocks()
    history["gc objects"][n] = len(gc.get_objects())
    stats = pywatch.stats()
    for name in COUNTERS:
        history[name][n] = stats[name]


def report_failures(result):
    for test, text in result.failures + result.errors:
        print("FAIL: %s\n%s" % (test, text))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("directory", nargs="?", default=here)
    args = parser.parse_args()
    if not 0 < args.warmup < args.rounds - 1:
        parser.error("need 0 < --warmup < --rounds - 1: at least two rounds "
                     "compared")

    history = {name: array.array("q", bytes(8 * args.rounds))
               for name in QUANTITIES}
    for n in range(args.rounds):
        result = run_round(args.directory)
        if not result.wasSuccessful():
            report_failures(result)
            print("round %d: the suite failed, no leak check" % (n + 1))
            print("0 passed, 1 failed")
            return 1
        tests = result.testsRun
        del result
        measure(history, n)
        print("round %d: %d tests, %s" % (n + 1, tests, ", ".join(
            "%s %d" % (name, history[name][n]) for name in QUANTITIES)))
        # Buffered stdout keeps each line (one block) until 8 KiB pend: it
        # would count as a leak of one block per round.
        sys.stdout.flush()

    passed = failed = 0
    for name in QUANTITIES:
        values = history[name][args.warmup - 1:]
        deltas = [b - a for a, b in zip(values, values[1:])]
        leaks = all(d > 0 for d in deltas)
        print("%-4s %-18s deltas %s" % ("LEAK" if leaks else "ok", name,
                                         deltas))
        failed += leaks
        passed += not leaks
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
