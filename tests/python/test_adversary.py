"""Code nobody here wrote, aimed at libwatch's promises (issue 14): keys
whose __hash__, __eq__ and __del__ run Python that releases dependents,
mutual specializations, raw writes to subclass registries, in-place
__kwdefaults__ changes, namespaces that are not dicts, recycled class
addresses, and memory that a dict nobody depends on keeps."""
import gc
import os
import subprocess
import sys
import tempfile
import textwrap
import types
import unittest
import weakref

import pywatch

from test_audit import ENV


class Key:
    """A key whose hash and equality are Python code; on_hash(n) runs at
    its n-th __hash__, on_del at its death."""

    def __init__(self, name, on_hash=None, on_del=None):
        self.name, self.on_hash, self.on_del = name, on_hash, on_del
        self.hashes = 0

    def __hash__(self):
        self.hashes += 1
        if self.on_hash is not None:
            self.on_hash(self.hashes)
        return hash(self.name)

    def __eq__(self, other):
        return self is other

    def __del__(self):
        if self.on_del is not None:
            self.on_del()


class ReentrantKeys(unittest.TestCase):
    def test_hash_that_releases_the_dependent_being_registered(self):
        d = {}
        dep = pywatch.Dependent()
        # pywatch hashes the key once, libwatch's validation a second time.
        key = Key("k", on_hash=lambda n: n == 2 and dep.release())
        with self.assertRaises((ValueError, RuntimeError)):
            dep.depends_on(d, key)
        self.assertFalse(dep.valid)
        gc.collect()
        self.assertEqual(pywatch.stats()["edges"], 0)
        d["other"] = 1  # the index is still sound
        self.assertEqual(pywatch.stats()["dependents"], 0)

    def test_del_of_a_dropped_key_releases_another_dependent(self):
        d = {"x": 1}
        other = pywatch.Dependent()
        other.depends_on(d, "x")
        key = Key("k", on_del=other.release)
        d[key] = 1
        dep = pywatch.Dependent()
        dep.depends_on(d, key)
        del d[key]          # dep invalidated; libwatch holds the key
        del key
        pywatch.flush()     # collects the record: the key dies
        dep.release()
        gc.collect()
        self.assertFalse(other.valid)
        self.assertEqual(pywatch.stats()["edges"], 0)
        d["x"] = 2

    def test_del_of_a_released_dependent_s_key_releases_its_sibling(self):
        d = {}
        sibling = pywatch.Dependent()
        sibling.depends_on(d, "y")
        key = Key("k", on_del=sibling.release)
        dep = pywatch.Dependent()
        dep.depends_on(d, key)
        before = pywatch.stats()["keys"]
        del key             # only libwatch's record holds it now
        dep.release()       # drops the record, whose key's __del__ runs
        gc.collect()
        self.assertFalse(sibling.valid)
        self.assertEqual(pywatch.stats()["edges"], 0)
        self.assertEqual(pywatch.stats()["keys"], before - 2)


