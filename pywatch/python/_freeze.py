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
import _thread
import types as _types
import warnings as _warnings
import weakref as _weakref
import _frozen_importlib as _bootstrap
import _frozen_importlib_external as _bootstrap_external

from . import _pywatch as _c
from ._pywatch import Dependent as _Dependent
from ._pywatch import FrozenError, FrozenWarning

__all__ = ["counts", "disable", "enable", "enabled", "freeze", "is_frozen",
           "modified", "patch", "startup_done", "thaw", "FrozenError",
           "FrozenWarning"]

_MISSING = object()
_ModuleType = _types.ModuleType
# 3.15's placeholder for a name bound by a lazy import (PEP 810).
_LazyImportType = getattr(_types, "LazyImportType", None)
_FunctionType = _types.FunctionType
_BuiltinFunctionType = _types.BuiltinFunctionType
# What a module or class really holds, read without its class's help: a
# ModuleType subclass may define __dict__ as a property, and a metaclass may
# define __bases__.
_module_dict = _ModuleType.__dict__["__dict__"].__get__
# Values a door looks at, whose writes the recorder never counts together.
_KEPT_TYPES = (_LazyImportType,) if _LazyImportType is not None else ()
# The value of a record that stands for several writes: it opens no door
# that looks at values.
_SEVERAL = object()
_class_bases = type.__dict__["__bases__"].__get__

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
    # _Unparser on first use; on 3.12 and 3.13 its __getattr__ also
    # caches each deprecated node class it is asked for in its globals.
    "ast": ["_Unparser", "Str", "Num", "Bytes", "NameConstant", "Ellipsis"],
    # 3.15: its __getattr__ caches the deprecated ByteString.
    "_collections_abc": ["ByteString"],
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

STDLIB_OWN = "the standard library's own write"

# The same for the standard library's classes, by module name and class
# qualname.  typing.ByteString, a _DeprecatedGenericAlias on 3.12 and 3.13,
# passes the _removal_version its __init__ sets through to the ABC it
# aliases, when typing is imported.  (freeze(cls) cannot let a class write
# through: CPython refuses it.  The audit's verdict asks this table.)
STDLIB_CLASS_WRITES = {k: frozenset(v) for k, v in {
    ("_collections_abc", "ByteString"): ["_removal_version"],
}.items()}

# The standard library's own changes of an instance's class, (module, from,
# to) by class qualname, which CPython refuses when either class is frozen:
# freeze(module, classes=True) leaves both classes unfrozen.  3.14+:
# annotationlib turns its _Stringifier objects into ForwardRefs when it
# evaluates annotations as FORWARDREF (dataclasses, inspect, typing).
STDLIB_CLASS_CHANGES = frozenset([
    ("annotationlib", "_Stringifier", "ForwardRef"),
])


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
    patches = {}      # (id(object), name) -> _Patched, while patched
    # Re-entrant: a signal handler, or a callback delivered at a safe
    # point inside them, may patch or judge again on the same thread.
    patch_lock = _thread.RLock()
    judge_lock = _thread.RLock()
    # python -m pywatch audit's Audit, in the program it audits: freeze()
    # and startup_done() tell it the end of startup, and freeze nothing.
    audit = None


_state = _State()


def _new_locks(state=_state):
    """In a forked child, where another thread of the parent may have held
    them."""
    state.patch_lock = _thread.RLock()
    state.judge_lock = _thread.RLock()


if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_new_locks)


def allowed_anyway(owner, name, value, existed, replaced_lazy=None,
                   via_setattr=False):
    """Why freezing lets this write through whatever allow= says ("" if it
    does not).  owner is the module or class written to (None: it died),
    value what the name holds now (_MISSING: deleted), existed whether it
    held something before, replaced_lazy the lazy import object (3.15, PEP
    810) that the write replaced, if any, via_setattr whether it came
    through setattr rather than straight into the dict.  The one statement
    of the policy: the setattr hook (refusal()), the tracking of direct
    writes and the audit's verdict all ask it.

    Each door opens on proof by identity with the very thing it allows,
    never on a name or a default: None, False or 0 are values like any
    other.  It reads no attribute of value.  A door whose proof raises
    (a str subclass key of sys.modules with its own __eq__, say) stays
    closed: judging must go on."""
    try:
        return _door(owner, name, value, existed, replaced_lazy, via_setattr)
    except Exception:
        return ""


