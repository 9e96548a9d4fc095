"""Freezing's Python API without traps (issue 17, points 1 and 3):
enable() as disable()'s counterpart, is_frozen() in test mode, patch()
like mock.patch, allow= names not held pointed out, FrozenError naming its
target."""
import asyncio
import subprocess
import sys
import tempfile
import textwrap
import types
import unittest

import pywatch
from test_freeze import FreezeCase


class TestPatchLikeMock(FreezeCase):

    def test_missing_name_is_attributeerror(self):
        pywatch.freeze(self.mod)
        with self.assertRaises(AttributeError) as cm:
            with pywatch.patch(self.mod, "NOPE", 1):
                self.fail("patched a missing name")
        self.assertIn("NOPE", str(cm.exception))
        self.assertIn("create=True", str(cm.exception))
        self.assertEqual(cm.exception.name, "NOPE")
        self.assertIs(cm.exception.obj, self.mod)
        self.assertNotIn("NOPE", vars(self.mod))

    def test_create(self):
        with pywatch.patch(self.mod, "NOPE", 1, create=True):
            self.assertEqual(self.mod.NOPE, 1)
        self.assertNotIn("NOPE", vars(self.mod))

    def test_inherited_class_attribute_needs_no_create(self):
        class Base:
            a = 1

        class Sub(Base):
            pass
        with pywatch.patch(Sub, "a", 2):
            self.assertEqual((Sub.a, Base.a), (2, 1))
        self.assertNotIn("a", vars(Sub))

    def test_decorator(self):
        pywatch.freeze(self.mod)

        @pywatch.patch(self.mod, "x", 5)
        def read(depth):
            # Nested and recursive calls each patch afresh.
            return [self.mod.x] + (read(depth - 1) if depth else [])
        self.assertEqual(read.__name__, "read")
        self.assertEqual(read(2), [5, 5, 5])
        self.assertEqual(self.mod.x, 1)
        with self.assertRaises(pywatch.FrozenError):
            self.mod.x = 2

    def test_decorator_restores_on_exception(self):
        @pywatch.patch(self.mod, "x", 5)
        def boom():
            raise KeyError(self.mod.x)
        with self.assertRaises(KeyError) as cm:
            boom()
        self.assertEqual(cm.exception.args, (5,))
        self.assertEqual(self.mod.x, 1)

    def test_decorator_on_a_coroutine_function(self):
        @pywatch.patch(self.mod, "x", 5)
        async def read():
            await asyncio.sleep(0)
            return self.mod.x
        self.assertEqual(asyncio.run(read()), 5)
        self.assertEqual(self.mod.x, 1)

    def test_decorator_needs_a_function(self):
        for what in (42, unittest.TestCase):
            with self.assertRaisesRegex(TypeError, "decorates a function"):
                pywatch.patch(self.mod, "x", 5)(what)


class TestAllowNamesNotHeld(FreezeCase):
    """allow= may name what the module does not hold yet; such a name is
    pointed out when a write is refused, as a likely misspelling."""

    def test_added_later(self):
        pywatch.freeze(self.mod, allow=("added_later",))
        self.mod.added_later = 1
        self.assertEqual(self.caught(lambda: vars(self.mod).update(
            added_later=2)), [])

    def test_pointed_out_in_a_refusal(self):
        pywatch.freeze(self.mod, allow=("cahce", "x"))
        with self.assertRaises(pywatch.FrozenError) as cm:
            self.mod.cache = 1
        self.assertIn("'cahce'", str(cm.exception))
        self.assertIn("misspelt", str(cm.exception))

    def test_pointed_out_in_a_warning(self):
        pywatch.freeze(self.mod, allow=("cahce",))
        (w,) = self.caught(self.mod.fill_cache)
        self.assertIn("'cahce'", str(w.message))

    def test_not_when_every_name_is_held(self):
        pywatch.freeze(self.mod, allow=("x", "__warningregistry__"))
        with self.assertRaises(pywatch.FrozenError) as cm:
            self.mod.cache = 1
        self.assertNotIn("misspelt", str(cm.exception))


class TestFrozenErrorNamesItsTarget(FreezeCase):

    def test_setattr_and_delattr(self):
        pywatch.freeze(self.mod)
        for write in (lambda: setattr(self.mod, "x", 2),
                      lambda: delattr(self.mod, "x")):
            with self.assertRaises(pywatch.FrozenError) as cm:
                write()
            self.assertIs(cm.exception.obj, self.mod)
            self.assertEqual(cm.exception.name, "x")

    def test_class_swap(self):
        pywatch.freeze(self.mod)

        class Sub(types.ModuleType):
            pass
        with self.assertRaises(pywatch.FrozenError) as cm:
            self.mod.__class__ = Sub
        self.assertIs(cm.exception.obj, self.mod)
        self.assertEqual(cm.exception.name, "__class__")


class TestTestMode(unittest.TestCase):
    """disable() and enable(), in a process of their own: the switch is
    process-wide."""

    def run_script(self, text):
        from test_audit import ENV  # pywatch's path, made absolute
        proc = subprocess.run([sys.executable, "-c", textwrap.dedent(text)],
                              env=ENV, cwd=tempfile.gettempdir(),
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        return proc.stdout

    def test_enable_applies_what_was_asked_while_disabled(self):
        out = self.run_script('''
            import types, pywatch
            m = types.ModuleType("m"); m.x = 1; m.keep = 1
            class C: a = 1
            m.C = C; C.__module__ = "m"
            pywatch.disable()
            pywatch.freeze(m, allow=("keep",), classes=True)
            print("disabled", pywatch.is_frozen(m), pywatch.is_frozen(C))
            m.x = 2; C.a = 2          # not in force
            pywatch.enable()
            print("enabled", pywatch.enabled())
            for write in (lambda: setattr(m, "x", 3),
                          lambda: setattr(C, "a", 3)):
                try:
                    write()
                except (pywatch.FrozenError, TypeError) as e:
                    print("refused", type(e).__name__)
            m.keep = 2                # allow= was remembered too
            pywatch.disable()
            m.x = 4; C.a = 4
            pywatch.thaw(m)           # forgets m and its classes
            pywatch.enable()
            m.x = 5; C.a = 5
            print("thawed", pywatch.is_frozen(m), pywatch.is_frozen(C), m.x)
            ''')
        self.assertEqual(out.splitlines(), [
            "disabled True True", "enabled True", "refused FrozenError",
            "refused TypeError", "thawed False False 5"])

    def test_disable_then_enable_restores(self):
        out = self.run_script('''
            import types, pywatch
            m = types.ModuleType("m"); m.x = 1
            pywatch.freeze(m)
            pywatch.disable()
            m.x = 2
            pywatch.enable()
            try:
                m.x = 3
            except pywatch.FrozenError:
                print("frozen again", m.x)
            ''')
        self.assertEqual(out.splitlines(), ["frozen again 2"])


if __name__ == "__main__":
    unittest.main()
