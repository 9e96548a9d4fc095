"""pywatch.Cell against code nobody here wrote: inputs where a cell gives a
value that a plain read does not give, or a dependent registered through
a cell stays valid after what it assumed changed.

Every test here failed when it was written (branch adv3), but those of
ClassCellsReadTheMRO, which state the documented semantics the pass took
for staleness; each says what broke and the smallest program that
showed it."""
import subprocess
import sys
import tempfile
import textwrap
import types
import unittest

import pywatch

from test_audit import ENV

NULL = object()


def read(cell):
    """What an optimizer sees: peek(), and get() (the slow path)."""
    return cell.peek(NULL), cell.get(NULL)


class ClassCellsReadTheMRO(unittest.TestCase):
    """A cell on a class attribute gives what _PyType_Lookup gives, the
    semantics of watch_dep_on_attr(): the entry of the first class of the
    MRO that holds the name, unbound, which is what the class's instances
    find before binding.  That is not C.name, which type.__getattribute__
    answers from the metaclass first (a data descriptor there, or its own
    __getattribute__).  The adversarial pass read these as stale cells;
    they are the documented semantics, checked here so that they stay
    so."""

    def test_a_data_descriptor_added_to_the_metaclass(self):
        class Meta(type):
            pass

        class C(metaclass=Meta):
            f = "plain"
        cell = pywatch.attr_cell(C, "f")
        dep = pywatch.Dependent()
        cell.depend(dep)
        Meta.f = property(lambda cls: "meta")
        self.assertEqual(C.f, "meta")
        self.assertEqual(C().f, "plain")
        self.assertEqual(read(cell), ("plain", "plain"))
        self.assertTrue(dep.valid)

    def test_a_data_descriptor_of_the_metaclass_at_registration(self):
        class Meta(type):
            f = property(lambda cls: "meta")

        D = Meta("D", (), {"f": "plain"})
        cell = pywatch.attr_cell(D, "f")
        self.assertEqual(D.f, "meta")
        self.assertEqual(read(cell), ("plain", "plain"))

    def test_a_metaclass_swap(self):
        class Meta(type):
            pass

        class Meta2(type):
            f = property(lambda cls: "meta2")

        class C(metaclass=Meta):
            f = "plain"
        cell = pywatch.attr_cell(C, "f")
        C.__class__ = Meta2
        self.assertEqual(C.f, "meta2")
        self.assertEqual(read(cell), ("plain", "plain"))

    def test_a_metaclass_getattribute(self):
        class Meta(type):
            def __getattribute__(cls, n):
                return "meta" if n == "f" else type.__getattribute__(cls, n)

        class C(metaclass=Meta):
            f = "plain"
        cell = pywatch.attr_cell(C, "f")
        self.assertEqual(C.f, "meta")
        self.assertEqual(read(cell), ("plain", "plain"))

    def test_the_dict_and_the_class_of_a_plain_class(self):
        class C:
            pass
        self.assertIs(pywatch.attr_cell(C, "__dict__").get(NULL),
                      vars(C)["__dict__"])
        self.assertIs(pywatch.attr_cell(C, "__class__").get(NULL),
                      vars(object)["__class__"])


class ClosedByTheRead(unittest.TestCase):
    """A key of the name's hash whose __eq__ is Python code runs during
    get()'s read; it may close the cell.  get() then fails naming something
    else: the namespace's death, or a lookup libwatch cannot watch (which
    get() otherwise answers by reading)."""

    class Key:
        def __init__(self):
            self.then = None

        def __hash__(self):
            return hash("x")

        def __eq__(self, other):
            if self.then is not None:
                self.then()
            return False

    def assert_closed_or_read(self, cell, key):
        key.then = cell.close
        try:
            value = cell.get(NULL)
        except ValueError as e:
            self.assertIn("closed", str(e))
        else:
            self.assertEqual(value, 1)
        finally:
            key.then = None

    def test_a_global_cell(self):
        # k = Key(); g = {k: 0, "x": 1}; cell = pywatch.global_cell(g, {},
        # "x") (builtins kept alive); k.then = cell.close; cell.get()
        # raises ValueError("the cell of 'x' is dead: its namespace is
        # gone, or pywatch finalized"); both namespaces are alive.
        key = self.Key()
        g, b = {key: 0, "x": 1}, {}
        cell = pywatch.global_cell(g, b, "x")
        self.assert_closed_or_read(cell, key)

    def test_an_attribute_cell(self):
        # m = types.ModuleType("m"); vars(m)[k] = 0; m.x = 1
        # cell = pywatch.attr_cell(m, "x"); cell.get() gives 1 (it reads
        # at every get()); k.then = cell.close; cell.get() raises
        # ValueError("cannot watch 'x': this read can change with no event
        # that libwatch could hear"), which get() never raises otherwise.
        key = self.Key()
        m = types.ModuleType("m")
        vars(m)[key] = 0
        m.x = 1
        cell = pywatch.attr_cell(m, "x")
        self.assertEqual(cell.get(NULL), 1)
        self.assert_closed_or_read(cell, key)


class BytesWarningLookups(unittest.TestCase):
    """dict_lookup_is_pure() takes a bytes key and a str name of the same
    hash (hash(b"x") == hash("x")) to compare in C.  Under python -b they
    do not: bytes_richcompare() issues a BytesWarning, which runs the
    warnings machinery (filters, showwarning: Python code) and, under an
    "error" filter or -bb, makes the lookup raise.  So the answer of the
    lookup changes with no dict event, and the cell forwards a value that
    LOAD_GLOBAL does not give."""

    def run_b(self, script):
        proc = subprocess.run([sys.executable, "-b", "-c",
                               textwrap.dedent(script)],
                              env=ENV, cwd=tempfile.gettempdir(),
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return proc.stdout

    def test_a_bytes_key_of_the_name_s_hash_under_python_b(self):
        # python -b:
        #   g = {b"zz": 0}; g["zz"] = 1; b = {}
        #   cell = pywatch.global_cell(g, b, "zz")
        #   warnings.simplefilter("error", BytesWarning)
        #   eval("zz", g) raises BytesWarning; cell.peek() and cell.get()
        #   give 1.
        out = self.run_b("""
            import warnings, pywatch
            g = {b"zz": 0}
            b = {}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", BytesWarning)
                g["zz"] = 1
                cell = pywatch.global_cell(g, b, "zz")
            warnings.simplefilter("error", BytesWarning)
            try:
                print("read", eval("zz", g))
            except BytesWarning:
                print("read raises")
            for f in (cell.peek, cell.get):
                try:
                    print(f.__name__, f("NULL"))
                except BytesWarning:
                    print(f.__name__, "raises")
            """)
        # LOAD_GLOBAL raises; a cell that gives 1 gives what no read gives.
        self.assertEqual(out.splitlines()[0], "read raises")
        self.assertNotIn("peek 1", out.splitlines())

    def test_a_dependent_on_such_a_lookup_is_refused(self):
        # The warnings filter decides the lookup's answer: a dependent on
        # it should be refused (ValueError, as for any key compared by
        # Python code), not registered.
        out = self.run_b("""
            import warnings, pywatch
            g = {b"zz": 0}
            b = {}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", BytesWarning)
                g["zz"] = 1
                cell = pywatch.global_cell(g, b, "zz")
                dep = pywatch.Dependent()
                try:
                    cell.depend(dep)
                    print("registered", dep.valid)
                except ValueError:
                    print("refused")
            """)
        self.assertEqual(out.strip(), "refused")


if __name__ == "__main__":
    unittest.main()
