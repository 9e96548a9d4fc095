/* The primitives that freezing is built on; the policy is in _freeze.py.
 *
 * - A hook on ModuleType's tp_setattro, installed once per process, that
 *   refuses writes to frozen modules (FrozenError).  Reads are untouched:
 *   tp_getattro is not replaced and no module changes class.  The frozen
 *   registry is per interpreter, in PyInterpreterState_GetDict():
 *   "pywatch.frozen" maps id(module) to (frozenset(allowed), module.__dict__)
 *   and is written by _freeze.py.
 * - _raw_setattr/_raw_delattr: the ORIGINAL slot, for pywatch.patch().
 * - _set_immutable: Py_TPFLAGS_IMMUTABLETYPE on a heap class, so that
 *   CPython itself refuses C.x = v, del C.x and C.__bases__ = ...
 * - _Monitor: a libwatch dependent whose phase-two callback calls Python
 *   with (kind, namespace, name, filename, lineno) and, if asked, re-arms
 *   itself first on the same targets, so that it watches for good.
 */
#include "pywatch.h"

/* ---- the module setattr hook ------------------------------------------- */

static setattrofunc orig_module_setattro; /* process-wide, set once */
/* Process-wide hint: how many modules are frozen in any interpreter.  Only
 * ever used to skip the registry lookup when nothing is frozen. */
static Py_ssize_t frozen_hint;

#define REGISTRY_KEY "pywatch.frozen"
#define COUNTS_KEY "pywatch.freeze_counts"

/* Borrowed; created if create and missing.  NULL (maybe with an exception
 * when create) if absent. */
static PyObject *
interp_dict_item(const char *key, int create)
{
  PyObject *idict = PyInterpreterState_GetDict(PyInterpreterState_Get());
  if (idict == NULL) {
    if (create && !PyErr_Occurred())
      PyErr_SetString(PyExc_RuntimeError, "no interpreter dict");
    return NULL;
  }
  PyObject *item = PyDict_GetItemString(idict, key);
  if (item == NULL && create) {
    item = PyDict_New();
    if (item == NULL)
      return NULL;
    int rc = PyDict_SetItemString(idict, key, item);
    Py_DECREF(item); /* the interpreter dict holds it */
    if (rc < 0)
      return NULL;
  }
  return item;
}

static void
count_blocked(void)
{
  PyObject *exc = PyErr_GetRaisedException();
  PyObject *counts = interp_dict_item(COUNTS_KEY, 1);
  if (counts != NULL) {
    PyObject *old = PyDict_GetItemString(counts, "frozen_writes_blocked");
    long n = old && PyLong_Check(old) ? PyLong_AsLong(old) : 0;
    PyObject *v = PyLong_FromLong(n + 1);
    if (v != NULL) {
      PyDict_SetItemString(counts, "frozen_writes_blocked", v);
      Py_DECREF(v);
    }
  }
  PyErr_Clear();
  PyErr_SetRaisedException(exc);
}

/* 1: the write goes ahead; 0: refused (FrozenError set); -1: error. */
static int
frozen_check(PyObject *mod, PyObject *name, PyObject *value)
{
  PyObject *registry = interp_dict_item(REGISTRY_KEY, 0);
  if (registry == NULL)
    return 1;
  PyObject *key = PyLong_FromVoidPtr(mod);
  if (key == NULL)
    return -1;
  PyObject *entry = PyDict_GetItemWithError(registry, key);
  Py_DECREF(key);
  if (entry == NULL)
    return PyErr_Occurred() ? -1 : 1;
  PyObject *md = PyModule_GetDict(mod); /* borrowed, never NULL */
  if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 2
      || PyTuple_GET_ITEM(entry, 1) != md)
    return 1; /* a dead module's entry whose id was reused */
  if (!PyUnicode_Check(name))
    return 1; /* the original slot raises TypeError */
  PyObject *allowed = PyTuple_GET_ITEM(entry, 0);
  int r = PySequence_Contains(allowed, name);
  if (r != 0)
    return r < 0 ? -1 : 1;
  if (PyUnicode_CompareWithASCIIString(name, "__warningregistry__") == 0)
    return 1;
  if (value != NULL) {
    /* Binding the object already bound changes nothing (mock.patch's
     * clean-up after a refused patch does that). */
    PyObject *cur = PyDict_GetItemWithError(md, name);
    if (cur == value)
      return 1;
    if (cur == NULL && PyErr_Occurred())
      return -1;
    /* The import system binding a submodule on its package. */
    if (PyModule_Check(value)) {
      PyObject *pname = PyModule_GetNameObject(mod);
      PyObject *cname = pname ? PyModule_GetNameObject(value) : NULL;
      PyObject *want = cname ? PyUnicode_FromFormat("%U.%U", pname, name)
                             : NULL;
      int eq = want ? PyUnicode_Compare(want, cname) == 0 : 0;
      Py_XDECREF(want);
      Py_XDECREF(cname);
      Py_XDECREF(pname);
      PyErr_Clear();
      if (eq)
        return 1;
    }
  }
  PyObject *mname = PyModule_GetNameObject(mod);
  if (mname == NULL) {
    PyErr_Clear();
    mname = PyUnicode_FromString("?");
    if (mname == NULL)
      return -1;
  }
  PyErr_Format(pywatch_FrozenError,
               "module '%U' is frozen: cannot %s %R "
               "(pywatch.patch() is the sanctioned way)",
               mname, value ? "set" : "delete", name);
  Py_DECREF(mname);
  count_blocked();
  return 0;
}

