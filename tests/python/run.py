"""Runs every tests/python/test_*.py with unittest against the pywatch built
for this interpreter (PYTHONPATH=build/X.Y), and ends with the line
"N passed, N failed" that mk/run-tests.sh counts."""
import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
suite = unittest.defaultTestLoader.discover(here, top_level_dir=here)
result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
passed = result.testsRun - failed - len(result.skipped)
sys.stdout.flush()
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed or not passed else 0)
