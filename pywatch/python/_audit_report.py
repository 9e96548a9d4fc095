"""The audit's report, made by the runner from the data that the audited
program left at exit (_audit.Audit.data): the --include and --exclude
choice, the verdict, the table for stderr and the data for --json."""
import fnmatch
import os

from ._audit import KINDS

VIA_LEGEND = (
    "via: setattr = mod.x = v, setattr(), del mod.x, mock.patch: freeze() "
    "blocks it\n"
    "     dict    = STORE_GLOBAL, mod.__dict__[k] = v, exec(): freeze() only "
    "reports it (FrozenWarning)\n"
    "     class attributes: C.x = v, which freeze(C) blocks\n")


def report(data, include=(), exclude=()):
    """The report as JSON-ready data, for the modules chosen: fnmatch
    patterns on module names."""
    include = list(include) or ["*"]

    def wanted(module):
        return (any(fnmatch.fnmatchcase(module, p) for p in include)
                and not any(fnmatch.fnmatchcase(module, p) for p in exclude))

    tracked = [(kind, name) for kind, name, module in data["tracked"]
               if wanted(module)]
    modules = sorted(name for kind, name in tracked if kind == "module")
    namespaces = sorted(
        (ns for ns in data["namespaces"] if wanted(ns["module"])),
        key=lambda ns: (ns["module"], ns["kind"] != "module", ns["name"]))
    refused = {m: why for m, why in data["not_freezable"].items()
               if m in modules}
    changes = [c for c in data["class_changes"]
               if any(side["module"] is not None and wanted(side["module"])
                      for side in (c["from"], c["to"]))]
    blind = [{"name": name, "module": module}
             for kind, name, module in data["tracked"]
             if kind == "class" and wanted(module)
             and name in data["blind_classes"]]
    marks = data["end_of_startup"]
    frozen = [f for f in marks["frozen"] if wanted(_module_of(f, data))]
    return {"tracked": {"modules": len(modules),
                        "classes": len(tracked) - len(modules)},
            "end_of_startup": {
                "rule": ("marked" if marks["startup_done"] or marks["frozen"]
                         else "import"),
                "startup_done": marks["startup_done"],
                "frozen": frozen},
            "namespaces": namespaces,
            "class_changes": changes,
            "blind_classes": blind,
            "verdict": _verdict(modules, namespaces, changes, blind, refused,
                                wanted, frozen)}


def _module_of(namespace, data):
    """The module name of a tracked namespace {"kind", "name"}."""
    for kind, name, module in data["tracked"]:
        if kind == namespace["kind"] and name == namespace["name"]:
            return module
    return namespace["name"]


def change_name(change):
    """How the verdict lists a change of class among a class's writes."""
    return "<instances change class: %s -> %s>" % (change["from"]["name"],
                                                    change["to"]["name"])


# Why a class that was not seen written is kept from classes=True all the
# same: the audit's type watcher lost it for a while (see audit.c).
BLIND = "<not watched throughout: a store of the bound value may be missed>"


def _verdict(modules, namespaces, changes, blind, refused, wanted, frozen):
    """What freeze() can be told, module by module: from the writes after
    startup only."""
    blocking = {}  # module -> names freeze() would not let through
    classes = {}   # class -> names written
    # The program's own freeze(): (kind, name) -> the allow= it gave.
    allowed = {(f["kind"], f["name"]): f["allow"] for f in frozen}
    after_freeze = {}  # namespace -> names its freeze() would refuse
    for ns in namespaces:
        later = [w for w in ns["writes"]
                 if w["phase"] == "later" and not w["allowed_by_freeze"]]
        names = list(dict.fromkeys(w["name"] for w in later))
        if not names:
            continue
        refusing = [w["name"] for w in later if w["after_freeze"]
                    and w["name"] not in allowed.get(
                        (ns["kind"], ns["name"]), ())]
        if refusing:
            after_freeze[ns["name"]] = sorted(set(refusing))
        if ns["kind"] == "class":
            classes[ns["name"]] = names
        else:
            blocking[ns["name"]] = names
    # freeze(classes=True) makes CPython refuse obj.__class__ = C whenever
    # the old class or the new one is frozen: such a module's classes must
    # stay unfrozen too.
    for change in changes:
        for name in dict.fromkeys(
                side["name"] for side in (change["from"], change["to"])
                if side["module"] is not None and wanted(side["module"])):
            classes.setdefault(name, []).append(change_name(change))
    for cls in blind:
        if cls["name"] not in classes:
            classes[cls["name"]] = [BLIND]
    refused = dict(refused)
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
        "written_after_freeze": dict(sorted(after_freeze.items())),
    }


def _attention(report):
    """The modules that cannot simply be frozen: written, refused, or
    holding a written class (or one whose instances change class).  sys is
    left out: freeze() refuses it by design, whatever the program does, so
    it is listed as not freezable but asks nothing of the program."""
    v = report["verdict"]
    owners = {ns["module"] for ns in report["namespaces"]
              if ns["kind"] == "class" and ns["name"] in v["classes_written"]}
    owners |= {side["module"] for c in report["class_changes"]
               for side in (c["from"], c["to"])
               if side["name"] in v["classes_written"]}
    owners |= {c["module"] for c in report["blind_classes"]
               if c["name"] in v["classes_written"]}
    return (set(v["allow"]) | set(v["not_freezable"]) | owners) - {"sys"}


