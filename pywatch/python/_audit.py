"""The audit inside the audited program (python -m pywatch audit; the runner
is _audit_run).

The runner starts the program's python with a sitecustomize of its own
first on PYTHONPATH, which calls start_in_program().  That runs after
python has set sys.path up and before it adds the program's directory and
runs the program, so the program's own first line, frames, tracebacks and
exit are python's.  From then on each module namespace is tracked from the
moment it finishes importing (the import system's _load_unlocked, or
_exec for importlib.reload(), returns it; the modules already loaded are
tracked from the start), with the classes that freeze(module,
classes=True) would freeze: freeze.c's write log counts every write
exactly, keeps the first writer's file and line, and tells a module write
made through setattr (which freeze() blocks) from a direct one.  Nothing
is frozen: the audit only observes, the program's own pywatch.freeze()
included, which marks the end of startup for what it names, as
pywatch.startup_done() does for the rest; the log is cut there
(_audit_cut), so that startup writes are kept apart from later ones.

At exit (atexit: after the program's own exit handlers) the data of the
report goes to the file the runner named, which prints it.  The audit
reads program objects only through C slots and descriptors that run no
Python code: type(v), never isinstance(), which reads __class__.
"""
import atexit
import marshal
import os
import sys
import types
import weakref
import _frozen_importlib as _bootstrap

from . import _freeze
from . import _pywatch as _c

# Set by the runner for the program's python, and taken out of its
# environment before the program starts.
ENV_OUT = "_PYWATCH_AUDIT_OUT"
ENV_PYTHONPATH = "_PYWATCH_AUDIT_PYTHONPATH"  # absent: the program had none

# The kinds of write, in the order of audit.c's counts: "same" is a module
# setattr that stored the object already bound, which fires no dict event
# and which freeze() refuses all the same.
KINDS = ("added", "modified", "deleted", "cleared", "cloned", "same")
_N = len(KINDS)
# A class setattr that wrote no dict entry (the object already bound, or
# __bases__): the type watcher that hears it is not told the name.
UNNAMED = "<a setattr that wrote no entry>"
# The rest of audit.c's row, after the counts.
_SETATTR, _ORDER, _FILE, _LINE, _LAZY, _RESOLVED = range(_N, _N + 6)
# Never audited: pywatch itself, and the program's own __main__, which runs
# for the whole life of the program rather than finishing its import.
_OWN = ("pywatch", "__main__")
_MISSING = object()

_ModuleType = types.ModuleType
# Descriptors read straight from CPython's slots: no attribute lookup on a
# program object, so no __getattribute__, __class__ or metaclass of its.
_module_dict = _ModuleType.__dict__["__dict__"].__get__
_class_mro = type.__dict__["__mro__"].__get__
_class_dict = type.__dict__["__dict__"].__get__
_class_qualname = type.__dict__["__qualname__"].__get__
# Bound now: the program may replace them.
_os_open, _os_write, _os_close = os.open, os.write, os.close
_os_fstat = os.fstat
_O_REPORT = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
_marshal_dumps = marshal.dumps


def start_in_program(loaded, pywatch_parent, runner):
    """From the runner's sitecustomize: loaded is sys.modules's keys before
    pywatch was imported, pywatch_parent the directory it put first on
    sys.path to import pywatch, runner the runner's directory, first on
    PYTHONPATH.  Puts back the program's environment, sys.path and
    sys.modules, runs the real sitecustomize if there is one, and starts the
    audit.  Raises the ModuleNotFoundError that site ignores when there is
    none, so that no sitecustomize is left in sys.modules."""
    out = os.environ.pop(ENV_OUT)
    pythonpath = os.environ.pop(ENV_PYTHONPATH, None)
    if pythonpath is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = pythonpath
    # By value: a .pth file may have put entries of its own before them.
    sys.path.remove(pywatch_parent)
    sys.path.remove(runner)
    sys.path_importer_cache.pop(runner, None)
    if pywatch_parent not in sys.path:
        sys.path_importer_cache.pop(pywatch_parent, None)
    # What the audit imported is its own: the program imports its own copy,
    # from its own sys.path.  pywatch stays, so that a program that uses
    # pywatch uses the one that audits it.
    for name in set(sys.modules) - set(loaded):
        if name != "pywatch" and not name.startswith("pywatch."):
            del sys.modules[name]
    del sys.modules["sitecustomize"]  # the runner's
    try:
        import sitecustomize  # noqa: F401  the one python would have run
    except ImportError as exc:
        if exc.name != "sitecustomize":
            raise
        missing = exc
    else:
        missing = None
    finally:
        Audit(out).start()
    if missing is not None:
        raise missing


