/* The primitives under pywatch.specialize() (its policy is in
 * _specialize.py): installing code under a Dependent, asking what a function
 * runs, and deoptimizing it. */
#include "pywatch.h"

/* ValueError naming what keeps code from replacing func's; returns NULL. */
static PyObject *
raise_mismatch(PyObject *func, PyObject *code, const char *why)
{
  return PyErr_Format(PyExc_ValueError, "cannot specialize %R with %R: %s",
                      func, code, why);
}

static int
check_code(PyObject *code)
{
  if (PyCode_Check(code))
    return 0;
  PyErr_Format(PyExc_TypeError, "expected a code object, not '%.200s'",
               Py_TYPE(code)->tp_name);
  return -1;
}

static PyObject *
check_fit(PyObject *module, PyObject *args)
{
  (void)module;
  PyObject *func, *code;
  if (!PyArg_ParseTuple(args, "OO:_check_fit", &func, &code)
      || pywatch_check_function(func, "specialize") < 0 || check_code(code) < 0)
    return NULL;
  /* Checked apart from _specialize(), so that test mode, which installs
   * nothing, refuses what production would. */
  const char *why = watch_code_mismatch(func, code);
  if (why != NULL)
    return raise_mismatch(func, code, why);
  Py_RETURN_NONE;
}

static PyObject *
specialize(PyObject *module, PyObject *args)
{
  PyObject *dependent, *func, *code;
  if (!PyArg_ParseTuple(args, "OOO:_specialize", &dependent, &func, &code))
    return NULL;
  watch_dep_t *dep = pywatch_dependent_handle(module, dependent);
  if (dep == NULL || pywatch_check_function(func, "specialize") < 0
      || check_code(code) < 0)
    return NULL;
  int was_valid = watch_dep_valid(dep);
  int rc = watch_specialize(dep, func, code);
  switch (rc) {
  case 0:
    Py_RETURN_NONE;
  case WATCH_EINCOMPATIBLE:
    return raise_mismatch(func, code, watch_code_mismatch(func, code));
  case WATCH_EINVALIDATED:
    if (!was_valid)
      return PyErr_Format(PyExc_ValueError,
                          "cannot specialize %R: an assumption already broke",
                          func);
    return PyErr_Format(PyExc_ValueError,
                        "cannot specialize %R: installing it broke one of its "
                        "own assumptions (a specialization it depends on "
                        "depends on %R: a cycle); nothing was installed",
                        func, func);
  case WATCH_EINVAL:
    return PyErr_Format(PyExc_ValueError,
                        "the dependent already specializes a function or "
                        "depends on %R itself", func);
  case WATCH_ENOMEM:
    return PyErr_NoMemory();
  default:
    return pywatch_libwatch_error(rc);
  }
}

static PyObject *
get_specialized(PyObject *module, PyObject *func)
{
  (void)module;
  if (pywatch_check_function(func, "get_specialized") < 0)
    return NULL;
  PyObject *code;
  int rc = watch_specialized(func, &code);
  if (rc < 0)
    return pywatch_libwatch_error(rc);
  return Py_NewRef(code ? code : Py_None);
}

static PyObject *
deoptimize(PyObject *module, PyObject *func)
{
  (void)module;
  if (pywatch_check_function(func, "deoptimize") < 0)
    return NULL;
  int rc = watch_deoptimize(func);
  if (rc < 0)
    return pywatch_libwatch_error(rc);
  Py_RETURN_NONE;
}

static PyMethodDef specialize_functions[] = {
    {"_specialize", specialize, METH_VARARGS,
     "_specialize(dependent, func, code)\n--\n\n"
     "Run code as func's while dependent is valid."},
    {"_check_fit", check_fit, METH_VARARGS,
     "_check_fit(func, code)\n--\n\n"
     "Raise TypeError or ValueError if code cannot replace func's code."},
    {"get_specialized", get_specialized, METH_O,
     "get_specialized(func)\n--\n\n"
     "The code func runs under a specialization, or None."},
    {"deoptimize", deoptimize, METH_O,
     "deoptimize(func)\n--\n\n"
     "Give func its own code back now, if it is specialized; its\n"
     "Dependent turns invalid (kind 'manual')."},
    {NULL},
};

int
pywatch_specialize_init(PyObject *module)
{
  return PyModule_AddFunctions(module, specialize_functions);
}
