/* The primitives that freezing is built on; the policy is in _freeze.py.
 *
 * - The watched class: a frozen module is moved to a heap subclass of its
 *   class, made here once per class and interpreter, whose __setattr__ and
 *   __delattr__ ask the module's tracker in _freeze.py whether the write may
 *   go ahead, and refuse it with FrozenError.  ModuleType itself, a static
 *   type that every interpreter of the process shares, is never written.
 *   The frozen registry is per interpreter, in PyInterpreterState_GetDict():
 *   "pywatch.frozen" maps id(module) to its tracker and is written by
 *   _freeze.py.
 * - _raw_setattr/_raw_delattr: the write past the watched class, for
 *   pywatch.patch().
 * - _set_immutable: Py_TPFLAGS_IMMUTABLETYPE on a heap class, so that
 *   CPython itself refuses C.x = v, del C.x and C.__bases__ = ...
 * - The watched class also tells the audit's write log (audit.c) which
 *   writes went through setattr: the audit moves the modules it audits to
 *   it too.
 */
#include "pywatch.h"

/* ---- the per-interpreter registries ---------------------------------- */

#define REGISTRY_KEY "pywatch.frozen"
#define TRACKED_CLASSES_KEY "pywatch.tracked_classes"
#define COUNTS_KEY "pywatch.freeze_counts"
#define WATCHED_KEY "pywatch.watched_classes"

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
  if (item != NULL && !PyDict_CheckExact(item)) {
    /* gc reaches the interpreter dict: a program may have replaced it. */
    PyErr_Format(PyExc_RuntimeError, "pywatch's %s is not a dict", key);
    return NULL;
  }
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

/* Raises FrozenError with msg; it is an AttributeError, and names what was
 * refused in its obj and name, as AttributeError does. */
static void
raise_frozen(PyObject *obj, PyObject *name, PyObject *msg)
{
  PyErr_SetObject(pywatch_exception(PYWATCH_FROZEN_ERROR), msg);
  PyObject *exc = PyErr_GetRaisedException();
  if (PyObject_SetAttrString(exc, "obj", obj) < 0
      || PyObject_SetAttrString(exc, "name", name) < 0)
    PyErr_Clear();
  PyErr_SetRaisedException(exc);
}

/* obj's tracker in one of this interpreter's registries (by id), as a new
 * reference, since the call made on it may drop it; NULL if none (with an
 * exception set on failure). */
static PyObject *
registered_tracker(const char *registry_key, PyObject *obj)
{
  PyObject *registry = interp_dict_item(registry_key, 0);
  if (registry == NULL)
    return NULL;
  PyObject *key = PyLong_FromVoidPtr(obj);
  PyObject *tracker = key ? PyDict_GetItemWithError(registry, key) : NULL;
  Py_XDECREF(key);
  return Py_XNewRef(tracker);
}

/* 1: the write goes ahead; 0: refused (FrozenError set); -1: error.  The
 * policy is _freeze.py's (the tracker's refusal()): it is asked only for a
 * frozen module, and only here, where Python code may run. */
static int
frozen_check(PyObject *mod, PyObject *name, PyObject *value)
{
  PyObject *tracker = registered_tracker(REGISTRY_KEY, mod);
  if (tracker == NULL)
    return PyErr_Occurred() ? -1 : 1;
  PyObject *why = value ? PyObject_CallMethod(tracker, "refusal", "OOO", mod,
                                              name, value)
                        : PyObject_CallMethod(tracker, "refusal", "OO", mod,
                                              name);
  Py_DECREF(tracker);
  if (why == NULL)
    return -1;
  if (why == Py_None) {
    Py_DECREF(why);
    return 1;
  }
  PyObject *mname = PyModule_GetNameObject(mod);
  if (mname == NULL) {
    PyErr_Clear();
    mname = PyUnicode_FromString("?");
  }
  PyObject *msg = mname ? PyUnicode_FromFormat(
                              "module '%U' is frozen: %S (pywatch.patch() is "
                              "the sanctioned way)", mname, why)
                        : NULL;
  if (msg != NULL)
    raise_frozen(mod, name, msg);
  Py_XDECREF(msg);
  Py_XDECREF(mname);
  Py_DECREF(why);
  count_blocked();
  return 0;
}

