"""Differential fuzzing of freezing: pywatch against freeze_model.py.

Seeded random programs write to frozen and unfrozen modules and a class
(World names them) through every path a program has: setattr, delattr,
m.x = v in exec'd code, STORE_GLOBAL and its del, the __dict__'s item and
del, update, setdefault, pop, popitem, exec in the module's dict,
mock.patch, mock.patch.dict, pywatch.patch (with a write of its own inside),
writes from threads, writes undone at once, reads that resolve a lazy
import (3.15), and pywatch.patch of the real warnings module.  Values and
names are chosen to look like what a door of the policy lets through
(None, False, 0, "", NotImplemented, Ellipsis, empty containers, the real
submodules and look-alikes of them, the interpreter's builtins and copies,
a str subclass name, stdlib table names), with freeze/thaw (classes=True
too) and disable/enable cycles in between.  After every operation, at a
safe point (pywatch.flush(), then modified()), pywatch must agree with the
model: the operation refused (FrozenError; TypeError for a class) or not,
the FrozenWarnings issued, pywatch.stats()["frozen_writes_detected"], and
each namespace's contents, key and value objects in order.

The run is cut into episodes of --episode-ops operations, each on a fresh
world (the package re-imported from disk), so that a failure replays
alone.  A failure prints the seed and the failing operations minimized
(delta debugging) as readable lines.  --audit N also runs the first N
episodes' programs under `python -m pywatch audit --json` and compares its
per-name counts (and its "freeze allows") with the model's.

    PYTHONPATH=build/X.Y pythonX.Y tests/fuzz/freeze_fuzz.py --ops 1000000

--inject submodule-none puts back issue 23's bug (the submodule door
compared the value with sys.modules.get(...), None when absent): the run
must fail.  Exit status 0 when nothing failed, 1 on a failure.
"""
import argparse
import builtins
import copy
import gc
import importlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import types
import warnings
from unittest import mock

import pywatch
from pywatch import _freeze

from ddmin import ddmin
from freeze_model import ABSENT, ALL_NAMES, Model, Namespace

HERE = os.path.dirname(os.path.abspath(__file__))

# name: (weight, number of parameters)
OPS = {
    "setattr": (10, 3), "delattr": (3, 2), "exec_attr": (4, 3),
    "store_global": (6, 3), "del_global": (2, 2),
    "setitem": (8, 3), "delitem": (3, 2), "update": (4, 5),
    "setdefault": (3, 3), "pop": (3, 2), "popitem": (1, 1),
    "exec": (4, 3), "mock": (4, 3), "mock_dict": (2, 3), "ppatch": (4, 5),
    "undo": (3, 3), "thread": (4, 6), "resolve": (1, 1),
    "wpatch": (1, 1),
    "freeze": (4, 2), "thaw": (3, 1), "disable": (1, 0), "enable": (2, 0),
}
_NAMES = sorted(OPS)
_WEIGHTS = [OPS[n][0] for n in _NAMES]
# What a thread runs: one write of these.
THREAD_OPS = ("setattr", "setitem", "store_global", "update", "mock", "pop",
              "resolve")
ALLOW_POOL = ("a1", "a2", "x", "__builtins__")


def random_ops(rng, count):
    return [(name,) + tuple(rng.randrange(1 << 16)
                            for _ in range(OPS[name][1]))
            for name in rng.choices(_NAMES, _WEIGHTS, k=count)]


class Failure(Exception):
    text = None

    def __init__(self, kind, detail):
        super().__init__("%s: %s" % (kind, detail))
        self.kind = kind


class SName(str):
    """A name that is not an exact str, with its own __eq__ and __hash__
    (those of the str it spells)."""

    def __eq__(self, other):
        return str.__eq__(self, other)

    def __hash__(self):
        return str.__hash__(self)

    def __repr__(self):
        return "SName(%s)" % str.__repr__(self)


class DictSub(dict):
    pass


class EqModule(types.ModuleType):
    """A module equal to everything: a door comparing with == opens."""

    def __eq__(self, other):
        return True

    __hash__ = types.ModuleType.__hash__


class Sentinel:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return "<%s>" % self.name


# ---- the stdlib module ---------------------------------------------------

# The real stdlib module the fuzzer freezes, with the names the stdlib
# table gives it, and the look-alikes, which get nothing.
STDLIB = "base64"
STDLIB_TABLE = sorted(_freeze.STDLIB_WRITES[STDLIB])
import base64 as STDLIB_MODULE  # noqa: E402


# ---- the world ------------------------------------------------------------

_PACKAGE = {
    "__init__.py": "x = 1\na1 = 2\nfilters = []\n\n\nclass C:\n    a = 1\n",
    "sub.py": "s = 1\n",
    "sub2.py": "s = 2\n",
}
_PLAIN = "x = 1\ny = 2\n"
# 3.15 (PEP 810): the package binds a lazy import object, which the import
# system replaces by the module on first use.
LazyImportType = getattr(types, "LazyImportType", None)
LAZY_MODULE = "colorsys"
if LazyImportType is not None:
    _PACKAGE["__init__.py"] += "lazy import %s as lz\n" % LAZY_MODULE


