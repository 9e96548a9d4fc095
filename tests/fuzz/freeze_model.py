"""The reference model of freezing (issue 23's policy), in plain Python.

A namespace is a mirror of its dict (the same key and value objects, in the
same order), whether freeze() was asked for it, its allow= names and the
names already warned about.  Every door of the policy is computed from
explicit facts that the fuzzer's world states when it builds the namespace
(which values are its real submodules, whether it is the real stdlib
module and which names the stdlib table gives it), never from pywatch.

Each write is predicted to be refused (setattr path), reported
(FrozenWarning once per name, counted every time) or allowed; the model
then applies it to the mirror.
"""
import builtins
import sys

ABSENT = object()
ALL_NAMES = "<all names>"   # the name a warning gives clear() and clones
# The audit's names for what is not one name.
NON_STR = "<non-str key>"
WHOLE = "<whole __dict__>"
# A setattr that wrote no dict entry, the object already bound, is a write
# the audit counts ("same"): freeze() refuses it.  On a class the audit
# hears it by the type's PyType_Modified, which tells no name, and hears so
# too (3.13+, where type's setattr invalidates the type first) a delete of
# an unbound name, which freeze(C) turns into a TypeError.
UNNAMED = "<a setattr that wrote no entry>"
FAILED_DELETE_HEARD = sys.version_info >= (3, 13)


def door(ns, name, value, old, via_setattr=False):
    """Which door of the policy opens for writing value (ABSENT: deleting)
    to name over old (ABSENT: the name was unbound), through setattr or
    straight into the dict, or ""."""
    if type(name) is not str:
        return ""                       # names compare as exact str only
    if name in ns.allow:
        return "allow="
    # A class has no submodules, stdlib names or lazy imports: the facts
    # close those doors.
    if value is not ABSENT and ns.submodules.get(name, ABSENT) is value:
        return "submodule binding"
    if name in ns.stdlib_names:
        return "stdlib table"
    if value is not ABSENT and old is not ABSENT \
            and ns.lazy.get(id(old), (None, ABSENT))[1] is value:
        return "lazy import resolved"
    if (not ns.is_class and name == "__warningregistry__"
            and type(value) is dict):
        # Added to a module by the warnings machinery; unittest's
        # assertWarns() replaces it by {}.
        return "warnings registry"
    if old is ABSENT and value is not ABSENT:
        # What CPython creates on first use, each by its own path: copyreg
        # sets a class's __slotnames__; the rest arrive straight in the
        # dict (exec() adds __builtins__, a first read __annotations__,
        # 3.14's a class's annotation caches).
        if ns.is_class and name == "__slotnames__" and type(value) is list:
            return "created lazily"
        if via_setattr:
            return ""
        if (not ns.is_class and name == "__builtins__"
                and (value is builtins.__dict__ or value is builtins)):
            return "created lazily"
        if name == "__annotations__" and type(value) is dict:
            return "created lazily"
        if ns.is_class and (
                name == "__annotations_cache__" and type(value) is dict
                or name == "__annotate_func__" and value is None):
            return "created lazily"
    return ""


class Namespace:
    def __init__(self, label, contents, submodules=None, stdlib_names=(),
                 is_class=False, lazy=None):
        self.label = label
        self.contents = dict(contents)
        # name -> the module sys.modules holds under <a name of this
        # module>.<name>: the only values of the submodule door.
        self.submodules = dict(submodules or {})
        self.stdlib_names = frozenset(stdlib_names)
        # id(lazy import object) -> (it, the module it resolves to): 3.15.
        self.lazy = dict(lazy or {})
        self.is_class = is_class
        self.requested = False
        self.allow = frozenset()
        self.warned = set()

    def snapshot(self):
        return (dict(self.contents), self.requested, self.allow,
                set(self.warned))

    def restore(self, snap):
        contents, self.requested, self.allow, warned = snap
        self.contents = dict(contents)
        self.warned = set(warned)


