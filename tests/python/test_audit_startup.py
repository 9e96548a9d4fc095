"""The audit judges what happens after startup (issue 26, part 1): a
program's own pywatch.freeze(m) marks the end of startup for m (observed:
nothing is frozen during the audit), pywatch.startup_done() for every
namespace not frozen yet; the report and the JSON keep startup writes
apart, the verdict and the allow= advice use the later writes only, and a
write after the program's own freeze() is reported as the one freezing
refuses.  Without a marker, the import ends startup, as before, and the
report says so.

audit_programs/prog_service.py sets svc_config's DEBUG and TIMEOUT during
startup and then freezes svc_config."""
import subprocess
import sys
import unittest

from test_audit import ENV, PROGRAMS, line_of, run

# Every test here runs pywatch in child processes: refleak.py leaves them
# out.
IN_CHILDREN = True

SERVICE = ["prog_service.py", "--debug"]
ONLY = ("--include=svc_config",)
FREEZE_LINE = line_of("prog_service.py", "pywatch.freeze(config)")
LATE_LINE = line_of("prog_service.py", "config.TIMEOUT = 5.0")


def writes(report, phase):
    """{name: write} of svc_config's writes in phase."""
    (ns,) = report["namespaces"]
    return {w["name"]: w for w in ns["writes"] if w["phase"] == phase}


class TestFreezeMarks(unittest.TestCase):

    def test_config_set_at_startup_is_safe(self):
        proc, report = run(SERVICE, ONLY)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        # Observed, not frozen: the program's freeze() froze nothing.
        self.assertEqual(proc.stdout, "served True 2.5 False\n")
        v = report["verdict"]
        self.assertEqual(v["safe"], ["svc_config"])
        self.assertEqual(v["allow"], {})
        self.assertEqual(v["written_after_freeze"], {})
        self.assertEqual(sorted(writes(report, "startup")),
                         ["DEBUG", "TIMEOUT"])
        self.assertEqual(writes(report, "later"), {})
        marks = report["end_of_startup"]
        self.assertEqual(marks["rule"], "marked")
        self.assertIsNone(marks["startup_done"])
        (frozen,) = marks["frozen"]
        self.assertEqual((frozen["kind"], frozen["name"], frozen["line"],
                          frozen["allow"]),
                         ("module", "svc_config", FREEZE_LINE, []))
        self.assertTrue(proc.stderr.startswith(
            "pywatch audit: 0 of 1 modules need attention\n"
            "end of startup: the program's own freeze() of svc_config "
            "(prog_service.py:%d); for the rest, each module's import\n"
            "\nwritten during startup (not judged):\n"
            "  module svc_config: DEBUG, TIMEOUT\n" % FREEZE_LINE),
            proc.stderr)
        self.assertNotIn("allow=", proc.stderr)

    def test_write_after_freeze_is_reported(self):
        proc, report = run(SERVICE + ["--late"], ONLY)
        self.assertEqual(proc.stdout, "served True 5.0 False\n")
        v = report["verdict"]
        # Only the later write: DEBUG, written during startup alone, is
        # named by no advice.
        self.assertEqual(v["allow"], {"svc_config": ["TIMEOUT"]})
        self.assertEqual(v["written_after_freeze"],
                         {"svc_config": ["TIMEOUT"]})
        late = writes(report, "later")["TIMEOUT"]
        self.assertTrue(late["after_freeze"])
        self.assertEqual((late["count"], late["first_writer"]["line"]),
                         (1, LATE_LINE))
        self.assertIn("TIMEOUT", writes(report, "startup"))
        self.assertIn("prog_service.py:%d  (after the program's freeze(): "
                      "refused)" % LATE_LINE, proc.stderr)
        self.assertIn("  written after the program's own freeze(), which "
                      "refuses it (setattr) or reports it (dict):\n"
                      "    svc_config: TIMEOUT\n", proc.stderr)
        self.assertNotIn("'DEBUG'", proc.stderr)

    def test_freezing_refuses_that_write(self):
        """What the audit calls refused is: run plainly, the program's
        freeze() refuses the late write."""
        proc, _ = run(SERVICE + ["--late"], audit_args=None)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("FrozenError", proc.stderr)
        self.assertIn("config.TIMEOUT = 5.0", proc.stderr)

    def test_allowed_names_and_classes(self):
        proc, report = run(["-c", """if 1:
            import pywatch, counter_mod as m
            m.Point.x = 1
            m.n = 1
            pywatch.freeze(m, allow=("n",), classes=True)
            m.n = 2          # allowed by the program's allow=
            m.Point.x = 2    # its class was frozen too
            """], ("--include=counter_mod",))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        marks = report["end_of_startup"]
        self.assertEqual(
            [(f["kind"], f["name"], f["allow"]) for f in marks["frozen"]],
            [("class", "counter_mod.Point", []),
             ("module", "counter_mod", ["n"])])
        v = report["verdict"]
        self.assertEqual(v["written_after_freeze"],
                         {"counter_mod.Point": ["x"]})
        self.assertEqual(v["allow"], {"counter_mod": ["n"]})
        self.assertEqual(v["classes_written"], {"counter_mod.Point": ["x"]})


    def test_module_that_freezes_itself_as_it_is_imported(self):
        """Frozen before the audit tracks it, as its import ends."""
        proc, report = run(["prog_selfish.py"], ("--include=selfish_mod",))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(
            [(f["name"], f["line"]) for f in
             report["end_of_startup"]["frozen"]],
            [("selfish_mod", line_of("selfish_mod.py", "pywatch.freeze("))])
        self.assertEqual(report["verdict"]["written_after_freeze"],
                         {"selfish_mod": ["N"]})


class TestStartupDone(unittest.TestCase):

    def test_marks_every_namespace(self):
        proc, report = run(SERVICE + ["--startup-done", "--late"], ONLY)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        marks = report["end_of_startup"]
        self.assertEqual(marks["rule"], "marked")
        self.assertEqual(marks["frozen"], [])
        self.assertEqual(marks["startup_done"]["line"], line_of(
            "prog_service.py", "    pywatch.startup_done()"))
        v = report["verdict"]
        self.assertEqual(v["allow"], {"svc_config": ["TIMEOUT"]})
        self.assertEqual(v["written_after_freeze"], {})
        self.assertIn("end of startup: pywatch.startup_done() at "
                      "prog_service.py:", proc.stderr)

    def test_harmless_outside_the_audit(self):
        proc = subprocess.run(
            [sys.executable, "prog_service.py", "--startup-done", "--late"],
            cwd=PROGRAMS, env=ENV, capture_output=True, text=True,
            timeout=120)
        self.assertEqual((proc.returncode, proc.stdout, proc.stderr),
                         (0, "served False 5.0 False\n", ""))


class TestNoMarker(unittest.TestCase):

    def test_import_rule_as_before(self):
        proc, report = run(SERVICE + ["--plain"], ONLY)
        self.assertEqual(report["end_of_startup"]["rule"], "import")
        self.assertEqual(report["verdict"]["allow"],
                         {"svc_config": ["DEBUG", "TIMEOUT"]})
        self.assertEqual(writes(report, "startup"), {})
        self.assertIn("\nend of startup: each module's import (the program "
                      "marks none", proc.stderr)


if __name__ == "__main__":
    unittest.main()