/* ---- __class__ assignment ---------------------------------------------- */

/* Every __class__ and __bases__ assignment raises the audit event
 * object.__setattr__ first, whatever the path (object.__dict__['__class__'].
 * __set__ included).  An audit hook that raises refuses it: a frozen
 * object's __class__ assignment is refused so.  A tracked class's
 * __bases__ assignment is told to its tracker, which must see every one,
 * however soon it is undone, whatever the class's metaclass or version
 * tags; it is never refused.  The hook is added with sys.addaudithook, so
 * it is this interpreter's, and it is C, so that the other events cost a
 * call and a string compare. */
static PyObject *
refuse_class_swap(PyObject *obj, PyObject *name)
{
  PyObject *tracker = registered_tracker(REGISTRY_KEY, obj);
  if (tracker == NULL)
    return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
  PyObject *why = PyObject_CallMethod(tracker, "class_refusal", "O", obj);
  Py_DECREF(tracker);
  if (why == NULL || why == Py_None)
    return why;
  PyObject *msg = PyObject_Str(why);
  if (msg != NULL)
    raise_frozen(obj, name, msg);
  Py_XDECREF(msg);
  Py_DECREF(why);
  count_blocked();
  return NULL;
}

static PyObject *
note_bases(PyObject *cls, PyObject *new_bases)
{
  PyObject *tracker = registered_tracker(TRACKED_CLASSES_KEY, cls);
  PyObject *r = NULL;
  if (tracker != NULL) {
    PyObject *old = ((PyTypeObject *)cls)->tp_bases;
    r = PyObject_CallMethod(tracker, "bases_assigning", "OOO", cls,
                            new_bases, old ? old : Py_None);
    Py_DECREF(tracker);
  }
  if (r == NULL && PyErr_Occurred())
    PyErr_WriteUnraisable(cls); /* noted or not, the assignment goes on */
  Py_XDECREF(r);
  Py_RETURN_NONE;
}

static PyObject *
class_swap_hook(PyObject *self, PyObject *const *args, Py_ssize_t n)
{
  (void)self;
  if (n != 2 || !PyUnicode_Check(args[0])
      || PyUnicode_CompareWithASCIIString(args[0], "object.__setattr__") != 0
      || !PyTuple_Check(args[1]) || PyTuple_GET_SIZE(args[1]) < 3)
    Py_RETURN_NONE;
  PyObject *obj = PyTuple_GET_ITEM(args[1], 0);
  PyObject *name = PyTuple_GET_ITEM(args[1], 1);
  if (!PyUnicode_Check(name))
    Py_RETURN_NONE;
  if (PyUnicode_CompareWithASCIIString(name, "__class__") == 0)
    return refuse_class_swap(obj, name);
  if (PyType_Check(obj)
      && PyUnicode_CompareWithASCIIString(name, "__bases__") == 0)
    return note_bases(obj, PyTuple_GET_ITEM(args[1], 2));
  Py_RETURN_NONE;
}

static PyMethodDef class_swap_hook_def = {
    "pywatch_class_swap_hook", (PyCFunction)(void (*)(void))class_swap_hook,
    METH_FASTCALL, "Refuses __class__ assignment to a frozen object."};

/* Once per interpreter: audit hooks are never removed, and the extension
 * module is executed again each time a program imports it anew. */
#define HOOK_KEY "pywatch.class_swap_hook"

static int
add_class_swap_hook(void)
{
  PyObject *idict = PyInterpreterState_GetDict(PyInterpreterState_Get());
  if (idict == NULL)
    return -1;
  if (PyDict_GetItemString(idict, HOOK_KEY) != NULL)
    return 0;
  PyObject *hook = PyCFunction_New(&class_swap_hook_def, NULL);
  PyObject *sys = hook ? PyImport_ImportModule("sys") : NULL;
  PyObject *r = sys ? PyObject_CallMethod(sys, "addaudithook", "O", hook)
                    : NULL;
  Py_XDECREF(sys);
  Py_XDECREF(hook);
  if (r == NULL)
    return -1;
  Py_DECREF(r);
  return PyDict_SetItemString(idict, HOOK_KEY, Py_True);
}

