"""What `python -m pywatch audit` costs a program (issue 7: at most 1.3x).

Each figure runs the same workload in a fresh process, plainly and under
audit, alternately, and keeps each side's best of ROUNDS; the workload
times itself, so interpreter start-up and the report at exit are measured
apart (the whole process's wall time is printed too).

- stdlib: CPU-bound pure-Python stdlib code (difflib, fractions,
  statistics, textwrap, json's pure-Python encoder) reading module globals
  and class attributes all the time, writing them rarely.  The claim.
- counter: the worst case, a module-level counter (`global n; n += 1`) in
  an imported module, so that every iteration is a write the audit logs.
  Its floor is printed beside it: the same run, not audited, with the
  module's dict watched by one dependent on another name.  That is what
  CPython's dict watcher dispatch and libwatch's miss path cost every
  write, whoever watches; the audit's own share is the rest.

    PYTHONPATH=build/3.13 python3.13 bench/bench_audit.py
"""
import os
import subprocess
import sys
import time

ROUNDS = 5
CHUNKS = 10
LIMIT = 1.3

n = 0


def bump(times):
    """The counter workload: every iteration writes a module global."""
    global n
    for _ in range(times):
        n += 1


def stdlib_work():
    import difflib
    import fractions
    import json.encoder
    import statistics
    import textwrap
    words = ("the quick brown fox jumps over the lazy dog and keeps running "
             "past the river bank into the woods ").split()
    text_a = [" ".join(words[i % 7:] + words[:i % 7]) for i in range(200)]
    text_b = [line.replace("fox", "cat") for line in text_a]
    for _ in range(3):
        difflib.SequenceMatcher(None, text_a, text_b).get_opcodes()
        list(difflib.unified_diff(text_a, text_b, lineterm=""))
    total = fractions.Fraction(0)
    for i in range(1, 3000):
        total += fractions.Fraction(1, i)
    data = [((i * 7919) % 1000) / 7.0 for i in range(20000)]
    for _ in range(5):
        statistics.fmean(data)
        statistics.median(data)
        statistics.stdev(data)
    textwrap.fill(" ".join(words * 400), width=40)
    encoder = json.encoder.JSONEncoder()
    doc = {"k%d" % i: [i, str(i), {"x": i / 3}] for i in range(2000)}
    for _ in range(5):
        "".join(encoder.iterencode(doc))  # the pure-Python encoder


def workload(kind):
    """Runs in the child: prints the workload's own time in seconds.  The
    counter's 3e6 writes run in CHUNKS timed parts, and the best part
    counts for all: a part the machine interrupted does not."""
    if kind == "stdlib":
        start = time.perf_counter()
        for _ in range(6):
            stdlib_work()
        print(time.perf_counter() - start)
        return
    import bench_audit  # this file as an imported, audited module
    if kind == "watched":
        import pywatch
        keep = pywatch.watch(bench_audit, "not_a_name", lambda event: None)
    best = float("inf")
    for _ in range(CHUNKS):
        start = time.perf_counter()
        bench_audit.bump(3_000_000 // CHUNKS)
        best = min(best, time.perf_counter() - start)
    print(best * CHUNKS)


def run(kind, audited):
    """(workload seconds, process seconds).  The child runs in bench/, with
    PYTHONPATH made absolute: python -m puts the working directory first
    on sys.path, and the source tree's pywatch/ has no extension built."""
    import pywatch
    here = os.path.abspath(__file__)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(
        os.path.dirname(os.path.abspath(pywatch.__file__))))
    audit = ["-m", "pywatch", "audit"] if audited else []
    start = time.perf_counter()
    out = subprocess.run([sys.executable, *audit, here, kind],
                         cwd=os.path.dirname(here), env=env,
                         capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    return float(out.stdout.split()[-1]), wall


def measure(runs):
    """Each (kind, audited) of runs, in turn ROUNDS times: the best of each."""
    best = [(float("inf"),) * 2 for _ in runs]
    for _ in range(ROUNDS):
        best = [min(b, run(*r)) for b, r in zip(best, runs)]
    return best


def main():
    print("python -m pywatch audit, best of %d runs each (CPython %s)"
          % (ROUNDS, sys.version.split()[0]))
    ok = True
    for kind, what in (("stdlib", "CPU-bound stdlib workload"),
                       ("counter", "module counter, 3e6 writes")):
        runs = [(kind, False), (kind, True)]
        if kind == "counter":
            runs.append(("watched", False))
        results = measure(runs)
        (p, pw), (a, aw) = results[:2]
        print("  %-28s %.3f s plain, %.3f s audited: %.2fx "
              "(whole process %.2fx)" % (what, p, a, a / p, aw / pw))
        if kind == "counter":
            w = results[2][0]
            print("  %-28s %.3f s watched, not audited: %.2fx (the floor)"
                  % ("", w, w / p))
        if kind == "stdlib" and a / p > LIMIT:
            ok = False
            print("  over the %.1fx limit" % LIMIT)
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1:
        workload(sys.argv[1])
    else:
        sys.exit(main())
