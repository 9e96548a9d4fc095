"""Guarded specialization (pywatch.specialize), ratios measured side by side
in this run:

  1. FAT Python's example: f() returning len("abc"), specialized to return 3,
     against the plain function.  FAT Python reported 0.122 -> 0.093 us,
     1.31x.  Also shown: a hand-written `return 3` function, the ceiling,
     and the same ratio with the calling loop's own cost subtracted.
  2. The same function once its assumption broke (builtins.len replaced and
     put back), against the plain function: deoptimization leaves nothing
     on the call path, so 1.00x.
"""
import builtins
import timeit

import pywatch

CALLS = 200000
ROUNDS = 9


def plain():
    return len("abc")


def specialized():
    return len("abc")


def by_hand():
    return 3


def loop_ns(*funcs):
    """Best time per iteration of a loop calling f(), for each f (None: an
    empty loop), the rounds interleaved so that drift hits all alike."""
    best = [float("inf")] * len(funcs)
    for _ in range(ROUNDS):
        for i, func in enumerate(funcs):
            stmt = "for _ in range(%d): %s" % (CALLS, "pass" if func is None
                                               else "f()")
            t = timeit.timeit(stmt, globals={"f": func}, number=1)
            best[i] = min(best[i], t / CALLS * 1e9)
    return best


def main():
    guard = pywatch.specialize(specialized, by_hand.__code__,
                               globals=["len"])
    assert specialized() == 3
    t_plain, t_spec, t_hand, t_loop = loop_ns(plain, specialized, by_hand,
                                              None)
    print("specialized len(\"abc\") call (per call, loop included):")
    print("  plain %.1f ns, specialized %.1f ns, hand-written %.1f ns"
          % (t_plain, t_spec, t_hand))
    print("  specialized vs plain: %.2fx faster (FAT Python: 1.31x;"
          " hand-written ceiling here: %.2fx)" % (t_plain / t_spec,
                                                  t_plain / t_hand))
    print("  the calls alone (loop's %.1f ns subtracted): %.2fx faster"
          % (t_loop, (t_plain - t_loop) / (t_spec - t_loop)))

    real_len = builtins.len
    builtins.len = lambda obj: 0
    builtins.len = real_len
    pywatch.flush()
    assert not guard.valid and pywatch.get_specialized(specialized) is None
    t_plain, t_deopt = loop_ns(plain, specialized)
    print("after deoptimization: plain %.1f ns, deoptimized %.1f ns: %.3fx"
          " the plain call" % (t_plain, t_deopt, t_deopt / t_plain))


if __name__ == "__main__":
    main()
