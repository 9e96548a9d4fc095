/* The LOAD_GLOBAL environment shared by test_global.c and test_cell.c: both
 * compare what libwatch says with what a LOAD_GLOBAL really reads, in one
 * namespace.  Included after harness.h (NS(), ITEM()).
 *
 * A module namespace G whose builtins are the dict B, with functions that
 * LOAD_GLOBAL the names the tests read:
 *   len        found in builtins only
 *   shadowed   in globals and in builtins: LOAD_GLOBAL sees the global
 *   only_g     in globals only
 *   other      an unrelated global; abs an unrelated builtin
 *   undefined  in neither: NameError */
#ifndef LIBWATCH_TESTS_GLOBAL_ENV_H
#define LIBWATCH_TESTS_GLOBAL_ENV_H

#include "harness.h"

#define ENV_SRC                                                               \
  "B = {'len': len, 'abs': abs, 'shadowed': 'builtin value'}\n"               \
  "G = {'__builtins__': B, '__name__': 'g', 'shadowed': 'global value',\n"    \
  "     'only_g': 'g value', 'other': 1}\n"                                   \
  "exec('def load_len(): return len\\n'\n"                                    \
  "     'def load_shadowed(): return shadowed\\n'\n"                          \
  "     'def load_only_g(): return only_g\\n'\n"                              \
  "     'def load_undefined(): return undefined\\n'\n"                        \
  "     'def store_only_g(v):\\n    global only_g\\n    only_g = v\\n'\n"     \
  "     'def store_undefined(v):\\n    global undefined\\n    undefined = v\\n'\n" \
  "     , G)\n"                                                               \
  "assert G['load_len'].__builtins__ is B\n"

typedef struct {
  PyObject *ns; /* holds G and B */
  PyObject *g;  /* borrowed from ns */
  PyObject *b;  /* borrowed from ns */
} env_t;

#define ENV(e)                                                                \
  env_t e;                                                                    \
  e.ns = NS(ENV_SRC);                                                         \
  e.g = ITEM(e.ns, "G");                                                      \
  e.b = ITEM(e.ns, "B")

/* What LOAD_GLOBAL of name gives in G (new reference), by calling load_NAME;
 * NULL for a NameError. */
static HARNESS_UNUSED PyObject *
load_global(env_t *e, const char *name)
{
  char src[64];
  snprintf(src, sizeof src, "G['load_%s']()", name);
  PyObject *v = PyRun_String(src, Py_eval_input, e->ns, e->ns);
  if (v == NULL) {
    ck_assert(PyErr_ExceptionMatches(PyExc_NameError));
    PyErr_Clear();
  }
  return v;
}

#endif