def _watch_setattr(module):
    """Moves a plain module to the class freezing would give it, which
    tells the log its setattr writes, those that store the object already
    bound included.  Other modules' writes are counted, but not told apart
    by path."""
    if module is sys or type(module) is not _ModuleType:
        # type(sys) is how the standard library names ModuleType (types,
        # importlib); freezing refuses sys anyway.  A program's own module
        # class keeps its modules: subclassing it would run its
        # __init_subclass__ and show in its __subclasses__().
        return
    _c._watch_module(module)


class Audit:
    """The namespaces tracked, and the data of the report made of their
    write log."""

    def __init__(self, out):
        self.out = out
        # Opened now, while the program's python can: a program that drops
        # privileges (os.setuid) could not open it in the runner's
        # directory at exit.  Known by its inode, in case the program
        # closes it and another file takes its number.
        self.fd = self.fd_id = None
        try:
            self.fd = _os_open(out, _O_REPORT, 0o600)
            self.fd_id = _file_id(self.fd)
        except OSError:
            pass
        # (kind, name) -> (weakref to the module or class, its module's name)
        self.tracked = {}
        self.done = False
        self.start_seen = _StartSeen()
        # The end of startup, as the program marks it: the rows cut off the
        # log at each mark, in order, [(label or None, rows)]; (kind, name)
        # -> {"file", "line", "allow"} of the program's own freeze() of it,
        # and the index of its cut; where pywatch.startup_done() was first
        # called, and the index of its cut.
        self.cut = []
        self.frozen = {}
        self.frozen_cut = {}
        self.startup_done_at = None
        self.startup_done_cut = None
        # id -> (weakref, mark) of what the program froze before the audit
        # tracked it.
        self.unseen = {}

    def start(self):
        """Tracks what is loaded, and every module imported or reloaded
        from now on."""
        pywatch_dir = os.path.dirname(_freeze.__file__) + os.sep
        mock = os.path.join(os.path.dirname(os.__file__), "unittest",
                            "mock.py")
        _c._audit_start((pywatch_dir, mock),
                        getattr(types, "LazyImportType", None))
        _bootstrap._load_unlocked = _c._call_then(_bootstrap._load_unlocked,
                                                  self.track)
        _bootstrap._exec = _c._call_then(_bootstrap._exec, self.track)
        # site is still being imported: its main() runs the runner's
        # sitecustomize, and the names it binds after that are its import's.
        importing = []
        for module in list(sys.modules.values()):
            if _importing(module):
                importing.append(module)
            else:
                self.track(module)
        atexit.register(self.exit)
        os.register_at_fork(after_in_child=self.forget)
        _freeze._state.audit = self
        self.start_seen.watch(lambda: [self.track(m) for m in importing])

    def track(self, module):
        cls = type(module)
        # A module whose class has its own __getattribute__, such as
        # importlib.util.LazyLoader's, loads itself (and writes everything)
        # when it is first read; it is left alone.
        if (not issubclass(cls, _ModuleType)
                or _lookup(cls, "__getattribute__")
                is not _ModuleType.__getattribute__):
            return
        namespace = _module_dict(module)
        name = _module_name(namespace)
        if name is None or _is_own(name):
            return
        if _c._audit_watch(namespace, ("module", name, name)):
            self.tracked["module", name] = (weakref.ref(module), name)
            _watch_setattr(module)
            self.frozen_while_importing(("module", name), module)
        for cls in _defined_classes(namespace):
            qualname = "%s.%s" % (name, _class_qualname(cls))
            if _c._audit_watch(_c._type_dict(cls), ("class", qualname, name),
                               cls):
                self.tracked["class", qualname] = (weakref.ref(cls), name)
                self.frozen_while_importing(("class", qualname), cls)

    def label(self, obj):
        """The (kind, name) under which obj, a module or class, is
        tracked, or None."""
        for key, (ref, _) in self.tracked.items():
            if ref() is obj:
                return key
        return None

    def startup_done(self):
        """pywatch.startup_done(): the end of startup for every namespace
        that the program's own freeze() has not ended yet."""
        if self.startup_done_at is not None or self.done:
            return
        self.startup_done_at = _caller()
        self.startup_done_cut = len(self.cut)
        self.cut.append((None, _c._audit_cut(None)))

    def phase(self, cut, label):
        """The phase of the writes to label that the cut-th cut took off
        (None: that the log holds at exit)."""
        frozen = self.frozen_cut.get(label)
        if cut is None:
            return "later" if frozen is None else "frozen"
        if cut == self.startup_done_cut:
            return "startup" if frozen is None or frozen > cut else "frozen"
        if cut == frozen and self.startup_done_cut is not None \
                and self.startup_done_cut < cut:
            return "later"  # after startup_done(), before the freeze()
        return "startup"

    def frozen_by_program(self, obj, allow, classes):
        """The program's own pywatch.freeze(obj): observed, nothing frozen.
        The end of startup for obj (and its classes if classes), and the
        writes after it are those that freezing would refuse."""
        if self.done:
            return
        where = _caller()
        targets = [obj]
        if classes:
            targets += _freeze.defined_classes(obj)
        for target in targets:
            mark = dict(where, allow=sorted(allow if target is obj else ()))
            label = self.label(target)
            if label is None:
                # Not tracked yet: a module that freezes itself as its
                # import ends, marked when its import returns.
                self.unseen[id(target)] = (weakref.ref(target), mark)
            elif label not in self.frozen:
                self.mark_frozen(label, target, mark)

    def mark_frozen(self, label, target, mark):
        self.frozen[label] = mark
        self.frozen_cut[label] = len(self.cut)
        self.cut.append((label, _c._audit_cut(
            _module_dict(target) if label[0] == "module"
            else _c._type_dict(target))))

    def frozen_while_importing(self, label, target):
        """A module or class just tracked that the program froze before:
        its writes from now on are those that freezing would refuse."""
        ref, mark = self.unseen.pop(id(target), (None, None))
        if ref is not None and ref() is target and label not in self.frozen:
            self.mark_frozen(label, target, mark)

    def forget(self):
        """In a forked child: the parent reports, not the child."""
        self.done = True

    def exit(self):
        """At exit: the report's data, for the runner."""
        if self.done:
            return
        self.done = True
        try:
            data = self.data()
        except Exception as exc:
            data = {"error": "the report failed: %s: %s"
                    % (type(exc).__name__, exc)}
        try:
            fd = self.fd
            if fd is None or _file_id(fd) != self.fd_id:
                fd = _os_open(self.out, _O_REPORT, 0o600)
            try:
                _write_all(fd, _marshal_dumps(data))
            finally:
                _os_close(fd)
        except Exception as exc:
            # Where the program's stderr still goes, if anywhere.
            try:
                _write_all(2, b"pywatch audit: cannot pass the report on: "
                           + str(exc).encode() + b"\n")
            except OSError:
                pass

    def data(self):
        """Stops counting; what the runner needs for the report, as plain
        data (marshal)."""
        _c._audit_stop()
        if not self.start_seen.started:
            return {"started": False}
        # (kind, name) -> (module name, {(phase, key): counts}); the phase
        # of a write: "startup" (before the end of startup, which is the
        # import if the program marks none), "later", or "frozen" (after
        # the program's own freeze() of the namespace).
        merged = {}
        blind = set()
        final = _c._audit_log()
        for (kind, name, module), alive, writes, unwatched in final:
            if unwatched and alive:
                blind.add(name)
            if not alive:
                _drop_gc_clear(writes)
        cuts = [(i, rows) for i, (_, rows) in enumerate(self.cut)]
        for cut, rows in cuts + [(None, final)]:
            for (kind, name, module), alive, writes, unwatched in rows:
                now = self.phase(cut, (kind, name))
                _, log = merged.setdefault((kind, name), (module, {}))
                for key, row in writes.items():
                    k = (now, key)
                    log[k] = _merge(log[k], row) if k in log else row
        namespaces = []
        for (kind, name), (module, log) in merged.items():
            if not log:
                continue
            ref, _ = self.tracked.get((kind, name), (None, None))
            namespaces.append({
                "kind": kind, "name": name, "module": module,
                "writes": [_write(kind, name, ref and ref(), key, row,
                                  phase)
                           for (phase, key), row in sorted(
                               log.items(), key=lambda kv: kv[1][_ORDER])]})
        return {"started": True,
                "end_of_startup": {
                    "startup_done": self.startup_done_at,
                    "frozen": [{"kind": kind, "name": name, **where}
                               for (kind, name), where
                               in sorted(self.frozen.items())]},
                "tracked": [[kind, name, module] for (kind, name), (_, module)
                            in sorted(self.tracked.items())],
                "namespaces": namespaces,
                "class_changes": [c for c in _class_changes()
                                  if not self.stdlib_change(c)],
                "blind_classes": sorted(
                    name for name in blind
                    if not self.blind_by_allowed_writes(name, namespaces)),
                "not_freezable": self.not_freezable()}

    def _class(self, name):
        ref, _ = self.tracked.get(("class", name), (None, None))
        return ref and ref()

    def blind_by_allowed_writes(self, name, namespaces):
        """Whether a class went unwatched only through writes that freeze()
        allows anyway: a class is blind after a write to it or to a base
        (see audit.c), so every heap class of its MRO must be audited and
        written, if at all, by such writes only (3.14's annotation caches
        on the ABCs, 3.12's ByteString._removal_version)."""
        cls = self._class(name)
        if cls is None:
            return False
        labels = {id(ref()): label
                  for (kind, label), (ref, _) in self.tracked.items()
                  if kind == "class" and ref() is not None}
        refused = {ns["name"] for ns in namespaces if ns["kind"] == "class"
                   and not all(w["allowed_by_freeze"] for w in ns["writes"])}
        for base in _class_mro(cls):
            if not _c._is_heap_type(base):
                continue
            label = labels.get(id(base))
            if label is None or label in refused:
                return False
        return True

    def stdlib_change(self, change):
        """Whether a change of class is the standard library's own, which
        freeze(classes=True) leaves possible (_freeze.STDLIB_CLASS_CHANGES)."""
        old, new = (self._class(side["name"]) if side["module"] else None
                    for side in (change["from"], change["to"]))
        return (old is not None and new is not None
                and _freeze.stdlib_class_change(old, new))

    def not_freezable(self):
        refused = {}
        for (kind, name), (ref, _) in self.tracked.items():
            module = ref()
            if kind != "module" or module is None:
                continue
            try:
                _freeze._check_target(module, "freeze")
            except (TypeError, ValueError) as exc:
                refused[name] = str(exc)
        return refused


