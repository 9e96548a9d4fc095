"""Startup: import everything, then freeze it.  Under PYWATCH_DISABLE=1 or
-X pywatch=off (test suites) freezing does nothing."""
import pywatch

import app
from app import config, handlers


def start():
    pywatch.freeze(app)
    pywatch.freeze(config, classes=True)
    pywatch.freeze(handlers, allow=("_templates",))
    return app
