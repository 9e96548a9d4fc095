"""The audit predicts what freezing refuses (issue 23, item 3): stores of
the object already bound, instances that change class, and a tap that
runs no Python code however the audited dict's keys compare.

Each test writes its program into a fresh directory and runs it plainly
and through `python -m pywatch audit` (test_audit_runner's RunnerCase):
the same output both ways, and the report checked."""
import os
import sys
import unittest

from pywatch import _audit, _audit_report
from test_audit_runner import RunnerCase

# Every test here runs pywatch in child processes: refleak.py leaves them
# out.
IN_CHILDREN = True

V315 = sys.version_info >= (3, 15)

# A module holding a key K that hashes like "X" and whose __eq__ counts its
# calls: CPython calls it whenever a lookup of "X" meets K first (once, or
# twice when the probe sequence of the process's hash("X") meets K's slot
# twice), and clears the module's dict at the call after the first limit.
# On 3.15 it also holds an unresolved lazy import, so that the audit
# follows lazy imports in it.
COLLIDING = """
%s
calls = []
limit = None


class K:
    def __hash__(self):
        return hash("X")

    def __eq__(self, other):
        calls.append(other)
        if limit is not None and len(calls) > limit:
            globals().clear()
        return False


globals()[K()] = 0   # before X: a lookup of "X" meets K first
X = 1
""" % ("lazy import json" if V315 else "")


class TestNoCodeInTheTap(RunnerCase):
    """The audit reads no audited dict through its lookup inside the tap:
    an audited write calls a colliding key's __eq__ no more often than a
    plain one (3.15: the audit's lazy-import check used to look the key
    up)."""

    def test_colliding_key_eq_runs_as_often(self):
        self.files(m=COLLIDING, prog="""
            import m

            before = len(m.calls)
            m.__dict__.get("X")
            per_lookup = len(m.calls) - before
            before = len(m.calls)
            m.__dict__["X"] = 2
            m.X = 3
            setattr(m, "X", 4)
            print("more __eq__ calls than 3 lookups make:",
                  len(m.calls) - before - 3 * per_lookup)
            """)
        proc, report, data = self.same("prog.py",
                                       audit_args=["--include=m"])
        self.assertIn("make: 0\n", proc.stdout)
        self.assertReported(report, data)
        (ns,) = data["namespaces"]
        names = {w["name"]: w for w in ns["writes"]}
        self.assertEqual(names["X"]["modified"], 3)

    def test_eq_that_clears_the_dict(self):
        """The key's __eq__ clears the module's dict at the first call that
        the program's write does not make itself: a lookup inside the tap
        would make it, and clear a dict inside its watcher.  No crash, and
        the same output."""
        self.files(m=COLLIDING, prog="""
            import m

            d = m.__dict__
            before = len(m.calls)
            d.get("X")
            per_lookup = len(m.calls) - before
            m.limit = len(m.calls) + per_lookup
            d["X"] = 2
            print(sorted(k for k in d if isinstance(k, str)))
            """)
        proc, report, data = self.same("prog.py", audit_args=["--include=m"])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("'X'", proc.stdout)
        self.assertReported(report, data)


class TestStoredAgain(RunnerCase):
    """m.x = m.x fires no dict event, and freeze() refuses it: the audit
    counts it, as kind "same", through setattr."""

    def test_module_setattr_of_the_bound_object(self):
        self.files(m="x = 1\ny = 2\nz = 3\nw = 4\n", prog="""
            import m
            import pywatch

            m.x = m.x
            setattr(m, "y", m.y)
            m.__dict__["z"] = m.z     # direct: CPython changes nothing
            with pywatch.patch(m, "w", m.w):   # the sanctioned way
                pass
            print("done")
            """)
        _, report, data = self.same("prog.py", audit_args=["--include=m"])
        self.assertReported(report, data)
        (ns,) = data["namespaces"]
        writes = {w["name"]: w for w in ns["writes"]}
        self.assertEqual(set(writes), {"x", "y"})
        for name, line in (("x", 5), ("y", 6)):
            w = writes[name]
            self.assertEqual((w["same"], w["count"], w["via"]),
                             (1, 1, "setattr"), w)
            self.assertEqual(w["first_writer"]["line"], line)
        self.assertEqual(data["verdict"]["allow"], {"m": ["x", "y"]})
        self.assertNotIn("m", data["verdict"]["safe"])
        self.assertIn("  x     same", report)

    def test_submodule_stored_again_is_allowed(self):
        """A door of the policy still opens: the package's submodule."""
        self.files(pkg____init__="", pkg__sub="", prog="""
            import pkg.sub

            pkg.sub = pkg.sub
            """)
        _, report, data = self.same("prog.py", audit_args=["--include=pkg*"])
        (ns,) = data["namespaces"]
        (w,) = ns["writes"]
        self.assertEqual((w["name"], w["same"], w["allowed_by_freeze"]),
                         ("sub", 1, "submodule binding"))
        self.assertEqual(data["verdict"]["safe"], ["pkg", "pkg.sub"])


    def test_a_door_judges_each_write(self):
        """freeze() judges every write: a name whose last value would pass
        a door, written with another before, is no door's."""
        self.files(pkg____init__="", pkg__sub="", prog="""
            from unittest import mock
            import pkg.sub

            with mock.patch.object(pkg, "sub", ()):
                pass
            """)
        _, report, data = self.same("prog.py", audit_args=["--include=pkg*"])
        (ns,) = data["namespaces"]
        (w,) = ns["writes"]
        # The import system's binding, mock's patch and its restore.
        self.assertEqual((w["name"], w["count"], w["allowed_by_freeze"]),
                         ("sub", 3, None))
        self.assertNotIn("pkg", data["verdict"]["safe"])


