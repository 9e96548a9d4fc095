/* Class and module attributes.
 *
 * A class attribute is a set of dict dependencies, precise per name:
 *  - name in the __dict__ of each class of the MRO, up to the class that
 *    defines it (absent before it, the value at it): a write anywhere there,
 *    raw writes to a class dict included, changes what the lookup finds;
 *  - the class's entry in the subclass registry of each of its heap bases,
 *    for every class of the MRO: __bases__ assignment removes the class from
 *    its old bases' registries, so that an event there is the MRO changing,
 *    reported as WATCH_EVENT_TYPE on the class.
 * This needs no type watcher, which would matter: type watchers carry no
 * attribute name, fire once until re-armed, cannot be re-armed from their
 * own callback, and on 3.13 stop for good after 1000 version tags.  A class
 * whose bases are all builtins other than object has no heap base to watch;
 * only it falls back on the type watcher, conservatively.
 */
#include "internal.h"

#include <string.h>

static int
is_heap(PyTypeObject *type)
{
  return PyType_HasFeature(type, Py_TPFLAGS_HEAPTYPE);
}

/* ---- the type watcher, for classes with only builtin bases, and for type
 * taps (tap.c) ----------------------------------------------------------- */

/* An event from a watcher that names the object only: the class's taps
 * first, as a dict's (dict.c), then its dependents. */
static void
object_event(PyObject *obj, watch_event_kind_t kind)
{
  struct state *st = state_of_watcher();
  if (st == NULL)
    return;
  st->counters.events++;
  struct ns *ns = ns_find(st, obj);
  if (ns == NULL)
    return;
  if (ns->taps != NULL) {
    st->counters.tap_events += ns->apart;
    tap_event(st, ns, kind, NULL, NULL);
  }
  ns_changed(st, ns, kind);
}

/* Also the type taps' (tap.c), told through object_event(). */
static int
type_event(PyTypeObject *type)
{
  struct state *st = state_of_watcher();
  if (st == NULL)
    return 0;
  st->in_type_event++;
  object_event((PyObject *)type, WATCH_EVENT_TYPE);
  st->in_type_event--;
  return 0;
}

/* Type watchers say nothing when a class dies (before 3.15).  A weak
 * reference does, without keeping the class alive; its callback is C and
 * runs no Python code.  It finds the record by the class's address.  A
 * class is in a cycle with itself (tp_mro), so only the collector frees it,
 * and it calls the callback before it clears the class (type_clear() calls
 * PyType_Modified()) or frees it (3.15 tells type watchers then): the
 * record is gone by then, and neither is heard. */
static PyObject *
class_died(PyObject *address, PyObject *ref)
{
  (void)ref;
  object_event(PyLong_AsVoidPtr(address), WATCH_EVENT_DEALLOCATED);
  Py_RETURN_NONE;
}

static PyMethodDef class_died_def = {"libwatch_class_died", class_died, METH_O,
                                     NULL};

static PyObject *
death_notice(PyObject *type)
{
  PyObject *address = PyLong_FromVoidPtr(type);
  if (address == NULL)
    return NULL;
  PyObject *callback = PyCFunction_New(&class_died_def, address);
  Py_DECREF(address);
  if (callback == NULL)
    return NULL;
  PyObject *ref = PyWeakref_NewRef(type, callback);
  Py_DECREF(callback);
  return ref;
}

/* A static type is one object for every interpreter of the process, each
 * with its own GIL, and PyType_Watch() writes to it (its tp_watched bits),
 * as a weak reference to an extension's static type would: such a type is
 * left alone.  Nothing changes it anyway: static types are immutable, and
 * live as long as the process (a builtin one's dict, which is per
 * interpreter, is watched as any dict). */
static int
type_watch(struct state *st, struct ns *ns)
{
  if (!is_heap((PyTypeObject *)ns->obj))
    return 0;
  if (st->type_watcher < 0) {
    st->type_watcher = PyType_AddWatcher(type_event);
    if (st->type_watcher < 0) {
      PyErr_Clear();
      return WATCH_EBUSY;
    }
  }
  ns->guard = death_notice(ns->obj);
  if (ns->guard == NULL)
    return WATCH_EPYTHON;
  if (PyType_Watch(st->type_watcher, ns->obj) < 0) {
    PyErr_Clear();
    Py_CLEAR(ns->guard);
    return WATCH_EINVAL;
  }
  return 0;
}

