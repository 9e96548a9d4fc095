"""The brute-force oracle: what each dependent assumed, re-read from scratch.

A namespace is named by an ident, (kind, slot, generation...), resolved
through the world at each check; a renewed slot's old ident resolves to
nothing, and an assumption on a namespace that is gone no longer holds.

It also models libwatch's unstable keys (doc/c-api.md: a key modified more than 8
times after it is first depended on; a subclass registry's records never
count), as bounds: lo counts the writes that
certainly counted, hi those that may have.  A registration must fail with
"changes too often" when a key it links has lo > 8, may when hi > 8, and
must not otherwise.
"""
import sys
import types

import world as W

UNSTABLE_LIMIT = 8      # libwatch's default; pywatch cannot change it

# The counts of builtin type dicts' keys, which outlive an episode as the
# types do: one table per process.
STATIC_COUNTS = {}


class _Absent:
    def __repr__(self):
        return "<absent>"


ABSENT = _Absent()      # an assumed absence


class _Null:
    def __repr__(self):
        return "NULL"


NULL = _Null()          # what a Cell gives when it holds no value
OWN_GETATTRIBUTE = vars(types.ModuleType)["__getattribute__"]


class Assumption:
    """what: readable; ident: the namespace; read(oracle): the current
    value (or a snapshot); expected: what was assumed."""

    def __init__(self, what, ident, read, expected):
        self.what, self.ident, self.read, self.expected = (what, ident, read,
                                                           expected)

    def holds(self, oracle):
        if oracle.resolve(self.ident) is None:
            return False
        current = self.read(oracle)
        if isinstance(self.expected, tuple) and isinstance(current, tuple):
            return len(current) == len(self.expected) and all(
                a is b for a, b in zip(current, self.expected))
        return current is self.expected


def snapshot(mapping):
    """A dict's contents compared by identity: (key, value, key, value...)."""
    out = []
    for k, v in mapping.items():
        out += [k, v]
    return tuple(out)


class DepInfo:
    def __init__(self):
        self.assumptions = []
        self.edges = []       # [(ident, key)]: libwatch's key records
        self.valid = True     # as observed after the last step