class _StartSeen:
    """Whether the program's code began to run: python may fail to find,
    read or compile it.  A sys.monitoring tool sees the first frame that
    runs in __main__'s namespace, and is given back at once, as is
    __main__'s namespace: held, it would keep what the program's
    __main__ holds alive into module teardown."""

    def __init__(self):
        self.started = False
        self.main = _module_dict(sys.modules["__main__"])
        self.tool = None
        self.on_start = None

    def watch(self, on_start):
        """on_start() is called once, as the program's code begins.  The
        tool id is one that sys.monitoring names for no kind of tool (0, 1,
        2 and 5 are a debugger's, coverage's, a profiler's and an
        optimizer's), so that what the program's start-up takes is free."""
        self.on_start = on_start
        mon = sys.monitoring
        self.tool = next(i for i in (4, 3, 2, 1, 0, 5)
                         if mon.get_tool(i) is None)
        mon.use_tool_id(self.tool, "pywatch audit")
        mon.register_callback(self.tool, mon.events.PY_START, self.heard)
        mon.set_events(self.tool, mon.events.PY_START)

    def heard(self, code, offset):
        if sys._getframe(1).f_globals is not self.main:
            return
        self.started = True
        self.main = None
        mon = sys.monitoring
        mon.set_events(self.tool, 0)
        mon.register_callback(self.tool, mon.events.PY_START, None)
        mon.free_tool_id(self.tool)
        on_start, self.on_start = self.on_start, None
        on_start()