static int
frozen_module_setattro(PyObject *obj, PyObject *name, PyObject *value)
{
  if (frozen_hint > 0 && PyModule_Check(obj)) {
    int ok = frozen_check(obj, name, value);
    if (ok <= 0)
      return -1;
  }
  return orig_module_setattro(obj, name, value);
}

/* ModuleType.__setattr__ and __delattr__ are slot wrappers that hold the
 * slot function they were made from.  Left with the original, they would
 * (a) bypass the hook and (b) on 3.12 fail hackcheck() for every
 * ModuleType subclass whose __setattr__ calls super().__setattr__ ("can't
 * apply this __setattr__ to L object"), since the type's slot no longer
 * matches.  Pointing them at the hook keeps both right. */
static int
retarget_wrapper(const char *name)
{
  PyObject *d = PyObject_GetAttrString((PyObject *)&PyModule_Type, name);
  if (d == NULL)
    return -1;
  if (Py_IS_TYPE(d, &PyWrapperDescr_Type)) {
    PyWrapperDescrObject *w = (PyWrapperDescrObject *)d;
    if (w->d_wrapped == (void *)orig_module_setattro)
      w->d_wrapped = (void *)frozen_module_setattro;
  }
  Py_DECREF(d);
  return 0;
}

static int
install_hook(void)
{
  if (PyModule_Type.tp_setattro != frozen_module_setattro) {
    orig_module_setattro = PyModule_Type.tp_setattro;
    PyModule_Type.tp_setattro = frozen_module_setattro;
    /* Specialized STORE_ATTRs guard on the type version: make them look
     * again. */
    PyType_Modified(&PyModule_Type);
  }
  /* Per interpreter: the wrappers may be per-interpreter objects. */
  if (retarget_wrapper("__setattr__") < 0
      || retarget_wrapper("__delattr__") < 0)
    return -1;
  return 0;
}

/* ---- functions --------------------------------------------------------- */

static PyObject *
f_registry(PyObject *self, PyObject *unused)
{
  (void)self, (void)unused;
  return Py_XNewRef(interp_dict_item(REGISTRY_KEY, 1));
}

static PyObject *
f_counts(PyObject *self, PyObject *unused)
{
  (void)self, (void)unused;
  return Py_XNewRef(interp_dict_item(COUNTS_KEY, 1));
}

/* _hint(delta): adjusts the process-wide "something is frozen" hint; and
 * hooks a module's subclass type that copied the original slot before the
 * hook was installed. */
static PyObject *
f_hint(PyObject *self, PyObject *arg)
{
  (void)self;
  Py_ssize_t d = PyLong_AsSsize_t(arg);
  if (d == -1 && PyErr_Occurred())
    return NULL;
  frozen_hint += d;
  if (frozen_hint < 0)
    frozen_hint = 0;
  return PyLong_FromSsize_t(frozen_hint);
}