def _door(owner, name, value, existed, replaced_lazy, via_setattr):
    if type(name) is not str:
        return ""
    is_module = _is_module(owner)
    if is_module and name == "__warningregistry__" and type(value) is dict:
        # The warnings machinery adds it on the first warning raised from
        # the module's code; unittest's assertWarns() replaces it by {}.
        return "warnings registry"
    if not existed and _created_lazily(is_module, name, value, via_setattr):
        return "created lazily"
    if not is_module:
        return STDLIB_OWN if _is_stdlib_class_write(owner, name) else ""
    if _is_stdlib_write(owner, name):
        return STDLIB_OWN
    if replaced_lazy is not None and _resolves_to(replaced_lazy, value):
        return "lazy import resolved"
    if _is_submodule_binding(owner, name, value):
        return "submodule binding"
    return ""


# Names CPython itself may add to a namespace (and the warnings registry):
# an allow= that names one is no misspelling, and the recorder never
# counts their writes together, since a door looks at their values.
_CREATED_BY_CPYTHON = frozenset(["__warningregistry__", "__builtins__",
                                 "__annotations__", "__slotnames__",
                                 "__annotations_cache__", "__annotate_func__"])


def _created_lazily(is_module, name, value, via_setattr):
    """What CPython creates in a namespace on first use.  Straight in the
    dict, never through setattr: __builtins__ by eval() and exec() in a
    module's dict that lacks it (the interpreter's own builtins),
    __annotations__ on first read (an exact dict), and a class's
    annotation caches on 3.14+ (__annotations_cache__, a dict;
    __annotate_func__, None when it has no __annotate__).  Through setattr:
    copyreg's __slotnames__ on a class (a list)."""
    if not is_module and name == "__slotnames__":
        return type(value) is list
    if via_setattr:
        return False
    if name == "__builtins__":
        return is_module and (value is _builtins
                              or value is _builtins.__dict__)
    if name == "__annotations__":
        return type(value) is dict
    if not is_module and name == "__annotations_cache__":
        return type(value) is dict
    if not is_module and name == "__annotate_func__":
        return value is None
    return False


# The stdlib table inverted: attribute name -> the modules that write it.
_STDLIB_WRITERS = {}
for _module_name, _attrs in STDLIB_WRITES.items():
    for _attr in _attrs:
        _STDLIB_WRITERS.setdefault(_attr, []).append(_module_name)
del _module_name, _attrs, _attr


def _is_stdlib_write(module, name):
    """Whether the table allows name on this very module: one the import
    system loaded from the interpreter's own standard library and holds
    under the table's name.  A module that merely bears the name (a user's
    "warnings", a rebound __name__, a stand-in put in sys.modules) gets
    nothing."""
    return any(_sys.modules.get(table_name) is module
               and _from_stdlib(module, table_name)
               for table_name in _STDLIB_WRITERS.get(name, ()))


def _is_stdlib_class_write(cls, name):
    """Whether the class table allows name on this very class."""
    return any(name in names and _is_stdlib_class(cls, module, qualname)
               for (module, qualname), names in STDLIB_CLASS_WRITES.items())


def _is_stdlib_class(cls, module_name, qualname):
    """Whether cls is the class bound under qualname in the standard
    library's module of that name."""
    module = _sys.modules.get(module_name)
    return (_is_module(module) and _module_dict(module).get(qualname) is cls
            and _from_stdlib(module, module_name))


def stdlib_class_change(old, new):
    """Whether instances changing class from old to new is the standard
    library's own (STDLIB_CLASS_CHANGES)."""
    try:
        return any(_is_stdlib_class(old, module, a)
                   and _is_stdlib_class(new, module, b)
                   for module, a, b in STDLIB_CLASS_CHANGES)
    except Exception:
        return False


def _stdlib_changing(cls):
    """Whether the standard library changes instances from or to cls:
    freeze(classes=True) must leave it writable."""
    try:
        return any(_is_stdlib_class(cls, name, qualname)
                   for name, a, b in STDLIB_CLASS_CHANGES
                   for qualname in (a, b))
    except Exception:
        return False


