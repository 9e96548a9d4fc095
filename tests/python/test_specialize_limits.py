"""What pywatch.specialize() does not guard, as READONLY.txt names it
(issue 23, "Specialization escapes through __code__"): while f is
specialized, f.__code__ is the fast code, and what is made from it runs
with no guard.  These tests assert the stale behaviour, so that whoever
closes the gap must update READONLY.txt with them."""
import builtins
import textwrap
import types
import unittest

import pywatch

SRC = '''
def f():
    return len("abc")
def fast():
    return 3
def my_len(obj):
    return 42
'''


class TestCodeEscapes(unittest.TestCase):

    def setUp(self):
        if not pywatch.enabled():
            self.skipTest("pywatch is switched off in this process")
        # The module's builtins are a copy (the module B): rebinding B.len is
        # what builtins.len = ... does to f's LOAD_GLOBAL.
        self.b = types.ModuleType("builtins")
        vars(self.b).update(vars(builtins))
        self.m = types.ModuleType("spec_limits")
        vars(self.m)["__builtins__"] = vars(self.b)
        exec(textwrap.dedent(SRC), vars(self.m))
        self.guard = pywatch.specialize(self.m.f, self.m.fast.__code__,
                                        globals=["len"])
        self.assertIs(self.m.f.__code__, self.m.fast.__code__)

    def test_guarded_without_the_escape(self):
        """The control: rebinding len gives f its own code back."""
        self.b.len = self.m.my_len
        self.assertEqual(self.m.f(), 42)
        self.assertFalse(self.guard.valid)

    def test_code_replace_keeps_the_fast_code(self):
        f = self.m.f
        # The user wins: the assigned code stays, and it is the fast code.
        f.__code__ = f.__code__.replace(co_name="renamed")
        self.assertIsNone(pywatch.get_specialized(f))
        self.b.len = self.m.my_len
        self.assertEqual(f(), 3)  # stale: len("abc") is 42 now

    def test_function_made_from_the_code_is_unguarded(self):
        f = self.m.f
        clone = types.FunctionType(f.__code__, f.__globals__)
        self.b.len = self.m.my_len
        self.assertEqual(f(), 42)   # f itself is deoptimized...
        self.assertEqual(clone(), 3)  # ...its clone is not: stale


if __name__ == "__main__":
    unittest.main()
