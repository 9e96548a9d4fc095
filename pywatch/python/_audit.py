"""python -m pywatch audit: which module namespaces change after import, and
who changes them, so that a team knows what it can freeze().

From the moment a module finishes importing (the import system's
_load_unlocked returns it; the modules loaded when the audit starts are
tracked from the start), its __dict__ and the __dict__ of every class that
freeze(module, classes=True) would freeze go into freeze.c's write log: a
dict watcher that counts every write exactly, keeps the first writer's file
and line, and tells a module write made through setattr (which freeze()
blocks) from a direct one (STORE_GLOBAL, __dict__[k] = v, which freeze() can
only report).  Nothing is frozen: the audit only observes.

The report is printed on stderr at exit (atexit: after an uncaught
exception's traceback, and after sys.exit(n)); os._exit() skips it.
"""
import argparse
import atexit
import builtins
import fnmatch
import importlib._bootstrap as _bootstrap
import importlib.machinery
import io
import json
import os
import runpy
import sys
import types
import weakref

from . import _freeze
from . import _pywatch as _c

_ModuleType = types.ModuleType
# The kinds of write, in the order of freeze.c's counts.
_KINDS = ("added", "modified", "deleted", "cleared", "cloned")
# Never audited: pywatch itself, and the program's own __main__, which runs
# for the whole life of the program rather than finishing its import.
_OWN = ("pywatch", "pywatch.*", "__main__")
_MISSING = object()

VIA_LEGEND = (
    "via: setattr = mod.x = v, setattr(), del mod.x, mock.patch: freeze() "
    "blocks it\n"
    "     dict    = STORE_GLOBAL, mod.__dict__[k] = v, exec(): freeze() only "
    "reports it (FrozenWarning)\n"
    "     class attributes: C.x = v, which freeze(C) blocks\n")


class Audit:
    """The namespaces tracked, and the report made of their write log."""

    def __init__(self, include=(), exclude=()):
        self.include = list(include) or ["*"]
        self.exclude = list(exclude) + list(_OWN)
        self.tracked = {}  # (kind, name) -> weakref to the module or class
        self.done = False

    def wanted(self, module_name):
        """--include and --exclude: fnmatch patterns on module names."""
        return (any(fnmatch.fnmatchcase(module_name, p) for p in self.include)
                and not any(fnmatch.fnmatchcase(module_name, p)
                            for p in self.exclude))

    def start(self):
        """Tracks what is loaded, and every module imported from now on."""
        _c._audit_start()
        _bootstrap._load_unlocked = _c._call_then(_bootstrap._load_unlocked,
                                                  self.track)
        for module in list(sys.modules.values()):
            self.track(module)

    def track(self, module):
        # Only type(module) is looked at first: a module with its own
        # __getattribute__, such as importlib.util.LazyLoader's, may load
        # itself (and write everything) on any attribute access, even
        # isinstance()'s __class__; it is left alone.
        cls = type(module)
        if (not issubclass(cls, _ModuleType)
                or cls.__getattribute__ is not _ModuleType.__getattribute__):
            return
        name = module.__dict__.get("__name__")
        if (not isinstance(name, str) or not self.wanted(name)
                or not _c._audit_watch(module.__dict__,
                                       ("module", name, name))):
            return
        self.tracked["module", name] = weakref.ref(module)
        for cls in _freeze.defined_classes(module):
            qualname = "%s.%s" % (name, cls.__qualname__)
            if _c._audit_watch(_c._type_dict(cls), ("class", qualname, name)):
                self.tracked["class", qualname] = weakref.ref(cls)

    def forget(self):
        """In a forked child: the parent reports, not the child."""
        self.done = True

    def exit(self, json_path=None):
        """At exit: the report on stderr, and in json_path if given."""
        if self.done:
            return
        self.done = True
        report = self.report()
        stream = sys.__stderr__ or sys.stderr
        stream.write(render(report))
        stream.flush()
        if json_path:
            with open(json_path, "w") as f:
                json.dump(report, f, indent=1)
                f.write("\n")

    def report(self):
        """Stops counting; the report as JSON-ready data."""
        _c._audit_stop()
        merged = {}  # (kind, name) -> (module name, {key: counts})
        for (kind, name, module), alive, writes in _c._audit_log():
            if not alive:
                _drop_gc_clear(writes)
                if not writes:
                    continue
            _, log = merged.setdefault((kind, name), (module, {}))
            for key, row in writes.items():
                log[key] = _merge(log[key], row) if key in log else row
        namespaces = []
        for (kind, name), (module, log) in sorted(
                merged.items(),
                key=lambda item: (item[1][0], item[0][0] != "module",
                                  item[0][1])):
            ref = self.tracked.get((kind, name))
            namespaces.append({
                "kind": kind, "name": name, "module": module,
                "writes": [_write(kind, name, ref and ref(), key, row)
                           for key, row in sorted(log.items(),
                                                  key=lambda kv: kv[1][6])]})
        modules = sorted(n for k, n in self.tracked if k == "module")
        return {"tracked": {"modules": len(modules),
                            "classes": len(self.tracked) - len(modules)},
                "namespaces": namespaces,
                "verdict": _verdict(modules, namespaces)}


