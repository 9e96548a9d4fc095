"""Why the compiled part of pywatch could not be imported, in words that say
what to do: the ImportError CPython gives names a file, not the cause."""
import os
import re
import sys


def explain(error):
    """An ImportError for the failed import of pywatch._pywatch."""
    here = os.path.dirname(os.path.abspath(__file__))
    message = str(error)
    if "libuv" in message:
        return ImportError(
            "pywatch needs the libuv shared library, which this system "
            "lacks (Debian: apt-get install libuv1): %s" % message)
    if not isinstance(error, ModuleNotFoundError):
        return ImportError("pywatch's extension in %s failed to load: %s"
                           % (here, message))
    # A debug build's ABI is its own ("3.14d": make builds it apart).
    this = "%d.%d" % sys.version_info[:2] + sys.abiflags
    built_for = sorted({"%s.%s%s" % m.groups() for m in (
        re.match(r"_pywatch\.cpython-(\d)(\d+)([a-z]*)-\S*\.so$", name)
        for name in os.listdir(here)) if m})
    if built_for:
        return ImportError(
            "the pywatch in %s was built for CPython %s, not for this "
            "CPython %s (%s): build it for this one with make PYTHON=%s, "
            "and import it from build/%s" % (
                here, " and ".join(built_for), this, sys.executable,
                sys.executable, this))
    return ImportError(
        "the pywatch in %s has no compiled extension: build it with make "
        "PYTHON=%s, and import it from build/%s" % (
            here, sys.executable, this))