class Oracle:
    def __init__(self, world):
        self.world = world
        self.deps = {}        # slot -> DepInfo
        self.counts = {}      # (ident, key) -> [lo, hi]
        self.registry_gen = [0] * len(world.classes)
        self.had_subclasses = [bool(c.__subclasses__())
                               for c in world.classes]
        self.type_changes = {}  # class ident -> changes (version tags used)
        self.frozen_modules = set()
        self.frozen_classes = set()

    # ---- idents ----------------------------------------------------------

    def module_ident(self, i):
        return ("m", i, self.world.module_gen[i])

    def dict_ident(self, i):
        return ("d", i, self.world.dict_gen[i])

    def builtins_ident(self, i):
        return ("b", i)

    def class_ident(self, i):
        return ("c", i, self.world.class_gen[i])

    def func_ident(self, i):
        return ("f", i, self.world.func_gen[i])

    @staticmethod
    def static_ident(cls):
        return ("s", W.STATIC_TYPES.index(cls))

    def registry_ident(self, i):
        return ("r", i, self.world.class_gen[i], self.registry_gen[i])

    def registry_gens(self):
        """CPython frees a subclass registry once it is empty: a later one
        is another dict, with no counts."""
        for i, c in enumerate(self.world.classes):
            has = bool(c.__subclasses__())
            if self.had_subclasses[i] and not has:
                self.registry_gen[i] += 1
            self.had_subclasses[i] = has

    def resolve(self, ident):
        """The live object an ident names, or None if it is gone."""
        w, kind, i = self.world, ident[0], ident[1]
        if kind == "b":
            return w.builtins[i]
        if kind == "s":
            return W.STATIC_TYPES[i]
        if kind == "mc":
            return w.module_class
        if kind == "nd":
            return w.nondata_type
        gens = {"m": w.module_gen, "d": w.dict_gen, "c": w.class_gen,
                "f": w.func_gen}[kind]
        if gens[i] != ident[2]:
            return None
        return {"m": w.modules, "d": w.dicts, "c": w.classes,
                "f": w.funcs}[kind][i]

    def mapping(self, ident):
        """The dict behind an ident (a class's __dict__ proxy)."""
        obj = self.resolve(ident)
        if obj is None or isinstance(obj, dict):
            return obj
        return vars(obj)

    def ident_of_dict(self, d):
        """The ident of a dict that is a builtins, module or plain dict."""
        w = self.world
        for i, b in enumerate(w.builtins):
            if b is d:
                return self.builtins_ident(i)
        for i, m in enumerate(w.modules):
            if m.__dict__ is d:
                return self.module_ident(i)
        for i, x in enumerate(w.dicts):
            if x is d:
                return self.dict_ident(i)
        raise AssertionError("fuzz harness: unknown dict")

    # ---- current values, the way each assumption defines them ------------

    @staticmethod
    def key_value(mapping, key):
        return mapping.get(key, ABSENT)

    def attr_value(self, cls, name):
        """_PyType_Lookup: the first class of the MRO whose own __dict__
        holds name; the metaclass is not searched."""
        definer, value = self.attr_definer(cls, name)
        return value

    @staticmethod
    def attr_definer(cls, name):
        for i, c in enumerate(cls.__mro__):
            d = vars(c)
            if name in d:
                return i, d[name]
        return len(cls.__mro__), ABSENT

    @staticmethod
    def global_value(func, name):
        """LOAD_GLOBAL: the function's globals, then its builtins."""
        v = func.__globals__.get(name, ABSENT)
        return v if v is not ABSENT else func.__builtins__.get(name, ABSENT)

    # ---- assumptions and libwatch's key records, per registration --------

    def key_assumption(self, ident, key, value):
        read = lambda o: o.key_value(o.mapping(ident), key)
        return (Assumption("%s[%r] is %r" % (ident, key, value), ident, read,
                           value), [(ident, key)])

    def global_assumption(self, fslot, name):
        w = self.world
        f = w.funcs[fslot]
        g = self.ident_of_dict(f.__globals__)
        b = self.ident_of_dict(f.__builtins__)
        value = self.global_value(f, name)

        def read(o):
            gd, bd = o.mapping(g), o.mapping(b)
            if bd is None:
                return None
            v = gd.get(name, ABSENT)
            return v if v is not ABSENT else bd.get(name, ABSENT)
        edges = [(g, name)]
        if name not in f.__globals__:
            edges.append((b, name))
        return (Assumption("global %r of f%d (%s, %s) is %r"
                           % (name, fslot, g, b, value), g, read, value),
                edges)

    def module_lookup(self, mod, cls, name, value):
        """Why mod.name, assumed to be value, is not the dict's value (a
        marker), or None: the rules of libwatch's module_attr()."""
        if self.attr_value(cls, "__getattribute__") is not OWN_GETATTRIBUTE:
            return "<%s.__getattribute__>" % cls.__name__
        provided = self.attr_value(cls, name)
        if provided is not ABSENT and (value is ABSENT
                                       or self.is_data(provided)):
            return "<%s provides it>" % cls.__name__
        if value is ABSENT and "__getattr__" in vars(mod):
            return "<__getattr__>"
        if value is ABSENT and \
                self.attr_value(cls, "__getattr__") is not ABSENT:
            return "<%s.__getattr__>" % cls.__name__
        return None

    def is_data(self, descriptor):
        t = type(descriptor)
        return (self.attr_value(t, "__set__") is not ABSENT
                or self.attr_value(t, "__delete__") is not ABSENT)

    def module_attr_assumption(self, mslot, name, value):
        """mod.name for a module: its dict's value, its class's lookups of
        name, __getattribute__ and (for an absence) __getattr__, the type of
        a descriptor the dict shadows, the class itself (a swap
        invalidates), and for an absence, the dict's __getattr__."""
        ident = self.module_ident(mslot)
        mod = self.world.modules[mslot]
        cls = type(mod)

        def read(o):
            mod = o.resolve(ident)
            if type(mod) is not cls:
                return "<another class>"
            return (o.module_lookup(mod, cls, name, value)
                    or o.key_value(vars(mod), name))
        edges = [(ident, name)] + self.mro_edges(cls, name) + \
            self.mro_edges(cls, "__getattribute__")
        if value is ABSENT:
            edges += [(ident, "__getattr__")] + \
                self.mro_edges(cls, "__getattr__")
        provided = self.attr_value(cls, name)
        if provided is not ABSENT:
            for n in ("__set__", "__delete__"):
                edges += self.mro_edges(type(provided), n)
        return (Assumption("%s.%s is %r" % (ident, name, value), ident, read,
                           value), edges)

    def module_attr_refused(self, mslot, name, assumed):
        """Whether libwatch refuses mod.name assumed to be assumed, because
        only Python code knows it.  Checked before staleness."""
        mod = self.world.modules[mslot]
        return self.module_lookup(mod, type(mod), name, assumed) is not None

    def attr_assumption(self, cslot, name, value):
        ident = self.class_ident(cslot)
        read = lambda o: o.attr_value(o.resolve(ident), name)
        return (Assumption("%s.%s is %r" % (ident, name, value), ident, read,
                           value), self.attr_edges(cslot, name))

    def attr_edges(self, cslot, name):
        return self.mro_edges(self.world.classes[cslot], name)

    def mro_edges(self, cls, name):
        """What libwatch's link_mro() links: name in each class dict of the
        MRO up to the definer, and each world class's entry in its world
        bases' subclass registries."""
        w = self.world
        definer, _ = self.attr_definer(cls, name)
        edges = []
        for i, c in enumerate(cls.__mro__):
            s = w.class_slot(c)
            if i <= definer:
                ident = self.class_dict_ident(c)
                if ident is not None:
                    edges.append((ident, name))
            if s is None:
                continue
            for b in c.__bases__:
                bs = w.class_slot(b)
                if bs is not None:
                    edges.append((self.registry_ident(bs), id(c)))
        return edges

    def class_dict_ident(self, c):
        """The ident of a class whose dict the world writes, or None."""
        w = self.world
        s = w.class_slot(c)
        if s is not None:
            return self.class_ident(s)
        if c in W.STATIC_TYPES:
            return self.static_ident(c)
        if c is w.module_class:
            return ("mc", 0)
        if c is w.nondata_type:
            return ("nd", 0)
        return None

    @staticmethod
    def own_mro(cls):
        """Whether a class of cls's MRO has a metaclass whose mro() is not
        type's: libwatch refuses it."""
        default = vars(type)["mro"]
        return any(Oracle.attr_definer(type(c), "mro")[1] is not default
                   for c in cls.__mro__)

    def type_watched(self, cslot):
        """The builtin-based classes in cslot's MRO: libwatch watches them
        with a type watcher, which needs a version tag each time."""
        w = self.world
        out = []
        for c in w.classes[cslot].__mro__:
            s = w.class_slot(c)
            if s is not None and not any(w.class_slot(b) is not None
                                         for b in c.__bases__) \
                    and c.__bases__ != (object,):
                out.append(self.class_ident(s))
        return out

    def function_assumption(self, fslot):
        ident = self.func_ident(fslot)
        # __kwdefaults__ by identity and by contents: it can change in place.
        state = lambda g: ((g.__code__, g.__defaults__, g.__kwdefaults__)
                           + snapshot(g.__kwdefaults__ or {}))
        f = self.world.funcs[fslot]
        now = state(f)
        read = lambda o: state(o.resolve(ident))
        return Assumption("%s keeps %s" % (ident, f.__code__.co_name), ident,
                          read, now), []

    def namespace_assumption(self, ident):
        read = lambda o: snapshot(o.mapping(ident))
        return (Assumption("%s unchanged" % (ident,), ident, read,
                           snapshot(self.mapping(ident))), [])

    # ---- unstable keys ---------------------------------------------------

    def unstable(self, edges, type_idents=()):
        """(must, may): whether registering these edges must, or may,
        fail with "changes too often"."""
        must = may = False
        for e in edges:
            lo, hi = self.table(e).get(e, (0, 0))
            must |= lo > UNSTABLE_LIMIT
            may |= hi > UNSTABLE_LIMIT
        # 3.13 gives a class at most 1000 version tags; each change of the
        # class or of a class of its MRO may use one.
        if sys.version_info >= (3, 13):
            may |= any(self.type_changes.get(t, 0) >= 990 for t in type_idents)
        return must, may

    def impure(self, edges):
        """Whether a lookup the edges name meets another key of its hash
        that Python code may compare (libwatch's dict_lookup_is_pure()):
        such a read can change with no write, and is refused."""
        for ident, key in edges:
            mapping = self.mapping(ident) if ident[0] in "mdbc" else None
            if mapping is None:
                continue
            h = hash(key)
            for k in list(mapping.keys()):
                if k is not key and hash(k) == h and not (
                        _compares_in_c(k) and _compares_in_c(key)):
                    return True
        return False

    def learn_unstable(self, edges, raised):
        """What a registration's outcome tells about the counts."""
        if not raised:
            for e in edges:
                c = self.table(e).get(e)
                if c is not None:
                    c[1] = min(c[1], UNSTABLE_LIMIT)
                    c[0] = min(c[0], c[1])
            return
        over = [e for e in edges
                if self.table(e).get(e, (0, 0))[1] > UNSTABLE_LIMIT]
        if len(over) == 1:
            c = self.table(over[0])[over[0]]
            c[0] = max(c[0], UNSTABLE_LIMIT + 1)

    def count_writes(self, events, valid_before, valid_after,
                     cell_edges=frozenset()):
        """Counts the key writes of one step.  events: [(ident, key,
        certain)]; valid_before/after: dep slots valid before and after;
        cell_edges: what attribute cells may watch (their guards come and
        go with their reads).  A write counts if the key has a record: a
        count already, or an edge of a valid dependent."""
        for n, (ident, key, certain) in enumerate(events):
            if ident[0] == "r":
                continue  # subclass registry records never count
            e = (ident, key)
            table = self.table(e)
            c = table.setdefault(e, [0, 0])
            holders = [s for s, info in self.deps.items() if e in info.edges]
            sure = c[0] > 0 or any(s in valid_after for s in holders) or (
                n == 0 and any(s in valid_before for s in holders))
            maybe = (c[1] > 0 or any(s in valid_before for s in holders)
                     or e in cell_edges)
            if certain and sure:
                c[0] += 1
                c[1] += 1
            elif maybe:
                c[1] += 1
            if c == [0, 0]:
                del table[e]

    def table(self, edge):
        return STATIC_COUNTS if edge[0][0] == "s" else self.counts

    def forget(self, prefix):
        """Drops the counts of a namespace that died."""
        for e in [e for e in self.counts if e[0][:len(prefix)] == prefix]:
            del self.counts[e]


