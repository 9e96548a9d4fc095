/* The _pywatch extension module: libwatch initialized for this interpreter,
 * and the exceptions that every part raises. */
#include "pywatch.h"

PyObject *pywatch_StaleError;
PyObject *pywatch_FrozenError;
PyObject *pywatch_FrozenWarning;

static int
add_exception(PyObject *module, PyObject **slot, const char *name,
              PyObject *base, const char *doc)
{
  char qualified[64];
  snprintf(qualified, sizeof qualified, "pywatch.%s", name);
  *slot = PyErr_NewExceptionWithDoc(qualified, doc, base, NULL);
  return *slot == NULL ? -1 : PyModule_AddObjectRef(module, name, *slot);
}

PyObject *
pywatch_libwatch_error(int rc)
{
  return PyErr_Format(PyExc_RuntimeError, "pywatch: %s", watch_strerror(rc));
}

/* libwatch's last watch_fini(), from an atexit handler (__init__.py):
 * there, FINALIZED reaches Python callbacks while the interpreter still
 * works; left to interpreter teardown, it would come after builtins and
 * module globals are cleared. */
static PyObject *
finalize(PyObject *module, PyObject *unused)
{
  (void)module, (void)unused;
  watch_fini();
  Py_RETURN_NONE;
}

static PyMethodDef module_functions[] = {
    {"_finalize", finalize, METH_NOARGS,
     "_finalize()\n--\n\n"
     "Finalize libwatch in this interpreter (atexit)."},
    {NULL},
};

static struct PyModuleDef pywatch_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pywatch._pywatch",
    .m_doc = "libwatch for Python: dependents on namespaces, and freezing.",
    .m_size = -1,
    .m_methods = module_functions,
};

PyMODINIT_FUNC
PyInit__pywatch(void)
{
  int rc = watch_init();
  if (rc < 0)
    return PyErr_Format(PyExc_ImportError, "pywatch: watch_init: %s",
                        watch_strerror(rc));
  PyObject *m = PyModule_Create(&pywatch_module);
  if (m == NULL
      || add_exception(m, &pywatch_StaleError, "StaleError", PyExc_ValueError,
                       "The namespace no longer holds the assumed value.") < 0
      || add_exception(m, &pywatch_FrozenError, "FrozenError",
                       PyExc_AttributeError,
                       "A write to a frozen module was blocked.") < 0
      || add_exception(m, &pywatch_FrozenWarning, "FrozenWarning",
                       PyExc_RuntimeWarning,
                       "A write to a frozen namespace could not be blocked.")
             < 0
      || pywatch_dependent_init(m) < 0 || pywatch_freeze_init(m) < 0
      || pywatch_specialize_init(m) < 0 || pywatch_audit_init(m) < 0) {
    Py_XDECREF(m);
    return NULL;
  }
  return m;
}
