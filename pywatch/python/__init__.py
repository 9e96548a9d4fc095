"""pywatch: trackable Python namespaces, over libwatch.

Dependents are told, after the fact, when a module, dict, class attribute or
function they assumed changes.  Services freeze their modules at the end of
startup; test suites switch freezing off (PYWATCH_DISABLE=1,
-X pywatch=off, or pytest's -p pywatch.pytest_plugin) and patch with
pywatch.patch().  specialize() runs other code
in a function while its assumptions hold.  Cells (global_cell(),
attr_cell()) hold the value a read of one name gives now.
"""
import atexit as _atexit

try:
    from ._pywatch import __version__
except ImportError as _error:
    from ._extension import explain as _explain
    raise _explain(_error) from None

from ._pywatch import (Cell, Dependent, Event, FrozenError, FrozenWarning,
                       StaleError, __version__, attr_cell, dict_version,
                       flush, global_cell, watch)
from ._pywatch import _finalize
from ._pywatch import counters as _counters
from ._freeze import (disable, enable, enabled, freeze, is_frozen, modified,
                      patch, startup_done, thaw)
from ._specialize import deoptimize, get_specialized, specialize
from . import _freeze

__all__ = ["Cell", "Dependent", "Event", "FrozenError", "FrozenWarning",
           "StaleError", "attr_cell", "deoptimize", "dict_version", "disable",
           "enable", "enabled", "flush", "freeze", "get_specialized",
           "global_cell", "is_frozen", "modified", "patch", "specialize",
           "startup_done", "stats", "thaw", "watch"]


# First registered, so last run: the audit's report and the program's own
# handlers still see libwatch working.  Callbacks told FINALIZED run here,
# with the interpreter whole.
_atexit.register(_finalize)


def stats():
    """libwatch's counters and freezing's, in one dict."""
    result = dict(_counters())
    result.update(_freeze.counts())
    return result
