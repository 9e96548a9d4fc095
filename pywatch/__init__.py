"""pywatch: trackable Python namespaces, over libwatch.

Dependents are told, after the fact, when a module, dict, class attribute or
function they assumed changes.  Services freeze their modules at the end of
startup; test suites switch freezing off (PYWATCH_DISABLE=1 or
-X pywatch=off) and patch with pywatch.patch().
"""
from ._pywatch import (Dependent, Event, FrozenError, FrozenWarning,
                       StaleError, flush, version, watch)
from ._pywatch import counters as _counters
from ._freeze import (disable, enabled, freeze, is_frozen, modified, patch,
                      thaw)
from . import _freeze

__all__ = ["Dependent", "Event", "FrozenError", "FrozenWarning", "StaleError",
           "disable", "enabled", "flush", "freeze", "is_frozen", "modified",
           "patch", "stats", "thaw", "version", "watch"]


def stats():
    """libwatch's counters and freezing's, in one dict."""
    result = dict(_counters())
    result.update(_freeze.counts())
    return result
