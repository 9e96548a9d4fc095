"""Freezing a module whose type is a ModuleType subclass (as lazy-loading
and deprecation shims make them): it is blocked like a plain module, even
if the class was made before pywatch was imported, and other instances of
the same class stay writable."""
import os
import subprocess
import sys
import textwrap
import types
import unittest

import pywatch


class Shim(types.ModuleType):
    pass


class Doubling(types.ModuleType):
    """A subclass with its own __setattr__."""

    def __setattr__(self, name, value):
        super().__setattr__(name, value * 2)


@unittest.skipUnless(pywatch.enabled(), "freezing is disabled in this process")
class ModuleSubclassTest(unittest.TestCase):
    def frozen(self, cls, name):
        mod = cls(name)
        mod.x = 1
        pywatch.freeze(mod)
        self.addCleanup(pywatch.thaw, mod)
        return mod

    def test_writes_are_blocked(self):
        mod = self.frozen(Shim, "shim_a")
        with self.assertRaises(pywatch.FrozenError):
            mod.x = 2
        with self.assertRaises(pywatch.FrozenError):
            del mod.x
        with self.assertRaises(pywatch.FrozenError):
            setattr(mod, "y", 1)
        self.assertEqual(mod.x, 1)
        self.assertFalse(hasattr(mod, "y"))

    def test_other_instances_stay_writable(self):
        self.frozen(Shim, "shim_b")
        other = Shim("shim_c")
        other.x = 5
        del other.x
        self.assertFalse(hasattr(other, "x"))

    def test_patch_and_thaw(self):
        mod = self.frozen(Shim, "shim_d")
        with pywatch.patch(mod, "x", 9):
            self.assertEqual(mod.x, 9)
        self.assertEqual(mod.x, 1)
        pywatch.thaw(mod)
        mod.x = 3
        self.assertEqual(mod.x, 3)

    def test_own_setattr_is_blocked_too(self):
        mod = Doubling("doubling")
        mod.x = 1
        self.assertEqual(mod.x, 2)
        pywatch.freeze(mod)
        self.addCleanup(pywatch.thaw, mod)
        with self.assertRaises(pywatch.FrozenError):
            mod.x = 2
        self.assertEqual(mod.x, 2)

    def test_allowed_writes_go_through_the_class_s_own_setattr(self):
        mod = Doubling("doubling_allowed")
        pywatch.freeze(mod, allow=("y",))
        self.addCleanup(pywatch.thaw, mod)
        mod.y = 2                      # the class's own write: doubled
        self.assertEqual(mod.y, 4)
        del mod.y
        self.assertFalse(hasattr(mod, "y"))
        with self.assertRaises(AttributeError):
            del mod.y                  # the class's own refusal, not ours

    def test_class_made_before_pywatch_was_imported(self):
        # A class copies ModuleType's setattr slot when it is made: this
        # one copied the original, before pywatch hooked it.  -P: the
        # current directory may hold pywatch's sources, not the build.
        program = textwrap.dedent("""
            import types
            class Early(types.ModuleType):
                pass
            import pywatch
            mod = Early("early")
            mod.x = 1
            pywatch.freeze(mod)
            try:
                mod.x = 2
            except pywatch.FrozenError:
                print("blocked", mod.x)
            other = Early("other")
            other.x = 3
            print("other", other.x)
            """)
        env = dict(os.environ)
        env.pop("PYWATCH_DISABLE", None)
        out = subprocess.run([sys.executable, "-P", "-c", program], env=env,
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.split("\n")[:2], ["blocked 1", "other 3"])


if __name__ == "__main__":
    unittest.main()
