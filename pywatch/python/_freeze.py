"""Freezing: the policy over freeze.c's primitives.

freeze(module) makes setattr-path writes raise FrozenError (a hook on
ModuleType's tp_setattro, which leaves reads untouched) and watches the
module's __dict__ for the writes that cannot be blocked on a stock CPython
(STORE_GLOBAL, mod.__dict__[k] = v, vars(mod).update, exec(..., mod.__dict__),
mock.patch.dict(mod.__dict__)): each is reported once per (module, name) as a
FrozenWarning at the writer's file and line, and counted.  freeze(cls) sets
Py_TPFLAGS_IMMUTABLETYPE, so that CPython itself raises TypeError.

PYWATCH_DISABLE=1 or -X pywatch=off turn freezing off for test suites;
disable() does the same at run time and thaws what was frozen, and enable()
freezes it again.  freeze() remembers what it is asked whether freezing is
on or off, so that enable() can apply it.  patch() is the sanctioned way to
patch, frozen or not.
"""
import builtins as _builtins
import os as _os
import sys as _sys
import types as _types
import warnings as _warnings
import weakref as _weakref

from . import _pywatch as _c
from ._pywatch import Dependent as _Dependent
from ._pywatch import FrozenError, FrozenWarning

__all__ = ["counts", "disable", "enable", "enabled", "freeze", "is_frozen",
           "modified", "patch", "thaw", "FrozenError", "FrozenWarning"]

_MISSING = object()
_ModuleType = _types.ModuleType
# 3.15's placeholder for a name bound by a lazy import (PEP 810).
_LazyImportType = getattr(_types, "LazyImportType", None)
_FunctionType = _types.FunctionType

# Always allowed after freezing, on every module: the warnings machinery
# adds it on the first warning raised from the module's code.
_ALWAYS_ALLOWED = frozenset(["__warningregistry__"])
# Created lazily by CPython on first *read* (module and class
# __annotations__ on 3.12/3.13), by copyreg (a class's __slotnames__,
# through setattr, which a frozen class refuses and copyreg ignores), or by
# eval() and exec() in a module's dict that lacks __builtins__ (an extension
# module's, when inspect.signature() reads a builtin's text signature).
_LAZY = frozenset(["__annotations__", "__slotnames__", "__builtins__"])

