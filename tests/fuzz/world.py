"""The namespaces a fuzz episode plays with, in fixed slots.

Slots hold builtins dicts, modules, plain dicts, classes and functions.  A
slot can be renewed: its object is dropped (it must die, so that its
dependents see it deallocated) and a fresh one takes its place, with the
slot's generation bumped.  The oracle names namespaces by (kind, slot,
generation), never by holding them, so that it keeps nothing alive.
"""
import gc
import sys
import types
import weakref

BUILTINS, MODULES, DICTS, FUNCS = 2, 3, 3, 4
PLAIN_CLASSES = 4       # K0 of object, K1..K3 below it
EXC_CLASSES = 3         # E0..E2, builtin-based: the type watcher's path
CLASSES = PLAIN_CLASSES + EXC_CLASSES
DEPS = 10
CELLS = 6

STR_KEYS = ("a", "b", "c", "d", "e")
# int: exact; tuple: conservative; bytes: a str name's hash, compared by
# Python code (a warning under python -b)
DICT_KEYS = STR_KEYS + (7, ("t", 1), b"a")


class Value:
    """A distinct object per index, printed as v0, v1..."""
    __slots__ = ("n",)

    def __init__(self, n):
        self.n = n

    def __repr__(self):
        return "v%d" % self.n


VALUES = tuple(Value(n) for n in range(6))


class ReentrantKey:
    """A key whose hash and equality are Python code, and which releases a
    dependent at its n-th __hash__ after arm(n, dependent), or when it dies
    (on_del=dependent)."""

    def __init__(self, name, on_del=None):
        self.name = name
        self.release_at, self.victim = 0, None
        self.on_del = on_del
        self.hashes = 0

    def arm(self, n, victim):
        self.hashes, self.release_at, self.victim = 0, n, victim

    def __hash__(self):
        self.hashes += 1
        if self.hashes == self.release_at and self.victim is not None:
            self.victim.release()
        return hash(self.name)

    def __eq__(self, other):
        return self is other

    def __del__(self):
        if self.on_del is not None:
            self.on_del.release()

    def __repr__(self):
        return "<key %s>" % self.name
class ShadowKey:
    """A key that hashes like a name and equals nothing, so that every lookup
    of the name in its dict calls its __eq__; armed with (n, action), the
    n-th call runs action, once."""

    def __init__(self, name):
        self.name = name
        self.calls, self.at, self.action = 0, 0, None

    def arm(self, n, action):
        self.calls, self.at, self.action = 0, n, action

    def __hash__(self):
        return hash(self.name)

    def __eq__(self, other):
        self.calls += 1
        if self.calls == self.at and self.action is not None:
            action, self.action = self.action, None
            action()
        return False

    def __repr__(self):
        return "<shadow of %r>" % self.name


class FlipKey:
    """A key that hashes like a name and equals it or not, as told: when
    its answer changes, what a lookup of the name finds changes with no
    write to the dict."""

    def __init__(self, name):
        self.name, self.equal = name, False

    def __hash__(self):
        return hash(self.name)

    def __eq__(self, other):
        return self is other or (self.equal and other == self.name)

    def __repr__(self):
        return "<flip of %r>" % self.name


DEFAULTS = (None, (VALUES[0],), (VALUES[1],), (VALUES[0], VALUES[1]))
KWDEFAULTS = (None, {"c": VALUES[0]}, {"c": VALUES[1]})


def _codes():
    src = ("def f0(a, b=1, *, c=2): return a\n"
           "def f1(a, b=1, *, c=2): return a + b\n"
           "def f2(a, b=1, *, c=2): return (a, b, c)\n")
    ns = {}
    exec(src, ns)
    return tuple(ns["f%d" % i].__code__ for i in range(3))


CODES = _codes()


class SubModule(types.ModuleType):
    """A module class that provides "e" itself: a module swapped to it
    reads e from here, whatever its dict holds (writes still go to the
    dict, as they would without it)."""

    @property
    def e(self):
        return "e of SubModule"

    @e.setter
    def e(self, value):
        self.__dict__["e"] = value

    @e.deleter
    def e(self):
        if self.__dict__.pop("e", None) is None:
            raise AttributeError("e")