_STDLIB_DIR = getattr(_sys, "_stdlib_dir", None)
if type(_STDLIB_DIR) is str:
    _STDLIB_DIR = _os.path.realpath(_STDLIB_DIR)
_FILE_LOADERS = (_bootstrap_external.SourceFileLoader,
                 _bootstrap_external.SourcelessFileLoader,
                 _bootstrap_external.ExtensionFileLoader)


def _from_stdlib(module, spec_name, facade=True):
    """The interpreter's own stdlib loaded this very module under
    spec_name: its spec says so (built in, frozen, or a file of the stdlib
    directory, not of its site-packages), and the module holds code that
    ran in it, as only its import makes (a spec copied onto another module
    proves nothing).  facade: whether a module that defines no function of
    its own may prove it through the functions it re-exports."""
    ns = _module_dict(module)
    spec = ns.get("__spec__")
    if type(spec) is not _bootstrap.ModuleSpec or type(spec.name) is not str \
            or spec.name != spec_name:
        return False
    loader, origin = spec.loader, spec.origin
    if loader is _bootstrap.BuiltinImporter:
        return _holds_own_builtin(module, ns)
    if loader is _bootstrap.FrozenImporter:
        return _holds_stdlib_code(ns, None, facade)
    if type(loader) not in _FILE_LOADERS or type(origin) is not str \
            or type(_STDLIB_DIR) is not str:
        return False
    inside = _os.path.relpath(_os.path.realpath(origin), _STDLIB_DIR)
    if inside.split(_os.sep, 1)[0] in (_os.pardir, "site-packages",
                                       "dist-packages"):
        return False
    if type(loader) is _bootstrap_external.ExtensionFileLoader:
        return _holds_own_builtin(module, ns)
    return _holds_stdlib_code(ns, origin, facade)


def _holds_own_builtin(module, ns):
    """A function of the extension's, bound to this module by its init."""
    return any(type(v) is _BuiltinFunctionType and v.__self__ is module
               for v in list(ns.values()))


def _holds_stdlib_code(ns, filename, facade):
    """A function whose globals are this dict, compiled from filename (a
    frozen module's: from a <frozen ...> name).  A facade that defines no
    function (warnings on 3.14+ re-exports _py_warnings') shows instead a
    function of a stdlib module that proves so itself."""
    functions = [v for v in list(ns.values()) if type(v) is _FunctionType]
    own = [f for f in functions if f.__globals__ is ns]
    if own:
        return any(_compiled_from(f, filename) for f in own)
    return facade and any(_of_stdlib_module(f) for f in functions)


def _compiled_from(function, filename):
    name = function.__code__.co_filename
    return type(name) is str and (name == filename if filename
                                  else name.startswith("<frozen "))


def _of_stdlib_module(function):
    name = function.__module__
    module = _sys.modules.get(name) if type(name) is str else None
    return (_is_module(module) and function.__globals__ is _module_dict(module)
            and _from_stdlib(module, name, facade=False))


def _resolves_to(lazy, value):
    """Whether value is what the lazy import object resolves to: the import
    system replaces it so on first use (3.15).  It is asked only once that
    import ran (the module is in sys.modules, and a from-import's name is
    bound in it), so that asking imports nothing."""
    if type(lazy) is not _LazyImportType or value is _MISSING:
        return False
    text = _LazyImportType.__repr__(lazy)
    prefix, suffix = "<lazy_import '", "'>"
    if not (text.startswith(prefix) and text.endswith(suffix)):
        return False
    target = text[len(prefix):-len(suffix)]
    parent, _, last = target.rpartition(".")
    imported = target in _sys.modules or (
        parent in _sys.modules
        and _is_module(_sys.modules[parent])
        and last in _module_dict(_sys.modules[parent]))
    return imported and lazy.resolve() is value


def _is_submodule_binding(module, name, value):
    """The import system binding a submodule on its package: value is the
    module object sys.modules holds under the package's name plus name, and
    the package is the very module sys.modules holds under its own."""
    if not issubclass(type(value), _ModuleType):
        return False
    return any(_sys.modules.get(package) is module
               and _sys.modules.get(package + "." + name, _MISSING) is value
               for package in _import_names(module))


