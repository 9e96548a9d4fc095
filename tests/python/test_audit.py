"""python -m pywatch audit (issue 7): small programs with known writes after
import, audited in a subprocess, and their reports checked exactly; the
program's own stdout, exit code and traceback unchanged by the audit.

The programs are in audit_programs/; each is run from there."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import pywatch
from pywatch import _audit, _audit_report

# Every test here runs pywatch in child processes: refleak.py leaves them
# out.  test_audit_verdict.py has the tests that run programs in this one.
IN_CHILDREN = True

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = os.path.join(HERE, "audit_programs")
ENV = dict(os.environ,
           PYTHONPATH=os.path.dirname(os.path.dirname(
               os.path.abspath(pywatch.__file__))),
           PYTHONDONTWRITEBYTECODE="1")
ENV.pop("PYWATCH_DISABLE", None)
FIXTURES = ("--include=config_mod", "--include=counter_mod",
            "--include=pkg_a*")
NOTHING = {"safe": [], "allow": {}, "classes_written": {},
           "not_freezable": {}, "written_after_freeze": {}}


def run(args, audit_args=FIXTURES):
    """Runs python [-m pywatch audit --json F AUDIT_ARGS] ARGS in
    audit_programs/; (process, report or None)."""
    with tempfile.TemporaryDirectory(prefix="pywatch-audit-") as tmp:
        path = os.path.join(tmp, "report.json")
        prefix = []
        if audit_args is not None:
            prefix = ["-m", "pywatch", "audit", "--json", path, *audit_args]
        proc = subprocess.run([sys.executable, *prefix, *args], cwd=PROGRAMS,
                              env=ENV, capture_output=True, text=True,
                              timeout=300)
        report = None
        if os.path.exists(path):
            with open(path) as f:
                report = json.load(f)
    return proc, report


def line_of(filename, text):
    with open(os.path.join(PROGRAMS, filename)) as f:
        for n, line in enumerate(f, 1):
            if text in line:
                return n
    raise AssertionError("%r not in %s" % (text, filename))


def write(name, at, via="setattr", allowed=None, through_setattr=None,
          **counts):
    """The report's entry for one name: at is (file in audit_programs,
    text of the writer's line), or a {"file", "line"} dict;
    through_setattr is needed for via="setattr+dict" only."""
    if isinstance(at, tuple):
        at = {"file": os.path.join(PROGRAMS, at[0]),
              "line": line_of(*at)}
    kinds = dict.fromkeys(_audit.KINDS, 0)
    kinds.update(counts)
    total = sum(kinds.values())
    setattr_n = {"setattr": total, "dict": 0}.get(via, through_setattr)
    return {"name": name, "count": total, **kinds, "setattr": setattr_n,
            "dict": total - setattr_n, "via": via, "first_writer": at,
            "allowed_by_freeze": allowed, "phase": "later",
            "after_freeze": False}


def module(name, *writes, kind="module", owner=None):
    return {"kind": kind, "name": name, "module": owner or name,
            "writes": list(writes)}


class AuditCase(unittest.TestCase):
    maxDiff = None

    def audit(self, *args, audit_args=FIXTURES):
        """Runs the program with and without the audit: same stdout, same
        exit code, and python's stderr first in the audit's."""
        plain, _ = run(args, audit_args=None)
        proc, report = run(args, audit_args)
        self.assertEqual(proc.stdout, plain.stdout)
        self.assertEqual(proc.returncode, plain.returncode, proc.stderr)
        self.assertTrue(proc.stderr.startswith(plain.stderr),
                        (plain.stderr, proc.stderr))
        self.assertIn("pywatch audit:", proc.stderr[len(plain.stderr):])
        self.assertIsNotNone(report)
        return proc, report


class TestReports(AuditCase):
    """The issue's programs, each report checked exactly."""

    def test_global_counter(self):
        proc, report = self.audit("prog_counter.py")
        n = line_of("counter_mod.py", "n += 1")
        self.assertEqual(report["namespaces"], [module(
            "counter_mod",
            write("n", ("counter_mod.py", "n += 1"), via="dict",
                  modified=1000))])
        self.assertEqual(report["verdict"],
                         dict(NOTHING, allow={"counter_mod": ["n"]}))
        self.assertEqual(report["tracked"], {"modules": 1, "classes": 1})
        self.assertEqual(proc.stderr, (
            "pywatch audit: 1 of 1 modules need attention\n"
            "end of startup: each module's import (the program marks none: "
            "pywatch.freeze() or pywatch.startup_done() would)\n"
            "\nmodule counter_mod\n"
            "  name  kind       count  via   first writer\n"
            "  n     modified    1000  dict  counter_mod.py:%d\n\n"
            "%s\n"
            "verdict\n"
            "  safe to freeze() (never written after import): 0 modules\n"
            "  freezable with allow=:\n"
            "    freeze(counter_mod, allow=('n',))\n") % (
                n, _audit_report.VIA_LEGEND))

    def test_monkeypatch_through_setattr_and_dict(self):
        proc, report = self.audit("prog_monkeypatch.py")
        prog = "prog_monkeypatch.py"
        self.assertEqual(report["namespaces"], [module(
            "config_mod",
            write("DEBUG", (prog, "DEBUG = True"), modified=1),
            write("LEVEL", (prog, '"LEVEL", 3'), via="setattr+dict",
                  modified=3, through_setattr=2),
            write("OLD", (prog, "del config_mod.OLD"), deleted=1),
            write("NEW", (prog, '["NEW"]'), via="dict", added=1))])
        self.assertEqual(report["verdict"], dict(
            NOTHING, allow={"config_mod": ["DEBUG", "LEVEL", "NEW", "OLD"]}))

    def test_mock_patch(self):
        proc, report = self.audit("prog_mock.py")
        (ns,) = report["namespaces"]
        (w,) = ns["writes"]
        # The writer is the first frame outside unittest.mock: the line
        # that asked for the patch.
        self.assertEqual(w, write("DEBUG", ("prog_mock.py", "mock.patch("),
                                  modified=2))
        self.assertEqual(report["verdict"],
                         dict(NOTHING, allow={"config_mod": ["DEBUG"]}))

    def test_submodule_import(self):
        proc, report = self.audit("prog_submodule.py")
        (ns,) = report["namespaces"]
        (w,) = ns["writes"]
        self.assertEqual(ns["name"], "pkg_a")
        self.assertEqual(w, write("sub", w["first_writer"], added=1,
                                  allowed="submodule binding"))
        # The import system binds it: freeze() allows that, so both are safe.
        self.assertEqual(report["verdict"],
                         dict(NOTHING, safe=["pkg_a", "pkg_a.sub"]))

    def test_class_attribute(self):
        proc, report = self.audit("prog_classattr.py")
        prog = "prog_classattr.py"
        self.assertEqual(report["namespaces"], [module(
            "counter_mod.Point",
            write("x", (prog, "Point.x = 5"), modified=1),
            write("y", (prog, "Point.y = 1"), added=1, deleted=1),
            kind="class", owner="counter_mod")])
        self.assertEqual(report["verdict"], dict(
            NOTHING, safe=["counter_mod"],
            classes_written={"counter_mod.Point": ["x", "y"]}))

    def test_edges(self):
        """The identical object stored again through setattr is a write
        that freeze() refuses (issue 23): a class's is unnamed, since
        only its type watcher tells it; a raw class-dict write reads as
        setattr; mock.patch.dict's clear and refill are whole-dict writes,
        which no allow= covers."""
        proc, report = self.audit("prog_edges.py")
        config, point = report["namespaces"]
        self.assertEqual(point, module(
            "counter_mod.Point",
            write(_audit.UNNAMED, ("prog_edges.py", "Point.x = "), same=1),
            write("z", ("prog_edges.py", "raw class dict write"), added=1),
            kind="class", owner="counter_mod"))
        self.assertEqual([w["name"] for w in config["writes"]],
                         ["LEVEL", "<whole __dict__>"])
        self.assertEqual(config["writes"][0]["same"], 1)
        whole = config["writes"][1]
        self.assertEqual((whole["cleared"], whole["cloned"], whole["via"]),
                         (1, 1, "dict"))
        self.assertIn("config_mod", report["verdict"]["not_freezable"])
        self.assertNotIn("config_mod", report["verdict"]["allow"])

    def test_os_exit_prints_no_report(self):
        plain, _ = run(["prog_os_exit.py"], audit_args=None)
        proc, report = run(["prog_os_exit.py"])
        self.assertEqual((plain.returncode, proc.returncode), (4, 4))
        self.assertEqual(proc.stderr, plain.stderr + (
            "pywatch audit: no report: the program ended without running "
            "its exit handlers (os._exit(), a signal, os.exec*(), or "
            "atexit's handlers cleared)\n"))
        self.assertIsNone(report)

    def test_nonzero_exit(self):
        proc, report = self.audit("prog_exit.py")
        self.assertEqual(proc.returncode, 3)
        self.assertEqual(report["namespaces"], [module(
            "counter_mod",
            write("n", ("counter_mod.py", "n += 1"), via="dict",
                  modified=2))])

    def test_uncaught_exception(self):
        proc, report = self.audit("prog_raise.py")
        self.assertEqual(proc.returncode, 1)
        # The traceback is python's own: no frame of the audit's.
        self.assertTrue(proc.stderr.startswith(
            "Traceback (most recent call last):\n  File \"%s\""
            % os.path.join(PROGRAMS, "prog_raise.py")), proc.stderr)
        self.assertIn("KeyError: 'from the program'\npywatch audit:",
                      proc.stderr)
        self.assertEqual(report["namespaces"], [module(
            "config_mod",
            write("LEVEL", ("prog_raise.py", "LEVEL = 9"), modified=1))])

    def test_threads(self):
        proc, report = self.audit("prog_threads.py")
        self.assertEqual(report["namespaces"], [module(
            "config_mod",
            write("last", ("prog_threads.py", "last = object()"),
                  modified=400))])

    def test_forked_child_does_not_report(self):
        proc, report = self.audit("prog_fork.py")
        self.assertEqual(proc.stderr.count("pywatch audit:"), 1)
        self.assertEqual(report["namespaces"], [module(
            "config_mod",
            write("LEVEL", ("prog_fork.py", "LEVEL = 2"), modified=1))])

    def test_reload_rebinds(self):
        proc, report = self.audit("prog_reload.py")
        (ns,) = report["namespaces"]
        names = {w["name"]: w for w in ns["writes"]}
        # Re-executing the module rebinds every name bound to a new object
        # (DEBUG and last are the same False and None again: no write).
        # The import system sets __name__ and __package__ again through
        # setattr, to the objects they hold: freeze() refuses that too
        # (issue 23).  3.15's import system no longer sets __cached__.
        expected = {"LEVEL", "OLD", "__doc__", "__spec__", "__loader__",
                    "__file__", "__name__", "__package__"}
        if sys.version_info < (3, 15):
            expected.add("__cached__")
        self.assertEqual(set(names), expected)
        self.assertEqual(names["LEVEL"]["count"], 2)
        self.assertEqual(names["LEVEL"]["via"], "setattr+dict")
        self.assertEqual(names["OLD"], write(
            "OLD", ("config_mod.py", "OLD ="), via="dict", modified=1))


