/* constcache: a tiny optimizer that embeds libwatch, the way a JIT would.
 *
 * constcache.constant(module, "NAME") compiles the lookup module.NAME into a
 * cached constant: a libwatch cell on module.NAME, which the writes to the
 * module keep up to date.  Its fast path is one load, watch_cell_value().
 * When the cell cannot tell (NULL: the name was just added, or is absent),
 * watch_cell_get() reads again, and NULL from it too takes the generic
 * path, PyObject_GetAttr(), which raises AttributeError (or calls the
 * module's __getattr__).
 *
 * Built from include/watch.h and `pkg-config --cflags --libs libwatch`
 * alone (see run.sh), against an installed libwatch. */
#define PY_SSIZE_T_CLEAN
#include <watch.h>

typedef struct {
  PyObject_HEAD
  PyObject *module;
  PyObject *name;
  watch_cell_t *cell;
  Py_ssize_t slow_reads;
} ConstantObject;

static PyObject *
raise_watch(int rc)
{
  if (rc == WATCH_EPYTHON)
    return NULL;
  return PyErr_Format(PyExc_RuntimeError, "libwatch: %s", watch_strerror(rc));
}

/* module.NAME, as compiled code would read it: a new reference.  The
 * cell's value is borrowed from the module, so it is taken at once. */
static inline PyObject *
constant_get(ConstantObject *self)
{
  PyObject *value = watch_cell_value(self->cell);
  if (value != NULL)
    return Py_NewRef(value);
  self->slow_reads++;
  int rc = watch_cell_get(self->cell, &value);
  /* WATCH_ESTALE, WATCH_ENOINIT: libwatch finalized in this interpreter,
   * and the cell answers no more; the module still does. */
  if (rc < 0 && rc != WATCH_ESTALE && rc != WATCH_ENOINIT)
    return raise_watch(rc);
  if (value != NULL)
    return Py_NewRef(value);
  return PyObject_GetAttr(self->module, self->name);
}

static PyObject *
constant_call(ConstantObject *self, PyObject *args, PyObject *kwds)
{
  if (PyTuple_GET_SIZE(args) != 0 || (kwds != NULL && PyDict_GET_SIZE(kwds)))
    return PyErr_Format(PyExc_TypeError, "a Constant takes no arguments");
  return constant_get(self);
}

/* read(n): n reads in a C loop, as a JIT's compiled code would do them. */
static PyObject *
constant_read(ConstantObject *self, PyObject *arg)
{
  Py_ssize_t n = PyLong_AsSsize_t(arg);
  if (n < 0)
    return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "n < 0");
  PyObject *last = Py_NewRef(Py_None);
  for (Py_ssize_t i = 0; i < n; i++) {
    Py_DECREF(last);
    last = constant_get(self);
    if (last == NULL)
      return NULL;
  }
  return last;
}

static void
constant_dealloc(ConstantObject *self)
{
  watch_cell_free(self->cell);
  Py_XDECREF(self->module);
  Py_XDECREF(self->name);
  Py_TYPE(self)->tp_free(self);
}

static PyObject *
constant_get_slow_reads(ConstantObject *self, void *closure)
{
  (void)closure;
  return PyLong_FromSsize_t(self->slow_reads);
}

static PyMethodDef constant_methods[] = {
    {"read", (PyCFunction)constant_read, METH_O,
     "read(n): read the constant n times in C; returns the last value."},
    {NULL},
};

static PyGetSetDef constant_getset[] = {
    {"slow_reads", (getter)constant_get_slow_reads, NULL,
     "How many reads the cell could not answer alone.", NULL},
    {NULL},
};

static PyTypeObject ConstantType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "constcache.Constant",
    .tp_doc = "A compiled module.NAME lookup; call it to read.",
    .tp_basicsize = sizeof(ConstantObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)constant_dealloc,
    .tp_call = (ternaryfunc)constant_call,
    .tp_methods = constant_methods,
    .tp_getset = constant_getset,
};

static PyObject *
constcache_constant(PyObject *unused, PyObject *args)
{
  (void)unused;
  PyObject *module, *name;
  if (!PyArg_ParseTuple(args, "O!U:constant", &PyModule_Type, &module, &name))
    return NULL;
  ConstantObject *self = PyObject_New(ConstantObject, &ConstantType);
  if (self == NULL)
    return NULL;
  self->module = Py_NewRef(module);
  self->name = Py_NewRef(name);
  self->slow_reads = 0;
  self->cell = NULL;
  int rc = watch_cell_new_attr(&self->cell, module, name);
  if (rc < 0) {
    Py_DECREF(self);
    return raise_watch(rc);
  }
  return (PyObject *)self;
}

/* getattr_loop(module, name, n): the baseline, n PyObject_GetAttr() calls. */
static PyObject *
constcache_getattr_loop(PyObject *unused, PyObject *args)
{
  (void)unused;
  PyObject *module, *name;
  Py_ssize_t n;
  if (!PyArg_ParseTuple(args, "OUn:getattr_loop", &module, &name, &n))
    return NULL;
  PyObject *last = Py_NewRef(Py_None);
  for (Py_ssize_t i = 0; i < n; i++) {
    Py_DECREF(last);
    last = PyObject_GetAttr(module, name);
    if (last == NULL)
      return NULL;
  }
  return last;
}

static PyMethodDef constcache_functions[] = {
    {"constant", constcache_constant, METH_VARARGS,
     "constant(module, name): compile module.name into a cached constant."},
    {"getattr_loop", constcache_getattr_loop, METH_VARARGS,
     "getattr_loop(module, name, n): n plain lookups in C, for comparison."},
    {NULL},
};

static struct PyModuleDef constcache_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "constcache",
    .m_doc = "module.NAME lookups compiled into constants, over libwatch.",
    .m_size = -1,
    .m_methods = constcache_functions,
};

PyMODINIT_FUNC
PyInit_constcache(void)
{
  int rc = watch_init();
  if (rc < 0)
    return raise_watch(rc);
  if (PyType_Ready(&ConstantType) < 0)
    return NULL;
  return PyModule_Create(&constcache_module);
}
