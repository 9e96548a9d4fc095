"""A module with a module-level counter, bumped through `global`."""
n = 0


def bump():
    global n
    n += 1  # the writer


class Point:
    x = 0