# What the standard library writes to its own modules after import, on
# 3.12 to 3.15, by module name: found by auditing CPython's test suites and
# real programs (READONLY.txt lists them, with the code that writes each).
STDLIB_WRITES = {k: frozenset(v) for k, v in {
    # catch_warnings(), filterwarnings(), resetwarnings(); showwarning by
    # logging.captureWarnings() too; 3.14 moved the code to _py_warnings.
    "warnings": ["filters", "_filters_version", "showwarning",
                 "_showwarnmsg_impl"],
    "_py_warnings": ["filters", "_filters_version", "showwarning",
                     "_showwarnmsg_impl", "_wm"],
    "logging": ["_warnings_showwarning", "_loggerClass", "_logRecordFactory"],
    # importlib/__init__.py, on its first import, names the frozen
    # bootstrap modules it wraps.
    "_frozen_importlib": ["__file__", "__name__", "__package__"],
    "_frozen_importlib_external": ["__file__", "__name__", "__package__"],
    # At interpreter exit.
    "threading": ["_SHUTTING_DOWN", "_trace_hook", "_profile_hook"],
    "concurrent.futures.thread": ["_shutdown"],
    "concurrent.futures.process": ["_global_shutdown",
                                   "_system_limits_checked",
                                   "_system_limited"],
    "multiprocessing.util": ["_exiting"],
    # Created on first use by the module's __getattr__.
    "typing": ["Match", "Pattern", "ContextManager", "AsyncContextManager",
               "ByteString", "ForwardRef", "_collect_parameters",
               "_lazy_annotationlib"],
    "concurrent.futures": ["ProcessPoolExecutor", "ThreadPoolExecutor",
                           "InterpreterPoolExecutor"],
    "importlib.abc": ["ResourceReader", "Traversable",
                      "TraversableResources"],
    "unittest": ["IsolatedAsyncioTestCase"],
    "ast": ["_Unparser"],
    # Caches filled on first use.
    "asyncio.events": ["_event_loop_policy"],
    "base64": ["_a85chars", "_a85chars2", "_b85chars", "_b85chars2",
               "_b85dec"],
    "collections": ["heapq"],
    "datetime": ["_normalize_century"],
    "gettext": ["_token_pattern", "_current_domain"],
    "locale": ["_percent_re"],
    "mimetypes": ["inited", "_db", "types_map", "encodings_map",
                  "suffix_map", "common_types", "_types_map_default",
                  "_encodings_map_default", "_suffix_map_default",
                  "_common_types_default"],
    "dataclasses": ["_MODULE_IDENTIFIER_RE"],
    "pkgutil": ["_NAME_PATTERN", "_LENIENT_PATTERN", "_STRICT_PATTERN"],
    "platform": ["_uname_cache"],
    "random": ["_sha512"],
    "shutil": ["_USE_CP_SENDFILE"],
    "sysconfig": ["_CONFIG_VARS", "_CONFIG_VARS_INITIALIZED"],
    "tempfile": ["_name_sequence", "tempdir"],
    "urllib.parse": ["_hextobyte", "_hostprog", "_portprog", "_typeprog"],
    "uuid": ["_last_counter_v7", "_last_timestamp_v7", "_last_timestamp"],
    "zipfile": ["_crctable"],
    "_osx_support": ["_SYSTEM_VERSION"],
    "_strptime": ["_TimeRE_cache"],
    # time.tzset(), which _strptime calls.
    "time": ["tzname", "timezone", "altzone", "daylight"],
    # Setters: zoneinfo.reset_tzpath(), doctest.set_unittest_reportflags(),
    # gettext.install() (builtins), and doctest's runs, which patch
    # pdb.set_trace and linecache.getlines and put them back.
    "zoneinfo._tzpath": ["TZPATH"],
    "doctest": ["_unittest_reportflags"],
    "builtins": ["gettext", "ngettext", "pgettext", "npgettext"],
    "pdb": ["set_trace"],
    "linecache": ["getlines"],
}.items()}


def _switched_off():
    value = _os.environ.get("PYWATCH_DISABLE", "").strip().lower()
    if value and value not in ("0", "false", "no", "off"):
        return True
    x = _sys._xoptions.get("pywatch")
    return x is not None and str(x).strip().lower() in ("off", "0", "false",
                                                        "no", "disable")


class _State:
    """Everything mutable lives here, not in module globals, so that
    freezing this module (as bench_freeze does with all of sys.modules) does
    not report pywatch's own bookkeeping."""
    enabled = not _switched_off()
    requests = {}     # id(module or class) -> _Request, frozen or not
    trackers = {}     # id(module or class) -> _Tracker
    functions = {}    # id(function) -> _FunctionTracker
    detected = 0      # direct dict writes to frozen namespaces


_state = _State()


def allowed_anyway(owner, is_module, name, value, existed,
                   resolved_lazy_import=False):
    """Why freezing lets this write through whatever allow= says ("" if
    it does not): owner is the module's or class's name, value what the
    name holds now (_MISSING: deleted), existed whether it held something
    before, resolved_lazy_import whether the write replaced a lazy import
    object (3.15, PEP 810) by something else, which is how the import
    system resolves it on first use.  The one statement of the policy:
    the setattr hook (_refusal), the tracking of direct writes and the
    audit's verdict all ask it.  It runs no code of the program's: no
    attribute of value is read."""
    if type(name) is not str:
        return ""
    if name in _ALWAYS_ALLOWED:
        return "warnings registry"
    if is_module and name in STDLIB_WRITES.get(owner, ()):
        return "the standard library's own write"
    if is_module and resolved_lazy_import:
        return "lazy import resolved"
    if name in _LAZY and not existed:
        return "created lazily"
    # The import system binding a submodule on its package: the very
    # module it holds under that name.
    if (is_module and value is not _MISSING
            and _sys.modules.get("%s.%s" % (owner, name)) is value):
        return "submodule binding"
    return ""


