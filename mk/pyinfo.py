# Run by a candidate interpreter.  If libwatch can be built for it and
# embedded in it, prints one line:
#   X.Y LDVERSION LIBDIR INCLUDEPY EXECUTABLE EXT_SUFFIX
# else says why on stderr and exits 1.  X.Y carries the ABI flags, as
# LDVERSION does: a debug build (Py_DEBUG) is 3.14d, an ABI of its own, so
# that it gets a build directory and installed names of its own.  Written in syntax that any Python 2.7+
# parses, so that an old interpreter met while searching is rejected with a
# reason rather than a SyntaxError.
import os
import platform
import sys
import sysconfig


def fail(why):
    sys.stderr.write(why + "\n")
    sys.exit(1)


if platform.python_implementation() != "CPython":
    fail("not CPython (%s)" % platform.python_implementation())
if sys.version_info < (3, 12):
    fail("Python %d.%d is too old: libwatch needs 3.12+ (dict watchers)"
         % sys.version_info[:2])

var = sysconfig.get_config_var
include, libdir, ldversion = var("INCLUDEPY"), var("LIBDIR"), var("LDVERSION")
if not include or not os.path.isfile(os.path.join(include, "Python.h")):
    fail("no Python.h in INCLUDEPY (%s): install its headers" % include)
# Tests and examples embed the interpreter, so -lpython must find a shared
# library (a static one would also drag a second copy into libwatch users).
shlib = os.path.join(libdir or "", "libpython%s.so" % ldversion)
if not os.path.isfile(shlib):
    fail("no shared libpython (%s): it needs --enable-shared" % shlib)
# sys.executable, not the path we were started by: that may be a pyenv shim,
# which runs another version once PYENV_VERSION changes.
executable = os.path.abspath(sys.executable)
for path in (include, libdir, executable):
    if " " in path:
        fail("a path with a space, which make cannot handle: %s" % path)

print("%d.%d%s %s %s %s %s %s" % (sys.version_info[0], sys.version_info[1],
                                  getattr(sys, "abiflags", ""), ldversion,
                                  libdir, include, executable,
                                  var("EXT_SUFFIX")))
