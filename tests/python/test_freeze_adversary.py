"""Adversarial review of issue 24's watched class: a frozen module moved to
a heap subclass of its class.  Each test is a way found to break a promise
of READONLY.txt ("Freezing"): every write to a frozen module blocked or
detected, patch() restoring exactly, bad input a TypeError/ValueError and
never SystemError, thaw() putting the module back in its class, the
audit running the program as python would.  Each failed on main at
68a8905 but TestWatchedClassDict, which shows a limit that READONLY.txt
names."""
import gc
import os
import subprocess
import sys
import tempfile
import textwrap
import types
import unittest
import warnings
import weakref

import pywatch
from test_audit import ENV, run

# 3.14 renamed it.
clear_type_cache = getattr(sys, "_clear_internal_caches", None) \
    or sys._clear_type_cache


def frozen_warnings(fn):
    """Runs fn, delivers, and returns the FrozenWarning messages."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
        pywatch.flush()
    return [str(w.message) for w in caught
            if issubclass(w.category, pywatch.FrozenWarning)]


def is_immutable(cls):
    return bool(cls.__flags__ & (1 << 8))  # Py_TPFLAGS_IMMUTABLETYPE


class Doubling(types.ModuleType):
    """A program's subclass whose __setattr__ changes the value."""

    def __setattr__(self, name, value):
        super().__setattr__(name, value * 2)


class ReadOnly(types.ModuleType):
    """A program's subclass whose __setattr__ refuses every write."""

    def __setattr__(self, name, value):
        raise AttributeError("read-only module")


@unittest.skipUnless(pywatch.enabled(), "freezing is disabled in this process")
class AdversaryCase(unittest.TestCase):
    def frozen(self, mod, **kw):
        pywatch.freeze(mod, **kw)
        self.addCleanup(pywatch.thaw, mod)
        return mod


class TestPatchPastTheClass(AdversaryCase):
    """pywatch.patch() writes past the module's class on an unfrozen module
    (the ModuleType slot), but through the class's own __setattr__ once
    frozen (write_past_watched calls super() of the watched class): the
    same patch writes another value, restores another value, and warns."""

    def test_patch_restores_exactly_with_own_setattr(self):
        mod = Doubling("adv_doubling")
        mod.x = 1                      # stored as 2
        self.frozen(mod)
        seen = []

        def patch():
            with pywatch.patch(mod, "x", 9):
                seen.append(mod.x)
        warned = frozen_warnings(patch)
        self.assertEqual(seen, [9])    # 18 on the watched class
        self.assertEqual(mod.x, 2)     # 4: "restored" through __setattr__
        self.assertEqual(warned, [])   # a sanctioned write is not reported

    def test_patch_works_frozen_as_unfrozen(self):
        mod = ReadOnly("adv_readonly")
        types.ModuleType.__setattr__(mod, "x", 1)
        with pywatch.patch(mod, "x", 2):   # unfrozen: past __setattr__
            self.assertEqual(mod.x, 2)
        self.frozen(mod)
        with pywatch.patch(mod, "x", 3):   # frozen: AttributeError
            self.assertEqual(mod.x, 3)
        self.assertEqual(mod.x, 1)


def metaclass_returning(make):
    """A ModuleType subclass whose metaclass, asked by pywatch for the
    watched class (__module__ 'pywatch'), returns make(cls) instead."""
    class Meta(type):
        def __new__(mcls, name, bases, ns, **kw):
            if ns.get("__module__") == "pywatch":
                return make(bases[0])
            return super().__new__(mcls, name, bases, ns, **kw)

    class Sub(types.ModuleType, metaclass=Meta):
        pass
    return Sub