def implicitly_allowed(module):
    """Names freeze(module) always allows: the REPL's sys.displayhook sets
    builtins._."""
    return frozenset(["_"]) if module is _builtins else frozenset()


def defined_classes(module):
    """The classes freeze(module, classes=True) freezes: heap classes bound
    in the module whose __module__ is the module."""
    return [v for v in list(module.__dict__.values())
            if isinstance(v, type) and _c._is_heap_type(v)
            and getattr(v, "__module__", None) == module.__name__]


def _where(obj):
    if isinstance(obj, _ModuleType):
        return getattr(obj, "__file__", None) or "<module %r>" % obj.__name__
    mod = _sys.modules.get(getattr(obj, "__module__", None))
    return getattr(mod, "__file__", None) or "<class %r>" % _describe(obj)


def _describe(obj):
    if isinstance(obj, _ModuleType):
        return getattr(obj, "__name__", None) or "?"
    return "%s.%s" % (getattr(obj, "__module__", "?"),
                      getattr(obj, "__qualname__", obj.__name__))


class _Tracker:
    """One per module or class that pywatch tracks: a _Recorder that hears
    every write to its dict as it happens, judged at the next safe point,
    or at once where a caller needs it (sync()).  No write goes unseen,
    however soon it is undone, and no value is compared: what counts is
    that a write happened, and who made it.

    A class's tracker must not keep the class alive: it names the class
    through a weak reference, and the recorder holds no reference to the
    dict.  A class's __bases__ changes nothing in its dict: a dependent
    watches them."""

    def __init__(self, obj):
        self.is_module = isinstance(obj, _ModuleType)
        self.name = _describe(obj)
        self.filename = _where(obj)
        key = id(obj)
        self.ref = _weakref.ref(obj, lambda r, key=key, f=_forget: f(key))
        ns = obj.__dict__ if self.is_module else _c._type_dict(obj)
        self.recorder = _c._Recorder(ns, self._judge, _MISSING)
        self.frozen = False
        self.was_immutable = False
        self.allowed = frozenset()
        self.warned = set()
        self.modified = False
        self.sanctioned = {}  # name -> value being written by patch()
        self.bases = None
        self.bases_dependent = None
        if not self.is_module:
            self.bases = self._refs(obj.__bases__)
            self._watch_bases(obj)

    @staticmethod
    def _refs(bases):
        """The bases, held weakly: a base the class leaves may die."""
        return tuple(_weakref.ref(b) for b in bases)

    def _watch_bases(self, obj):
        """Invalidated by __bases__ assignment anywhere in the MRO (and, on
        a builtin-based class, by any change): each delivery arms a new
        one."""
        self.bases_dependent = _Dependent(self._bases_changed)
        try:
            self.bases_dependent.depends_on(obj, "__pywatch_bases_probe__")
        except (ValueError, TypeError):
            pass

    def _bases_changed(self, dependent, event):
        obj = self.ref()
        if (dependent is not self.bases_dependent or obj is None
                or event.kind in ("deallocated", "finalized")):
            return
        self._watch_bases(obj)
        bases = obj.__bases__
        if len(bases) != len(self.bases) or any(
                r() is not b for r, b in zip(self.bases, bases)):
            self.bases = self._refs(bases)
            self._judge([("modified", "__bases__", obj.__bases__, _MISSING,
                          event.filename, event.lineno)])

    def release(self):
        self.recorder.close()
        if self.bases_dependent is not None:
            self.bases_dependent.release()

    def sync(self):
        """Judges the writes not delivered yet, now."""
        self._judge(self.recorder.drain())

    def silent(self, name, value, old):
        """A write that freezing expects, and no modification."""
        if name in self.allowed:
            return True
        expected = self.sanctioned.get(name, self)
        if expected is not self and value is expected:
            return True
        resolved = (_LazyImportType is not None and type(old) is _LazyImportType
                    and value is not _MISSING
                    and type(value) is not _LazyImportType)
        return bool(allowed_anyway(self.name, self.is_module, name, value,
                                   old is not _MISSING, resolved))

    def _judge(self, records):
        if self.ref() is None:
            return
        for how, name, value, old, filename, lineno in records:
            if name is not None and self.silent(name, value, old):
                continue
            self.modified = True
            if self.frozen:
                _state.detected += 1
                self._warn(name, how, filename, lineno)

    def _warn(self, name, how, filename, lineno):
        name = "<all names>" if name is None else name
        if name in self.warned:
            return
        self.warned.add(name)
        what = "module" if self.is_module else "class"
        if not filename:
            filename, lineno = self.filename, 0
        if how in ("cleared", "cloned"):
            change = "its __dict__ was %s" % how
        else:
            change = "%r was %s straight in its __dict__" % (name, how)
        obj = self.ref()
        ns = obj.__dict__ if obj is not None else {}
        msg = ("%s %r is frozen, but %s (STORE_GLOBAL, __dict__[...] = ..., "
               "vars().update(), exec() or mock.patch.dict(); pywatch.patch() "
               "is the sanctioned way)%s" % (what, self.name, change,
                                            self._unheld_allowed(ns)))
        _warnings.warn_explicit(msg, FrozenWarning, filename, lineno)

    def class_refusal(self, obj):
        """The audit hook's question (freeze.c): why obj may not change
        class, or None."""
        if self.ref() is not obj or not self.frozen:
            return None
        return ("%s %r is frozen: its __class__ cannot be assigned"
                % ("module" if self.is_module else "class", self.name))

    def refusal(self, module, name, *value):
        """The setattr hook's question for a frozen module (freeze.c): why
        the write of value (none: a deletion) to name is refused, or
        None."""
        value = value[0] if value else _MISSING
        if self.ref() is not module:
            return None     # a dead module's entry whose id was reused
        if not issubclass(type(name), str):
            return None     # the slot itself raises TypeError
        if type(name) is not str:
            # Its own __hash__ and __eq__ could pass for an allowed name.
            return "a name that is not an exact str (%s)" % type(name).__name__
        if name in self.allowed:
            return None
        old = module.__dict__.get(name, _MISSING)
        if value is not _MISSING and value is old:
            # Binding the object already bound changes nothing (mock.patch's
            # clean-up after a refused patch does that).
            return None
        if allowed_anyway(self.name, True, name, value, old is not _MISSING):
            return None
        return "cannot %s %r%s" % ("delete" if value is _MISSING else "set",
                                   name, self._unheld_allowed(module.__dict__))

    def _unheld_allowed(self, ns):
        """allow= names that the namespace does not hold, for the message of
        a refused write: they may be misspellings of the name refused.  A
        name not bound yet is accepted, since others may add it later."""
        unheld = sorted(n for n in self.allowed if n not in ns
                        and n not in _ALWAYS_ALLOWED and n not in _LAZY)
        if not unheld:
            return ""
        return ("; allow= also names %s, which it does not hold: misspelt?"
                % ", ".join(map(repr, unheld)))


