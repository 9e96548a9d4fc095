/* pywatch: the CPython extension over libwatch.  One file per concern,
 * in layers (mk/layers.txt): errors.c (the exceptions every file raises),
 * module.c (the module, which starts every other file), dependent.c (Dependent, Event
 * and the tracking functions), cell.c (Cell, libwatch's value cells),
 * freeze.c (the primitives that freezing is
 * built on; the policy is in _freeze.py), specialize.c (likewise for
 * specialize(), with _specialize.py), audit.c (the audit's write log, on
 * libwatch taps), recorder.c (freezing's record of every write, on taps
 * too). */
#ifndef PYWATCH_H
#define PYWATCH_H

#define PY_SSIZE_T_CLEAN
#include <watch.h>

/* The interpreter's own exception types, created by pywatch_errors_init()
 * before the other *_init functions run (borrowed). */
enum pywatch_exception {
  PYWATCH_STALE_ERROR,    /* ValueError subclass */
  PYWATCH_FROZEN_ERROR,   /* AttributeError subclass */
  PYWATCH_FROZEN_WARNING, /* RuntimeWarning subclass */
};
PyObject *pywatch_exception(enum pywatch_exception which);

/* A module object's state.  Its types are heap types made for that module,
 * so each interpreter has its own and none is shared between interpreters
 * that run at once (PEP 684).  Code with no module at hand reaches them
 * through an object: a Dependent holds its Event type. */
typedef struct {
  int started; /* this module's watch_init() awaits its watch_fini() */
  PyTypeObject *dependent_type;
  PyTypeObject *event_type;
  PyTypeObject *recorder_type;
  PyTypeObject *cell_type;
} pywatch_state;

/* The state of a pywatch module object. */
static inline pywatch_state *
pywatch_get_state(PyObject *module)
{
  return PyModule_GetState(module);
}

/* Each adds its types, functions or exceptions to the module (keeping the
 * types in the module's state); 0 or -1 with an exception set. */
int pywatch_errors_init(PyObject *module);
int pywatch_dependent_init(PyObject *module);
int pywatch_cell_init(PyObject *module);
int pywatch_freeze_init(PyObject *module);
int pywatch_specialize_init(PyObject *module);
int pywatch_audit_init(PyObject *module);
int pywatch_recorder_init(PyObject *module);

/* The module setattr hook's last step (audit.c): original(obj, name,
 * value), told to the audit's write log while it runs. */
int pywatch_audit_setattr(PyObject *obj, PyObject *name, PyObject *value,
                          setattrofunc original);

/* RuntimeError naming a libwatch error code; returns NULL. */
PyObject *pywatch_libwatch_error(int rc);

/* 0 if func is a function; else -1 with TypeError naming caller(). */
int pywatch_check_function(PyObject *func, const char *caller);

/* The libwatch handle of a pywatch.Dependent of module's (its interpreter's)
 * that is not released; NULL with TypeError or ValueError set otherwise. */
watch_dep_t *pywatch_dependent_handle(PyObject *module, PyObject *obj);

/* The dicts that depends_on() and depends_on_namespace() take: on 3.15 a
 * frozendict too, which libwatch checks once and never watches. */
#if PY_VERSION_HEX >= 0x030F0000
#define pywatch_dict_check(obj) PyAnyDict_Check(obj)
#else
#define pywatch_dict_check(obj) PyDict_Check(obj)
#endif

/* Who is writing, from inside a tap: the running frame's file (a new
 * reference, or NULL) and line.  Reading the frame runs no Python code, and
 * the frame keeps its code alive. */
static inline void
pywatch_writer(PyObject **filename, int *lineno)
{
  *filename = NULL;
  *lineno = 0;
  PyFrameObject *frame = PyEval_GetFrame();
  if (frame != NULL) {
    PyCodeObject *code = PyFrame_GetCode(frame);
    *filename = Py_NewRef(code->co_filename);
    *lineno = PyFrame_GetLineNumber(frame);
    Py_DECREF(code);
  }
}

#endif /* PYWATCH_H */
