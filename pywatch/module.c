/* The _pywatch extension module: libwatch initialized for each interpreter
 * that imports it (multi-phase init, PEP 489).  The top of pywatch's layers
 * (mk/layers.txt): its exec calls every other file's init.
 *
 * Each module object starts libwatch once in its exec and ends it once,
 * from _finalize() (an atexit handler, __init__.py) or when the module is
 * freed, whichever comes first.  Its types are heap types in its state
 * (pywatch.h), made by its exec: nothing of them is shared with another
 * interpreter. */
#include "pywatch.h"

static void
stop(PyObject *module)
{
  pywatch_state *state = PyModule_GetState(module);
  if (state != NULL && state->started) {
    state->started = 0;
    watch_fini();
  }
}

/* libwatch's watch_fini() for this module, from an atexit handler
 * (__init__.py): there, FINALIZED reaches Python callbacks while the
 * interpreter still works; left to interpreter teardown, it would come after
 * builtins and module globals are cleared. */
/* Takes pywatch's entries ("pywatch.*": the exceptions, freezing's
 * registries) out of the interpreter's dict.  CPython clears that dict
 * after the interpreter's last collection, so a cycle through them (a
 * class and its MRO) would never be freed: a subinterpreter would leak
 * them at its end. */
static int
forget_interpreter_entries(void)
{
  PyObject *idict = PyInterpreterState_GetDict(PyInterpreterState_Get());
  PyObject *prefix = PyUnicode_FromString("pywatch.");
  PyObject *keys = idict && prefix ? PyDict_Keys(idict) : NULL;
  int rc = keys ? 0 : -1;
  for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(keys); i++) {
    PyObject *key = PyList_GET_ITEM(keys, i);
    if (PyUnicode_Check(key)
        && PyUnicode_Tailmatch(key, prefix, 0, PY_SSIZE_T_MAX, -1) == 1)
      rc = PyDict_DelItem(idict, key);
  }
  Py_XDECREF(keys);
  Py_XDECREF(prefix);
  return rc;
}

static PyObject *
finalize(PyObject *module, PyObject *unused)
{
  (void)unused;
  stop(module);
  if (forget_interpreter_entries() < 0)
    return NULL;
  Py_RETURN_NONE;
}

static int
module_traverse(PyObject *module, visitproc visit, void *arg)
{
  pywatch_state *state = PyModule_GetState(module);
  Py_VISIT(state->dependent_type);
  Py_VISIT(state->event_type);
  Py_VISIT(state->recorder_type);
  Py_VISIT(state->cell_type);
  return 0;
}

static int
module_clear(PyObject *module)
{
  pywatch_state *state = PyModule_GetState(module);
  Py_CLEAR(state->dependent_type);
  Py_CLEAR(state->event_type);
  Py_CLEAR(state->recorder_type);
  Py_CLEAR(state->cell_type);
  return 0;
}

/* The FINALIZED events that watch_fini() delivers need no state: the GC may
 * have cleared it already, so each Dependent holds its own Event type. */
static void
module_free(void *module)
{
  stop(module);
  module_clear(module);
}

/* libwatch's release, which is pywatch's: they are built together. */
#define VERSION                                                               \
  Py_STRINGIFY(WATCH_VERSION_MAJOR) "." Py_STRINGIFY(WATCH_VERSION_MINOR)    \
  "." Py_STRINGIFY(WATCH_VERSION_PATCH)

static int
module_exec(PyObject *m)
{
  int rc = watch_init();
  if (rc < 0) {
    PyErr_Format(PyExc_ImportError, "pywatch: watch_init: %s",
                 watch_strerror(rc));
    return -1;
  }
  pywatch_get_state(m)->started = 1;
  if (PyModule_AddStringConstant(m, "__version__", VERSION) < 0
      || pywatch_errors_init(m) < 0 || pywatch_dependent_init(m) < 0
      || pywatch_cell_init(m) < 0 || pywatch_freeze_init(m) < 0
      || pywatch_specialize_init(m) < 0 || pywatch_audit_init(m) < 0
      || pywatch_recorder_init(m) < 0)
    return -1; /* module_free() ends libwatch */
  return 0;
}

static PyMethodDef module_functions[] = {
    {"_finalize", finalize, METH_NOARGS,
     "_finalize()\n--\n\n"
     "Finalize libwatch for this module (atexit)."},
    {NULL},
};

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
    /* No state of pywatch is shared between interpreters (doc/
     * interpreters.md): they may run at once, each with its own GIL. */
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {0, NULL},
};

static struct PyModuleDef pywatch_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pywatch._pywatch",
    .m_doc = "libwatch for Python: dependents on namespaces, and freezing.",
    .m_size = sizeof(pywatch_state),
    .m_methods = module_functions,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC
PyInit__pywatch(void)
{
  return PyModuleDef_Init(&pywatch_module);
}
