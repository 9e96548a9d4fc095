"""Freezing tracks every write, as it happens (issue 15): a write undone
before the next delivery, a value equal to the old one, a value whose
comparison raises; the bypasses CPython lets pywatch close (__class__
assignment, names that are not exact str, a fake submodule) and those it
cannot close but reports (__abstractmethods__)."""
import sys
import threading
import types
import unittest
import warnings

import pywatch


class Frozen(unittest.TestCase):
    def setUp(self):
        if not pywatch.enabled():
            self.skipTest("freezing is disabled in this process")
        self.mod = types.ModuleType("fzw_%d" % id(self))
        self.mod.x = 1
        self.mod.flag = False
        pywatch.freeze(self.mod)
        self.addCleanup(pywatch.thaw, self.mod)

    def warnings_of(self, write):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pywatch.FrozenWarning)
            write()
            pywatch.flush()
        return [str(w.message) for w in caught
                if issubclass(w.category, pywatch.FrozenWarning)]


class EveryWrite(Frozen):
    def test_a_write_undone_before_the_next_delivery(self):
        d = self.mod.__dict__

        def write():
            d["x"] = 2; d["x"] = 1  # noqa: E702 (no safe point between)
        self.assertEqual(len(self.warnings_of(write)), 1)
        self.assertTrue(pywatch.modified(self.mod))

    def test_a_thread_that_restores_what_it_wrote(self):
        g = self.mod.__dict__
        pywatch.thaw(self.mod)
        exec("def swap():\n"
             "    global x\n"
             "    saved = x\n"
             "    x = 'temporary'\n"
             "    x = saved\n", g)
        pywatch.freeze(self.mod)
        seen = self.warnings_of(lambda: (
            t := threading.Thread(target=g["swap"]), t.start(), t.join()))
        self.assertEqual(len(seen), 1, seen)

    def test_equal_but_another_object(self):
        seen = self.warnings_of(lambda: self.mod.__dict__.update(flag=0))
        self.assertEqual(len(seen), 1, seen)
        self.assertTrue(pywatch.modified(self.mod))

    def test_a_value_whose_comparison_raises(self):
        class Odd:
            def __eq__(self, other):
                raise RuntimeError("no comparison")
            __ne__ = __eq__
            __hash__ = object.__hash__
        d = self.mod.__dict__
        seen = self.warnings_of(lambda: (d.update(x=Odd()), d.update(x=Odd())))
        self.assertEqual(len(seen), 1, seen)
        self.assertTrue(pywatch.modified(self.mod))
        pywatch.thaw(self.mod)

    def test_an_allowed_name_costs_no_scan(self):
        # Many names, an allowed one written: nothing reported.
        big = types.ModuleType("fzw_big")
        for i in range(10000):
            setattr(big, "n%d" % i, i)
        big.counter = 0
        pywatch.freeze(big, allow=("counter",))
        self.addCleanup(pywatch.thaw, big)
        seen = self.warnings_of(lambda: [setattr(big, "counter", i)
                                         for i in range(100)])
        self.assertEqual(seen, [])
        self.assertFalse(pywatch.modified(big))


class NothingKeptAlive(unittest.TestCase):
    def test_a_base_the_class_leaves_can_die(self):
        import gc
        import weakref

        class B:
            pass

        class Other:
            pass

        class C(B):
            pass
        self.assertFalse(pywatch.modified(C))     # tracked from now on
        gone = weakref.ref(B)
        C.__bases__ = (Other,)
        del B
        gc.collect()      # before any delivery
        self.assertIsNone(gone())
        self.assertTrue(pywatch.modified(C))


class Bypasses(Frozen):
    def test_class_assignment_is_refused_whatever_the_path(self):
        class Sub(types.ModuleType):
            pass
        frozen_class = type(self.mod)
        with self.assertRaises(pywatch.FrozenError):
            self.mod.__class__ = Sub
        with self.assertRaises(pywatch.FrozenError):
            object.__dict__["__class__"].__set__(self.mod, Sub)
        self.assertIs(type(self.mod), frozen_class)

    def test_a_frozen_class_keeps_its_metaclass(self):
        class Meta(type):
            pass

        class Meta2(type):
            pass

        class C(metaclass=Meta):
            pass
        pywatch.freeze(C)
        self.addCleanup(pywatch.thaw, C)
        with self.assertRaises(pywatch.FrozenError):
            object.__dict__["__class__"].__set__(C, Meta2)
        self.assertIs(type(C), Meta)

    def test_a_str_subclass_name_is_refused(self):
        class Sly(str):
            def __hash__(self):
                return hash("x")

            def __eq__(self, other):
                return other == "x"
        with self.assertRaises(pywatch.FrozenError):
            setattr(self.mod, Sly("__warningregistry__"), 2)
        self.assertEqual(self.mod.x, 1)

    def test_a_module_named_like_a_submodule_is_not_one(self):
        pywatch.thaw(self.mod)
        self.mod.f = len
        pywatch.freeze(self.mod)

        class Callable(types.ModuleType):
            def __call__(self, *args):
                return "replaced"
        fake = Callable(self.mod.__name__ + ".f")
        with self.assertRaises(pywatch.FrozenError):
            self.mod.f = fake
        # The one the import system holds under that name is allowed, on
        # the package the import system holds under its own.
        sys.modules[fake.__name__] = fake
        self.addCleanup(sys.modules.pop, fake.__name__)
        with self.assertRaises(pywatch.FrozenError):
            self.mod.f = fake
        sys.modules[self.mod.__name__] = self.mod
        self.addCleanup(sys.modules.pop, self.mod.__name__)
        self.mod.f = fake
        self.assertIs(self.mod.f, fake)

    def test_abstractmethods_written_past_freezing_is_reported(self):
        class C:
            pass
        pywatch.freeze(C)
        self.addCleanup(pywatch.thaw, C)
        setter = type.__dict__["__abstractmethods__"].__set__
        seen = self.warnings_of(lambda: setter(C, frozenset(["m"])))
        self.assertEqual(len(seen), 1, seen)
        self.assertIn("__abstractmethods__", seen[0])
        self.assertTrue(pywatch.modified(C))


if __name__ == "__main__":
    unittest.main()
