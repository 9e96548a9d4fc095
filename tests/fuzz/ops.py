"""Operations: drawn at random as plain tuples of ints, replayed against a
world, each checked against the oracle.

An operation is (name, p1, p2, ...) with arbitrary non-negative ints taken
modulo what they index, so that any subset of a failing list still replays
(the minimizer needs that).  Runner.step() runs one, checks that it raised
exactly what the oracle expects and that no dependent is still valid while
one of its assumptions broke, and returns the operation as a readable line.
"""
import types

import pywatch

from oracle import (ABSENT, STATIC_COUNTS, UNSTABLE_LIMIT, CellSlot, DepInfo,
                    NULL, Oracle)
import world as W

# name: (weight, number of parameters)
OPS = {
    "mset": (8, 3), "mdel": (3, 2), "mgetattr": (2, 2), "mclass": (2, 2),
    "mcls": (2, 2),
    "dset": (10, 3), "ddel": (3, 2), "dpop": (2, 2), "dsetdefault": (2, 3),
    "dupdate": (3, 5), "dclear": (1, 1),
    "cset": (8, 3), "cdel": (3, 2), "craw": (2, 3), "cbases": (3, 2),
    "sraw": (1, 3), "rreg": (1, 2), "cmeta": (1, 2),
    "fcode": (2, 2), "fdef": (2, 2), "fkwdef": (1, 2), "fkwin": (2, 3),
    "renew": (2, 3), "freeze": (1, 2), "thaw": (1, 2),
    "new": (12, 1), "drop": (1, 1), "release": (1, 1), "invalidate": (1, 1),
    "rkey": (14, 5), "rglobal": (6, 3), "rfunc": (3, 2), "rns": (2, 2),
    "rhash": (3, 3), "rdel": (3, 3), "spec": (3, 3), "rodd": (1, 2),
    "rreent": (2, 5),
    "flip": (3, 4),
    "ncell": (5, 4), "gcell": (3, 1), "dcell": (2, 2), "xcell": (1, 2),
    "flush": (1, 0),
}
# Invalidations these ask for are neither precise nor conservative: they
# release or replace a dependent, or make Python code do so.
MANUAL = ("invalidate", "release", "rhash", "rdel", "spec", "rreent")
_NAMES = sorted(OPS)
_WEIGHTS = [OPS[n][0] for n in _NAMES]


def random_ops(rng, count):
    return [(name,) + tuple(rng.randrange(1 << 16)
                            for _ in range(OPS[name][1]))
            for name in rng.choices(_NAMES, _WEIGHTS, k=count)]


class Failure(Exception):
    """kind: a short category (the minimizer keeps it); str: details."""

    text = None   # the failing operation, as a readable line

    def __init__(self, kind, detail):
        super().__init__("%s: %s" % (kind, detail))
        self.kind = kind


