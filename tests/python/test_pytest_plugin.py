"""The pytest plugin (issue 17, point 1), through pytest itself: pytest
runs small suites in a subprocess, against an application that freezes
itself at import, and their outcome counts are checked.

Debian's pytest is pure Python: its /usr/lib/python3/dist-packages goes on
the path behind pywatch's.  Where pytest cannot be imported, the tests are
skipped."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import pywatch

# Every test here runs pywatch in child processes: refleak.py leaves them
# out.
IN_CHILDREN = True

PYWATCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(
    pywatch.__file__)))
DEBIAN = "/usr/lib/python3/dist-packages"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

APP = '''\
import pywatch
value = "real"
class Config:
    a = 1
def get():
    return value
pywatch.freeze(__import__(__name__), classes=True)
'''

SUITE = '''\
from unittest import mock
import pytest
import pywatch
import plugapp

def test_monkeypatch_a_frozen_module(monkeypatch):
    monkeypatch.setattr(plugapp, "value", "monkey")
    monkeypatch.setattr(plugapp.Config, "a", 2)
    assert plugapp.get() == "monkey"

def test_mock_patch():
    with mock.patch("plugapp.value", "mock"):
        assert plugapp.get() == "mock"

def test_test_mode():
    assert not pywatch.enabled()
    assert pywatch.is_frozen(plugapp) and pywatch.is_frozen(plugapp.Config)
    assert plugapp.value == "real" and plugapp.Config.a == 1

def test_fixture(pywatch_patch):
    assert pywatch_patch(plugapp, "value", "fixture") == "fixture"
    pywatch_patch(plugapp, "value", "twice")
    pywatch_patch(plugapp, "added", 1, create=True)
    assert plugapp.get() == "twice"

def test_fixture_undone():
    assert plugapp.value == "real" and not hasattr(plugapp, "added")

@pytest.mark.pywatch_frozen
def test_marker(pywatch_patch):
    assert pywatch.enabled()
    with pytest.raises(pywatch.FrozenError):
        plugapp.value = "x"
    with pytest.raises(TypeError):
        plugapp.Config.a = 2
    pywatch_patch(plugapp, "value", "frozen")
    assert plugapp.get() == "frozen"
    pywatch.thaw(plugapp)  # undone after the test

@pytest.fixture
def monkeyed(monkeypatch):
    monkeypatch.setattr(plugapp, "value", "set up")

@pytest.mark.pywatch_frozen
def test_marker_after_fixture_set_up(monkeyed):
    assert plugapp.get() == "set up"  # set up in test mode
    with pytest.raises(pywatch.FrozenError):
        plugapp.value = "x"

def test_after_marker(monkeypatch):
    assert not pywatch.enabled() and pywatch.is_frozen(plugapp)
    assert plugapp.value == "real"
    monkeypatch.setattr(plugapp, "value", "monkey")

@pytest.mark.pywatch_frozen
def test_marker_again():
    with pytest.raises(pywatch.FrozenError):
        plugapp.value = "x"
'''

ON = '''\
import pytest
import pywatch
import plugapp


def test_frozen():
    assert pywatch.enabled()
    # Refused (and with pytest 7, which undoes a refused patch, so is the
    # undo, which stores the object already bound).
    with pytest.raises(pywatch.FrozenError):
        with pytest.MonkeyPatch.context() as monkeypatch:
            monkeypatch.setattr(plugapp, "value", "monkey")

def test_fixture(pywatch_patch):
    pywatch_patch(plugapp, "value", "fixture")
    assert plugapp.get() == "fixture"

@pytest.mark.pywatch_frozen
def test_marker():
    pywatch.thaw(plugapp)

def test_after_marker():
    assert pywatch.enabled()
    with pytest.raises(pywatch.FrozenError):
        plugapp.value = "x"
'''

# A TestCase whose setUp and cleanups patch the frozen application, as
# unittest suites do: under the marker the method alone is frozen.
UNIT = '''\
import asyncio
import unittest
from unittest import mock
import pytest
import pywatch
import plugapp


class Case(unittest.TestCase):
    def setUp(self):
        assert not pywatch.enabled()
        patcher = mock.patch("plugapp.value", "set up")
        patcher.start()
        self.addCleanup(patcher.stop)

    def tearDown(self):
        assert not pywatch.enabled()
        plugapp.Config.a = 1

    @pytest.mark.pywatch_frozen
    def test_marked(self):
        assert pywatch.enabled() and plugapp.get() == "set up"
        with pytest.raises(pywatch.FrozenError):
            plugapp.value = "x"
        self.addCleanup(setattr, plugapp, "value", "set up")

    @pytest.mark.pywatch_frozen
    @unittest.skip("skipped as unittest says")
    def test_skipped(self):
        raise AssertionError("ran")

    @pytest.mark.pywatch_frozen
    @unittest.expectedFailure
    def test_expected_failure(self):
        plugapp.value = "x"

    def test_unmarked(self):
        assert not pywatch.enabled()
        plugapp.value = "unmarked"


class AsyncCase(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        assert not pywatch.enabled()
        plugapp.value = "async set up"

    async def asyncTearDown(self):
        assert not pywatch.enabled()
        plugapp.value = "real"

    @pytest.mark.pywatch_frozen
    async def test_marked(self):
        await asyncio.sleep(0)
        assert pywatch.enabled() and plugapp.get() == "async set up"
        with pytest.raises(pywatch.FrozenError):
            plugapp.value = "x"


def test_after():
    assert not pywatch.enabled() and plugapp.value == "real"
'''

# What a project that never uses pywatch runs, and one marked test.
UNRELATED = '''\
import pytest

def test_plain():
    pass

@pytest.mark.pywatch_frozen
def test_marked():
    pass
'''


def counts(output):
    """pytest's summary line as {"passed": n, "failed": n, ...}."""
    lines = [l for l in output.splitlines() if re.search(r"\d+ \w+ in ", l)]
    if not lines:
        return {}
    return {k: int(n) for n, k in re.findall(r"(\d+) (\w+)", lines[-1])
            if k != "in"}