CLASSES = """
class Flags:
    debug = False
class Base:
    x = 1
class Sub(Base):
    pass
class Other:
    pass
class Plain:
    y = 2
"""


class TestClassStoredAgain(RunnerCase):
    """C.x = C.x fires no dict event and no audit event, and a frozen class
    refuses it (TypeError): the audit's type watcher hears its
    PyType_Modified, with no name."""

    def audit_classes(self, prog):
        self.files(m=CLASSES, prog=prog)
        _, report, data = self.same("prog.py", audit_args=["--include=m"])
        self.assertReported(report, data)
        return report, data, {ns["name"]: {w["name"]: w for w in ns["writes"]}
                              for ns in data["namespaces"]}

    def test_stored_again(self):
        report, data, written = self.audit_classes("""
            import m
            m.Flags.debug = False    # as sphinx's C++ domain does
            m.Plain.y = 3
            """)
        self.assertEqual(set(written), {"m.Flags", "m.Plain"})
        (w,) = written["m.Flags"].values()
        self.assertEqual((w["name"], w["same"], w["count"], w["via"]),
                         (_audit.UNNAMED, 1, 1, "setattr"))
        self.assertEqual(w["first_writer"],
                         {"file": os.path.join(self.dir, "prog.py"),
                          "line": 3})
        # A write with a name is no unnamed one besides.
        self.assertEqual(list(written["m.Plain"]), ["y"])
        self.assertEqual(data["verdict"]["classes_written"],
                         {"m.Flags": [_audit.UNNAMED], "m.Plain": ["y"]})
        self.assertIn("    m.Flags: %s\n" % _audit.UNNAMED, report)

    def test_pywatch_patch_is_not_counted(self):
        """The sanctioned way, on a class as on a module, whatever it
        stores (the object already bound included)."""
        report, data, written = self.audit_classes("""
            import m
            import pywatch
            with pywatch.patch(m.Flags, "debug", m.Flags.debug):
                pass
            with pywatch.patch(m.Plain, "y", 5):
                pass
            """)
        self.assertEqual(written, {})

    def test_setattr_and_bases(self):
        """setattr(C, n, C.n), and __bases__ assignment, which writes no
        dict entry either."""
        report, data, written = self.audit_classes("""
            import m
            setattr(m.Plain, "y", m.Plain.y)
            m.Sub.__bases__ = (m.Other,)
            """)
        self.assertEqual(written["m.Plain"][_audit.UNNAMED]["same"], 1)
        self.assertEqual(written["m.Sub"][_audit.UNNAMED]["same"], 1)
        self.assertNotIn("m.Other", written)

    def test_a_base_written(self):
        """A write to a base tells its subclasses' watchers too: not their
        write.  On 3.12 the subclass is unwatched until the next audited
        event (its watcher cannot be armed again inside PyType_Modified):
        the verdict keeps it from classes=True all the same."""
        report, data, written = self.audit_classes("""
            import m
            m.Base.x = 2
            """)
        self.assertEqual(set(written), {"m.Base"})
        self.assertEqual(list(written["m.Base"]), ["x"])
        expected = {"m.Base": ["x"]}
        if sys.version_info < (3, 13):
            expected["m.Sub"] = [_audit_report.BLIND]
        self.assertEqual(data["verdict"]["classes_written"], expected)

    def test_a_base_stored_again(self):
        """After a base's store of its bound value, which no dict event
        settles, its subclass is armed again only at the next event:
        blind, on every version."""
        report, data, written = self.audit_classes("""
            import m
            m.Base.x = 2
            m.Base.x = m.Base.x
            """)
        self.assertEqual(set(written), {"m.Base"})
        self.assertEqual(written["m.Base"]["x"]["modified"], 1)
        self.assertEqual(written["m.Base"][_audit.UNNAMED]["same"], 1)
        self.assertEqual(written["m.Base"][_audit.UNNAMED]["first_writer"],
                         {"file": os.path.join(self.dir, "prog.py"),
                          "line": 4})
        self.assertEqual(data["verdict"]["classes_written"],
                         {"m.Base": [_audit.UNNAMED, "x"],
                          "m.Sub": [_audit_report.BLIND]})

    def test_a_base_written_then_the_subclass_stored_again(self):
        report, data, written = self.audit_classes("""
            import m
            m.Base.x = 2
            m.Sub.z = 0
            m.Sub.z = 0
            """)
        self.assertEqual(written["m.Sub"]["z"]["added"], 1)
        self.assertEqual(written["m.Base"]["x"]["modified"], 1)

    def test_untouched_classes_are_advised(self):
        _, data, written = self.audit_classes("import m\nm.Base()\n")
        self.assertEqual(data["namespaces"], [])
        self.assertEqual(data["verdict"]["classes_written"], {})
        self.assertEqual(data["verdict"]["safe"], ["m"])


