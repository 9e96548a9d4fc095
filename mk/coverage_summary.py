"""Prints the line and branch coverage in an lcov tracefile, per top
directory and in total (the last line), and exits 1 if the total is below
the minimums.

Usage: coverage_summary.py FILE.info PYVERSION MIN_LINES MIN_BRANCHES"""
import os
import sys


def read(path):
    """{directory: [lines found, hit, branches found, hit]} from the
    tracefile's per-file totals (LF, LH, BRF, BRH)."""
    fields = {"LF": 0, "LH": 1, "BRF": 2, "BRH": 3}
    dirs = {}
    with open(path) as f:
        for line in f:
            tag, _, value = line.strip().partition(":")
            if tag == "SF":
                rel = os.path.relpath(value)
                counts = dirs.setdefault(rel.split(os.sep)[0] + "/",
                                         [0, 0, 0, 0])
            elif tag in fields:
                counts[fields[tag]] += int(value)
    return dirs


def percent(hit, found):
    return 100.0 * hit / found if found else 100.0


def describe(counts):
    lf, lh, brf, brh = counts
    return "lines %.1f%% (%d of %d), branches %.1f%% (%d of %d)" % (
        percent(lh, lf), lh, lf, percent(brh, brf), brh, brf)


def main():
    path, version, min_lines, min_branches = sys.argv[1:]
    dirs = read(path)
    total = [sum(c[i] for c in dirs.values()) for i in range(4)]
    for name in sorted(dirs):
        print("  %-10s %s" % (name, describe(dirs[name])))
    lines, branches = percent(total[1], total[0]), percent(total[3], total[2])
    low = []
    if lines < float(min_lines):
        low.append("lines below %s%%" % min_lines)
    if branches < float(min_branches):
        low.append("branches below %s%%" % min_branches)
    print("coverage, CPython %s: %s%s" % (
        version, describe(total), "; FAILED: " + ", ".join(low) if low else ""))
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
