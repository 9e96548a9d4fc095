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
 * - The write log of `python -m pywatch audit` (_audit.py): a dict watcher
 *   of its own that counts every write to the namespaces audited, which
 *   libwatch's dependents cannot (they coalesce a batch into one event),
 *   and the same setattr hook telling setattr writes from direct ones.
 */
#include "pywatch.h"

/* ---- the module setattr hook ------------------------------------------- */

static setattrofunc orig_module_setattro; /* process-wide, set once */
static int audit_setattr(PyObject *obj, PyObject *name, PyObject *value);
static int audit_watcher = -1; /* the main interpreter's, while auditing */
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
  if (audit_watcher >= 0)
    return audit_setattr(obj, name, value);
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

/* ---- the audit's write log --------------------------------------------- */

/* 3.15's lazy_import type (PEP 810), or NULL: the placeholder that the
 * import system rebinds to what it imports on first use. */
static PyTypeObject *lazy_import_type;

/* Whether storing new_value in dict[key] replaces a lazy_import object by
 * something else: the import system resolving it.  key is an exact str, so
 * reading the dict runs no Python code. */
static int
resolves_lazy_import(PyObject *dict, PyObject *key, PyObject *new_value)
{
  if (lazy_import_type == NULL || new_value == NULL
      || Py_IS_TYPE(new_value, lazy_import_type))
    return 0;
  PyObject *old = PyDict_GetItemWithError(dict, key);
  return old != NULL && Py_IS_TYPE(old, lazy_import_type);
}

/* One per (namespace, key) written while auditing, in a capsule. */
struct audit_entry {
  Py_ssize_t counts[5]; /* added, modified, deleted, cleared, cloned */
  Py_ssize_t setattr;   /* how many of them went through module setattr */
  Py_ssize_t lazy;      /* modifications that resolved a lazy import */
  unsigned long long order; /* when its first write happened */
  PyObject *filename;       /* the first writer's, or NULL */
  int lineno;
};

#define ENTRY_CAPSULE "pywatch.audit_entry"
/* Whole-dict events (clear, clone) are logged under None; keys other than
 * exact str, whose comparison could run Python code in the watcher, under
 * Ellipsis. */

static PyObject *audit_live;    /* {id(dict): (label, {key: entry})} */
static PyObject *audit_retired; /* [(label, {key: entry})] of dead dicts */
static unsigned long long audit_order;

/* The module setattr running, so that the watcher can tell its write from a
 * direct one.  Saved and restored around the call, since a descriptor's
 * __set__ may nest another. */
struct setattr_site {
  PyThreadState *tstate;
  PyObject *dict;
  PyObject *name;
};
static struct setattr_site audit_site;

static int
audit_setattr(PyObject *obj, PyObject *name, PyObject *value)
{
  if (PyInterpreterState_Get() != PyInterpreterState_Main()
      || !PyModule_Check(obj))
    return orig_module_setattro(obj, name, value);
  struct setattr_site saved = audit_site;
  audit_site.tstate = PyThreadState_Get();
  audit_site.dict = PyModule_GetDict(obj);
  audit_site.name = name;
  int rc = orig_module_setattro(obj, name, value);
  audit_site = saved;
  return rc;
}

static void
entry_free(PyObject *capsule)
{
  struct audit_entry *e = PyCapsule_GetPointer(capsule, ENTRY_CAPSULE);
  if (e != NULL) {
    Py_XDECREF(e->filename);
    PyMem_Free(e);
  }
}

/* The entry of key in log, created (and its writer located) on first use;
 * NULL with an exception on failure. */
static struct audit_entry *
audit_entry(PyObject *log, PyObject *key)
{
  PyObject *capsule = PyDict_GetItemWithError(log, key);
  if (capsule != NULL)
    return PyCapsule_GetPointer(capsule, ENTRY_CAPSULE);
  if (PyErr_Occurred())
    return NULL;
  struct audit_entry *e = PyMem_Calloc(1, sizeof *e);
  if (e == NULL) {
    PyErr_NoMemory();
    return NULL;
  }
  e->order = ++audit_order;
  /* The frame running is the writer's; reading it runs no Python code. */
  PyFrameObject *frame = PyEval_GetFrame();
  if (frame != NULL) {
    PyCodeObject *code = PyFrame_GetCode(frame);
    e->filename = Py_NewRef(code->co_filename);
    e->lineno = PyFrame_GetLineNumber(frame);
    Py_DECREF(code);
  }
  capsule = PyCapsule_New(e, ENTRY_CAPSULE, entry_free);
  if (capsule == NULL) {
    Py_XDECREF(e->filename);
    PyMem_Free(e);
    return NULL;
  }
  int rc = PyDict_SetItem(log, key, capsule);
  Py_DECREF(capsule); /* the log holds it */
  return rc < 0 ? NULL : e;
}

/* Runs before the change, for the dicts audited only.  Counts it, in O(1):
 * no snapshot, no diff, no Python code. */
