"""A module that freezes itself as its import ends."""
import sys

import pywatch

N = 0
pywatch.freeze(sys.modules[__name__])