class CellSlot:
    """A pywatch.Cell and what a plain read of its name gives: a global
    (gident, bident: the dicts, which the cell does not keep alive) or an
    attribute of obj (which it does)."""

    def __init__(self, oracle, name, gident=None, bident=None, obj=None):
        self.o, self.name = oracle, name
        self.gident, self.bident, self.obj = gident, bident, obj
        self.cell = None

    def dead(self):
        return self.gident is not None and (
            self.o.resolve(self.gident) is None)

    def truth(self):
        """What the cell must hold: a value, ABSENT, or a marker string
        ("<...>") for a state it cannot forward."""
        o, name = self.o, self.name
        if self.gident is not None:
            v = o.mapping(self.gident).get(name, ABSENT)
            return v if v is not ABSENT else o.mapping(self.bident).get(
                name, ABSENT)
        if isinstance(self.obj, type):
            return o.attr_value(self.obj, name)
        value = vars(self.obj).get(name, ABSENT)
        return (o.module_lookup(self.obj, type(self.obj), name, value)
                or value)

    def problem(self, text, got, exact):
        """got: what the cell gave (NULL for none).  A value must be the
        truth; after the slow path (exact), a value there is must be
        given.  Returns (kind, detail) when a rule broke, else None."""
        if self.dead():
            if got is not NULL:
                return ("stale cell", "%s gives %r, but its globals are gone"
                        % (text, got))
            return None
        truth = self.truth()
        forwardable = truth is not ABSENT and not _marker(truth)
        if got is not NULL and (not forwardable or got is not truth):
            return ("stale cell", "%s gives %r, a plain lookup %r"
                    % (text, got, truth))
        if exact and got is NULL and forwardable:
            return ("cell not refilled", "%s gives NULL, a plain lookup %r"
                    % (text, truth))
        return None

    def edges(self):
        """The key records an attribute cell's guard may hold."""
        o, name = self.o, self.name
        if self.gident is not None:
            return set()
        if isinstance(self.obj, type):
            return set(o.mro_edges(self.obj, name))
        i = o.world.modules.index(self.obj)
        return {e for v in (ABSENT, None)
                for e in o.module_attr_assumption(i, name, v)[1]}

    def dep_edges(self):
        """The key records a dependent registered through the cell links
        now, as watch_dep_on_global() or watch_dep_on_attr() would."""
        o, name = self.o, self.name
        if self.gident is None:
            if isinstance(self.obj, type):
                return o.mro_edges(self.obj, name)
            i = o.world.modules.index(self.obj)
            return o.module_attr_assumption(i, name, self.truth())[1]
        edges = [(self.gident, name)]
        if name not in o.mapping(self.gident):
            edges.append((self.bident, name))
        return edges

    def assumption(self):
        """What a dependent registered through the cell assumes now.  It
        names the namespace by ident: a dependent keeps nothing alive."""
        o, name, expected = self.o, self.name, self.truth()
        if self.gident is None:
            if isinstance(self.obj, type):
                i = o.world.class_slot(self.obj)
                return o.attr_assumption(i, name, expected)[0]
            i = o.world.modules.index(self.obj)
            return o.module_attr_assumption(i, name, expected)[0]
        g, b = self.gident, self.bident

        def read(o):
            v = o.mapping(g).get(name, ABSENT)
            return v if v is not ABSENT else o.mapping(b).get(name, ABSENT)
        return Assumption("global %r of (%s, %s) is %r" % (name, g, b,
                                                           expected),
                          g, read, expected)


def _compares_in_c(key, depth=8):
    if type(key) in (str, int, float, complex, bool) or key is None:
        return True
    return (type(key) is tuple and depth > 0
            and all(_compares_in_c(k, depth - 1) for k in key))


def _marker(v):
    return type(v) is str and v.startswith("<")