static int
audit_event(PyDict_WatchEvent event, PyObject *dict, PyObject *key,
            PyObject *new_value)
{
  (void)new_value;
  PyObject *exc = PyErr_GetRaisedException();
  PyObject *id = PyLong_FromVoidPtr(dict);
  PyObject *rec = id ? PyDict_GetItemWithError(audit_live, id) : NULL;
  int rc = 0;
  if (rec == NULL) {
    rc = PyErr_Occurred() ? -1 : 0;
  } else if (event == PyDict_EVENT_DEALLOCATED) {
    /* Kept for the report if written; its address may be reused. */
    if (PyDict_GET_SIZE(PyTuple_GET_ITEM(rec, 1)) > 0)
      rc = PyList_Append(audit_retired, rec);
    if (rc == 0)
      rc = PyDict_DelItem(audit_live, id);
  } else {
    int slot;
    switch (event) {
    case PyDict_EVENT_ADDED: slot = 0; break;
    case PyDict_EVENT_MODIFIED: slot = 1; break;
    case PyDict_EVENT_DELETED: slot = 2; break;
    case PyDict_EVENT_CLEARED: slot = 3; break;
    default: slot = 4; break; /* PyDict_EVENT_CLONED */
    }
    /* A clone names its source dict where other events name a key. */
    PyObject *k = key == NULL || slot >= 3 ? Py_None
                  : PyUnicode_CheckExact(key) ? key : Py_Ellipsis;
    struct audit_entry *e = audit_entry(PyTuple_GET_ITEM(rec, 1), k);
    if (e == NULL) {
      rc = -1;
    } else {
      e->counts[slot]++;
      if (slot == 1 && k == key && resolves_lazy_import(dict, key, new_value))
        e->lazy++;
      if (audit_site.dict == dict && audit_site.name == key
          && audit_site.tstate == PyThreadState_Get())
        e->setattr++;
    }
  }
  Py_XDECREF(id);
  if (rc < 0)
    PyErr_WriteUnraisable(NULL); /* never the dict: it may be dying */
  PyErr_SetRaisedException(exc);
  return 0;
}

static PyObject *
f_audit_start(PyObject *self, PyObject *unused)
{
  (void)self, (void)unused;
  if (PyInterpreterState_Get() != PyInterpreterState_Main()) {
    PyErr_SetString(PyExc_RuntimeError,
                    "the audit runs in the main interpreter only");
    return NULL;
  }
  if (audit_watcher >= 0)
    Py_RETURN_NONE;
  if (audit_live == NULL && (audit_live = PyDict_New()) == NULL)
    return NULL;
  if (audit_retired == NULL && (audit_retired = PyList_New(0)) == NULL)
    return NULL;
  if (lazy_import_type == NULL) {
    PyObject *types = PyImport_ImportModule("types");
    PyObject *t = types ? PyObject_GetAttrString(types, "LazyImportType")
                        : NULL;
    Py_XDECREF(types);
    if (t == NULL && !PyErr_ExceptionMatches(PyExc_AttributeError))
      return NULL;
    PyErr_Clear(); /* before 3.15 there is none */
    if (t != NULL && PyType_Check(t))
      lazy_import_type = (PyTypeObject *)t; /* kept: a static type */
    else
      Py_XDECREF(t);
  }
  audit_watcher = PyDict_AddWatcher(audit_event);
  if (audit_watcher < 0)
    return NULL;
  Py_RETURN_NONE;
}

/* Ends counting: no dict is called back any more.  The log stays. */
static PyObject *
f_audit_stop(PyObject *self, PyObject *unused)
{
  (void)self, (void)unused;
  if (audit_watcher >= 0) {
    int id = audit_watcher;
    audit_watcher = -1;
    if (PyDict_ClearWatcher(id) < 0)
      return NULL;
  }
  Py_RETURN_NONE;
}

/* _audit_watch(dict, label): logs the dict's writes under label from now
 * on; False if it was logged already. */
static PyObject *
f_audit_watch(PyObject *self, PyObject *const *args, Py_ssize_t n)
{
  (void)self;
  if (n != 2 || !PyDict_Check(args[0])) {
    PyErr_SetString(PyExc_TypeError, "_audit_watch(dict, label)");
    return NULL;
  }
  if (audit_watcher < 0) {
    PyErr_SetString(PyExc_RuntimeError, "the audit is not running");
    return NULL;
  }
  PyObject *id = PyLong_FromVoidPtr(args[0]);
  if (id == NULL)
    return NULL;
  int has = PyDict_Contains(audit_live, id);
  PyObject *rec = has == 0 ? Py_BuildValue("(ON)", args[1], PyDict_New())
                           : NULL;
  int rc = has != 0 || rec == NULL ? -1
           : PyDict_SetItem(audit_live, id, rec);
  Py_XDECREF(rec);
  Py_DECREF(id);
  if (has > 0)
    Py_RETURN_FALSE;
  if (rc < 0 || PyDict_Watch(audit_watcher, args[0]) < 0)
    return NULL;
  Py_RETURN_TRUE;
}

