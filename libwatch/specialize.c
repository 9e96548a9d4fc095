/* Specialization: a function runs other code while a dependent is valid.
 *
 * The original code comes back in phase one, inside the watcher that reports
 * the change, so the very next call runs it.  The swap writes the function's
 * code pointer itself, as CPython's __code__ setter does but without its
 * audit hook, which is Python code and must not run inside a watcher.  For
 * the same reason no reference is dropped to zero there: the record holds
 * both codes until the dependent is released.  libwatch's own dependents of
 * the function are told of each swap (WATCH_EVENT_CODE).  The dependent's
 * invalidation and release reach this file from the layers below through
 * its kind (spec_kind).
 */
#include "internal.h"

struct spec {
  PyFunctionObject *func; /* borrowed; NULL once restored or dying */
  PyObject *original;
  PyObject *code;
  uint32_t version;       /* func's before the swap */
};

/* Call sites specialize on a function's version and re-read its code on
 * every call; a function with version 0 only gets generic calls.  3.12 gives
 * a function whose version was dropped a fresh one when a call site next
 * specializes on it.  3.13 does not, so a swap sets the version that a
 * function made from that code gets (MAKE_FUNCTION uses the code's), and
 * restoring sets the original one back: a deoptimized function is called
 * exactly as fast as before.  _PyFunction_SetVersion is exported, though
 * declared in an internal header; it also keeps 3.13's version cache
 * right, as the __code__ setter does. */
#if PY_VERSION_HEX >= 0x030D0000
PyAPI_FUNC(void) _PyFunction_SetVersion(PyFunctionObject *func,
                                        uint32_t version);

static uint32_t
version_of(PyObject *code)
{
  return ((PyCodeObject *)code)->co_version;
}

/* 3.14 keeps a cache from version to function, and _PyFunction_SetVersion
 * is only for a function that never had one (a debug build asserts
 * func_version is unset, and that the new one is valid).  The old version
 * goes first, as the __code__ setter's _PyFunction_ClearVersion does, else
 * the cache keeps its slot pointing at func after func is freed;
 * PyFunction_SetVectorcall does that clearing, and nothing else when given
 * func's own vectorcall.  A code without a valid version (0: none left)
 * leaves func without one, as the __code__ setter does: generic calls. */
#define FUNC_VERSION_FIRST_VALID 2

static void
set_version(PyFunctionObject *func, uint32_t version)
{
#if PY_VERSION_HEX >= 0x030E0000
  PyFunction_SetVectorcall(func, func->vectorcall);
  if (version < FUNC_VERSION_FIRST_VALID)
    return;
  func->func_version = 0; /* FUNC_VERSION_UNSET */
#endif
  _PyFunction_SetVersion(func, version);
}
#else
static uint32_t
version_of(PyObject *code)
{
  (void)code;
  return 0;
}

static void
set_version(PyFunctionObject *func, uint32_t version)
{
  func->func_version = version;
}
#endif

static void
code_swap(struct state *st, PyFunctionObject *func, PyObject *code,
          uint32_t version)
{
  PyObject *old = func->func_code;
  func->func_code = Py_NewRef(code);
  set_version(func, version);
  Py_DECREF(old); /* the record holds it too: never the last reference */
  struct ns *ns = ns_find(st, (PyObject *)func);
  if (ns != NULL) {
    event_heard(st, ns);
    ns_changed(st, ns, WATCH_EVENT_CODE);
  }
}

static int
tuples_equal(PyObject *a, PyObject *b, Py_ssize_t n)
{
  for (Py_ssize_t i = 0; i < n; i++)
    if (PyUnicode_Compare(PyTuple_GET_ITEM(a, i), PyTuple_GET_ITEM(b, i)))
      return 0;
  return 1;
}

/* Names a code object's parameters: the first n of co_varnames. */
static Py_ssize_t
parameter_count(PyCodeObject *c)
{
  return c->co_argcount + c->co_kwonlyargcount
         + !!(c->co_flags & CO_VARARGS) + !!(c->co_flags & CO_VARKEYWORDS);
}

