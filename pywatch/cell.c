/* Cell: libwatch's value cell, from Python.
 *
 * Python code gains no speed from a cell; the type is here so that Python
 * programs, tests and the differential fuzzer see exactly what an optimizer
 * in C sees: peek() is watch_cell_value(), get() is watch_cell_get(). */
#include "pywatch.h"

typedef struct {
  PyObject_HEAD
  watch_cell_t *cell; /* NULL once closed */
  PyObject *owned;    /* borrowed: the object an attribute cell holds */
  PyObject *name;
} CellObject;

/* The one reference to obj that the libwatch cell holds is this object's
 * to report: a class that keeps its own cell makes a cycle. */
static int
cell_traverse(CellObject *self, visitproc visit, void *arg)
{
  Py_VISIT(Py_TYPE(self));
  if (self->cell != NULL)
    Py_VISIT(self->owned);
  return 0;
}

/* Forgotten first: freeing the cell drops its namespace, which may run
 * Python code that must not find this object's cell. */
static void
cell_close_handle(CellObject *self)
{
  watch_cell_t *cell = self->cell;
  self->cell = NULL;
  self->owned = NULL;
  watch_cell_free(cell);
}

static int
cell_clear(CellObject *self)
{
  cell_close_handle(self);
  return 0;
}

static void
cell_dealloc(CellObject *self)
{
  PyTypeObject *type = Py_TYPE(self);
  PyObject_GC_UnTrack(self);
  cell_close_handle(self);
  Py_CLEAR(self->name);
  type->tp_free(self);
  Py_DECREF(type);
}

static PyObject *
cell_repr(CellObject *self)
{
  return PyUnicode_FromFormat("<pywatch.Cell %R%s at %p>", self->name,
                              self->cell == NULL ? " closed" : "",
                              (void *)self);
}

static watch_cell_t *
open_cell(CellObject *self)
{
  if (self->cell == NULL)
    PyErr_SetString(PyExc_ValueError, "the cell is closed");
  return self->cell;
}

/* A libwatch error of a cell as a Python exception; returns NULL.  From a
 * cell's own reads, WATCH_EUNSTABLE is about the class; from depend(),
 * about the name, as for any dependent. */
static PyObject *
raise_cell_error(int rc, PyObject *name, int reading)
{
  if (rc == WATCH_EPYTHON)
    return NULL;
  if (rc == WATCH_ENOMEM)
    return PyErr_NoMemory();
  if (rc == WATCH_EUNSTABLE && reading)
    return PyErr_Format(PyExc_ValueError,
                        "cannot watch %R: libwatch cannot watch that class "
                        "(its metaclass computes its own MRO, or it ran out "
                        "of version tags)", name);
  if (rc == WATCH_EINVAL || rc == WATCH_EUNSTABLE || rc == WATCH_EUNWATCHABLE)
    return PyErr_Format(PyExc_ValueError, "cannot watch %R: %s", name,
                        watch_strerror(rc));
  if (rc == WATCH_EINVALIDATED)
    return PyErr_Format(PyExc_ValueError, "the dependent is no longer valid");
  if (rc == WATCH_ESTALE)
    return PyErr_Format(PyExc_ValueError,
                        "the cell of %R is dead: its namespace is gone, or "
                        "pywatch finalized", name);
  return pywatch_libwatch_error(rc);
}

/* The read ran Python code (a key's __eq__, a __del__) that closed the
 * cell: whatever libwatch said then is about a freed cell. */
static PyObject *
closed_meanwhile(void)
{
  PyErr_SetString(PyExc_ValueError, "the cell was closed during the read");
  return NULL;
}

static PyObject *
cell_peek(CellObject *self, PyObject *args)
{
  PyObject *dflt = Py_None;
  if (!PyArg_UnpackTuple(args, "peek", 0, 1, &dflt))
    return NULL;
  watch_cell_t *cell = open_cell(self);
  if (cell == NULL)
    return NULL;
  PyObject *value = watch_cell_value(cell);
  return Py_NewRef(value != NULL ? value : dflt);
}

static PyObject *
cell_get(CellObject *self, PyObject *args)
{
  PyObject *dflt = Py_None;
  if (!PyArg_UnpackTuple(args, "get", 0, 1, &dflt))
    return NULL;
  watch_cell_t *cell = open_cell(self);
  if (cell == NULL)
    return NULL;
  PyObject *value;
  int rc = watch_cell_get(cell, &value);
  if (self->cell != cell)
    return closed_meanwhile();
  if (rc < 0)
    return raise_cell_error(rc, self->name, 1);
  return Py_NewRef(value != NULL ? value : dflt);
}

static PyObject *
cell_depend(CellObject *self, PyObject *dependent)
{
  watch_cell_t *cell = open_cell(self);
  if (cell == NULL)
    return NULL;
  watch_dep_t *dep = pywatch_dependent_handle(
      PyType_GetModule(Py_TYPE(self)), dependent);
  if (dep == NULL)
    return NULL;
  int rc = watch_cell_dep(cell, dep);
  if (self->cell != cell)
    return closed_meanwhile();
  if (rc < 0)
    return raise_cell_error(rc, self->name, 0);
  Py_RETURN_NONE;
}

static PyObject *
cell_close(CellObject *self, PyObject *unused)
{
  (void)unused;
  cell_close_handle(self);
  Py_RETURN_NONE;
}

