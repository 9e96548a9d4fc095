"""What pywatch says when something goes wrong: a callback's exception, as
sys.unraisablehook sees it for each kind of event, registrations that
cannot be made, and a bad attribute name on a frozen module."""
import gc
import sys
import types
import unittest

import pywatch


class Unraisable:
    """Captures sys.unraisablehook's reports as (exception type, message).
    Only strings are kept: a report holds the traceback, whose frames may
    refer back to the report (a cycle that no collection frees)."""

    def __enter__(self):
        self.reports = []
        self.old = sys.unraisablehook
        sys.unraisablehook = self.hook
        return self.reports

    def hook(self, report):
        self.reports.append((report.exc_type, report.err_msg))

    def __exit__(self, *exc):
        sys.unraisablehook = self.old
        return False


def boom(dep, event):
    raise KeyError("from the callback")


class CallbackErrorTest(unittest.TestCase):
    def deliver(self, dep, change):
        with Unraisable() as reports:
            change()
            pywatch.flush()
        self.assertFalse(dep.valid)
        self.assertEqual(len(reports), 1, reports)
        self.assertIs(reports[0][0], KeyError)
        return reports[0][1]

    def test_whole_namespace_event_names_the_dict_and_the_kind(self):
        ns = {"a": 1}
        dep = pywatch.Dependent(boom)
        dep.depends_on_namespace(ns)
        msg = self.deliver(dep, ns.clear)
        self.assertIn("the dict at", msg)
        self.assertIn("(cleared)", msg)

    def test_function_event_names_the_function_and_the_kind(self):
        def f():
            pass
        dep = pywatch.Dependent(boom)
        dep.depends_on_function(f)

        def change():
            f.__defaults__ = (1,)
        msg = self.deliver(dep, change)
        self.assertIn(repr(f), msg)
        self.assertIn("(defaults)", msg)

    def test_namespace_gone_by_delivery(self):
        ns = {"k": 1}
        dep = pywatch.Dependent(boom)
        dep.depends_on(ns, "k")

        def change():
            nonlocal ns
            del ns
            gc.collect()
        msg = self.deliver(dep, change)
        self.assertIn("no longer exists", msg)
        self.assertIn("(deallocated)", msg)

    def test_counted_as_callback_errors(self):
        before = pywatch.stats()["callback_errors"]
        ns = {"k": 1}
        dep = pywatch.Dependent(boom)
        dep.depends_on(ns, "k")

        def change():
            ns["k"] = 2
        self.deliver(dep, change)
        self.assertEqual(pywatch.stats()["callback_errors"], before + 1)


class RegistrationErrorTest(unittest.TestCase):
    def test_builtin_based_class_with_a_custom_mro_is_refused(self):
        class CustomMro(type):
            def mro(cls):
                return super().mro()

        class E(Exception, metaclass=CustomMro):
            pass
        dep = pywatch.Dependent()
        with self.assertRaises(ValueError) as cm:
            dep.depends_on(E, "__str__")
        self.assertIn("'__str__'", str(cm.exception))
        self.assertIn(E.__qualname__, str(cm.exception))
        self.assertTrue(dep.valid)

    def test_version_of_something_else_than_a_namespace(self):
        with self.assertRaises(TypeError) as cm:
            pywatch.dict_version(42)
        self.assertIn("'int'", str(cm.exception))


    @unittest.skipUnless(pywatch.enabled(), "freezing is disabled")
    def test_non_str_name_on_a_frozen_module(self):
        # Through the slot itself: setattr() would refuse the name first.
        mod = types.ModuleType("frozen_for_a_bad_name")
        pywatch.freeze(mod)
        self.addCleanup(pywatch.thaw, mod)
        with self.assertRaises(TypeError) as cm:
            types.ModuleType.__setattr__(mod, 1, 2)
        self.assertNotIsInstance(cm.exception, pywatch.FrozenError)
        self.assertEqual(vars(mod).get(1), None)


if __name__ == "__main__":
    unittest.main()
