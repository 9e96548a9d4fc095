"""python -m pywatch COMMAND: pywatch's command line."""
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
    sys.exit(main(sys.argv[1:]))
