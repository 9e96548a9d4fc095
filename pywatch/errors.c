/* The errors that every part of pywatch raises: the interpreter's own
 * exception types, a libwatch error code as RuntimeError, and the
 * TypeError of an argument that is not a function.  The bottom
 * of pywatch's layers (mk/layers.txt): it calls no other file. */
#include "pywatch.h"

/* The exception types live in the interpreter's dict, under these keys, so
 * that C code with no module at hand (a Dependent's method, the setattr
 * hook) raises this interpreter's. */
static const char *const exception_keys[] = {
    [PYWATCH_STALE_ERROR] = "pywatch.StaleError",
    [PYWATCH_FROZEN_ERROR] = "pywatch.FrozenError",
    [PYWATCH_FROZEN_WARNING] = "pywatch.FrozenWarning",
};

PyObject *
pywatch_exception(enum pywatch_exception which)
{
  PyObject *idict = PyInterpreterState_GetDict(PyInterpreterState_Get());
  PyObject *exc = idict ? PyDict_GetItemString(idict, exception_keys[which])
                        : NULL;
  /* Only reachable once the module ran in this interpreter. */
  return exc ? exc : PyExc_RuntimeError;
}

static int
add_exception(PyObject *module, enum pywatch_exception which,
              const char *name, PyObject *base, const char *doc)
{
  char qualified[64];
  snprintf(qualified, sizeof qualified, "pywatch.%s", name);
  PyObject *idict = PyInterpreterState_GetDict(PyInterpreterState_Get());
  if (idict == NULL) {
    PyErr_SetString(PyExc_ImportError, "pywatch: no interpreter dict");
    return -1;
  }
  /* A second import in the same interpreter shares the first's. */
  PyObject *exc = PyDict_GetItemString(idict, exception_keys[which]);
  if (exc != NULL)
    return PyModule_AddObjectRef(module, name, exc);
  exc = PyErr_NewExceptionWithDoc(qualified, doc, base, NULL);
  int rc = exc == NULL ? -1
           : PyDict_SetItemString(idict, exception_keys[which], exc) < 0
               ? -1
               : PyModule_AddObjectRef(module, name, exc);
  Py_XDECREF(exc);
  return rc;
}

int
pywatch_errors_init(PyObject *module)
{
  if (add_exception(module, PYWATCH_STALE_ERROR, "StaleError",
                    PyExc_ValueError,
                    "The namespace no longer holds the assumed value.") < 0
      || add_exception(module, PYWATCH_FROZEN_ERROR, "FrozenError",
                       PyExc_AttributeError,
                       "A write to a frozen module was blocked.") < 0
      || add_exception(module, PYWATCH_FROZEN_WARNING, "FrozenWarning",
                       PyExc_RuntimeWarning,
                       "A write to a frozen namespace could not be blocked.")
             < 0)
    return -1;
  return 0;
}

PyObject *
pywatch_libwatch_error(int rc)
{
  return PyErr_Format(PyExc_RuntimeError, "pywatch: %s", watch_strerror(rc));
}

int
pywatch_check_function(PyObject *func, const char *caller)
{
  if (PyFunction_Check(func))
    return 0;
  PyErr_Format(PyExc_TypeError, "%s() takes a function, not '%.200s'", caller,
               Py_TYPE(func)->tp_name);
  return -1;
}
