"""python -m pywatch audit runs the program exactly as plain python would
(issue 18): each program below is run plainly and audited, in the same
directory, and both give the same stdout, the same stderr once the
report is taken out, and the same exit status.  Also the audit's own
correctness and readability (issue 17, points 5 and 6).

Each test writes its program into a fresh directory."""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import unittest
import zipfile

import pywatch

# Every test here runs pywatch in child processes: refleak.py leaves them
# out.
IN_CHILDREN = True

ENV = dict(os.environ,
           PYTHONPATH=os.path.dirname(os.path.dirname(
               os.path.abspath(pywatch.__file__))),
           PYTHONDONTWRITEBYTECODE="1")
ENV.pop("PYWATCH_DISABLE", None)
REPORT = re.compile(r"^pywatch audit: ", re.M)


def python(args, cwd, stdin=None, preexec_fn=None, env=ENV, **kwargs):
    """SIGINT at its default, as from a terminal: a shell's background job
    would have it ignored, and python keeps that.  preexec_fn runs after."""
    def start():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if preexec_fn is not None:
            preexec_fn()
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env,
                          input=stdin, capture_output=True, text=True,
                          timeout=120, preexec_fn=start, **kwargs)


def without_report(stderr):
    """The program's stderr: the audit prints its report last."""
    starts = [m.start() for m in REPORT.finditer(stderr)]
    return (stderr[:starts[-1]], stderr[starts[-1]:]) if starts \
        else (stderr, "")


def without_gcov(stderr):
    """stderr without what a coverage build's runtime says at exit: the
    audited program loads pywatch, built with gcov under make coverage,
    which cannot write its counts once a program dropped privileges."""
    return "".join(line for line in stderr.splitlines(True)
                   if not line.startswith("profiling:"))


def _path_of(name):
    for dunder in ("__init__", "__main__"):
        if name.endswith("__" + dunder):
            return _path_of(name[:-len(dunder) - 2]) + "/" + dunder
    return name.replace("__", "/")


# What a program can see of how it was started.
SHOW = """
import os, sys

print(__name__, sys.argv, sys.path[0], globals().get("__file__"))
print(repr(__spec__ and __spec__.name), __package__)
print(sys.path[1:], sorted(os.environ.items()))
"""


class RunnerCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="pywatch-runner-")
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name
        self.json = os.path.join(self.dir, "report.json")

    def files(self, **sources):
        """Writes dir/NAME.py, dedented: a __ in NAME is a /, and a NAME
        ending in ____init__ or ____main__ names a package's file."""
        for name, text in sources.items():
            path = os.path.join(self.dir, _path_of(name) + ".py")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(textwrap.dedent(text))

    def same(self, *args, cwd=None, stdin=None, audit_args=(),
             before=lambda: None, options=(), env=ENV):
        """Runs python OPTIONS ARGS plainly and audited in cwd, each after
        before(), in env: the same output and exit status; (audited
        process, its report on stderr, its JSON)."""
        cwd = cwd or self.dir
        before()
        plain = python([*options, *args], cwd, stdin, env=env)
        before()
        audited = python([*options, "-m", "pywatch", "audit", "--json",
                          self.json, *audit_args, *args], cwd, stdin,
                         env=env)
        stderr, report = without_report(without_gcov(audited.stderr))
        self.assertEqual(audited.stdout, plain.stdout)
        self.assertEqual(stderr, plain.stderr)
        self.assertEqual(audited.returncode, plain.returncode)
        data = None
        if os.path.exists(self.json):
            with open(self.json) as f:
                data = json.load(f)
            os.unlink(self.json)
        return audited, report, data

    def assertReported(self, report, data):
        self.assertTrue(report.startswith("pywatch audit: "), report)
        self.assertIn("\nverdict\n", report)
        self.assertIsNotNone(data)


class TestPath(RunnerCase):
    """Issue 18, point 1: sys.path, and the audit's imports."""

    def test_cwd_with_a_json_py(self):
        self.files(json="print('the cwd json.py')",
                   tools__prog="""
                   import json, sys
                   print(json.dumps([1]), sys.path[0])
                   """)
        audited, report, data = self.same("tools/prog.py")
        self.assertReported(report, data)

    def test_script_with_its_own_stdlib_names(self):
        """(Run from elsewhere: in app/, python -m itself would import
        app/types.py for runpy, before the audit's first line.)"""
        self.files(app__types="NAME = 'own types'",
                   app__enum="NAME = 'own enum'",
                   app__shutil="NAME = 'own shutil'",
                   app__fnmatch="NAME = 'own'",
                   app__weakref="NAME = 'own weakref'",
                   app__prog="""
                   import sys
                   import types, enum, shutil, fnmatch, weakref
                   print(types.NAME, enum.NAME, shutil.NAME, weakref.NAME)
                   print(sys.path)
                   print(sorted(m for m in sys.modules
                                if not m.startswith("pywatch")))
                   """)
        audited, report, data = self.same("app/prog.py")
        self.assertReported(report, data)


