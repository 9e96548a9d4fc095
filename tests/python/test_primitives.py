"""The extension's private primitives, under freeze(), specialize() and the
audit, refuse bad arguments with an exception, never a crash: they are
reachable from Python like any function."""
import unittest

import pywatch
from pywatch import _pywatch as c


def f(a):
    return a


BAD_CALLS = [
    (c._raw_setattr, ()),
    (c._raw_setattr, (object(), 1)),
    (c._set_immutable, (int,)),
    (c._set_immutable, (1, True)),
    (c._set_immutable, (int, True)),
    (c._is_immutable, (1,)),
    (c._type_dict, (1,)),
    (c._check_fit, (1, f.__code__)),
    (c._check_fit, (f, 1)),
    (c._check_fit, (f,)),
    (c._specialize, (f, f, f.__code__)),
    (c._specialize, ()),
    (c._audit_watch, (1,)),
    (c._call_then, ()),
    (c._watch_module, (1,)),
    (c._watch_module, (int,)),
    (c._unwatch_module, (1, int)),
    (c._unwatch_module, (pywatch, 1)),
    (c._unwatch_module, ()),
]


class BadArgumentsTest(unittest.TestCase):
    def test_each_refuses(self):
        for fn, args in BAD_CALLS:
            with self.subTest(fn=fn.__name__, args=args):
                with self.assertRaises((TypeError, ValueError, RuntimeError)):
                    fn(*args)

    def test_specialize_primitive_checks_the_code_itself(self):
        # specialize() checks first; the primitive does not rely on it.
        dep = pywatch.Dependent()
        with self.assertRaisesRegex(ValueError, "argument counts differ"):
            c._specialize(dep, f, (lambda: 0).__code__)
        self.assertIsNone(pywatch.get_specialized(f))

    def test_specialize_primitive_refuses_an_invalid_dependent(self):
        dep = pywatch.Dependent()
        dep.invalidate()
        with self.assertRaisesRegex(ValueError, "already broke"):
            c._specialize(dep, f, (lambda a: 0).__code__)
        self.assertIsNone(pywatch.get_specialized(f))


if __name__ == "__main__":
    unittest.main()