def _drop_gc_clear(writes):
    """The garbage collector clears the dict of a dead module or class to
    break its cycles: no write of the program's."""
    row = writes.get(None)
    if row is not None and sum(row[:5]) == row[3]:
        del writes[None]


def _merge(a, b):
    """Two logs of one name (a module imported twice): counts add up, the
    first writer is the earlier one."""
    first = a if a[6] <= b[6] else b
    return (tuple(x + y for x, y in zip(a[:6], b[:6])) + first[6:9]
            + (a[9] + b[9],))


def _write(kind, owner, obj, key, row):
    counts = dict(zip(_KINDS, row[:5]))
    total = sum(counts.values())
    if kind == "class":
        # C.x = v: a class dict has no other public path for a name.
        setattr_n = total if isinstance(key, str) else 0
    else:
        setattr_n = row[5]
    if isinstance(key, str):
        name = key
        ns = vars(obj) if obj is not None else {}
        value = ns.get(key, _MISSING)
        # Whether every write resolved a lazy import (row[9]: 3.15's
        # import system replacing its placeholder).
        resolved = counts["modified"] == row[9] == total
        reason = _freeze.allowed_anyway(owner, kind == "module", key, value,
                                        counts["added"] == 0, resolved)
        if kind == "module" and obj is not None \
                and key in _freeze.implicitly_allowed(obj):
            reason = "always allowed on builtins"
    else:
        name = "<whole __dict__>" if key is None else "<non-str key>"
        reason = ""
    filename, lineno = row[7], row[8]
    return {"name": name, "count": total, **counts,
            "setattr": setattr_n, "dict": total - setattr_n,
            "via": ("setattr" if setattr_n == total else
                    "dict" if setattr_n == 0 else "setattr+dict"),
            "first_writer": ({"file": filename, "line": lineno}
                             if filename else None),
            "allowed_by_freeze": reason or None}


def _verdict(modules, namespaces):
    """What freeze() can be told, module by module."""
    blocking = {}  # module -> names freeze() would not let through
    classes = {}   # class -> names written
    for ns in namespaces:
        names = [w["name"] for w in ns["writes"] if not w["allowed_by_freeze"]]
        if not names:
            continue
        if ns["kind"] == "class":
            classes[ns["name"]] = names
        else:
            blocking[ns["name"]] = names
    refused = {}
    for name in modules:
        module = sys.modules.get(name)
        if module is None:
            continue
        try:
            _freeze._check_target(module, "freeze")
        except (TypeError, ValueError) as exc:
            refused[name] = str(exc)
    for name, names in blocking.items():
        if name not in refused and any(n.startswith("<") for n in names):
            refused[name] = ("its __dict__ was cleared or written with a "
                             "non-str key: no allow= covers that")
    return {
        "safe": [m for m in modules if m not in blocking and m not in refused],
        "allow": {m: sorted(n) for m, n in sorted(blocking.items())
                  if m not in refused},
        "classes_written": {c: sorted(n) for c, n in sorted(classes.items())},
        "not_freezable": dict(sorted(refused.items())),
    }


def _where(first_writer, cwd=None):
    if first_writer is None:
        return "?"
    path = first_writer["file"]
    cwd = cwd or os.getcwd()
    if os.path.isabs(path) and path.startswith(cwd + os.sep):
        path = os.path.relpath(path, cwd)
    return "%s:%d" % (path, first_writer["line"])


def render(report):
    """The report as a table, for stderr."""
    written = report["namespaces"]
    nmod = sum(1 for ns in written if ns["kind"] == "module")
    tracked = report["tracked"]
    out = ["pywatch audit: written after import: %d of %d modules, %d of %d "
           "classes" % (nmod, tracked["modules"], len(written) - nmod,
                        tracked["classes"])]
    rows = [[ns] + [("+".join(k for k in _KINDS if w[k]), w)
                    for w in ns["writes"]] for ns in written]
    wname = max([4] + [len(w["name"]) for ns in written
                       for w in ns["writes"]])
    wkind = max([4] + [len(k) for r in rows for k, _ in r[1:]])
    wvia = max([3] + [len(w["via"]) for ns in written for w in ns["writes"]])
    line = "  %-*s  %-*s %7s  %-*s  %s"
    for ns, *writes in rows:
        out.append("")
        out.append("%s %s" % (ns["kind"], ns["name"]))
        out.append(line % (wname, "name", wkind, "kind", "count", wvia, "via",
                           "first writer"))
        for kinds, w in writes:
            note = ("  (freeze allows: %s)" % w["allowed_by_freeze"]
                    if w["allowed_by_freeze"] else "")
            out.append(line % (wname, w["name"], wkind, kinds, w["count"],
                               wvia, w["via"], _where(w["first_writer"]))
                       + note)
    if written:
        out.append("")
        out.append(VIA_LEGEND.rstrip("\n"))
    v = report["verdict"]
    out.append("")
    out.append("verdict")
    out.append("  safe to freeze() (never written after import): %d modules"
               % len(v["safe"]))
    out.extend(_wrap(", ".join(v["safe"]), "    "))
    if v["allow"]:
        out.append("  freezable with allow=:")
        for m, names in v["allow"].items():
            out.append("    freeze(%s, allow=(%s))" % (
                m, "".join("%r, " % n for n in names).rstrip(" ")))
    if v["classes_written"]:
        out.append("  written classes: freeze their module without "
                   "classes=True")
        for c, names in v["classes_written"].items():
            out.append("    %s: %s" % (c, ", ".join(names)))
    if v["not_freezable"]:
        out.append("  not freezable:")
        for m, why in v["not_freezable"].items():
            out.append("    %s: %s" % (m, why))
    return "\n".join(out) + "\n"


