"""Reports without noise (issue 26, part 3): a program that uses the
standard library and writes nothing of its own gets "0 modules need
attention", on every version.  The standard library's own writes are in
the table that freezing allows (_freeze.STDLIB_WRITES and its class
tables), so freezing lets them through too.

The programs are in audit_programs/stdlib/, each a small user of one
stdlib-heavy module."""
import os
import subprocess
import sys
import unittest

from test_audit import ENV, PROGRAMS, run

# Every test here runs pywatch in child processes: refleak.py leaves them
# out.
IN_CHILDREN = True

STDLIB = os.path.join(PROGRAMS, "stdlib")
NAMES = ("typing", "ast", "dataclasses", "enum", "logging", "asyncio",
         "json", "re")


class TestCleanReports(unittest.TestCase):

    def audit(self, name):
        program = os.path.join(STDLIB, "use_%s.py" % name)
        plain, _ = run([program], audit_args=None)
        proc, report = run([program], audit_args=())
        return plain, proc, report

    def test_programs(self):
        for name in NAMES:
            with self.subTest(name):
                plain, proc, report = self.audit(name)
                self.assertEqual(plain.returncode, 0, plain.stderr)
                self.assertEqual(proc.returncode, 0)
                self.assertEqual(proc.stdout, plain.stdout)
                self.assertEqual(proc.stderr.splitlines()[0].split(":")[0],
                                 "pywatch audit", proc.stderr)
                self.assertRegex(
                    proc.stderr,
                    r"^pywatch audit: 0 of \d+ modules need attention\n")
                v = report["verdict"]
                self.assertEqual(v["allow"], {})
                self.assertEqual(v["classes_written"], {})
                self.assertEqual(list(v["not_freezable"]), ["sys"])
                self.assertEqual(report["class_changes"], [])
                self.assertEqual(report["blind_classes"], [])
                self.assertIn(name, v["safe"])


# Freezing allows what the audit leaves out: each program freezes the
# modules concerned (classes too) first, and must warn of nothing.
FROZEN = """
import sys, warnings
warnings.simplefilter("error")
import pywatch, _collections_abc, ast, typing
for m in (_collections_abc, ast, typing):
    pywatch.freeze(m)
if sys.version_info >= (3, 14):
    import annotationlib
    pywatch.freeze(annotationlib, classes=True)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    for name in ("Str", "Num", "Bytes", "NameConstant", "Ellipsis"):
        getattr(ast, name, None)
    getattr(_collections_abc, "ByteString", None)
if sys.version_info >= (3, 14):
    import dataclasses

    @dataclasses.dataclass
    class D:
        x: Undefined  # noqa: F821  a name that is not bound

    hints = annotationlib.get_annotations(
        D, format=annotationlib.Format.FORWARDREF)
    print(type(hints["x"]).__name__)
pywatch.flush()
print(pywatch.stats()["frozen_writes_detected"])
"""


class TestFreezingAllows(unittest.TestCase):

    def test_stdlib_writes_pass_frozen(self):
        """On 3.14+ also: annotationlib frozen with classes=True still
        turns its _Stringifiers into ForwardRefs."""
        proc = subprocess.run([sys.executable, "-c", FROZEN], env=ENV,
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = proc.stdout.split()
        self.assertEqual(lines[-1], "0")
        if sys.version_info >= (3, 14):
            self.assertEqual(lines[0], "ForwardRef")


if __name__ == "__main__":
    unittest.main()