class Model:
    """Predicts; the caller compares.  tallies[label], when present,
    collects the writes that change the namespace's dict (what the audit
    counts): name -> counts by kind; NON_STR for all keys that are not
    exact strs, WHOLE for clear() and clones."""

    def __init__(self):
        self.enabled = True
        self.detected = 0
        self.warnings = []      # (label, repr of name) since the last take
        self.tallies = {}       # label -> {key: {kind: n}}, or absent
        self.door_log = {}      # label -> {key: [door of each write]}
        self.stats = {}         # what happened to frozen writes, by kind

    def _count(self, what):
        self.stats[what] = self.stats.get(what, 0) + 1

    def _judged(self, ns, name, value, old, path):
        """Whether a write to frozen ns is let through, counted by door."""
        why = door(ns, name, value, old, via_setattr=path != "dict")
        self._count("%s: %s" % (path, why or "refused/reported"))
        return bool(why)

    def frozen(self, ns):
        return self.enabled and ns.requested

    # ---- the writes -------------------------------------------------------

    def _event(self, ns, name, value, sanctioned=False, path="dict"):
        """A dict write that CPython reports (the value is not the one
        bound): applied, tallied, and judged if ns is frozen."""
        old = ns.contents.get(name, ABSENT)
        kind = ("deleted" if value is ABSENT else
                "added" if old is ABSENT else "modified")
        if value is ABSENT:
            del ns.contents[name]
        else:
            ns.contents[name] = value
        if sanctioned:
            return
        tally = self.tallies.get(ns.label)
        if tally is not None:
            # The audit logs keys that are not exact strs together.
            key = name if type(name) is str else NON_STR
            row = tally.setdefault(key, {})
            row[kind] = row.get(kind, 0) + 1
            # freeze() refuses every setattr on a class, door or not.
            why = "" if ns.is_class and path != "dict" else door(
                self._unfrozen(ns), name, value, old, path != "dict")
            self.door_log.setdefault(ns.label, {}).setdefault(
                key, []).append(why)
        if self.frozen(ns) and not self._judged(ns, name, value, old, path):
            # A key that is not an exact str is reported with the
            # whole-dict events: telling its name would run its __eq__.
            self._report(ns, name if type(name) is str else ALL_NAMES)

    @staticmethod
    def _unfrozen(ns):
        """ns as freeze(ns) with no allow= would see it: the audit's
        judgement."""
        view = Namespace.__new__(Namespace)
        view.allow = frozenset()
        view.submodules, view.stdlib_names = ns.submodules, ns.stdlib_names
        view.is_class = ns.is_class
        view.lazy = ns.lazy
        return view

    def _report(self, ns, name):
        self.detected += 1
        if name not in ns.warned:
            ns.warned.add(name)
            self.warnings.append(
                (ns.label, ALL_NAMES if name is ALL_NAMES else repr(name)))

    def direct(self, ns, name, value):
        """A direct dict write (value ABSENT: a deletion of a bound name).
        Storing the object already bound is no event."""
        if value is not ABSENT and ns.contents.get(name, ABSENT) is value:
            return
        self._event(ns, name, value)

    def sanctioned(self, ns, name, value):
        """pywatch.patch()'s own write: never refused, reported nor
        counted."""
        if value is not ABSENT and ns.contents.get(name, ABSENT) is value:
            return
        self._event(ns, name, value, sanctioned=True)

    def setattr(self, ns, name, value):
        """A setattr-path write: "refused", "missing" (deleting an unbound
        name) or "ok"."""
        old = ns.contents.get(name, ABSENT)
        if ns.is_class and self.frozen(ns):
            # Py_TPFLAGS_IMMUTABLETYPE: CPython refuses every one.
            self._count("setattr on a class: refused")
            return "refused"
        if self.frozen(ns) and not self._judged(ns, name, value, old,
                                                "setattr"):
            return "refused"
        if value is ABSENT and old is ABSENT:
            if ns.is_class and FAILED_DELETE_HEARD:
                self._same(ns, UNNAMED)
            return "missing"
        if value is not old:
            self._event(ns, name, value, path="setattr's dict write")
        else:
            self._same(ns, UNNAMED if ns.is_class else
                       name if type(name) is str else NON_STR)
        return "ok"

    def _same(self, ns, key):
        tally = self.tallies.get(ns.label)
        if tally is not None:
            row = tally.setdefault(key, {})
            row["same"] = row.get("same", 0) + 1
            self.door_log.setdefault(ns.label, {}).setdefault(
                key, []).append("")

    def clear(self, ns):
        if not ns.contents:
            return
        ns.contents.clear()
        tally = self.tallies.get(ns.label)
        if tally is not None:
            row = tally.setdefault(WHOLE, {})
            row["cleared"] = row.get("cleared", 0) + 1
            self.door_log.setdefault(ns.label, {}).setdefault(
                WHOLE, []).append("")
        if self.frozen(ns):
            self._report(ns, ALL_NAMES)

    def fill(self, ns, items, clone):
        """update() of an empty dict from items: one clone event, or one
        addition per key."""
        if not items:
            return
        if not clone:
            for k, v in items:
                self.direct(ns, k, v)
            return
        ns.contents.update(items)
        tally = self.tallies.get(ns.label)
        if tally is not None:
            row = tally.setdefault(WHOLE, {})
            row["cloned"] = row.get("cloned", 0) + 1
            self.door_log.setdefault(ns.label, {}).setdefault(
                WHOLE, []).append("")
        if self.frozen(ns):
            self._report(ns, ALL_NAMES)

    # ---- freezing ---------------------------------------------------------

    def freeze(self, ns, allow):
        ns.requested = True
        ns.allow = ns.allow | frozenset(allow)

    def thaw(self, ns):
        ns.requested = False
        ns.allow = frozenset()

    def take_warnings(self):
        w, self.warnings = self.warnings, []
        return w
