"""Reference-leak check: runs each test module of the Python suite several
rounds in one process and fails if what is alive grows from one round to
the next.

After each round (callbacks flushed, garbage collected), it reads
sys.getallocatedblocks(), len(gc.get_objects()) and libwatch's and
freezing's own counters from pywatch.stats(); on a debug build (Py_DEBUG:
python3.14d), also sys.gettotalrefcount(), the sum of every reference
count.  The first rounds warm up (caches, imports, interned names,
trackers of modules frozen for good); each later round is compared with the
one before.  As in CPython's `regrtest -R`, each module is checked on its
own, and a quantity leaks if it grew in every compared round: a leak of
one object per test run grows every time, while allocator and cache noise
does not.  The total reference count is held to more: any change in any
compared round fails (regrtest -R only fails a growth in every round).  It
is exact, and what a round leaves must be nothing at all.

A test module that sets REFLEAK_WARMUP = N warms up for N rounds instead,
and says why.  Test modules that set IN_CHILDREN = True are left out: each of their
tests runs pywatch in child processes only.

Usage: PYTHONPATH=build/X.Y python refleak.py [--rounds N] [--warmup N] [DIR]
(DIR: where the test_*.py are, by default this file's directory).  One line
per module gives each quantity's changes; the last line is "N passed, N
failed", one check per module."""
import argparse
import array
import gc
import io
import os
import sys
import unittest

import pywatch

COUNTERS = ("dependents", "edges", "namespaces", "keys", "bytes", "taps",
            "tap_namespaces", "tap_bytes", "tracked_namespaces")


def test_modules(directory):
    """The names of the test modules to check, in order: every one of the
    suite's but those whose tests run pywatch in child processes only
    (IN_CHILDREN = True): nothing of theirs can grow in this one, and they
    are most of the suite's time.  A module that cannot be imported is
    kept under unittest's own name for it, and fails its first round."""
    suite = unittest.defaultTestLoader.discover(directory,
                                                top_level_dir=directory)
    names = []
    for test in _tests(suite):
        name = type(test).__module__
        if name not in names and not getattr(sys.modules[name],
                                             "IN_CHILDREN", False):
            names.append(name)
    return names


def run_round(directory, module):
    """Runs the tests of one module once, each a new instance as in a first
    run.  Returns the unittest result."""
    suite = unittest.defaultTestLoader.discover(directory,
                                                top_level_dir=directory)
    kept = unittest.TestSuite(test for test in _tests(suite)
                              if type(test).__module__ == module)
    return unittest.TextTestRunner(stream=io.StringIO(), verbosity=0).run(kept)


def _tests(suite):
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from _tests(test)
        else:
            yield test


QUANTITIES = ("allocated blocks", "gc objects") + COUNTERS
# Exact, so held to no change at all: on a debug build alone.
EXACT = ("total refs",) if hasattr(sys, "gettotalrefcount") else ()


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
    if EXACT:
        history["total refs"][n] = sys.gettotalrefcount()
    history["allocated blocks"][n] = sys.getallocatedblocks()
    history["gc objects"][n] = len(gc.get_objects())
    stats = pywatch.stats()
    for name in COUNTERS:
        history[name][n] = stats[name]


def report_failures(result):
    for test, text in result.failures + result.errors:
        print("FAIL: %s\n%s" % (test, text))


def check_module(directory, module, rounds, warmup):
    """Runs one module's rounds; prints its line, and returns whether it
    leaked nothing."""
    history = {name: array.array("q", bytes(8 * rounds))
               for name in EXACT + QUANTITIES}
    for n in range(rounds):
        result = run_round(directory, module)
        if not result.wasSuccessful():
            report_failures(result)
            print("%s: round %d failed, no leak check" % (module, n + 1))
            return False
        tests = result.testsRun
        del result
        measure(history, n)
    leaked = []
    figures = []
    for name in EXACT + QUANTITIES:
        values = history[name][warmup - 1:]
        deltas = [b - a for a, b in zip(values, values[1:])]
        if (any(deltas) if name in EXACT else all(d > 0 for d in deltas)):
            leaked.append(name)
        if name in EXACT or any(deltas):
            figures.append("%s %s" % (name, deltas))
    print("%-4s %-28s %3d tests: %s" % (
        "LEAK" if leaked else "ok", module, tests,
        ", ".join(figures) or "no change"))
    if leaked:
        print("     leaked: %s" % ", ".join(leaked))
    # Buffered stdout keeps each line (one block) until 8 KiB pend: it
    # would count as a leak of one block per round.
    sys.stdout.flush()
    return not leaked


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

    print("%d rounds per module, the first %d warming up; each quantity's "
          "changes over rounds %d to %d:"
          % (args.rounds, args.warmup, args.warmup, args.rounds))
    passed = failed = 0
    for module in test_modules(args.directory):
        # A module may warm up longer (REFLEAK_WARMUP, with its reason),
        # and is still compared over as many rounds.
        warmup = max(args.warmup,
                     getattr(sys.modules[module], "REFLEAK_WARMUP", 0))
        rounds = args.rounds + warmup - args.warmup
        if check_module(args.directory, module, rounds, warmup):
            passed += 1
        else:
            failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
