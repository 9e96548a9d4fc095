"""python -m pywatch COMMAND: pywatch's command line."""
import os
import sys

# python -m puts the working directory first on sys.path: the command's own
# imports must not come from the files of the program it is pointed at.
if not sys.flags.safe_path:
    del sys.path[0]

USAGE = """usage: python -m pywatch COMMAND [args...]

commands:
  audit    run a program as python would, and report which module
           namespaces it writes after import and what could be frozen
           (python -m pywatch audit --help)
"""


def main(argv):
    if argv[:1] == ["audit"]:
        from . import _audit_run
        return _audit_run.main(argv[1:])
    if argv in ([], ["-h"], ["--help"]):
        sys.stdout.write(USAGE)
        return 0
    sys.stderr.write(USAGE)
    sys.stderr.write("python -m pywatch: unknown command %r\n" % argv[0])
    return 2


if __name__ == "__main__":
    status = main(sys.argv[1:])
    if sys.flags.inspect or (not sys.flags.ignore_environment
                             and os.environ.get("PYTHONINSPECT")):
        # python -i, PYTHONINSPECT: this python would print SystemExit and
        # open a REPL of its own after the program's, which had them.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        os._exit(status)
    sys.exit(status)