class TestMisbehavingClassMaking(AdversaryCase):
    """new_watched_class() trusts what the metaclass call returns (and what
    __init_subclass__ leaves): a class that is not the watched class is
    made immutable for good and used as the module's class, so freeze()
    succeeds while setattr writes are only warned about.  Refusing such a
    class with TypeError, changing nothing, is fine too."""

    def assert_blocked_and_restored(self, cls, mod):
        mod.x = 1
        try:
            pywatch.freeze(mod)
        except TypeError:
            # Refused: then nothing changed.
            self.assertIs(type(mod), cls)
            self.assertFalse(pywatch.is_frozen(mod))
            mod.x = 3
            return
        try:
            with self.assertRaises(pywatch.FrozenError):
                frozen_warnings(lambda: setattr(mod, "x", 2))
            self.assertEqual(mod.x, 1)
        finally:
            pywatch.thaw(mod)
        self.assertIs(type(mod), cls)
        mod.x = 3  # writable again

    def test_metaclass_returns_the_base(self):
        cls = metaclass_returning(lambda base: base)
        try:
            self.assert_blocked_and_restored(cls, cls("adv_meta_base"))
        finally:
            # The program's own class must not stay immutable.
            self.assertFalse(is_immutable(cls))

    def test_metaclass_returns_another_module_class(self):
        class Other(types.ModuleType):
            pass
        cls = metaclass_returning(lambda base: Other)
        try:
            self.assert_blocked_and_restored(cls, cls("adv_meta_other"))
        finally:
            self.assertFalse(is_immutable(Other))

    def test_metaclass_returns_moduletype(self):
        cls = metaclass_returning(lambda base: types.ModuleType)
        self.assert_blocked_and_restored(cls, cls("adv_meta_static"))

    def test_init_subclass_replaces_setattr(self):
        class Sub(types.ModuleType):
            def __init_subclass__(cls, **kw):
                super().__init_subclass__(**kw)
                cls.__setattr__ = types.ModuleType.__setattr__
        self.assert_blocked_and_restored(Sub, Sub("adv_init_subclass"))


class TestWatchedClassCacheKeys(AdversaryCase):
    """The cache of watched classes is a dict keyed by the module class,
    and a metaclass may define __eq__ and __hash__: two classes that
    compare equal shared one watched class, and a module of the second
    became, while frozen, an instance of the first, with its methods."""

    def test_classes_equal_by_their_metaclass(self):
        class Meta(type):
            def __hash__(cls):
                return 1

            def __eq__(cls, other):
                return isinstance(other, Meta)

        class First(types.ModuleType, metaclass=Meta):
            def who(self):
                return "First"

        class Second(types.ModuleType, metaclass=Meta):
            def who(self):
                return "Second"
        self.frozen(First("adv_first"))
        second = self.frozen(Second("adv_second"))
        self.assertIsInstance(second, Second)
        self.assertEqual(second.who(), "Second")


class TestSubclassOfWatchedClass(AdversaryCase):
    """A program's subclass of type(frozen module) with its own __setattr__
    counts as watched already (its MRO holds the watched class), so
    freeze() leaves its modules there and their writes are only warned
    about.  Refusing such a module with TypeError is fine too."""

    def test_own_setattr_below_the_watched_class(self):
        watched = type(self.frozen(types.ModuleType("adv_w")))

        class Below(watched):
            def __setattr__(self, name, value):
                types.ModuleType.__setattr__(self, name, value)
        mod = Below("adv_below")
        mod.x = 1
        try:
            self.frozen(mod)
        except TypeError:
            self.assertFalse(pywatch.is_frozen(mod))  # refused: fine
            return
        with self.assertRaises(pywatch.FrozenError):
            frozen_warnings(lambda: setattr(mod, "x", 2))
        self.assertEqual(mod.x, 1)


def interpreter_dict():
    """The interpreter dict (PyInterpreterState_GetDict), reached from
    Python with gc alone: it holds freezing's registry."""
    registry = pywatch._pywatch._frozen_registry()
    (idict,) = [r for r in gc.get_referrers(registry)
                if type(r) is dict and r.get("pywatch.frozen") is registry]
    return idict