class TestProgramObjects(RunnerCase):
    """Issue 18, point 2: the audit runs no code of the program's."""

    def test_lazy_proxy_and_metaclass(self):
        self.files(settings="""
                   class LazySettings:
                       @property
                       def __class__(self):
                           print("SETUP RAN")
                           raise RuntimeError("not configured")
                       def __getattr__(self, name):
                           print("SETUP RAN", name)
                           raise RuntimeError("not configured")

                   class Meta(type):
                       def __getattribute__(cls, name):
                           print("META RAN", name)
                           return type.__getattribute__(cls, name)

                   class Model(metaclass=Meta):
                       pass

                   settings = LazySettings()
                   DEBUG = False
                   """,
                   prog="""
                   import settings
                   settings.DEBUG = True
                   type.__setattr__(settings.Model, "x", 1)
                   """)
        audited, report, data = self.same("prog.py",
                                          audit_args=("--include=settings",))
        self.assertReported(report, data)
        self.assertEqual([(ns["name"], [w["name"] for w in ns["writes"]])
                          for ns in data["namespaces"]],
                         [("settings", ["DEBUG"]),
                          ("settings.Model", ["x"])])


class TestOutputs(RunnerCase):
    """Issue 18, point 3: the report and the JSON survive what the program
    does to its streams and its directory."""

    def check(self, body, cwd=None, before=lambda: None):
        self.files(mod="x = 0", prog="import mod, os, sys\nmod.x = 1\n"
                   + textwrap.dedent(body))
        audited, report, data = self.same(os.path.join(self.dir, "prog.py"),
                                          cwd=cwd, before=before)
        self.assertReported(report, data)
        self.assertIn("freeze(mod, allow=('x',))", report)
        self.assertEqual(data["verdict"]["allow"]["mod"], ["x"])

    def test_stderr_closed(self):
        self.check("sys.stderr.close()")

    def test_fd_2_closed(self):
        self.check("os.close(2)")

    def test_json_and_table_each_on_its_own(self):
        """(A --json path that cannot be written is refused before the
        program starts: test_audit_tools.py.)"""
        self.files(mod="x = 0", prog="import mod\nmod.x = 1\n")
        proc = python(["-m", "pywatch", "audit", "--json", self.json,
                       "prog.py"], self.dir, preexec_fn=lambda: os.close(2))
        self.assertEqual(proc.returncode, 0)
        with open(self.json) as f:
            self.assertEqual(json.load(f)["verdict"]["allow"]["mod"], ["x"])

    def test_cwd_removed(self):
        work = os.path.join(self.dir, "work")
        self.check("os.rmdir(os.getcwd())", cwd=work,
                   before=lambda: os.mkdir(work))


class TestForms(RunnerCase):
    """Issue 18, point 4: every program python runs."""

    SHOW = SHOW

    def test_script(self):
        self.files(prog=self.SHOW)
        self.same("prog.py", "a", "-m", "--json")

    def test_module(self):
        self.files(pkg____init__="", pkg__tool=self.SHOW)
        self.same("-m", "pkg.tool", "x")

    def test_command(self):
        self.same("-c", textwrap.dedent(self.SHOW), "x")

    def test_directory(self):
        self.files(app____main__=self.SHOW)
        self.same("app", "x")

    def test_zipapp(self):
        with zipfile.ZipFile(os.path.join(self.dir, "app.pyz"), "w") as z:
            z.writestr("__main__.py", textwrap.dedent(self.SHOW))
        self.same("app.pyz", "x")

    def test_interpreter_options_pass_on(self):
        self.files(prog=self.SHOW + "print(sys.flags.safe_path, "
                   "sys.flags.optimize, sys.warnoptions)\n")
        self.same("prog.py", options=("-P", "-O", "-W", "error"))

    def test_no_site_or_environment_refused(self):
        """-E: pywatch is found in the working directory instead."""
        self.files(prog="print('ran')")
        here = os.path.dirname(os.path.dirname(pywatch.__file__))
        for option in ("-S", "-E"):
            proc = python([option, "-m", "pywatch", "audit",
                           os.path.join(self.dir, "prog.py")], here)
            self.assertEqual((proc.returncode, proc.stdout), (2, ""))
            self.assertIn("run it without -S, -E or -I", proc.stderr)

    def test_stdin(self):
        self.same("-", "x", stdin=textwrap.dedent(self.SHOW))


