"""What pywatch makes of the differences between CPython 3.12, 3.13, 3.14
and 3.15 (READONLY.txt's version table): each rule on the version it
concerns, and the other behaviour on the others."""
import builtins
import os
import subprocess
import sys
import tempfile
import textwrap
import types
import unittest
import warnings

import pywatch
from pywatch import _freeze

from test_audit import ENV, NOTHING, PROGRAMS, AuditCase, write

V315 = sys.version_info >= (3, 15)


class WatcherIds(unittest.TestCase):
    def test_pywatch_freezing_and_the_audit_take_one_dict_watcher_id(self):
        """CPython leaves 8 dict watcher ids to extensions on 3.12, 6 on
        3.13 and 3.14, 5 on 3.15; everything pywatch does takes one.
        Counted with CPython's _testcapi, in a fresh interpreter."""
        left = {(3, 12): 8, (3, 13): 6, (3, 14): 6}.get(sys.version_info[:2],
                                                        5)
        script = textwrap.dedent("""
            import _testcapi, types, pywatch
            def free():
                ids = []
                while True:
                    try:
                        ids.append(_testcapi.add_dict_watcher(0))
                    except RuntimeError:
                        break
                for i in ids:
                    _testcapi.clear_dict_watcher(i)
                return len(ids)
            m = types.ModuleType("m")
            m.x = 1
            class C:
                y = 2
            pywatch.freeze(m)
            pywatch.freeze(C)
            dep = pywatch.Dependent()
            dep.depends_on(m, "x")
            pywatch._pywatch._audit_start((pywatch.__path__[0] + "/",), None)
            pywatch._pywatch._audit_watch(vars(m), "m")
            m.__dict__["x"] = 2
            print(free())
            pywatch._pywatch._audit_stop()
            """)
        proc = subprocess.run([sys.executable, "-W", "ignore", "-c", script],
                              env=ENV, cwd=tempfile.gettempdir(),
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.stdout.strip(), str(left - 1), proc.stderr)


class LazyImports(unittest.TestCase):
    """PEP 810 (3.15): a lazily imported name holds a lazy_import object
    until its first use, which rebinds it in the module dict."""

    def setUp(self):
        sys.path.insert(0, PROGRAMS)
        self.addCleanup(sys.path.remove, PROGRAMS)
        for name in ("lazy_mod", "lazy_target"):
            self.addCleanup(sys.modules.pop, name, None)

    @unittest.skipUnless(V315, "PEP 810 is 3.15's")
    def test_freeze_allows_the_resolution(self):
        import lazy_mod
        self.assertIs(type(vars(lazy_mod)["lazy_target"]),
                      types.LazyImportType)
        pywatch.freeze(lazy_mod)
        self.addCleanup(pywatch.thaw, lazy_mod)
        with warnings.catch_warnings():
            warnings.simplefilter("error", pywatch.FrozenWarning)
            self.assertEqual(lazy_mod.use(), 7)
            pywatch.flush()
            self.assertIs(vars(lazy_mod)["lazy_target"],
                          sys.modules["lazy_target"])
            self.assertFalse(pywatch.modified(lazy_mod))

    @unittest.skipUnless(V315, "PEP 810 is 3.15's")
    def test_a_dependent_on_the_placeholder_is_invalidated(self):
        import lazy_mod
        seen = []
        on_placeholder = pywatch.Dependent(lambda d, ev: seen.append(ev.kind))
        on_placeholder.depends_on(lazy_mod, "lazy_target")
        lazy_mod.use()
        self.assertFalse(on_placeholder.valid)
        pywatch.flush()
        self.assertEqual(seen, ["modified"])
        on_module = pywatch.Dependent()
        on_module.depends_on(lazy_mod, "lazy_target",
                             sys.modules["lazy_target"])
        lazy_mod.use()
        self.assertTrue(on_module.valid)

    @unittest.skipUnless(V315, "PEP 810 is 3.15's")
    def test_the_rule_is_shared_with_the_audit(self):
        import lazy_mod
        placeholder = vars(lazy_mod)["lazy_target"]
        self.assertIs(type(placeholder), types.LazyImportType)
        target = placeholder.resolve()
        allowed = _freeze.allowed_anyway
        self.assertEqual(allowed(lazy_mod, "lazy_target", target, True,
                                 placeholder), "lazy import resolved")
        # Only what it resolves to: anything else in its place is a write.
        for value in (None, 0, False, types.ModuleType("lazy_target")):
            self.assertEqual(allowed(lazy_mod, "lazy_target", value, True,
                                     placeholder), "")
        self.assertEqual(allowed(lazy_mod, "lazy_target", target, True), "")

    @unittest.skipUnless(V315, "PEP 810 is 3.15's")
    def test_judging_a_write_over_the_placeholder_imports_nothing(self):
        import lazy_mod
        pywatch.freeze(lazy_mod)
        self.addCleanup(pywatch.thaw, lazy_mod)
        with self.assertRaises(pywatch.FrozenError):
            lazy_mod.lazy_target = 5
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always", pywatch.FrozenWarning)
            vars(lazy_mod)["lazy_target"] = 6
            pywatch.flush()
        self.assertNotIn("lazy_target", sys.modules)

    @unittest.skipUnless(V315, "PEP 810 is 3.15's")
    def test_another_value_over_the_placeholder_is_reported(self):
        import lazy_mod
        pywatch.freeze(lazy_mod)
        self.addCleanup(pywatch.thaw, lazy_mod)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pywatch.FrozenWarning)
            vars(lazy_mod)["lazy_target"] = None
            pywatch.flush()
        self.assertEqual(len(caught), 1, caught)
        self.assertTrue(pywatch.modified(lazy_mod))
        with self.assertRaises(pywatch.FrozenError):
            lazy_mod.lazy_target = types.ModuleType("lazy_target")

    @unittest.skipIf(V315, "3.15 has lazy imports")
    def test_no_lazy_imports_before_3_15(self):
        with self.assertRaises(SyntaxError):
            compile("lazy import json\n", "<lazy>", "exec")
        self.assertFalse(hasattr(types, "LazyImportType"))


