"""pywatch.Dependent, Event, watch(), dict_version() and flush(), through the
public API.

Callbacks come at the next safe point of whichever thread of the
interpreter runs Python code first, which may be any call in the test
itself, or in flush(); tests that need to know which one either call
flush() and look at what the callbacks recorded, or mutate and flush within
one C call, where no safe point comes between."""
import builtins
import functools
import gc
import operator
import sys
import threading
import types
import unittest

import pywatch
from pywatch import _pywatch


def module(name="tmod", **attrs):
    mod = types.ModuleType(name)
    vars(mod).update(attrs)
    return mod


def settle():
    """Collects the garbage of earlier tests, and delivers the callbacks of
    watch() dependents whose namespace it freed, which let go of them."""
    gc.collect()
    pywatch.flush()
    gc.collect()


class Recorder:
    """A callback that records (dependent, event, what it read then)."""

    def __init__(self, read=lambda: None):
        self.calls = []
        self.read = read

    def __call__(self, dep, event):
        self.calls.append((dep, event, self.read()))

    @property
    def events(self):
        return [event for _, event, _ in self.calls]

    def kinds(self):
        return [event.kind for event in self.events]


class DependsOnTest(unittest.TestCase):
    def test_module_attribute(self):
        mod = module(x=1, y=2)
        rec = Recorder(lambda: mod.x)
        dep = pywatch.Dependent(rec)
        dep.depends_on(mod, "x")
        mod.y = 3
        pywatch.flush()
        self.assertTrue(dep.valid)
        self.assertEqual(rec.calls, [])
        mod.x = 10
        self.assertFalse(dep.valid)
        pywatch.flush()
        self.assertEqual(len(rec.calls), 1)
        called_dep, event, seen = rec.calls[0]
        self.assertIs(called_dep, dep)
        self.assertEqual(seen, 10)  # phase two sees the new value
        self.assertEqual(event.kind, "modified")
        self.assertEqual(event.name, "x")
        self.assertIs(event.namespace, vars(mod))

    def test_dict_key_any_hashable(self):
        ns = {("a", 1): "t", 7: "i"}
        rec = Recorder()
        dep = pywatch.Dependent(rec)
        dep.depends_on(ns, ("a", 1))
        dep.depends_on(ns, 7)
        ns[8] = "other"
        self.assertTrue(dep.valid)
        del ns[("a", 1)]
        self.assertFalse(dep.valid)
        pywatch.flush()
        self.assertEqual(rec.kinds(), ["deleted"])
        self.assertEqual(rec.events[0].name, ("a", 1))

    def test_class_attribute_through_mro(self):
        class Base:
            f = 1
            g = 2

        class Sub(Base):
            pass

        rec = Recorder(lambda: Sub.f)
        dep = pywatch.Dependent(rec)
        dep.depends_on(Sub, "f")
        Base.g = 20  # another name: precise per name
        Sub.h = 3
        self.assertTrue(dep.valid)
        Base.f = 10  # the base defines it
        self.assertFalse(dep.valid)
        pywatch.flush()
        self.assertEqual(rec.kinds(), ["modified"])
        self.assertEqual(rec.calls[0][2], 10)

    def test_class_attribute_shadowed_in_subclass(self):
        class Base:
            f = 1

        class Sub(Base):
            pass

        dep = pywatch.Dependent()
        dep.depends_on(Sub, "f")
        Sub.f = 2
        self.assertFalse(dep.valid)

    def test_class_attribute_absent(self):
        class Base:
            pass

        class Sub(Base):
            pass

        dep = pywatch.Dependent()
        dep.depends_on(Sub, "missing")
        Base.other = 1
        self.assertTrue(dep.valid)
        Base.missing = 1
        self.assertFalse(dep.valid)

    def test_stale_value(self):
        mod = module(x=1)
        dep = pywatch.Dependent()
        dep.depends_on(mod, "x", 1)
        with self.assertRaises(pywatch.StaleError) as cm:
            dep.depends_on(mod, "x", 2)
        self.assertIsInstance(cm.exception, ValueError)
        self.assertIn("'x'", str(cm.exception))
        self.assertIn("tmod", str(cm.exception))
        self.assertTrue(dep.valid)  # a failed registration changes nothing
        mod.x = 2
        self.assertFalse(dep.valid)

    def test_value_none_is_not_absence(self):
        ns = {}
        dep = pywatch.Dependent()
        with self.assertRaises(pywatch.StaleError):
            dep.depends_on(ns, "k", None)
        dep.depends_on(ns, "k")  # omitted: absence is assumed
        ns["other"] = None
        self.assertTrue(dep.valid)
        ns["k"] = None
        self.assertFalse(dep.valid)
        dep2 = pywatch.Dependent()
        dep2.depends_on(ns, "k", None)  # None is now the value
        del ns["k"]
        self.assertFalse(dep2.valid)

    def test_unstable_key(self):
        ns = {"k": 0}
        rec = Recorder()
        first = pywatch.Dependent(rec)
        first.depends_on(ns, "k")
        for i in range(1, 20):
            ns["k"] = i
        dep = pywatch.Dependent()
        with self.assertRaises(ValueError) as cm:
            dep.depends_on(ns, "k")
        self.assertIn("too often", str(cm.exception))
        self.assertTrue(dep.valid)


