/* Deferred delivery: what phase two of an invalidation does.
 *
 * Phase one runs inside CPython's watchers, before the mutation completes:
 * it flips validity flags and queues each dependent here, at most once,
 * since an invalidated dependent has no edges left.  Phase two calls the
 * callbacks later, at a safe point, where they may do anything.  A batch is
 * the queue as it stands when delivery starts; what its callbacks invalidate
 * waits for the next batch, so delivery never recurses.  Taps that asked
 * for phase two (tap.c) wait here too, in a queue of their own, and are
 * delivered after the dependents.  When phase two runs is waker.c's
 * concern, a layer below: the queue asks it to wake (queue_wake()), and it
 * calls deliver_batch() back through the state's up_calls.
 */
#include "internal.h"

#include <stdlib.h>

/* ---- the queue ----------------------------------------------------------- */

void
queue_push(struct state *st, watch_dep_t *dep)
{
  dep->pending_next = NULL;
  dep->pending_pprev = st->pending_tail;
  *st->pending_tail = dep;
  st->pending_tail = &dep->pending_next;
  queue_wake(st);
}

/* Takes the dependent out of whichever list holds it, the next batch or the
 * one being delivered, and drops the references its event holds. */
void
queue_remove(struct state *st, watch_dep_t *dep)
{
  *dep->pending_pprev = dep->pending_next;
  if (dep->pending_next)
    dep->pending_next->pending_pprev = dep->pending_pprev;
  else if (st->pending_tail == &dep->pending_next)
    st->pending_tail = dep->pending_pprev;
  dep->pending_pprev = NULL;
  state_decref_later(st, dep->event.ns);
  state_decref_later(st, dep->event.key);
  state_decref_later(st, dep->event.filename);
  dep->event.ns = dep->event.key = dep->event.filename = NULL;
}

void
queue_drop_all(struct state *st)
{
  while (st->batch != NULL)
    queue_remove(st, st->batch);
  while (st->pending != NULL)
    queue_remove(st, st->pending);
}

void
queue_push_tap(struct state *st, watch_tap_t *tap)
{
  if (tap->due_pprev != NULL || tap->after == NULL)
    return;
  tap->due_next = NULL;
  tap->due_pprev = st->taps_due_tail;
  *st->taps_due_tail = tap;
  st->taps_due_tail = &tap->due_next;
  queue_wake(st);
}

void
queue_remove_tap(struct state *st, watch_tap_t *tap)
{
  if (tap->due_pprev == NULL)
    return;
  *tap->due_pprev = tap->due_next;
  if (tap->due_next)
    tap->due_next->due_pprev = tap->due_pprev;
  else if (st->taps_due_tail == &tap->due_next)
    st->taps_due_tail = tap->due_pprev;
  tap->due_pprev = NULL;
}

/* ---- delivery ------------------------------------------------------------ */

/* Names the namespace in a message: a module's globals by the module's
 * name, anything else by its repr or address. */
static PyObject *
describe(PyObject *ns)
{
  if (ns == NULL)
    return PyUnicode_FromString("a namespace that no longer exists");
  if (PyDict_Check(ns)) {
    PyObject *name = PyDict_GetItemString(ns, "__name__");
    if (name != NULL && PyUnicode_Check(name))
      return PyUnicode_FromFormat("the globals of module '%U'", name);
    return PyUnicode_FromFormat("the dict at %p", (void *)ns);
  }
  return PyObject_Repr(ns);
}

/* A callback that leaves an exception (a Python callback that raised) has it
 * reported to sys.unraisablehook, and the code that runs next never sees
 * it. */