static PyObject *
f_hook_type(PyObject *self, PyObject *arg)
{
  (void)self;
  if (!PyType_Check(arg)
      || !PyType_IsSubtype((PyTypeObject *)arg, &PyModule_Type)) {
    PyErr_SetString(PyExc_TypeError, "a ModuleType subclass is required");
    return NULL;
  }
  PyTypeObject *t = (PyTypeObject *)arg;
  if (t->tp_setattro == orig_module_setattro
      && (t->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
    t->tp_setattro = frozen_module_setattro;
    PyType_Modified(t);
    Py_RETURN_TRUE;
  }
  return PyBool_FromLong(t->tp_setattro == frozen_module_setattro);
}

static PyObject *
f_raw_setattr(PyObject *self, PyObject *const *args, Py_ssize_t n)
{
  (void)self;
  if (n != 2 && n != 3) {
    PyErr_SetString(PyExc_TypeError,
                    "_raw_setattr(obj, name[, value]) (no value: delete)");
    return NULL;
  }
  if (!PyUnicode_Check(args[1])) {
    PyErr_Format(PyExc_TypeError, "attribute name must be str, not %.100s",
                 Py_TYPE(args[1])->tp_name);
    return NULL;
  }
  PyObject *obj = args[0], *value = n == 3 ? args[2] : NULL;
  int rc;
  if (PyModule_Check(obj))
    rc = orig_module_setattro(obj, args[1], value);
  else
    rc = PyObject_SetAttr(obj, args[1], value);
  if (rc < 0)
    return NULL;
  Py_RETURN_NONE;
}

static int
heap_type_arg(PyObject *arg)
{
  if (!PyType_Check(arg)) {
    PyErr_Format(PyExc_TypeError, "a class is required, not %.100s",
                 Py_TYPE(arg)->tp_name);
    return -1;
  }
  if (!(((PyTypeObject *)arg)->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
    PyErr_Format(PyExc_TypeError,
                 "cannot freeze static type '%s': builtin and extension "
                 "static types are immutable already",
                 ((PyTypeObject *)arg)->tp_name);
    return -1;
  }
  return 0;
}

static PyObject *
f_set_immutable(PyObject *self, PyObject *const *args, Py_ssize_t n)
{
  (void)self;
  if (n != 2) {
    PyErr_SetString(PyExc_TypeError, "_set_immutable(cls, flag)");
    return NULL;
  }
  if (heap_type_arg(args[0]) < 0)
    return NULL;
  int on = PyObject_IsTrue(args[1]);
  if (on < 0)
    return NULL;
  PyTypeObject *t = (PyTypeObject *)args[0];
  int was = (t->tp_flags & Py_TPFLAGS_IMMUTABLETYPE) != 0;
  if (on)
    t->tp_flags |= Py_TPFLAGS_IMMUTABLETYPE;
  else
    t->tp_flags &= ~Py_TPFLAGS_IMMUTABLETYPE;
  return PyBool_FromLong(was);
}

static PyObject *
f_is_immutable(PyObject *self, PyObject *arg)
{
  (void)self;
  if (!PyType_Check(arg)) {
    PyErr_SetString(PyExc_TypeError, "a class is required");
    return NULL;
  }
  return PyBool_FromLong(
      (((PyTypeObject *)arg)->tp_flags & Py_TPFLAGS_IMMUTABLETYPE) != 0);
}

static PyObject *
f_is_heap_type(PyObject *self, PyObject *arg)
{
  (void)self;
  return PyBool_FromLong(PyType_Check(arg)
                         && (((PyTypeObject *)arg)->tp_flags
                             & Py_TPFLAGS_HEAPTYPE));
}

/* The class's real __dict__ (not the mappingproxy). */
static PyObject *
f_type_dict(PyObject *self, PyObject *arg)
{
  (void)self;
  if (!PyType_Check(arg)) {
    PyErr_SetString(PyExc_TypeError, "a class is required");
    return NULL;
  }
  return PyType_GetDict((PyTypeObject *)arg);
}

/* ---- _Monitor ---------------------------------------------------------- */

typedef struct {
  PyObject_HEAD
  watch_dep_t *dep;
  PyObject *callback;
  PyObject *targets; /* list of (kind, obj, name) when rearm, else NULL */
  int locate;
  PyObject *weakrefs;
} Monitor;

static PyTypeObject Monitor_Type;

static int
check_rc(int rc)
{
  if (rc >= 0)
    return 0;
  if (rc == WATCH_EPYTHON)
    return -1;
  if (rc == WATCH_ENOMEM)
    PyErr_NoMemory();
  else if (rc == WATCH_EINVAL)
    PyErr_SetString(PyExc_TypeError, watch_strerror(rc));
  else
    PyErr_Format(PyExc_ValueError, "libwatch: %s", watch_strerror(rc));
  return -1;
}

static int monitor_cb(watch_dep_t *dep, const watch_event_t *ev);

static int
monitor_register(watch_dep_t *dep, PyObject *kind, PyObject *obj,
                 PyObject *name)
{
  const char *k = PyUnicode_AsUTF8(kind);
  if (k == NULL)
    return -1;
  if (strcmp(k, "ns") == 0) {
    if (!PyDict_Check(obj)) {
      PyErr_SetString(PyExc_TypeError, "on_namespace: a dict is required");
      return -1;
    }
    return check_rc(watch_dep_on_namespace(dep, obj));
  }
  if (strcmp(k, "func") == 0) {
    if (!PyFunction_Check(obj)) {
      PyErr_SetString(PyExc_TypeError, "on_function: a function is required");
      return -1;
    }
    return check_rc(watch_dep_on_function(dep, obj));
  }
  if (!PyUnicode_CheckExact(name)) {
    PyErr_SetString(PyExc_TypeError, "on_absent: name must be a str");
    return -1;
  }
  return check_rc(watch_dep_on_attr(dep, obj, name, NULL));
}

static int
monitor_new_dep(Monitor *m)
{
  watch_dep_t *dep;
  if (check_rc(watch_dep_new(&dep, monitor_cb, m)) < 0)
    return -1;
  if (m->locate && check_rc(watch_dep_locate(dep)) < 0) {
    watch_dep_release(dep);
    return -1;
  }
  m->dep = dep;
  return 0;
}

static int
monitor_rearm(Monitor *m)
{
  watch_dep_release(m->dep);
  m->dep = NULL;
  if (monitor_new_dep(m) < 0)
    return -1;
  Py_ssize_t n = PyList_GET_SIZE(m->targets);
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *t = PyList_GET_ITEM(m->targets, i);
    if (monitor_register(m->dep, PyTuple_GET_ITEM(t, 0),
                         PyTuple_GET_ITEM(t, 1), PyTuple_GET_ITEM(t, 2))
        < 0)
      return -1;
  }
  return 0;
}

static int
monitor_cb(watch_dep_t *dep, const watch_event_t *ev)
{
  Monitor *m = (Monitor *)watch_dep_data(dep);
  Py_INCREF(m);
  int result = 0;
  int terminal = ev->kind == WATCH_EVENT_FINALIZED
                 || ev->kind == WATCH_EVENT_DEALLOCATED;
  if (m->targets != NULL && !terminal && m->dep == dep) {
    if (monitor_rearm(m) < 0) {
      PyErr_WriteUnraisable((PyObject *)m);
      /* m->dep may be a fresh, partly registered dependent: drop it. */
      watch_dep_release(m->dep);
      m->dep = NULL;
    }
  }
  if (m->callback != Py_None) {
    PyObject *r = PyObject_CallFunction(
        m->callback, "sOOOi", watch_event_name(ev->kind),
        ev->ns ? ev->ns : Py_None, ev->key ? ev->key : Py_None,
        ev->filename ? ev->filename : Py_None, ev->lineno);
    if (r == NULL)
      result = -1;
    Py_XDECREF(r);
  }
  Py_DECREF(m);
  return result;
}

static PyObject *
Monitor_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
  static char *kwlist[] = {"callback", "rearm", "locate", NULL};
  PyObject *callback = Py_None;
  int rearm = 0, locate = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "|Opp:_Monitor", kwlist,
                                   &callback, &rearm, &locate))
    return NULL;
  if (callback != Py_None && !PyCallable_Check(callback)) {
    PyErr_SetString(PyExc_TypeError, "callback must be callable or None");
    return NULL;
  }
  Monitor *m = (Monitor *)type->tp_alloc(type, 0);
  if (m == NULL)
    return NULL;
  m->callback = Py_NewRef(callback);
  m->locate = locate;
  if (rearm && (m->targets = PyList_New(0)) == NULL) {
    Py_DECREF(m);
    return NULL;
  }
  if (monitor_new_dep(m) < 0) {
    Py_DECREF(m);
    return NULL;
  }
  return (PyObject *)m;
}