class TestClassChanges(RunnerCase):
    """obj.__class__ = C, which CPython refuses when either class is
    frozen (freeze(m, classes=True)): the audit names the classes and never
    advises classes=True for their modules."""

    def test_instances_change_class(self):
        self.files(m="class Base: pass\nclass Special(Base): pass\n",
                   prog="""
            import m
            o = m.Base()
            o.__class__ = m.Special
            o.__class__ = m.Base
            for i in range(3):
                o.__class__ = m.Special
            """)
        _, report, data = self.same("prog.py", audit_args=["--include=m"])
        self.assertReported(report, data)
        prog = os.path.join(self.dir, "prog.py")
        # Assigning the class it has is refused on a frozen class too.
        self.assertEqual(data["class_changes"], [
            {"from": {"name": "m.Base", "module": "m"},
             "to": {"name": "m.Special", "module": "m"}, "count": 2,
             "first_writer": {"file": prog, "line": 4}},
            {"from": {"name": "m.Special", "module": "m"},
             "to": {"name": "m.Base", "module": "m"}, "count": 1,
             "first_writer": {"file": prog, "line": 5}},
            {"from": {"name": "m.Special", "module": "m"},
             "to": {"name": "m.Special", "module": "m"}, "count": 2,
             "first_writer": {"file": prog, "line": 7}}])
        there = "<instances change class: m.Base -> m.Special>"
        back = "<instances change class: m.Special -> m.Base>"
        same = "<instances change class: m.Special -> m.Special>"
        self.assertEqual(data["verdict"]["classes_written"],
                         {"m.Base": [there, back],
                          "m.Special": [there, back, same]})
        # m itself is safe to freeze, without classes=True.
        self.assertEqual(data["verdict"]["safe"], ["m"])
        self.assertTrue(report.startswith(
            "pywatch audit: 1 of 1 modules need attention\n"), report)
        self.assertIn("  written classes: freeze their module without "
                      "classes=True\n    m.Base: %s at prog.py:4, %s at "
                      "prog.py:5\n" % (there, back), report)

    def test_one_side_audited(self):
        """A class that is not audited (defined in a function) is named by
        its qualname; a change among unaudited classes is not reported."""
        self.files(m="class Base: pass\n", prog="""
            import m

            def local():
                class A: pass
                class B: pass
                return A, B

            A, B = local()
            a = A()
            a.__class__ = B       # neither audited: not reported
            a.__class__ = m.Base
            """)
        _, report, data = self.same("prog.py", audit_args=["--include=m"])
        (change,) = data["class_changes"]
        self.assertEqual((change["from"], change["to"]),
                         ({"name": "local.<locals>.B", "module": None},
                          {"name": "m.Base", "module": "m"}))
        self.assertEqual(
            data["verdict"]["classes_written"],
            {"m.Base": ["<instances change class: local.<locals>.B -> "
                        "m.Base>"]})

    def test_change_during_its_own_import(self):
        """Before its module has finished importing, a class is not
        tracked: freeze() cannot come earlier."""
        self.files(m="""
            class Base: pass
            class Special(Base): pass
            o = Base()
            o.__class__ = Special
            """, prog="import m\n")
        _, report, data = self.same("prog.py", audit_args=["--include=m"])
        self.assertEqual(data["class_changes"], [])
        self.assertEqual(data["verdict"]["classes_written"], {})


if __name__ == "__main__":
    unittest.main()