class TestInterpreterDict(AdversaryCase):
    """pywatch's registries are entries of the interpreter dict, which gc
    reaches: entries that are not dicts make freeze() and every write to a
    frozen module raise SystemError (PyDict_* on a non-dict)."""

    def replaced(self, key, value):
        idict = interpreter_dict()
        saved = idict[key]
        idict[key] = value
        self.addCleanup(idict.__setitem__, key, saved)

    def test_watched_class_cache_not_a_dict(self):
        pywatch.freeze(types.ModuleType("adv_probe"))  # the cache exists
        self.replaced("pywatch.watched_classes", 5)
        mod = types.ModuleType("adv_cache_5")
        try:
            pywatch.freeze(mod)
        except SystemError as e:
            self.fail("SystemError: %s" % e)
        except (TypeError, ValueError, RuntimeError):
            pass
        finally:
            pywatch.thaw(mod)

    def test_registry_not_a_dict(self):
        mod = self.frozen(types.ModuleType("adv_registry_list"))
        self.replaced("pywatch.frozen", [])
        try:
            mod.x = 1
        except SystemError as e:
            self.fail("SystemError: %s" % e)
        except (pywatch.FrozenError, TypeError, ValueError, RuntimeError):
            pass

    def test_watched_class_cache_entry_replaced(self):
        class Evil(types.ModuleType):
            pass
        pywatch.freeze(types.ModuleType("adv_probe"))  # the cache exists
        cache = interpreter_dict()["pywatch.watched_classes"]
        saved = dict(cache)
        for key in cache:
            cache[key] = weakref.ref(Evil)
        cache[id(types.ModuleType)] = Evil  # not even a weak reference
        self.addCleanup(cache.update, saved)
        mod = types.ModuleType("adv_cache_evil")
        mod.x = 1
        try:
            pywatch.freeze(mod)
        except (TypeError, ValueError, RuntimeError):
            return  # refused: fine
        self.addCleanup(pywatch.thaw, mod)
        with self.assertRaises(pywatch.FrozenError):
            frozen_warnings(lambda: setattr(mod, "x", 2))


class TestWatchedClassDict(AdversaryCase):
    """READONLY.txt's limit: a raw write to the watched class's dict
    (gc.get_referents) changes what frozen modules read, and is not
    reported; but a dependent on the name is invalidated: nothing goes
    stale."""

    def test_raw_write_to_the_watched_class_dict_invalidates(self):
        mod = types.ModuleType("adv_raw_class")
        mod.x = 1
        self.frozen(mod)
        dep = pywatch.Dependent()
        dep.depends_on(mod, "x")
        (ns,) = [r for r in gc.get_referents(type(mod)) if type(r) is dict]

        def write():
            ns["x"] = property(lambda self: "not 1")
            clear_type_cache()  # as any later class change would
        try:
            warned = frozen_warnings(write)
            reads = mod.x
        finally:
            ns.pop("x", None)
            clear_type_cache()  # it held the property borrowed
        # The limit: nothing is reported.  What the module then reads is
        # CPython's business (3.14's specialized reads may keep the dict's).
        self.assertEqual(warned, [])
        self.assertIn(reads, (1, "not 1"))
        self.assertFalse(dep.valid)


# Audit hooks are never removed: one hook, for the whole process, refuses
# __class__ assignments while this list is not empty.
_CLASS_SWAPS_REFUSED = []


def _refuse_class_swaps(event, args):
    if _CLASS_SWAPS_REFUSED and event == "object.__setattr__" \
            and args[1] == "__class__":
        raise RuntimeError("no class swaps now")


sys.addaudithook(_refuse_class_swaps)


class TestThawAfterFailedThaw(AdversaryCase):
    """A thaw() that fails at the class swap (an audit hook that refuses
    __class__ assignments) unregisters the module first; the next freeze()
    finds it watched already and forgets the class it had, so no later
    thaw() puts it back."""

    def test_class_restored_after_a_failed_thaw(self):
        block = _CLASS_SWAPS_REFUSED
        mod = types.ModuleType("adv_failed_thaw")
        pywatch.freeze(mod)
        block.append(1)
        try:
            with self.assertRaises(RuntimeError):
                pywatch.thaw(mod)
        finally:
            block.clear()
        pywatch.freeze(mod)
        pywatch.thaw(mod)
        self.assertIs(type(mod), types.ModuleType)


