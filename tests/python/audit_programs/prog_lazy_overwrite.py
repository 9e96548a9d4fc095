import types

import lazy_mod

# Another module in the placeholder's place: no resolution, a write.
vars(lazy_mod)["lazy_target"] = types.ModuleType("lazy_target")
print(7)