class _FunctionTracker:
    def __init__(self, func):
        key = id(func)
        self.ref = _weakref.ref(func, lambda r, key=key, f=_forget: f(key))
        self.dependent = _Dependent()
        self.dependent.depends_on_function(func)

    def release(self):
        self.dependent.release()


def _forget(key, state=_state, registry=_c._frozen_registry,
            hint=_c._frozen_hint):
    """A tracked object died.  What it uses is bound in its defaults: at
    interpreter teardown, objects die after module globals are cleared."""
    t = state.trackers.pop(key, None) or state.functions.pop(key, None)
    if t is not None:
        t.release()
        if getattr(t, "frozen", False):
            registry().pop(key, None)
            hint(-1)


def _tracker(obj, create=True):
    t = _state.trackers.get(id(obj))
    if t is not None and t.ref() is obj:
        return t
    if not create:
        return None
    t = _state.trackers[id(obj)] = _Tracker(obj)
    return t


def _check_target(obj, what):
    if isinstance(obj, _ModuleType):
        if obj is _sys:
            raise ValueError(
                "cannot %s sys: it must stay writable (sys.stdout, sys.stderr, "
                "sys.ps1, sys.excepthook, sys.path... are assigned at run time "
                "by design)" % what)
        return True
    if isinstance(obj, type):
        if not _c._is_heap_type(obj):
            raise TypeError("cannot %s %r: builtin and extension static types "
                            "are immutable already" % (what, obj))
        return False
    raise TypeError("can only %s a module or a class, not %s"
                    % (what, type(obj).__name__))


