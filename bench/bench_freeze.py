"""Benchmarks for freezing (issue 5):

1. attribute reads of a frozen module against an unfrozen one of the same
   shape.  Freezing moves the module to a subclass of ModuleType (issue 24:
   ModuleType itself, shared by every interpreter, is never written), and
   only 3.14 and later specialize attribute reads of a module subclass:
   the target, ratio <= 1.05, is theirs; 3.12 and 3.13 pay the generic
   attribute lookup, printed for what it is;
2. writes to an allow= name of a frozen module of 10^4 names against the
   same writes on one of 10 names (issue 15: target <= 1.5x): each write is
   judged alone, whatever the module's size;
3. freeze() cost per namespace entry, freezing every module in sys.modules
   after importing a large part of the standard library.

Usage: PYTHONPATH=build/X.Y python bench/bench_freeze.py [--quick]
Rounds are interleaved and the best of each is kept, so that both sides see
the same machine; every ratio printed comes from this run."""
import gc
import importlib
import sys
import time
import timeit
import types

import pywatch

STDLIB = """abc argparse ast asyncio base64 bisect calendar collections
colorsys concurrent.futures configparser contextlib copy csv dataclasses
datetime decimal difflib dis email email.mime.text enum fnmatch fractions
ftplib functools getopt gettext glob gzip hashlib heapq hmac html
html.parser http.client http.server imaplib importlib.metadata inspect io
ipaddress itertools json logging logging.handlers lzma mailbox mimetypes
multiprocessing numbers operator optparse pathlib pickle pkgutil platform
plistlib poplib pprint profile pstats queue quopri random re reprlib sched
secrets selectors shelve shlex shutil signal smtplib socket socketserver
sqlite3 ssl statistics string stringprep struct subprocess symtable
sysconfig tarfile tempfile textwrap threading timeit tokenize tomllib trace
traceback turtle types typing unittest unittest.mock urllib.parse
urllib.request uuid warnings wave weakref xml.dom.minidom xml.etree.ElementTree
xml.sax zipfile zipimport zoneinfo""".split()

READS = 20  # attribute reads per statement, to dwarf the loop's overhead
STMT = "; ".join(["m.x"] * READS)


def make_module(name):
    m = types.ModuleType(name)
    exec("x = 1\n" + "\n".join("v%d = %d" % (i, i) for i in range(50)),
         m.__dict__)
    return m


def bench_reads(rounds, number):
    frozen = pywatch.freeze(make_module("bench_frozen"))
    plain = make_module("bench_plain")
    control = make_module("bench_control")  # unfrozen too: shows the noise
    cases = {"unfrozen": plain, "frozen": frozen, "control": control}
    timers = {k: timeit.Timer(STMT, globals={"m": m}) for k, m in cases.items()}
    for t in timers.values():  # warm up: specialize the reads
        t.timeit(number // 10 or 1)
    best = {k: float("inf") for k in cases}
    for _ in range(rounds):
        for k, t in timers.items():
            best[k] = min(best[k], t.timeit(number))
    per_read = {k: v / (number * READS) * 1e9 for k, v in best.items()}
    base = per_read["unfrozen"]
    print("module attribute read (best of %d rounds x %d x %d reads):"
          % (rounds, number, READS))
    for k in cases:
        print("  %-10s %6.2f ns/read  ratio %.3f" % (k, per_read[k],
                                                     per_read[k] / base))
    ratio = per_read["frozen"] / base
    if sys.version_info >= (3, 14):
        verdict = "target <= 1.05: %s" % ("ok" if ratio <= 1.05 else "MISSED")
    else:
        verdict = ("no target: %d.%d does not specialize attribute reads of "
                   "a ModuleType subclass" % sys.version_info[:2])
    print("frozen/unfrozen read ratio: %.3f (%s; unfrozen/unfrozen control: "
          "%.3f)" % (ratio, verdict, per_read["control"] / base))
    pywatch.thaw(frozen)
    return ratio


WRITES = 2000


def bench_allowed_writes(rounds):
    """A counter in allow= on a frozen module, written WRITES times, each a
    statement of its own (so each is delivered on its own, as in a
    service)."""
    def frozen_module(size):
        m = types.ModuleType("bench_allow_%d" % size)
        for i in range(size):
            setattr(m, "n%d" % i, i)
        m.counter = 0
        return pywatch.freeze(m, allow=("counter",))
    small, big = frozen_module(10), frozen_module(10_000)
    code = compile("for i in range(%d):\n    m.counter = i\n" % WRITES,
                   "<bench>", "exec")
    best = {}
    for _ in range(rounds):
        for name, m in (("10 names", small), ("10^4 names", big)):
            t0 = time.perf_counter()
            exec(code, {"m": m})
            pywatch.flush()
            best[name] = min(best.get(name, float("inf")),
                             time.perf_counter() - t0)
    ratio = best["10^4 names"] / best["10 names"]
    print("allow= writes, %d per round, best of %d rounds:" % (WRITES, rounds))
    for name, t in best.items():
        print("  %-10s %8.2f us per write" % (name, t / WRITES * 1e6))
    print("10^4-name/10-name write ratio: %.2f (target <= 1.5: %s)"
          % (ratio, "ok" if ratio <= 1.5 else "MISSED"))
    pywatch.thaw(small)
    pywatch.thaw(big)
    return ratio


def bench_freeze_all():
    failed = 0
    for name in STDLIB:
        try:
            importlib.import_module(name)
        except Exception:
            failed += 1
    skip = {"sys", "__main__"}
    mods = [m for name, m in list(sys.modules.items())
            if name not in skip and isinstance(m, types.ModuleType)
            and not pywatch.is_frozen(m)]
    entries = sum(len(m.__dict__) for m in mods)
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter_ns()
        for m in mods:
            pywatch.freeze(m)
        t1 = time.perf_counter_ns()
        for m in mods:
            pywatch.thaw(m)
        t2 = time.perf_counter_ns()
    finally:
        gc.enable()
    pywatch.flush()
    print("freeze() of every loaded module: %d modules, %d namespace entries "
          "(%d stdlib imports failed)" % (len(mods), entries, failed))
    print("  freeze: %.1f ms total, %.1f ns per entry, %.1f us per module"
          % ((t1 - t0) / 1e6, (t1 - t0) / entries, (t1 - t0) / len(mods) / 1e3))
    print("  thaw:   %.1f ms total, %.1f ns per entry"
          % ((t2 - t1) / 1e6, (t2 - t1) / entries))
    return (t1 - t0) / entries


def main():
    quick = "--quick" in sys.argv
    if not pywatch.enabled():
        print("pywatch freezing is disabled (PYWATCH_DISABLE / -X pywatch=off)")
        return 1
    print("pywatch bench_freeze, Python %s" % sys.version.split()[0])
    bench_reads(5 if quick else 15, 20_000 if quick else 200_000)
    bench_allowed_writes(3 if quick else 9)
    bench_freeze_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