static void
type_unwatch(struct state *st, struct ns *ns)
{
  if (ns->guard == NULL)
    return;  /* a static type (type_watch()) */
  if (ns->obj != NULL && PyType_Unwatch(st->type_watcher, ns->obj) < 0)
    PyErr_Clear();
  Py_DECREF(ns->guard);
}

const struct ns_kind type_kind = {type_watch, type_unwatch};

void
type_watch_stop(struct state *st)
{
  if (st->type_watcher >= 0 && PyType_ClearWatcher(st->type_watcher) < 0)
    PyErr_Clear();
  st->type_watcher = -1;
}

static int class_attr(struct state *st, watch_dep_t *dep, PyTypeObject *type,
                      PyObject *name, PyObject *assumed, PyObject **holder);

/* When the metaclass overrides mro(), __bases__ assignment drops the class's
 * version tag without telling type watchers (type_mro_modified), so the
 * class cannot be watched.  The dependent also depends on the metaclass
 * gaining no such override later. */
static int
link_default_mro(struct state *st, watch_dep_t *dep, PyTypeObject *cls)
{
  PyObject *name = PyUnicode_InternFromString("mro");
  PyObject *type_dict = PyType_GetDict(&PyType_Type);
  if (name == NULL || type_dict == NULL) {
    Py_XDECREF(name);
    Py_XDECREF(type_dict);
    return WATCH_EPYTHON;
  }
  PyObject *type_mro = PyDict_GetItemWithError(type_dict, name);
  int rc = type_mro == NULL ? WATCH_EPYTHON
                            : class_attr(st, dep, Py_TYPE(cls), name, type_mro,
                                         NULL);
  Py_DECREF(type_dict);
  Py_DECREF(name);
  return rc == WATCH_ESTALE ? WATCH_EUNSTABLE : rc;
}

/* Any change to the class invalidates.  The watcher fires once per version
 * tag, so each registration arms it again; a class that has run out of tags
 * can no longer be watched. */
static int
link_type_watch(struct state *st, watch_dep_t *dep, PyTypeObject *cls)
{
  int rc = link_default_mro(st, dep, cls);
  if (rc < 0)
    return rc;
  struct ns *ns;
  rc = ns_get(st, (PyObject *)cls, &type_kind, &ns);
  if (rc < 0)
    return rc;
  if (!PyUnstable_Type_AssignVersionTag(cls)) {
    ns_maybe_free(st, ns);
    return WATCH_EUNSTABLE;
  }
  return dep_link_whole(st, dep, ns);
}

/* A type tap hangs on the class's own record, the one that type.c watches
 * with libwatch's type watcher for dependents: the watcher's probe finds
 * it, and the class's weak reference tells its death. */
int
watch_tap_new_type(watch_tap_t **out, PyTypeObject *type, watch_tap_cb cb,
                   watch_tap_after_cb after, void *data)
{
  struct state *st = index_ready();
  if (st == NULL)
    return WATCH_ENOINIT;
  if (out == NULL || type == NULL || !PyType_Check(type) || cb == NULL)
    return WATCH_EINVAL;
  struct ns *ns;
  int rc = ns_get_apart(st, (PyObject *)type, &type_kind, &ns);
  if (rc < 0)
    return rc;
  if (!PyUnstable_Type_AssignVersionTag(type)) {
    ns_maybe_free(st, ns);
    return WATCH_EUNSTABLE;
  }
  return tap_attach(st, ns, out, cb, after, data, 0);
}

/* ---- the MRO ------------------------------------------------------------- */

/* The object a registry entry's weak reference points to, if it is alive;
 * borrowed.  Reading it runs no Python code. */