class GlobalTest(unittest.TestCase):
    def function(self, source="def f():\n    return len(x)\n",
                 builtins_ns=builtins):
        globs = {"__name__": "gmod", "__builtins__": builtins_ns}
        exec(source, globs)
        return globs["f"], globs

    def test_shadowing_a_builtin(self):
        f, globs = self.function()
        rec = Recorder()
        dep = pywatch.Dependent(rec)
        dep.depends_on_global(f, "len")
        globs["unrelated"] = 1
        self.assertTrue(dep.valid)
        globs["len"] = lambda obj: 0
        self.assertFalse(dep.valid)
        pywatch.flush()
        self.assertEqual(rec.kinds(), ["added"])
        self.assertIs(rec.events[0].namespace, globs)

    def test_replacing_the_builtin(self):
        # Private builtins: the real len would turn unstable when the suite
        # runs several times in one process (the leak check).
        own = dict(vars(builtins))
        f, _ = self.function(builtins_ns=own)
        dep = pywatch.Dependent()
        dep.depends_on_global(f, "len")
        own["len"] = lambda obj: 0
        self.assertFalse(dep.valid)

    def test_global_deleted_and_absent_name_added(self):
        f, globs = self.function()
        globs["x"] = [1]
        dep = pywatch.Dependent()
        dep.depends_on_global(f, "x")
        del globs["x"]
        self.assertFalse(dep.valid)
        absent = pywatch.Dependent()
        absent.depends_on_global(f, "not_defined_anywhere")
        globs["not_defined_anywhere"] = 1
        self.assertFalse(absent.valid)

    def test_bad_arguments(self):
        f, _ = self.function()
        dep = pywatch.Dependent()
        with self.assertRaisesRegex(TypeError, "function"):
            dep.depends_on_global(len, "len")
        with self.assertRaisesRegex(TypeError, "str"):
            dep.depends_on_global(f, 1)


class FunctionAndNamespaceTest(unittest.TestCase):
    def test_code_defaults_kwdefaults(self):
        def other():
            return 2

        for attr, value in (("__code__", other.__code__),
                            ("__defaults__", (5,)),
                            ("__kwdefaults__", {"b": 3})):
            with self.subTest(attr):
                def f(a=1, *, b=2):
                    return a

                rec = Recorder()
                dep = pywatch.Dependent(rec)
                dep.depends_on_function(f)
                f.__doc__ = "not an assumption"
                self.assertTrue(dep.valid)
                setattr(f, attr, value)
                self.assertFalse(dep.valid)
                pywatch.flush()
                self.assertEqual(rec.kinds(), [attr.strip("_")])
                self.assertIs(rec.events[0].namespace, f)

    def test_function_rejects_others(self):
        with self.assertRaisesRegex(TypeError, "builtin_function_or_method"):
            pywatch.Dependent().depends_on_function(len)

    def test_namespace_dict_module_class(self):
        class C:
            pass

        mod = module(x=1)
        ns = {"k": 1}
        deps = {}
        for target in (ns, mod, C):
            deps[id(target)] = dep = pywatch.Dependent()
            dep.depends_on_namespace(target)
        ns["new"] = 1
        mod.new = 1
        self.assertFalse(deps[id(ns)].valid)
        self.assertFalse(deps[id(mod)].valid)
        self.assertTrue(deps[id(C)].valid)
        C.new = 1
        self.assertFalse(deps[id(C)].valid)

    def test_namespace_rejects_others(self):
        with self.assertRaisesRegex(TypeError, "'int'"):
            pywatch.Dependent().depends_on_namespace(3)