class Disk:
    """The package and plain module on disk, in a temp dir on sys.path."""

    def __init__(self, tag=None):
        self.tag = tag or "%d_%d" % (os.getpid(), id(self) % 1000)
        self.dir = tempfile.mkdtemp(prefix="freeze_fuzz")
        self.pkg = "fzpkg_" + self.tag
        self.plain = "fzplain_" + self.tag
        os.mkdir(os.path.join(self.dir, self.pkg))
        for name, text in _PACKAGE.items():
            with open(os.path.join(self.dir, self.pkg, name), "w") as f:
                f.write(text)
        with open(os.path.join(self.dir, self.plain + ".py"), "w") as f:
            f.write(_PLAIN)
        sys.path.insert(0, self.dir)
        importlib.invalidate_caches()

    def close(self):
        import shutil
        if self.dir in sys.path:
            sys.path.remove(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)


LEGEND = ("m0: a package imported from disk, with submodules sub and sub2"
          " (and on 3.15 lz, a lazy import of %s);" % LAZY_MODULE +
          " m1: a module imported from disk; m2: a module named 'warnings';"
          " m3: a module whose __name__ was rebound to %r; m4: the real %s;"
          " m5: a look-alike of it; C: a class of m0's" % (STDLIB, STDLIB))


class World:
    """One episode's namespaces, values and names.  Targets:
    0 a real package, imported from disk, with real submodules sub and sub2
      (sys.modules["<pkg>.blocked"] is None, "nosub" is absent), and on
      3.15 lz, a lazy import;
    1 a plain module imported from disk;
    2 a user module named "warnings" (held in sys.modules under another
      name);
    3 a module whose __name__ was rebound to the stdlib's name;
    4 the real stdlib module, written only through the setattr paths and
      pywatch.patch, which report nothing (pywatch's warned names live as
      long as the module: a report would not replay alone);
    5 a look-alike of it, put in sys.modules in its place while written;
    6 (C) a class that the package defines."""

    def __init__(self, disk, model):
        self.disk, self.model = disk, model
        for name in list(sys.modules):
            if name == disk.pkg or name.startswith(disk.pkg + ".") \
                    or name == disk.plain:
                del sys.modules[name]
        pkg = importlib.import_module(disk.pkg)
        importlib.import_module(disk.pkg + ".sub")
        importlib.import_module(disk.pkg + ".sub2")
        sys.modules[disk.pkg + ".blocked"] = None
        plain = importlib.import_module(disk.plain)
        userwarn = types.ModuleType("warnings")
        userwarn.filters = []
        sys.modules["fzwarn_" + disk.tag] = userwarn
        renamed = types.ModuleType("fzren_" + disk.tag)
        sys.modules["fzren_" + disk.tag] = renamed
        renamed.__name__ = STDLIB
        renamed.x = 1
        fake = types.ModuleType(STDLIB)
        fake.__dict__.update({n: None for n in STDLIB_TABLE})
        self.modules = [pkg, plain, userwarn, renamed, STDLIB_MODULE, fake,
                        pkg.C]
        # What each holds its names in: a class's own dict, not the proxy.
        self.dicts = [m.__dict__ for m in self.modules[:6]] + [
            gc.get_referents(pkg.C.__dict__)[0]]
        # The name pywatch gives each in its warnings: __name__ when it
        # began tracking it.
        self.owner = [disk.pkg, disk.plain, "warnings", STDLIB, STDLIB,
                      STDLIB, disk.pkg + ".C"]
        self.stdlib_saved = dict(STDLIB_MODULE.__dict__)
        self.classes_frozen = False    # freeze(m0, classes=True) froze C
        subs = {"sub": sys.modules[disk.pkg + ".sub"],
                "sub2": sys.modules[disk.pkg + ".sub2"]}
        lazy = {}
        self.resolved = None
        if LazyImportType is not None:
            self.resolved = importlib.import_module(LAZY_MODULE)
            obj = pkg.__dict__["lz"]
            lazy[id(obj)] = (obj, self.resolved)
        self.ns = [
            Namespace(0, pkg.__dict__, submodules=subs, lazy=lazy),
            Namespace(1, plain.__dict__),
            Namespace(2, userwarn.__dict__),
            Namespace(3, renamed.__dict__),
            Namespace(4, STDLIB_MODULE.__dict__, stdlib_names=STDLIB_TABLE),
            Namespace(5, fake.__dict__),
            Namespace(6, self.dicts[6], is_class=True),
        ]
        # The keys popitem() may take: not the ones modules need.
        self.initial = [set(n.contents) for n in self.ns]
        self.values = [
            None, False, 0, "", NotImplemented, Ellipsis, (), [], {},
            DictSub(), Sentinel("s1"), Sentinel("s2"), 1, "text",
            pkg, plain, subs["sub"], subs["sub2"],
            types.ModuleType(disk.pkg + ".sub"),   # a look-alike
            EqModule(disk.pkg + ".sub"),            # equal, not identical
            STDLIB_MODULE, fake,
            builtins.__dict__, builtins, dict(builtins.__dict__),
            {"len": len},
        ]
        self.names = ["x", "y", "a1", "a2", "__builtins__", "__annotations__",
                      "__warningregistry__", SName("x"), SName("a1"),
                      SName("__builtins__"), "sub", "sub2", "blocked",
                      "nosub", "filters", "showwarning"] + STDLIB_TABLE[:3]
        # Names of the class: none that a descriptor of type handles.
        self.class_names = ["a", "x", "a1", "__warningregistry__",
                            "__slotnames__", "__builtins__",
                            "__annotations_cache__", "__annotate_func__",
                            SName("a"), SName("zz")]
        # Target 4 is written only through doors, and pywatch.patch.
        self.stdlib_names = ["x", "a1"] + STDLIB_TABLE[:3]

        # Per name, the values that look most like what its door lets
        # through: chosen a third of the time.
        lookalike, eq = self.values[18], self.values[19]
        sub = [subs["sub"], subs["sub2"], lookalike, eq, None]
        self.tricky = {
            "sub": sub, "sub2": sub, "blocked": [None, lookalike, eq],
            "nosub": [None, lookalike, eq, subs["sub"]],
            "__builtins__": [builtins.__dict__, builtins,
                             self.values[24], self.values[25], None, {}],
            "__annotations__": [{}, DictSub(), None, {}],
            "__warningregistry__": [{}, DictSub(), None, {}],
            "__slotnames__": [[], (), None],
            "__annotations_cache__": [{}, DictSub(), None],
            "__annotate_func__": [None, 0, False],
            # The lazy import object itself puts it back.
            "lz": [self.resolved, types.ModuleType(LAZY_MODULE), None,
                   pkg.__dict__.get("lz")],
        }

        self.shown = {id(builtins.__dict__): "builtins.__dict__",
                      id(self.values[24]): "dict(builtins.__dict__)",
                      id(lookalike): "ModuleType(%r)" % lookalike.__name__,
                      id(eq): "EqModule(%r)" % eq.__name__}

    def show(self, v):
        """A short repr: the fuzzer prints its operations."""
        text = self.shown.get(id(v))
        if text is not None:
            return text
        if isinstance(v, types.ModuleType):
            i = next((i for i, m in enumerate(self.modules) if m is v), None)
            return "m%d" % i if i is not None else "<module %s>" % v.__name__
        text = repr(v)
        return text if len(text) < 60 else text[:50] + "...>"

    def value(self, i, name=None):
        tricky = self.tricky.get(name) if type(name) is str else None
        if tricky and i % 3 == 0:
            return tricky[i // 3 % len(tricky)]
        if i % 3 == 1:
            return self.values[i // 3 % 6]      # None, False, 0, "", ...
        return self.values[i % len(self.values)]

    def name(self, t, i):
        if t == CLASS:
            return self.class_names[i % len(self.class_names)]
        if t == 0 and i % 4 == 0:
            return ("sub", "sub2", "blocked", "nosub", "lz")[i // 4 % 5]
        names = self.stdlib_names if t == 4 else self.names
        return names[i % len(names)]

    def close(self):
        """Thaws everything and puts the stdlib module back."""
        if not pywatch.enabled():
            pywatch.enable()
        for m in self.modules:
            pywatch.thaw(m)
        d = STDLIB_MODULE.__dict__
        for k in [k for k in d if k not in self.stdlib_saved]:
            del d[k]
        for k, v in self.stdlib_saved.items():
            if d.get(k, ABSENT) is not v:
                d[k] = v
        pywatch.flush()
        for name in list(sys.modules):
            if name.startswith(self.disk.pkg) or name == self.disk.plain \
                    or name.endswith("_" + self.disk.tag):
                del sys.modules[name]


# ---- writing, for real ----------------------------------------------------

_CODE = {}


def _global_writer(name, delete):
    key = (name, delete)
    code = _CODE.get(key)
    if code is None:
        body = "del %s" % name if delete else "%s = v" % name
        ns = {}
        exec("def f(v):\n    global %s\n    %s\n" % (name, body), ns)
        code = _CODE[key] = ns["f"].__code__
    return code


def _attr_writer(name):
    """m.name = v in exec'd code (STORE_ATTR).  v is an argument: a global
    holding a lazy import object (3.15) would resolve when read."""
    f = _CODE.get(("attr", name))
    if f is None:
        ns = {}
        exec("def f(m, v):\n    m.%s = v\n" % name, ns)
        f = _CODE[("attr", name)] = ns["f"]
    return f


_PLACEHOLDER = "__freeze_fuzz_placeholder__"


def _exec_code(name, value):
    """Module-level code `name = value` (STORE_NAME), value a constant."""
    code = _CODE.get(name)
    if code is None:
        code = _CODE[name] = compile("%s = %r" % (name, _PLACEHOLDER),
                                     "<freeze_fuzz exec>", "exec")
    consts = tuple(value if c == _PLACEHOLDER else c for c in code.co_consts)
    return code.replace(co_consts=consts)


TARGETS = 7
CLASS = 6
# What is done to the class: setattr paths, pywatch.patch, and writes
# straight to its dict.
CLASS_OPS = ("setattr", "delattr", "exec_attr", "mock", "ppatch", "setitem",
             "delitem", "update", "setdefault", "pop", "undo", "mock_dict")
_clear_type_cache = getattr(sys, "_clear_internal_caches", None) or \
    sys._clear_type_cache


def _label(t):
    return "C" if t == CLASS else "m%d" % t


def _outcome(fn):
    try:
        fn()
    except pywatch.FrozenError:
        return "refused"
    except TypeError as e:
        return "refused" if "immutable" in str(e) else "TypeError"
    except Exception as e:
        return type(e).__name__
    return "ok"


def _identifier(name):
    return type(name) is str and name.isidentifier()


class Runner:
    def __init__(self, disk, counts=None, check=True, doors=None):
        self.model = Model()
        if doors is not None:
            self.model.stats = doors
        self.world = World(disk, self.model)
        self.counts = counts if counts is not None else {}
        self.check = check

    def close(self):
        self.world.close()

    # each op returns (readable line, real outcome, model outcome)

    def step(self, op):
        w, model = self.world, self.model
        kind = op[0]
        t = op[1] % TARGETS if len(op) > 1 else 0
        if kind in ("disable", "enable"):
            getattr(pywatch, kind)()
            model.enabled = kind == "enable"
            return "pywatch.%s()" % kind, "ok", "ok"
        if kind in ("freeze", "thaw"):
            m, ns = w.modules[t], w.ns[t]
            label = _label(t)
            if kind == "thaw":
                pywatch.thaw(m)
                model.thaw(ns)
                if t == 0 and w.classes_frozen:
                    # thaw() undoes what freeze(classes=True) froze.
                    model.thaw(w.ns[CLASS])
                    w.classes_frozen = False
                return "thaw(%s)" % label, "ok", "ok"
            allow = [n for i, n in enumerate(ALLOW_POOL) if op[2] >> i & 1]
            classes = t == 0 and op[2] >> 4 & 1 == 1
            pywatch.freeze(m, allow=allow, classes=classes)
            model.freeze(ns, allow)
            if classes:
                model.freeze(w.ns[CLASS], ())
                w.classes_frozen = True
                return ("freeze(%s, allow=%r, classes=True)" % (label, allow),
                        "ok", "ok")
            return "freeze(%s, allow=%r)" % (label, allow), "ok", "ok"
        if kind == "wpatch":
            return self.wpatch(op[1] & 1)
        if kind == "thread":
            sub = THREAD_OPS[op[1] % len(THREAD_OPS)]
            inner = (sub,) + op[2:]
            result = []

            def target():
                try:
                    result.append(self.write(inner))
                except BaseException as e:
                    result.append(e)
            th = threading.Thread(target=target)
            th.start()
            th.join()
            if isinstance(result[0], BaseException):
                raise result[0]
            text, real, expect = result[0]
            return "in a thread: " + text, real, expect
        if t == 5:
            # The look-alike, in the stdlib module's place while written
            # and judged.
            sys.modules[STDLIB] = w.modules[5]
            try:
                text, real, expect = self.write(op)
                pywatch.flush()
                pywatch.modified(w.modules[5])
            finally:
                sys.modules[STDLIB] = STDLIB_MODULE
            return text + "  (in sys.modules[%r])" % STDLIB, real, expect
        return self.write(op)

    def write(self, op):
        w, model = self.world, self.model
        kind = op[0]
        t = op[1] % TARGETS
        if t == 4 and kind not in ("setattr", "delattr", "exec_attr",
                                   "mock", "ppatch"):
            t = 3   # the real stdlib module: setattr paths only
        if t == CLASS and kind not in CLASS_OPS:
            t = 1   # a module's paths
        m, ns, d = w.modules[t], w.ns[t], w.dicts[t]
        name = w.name(t, op[2]) if len(op) > 2 else None
        v = w.value(op[3], name) if len(op) > 3 else None
        label = _label(t)
        try:
            return self._write(kind, t, m, ns, d, name, v, label, op)
        finally:
            if t == CLASS:
                # Writes straight to a class's dict leave the type cache
                # stale: mock.patch's getattr() must see them.
                _clear_type_cache()

    def _write(self, kind, t, m, ns, d, name, v, label, op):
        w, model = self.world, self.model
        if t == CLASS and type(name) is not str:
            if kind in ("setattr", "delattr", "exec_attr", "mock"):
                # type's setattr stores an exact, interned copy of the name.
                name = sys.intern(str.__str__(name))
        if kind == "setattr":
            real = _outcome(lambda: setattr(m, name, v))
            return ("setattr(%s, %r, %s)" % (label, name, w.show(v)), real,
                    model.setattr(ns, name, v))
        if kind == "delattr":
            real = _outcome(lambda: delattr(m, name))
            expect = model.setattr(ns, name, ABSENT)
            return ("delattr(%s, %r)" % (label, name), real,
                    "AttributeError" if expect == "missing" else expect)
        if kind == "exec_attr":
            if not _identifier(name):
                name = "x"
            real = _outcome(lambda: _attr_writer(name)(m, v))
            return ("%s.%s = %s  (exec'd code)" % (label, name, w.show(v)),
                    real, model.setattr(ns, name, v))
        if kind in ("store_global", "del_global"):
            if not _identifier(name):
                name = "x"
            delete = kind == "del_global"
            f = types.FunctionType(_global_writer(name, delete), d)
            real = _outcome(lambda: f(v))
            if delete:
                if name in ns.contents:
                    model.direct(ns, name, ABSENT)
                    expect = "ok"
                else:
                    expect = "NameError"
                return ("global %s; del %s  (in %s)" % (name, name, label),
                        real, expect)
            model.direct(ns, name, v)
            return ("global %s; %s = %s  (in %s)" % (name, name, w.show(v),
                                                     label),
                    real, "ok")
        if kind == "setitem":
            real = _outcome(lambda: d.__setitem__(name, v))
            model.direct(ns, name, v)
            return ("%s.__dict__[%r] = %s" % (label, name, w.show(v)), real,
                    "ok")
        if kind == "delitem":
            real = _outcome(lambda: d.__delitem__(name))
            if name in ns.contents:
                model.direct(ns, name, ABSENT)
                expect = "ok"
            else:
                expect = "KeyError"
            return "del %s.__dict__[%r]" % (label, name), real, expect
        if kind == "update":
            name2 = w.name(t, op[4])
            items = {name: v, name2: w.value(op[5], name2)}
            real = _outcome(lambda: d.update(items))
            for k, val in items.items():
                model.direct(ns, k, val)
            return ("%s.__dict__.update({%s})" % (label, ", ".join(
                "%r: %s" % (k, w.show(val)) for k, val in items.items())),
                real, "ok")
        if kind == "setdefault":
            real = _outcome(lambda: d.setdefault(name, v))
            if name not in ns.contents:
                model.direct(ns, name, v)
            return ("%s.__dict__.setdefault(%r, %s)" % (label, name,
                                                         w.show(v)),
                    real, "ok")
        if kind == "pop":
            real = _outcome(lambda: d.pop(name, None))
            if name in ns.contents:
                model.direct(ns, name, ABSENT)
            return "%s.__dict__.pop(%r, None)" % (label, name), real, "ok"
        if kind == "popitem":
            last = next(reversed(ns.contents), ABSENT)
            if last is ABSENT or last in w.initial[t]:
                return "(popitem of %s: skipped)" % label, "ok", "ok"
            real = _outcome(d.popitem)
            model.direct(ns, last, ABSENT)
            return "%s.__dict__.popitem()  (%r)" % (label, last), real, "ok"
        if kind == "exec":
            if not _identifier(name):
                name = "x"
            code = _exec_code(name, v)
            real = _outcome(lambda: exec(code, d))
            if "__builtins__" not in ns.contents:
                model.direct(ns, "__builtins__", builtins.__dict__)
            model.direct(ns, name, v)
            return ("exec('%s = %s', %s.__dict__)" % (name, w.show(v), label),
                    real, "ok")
        if kind == "mock":
            if name == "__annotations__":
                name = "x"  # reading it creates it (3.12, 3.13): not modelled
            return self.mock(t, m, ns, name, v)
        if kind == "mock_dict":
            return self.mock_dict(t, m, ns, name, v)
        if kind == "ppatch":
            return self.ppatch(t, m, ns, name, v, op)
        if kind == "resolve":
            # Reading the attribute: on 3.15 the import system replaces a
            # lazy import object by its module, in the dict.
            m, ns = w.modules[0], w.ns[0]
            real = _outcome(lambda: getattr(m, "lz"))
            old = ns.contents.get("lz", ABSENT)
            expect = "ok"
            if old is ABSENT:
                expect = "AttributeError"
            elif id(old) in ns.lazy and ns.lazy[id(old)][0] is old:
                model.direct(ns, "lz", ns.lazy[id(old)][1])
            return "m0.lz  (read)", real, expect
        if kind == "undo":
            old = d.get(name, ABSENT)

            def undo():
                d[name] = v
                if old is ABSENT:
                    del d[name]
                else:
                    d[name] = old
            real = _outcome(undo)
            model.direct(ns, name, v)
            model.direct(ns, name, old)
            return ("%s.__dict__[%r] = %s, then put back" % (label, name,
                                                              w.show(v)),
                    real, "ok")
        raise ValueError(kind)

    def mock(self, t, m, ns, name, v):
        """mock.patch: setattr in, and on the way out setattr of the old
        value or delattr; a refused way in leaves nothing (its clean-up
        stores the old value, refused too, or deletes an unbound name)."""
        model = self.model
        p = mock.patch.object(m, name, v, create=True)

        def run():
            with p:
                pass
        real = _outcome(run)
        if real == "AttributeError":
            real = "refused"   # the clean-up's error, after the refusal
        old = ns.contents.get(name, ABSENT)
        expect = model.setattr(ns, name, v)
        if expect == "ok":
            expect = model.setattr(ns, name, old)
            if expect == "missing":
                expect = "ok"
        else:
            # The clean-up after the refusal: the old value stored again
            # (a door may let that through) or the unbound name deleted.
            model.setattr(ns, name, old)
        return ("with mock.patch.object(%s, %r, %s): pass"
                % (_label(t), name, self.world.show(v)),
                real, expect)

    def wpatch(self, frozen):
        """pywatch.patch() of the real warnings module's filters (a name of
        the stdlib table), frozen or not: the patch's own writes are
        neither refused nor reported.  Nothing else writes to it: the
        process's own warnings must keep working."""
        before = warnings.filters
        copy_ = list(before)

        def run():
            if frozen:
                pywatch.freeze(warnings)
            try:
                with pywatch.patch(warnings, "filters", copy_):
                    if warnings.filters is not copy_:
                        raise AssertionError("not patched")
            finally:
                if frozen:
                    pywatch.thaw(warnings)
        real = _outcome(run)
        if warnings.filters is not before:
            real = "not restored"
        return ("%swith pywatch.patch(warnings, 'filters', list(...)): pass"
                % ("freeze(warnings); " if frozen else ""), real, "ok")

    def mock_dict(self, t, m, ns, name, v):
        """mock.patch.dict: update() in, then clear() and update() from a
        copy: CPython clones the copy or adds key by key, by the sizes of
        its tables, which the model does not know: either may match."""
        model = self.model
        d = self.world.dicts[t]

        def run():
            with mock.patch.dict(d, {name: v}):
                pass
        real = _outcome(run)

        def predict(clone):
            items = list(ns.contents.items())
            model.direct(ns, name, v)
            model.clear(ns)
            model.fill(ns, items, clone)
        return ("with mock.patch.dict(%s.__dict__, {%r: %s}): pass"
                % (_label(t), name, self.world.show(v)), real,
                [lambda: predict(True), lambda: predict(False)])

    def ppatch(self, t, m, ns, name, v, op):
        """pywatch.patch, with maybe a write of another value inside: the
        patch's own writes are the door, that one is not."""
        model = self.model
        inner = op[4] % 4 if len(op) > 4 else 0
        w2 = self.world.value(op[5] if len(op) > 5 else 0, name)
        d = self.world.dicts[t]
        old = ns.contents.get(name, ABSENT)

        def run():
            with pywatch.patch(m, name, v, create=True):
                if inner == 1 and t != 4:
                    d[name] = w2
                elif inner == 2:
                    try:
                        setattr(m, name, w2)
                    except (pywatch.FrozenError, TypeError):
                        pass
        real = _outcome(run)
        # pywatch.patch() writes under the exact str its name spells.
        pname = sys.intern(str.__str__(name))
        model.sanctioned(ns, pname, v)
        extra = ""
        if inner == 1 and t != 4:
            model.direct(ns, name, w2)
            extra = "; %s.__dict__[%r] = %s" % (_label(t), name,
                                                 self.world.show(w2))
        elif inner == 2:
            # type's setattr writes under an exact str; a module's under
            # the name given.
            model.setattr(ns, pname if t == CLASS else name, w2)
            extra = "; setattr(%s, %r, %s)" % (_label(t), name,
                                               self.world.show(w2))
        if old is ABSENT:
            if pname in ns.contents:
                model.sanctioned(ns, pname, ABSENT)
        else:
            model.sanctioned(ns, pname, old)
        return ("with pywatch.patch(%s, %r, %s): pass%s"
                % (_label(t), name, self.world.show(v), extra),
                real, "ok")

    # ---- judging ----------------------------------------------------------

    def run_op(self, op, recorded):
        """Runs op; raises Failure if pywatch and the model disagree.
        Returns the operation as a readable line."""
        detected = _detected()
        self.model.detected = 0
        text, real, expect = self.step(op)
        self.counts[op[0]] = self.counts.get(op[0], 0) + 1
        # The safe point: what is pending is judged.
        pywatch.flush()
        for m in self.world.modules:
            pywatch.modified(m)
        got = sorted(_reported(recorded))
        del recorded[:]
        detected = _detected() - detected
        if not self.check:
            return text
        if isinstance(expect, list):
            before = self._model_state()
            for predict in expect:
                self._restore_model(before)
                predict()
                failure = self._judge(text, real, "ok", got, detected)
                if failure is None:
                    break
        else:
            failure = self._judge(text, real, expect, got, detected)
        if failure is not None:
            failure.text = text
            raise failure
        return text

    def _model_state(self):
        m = self.model
        return ([ns.snapshot() for ns in self.world.ns],
                copy.deepcopy((m.tallies, m.door_log)))

    def _restore_model(self, state):
        snaps, tallies = state
        for ns, snap in zip(self.world.ns, snaps):
            ns.restore(snap)
        self.model.tallies, self.model.door_log = copy.deepcopy(tallies)
        self.model.detected = 0
        self.model.warnings = []

    def _judge(self, text, real, expect, got, detected):
        want = sorted((self.world.owner[label], name)
                      for label, name in self.model.take_warnings())
        if real != expect:
            return Failure("outcome", "%s: pywatch %s, the model %s"
                           % (text, real, expect))
        if got != want:
            return Failure("warnings", "%s: pywatch warned %s, the model %s"
                           % (text, got, want))
        if detected != self.model.detected:
            return Failure("counted", "%s: pywatch counted %d writes, the"
                           " model %d" % (text, detected,
                                          self.model.detected))
        for ns, m in zip(self.world.ns, self.world.modules):
            diff = _contents_diff(ns, m.__dict__)
            if diff:
                return Failure("contents", "%s: m%d %s"
                               % (text, ns.label, diff))
        return None


def _detected():
    return pywatch.stats()["frozen_writes_detected"]


_MESSAGE = re.compile(r"is frozen, but (?:(.*) was (?:added|modified|deleted)"
                      r" straight|its __dict__ was (?:cleared|cloned))")


def _reported(recorded):
    """(module name, repr of the name) of each FrozenWarning recorded."""
    out = []
    for r in recorded:
        if not issubclass(r.category, pywatch.FrozenWarning):
            continue
        text = str(r.message)
        match = _MESSAGE.search(text)
        name = match.group(1) if match and match.group(1) else ALL_NAMES
        if name == repr(ALL_NAMES):
            name = ALL_NAMES    # a key that is not an exact str
        out.append((text.split("'")[1], name))
    return out


def _short(v):
    text = repr(v)
    return text if len(text) < 60 else text[:50] + "...>"


def _contents_diff(ns, actual):
    a, b = list(actual.items()), list(ns.contents.items())
    if len(a) != len(b):
        extra = [k for k in actual if k not in ns.contents]
        lost = [k for k in ns.contents if k not in actual]
        return ("holds %d names, the model %d: more %r, fewer %r"
                % (len(a), len(b), extra, lost))
    for (ka, va), (kb, vb) in zip(a, b):
        if ka is not kb or va is not vb:
            return "at %r: %s, the model %s (key %r)" % (
                ka, _short(va), _short(vb), kb)
    return ""


# ---- episodes -------------------------------------------------------------

def episode_ops(episode, count):
    return random_ops(random.Random(2 * episode + 1), count)


INJECTIONS = {
    # Issue 23's bug: a missing sys.modules entry gives None.
    "submodule-none": lambda module, name, value: sys.modules.get(
        "%s.%s" % (module.__name__, name)) is value,
}


def inject(which):
    """The test-only switch: puts a fixed bug back."""
    if which == "submodule-none":
        _freeze._is_submodule_binding = INJECTIONS[which]
    elif which is not None:
        raise ValueError(which)


def replay(disk, ops, counts=None, texts=None, tally=False, doors=None):
    """Runs ops on a fresh world; returns the Failure, or None (and the
    runner's model, when tally is asked, for the audit)."""
    runner = Runner(disk, counts, doors=doors)
    if tally:
        runner.model.tallies = {0: {}, 1: {}, CLASS: {}}
    try:
        with warnings.catch_warnings(record=True) as recorded:
            warnings.simplefilter("always")
            for op in ops:
                text = runner.run_op(op, recorded)
                if texts is not None:
                    texts.append(text)
        return runner.model if tally else None
    except Failure as failure:
        if texts is not None and failure.text is not None:
            texts.append(failure.text + "   <- " + failure.kind)
        return failure
    finally:
        runner.close()


def minimize(disk, ops, kind):
    def fails(cand):
        f = replay(disk, cand)
        return isinstance(f, Failure) and f.kind == kind
    return ddmin(ops, fails)


def report(disk, args, episode, ops, failure):
    print("FAIL: %s" % failure)
    print("  seed %d, episode %d (%d operations per episode)"
          % (args.seed, episode, args.episode_ops))
    print("  replay: PYTHONPATH=build/%d.%d python%d.%d"
          " tests/fuzz/freeze_fuzz.py --episode %d --episode-ops %d%s"
          % (sys.version_info[:2] + sys.version_info[:2]
             + (episode, args.episode_ops,
                " --inject " + args.inject if args.inject else "")))
    small = minimize(disk, ops, failure.kind)
    texts = []
    last = replay(disk, small, texts=texts)
    print("  minimized to %d operations:" % len(small))
    for text in texts:
        print("    " + text)
    print("  (%s)" % LEGEND)
    if isinstance(last, Failure):
        print("  -> %s" % last)
    print("  as data: %s" % json.dumps(small))


def run(args):
    inject(args.inject)
    disk = Disk()
    counts, doors = {}, {}
    t0 = time.perf_counter()
    done, episode = 0, args.seed
    audited = 0
    try:
        while done < args.ops:
            n = min(args.episode_ops, args.ops - done)
            ops = episode_ops(episode, n)
            failure = replay(disk, ops, counts, doors=doors)
            if isinstance(failure, Failure):
                at = sum(counts.values()) - done
                print_stats(counts, doors, time.perf_counter() - t0)
                report(disk, args, episode, ops[:at], failure)
                return 1
            if audited < args.audit:
                audited += 1
                failure = audit_episode(disk, episode, ops[:args.audit_ops],
                                        args.audit_doors)
                if failure is not None:
                    print_stats(counts, doors, time.perf_counter() - t0)
                    print("FAIL: %s" % failure)
                    print("  seed %d, episode %d, the first %d operations,"
                          " audited" % (args.seed, episode, args.audit_ops))
                    small = ddmin(ops[:args.audit_ops], lambda c: getattr(
                        audit_episode(disk, episode, c, args.audit_doors),
                        "kind", None)
                        == failure.kind)
                    print("  minimized to %d operations:" % len(small))
                    texts = []
                    replay(disk, small, texts=texts)
                    for text in texts:
                        print("    " + text)
                    print("  -> %s" % audit_episode(disk, episode, small,
                                                    args.audit_doors))
                    print("  as data: %s" % json.dumps(small))
                    return 1
            done += n
            episode += 1
    finally:
        disk.close()
    print_stats(counts, doors, time.perf_counter() - t0)
    if args.audit:
        print("audited: %d programs of %d operations, counts as the model's"
              % (audited, args.audit_ops))
    return 0


def print_stats(counts, doors, seconds):
    print("%d operations in %.1f s (%s)" % (sum(counts.values()), seconds,
                                             sys.version.split()[0]))
    print("  by kind: %s" % ", ".join("%s %d" % kv
                                      for kv in sorted(counts.items())))
    print("  writes to frozen modules, by path and door: %s"
          % ", ".join("%s %d" % kv for kv in sorted(doors.items())))


# ---- the audit ------------------------------------------------------------

_PROGRAM = """\
import json, sys, warnings
sys.path.insert(0, %(here)r)
import freeze_fuzz
warnings.simplefilter("ignore")
freeze_fuzz.audited_program(%(dir)r, %(tag)r, json.loads(%(ops)r))
"""


def audited_program(directory, tag, ops):
    """The program the audit runs: ops on a world of its own, unchecked.
    Its freeze() and thaw() act for real, as in the model: under the audit
    freeze() would only mark the end of startup (doc/pywatch.md), and the counts
    compared are those of a program whose namespaces refuse writes."""
    _freeze._state.audit = None
    disk = Disk.__new__(Disk)
    disk.tag, disk.dir = tag, directory
    disk.pkg, disk.plain = "fzpkg_" + tag, "fzplain_" + tag
    sys.path.insert(0, directory)
    runner = Runner(disk, check=False)
    recorded = []
    for op in ops:
        runner.run_op(tuple(op), recorded)
    runner.close = None   # the world stays as it is, for the report


def audit_episode(disk, episode, ops, check_doors=False):
    """Runs ops under the audit; a Failure if its counts are not the
    model's.  mock.patch.dict is left out: its restore is one clone or one
    addition per key, as CPython decides from the sizes of the dict's
    tables, which differ between this process and the audited one."""
    ops = [op for op in ops if op[0] != "mock_dict"]
    model = replay(disk, ops, tally=True)
    if isinstance(model, Failure):
        return model
    tag = "a%d" % episode
    adisk = Disk(tag)
    try:
        prog = os.path.join(adisk.dir, "prog.py")
        with open(prog, "w") as f:
            f.write(_PROGRAM % {"here": HERE, "dir": adisk.dir, "tag": tag,
                                "ops": json.dumps(ops)})
        out = os.path.join(adisk.dir, "report.json")
        env = dict(os.environ)
        env.pop("PYWATCH_DISABLE", None)
        # The program runs in a directory of its own.
        env["PYTHONPATH"] = os.pathsep.join(
            os.path.abspath(p) for p in
            env.get("PYTHONPATH", "").split(os.pathsep) if p)
        proc = subprocess.run([sys.executable, "-m", "pywatch", "audit",
                               "--all", "--json", out, prog],
                              capture_output=True, text=True, env=env,
                              cwd=adisk.dir, timeout=60)
        if not os.path.exists(out):
            return Failure("audit", "no report (exit status %d): %s"
                           % (proc.returncode, proc.stderr[-2000:]))
        with open(out) as f:
            data = json.load(f)
    finally:
        adisk.close()
    names = {0: ("module", "fzpkg_" + tag), 1: ("module", "fzplain_" + tag),
             CLASS: ("class", "fzpkg_%s.C" % tag)}
    for label, (kind, modname) in names.items():
        ns = [n for n in data["namespaces"]
              if n["kind"] == kind and n["name"] == modname]
        got = {}
        for row in (ns[0]["writes"] if ns else []):
            got[row["name"]] = (
                {k: row[k] for k in ("added", "modified", "deleted",
                                     "cleared", "cloned", "same")
                 if row.get(k)},
                bool(row["allowed_by_freeze"]))
        want = {}
        # Importing the package's submodules binds them on it.
        setup = {"sub": {"added": 1}, "sub2": {"added": 1}} \
            if label == 0 else {}
        tally = model.tallies[label]
        doors = model.door_log.get(label, {})
        for name, counts in tally.items():
            want[name] = (dict(counts), all(doors[name]))
        for name, counts in setup.items():
            c, allowed = want.get(name, ({}, True))
            c = dict(c)
            for k, n in counts.items():
                c[k] = c.get(k, 0) + n
            want[name] = (c, allowed)
        for name in sorted(set(got) | set(want)):
            g, w_ = got.get(name), want.get(name)
            if g is None or w_ is None or g[0] != w_[0]:
                return Failure("audit", "%s (%s) %r: the audit counted %s,"
                               " the model %s" % (_label(label), modname, name,
                                                  g and g[0], w_ and w_[0]))
            if check_doors and g[1] != w_[1]:
                return Failure("audit-door", "%s %r: the audit says freeze"
                               " %s it, the model %s" % (
                                   _label(label), name,
                                   "allows" if g[1] else "refuses",
                                   "allows" if w_[1] else "refuses"))
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1,
                        help="the first episode's number (default 1)")
    parser.add_argument("--ops", type=int, default=100000,
                        help="operations in all (default 10^5)")
    parser.add_argument("--episode-ops", type=int, default=1000,
                        help="operations per episode (default 1000)")
    parser.add_argument("--episode", type=int, help="run this one episode")
    parser.add_argument("--audit", type=int, default=0, metavar="N",
                        help="also audit the first N episodes' programs")
    parser.add_argument("--audit-ops", type=int, default=150,
                        help="operations of each audited program")
    parser.add_argument("--audit-doors", action="store_true",
                        help="also compare the audit's 'freeze allows' with"
                        " the model's doors, write by write")
    parser.add_argument("--inject", choices=sorted(INJECTIONS),
                        help="test only: put a fixed bug back")
    args = parser.parse_args()
    if not pywatch.enabled():
        sys.exit("freeze_fuzz.py: freezing is switched off (PYWATCH_DISABLE"
                 " or -X pywatch=off); the fuzzer needs it on")
    if args.episode is not None:
        args.seed, args.ops = args.episode, args.episode_ops
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
