"""pywatch in isolated subinterpreters (issue 24): interpreters with their
own GIL (PEP 684) import pywatch and use all of it at the same time, in
threads, beside the main interpreter, and nothing one of them does reaches
another: each counts exactly its own invalidations and refused writes.
Interpreters are also created and destroyed while the others work.  Each
case runs in a fresh process, whose exit status shows that teardown went
well.  The interpreters come from subinterp.py: concurrent.interpreters on
3.14 and later, _interpreters on 3.13, _xxsubinterpreters on 3.12."""
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

from test_audit import ENV
from test_pytest_plugin import DEBIAN, PYWATCH_DIR

# Every test here runs pywatch in child processes (run() below): refleak.py
# leaves them out.
IN_CHILDREN = True

HERE = os.path.dirname(os.path.abspath(__file__))
# subinterp.py and this file's WORK, in the subprocess
ENV = dict(ENV, PYTHONPATH=os.pathsep.join([ENV["PYTHONPATH"], HERE]))

ROUNDS = 2000     # per interpreter, in the concurrent cases
INTERPRETERS = 4  # isolated ones, beside the main one

# Run in each interpreter: work(rounds, tag) does, each round, everything
# once, and checks every count exactly against pywatch's own statistics,
# which are its interpreter's alone.
WORK = textwrap.dedent('''
    import types
    import pywatch

    F = compile("def f(x):\\n    return x + K\\n", "<f>", "exec")

    def f_fast(x):
        return -x

    def work(rounds, tag):
        # A key written in every round would turn unstable: each round has
        # namespaces of its own.
        calls = []

        def heard(dep, event):
            calls.append((event.kind, event.namespace is m.__dict__,
                          event.name))

        before = pywatch.stats()
        invalidations = 0
        for i in range(rounds):
            # register, write, invalidate, release
            m = types.ModuleType("m_" + tag)
            m.x = m.y = 0
            dep = pywatch.Dependent(heard)
            dep.depends_on(m, "x")
            bystander = pywatch.Dependent(heard)
            bystander.depends_on(m, "y")
            m.x = i + 1
            assert not dep.valid and bystander.valid, (tag, i)
            pywatch.flush()
            assert calls == [("modified", True, "x")], (tag, i, calls)
            calls.clear()
            dep.release()
            bystander.release()
            invalidations += 1

            # freeze, and be refused
            frozen = types.ModuleType("frozen_" + tag)
            frozen.v = i
            pywatch.freeze(frozen)
            assert pywatch.is_frozen(frozen)
            try:
                frozen.v = -1
            except pywatch.FrozenError as e:
                assert e.obj is frozen and e.name == "v", (tag, i, e)
            else:
                raise AssertionError("%s %d: not refused" % (tag, i))
            assert frozen.v == i
            pywatch.thaw(frozen)
            frozen.v = -1

            # specialize, and deoptimize
            g = {"__builtins__": __builtins__, "K": 0}
            exec(F, g)
            f = g["f"]
            guard = pywatch.specialize(f, f_fast.__code__, globals=["K"])
            assert f(3) == -3, (tag, i)
            assert pywatch.get_specialized(f) is f_fast.__code__
            g["K"] = i + 1
            assert not guard.valid and pywatch.get_specialized(f) is None
            assert f(3) == 3 + i + 1, (tag, i)
            invalidations += 1
            del guard

        pywatch.flush()
        after = pywatch.stats()
        assert calls == [], (tag, calls)
        assert after["invalidations"] - before["invalidations"] \\
            == invalidations, (tag, before, after, invalidations)
        assert after["frozen_writes_blocked"] \\
            - before["frozen_writes_blocked"] == rounds, (tag, before, after)
        assert after["dependents"] == before["dependents"], \\
            (tag, before, after)
        assert after["frozen_modules"] == before["frozen_modules"], \\
            (tag, before, after)
    ''')


def run(test, *parts):
    script = "".join(textwrap.dedent(part) for part in parts)
    proc = subprocess.run([sys.executable, "-c", script],
                          env=ENV, cwd=tempfile.gettempdir(),
                          capture_output=True, text=True, timeout=600)
    test.assertEqual((proc.returncode, proc.stdout.split()),
                     (0, ["ok"]), proc.stderr)


# The script's common part: interpreters that each run WORK's work() in a
# thread of their own, and failures gathered.
THREADS = '''
    import sys, threading
    from subinterp import Interpreter
    from test_isolated import WORK
    failures = []

    def work_in(interp, rounds, tag):
        try:
            interp.run(WORK + "work(%d, %r)\\n" % (rounds, tag))
        except Exception as e:
            failures.append("%s: %s" % (tag, e))

    def thread(*args):
        t = threading.Thread(target=work_in, args=args)
        t.start()
        return t
    '''