class TestTracebacks(RunnerCase):
    """Issue 18, point 5: python's own tracebacks, sys.last_* and exit."""

    def run_prog(self, source, *args):
        self.files(prog=source)
        return self.same("prog.py", *args)

    def test_keyboard_interrupt(self):
        self.run_prog("def f():\n    raise KeyboardInterrupt\nf()\n")

    def test_real_sigint(self):
        audited, _, _ = self.run_prog(
            "import os, signal, time\n"
            "os.kill(os.getpid(), signal.SIGINT)\n"
            "time.sleep(5)\n")
        self.assertEqual(audited.returncode, -signal.SIGINT)

    def test_base_exception(self):
        self.run_prog("class Stop(BaseException):\n    pass\n"
                      "raise Stop('out')\n")

    def test_syntax_error(self):
        audited, report, data = self.run_prog("x = (\n")
        self.assertEqual(report, "pywatch audit: the program did not start "
                         "(exit status 1): no report\n")
        self.assertIsNone(data)

    def test_excepthook_that_raises(self):
        self.run_prog("import sys\n"
                      "def hook(*a):\n    raise ValueError('hook')\n"
                      "sys.excepthook = hook\n"
                      "raise KeyError('program')\n")

    def test_module_traceback(self):
        self.files(failing="def f():\n    1 / 0\nf()\n")
        self.same("-m", "failing")

    def test_last_exception_for_atexit(self):
        self.run_prog("import atexit, sys\n"
                      "atexit.register(lambda: print(repr(sys.last_value),"
                      " repr(getattr(sys, 'last_exc', None))))\n"
                      "raise KeyError('k')\n")

    def test_sigterm_to_the_audit_reaches_the_program(self):
        self.files(prog="import time\nprint('ready', flush=True)\n"
                   "time.sleep(60)\n")
        statuses = []
        for audit in ([], ["-m", "pywatch", "audit"]):
            proc = subprocess.Popen([sys.executable, *audit, "prog.py"],
                                    cwd=self.dir, env=ENV, text=True,
                                    stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
            self.assertEqual(proc.stdout.readline(), "ready\n")
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=60)
            statuses.append(proc.returncode)
        self.assertEqual(statuses, [-signal.SIGTERM, -signal.SIGTERM])
        self.assertEqual(stderr, "pywatch audit: no report: the program "
                         "ended without running its exit handlers "
                         "(os._exit(), a signal, os.exec*(), or atexit's "
                         "handlers cleared)\n")

    def test_exit_status(self):
        self.run_prog("import sys\nsys.exit(7)\n")


class TestStack(RunnerCase):
    """Issue 18, point 6: nothing of the audit's under the program."""

    def test_top_frame(self):
        self.files(prog="""
        import sys, traceback, warnings
        try:
            sys._getframe(1)
        except ValueError:
            print("no frame under the script")
        traceback.print_stack()
        def f():
            warnings.warn("past the top", stacklevel=5)
        f()
        """)
        self.same("prog.py")


class TestMissedWrites(RunnerCase):
    """Issue 18, point 7."""

    def test_class_of_a_reloaded_module(self):
        self.files(km="class K:\n    attr = 1\n",
                   prog="import importlib, km\n"
                   "importlib.reload(km)\n"
                   "km.K.attr = 5\n")
        _, _, data = self.same("prog.py", audit_args=("--include=km",))
        classes = [ns for ns in data["namespaces"] if ns["kind"] == "class"]
        self.assertEqual([(ns["name"], [(w["name"], w["count"],
                                         w["first_writer"]["line"])
                                        for w in ns["writes"]])
                          for ns in classes], [("km.K", [("attr", 1, 3)])])

    def test_del_at_shutdown_is_not_counted(self):
        """doc/audit.md: the report is taken at exit, before module teardown."""
        self.files(late="""
        import sys
        x = 0
        class Writer:
            def __del__(self, module=sys.modules[__name__]):
                module.x = 1
                try:
                    sys.modules["late"]
                except BaseException as exc:  # as teardown has it
                    print(type(exc).__name__)
        keep = Writer()
        """, prog="import late\n")
        _, _, data = self.same("prog.py", audit_args=("--include=late",))
        self.assertEqual(data["verdict"]["safe"], ["late"])