def _importing(module):
    """Whether module's import is still under way: importlib marks its
    spec, a ModuleSpec, whose attributes run no code."""
    spec = _module_dict(module).get("__spec__")
    return (type(spec) is _bootstrap.ModuleSpec
            and getattr(spec, "_initializing", False) is True)


def _file_id(fd):
    """(device, inode) of the file open on fd, or None."""
    try:
        st = _os_fstat(fd)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _write_all(fd, data):
    while data:
        data = data[_os_write(fd, data):]


def _lookup(cls, name):
    """cls.name as the class's MRO holds it, read without the metaclass."""
    for base in _class_mro(cls):
        value = _class_dict(base).get(name, _MISSING)
        if value is not _MISSING:
            return value
    return None


def _module_name(namespace):
    """The name the import system gave the module: its spec's, which is the
    one sys.modules holds it under (_collections_abc's __name__ is
    collections.abc), else its __name__; None if neither is a str."""
    spec = namespace.get("__spec__")
    if type(spec) is _bootstrap.ModuleSpec and type(spec.name) is str:
        return spec.name
    name = namespace.get("__name__")
    return name if type(name) is str else None


def _is_own(name):
    return any(name == own or name.startswith(own + ".") for own in _OWN)


def _defined_classes(namespace):
    """The classes freeze(module, classes=True) freezes: heap classes bound
    in the module whose __module__ is the module's __name__."""
    name = namespace.get("__name__")
    if type(name) is not str:
        return []
    found = []
    for value in list(namespace.values()):
        if issubclass(type(value), type) and _c._is_heap_type(value):
            # A heap class's __module__ is its dict's, if any (a class made
            # by type() in an eval() has none).
            module = _class_dict(value).get("__module__")
            if type(module) is str and module == name:
                found.append(value)
    return found


