"""python -m pywatch audit [options] (script.py | -m module) [args...]

Runs a program and reports which module namespaces it writes after import
(see pywatch._audit)."""
import sys

USAGE = """usage: python -m pywatch audit [options] (script.py | -m module) [args...]
       python -m pywatch audit --help
"""


def main(argv):
    if argv[:1] == ["audit"]:
        from . import _audit
        return _audit.main(argv[1:])
    sys.stderr.write(USAGE)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