static int
Monitor_traverse(Monitor *m, visitproc visit, void *arg)
{
  Py_VISIT(m->callback);
  Py_VISIT(m->targets);
  return 0;
}

static int
Monitor_clear(Monitor *m)
{
  Py_CLEAR(m->callback);
  Py_CLEAR(m->targets);
  return 0;
}

static void
Monitor_dealloc(Monitor *m)
{
  PyObject_GC_UnTrack(m);
  if (m->weakrefs)
    PyObject_ClearWeakRefs((PyObject *)m);
  watch_dep_release(m->dep);
  m->dep = NULL;
  Monitor_clear(m);
  Py_TYPE(m)->tp_free((PyObject *)m);
}

static PyObject *
monitor_add(Monitor *m, const char *kind, PyObject *obj, PyObject *name)
{
  if (m->dep == NULL) {
    PyErr_SetString(PyExc_ValueError, "the monitor was released");
    return NULL;
  }
  PyObject *k = PyUnicode_FromString(kind);
  if (k == NULL)
    return NULL;
  int rc = monitor_register(m->dep, k, obj, name);
  if (rc == 0 && m->targets != NULL) {
    PyObject *t = PyTuple_Pack(3, k, obj, name);
    rc = t ? PyList_Append(m->targets, t) : -1;
    Py_XDECREF(t);
  }
  Py_DECREF(k);
  if (rc < 0)
    return NULL;
  Py_RETURN_NONE;
}

