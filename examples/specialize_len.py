"""FAT Python's example on a stock CPython: f() returns len("abc"),
specialized to return 3 while builtins.len is the builtin.

The specialized code runs with no check on its calls; replacing
builtins.len puts the original code back before the assignment completes.
Run with PYTHONPATH=build/X.Y.
"""
import builtins
import timeit

import pywatch


def f():
    return len("abc")


def plain():
    return len("abc")


def f_specialized():
    return 3


def per_call_ns(func):
    loop = "for _ in range(200000): f()"
    best = min(timeit.repeat(loop, globals={"f": func}, number=1, repeat=7))
    return best / 200000 * 1e9


guard = pywatch.specialize(f, f_specialized.__code__, globals=["len"])
assert pywatch.get_specialized(f) is f_specialized.__code__ and f() == 3

t_plain, t_spec = per_call_ns(plain), per_call_ns(f)
print("plain f(): %.1f ns   specialized f(): %.1f ns   speed-up %.2fx"
      % (t_plain, t_spec, t_plain / t_spec))

real_len = builtins.len
builtins.len = lambda obj: 42          # deoptimizes f before it completes
try:
    assert not guard.valid and pywatch.get_specialized(f) is None
    result = f()
    print("after builtins.len was replaced: f() = %r (the original code ran)"
          % result)
    assert result == 42
finally:
    builtins.len = real_len
assert f() == 3 == plain()
print("restored builtins.len: f() = %r" % f())