def _wrap(text, indent, width=79):
    lines, line = [], indent
    for word in text.split(" "):
        if len(line) + len(word) > width and line.strip():
            lines.append(line.rstrip())
            line = indent
        line += word + " "
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _parser():
    p = argparse.ArgumentParser(
        prog="python -m pywatch audit",
        usage="%(prog)s [options] (script.py | -m module) [args...]",
        description="Runs a program and reports, at exit, which module "
        "namespaces (and the classes they define) were written after "
        "import, by whom, and what could be frozen.")
    p.add_argument("--json", metavar="FILE",
                   help="also write the report as JSON to FILE")
    p.add_argument("--include", metavar="PATTERN", action="append",
                   default=[], help="audit only modules matching this "
                   "fnmatch pattern (repeatable)")
    p.add_argument("--exclude", metavar="PATTERN", action="append",
                   default=[], help="do not audit modules matching this "
                   "pattern (repeatable)")
    p.add_argument("-m", dest="module", metavar="module",
                   help="run a library module as a script, like python -m")
    p.add_argument("script", nargs="?", help="the program to run")
    return p


def _split(argv):
    """The audit's options end where the program begins, as on python's
    own command line: at -m MODULE, or at the first argument that is not
    an option.  The rest is the program's."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "-m":
            return argv[:i + 2], argv[i + 2:]
        if arg in ("--json", "--include", "--exclude"):
            i += 2
        elif arg.startswith("-") and arg != "-":
            i += 1
        else:
            return argv[:i + 1], argv[i + 1:]
    return argv, []


def main(argv):
    """Runs the program under audit; returns 1 after an uncaught exception
    (its traceback printed, as python does).  SystemExit passes through."""
    ours, args = _split(argv)
    parser = _parser()
    opts = parser.parse_args(ours)
    if (opts.module is None) == (opts.script is None):
        parser.error("give a script or -m module (one of them)")
    json_path = os.path.abspath(opts.json) if opts.json else None
    if opts.script is not None:
        try:
            code = _compile(opts.script)
        except OSError as exc:
            sys.stderr.write("%s: can't open file %r: %s\n"
                             % (parser.prog, opts.script, exc))
            return 2
        sys.path[0] = os.path.dirname(os.path.realpath(opts.script))
    sys.argv = [opts.script or opts.module] + args
    audit = Audit(opts.include, opts.exclude)
    audit.start()
    atexit.register(audit.exit, json_path)
    os.register_at_fork(after_in_child=audit.forget)
    # The program's own __main__, left in sys.modules after it, as python
    # does.  This module is out of sys.modules from now on.
    sys.modules["__main__"] = _main_module()
    try:
        if opts.module is not None:
            # What python -m runs, argv[0] included.
            runpy._run_module_as_main(opts.module)
        else:
            _run_script(code)
    except Exception as exc:  # SystemExit and KeyboardInterrupt go through
        exc.with_traceback(_program_frames(exc.__traceback__))
        sys.excepthook(type(exc), exc, exc.__traceback__)
        return 1
    return 0


def _compile(script):
    """The script's code, under the absolute name python gives it."""
    filename = os.path.join(os.getcwd(), script)
    with io.open_code(filename) as f:
        source = f.read()
    return compile(source, filename, "exec", dont_inherit=True)


def _main_module():
    module = _ModuleType("__main__")
    module.__builtins__ = builtins
    module.__annotations__ = {}
    return module


def _run_script(code):
    """As python runs a script: in __main__, with these dunders."""
    namespace = sys.modules["__main__"].__dict__
    namespace.update(
        __file__=code.co_filename, __cached__=None, __package__=None,
        __spec__=None,
        __loader__=importlib.machinery.SourceFileLoader("__main__",
                                                        code.co_filename))
    exec(code, namespace)


def _program_frames(tb):
    """The traceback from the program's first frame on, as python would
    print it without the audit in between."""
    ours = {main.__code__.co_filename, runpy._run_code.__code__.co_filename}
    while tb is not None and tb.tb_frame.f_code.co_filename in ours:
        tb = tb.tb_next
    return tb