class TestRightAudit(RunnerCase):
    """Issue 17, point 5."""

    def test_pywatch_patch_is_not_a_write(self):
        self.files(mod="LEVEL = 1\nclass C:\n    size = 1\n",
                   prog="""
                   import pywatch, mod
                   with pywatch.patch(mod, "LEVEL", 5):
                       with pywatch.patch(mod.C, "size", 2):
                           print(mod.LEVEL, mod.C.size)
                   print(mod.LEVEL, mod.C.size)
                   with pywatch.patch(mod, "LEVEL", mod.LEVEL):
                       pass  # the same object: no write, none to leave out
                   mod.LEVEL = 2
                   """)
        _, _, data = self.same("prog.py", audit_args=("--include=mod",))
        (ns,) = data["namespaces"]
        (w,) = ns["writes"]
        self.assertEqual((ns["name"], w["name"], w["count"],
                          w["first_writer"]["line"]), ("mod", "LEVEL", 1, 9))

    def test_class_named_by_the_module_that_holds_it(self):
        """Like _collections_abc, whose __name__ is collections.abc."""
        self.files(impl="__name__ = 'face'\nclass K:\n    pass\n",
                   prog="import impl\nimpl.K.x = 1\n")
        _, _, data = self.same("prog.py", audit_args=("--include=impl",))
        self.assertEqual(data["verdict"], {
            "safe": ["impl"], "allow": {}, "not_freezable": {},
            "written_after_freeze": {},
            "classes_written": {"impl.K": ["x"]}})


class TestReadableAudit(RunnerCase):
    """Issue 17, point 6."""

    def test_allowed_rows_hidden_unless_all(self):
        self.files(pkg____init__="", pkg__sub="", mod="x = 0",
                   prog="import pkg.sub, mod\nmod.x = 1\n")
        include = ("--include=pkg*", "--include=mod")
        _, report, _ = self.same("prog.py", audit_args=include)
        self.assertTrue(report.startswith(
            "pywatch audit: 1 of 3 modules need attention\n"
            "end of startup: each module's import (the program marks none: "
            "pywatch.freeze() or pywatch.startup_done() would)\n"
            "\nmodule mod\n"), report)
        self.assertNotIn("module pkg\n", report)
        self.assertIn("\n1 write that freeze() allows anyway not shown "
                      "(--all shows them)\n", report)
        _, report, _ = self.same("prog.py", audit_args=include + ("--all",))
        self.assertIn("module pkg\n", report)
        self.assertIn("(freeze allows: submodule binding)", report)
        self.assertNotIn("not shown", report)

    def test_program_that_did_not_start(self):
        for args, status in ((["-m", "nonexistent"], 1),
                             (["missing.py"], 2)):
            audited, report, data = self.same(*args)
            self.assertEqual(audited.returncode, status)
            self.assertEqual(report, "pywatch audit: the program did not "
                             "start (exit status %d): no report\n" % status)
            self.assertIsNone(data)