static PyMethodDef cell_methods[] = {
    {"peek", (PyCFunction)cell_peek, METH_VARARGS,
     "peek(default=None)\n--\n\n"
     "What the cell holds, with no lookup (watch_cell_value()): the value\n"
     "the namespace holds now, or default when the cell does not know it\n"
     "(the name is absent, or a state the cell cannot forward)."},
    {"get", (PyCFunction)cell_get, METH_VARARGS,
     "get(default=None)\n--\n\n"
     "Reads the namespace again if the cell is not sure of it\n"
     "(watch_cell_get()), then returns peek(default).  ValueError once\n"
     "the namespace is gone."},
    {"depend", (PyCFunction)cell_depend, METH_O,
     "depend(dependent)\n--\n\n"
     "The Dependent depends on what the cell reads, as it reads it now."},
    {"close", (PyCFunction)cell_close, METH_NOARGS,
     "close()\n--\n\n"
     "Frees the cell now rather than when it is collected.  Idempotent."},
    {NULL},
};

static PyType_Slot cell_slots[] = {
    {Py_tp_doc,
     "A value cell: what a read of one name gives now, kept up to date by\n"
     "the writes themselves.  Made by global_cell() and attr_cell()."},
    {Py_tp_dealloc, cell_dealloc},
    {Py_tp_traverse, cell_traverse},
    {Py_tp_clear, cell_clear},
    {Py_tp_repr, cell_repr},
    {Py_tp_methods, cell_methods},
    {0, NULL},
};

static PyType_Spec cell_spec = {
    .name = "pywatch.Cell",
    .basicsize = sizeof(CellObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = cell_slots,
};

/* A Cell of module's, around a cell that make() creates; owned is the
 * object the cell keeps alive (NULL for a global cell). */
static PyObject *
new_cell(PyObject *module, PyObject *name, PyObject *owned, int rc,
         watch_cell_t *cell)
{
  if (rc < 0)
    return raise_cell_error(rc, name, 1);
  CellObject *self = PyObject_GC_New(CellObject,
                                     pywatch_get_state(module)->cell_type);
  if (self == NULL) {
    watch_cell_free(cell);
    return NULL;
  }
  self->cell = cell;
  self->owned = owned;
  self->name = Py_NewRef(name);
  PyObject_GC_Track(self);
  return (PyObject *)self;
}

static PyObject *
pywatch_global_cell(PyObject *module, PyObject *args)
{
  PyObject *globals, *builtins, *name;
  if (!PyArg_UnpackTuple(args, "global_cell", 3, 3, &globals, &builtins,
                         &name))
    return NULL;
  if (!PyDict_CheckExact(globals) || !PyDict_CheckExact(builtins))
    return PyErr_Format(PyExc_TypeError,
                        "global_cell() takes two dicts, not '%.200s' and "
                        "'%.200s'", Py_TYPE(globals)->tp_name,
                        Py_TYPE(builtins)->tp_name);
  if (!PyUnicode_CheckExact(name))
    return PyErr_Format(PyExc_TypeError,
                        "global_cell() name must be a str, not '%.200s'",
                        Py_TYPE(name)->tp_name);
  watch_cell_t *cell = NULL;
  int rc = watch_cell_new_global(&cell, globals, builtins, name);
  return new_cell(module, name, NULL, rc, cell);
}

static PyObject *
pywatch_attr_cell(PyObject *module, PyObject *args)
{
  PyObject *obj, *name;
  if (!PyArg_UnpackTuple(args, "attr_cell", 2, 2, &obj, &name))
    return NULL;
  if (!PyModule_Check(obj) && !PyType_Check(obj))
    return PyErr_Format(PyExc_TypeError,
                        "attr_cell() takes a module or a class, not '%.200s'",
                        Py_TYPE(obj)->tp_name);
  if (!PyUnicode_CheckExact(name))
    return PyErr_Format(PyExc_TypeError,
                        "attr_cell() name must be a str, not '%.200s'",
                        Py_TYPE(name)->tp_name);
  watch_cell_t *cell = NULL;
  int rc = watch_cell_new_attr(&cell, obj, name);
  return new_cell(module, name, obj, rc, cell);
}

static PyMethodDef cell_functions[] = {
    {"global_cell", pywatch_global_cell, METH_VARARGS,
     "global_cell(globals, builtins, name)\n--\n\n"
     "A Cell on LOAD_GLOBAL of name, as a function with these\n"
     "__globals__ and __builtins__ reads it."},
    {"attr_cell", pywatch_attr_cell, METH_VARARGS,
     "attr_cell(namespace, name)\n--\n\n"
     "A Cell on name in namespace, a module or a class.  For a module,\n"
     "module.name; for a class, what its instances find before binding:\n"
     "the first entry along its MRO, unbound (not C.name, which the\n"
     "metaclass may answer)."},
    {NULL},
};

int
pywatch_cell_init(PyObject *module)
{
  PyObject *type = PyType_FromModuleAndSpec(module, &cell_spec, NULL);
  if (type == NULL || PyModule_AddType(module, (PyTypeObject *)type) < 0) {
    Py_XDECREF(type);
    return -1;
  }
  pywatch_get_state(module)->cell_type = (PyTypeObject *)type;
  return PyModule_AddFunctions(module, cell_functions);
}