def _names(allow):
    if isinstance(allow, str):
        allow = (allow,)
    names = frozenset(allow)
    for n in names:
        if not isinstance(n, str):
            raise TypeError("allow: names must be str, not %s"
                            % type(n).__name__)
    return names


class _Request:
    """What freeze() was asked for one module or class, kept whether
    freezing is on or off: enable() applies it, disable() lifts it, thaw()
    forgets it.  It holds the object weakly."""

    def __init__(self, obj):
        key = id(obj)
        self.ref = _weakref.ref(obj, lambda r, key=key, f=_drop_request:
                                f(key, r))
        self.allow = frozenset()
        self.classes = []   # weak references: what classes=True froze


def _drop_request(key, ref, state=_state):
    """A requested object died (state bound for teardown, as in _forget)."""
    req = state.requests.get(key)
    if req is not None and req.ref is ref:
        del state.requests[key]


def _request(obj, create=True):
    req = _state.requests.get(id(obj))
    if req is not None and req.ref() is obj:
        return req
    if not create:
        return None
    req = _state.requests[id(obj)] = _Request(obj)
    return req


def _requested():
    """(object, request) for every live request."""
    pairs = [(req.ref(), req) for req in list(_state.requests.values())]
    return [(obj, req) for obj, req in pairs if obj is not None]


def freeze(obj, *, allow=(), classes=False):
    """Freezes a module or class and returns it.

    Module: obj.x = v, del obj.x, setattr() and mock.patch() raise
    FrozenError; writes straight to obj.__dict__ are reported as
    FrozenWarning.  Class: CPython raises TypeError for writes.  allow names
    attributes that stay writable, bound yet or not (a name that is not
    is pointed out in the messages of refused writes, as a likely
    misspelling); classes=True also freezes the classes the module
    defines.  Idempotent.  When freezing is off (test mode) the request is
    remembered, for enable(), and nothing is frozen."""
    is_module = _check_target(obj, "freeze")
    names = _names(allow)
    _sys.audit("pywatch.freeze", obj, tuple(sorted(names)), classes)
    req = _request(obj)
    req.allow = req.allow | names
    if is_module:
        req.allow = req.allow | implicitly_allowed(obj)
        if classes:
            for cls in defined_classes(obj):
                freeze(cls)
                if not any(ref() is cls for ref in req.classes):
                    req.classes.append(_weakref.ref(cls))
    if _state.enabled:
        _apply(obj, req)
    return obj


def _apply(obj, req):
    """Freezes obj for real, as req says."""
    t = _tracker(obj)
    t.sync()  # what changed before freezing is no frozen write
    t.allowed = req.allow
    if t.frozen:
        return
    if not t.is_module:
        t.was_immutable = _c._set_immutable(obj, True)
    elif type(obj) is not _ModuleType:
        _c._hook_module_type(type(obj))
    _c._frozen_registry()[id(obj)] = t
    _c._frozen_hint(1)
    t.frozen = True


