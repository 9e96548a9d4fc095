import sys

import counter_mod

counter_mod.bump()
counter_mod.bump()
print("leaving with 3")
sys.exit(3)