static void
report_exception(const watch_event_t *event)
{
  PyObject *exc = PyErr_GetRaisedException();
  PyObject *where = describe(event->ns);
  PyObject *msg =
      where == NULL ? NULL
      : event->key ? PyUnicode_FromFormat("in a libwatch callback, on %R of %U",
                                          event->key, where)
                   : PyUnicode_FromFormat("in a libwatch callback, on %U (%s)",
                                          where, watch_event_name(event->kind));
  Py_XDECREF(where);
  const char *text = msg ? PyUnicode_AsUTF8(msg) : NULL;
  PyErr_Clear();
  PyErr_SetRaisedException(exc);
  if (text == NULL)
    text = "in a libwatch callback";
#if PY_VERSION_HEX >= 0x030D0000
  PyErr_FormatUnraisable("Exception ignored %s", text);
#else
  _PyErr_WriteUnraisableMsg(text, NULL);
#endif
  Py_XDECREF(msg);
}

static int
call(struct state *st, watch_dep_t *dep)
{
  watch_event_t event = dep->event;  /* the references move here */
  dep->event.ns = dep->event.key = dep->event.filename = NULL;
  int called = dep->cb != NULL;
  /* dep may be released by its own callback: not touched after it. */
  if (called && (dep->cb(dep, &event) < 0 || PyErr_Occurred())) {
    st->counters.callback_errors++;
    if (PyErr_Occurred())
      report_exception(&event);
  }
  Py_XDECREF(event.ns);
  Py_XDECREF(event.key);
  Py_XDECREF(event.filename);
  return called;
}

/* Finishes the batch under way first, as deliver_taps() does. */
static int
deliver_dependents(struct state *st)
{
  if (st->batch == NULL) {
    if (st->pending == NULL)
      return 0;
    st->batch = st->pending;
    st->batch->pending_pprev = &st->batch;
    st->pending = NULL;
    st->pending_tail = &st->pending;
  }
  int delivered = 0;
  watch_dep_t *dep;
  while ((dep = st->batch) != NULL) {
    st->batch = dep->pending_next;
    if (st->batch)
      st->batch->pending_pprev = &st->batch;
    dep->pending_pprev = NULL;
    delivered += call(st, dep);
  }
  return delivered;
}

/* Finishes the batch under way first: the last watch_fini() may come from
 * an after callback. */
static int
deliver_taps(struct state *st)
{
  if (st->tap_batch == NULL) {
    if (st->taps_due == NULL)
      return 0;
    st->tap_batch = st->taps_due;
    st->tap_batch->due_pprev = &st->tap_batch;
    st->taps_due = NULL;
    st->taps_due_tail = &st->taps_due;
  }
  int delivered = 0;
  watch_tap_t *tap;
  /* Each leaves the batch before its call, which may free any tap. */
  while ((tap = st->tap_batch) != NULL) {
    st->tap_batch = tap->due_next;
    if (st->tap_batch)
      st->tap_batch->due_pprev = &st->tap_batch;
    tap->due_pprev = NULL;
    tap->after(tap);
    if (PyErr_Occurred()) {
      /* Only taps made through the API have an after callback. */
      st->counters.tap_callback_errors++;
      PyErr_WriteUnraisable(NULL);
    }
    delivered++;
  }
  return delivered;
}

int
deliver_batch(struct state *st)
{
  if (st->delivering
      || (st->pending == NULL && st->batch == NULL && st->taps_due == NULL
          && st->tap_batch == NULL))
    return 0;
  st->delivering = 1;
  PyObject *exc = PyErr_GetRaisedException();
  int delivered = deliver_dependents(st);
  delivered += deliver_taps(st);
  PyErr_SetRaisedException(exc);
  st->delivering = 0;
  if (st->pending != NULL || st->taps_due != NULL)
    queue_wake(st);
  return delivered;
}

/* The last watch_fini() delivers everything queued, even when a callback
 * calls it in the middle of a batch: the rest of that batch, then the
 * next. */
int
deliver_final(struct state *st)
{
  int was_delivering = st->delivering;
  st->delivering = 0;
  int delivered = deliver_batch(st);
  st->delivering = was_delivering;
  return delivered;
}