@unittest.skipUnless(V315, "PEP 810 is 3.15's")
class LazyImportAudit(AuditCase):
    def test_the_resolution_is_reported_as_allowed(self):
        proc, report = self.audit("prog_lazy.py",
                                  audit_args=("--include=lazy_*",))
        self.assertEqual(proc.stdout, "7\n")
        (ns,) = report["namespaces"]
        self.assertEqual(ns["name"], "lazy_mod")
        (w,) = ns["writes"]
        self.assertEqual(w, write("lazy_target", w["first_writer"],
                                  via="dict", modified=1,
                                  allowed="lazy import resolved"))
        self.assertEqual(report["verdict"],
                         dict(NOTHING, safe=["lazy_mod", "lazy_target"]))


    def test_another_value_over_the_placeholder_is_a_write(self):
        proc, report = self.audit("prog_lazy_overwrite.py",
                                  audit_args=("--include=lazy_*",))
        (ns,) = [n for n in report["namespaces"] if n["name"] == "lazy_mod"]
        (w,) = ns["writes"]
        self.assertEqual(w["name"], "lazy_target")
        self.assertIsNone(w["allowed_by_freeze"])


class FrozenDict(unittest.TestCase):
    """PEP 814 (3.15): a frozendict cannot change and cannot be watched; a
    dependency on it is checked once and never invalidates."""

    @unittest.skipUnless(V315, "PEP 814 is 3.15's")
    def test_a_dependency_is_checked_and_never_invalidates(self):
        fd = builtins.frozendict(a=1)
        edges = pywatch.stats()["edges"]  # other tests' dependents, alive
        dep = pywatch.Dependent()
        dep.depends_on(fd, "a")
        dep.depends_on(fd, "missing")
        dep.depends_on_namespace(fd)
        with self.assertRaises(pywatch.StaleError):
            dep.depends_on(fd, "a", 2)
        self.assertTrue(dep.valid)
        self.assertEqual(pywatch.stats()["edges"], edges)  # none of its own
        dep.release()

    @unittest.skipIf(V315, "3.15 has frozendict")
    def test_no_frozendict_before_3_15(self):
        self.assertFalse(hasattr(builtins, "frozendict"))
        with self.assertRaises(TypeError):
            pywatch.Dependent().depends_on(types.MappingProxyType({}), "a")


class ModuleTypeUntouched(unittest.TestCase):
    """ModuleType is a static type that every interpreter of the process
    shares: freezing never writes it, so its dict is as it was, and an
    interpreter made after a freeze has plain modules.  (On 3.12 the
    dict's keys differ between interpreters by CPython's own doing.)"""

    def test_a_later_subinterpreter_sees_modules_as_they_were(self):
        script = textwrap.dedent("""
            import sys, types
            import pywatch
            before = sorted(types.ModuleType.__dict__)
            pywatch.freeze(types.ModuleType("m"))
            assert sorted(types.ModuleType.__dict__) == before
            try:
                import _interpreters as interpreters
            except ImportError:
                import _xxsubinterpreters as interpreters
            code = ("import types\\n"
                    "m = types.ModuleType('n')\\n"
                    "m.x = 1\\n"
                    "assert m.x == 1\\n"
                    "assert type(m) is types.ModuleType\\n")
            i = interpreters.create()
            assert interpreters.run_string(i, code) is None, "it failed"
            interpreters.destroy(i)
            print("ok")
            """)
        # Away from the source tree, whose pywatch/ has no extension.
        proc = subprocess.run([sys.executable, "-c", script], env=ENV,
                              cwd=tempfile.gettempdir(), capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(proc.stdout, "ok\n", proc.stderr)


class ModuleSubclassesAfterASubinterpreter(unittest.TestCase):
    """Issue 24: on 3.12, once a subinterpreter had imported pywatch, a
    ModuleType subclass whose __setattr__ calls super().__setattr__ raised
    "can't apply this __setattr__" in the main interpreter, which had not
    imported it.  Such classes work, frozen or not, wherever pywatch was
    imported first."""

    def test_super_setattr_in_a_module_subclass(self):
        script = textwrap.dedent("""
            import types, _testcapi

            class S(types.ModuleType):
                def __setattr__(self, name, value):
                    super().__setattr__(name, value)

                def __delattr__(self, name):
                    super().__delattr__(name)
            assert _testcapi.run_in_subinterp("import pywatch") == 0
            m, frozen = S("m"), S("frozen")
            m.x = frozen.x = 1  # pywatch not imported here
            del m.x
            import pywatch
            m.y = 1
            del m.y
            pywatch.freeze(frozen)
            try:
                frozen.x = 2
            except pywatch.FrozenError:
                pass
            else:
                raise AssertionError("not frozen")
            with pywatch.patch(frozen, "x", 3):
                assert frozen.x == 3
            assert frozen.x == 1 and isinstance(frozen, S)
            print("ok")
            """)
        proc = subprocess.run([sys.executable, "-c", script], env=ENV,
                              cwd=tempfile.gettempdir(), capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(proc.stdout, "ok\n", proc.stderr)


if __name__ == "__main__":
    unittest.main()
