/* Dependent and Event, and the functions over them: watch(), dict_version(),
 * flush() and counters().
 *
 * A Dependent owns one watch_dep_t whose data is the Dependent itself,
 * borrowed: the watch_dep_t is released before the object goes away, so
 * libwatch never calls back into freed memory. */
#include "pywatch.h"

#include <stddef.h> /* offsetof */

/* ---- describing namespaces in messages ----------------------------------- */

/* A module's globals by the module's name, any other dict by its address
 * (its repr may be huge), a module or a class by its name, anything else by
 * its type and address.  No repr: a module's repr runs its __getattr__, a
 * class's its metaclass's __repr__, and an error message must not run
 * Python code that can fail in its turn. */
static PyObject *
describe(PyObject *ns)
{
  if (PyModule_Check(ns)) {
    PyObject *name = PyDict_GetItemString(PyModule_GetDict(ns), "__name__");
    if (name != NULL && PyUnicode_Check(name))
      return PyUnicode_FromFormat("module %R", name);
  } else if (PyType_Check(ns)) {
    PyObject *qualname = PyType_GetQualName((PyTypeObject *)ns);
    if (qualname == NULL)
      return NULL;
    PyObject *text = PyUnicode_FromFormat("class %U", qualname);
    Py_DECREF(qualname);
    return text;
  } else if (PyDict_Check(ns)) {
    PyObject *name = PyDict_GetItemString(ns, "__name__");
    if (name != NULL && PyUnicode_Check(name))
      return PyUnicode_FromFormat("the globals of module %R", name);
    return PyUnicode_FromFormat("<dict at %p>", (void *)ns);
  }
  return PyUnicode_FromFormat("<%s object at %p>", Py_TYPE(ns)->tp_name,
                              (void *)ns);
}

/* Turns a libwatch error from a registration on ns (and name, if not NULL)
 * into a Python exception; returns -1, or 0 for rc == 0. */
static int
raise_for(int rc, PyObject *ns, PyObject *name)
{
  if (rc >= 0)
    return 0;
  if (rc == WATCH_EPYTHON)
    return -1;
  if (rc == WATCH_ENOMEM) {
    PyErr_NoMemory();
    return -1;
  }
  if (rc == WATCH_ENOINIT || rc == WATCH_EBUSY) {
    PyErr_SetString(PyExc_RuntimeError, watch_strerror(rc));
    return -1;
  }
  PyObject *where = describe(ns);
  if (where == NULL)
    return -1;
  if (rc == WATCH_ESTALE)
    PyErr_Format(pywatch_exception(PYWATCH_STALE_ERROR), "%R in %U is not the assumed value",
                 name, where);
  else if (name != NULL)
    PyErr_Format(PyExc_ValueError, "cannot depend on %R in %U: %s", name,
                 where, watch_strerror(rc));
  else
    PyErr_Format(PyExc_ValueError, "cannot depend on %U: %s", where,
                 watch_strerror(rc));
  Py_DECREF(where);
  return -1;
}

/* The dict that holds a namespace's own names, as a new reference: a dict
 * itself, a module's __dict__, a class's own __dict__ (not its bases'). */
static PyObject *
own_dict(PyObject *ns, const char *caller)
{
  if (pywatch_dict_check(ns))
    return Py_NewRef(ns);
  if (PyModule_Check(ns))
    return Py_NewRef(PyModule_GetDict(ns));
  if (PyType_Check(ns))
    return PyType_GetDict((PyTypeObject *)ns);
  PyErr_Format(PyExc_TypeError,
               "%s() takes a module, a dict or a class, not '%.200s'", caller,
               Py_TYPE(ns)->tp_name);
  return NULL;
}

/* ---- Event --------------------------------------------------------------- */

typedef struct {
  PyObject_HEAD
  PyObject *ns;       /* None for events without a namespace */
  PyObject *name;     /* None for whole-namespace events */
  PyObject *kind;     /* 'modified', 'manual'... */
  PyObject *filename; /* None unless the dependent asked, with locate() */
  int lineno;
} EventObject;

/* Copies the borrowed pointers of a libwatch event into an object of type
 * (the module's Event) that may outlive the callback.  GC-tracked: a
 * callback that keeps the event in the namespace it names makes a cycle. */
