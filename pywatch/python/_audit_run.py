"""python -m pywatch audit [options] program: runs the program as plain
python would, in a python of its own, and prints the report when it ends.

The program is started as `python [this python's options] program...`,
with a sitecustomize of the audit's first on PYTHONPATH (_audit), so that
python itself finds and runs every form of program it accepts: a script,
-m module, -c command, a directory or zipapp, and - (stdin).  Its stdin,
stdout and stderr are this process's.  What it leaves at exit is read
here, after it ended, so that no stream or directory the program closed or
removed can lose the report: the table goes to this process's stderr, the
JSON to its file, each on its own.  The exit status is the program's.
"""
import argparse
import json
import marshal
import os
import signal
import stat
import subprocess
import sys
import tempfile

from . import _audit, _audit_report

PROG = "python -m pywatch audit"

# The runner's sitecustomize: sys.modules is noted before pywatch is
# imported, so that _audit can take its own imports out again, and
# pywatch's directory is put first on sys.path only for that import
# (on PYTHONPATH, site would drop the program's own entry for it).
BOOT = """import sys
loaded = list(sys.modules)
sys.path.insert(0, %(parent)r)
from pywatch._audit import start_in_program
start_in_program(loaded, %(parent)r, %(runner)r)
"""


def _parser():
    p = argparse.ArgumentParser(
        prog=PROG,
        usage="%(prog)s [options] (script.py | -m module | -c command | dir "
        "| zipapp | -) [args...]",
        description="Runs a program as python would, and reports at exit "
        "which module namespaces (and the classes they define) were written "
        "after import, by whom, and what could be frozen.")
    p.add_argument("--json", metavar="FILE",
                   help="also write the report as JSON to FILE (- for "
                   "stdout, after the program's output)")
    p.add_argument("--include", metavar="PATTERN", action="append",
                   default=[], help="report only modules matching this "
                   "fnmatch pattern (repeatable)")
    p.add_argument("--exclude", metavar="PATTERN", action="append",
                   default=[], help="do not report modules matching this "
                   "pattern (repeatable)")
    p.add_argument("--all", action="store_true",
                   help="also show the writes that freeze() allows anyway")
    return p


