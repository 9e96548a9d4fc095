"""Round three of the adversary, on the audit's runner (issue 26, part 2):
each test is one finding, and failed before its fix.  As in
test_audit_runner.py, each program is run plainly and audited, and both
must give the same output and exit status."""
import json
import os
import subprocess
import sys
import textwrap
import unittest

from test_audit_runner import ENV, RunnerCase, python

# Every test here runs pywatch in child processes: refleak.py leaves them
# out.
IN_CHILDREN = True


def under_asan():
    """Whether this interpreter has AddressSanitizer's runtime: make asan's
    (mk/asan_python.c), which the programs under test run in too."""
    with open("/proc/self/maps") as f:
        return "libasan" in f.read()


# What runs when a FrozenWarning made an error is delivered at a safe point.
UNRAISABLE = ("Exception ignored in pywatch's report of a write to a frozen "
              "namespace (the write stands")


class TestPathOrder(RunnerCase):

    def pth(self, line):
        """A user site directory with a .pth file of that line; the
        environment that makes python read it."""
        userbase = os.path.join(self.dir, "userbase")
        env = dict(ENV, PYTHONUSERBASE=userbase)
        site_dir = subprocess.run(
            [sys.executable, "-c", "import site; "
             "print(site.getusersitepackages())"], env=env,
            capture_output=True, text=True, check=True).stdout.strip()
        os.makedirs(site_dir)
        with open(os.path.join(site_dir, "first.pth"), "w") as f:
            f.write(line + "\n")
        return env

    def test_pth_inserting_at_0(self):
        """A .pth file that puts its directory first on sys.path: the
        runner takes out its own entries by value, not by position."""
        lib = os.path.join(self.dir, "lib")
        os.makedirs(lib)
        env = self.pth("import sys; sys.path.insert(0, %r)" % lib)
        with open(os.path.join(lib, "helper.py"), "w") as f:
            f.write("NAME = 'helper'\n")
        self.files(mod="x = 0", prog="""
                   import sys
                   import helper, mod
                   mod.x = 1
                   print(helper.NAME, sys.path.count(%r))
                   print([p for p in sys.path if "pywatch" in p])
                   """ % lib)
        audited, report, data = self.same("prog.py", env=env)
        self.assertEqual(audited.stdout.split("\n")[0], "helper 1")
        self.assertReported(report, data)
        self.assertEqual(data["verdict"]["allow"]["mod"], ["x"])


    def test_pth_that_drops_the_runners_entry(self):
        """The audit never starts: said so, rather than blamed on the
        program's exit."""
        env = self.pth("import sys; sys.path[:] = [p for p in sys.path "
                       "if 'pywatch-audit-' not in p]")
        self.files(prog="print('ran')\n")
        proc = python(["-m", "pywatch", "audit", "prog.py"], self.dir,
                      env=env)
        self.assertEqual((proc.returncode, proc.stdout), (0, "ran\n"))
        self.assertEqual(proc.stderr, "pywatch audit: no report: the audit "
                         "did not start in the program's python (its "
                         "sitecustomize did not run)\n")


class TestTempDir(RunnerCase):

    def test_tmpdir_with_a_path_separator(self):
        tmp = os.path.join(self.dir, "a%sb" % os.pathsep)
        os.mkdir(tmp)
        self.files(mod="x = 0", prog="import mod\nmod.x = 1\n")
        audited, report, data = self.same("prog.py",
                                          env=dict(ENV, TMPDIR=tmp))
        self.assertReported(report, data)
        self.assertEqual(data["verdict"]["allow"]["mod"], ["x"])

    @unittest.skipUnless(os.geteuid() == 0, "setuid needs root")
    @unittest.skipIf(under_asan(),
                     "under make asan, LeakSanitizer reports leaks in a "
                     "program that dropped its privileges, differently in "
                     "each run; plain make test runs this test")
    def test_program_that_drops_privileges(self):
        self.files(mod="x = 0", prog="""
                   import os
                   import mod
                   mod.x = 1
                   os.setgid(65534)
                   os.setuid(65534)
                   print(os.getuid())
                   """)
        audited, report, data = self.same(os.path.join(self.dir, "prog.py"),
                                          cwd="/")
        self.assertEqual(audited.stdout, "65534\n")
        self.assertReported(report, data)
        self.assertEqual(data["verdict"]["allow"]["mod"], ["x"])

    def test_program_that_closes_every_descriptor(self):
        """The report's own descriptor, closed and its number taken by a
        file of the program's: the report goes to its file all the same,
        and the program's file is left alone."""
        self.files(mod="x = 0", prog="""
                   import os
                   import mod
                   mod.x = 1
                   os.closerange(3, 64)
                   files = [open("mine%d.txt" % i, "w") for i in range(8)]
                   for f in files:
                       f.write("mine\\n")
                       f.flush()
                   """)
        audited, report, data = self.same("prog.py")
        self.assertReported(report, data)
        for i in range(8):
            with open(os.path.join(self.dir, "mine%d.txt" % i)) as f:
                self.assertEqual(f.read(), "mine\n")