def _drop_gc_clear(writes):
    """The garbage collector clears the dict of a dead module or class to
    break its cycles: no write of the program's."""
    row = writes.get(None)
    if row is not None and sum(row[:_N]) == row[3]:
        del writes[None]
    # ...and a class's tp_clear calls PyType_Modified first, which the
    # audit hears as an unnamed write when the dict was already empty.
    writes.pop(NotImplemented, None)


def _merge(a, b):
    """Two logs of one name (a module imported twice): counts add up, the
    first writer is the earlier one."""
    first = a if a[_ORDER] <= b[_ORDER] else b
    return (tuple(x + y for x, y in zip(a[:_ORDER], b[:_ORDER]))
            + first[_ORDER:_LAZY] + (a[_LAZY] + b[_LAZY],
                                      b[_RESOLVED] if b[_RESOLVED] is not None
                                      else a[_RESOLVED]))


def _class_changes():
    """The instances whose class changed from or to an audited class (a
    class frozen by freeze(classes=True) refuses that), first first."""
    out = []
    for old, new, count, order, filename, lineno in sorted(
            _c._audit_class_changes(), key=lambda row: row[3]):
        out.append({
            "from": _class_label(old), "to": _class_label(new),
            "count": count,
            "first_writer": ({"file": filename, "line": lineno}
                             if filename else None)})
    return out


def _class_label(side):
    """An audited class as {"name", "module"}; another by its qualname,
    with module None."""
    if type(side) is tuple:
        _, name, module = side
        return {"name": name, "module": module}
    return {"name": side if type(side) is str else "?", "module": None}


# A value no door of freeze's lets through: what the audit did not see.
_UNSEEN = object()


def _caller():
    """The file and line of the program's frame that called into pywatch."""
    frame = sys._getframe(1)
    own = os.path.dirname(_freeze.__file__) + os.sep
    while frame is not None and frame.f_code.co_filename.startswith(own):
        frame = frame.f_back
    if frame is None:
        return {"file": None, "line": 0}
    return {"file": frame.f_code.co_filename, "line": frame.f_lineno}


def _write(kind, owner, obj, key, row, phase):
    counts = dict(zip(KINDS, row[:_N]))
    total = sum(counts.values())
    if kind == "class":
        # C.x = v: a class dict has no other public path for a name.
        setattr_n = total if type(key) is str or key is NotImplemented \
            else 0
    else:
        setattr_n = row[_SETATTR]
    if type(key) is str:
        name = key
        if obj is None:
            ns = {}
        elif kind == "module":
            ns = _module_dict(obj)
        else:
            ns = _c._type_dict(obj)
        # freeze() judges each write; the log keeps a name's last value
        # only, so a door that looks at the value is asked about it only
        # when every write stored that value: one add, stores of the object
        # already bound, lazy imports resolved.  (The stdlib table's door
        # looks at the module alone, and is asked whatever.)
        one_value = (counts["added"] <= 1 and counts["deleted"] == 0
                     and counts["cleared"] == counts["cloned"] == 0
                     and counts["modified"] == row[_LAZY])
        value = ns.get(key, _MISSING) if one_value else _UNSEEN
        # When every write was 3.15's import system replacing a lazy
        # import object, the last one replaced: freeze's door asks that the
        # value be what it resolves to.
        resolved = row[_RESOLVED] \
            if counts["modified"] == row[_LAZY] == total else None
        reason = _freeze.allowed_anyway(
            obj, key, value, counts["added"] == 0, resolved,
            # A class's writes are counted as setattr, the path cannot be
            # told there; those that CPython makes itself are raw.
            via_setattr=kind == "module" and 0 < setattr_n == total)
        if kind == "module" and obj is not None \
                and key in _freeze.implicitly_allowed(obj):
            reason = "always allowed on builtins"
    else:
        name = ("<whole __dict__>" if key is None else
                UNNAMED if key is NotImplemented else "<non-str key>")
        reason = ""
    filename, lineno = row[_FILE], row[_LINE]
    return {"name": name, "count": total, **counts,
            "setattr": setattr_n, "dict": total - setattr_n,
            "via": ("setattr" if setattr_n == total else
                    "dict" if setattr_n == 0 else "setattr+dict"),
            "first_writer": ({"file": filename, "line": lineno}
                             if filename else None),
            "allowed_by_freeze": reason or None,
            "phase": "startup" if phase == "startup" else "later",
            "after_freeze": phase == "frozen"}