class Isolated(unittest.TestCase):
    def test_an_isolated_interpreter_imports_pywatch_and_works(self):
        run(self, THREADS, """
            with Interpreter() as i:
                work_in(i, 10, "isolated")
            assert not failures, failures
            print("ok")
            """)

    def test_four_isolated_interpreters_and_the_main_one_at_once(self):
        run(self, THREADS, """
            interps = [Interpreter() for _ in range(%d)]
            threads = [thread(interp, %d, "isolated%%d" %% k)
                       for k, interp in enumerate(interps)]
            exec(WORK + "work(%d, 'main')\\n", {"__name__": "main_work"})
            for t in threads:
                t.join()
            for interp in interps:
                interp.close()
            assert not failures, failures
            print("ok")
            """ % (INTERPRETERS, ROUNDS, ROUNDS))

    def test_interpreters_come_and_go_while_others_work(self):
        run(self, THREADS, """
            def churn():
                for k in range(20):
                    with Interpreter() as i:
                        work_in(i, 50, "short%%d" %% k)

            interps = [Interpreter() for _ in range(2)]
            threads = [thread(interp, %d, "long%%d" %% k)
                       for k, interp in enumerate(interps)]
            churner = threading.Thread(target=churn)
            churner.start()
            exec(WORK + "work(%d, 'main')\\n", {"__name__": "main_work"})
            churner.join()
            for t in threads:
                t.join()
            for interp in interps:
                interp.close()
            assert not failures, failures
            print("ok")
            """ % (ROUNDS // 4, ROUNDS // 4))

    def test_each_interpreter_raises_its_own_exceptions(self):
        run(self, THREADS, """
            import pywatch, types
            with Interpreter() as i:
                i.run('''
                    import pywatch, types
                    m = pywatch.freeze(types.ModuleType("m"))
                    try:
                        m.x = 1
                    except pywatch.FrozenError as e:
                        assert type(e) is pywatch.FrozenError
                    ''')
            m = pywatch.freeze(types.ModuleType("m"))
            try:
                m.x = 1
            except pywatch.FrozenError:
                print("ok")
            """)

    def test_the_issue_class_swap_repro(self):
        # The main interpreter registers module attribute dependents while
        # an isolated interpreter that never imported pywatch swaps a
        # module's __class__: libwatch's audit hook was process-wide, and
        # read the main interpreter's index there (a crash in ns_find).
        run(self, THREADS, """
            import types, pywatch
            stop = threading.Event()

            def swapper(interp):
                try:
                    interp.run('''
                        import types
                        class S(types.ModuleType):
                            pass
                        m = types.ModuleType("m")
                        for i in range(20000):
                            m.__class__ = S
                            m.__class__ = types.ModuleType
                        ''')
                except Exception as e:
                    failures.append(str(e))

            interp = Interpreter()
            t = threading.Thread(target=swapper, args=(interp,))
            t.start()
            mods = [types.ModuleType("m%d" % i) for i in range(16)]
            before = pywatch.stats()["invalidations"]
            while t.is_alive():
                deps = []
                for m in mods:
                    d = pywatch.Dependent()
                    d.depends_on(m, "__name__")
                    deps.append(d)
                assert all(d.valid for d in deps)
                for d in deps:
                    d.release()
            t.join()
            interp.close()
            assert not failures, failures
            assert pywatch.stats()["invalidations"] == before
            print("ok")
            """)


# A suite that the pytest plugin runs in an isolated interpreter: a frozen
# test, and a patch through the fixture.
PLUGIN_SUITE = """
import types, pytest, pywatch
m = types.ModuleType("m")
m.x = 1

@pytest.mark.pywatch_frozen
def test_frozen():
    pywatch.freeze(m)
    with pytest.raises(pywatch.FrozenError):
        m.x = 2

def test_patch(pywatch_patch):
    pywatch_patch(m, "x", 5)
    assert m.x == 5
"""

# pytest in an isolated interpreter: faulthandler, which pytest loads by
# default, is a single-phase module that isolated interpreters refuse
# (CPython's choice), so it is left out.
PYTEST_IN_ISOLATED = '''
    with Interpreter() as i:
        i.run("""
            import contextlib, io, sys
            sys.path[:0] = [%r, %r]
            import pytest
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                rc = pytest.main(["-q", "-p", "pywatch.pytest_plugin",
                                  "--pywatch=on", "-p", "no:faulthandler",
                                  "-p", "no:cacheprovider", %r])
            assert rc == 0 and "2 passed" in out.getvalue(), out.getvalue()
            """)
    print("ok")
    '''

AUDIT_IN_ISOLATED = '''
    with Interpreter() as i:
        i.run("""
            from pywatch import _pywatch
            for call in (lambda: _pywatch._audit_start(("x",), None),
                         lambda: _pywatch._audit_watch({}, ("module", "m",
                                                            "m")),
                         _pywatch._audit_stop, _pywatch._audit_log,
                         _pywatch._audit_class_changes):
                try:
                    call()
                except RuntimeError as e:
                    assert "main interpreter only" in str(e), e
                else:
                    raise AssertionError("the audit ran: %r" % call)
            """)
    print("ok")
    '''


def has_pytest():
    return subprocess.run([sys.executable, "-c", "import pytest"], env=dict(
        ENV, PYTHONPATH=DEBIAN)).returncode == 0


class IsolatedTools(unittest.TestCase):
    @unittest.skipUnless(has_pytest(), "no pytest for this interpreter")
    def test_the_pytest_plugin(self):
        with tempfile.TemporaryDirectory() as tmp:
            suite = os.path.join(tmp, "test_iso.py")
            with open(suite, "w") as f:
                f.write(PLUGIN_SUITE)
            run(self, THREADS, PYTEST_IN_ISOLATED % (PYWATCH_DIR, DEBIAN,
                                                     suite))

    def test_the_audit_is_refused_clearly(self):
        run(self, THREADS, AUDIT_IN_ISOLATED)


if __name__ == "__main__":
    unittest.main()