class TestInspect(RunnerCase):

    def test_pythoninspect(self):
        self.files(mod="x = 0", prog="import mod\nmod.x = 1\nprint('ran')\n")
        audited, report, data = self.same(
            "prog.py", stdin="", env=dict(ENV, PYTHONINSPECT="1"))
        self.assertEqual(audited.returncode, 0)
        self.assertNotIn("SystemExit", audited.stderr)
        self.assertReported(report, data)

    def test_dash_i(self):
        """-i: one REPL, the program's, after it ran."""
        self.files(mod="x = 0", prog="import mod\nmod.x = 1\n")
        audited, report, data = self.same(
            "prog.py", options=("-i",), stdin="print('in the REPL')\n")
        self.assertEqual(audited.stdout.count("in the REPL"), 1)
        self.assertReported(report, data)
        # Nothing after the report: no SystemExit, no second prompt.
        self.assertNotIn("SystemExit", audited.stderr)
        self.assertNotIn(">>>", report)


class TestStats(RunnerCase):
    """pywatch.stats() inside an audited program: libwatch counts the
    audit's taps apart (its tap fields), so the program's own counters
    are what it gets unaudited (doc/audit.md)."""

    # The counters of the program's dependents, cells and versions.
    PROGRAMS = ("events", "misses", "invalidations", "dependents", "edges",
                "namespaces", "keys", "bytes", "callback_errors")

    def test_counters_under_the_audit(self):
        self.files(config="""
                   DEBUG = False
                   TIMEOUT = 30
                   class Point:
                       x = 0
                   """, prog="""
                   import builtins, json, sys
                   import pywatch
                   import config

                   config.TIMEOUT = 60  # startup, then freeze
                   pywatch.freeze(config, allow=("TIMEOUT",))

                   def told(dep, event):
                       pass
                   watched = pywatch.watch(config, "DEBUG", told)
                   dep = pywatch.Dependent(told)
                   dep.depends_on(config, "TIMEOUT")
                   dep.depends_on_namespace(vars(json))
                   dep.depends_on_global(told, "len")
                   cell = pywatch.global_cell(vars(config), vars(builtins),
                                              "len")
                   point = pywatch.attr_cell(config.Point, "x")
                   pywatch.dict_version(vars(sys))
                   config.TIMEOUT = 90
                   config.Point.x = 1
                   vars(json)["extra"] = 1
                   pywatch.flush()
                   print(json.dumps(pywatch.stats()))
                   print(pywatch.is_frozen(config))
                   """)
        plain = python(["prog.py"], self.dir)
        audited = python(["-m", "pywatch", "audit", "prog.py"], self.dir)
        self.assertEqual(plain.returncode, 0, plain.stderr)
        self.assertEqual(audited.returncode, 0, audited.stderr)
        self.assertEqual(plain.stdout.splitlines()[1], "True")
        self.assertEqual(audited.stdout.splitlines()[1], "False")
        plain = json.loads(plain.stdout.splitlines()[0])
        audited = json.loads(audited.stdout.splitlines()[0])
        self.assertEqual({k: audited[k] for k in self.PROGRAMS},
                         {k: plain[k] for k in self.PROGRAMS})
        self.assertGreater(plain["invalidations"], 0)
        self.assertGreater(plain["misses"], 0)
        # Freezing's recorder on config, a namespace that the dependents
        # need: one tap, no namespace of the taps' own.
        self.assertEqual((plain["taps"], plain["tap_namespaces"]), (1, 0))
        # The audit's taps, one or two per module and class it tracks.
        self.assertGreater(audited["taps"], 10)
        self.assertGreater(audited["tap_namespaces"], 10)
        self.assertGreater(audited["tap_bytes"], plain["tap_bytes"])
        # Freezing's counters say what freezing does, which is nothing
        # under the audit: freeze() only marks the end of startup there.
        freezing = ("frozen_modules", "frozen_classes",
                    "frozen_writes_blocked", "frozen_writes_detected",
                    "tracked_namespaces")
        self.assertEqual([plain[k] for k in freezing], [1, 0, 0, 0, 1])
        self.assertEqual([audited[k] for k in freezing], [0, 0, 0, 0, 0])

    def test_a_dependent_made_before_freeze(self):
        """The one difference in what the program's dependents hear: the
        audit moved the module to freezing's class at import, so the
        program's freeze() does not move it again."""
        self.files(config="DEBUG = False\n", prog="""
                   import pywatch
                   import config
                   dep = pywatch.watch(config, "DEBUG", lambda d, e: None)
                   pywatch.freeze(config)
                   print(dep.valid, pywatch.stats()["invalidations"])
                   """)
        plain = python(["prog.py"], self.dir)
        audited = python(["-m", "pywatch", "audit", "prog.py"], self.dir)
        self.assertEqual(plain.stdout.splitlines()[0], "False 1")
        self.assertEqual(audited.stdout.splitlines()[0], "True 0")