/* ---- the watched module class ----------------------------------------- */

/* A module's class is ModuleType, shared by every interpreter of the
 * process, or a program's subclass of it.  Neither is written: a module to
 * watch is moved to a subclass made here, whose __setattr__ and __delattr__
 * are the methods below.  They are methods in the class dict, as a class
 * statement's would be, so CPython gives the class its own slot that calls
 * them, and its checks of super().__setattr__ calls (hackcheck) treat the
 * class as Python code: a program's ModuleType subclass whose __setattr__
 * calls super() keeps working. */

static PyObject *watched_setattr(PyObject *, PyObject *const *, Py_ssize_t);
static PyObject *watched_delattr(PyObject *, PyObject *const *, Py_ssize_t);

static PyMethodDef watched_setattr_def = {
    "__setattr__", (PyCFunction)(void (*)(void))watched_setattr,
    METH_FASTCALL, "Implement setattr(self, name, value), unless frozen."};
static PyMethodDef watched_delattr_def = {
    "__delattr__", (PyCFunction)(void (*)(void))watched_delattr,
    METH_FASTCALL, "Implement delattr(self, name), unless frozen."};

static int
own_method_is(PyObject *dict, const char *name, PyMethodDef *def)
{
  PyObject *method = PyDict_GetItemString(dict, name);
  return method != NULL && Py_IS_TYPE(method, &PyMethodDescr_Type)
         && ((PyMethodDescrObject *)method)->d_method == def;
}

static int
is_watched_class(PyTypeObject *cls)
{
  PyObject *dict = PyType_GetDict(cls);
  int watched = dict != NULL
                && own_method_is(dict, "__setattr__", &watched_setattr_def)
                && own_method_is(dict, "__delattr__", &watched_delattr_def);
  Py_XDECREF(dict); /* the class holds it */
  return watched;
}

/* cls is base's watched class: a heap subclass of base alone, with the
 * watched methods.  A metaclass may return another class, and
 * __init_subclass__ may replace the methods; a program may put another
 * class in the cache (gc reaches it). */
static int
is_watched_class_of(PyObject *cls, PyTypeObject *base)
{
  return PyType_Check(cls)
         && (((PyTypeObject *)cls)->tp_flags & Py_TPFLAGS_HEAPTYPE)
         && ((PyTypeObject *)cls)->tp_base == base
         && is_watched_class((PyTypeObject *)cls);
}

/* Whether name, looked up in type's MRO, is the watched method def. */
static int
resolves_to(PyTypeObject *type, const char *name, PyMethodDef *def)
{
  PyObject *mro = type->tp_mro;
  for (Py_ssize_t i = 0; mro != NULL && i < PyTuple_GET_SIZE(mro); i++) {
    PyObject *dict = PyType_GetDict((PyTypeObject *)PyTuple_GET_ITEM(mro, i));
    int found = dict != NULL && PyDict_GetItemString(dict, name) != NULL;
    int is = found && own_method_is(dict, name, def);
    Py_XDECREF(dict); /* the class holds it */
    if (found)
      return is;
  }
  return 0;
}

/* The watched class in obj's MRO (borrowed), or NULL. */
static PyTypeObject *
watched_class_of(PyObject *obj)
{
  PyObject *mro = Py_TYPE(obj)->tp_mro;
  for (Py_ssize_t i = 0; mro != NULL && i < PyTuple_GET_SIZE(mro); i++) {
    PyTypeObject *cls = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
    if (is_watched_class(cls))
      return cls;
  }
  return NULL;
}

/* The write the watched class wraps: super()'s, that is, the one of the
 * class it was made from. */