def _import_names(module):
    """The names the import system may know the module by: its spec's and
    its __name__, where they are exact str."""
    ns = _module_dict(module)
    names = []
    spec = ns.get("__spec__")
    if type(spec) is _bootstrap.ModuleSpec and type(spec.name) is str:
        names.append(spec.name)
    name = ns.get("__name__")
    if type(name) is str and name not in names:
        names.append(name)
    return names


def implicitly_allowed(module):
    """Names freeze(module) always allows: the REPL's sys.displayhook sets
    builtins._."""
    return frozenset(["_"]) if module is _builtins else frozenset()


def defined_classes(module):
    """The classes freeze(module, classes=True) freezes: heap classes bound
    in the module whose __module__ is the module, but for those whose
    instances the standard library changes (STDLIB_CLASS_CHANGES)."""
    return [v for v in list(_module_dict(module).values())
            if _is_class(v) and _c._is_heap_type(v)
            and getattr(v, "__module__", None) == module.__name__
            and not _stdlib_changing(v)]


def _is_module(obj):
    """By the object's own type: a __class__ that claims ModuleType does
    not make a module."""
    return issubclass(type(obj), _ModuleType)


def _is_class(obj):
    return issubclass(type(obj), type)


def _namespace(obj):
    """The dict a module or class really holds its names in."""
    return _module_dict(obj) if _is_module(obj) else _c._type_dict(obj)


def _where(obj):
    if _is_module(obj):
        return getattr(obj, "__file__", None) or "<module %r>" % obj.__name__
    mod = _sys.modules.get(getattr(obj, "__module__", None))
    return getattr(mod, "__file__", None) or "<class %r>" % _describe(obj)


def _describe(obj):
    if _is_module(obj):
        return getattr(obj, "__name__", None) or "?"
    return "%s.%s" % (getattr(obj, "__module__", "?"),
                      getattr(obj, "__qualname__", obj.__name__))


def _lazies(ns):
    """name -> lazy import object, for those the dict holds (3.15)."""
    if _LazyImportType is None:
        return {}
    return {k: v for k, v in list(ns.items())
            if type(k) is str and type(v) is _LazyImportType}


def _emit(pending):
    """Issues the FrozenWarnings judged due, every one whatever the others
    do: a warnings filter may turn any of them into an exception.  The
    first such exception is raised once all were issued, the others noted
    on it."""
    error = None
    for msg, filename, lineno in pending:
        try:
            _warnings.warn_explicit(msg, FrozenWarning, filename, lineno)
        except Exception as e:
            if error is None:
                error = e
            else:
                error.add_note("pywatch also reported: %s" % e)
    if error is not None:
        raise error


