import os
import sys

import config_mod

config_mod.LEVEL = 2
pid = os.fork()
if pid == 0:
    config_mod.LEVEL = 3
    sys.exit(0)  # a forked child: no report of its own
_, status = os.waitpid(pid, 0)
print("child exit", os.waitstatus_to_exitcode(status))
