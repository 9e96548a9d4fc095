"""A service that sets its config during startup, from the environment and
its flags, and then freezes it (issue 26, part 1).  --late writes a
setting after the freeze, as a latent bug would; --startup-done marks the
end of startup with pywatch.startup_done() instead of freezing; --plain
marks nothing."""
import os
import sys

import pywatch
import svc_config as config

config.DEBUG = "--debug" in sys.argv
config.TIMEOUT = float(os.environ.get("SVC_TIMEOUT", "2.5"))
if "--startup-done" in sys.argv:
    pywatch.startup_done()
elif "--plain" not in sys.argv:
    pywatch.freeze(config)  # the end of startup


def serve(requests):
    return [config.TIMEOUT for _ in range(requests)]


serve(3)
if "--late" in sys.argv:
    config.TIMEOUT = 5.0  # after the freeze: freezing refuses this
print("served", config.DEBUG, config.TIMEOUT, pywatch.is_frozen(config))
