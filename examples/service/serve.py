"""The service as it runs: startup, which freezes its modules, then
requests.  Under the audit its freeze() calls mark the end of startup, and
what the requests write after them is what freezing refuses or reports:

    python -m pywatch audit --include 'app*' serve.py
"""
from app import handlers, startup

startup.start()
for path in ("/greet", "/again"):
    print(handlers.handle(path, "service"))