static PyObject *
weakly_held(PyObject *ref)
{
  if (ref == NULL || !PyWeakref_CheckRefExact(ref))
    return NULL;
#if PY_VERSION_HEX >= 0x030D0000
  PyObject *obj;
  if (PyWeakref_GetRef(ref, &obj) <= 0)
    return NULL;
  Py_DECREF(obj); /* alive, and held elsewhere: never the last reference */
#else
  PyObject *obj = PyWeakref_GET_OBJECT(ref);
  if (obj == Py_None || Py_REFCNT(obj) == 0)
    return NULL;
#endif
  return obj;
}

/* The registry's entry under key, an exact int, found without the dict's
 * own lookup: that compares key with every key of its hash, and a raw write
 * can put one there whose __eq__ is Python code, which must not run inside
 * the watcher.  The walk compares exact ints only, in C; it costs the size
 * of the registry, so it is only taken when a dependent would hear the
 * event: a __bases__ assignment has invalidated them before (bases_swap()),
 * and what is left is mostly a dependent's class dying. */
static PyObject *
registry_entry(struct ns *ns, PyObject *key)
{
  uintptr_t hash = exact_key_hash(key);
  int heard = ns->whole.edges != NULL;
  for (table_node_t *n = table_chain(&ns->keys, hash); n && !heard;
       n = n->next)
    heard = n->hash == hash && ((struct keyrec *)n)->edges != NULL;
  if (!heard)
    return NULL;
  PyObject *registry = ns->obj;
  Py_ssize_t pos = 0;
  PyObject *k, *v;
  while (PyDict_Next(registry, &pos, &k, &v))
    if (k == key || (PyLong_CheckExact(k)
                     && PyObject_RichCompareBool(k, key, Py_EQ) == 1))
      return v;
  return NULL;
}

/* A class leaving or entering a base's registry is a change of its bases;
 * the dependents hear of it as a change of that class.  The key is the
 * class's address, but Python code can write any int there (the registry is
 * reachable through gc), so the class is only named when the entry's own
 * weak reference, read here, still points to a class at that address; a
 * dying class is not named either (DEALLOCATED), nor is a class that a raw
 * write only pretends to be (WATCH_EVENT_TYPE with no namespace).  These
 * records never count toward instability: a new class can be born at a dead
 * one's address. */
void
subclass_registry_event(struct state *st, struct ns *ns,
                        watch_event_kind_t kind, PyObject *key,
                        PyObject *new_value)
{
  if (!PyLong_CheckExact(key)) {
    ns_event(st, ns, kind, key);
    return;
  }
  /* An added key had no equal exact int in the dict. */
  PyObject *old = kind == WATCH_EVENT_ADDED ? NULL
                                            : registry_entry(ns, key);
  void *address = PyLong_AsVoidPtr(key);
  if (address == NULL)
    PyErr_Clear();
  PyObject *entry = old != NULL ? old : new_value;
  PyObject *cls = weakly_held(entry);
  watch_event_t report = {.kind = WATCH_EVENT_TYPE};
  if (cls != NULL && (void *)cls == address && PyType_Check(cls))
    report.ns = cls;
  else if (cls == NULL && entry != NULL && PyWeakref_CheckRefExact(entry))
    report.kind = WATCH_EVENT_DEALLOCATED; /* its class is dying */
  ns_event_reported(st, ns, kind, key, &report);
}

/* cls's entry in base's subclass registry.  For heap types tp_subclasses is
 * a dict {id(subclass): weakref}; the field is CPython-internal, but it is
 * the only record of a class's bases that changes before __bases__
 * assignment completes. */
static int
link_subclass_entry(struct state *st, watch_dep_t *dep, PyTypeObject *base,
                    PyTypeObject *cls)
{
  PyObject *registry = base->tp_subclasses;
  if (registry == NULL || !PyDict_CheckExact(registry))
    return link_type_watch(st, dep, cls);
  PyObject *key = PyLong_FromVoidPtr(cls);
  if (key == NULL)
    return WATCH_EPYTHON;
  /* The lookups may run a colliding key's __eq__, which may empty the
   * registry, and CPython frees an empty one. */
  Py_INCREF(registry);
  /* A class missing from its base's registry (a raw delete through gc)
   * would change bases unseen: CPython itself no longer tracks it. */
  PyObject *entry = PyDict_GetItemWithError(registry, key);
  int rc = entry ? dep_on_dict_key(st, dep, registry, key, entry)
           : PyErr_Occurred() ? WATCH_EPYTHON
                              : WATCH_EUNSTABLE;
  Py_DECREF(key);
  if (rc == 0)
    ns_find(st, registry)->subclass_registry = 1;
  Py_DECREF(registry);
  return rc;
}