def split(argv):
    """The audit's options, and the program's command line: it begins, as on
    python's own, at -m MODULE, -c COMMAND, - or the first argument that is
    not an option."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-m", "-c") or arg.startswith(("-m", "-c")) \
                and not arg.startswith("--"):
            return argv[:i], argv[i:]
        if arg == "-" or not arg.startswith("-"):
            return argv[:i], argv[i:]
        i += 2 if arg in ("--json", "--include", "--exclude") else 1
    return argv, []


def main(argv):
    ours, program = split(argv)
    parser = _parser()
    opts = parser.parse_args(ours)
    if not program or program[0] in ("-m", "-c") and len(program) == 1:
        parser.error("give the program: a script, -m module, -c command, "
                     "a directory, a zipapp or -")
    if sys.flags.no_site or sys.flags.ignore_environment:
        parser.error("the audit starts in the program's python through site "
                     "and PYTHONPATH: run it without -S, -E or -I")
    cwd = os.getcwd()
    parent = _temp_parent()
    if parent is None:
        parser.error("no temporary directory whose path holds no %r (it goes "
                     "on PYTHONPATH): set TMPDIR" % os.pathsep)
    try:
        json_out = _JsonOut(opts.json) if opts.json else None
    except OSError as exc:
        parser.error("cannot write --json %s: %s" % (opts.json, exc))
    written = False
    try:
        with tempfile.TemporaryDirectory(prefix="pywatch-audit-",
                                         dir=parent) as tmp:
            status = _run(program, tmp)
            data = _read(os.path.join(tmp, "report"))
        written = _report(data, opts, cwd, json_out, status)
    finally:
        if json_out is not None:
            json_out.close(written)
    return _exit_status(status)


def _temp_parent():
    """Where the runner's directory goes.  It is put on PYTHONPATH, which
    os.pathsep splits, so not under a path that holds one (TMPDIR=/x/a:b):
    then the first of the usual places that does not.  None if none."""
    for parent in (tempfile.gettempdir(), "/tmp", "/var/tmp", "/usr/tmp"):
        if os.pathsep not in parent and os.path.isdir(parent) \
                and os.access(parent, os.W_OK | os.X_OK):
            return parent
    return None


class _JsonOut:
    """Where --json goes: FILE, opened before the program runs, so that a
    path that cannot be written is told before it starts, and written
    after it ends; '-' is stdout."""

    def __init__(self, path):
        self.path = path
        self.fd = None
        self.created = False
        if path != "-":
            existed = os.path.lexists(path)
            self.fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o666)
            self.created = not existed

    def write(self, text):
        if self.fd is None:
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        st = os.fstat(self.fd)
        if stat.S_ISREG(st.st_mode):
            if _is_std_stream(st):
                # --json /dev/stdout, redirected to a file: after the
                # program's output, which truncating would lose.
                os.lseek(self.fd, 0, os.SEEK_END)
            else:
                os.ftruncate(self.fd, 0)
                os.lseek(self.fd, 0, os.SEEK_SET)
        data = text.encode("utf-8")
        while data:
            data = data[os.write(self.fd, data):]

    def close(self, written):
        """A file created for a report that was never written goes."""
        if self.fd is None:
            return
        os.close(self.fd)
        if self.created and not written:
            try:
                os.unlink(self.path)
            except OSError:
                pass


def _is_std_stream(st):
    """Whether st is the file that stdout or stderr writes to."""
    for fd in (1, 2):
        try:
            std = os.fstat(fd)
        except OSError:
            continue
        if (std.st_dev, std.st_ino) == (st.st_dev, st.st_ino):
            return True
    return False


def _run(program, tmp):
    """Runs the program to its end; its wait status (negative: a signal)."""
    with open(os.path.join(tmp, "sitecustomize.py"), "w",
              encoding="utf-8") as f:
        f.write(BOOT % {
            "parent": os.path.dirname(os.path.dirname(_audit.__file__)),
            "runner": tmp})
    env = dict(os.environ)
    env[_audit.ENV_OUT] = os.path.join(tmp, "report")
    env["PYTHONPATH"] = tmp
    if "PYTHONPATH" in os.environ:
        env[_audit.ENV_PYTHONPATH] = os.environ["PYTHONPATH"]
        if os.environ["PYTHONPATH"]:  # an empty entry would be the cwd
            env["PYTHONPATH"] += os.pathsep + os.environ["PYTHONPATH"]
    argv0, options = _interpreter_command()
    # The forwarding is in place before the program starts: a signal sent
    # to the audit once the program runs would otherwise kill the audit
    # alone, when the program starts faster than this process goes on.
    # One that comes before the program exists waits for it.  The exec
    # gives the program the default action of each (a caught signal is
    # reset), where ignoring one (_GROUP) would be inherited: so those are
    # ignored only once the program runs.
    child = None
    waiting = []

    def forward(sig, frame):
        if child is None:
            waiting.append(sig)
        else:
            child.send_signal(sig)

    previous = {sig: signal.signal(sig, forward) for sig in _FORWARDED}
    try:
        # Every descriptor is the program's, as plain python would have it
        # (a supervisor's pipes, systemd's LISTEN_FDS).
        child = subprocess.Popen([argv0, *options, *program],
                                 executable=sys.executable, env=env,
                                 close_fds=False)
        for sig in _GROUP:
            previous[sig] = signal.signal(sig, signal.SIG_IGN)
        while waiting:
            child.send_signal(waiting.pop(0))
        return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# A terminal sends these to its whole foreground process group, the
# program included: the audit only stays alive for the report.
_GROUP = (signal.SIGINT, signal.SIGQUIT)
# Sent to the audit's pid, these are passed on to the program.
_FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2,
              signal.SIGALRM)


def _interpreter_command():
    """argv[0] and the interpreter options this python was started with,
    as given (the environment's PYTHON* variables then act in the program's
    python as they did here): sys.orig_argv up to -m pywatch."""
    argv = sys.orig_argv
    for i, arg in enumerate(argv[1:], 1):
        if arg == "-mpywatch" or arg == "-m" and argv[i + 1:i + 2] == [
                "pywatch"]:
            return argv[0], argv[1:i]
    return sys.executable, subprocess._args_from_interpreter_flags()


def _read(path):
    """The data the program left: the program's python creates the file as
    the audit starts in it, and fills it at exit.  NOT_STARTED if there is
    no file, None if it is empty."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return NOT_STARTED
    return marshal.loads(data) if data else None


# The audit never started in the program's python: its sitecustomize did
# not run.
NOT_STARTED = {"error": "no report: the audit did not start in the "
               "program's python (its sitecustomize did not run)"}


def _report(data, opts, cwd, json_out, status):
    """The table on stderr and the JSON in its file, each written whatever
    happens to the other; whether the JSON was written."""
    if data is None:
        _say("pywatch audit: no report: the program ended without running "
             "its exit handlers (os._exit(), a signal, os.exec*(), or "
             "atexit's handlers cleared)\n")
        return False
    if "error" in data:
        _say("pywatch audit: %s\n" % data["error"])
        return False
    if not data["started"]:
        _say("pywatch audit: the program did not start (%s): no report\n"
             % ("exit status %d" % status if status >= 0
                else "signal %d" % -status))
        return False
    result = _audit_report.report(data, opts.include, opts.exclude)
    _say(_audit_report.render(result, cwd, opts.all))
    if json_out is None:
        return False
    try:
        json_out.write(json.dumps(result, indent=1) + "\n")
        return True
    except (OSError, ValueError) as exc:
        _say("pywatch audit: cannot write %s: %s\n" % (json_out.path, exc))
        return False


def _say(text):
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass  # no stderr: the JSON, if asked for, is written all the same


def _exit_status(status):
    """The program's exit status: a signal that killed it kills this process
    too, so that its parent sees what plain python would give it."""
    if status >= 0:
        return status
    signal.signal(-status, signal.SIG_DFL)
    os.kill(os.getpid(), -status)
    return 128 - status
