"""make bench's summary: each target figure, per version, read from
build/X.Y/bench/output.txt (what make bench-one printed there), with its
target.  Usage: python3 mk/bench_table.py X.Y [X.Y ...]"""
import re
import sys

# (what, regular expression whose group 1 is the figure, target, check)
ROWS = [
    ("invalidation, 10^6 / 10^2 dependents",
     r"ratio 10\^6 / 10\^2\s+([\d.]+)x", "<= 1.20x", lambda x: x <= 1.20),
    ("full cycle at 10^2 dependents / bloom-scan",
     r"libwatch / bloom-scan: at 10\^2 ([\d.]+)x", "<= 1.00x",
     lambda x: x <= 1.00),
    ("full cycle at 10^1 dependents / bloom-scan",
     r"libwatch / bloom-scan: at 10\^1 ([\d.]+)x", "<= 1.50x",
     lambda x: x <= 1.50),
    ("store to a key nobody depends on / no-op watcher",
     r"libwatch / no-op watcher = ([\d.]+)x", "<= 1.10x", lambda x: x <= 1.10),
    ("store to a key with one cell / no-op watcher",
     r"one cell on the key / no-op watcher = ([\d.]+)x", "<= 1.15x",
     lambda x: x <= 1.15),
    ("cell read / plain pointer load",
     r"cell read / plain load = ([\d.]+)x", "<= 1.05x", lambda x: x <= 1.05),
    ("function creation / no-op function watcher",
     r"ratio libwatch / no-op = ([\d.]+)x", "<= 1.02x", lambda x: x <= 1.02),
    ("frozen module read / unfrozen (3.14+)",
     r"frozen/unfrozen read ratio: ([\d.]+) \(target", "<= 1.05x",
     lambda x: x <= 1.05),
    ("  3.12, 3.13: no target (no specialization)",
     r"frozen/unfrozen read ratio: ([\d.]+) \(no target", "", None),
    ("allow= writes, 10^4-name / 10-name module",
     r"10\^4-name/10-name write ratio: ([\d.]+)", "<= 1.5x",
     lambda x: x <= 1.5),
    ("audit, module counter written 3x10^6 times",
     r"module counter, 3e6 writes .*: ([\d.]+)x", "<= 1.3x",
     lambda x: x <= 1.3),
    ("  its floor: watched by a dependent, not audited",
     r"watched, not audited: ([\d.]+)x", "", None),
    ('specialized len("abc"), speed-up',
     r"specialized vs plain: ([\d.]+)x faster", "= the ceiling", None),
    ("  hand-written ceiling",
     r"hand-written ceiling here: ([\d.]+)x", "", None),
    ("deoptimized / plain call",
     r": ([\d.]+)x the plain call", "1.00x", lambda x: 0.95 <= x <= 1.05),
]


def figure(text, pattern):
    m = re.search(pattern, text)
    return float(m.group(1)) if m else None


def main(versions):
    texts = {}
    for v in versions:
        with open("build/%s/bench/output.txt" % v) as f:
            texts[v] = f.read()
    width = max(len(r[0]) for r in ROWS)
    print("== make bench, per version (every figure against its baseline "
          "from the same run)")
    print("  %-*s %-14s %s" % (width, "figure", "target",
                               "".join("%-10s" % v for v in versions)))
    for what, pattern, target, ok in ROWS:
        cells = []
        for v in versions:
            x = figure(texts[v], pattern)
            if x is None:
                cells.append("%-10s" % "-")
            else:
                flag = "" if ok is None or ok(x) else " !"
                cells.append("%-10s" % ("%.3fx%s" % (x, flag)))
        print("  %-*s %-14s %s" % (width, what, target, "".join(cells)))
    print("  (! misses its target)")


if __name__ == "__main__":
    main(sys.argv[1:])
