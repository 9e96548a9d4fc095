"""pywatch.Cell: what a read of one name gives now, kept by the writes.

peek() is the one load an optimizer does (watch_cell_value()); get() is
the slow path (watch_cell_get()).  A cell never gives a value the
namespace does not hold; after get(), it gives exactly what a plain lookup
gives, when that can be forwarded."""
import builtins
import gc
import types
import unittest
import weakref

import pywatch

NULL = object()


def module(**names):
    m = types.ModuleType("m")
    vars(m).update(names)
    return m


class GlobalCell(unittest.TestCase):
    def setUp(self):
        self.b = {"len": len, "x": "builtin x"}
        self.g = {"x": "global x"}
        self.cell = pywatch.global_cell(self.g, self.b, "x")

    def test_reads_the_global_first(self):
        self.assertEqual(self.cell.peek(NULL), "global x")

    def test_a_rebind_is_forwarded_by_the_write_itself(self):
        self.g["x"] = "new"
        self.assertEqual(self.cell.peek(NULL), "new")

    def test_a_deletion_falls_back_to_the_builtin(self):
        del self.g["x"]
        self.assertEqual(self.cell.peek(NULL), "builtin x")

    def test_a_builtins_write_under_a_global_changes_nothing(self):
        self.b["x"] = "other builtin"
        self.assertEqual(self.cell.peek(NULL), "global x")

    def test_an_add_is_confirmed_by_the_slow_path(self):
        cell = pywatch.global_cell(self.g, self.b, "len")
        self.assertIs(cell.peek(NULL), len)
        self.g["len"] = "shadow"
        # An add may still fail after CPython announces it: the cell
        # forgets the value and get() reads the dict again.
        self.assertIs(cell.peek(NULL), NULL)
        self.assertEqual(cell.get(NULL), "shadow")
        self.assertEqual(cell.peek(NULL), "shadow")
        del self.g["len"]
        self.assertIs(cell.peek(NULL), len)

    def test_an_absent_name_gives_the_default(self):
        cell = pywatch.global_cell(self.g, self.b, "nowhere")
        self.assertIs(cell.peek(NULL), NULL)
        self.assertIs(cell.get(NULL), NULL)
        self.assertIsNone(cell.get())

    def test_values_that_look_false_are_values(self):
        for value in (None, False, 0, "", (), NotImplemented, Ellipsis):
            with self.subTest(value=value):
                self.g["x"] = value
                self.assertIs(self.cell.peek(NULL), value)

    def test_clear(self):
        self.g.clear()
        self.assertIs(self.cell.get(NULL), "builtin x")

    def test_update_with_the_same_name(self):
        self.g.update(x="updated")
        self.assertEqual(self.cell.get(NULL), "updated")

    def test_a_dead_globals_dict_leaves_the_cell_dead(self):
        g = {"x": 1}
        cell = pywatch.global_cell(g, self.b, "x")
        del g
        gc.collect()
        self.assertIs(cell.peek(NULL), NULL)
        with self.assertRaisesRegex(ValueError, "dead"):
            cell.get()

    def test_a_function_s_globals(self):
        m = module(x=1)
        exec("def f():\n    return x\n", vars(m))
        f = m.f
        cell = pywatch.global_cell(f.__globals__, f.__builtins__, "x")
        m.x = 2
        self.assertEqual(cell.peek(NULL), f())


class AttrCell(unittest.TestCase):
    def test_a_class_attribute_along_the_mro(self):
        class A:
            v = "A"

        class B(A):
            pass
        cell = pywatch.attr_cell(B, "v")
        self.assertEqual(cell.peek(NULL), "A")
        B.v = "B"
        self.assertEqual(cell.get(NULL), "B")
        del B.v
        self.assertEqual(cell.get(NULL), "A")

    def test_the_value_is_unbound(self):
        class A:
            def method(self):
                pass
        self.assertIs(pywatch.attr_cell(A, "method").get(), A.method)

    def test_bases_assignment(self):
        class A:
            v = "A"

        class A2:
            v = "A2"

        class B(A):
            pass
        cell = pywatch.attr_cell(B, "v")
        B.__bases__ = (A2,)
        self.assertIs(cell.peek(NULL) in (NULL, "A2"), True)
        self.assertEqual(cell.get(NULL), "A2")

    def test_a_module_attribute(self):
        m = module(x=1)
        cell = pywatch.attr_cell(m, "x")
        self.assertEqual(cell.peek(NULL), 1)
        m.x = 2
        self.assertEqual(cell.get(NULL), 2)
        del m.x
        self.assertIs(cell.get(NULL), NULL)

    def test_a_module_s_class_property_is_not_forwarded(self):
        class M(types.ModuleType):
            @property
            def x(self):
                return "property"
        m = module(x="in the dict")
        m.__class__ = M
        cell = pywatch.attr_cell(m, "x")
        self.assertIs(cell.get(NULL), NULL)
        # getattr(), not m.x: CPython 3.14 and 3.15's specialized LOAD_ATTR
        # reads the module's dict past its class's property from the
        # second run of a site on (with no pywatch imported).
        self.assertEqual(getattr(m, "x"), "property")

    def test_a_class_that_keeps_its_own_cell_is_collected(self):
        class A:
            v = 1
        A.cell = pywatch.attr_cell(A, "v")
        ref = weakref.ref(A)
        del A
        gc.collect()
        self.assertIsNone(ref())


class Dependents(unittest.TestCase):
    def test_depend_is_invalidated_by_a_change_of_what_the_cell_reads(self):
        g = {"x": 1}
        cell = pywatch.global_cell(g, vars(builtins), "x")
        dep = pywatch.Dependent()
        cell.depend(dep)
        self.assertTrue(dep.valid)
        g["x"] = 2
        self.assertFalse(dep.valid)

    def test_depend_on_the_builtin_a_global_would_shadow(self):
        g = {}
        cell = pywatch.global_cell(g, vars(builtins), "len")
        dep = pywatch.Dependent()
        cell.depend(dep)
        g["len"] = "shadow"
        self.assertFalse(dep.valid)

    def test_depend_refuses_an_invalid_dependent(self):
        g, b = {"x": 1}, {}
        cell = pywatch.global_cell(g, b, "x")
        dep = pywatch.Dependent()
        dep.invalidate()
        with self.assertRaisesRegex(ValueError, "no longer valid"):
            cell.depend(dep)
        with self.assertRaises(TypeError):
            cell.depend(object())


class Arguments(unittest.TestCase):
    def test_bad_arguments_name_the_problem(self):
        with self.assertRaisesRegex(TypeError, "two dicts"):
            pywatch.global_cell(types.MappingProxyType({}), {}, "x")
        with self.assertRaisesRegex(TypeError, "must be a str"):
            pywatch.global_cell({}, {}, 1)
        with self.assertRaisesRegex(TypeError, "module or a class"):
            pywatch.attr_cell({}, "x")
        with self.assertRaisesRegex(TypeError, "must be a str"):
            pywatch.attr_cell(int, b"x")
        with self.assertRaises(TypeError):
            pywatch.Cell()

    def test_a_str_subclass_name_is_refused(self):
        class S(str):
            pass
        with self.assertRaises(TypeError):
            pywatch.global_cell({}, {}, S("x"))

    def test_close_is_idempotent_and_final(self):
        cell = pywatch.global_cell({"x": 1}, {}, "x")
        cell.close()
        cell.close()
        self.assertIn("closed", repr(cell))
        for call in (cell.peek, cell.get):
            with self.assertRaisesRegex(ValueError, "closed"):
                call()


if __name__ == "__main__":
    unittest.main()
