"""The standard library's own writes after import (issue 17, point 4):
freezing the stdlib modules they write changes nothing and reports
nothing (_freeze.STDLIB_WRITES, listed in READONLY.txt), and freezing
every loaded module, pywatch's own included, leaves pywatch quiet."""
import subprocess
import sys
import tempfile
import textwrap
import unittest

from test_audit import ENV  # pywatch's path, made absolute

EXERCISE = '''
import asyncio, concurrent.futures, logging, pkgutil, platform, sys
import base64, builtins, gettext, inspect, mimetypes, random, sysconfig
import tempfile, threading, time, typing, urllib.parse, warnings
import concurrent.futures.thread, marshal
import pywatch
mods = [asyncio.events, base64, builtins, concurrent.futures,
        concurrent.futures.thread, gettext, logging, mimetypes, pkgutil,
        platform, random, sysconfig, tempfile, threading, time, typing,
        urllib.parse, warnings, marshal]
for m in mods:
    pywatch.freeze(m)
with warnings.catch_warnings(record=True):
    warnings.simplefilter("always")
    warnings.warn("inside")
warnings.filterwarnings("ignore", "nothing")
warnings.resetwarnings()
logging.captureWarnings(True)
logging.captureWarnings(False)
typing.Match, typing.Pattern
concurrent.futures.ThreadPoolExecutor
with concurrent.futures.ThreadPoolExecutor(1) as ex:
    ex.submit(abs, -1).result()
t = threading.Thread(target=abs, args=(1,)); t.start(); t.join()
asyncio.run(asyncio.sleep(0))
pkgutil.resolve_name("os.path:join")
platform.uname()
sysconfig.get_config_vars()
tempfile.gettempdir()
tempfile.TemporaryFile().close()
time.tzset()
time.strptime("2020", "%Y")
mimetypes.guess_type("a.txt")
base64.a85encode(b"x"), base64.b85decode(base64.b85encode(b"x"))
urllib.parse.unquote_to_bytes("%41")
random.seed("a string")
inspect.signature(marshal.dumps)  # eval() in its dict adds __builtins__
gettext.install("nothing")                 # builtins._ and gettext
pywatch.flush()
stats = pywatch.stats()
print("frozen", all(pywatch.is_frozen(m) for m in mods))
print("blocked", stats["frozen_writes_blocked"])
print("reported", stats["frozen_writes_detected"])
'''

EVERYTHING = '''
import sys, json, warnings, typing, pywatch, pywatch._audit
for name, m in list(sys.modules.items()):
    if m is not None and name not in ("sys", "__main__"):
        pywatch.freeze(m)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
print(json.dumps(typing.get_type_hints(lambda x: 1)))
'''


class StdlibWrites(unittest.TestCase):

    def run_py(self, text):
        return subprocess.run([sys.executable, "-c", textwrap.dedent(text)],
                              env=ENV, cwd=tempfile.gettempdir(),
                              capture_output=True, text=True, timeout=120)

    def test_stdlib_writes_are_allowed(self):
        proc = self.run_py(EXERCISE)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.splitlines(),
                         ["frozen True", "blocked 0", "reported 0"])
        # Nor at exit (threading._SHUTTING_DOWN, concurrent.futures').
        self.assertEqual(proc.stderr, "")

    def test_importlib_imported_first_after_freezing_everything(self):
        """importlib/__init__.py names the frozen bootstrap modules."""
        proc = self.run_py('''
            import sys
            if "importlib" in sys.modules:
                print("loaded at start-up")
                raise SystemExit
            import pywatch
            for name, m in list(sys.modules.items()):
                if m is not None and name not in ("sys", "__main__"):
                    pywatch.freeze(m)
            import importlib
            print(importlib._bootstrap.__name__)
        ''')
        if proc.stdout == "loaded at start-up\n":
            self.skipTest("importlib was imported at start-up")
        self.assertEqual((proc.stdout, proc.stderr),
                         ("importlib._bootstrap\n", ""))

    def test_every_module_pywatch_included(self):
        proc = self.run_py(EVERYTHING)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout, "{}\n")
        self.assertEqual(proc.stderr, "")


if __name__ == "__main__":
    unittest.main()