class Stats:
    def __init__(self):
        self.ops = 0
        self.invalidated = 0      # valid -> invalid with a broken assumption
        self.conservative = {}    # op name -> valid -> invalid, nothing broke
        self.expected = {}        # expected error -> count
        self.events = {}          # event kind delivered -> count

    def bump(self, table, key):
        table[key] = table.get(key, 0) + 1

    def merge(self, other):
        self.ops += other.ops
        self.invalidated += other.invalidated
        for mine, theirs in ((self.conservative, other.conservative),
                             (self.expected, other.expected),
                             (self.events, other.events)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v


def _kind(exc):
    """An exception as the oracle names it."""
    if exc is None:
        return None
    if isinstance(exc, pywatch.StaleError):
        return "StaleError"
    if isinstance(exc, pywatch.FrozenError):
        return "FrozenError"
    if isinstance(exc, ValueError) and "too often" in str(exc):
        return "unstable"
    if isinstance(exc, ValueError) and "no event" in str(exc):
        return "unwatchable"
    return type(exc).__name__


def _named(s):
    """A dependent's name: a slot number or a guard's name."""
    return s if isinstance(s, str) else "dep%d" % s


class Runner:
    def __init__(self, rng, stats):
        self.w = W.World(rng)
        self.o = Oracle(self.w)
        self.stats = stats
        self.deps = [None] * W.DEPS
        self.guards = {}      # name -> a specialization's guard (op_spec)
        self.guard_count = 0
        self.cells = [None] * W.CELLS    # CellSlot
        self.flips = {}       # (dict ident, name) -> FlipKey in that dict

    # ---- the step --------------------------------------------------------

    def step(self, op):
        name, args = op[0], op[1:]
        before = {s for s, d in self.dependents() if d.valid}
        cell_edges = self.cell_edges()
        self.events = []
        self.after_step = None
        text, expected, call = getattr(self, "op_" + name)(*args)
        got = None
        if call is not None:
            try:
                call()
            except Exception as exc:   # judged below
                # Its traceback would keep the step's objects alive (a
                # cycle through this frame): namespaces must die on time.
                got = exc.with_traceback(None)
        self.stats.ops += 1
        if isinstance(expected, set):      # "either" outcomes
            ok = _kind(got) in expected
        else:
            ok = _kind(got) == expected
        if not ok:
            failure = Failure("unexpected outcome", "%s: expected %s, got %r"
                              % (text, expected, got))
            failure.text = text
            raise failure
        if got is not None:
            self.stats.bump(self.stats.expected, _kind(got))
        if self.after_step is not None:
            self.after_step(got)
        try:
            after = self.check(name)
        except Failure as failure:
            failure.args = ("%s, after %s" % (failure.args[0], text),)
            failure.text = text
            raise
        self.o.count_writes(self.events, before, after,
                            cell_edges | self.cell_edges())
        return text

    def cell_edges(self):
        return {e for c in self.cells if c is not None for e in c.edges()}

    def dependents(self):
        """(slot or guard name, dependent) of every live one."""
        return ([(s, d) for s, d in enumerate(self.deps) if d is not None]
                + list(self.guards.items()))

    def check(self, name):
        """Every dependent against the oracle; returns the valid ones."""
        valid = set()
        for s, dep in self.dependents():
            info = self.o.deps.get(s)
            if info is None:
                continue
            now = dep.valid
            broken = [a.what for a in info.assumptions
                      if not a.holds(self.o)]
            if now and not info.valid:
                raise Failure("revived", "%s is valid again" % _named(s))
            if now and broken:
                raise Failure("missed invalidation",
                              "%s is valid, but no longer: %s"
                              % (_named(s), "; ".join(broken)))
            if info.valid and not now and name not in MANUAL:
                if broken:
                    self.stats.invalidated += 1
                else:
                    self.stats.bump(self.stats.conservative, name)
            info.valid = now
            if now:
                valid.add(s)
            elif isinstance(s, str):
                # An invalid guard is released: pywatch lets it go.
                del self.guards[s]
                del self.o.deps[s]
        self.o.registry_gens()
        for s, slot in enumerate(self.cells):
            if slot is not None:
                self.check_cell(slot, "cell%d" % s, slot.cell.peek(NULL),
                                exact=False)
        return valid

    def check_cell(self, slot, text, got, exact):
        problem = slot.problem(text, got, exact)
        if problem is not None:
            raise Failure(*problem)

    # ---- helpers ---------------------------------------------------------

    def module(self, m):
        i = m % W.MODULES
        return i, self.w.modules[i]

    def dict_target(self, t, k):
        """A dict to write: builtins, module dicts, plain dicts.  Plain
        dicts take int and tuple keys too."""
        n = t % (W.BUILTINS + W.MODULES + W.DICTS)
        if n < W.BUILTINS:
            d, ident, name = self.w.builtins[n], self.o.builtins_ident(n), \
                "b%d" % n
        elif n < W.BUILTINS + W.MODULES:
            i = n - W.BUILTINS
            d, ident, name = self.w.modules[i].__dict__, \
                self.o.module_ident(i), "m%d.__dict__" % i
        else:
            i = n - W.BUILTINS - W.MODULES
            d, ident, name = self.w.dicts[i], self.o.dict_ident(i), "d%d" % i
        keys = W.DICT_KEYS if ident[0] == "d" else W.STR_KEYS
        return d, ident, name, keys[k % len(keys)]

    def key_write(self, ident, d, key, value):
        """The event of d[key] = value: none for the identical object."""
        if d.get(key, ABSENT) is not value:
            self.events.append((ident, key, True))

    def key_delete(self, ident, d, key):
        if key in d:
            self.events.append((ident, key, True))

    def cls(self, c):
        i = c % W.CLASSES
        return i, self.w.classes[i], W.class_name(i)

    def class_write(self, i, key, value_or_absent):
        cls = self.w.classes[i]
        if vars(cls).get(key, ABSENT) is not value_or_absent:
            self.events.append((self.o.class_ident(i), key, True))
            self.type_changed(cls)

    def type_changed(self, cls):
        """A change of cls also changes its subclasses' version tags."""
        for s, c in enumerate(self.w.classes):
            if issubclass(c, cls):
                ident = self.o.class_ident(s)
                self.o.type_changes[ident] = \
                    self.o.type_changes.get(ident, 0) + 1

    def dep(self, d):
        s = d % W.DEPS
        return s, self.deps[s]

    # ---- namespaces ------------------------------------------------------

    def op_mset(self, m, k, v):
        i, mod = self.module(m)
        key, val = W.STR_KEYS[k % len(W.STR_KEYS)], W.VALUES[v % 6]
        # Binding the object already bound is a write too: refused.
        frozen = i in self.o.frozen_modules
        if not frozen:
            self.key_write(self.o.module_ident(i), mod.__dict__, key, val)
        return ("m%d.%s = %r" % (i, key, val),
                "FrozenError" if frozen else None,
                lambda: setattr(mod, key, val))

    def op_mgetattr(self, m, mode):
        """PEP 562: a module __getattr__ defined or removed, through the
        dict (which freezing does not block)."""
        i, mod = self.module(m)
        d, ident = mod.__dict__, self.o.module_ident(i)
        if mode % 2:
            self.key_delete(ident, d, "__getattr__")
            return ("del m%d.__dict__['__getattr__']" % i, None,
                    lambda: d.pop("__getattr__", None))
        self.key_write(ident, d, "__getattr__", W.module_getattr)
        return ("m%d.__dict__['__getattr__'] = <module_getattr>" % i, None,
                lambda: d.__setitem__("__getattr__", W.module_getattr))

    def op_mclass(self, m, mode):
        """The module's class swapped, past freezing's setattr hook."""
        i, mod = self.module(m)
        cls = (types.ModuleType, W.SubModule, self.w.module_class)[mode % 3]
        # Refused on a frozen module, whatever the path (an audit hook).
        expected = "FrozenError" if i in self.o.frozen_modules else None
        return ("m%d.__class__ = %s (object's __class__ setter)"
                % (i, cls.__name__), expected,
                lambda: object.__dict__["__class__"].__set__(mod, cls))

    def op_mcls(self, mode, k):
        """The episode's ModuleType subclass (op_mclass puts modules in it)
        gains or loses __getattr__, an overriding __getattribute__, or a
        descriptor named like a key, and the descriptor's type gains or
        loses __set__ and __delete__."""
        mc, nd = self.w.module_class, self.w.nondata_type
        key = W.STR_KEYS[k % len(W.STR_KEYS)]
        mode %= 6
        if mode < 4:
            name, value = [("__getattr__", W.module_class_getattr),
                           ("__getattribute__", W.module_class_getattribute),
                           (key, W.NonData(key)), (key, ABSENT)][mode]
            if mode < 2 and name in vars(mc):
                value = ABSENT
            self.class_dict_write(mc, ("mc", 0), name, value)
            text = ("del ModuleClass.%s" % name if value is ABSENT
                    else "ModuleClass.%s = %r" % (name, value))
            return text, None, (lambda: delattr(mc, name)
                                if value is ABSENT and name in vars(mc)
                                else None if value is ABSENT
                                else setattr(mc, name, value))
        if mode == 4:
            for n, f in (("__set__", W._descriptor_set),
                         ("__delete__", W._descriptor_delete)):
                self.class_dict_write(nd, ("nd", 0), n, f)
            return ("NonData.__set__, __delete__ = <writers>", None,
                    lambda: (setattr(nd, "__set__", W._descriptor_set),
                             setattr(nd, "__delete__", W._descriptor_delete)))
        had = "__set__" in vars(nd)
        for n in ("__set__", "__delete__"):
            self.class_dict_write(nd, ("nd", 0), n, ABSENT)
        return ("del NonData.__set__, __delete__", None,
                had and (lambda: (delattr(nd, "__set__"),
                                  delattr(nd, "__delete__"))) or None)

    def class_dict_write(self, cls, ident, name, value_or_absent):
        if vars(cls).get(name, ABSENT) is not value_or_absent:
            self.events.append((ident, name, True))

    def op_mdel(self, m, k):
        i, mod = self.module(m)
        key = W.STR_KEYS[k % len(W.STR_KEYS)]
        frozen = i in self.o.frozen_modules
        if frozen:
            expected = "FrozenError"
        else:
            expected = None if key in mod.__dict__ else "AttributeError"
            self.key_delete(self.o.module_ident(i), mod.__dict__, key)
        return "del m%d.%s" % (i, key), expected, lambda: delattr(mod, key)

    def op_dset(self, t, k, v):
        d, ident, name, key = self.dict_target(t, k)
        val = W.VALUES[v % 6]
        self.key_write(ident, d, key, val)
        return ("%s[%r] = %r" % (name, key, val), None,
                lambda: d.__setitem__(key, val))

    def op_ddel(self, t, k):
        d, ident, name, key = self.dict_target(t, k)
        self.key_delete(ident, d, key)
        return ("del %s[%r]" % (name, key),
                None if key in d else "KeyError",
                lambda: d.__delitem__(key))

    def op_dpop(self, t, k):
        d, ident, name, key = self.dict_target(t, k)
        self.key_delete(ident, d, key)
        return "%s.pop(%r, None)" % (name, key), None, lambda: d.pop(key, None)

    def op_dsetdefault(self, t, k, v):
        d, ident, name, key = self.dict_target(t, k)
        val = W.VALUES[v % 6]
        if key not in d:
            self.events.append((ident, key, True))
        return ("%s.setdefault(%r, %r)" % (name, key, val), None,
                lambda: d.setdefault(key, val))

    def op_dupdate(self, t, k1, v1, k2, v2):
        d, ident, name, key1 = self.dict_target(t, k1)
        key2 = self.dict_target(t, k2)[3]
        new = {key1: W.VALUES[v1 % 6]}
        new[key2] = W.VALUES[v2 % 6]
        # Into an empty dict CPython may report one CLONED instead of a
        # write per key: those writes may count, or not.
        certain = bool(d)
        for key, val in new.items():
            if d.get(key, ABSENT) is not val:
                self.events.append((ident, key, certain))
        return "%s.update(%r)" % (name, new), None, lambda: d.update(new)

    def op_dclear(self, t):
        d, ident, name, _ = self.dict_target(t, 0)
        if ident[0] != "m":
            return "%s.clear()" % name, None, d.clear
        # A module keeps its name and builtins, which its functions need.
        keep = {"__name__": d["__name__"], "__builtins__": d["__builtins__"]}

        def clear():
            d.clear()
            for k, v in keep.items():
                d[k] = v
        return "%s.clear() (keeping __name__, __builtins__)" % name, None, \
            clear

    # ---- classes ---------------------------------------------------------

    def op_cset(self, c, k, v):
        i, cls, cname = self.cls(c)
        key, val = W.STR_KEYS[k % len(W.STR_KEYS)], W.VALUES[v % 6]
        frozen = self.o.class_ident(i) in self.o.frozen_classes
        if not frozen:
            self.class_write(i, key, val)
        return ("%s.%s = %r" % (cname, key, val),
                "TypeError" if frozen else None,
                lambda: setattr(cls, key, val))

    def op_cdel(self, c, k):
        i, cls, cname = self.cls(c)
        key = W.STR_KEYS[k % len(W.STR_KEYS)]
        if self.o.class_ident(i) in self.o.frozen_classes:
            expected = "TypeError"
        else:
            expected = None if key in vars(cls) else "AttributeError"
            self.class_write(i, key, ABSENT)
        return "del %s.%s" % (cname, key), expected, lambda: delattr(cls, key)

    def op_craw(self, c, k, v):
        """A write straight into the class's dict, past type.__setattr__
        (and past freezing)."""
        i, cls, cname = self.cls(c)
        key, val = W.STR_KEYS[k % len(W.STR_KEYS)], W.VALUES[v % 6]
        self.class_write(i, key, val)
        raw = pywatch._freeze._c._type_dict(cls)
        return ("%s.__dict__[%r] = %r (raw)" % (cname, key, val), None,
                lambda: raw.__setitem__(key, val))

    def op_cbases(self, c, j):
        i, cls, cname = self.cls(c)
        choices = self.w.base_choices(i)
        new = choices[j % len(choices)]
        text = "%s.__bases__ = (%s,)" % (cname, new.__name__)
        if self.o.class_ident(i) in self.o.frozen_classes \
                or issubclass(new, cls):
            return text, "TypeError", lambda: setattr(cls, "__bases__",
                                                      (new,))
        # CPython removes cls from its old bases' registries, then adds it
        # to the new ones'; a registry left empty is freed.
        for old in cls.__bases__:
            s = self.w.class_slot(old)
            if s is not None:
                self.events.append((self.o.registry_ident(s), id(cls), True))
                if old.__subclasses__() == [cls]:
                    self.o.registry_gen[s] += 1
        s = self.w.class_slot(new)
        if s is not None:
            self.events.append((self.o.registry_ident(s), id(cls), True))
        self.type_changed(cls)
        return text, None, lambda: setattr(cls, "__bases__", (new,))

    def op_sraw(self, t, k, v):
        """A raw write to a builtin type's dict, the only way one changes.
        Its key records outlive the episode, as the type does, so a key
        takes only the writes that keep it stable, with close()'s
        restoring delete."""
        cls = W.STATIC_TYPES[t % len(W.STATIC_TYPES)]
        key = W.STR_KEYS[k % len(W.STR_KEYS)]
        ident = self.o.static_ident(cls)
        raw = W.static_dict(cls)
        delete = v % 7 == 6
        text = ("del %s.__dict__[%r] (raw)" % (cls.__name__, key) if delete
                else "%s.__dict__[%r] = %r (raw)"
                % (cls.__name__, key, W.VALUES[v % 6]))
        if STATIC_COUNTS.get((ident, key), (0, 0))[1] >= UNSTABLE_LIMIT - 2:
            return text + ": skipped, its budget spent", None, None
        if delete:
            self.key_delete(ident, raw, key)
            call = lambda: raw.pop(key, None)
        else:
            value = W.VALUES[v % 6]
            self.key_write(ident, raw, key, value)
            call = lambda: raw.__setitem__(key, value)

        def write():
            call()
            W.clear_type_caches()
        return text, None, write

    def op_rreg(self, c, mode):
        """Raw writes to the subclass registry of a class's base,
        {id(subclass): weakref}: a key that hashes like the class's
        address, and the class's own entry replaced and put back.
        Nothing anyone assumed changes."""
        i, cls, cname = self.cls(c)
        if all(self.w.class_slot(b) is None for b in cls.__bases__):
            return "%s has no registry in the world" % cname, None, None
        registry = W.subclass_registry(cls)
        key = id(cls)
        mode %= 3
        if mode == 0:
            fake = key + (2 ** 61 - 1)      # the same hash, another int

            def call():
                registry[fake] = 1
                del registry[fake]
            return ("<an int hashing like id(%s)> in its registry, then "
                    "out" % cname, None, call)
        saved = registry[key]
        if mode == 1:
            def call():
                registry[key] = 3
                registry[key] = saved
            return ("%s's registry entry = 3, then put back" % cname, None,
                    call)

        def call():
            del registry[key]
            try:
                # Missing from its base's registry, the class cannot be
                # tracked: a registration on it is refused.
                probe = pywatch.Dependent()
                try:
                    probe.depends_on(cls, "a")
                    refused = False
                except ValueError:
                    refused = True
                probe.release()
            finally:
                registry[key] = saved
            if not refused:
                raise Failure("registered", "depends_on(%s) succeeded while"
                              " it was missing from its base's registry"
                              % cname)
        return ("%s's registry entry deleted, a registration on it, then the"
                " entry put back" % cname, None, call)

    def op_cmeta(self, c, mode):
        """A plain class's metaclass swapped (object's __class__ setter):
        to one that computes its own MRO, under which no registration on
        the class or its subclasses is accepted, or back."""
        i, cls, cname = self.cls(c)
        if W.is_exc_slot(i):
            return "%s keeps type as its metaclass" % cname, None, None
        meta = (W.WorldMeta, W.OwnMROMeta)[mode % 2]
        text = "%s.__class__ = %s" % (cname, meta.__name__)
        if self.o.class_ident(i) in self.o.frozen_classes:
            return text, "FrozenError", lambda: object.__dict__[
                "__class__"].__set__(cls, meta)
        return text, None, lambda: object.__dict__["__class__"].__set__(cls,
                                                                        meta)

    # ---- functions -------------------------------------------------------

    def func(self, f):
        i = f % W.FUNCS
        return i, self.w.funcs[i]

    def op_fcode(self, f, j):
        i, func = self.func(f)
        code = W.CODES[j % len(W.CODES)]
        return ("f%d.__code__ = <%s>" % (i, code.co_name), None,
                lambda: setattr(func, "__code__", code))

    def op_fdef(self, f, j):
        i, func = self.func(f)
        val = W.DEFAULTS[j % len(W.DEFAULTS)]
        return ("f%d.__defaults__ = %r" % (i, val), None,
                lambda: setattr(func, "__defaults__", val))

    def op_fkwdef(self, f, j):
        i, func = self.func(f)
        val = W.KWDEFAULTS[j % len(W.KWDEFAULTS)]
        # A copy: fkwin changes a function's own dict in place.
        return ("f%d.__kwdefaults__ = %r" % (i, val), None,
                lambda: setattr(func, "__kwdefaults__",
                                None if val is None else dict(val)))

    def op_fkwin(self, f, mode, v):
        """__kwdefaults__ changed in place: no function event fires."""
        i, func = self.func(f)
        kw = func.__kwdefaults__
        if kw is None:
            return "f%d.__kwdefaults__ is None" % i, None, None
        mode %= 3
        value = W.VALUES[v % len(W.VALUES)]
        if mode == 0:
            return ("f%d.__kwdefaults__['c'] = %r" % (i, value), None,
                    lambda: kw.__setitem__("c", value))
        if mode == 1:
            return "f%d.__kwdefaults__.clear()" % i, None, kw.clear
        return ("f%d.__kwdefaults__.pop('c', None)" % i, None,
                lambda: kw.pop("c", None))

    # ---- life and death --------------------------------------------------

    def op_renew(self, kind, n, pick):
        """Drop a namespace (its dependents see it deallocated) and put a
        fresh one in its slot.  Queued events hold what they name, so the
        queue is delivered first."""
        kind %= 4
        if kind == 0:
            i = n % W.DICTS
            text, ident = "d%d = {} (the old one dies)" % i, \
                self.o.dict_ident(i)
            renew = lambda: self.w.renew_dict(i)
        elif kind == 1:
            i = n % W.MODULES
            text, ident = "m%d = new module (it dies with its functions)" \
                % i, self.o.module_ident(i)
            renew = lambda: self.w.renew_module(i)
            self.o.frozen_modules.discard(i)
        elif kind == 2:
            i = n % W.CLASSES
            cls = self.w.classes[i]
            text = "%s = new class, if it has no subclasses" % \
                W.class_name(i)
            ident = self.o.class_ident(i)
            for b in cls.__bases__:
                s = self.w.class_slot(b)
                if s is not None and not cls.__subclasses__():
                    # Its death leaves its base's registry: a write that
                    # counts or not, depending on when the GC runs.
                    self.events.append((self.o.registry_ident(s), id(cls),
                                        False))
            renew = lambda: self.w.renew_class(i, pick)
        else:
            i = n % W.FUNCS
            text, ident = "f%d = new function (the old one dies)" % i, \
                self.o.func_ident(i)
            renew = lambda: self.w.renew_func(i)

        def call():
            pywatch.flush()
            if kind in (1, 2):
                self.drop_cells_of({1: self.w.modules,
                                    2: self.w.classes}[kind][i])
            if kind == 2:
                self.class_dies(i)
            if renew() is not False:
                self.o.forget(ident)
                self.o.frozen_classes.discard(ident)
        return text, None, call

    def drop_cells_of(self, obj):
        """An attribute cell keeps its namespace alive: before the
        namespace may die, its owner lets go of it."""
        self.cells = [None if c is not None and c.obj is obj else c
                      for c in self.cells]

    def class_dies(self, i):
        """A base whose registry only held class i frees it."""
        cls = self.w.classes[i]
        if cls.__subclasses__():
            return
        for b in cls.__bases__:
            s = self.w.class_slot(b)
            if s is not None and b.__subclasses__() == [cls]:
                self.o.registry_gen[s] += 1

    def op_freeze(self, kind, n):
        if kind % 2 == 0:
            i = n % W.MODULES
            self.o.frozen_modules.add(i)
            return ("freeze(m%d)" % i, None,
                    lambda: pywatch.freeze(self.w.modules[i]))
        i, cls, cname = self.cls(n)
        ident = self.o.class_ident(i)
        self.o.frozen_classes.add(ident)
        return "freeze(%s)" % cname, None, lambda: pywatch.freeze(cls)

    def op_thaw(self, kind, n):
        if kind % 2 == 0:
            i = n % W.MODULES
            self.o.frozen_modules.discard(i)
            return ("thaw(m%d)" % i, None,
                    lambda: pywatch.thaw(self.w.modules[i]))
        i, cls, cname = self.cls(n)
        self.o.frozen_classes.discard(self.o.class_ident(i))
        return "thaw(%s)" % cname, None, lambda: pywatch.thaw(cls)

    # ---- dependents ------------------------------------------------------

    def callback(self, dep, event):
        self.stats.bump(self.stats.events, event.kind)

    def op_new(self, d):
        s = d % W.DEPS

        def new():
            self.deps[s] = pywatch.Dependent(self.callback)
            self.o.deps[s] = DepInfo()
        return "dep%d = Dependent(callback)" % s, None, new

    def op_drop(self, d):
        """Dropping the last reference releases the dependent."""
        s = d % W.DEPS

        def drop():
            self.deps[s] = None
            self.o.deps.pop(s, None)
        return "dep%d = None" % s, None, drop

    def op_release(self, d):
        s, dep = self.dep(d)
        return ("dep%d.release()" % s, None,
                dep.release if dep is not None else None)

    def op_invalidate(self, d):
        s, dep = self.dep(d)
        return ("dep%d.invalidate()" % s, None,
                dep.invalidate if dep is not None else None)

    def op_flush(self):
        return "flush()", None, pywatch.flush

    # ---- registrations ---------------------------------------------------

    def register(self, s, text, assumption, edges, call, stale=False,
                 type_idents=()):
        """The expected outcome of a registration, and the call that
        records it in the oracle when it succeeds."""
        dep = self.deps[s]
        if dep is None:
            return text, None, None
        info = self.o.deps[s]
        if not dep.valid:
            return text, "ValueError", call
        if stale:
            return text, "StaleError", call
        if self.o.impure(edges):
            return text, "unwatchable", call
        must, may = self.o.unstable(edges, type_idents)
        expected = "unstable" if must else ({None, "unstable"} if may
                                            else None)

        def after(got):
            if got is None:
                info.assumptions.append(assumption)
                info.edges += edges
            # A refusal for another reason (a module's class providing the
            # name, say) tells nothing about the counts.
            if got is None or _kind(got) == "unstable":
                self.o.learn_unstable(edges, got is not None)
        self.after_step = after
        return text, expected, call

    def op_rkey(self, d, t, k, mode, v):
        s, dep = self.dep(d)
        n = t % (W.MODULES + W.BUILTINS + W.DICTS + W.CLASSES)
        mode %= 3    # 0: no value, 1: value=<a random one>, 2: value=current
        refused = False
        own_mro = False
        if n < W.MODULES:
            ns, name = self.w.modules[n], "m%d" % n
            key = W.STR_KEYS[k % len(W.STR_KEYS)]
            current = self.o.key_value(ns.__dict__, key)
            assumption = lambda val: self.o.module_attr_assumption(n, key,
                                                                   val)
            refused = lambda val: self.o.module_attr_refused(n, key, val)
            type_idents = ()
        elif n < W.MODULES + W.CLASSES:
            i = n - W.MODULES
            ns, name = self.w.classes[i], W.class_name(i)
            key = W.STR_KEYS[k % len(W.STR_KEYS)]
            current = self.o.attr_value(ns, key)
            assumption = lambda val: self.o.attr_assumption(i, key, val)
            type_idents = self.o.type_watched(i)
            own_mro = self.o.own_mro(ns)
        else:
            ns, ident, name, key = self.dict_target(
                n - W.MODULES - W.CLASSES, k)
            current = self.o.key_value(ns, key)
            assumption = lambda val: self.o.key_assumption(ident, key, val)
            type_idents = ()
        value = W.VALUES[v % 6] if mode == 1 else current
        a, edges = assumption(value)
        kwargs = {} if mode == 0 or value is ABSENT else {"value": value}
        shown = "" if not kwargs else ", value=%r" % value
        text = "dep%d.depends_on(%s, %r%s)" % (s, name, key, shown)
        call = dep and (lambda: dep.depends_on(ns, key, **kwargs))
        text, expected, call = self.register(s, text, a, edges, call,
                                             stale=value is not current,
                                             type_idents=type_idents)
        if own_mro and call is not None and dep.valid \
                and expected != "StaleError":
            expected = "unstable"   # a metaclass computes its own MRO
        if refused and refused(value) and call is not None \
                and dep.valid:
            expected = "ValueError"  # only Python code knows mod.key
        return text, expected, call

    def op_rhash(self, d, t, victim):
        """A key whose second __hash__, the one libwatch's validation
        makes, releases a dependent: the one registering, or another."""
        s, dep = self.dep(d)
        v, target = self.dep(victim)
        i = t % W.DICTS
        ident = self.o.dict_ident(i)
        key = W.ReentrantKey("h%d" % t)
        a, edges = self.o.key_assumption(ident, key, ABSENT)
        text = ("dep%d.depends_on(d%d, <key releasing dep%d at its 2nd "
                "__hash__>)" % (s, i, v))
        d_i = self.w.dicts[i]

        def call():
            # pywatch hashes the key once, libwatch's validation again.
            key.arm(2, target)
            dep.depends_on(d_i, key)
        call = dep and call
        text, expected, call = self.register(s, text, a, edges, call)
        if v == s and expected is None and target is not None:
            expected = "ValueError"  # released by its own registration
        return text, expected, call

    def op_rdel(self, t, victim, k):
        """A key that only libwatch's record keeps alive, whose __del__
        releases a dependent when libwatch drops the record."""
        v, target = self.dep(victim)
        i = t % W.DICTS
        d_i = self.w.dicts[i]
        ident = self.o.dict_ident(i)

        def call():
            key = W.ReentrantKey("k%d" % k, on_del=target)
            d_i[key] = W.VALUES[0]
            tmp = pywatch.Dependent()
            tmp.depends_on(d_i, key)
            del d_i[key]   # tmp invalid; libwatch's record holds the key
            del key, tmp
        # The writes of a fresh key count for nothing the oracle tracks.
        return ("<a key that releases dep%d when dropped> in d%d"
                % (v, i), None, call)

    def op_spec(self, f, g, j):
        """guard = specialize(f, code, functions=[g]): chains and cycles of
        specializations when g is specialized too.  pywatch keeps a guard
        alive while it is valid, so it is checked apart from the slots."""
        i, func = self.func(f)
        gi, gfunc = self.func(g)
        code = W.CODES[j % len(W.CODES)]
        name = "guard%d" % self.guard_count
        text = ("%s = specialize(f%d, <%s>, functions=[f%d])"
                % (name, i, code.co_name, gi))
        guard_on = [] if gi == i else [self.o.function_assumption(gi)[0]]

        def call():
            guard = pywatch.specialize(func, code, functions=[gfunc])
            if not guard.valid:
                raise Failure("dead guard", "%s returned an invalid guard"
                              % text)
            self.guard_count += 1
            self.guards[name] = guard
            info = self.o.deps[name] = DepInfo()
            info.assumptions += guard_on
            info.assumptions.append(self.o.function_assumption(i)[0])
        # A cycle (g specialized on f) is refused with ValueError.
        return text, {None, "ValueError"}, call

    def op_rreent(self, d, t, k, n, v):
        """A registration whose own lookups write what it reads: a key in a
        dict it reads hashes like the name, and its n-th __eq__ binds the
        name in a dict read before.  depends_on_global(f, name): the key in
        f's builtins binds the global (pywatch reads globals, then
        builtins; libwatch reads both, then both again once linked).
        depends_on(C, name, value): the key, written raw in the last world
        class of C's MRO, sets name on C.  Either way the registration is
        refused (StaleError, or ValueError once invalidated), unless the
        name was found before the key was reached."""
        s, dep = self.dep(d)
        key = W.STR_KEYS[k % len(W.STR_KEYS)]
        value = W.VALUES[v % len(W.VALUES)]
        n = 1 + n % 3
        if t % 2 == 0:
            i, func = self.func(t // 2)
            g, b = func.__globals__, func.__builtins__
            text = ("dep%d.depends_on_global(f%d, %r) while its %d-th lookup"
                    " sets the global to %r" % (s, i, key, n, value))
            found_first = key in g
            a, edges = self.o.global_assumption(i, key)
            shadow_in, write = b, lambda: g.__setitem__(key, value)
            g_ident = self.o.ident_of_dict(g)
            register = lambda: dep.depends_on_global(func, key)
            on_write = lambda: self.key_write(g_ident, g, key, value)
        else:
            i, cls, cname = self.cls(t // 2)
            last = [c for c in cls.__mro__
                    if self.w.class_slot(c) is not None][-1]
            current = self.o.attr_value(cls, key)
            text = ("dep%d.depends_on(%s, %r, value=%r) while its %d-th "
                    "lookup sets %s.%s = %r" % (s, cname, key, current, n,
                                                cname, key, value))
            definer = self.o.attr_definer(cls, key)[0]
            found_first = definer < cls.__mro__.index(last)
            if self.o.class_ident(i) in self.o.frozen_classes:
                return text + ": frozen", None, None
            a, edges = self.o.attr_assumption(i, key, current)
            shadow_in = pywatch._freeze._c._type_dict(last)
            write = lambda: setattr(cls, key, value)
            register = lambda: dep.depends_on(cls, key, value=current)
            on_write = lambda: self.class_write(i, key, value)
        if dep is None:
            return text, None, None
        if not dep.valid:
            return text, "ValueError", register
        shadow = W.ShadowKey(key)
        wrote = []

        def write_once():
            before = len(self.events)
            on_write()      # the event, judged before the write
            wrote.extend(e[:2] for e in self.events[before:])
            write()

        def call():
            shadow_in[shadow] = None
            shadow.arm(n, write_once)
            try:
                register()
            finally:
                shadow.arm(0, None)
                del shadow_in[shadow]
        if found_first:
            # The key's arrival invalidates, conservatively, any dependent
            # on that dict: this one may be (ValueError).
            must, may = self.o.unstable(edges)
            expected = {"unstable", "ValueError"} if must else (
                {None, "unstable", "ValueError"} if may
                else {None, "ValueError"})
        else:
            # The write happens, unless a lookup found the name first; a
            # lookup that meets the shadow key, whose __eq__ is Python
            # code, is refused.
            expected = {"StaleError", "ValueError", "unstable", None,
                        "unwatchable"}
        if t % 2 and self.o.own_mro(cls):
            # Refused (op_cmeta), unless the reads saw the write first.
            expected = {"unstable", "ValueError", "StaleError"}
        if self.o.impure(edges) or not found_first:
            # A lookup meeting a key that Python code compares (a flip,
            # the shadow) is refused.
            expected = expected | {"unwatchable"}

        def after(got):
            # The registration may have linked the key before the write
            # (whether it counted is unknown): an upper bound only.
            for e in edges:
                if e in wrote:
                    self.o.table(e).setdefault(e, [0, 0])[1] += 1
            if got is None:
                # Checked like any other: a valid dependent whose assumed
                # value was replaced under it is a missed invalidation.
                self.o.deps[s].assumptions.append(a)
                self.o.deps[s].edges += edges
            # Only a success or an instability tells about the counts; a
            # stale or invalidated registration tells nothing.
            if got is None or _kind(got) == "unstable":
                self.o.learn_unstable(edges, got is not None)
        self.after_step = after
        return text, expected, call

    def op_rodd(self, d, k):
        """depends_on_global of a function whose globals are a dict
        subclass: refused with TypeError."""
        s, dep = self.dep(d)
        key = W.STR_KEYS[k % len(W.STR_KEYS)]
        text = "dep%d.depends_on_global(<odd globals>, %r)" % (s, key)
        if dep is None:
            return text, None, None
        return (text, "TypeError" if dep.valid else "ValueError",
                lambda: dep.depends_on_global(W.ODD_FUNC, key))

    def op_rglobal(self, d, f, k):
        s, dep = self.dep(d)
        i, func = self.func(f)
        key = W.STR_KEYS[k % len(W.STR_KEYS)]
        a, edges = self.o.global_assumption(i, key)
        return self.register(s, "dep%d.depends_on_global(f%d, %r)"
                             % (s, i, key), a, edges,
                             dep and (lambda: dep.depends_on_global(func,
                                                                    key)))

    def op_rfunc(self, d, f):
        s, dep = self.dep(d)
        i, func = self.func(f)
        a, edges = self.o.function_assumption(i)
        return self.register(s, "dep%d.depends_on_function(f%d)" % (s, i),
                             a, edges,
                             dep and (lambda: dep.depends_on_function(func)))

    def op_rns(self, d, t):
        s, dep = self.dep(d)
        n = t % (W.MODULES + W.BUILTINS + W.DICTS + W.CLASSES)
        if n < W.MODULES:
            ns, name, ident = self.w.modules[n], "m%d" % n, \
                self.o.module_ident(n)
        elif n < W.MODULES + W.CLASSES:
            i = n - W.MODULES
            ns, name, ident = self.w.classes[i], W.class_name(i), \
                self.o.class_ident(i)
        else:
            ns, ident, name, _ = self.dict_target(n - W.MODULES - W.CLASSES,
                                                  0)
        a, edges = self.o.namespace_assumption(ident)
        return self.register(s, "dep%d.depends_on_namespace(%s)" % (s, name),
                             a, edges,
                             dep and (lambda: dep.depends_on_namespace(ns)))

    def op_flip(self, t, k, mode, v):
        """A key of a name's hash whose __eq__ starts or stops matching the
        name: the entry a lookup finds changes, and no write says so."""
        d, ident, dname, _ = self.dict_target(t, 0)
        name = W.STR_KEYS[k % len(W.STR_KEYS)]
        flip = self.flips.get((ident, name))
        if flip is None or flip not in d.keys() or d is None:
            flip = W.FlipKey(name)
            value = W.VALUES[v % len(W.VALUES)]
            text = "%s[<flip of %r>] = %r" % (dname, name, value)

            def call():
                self.events.append((ident, name, False))
                d[flip] = value
                self.flips[(ident, name)] = flip
            return text, None, call
        text = "<flip of %r in %s>.equal = %s" % (name, dname,
                                                  not flip.equal)

        def toggle():
            flip.equal = not flip.equal
        return text, None, toggle

    # ---- cells -------------------------------------------------------

    def op_ncell(self, c, kind, n, k):
        """A cell on LOAD_GLOBAL (any world dict as globals, a builtins
        dict), on a module attribute or on a class attribute."""
        s = c % W.CELLS
        name = W.STR_KEYS[k % len(W.STR_KEYS)]
        kind %= 3
        if kind == 0:
            g, gident, gname, _ = self.dict_target(n, 0)
            b = self.w.builtins[k % W.BUILTINS]
            slot = CellSlot(self.o, name, gident=gident,
                            bident=self.o.builtins_ident(k % W.BUILTINS))
            text = "cell%d = global_cell(%s, b%d, %r)" % (
                s, gname, k % W.BUILTINS, name)
            make = lambda: pywatch.global_cell(g, b, name)
            expected = None
        elif kind == 1:
            i, m = self.module(n)
            slot = CellSlot(self.o, name, obj=m)
            text = "cell%d = attr_cell(m%d, %r)" % (s, i, name)
            make = lambda: pywatch.attr_cell(m, name)
            expected = None
        else:
            i, cls, cname = self.cls(n)
            slot = CellSlot(self.o, name, obj=cls)
            text = "cell%d = attr_cell(%s, %r)" % (s, cname, name)
            make = lambda: pywatch.attr_cell(cls, name)
            # A class libwatch cannot watch is refused: its metaclass's
            # own mro(), or (3.13, builtin-based) out of version tags.
            expected = ("ValueError" if self.o.own_mro(cls)
                        else {None, "ValueError"})

        def call():
            self.cells[s] = None
            slot.cell = make()
            self.cells[s] = slot
        return text, expected, call

    def op_gcell(self, c):
        """The slow path: after it, the cell is exactly a plain lookup."""
        s = c % W.CELLS
        slot = self.cells[s]
        text = "cell%d.get()" % s
        if slot is None:
            return text, None, None

        def call():
            self.check_cell(slot, text, slot.cell.get(NULL), exact=True)
        if slot.dead():
            return text, "ValueError", call
        if isinstance(slot.obj, type) and self.o.own_mro(slot.obj):
            # libwatch cannot watch it anew; a guard from before its
            # metaclass changed still holds.
            return text, {None, "ValueError"}, call
        return text, None, call

    def op_dcell(self, c, d):
        """A dependent through a cell: invalid as soon as what the cell
        reads changes (the oracle's assumption is what get() returned)."""
        s = c % W.CELLS
        slot = self.cells[s]
        ds, dep = self.dep(d)
        text = "cell%d.depend(dep%d)" % (s, ds)
        if slot is None or dep is None:
            return text, None, None
        if not dep.valid:
            return text, "ValueError", lambda: slot.cell.depend(dep)
        if slot.dead():
            return text, "ValueError", lambda: slot.cell.depend(dep)
        info = self.o.deps[ds]

        edges = slot.dep_edges()
        assumption = slot.assumption()

        def call():
            slot.cell.depend(dep)

        def after(got):
            if got is None:
                info.assumptions.append(assumption)
                info.edges += edges
            if got is None or _kind(got) == "unstable":
                self.o.learn_unstable(edges, got is not None)
        self.after_step = after
        # What the cell cannot watch (a class out of version tags...) and
        # a name changed too often for a dependent are refused.
        return text, {None, "ValueError", "unstable", "unwatchable"}, call

    def op_xcell(self, c, mode):
        s = c % W.CELLS
        slot = self.cells[s]
        if mode % 2:
            def drop():
                self.cells[s] = None
            return "cell%d = None" % s, None, drop

        def close():
            if slot is not None:
                slot.cell.close()
                self.cells[s] = None
        return "cell%d.close()" % s, None, close

    def close(self):
        """Ends the episode: every dependent released, everything thawed."""
        for _, dep in self.dependents():
            dep.release()
        self.deps = [None] * W.DEPS
        self.guards = {}
        self.cells = [None] * W.CELLS
        for m in self.w.modules:
            pywatch.thaw(m)
        for c in self.w.classes:
            pywatch.thaw(c)
        pywatch.flush()
        self.restore_static_types()

    def restore_static_types(self):
        """Takes back the raw writes of sraw, counted as the writes they
        are: the next episode starts from the builtin types as they were."""
        self.events = []
        for cls in W.STATIC_TYPES:
            raw = W.static_dict(cls)
            for key in W.STR_KEYS:
                self.key_delete(self.o.static_ident(cls), raw, key)
                raw.pop(key, None)
        W.clear_type_caches()
        self.o.count_writes(self.events, set(), set())
