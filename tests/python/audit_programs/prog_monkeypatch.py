import config_mod

config_mod.DEBUG = True  # setattr
setattr(config_mod, "LEVEL", 3)
setattr(config_mod, "LEVEL", 4)
del config_mod.OLD
config_mod.__dict__["LEVEL"] = 5  # straight to the dict
vars(config_mod)["NEW"] = 1
print("LEVEL", config_mod.LEVEL)