class MutualSpecialization(unittest.TestCase):
    def test_a_cycle_raises_and_leaves_nothing_installed(self):
        # In a subprocess: the bug this guards against was a hang.
        script = textwrap.dedent("""
            import pywatch
            def f(a=1):
                return "f"
            def g(a=1):
                return "g"
            fast_f = (lambda a=1: "fast f").__code__
            fast_g = (lambda a=1: "fast g").__code__
            guard = pywatch.specialize(f, fast_f, functions=[g])
            assert f() == "fast f"
            try:
                pywatch.specialize(g, fast_g, functions=[f])
            except ValueError as e:
                assert "cycle" in str(e), e
            else:
                raise AssertionError("a dead guard was returned")
            g.__defaults__ = (2,)
            f.__defaults__ = (2,)
            assert (f(), g()) == ("f", "g"), (f(), g())
            assert not guard.valid
            print("ok")
            """)
        proc = subprocess.run([sys.executable, "-c", script], env=ENV,
                              cwd=tempfile.gettempdir(), capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(proc.stdout, "ok\n", proc.stderr)


def subclass_registry(sub):
    """The tp_subclasses of sub's base, {id(subclass): weakref}, found
    through gc: it holds a weak reference to sub."""
    for ref in weakref.getweakrefs(sub):
        for r in gc.get_referrers(ref):
            if type(r) is dict and r.get(id(sub)) is ref:
                return r
    raise AssertionError("no subclass registry")


class RawRegistryWrites(unittest.TestCase):
    def test_a_key_that_hashes_like_a_subclass_is_never_a_pointer(self):
        class A:
            pass

        class B(A):
            pass

        dep = pywatch.Dependent()
        dep.depends_on(B, "x")
        registry = subclass_registry(B)
        registry[123456789] = 2          # an address nothing lives at
        del registry[123456789]
        self.assertTrue(dep.valid)
        fake = id(B) + (2 ** 61 - 1)     # the same hash, another int
        self.assertEqual(hash(fake), hash(id(B)))
        registry[fake] = 1
        del registry[fake]
        # Read as no pointer; but a key of id(B)'s hash, which a key the
        # dict holds could equal too, so the dependent is told.
        self.assertFalse(dep.valid)
        saved = registry[id(B)]
        seen = []
        dep2 = pywatch.Dependent(lambda d, ev: seen.append(
            (ev.kind, ev.namespace)))
        dep2.depends_on(B, "x")
        # The entry is replaced: named by the weak reference it held.
        registry[id(B)] = 3
        self.assertFalse(dep2.valid)
        dep3 = pywatch.Dependent(lambda d, ev: seen.append(
            (ev.kind, ev.namespace)))
        dep3.depends_on(B, "x")
        # Now it holds no weak reference: nothing is named.
        registry[id(B)] = saved
        pywatch.flush()
        self.assertEqual(seen, [("type", B), ("type", None)])
        dep.release()

    def test_a_dead_class_leaves_no_record_for_its_address(self):
        """A dead class's count must not stay on its address, where a new
        class can be born and would be refused as changing too often."""
        class Base:
            pass

        class Other:
            pass

        # A second subclass keeps Base's registry, and its records, alive.
        kept = type("Kept", (Base,), {})
        gc.collect()
        before = pywatch.stats()["keys"]
        # A class whose bases churn while depended on...
        sub = type("Churned", (Base,), {})
        for _ in range(12):
            dep = pywatch.Dependent()
            try:
                dep.depends_on(sub, "x")
            except ValueError:
                pass
            sub.__bases__ = (Other,)
            sub.__bases__ = (Base,)
            dep.release()
        del sub
        gc.collect()
        # ...leaves no record behind: not on its address in Base's registry.
        self.assertEqual(pywatch.stats()["keys"], before)
        self.assertEqual(Base.__subclasses__(), [kept])


class ModuleAttributes(unittest.TestCase):
    """mod.name also depends on the module's class and on PEP 562's
    __getattr__, which the module dict alone does not show."""

    def test_a_module_getattr_added_later_invalidates_an_absence(self):
        m = types.ModuleType("m")
        dep = pywatch.Dependent()
        dep.depends_on(m, "name")
        m.__getattr__ = lambda name: 5
        self.assertFalse(dep.valid)
        self.assertEqual(m.name, 5)

    def test_an_absence_under_a_module_getattr_is_refused(self):
        m = types.ModuleType("m")
        m.__getattr__ = lambda name: 5
        with self.assertRaises(ValueError):
            pywatch.Dependent().depends_on(m, "name")

    def test_a_class_swap_invalidates(self):
        class Sub(types.ModuleType):
            @property
            def DEBUG(self):
                return True

        for swap in (lambda m: setattr(m, "__class__", Sub),
                     lambda m: object.__dict__["__class__"].__set__(m, Sub)):
            m = types.ModuleType("cfg")
            m.DEBUG = False
            dep = pywatch.Dependent()
            dep.depends_on(m, "DEBUG")
            swap(m)
            self.assertFalse(dep.valid)
            # What m.DEBUG reads now is CPython's business: 3.14 and 3.15's
            # specialized module reads sometimes still give the dict's
            # False after such a swap.

    def test_a_specialization_guarded_by_a_module_attribute_deoptimizes(self):
        class Sub(types.ModuleType):
            @property
            def DEBUG(self):
                return True

        cfg = types.ModuleType("cfg")
        cfg.DEBUG = False
        ns = {"cfg": cfg}
        exec("def f():\n    return cfg.DEBUG\n", ns)
        guard = pywatch.specialize(ns["f"], (lambda: False).__code__,
                                   attrs=[(cfg, "DEBUG")])
        self.assertIs(ns["f"](), False)
        cfg.__class__ = Sub
        self.assertFalse(guard.valid)
        self.assertIsNone(pywatch.get_specialized(ns["f"]))

    def test_a_name_the_module_s_class_provides_is_refused(self):
        class Sub(types.ModuleType):
            @property
            def DEBUG(self):
                return True

        m = Sub("m")
        with self.assertRaises(ValueError):
            pywatch.Dependent().depends_on(m, "DEBUG")


class StaticTypeRawWrites(unittest.TestCase):
    def test_a_raw_write_to_object_s_dict_invalidates(self):
        class C:
            pass

        dep = pywatch.Dependent()
        dep.depends_on(C, "pywatch_raw_name")
        raw = gc.get_referents(object.__dict__)[0]
        raw["pywatch_raw_name"] = 1
        try:
            self.assertFalse(dep.valid)
        finally:
            del raw["pywatch_raw_name"]


class KwdefaultsInPlace(unittest.TestCase):
    def test_an_in_place_change_invalidates(self):
        def f(*, a=1):
            return a

        dep = pywatch.Dependent()
        dep.depends_on_function(f)
        f.__kwdefaults__["a"] = 2
        self.assertFalse(dep.valid)

    def test_modified_sees_it(self):
        def f(*, a=1):
            return a

        self.assertFalse(pywatch.modified(f))
        f.__kwdefaults__.clear()
        self.assertTrue(pywatch.modified(f))


class NamespacesThatAreNotDicts(unittest.TestCase):
    def function_with(self, globals_):
        return types.FunctionType(compile("def h():\n    return len\n", "<h>",
                                          "exec").co_consts[0], globals_)

    def test_a_dict_subclass_as_globals_is_refused(self):
        class Missing(dict):
            def __missing__(self, key):
                return 7

        h = self.function_with(Missing(__builtins__=__builtins__))
        with self.assertRaisesRegex(TypeError, "globals.*Missing"):
            pywatch.Dependent().depends_on_global(h, "len")
        with self.assertRaises(TypeError):
            pywatch.specialize(h, (lambda: 3).__code__, globals=["len"])

    def test_non_dict_builtins_are_refused(self):
        for builtins in (5, types.MappingProxyType({"len": len})):
            h = self.function_with({"__builtins__": builtins})
            with self.assertRaisesRegex(TypeError, "builtins"):
                pywatch.Dependent().depends_on_global(h, "len")


class DeliveryAtExit(unittest.TestCase):
    def test_finalized_reaches_python_callbacks_with_builtins_intact(self):
        # pywatch finalizes libwatch from atexit, before teardown.
        script = textwrap.dedent("""
            import atexit, pywatch
            d = {"x": 1}
            def told(dep, event):
                print("told", event.kind, len("abc"), sorted(d))
            dep = pywatch.Dependent(told)
            dep.depends_on(d, "x")
            atexit.register(print, "program atexit first")
            """)
        proc = subprocess.run([sys.executable, "-c", script], env=ENV,
                              cwd=tempfile.gettempdir(), capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(proc.stdout,
                         "program atexit first\ntold finalized 3 ['x']\n",
                         proc.stderr)
        self.assertEqual(proc.stderr, "")


class Memory(unittest.TestCase):
    def test_churned_keys_leave_bounded_records(self):
        d = {}
        before = pywatch.stats()["keys"]
        for i in range(2000):
            k = "churn%d" % i
            d[k] = 0
            dep = pywatch.Dependent()
            dep.depends_on(d, k)
            d[k] = 1
            dep.release()
            del d[k]
        pywatch.flush()
        self.assertLessEqual(pywatch.stats()["keys"] - before, 32)

    def test_a_key_dies_once_no_dependent_uses_it(self):
        d = {}
        key = Key("k")
        d[key] = 0
        dep = pywatch.Dependent()
        dep.depends_on(d, key)
        d[key] = 1                      # counted: its record stays, idle
        dep.release()
        del d[key]
        ref = weakref.ref(key)
        del key
        pywatch.flush()
        gc.collect()
        self.assertIsNone(ref())



def run_script(test, script, **env):
    """Runs script in a fresh interpreter; it must print "ok" and exit 0."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)],
                          env=dict(ENV, **env), cwd=tempfile.gettempdir(),
                          capture_output=True, text=True, timeout=60)
    test.assertEqual((proc.returncode, proc.stdout), (0, "ok\n"), proc.stderr)


class DroppedReferencesRunPython(unittest.TestCase):
    def test_finalization_survives_a_release_from_a_weakref_callback(self):
        # The specialized code dies in the last watch_fini() (atexit), and
        # its weakref callback releases the next dependent of libwatch's
        # list, then allocates over it: a use after free, which make asan
        # reports, and which crashed with the system allocator.
        run_script(self, """
            import weakref, pywatch
            def f():
                return 1
            other = pywatch.Dependent(lambda d, e: None)
            code = f.__code__.replace(co_name="f_fast")
            guard = pywatch.specialize(f, code)
            junk = []
            def dropped(r):
                other.release()
                junk.extend(bytes([i]) * 100 for i in range(200))
            r = weakref.ref(code, dropped)
            del code
            print("ok")
            """, PYTHONMALLOC="malloc")

    def test_a_released_dependent_is_never_called(self):
        cfg = {"x": 1}

        def f():
            return 1
        code = f.__code__.replace(co_name="f_fast")
        guard = pywatch.specialize(f, code, attrs=[(cfg, "x")])
        # Dropping the code, during the release, runs this flush, which
        # would call the guard being released: its callback lets go of the
        # reference pywatch keeps to a live guard.
        ref = weakref.ref(code, lambda r: pywatch.flush())
        del code
        held = sys.getrefcount(guard)
        # Invalidated, then released before any safe point: Dependent's
        # own release() is C, and the guard's, Python, would reach one.
        cfg["x"] = 2; pywatch.Dependent.release(guard)  # noqa: E702
        self.assertIsNone(ref())
        self.assertEqual(sys.getrefcount(guard), held)
        guard.release()   # and pywatch lets go of it


class RegistrationsThatChangeWhatTheyRead(unittest.TestCase):
    """A key with its own __eq__ in a dict runs Python code at every lookup
    of a name hashing like it; a registration confirms what it read once
    linked."""

    def test_a_global_bound_while_builtins_are_read(self):
        g = {}
        calls = [0]

        class Key:
            def __hash__(self):
                return hash("foo")

            def __eq__(self, other):
                calls[0] += 1
                if calls[0] == 2:    # libwatch's read, after pywatch's
                    g["foo"] = "shadow"
                return False
        g["__builtins__"] = {Key(): None}
        exec("def f():\n    return foo\n", g)
        dep = pywatch.Dependent()
        # Stale, or refused since the builtins hold a key of the name's hash
        # that compares by Python code (READONLY.txt): never registered.
        with self.assertRaises((pywatch.StaleError, ValueError)):
            dep.depends_on_global(g["f"], "foo")
        self.assertEqual(g["f"](), "shadow")

    def test_bases_changed_while_the_class_is_read(self):
        class B:
            attr = "from B"

        class Other:
            attr = "from Other"

        class C(B):
            pass
        armed = [False]

        class Key:
            def __hash__(self):
                return hash("attr")

            def __eq__(self, other):
                if armed[0]:
                    armed[0] = False
                    C.__bases__ = (Other,)
                return False
        gc.get_referents(C.__dict__)[0][Key()] = None
        dep = pywatch.Dependent()
        armed[0] = True
        with self.assertRaises((pywatch.StaleError, ValueError)):
            dep.depends_on(C, "attr", "from B")
        self.assertEqual(C.attr, "from Other")


class KeysWhoseEqualityChanges(unittest.TestCase):
    def test_a_read_READONLY_refuses(self):
        """A key whose __eq__ changes its answer with no write changes what
        a lookup finds, and no watcher fires: the dependency is refused.
        (It used to be accepted, and stayed valid through the change.)"""
        equal = [False]

        class Key:
            def __hash__(self):
                return hash("foo")

            def __eq__(self, other):
                return equal[0] and other == "foo"
        g = {"__builtins__": {}}
        g[Key()] = "from Key"
        g["foo"] = "from foo"
        exec("def f():\n    return foo\n", g)
        dep = pywatch.Dependent()
        with self.assertRaisesRegex(ValueError, "no event"):
            dep.depends_on_global(g["f"], "foo")
        equal[0] = True
        self.assertEqual(g["f"](), "from Key")
        self.assertTrue(dep.valid)   # it depends on nothing


class ModuleClassesAndDescriptors(unittest.TestCase):
    def module(self, **class_ns):
        class Base(types.ModuleType):
            pass
        M = type("M", (Base,), class_ns)
        return M, M("m")

    def test_the_class_gains_getattr(self):
        M, mod = self.module()
        dep = pywatch.Dependent()
        dep.depends_on(mod, "y")
        M.__getattr__ = lambda self, name: 42
        # getattr(): 3.14's specialized LOAD_ATTR may read what it cached.
        self.assertEqual(getattr(mod, "y"), 42)
        self.assertFalse(dep.valid)

    def test_the_class_gains_getattribute(self):
        M, mod = self.module()
        mod.x = 1
        dep = pywatch.Dependent()
        dep.depends_on(mod, "x")
        M.__getattribute__ = lambda self, name: 99
        self.assertFalse(dep.valid)

    def test_an_absence_the_class_s_getattr_fills_is_refused(self):
        M, mod = self.module(__getattr__=lambda self, name: 42)
        with self.assertRaises(ValueError):
            pywatch.Dependent().depends_on(mod, "z")

    def test_a_descriptor_that_becomes_a_data_descriptor(self):
        class Descr:
            def __get__(self, obj, owner=None):
                return "from descriptor"
        M, mod = self.module(x=Descr())
        mod.__dict__["x"] = "from dict"
        dep = pywatch.Dependent()
        dep.depends_on(mod, "x")
        Descr.__set__ = lambda self, obj, value: None
        self.assertEqual(getattr(mod, "x"), "from descriptor")
        self.assertFalse(dep.valid)


class Metaclasses(unittest.TestCase):
    def test_an_mro_that_leaves_out_a_base_is_refused(self):
        class Meta(type):
            def mro(cls):
                return [cls, object] if cls.__name__ == "C" else \
                    type.mro(cls)

        class B:
            pass

        class C(B, metaclass=Meta):
            pass
        with self.assertRaises(ValueError):
            pywatch.Dependent().depends_on(C, "attr")

    def test_a_metaclass_swap_invalidates(self):
        class Meta(type):
            pass

        class Meta2(type):
            def mro(cls):
                return type.mro(cls)

        class E(Exception, metaclass=Meta):
            pass

        class A:
            pass

        class K(A, metaclass=Meta):
            pass
        deps = [pywatch.Dependent(), pywatch.Dependent()]
        deps[0].depends_on(E, "__init__")
        deps[1].depends_on(K, "x")
        E.__class__ = Meta2
        K.__class__ = Meta2
        self.assertEqual([d.valid for d in deps], [False, False])


class RawRegistryDeletes(unittest.TestCase):
    def test_a_class_missing_from_its_base_s_registry_is_refused(self):
        class B:
            attr = "from B"

        class C(B):
            pass
        registry = subclass_registry(C)
        saved = registry.pop(id(C))
        try:
            with self.assertRaises(ValueError):
                pywatch.Dependent().depends_on(C, "attr")
        finally:
            registry[id(C)] = saved


class UnstableKeys(unittest.TestCase):
    def test_a_refused_registration_keeps_no_key(self):
        d = {}
        key = "".join(["un", "stable"])
        d[key] = 0
        for i in range(9):
            dep = pywatch.Dependent()
            dep.depends_on(d, key)
            d[key] = i + 1
            dep.release()
        other = "".join(["un", "stable"])   # equal, another object
        before = sys.getrefcount(other)
        with self.assertRaises(ValueError):
            pywatch.Dependent().depends_on(d, other)
        pywatch.stats()   # libwatch drops what it let go
        self.assertEqual(sys.getrefcount(other), before)
        with self.assertRaises(ValueError):
            pywatch.Dependent().depends_on(d, other)


class FinalizeFromACallback(unittest.TestCase):
    def test_the_rest_of_the_batch_then_finalized(self):
        run_script(self, """
            import pywatch
            d = {"a": 1, "b": 2}
            got = []
            def first(dep, ev):
                got.append(("first", ev.kind))
                pywatch._finalize()
            a = pywatch.Dependent(first)
            a.depends_on(d, "a")
            b = pywatch.Dependent(lambda dep, ev: got.append(("b", ev.kind)))
            b.depends_on(d, "b")
            c = pywatch.Dependent(lambda dep, ev: got.append(("c", ev.kind)))
            c.depends_on(d, "zzz")
            d["a"] = 10; d["b"] = 20
            pywatch.flush()
            assert got == [("first", "modified"), ("b", "modified"),
                           ("c", "finalized")], got
            print("ok")
            """)


if __name__ == "__main__":
    unittest.main()