class NonData:
    """A descriptor without __set__ or __delete__, until an operation gives
    its (per-episode) class both: then it writes the module dict, as the
    dict write it replaces would."""

    def __init__(self, name):
        self.name = name

    def __get__(self, obj, owner=None):
        return "from NonData"


def _descriptor_set(self, obj, value):
    obj.__dict__[self.name] = value


def _descriptor_delete(self, obj):
    if obj.__dict__.pop(self.name, _MISSING) is _MISSING:
        raise AttributeError(self.name)


_MISSING = object()


def module_class_getattr(self, name):
    """A ModuleType subclass's __getattr__: absent names get a value."""
    return "from the class's __getattr__"


def module_class_getattribute(self, name):
    """An override that reads as ModuleType does: only Python code knows
    that."""
    return types.ModuleType.__getattribute__(self, name)


def module_getattr(name):
    """A module's __getattr__ (PEP 562): absent names are no longer
    AttributeError."""
    return "from __getattr__"


def _odd_globals_function():
    """A function whose globals are a dict subclass with __missing__, which
    LOAD_GLOBAL reads through its own __getitem__."""
    class Missing(dict):
        def __missing__(self, key):
            return "missing"
    ns = Missing(__builtins__=__builtins__)
    exec("def odd():\n    return a\n", ns)
    return ns["odd"]


ODD_FUNC = _odd_globals_function()
EXC_BASES = (Exception, ValueError)     # besides the exception classes
# The builtin types in the world's MROs.  Only a raw write changes one's
# dict; libwatch watches them like any class dict.
STATIC_TYPES = (object, types.ModuleType, BaseException, Exception,
                ValueError)


def static_dict(cls):
    """The dict behind a builtin type's __dict__ proxy."""
    return gc.get_referents(cls.__dict__)[0]


def subclass_registry(cls):
    """The tp_subclasses of cls's base, {id(subclass): weakref}: found
    through gc, as the dict that holds a weak reference to cls under its
    address."""
    for ref in weakref.getweakrefs(cls):
        for r in gc.get_referrers(ref):
            if type(r) is dict and r.get(id(cls)) is ref:
                return r
    raise AssertionError("fuzz harness: %r has no subclass registry" % cls)


def clear_type_caches():
    """A raw write leaves CPython's own attribute cache stale."""
    getattr(sys, "_clear_internal_caches", sys._clear_type_cache)()


class WorldMeta(type):
    """The plain classes' metaclass: a heap one, so that op_cmeta can swap
    it (CPython refuses __class__ assignment from or to type itself)."""


class OwnMROMeta(type):
    """A metaclass that computes the MRO itself (the default one, but only
    Python code knows that)."""

    def mro(cls):
        return type.mro(cls)


def is_exc_slot(i):
    return i >= PLAIN_CLASSES


def class_name(i):
    return "K%d" % i if not is_exc_slot(i) else "E%d" % (i - PLAIN_CLASSES)