def _where(first_writer, cwd):
    """file:line, the file relative to cwd if it is under it: cwd is a
    string, since the program may have removed the directory."""
    if first_writer is None or first_writer["file"] is None:
        return "?"
    path = first_writer["file"]
    under = os.path.join(cwd, "")
    if path.startswith(under):
        path = path[len(under):]
    return "%s:%d" % (path, first_writer["line"])


def render(report, cwd, show_all=False):
    """The report as a table, for stderr: paths relative to cwd, the
    writes that freeze() allows anyway only if show_all."""
    v = report["verdict"]
    out = ["pywatch audit: %d of %d modules need attention"
           % (len(_attention(report)), report["tracked"]["modules"]),
           _rule(report["end_of_startup"], cwd)]
    shown, hidden, startup = [], 0, []
    for ns in report["namespaces"]:
        later = [w for w in ns["writes"] if w["phase"] == "later"]
        writes = [w for w in later if show_all or not w["allowed_by_freeze"]]
        hidden += len(later) - len(writes)
        if writes:
            shown.append((ns, writes))
        early = [w["name"] for w in ns["writes"] if w["phase"] == "startup"
                 and (show_all or not w["allowed_by_freeze"])]
        if early:
            startup.append("  %s %s: %s" % (ns["kind"], ns["name"],
                                             ", ".join(early)))
    rows = [(ns, [("+".join(k for k in KINDS if w[k]), w) for w in writes])
            for ns, writes in shown]
    all_writes = [w for _, writes in shown for w in writes]
    wname = max([4] + [len(w["name"]) for w in all_writes])
    wkind = max([4] + [len(k) for _, r in rows for k, _ in r])
    wvia = max([3] + [len(w["via"]) for w in all_writes])
    line = "  %-*s  %-*s %7s  %-*s  %s"
    for ns, writes in rows:
        out.append("")
        out.append("%s %s" % (ns["kind"], ns["name"]))
        out.append(line % (wname, "name", wkind, "kind", "count", wvia, "via",
                           "first writer"))
        refused = v["written_after_freeze"].get(ns["name"], ())
        for kinds, w in writes:
            note = ("  (freeze allows: %s)" % w["allowed_by_freeze"]
                    if w["allowed_by_freeze"] else
                    "  (after the program's freeze(): %s)" % (
                        "refused" if "setattr" in w["via"] else "reported")
                    if w["after_freeze"] and w["name"] in refused else "")
            out.append(line % (wname, w["name"], wkind, kinds, w["count"],
                               wvia, w["via"], _where(w["first_writer"], cwd))
                       + note)
    if report["class_changes"]:
        out.append("")
        out.append("instances change class (obj.__class__ = C): frozen "
                   "classes refuse it")
        wfrom = max(len(c["from"]["name"]) for c in report["class_changes"])
        wto = max(len(c["to"]["name"]) for c in report["class_changes"])
        for c in report["class_changes"]:
            out.append("  %-*s -> %-*s %7d  %s" % (
                wfrom, c["from"]["name"], wto, c["to"]["name"], c["count"],
                _where(c["first_writer"], cwd)))
    if startup:
        out.append("")
        out.append("written during startup (not judged):")
        out.extend(startup)
    if hidden:
        out.append("")
        out.append("%d write%s that freeze() allows anyway not shown (--all "
                   "shows them)" % (hidden, "" if hidden == 1 else "s"))
    if shown:
        out.append("")
        out.append(VIA_LEGEND.rstrip("\n"))
    out.append("")
    out.append("verdict")
    out.append("  safe to freeze() (never written after %s): %d modules"
               % ("startup" if report["end_of_startup"]["rule"] == "marked"
                  else "import", len(v["safe"])))
    out.extend(_wrap(", ".join(v["safe"]), "    "))
    if v["allow"]:
        out.append("  freezable with allow=:")
        for m, names in v["allow"].items():
            out.append("    freeze(%s, allow=(%s))" % (
                m, "".join("%r, " % n for n in names).rstrip(" ")))
    if v["classes_written"]:
        out.append("  written classes: freeze their module without "
                   "classes=True")
        where = {change_name(c): " at " + _where(c["first_writer"], cwd)
                 for c in report["class_changes"]}
        for c, names in v["classes_written"].items():
            out.append("    %s: %s" % (c, ", ".join(
                n + where.get(n, "") for n in names)))
    if v["not_freezable"]:
        out.append("  not freezable:")
        for m, why in v["not_freezable"].items():
            out.append("    %s: %s" % (m, why))
    if v["written_after_freeze"]:
        out.append("  written after the program's own freeze(), which "
                   "refuses it (setattr) or reports it (dict):")
        for m, names in v["written_after_freeze"].items():
            out.append("    %s: %s" % (m, ", ".join(names)))
    return "\n".join(out) + "\n"


def _rule(marks, cwd):
    """The line that says where the audit took the end of startup."""
    if marks["rule"] == "import":
        return ("end of startup: each module's import (the program marks "
                "none: pywatch.freeze() or pywatch.startup_done() would)")
    parts = []
    if marks["frozen"]:
        parts.append("the program's own freeze() of %s" % ", ".join(
            "%s (%s)" % (f["name"], _where(f, cwd)) for f in marks["frozen"]))
    if marks["startup_done"]:
        parts.append("%spywatch.startup_done() at %s" % (
            "for the rest, " if parts else "",
            _where(marks["startup_done"], cwd)))
    else:
        parts.append("for the rest, each module's import")
    return "end of startup: " + "; ".join(parts)


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