class TestWatchedClassesDie(AdversaryCase):
    """The cache of watched classes holds each module class, and its
    watched class, for the life of the interpreter: a program that makes
    ModuleType subclasses as it goes (one per plugin, per test) and freezes
    a module of each keeps every one of them, without pywatch it would
    not."""

    def test_class_freed_after_thaw(self):
        class Short(types.ModuleType):
            pass
        mod = Short("adv_short")
        pywatch.freeze(mod)
        pywatch.thaw(mod)
        ref = weakref.ref(Short)
        del Short, mod
        gc.collect()
        self.assertIsNone(ref())


REGISTRY_MODS = textwrap.dedent("""
    import types

    class Plugin(types.ModuleType):
        \"\"\"Every subclass registers itself, as plugin bases do.\"\"\"
        registry = []

        def __init_subclass__(cls, **kw):
            super().__init_subclass__(**kw)
            Plugin.registry.append(cls.__qualname__)

    class Shim(Plugin):
        pass
    """)
REGISTRY_PLUGIN = textwrap.dedent("""
    import sys, reg_mods
    x = 0
    sys.modules[__name__].__class__ = reg_mods.Shim
    """)
REGISTRY_PROG = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import reg_mods, reg_plugin
    print(reg_mods.Plugin.registry, len(reg_mods.Shim.__subclasses__()))
    """)


class TestAuditRunsTheProgramAsPythonWould(unittest.TestCase):
    """The audit moves every module it tracks to a subclass of its class,
    made by calling the class's metaclass: the class's __init_subclass__
    runs, and its __subclasses__() grow, so the audited program sees a
    class it never made (python -m pywatch audit promises to run it as
    python would)."""

    def test_init_subclass_and_subclasses_unchanged(self):
        with tempfile.TemporaryDirectory(prefix="pywatch-adv-") as tmp:
            for name, text in (("reg_mods", REGISTRY_MODS),
                               ("reg_plugin", REGISTRY_PLUGIN),
                               ("reg_prog", REGISTRY_PROG)):
                with open(os.path.join(tmp, name + ".py"), "w") as f:
                    f.write(text)
            prog = os.path.join(tmp, "reg_prog.py")
            plain, _ = run([prog], None)
            audited, _ = run([prog], ["--include=reg_*"])
        self.assertEqual(plain.returncode, 0, plain.stderr)
        self.assertEqual(plain.stdout, "['Shim'] 0\n")
        self.assertEqual(audited.stdout.splitlines()[:1],
                         plain.stdout.splitlines())


class TestReimportAddsNoAuditHook(unittest.TestCase):
    """Each execution of pywatch's extension module adds its __class__
    audit hook with sys.addaudithook, and audit hooks are never removed:
    a program that imports pywatch._pywatch again (del sys.modules[...],
    as test isolation tools do) adds one more each time, which every
    audit event of the process then calls, for good (a leak that slows
    every event; 200 re-imports make events about 20x slower)."""

    def test_reimport(self):
        # In a child: audit hooks are never removed, and the module objects
        # made stay (a leak check would count both).
        script = textwrap.dedent("""
            import sys
            import pywatch
            added = []
            sys.addaudithook(lambda event, args: event == "sys.addaudithook"
                             and added.append(event))
            for _ in range(3):
                del sys.modules["pywatch._pywatch"]
                __import__("pywatch._pywatch")
            print(len(added))
            """)
        proc = subprocess.run([sys.executable, "-c", script], env=ENV,
                              capture_output=True, text=True, timeout=60,
                              cwd=tempfile.gettempdir())
        self.assertEqual((proc.returncode, proc.stdout), (0, "0\n"),
                         proc.stderr)


if __name__ == "__main__":
    unittest.main()
