/* Functions as namespaces: their __code__, __defaults__ and __kwdefaults__.
 *
 * CPython's function watcher is global to the interpreter: every function
 * created or destroyed anywhere calls it.  It is installed with the first
 * function dependency, a new function can have no dependents yet, and any
 * other event costs one pointer-hash probe when the function is untracked.
 */
#include "internal.h"

/* What a function event does to the function's dependents; 0: nothing.
 * 3.15 reports __qualname__ assignment (MODIFY_QUALNAME); it is ignored, as
 * __name__ and __doc__ assignments are, which fire no event at all:
 * the name only shows in reprs and tracebacks, never in what a call runs or
 * returns.  An event a later CPython adds makes -Wswitch warn here, and
 * invalidates until it is known. */
static watch_event_kind_t
event_kind(PyFunction_WatchEvent event)
{
  switch (event) {
  case PyFunction_EVENT_CREATE: return 0;
#if PY_VERSION_HEX >= 0x030F0000
  case PyFunction_EVENT_MODIFY_QUALNAME: return 0;
#endif
  case PyFunction_EVENT_MODIFY_CODE: return WATCH_EVENT_CODE;
  case PyFunction_EVENT_MODIFY_DEFAULTS: return WATCH_EVENT_DEFAULTS;
  case PyFunction_EVENT_MODIFY_KWDEFAULTS: return WATCH_EVENT_KWDEFAULTS;
  case PyFunction_EVENT_DESTROY: return WATCH_EVENT_DEALLOCATED;
  }
  return WATCH_EVENT_CODE;
}

static int
func_event(PyFunction_WatchEvent event, PyFunctionObject *func,
           PyObject *new_value)
{
  (void)new_value;
  watch_event_kind_t kind = event_kind(event);
  if (kind == 0)
    return 0;
  struct state *st = state_of_watcher();
  if (st == NULL)
    return 0;
  st->counters.events++;
  struct ns *ns = ns_find(st, (PyObject *)func);
  if (ns == NULL)
    return 0;
  ns_changed(st, ns, kind);
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

/* __kwdefaults__ is a dict that can change in place (f.__kwdefaults__['a']
 * = 2), which fires no function event: the dependent also depends on that
 * dict as a whole. */
int
dep_on_function(struct state *st, watch_dep_t *dep, PyObject *func)
{
  struct ns *ns;
  struct edge *mark = dep->edges;
  int rc = ns_get(st, func, &func_kind, &ns);
  if (rc == 0)
    rc = dep_link_whole(st, dep, ns);
  PyObject *kwdefaults = PyFunction_GET_KW_DEFAULTS(func);
  if (rc == 0 && kwdefaults != NULL && PyDict_Check(kwdefaults))
    rc = dep_on_namespace(st, dep, kwdefaults);
  if (rc < 0)
    dep_unlink_since(st, dep, mark);
  return rc;
}

int
watch_dep_on_function(watch_dep_t *dep, PyObject *func)
{
  int rc = 0;
  struct state *st = dep_ready(dep, &rc);
  if (st == NULL)
    return rc;
  if (func == NULL || !PyFunction_Check(func))
    return dep_done(dep, WATCH_EINVAL);
  return dep_done(dep, dep_on_function(st, dep, func));
}
