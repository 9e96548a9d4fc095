"""constcache, an optimizer embedding libwatch from C: module.NAME compiled
into a cached constant, checked with one load, refilled after a write."""
import constcache
import settings

timeout = constcache.constant(settings, "TIMEOUT")

assert timeout() == 30 and timeout.refills == 1
assert timeout.read(1000) == 30 and timeout.refills == 1
print("cached:", timeout(), "after", timeout.refills, "fill")

settings.TIMEOUT = 5                 # libwatch clears the flag at once
assert timeout() == 5 and timeout.refills == 2
print("after settings.TIMEOUT = 5:", timeout(), "(refilled)")

vars(settings)["TIMEOUT"] = 7        # straight to the dict: seen too
assert timeout() == 7 and timeout.refills == 3

del settings.TIMEOUT
try:
    timeout()
except AttributeError as e:
    print("after del:", e)
else:
    raise AssertionError("a deleted constant was still read")

settings.TIMEOUT = 30
assert timeout() == 30
print("constcache demo: ok")
