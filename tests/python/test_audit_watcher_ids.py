"""The audit hears its classes' PyType_Modified through libwatch's type
watcher: pywatch and libwatch take one type watcher id together (house
rule: one id of each kind per interpreter)."""
import subprocess
import sys
import tempfile
import textwrap
import unittest

from test_audit import ENV

# The test runs pywatch in a child process: refleak.py leaves it out.
IN_CHILDREN = True


class TypeWatcherIds(unittest.TestCase):

    def test_an_audited_class_and_a_dependent_take_one_type_watcher_id(self):
        """A dependent on a class with a builtin base other than object
        needs libwatch's type watcher; an audited class uses it too.
        Counted with CPython's _testcapi, in a fresh interpreter."""
        script = textwrap.dedent("""
            import _testcapi, pywatch
            def free():
                ids = []
                while True:
                    try:
                        ids.append(_testcapi.add_type_watcher(0))
                    except RuntimeError:
                        break
                for i in ids:
                    _testcapi.clear_type_watcher(i)
                return len(ids)
            before = free()
            class E(ValueError):
                pass
            class C:
                y = 2
            dep = pywatch.Dependent()
            dep.depends_on(E, "args")
            c = pywatch._pywatch
            c._audit_start((pywatch.__path__[0] + "/",), None)
            c._audit_watch(c._type_dict(C), "C", C)
            C.y = C.y
            print(before - free())
            c._audit_stop()
            """)
        proc = subprocess.run([sys.executable, "-W", "ignore", "-c", script],
                              env=ENV, cwd=tempfile.gettempdir(),
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.stdout.strip(), "1", proc.stderr)


if __name__ == "__main__":
    unittest.main()
