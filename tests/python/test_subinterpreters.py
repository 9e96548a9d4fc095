"""pywatch in subinterpreters (issue 15): each interpreter that imports it
starts libwatch in itself and has its own exceptions; legacy
subinterpreters, which share the main GIL, are supported in any order, and
isolated ones, with their own GIL, are refused at import.  Each case runs
in a fresh process, whose exit status shows that teardown went well."""
import subprocess
import sys
import tempfile
import textwrap
import unittest

from test_audit import ENV

# Run in a legacy subinterpreter by _testcapi.run_in_subinterp(), which
# returns 0 when it ran to its end.
WORK = textwrap.dedent("""
    import types, pywatch
    m = types.ModuleType("m")
    m.x = 1
    dep = pywatch.Dependent()
    dep.depends_on(m, "x")
    m.x = 2
    assert not dep.valid
    pywatch.freeze(m)
    try:
        m.x = 3
    except pywatch.FrozenError:
        pass
    else:
        raise AssertionError("not frozen")
    """)


def run(test, script):
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)],
                          env=ENV, cwd=tempfile.gettempdir(),
                          capture_output=True, text=True, timeout=60)
    test.assertEqual((proc.returncode, proc.stdout.split()),
                     (0, ["ok"]), proc.stderr)


class LegacySubinterpreters(unittest.TestCase):
    def test_main_first_then_two_subinterpreters(self):
        run(self, """
            import _testcapi
            import pywatch
            before = pywatch.Dependent()
            work = %r
            assert _testcapi.run_in_subinterp(work) == 0
            assert _testcapi.run_in_subinterp(work) == 0
            exec(work)
            d = {"a": 1}
            before.depends_on(d, "a")
            d["a"] = 2
            assert not before.valid
            print("ok")
            """ % WORK)

    def test_a_subinterpreter_first(self):
        run(self, """
            import _testcapi
            assert _testcapi.run_in_subinterp(%r) == 0
            import pywatch
            exec(%r)
            print("ok")
            """ % (WORK, WORK))

    def test_each_interpreter_raises_its_own_exceptions(self):
        run(self, """
            import _testcapi, pywatch
            seen = []
            assert _testcapi.run_in_subinterp(
                "import pywatch, types\\n"
                "m = pywatch.freeze(types.ModuleType('m'))\\n"
                "try:\\n"
                "    m.x = 1\\n"
                "except pywatch.FrozenError:\\n"
                "    pass\\n") == 0
            m = pywatch.freeze(__import__("types").ModuleType("m"))
            try:
                m.x = 1
            except pywatch.FrozenError:
                print("ok")
            """)


class IsolatedSubinterpreters(unittest.TestCase):
    def test_refused_at_import(self):
        run(self, """
            import sys
            try:
                import _interpreters as interpreters
            except ImportError:
                import _xxsubinterpreters as interpreters  # 3.12
            iid = (interpreters.create() if sys.version_info >= (3, 13)
                   else interpreters.create(isolated=True))
            code = "import pywatch"
            if hasattr(interpreters, "exec"):
                failure = interpreters.exec(iid, code)
                message = failure.msg
            else:
                try:
                    interpreters.run_string(iid, code)
                    message = ""
                except Exception as e:
                    message = str(e)
            interpreters.destroy(iid)
            assert "does not support loading in subinterpreters" in message, \\
                message
            print("ok")
            """)


if __name__ == "__main__":
    unittest.main()