class DeliveryTest(unittest.TestCase):
    def test_flush_returns_the_callbacks_it_called(self):
        # The writes and the flushes in one C call, with no bytecode, and so
        # no safe point, between them: flush() is the one that delivers.
        ns = {"a": 1, "b": 2}
        rec = Recorder()
        deps = [pywatch.watch(ns, name, rec) for name in ("a", "b")]
        silent = pywatch.Dependent()  # no callback: not counted
        silent.depends_on(ns, "a")
        result = {}

        def mutate_and_flush():
            _, result["flushed"], result["again"] = map(operator.call, [
                functools.partial(ns.update, a=10, b=20), pywatch.flush,
                pywatch.flush])
            result["thread"] = threading.current_thread()

        pywatch.flush()
        gc.disable()  # a collection could queue unrelated callbacks
        try:
            worker = threading.Thread(target=mutate_and_flush)
            worker.start()
            worker.join()
        finally:
            gc.enable()
        self.assertEqual(result["flushed"], 2)
        self.assertEqual(result["again"], 0)
        self.assertEqual(sorted(e.name for e in rec.events), ["a", "b"])
        self.assertFalse(any(dep.valid for dep in deps + [silent]))

    def test_delivered_by_itself_in_a_python_loop(self):
        mod = module(x=1)
        seen = []
        dep = pywatch.watch(mod, "x", lambda d, e: seen.append(mod.x))
        mod.x = 2
        for _ in range(10_000_000):
            if seen:
                break
        self.assertEqual(seen, [2])
        del dep

    def test_event_fields_and_repr(self):
        mod = module(x=1)
        rec = Recorder()
        dep = pywatch.watch(mod, "x", rec)
        located = pywatch.watch(mod, "x", rec)
        located.locate()
        line = sys._getframe().f_lineno + 1
        mod.x = 2
        pywatch.flush()
        plain, where = sorted(rec.events, key=lambda e: e.filename is None,
                              reverse=True)
        for event in (plain, where):
            self.assertEqual(event.kind, "modified")
            self.assertEqual(event.name, "x")
            self.assertIs(event.namespace, vars(mod))
        self.assertIsNone(plain.filename)
        self.assertEqual(plain.lineno, 0)
        self.assertEqual(where.filename, __file__)
        self.assertEqual(where.lineno, line)
        self.assertRegex(repr(plain),
                         r"^<pywatch\.Event modified 'x' in .*'tmod'>$")
        self.assertIn(":%d" % line, repr(where))
        with self.assertRaises(AttributeError):
            plain.kind = "other"
        with self.assertRaises(TypeError):
            type(plain)()
        del dep

    def test_event_kinds(self):
        ns = {"a": 1}
        rec = Recorder()
        dep_a = pywatch.watch(ns, "b", rec)
        ns["b"] = 1
        dep_d = pywatch.watch(ns, "a", rec)
        del ns["a"]
        dep_c = pywatch.Dependent(rec)
        dep_c.depends_on_namespace(ns)
        ns.clear()
        pywatch.flush()
        self.assertEqual(sorted(rec.kinds()), ["added", "cleared", "deleted"])
        del dep_a, dep_d, dep_c

    def test_raising_callback_goes_to_unraisablehook(self):
        mod = module(x=1)
        reports = []

        def callback(dep, event):
            raise KeyError("from the callback")

        dep = pywatch.watch(mod, "x", callback)
        errors = _pywatch.counters()["callback_errors"]
        old_hook = sys.unraisablehook
        sys.unraisablehook = reports.append
        try:
            mod.x = 2
            pywatch.flush()  # does not raise
        finally:
            sys.unraisablehook = old_hook
        self.assertEqual(len(reports), 1)
        self.assertIs(type(reports[0].exc_value), KeyError)
        self.assertIn("'x'", reports[0].err_msg)
        self.assertIn("tmod", reports[0].err_msg)
        self.assertEqual(_pywatch.counters()["callback_errors"], errors + 1)
        # A report's traceback leads back to this frame, and the GC does not
        # track reports: keeping it would leak this test's objects.
        reports.clear()
        del dep

    def test_callback_may_release_its_dependent(self):
        ns = {"k": 1}
        calls = []

        def callback(dep, event):
            calls.append(event.kind)
            dep.release()

        dep = pywatch.watch(ns, "k", callback)
        ns["k"] = 2
        pywatch.flush()
        self.assertEqual(calls, ["modified"])
        self.assertFalse(dep.valid)
        self.assertIn("released", repr(dep))