class World:
    """The live objects of one episode.  rng draws initial contents."""

    def __init__(self, rng):
        self.rng = rng
        self.builtins = [self._fill({}, STR_KEYS) for _ in range(BUILTINS)]
        self.modules = [None] * MODULES
        self.module_gen = [0] * MODULES
        self.dicts = [None] * DICTS
        self.dict_gen = [0] * DICTS
        self.classes = [None] * CLASSES
        self.class_gen = [0] * CLASSES
        self.funcs = [None] * FUNCS
        self.func_gen = [0] * FUNCS
        for i in range(MODULES):
            self._new_module(i)
        for i in range(DICTS):
            self.dicts[i] = self._fill({}, DICT_KEYS)
        for i in range(CLASSES):
            self._new_class(i, rng.randrange(1 << 16))
        for i in range(FUNCS):
            self._new_func(i)
        # Fresh each episode, since operations change them.
        self.nondata_type = type("NonData", (NonData,), {})
        self.module_class = type("ModuleClass", (types.ModuleType,), {})

    def _fill(self, d, keys):
        for k in keys:
            if self.rng.random() < 0.5:
                d[k] = self.rng.choice(VALUES)
        return d

    def _new_module(self, i):
        m = types.ModuleType("m%d" % i)
        m.__dict__["__builtins__"] = self.builtins[i % BUILTINS]
        self._fill(m.__dict__, STR_KEYS)
        self.modules[i] = m

    def _new_func(self, i):
        m = self.modules[self.module_of_func(i)]
        f = types.FunctionType(self.rng.choice(CODES), m.__dict__, "f%d" % i,
                               self.rng.choice(DEFAULTS))
        kw = self.rng.choice(KWDEFAULTS)
        # Its own copy: an operation changes it in place.
        f.__kwdefaults__ = None if kw is None else dict(kw)
        self.funcs[i] = f

    @staticmethod
    def module_of_func(i):
        return i % MODULES

    def base_choices(self, i):
        """The classes slot i may take as its single base, in a fixed
        order: the builtins first, then the other slots' classes."""
        if is_exc_slot(i):
            own = range(PLAIN_CLASSES, CLASSES)
            return list(EXC_BASES) + [self.classes[j] for j in own if j != i]
        # A class of object cannot take object again, nor a heap class
        # ("deallocator differs"): K0 stays the root.
        return [self.classes[j] for j in range(PLAIN_CLASSES) if j != i]

    def _new_class(self, i, pick):
        # A fresh class must not take a class that may not exist yet.
        choices = [b for b in self.base_choices(i) if b is not None]
        base = choices[pick % len(choices)] if i else object
        ns = {"__module__": "fuzz"}
        if is_exc_slot(i):
            # Exception's own layout, so that any of them can be a base.
            ns["__slots__"] = ()
        for k in STR_KEYS:
            if self.rng.random() < 0.3:
                ns[k] = self.rng.choice(VALUES)
        # A new class takes its base's metaclass, as class statements do.
        meta = type if is_exc_slot(i) else (
            type(base) if type(base) in (WorldMeta, OwnMROMeta) else WorldMeta)
        self.classes[i] = meta(class_name(i), (base,), ns)

    def class_slot(self, cls):
        for i, c in enumerate(self.classes):
            if c is cls:
                return i
        return None

    # ---- renewal: drop an object, check that it died, put a fresh one ----

    def renew_dict(self, i):
        # The slot and getrefcount's argument: nothing else may hold it.  (A
        # local name would not count on 3.14+, which borrows references.)
        if sys.getrefcount(self.dicts[i]) != 2:
            raise AssertionError("fuzz harness: d%d is referenced elsewhere"
                                 % i)
        self.dicts[i] = None
        self.dict_gen[i] += 1
        self.dicts[i] = self._fill({}, DICT_KEYS)

    def renew_module(self, i):
        """A module dies with its functions, which hold its globals."""
        refs = [weakref.ref(self.modules[i])]
        self.modules[i] = None
        for f in range(FUNCS):
            if self.module_of_func(f) == i:
                refs.append(weakref.ref(self.funcs[f]))
                self.funcs[f] = None
                self.func_gen[f] += 1
        gc.collect()
        self._check_dead(refs)
        self.module_gen[i] += 1
        self._new_module(i)
        for f in range(FUNCS):
            if self.funcs[f] is None:
                self._new_func(f)

    def renew_func(self, i):
        ref = weakref.ref(self.funcs[i])
        self.funcs[i] = None
        self._check_dead([ref])
        self.func_gen[i] += 1
        self._new_func(i)

    def renew_class(self, i, pick):
        """Only a class without subclasses can die; returns whether it
        was renewed."""
        if self.classes[i].__subclasses__():
            return False
        ref = weakref.ref(self.classes[i])
        self.classes[i] = None
        gc.collect()
        self._check_dead([ref])
        self.class_gen[i] += 1
        self._new_class(i, pick)
        return True

    @staticmethod
    def _check_dead(refs):
        for r in refs:
            if r() is not None:
                raise AssertionError("fuzz harness: %r did not die: %r"
                                     % (r(), gc.get_referrers(r())))
