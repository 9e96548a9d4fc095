/* Functions as namespaces: their __code__, __defaults__ and __kwdefaults__.
 *
 * CPython's function watcher is global to the interpreter: every function
 * created or destroyed anywhere calls it.  It is installed with the first
 * function dependency, a new function can have no dependents yet, and any
 * other event costs one pointer-hash probe when the function is untracked.
 */
#include "internal.h"

static watch_event_kind_t
event_kind(PyFunction_WatchEvent event)
{
  switch (event) {
  case PyFunction_EVENT_MODIFY_CODE: return WATCH_EVENT_CODE;
  case PyFunction_EVENT_MODIFY_DEFAULTS: return WATCH_EVENT_DEFAULTS;
  case PyFunction_EVENT_MODIFY_KWDEFAULTS: return WATCH_EVENT_KWDEFAULTS;
  default: return WATCH_EVENT_DEALLOCATED;
  }
}

static int
func_event(PyFunction_WatchEvent event, PyFunctionObject *func,
           PyObject *new_value)
{
  (void)new_value;
  if (event == PyFunction_EVENT_CREATE)
    return 0;
  struct state *st = state_of_watcher();
  if (st == NULL)
    return 0;
  st->counters.events++;
  struct ns *ns = ns_find(st, (PyObject *)func);
  if (ns == NULL)
    return 0;
  /* A dying function must not get its original code back. */
  if (event == PyFunction_EVENT_DESTROY)
    spec_function_dying(ns);
  ns_changed(st, ns, event_kind(event));
  return 0;
}

static int
func_watch(struct state *st, struct ns *ns)
{
  (void)ns;
  if (st->func_watcher < 0) {
    st->func_watcher = PyFunction_AddWatcher(func_event);
    if (st->func_watcher < 0) {
      PyErr_Clear();
      return WATCH_EBUSY;
    }
  }
  return 0;
}

/* The watcher is per interpreter, not per function: nothing to undo. */
static void
func_unwatch(struct state *st, struct ns *ns)
{
  (void)st, (void)ns;
}

static const struct ns_kind func_kind = {func_watch, func_unwatch};

void
func_watch_stop(struct state *st)
{
  if (st->func_watcher >= 0 && PyFunction_ClearWatcher(st->func_watcher) < 0)
    PyErr_Clear();
  st->func_watcher = -1;
}

int
dep_on_function(struct state *st, watch_dep_t *dep, PyObject *func)
{
  struct ns *ns;
  int rc = ns_get(st, func, &func_kind, &ns);
  return rc < 0 ? rc : dep_link_whole(st, dep, ns);
}

int
watch_dep_on_function(watch_dep_t *dep, PyObject *func)
{
  int rc = 0;
  struct state *st = dep_ready(dep, &rc);
  if (st == NULL)
    return rc;
  if (func == NULL || !PyFunction_Check(func))
    return WATCH_EINVAL;
  return dep_on_function(st, dep, func);
}