class TestProcess(RunnerCase):
    """What a program gets from the process it runs in: descriptors,
    signals, its interpreter's options, sys.monitoring's tools."""

    def test_descriptors_above_2_are_the_programs(self):
        self.files(prog="import os, sys\nos.write(int(sys.argv[1]), b'x')\n")
        got = []
        for audit in ([], ["-m", "pywatch", "audit"]):
            r, w = os.pipe()
            try:
                proc = subprocess.run(
                    [sys.executable, *audit, "prog.py", str(w)], cwd=self.dir,
                    env=ENV, pass_fds=(w,), capture_output=True, text=True,
                    timeout=120)
            finally:
                os.close(w)
            with os.fdopen(r, "rb") as f:
                got.append((proc.returncode, f.read()))
        self.assertEqual(got, [(0, b"x"), (0, b"x")])

    def test_signals_sent_to_the_audit_reach_the_program(self):
        self.files(prog="""
                   import signal, sys, time
                   def handler(sig, frame):
                       print("got", signal.Signals(sig).name)
                       sys.exit(0)
                   for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2,
                               signal.SIGALRM, signal.SIGTERM):
                       signal.signal(sig, handler)
                   print("ready", flush=True)
                   time.sleep(60)
                   print("not signalled")
                   """)
        for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGTERM):
            outs = []
            for audit in ([], ["-m", "pywatch", "audit"]):
                proc = subprocess.Popen([sys.executable, *audit, "prog.py"],
                                        cwd=self.dir, env=ENV, text=True,
                                        stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE)
                self.assertEqual(proc.stdout.readline(), "ready\n")
                proc.send_signal(sig)
                out, err = proc.communicate(timeout=60)
                outs.append((proc.returncode, out))
            self.assertEqual(outs, [(0, "got %s\n" % sig.name)] * 2)
            self.assertTrue(err.startswith("pywatch audit: "), err)

    def test_a_signal_as_the_program_starts_is_the_programs(self):
        """One that reaches the audit as soon as the program exists, before
        the audit has gone on, is passed on too: it must not kill the audit
        alone and leave the program running.  A sitecustomize of the
        audit's own process sends it there, the moment its subprocess
        starts the program."""
        self.files(prog="""
                   import time
                   time.sleep(10)
                   print("not signalled")
                   """,
                   hook__sitecustomize="""
                   import os, signal, subprocess
                   start = subprocess.Popen.__init__
                   def signalled_start(self, args, *rest, **options):
                       start(self, args, *rest, **options)
                       if "prog.py" in args:
                           os.kill(os.getpid(), signal.SIGUSR1)
                   subprocess.Popen.__init__ = signalled_start
                   """)
        env = dict(ENV, PYTHONPATH=os.path.join(self.dir, "hook")
                   + os.pathsep + ENV["PYTHONPATH"])
        proc = subprocess.run([sys.executable, "-m", "pywatch", "audit",
                               "prog.py"], cwd=self.dir, env=env,
                              capture_output=True, text=True, timeout=60)
        self.assertEqual((proc.returncode, proc.stdout),
                         (-signal.SIGUSR1, ""), proc.stderr)

    def test_interpreter_options_as_given(self):
        """Those that sys.flags does not spell back, too."""
        self.files(prog=SHOW + "print(sys.stdout.write_through, "
                   "sys.flags.int_max_str_digits, sys.orig_argv[1:], "
                   "sys._xoptions)\n")
        self.same("prog.py", options=("-u", "-X", "int_max_str_digits=5000",
                                      "-X", "warn_default_encoding",
                                      "-W", "error::EncodingWarning"))

    def test_monitoring_tools_free_before_main(self):
        self.files(pk____init__="""
                   import sys
                   print([sys.monitoring.get_tool(i) for i in (0, 1, 2, 5)])
                   """, pk__mod="print('main')")
        self.same("-m", "pk.mod")

    def test_an_empty_pythonpath_adds_no_entry(self):
        """PYTHONPATH= (set, empty): no working directory on sys.path."""
        self.files(prog="import sys\nprint(sys.path[1:])\n")
        here = os.path.dirname(os.path.dirname(pywatch.__file__))
        env = dict(ENV, PYTHONPATH="")
        outs = [subprocess.run([sys.executable, *audit,
                                os.path.join(self.dir, "prog.py")],
                               cwd=here, env=env, capture_output=True,
                               text=True, timeout=120).stdout
                for audit in ([], ["-m", "pywatch", "audit"])]
        self.assertEqual(outs[1], outs[0])
        self.assertNotIn(repr(here), outs[0])


class TestReportHolds(RunnerCase):
    """The report, whatever the program does to what it is made with."""

    def test_class_without_module_in_a_tracked_module(self):
        self.files(mod="""
                   class A:
                       pass
                   C = eval("type('C', (), {})", {})
                   class B:
                       pass
                   """, prog="""
                   import sys
                   sys.unraisablehook = lambda u: print("unraisable", u)
                   import mod
                   mod.A.y = 1
                   mod.B.z = 1
                   """)
        _, report, data = self.same("prog.py", audit_args=("--include=mod",))
        written = {ns["name"]: [w["name"] for w in ns["writes"]]
                   for ns in data["namespaces"]}
        self.assertEqual(written, {"mod.A": ["y"], "mod.B": ["z"]})

    def test_patched_os_constants(self):
        self.files(mod="x = 0", prog="""
                   import os, mod
                   os.O_CREAT = "x"
                   mod.x = 1
                   """)
        _, report, data = self.same("prog.py", audit_args=("--include=mod",))
        self.assertReported(report, data)

    def test_site_is_not_a_write(self):
        """site's import is under way when the audit starts in it."""
        self.files(prog="pass")
        _, report, data = self.same("prog.py")
        self.assertEqual([ns["name"] for ns in data["namespaces"]
                          if ns["name"] == "site"], [])


if __name__ == "__main__":
    unittest.main()