def _lift(obj):
    """Makes obj writable again; its request stays."""
    t = _tracker(obj, create=False)
    if t is None or not t.frozen:
        return
    t.sync()  # report what was written while frozen
    t.frozen = False
    _c._frozen_registry().pop(id(obj), None)
    _c._frozen_hint(-1)
    if not t.is_module and not t.was_immutable:
        _c._set_immutable(obj, False)


def thaw(obj):
    """Makes a frozen module or class writable again, and forgets that it
    was frozen (with the classes freeze(classes=True) froze); returns it.
    Idempotent.  Tracking (modified()) goes on."""
    _check_target(obj, "thaw")
    _sys.audit("pywatch.thaw", obj)
    req = _request(obj, create=False)
    if req is not None:
        del _state.requests[id(obj)]
        for ref in req.classes:
            cls = ref()
            if cls is not None:
                thaw(cls)
    _lift(obj)
    return obj


def is_frozen(obj):
    """Whether freeze() was called on this module or class (directly, or
    through classes=True) and thaw() was not.  That holds in test mode
    too, where it is not in force: enabled() tells whether it is."""
    if not isinstance(obj, (_ModuleType, type)):
        return False
    return _request(obj, create=False) is not None


def enabled():
    """False under PYWATCH_DISABLE=1, -X pywatch=off, or after disable(),
    until enable()."""
    return _state.enabled


def disable():
    """Test mode from now on: thaws everything pywatch froze, and freeze()
    only remembers what it is asked.  Tracking and dependents keep
    working."""
    _sys.audit("pywatch.disable")
    _state.enabled = False
    for obj, _ in _requested():
        _lift(obj)


def enable():
    """The end of test mode: freezes for real everything that freeze() was
    asked and thaw() did not undo, disabled or not, and freeze() freezes
    again."""
    _sys.audit("pywatch.enable")
    _state.enabled = True
    for obj, req in _requested():
        _apply(obj, req)


def _saved_requests():
    """What freeze() was asked, to be put back by _restore_requests()."""
    return [(req, req.allow, list(req.classes))
            for req in _state.requests.values()]


def _restore_requests(saved):
    """Puts back what _saved_requests() saw; freezing must be off."""
    _state.requests.clear()
    for req, allow, classes in saved:
        obj = req.ref()
        if obj is not None:
            req.allow, req.classes = allow, classes
            _state.requests[id(obj)] = req


def modified(obj):
    """READONLY's __modified__: whether the module, class or function
    changed since pywatch began tracking it (at freeze() or at the first
    modified() call, which returns False)."""
    if isinstance(obj, _FunctionType):
        t = _state.functions.get(id(obj))
        if t is None or t.ref() is not obj:
            _state.functions[id(obj)] = _FunctionTracker(obj)
            return False
        return not t.dependent.valid
    if not isinstance(obj, (_ModuleType, type)):
        raise TypeError("modified() takes a module, class or function, not %s"
                        % type(obj).__name__)
    t = _tracker(obj, create=False)
    if t is None:
        if isinstance(obj, type) and not _c._is_heap_type(obj):
            return False  # static types never change
        _tracker(obj)
        return False
    t.sync()
    return t.modified


def _own(obj, name):
    if isinstance(obj, _ModuleType):
        return obj.__dict__.get(name, _MISSING)
    if isinstance(obj, type):
        return obj.__dict__.get(name, _MISSING)
    d = getattr(obj, "__dict__", None)
    if isinstance(d, dict):
        return d.get(name, _MISSING)
    return getattr(obj, name, _MISSING)