static PyObject *
event_new(PyTypeObject *type, const watch_event_t *event)
{
  PyObject *kind = PyUnicode_InternFromString(watch_event_name(event->kind));
  if (kind == NULL)
    return NULL;
  EventObject *self = PyObject_GC_New(EventObject, type);
  if (self == NULL) {
    Py_DECREF(kind);
    return NULL;
  }
  self->ns = Py_NewRef(event->ns ? event->ns : Py_None);
  self->name = Py_NewRef(event->key ? event->key : Py_None);
  self->kind = kind;
  self->filename = Py_NewRef(event->filename ? event->filename : Py_None);
  self->lineno = event->lineno;
  PyObject_GC_Track(self);
  return (PyObject *)self;
}

/* An instance of a heap type holds its type (since 3.9). */
static int
event_traverse(EventObject *self, visitproc visit, void *arg)
{
  Py_VISIT(Py_TYPE(self));
  Py_VISIT(self->ns);
  Py_VISIT(self->name);
  Py_VISIT(self->filename);
  return 0;
}

static int
event_clear(EventObject *self)
{
  Py_CLEAR(self->ns);
  Py_CLEAR(self->name);
  Py_CLEAR(self->filename);
  return 0;
}

static void
event_dealloc(EventObject *self)
{
  PyTypeObject *type = Py_TYPE(self);
  PyObject_GC_UnTrack(self);
  event_clear(self);
  Py_XDECREF(self->kind);
  type->tp_free(self);
  Py_DECREF(type);
}

/* <pywatch.Event modified 'x' in the globals of module 'm' at f.py:3> */
static PyObject *
event_repr(EventObject *self)
{
  PyObject *text = PyUnicode_FromFormat("<pywatch.Event %U", self->kind);
  if (text != NULL && self->name != NULL && self->name != Py_None)
    PyUnicode_AppendAndDel(&text, PyUnicode_FromFormat(" %R", self->name));
  if (text != NULL && self->ns != NULL && self->ns != Py_None) {
    PyObject *where = describe(self->ns);
    PyUnicode_AppendAndDel(&text, where ? PyUnicode_FromFormat(" in %U", where)
                                        : NULL);
    Py_XDECREF(where);
  }
  if (text != NULL && self->filename != NULL && self->filename != Py_None)
    PyUnicode_AppendAndDel(&text, PyUnicode_FromFormat(" at %S:%d",
                                                       self->filename,
                                                       self->lineno));
  if (text != NULL)
    PyUnicode_AppendAndDel(&text, PyUnicode_FromString(">"));
  return text;
}

/* The list of kinds, from the map that defines them. */
#define XX(kind, value, name, meaning) "\n  '" name "': " meaning
#define EVENT_KIND_DOCS WATCH_EVENT_MAP(XX)

static PyMemberDef event_members[] = {
    {"namespace", Py_T_OBJECT_EX, offsetof(EventObject, ns), Py_READONLY,
     "The dict, class or function that changed, or None (manual, finalized "
     "and deallocated events).  A module attribute's namespace is the "
     "module's __dict__."},
    {"name", Py_T_OBJECT_EX, offsetof(EventObject, name), Py_READONLY,
     "The key or attribute name that changed, or None for a change to the "
     "whole namespace."},
    {"kind", Py_T_OBJECT_EX, offsetof(EventObject, kind), Py_READONLY,
     "Why the dependent was invalidated, one of:" EVENT_KIND_DOCS},
    {"filename", Py_T_OBJECT_EX, offsetof(EventObject, filename), Py_READONLY,
     "The file of the Python code that made the change, if the dependent "
     "asked with locate(); None otherwise."},
    {"lineno", Py_T_INT, offsetof(EventObject, lineno), Py_READONLY,
     "The line of that code, or 0."},
    {NULL},
};
#undef EVENT_KIND_DOCS
#undef XX

static PyType_Slot event_slots[] = {
    {Py_tp_doc, "Why a Dependent was invalidated; passed to its callback."},
    {Py_tp_dealloc, event_dealloc},
    {Py_tp_traverse, event_traverse},
    {Py_tp_clear, event_clear},
    {Py_tp_repr, event_repr},
    {Py_tp_members, event_members},
    {0, NULL},
};

