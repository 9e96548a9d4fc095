import gc
from unittest import mock

import config_mod
import counter_mod

config_mod.LEVEL = config_mod.LEVEL              # the same object: no write
counter_mod.Point.x = counter_mod.Point.x
gc.get_referents(counter_mod.Point.__dict__)[0]["z"] = 1   # raw class dict write
with mock.patch.dict(config_mod.__dict__, {"LEVEL": 5}):   # clears on exit
    pass
print("done")
