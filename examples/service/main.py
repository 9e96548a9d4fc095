"""The service's entry point, as a demo of freezing at the end of startup.
Exits non-zero if freezing did not behave as shown."""
import sys
import warnings

import pywatch
from app import config, handlers, startup

startup.start()
print("started; frozen:", [m.__name__ for m in (config, handlers)
                           if pywatch.is_frozen(m)])
ok = pywatch.enabled()

# 1. A monkeypatch after startup is blocked, and the setting is unchanged.
try:
    config.TIMEOUT = 99
    print("NOT blocked: config.TIMEOUT =", config.TIMEOUT)
    ok = False
except pywatch.FrozenError as e:
    print("blocked monkeypatch: FrozenError:", e)
try:
    config.Limits.max_body = 1
    ok = False
except TypeError as e:
    print("blocked class write: TypeError:", e)
ok = ok and config.TIMEOUT == 2.5

# 2. A write that cannot be blocked (STORE_GLOBAL in handlers.handle) is
#    reported with the file and line of the writer; the lazily built,
#    allowed _templates is not.
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    print("handle:", handlers.handle("/greet", "service"))
    handlers.handle("/again")
    pywatch.flush()
for w in caught:
    print("reported: %s:%d: %s: %s" % (w.filename, w.lineno,
                                       w.category.__name__, w.message))
ok = ok and len(caught) == 1 and "'last_path'" in str(caught[0].message) \
    and caught[0].filename == handlers.__file__

# 3. The sanctioned way to patch, frozen or not.
with pywatch.patch(config, "TIMEOUT", 0.1):
    print("patched timeout:", handlers.timeout())
print("restored timeout:", handlers.timeout())
ok = ok and handlers.timeout() == 2.5

stats = pywatch.stats()
print("stats:", {k: v for k, v in stats.items() if k.startswith("frozen")})
print("demo", "ok" if ok else "FAILED")
sys.exit(0 if ok else 1)
