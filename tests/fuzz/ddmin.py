"""Minimization for the fuzzers (fuzz.py, freeze_fuzz.py)."""


def ddmin(ops, fails):
    """A smaller list that still fails (Zeller's delta debugging), then
    one operation at a time."""
    n = 2
    while len(ops) >= 2:
        size = -(-len(ops) // n)
        for start in range(0, len(ops), size):
            rest = ops[:start] + ops[start + size:]
            if fails(rest):
                ops, n = rest, max(n - 1, 2)
                break
        else:
            if n >= len(ops):
                break
            n = min(len(ops), 2 * n)
    i = 0
    while i < len(ops):
        rest = ops[:i] + ops[i + 1:]
        if rest and fails(rest):
            ops = rest
        else:
            i += 1
    return ops