class TestJson(RunnerCase):
    """--json - is stdout, after the program's output; /dev/stdout
    redirected to a file loses nothing; a path that cannot be written is
    refused before the program starts."""

    PROG = "import mod\nmod.x = 1\nprint('program output')\n"

    def test_dash_is_stdout(self):
        self.files(mod="x = 0", prog=self.PROG)
        proc = python(["-m", "pywatch", "audit", "--json", "-", "prog.py"],
                      self.dir)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        first, rest = proc.stdout.split("\n", 1)
        self.assertEqual(first, "program output")
        self.assertEqual(json.loads(rest)["verdict"]["allow"], {"mod": ["x"]})
        self.assertFalse(os.path.exists(os.path.join(self.dir, "-")))

    def test_dev_stdout_redirected_to_a_file(self):
        self.files(mod="x = 0", prog=self.PROG)
        out = os.path.join(self.dir, "out.txt")
        with open(out, "w") as f:
            proc = subprocess.run(
                [sys.executable, "-m", "pywatch", "audit", "--json",
                 "/dev/stdout", "prog.py"], cwd=self.dir, env=ENV,
                stdout=f, stderr=subprocess.PIPE, text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(out) as f:
            first, rest = f.read().split("\n", 1)
        self.assertEqual(first, "program output")
        self.assertEqual(json.loads(rest)["verdict"]["allow"], {"mod": ["x"]})

    def test_unwritable_path_refused_before_the_program(self):
        self.files(mod="x = 0", prog=self.PROG)
        lost = os.path.join(self.dir, "no such dir", "r.json")
        proc = python(["-m", "pywatch", "audit", "--json", lost, "prog.py"],
                      self.dir)
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(proc.stdout, "")  # the program did not run
        self.assertIn("error: cannot write --json %s: [Errno 2]" % lost,
                      proc.stderr)

    def test_no_file_left_without_a_report(self):
        """As before: no JSON when the program did not start."""
        proc = python(["-m", "pywatch", "audit", "--json", self.json,
                       "missing.py"], self.dir)
        self.assertNotEqual(proc.returncode, 0)
        self.assertFalse(os.path.exists(self.json))

    def test_existing_file_replaced(self):
        self.files(mod="x = 0", prog=self.PROG)
        with open(self.json, "w") as f:
            f.write("x" * 100000)
        proc = python(["-m", "pywatch", "audit", "--json", self.json,
                       "prog.py"], self.dir)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(self.json) as f:
            self.assertEqual(json.load(f)["verdict"]["allow"],
                             {"mod": ["x"]})


class TestWarningsAsErrors(unittest.TestCase):
    """-W error::pywatch.FrozenWarning cannot refuse a direct __dict__
    write, which has happened when it is reported: what a test suite can
    rely on (doc/pywatch.md, "-W error::pywatch.FrozenWarning")."""

    def test_what_a_suite_can_rely_on(self):
        prog = textwrap.dedent("""
            import json, sys
            import pywatch
            hooked = []
            sys.unraisablehook = hooked.append
            pywatch.freeze(json)
            json.__dict__["x"] = 1     # reported at the next safe point
            pywatch.flush()
            print("stands", json.x)
            print("hook", [(type(h.exc_value).__name__, h.err_msg)
                           for h in hooked])
            print("detected", pywatch.stats()["frozen_writes_detected"])
            try:
                json.y = 1             # through setattr: refused
            except pywatch.FrozenError:
                print("refused", hasattr(json, "y"))
            """)
        proc = subprocess.run(
            [sys.executable, "-W", "error::pywatch.FrozenWarning", "-c",
             prog], env=ENV, capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = proc.stdout.splitlines()
        self.assertEqual(lines[0], "stands 1")
        self.assertTrue(lines[1].startswith("hook [('FrozenWarning', "
                                            '"' + UNRAISABLE), lines[1])
        self.assertEqual(lines[2:], ["detected 1", "refused False"])

    def test_default_hook_says_the_write_stands(self):
        proc = subprocess.run(
            [sys.executable, "-W", "error::pywatch.FrozenWarning", "-c",
             "import json, pywatch\npywatch.freeze(json)\n"
             "json.__dict__['x'] = 1\npywatch.flush()\nprint(json.x)\n"],
            env=ENV, capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.stdout, "1\n")
        self.assertIn(UNRAISABLE, proc.stderr)
        self.assertIn("FrozenWarning: module 'json' is frozen, but 'x' was "
                      "added straight in its __dict__", proc.stderr)


if __name__ == "__main__":
    unittest.main()
