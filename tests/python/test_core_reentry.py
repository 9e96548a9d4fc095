"""A dict lookup can run Python code (issue 23, item 3): when a dict holds a
key with the hash of a str or int key and its own __eq__, CPython calls
that __eq__ in any lookup of the str or int.  libwatch must never look a
dict up inside its watcher: a tracked write calls no more __eq__ than an
untracked one, and an __eq__ that clears, mutates or raises leaves no
crash and no stale dependent."""
import gc
import types
import unittest
import weakref

import pywatch

MISSING = object()


class Colliding:
    """A key with the hash of `like`, equal to nothing.  Once armed, each
    __eq__ call counts and runs `action`, unless an action is running."""
    acting = False

    def __init__(self, like, action=None):
        self.like, self.action = like, action
        self.calls = 0
        self.armed = False

    def __hash__(self):
        return hash(self.like)

    def __eq__(self, other):
        if self.armed:
            self.calls += 1
            if self.action is not None and not Colliding.acting:
                Colliding.acting = True
                try:
                    self.action()
                finally:
                    Colliding.acting = False
        return False

    def arm(self):
        self.calls = 0
        self.armed = True
        return self

    def disarm(self):
        self.armed = False
        return self.calls


def raw(cls):
    """A class's own dict, writable as a dict."""
    return gc.get_referents(cls.__dict__)[0]


def subclass_registry(sub):
    """The tp_subclasses of sub's base, {id(subclass): weakref}."""
    for ref in weakref.getweakrefs(sub):
        for r in gc.get_referrers(ref):
            if type(r) is dict and r.get(id(sub)) is ref:
                return r
    raise AssertionError("no subclass registry")


def placed_ahead(d, key, colliding, value=None):
    """Puts colliding in d so that a lookup of key meets it first."""
    saved = d.pop(key)
    d[colliding] = value
    d[key] = saved


def mro_value(cls, name):
    for c in cls.__mro__:
        value = raw(c).get(name, MISSING)
        if value is not MISSING:
            return value
    return MISSING


def refused(register, *args):
    """A read that meets a colliding key compares by its __eq__, whose
    answer no watcher hears change: the registration is refused
    (READONLY.txt, "Keys"), and the dependent released."""
    dep = register.__self__
    try:
        register(*args)
    except ValueError:
        dep.release()
        return True
    return False


class Setup:
    """A module and a small class tree whose dicts hold a key colliding with
    "X" (ahead of "X" where there is one), and Sub's entry in its base's
    subclass registry with a colliding key ahead of it; track() adds
    dependents on them: module keys and a global, class attributes along
    the MRO, the dicts as wholes."""

    def __init__(self, action=None):
        self.m = types.ModuleType("core_reentry_mod")
        self.m.X, self.m.Y = "x", "y"

        class Base:
            X = "base x"

        class Mid(Base):
            pass

        class Sub(Mid):
            pass

        class Other:
            X = "other x"

        self.Base, self.Mid, self.Sub, self.Other = Base, Mid, Sub, Other
        self.keys = []
        for d in (vars(self.m), raw(Base)):
            k = Colliding("X", action)
            placed_ahead(d, "X", k)
            self.keys.append(k)
        # Mid and Sub hold no "X": a lookup there only meets the collider.
        for cls in (Mid, Sub):
            k = Colliding("X", action)
            raw(cls)[k] = None
            self.keys.append(k)
        # CPython reads every registry value as a weak reference to a class.
        self.spare = type("Spare", (), {})
        self.keys.append(Colliding(id(Sub), action))
        self.place_in_registry()
        self.deps = []

    def place_in_registry(self):
        """Sub's registry anew: the colliding key, then Sub's entry, in a
        fresh table, so that a lookup takes the same probes each time."""
        self.registry = subclass_registry(self.Sub)
        entry = self.registry.pop(id(self.Sub))
        self.registry.clear()
        self.registry[self.keys[-1]] = weakref.ref(self.spare)
        self.registry[id(self.Sub)] = entry

    def track(self):
        for ns, name in ((self.m, "X"), (self.m, "Y"), (self.Sub, "X"),
                         (self.Mid, "X"), (self.Base, "X")):
            dep = pywatch.Dependent()
            if refused(dep.depends_on, ns, name):
                continue
            self.deps.append((dep, ns, name, getattr(ns, name)))
        reader = types.FunctionType(compile("X", "<m>", "eval"),
                                    vars(self.m))
        dep = pywatch.Dependent()
        if not refused(dep.depends_on_global, reader, "X"):
            self.deps.append((dep, self.m, "X", self.m.X))
        for d in (vars(self.m), raw(self.Base)):
            dep = pywatch.Dependent()
            dep.depends_on_namespace(d)
            self.deps.append((dep, d, None, dict(d)))
        return self

    def arm(self):
        for k in self.keys:
            k.arm()

    def disarm(self):
        return sum(k.disarm() for k in self.keys)

    def run(self, op):
        self.arm()
        try:
            op(self)
        finally:
            calls = self.disarm()
        return calls

    def stale(self):
        """The dependents still valid whose assumption no longer holds."""
        out = []
        for dep, ns, name, assumed in self.deps:
            if not dep.valid:
                continue
            if name is None:
                now = dict(ns)
                same = now.keys() == assumed.keys() and all(
                    now[k] is assumed[k] for k in now)
            elif isinstance(ns, type):
                same = mro_value(ns, name) is assumed
            else:
                same = vars(ns).get(name, MISSING) is assumed
            if not same:
                out.append((ns, name))
        return out

    def release(self):
        for dep, *_ in self.deps:
            dep.release()