static int
link_bases(struct state *st, watch_dep_t *dep, PyTypeObject *cls)
{
  PyObject *bases = cls->tp_bases;
  int heap_bases = 0, only_object = 1;
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(bases); i++) {
    PyTypeObject *base = (PyTypeObject *)PyTuple_GET_ITEM(bases, i);
    if (is_heap(base)) {
      heap_bases++;
      int rc = link_subclass_entry(st, dep, base, cls);
      if (rc < 0)
        return rc;
    } else if (base != &PyBaseObject_Type) {
      only_object = 0;
    }
  }
  /* A class of object alone cannot take other bases ("deallocator
   * differs"); one with other builtin bases can (Exception -> ValueError). */
  if (heap_bases == 0 && !only_object)
    return link_type_watch(st, dep, cls);
  return 0;
}

static int mro_find(PyObject *mro, PyObject *name, Py_ssize_t *index,
                    PyObject **value);

/* A metaclass's own mro() may leave out of the MRO the very bases whose
 * registries are watched, so such a class is refused.  A check, not a
 * dependency: an override added later only acts when the MRO is computed
 * again, which takes a __bases__ assignment to a class of today's MRO, and
 * that invalidates. */
static int
default_mro(PyTypeObject *cls)
{
  if (Py_TYPE(cls) == &PyType_Type)
    return 0;
  PyObject *name = PyUnicode_InternFromString("mro");
  PyObject *type_dict = PyType_GetDict(&PyType_Type);
  PyObject *type_mro = name && type_dict
                           ? PyDict_GetItemWithError(type_dict, name)
                           : NULL;
  Py_ssize_t index;
  PyObject *found = NULL;
  int rc = type_mro == NULL ? WATCH_EPYTHON
                            : mro_find(Py_TYPE(cls)->tp_mro, name, &index,
                                       &found);
  Py_XDECREF(type_dict);
  Py_XDECREF(name);
  if (rc == 0 && found != type_mro)
    rc = WATCH_EUNSTABLE;
  return rc;
}

/* Where _PyType_Lookup finds name: the index in mro of the class whose
 * dict holds it (or the length of mro) and the value (or NULL). */
static int
mro_find(PyObject *mro, PyObject *name, Py_ssize_t *index, PyObject **value)
{
  Py_ssize_t n = PyTuple_GET_SIZE(mro);
  for (*index = 0; *index < n; (*index)++) {
    PyObject *dict = PyType_GetDict((PyTypeObject *)PyTuple_GET_ITEM(mro, *index));
    *value = PyDict_GetItemWithError(dict, name);
    Py_DECREF(dict);  /* the class keeps it, and the value, alive */
    if (*value != NULL)
      return 0;
    if (PyErr_Occurred())
      return WATCH_EPYTHON;
  }
  *value = NULL;
  return 0;
}

/* A value cell's guard (cell.c) leaves out the entry that holds the value,
 * which the cell follows itself, through a tap, so that a rebinding there
 * updates the cell instead of breaking the guard.  The guard only checks
 * that the entry is what was read and that its lookup runs no Python code;
 * *holder is then the dict (borrowed: its class or module keeps it). */
static int
holder_checked(PyObject *dict, PyObject *name, PyObject *value,
               PyObject **holder)
{
  if (!dict_lookup_is_pure(dict, name, PyObject_Hash(name)))
    return WATCH_EUNWATCHABLE;
  /* No Python code runs: the dict holds no key that it compares by it. */
  if (PyDict_GetItemWithError(dict, name) != value)
    return PyErr_Occurred() ? WATCH_EPYTHON : WATCH_ESTALE;
  *holder = dict;
  return 0;
}