class PytestPlugin(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pywatch-pytest-")
        for name, text in (("plugapp.py", APP), ("test_suite.py", SUITE),
                           ("test_on.py", ON),
                           ("test_unit.py", UNIT),
                           ("test_unrelated.py", UNRELATED)):
            with open(os.path.join(cls.tmp, name), "w") as f:
                f.write(text)
        path = [cls.tmp, PYWATCH_DIR]
        if os.path.isdir(DEBIAN):
            path.append(DEBIAN)
        cls.env = dict(os.environ, PYTHONPATH=os.pathsep.join(path),
                       PYTHONDONTWRITEBYTECODE="1")
        cls.env.pop("PYWATCH_DISABLE", None)
        probe = subprocess.run([sys.executable, "-c", "import pytest"],
                               env=cls.env, capture_output=True, text=True,
                               timeout=60)
        if probe.returncode != 0:
            shutil.rmtree(cls.tmp, True)
            raise unittest.SkipTest("pytest cannot be imported (Debian: "
                                    "python3-pytest): "
                                    + probe.stderr.strip().splitlines()[-1])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, True)

    def pytest(self, *args):
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
             "-p", "no:warnings", "-q"] + list(args),
            cwd=self.tmp, env=self.env, capture_output=True, text=True,
            timeout=300)
        return proc.returncode, counts(proc.stdout), proc.stdout + proc.stderr

    def test_test_mode_fixture_and_marker(self):
        rc, got, out = self.pytest("-p", "pywatch.pytest_plugin",
                                   "--strict-markers", "test_suite.py")
        self.assertEqual(got, {"passed": 9}, out)
        self.assertEqual(rc, 0, out)

    def test_without_the_plugin_monkeypatch_is_refused(self):
        rc, got, out = self.pytest("test_suite.py::"
                                   "test_monkeypatch_a_frozen_module")
        # pytest 7 records a patch before making it, so it undoes the
        # refused one at teardown: an error, FrozenError too (pytest 9
        # records a patch once made).
        self.assertEqual(got["failed"], 1, out)
        self.assertLessEqual(set(got), {"failed", "error"}, out)
        self.assertIn("FrozenError", out)

    def test_pywatch_on(self):
        rc, got, out = self.pytest("-p", "pywatch.pytest_plugin",
                                   "--pywatch=on", "test_on.py")
        self.assertEqual(got, {"passed": 4}, out)
        self.assertEqual(rc, 0, out)

    def test_marker_on_a_testcase_method(self):
        """setUp, tearDown and the cleanups run in test mode, the method
        frozen, async methods too; unittest's skip and expectedFailure
        still hold."""
        rc, got, out = self.pytest("-p", "pywatch.pytest_plugin",
                                   "--strict-markers", "test_unit.py")
        self.assertEqual(got, {"passed": 4, "skipped": 1, "xfailed": 1},
                         out)
        self.assertEqual(rc, 0, out)

    def entry_point_site(self, name):
        """A site directory where pytest finds the plugin by the wheel's
        pytest11 entry point, and the module it names, as the wheel
        installs them (mk/suites/wheel.sh checks the wheel's)."""
        site = os.path.join(self.tmp, name)
        info = os.path.join(site, "pywatch_entry-0.dist-info")
        os.makedirs(info, exist_ok=True)
        with open(os.path.join(info, "METADATA"), "w") as f:
            f.write("Metadata-Version: 2.1\nName: pywatch-entry\n"
                    "Version: 0\n")
        with open(os.path.join(info, "entry_points.txt"), "w") as f:
            f.write("[pytest11]\n"
                    "pywatch.pytest_plugin = _pywatch_pytest\n")
        shutil.copy(os.path.join(ROOT, "pywatch", "_pywatch_pytest.py"), site)
        return site

    def test_broken_install_warns_and_runs_the_suite(self):
        """The wheel installed where libuv cannot load: pytest still runs,
        with a warning; the markers are still known (--strict-markers);
        only what needs pywatch fails, and says why."""
        site = self.entry_point_site("broken")
        shutil.copytree(os.path.join(PYWATCH_DIR, "pywatch"),
                        os.path.join(site, "pywatch"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        fake = os.path.join(self.tmp, "nolibuv")
        os.makedirs(fake, exist_ok=True)
        open(os.path.join(fake, "libuv.so.1"), "w").close()
        path = [site, self.tmp] + ([DEBIAN] if os.path.isdir(DEBIAN) else [])
        env = dict(self.env, PYTHONPATH=os.pathsep.join(path),
                   LD_LIBRARY_PATH=fake)
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
             "-rA", "--strict-markers", "test_unrelated.py"],
            cwd=self.tmp, env=env, capture_output=True, text=True,
            timeout=300)
        out = proc.stdout + proc.stderr
        self.assertEqual(counts(proc.stdout), {"passed": 1, "error": 1,
                                               "warning": 1}, out)
        self.assertIn("pywatch's pytest plugin is inactive", out)
        self.assertIn("pywatch needs the libuv shared library", out)
        self.assertIn("ERROR test_unrelated.py::test_marked - ImportError",
                      out)
        # --pywatch, as an ini file's addopts may give it, is known too.
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
             "--pywatch=on", "test_unrelated.py::test_plain"],
            cwd=self.tmp, env=env, capture_output=True, text=True,
            timeout=300)
        self.assertEqual(counts(proc.stdout), {"passed": 1, "warning": 1},
                         proc.stdout + proc.stderr)

    def test_entry_point(self):
        """The wheel's pytest11 entry point, named as the module is, loads
        the plugin without -p, and -p of that name on top is harmless (under
        another name, pluggy would refuse to register the module twice)."""
        site = self.entry_point_site("site")
        env = dict(self.env, PYTHONPATH=os.pathsep.join(
            [site, self.env["PYTHONPATH"]]))
        for extra in ([], ["-p", "pywatch.pytest_plugin"]):
            proc = subprocess.run(
                [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                 "-p", "no:warnings", "-q", "--strict-markers"] + extra
                + ["test_suite.py"],
                cwd=self.tmp, env=env, capture_output=True, text=True,
                timeout=300)
            out = proc.stdout + proc.stderr
            self.assertEqual(counts(proc.stdout), {"passed": 9}, out)

    def test_bad_option_value(self):
        rc, got, out = self.pytest("-p", "pywatch.pytest_plugin",
                                   "--pywatch=maybe", "test_on.py")
        self.assertEqual(rc, 4, out)  # pytest's usage error
        self.assertIn("maybe", out)


if __name__ == "__main__":
    unittest.main()