class LifetimeTest(unittest.TestCase):
    def test_invalidate(self):
        ns = {"k": 1}
        rec = Recorder()
        dep = pywatch.Dependent(rec)
        dep.depends_on(ns, "k")
        self.assertTrue(dep.valid)
        dep.invalidate()  # delivered at once
        self.assertEqual(len(rec.calls), 1)
        event = rec.events[0]
        self.assertEqual(event.kind, "manual")
        self.assertIsNone(event.namespace)
        self.assertIsNone(event.name)
        dep.invalidate()
        self.assertEqual(len(rec.calls), 1)
        self.assertFalse(dep.valid)
        with self.assertRaisesRegex(ValueError, "no longer valid"):
            dep.depends_on({}, "k")

    def test_release(self):
        ns = {"k": 1}
        rec = Recorder()
        dep = pywatch.watch(ns, "k", rec)
        dep.release()
        self.assertFalse(dep.valid)
        dep.release()
        dep.invalidate()
        ns["k"] = 2
        pywatch.flush()
        self.assertEqual(rec.calls, [])
        for call in (lambda: dep.depends_on(ns, "k"),
                     lambda: dep.depends_on_namespace(ns),
                     lambda: dep.depends_on_function(module),
                     lambda: dep.locate()):
            with self.assertRaisesRegex(ValueError, "released"):
                call()

    def test_garbage_collected_dependent_releases(self):
        ns = {"k": 1}
        rec = Recorder()
        settle()
        before = _pywatch.counters()

        def make_cycle():
            holder = []
            dep = pywatch.Dependent(lambda d, e: rec(d, e) or holder)
            holder.append(dep)
            dep.depends_on(ns, "k")
            dep.depends_on_namespace(ns)

        make_cycle()
        during = _pywatch.counters()
        self.assertEqual(during["dependents"], before["dependents"] + 1)
        self.assertEqual(during["edges"], before["edges"] + 2)
        gc.collect()
        after = _pywatch.counters()
        self.assertEqual(after["dependents"], before["dependents"])
        self.assertEqual(after["edges"], before["edges"])
        ns["k"] = 2
        pywatch.flush()
        self.assertEqual(rec.calls, [])

    def test_dropped_dependent_releases(self):
        ns = {"k": 1}
        before = _pywatch.counters()["dependents"]
        dep = pywatch.Dependent(Recorder())
        dep.depends_on(ns, "k")
        self.assertEqual(_pywatch.counters()["dependents"], before + 1)
        del dep
        self.assertEqual(_pywatch.counters()["dependents"], before)

    def test_dropped_watch_still_fires(self):
        """watch() keeps its Dependent alive, as weakref.finalize does,
        until the callback has run; then it goes."""
        ns = {"k": 1}
        rec = Recorder()
        settle()
        before = _pywatch.counters()["dependents"]
        pywatch.watch(ns, "k", rec)
        gc.collect()
        self.assertEqual(_pywatch.counters()["dependents"], before + 1)
        ns["k"] = 2
        pywatch.flush()
        self.assertEqual([(e.kind, e.name) for e in rec.events],
                         [("modified", "k")])
        rec.calls.clear()  # they hold the dependent
        gc.collect()
        self.assertEqual(_pywatch.counters()["dependents"], before)

    def test_released_watch_goes(self):
        ns = {"k": 1}
        rec = Recorder()
        settle()
        before = _pywatch.counters()["dependents"]
        pywatch.watch(ns, "k", rec).release()
        gc.collect()
        self.assertEqual(_pywatch.counters()["dependents"], before)
        ns["k"] = 2
        pywatch.flush()
        self.assertEqual(rec.calls, [])

    def test_watch_needs_a_callback(self):
        with self.assertRaisesRegex(TypeError, "callable"):
            pywatch.watch({"k": 1}, "k", None)

    def test_counters(self):
        counters = _pywatch.counters()
        self.assertEqual(set(counters), {
            "events", "misses", "invalidations", "dependents", "edges",
            "namespaces", "keys", "bytes", "callback_errors", "taps",
            "tap_namespaces", "tap_events", "tap_bytes",
            "tap_callback_errors"})
        self.assertTrue(all(isinstance(v, int) for v in counters.values()))

    def test_an_invalidation_outside_the_watchers_is_no_miss(self):
        # A __class__ or __bases__ assignment reaches libwatch through an
        # audit hook, not a watcher; its invalidation is still a hit with
        # its event, so misses (events less hits) does not fall, let alone
        # wrap around below zero.
        def module_class(mod, cls):
            mod.__class__ = type("Sub", (types.ModuleType,), {})

        def class_class(mod, cls):
            cls.__class__ = type("Meta2", (type,), {})

        def class_bases(mod, cls):
            cls.__bases__ = (type("Other", (), {}),)

        for change in (module_class, class_class, class_bases):
            with self.subTest(change.__name__):
                mod = module(x=1)
                cls = type("Meta", (type,), {})(
                    "C", (type("Base", (), {}),), {"x": 1})
                on = mod if change is module_class else cls
                dep = pywatch.watch(on, "x", Recorder(lambda: None))
                before = _pywatch.counters()
                change(mod, cls)
                after = _pywatch.counters()
                self.assertFalse(dep.valid)
                self.assertEqual(after["invalidations"],
                                 before["invalidations"] + 1)
                events = after["events"] - before["events"]
                misses = after["misses"] - before["misses"]
                self.assertGreaterEqual(misses, 0)
                self.assertEqual(events - misses, 1)  # one hit