static PyObject *
Monitor_on_namespace(Monitor *m, PyObject *d)
{
  return monitor_add(m, "ns", d, Py_None);
}

static PyObject *
Monitor_on_function(Monitor *m, PyObject *f)
{
  return monitor_add(m, "func", f, Py_None);
}

static PyObject *
Monitor_on_absent(Monitor *m, PyObject *const *args, Py_ssize_t n)
{
  if (n != 2) {
    PyErr_SetString(PyExc_TypeError, "on_absent(obj, name)");
    return NULL;
  }
  if (!PyType_Check(args[0]) && !PyModule_Check(args[0])) {
    PyErr_SetString(PyExc_TypeError, "on_absent: a module or class");
    return NULL;
  }
  return monitor_add(m, "attr", args[0], args[1]);
}

static PyObject *
Monitor_release(Monitor *m, PyObject *unused)
{
  (void)unused;
  watch_dep_release(m->dep);
  m->dep = NULL;
  Py_RETURN_NONE;
}

static PyObject *
Monitor_get_valid(Monitor *m, void *closure)
{
  (void)closure;
  return PyBool_FromLong(m->dep != NULL && watch_dep_valid(m->dep));
}

static PyMethodDef Monitor_methods[] = {
    {"on_namespace", (PyCFunction)Monitor_on_namespace, METH_O,
     "Depend on any change to this dict."},
    {"on_function", (PyCFunction)Monitor_on_function, METH_O,
     "Depend on a function's code, defaults and kwdefaults."},
    {"on_absent", (PyCFunction)(void (*)(void))Monitor_on_absent,
     METH_FASTCALL, "Depend on obj.name staying absent (a class: its MRO)."},
    {"release", (PyCFunction)Monitor_release, METH_NOARGS,
     "Stop watching; the callback is not called again."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Monitor_getset[] = {
    {"valid", (getter)Monitor_get_valid, NULL, "Not invalidated yet.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject Monitor_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "pywatch._pywatch._Monitor",
    .tp_basicsize = sizeof(Monitor),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "_Monitor(callback=None, rearm=False, locate=False): freezing's "
              "own dependent.  callback(kind, namespace, name, filename, "
              "lineno) runs in phase two; rearm re-registers the same "
              "targets first, so the monitor watches for good.",
    .tp_new = Monitor_new,
    .tp_dealloc = (destructor)Monitor_dealloc,
    .tp_traverse = (traverseproc)Monitor_traverse,
    .tp_clear = (inquiry)Monitor_clear,
    .tp_weaklistoffset = offsetof(Monitor, weakrefs),
    .tp_methods = Monitor_methods,
    .tp_getset = Monitor_getset,
};

static PyMethodDef freeze_functions[] = {
    {"_frozen_registry", f_registry, METH_NOARGS,
     "This interpreter's {id(module): (allowed, module.__dict__)}."},
    {"_freeze_counts", f_counts, METH_NOARGS,
     "This interpreter's freezing counters kept in C."},
    {"_frozen_hint", f_hint, METH_O, "Adjusts the 'something is frozen' hint."},
    {"_hook_module_type", f_hook_type, METH_O,
     "Hooks a ModuleType subclass that copied the original setattr slot."},
    {"_raw_setattr", (PyCFunction)(void (*)(void))f_raw_setattr,
     METH_FASTCALL,
     "Sets (or, without value, deletes) through the original module slot."},
    {"_set_immutable", (PyCFunction)(void (*)(void))f_set_immutable,
     METH_FASTCALL,
     "Sets or clears Py_TPFLAGS_IMMUTABLETYPE on a heap class; returns the "
     "old state."},
    {"_is_immutable", f_is_immutable, METH_O, "Py_TPFLAGS_IMMUTABLETYPE set."},
    {"_is_heap_type", f_is_heap_type, METH_O, "A class created at run time."},
    {"_type_dict", f_type_dict, METH_O, "The class's real __dict__."},
    {NULL, NULL, 0, NULL}};

int
pywatch_freeze_init(PyObject *module)
{
  if (install_hook() < 0 || PyType_Ready(&Monitor_Type) < 0
      || PyModule_AddObjectRef(module, "_Monitor", (PyObject *)&Monitor_Type)
             < 0
      || PyModule_AddFunctions(module, freeze_functions) < 0)
    return -1;
  return 0;
}