static int
same_names(PyObject *(*get)(PyCodeObject *), PyCodeObject *a, PyCodeObject *b,
           Py_ssize_t n)
{
  PyObject *na = get(a), *nb = get(b);
  int same = na != NULL && nb != NULL && PyTuple_GET_SIZE(na) >= n
             && PyTuple_GET_SIZE(nb) >= n && tuples_equal(na, nb, n);
  Py_XDECREF(na);
  Py_XDECREF(nb);
  PyErr_Clear(); /* out of memory: reported as a mismatch, which is safe */
  return same;
}

#define SUSPENDABLE (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR \
                     | CO_ITERABLE_COROUTINE)

const char *
watch_code_mismatch(PyObject *func, PyObject *code)
{
  if (func == NULL || !PyFunction_Check(func))
    return "func is not a function";
  if (code == NULL || !PyCode_Check(code))
    return "code is not a code object";
  PyCodeObject *a = (PyCodeObject *)PyFunction_GET_CODE(func);
  PyCodeObject *b = (PyCodeObject *)code;
  if ((a->co_flags | b->co_flags) & SUSPENDABLE)
    return "generators and coroutines cannot be specialized";
  if ((a->co_flags ^ b->co_flags) & (CO_OPTIMIZED | CO_NEWLOCALS))
    return "only a function's code can replace a function's";
  if (a->co_argcount != b->co_argcount)
    return "the argument counts differ";
  if (a->co_posonlyargcount != b->co_posonlyargcount)
    return "the positional-only argument counts differ";
  if (a->co_kwonlyargcount != b->co_kwonlyargcount)
    return "the keyword-only argument counts differ";
  if ((a->co_flags ^ b->co_flags) & CO_VARARGS)
    return "one takes *args, the other does not";
  if ((a->co_flags ^ b->co_flags) & CO_VARKEYWORDS)
    return "one takes **kwargs, the other does not";
  if (!same_names(PyCode_GetVarnames, a, b, parameter_count(a)))
    return "the argument names differ";
  if (a->co_nfreevars != b->co_nfreevars
      || !same_names(PyCode_GetFreevars, a, b, a->co_nfreevars))
    return "the free variables differ";
  return NULL;
}

/* The dependent whose specialization func runs, if any.  Only valid
 * dependents are linked, and at most one specializes a function. */
static watch_dep_t *
specialization_of(struct ns *ns, PyObject *func)
{
  for (struct edge *e = ns->whole.edges; e; e = e->next) {
    struct spec *sp = e->dep->spec;
    if (sp != NULL && sp->func == (PyFunctionObject *)func)
      return e->dep;
  }
  return NULL;
}

/* The specialization's dependent, or NULL. */
static int
lookup(PyObject *func, watch_dep_t **dep)
{
  struct state *st = index_ready();
  if (st == NULL)
    return WATCH_ENOINIT;
  if (func == NULL || !PyFunction_Check(func))
    return WATCH_EINVAL;
  struct ns *ns = ns_find(st, func);
  *dep = ns ? specialization_of(ns, func) : NULL;
  return 0;
}

static int
depends_on(const watch_dep_t *dep, PyObject *obj)
{
  for (const struct edge *e = dep->edges; e; e = e->dep_next)
    if (e->keyrec->ns->obj == obj)
      return 1;
  return 0;
}

static const struct dep_kind spec_kind;

/* The swap itself can invalidate dep: it deoptimizes the specializations
 * that depend on func, and one of them may restore a function dep depends
 * on (f specialized on g, then g on f).  Then nothing stays installed and
 * the call fails with WATCH_EINVALIDATED; it never leaves a dependent
 * linked after its invalidation. */
