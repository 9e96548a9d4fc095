"""pywatch in legacy subinterpreters (issues 15 and 24): each interpreter
that imports it starts libwatch in itself and has its own exceptions, in
any order.  Each case runs in a fresh process, whose exit status shows that
teardown went well.  Isolated interpreters: test_isolated.py."""
import subprocess
import sys
import tempfile
import textwrap
import os
import unittest

from test_audit import ENV

HERE = os.path.dirname(os.path.abspath(__file__))
# subinterp.py, in the subprocess
ENV = dict(ENV, PYTHONPATH=os.pathsep.join([ENV["PYTHONPATH"], HERE]))

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


# The repro on 3.12 (a crash there): two legacy subinterpreters
# import pywatch, and are destroyed, in either order.  Through
# subinterp.py, on every version.
def legacy_pair(order):
    return """
        from subinterp import Interpreter
        a = Interpreter(isolated=False)
        b = Interpreter(isolated=False)
        a.run("import pywatch")
        b.run("import pywatch")
        for i in %r:
            (a, b)[i].close()
        print("ok")
        """ % (order,)


class LegacyPairs(unittest.TestCase):
    def test_two_legacy_subinterpreters_import_pywatch_and_are_destroyed(self):
        run(self, legacy_pair((0, 1)))

    def test_destroyed_in_the_other_order(self):
        run(self, legacy_pair((1, 0)))

    def test_each_works_then_the_main_one_imports_pywatch(self):
        run(self, """
            from subinterp import Interpreter
            work = %r
            a = Interpreter(isolated=False)
            b = Interpreter(isolated=False)
            a.run(work)
            b.run(work)
            a.close()
            b.run(work)
            b.close()
            import pywatch
            exec(work)
            print("ok")
            """ % WORK)

    def test_module_subclasses_keep_their_setattr(self):
        # 3.12: once a subinterpreter had imported pywatch, a ModuleType
        # subclass's super().__setattr__ raised "can't apply this
        # __setattr__", in the main interpreter and in a subinterpreter
        # made before the import.
        subclass = """
            import types
            class S(types.ModuleType):
                def __setattr__(self, name, value):
                    super().__setattr__(name, value)
            s = S("s")
            s.x = 1
            assert s.x == 1
            """
        run(self, """
            from subinterp import Interpreter
            before = Interpreter(isolated=False)
            after = Interpreter(isolated=False)
            after.run("import pywatch")
            exec(%r)
            before.run(%r)
            after.run(%r)
            before.close()
            after.close()
            print("ok")
            """ % ((textwrap.dedent(subclass),) * 3))


if __name__ == "__main__":
    unittest.main()
