"""constcache's compiled lookup against a plain module attribute lookup,
both done in a C loop, measured side by side in this run."""
import timeit

import constcache
import settings

N = 1000000
cached = constcache.constant(settings, "TIMEOUT")
cached()


def best(fn):
    return min(timeit.repeat(fn, number=1, repeat=7)) / N * 1e9


for _ in range(2):
    t_cached = best(lambda: cached.read(N))
    t_plain = best(lambda: constcache.getattr_loop(settings, "TIMEOUT", N))
    print("settings.TIMEOUT in C: PyObject_GetAttr %5.2f ns, constcache %5.2f ns"
          "  -> %.1fx faster" % (t_plain, t_cached, t_plain / t_cached))