def _sanctioned(obj, name, value):
    """Sets (value is _MISSING: deletes) past freezing, without a warning."""
    t = _tracker(obj, create=False) if isinstance(obj, (_ModuleType, type)) \
        else None
    if t is not None:
        t.sync()
        t.sanctioned[name] = value
    args = (obj, name) if value is _MISSING else (obj, name, value)
    try:
        if isinstance(obj, _ModuleType):
            _c._raw_setattr(*args)
        elif isinstance(obj, type) and t is not None and t.frozen:
            was = _c._set_immutable(obj, False)
            try:
                _c._raw_setattr(*args)
            finally:
                _c._set_immutable(obj, was)
        elif value is _MISSING:
            delattr(obj, name)
        else:
            setattr(obj, name, value)
    finally:
        if t is not None:
            t.sync()   # judged while the write is still the sanctioned one
            t.sanctioned.pop(name, None)
    if t is not None:
        t.modified = True


class patch:
    """with pywatch.patch(obj, name, value): the sanctioned way to patch.

    Works whether obj is frozen or not; on exit restores the original
    object exactly, or deletes the name if obj did not have it.  As
    mock.patch does, it raises AttributeError for a name obj lacks unless
    create=True, and decorates a function (or a coroutine function, not a
    class) to patch during each call.  Writes through it invalidate
    dependents like any write, raise no FrozenWarning and count as a
    modification for modified()."""

    def __init__(self, obj, name, value, *, create=False):
        if not isinstance(name, str):
            raise TypeError("attribute name must be str, not %s"
                            % type(name).__name__)
        self.obj, self.name, self.value = obj, name, value
        self.create = create
        self._old = None

    def __enter__(self):
        if self._old is not None:
            raise RuntimeError("pywatch.patch is not reentrant")
        old = _own(self.obj, self.name)
        if (old is _MISSING and not self.create
                and not hasattr(self.obj, self.name)):
            raise AttributeError(
                "%s has no attribute %r (pywatch.patch(..., create=True) "
                "adds it)" % (_describe_target(self.obj), self.name),
                name=self.name, obj=self.obj)
        _sys.audit("pywatch.patch", self.obj, self.name, self.value, "enter")
        _sanctioned(self.obj, self.name, self.value)
        self._old = [old]
        return self.value

    def __exit__(self, *exc):
        (old,), self._old = self._old, None
        _sys.audit("pywatch.patch", self.obj, self.name,
                   None if old is _MISSING else old, "exit")
        if old is _MISSING:
            if _own(self.obj, self.name) is not _MISSING:
                _sanctioned(self.obj, self.name, _MISSING)
        else:
            _sanctioned(self.obj, self.name, old)
        return False

    def __call__(self, func):
        """The decorator: a fresh patch around each call, so that calls
        may nest and recurse."""
        # On first use: pywatch's import loads as few modules as it can.
        import functools
        import inspect
        if isinstance(func, type) or not callable(func):
            # A class would come back as a function: its tests would vanish.
            raise TypeError("pywatch.patch decorates a function, not %s "
                            "(decorate the methods of a class)"
                            % type(func).__name__)
        obj, name, value, create = self.obj, self.name, self.value, self.create
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def patched(*args, **kwargs):
                with patch(obj, name, value, create=create):
                    return await func(*args, **kwargs)
        else:
            @functools.wraps(func)
            def patched(*args, **kwargs):
                with patch(obj, name, value, create=create):
                    return func(*args, **kwargs)
        return patched


def _describe_target(obj):
    if isinstance(obj, (_ModuleType, type)):
        return _describe(obj)
    return "%s object" % type(obj).__name__


def counts():
    """Freezing's counters, for pywatch.stats()."""
    frozen = [t for t in _state.trackers.values() if t.frozen]
    c = _c._freeze_counts()
    return {
        "frozen_modules": sum(1 for t in frozen if t.is_module),
        "frozen_classes": sum(1 for t in frozen if not t.is_module),
        "frozen_writes_blocked": c.get("frozen_writes_blocked", 0),
        "frozen_writes_detected": _state.detected,
        "tracked_namespaces": len(_state.trackers) + len(_state.functions),
    }