/* [(label, alive, {key: (added, modified, deleted, cleared, cloned,
 * setattr, order, filename, lineno)})] of every namespace written, dead or
 * alive. */
static PyObject *
f_audit_log(PyObject *self, PyObject *unused)
{
  (void)self, (void)unused;
  PyObject *out = PyList_New(0);
  if (out == NULL || audit_live == NULL)
    return out;
  PyObject *recs = PyDict_Values(audit_live);
  if (recs == NULL) {
    Py_DECREF(out);
    return NULL;
  }
  Py_ssize_t dead = PyList_GET_SIZE(audit_retired);
  if (PyList_SetSlice(recs, 0, 0, audit_retired) < 0)
    goto error;
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(recs); i++) {
    PyObject *rec = PyList_GET_ITEM(recs, i);
    PyObject *log = PyTuple_GET_ITEM(rec, 1), *key, *capsule;
    if (PyDict_GET_SIZE(log) == 0)
      continue;
    PyObject *writes = PyDict_New();
    PyObject *item = writes ? Py_BuildValue("(OOO)", PyTuple_GET_ITEM(rec, 0),
                                            i < dead ? Py_False : Py_True,
                                            writes)
                            : NULL;
    Py_XDECREF(writes);
    if (item == NULL || PyList_Append(out, item) < 0) {
      Py_XDECREF(item);
      goto error;
    }
    Py_DECREF(item);
    Py_ssize_t pos = 0;
    while (PyDict_Next(log, &pos, &key, &capsule)) {
      struct audit_entry *e = PyCapsule_GetPointer(capsule, ENTRY_CAPSULE);
      PyObject *t = e ? Py_BuildValue(
                            "(nnnnnnKOin)", e->counts[0], e->counts[1],
                            e->counts[2], e->counts[3], e->counts[4],
                            e->setattr, e->order,
                            e->filename ? e->filename : Py_None, e->lineno,
                            e->lazy)
                      : NULL;
      int rc = t ? PyDict_SetItem(writes, key, t) : -1;
      Py_XDECREF(t);
      if (rc < 0)
        goto error;
    }
  }
  Py_DECREF(recs);
  return out;
error:
  Py_DECREF(recs);
  Py_DECREF(out);
  return NULL;
}

/* _call_then(func, after): a callable that returns func(*args, **kwargs)
 * and first passes the result to after().  In C, so that it adds no frame
 * to the tracebacks of what func raises (the import system strips its own
 * frames from them, and would not strip a Python wrapper's).  What after()
 * raises goes to sys.unraisablehook. */
static PyObject *
call_then(PyObject *pair, PyObject *args, PyObject *kwargs)
{
  PyObject *result = PyObject_Call(PyTuple_GET_ITEM(pair, 0), args, kwargs);
  if (result != NULL) {
    PyObject *r = PyObject_CallOneArg(PyTuple_GET_ITEM(pair, 1), result);
    if (r == NULL)
      PyErr_WriteUnraisable(PyTuple_GET_ITEM(pair, 1));
    Py_XDECREF(r);
  }
  return result;
}

static PyMethodDef call_then_def = {
    "call_then", (PyCFunction)(void (*)(void))call_then,
    METH_VARARGS | METH_KEYWORDS, "func(*args, **kwargs), then after()."};

static PyObject *
f_call_then(PyObject *self, PyObject *const *args, Py_ssize_t n)
{
  (void)self;
  if (n != 2 || !PyCallable_Check(args[0]) || !PyCallable_Check(args[1])) {
    PyErr_SetString(PyExc_TypeError, "_call_then(func, after): callables");
    return NULL;
  }
  PyObject *pair = PyTuple_Pack(2, args[0], args[1]);
  if (pair == NULL)
    return NULL;
  PyObject *f = PyCFunction_New(&call_then_def, pair);
  Py_DECREF(pair);
  return f;
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
    {"_audit_start", f_audit_start, METH_NOARGS,
     "Starts the audit's write log (main interpreter)."},
    {"_audit_stop", f_audit_stop, METH_NOARGS, "Stops counting writes."},
    {"_audit_watch", (PyCFunction)(void (*)(void))f_audit_watch,
     METH_FASTCALL, "Logs a dict's writes under a label."},
    {"_audit_log", f_audit_log, METH_NOARGS,
     "[(label, {key: counts and first writer})] of what was written."},
    {"_call_then", (PyCFunction)(void (*)(void))f_call_then, METH_FASTCALL,
     "A callable running func, then after(result), adding no frame."},
    {NULL, NULL, 0, NULL}};

int
pywatch_freeze_init(PyObject *module)
{
  if (install_hook() < 0
      || PyModule_AddFunctions(module, freeze_functions) < 0)
    return -1;
  return 0;
}