class _Tracker:
    """One per module or class that pywatch tracks: a _Recorder that hears
    every write to its dict as it happens, judged at the next safe point,
    or at once where a caller needs it (sync()).  No write goes unseen,
    however soon it is undone, and no value is compared: what counts is
    that a write happened, and who made it.

    Judging does all its bookkeeping first and returns the warnings due,
    which _emit() issues last, so that a warning turned into an exception
    cannot leave the bookkeeping, or the freezing state, half done.

    A class's tracker must not keep the class alive: it names the class
    through a weak reference, and the recorder holds no reference to the
    dict.  A class's __bases__ changes nothing in its dict: freeze.c's
    audit hook tells every assignment of it (bases_assigning())."""

    def __init__(self, obj):
        self.is_module = _is_module(obj)
        self.name = _describe(obj)
        self.filename = _where(obj)
        self.key = key = id(obj)
        self.ref = _weakref.ref(obj, lambda r, key=key, f=_forget: f(key))
        ns = _namespace(obj)
        self.recorder = _c._Recorder(ns, self._deliver, _MISSING,
                                     _KEPT_TYPES, _CREATED_BY_CPYTHON)
        self.frozen = False
        self.was_immutable = False
        self.was_class = None  # a frozen module's class before freezing
        self.allowed = frozenset()
        self.warned = set()
        self.modified = False
        self.sanctioned = {}  # name -> value being written by patch()
        self.lazies = _lazies(ns)
        self.bases_assigned = None  # id(the new __bases__), not judged yet
        if not self.is_module:
            _c._tracked_classes()[key] = self

    def release(self):
        self.recorder.close()
        if not self.is_module:
            _c._tracked_classes().pop(self.key, None)

    def set_allowed(self, names):
        """allow= names: their writes are not even recorded (the recorder
        skips them as it hears them, so that it holds nothing for them)."""
        self.allowed = names
        self.recorder.skip(names)
        obj = self.ref()
        if obj is not None:
            # The skipped writes did not keep the lazy imports followed.
            self.lazies = _lazies(_namespace(obj))

    def bases_assigning(self, cls, new, old):
        """freeze.c's audit hook: cls.__bases__ = new is about to run, over
        old.  Whether it succeeded shows at the next notice or judgement:
        it did if the class then holds that very tuple."""
        if self.ref() is cls:
            self._resolve_bases()
            # By id: the tuple must not keep the bases alive.  Ids cannot
            # mislead: new and the class's bases are alive together now,
            # and any later change of them comes through here first.
            self.bases_assigned = None if new is old else id(new)

    def _resolve_bases(self):
        new, self.bases_assigned = self.bases_assigned, None
        cls = self.ref()
        # A frozen class refuses the assignment (CPython's
        # Py_TPFLAGS_IMMUTABLETYPE): only a modification to track.
        if new is not None and cls is not None \
                and id(_class_bases(cls)) == new:
            self.modified = True

    def take(self):
        """The writes not delivered yet, taken now, for judge()."""
        self._resolve_bases()
        return self.recorder.drain()

    def judge_now(self):
        """Judges the writes not delivered yet, now; returns the warnings
        due, for _emit()."""
        return self.judge(self.take(), self.frozen)

    def sync(self):
        _emit(self.judge_now())

    def _deliver(self, records):
        _emit(self.judge(records, self.frozen))

    def judge(self, records, frozen):
        """frozen: whether the namespace was frozen when they were made.
        Taken as an argument, since judging may run code that thaws or
        freezes (a door's proof, a key's __eq__), and a state change
        takes the records first, then judges them."""
        if self.ref() is None:
            return []
        written = []
        for how, name, value, filename, lineno, count in records:
            if count > 1:
                value = _SEVERAL
            replaced = self._follow_lazies(how, name, value)
            if name is None or not self.silent(name, value, how != "added",
                                               replaced):
                written.append((name, how, filename, lineno, count))
        if not written:
            return []
        # Other threads judge too (each delivers at its own safe points):
        # the counts and the once-per-name choice are made under a lock,
        # where no code of the program's runs.
        due = []
        with _state.judge_lock:
            self.modified = True
            if frozen:
                _state.detected += sum(w[4] for w in written)
                for w in written:
                    if w[0] not in self.warned:
                        self.warned.add(w[0])
                        due.append(w[:4])
        return [self._warning(*w) for w in due]

    def _follow_lazies(self, how, name, value):
        """Keeps self.lazies what the dict holds, record after record; the
        lazy import object this write replaced, if any."""
        if _LazyImportType is None:
            return None
        if name is None:
            obj = self.ref()
            self.lazies = {} if how == "cleared" or obj is None \
                else _lazies(_namespace(obj))
            return None
        replaced = self.lazies.pop(name, None)
        if type(value) is _LazyImportType:
            self.lazies[name] = value
        return replaced

    def silent(self, name, value, existed, replaced_lazy=None):
        """A write that freezing expects, and no modification."""
        if name in self.allowed:
            return True
        expected = self.sanctioned.get(name, self)
        if expected is not self and value is expected:
            return True
        return bool(allowed_anyway(self.ref(), name, value, existed,
                                   replaced_lazy))

    def _warning(self, name, how, filename, lineno):
        name = "<all names>" if name is None else name
        what = "module" if self.is_module else "class"
        if not filename:
            filename, lineno = self.filename, 0
        if how in ("cleared", "cloned"):
            change = "its __dict__ was %s" % how
        else:
            change = "%r was %s straight in its __dict__" % (name, how)
        obj = self.ref()
        ns = _namespace(obj) if obj is not None else {}
        msg = ("%s %r is frozen, but %s (STORE_GLOBAL, __dict__[...] = ..., "
               "vars().update(), exec() or mock.patch.dict(); pywatch.patch() "
               "is the sanctioned way)%s" % (what, self.name, change,
                                            self._unheld_allowed(ns)))
        return msg, filename, lineno

    def class_refusal(self, obj):
        """The audit hook's question (freeze.c): why obj may not change
        class, or None."""
        if self.ref() is not obj or not self.frozen:
            return None
        return ("%s %r is frozen: its __class__ cannot be assigned"
                % ("module" if self.is_module else "class", self.name))

    def refusal(self, module, name, *value):
        """The setattr hook's question for a frozen module (freeze.c): why
        the write of value (none: a deletion) to name is refused, or None.
        Storing the object already bound is a write like any other, as a
        frozen class (CPython itself) has it."""
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
        ns = _module_dict(module)
        old = ns.get(name, _MISSING)
        replaced = old if type(old) is _LazyImportType else None
        if allowed_anyway(module, name, value, old is not _MISSING, replaced,
                          via_setattr=True):
            return None
        return "cannot %s %r%s" % ("delete" if value is _MISSING else "set",
                                   name, self._unheld_allowed(ns))

    def _unheld_allowed(self, ns):
        """allow= names that the namespace does not hold, for the message of
        a refused write: they may be misspellings of the name refused.  A
        name not bound yet is accepted, since others may add it later."""
        unheld = sorted(n for n in self.allowed
                        if n not in ns and n not in _CREATED_BY_CPYTHON)
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