static int
specialize(struct state *st, watch_dep_t *dep, PyObject *func, PyObject *code)
{
  int rc;
  /* A dependency on func itself would be broken by the swap. */
  if (func == NULL || !PyFunction_Check(func) || code == NULL
      || !PyCode_Check(code) || dep->spec != NULL || depends_on(dep, func))
    return WATCH_EINVAL;
  if (watch_code_mismatch(func, code) != NULL)
    return WATCH_EINCOMPATIBLE;
  static const watch_event_t manual = {.kind = WATCH_EVENT_MANUAL};
  watch_dep_t *previous;
  lookup(func, &previous);
  struct spec *sp = state_alloc(st, sizeof(*sp));
  if (sp == NULL)
    return WATCH_ENOMEM;
  if (previous != NULL)  /* one at a time: the callback comes later */
    dep_invalidate(st, previous, &manual);
  PyFunctionObject *f = (PyFunctionObject *)func;
  sp->func = f;
  sp->original = Py_NewRef(f->func_code);
  sp->code = Py_NewRef(code);
  sp->version = f->func_version;
  dep->spec = sp;
  dep->kind = &spec_kind;
  code_swap(st, f, code, version_of(code));
  /* Linked after the swap, which invalidates the function's dependents:
   * from now on a change of its code, defaults or life deoptimizes it. */
  rc = dep_on_function(st, dep, func);
  if (rc < 0)
    spec_kind.detached(st, dep);
  return rc;
}

int
watch_specialize(watch_dep_t *dep, PyObject *func, PyObject *code)
{
  int rc = 0;
  struct state *st = dep_ready(dep, &rc);
  return st ? dep_done(dep, specialize(st, dep, func, code)) : rc;
}

static void
restore(struct state *st, struct spec *sp)
{
  PyFunctionObject *func = sp->func;
  sp->func = NULL;
  if (func != NULL && func->func_code == sp->code)
    code_swap(st, func, sp->original, sp->version);
}

/* Phase one of the dependent's invalidation.  The user's own __code__
 * assignment wins: CPython stores it once its watchers return.  A dying
 * function gets nothing back either: its DEALLOCATED names no object, but
 * the index takes a dying object's record out of its table before it tells
 * anyone (ns_destroyed()), and that record is the only one gone from there
 * during an event: a record that loses its last edge waits in the table
 * for the collection after the watcher.  The dependent linked the
 * function's record until its unlinking just now. */
static void
spec_invalidated(struct state *st, watch_dep_t *dep,
                 const watch_event_t *report)
{
  struct spec *sp = dep->spec;
  if ((report->kind == WATCH_EVENT_CODE
       && report->ns == (PyObject *)sp->func)
      || (report->kind == WATCH_EVENT_DEALLOCATED && sp->func != NULL
          && ns_find(st, (PyObject *)sp->func) == NULL))
    sp->func = NULL;
  restore(st, sp);
}

/* A dependent released while valid restores the original code first.  The
 * references go later: the last one can run Python code (a weakref callback
 * on the code), and the caller may be in the middle of unlinking. */
static void
spec_detached(struct state *st, watch_dep_t *dep)
{
  struct spec *sp = dep->spec;
  restore(st, sp);
  dep->spec = NULL;
  dep->kind = NULL;
  state_decref_later(st, sp->original);
  state_decref_later(st, sp->code);
  state_free(st, sp, sizeof(*sp));
}

static const struct dep_kind spec_kind = {spec_invalidated, spec_detached, 0};

int
watch_specialized(PyObject *func, PyObject **code)
{
  watch_dep_t *dep;
  int rc = lookup(func, &dep);
  if (rc == 0 && code == NULL)
    rc = WATCH_EINVAL;
  if (rc == 0)
    *code = dep ? dep->spec->code : NULL;
  return rc;
}

int
watch_deoptimize(PyObject *func)
{
  watch_dep_t *dep;
  int rc = lookup(func, &dep);
  return rc == 0 && dep ? watch_dep_invalidate(dep) : rc;
}
