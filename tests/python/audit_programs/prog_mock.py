from unittest import mock

import config_mod

with mock.patch("config_mod.DEBUG", True):
    print("patched", config_mod.DEBUG)
print("restored", config_mod.DEBUG)
