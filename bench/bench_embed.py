"""examples/embed's compiled module.NAME lookup against a plain module
attribute lookup: builds the example against an installed libwatch and
runs its bench.py, which measures both in the same run."""
import os
import subprocess
import sys

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.exit(subprocess.call(["bash", os.path.join(top, "examples", "embed",
                                               "run.sh"),
                          sys.executable, "bench.py"]))
