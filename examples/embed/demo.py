"""constcache, an optimizer embedding libwatch from C: module.NAME compiled
into a cached constant, a cell that the module's writes keep up to date,
read with one load."""
import constcache
import settings

timeout = constcache.constant(settings, "TIMEOUT")

assert timeout() == 30 and timeout.slow_reads == 0
assert timeout.read(1000) == 30 and timeout.slow_reads == 0
print("cached:", timeout(), "after", timeout.slow_reads, "slow reads")

settings.TIMEOUT = 5                 # the write itself updates the cell
assert timeout() == 5 and timeout.slow_reads == 0
assert timeout.read(1000) == 5 and timeout.slow_reads == 0
print("after settings.TIMEOUT = 5:", timeout(), "(no read again)")

vars(settings)["TIMEOUT"] = 7        # straight to the dict: seen too
assert timeout() == 7 and timeout.slow_reads == 0

del settings.TIMEOUT
try:
    timeout()
except AttributeError as e:
    print("after del:", e)
else:
    raise AssertionError("a deleted constant was still read")

settings.TIMEOUT = 30                # an add: one more slow read confirms it
assert timeout() == 30 and timeout.slow_reads == 2
print("constcache demo: ok")