/* Static builtin types (object, int...) refuse attribute writes, but their
 * dicts can still be written raw (through gc), so they are watched like any
 * other class dict; their bases cannot change. */
static int
link_mro(struct state *st, watch_dep_t *dep, PyObject *mro, PyObject *name,
         Py_ssize_t definer, PyObject *value, PyObject **holder)
{
  Py_ssize_t n = PyTuple_GET_SIZE(mro);
  for (Py_ssize_t i = 0; i < n; i++) {
    PyTypeObject *cls = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
    int rc = 0;
    if (i <= definer) {
      PyObject *dict = PyType_GetDict(cls);
      if (i == definer && holder != NULL)
        rc = holder_checked(dict, name, value, holder);
      else
        rc = dep_on_dict_key(st, dep, dict, name, i == definer ? value : NULL);
      Py_DECREF(dict);
    }
    if (rc == 0 && is_heap(cls))
      rc = default_mro(cls);
    if (rc == 0 && is_heap(cls))
      rc = link_bases(st, dep, cls);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* The lookups run Python code when a class dict holds a key with its own
 * __eq__ (written raw), and that code may change the class.  So the result
 * is read again once everything is linked, when any change invalidates:
 * an MRO replaced meanwhile is linked anew, a few times at most. */
static int
class_attr(struct state *st, watch_dep_t *dep, PyTypeObject *type,
           PyObject *name, PyObject *assumed, PyObject **holder)
{
  for (int attempt = 0; attempt < 3; attempt++) {
    if (holder != NULL)
      *holder = NULL;
    PyObject *mro = type->tp_mro;
    if (mro == NULL)
      return WATCH_EINVAL;
    Py_INCREF(mro);
    Py_ssize_t definer, again;
    PyObject *value, *now;
    struct edge *mark = dep->edges;
    int rc = mro_find(mro, name, &definer, &value);
    if (rc == 0 && value != assumed)
      rc = WATCH_ESTALE;
    if (rc == 0)
      rc = link_mro(st, dep, mro, name, definer, value, holder);
    if (rc == 0)
      rc = mro_find(mro, name, &again, &now);
    int moved = rc == 0 && type->tp_mro != mro;
    if (rc == 0 && !moved && (again != definer || now != value))
      rc = WATCH_ESTALE;
    if (rc == 0 && !dep->head.valid)
      rc = WATCH_EINVALIDATED;
    if (rc < 0 || moved)
      dep_unlink_since(st, dep, mark);
    Py_DECREF(mro);
    if (!moved)
      return rc;
  }
  return WATCH_EUNSTABLE;
}

int
watch_attr_lookup(PyObject *obj, PyObject *name, PyObject **value)
{
  if (obj == NULL || name == NULL || value == NULL
      || !PyUnicode_CheckExact(name))
    return WATCH_EINVAL;
  if (PyModule_Check(obj)) {
    *value = PyDict_GetItemWithError(PyModule_GetDict(obj), name);
    return *value != NULL || !PyErr_Occurred() ? 0 : WATCH_EPYTHON;
  }
  PyObject *mro = PyType_Check(obj) ? ((PyTypeObject *)obj)->tp_mro : NULL;
  if (mro == NULL)
    return WATCH_EINVAL;
  Py_ssize_t definer;
  return mro_find(mro, name, &definer, value);
}

/* ---- module attributes --------------------------------------------------
 *
 * mod.name is the module dict's value, unless the module's class provides
 * name as a data descriptor (a ModuleType subclass's property), and an
 * absent name is AttributeError unless the class provides it or the module
 * defines __getattr__ (PEP 562).  So a module attribute also depends on the
 * class's lookup of name, on __getattr__'s absence when name is absent, and
 * on the module keeping its class.  Those cases whose value only Python code
 * knows are refused. */

/* A class's __bases__ assignment, told before the change: as its leaving
 * each old base's registry is (subclass_registry_event()).  That removal
 * alone does not do: CPython looks the class up there with the dict's
 * lookup, and forgets the error of a colliding key's __eq__ that raises,
 * leaving the class registered where it no longer is. */
static int
bases_swap(struct state *st, PyTypeObject *cls)
{
  PyObject *key = PyLong_FromVoidPtr(cls);
  if (key == NULL)
    return -1;  /* refused: a change unseen would leave dependents stale */
  watch_event_t report = {WATCH_EVENT_TYPE, (PyObject *)cls, NULL, NULL, 0};
  PyObject *bases = cls->tp_bases;
  for (Py_ssize_t i = 0; bases && i < PyTuple_GET_SIZE(bases); i++) {
    PyTypeObject *base = (PyTypeObject *)PyTuple_GET_ITEM(bases, i);
    PyObject *registry = base->tp_subclasses;
    struct ns *ns = is_heap(base) && registry != NULL
                        && PyDict_CheckExact(registry)
                        ? ns_find(st, registry)
                        : NULL;
    if (ns != NULL && ns->subclass_registry) {
      event_heard(st, ns);
      ns_event_reported(st, ns, WATCH_EVENT_DELETED, key, &report);
    }
  }
  Py_DECREF(key);
  return 0;
}

/* A __class__ or __bases__ assignment, told by the audit event
 * object.__setattr__ (args: the object, the name, the value).  A module is
 * tracked by its dict, and its class only by the module attribute
 * dependents, which hear of it on that dict's record alone; a key or
 * LOAD_GLOBAL dependent on the dict does not depend on the class.  A class
 * is tracked by its dict, or by itself on the type watcher's path; one
 * changing metaclass may compute its MRO another way from now on. */
static int
class_swap(struct state *st, PyObject *args)
{
  if (!st->init_count || !PyTuple_Check(args) || PyTuple_GET_SIZE(args) < 2)
    return 0;
  PyObject *obj = PyTuple_GET_ITEM(args, 0), *name = PyTuple_GET_ITEM(args, 1);
  if (!(PyModule_Check(obj) || PyType_Check(obj)) || !PyUnicode_Check(name))
    return 0;
  int bases = PyType_Check(obj)
              && PyUnicode_CompareWithASCIIString(name, "__bases__") == 0;
  if (bases)
    return bases_swap(st, (PyTypeObject *)obj);
  if (PyUnicode_CompareWithASCIIString(name, "__class__") != 0)
    return 0;
  watch_event_t report = {WATCH_EVENT_TYPE, obj, NULL, NULL, 0};
  if (PyModule_Check(obj)) {
    struct ns *ns = ns_find(st, PyModule_GetDict(obj));
    if (ns != NULL) {
      event_heard(st, ns);
      ns_module_class_changed(st, ns, &report);
    }
    return 0;
  }
  PyObject *dict = PyType_GetDict((PyTypeObject *)obj);
  struct ns *ns = ns_find(st, dict);
  if (ns != NULL) {
    event_heard(st, ns);
    ns_event_reported(st, ns, WATCH_EVENT_TYPE, NULL, &report);
  }
  if ((ns = ns_find(st, obj)) != NULL) {
    event_heard(st, ns);
    ns_event_reported(st, ns, WATCH_EVENT_TYPE, NULL, &report);
  }
  Py_DECREF(dict);  /* the class holds it */
  return 0;
}

/* The audit event that the hook raises once, to hear itself. */
#define HOOK_PROBE "libwatch.class_swap_hook"

/* st->class_swap_hook: none yet; asked for, but not heard (an audit hook
 * refused it, or sys.addaudithook is not CPython's); heard. */
enum { HOOK_NONE, HOOK_ASKED, HOOK_HEARD };

/* Every __class__ assignment raises object.__setattr__ before the change,
 * whatever the path (PEP 578): the one report CPython gives of a module
 * changing class.  __bases__ assignment raises it too.  The hook is the
 * interpreter's own (sys.addaudithook): one added with PySys_AddAuditHook
 * would run in every interpreter of the process, each with its own GIL, and
 * there find a state that is not that interpreter's, or none.  Its self is
 * the object that keeps its state alive, so the state it finds is its own
 * for as long as it can be called.  It runs no Python code. */
static PyObject *
class_swap_hook(PyObject *owner, PyObject *const *args, Py_ssize_t nargs)
{
  if (nargs != 2 || !PyUnicode_Check(args[0]))
    Py_RETURN_NONE;
  int swap = PyUnicode_CompareWithASCIIString(args[0], "object.__setattr__")
             == 0;
  if (!swap && PyUnicode_CompareWithASCIIString(args[0], HOOK_PROBE) != 0)
    Py_RETURN_NONE;
  struct state *st = state_of_owner(owner);
  if (st == NULL)
    return NULL;
  if (!swap) {
    st->class_swap_hook = HOOK_HEARD;
    Py_RETURN_NONE;
  }
  /* Refused: a change unseen would leave dependents stale. */
  if (class_swap(st, args[1]) < 0)
    return NULL;
  Py_RETURN_NONE;
}

static PyMethodDef class_swap_hook_def = {
    "libwatch_class_swap_hook", (PyCFunction)(void (*)(void))class_swap_hook,
    METH_FASTCALL, NULL};

/* Once per interpreter: audit hooks cannot be removed, and the state, which
 * remembers it, lasts as long as the interpreter.  The hook then tells
 * whether it was added (HOOK_PROBE); a hook refused once is refused for
 * good (WATCH_EBUSY), since asking again could add a second one. */
static int
watch_class_swaps(struct state *st)
{
  if (st->class_swap_hook == HOOK_HEARD)
    return 0;
  if (st->class_swap_hook == HOOK_ASKED)
    return WATCH_EBUSY;
  /* Asked for from here on: the Python hooks that adding one runs may
   * register too, and must not add a second. */
  st->class_swap_hook = HOOK_ASKED;
  PyObject *owner = state_owner();
  PyObject *hook = owner ? PyCFunction_New(&class_swap_hook_def, owner)
                         : NULL;
  Py_XDECREF(owner);
  /* Held: adding a hook raises sys.addaudithook, which Python hooks see,
   * and they may rebind it. */
  PyObject *add = hook ? Py_XNewRef(PySys_GetObject("addaudithook")) : NULL;
  PyObject *added = add ? PyObject_CallOneArg(add, hook) : NULL;
  Py_XDECREF(add);
  Py_XDECREF(hook);
  if (added == NULL) {
    st->class_swap_hook = HOOK_NONE;  /* not added: the next may try */
    if (!PyErr_Occurred())
      PyErr_SetString(PyExc_RuntimeError, "libwatch: no sys.addaudithook");
    return WATCH_EPYTHON;
  }
  Py_DECREF(added);
  if (PySys_Audit(HOOK_PROBE, NULL) < 0)
    PyErr_Clear();
  return st->class_swap_hook == HOOK_HEARD ? 0 : WATCH_EBUSY;
}

/* The module keeps its class: a __class__ assignment to the module tells
 * this record of its dict, and no other (class_swap()). */
static int
link_module_class(struct state *st, watch_dep_t *dep, PyObject *dict)
{
  struct ns *ns;
  int rc = ns_get(st, dict, &dict_kind, &ns);
  return rc < 0 ? rc : dep_link_module_class(st, dep, ns);
}

/* The class's __getattribute__ is ModuleType's (another one is Python code),
 * and for an absent name, the class has no __getattr__ either: the lookup
 * is the module's own. */
static int
module_lookup_is_own(struct state *st, watch_dep_t *dep, PyTypeObject *cls,
                     int absent)
{
  PyObject *getattribute = PyUnicode_InternFromString("__getattribute__");
  PyObject *getattr = PyUnicode_InternFromString("__getattr__");
  PyObject *module_dict = PyType_GetDict(&PyModule_Type);
  PyObject *own = getattribute && module_dict
                      ? PyDict_GetItemWithError(module_dict, getattribute)
                      : NULL;
  int rc = own == NULL ? WATCH_EPYTHON
                       : class_attr(st, dep, cls, getattribute, own, NULL);
  if (rc == 0 && absent)
    rc = class_attr(st, dep, cls, getattr, NULL, NULL);
  Py_XDECREF(module_dict);
  Py_XDECREF(getattr);
  Py_XDECREF(getattribute);
  return rc == WATCH_ESTALE ? WATCH_EINVAL : rc;
}

/* A non-data descriptor that the class provides loses to the module dict's
 * value, until its type gains __set__ or __delete__. */
static int
descriptor_stays_non_data(struct state *st, watch_dep_t *dep,
                          PyObject *descriptor)
{
  static const char *const names[] = {"__set__", "__delete__"};
  int rc = 0;
  for (int i = 0; rc == 0 && i < 2; i++) {
    PyObject *name = PyUnicode_InternFromString(names[i]);
    rc = name ? class_attr(st, dep, Py_TYPE(descriptor), name, NULL, NULL)
              : WATCH_EPYTHON;
    Py_XDECREF(name);
  }
  return rc == WATCH_ESTALE ? WATCH_EINVAL : rc;
}

static int
module_attr(struct state *st, watch_dep_t *dep, PyObject *mod, PyObject *name,
            PyObject *assumed, PyObject **holder)
{
  PyObject *dict = PyModule_GetDict(mod);
  PyTypeObject *cls = Py_TYPE(mod);
  Py_ssize_t definer;
  PyObject *from_class;
  int rc = mro_find(cls->tp_mro, name, &definer, &from_class);
  if (rc < 0)
    return rc;
  int data_descriptor = from_class != NULL
                        && Py_TYPE(from_class)->tp_descr_set != NULL;
  PyObject *getattr_name = PyUnicode_InternFromString("__getattr__");
  if (getattr_name == NULL)
    return WATCH_EPYTHON;
  PyObject *getattr = PyDict_GetItemWithError(dict, getattr_name);
  if (data_descriptor
      || (assumed == NULL && (from_class != NULL || getattr != NULL)))
    rc = WATCH_EINVAL;
  else if (getattr == NULL && PyErr_Occurred())
    rc = WATCH_EPYTHON;
  if (rc == 0)
    rc = watch_class_swaps(st);
  struct edge *mark = dep->edges;
  /* Refusals before staleness, as for the class's own descriptors. */
  if (rc == 0)
    rc = module_lookup_is_own(st, dep, cls, assumed == NULL);
  if (rc == 0 && holder != NULL && assumed != NULL)
    rc = holder_checked(dict, name, assumed, holder);
  else if (rc == 0)
    rc = dep_on_dict_key(st, dep, dict, name, assumed);
  if (rc == 0)
    rc = link_module_class(st, dep, dict);
  if (rc == 0 && assumed == NULL)
    rc = dep_on_dict_key(st, dep, dict, getattr_name, NULL);
  if (rc == 0)
    rc = class_attr(st, dep, cls, name, from_class, NULL);
  if (rc == 0 && from_class != NULL)
    rc = descriptor_stays_non_data(st, dep, from_class);
  if (rc < 0)
    dep_unlink_since(st, dep, mark);
  Py_DECREF(getattr_name);
  return rc;
}

static int
on_attr(struct state *st, watch_dep_t *dep, PyObject *obj, PyObject *name,
        PyObject *assumed, PyObject **holder)
{
  if (obj == NULL || name == NULL || !PyUnicode_CheckExact(name))
    return WATCH_EINVAL;
  if (PyModule_Check(obj))
    return module_attr(st, dep, obj, name, assumed, holder);
  if (PyType_Check(obj)) {
    int rc = watch_class_swaps(st);
    return rc < 0 ? rc : class_attr(st, dep, (PyTypeObject *)obj, name,
                                    assumed, holder);
  }
  return WATCH_EINVAL;
}

int
watch_dep_on_attr(watch_dep_t *dep, PyObject *obj, PyObject *name,
                  PyObject *assumed)
{
  int rc = 0;
  struct state *st = dep_ready(dep, &rc);
  return st ? dep_done(dep, on_attr(st, dep, obj, name, assumed, NULL)) : rc;
}

int
dep_on_attr_but_holder(watch_dep_t *dep, PyObject *obj, PyObject *name,
                       PyObject *assumed, PyObject **holder)
{
  int rc = 0;
  *holder = NULL;
  struct state *st = dep_ready(dep, &rc);
  return st ? dep_done(dep, on_attr(st, dep, obj, name, assumed, holder))
            : rc;
}
