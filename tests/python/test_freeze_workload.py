"""Issue 17's proof: a process running a real workload (markdown and
docutils, freeze_programs/workload.py) has every module frozen, as the
audit's verdict and the standard library's table say, and its output does
not change.

Debian's python3-markdown and python3-docutils are pure Python: their
/usr/lib/python3/dist-packages goes on the path behind pywatch's.  Where
they cannot be imported, the test is skipped."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import pywatch

# Every test here runs pywatch in child processes: refleak.py leaves them
# out.
IN_CHILDREN = True

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = os.path.join(HERE, "freeze_programs")
PYWATCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(
    pywatch.__file__)))
DEBIAN = "/usr/lib/python3/dist-packages"
# CPython's default filters in a release build, as -W options: a later one
# takes precedence.
RELEASE_WARNING_FILTERS = (
    "ignore::DeprecationWarning", "default::DeprecationWarning:__main__",
    "ignore::PendingDeprecationWarning", "ignore::ImportWarning",
    "ignore::ResourceWarning")


class RealWorkload(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        path = [PROGRAMS, PYWATCH_DIR] + ([DEBIAN] if os.path.isdir(DEBIAN)
                                          else [])
        # A debug build (python3.14d) has no default warning filters: the
        # children get a release build's, or docutils' own
        # PendingDeprecationWarning would show on their stderr.
        cls.env = dict(os.environ, PYTHONPATH=os.pathsep.join(path),
                       PYTHONDONTWRITEBYTECODE="1",
                       PYTHONWARNINGS=",".join(RELEASE_WARNING_FILTERS))
        cls.env.pop("PYWATCH_DISABLE", None)
        probe = cls.run_py(["-c", "import markdown, docutils.core"])
        if probe.returncode != 0:
            raise unittest.SkipTest(
                "markdown or docutils cannot be imported (Debian: "
                "python3-markdown, python3-docutils): "
                + probe.stderr.strip().splitlines()[-1])
        cls.tmp = tempfile.mkdtemp(prefix="pywatch-workload-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, True)

    @classmethod
    def run_py(cls, args):
        return subprocess.run([sys.executable] + args, env=cls.env,
                              cwd=tempfile.gettempdir(), capture_output=True,
                              text=True, timeout=300)

    def test_everything_frozen_same_output(self):
        workload = os.path.join(PROGRAMS, "workload.py")
        plain = self.run_py([workload])
        self.assertEqual(plain.returncode, 0, plain.stderr)
        report = os.path.join(self.tmp, "audit.json")
        audited = self.run_py(["-m", "pywatch", "audit", "--json", report,
                               workload])
        self.assertEqual(audited.stdout, plain.stdout, audited.stderr)
        with open(report) as f:
            verdict = json.load(f)["verdict"]
        # The table covers the standard library: no stdlib module needs
        # allow= of its own.
        needing = [name for name in verdict["allow"]
                   if name.split(".")[0] in sys.stdlib_module_names]
        self.assertEqual(needing, [], verdict["allow"])

        frozen = self.run_py([os.path.join(PROGRAMS, "driver.py"), report])
        self.assertEqual(frozen.returncode, 0, frozen.stderr)
        lines = frozen.stdout.splitlines()
        self.assertGreater(int(lines[0].split()[1]), 100)  # modules frozen
        self.assertEqual(lines[1:4], ["identical True", "blocked 0",
                                      "reported 0"])
        self.assertEqual("".join(l + "\n" for l in lines[4:]), plain.stdout)
        self.assertEqual(frozen.stderr, "")


if __name__ == "__main__":
    unittest.main()
