"""The freeze fuzzer (tests/fuzz/freeze_fuzz.py): a short seeded run agrees
with the model of the policy write by write; with issue 23's bug put back
(--inject submodule-none) it finds the None bypass by itself and
minimizes it to a few operations, among them the None write; and the
audit's counts of fuzzed programs are the model's.  The fuzzer runs in
child processes: it freezes a real stdlib module for a while."""
import os
import re
import subprocess
import sys
import unittest

IN_CHILDREN = True

FUZZ = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz",
                    "freeze_fuzz.py")


def fuzz(*args):
    env = dict(os.environ)
    env.pop("PYWATCH_DISABLE", None)   # the fuzzer needs freezing on
    return subprocess.run([sys.executable, FUZZ, *args], capture_output=True,
                          text=True, env=env, timeout=600)


class FreezeFuzz(unittest.TestCase):
    def test_a_seeded_run_agrees_with_the_model(self):
        proc = fuzz("--seed", "1", "--ops", "20000")
        self.assertEqual(proc.returncode, 0, proc.stdout[-4000:]
                         + proc.stderr[-4000:])
        self.assertIn("20000 operations", proc.stdout)

    def test_the_none_bypass_is_found_and_minimized(self):
        proc = fuzz("--seed", "1", "--ops", "20000",
                    "--inject", "submodule-none")
        self.assertEqual(proc.returncode, 1, proc.stdout[-4000:]
                         + proc.stderr[-4000:])
        found = re.search(r"^  minimized to (\d+) operations:\n"
                          r"((?:    .*\n)+)", proc.stdout, re.M)
        self.assertIsNotNone(found, proc.stdout[-4000:])
        self.assertLessEqual(int(found.group(1)), 4, found.group(0))
        failing = [line for line in found.group(2).splitlines()
                   if "<- " in line]
        self.assertEqual(len(failing), 1, found.group(0))
        # The write that passed: a None, refused or reported by the policy.
        self.assertRegex(failing[0], r"\bNone\b")
        self.assertIn("freeze(", found.group(2))

    def test_the_audit_counts_as_the_model(self):
        proc = fuzz("--seed", "1", "--ops", "600", "--episode-ops", "200",
                    "--audit", "3", "--audit-ops", "150")
        self.assertEqual(proc.returncode, 0, proc.stdout[-4000:]
                         + proc.stderr[-4000:])
        self.assertIn("audited: 3 programs", proc.stdout)


if __name__ == "__main__":
    unittest.main()