def _forget(key, state=_state, registry=_c._frozen_registry):
    """A tracked object died.  What it uses is bound in its defaults: at
    interpreter teardown, objects die after module globals are cleared."""
    t = state.trackers.pop(key, None) or state.functions.pop(key, None)
    if t is not None:
        t.release()
        if getattr(t, "frozen", False):
            registry().pop(key, None)


def _tracker(obj, create=True):
    t = _state.trackers.get(id(obj))
    if t is not None and t.ref() is obj:
        return t
    if not create:
        return None
    t = _Tracker(obj)
    _state.trackers[id(obj)] = t
    return t


def _check_target(obj, what):
    """True for a module, False for a class; raises for anything else.
    Decided by the object's own type, never by what its __class__ says."""
    if _is_module(obj):
        if obj is _sys:
            raise ValueError(
                "cannot %s sys: it must stay writable (sys.stdout, sys.stderr, "
                "sys.ps1, sys.excepthook, sys.path... are assigned at run time "
                "by design)" % what)
        return True
    if _is_class(obj):
        if not _c._is_heap_type(obj):
            raise TypeError("cannot %s %r: builtin and extension static types "
                            "are immutable already" % (what, obj))
        return False
    raise TypeError("can only %s a module or a class, not %s"
                    % (what, type(obj).__name__))


