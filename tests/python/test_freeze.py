"""Freezing (issue 5, "Freezing semantics that must hold"): what is blocked,
what is detected and reported, what stays allowed, the test-mode switch,
pywatch.patch() and pywatch.modified().

Every test builds throwaway packages in a temporary directory on sys.path,
under a name of its own, so that no test sees another's modules."""
import gc
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import types
import unittest
import warnings
import weakref
from unittest import mock

import pywatch

_counter = itertools.count()

MOD = '''\
import warnings
x = 1
cache = None
def setx(v):
    global x
    x = v  # STORE_GLOBAL
def fill_cache():
    global cache
    cache = {"filled": True}
def warn():
    warnings.warn("from a frozen module", UserWarning)
class C:
    a = 1
    def m(self):
        return 1
class B2:
    pass
class A:
    pass
class D(A):
    pass
from .sub import Sub
'''
SUB = 'Y = 2\nclass Sub:\n    s = 1\n'
LATER = 'Z = 3\n'


def line_of(path, text):
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if text in line:
                return n
    raise AssertionError("%r not in %s" % (text, path))


class FreezeCase(unittest.TestCase):
    """A fresh package pkg with pkg.mod, pkg.sub and pkg.later (not
    imported), all thawed and forgotten afterwards."""

    def setUp(self):
        if not pywatch.enabled():
            self.skipTest("freezing is disabled in this process")
        self.tmp = tempfile.mkdtemp(prefix="pywatch-freeze-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.pkgname = "fzpkg%d" % next(_counter)
        root = os.path.join(self.tmp, self.pkgname)
        os.mkdir(root)
        for name, text in (("__init__", "X = 1\n"), ("mod", MOD),
                           ("sub", SUB), ("later", LATER)):
            with open(os.path.join(root, name + ".py"), "w") as f:
                f.write(text)
        sys.path.insert(0, self.tmp)
        self.addCleanup(sys.path.remove, self.tmp)
        # The import system caches a finder per path entry, the package's
        # own directory included.
        self.addCleanup(self._forget_finders)
        self.pkg = __import__(self.pkgname)
        __import__(self.pkgname + ".mod")
        self.mod = self.pkg.mod
        self.addCleanup(self._forget)

    def _forget_finders(self):
        for path in list(sys.path_importer_cache):
            if path.startswith(self.tmp):
                del sys.path_importer_cache[path]

    def _forget(self):
        pywatch.flush()
        for name in list(sys.modules):
            if name == self.pkgname or name.startswith(self.pkgname + "."):
                m = sys.modules.pop(name)
                for v in list(vars(m).values()):
                    if isinstance(v, type) and pywatch.is_frozen(v):
                        pywatch.thaw(v)
                pywatch.thaw(m)

    def caught(self, fn):
        """Runs fn, delivers, and returns the FrozenWarnings raised."""
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            fn()
            pywatch.flush()
        return [x for x in w if issubclass(x.category, pywatch.FrozenWarning)]


class TestBlocked(FreezeCase):
    """Point 1: setattr-path writes raise FrozenError, value unchanged."""

    def test_freeze_returns_module(self):
        self.assertIs(pywatch.freeze(self.mod), self.mod)
        self.assertTrue(pywatch.is_frozen(self.mod))

    def test_setattr_statement(self):
        pywatch.freeze(self.mod)
        with self.assertRaises(pywatch.FrozenError) as cm:
            self.mod.x = 2
        self.assertIsInstance(cm.exception, AttributeError)
        self.assertIn("'%s.mod'" % self.pkgname, str(cm.exception))
        self.assertIn("'x'", str(cm.exception))
        self.assertEqual(self.mod.x, 1)

    def test_new_name(self):
        pywatch.freeze(self.mod)
        with self.assertRaises(pywatch.FrozenError):
            self.mod.brand_new = 2
        self.assertFalse(hasattr(self.mod, "brand_new"))

    def test_del(self):
        pywatch.freeze(self.mod)
        with self.assertRaises(pywatch.FrozenError) as cm:
            del self.mod.x
        self.assertIn("delete", str(cm.exception))
        self.assertEqual(self.mod.x, 1)

    def test_setattr_and_delattr_builtins(self):
        pywatch.freeze(self.mod)
        with self.assertRaises(pywatch.FrozenError):
            setattr(self.mod, "x", 2)
        with self.assertRaises(pywatch.FrozenError):
            delattr(self.mod, "x")
        self.assertEqual(self.mod.x, 1)

    def test_mock_patch(self):
        pywatch.freeze(self.mod)
        original = self.mod.setx
        with self.assertRaises(pywatch.FrozenError):
            with mock.patch("%s.mod.x" % self.pkgname, 5):
                self.fail("mock.patch got through")
        with self.assertRaises(pywatch.FrozenError):
            with mock.patch.object(self.mod, "setx"):
                self.fail("mock.patch.object got through")
        self.assertEqual(self.mod.x, 1)
        self.assertIs(self.mod.setx, original)

    def test_blocked_counted(self):
        pywatch.freeze(self.mod)
        before = pywatch.stats()["frozen_writes_blocked"]
        for _ in range(3):
            with self.assertRaises(pywatch.FrozenError):
                self.mod.x = 2
        self.assertEqual(pywatch.stats()["frozen_writes_blocked"], before + 3)

    def test_blocked_write_invalidates_nothing(self):
        pywatch.freeze(self.mod)
        d = pywatch.Dependent()
        d.depends_on(self.mod, "x")
        with self.assertRaises(pywatch.FrozenError):
            self.mod.x = 2
        self.assertTrue(d.valid)

    def test_unfrozen_module_still_writable(self):
        other = types.ModuleType("unfrozen")
        pywatch.freeze(self.mod)
        other.x = 1
        self.assertEqual(other.x, 1)

    def test_freezing_moves_the_module_to_a_class_of_its_own(self):
        globals_dep, attr_dep = pywatch.Dependent(), pywatch.Dependent()
        globals_dep.depends_on_global(self.mod.setx, "x")
        attr_dep.depends_on(self.mod, "x")
        pywatch.freeze(self.mod)
        frozen_class = type(self.mod)
        self.assertIsNot(frozen_class, types.ModuleType)
        self.assertTrue(issubclass(frozen_class, types.ModuleType))
        # A class change: what reads the module's class is told; what reads
        # its dict alone is not.
        self.assertFalse(attr_dep.valid)
        self.assertTrue(globals_dep.valid)
        # Nobody writes the class either: a property there would change
        # what the module reads.
        with self.assertRaises(TypeError):
            frozen_class.x = property(lambda m: 5)
        with self.assertRaises(TypeError):
            frozen_class.__setattr__ = types.ModuleType.__setattr__
        self.assertEqual(self.mod.x, 1)
        pywatch.thaw(self.mod)
        self.assertIs(type(self.mod), types.ModuleType)
        pywatch.freeze(self.mod)
        self.assertIs(type(self.mod), frozen_class)  # one per class

    def test_the_frozen_class_s_methods_refuse_bad_calls(self):
        pywatch.freeze(self.mod)
        cls = type(self.mod)
        for call in (lambda: cls.__setattr__(self.mod, "x"),
                     lambda: cls.__setattr__(self.mod, "x", 2, 3),
                     lambda: cls.__delattr__(self.mod),
                     lambda: cls.__delattr__(self.mod, "x", 2),
                     lambda: cls.__setattr__(5, "x", 2),
                     lambda: cls.__setattr__(self.mod, 5, 2)):
            with self.assertRaises(TypeError):
                call()
        with self.assertRaises(pywatch.FrozenError):
            cls.__delattr__(self.mod, "x")
        self.assertEqual(self.mod.x, 1)

    def test_module_subclass(self):
        class Sub(types.ModuleType):
            def __setattr__(self, name, value):
                super().__setattr__(name, value)

            def __delattr__(self, name):
                super().__delattr__(name)
        m, other = Sub("subclassed"), Sub("unfrozen_subclassed")
        m.x = other.x = 1
        del other.x  # unfrozen: unaffected by the hook
        pywatch.freeze(m)
        try:
            with self.assertRaises(pywatch.FrozenError):
                m.x = 2
            with self.assertRaises(pywatch.FrozenError):
                del m.x
            self.assertEqual(m.x, 1)
        finally:
            pywatch.thaw(m)
        m.x = 3

    def test_non_str_name_is_typeerror(self):
        pywatch.freeze(self.mod)
        with self.assertRaises(TypeError):
            setattr(self.mod, 1, 2)


class TestDetected(FreezeCase):
    """Point 3: writes straight to the dict are reported and counted."""

    def check_one(self, warns, name, filename, lineno):
        self.assertEqual(len(warns), 1, [str(w.message) for w in warns])
        w = warns[0]
        self.assertIn("'%s.mod'" % self.pkgname, str(w.message))
        self.assertIn(repr(name), str(w.message))
        self.assertEqual(w.filename, filename)
        if lineno is not None:
            self.assertEqual(w.lineno, lineno)

    def test_store_global(self):
        pywatch.freeze(self.mod)
        warns = self.caught(lambda: self.mod.setx(7))
        self.assertEqual(self.mod.x, 7)  # not blockable
        self.check_one(warns, "x", self.mod.__file__,
                       line_of(self.mod.__file__, "# STORE_GLOBAL"))

    def test_dict_setitem(self):
        pywatch.freeze(self.mod)

        def write():
            self.mod.__dict__["x"] = 8; write.line = sys._getframe().f_lineno
        warns = self.caught(write)
        self.check_one(warns, "x", __file__, write.line)

    def test_dict_delitem(self):
        pywatch.freeze(self.mod)

        def write():
            del self.mod.__dict__["x"]; write.line = sys._getframe().f_lineno
        warns = self.caught(write)
        self.check_one(warns, "x", __file__, write.line)
        self.assertIn("deleted", str(warns[0].message))

    def test_module_type_wrappers_are_detected_not_blocked(self):
        pywatch.freeze(self.mod)

        def write():
            types.ModuleType.__setattr__(self.mod, "x", 2); write.line = sys._getframe().f_lineno
        self.check_one(self.caught(write), "x", __file__, write.line)

        def write():
            object.__setattr__(self.mod, "y", 2); write.line = sys._getframe().f_lineno
        self.check_one(self.caught(write), "y", __file__, write.line)

    def test_vars_update(self):
        pywatch.freeze(self.mod)

        def write():
            vars(self.mod).update(y=1); write.line = sys._getframe().f_lineno
        warns = self.caught(write)
        self.check_one(warns, "y", __file__, write.line)

    def test_exec(self):
        pywatch.freeze(self.mod)
        code = compile("\n\nx = 9\n", "<exec in frozen>", "exec")
        warns = self.caught(lambda: exec(code, self.mod.__dict__))
        self.assertEqual(self.mod.x, 9)
        self.check_one(warns, "x", "<exec in frozen>", 3)

    def test_mock_patch_dict(self):
        pywatch.freeze(self.mod)

        def write():
            with mock.patch.dict(self.mod.__dict__, {"x": 10}):
                self.assertEqual(self.mod.x, 10)
                pywatch.flush()
        warns = self.caught(write)
        self.assertEqual(self.mod.x, 1)
        named = [w for w in warns if "'x'" in str(w.message)]
        self.assertEqual(len(named), 1)
        self.assertEqual(os.path.normcase(named[0].filename),
                         os.path.normcase(mock.__file__))
        self.assertGreater(named[0].lineno, 0)

    def test_once_per_name_but_every_write_counted(self):
        pywatch.freeze(self.mod)
        before = pywatch.stats()["frozen_writes_detected"]
        warns = self.caught(lambda: self.mod.setx(11))
        warns += self.caught(lambda: self.mod.setx(12))
        warns += self.caught(lambda: self.mod.__dict__.update(x=13))
        self.assertEqual(len(warns), 1)
        self.assertEqual(pywatch.stats()["frozen_writes_detected"], before + 3)
        # Another name of the same module, and the same name elsewhere,
        # are reported again.
        self.assertEqual(len(self.caught(lambda: vars(self.mod).update(q=1))),
                         1)

    def test_two_names_in_one_batch(self):
        pywatch.freeze(self.mod)

        def write():
            d = self.mod.__dict__
            d.update(p=1, q=2)
        warns = self.caught(write)
        names = sorted(w.message.args[0].split("'")[3] for w in warns)
        self.assertEqual(names, ["p", "q"])

    def test_direct_write_invalidates_dependents(self):
        pywatch.freeze(self.mod)
        d = pywatch.Dependent()
        d.depends_on(self.mod, "x")
        self.caught(lambda: self.mod.setx(5))
        self.assertFalse(d.valid)

    def test_not_reported_once_thawed(self):
        pywatch.freeze(self.mod)
        pywatch.thaw(self.mod)
        self.assertEqual(self.caught(lambda: self.mod.setx(5)), [])


class TestClasses(FreezeCase):
    """Point 4: frozen classes; CPython raises TypeError."""

    def test_set_del_bases(self):
        C = self.mod.C
        self.assertIs(pywatch.freeze(C), C)
        with self.assertRaisesRegex(TypeError, "immutable type"):
            C.a = 2
        with self.assertRaisesRegex(TypeError, "immutable type"):
            C.new = 2
        with self.assertRaisesRegex(TypeError, "immutable type"):
            del C.a
        with self.assertRaisesRegex(TypeError, "immutable type"):
            C.__bases__ = (self.mod.B2,)
        D = pywatch.freeze(self.mod.D)
        with self.assertRaisesRegex(TypeError, "immutable type"):
            D.__bases__ = (self.mod.B2,)  # allowed once thawed
        self.assertEqual(C.a, 1)
        self.assertEqual(C.__bases__, (object,))
        self.assertEqual(D.__bases__, (self.mod.A,))
        self.assertEqual(C().m(), 1)  # instances and reads unaffected

    def test_thaw(self):
        C, D = self.mod.C, self.mod.D
        pywatch.freeze(C)
        pywatch.freeze(D)
        pywatch.thaw(C)
        pywatch.thaw(D)
        self.assertFalse(pywatch.is_frozen(C))
        C.a = 2
        del C.m
        D.__bases__ = (self.mod.B2,)
        self.assertEqual(C.a, 2)
        self.assertEqual(D.__bases__, (self.mod.B2,))

    def test_raw_class_dict_write_detected(self):
        C = self.mod.C
        pywatch.freeze(C)
        raw = gc.get_referents(C.__dict__)[0]
        self.assertIsInstance(raw, dict)

        def write():
            raw["a"] = 3; write.line = sys._getframe().f_lineno
        warns = self.caught(write)
        self.assertEqual(len(warns), 1)
        self.assertIn("C", str(warns[0].message))
        self.assertIn("'a'", str(warns[0].message))
        self.assertEqual((warns[0].filename, warns[0].lineno),
                         (__file__, write.line))

    def test_module_classes_true(self):
        pywatch.freeze(self.mod, classes=True)
        self.assertTrue(pywatch.is_frozen(self.mod.C))
        self.assertTrue(pywatch.is_frozen(self.mod.B2))
        # Imported from elsewhere: not this module's to freeze.
        self.assertFalse(pywatch.is_frozen(self.mod.Sub))
        with self.assertRaises(TypeError):
            self.mod.C.a = 2
        pywatch.thaw(self.mod)
        self.assertFalse(pywatch.is_frozen(self.mod.C))
        self.mod.C.a = 2

    def test_static_types_refused(self):
        for t in (int, object, type, types.ModuleType):
            with self.assertRaises(TypeError):
                pywatch.freeze(t)


class TestAllowed(FreezeCase):
    """Point 5: expected post-startup writes."""

    def test_allow(self):
        pywatch.freeze(self.mod, allow=("cache",))
        self.mod.cache = 1
        del self.mod.cache
        self.mod.cache = 2
        warns = self.caught(self.mod.fill_cache)  # STORE_GLOBAL of allowed
        self.assertEqual(warns, [])
        self.assertEqual(self.mod.cache, {"filled": True})
        with self.assertRaises(pywatch.FrozenError):
            self.mod.x = 2

    def test_allow_single_str(self):
        pywatch.freeze(self.mod, allow="cache")
        self.mod.cache = 1

    def test_binding_the_object_already_bound(self):
        # One rule with frozen classes, whose TypeError CPython raises:
        # storing the object already bound is a write like any other.
        pywatch.freeze(self.mod)
        before = dict(vars(self.mod))
        with self.assertRaises(pywatch.FrozenError):
            setattr(self.mod, "x", self.mod.x)
        self.assertEqual(vars(self.mod), before)
        with self.assertRaises(pywatch.FrozenError):
            setattr(self.mod, "x", object())
        # mock.patch's clean-up, after the patch itself was refused, is
        # refused too: the FrozenError is about the name it tried.
        with self.assertRaises(pywatch.FrozenError) as cm:
            with mock.patch.object(self.mod, "x", 5):
                pass
        self.assertEqual(cm.exception.name, "x")
        self.assertEqual(vars(self.mod), before)

    def test_a_frozen_class_refuses_the_object_already_bound_too(self):
        class C:
            flag = False
        pywatch.freeze(C)
        self.addCleanup(pywatch.thaw, C)
        with self.assertRaises(TypeError):
            C.flag = False

    def test_warningregistry(self):
        pywatch.freeze(self.mod)

        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("default")
                self.mod.warn()
            # unittest's assertWarns() resets it so.
            self.mod.__warningregistry__ = {}
        self.assertEqual(self.caught(run), [])
        # The door is for the warnings machinery's dict, nothing else.
        for value in (None, 0, False, {1: 2}.keys(), []):
            with self.assertRaises(pywatch.FrozenError):
                self.mod.__warningregistry__ = value
        with self.assertRaises(pywatch.FrozenError):
            del self.mod.__warningregistry__

    def test_import_submodule_after_freezing_package(self):
        pywatch.freeze(self.pkg)

        def run():
            later = __import__(self.pkgname + ".later", fromlist=["Z"])
            self.assertEqual(later.Z, 3)
        self.assertEqual(self.caught(run), [])
        self.assertEqual(self.pkg.later.Z, 3)
        # A module that is not its submodule is still refused.
        with self.assertRaises(pywatch.FrozenError):
            self.pkg.later = types.ModuleType("elsewhere")
        with self.assertRaises(pywatch.FrozenError):
            self.pkg.other = types.ModuleType(self.pkgname + ".x.other")

    def test_sys_refused(self):
        with self.assertRaises(ValueError) as cm:
            pywatch.freeze(sys)
        self.assertIn("sys.stdout", str(cm.exception))
        self.assertIn("sys.ps1", str(cm.exception))
        self.assertFalse(pywatch.is_frozen(sys))

    def test_rebinding_same_object(self):
        pywatch.freeze(self.mod)
        with self.assertRaises(pywatch.FrozenError):
            self.mod.x = self.mod.x


class TestFreezeThaw(FreezeCase):
    """Point 6: idempotence and bad input."""

    def test_idempotent(self):
        n = pywatch.stats()["frozen_modules"]
        pywatch.freeze(self.mod)
        self.assertIs(pywatch.freeze(self.mod), self.mod)
        self.assertEqual(pywatch.stats()["frozen_modules"], n + 1)
        self.assertIs(pywatch.thaw(self.mod), self.mod)
        self.assertIs(pywatch.thaw(self.mod), self.mod)
        self.assertEqual(pywatch.stats()["frozen_modules"], n)
        self.mod.x = 2
        pywatch.freeze(self.mod.C)
        pywatch.freeze(self.mod.C)
        pywatch.thaw(self.mod.C)
        pywatch.thaw(self.mod.C)
        self.mod.C.a = 5

    def test_thaw_never_frozen(self):
        self.assertIs(pywatch.thaw(self.mod), self.mod)
        self.assertFalse(pywatch.is_frozen(self.mod))

    def test_bad_input(self):
        for bad in (1, "pkg", {}, lambda: 0, object(), None):
            with self.assertRaises(TypeError):
                pywatch.freeze(bad)
            with self.assertRaises(TypeError):
                pywatch.thaw(bad)
        with self.assertRaises(TypeError):
            pywatch.freeze(self.mod, allow=(1,))
        with self.assertRaises(TypeError):
            pywatch.modified(3)
        with self.assertRaises(TypeError):
            pywatch.patch(self.mod, 1, 2)
        self.assertFalse(pywatch.is_frozen(3))
        self.assertFalse(pywatch.is_frozen(self.mod))


class TestPatch(FreezeCase):
    """pywatch.patch(): the sanctioned way, frozen or not."""

    def test_frozen_module(self):
        pywatch.freeze(self.mod)
        original = self.mod.x
        d = pywatch.Dependent()
        d.depends_on(self.mod, "x")
        new = object()

        def run():
            with pywatch.patch(self.mod, "x", new) as got:
                self.assertIs(got, new)
                self.assertIs(self.mod.x, new)
                pywatch.flush()
            self.assertIs(self.mod.x, original)
        self.assertEqual(self.caught(run), [])
        self.assertFalse(d.valid)  # invalidated by the patch
        self.assertTrue(pywatch.is_frozen(self.mod))
        with self.assertRaises(pywatch.FrozenError):
            self.mod.x = 2

    def test_invalidates_both_ways(self):
        pywatch.freeze(self.mod)
        with pywatch.patch(self.mod, "x", 5):
            d = pywatch.Dependent()
            d.depends_on(self.mod, "x")
        self.assertFalse(d.valid)

    def test_absent_name_deleted(self):
        pywatch.freeze(self.mod)

        def run():
            with pywatch.patch(self.mod, "absent", 1, create=True):
                self.assertEqual(self.mod.absent, 1)
            self.assertNotIn("absent", vars(self.mod))
        self.assertEqual(self.caught(run), [])

    def test_restores_on_exception(self):
        pywatch.freeze(self.mod)
        with self.assertRaises(KeyError):
            with pywatch.patch(self.mod, "x", 5):
                raise KeyError
        self.assertEqual(self.mod.x, 1)

    def test_unfrozen_module(self):
        with pywatch.patch(self.mod, "x", 5):
            self.assertEqual(self.mod.x, 5)
        self.assertEqual(self.mod.x, 1)

    def test_frozen_class(self):
        C = self.mod.C
        pywatch.freeze(C)

        def run():
            with pywatch.patch(C, "a", 5):
                self.assertEqual(C.a, 5)
                self.assertEqual(C().a, 5)
                with self.assertRaises(TypeError):
                    C.a = 6
            with pywatch.patch(C, "inherited", 7, create=True):
                self.assertEqual(C.inherited, 7)
        self.assertEqual(self.caught(run), [])
        self.assertEqual(C.a, 1)
        self.assertFalse(hasattr(C, "inherited"))
        self.assertTrue(pywatch.is_frozen(C))
        with self.assertRaises(TypeError):
            C.a = 2


class TestModified(FreezeCase):
    """READONLY's __modified__."""

    def test_tracked_classes_are_not_kept_alive(self):
        class Tracked:
            x = 1

            def m(self):  # refers back to the class through __class__
                return super().m()

        pywatch.modified(Tracked)
        frozen = type("Frozen", (), {"y": 2})
        pywatch.freeze(frozen)
        pywatch.thaw(frozen)
        refs = [weakref.ref(Tracked), weakref.ref(frozen)]
        del Tracked, frozen
        gc.collect()
        self.assertEqual([r() for r in refs], [None, None])

    def test_class_value_replaced_at_the_same_address(self):
        # A class's snapshot holds ids, so that it keeps nothing alive; the
        # dict's version still sees a value replaced by a new one that got
        # the old one's address within one delivery.
        class C:
            pass

        i = 12345
        C.x = (i, i)
        first = id(C.x)
        pywatch.modified(C)
        C.x = (i, i + 1)  # frees the first tuple
        C.x = (i, i + 2)  # which the tuple free list hands out again
        if id(C.x) != first:
            self.skipTest("this allocator did not reuse the address")
        pywatch.flush()
        self.assertTrue(pywatch.modified(C))

    def test_module(self):
        self.assertFalse(pywatch.modified(self.mod))  # tracking begins
        self.assertFalse(pywatch.modified(self.mod))
        self.mod.x = 2
        self.assertTrue(pywatch.modified(self.mod))  # before any delivery
        pywatch.flush()
        self.assertTrue(pywatch.modified(self.mod))

    def test_tracking_begins_at_freeze(self):
        self.mod.x = 2  # before tracking: not counted
        pywatch.freeze(self.mod)
        self.assertFalse(pywatch.modified(self.mod))
        with self.assertRaises(pywatch.FrozenError):
            self.mod.x = 3
        self.assertFalse(pywatch.modified(self.mod))  # blocked
        self.caught(lambda: self.mod.setx(4))
        self.assertTrue(pywatch.modified(self.mod))

    def test_expected_writes_are_no_modification(self):
        pywatch.freeze(self.pkg)
        __import__(self.pkgname + ".later")
        self.pkg.__warningregistry__ = {}
        pywatch.flush()
        self.assertFalse(pywatch.modified(self.pkg))

    def test_class(self):
        C = self.mod.C
        self.assertFalse(pywatch.modified(C))
        C.a = 2
        self.assertTrue(pywatch.modified(C))

    def test_class_bases(self):
        class A: pass
        class D(A): pass
        self.assertFalse(pywatch.modified(D))
        D.__bases__ = (self.mod.B2,)
        pywatch.flush()
        self.assertTrue(pywatch.modified(D))

    def test_function(self):
        f, g = self.mod.setx, self.mod.warn
        self.assertFalse(pywatch.modified(f))
        self.assertFalse(pywatch.modified(f))
        f.__defaults__ = (1,)
        self.assertTrue(pywatch.modified(f))
        self.assertFalse(pywatch.modified(g))
        g.__code__ = self.mod.fill_cache.__code__
        self.assertTrue(pywatch.modified(g))

    def test_patch_counts(self):
        self.assertFalse(pywatch.modified(self.mod))
        with pywatch.patch(self.mod, "x", 3):
            pass
        self.assertTrue(pywatch.modified(self.mod))


APP = '''\
import pywatch
value = "real"
def get():
    return value
pywatch.freeze(__import__(__name__))
'''

SUITE = '''\
import sys, unittest
from unittest import mock
import pywatch
import {app}

class T(unittest.TestCase):
    def test_mock_patch(self):
        with mock.patch("{app}.value", "fake"):
            self.assertEqual({app}.get(), "fake")
        self.assertEqual({app}.get(), "real")

    def test_tracking_still_works(self):
        d = pywatch.Dependent()
        d.depends_on({app}, "value")
        {app}.value = "other"
        self.assertFalse(d.valid)
        self.assertTrue(pywatch.modified({app}.get) is False)
        {app}.value = "real"

print("enabled", pywatch.enabled(), "frozen", pywatch.is_frozen({app}))
sys.exit(0 if unittest.main(exit=False).result.wasSuccessful() else 1)
'''


class TestSwitch(unittest.TestCase):
    """Point 7, in subprocesses: the switch is read at import."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pywatch-switch-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        app = "switchapp%d" % next(_counter)
        with open(os.path.join(self.tmp, app + ".py"), "w") as f:
            f.write(APP)
        self.script = os.path.join(self.tmp, "suite.py")
        with open(self.script, "w") as f:
            f.write(SUITE.format(app=app))

    def run_py(self, args, env_extra, script=None):
        env = dict(os.environ)
        env.pop("PYWATCH_DISABLE", None)
        env.update(env_extra)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (self.tmp, os.environ.get("PYTHONPATH")) if p)
        return subprocess.run([sys.executable] + args +
                              [script or self.script],
                              env=env, capture_output=True, text=True,
                              timeout=120)

    def test_env(self):
        r = self.run_py([], {"PYWATCH_DISABLE": "1"})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("enabled False frozen True", r.stdout)

    def test_xoption(self):
        r = self.run_py(["-X", "pywatch=off"], {})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("enabled False frozen True", r.stdout)

    def test_without_the_switch_mock_patch_is_blocked(self):
        r = self.run_py([], {})
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("enabled True frozen True", r.stdout)
        self.assertIn("FrozenError", r.stderr)

    def test_disable_at_run_time(self):
        script = os.path.join(self.tmp, "disable.py")
        with open(script, "w") as f:
            f.write(textwrap.dedent('''\
                import types, pywatch
                m = types.ModuleType("m"); m.x = 1
                class C: a = 1
                pywatch.freeze(m); pywatch.freeze(C)
                try:
                    m.x = 2
                except pywatch.FrozenError:
                    pass
                else:
                    raise SystemExit("not frozen")
                assert pywatch.enabled()
                pywatch.disable()
                assert not pywatch.enabled()
                # Asked for, and not in force.
                assert pywatch.is_frozen(m) and pywatch.is_frozen(C)
                m.x = 2; C.a = 2
                assert pywatch.freeze(m) is m
                m.x = 3
                d = pywatch.Dependent(); d.depends_on(m, "x")
                m.x = 4
                assert not d.valid
                assert pywatch.modified(m)
                print("disabled ok")
                '''))
        r = self.run_py([], {}, script)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("disabled ok", r.stdout)


class TestServiceExample(unittest.TestCase):
    """examples/service: the demo freezes at startup, and its mock.patch
    test suite passes under PYWATCH_DISABLE=1 and -X pywatch=off."""

    def test_run_sh(self):
        here = os.path.dirname(os.path.abspath(__file__))
        script = os.path.join(here, "..", "..", "examples", "service",
                              "run.sh")
        if not os.path.exists(script):
            self.skipTest("examples/service not present")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.path.dirname(
            os.path.dirname(os.path.abspath(pywatch.__file__)))
        r = subprocess.run(["sh", script, sys.executable], env=env,
                           capture_output=True, text=True, timeout=120)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out)
        self.assertIn("blocked monkeypatch: FrozenError", out)
        self.assertIn("handlers.py:17: FrozenWarning", out)
        self.assertIn("demo ok", out)
        self.assertEqual(out.count("Ran 5 tests"), 2, out)


class AuditEvents(unittest.TestCase):
    """freeze, thaw, patch and disable raise PEP 578 audit events, so that a
    service sees who unfroze what.  Audit hooks last for the process: this
    runs in its own."""

    def test_each_call_raises_its_event(self):
        script = textwrap.dedent("""
            import sys, types, pywatch
            seen = []
            def hook(event, args):
                if event.startswith("pywatch."):
                    seen.append((event,) + tuple(
                        a.__name__ if isinstance(a, types.ModuleType) else a
                        for a in args))
            sys.addaudithook(hook)
            m = types.ModuleType("m")
            m.x = 1
            pywatch.freeze(m, allow=("y",))
            with pywatch.patch(m, "x", 2):
                pass
            with pywatch.patch(m, "new", 3, create=True):
                pass
            pywatch.thaw(m)
            pywatch.disable()
            pywatch.enable()
            for e in seen:
                print(e)
            """)
        from test_audit import ENV  # pywatch's path, made absolute
        proc = subprocess.run([sys.executable, "-c", script], env=ENV,
                              cwd=tempfile.gettempdir(), capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(proc.stdout.splitlines(), [
            "('pywatch.freeze', 'm', ('y',), False)",
            "('pywatch.patch', 'm', 'x', 2, 'enter')",
            "('pywatch.patch', 'm', 'x', 1, 'exit')",
            "('pywatch.patch', 'm', 'new', 3, 'enter')",
            "('pywatch.patch', 'm', 'new', None, 'exit')",
            "('pywatch.thaw', 'm')",
            "('pywatch.disable',)",
            "('pywatch.enable',)",
        ], proc.stderr)


if __name__ == "__main__":
    unittest.main()