/* Immutable, as a static type is. */
static PyType_Spec event_spec = {
    .name = "pywatch.Event",
    .basicsize = sizeof(EventObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = event_slots,
};

/* ---- Dependent ----------------------------------------------------------- */

typedef struct {
  PyObject_HEAD
  watch_dep_t *dep;   /* NULL once released */
  PyObject *callback; /* NULL for none */
  PyTypeObject *event_type; /* its module's Event, for the callback */
  int kept;           /* watch() holds a reference to it: see keep() */
} DependentObject;

/* watch()'s Dependent keeps itself alive, as weakref.finalize does, so that
 * dropping watch()'s result still leaves its callback to come: the
 * reference is dropped once the callback has run, or at release(). */
static void
keep(DependentObject *self)
{
  self->kept = 1;
  Py_INCREF(self);
}

static void
unkeep(DependentObject *self)
{
  if (self->kept) {
    self->kept = 0;
    Py_DECREF(self);
  }
}

/* Phase two: calls callback(dependent, event).  An exception is left set
 * for libwatch, which reports it to sys.unraisablehook. */
static int
dependent_called(watch_dep_t *dep, const watch_event_t *event)
{
  DependentObject *self = watch_dep_data(dep);
  if (self->callback == NULL)  /* cleared by the GC */
    return 0;
  /* The callback may drop the last outside references to either. */
  Py_INCREF(self);
  PyObject *callback = Py_NewRef(self->callback);
  PyObject *ev = event_new(self->event_type, event);
  PyObject *result =
      ev ? PyObject_CallFunctionObjArgs(callback, self, ev, NULL) : NULL;
  Py_XDECREF(result);
  Py_XDECREF(ev);
  Py_DECREF(callback);
  unkeep(self);
  Py_DECREF(self);
  return result ? 0 : -1;
}

static PyObject *dependent_new(PyTypeObject *type, PyObject *args,
                               PyObject *kwds);

/* The state of the pywatch module that made type, or the base of it that a
 * Python subclass of Dependent has: the first class of the MRO that was
 * made for a module (a Python class is made for none) and makes its
 * instances here.  Found without the module's definition, which module.c
 * holds, at the top of pywatch's layers (mk/layers.txt). */
static pywatch_state *
type_state(PyTypeObject *type)
{
  PyObject *mro = type->tp_mro;
  for (Py_ssize_t i = 0; mro != NULL && i < PyTuple_GET_SIZE(mro); i++) {
    PyTypeObject *t = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
    if (t->tp_new == dependent_new && PyType_HasFeature(t, Py_TPFLAGS_HEAPTYPE)
        && ((PyHeapTypeObject *)t)->ht_module != NULL)
      return PyModule_GetState(((PyHeapTypeObject *)t)->ht_module);
  }
  PyErr_Format(PyExc_TypeError, "'%.200s' is not a pywatch.Dependent type",
               type->tp_name);
  return NULL;
}

static PyObject *
dependent_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
  static char *kwlist[] = {"callback", NULL};
  PyObject *callback = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:Dependent", kwlist,
                                   &callback))
    return NULL;
  if (callback != Py_None && !PyCallable_Check(callback))
    return PyErr_Format(PyExc_TypeError,
                        "callback must be callable or None, not '%.200s'",
                        Py_TYPE(callback)->tp_name);
  /* type is the module's Dependent or a subclass of it. */
  pywatch_state *state = type_state(type);
  if (state == NULL)
    return NULL;
  DependentObject *self = (DependentObject *)type->tp_alloc(type, 0);
  if (self == NULL)
    return NULL;
  /* Held by each: callbacks may come after the module's state is cleared
   * (interpreter teardown). */
  self->event_type = (PyTypeObject *)Py_NewRef(state->event_type);
  /* Without a callback libwatch has nothing to call, and flush() does not
   * count it. */
  int has_callback = callback != Py_None;
  int rc = watch_dep_new(&self->dep, has_callback ? dependent_called : NULL,
                         self);
  if (rc < 0) {
    Py_DECREF(self);
    return pywatch_libwatch_error(rc);
  }
  self->callback = has_callback ? Py_NewRef(callback) : NULL;
  return (PyObject *)self;
}

/* The instance holds its type, as a heap type's instances do.  So do a
 * Python subclass's, whose type CPython leaves to this base to visit and
 * to drop (dependent_dealloc). */