static int
write_past_watched(PyObject *obj, PyObject *name, PyObject *value)
{
  PyTypeObject *watched = watched_class_of(obj);
  PyTypeObject *base = watched ? watched->tp_base : &PyModule_Type;
  if (base == &PyModule_Type)
    return PyModule_Type.tp_setattro(obj, name, value);
  PyObject *sup = PyObject_CallFunctionObjArgs((PyObject *)&PySuper_Type,
                                               (PyObject *)watched, obj, NULL);
  PyObject *r = sup == NULL ? NULL
                : value ? PyObject_CallMethod(sup, "__setattr__", "OO", name,
                                              value)
                        : PyObject_CallMethod(sup, "__delattr__", "O", name);
  Py_XDECREF(sup);
  Py_XDECREF(r);
  return r ? 0 : -1;
}

static int
watched_write(PyObject *obj, PyObject *name, PyObject *value)
{
  int ok = frozen_check(obj, name, value);
  if (ok <= 0)
    return -1;
  return pywatch_audit_setattr(obj, name, value, write_past_watched);
}

static PyObject *
watched_setattr(PyObject *self, PyObject *const *args, Py_ssize_t n)
{
  if (n != 2) {
    PyErr_Format(PyExc_TypeError, "expected 2 arguments, got %zd", n);
    return NULL;
  }
  if (watched_write(self, args[0], args[1]) < 0)
    return NULL;
  Py_RETURN_NONE;
}

static PyObject *
watched_delattr(PyObject *self, PyObject *const *args, Py_ssize_t n)
{
  if (n != 1) {
    PyErr_Format(PyExc_TypeError, "expected 1 argument, got %zd", n);
    return NULL;
  }
  if (watched_write(self, args[0], NULL) < 0)
    return NULL;
  Py_RETURN_NONE;
}

/* type(name, (base,), namespace), as a class statement would make it.
 * Its methods are descriptors of ModuleType, which only reads it: they
 * accept any module. */
static PyObject *
new_watched_class(PyTypeObject *base)
{
  /* Its base's names, module included, so that messages naming a module's
   * type (json's "when serializing module object", CPython's %T) read as
   * before: only identity tells it from its base.  N steals, even on
   * failure. */
  PyObject *ns = Py_BuildValue(
      "{s:N,s:N,s:N,s:N,s:N}", "__slots__", PyTuple_New(0), "__setattr__",
      PyDescr_NewMethod(&PyModule_Type, &watched_setattr_def), "__delattr__",
      PyDescr_NewMethod(&PyModule_Type, &watched_delattr_def), "__module__",
      PyObject_GetAttrString((PyObject *)base, "__module__"), "__qualname__",
      PyType_GetQualName(base));
  PyObject *name = ns ? PyType_GetName(base) : NULL;
  PyObject *cls = name ? PyObject_CallFunction((PyObject *)Py_TYPE(base),
                                               "O(O)O", name,
                                               (PyObject *)base, ns)
                       : NULL;
  /* Nobody may give it a descriptor that changes what the module reads, or
   * another __setattr__. */
  if (cls != NULL && is_watched_class_of(cls, base))
    ((PyTypeObject *)cls)->tp_flags |= Py_TPFLAGS_IMMUTABLETYPE;
  else if (cls != NULL) {
    Py_CLEAR(cls);
    PyErr_Format(PyExc_TypeError,
                 "cannot watch modules of class '%s': its metaclass or "
                 "__init_subclass__ made another class than its subclass",
                 base->tp_name);
  }
  Py_XDECREF(name);
  Py_XDECREF(ns);
  return cls;
}

/* A new reference to what ref names, or NULL (no exception) if it died. */
static PyObject *
referent(PyObject *ref)
{
#if PY_VERSION_HEX >= 0x030D0000
  PyObject *obj = NULL;
  if (PyWeakref_GetRef(ref, &obj) < 0)
    PyErr_Clear();
  return obj;
#else
  PyObject *obj = PyWeakref_GetObject(ref);
  return obj == NULL || obj == Py_None ? (PyErr_Clear(), NULL)
                                       : Py_NewRef(obj);
#endif
}

/* Drops the entries whose watched class died: they are made rarely, and
 * each class made is a chance to sweep. */