class TestCommand(AuditCase):

    def test_every_module_tracked_by_default(self):
        proc, report = self.audit("prog_counter.py", audit_args=())
        verdict = report["verdict"]
        self.assertEqual(verdict["allow"]["counter_mod"], ["n"])
        self.assertIn("sys", verdict["not_freezable"])
        for name in ("os", "codecs", "_frozen_importlib"):
            self.assertIn(name, verdict["safe"])
        names = {ns["name"] for ns in report["namespaces"]}
        self.assertFalse({n for n in names if n.startswith("pywatch")})
        self.assertNotIn("__main__", names)

    def test_include_and_exclude(self):
        _, report = self.audit("prog_monkeypatch.py",
                               audit_args=("--include=*_mod",))
        self.assertEqual(report["tracked"], {"modules": 1, "classes": 0})
        self.assertEqual(len(report["namespaces"]), 1)
        _, report = self.audit(
            "prog_monkeypatch.py",
            audit_args=("--include=*_mod", "--exclude=config_mod"))
        self.assertEqual(report["tracked"], {"modules": 0, "classes": 0})
        self.assertEqual(report["namespaces"], [])
        self.assertEqual(report["verdict"], NOTHING)

    def test_run_module(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json",
                                         delete=False) as f:
            f.write('{"b": [1, 2], "a": null}')
        self.addCleanup(os.unlink, f.name)
        proc, report = self.audit("-m", "json.tool", "--sort-keys", f.name,
                                  audit_args=("--include=json*",))
        self.assertEqual(proc.stdout, '{\n    "a": null,\n    "b": [\n'
                         '        1,\n        2\n    ]\n}\n')
        # json.tool runs as __main__, which is never audited.
        self.assertEqual(report["verdict"], dict(
            NOTHING, safe=["json", "json.decoder", "json.encoder",
                           "json.scanner"]))

    def test_program_arguments(self):
        """Arguments after the script are the program's, options or not;
        it sees the argv, __file__ and sys.path[0] python gives it."""
        proc, report = self.audit("prog_argv.py", "a", "-m", "--json")
        self.assertIn("['prog_argv.py', 'a', '-m', '--json']", proc.stdout)
        self.assertEqual(report["namespaces"], [])

    def test_usage_errors(self):
        for args in ([], ["--json"], ["-m"]):
            proc = subprocess.run(
                [sys.executable, "-m", "pywatch", "audit", *args],
                cwd=PROGRAMS, env=ENV, capture_output=True, text=True)
            self.assertEqual(proc.returncode, 2, args)
            self.assertIn("usage: python -m pywatch audit", proc.stderr)

    def test_help_lists_the_commands(self):
        for args in ([], ["--help"], ["-h"]):
            proc = subprocess.run([sys.executable, "-m", "pywatch", *args],
                                  cwd=PROGRAMS, env=ENV, capture_output=True,
                                  text=True)
            self.assertEqual((proc.returncode, proc.stderr), (0, ""), args)
            self.assertIn("commands:\n  audit ", proc.stdout)
        proc = subprocess.run([sys.executable, "-m", "pywatch", "nope"],
                              cwd=PROGRAMS, env=ENV, capture_output=True,
                              text=True)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("unknown command 'nope'", proc.stderr)


if __name__ == "__main__":
    unittest.main()
