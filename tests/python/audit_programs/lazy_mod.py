# Python 3.15 syntax (PEP 810): imported by prog_lazy.py only.
lazy import lazy_target


def use():
    return lazy_target.VALUE
