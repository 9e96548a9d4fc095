"""The audit's verdict holds (issue 7): the allow= list that python -m
pywatch audit gives for a program makes its module freezable, in this
process, and no name less does.  Apart from test_audit.py, whose tests run
pywatch in child processes only, since refleak.py checks these."""
import contextlib
import os
import runpy
import sys
import unittest
import warnings

import pywatch
from test_audit import PROGRAMS, AuditCase


@contextlib.contextmanager
def fixture_modules():
    sys.path.insert(0, PROGRAMS)
    dont_write = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # no __pycache__ in the source tree
    try:
        yield
    finally:
        sys.dont_write_bytecode = dont_write
        sys.path.remove(PROGRAMS)
        for name in ("config_mod", "counter_mod"):
            m = sys.modules.pop(name, None)
            if m is not None:
                pywatch.thaw(m)


class TestVerdictHolds(AuditCase):
    """The allow= list the audit gives makes the module freezable: the same
    program runs frozen without a FrozenError or a FrozenWarning."""

    def frozen_run(self, program, name, allow):
        """Runs program in this process with module name frozen with
        allow=; returns what freezing objected to."""
        objections = []
        with fixture_modules(), warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            pywatch.freeze(__import__(name), allow=allow)
            try:
                with contextlib.redirect_stdout(None):
                    runpy.run_path(os.path.join(PROGRAMS, program))
            except pywatch.FrozenError as exc:
                objections.append(exc)
            pywatch.flush()
        return objections + [x.message for x in w
                             if issubclass(x.category, pywatch.FrozenWarning)]

    def check(self, program, name):
        if not pywatch.enabled():
            self.skipTest("freezing is disabled in this process")
        _, report = self.audit(program)
        allow = report["verdict"]["allow"][name]
        self.assertEqual(self.frozen_run(program, name, allow), [])
        # ...and not with any name less.
        for less in allow:
            rest = [n for n in allow if n != less]
            self.assertTrue(self.frozen_run(program, name, rest), less)

    def test_monkeypatch(self):
        self.check("prog_monkeypatch.py", "config_mod")

    def test_counter(self):
        self.check("prog_counter.py", "counter_mod")


if __name__ == "__main__":
    unittest.main()
