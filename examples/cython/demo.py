"""globalsum, a Cython module that reads this module's globals through
libwatch's cells: every rebinding is seen at the very next read, a deleted
global falls back to the builtin, and each read is checked against what
Python itself reads, so a stale cell fails the run."""
import builtins
import sys

import globalsum

me = sys.modules[__name__]


def check(what, g, expected_slow_reads):
    """g() must be what Python reads now, with the slow path taken
    expected_slow_reads times in all."""
    try:
        got = g()
    except NameError as e:
        got = e
    try:
        python = eval(g.name, vars(me))
    except NameError as e:
        python = e
    print("%-34s %-28s slow reads: %d" % (what, got, g.slow_reads))
    if isinstance(python, NameError):
        assert isinstance(got, NameError), "stale: %r after the name went" % got
    else:
        assert got is python, "stale: %r where Python reads %r" % (got, python)
    assert g.slow_reads == expected_slow_reads, g.slow_reads


SCALE = 2
scale = globalsum.Global(me, "SCALE")
check("SCALE = 2", scale, 0)
assert globalsum.reads(scale, 100000) == 2 and scale.slow_reads == 0
assert globalsum.total(scale, [1, 2, 3]) == 12


def rebinding():
    """Values whose iteration rebinds SCALE before each one."""
    global SCALE
    for s in (3, 5, 7):
        SCALE = s
        yield 10


# Each value is multiplied by SCALE as bound at that moment.
assert globalsum.total(scale, rebinding()) == 30 + 50 + 70
check("rebound in the loop, to 7", scale, 0)
vars(me)["SCALE"] = 4
check("vars(me)['SCALE'] = 4", scale, 0)
setattr(me, "SCALE", 6)
check("setattr(me, 'SCALE', 6)", scale, 0)
del SCALE
check("del SCALE", scale, 1)
SCALE = 8  # an add: the cell reads the dict again once
check("SCALE = 8 again", scale, 2)
check("read again", scale, 2)

# A global shadows the builtin of its name; deleting it falls back to the
# builtin, which the cell already knows.
length = globalsum.Global(me, "len")
check("len (the builtin)", length, 0)
len = str  # noqa: A001
check("len = str (shadowing)", length, 1)
del len
check("del len", length, 1)
real_len = builtins.len
builtins.len = repr
try:
    check("builtins.len = repr", length, 1)
finally:
    builtins.len = real_len
check("builtins.len restored", length, 1)
print("globalsum demo: ok")