def store_module_item(s):
    vars(s.m)["X"] = "new"


def setattr_module(s):
    s.m.X = "new"


def del_module_item(s):
    del vars(s.m)["X"]


def setdefault_module(s):
    vars(s.m).setdefault("X", "new")


def store_class_attr(s):
    s.Base.X = "new"


def del_class_attr(s):
    del s.Base.X


def store_subclass_attr(s):
    s.Sub.X = "new"


def change_bases(s):
    s.Sub.__bases__ = (s.Other,)


OPERATIONS = [store_module_item, setattr_module, del_module_item,
              setdefault_module, store_class_attr, del_class_attr,
              store_subclass_attr, change_bases]


def untracked_then_tracked(op):
    """The __eq__ calls CPython makes for op untracked, and a tracked Setup
    where the same op meets the same tables.  How many calls a lookup makes
    depends on the key's hash, which probes may revisit a slot: the same
    for "X" in every Setup, but the registry's is the address of Sub, so
    __bases__ assignment runs twice on one Setup, its bases restored."""
    s = Setup()
    own = s.run(op)
    if op is change_bases:
        s.Sub.__bases__ = (s.Mid,)
        s.place_in_registry()
    else:
        s = Setup()
    return own, s.track()


class NoMoreEqualityCalls(unittest.TestCase):
    def test_a_tracked_write_calls_eq_as_often_as_an_untracked_one(self):
        for op in OPERATIONS:
            with self.subTest(op.__name__):
                own, s = untracked_then_tracked(op)
                self.assertGreater(own, 0)
                self.assertEqual(s.run(op), own)
                pywatch.flush()
                self.assertEqual(s.stale(), [])
                s.release()
                disarm(s)


def disarm(s):
    """Before the setup dies: an __eq__ that still acted when CPython takes
    a dying class out of its base's subclass registry would make CPython
    itself leak the registry's entries (it does so untracked too)."""
    for k in s.keys:
        k.action = None


class EqualityThatActs(unittest.TestCase):
    """A colliding key's __eq__ that clears its dict, writes to it or raises,
    each time it is called: whatever CPython then does, libwatch neither
    crashes nor leaves a dependent stale."""

    def check(self, make_action, expect_error=None):
        for op in OPERATIONS:
            with self.subTest(op.__name__):
                holder = []
                s = Setup(action=lambda: make_action(holder[0])).track()
                holder.append(s)
                try:
                    s.run(op)
                except Exception as e:  # what CPython makes of the action
                    if expect_error is None or not isinstance(e,
                                                              expect_error):
                        raise
                pywatch.flush()
                self.assertEqual(s.stale(), [])
                s.release()
                disarm(s)
                gc.collect()

    def test_eq_that_clears_the_dicts(self):
        # Not a class dict: CPython's type cache would keep what it held.
        def clear(s):
            vars(s.m).clear()
            s.registry.clear()
        self.check(clear, KeyError)

    def test_eq_that_writes_other_keys(self):
        def write(s):
            vars(s.m)["Y"] = object()
            raw(s.Mid)["X"] = object()
            raw(s.Other)["X"] = object()
        self.check(write, (KeyError, AttributeError))

    def test_eq_called_beyond_cpython_s_own_calls_clears_the_dicts(self):
        """The calls an untracked write makes are CPython's; one more would
        be libwatch's, inside its watcher, and clears the dicts there."""
        for op in OPERATIONS:
            with self.subTest(op.__name__):
                own, s = untracked_then_tracked(op)

                def clear():
                    if sum(k.calls for k in s.keys) > own:
                        vars(s.m).clear()
                        s.registry.clear()
                for k in s.keys:
                    k.action = clear
                self.assertEqual(s.run(op), own)
                pywatch.flush()
                self.assertEqual(s.stale(), [])
                s.release()
                disarm(s)

    def test_eq_that_raises(self):
        def fail(s):
            raise ZeroDivisionError("from __eq__")
        self.check(fail, ZeroDivisionError)


if __name__ == "__main__":
    unittest.main()