static int
sweep_dead(PyObject *classes)
{
  PyObject *key, *ref, *dead = PyList_New(0);
  Py_ssize_t pos = 0;
  int rc = dead ? 0 : -1;
  while (rc == 0 && PyDict_Next(classes, &pos, &key, &ref)) {
    PyObject *cls = PyWeakref_Check(ref) ? referent(ref) : NULL;
    if (cls == NULL)
      rc = PyList_Append(dead, key);
    Py_XDECREF(cls);
  }
  for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(dead); i++)
    rc = PyDict_DelItem(classes, PyList_GET_ITEM(dead, i));
  Py_XDECREF(dead);
  return rc;
}

/* This interpreter's watched class for base (new reference), made once
 * for as long as it lives: the cache maps id(base), never compared with
 * a metaclass's __eq__, to a weak reference, so that the classes die with
 * their last module.  An entry is checked, since ids are reused and a
 * program can reach the cache (gc). */
static PyObject *
watched_class(PyTypeObject *base)
{
  PyObject *classes = interp_dict_item(WATCHED_KEY, 1);
  if (classes == NULL)
    return NULL; /* interp_dict_item() refuses a non-dict too */
  PyObject *key = PyLong_FromVoidPtr(base);
  PyObject *ref = key ? PyDict_GetItemWithError(classes, key) : NULL;
  PyObject *cls = ref && PyWeakref_Check(ref) ? referent(ref) : NULL;
  if (cls != NULL && !is_watched_class_of(cls, base))
    Py_CLEAR(cls);
  if (cls == NULL && !PyErr_Occurred() && key != NULL) {
    cls = new_watched_class(base);
    ref = cls ? PyWeakref_NewRef(cls, NULL) : NULL;
    if (ref == NULL || sweep_dead(classes) < 0
        || PyDict_SetItem(classes, key, ref) < 0)
      Py_CLEAR(cls);
    Py_XDECREF(ref);
  }
  Py_XDECREF(key);
  return cls;
}

/* object.__dict__['__class__'].__set__(obj, cls): past any __setattr__ or
 * __class__ property of obj's class. */
static int
set_class(PyObject *obj, PyObject *cls)
{
  PyObject *object_dict = PyType_GetDict(&PyBaseObject_Type);
  PyObject *descr = object_dict ? PyDict_GetItemString(object_dict,
                                                       "__class__")
                                : NULL;
  int rc = descr != NULL && Py_TYPE(descr)->tp_descr_set != NULL
               ? Py_TYPE(descr)->tp_descr_set(descr, obj, cls)
               : -1;
  if (rc < 0 && !PyErr_Occurred())
    PyErr_SetString(PyExc_RuntimeError, "object has no __class__ setter");
  Py_XDECREF(object_dict);
  return rc;
}

/* _watch_module(module): moves the module to its class's watched class;
 * returns the class it had, or None if it was watched already. */
static PyObject *
f_watch_module(PyObject *self, PyObject *module)
{
  (void)self;
  if (!PyModule_Check(module)) {
    PyErr_Format(PyExc_TypeError, "a module is required, not %.100s",
                 Py_TYPE(module)->tp_name);
    return NULL;
  }
  if (watched_class_of(module) != NULL) {
    /* A program's subclass of the watched class may define its own. */
    if (resolves_to(Py_TYPE(module), "__setattr__", &watched_setattr_def)
        && resolves_to(Py_TYPE(module), "__delattr__", &watched_delattr_def))
      Py_RETURN_NONE;
    PyErr_Format(PyExc_TypeError,
                 "cannot watch modules of class '%s': it overrides the "
                 "__setattr__ or __delattr__ of pywatch's class",
                 Py_TYPE(module)->tp_name);
    return NULL;
  }
  PyObject *was = Py_NewRef((PyObject *)Py_TYPE(module));
  PyObject *cls = watched_class(Py_TYPE(module));
  int rc = cls ? set_class(module, cls) : -1;
  Py_XDECREF(cls);
  if (rc < 0)
    Py_CLEAR(was);
  return was;
}