class WatchAndVersionTest(unittest.TestCase):
    def test_watch(self):
        mod = module(x=1)
        rec = Recorder(lambda: mod.missing)
        dep = pywatch.watch(mod, "missing", rec)
        self.assertIsInstance(dep, pywatch.Dependent)
        self.assertTrue(dep.valid)
        mod.missing = "here"
        pywatch.flush()
        self.assertEqual([seen for _, _, seen in rec.calls], ["here"])
        self.assertEqual(rec.kinds(), ["added"])

    def test_watch_bad_arguments(self):
        with self.assertRaisesRegex(TypeError, "callable"):
            pywatch.watch({}, "k", 1)
        with self.assertRaisesRegex(TypeError, "'int'"):
            pywatch.watch(1, "k", print)

    def test_dict_version(self):
        class C:
            pass

        for target, change in ((module(), lambda m: setattr(m, "x", 1)),
                               ({}, lambda d: d.update(x=1)),
                               (C, lambda c: setattr(c, "x", 1))):
            first = pywatch.dict_version(target)
            self.assertIsInstance(first, int)
            self.assertEqual(pywatch.dict_version(target), first)
            change(target)
            self.assertNotEqual(pywatch.dict_version(target), first)
        with self.assertRaisesRegex(TypeError, "'int'"):
            pywatch.dict_version(3)


class BadInputTest(unittest.TestCase):
    def test_messages(self):
        class C:
            pass

        dep = pywatch.Dependent()
        with self.assertRaisesRegex(TypeError, "must be str, not 'int'"):
            dep.depends_on(module(), 1)
        with self.assertRaisesRegex(TypeError, "must be str, not 'bytes'"):
            dep.depends_on(C, b"x")
        with self.assertRaisesRegex(TypeError, "unhashable"):
            dep.depends_on({}, [])
        with self.assertRaisesRegex(TypeError, "not 'int'"):
            dep.depends_on(42, "x")
        with self.assertRaisesRegex(TypeError, "callable"):
            pywatch.Dependent("not callable")
        self.assertTrue(dep.valid)

    def test_str_subclass_name(self):
        class Name(str):
            pass

        mod = module(x=1)
        dep = pywatch.Dependent()
        dep.depends_on(mod, Name("x"))
        mod.x = 2
        self.assertFalse(dep.valid)


if __name__ == "__main__":
    unittest.main()