static int
dependent_traverse(DependentObject *self, visitproc visit, void *arg)
{
  Py_VISIT(Py_TYPE(self));
  Py_VISIT(self->callback);
  Py_VISIT(self->event_type);
  return 0;
}

/* Without its callback, dependent_called() needs no Event type either. */
static int
dependent_clear(DependentObject *self)
{
  Py_CLEAR(self->callback);
  Py_CLEAR(self->event_type);
  return 0;
}

/* A dependent that is garbage-collected releases its dependencies. */
static void
dependent_dealloc(DependentObject *self)
{
  PyTypeObject *type = Py_TYPE(self); /* the instance's reference */
  PyObject_GC_UnTrack(self);
  /* Forgotten first: what the release drops can run Python code, which
   * must not find this dying object's handle. */
  watch_dep_t *dep = self->dep;
  self->dep = NULL;
  watch_dep_release(dep);
  dependent_clear(self);
  type->tp_free(self);
  Py_DECREF(type);
}

static PyObject *
dependent_repr(DependentObject *self)
{
  const char *state = self->dep == NULL              ? "released"
                      : watch_dep_valid(self->dep) ? "valid"
                                                   : "invalid";
  return PyUnicode_FromFormat("<pywatch.Dependent %s at %p>", state,
                              (void *)self);
}

/* Registrations need a dependent that can still be invalidated. */
static int
check_valid(DependentObject *self)
{
  if (self->dep == NULL)
    PyErr_SetString(PyExc_ValueError, "the dependent is released");
  else if (!watch_dep_valid(self->dep))
    PyErr_SetString(PyExc_ValueError, "the dependent is no longer valid");
  else
    return 0;
  return -1;
}

/* ns.name of a module or class.  value NULL reads the current one. */
static int
depend_on_attr(DependentObject *self, PyObject *ns, PyObject *name,
               PyObject *value)
{
  if (!PyUnicode_Check(name)) {
    PyErr_Format(PyExc_TypeError, "attribute name must be str, not '%.200s'",
                 Py_TYPE(name)->tp_name);
    return -1;
  }
  /* libwatch takes exact str names, like the attribute machinery. */
  PyObject *exact = PyUnicode_FromObject(name);
  if (exact == NULL)
    return -1;
  if (value == NULL) {
    int rc = watch_attr_lookup(ns, exact, &value);
    if (rc < 0) {
      Py_DECREF(exact);
      return raise_for(rc, ns, name);
    }
  }
  Py_XINCREF(value);
  int rc = watch_dep_on_attr(self->dep, ns, exact, value);
  Py_XDECREF(value);
  rc = raise_for(rc, ns, exact);
  Py_DECREF(exact);
  return rc;
}

/* dict[key].  value NULL reads the current one. */
static int
depend_on_key(DependentObject *self, PyObject *dict, PyObject *key,
              PyObject *value)
{
  if (value == NULL) {
    value = PyDict_GetItemWithError(dict, key);  /* hashes: may raise */
    if (value == NULL && PyErr_Occurred())
      return -1;
  }
  /* Held: registration may run the key's __eq__, which may drop it. */
  Py_XINCREF(value);
  int rc = watch_dep_on_key(self->dep, dict, key, value);
  Py_XDECREF(value);
  return raise_for(rc, dict, key);
}

static int
depend_on(DependentObject *self, PyObject *ns, PyObject *name,
          PyObject *value)
{
  if (!pywatch_dict_check(ns) && !PyModule_Check(ns) && !PyType_Check(ns)) {
    PyErr_Format(PyExc_TypeError,
                 "depends_on() takes a module, a dict or a class, not '%.200s'",
                 Py_TYPE(ns)->tp_name);
    return -1;
  }
  if (check_valid(self) < 0)
    return -1;
  return pywatch_dict_check(ns) ? depend_on_key(self, ns, name, value)
                          : depend_on_attr(self, ns, name, value);
}

static PyObject *
dependent_depends_on(DependentObject *self, PyObject *args, PyObject *kwds)
{
  static char *kwlist[] = {"namespace", "name", "value", NULL};
  PyObject *ns, *name, *value = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|O:depends_on", kwlist, &ns,
                                   &name, &value))
    return NULL;
  return depend_on(self, ns, name, value) < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *
dependent_depends_on_global(DependentObject *self, PyObject *args)
{
  PyObject *func, *name;
  if (!PyArg_ParseTuple(args, "OO:depends_on_global", &func, &name)
      || pywatch_check_function(func, "depends_on_global") < 0)
    return NULL;
  if (!PyUnicode_Check(name))
    return PyErr_Format(PyExc_TypeError,
                        "global name must be str, not '%.200s'",
                        Py_TYPE(name)->tp_name);
  if (check_valid(self) < 0)
    return NULL;
  /* What LOAD_GLOBAL reads: the function's globals, then the builtins it
   * captured when it was created.  Anything but exact dicts is read through
   * its own __getitem__, which a dependency cannot follow. */
  PyObject *globals = PyFunction_GET_GLOBALS(func);
  PyObject *builtins = ((PyFunctionObject *)func)->func_builtins;
  PyObject *odd = !PyDict_CheckExact(globals) ? globals
                  : !PyDict_CheckExact(builtins) ? builtins : NULL;
  if (odd != NULL)
    return PyErr_Format(PyExc_TypeError,
                        "depends_on_global(): the function's %s is a '%.200s', "
                        "not a dict: LOAD_GLOBAL calls its __getitem__, which "
                        "cannot be depended on",
                        odd == globals ? "globals" : "builtins",
                        Py_TYPE(odd)->tp_name);
  /* LOAD_GLOBAL's names are exact str: a str subclass's own __hash__ and
   * __eq__ never take part. */
  PyObject *exact = PyUnicode_FromObject(name);
  if (exact == NULL)
    return NULL;
  PyObject *value = PyDict_GetItemWithError(globals, exact);
  if (value == NULL && !PyErr_Occurred())
    value = PyDict_GetItemWithError(builtins, exact);
  if (value == NULL && PyErr_Occurred()) {
    Py_DECREF(exact);
    return NULL;
  }
  Py_XINCREF(value);
  int rc = watch_dep_on_global(self->dep, globals, builtins, exact, value);
  Py_XDECREF(value);
  rc = raise_for(rc, globals, exact);
  Py_DECREF(exact);
  return rc < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *
dependent_depends_on_function(DependentObject *self, PyObject *func)
{
  if (pywatch_check_function(func, "depends_on_function") < 0
      || check_valid(self) < 0)
    return NULL;
  int rc = watch_dep_on_function(self->dep, func);
  return raise_for(rc, func, NULL) < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *
dependent_depends_on_namespace(DependentObject *self, PyObject *ns)
{
  PyObject *dict = own_dict(ns, "depends_on_namespace");
  if (dict == NULL)
    return NULL;
  if (check_valid(self) < 0) {
    Py_DECREF(dict);
    return NULL;
  }
  int rc = watch_dep_on_namespace(self->dep, dict);
  Py_DECREF(dict);
  return raise_for(rc, ns, NULL) < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *
dependent_locate(DependentObject *self, PyObject *unused)
{
  (void)unused;
  if (self->dep == NULL) {
    PyErr_SetString(PyExc_ValueError, "the dependent is released");
    return NULL;
  }
  int rc = watch_dep_locate(self->dep);
  if (rc < 0)
    return pywatch_libwatch_error(rc);
  Py_RETURN_NONE;
}

static PyObject *
dependent_invalidate(DependentObject *self, PyObject *unused)
{
  (void)unused;
  if (self->dep == NULL)  /* nothing left to invalidate */
    Py_RETURN_NONE;
  int rc = watch_dep_invalidate(self->dep);
  if (rc < 0)
    return pywatch_libwatch_error(rc);
  Py_RETURN_NONE;
}

static PyObject *
dependent_release(DependentObject *self, PyObject *unused)
{
  (void)unused;
  /* Cleared first: releasing may drop the last reference to an event's
   * namespace, whose finalizer may come back here. */
  watch_dep_t *dep = self->dep;
  self->dep = NULL;
  watch_dep_release(dep);
  unkeep(self); /* the caller's reference keeps self alive */
  Py_RETURN_NONE;
}

static PyObject *
dependent_get_valid(DependentObject *self, void *closure)
{
  (void)closure;
  return PyBool_FromLong(self->dep != NULL && watch_dep_valid(self->dep));
}

static PyMethodDef dependent_methods[] = {
    {"depends_on", (PyCFunction)(void (*)(void))dependent_depends_on,
     METH_VARARGS | METH_KEYWORDS,
     "depends_on(namespace, name, value=<current>)\n--\n\n"
     "Assume that namespace holds value under name; returns None.\n"
     "namespace is a module (its attribute), a dict (any hashable key) or a\n"
     "class (the attribute found along its MRO).  Without value, the current\n"
     "one is assumed, or absence if there is none.  Raises StaleError if\n"
     "the namespace does not hold value now, ValueError if the dependent is\n"
     "released or invalid or the name changes too often."},
    {"depends_on_global", (PyCFunction)dependent_depends_on_global,
     METH_VARARGS,
     "depends_on_global(func, name)\n--\n\n"
     "Assume that the global name, as func's code loads it (its globals,\n"
     "then its builtins), keeps its current value; returns None.  Shadowing\n"
     "a builtin in the globals invalidates."},
    {"depends_on_function", (PyCFunction)dependent_depends_on_function, METH_O,
     "depends_on_function(func)\n--\n\n"
     "Assume that func's __code__, __defaults__ and __kwdefaults__ stay as\n"
     "they are; returns None."},
    {"depends_on_namespace", (PyCFunction)dependent_depends_on_namespace,
     METH_O,
     "depends_on_namespace(namespace)\n--\n\n"
     "Assume that nothing in the dict, module or class's own __dict__\n"
     "changes; returns None."},
    {"locate", (PyCFunction)dependent_locate, METH_NOARGS,
     "locate()\n--\n\n"
     "Have this dependent's events record the file and line of the Python\n"
     "code that made the change (Event.filename, Event.lineno)."},
    {"invalidate", (PyCFunction)dependent_invalidate, METH_NOARGS,
     "invalidate()\n--\n\n"
     "Invalidate now (kind 'manual') and deliver the callbacks queued,\n"
     "this one's included.  Does nothing if already invalid or released."},
    {"release", (PyCFunction)dependent_release, METH_NOARGS,
     "release()\n--\n\n"
     "Drop every dependency; no callback will come.  Idempotent."},
    {NULL},
};

static PyGetSetDef dependent_getset[] = {
    {"valid", (getter)dependent_get_valid, NULL,
     "False once any assumption broke, or after invalidate() or release().",
     NULL},
    {NULL},
};

static PyType_Slot dependent_slots[] = {
    {Py_tp_doc,
     "Dependent(callback=None)\n--\n\n"
     "A set of assumptions about namespaces that breaks as a whole.\n"
     "When one breaks, valid turns False before the change completes\n"
     "and callback(dependent, event) is called after it, at a safe\n"
     "point or in flush().  An exception it raises goes to\n"
     "sys.unraisablehook.  Garbage collection releases it: keep a\n"
     "reference for as long as the callback should come (watch()'s\n"
     "Dependent keeps itself alive instead)."},
    {Py_tp_new, dependent_new},
    {Py_tp_dealloc, dependent_dealloc},
    {Py_tp_traverse, dependent_traverse},
    {Py_tp_clear, dependent_clear},
    {Py_tp_repr, dependent_repr},
    {Py_tp_methods, dependent_methods},
    {Py_tp_getset, dependent_getset},
    {0, NULL},
};

static PyType_Spec dependent_spec = {
    .name = "pywatch.Dependent",
    .basicsize = sizeof(DependentObject),
    /* A base type: specialize() returns a subclass that its registry
     * forgets on release().  Immutable, as a static type is. */
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE
             | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = dependent_slots,
};

/* A Dependent of another interpreter's module is refused: its handle is
 * another libwatch state's. */
watch_dep_t *
pywatch_dependent_handle(PyObject *module, PyObject *obj)
{
  if (!PyObject_TypeCheck(obj, pywatch_get_state(module)->dependent_type)) {
    PyErr_Format(PyExc_TypeError, "expected a pywatch.Dependent, not '%.200s'",
                 Py_TYPE(obj)->tp_name);
    return NULL;
  }
  watch_dep_t *dep = ((DependentObject *)obj)->dep;
  if (dep == NULL)
    PyErr_SetString(PyExc_ValueError, "the dependent is released");
  return dep;
}

/* ---- module functions ---------------------------------------------------- */

static PyObject *
pywatch_watch(PyObject *module, PyObject *args, PyObject *kwds)
{
  static char *kwlist[] = {"namespace", "name", "callback", NULL};
  PyObject *ns, *name, *callback;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO:watch", kwlist, &ns, &name,
                                   &callback))
    return NULL;
  /* Without a callback, nothing would ever let go of the dependent. */
  if (!PyCallable_Check(callback))
    return PyErr_Format(PyExc_TypeError,
                        "watch() callback must be callable, not '%.200s'",
                        Py_TYPE(callback)->tp_name);
  PyObject *dep = PyObject_CallOneArg(
      (PyObject *)pywatch_get_state(module)->dependent_type, callback);
  if (dep == NULL)
    return NULL;
  if (depend_on((DependentObject *)dep, ns, name, NULL) < 0) {
    Py_DECREF(dep);
    return NULL;
  }
  keep((DependentObject *)dep);
  return dep;
}

static PyObject *
pywatch_dict_version(PyObject *module, PyObject *ns)
{
  (void)module;
  PyObject *dict = own_dict(ns, "dict_version");
  if (dict == NULL)
    return NULL;
  uint64_t version;
  int rc = watch_dict_version(dict, &version);
  Py_DECREF(dict);
  if (raise_for(rc, ns, NULL) < 0)
    return NULL;
  return PyLong_FromUnsignedLongLong(version);
}

static PyObject *
pywatch_flush(PyObject *module, PyObject *unused)
{
  (void)module, (void)unused;
  int called = watch_flush();
  if (called < 0)
    return pywatch_libwatch_error(called);
  return PyLong_FromLong(called);
}

static PyObject *
pywatch_counters(PyObject *module, PyObject *unused)
{
  (void)module, (void)unused;
  watch_counters_t c;
  int rc = watch_counters(&c);
  if (rc < 0)
    return pywatch_libwatch_error(rc);
  return Py_BuildValue(
      "{sKsKsKsKsKsKsKsKsKsKsKsKsKsK}", "events",
      (unsigned long long)c.events, "misses", (unsigned long long)c.misses,
      "invalidations", (unsigned long long)c.invalidations, "dependents",
      (unsigned long long)c.dependents, "edges", (unsigned long long)c.edges,
      "namespaces", (unsigned long long)c.namespaces, "keys",
      (unsigned long long)c.keys, "bytes", (unsigned long long)c.bytes,
      "callback_errors", (unsigned long long)c.callback_errors, "taps",
      (unsigned long long)c.taps, "tap_namespaces",
      (unsigned long long)c.tap_namespaces, "tap_events",
      (unsigned long long)c.tap_events, "tap_bytes",
      (unsigned long long)c.tap_bytes, "tap_callback_errors",
      (unsigned long long)c.tap_callback_errors);
}

static PyMethodDef dependent_functions[] = {
    {"watch", (PyCFunction)(void (*)(void))pywatch_watch,
     METH_VARARGS | METH_KEYWORDS,
     "watch(namespace, name, callback)\n--\n\n"
     "Dependent(callback) depending on namespace's current name; returns\n"
     "the Dependent.  Like weakref.finalize, it keeps itself alive until\n"
     "its callback has run or it is released: the result may be dropped."},
    {"dict_version", pywatch_dict_version, METH_O,
     "dict_version(namespace)\n--\n\n"
     "An int that changes on every modification of the dict, module or\n"
     "class's own __dict__, and is never reused."},
    {"flush", pywatch_flush, METH_NOARGS,
     "flush()\n--\n\n"
     "Call the callbacks queued now, here; returns how many were called."},
    {"counters", pywatch_counters, METH_NOARGS,
     "counters()\n--\n\n"
     "libwatch's counters for this interpreter, as a dict."},
    {NULL},
};

/* A new reference to a type made for module from spec, or NULL. */
static PyTypeObject *
add_type(PyObject *module, PyType_Spec *spec)
{
  PyObject *type = PyType_FromModuleAndSpec(module, spec, NULL);
  if (type == NULL || PyModule_AddType(module, (PyTypeObject *)type) < 0) {
    Py_XDECREF(type);
    return NULL;
  }
  return (PyTypeObject *)type;
}

int
pywatch_dependent_init(PyObject *module)
{
  pywatch_state *state = pywatch_get_state(module);
  if ((state->event_type = add_type(module, &event_spec)) == NULL
      || (state->dependent_type = add_type(module, &dependent_spec)) == NULL)
    return -1;
  return PyModule_AddFunctions(module, dependent_functions);
}
