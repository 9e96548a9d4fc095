"""Guarded specialization: a function runs other code while assumptions
hold, with no check on its calls.

specialize() registers the assumptions on a Dependent, then has libwatch
install the code; when any assumption breaks, libwatch puts the original
code back before the change completes (phase one), so the very next call
runs it.  The Dependent lives as long as the specialization: it is kept here
until its callback reports the deoptimization.
"""
from . import _freeze
from . import _pywatch as _c
from ._pywatch import Dependent as _Dependent
from ._pywatch import deoptimize, get_specialized

__all__ = ["deoptimize", "get_specialized", "specialize"]

# Per interpreter, as this module is: the Dependents of the specializations
# in place.
_live = set()


class _Guard(_Dependent):
    """The Dependent of a specialization, kept in _live until it is
    invalidated (its callback) or released."""
    __slots__ = ()

    def __new__(cls):
        return super().__new__(cls, _ended)

    def release(self):
        _live.discard(self)
        super().release()


def _ended(dependent, event):
    _live.discard(dependent)


def _names(what, value):
    if isinstance(value, (str, bytes)):
        raise TypeError("%s must be a sequence of names, not %s"
                        % (what, type(value).__name__))
    return tuple(value)


def specialize(func, code, *, globals=(), attrs=(), functions=()):
    """Run code as func's code while its assumptions hold; returns the
    Dependent that guards it.

    globals: names that code assumed as func's LOAD_GLOBAL resolves them
    (its globals, then its builtins).  attrs: (namespace, name) pairs, where
    namespace is a module, a dict or a class.  functions: functions whose
    code or defaults code inlined (func itself may be among them).  The
    current values are assumed.

    When any assumption breaks (or deoptimize(func), or the Dependent is
    invalidated or released), func gets its original code back before the
    change completes.  Assigning func.__code__ drops the specialization and
    keeps the assigned code.  Raises ValueError if code's parameters or free
    variables differ from func's, or if either is a generator or coroutine;
    StaleError/ValueError as Dependent.depends_on does.  With freezing
    switched off for tests (PYWATCH_DISABLE=1, -X pywatch=off, disable()),
    raises the same errors but installs nothing, and returns an invalid
    Dependent; disable() leaves specializations already installed alone.
    """
    _c._check_fit(func, code)
    names = _names("globals", globals)
    pairs = tuple(attrs)
    inlined = tuple(functions)
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise TypeError("attrs must hold (namespace, name) pairs, not %r"
                            % (pair,))
    dependent = _Guard()
    for name in names:
        dependent.depends_on_global(func, name)
    for namespace, name in pairs:
        dependent.depends_on(namespace, name)
    for f in inlined:
        if f is not func:  # the specialization depends on func anyway
            dependent.depends_on_function(f)
    # Test mode fails where production would, and installs nothing.
    if not _freeze.enabled():
        dependent.invalidate()
        return dependent
    _c._specialize(dependent, func, code)
    _live.add(dependent)
    return dependent
