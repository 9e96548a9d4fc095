import importlib

import config_mod

config_mod.LEVEL = 7
importlib.reload(config_mod)
print("LEVEL", config_mod.LEVEL)
