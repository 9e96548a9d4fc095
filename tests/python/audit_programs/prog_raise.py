import config_mod


def fail():
    config_mod.LEVEL = 9
    raise KeyError("from the program")


fail()