def _names(allow):
    """allow= as a frozenset of exact str: a str subclass's own __eq__ and
    __hash__ could otherwise pass for other names."""
    if isinstance(allow, str):
        allow = (allow,)
    names = []
    for n in allow:
        if not issubclass(type(n), str):
            raise TypeError("allow: names must be str, not %s"
                            % type(n).__name__)
        names.append(str.__str__(n))
    return frozenset(names)


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
    FrozenError, storing the object already bound included; writes
    straight to obj.__dict__ are reported as FrozenWarning.  Class: CPython
    raises TypeError for writes.  allow names attributes that stay
    writable, bound yet or not (a name that is not is pointed out in the
    messages of refused writes, as a likely misspelling); classes=True
    also freezes the classes the module defines.  Idempotent.  When
    freezing is off (test mode) the request is remembered, for enable(),
    and nothing is frozen.  Under python -m pywatch audit nothing is
    frozen either: the call marks the end of startup for obj."""
    audit = _state.audit
    if audit is not None:
        _check_target(obj, "freeze")
        audit.frozen_by_program(obj, _names(allow), classes)
        return obj
    _emit(_freeze(obj, allow, classes))
    return obj


def startup_done():
    """Marks the end of the program's startup for python -m pywatch audit,
    in a program that does not freeze (all) its modules yet: the audit
    keeps the writes made before it apart, and judges those made after.
    A program's own freeze(m) marks it for m.  Does nothing outside the
    audit."""
    audit = _state.audit
    if audit is not None:
        audit.startup_done()


def _freeze(obj, allow, classes):
    """freeze() but for the warnings due, which it returns: what can fail
    is done first, and nothing is remembered of a call that raised."""
    is_module = _check_target(obj, "freeze")
    names = _names(allow)
    defined = defined_classes(obj) if is_module and classes else []
    _sys.audit("pywatch.freeze", obj, tuple(sorted(names)), classes)
    req = _request(obj, create=False)
    names = names | (req.allow if req is not None else frozenset())
    if is_module:
        names = names | implicitly_allowed(obj)
    pending = _apply(obj, names) if _state.enabled else []
    req = _request(obj)
    req.allow = names
    for cls in defined:
        pending += _freeze(cls, (), False)
        if not any(ref() is cls for ref in req.classes):
            req.classes.append(_weakref.ref(cls))
    return pending


def _apply(obj, allow):
    """Freezes obj for real, allowing allow; returns the warnings due."""
    t = _tracker(obj)
    if t.is_module and not t.frozen:
        # First, since it can fail: a class that cannot be subclassed.
        was = _c._watch_module(obj)
        # Watched already (None) after a thaw() that failed at the class
        # swap: the class it had is still the one to put back.
        if was is not None:
            t.was_class = was
    # What changed before is judged as it was: not frozen, or frozen with
    # the allow= of then.
    records, was_frozen = t.take(), t.frozen
    pending = t.judge(records, was_frozen)
    t.set_allowed(allow)
    if not t.frozen:
        if not t.is_module:
            t.was_immutable = _c._set_immutable(obj, True)
        _c._frozen_registry()[id(obj)] = t
        t.frozen = True
    return pending


def _lift(obj):
    """Makes obj writable again, its request kept; returns the warnings
    due for what was written while it was frozen."""
    t = _tracker(obj, create=False)
    if t is None or not t.frozen:
        return []
    records = t.take()
    t.frozen = False
    _c._frozen_registry().pop(id(obj), None)
    if t.is_module and t.was_class is not None:
        _c._unwatch_module(obj, t.was_class)
        t.was_class = None
    elif not t.is_module and not t.was_immutable:
        _c._set_immutable(obj, False)
    return t.judge(records, True)  # made while frozen


def thaw(obj):
    """Makes a frozen module or class writable again, and forgets that it
    was frozen (with the classes freeze(classes=True) froze); returns it.
    Idempotent.  Tracking (modified()) goes on."""
    _check_target(obj, "thaw")
    _sys.audit("pywatch.thaw", obj)
    _emit(_thaw(obj))
    return obj


def _thaw(obj):
    pending = []
    req = _request(obj, create=False)
    if req is not None:
        del _state.requests[id(obj)]
        for ref in req.classes:
            cls = ref()
            if cls is not None:
                pending += _thaw(cls)
    return pending + _lift(obj)


def is_frozen(obj):
    """Whether freeze() was called on this module or class (directly, or
    through classes=True) and thaw() was not.  That holds in test mode
    too, where it is not in force: enabled() tells whether it is."""
    if not (_is_module(obj) or _is_class(obj)):
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
    pending = []
    for obj, _ in _requested():
        pending += _lift(obj)
    _emit(pending)


def enable():
    """The end of test mode: freezes for real everything that freeze() was
    asked and thaw() did not undo, disabled or not, and freeze() freezes
    again."""
    _sys.audit("pywatch.enable")
    _state.enabled = True
    pending = []
    for obj, req in _requested():
        pending += _apply(obj, req.allow)
    _emit(pending)


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
    if not (_is_module(obj) or _is_class(obj)):
        raise TypeError("modified() takes a module, class or function, not %s"
                        % type(obj).__name__)
    t = _tracker(obj, create=False)
    if t is None:
        if not _c._is_heap_type(obj) and _is_class(obj):
            return False  # static types never change
        _tracker(obj)
        return False
    t.sync()
    return t.modified


def _own(obj, name):
    if _is_module(obj) or _is_class(obj):
        return _namespace(obj).get(name, _MISSING)
    d = getattr(obj, "__dict__", None)
    if isinstance(d, dict):
        return d.get(name, _MISSING)
    return getattr(obj, name, _MISSING)


def _sanctioned(obj, name, value):
    """Sets (value is _MISSING: deletes) past freezing, without a warning;
    returns the warnings due for other writes judged meanwhile.  A frozen
    class is written in C, through type's own slot, so that no code (a
    metaclass's __setattr__, another thread) runs while its
    Py_TPFLAGS_IMMUTABLETYPE is lifted."""
    tracked = _is_module(obj) or _is_class(obj)
    t = _tracker(obj, create=False) if tracked else None
    pending = []
    if t is not None:
        pending += t.judge_now()
        t.sanctioned[name] = value
    args = (obj, name) if value is _MISSING else (obj, name, value)
    try:
        if _is_module(obj) or (t is not None and t.frozen):
            _c._raw_setattr(*args)
        elif value is _MISSING:
            delattr(obj, name)
        else:
            setattr(obj, name, value)
    finally:
        if t is not None:
            # Judged while the write is still the sanctioned one.
            pending += t.judge_now()
            t.sanctioned.pop(name, None)
    if t is not None:
        t.modified = True
    return pending


class _Patched:
    """The patches of one (object, name) in force, oldest first, and what
    the object held before the first: overlapping patches (coroutines
    decorated by patch() under gather(), threads) end with the original
    back, whatever order they leave in."""

    def __init__(self, obj, original):
        self.obj = obj
        self.original = original
        self.active = []


class patch:
    """with pywatch.patch(obj, name, value): the sanctioned way to patch.

    Works whether obj is frozen or not; on exit restores the original
    object exactly, or deletes the name if obj did not have it.  Patches of
    the same name that overlap restore the original when the last of them
    ends, and the value of the newest still in force when another ends.
    As mock.patch does, it raises AttributeError for a name obj lacks
    unless create=True, and decorates a function (or a coroutine function,
    not a class) to patch during each call.  Writes through it invalidate
    dependents like any write, raise no FrozenWarning and count as a
    modification for modified()."""

    def __init__(self, obj, name, value, *, create=False):
        if not isinstance(name, str):
            raise TypeError("attribute name must be str, not %s"
                            % type(name).__name__)
        self.obj, self.name, self.value = obj, str.__str__(name), value
        self.create = create
        self._entered = False

    def _key(self):
        return id(self.obj), self.name

    def __enter__(self):
        """The bookkeeping and the write are one step under a lock, after
        the audit hooks (which may refuse) and before any warning is
        issued, so that threads and a raising warning cannot tear them
        apart."""
        if self._entered:
            raise RuntimeError("pywatch.patch is not reentrant")
        with _state.patch_lock:
            patched = _state.patches.get(self._key())
            if patched is None:
                old = _own(self.obj, self.name)
                if (old is _MISSING and not self.create
                        and not hasattr(self.obj, self.name)):
                    raise AttributeError(
                        "%s has no attribute %r (pywatch.patch(..., "
                        "create=True) adds it)"
                        % (_describe_target(self.obj), self.name),
                        name=self.name, obj=self.obj)
            _sys.audit("pywatch.patch", self.obj, self.name, self.value,
                       "enter")
            # The bookkeeping first: the write may run code (a callback at
            # a safe point) that patches this name again.
            if patched is None:
                patched = _state.patches[self._key()] = _Patched(self.obj,
                                                                 old)
            patched.active.append(self)
            self._entered = True
            try:
                pending = _sanctioned(self.obj, self.name, self.value)
            except BaseException:
                self._forget(patched)
                raise
        try:
            _emit(pending)
        except BaseException:
            self.__exit__(None, None, None)  # no with-block will
            raise
        return self.value

    def __exit__(self, *exc):
        if not self._entered:
            raise RuntimeError("pywatch.patch: exit without enter")
        with _state.patch_lock:
            patched = _state.patches[self._key()]
            rest = [p for p in patched.active if p is not self]
            value = rest[-1].value if rest else patched.original
            _sys.audit("pywatch.patch", self.obj, self.name,
                       None if value is _MISSING else value, "exit")
            self._forget(patched)
            pending = []
            try:
                if value is not _MISSING or \
                        _own(self.obj, self.name) is not _MISSING:
                    pending = _sanctioned(self.obj, self.name, value)
            except BaseException:
                # Not put back: still in force, and known to be.
                patched.active.append(self)
                _state.patches[self._key()] = patched
                self._entered = True
                raise
        _emit(pending)
        return False

    def _forget(self, patched):
        patched.active = [p for p in patched.active if p is not self]
        if not patched.active:
            _state.patches.pop(self._key(), None)
        self._entered = False

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
    if _is_module(obj) or _is_class(obj):
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