/* _unwatch_module(module, cls): moves a watched module back to cls. */
static PyObject *
f_unwatch_module(PyObject *self, PyObject *const *args, Py_ssize_t n)
{
  (void)self;
  if (n != 2 || !PyModule_Check(args[0]) || !PyType_Check(args[1])) {
    PyErr_SetString(PyExc_TypeError, "_unwatch_module(module, cls)");
    return NULL;
  }
  if (watched_class_of(args[0]) != NULL && set_class(args[0], args[1]) < 0)
    return NULL;
  Py_RETURN_NONE;
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
f_tracked_classes(PyObject *self, PyObject *unused)
{
  (void)self, (void)unused;
  return Py_XNewRef(interp_dict_item(TRACKED_CLASSES_KEY, 1));
}

static PyObject *
f_counts(PyObject *self, PyObject *unused)
{
  (void)self, (void)unused;
  return Py_XNewRef(interp_dict_item(COUNTS_KEY, 1));
}

/* Writes a heap class's attribute through type's own slot, past its
 * Py_TPFLAGS_IMMUTABLETYPE, which is lifted for that call alone (a static
 * type, which every interpreter shares, is never written: setattr refuses
 * for it).  The old value is kept until the flag is back, so that its
 * __del__ cannot run in between; a metaclass's __setattr__ is not called. */
static int
raw_type_setattr(PyTypeObject *type, PyObject *name, PyObject *value)
{
  PyObject *dict = PyType_GetDict(type);
  if (dict == NULL)
    return -1;
  PyObject *old = PyDict_GetItemWithError(dict, name);
  Py_XINCREF(old);
  Py_DECREF(dict);
  if (old == NULL && PyErr_Occurred())
    return -1;
  unsigned long was = type->tp_flags & Py_TPFLAGS_IMMUTABLETYPE;
  type->tp_flags &= ~Py_TPFLAGS_IMMUTABLETYPE;
  int rc = PyType_Type.tp_setattro((PyObject *)type, name, value);
  type->tp_flags |= was;
  Py_XDECREF(old);
  return rc;
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
    /* ModuleType's own write, whatever the module's class: as patch()
     * writes an unfrozen module, not through a subclass's __setattr__. */
    rc = PyModule_Type.tp_setattro(obj, args[1], value);
  else if (PyType_Check(obj)
           && (((PyTypeObject *)obj)->tp_flags & Py_TPFLAGS_HEAPTYPE))
    rc = raw_type_setattr((PyTypeObject *)obj, args[1], value);
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
     "This interpreter's {id(frozen module or class): tracker}."},
    {"_tracked_classes", f_tracked_classes, METH_NOARGS,
     "This interpreter's {id(tracked class): tracker}."},
    {"_freeze_counts", f_counts, METH_NOARGS,
     "This interpreter's freezing counters kept in C."},
    {"_watch_module", f_watch_module, METH_O,
     "Moves a module to its watched class; returns the class it had, or\n"
     "None if it was watched already."},
    {"_unwatch_module", (PyCFunction)(void (*)(void))f_unwatch_module,
     METH_FASTCALL, "Moves a watched module back to the class given."},
    {"_raw_setattr", (PyCFunction)(void (*)(void))f_raw_setattr,
     METH_FASTCALL,
     "Sets (or, without value, deletes): a module's past its watched class,\n"
     "a class's through type's slot (past its immutability)."},
    {"_set_immutable", (PyCFunction)(void (*)(void))f_set_immutable,
     METH_FASTCALL,
     "Sets or clears Py_TPFLAGS_IMMUTABLETYPE on a heap class; returns the "
     "old state."},
    {"_is_immutable", f_is_immutable, METH_O, "Py_TPFLAGS_IMMUTABLETYPE set."},
    {"_is_heap_type", f_is_heap_type, METH_O, "A class created at run time."},
    {"_type_dict", f_type_dict, METH_O, "The class's real __dict__."},
    {"_call_then", (PyCFunction)(void (*)(void))f_call_then, METH_FASTCALL,
     "A callable running func, then after(result), adding no frame."},
    {NULL, NULL, 0, NULL}};

int
pywatch_freeze_init(PyObject *module)
{
  if (add_class_swap_hook() < 0
      || PyModule_AddFunctions(module, freeze_functions) < 0)
    return -1;
  return 0;
}
