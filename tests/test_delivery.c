/* Phase two: callbacks run after the mutation, in batches, at safe points,
 * on a host loop, or at watch_flush(). */
#include "harness.h"

#include <uv.h>

/* Runs src without the harness's safe point at the end, so that only
 * libwatch's own pending call can have delivered anything. */
static void
run_without_flush(PyObject *ns, const char *src)
{
  PyObject *r = PyRun_String(src, Py_file_input, ns, ns);
  if (r == NULL)
    harness_fail_python(__FILE__, __LINE__, src);
  Py_DECREF(r);
}

/* Python code that reaches many safe points (each loop iteration). */
#define SAFE_POINTS "for _ in range(1000):\n    pass\n"

/* ------------------------------------------------------------------------ */
/* Delivery after the mutation                                              */

START_TEST(the_callback_runs_after_the_store_at_the_next_safe_point)
{
  PyObject *d = PY("{'x': 1}");
  PROBE(p);
  p->rec.peek_key = key("x");
  DEPEND(p, d, "x");

  run_without_flush(d, "x = 2\n" SAFE_POINTS);

  ck_assert_int_eq(p->rec.count, 1);
  ck_assert_msg(p->rec.peeked == (const void *)ITEM(d, "x"),
                "the callback must see the value stored");
  assert_invalidated(p, WATCH_EVENT_MODIFIED, d);
  assert_key(p, "x");
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

START_TEST(a_store_from_c_waits_for_a_safe_point_or_a_flush)
{
  PyObject *d = PY("{'x': 1}");
  PROBE(p);
  DEPEND(p, d, "x");

  ck_assert_int_eq(PyDict_SetItemString(d, "x", Py_None), 0);

  ck_assert(!watch_dep_valid(p->dep));
  ck_assert_int_eq(p->rec.count, 0);
  ck_assert_int_eq(watch_flush(), 1);
  ck_assert_int_eq(p->rec.count, 1);
  ck_assert_int_eq(watch_flush(), 0);
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

/* Runs src in ns on a thread of its own, while this one waits without the
 * GIL and so runs no safe point. */
struct thread_run {
  PyObject *ns;
  const char *src;
  int ran;
};

static void
thread_run_main(void *arg)
{
  struct thread_run *run = arg;
  PyGILState_STATE gil = PyGILState_Ensure();
  PyObject *r = PyRun_String(run->src, Py_file_input, run->ns, run->ns);
  run->ran = r != NULL;
  if (r == NULL)
    PyErr_Print();
  Py_XDECREF(r);
  PyGILState_Release(gil);
}

static void
run_in_a_thread(PyObject *ns, const char *src)
{
  struct thread_run run = {ns, src, 0};
  uv_thread_t thread;
  int started;
  Py_BEGIN_ALLOW_THREADS
  started = uv_thread_create(&thread, thread_run_main, &run);
  if (started == 0)
    uv_thread_join(&thread);
  Py_END_ALLOW_THREADS
  ck_assert_int_eq(started, 0);
  ck_assert_msg(run.ran, "the thread's code failed: %s", src);
}

/* The deliveries a probe has had, for Python code that waits. */
static PyObject *
delivered(PyObject *self, PyObject *probe_capsule)
{
  (void)self;
  probe_t *p = PyCapsule_GetPointer(probe_capsule, NULL);
  return p ? PyLong_FromLong(p->rec.count) : NULL;
}

static PyMethodDef delivered_def = {"delivered", delivered, METH_O, NULL};

/* ns[name] = a capsule of p, and ns["delivered"]. */
static void
expose_probe(PyObject *ns, const char *name, probe_t *p)
{
  PyObject *fn = PyCFunction_New(&delivered_def, NULL);
  PyObject *cap = PyCapsule_New(p, NULL, NULL);
  ck_assert_ptr_nonnull(fn);
  ck_assert_ptr_nonnull(cap);
  ck_assert_int_eq(PyDict_SetItemString(ns, "delivered", fn), 0);
  ck_assert_int_eq(PyDict_SetItemString(ns, name, cap), 0);
  Py_DECREF(fn);
  Py_DECREF(cap);
}

/* The main interpreter's pending call goes to its main thread: a worker
 * that writes and goes on running Python code leaves the delivery to it
 * (a worker delivering at exit would hang CPython's finalization). */
START_TEST(a_worker_leaves_the_delivery_to_the_main_thread)
{
  PyObject *d = PY("{'x': 1}");
  PROBE(p);
  DEPEND(p, d, "x");
  PyObject *g = NS("");
  ck_assert_int_eq(PyDict_SetItemString(g, "d", d), 0);
  expose_probe(g, "probe", p);

  run_in_a_thread(g, "d['x'] = 2\n" SAFE_POINTS "seen = delivered(probe)\n");

  ck_assert_int_eq(PyLong_AsLong(ITEM(g, "seen")), 0);
  RUN(g, SAFE_POINTS);
  ck_assert_int_eq(p->rec.count, 1);
  assert_invalidated(p, WATCH_EVENT_MODIFIED, d);
  probe_release(p);
  Py_DECREF(g);
  Py_DECREF(d);
}
END_TEST

/* A callback that calls Python code, which reads the namespace. */
static PyObject *seen_by_python;

static int
python_reading_cb(watch_dep_t *dep, const watch_event_t *event)
{
  (void)dep;
  PyObject *code = PyUnicode_FromString("x");
  PyObject *x = code ? PyObject_GetItem(event->ns, code) : NULL;
  Py_XDECREF(code);
  if (x == NULL)
    return -1;
  Py_XSETREF(seen_by_python, PyObject_Repr(x));
  Py_DECREF(x);
  return 0;
}

START_TEST(a_callback_may_run_python_code_on_the_new_state)
{
  PyObject *d = PY("{'x': 1}");
  watch_dep_t *dep;
  ck_assert_int_eq(watch_dep_new(&dep, python_reading_cb, NULL), 0);
  ck_assert_int_eq(watch_dep_on_key(dep, d, key("x"), ITEM(d, "x")), 0);

  RUN(d, "x = 'new'\n");

  ck_assert_ptr_nonnull(seen_by_python);
  ck_assert_str_eq(PyUnicode_AsUTF8(seen_by_python), "'new'");
  Py_CLEAR(seen_by_python);
  ASSERT_COUNTER(callback_errors, ==, 0);
  watch_dep_release(dep);
  Py_DECREF(d);
}
END_TEST

START_TEST(many_stores_from_c_need_one_pending_call)
{
  /* CPython's pending-call queue is small (31 calls on 3.12): libwatch
   * keeps one at most. */
  enum { N = 200 };
  PyObject *dicts = PY("[{'x': 1} for _ in range(200)]");
  probe_t *p[N];
  for (int i = 0; i < N; i++) {
    p[i] = probe_new_at(__FILE__, __LINE__);
    DEPEND(p[i], PyList_GET_ITEM(dicts, i), "x");
  }

  for (int i = 0; i < N; i++)
    ck_assert_int_eq(PyDict_SetItemString(PyList_GET_ITEM(dicts, i), "x",
                                          Py_None), 0);
  PyObject *g = NS(SAFE_POINTS);

  for (int i = 0; i < N; i++)
    ck_assert_int_eq(p[i]->rec.count, 1);
  assert_no_python_error();
  Py_DECREF(g);
  Py_DECREF(dicts);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Batches                                                                  */

START_TEST(a_burst_of_writes_delivers_one_callback_per_dependent)
{
  enum { DEPENDENTS = 10 };
  PyObject *d = PY("{'x': 0}");
  probe_t *p[DEPENDENTS];
  for (int i = 0; i < DEPENDENTS; i++) {
    p[i] = probe_new_at(__FILE__, __LINE__);
    DEPEND(p[i], d, "x");
  }
  watch_counters_t before = COUNTERS();

  run_without_flush(d, "for i in range(100000):\n"
                       "    x = i\n");
  watch_flush();

  for (int i = 0; i < DEPENDENTS; i++)
    assert_invalidated(p[i], WATCH_EVENT_MODIFIED, d);
  ck_assert_uint_eq(COUNTERS().invalidations - before.invalidations,
                    DEPENDENTS);
  Py_DECREF(d);
}
END_TEST

START_TEST(a_dependent_on_many_changed_keys_is_called_once)
{
  PyObject *d = PY("{'x': 1, 'y': 2, 'z': 3}");
  PROBE(p);
  DEPEND(p, d, "x");
  DEPEND(p, d, "y");
  DEPEND(p, d, "z");

  ck_assert_int_eq(PyDict_SetItemString(d, "x", Py_None), 0);
  ck_assert_int_eq(PyDict_SetItemString(d, "y", Py_None), 0);
  ck_assert_int_eq(PyDict_SetItemString(d, "z", Py_None), 0);

  ck_assert_int_eq(watch_flush(), 1);
  assert_invalidated(p, WATCH_EVENT_MODIFIED, d);
  assert_key(p, "x");
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* What callbacks may do                                                    */

/* Re-registers on d['x'] with the value now there, as an optimizer that
 * re-specializes would. */
static PyObject *reregister_dict;
static int reregistered;

static int
reregister_cb(watch_dep_t *dep, const watch_event_t *event)
{
  (void)event;
  probe_t *p = watch_dep_data(dep);
  p->rec.count++;
  watch_dep_release(dep);
  if (watch_dep_new(&p->dep, reregister_cb, p) < 0)
    return -1;
  PyObject *x = key("x");
  int rc = watch_dep_on_key(p->dep, reregister_dict, x,
                            PyDict_GetItemWithError(reregister_dict, x));
  reregistered += rc == 0;
  return rc;
}

START_TEST(a_callback_may_release_itself_and_register_again)
{
  PyObject *d = reregister_dict = PY("{'x': 1}");
  reregistered = 0;
  PROBE(p);
  watch_dep_release(p->dep);
  ck_assert_int_eq(watch_dep_new(&p->dep, reregister_cb, p), 0);
  DEPEND(p, d, "x");

  RUN(d, "x = 2\n");
  ck_assert_int_eq(p->rec.count, 1);
  ck_assert_int_eq(reregistered, 1);
  ck_assert(watch_dep_valid(p->dep));

  RUN(d, "x = 3\n");
  ck_assert_int_eq(p->rec.count, 2);
  ck_assert(watch_dep_valid(p->dep));
  ASSERT_COUNTER(callback_errors, ==, 0);
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

/* Writes d['y'] from the callback of a dependent on d['x']. */
static PyObject *mutated_dict;

static int
mutating_cb(watch_dep_t *dep, const watch_event_t *event)
{
  (void)event;
  probe_t *p = watch_dep_data(dep);
  p->rec.count++;
  return PyDict_SetItemString(mutated_dict, "y", Py_True) < 0 ? -1 : 0;
}

START_TEST(a_callback_may_mutate_and_its_effects_go_to_the_next_batch)
{
  PyObject *d = mutated_dict = PY("{'x': 1, 'y': 2}");
  PROBE(on_x);
  PROBE(on_y);
  watch_dep_release(on_x->dep);
  ck_assert_int_eq(watch_dep_new(&on_x->dep, mutating_cb, on_x), 0);
  DEPEND(on_x, d, "x");
  DEPEND(on_y, d, "y");

  ck_assert_int_eq(PyDict_SetItemString(d, "x", Py_None), 0);

  ck_assert_int_eq(watch_flush(), 1);
  ck_assert_int_eq(on_x->rec.count, 1);
  ck_assert(!watch_dep_valid(on_y->dep)); /* phase one ran at the write */
  ck_assert_int_eq(on_y->rec.count, 0);   /* phase two waits */
  ck_assert_int_eq(watch_flush(), 1);
  assert_invalidated(on_y, WATCH_EVENT_MODIFIED, d);
  probe_release(on_x);
  probe_release(on_y);
  Py_DECREF(d);
}
END_TEST

START_TEST(a_dependent_released_before_delivery_is_not_called)
{
  PyObject *d = PY("{'x': 1}");
  PROBE(p);
  PROBE(q);
  DEPEND(p, d, "x");
  DEPEND(q, d, "x");

  ck_assert_int_eq(PyDict_SetItemString(d, "x", Py_None), 0);
  probe_release(p);

  ck_assert_int_eq(watch_flush(), 1);
  ck_assert_int_eq(p->rec.count, 0);
  assert_invalidated(q, WATCH_EVENT_MODIFIED, d);
  Py_DECREF(d);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Where the change was made                                                */

static char located_file[64];
static int located_line;

static int
locating_cb(watch_dep_t *dep, const watch_event_t *event)
{
  (void)dep;
  const char *f = event->filename ? PyUnicode_AsUTF8(event->filename) : "";
  snprintf(located_file, sizeof located_file, "%s", f ? f : "");
  located_line = event->lineno;
  return 0;
}

START_TEST(a_locating_dependent_is_told_the_file_and_line_of_the_writer)
{
  PyObject *d = PY("{'x': 1}");
  watch_dep_t *dep;
  ck_assert_int_eq(watch_dep_new(&dep, locating_cb, NULL), 0);
  ck_assert_int_eq(watch_dep_locate(dep), 0);
  ck_assert_int_eq(watch_dep_on_namespace(dep, d), 0);
  PyObject *code = Py_CompileString("y = 0\n"
                                    "z = 1\n"
                                    "x = 2\n", "writer.py", Py_file_input);
  ck_assert_ptr_nonnull(code);

  PyObject *r = PyEval_EvalCode(code, d, d);
  ck_assert_ptr_nonnull(r);
  watch_flush();

  ck_assert_str_eq(located_file, "writer.py");
  ck_assert_int_eq(located_line, 1);
  Py_DECREF(r);
  Py_DECREF(code);
  watch_dep_release(dep);
  Py_DECREF(d);
}
END_TEST

START_TEST(a_dependent_that_did_not_ask_is_told_no_location)
{
  PyObject *d = PY("{'x': 1}");
  watch_dep_t *dep;
  located_line = -1;
  ck_assert_int_eq(watch_dep_new(&dep, locating_cb, NULL), 0);
  ck_assert_int_eq(watch_dep_on_namespace(dep, d), 0);

  RUN(d, "x = 2\n");

  ck_assert_str_eq(located_file, "");
  ck_assert_int_eq(located_line, 0);
  watch_dep_release(dep);
  Py_DECREF(d);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */

static int
raising_cb(watch_dep_t *dep, const watch_event_t *event)
{
  (void)dep, (void)event;
  PyErr_SetString(PyExc_KeyError, "raised by a callback");
  return -1;
}

START_TEST(a_callback_exception_goes_to_the_unraisable_hook)
{
  PyObject *g = NS("import sys\n"
                   "seen = []\n"
                   "old_hook = sys.unraisablehook\n"
                   "sys.unraisablehook = seen.append\n");
  PyObject *mod = PyModule_New("watched_mod");
  ck_assert_ptr_nonnull(mod);
  PyObject *d = PyModule_GetDict(mod);
  ck_assert_int_eq(PyDict_SetItemString(d, "x", Py_None), 0);
  watch_dep_t *dep;
  ck_assert_int_eq(watch_dep_new(&dep, raising_cb, NULL), 0);
  ck_assert_int_eq(watch_dep_on_key(dep, d, key("x"), Py_None), 0);

  ck_assert_int_eq(PyDict_SetItemString(d, "x", Py_True), 0);
  ck_assert_int_eq(watch_flush(), 1);

  assert_no_python_error();
  ASSERT_COUNTER(callback_errors, ==, 1);
  RUN(g, "sys.unraisablehook = old_hook\n"
         "assert len(seen) == 1, seen\n"
         "u = seen[0]\n"
         "assert u.exc_type is KeyError, u.exc_type\n"
         "assert \"'x'\" in u.err_msg, u.err_msg\n"
         "assert 'watched_mod' in u.err_msg, u.err_msg\n");
  watch_dep_release(dep);
  Py_DECREF(mod);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_callback_exception_does_not_reach_the_running_code)
{
  PyObject *d = PY("{'x': 1}");
  PyObject *g = NS("import sys\n"
                   "old_hook = sys.unraisablehook\n"
                   "sys.unraisablehook = lambda u: None\n");
  ck_assert_int_eq(PyDict_SetItemString(g, "d", d), 0);
  watch_dep_t *dep;
  ck_assert_int_eq(watch_dep_new(&dep, raising_cb, NULL), 0);
  ck_assert_int_eq(watch_dep_on_key(dep, d, key("x"), ITEM(d, "x")), 0);

  /* Delivered by the pending call, in the middle of this code. */
  run_without_flush(g, "d['x'] = 2\n" SAFE_POINTS "after = True\n"
                       "sys.unraisablehook = old_hook\n");

  ck_assert_ptr_eq(ITEM(g, "after"), Py_True);
  ASSERT_COUNTER(callback_errors, ==, 1);
  watch_dep_release(dep);
  Py_DECREF(g);
  Py_DECREF(d);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* A host loop                                                              */

/* The test's own handle keeps the loop alive: libwatch's does not. */
typedef struct {
  uv_loop_t loop;
  uv_async_t keepalive;
} host_t;

static void
host_open(host_t *h)
{
  ck_assert_int_eq(uv_loop_init(&h->loop), 0);
  ck_assert_int_eq(uv_async_init(&h->loop, &h->keepalive, NULL), 0);
  ck_assert_int_eq(watch_attach_loop(&h->loop), 0);
}

/* Detaching closes libwatch's handles; running the loop frees them. */
static void
host_close(host_t *h)
{
  ck_assert_int_eq(watch_attach_loop(NULL), 0);
  uv_close((uv_handle_t *)&h->keepalive, NULL);
  uv_run(&h->loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&h->loop), 0);
}

static void
host_run_once(host_t *h, uv_run_mode mode)
{
  Py_BEGIN_ALLOW_THREADS
  uv_run(&h->loop, mode);
  Py_END_ALLOW_THREADS
}

START_TEST(an_attached_loop_delivers_when_it_runs)
{
  host_t h;
  host_open(&h);
  PyObject *d = PY("{'x': 1}");
  PROBE(p);
  DEPEND(p, d, "x");

  run_without_flush(d, "x = 2\n" SAFE_POINTS);
  ck_assert(!watch_dep_valid(p->dep));
  ck_assert_int_eq(p->rec.count, 0); /* no pending call with a host loop */

  host_run_once(&h, UV_RUN_NOWAIT);

  ck_assert_int_eq(p->rec.count, 1);
  assert_invalidated(p, WATCH_EVENT_MODIFIED, d);
  probe_release(p);
  Py_DECREF(d);
  host_close(&h);
}
END_TEST

static PyObject *thread_dict;

static void
write_from_thread(void *unused)
{
  (void)unused;
  PyGILState_STATE gil = PyGILState_Ensure();
  if (PyDict_SetItemString(thread_dict, "x", Py_None) < 0)
    PyErr_Clear();
  PyGILState_Release(gil);
}

START_TEST(a_write_in_another_thread_wakes_the_attached_loop)
{
  host_t h;
  host_open(&h);
  PyObject *d = thread_dict = PY("{'x': 1}");
  PROBE(p);
  DEPEND(p, d, "x");

  uv_thread_t writer;
  int started;
  Py_BEGIN_ALLOW_THREADS
  started = uv_thread_create(&writer, write_from_thread, NULL);
  if (started == 0)
    uv_thread_join(&writer);
  /* Blocks until the writer's wake-up arrives; it has already. */
  uv_run(&h.loop, UV_RUN_ONCE);
  Py_END_ALLOW_THREADS

  ck_assert_int_eq(started, 0);
  ck_assert_int_eq(p->rec.count, 1);
  assert_invalidated(p, WATCH_EVENT_MODIFIED, d);
  probe_release(p);
  Py_DECREF(d);
  host_close(&h);
}
END_TEST

START_TEST(the_debounce_timer_waits_for_a_quiet_period)
{
  host_t h;
  host_open(&h);
  ck_assert_int_eq(watch_set_debounce(500), 0);
  PyObject *d = PY("{'x': 1, 'y': 2}");
  PROBE(on_x);
  PROBE(on_y);
  DEPEND(on_x, d, "x");
  DEPEND(on_y, d, "y");

  ck_assert_int_eq(PyDict_SetItemString(d, "x", Py_None), 0);
  host_run_once(&h, UV_RUN_NOWAIT); /* the wake-up starts the timer */
  ck_assert_int_eq(on_x->rec.count, 0);
  ck_assert_int_eq(PyDict_SetItemString(d, "y", Py_None), 0);
  host_run_once(&h, UV_RUN_NOWAIT); /* ... and this one restarts it */
  ck_assert_int_eq(on_x->rec.count, 0);

  while (on_x->rec.count == 0)
    host_run_once(&h, UV_RUN_ONCE); /* until the timer fires */

  /* One batch for the whole burst. */
  ck_assert_int_eq(on_x->rec.count, 1);
  ck_assert_int_eq(on_y->rec.count, 1);
  ck_assert_int_eq(watch_set_debounce(0), 0);
  probe_release(on_x);
  probe_release(on_y);
  Py_DECREF(d);
  host_close(&h);
}
END_TEST

START_TEST(without_a_host_loop_the_debounce_runs_on_a_private_loop)
{
  ck_assert_int_eq(watch_set_debounce(500), 0);
  PyObject *d = PY("{'x': 1}");
  PROBE(p);
  DEPEND(p, d, "x");
  PyObject *g = NS("import time\n");
  PyObject *fn = PyCFunction_New(&delivered_def, NULL);
  PyObject *cap = PyCapsule_New(p, NULL, NULL);
  ck_assert_int_eq(PyDict_SetItemString(g, "delivered", fn), 0);
  ck_assert_int_eq(PyDict_SetItemString(g, "probe", cap), 0);
  ck_assert_int_eq(PyDict_SetItemString(g, "d", d), 0);
  Py_DECREF(fn);
  Py_DECREF(cap);

  run_without_flush(g, "d['x'] = 2\n"
                       "early = delivered(probe)\n"
                       "deadline = time.monotonic() + 30\n"
                       "while not delivered(probe) and time.monotonic() < deadline:\n"
                       "    time.sleep(0.001)\n");

  ck_assert_int_eq(PyLong_AsLong(ITEM(g, "early")), 0);
  ck_assert_int_eq(p->rec.count, 1);
  ck_assert_int_eq(watch_set_debounce(0), 0);
  assert_invalidated(p, WATCH_EVENT_MODIFIED, d);
  probe_release(p);
  Py_DECREF(g);
  Py_DECREF(d);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Subinterpreters                                                          */

/* Each interpreter queues the pending call on itself, and its own threads
 * run it: no flush is needed. */
START_TEST(a_subinterpreter_delivers_at_its_own_safe_points)
{
  PyThreadState *main_ts = PyThreadState_Get();
  PyThreadState *sub = Py_NewInterpreter();
  ck_assert_ptr_nonnull(sub);
  int init_err = watch_init();
  int attach_err = watch_attach_loop((uv_loop_t *)&init_err);
  probe_t *p = &harness_probes[harness_nprobes++];
  int new_err = watch_dep_new(&p->dep, rec_cb, p);
  PyObject *d = Py_BuildValue("{s:i}", "x", 1);
  PyObject *x = PyUnicode_InternFromString("x");
  int on_err = watch_dep_on_key(p->dep, d, x, PyDict_GetItem(d, x));
  PyDict_SetItem(d, x, Py_None);
  int before = p->rec.count;
  PyObject *r = PyRun_String(SAFE_POINTS, Py_file_input, d, d);
  Py_XDECREF(r);
  int after_safe_points = p->rec.count;
  /* A store from C, with no safe point after it: watch_flush() still
   * delivers it there. */
  probe_t *q = &harness_probes[harness_nprobes++];
  int new_again_err = watch_dep_new(&q->dep, rec_cb, q);
  int on_again_err = watch_dep_on_key(q->dep, d, x, Py_None);
  PyDict_SetItem(d, x, Py_True);
  int before_flush = q->rec.count;
  int flushed = watch_flush();
  int after_flush = q->rec.count;
  Py_CLEAR(p->rec.key);
  Py_CLEAR(q->rec.key);
  watch_dep_release(p->dep);
  watch_dep_release(q->dep);
  p->dep = q->dep = NULL;
  Py_DECREF(x);
  Py_DECREF(d);
  watch_fini();
  Py_EndInterpreter(sub);
  PyThreadState_Swap(main_ts);

  ck_assert_int_eq(init_err, 0);
  ck_assert_int_eq(attach_err, WATCH_EINVAL);
  ck_assert_int_eq(new_err, 0);
  ck_assert_int_eq(on_err, 0);
  ck_assert_int_eq(before, 0);
  ck_assert_int_eq(after_safe_points, 1);
  ck_assert_int_eq(new_again_err, 0);
  ck_assert_int_eq(on_again_err, 0);
  ck_assert_int_eq(before_flush, 0);
  ck_assert_int_eq(flushed, 1);
  ck_assert_int_eq(after_flush, 1);
}
END_TEST

START_TEST(a_subinterpreter_debounces_on_its_own_private_loop)
{
  PyThreadState *main_ts = PyThreadState_Get();
  PyThreadState *sub = Py_NewInterpreter();
  ck_assert_ptr_nonnull(sub);
  int init_err = watch_init();
  int debounce_err = watch_set_debounce(500);
  probe_t *p = &harness_probes[harness_nprobes++];
  int new_err = watch_dep_new(&p->dep, rec_cb, p);
  PyObject *g = PyDict_New();
  PyObject *d = Py_BuildValue("{s:i}", "x", 1);
  PyObject *x = PyUnicode_InternFromString("x");
  int on_err = watch_dep_on_key(p->dep, d, x, PyDict_GetItem(d, x));
  PyObject *fn = PyCFunction_New(&delivered_def, NULL);
  PyObject *cap = PyCapsule_New(p, NULL, NULL);
  PyDict_SetItemString(g, "__builtins__", PyEval_GetBuiltins());
  PyDict_SetItemString(g, "delivered", fn);
  PyDict_SetItemString(g, "probe", cap);
  PyDict_SetItemString(g, "d", d);
  Py_XDECREF(fn);
  Py_XDECREF(cap);
  PyObject *r = PyRun_String(
      "import time\n"
      "d['x'] = 2\n"
      "early = delivered(probe)\n"
      "deadline = time.monotonic() + 30\n"
      "while not delivered(probe) and time.monotonic() < deadline:\n"
      "    time.sleep(0.001)\n",
      Py_file_input, g, g);
  int ran = r != NULL;
  if (r == NULL)
    PyErr_Print();
  Py_XDECREF(r);
  PyObject *early = PyDict_GetItemString(g, "early");
  long early_count = early ? PyLong_AsLong(early) : -1;
  int count = p->rec.count;
  int kind = p->rec.kind;
  int undebounce_err = watch_set_debounce(0);
  Py_CLEAR(p->rec.key);
  watch_dep_release(p->dep);
  p->dep = NULL;
  Py_DECREF(x);
  Py_DECREF(d);
  Py_DECREF(g);
  watch_fini();
  Py_EndInterpreter(sub);
  PyThreadState_Swap(main_ts);

  ck_assert_int_eq(init_err, 0);
  ck_assert_int_eq(debounce_err, 0);
  ck_assert_int_eq(new_err, 0);
  ck_assert_int_eq(on_err, 0);
  ck_assert(ran);
  ck_assert_int_eq(early_count, 0);
  ck_assert_int_eq(count, 1);
  ck_assert_int_eq(kind, WATCH_EVENT_MODIFIED);
  ck_assert_int_eq(undebounce_err, 0);
}
END_TEST

/* A pending call queued on a subinterpreter, and its private loop's timer,
 * may be outstanding when it ends without watch_fini(): its teardown
 * delivers, stops the loop, and leaves nothing that runs later. */
START_TEST(a_subinterpreter_ends_with_its_delivery_outstanding)
{
  PyThreadState *main_ts = PyThreadState_Get();
  PyThreadState *sub = Py_NewInterpreter();
  ck_assert_ptr_nonnull(sub);
  int init_err = watch_init();
  probe_t *p = &harness_probes[harness_nprobes++];
  probe_t *q = &harness_probes[harness_nprobes++];
  int new_err = watch_dep_new(&p->dep, rec_cb, p);
  int new_err2 = watch_dep_new(&q->dep, rec_cb, q);
  PyObject *d = Py_BuildValue("{s:i,s:i}", "x", 1, "y", 2);
  PyObject *x = PyUnicode_InternFromString("x");
  PyObject *y = PyUnicode_InternFromString("y");
  int on_err = watch_dep_on_key(p->dep, d, x, PyDict_GetItem(d, x));
  int on_err2 = watch_dep_on_key(q->dep, d, y, PyDict_GetItem(d, y));
  PyDict_SetItem(d, x, Py_None);     /* queues the pending call */
  int debounce_err = watch_set_debounce(60000);
  PyDict_SetItem(d, y, Py_None);     /* starts the private loop's timer */
  int before = p->rec.count + q->rec.count;
  Py_DECREF(x);
  Py_DECREF(y);
  Py_DECREF(d);
  Py_EndInterpreter(sub);            /* no watch_fini() */
  PyThreadState_Swap(main_ts);
  PyObject *g = NS(SAFE_POINTS);     /* nothing left to run here */

  ck_assert_int_eq(init_err, 0);
  ck_assert_int_eq(new_err, 0);
  ck_assert_int_eq(new_err2, 0);
  ck_assert_int_eq(on_err, 0);
  ck_assert_int_eq(on_err2, 0);
  ck_assert_int_eq(debounce_err, 0);
  ck_assert_int_eq(before, 0);
  ck_assert_int_eq(p->rec.count, 1);
  ck_assert_int_eq(p->rec.kind, WATCH_EVENT_MODIFIED);
  ck_assert_int_eq(q->rec.count, 1);
  ck_assert_int_eq(q->rec.kind, WATCH_EVENT_MODIFIED);
  /* The keys the callbacks kept belong to the ended interpreter. */
  p->rec.key = q->rec.key = NULL;
  probe_release(p);
  probe_release(q);
  Py_DECREF(g);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Finalization                                                             */

START_TEST(watch_fini_delivers_queued_callbacks_then_finalized)
{
  ck_assert_int_eq(watch_init(), 0);
  PyObject *d = PY("{'x': 1, 'y': 2}");
  PROBE(changed);
  PROBE(untouched);
  DEPEND(changed, d, "x");
  DEPEND(untouched, d, "y");
  ck_assert_int_eq(PyDict_SetItemString(d, "x", Py_None), 0);
  ck_assert_int_eq(changed->rec.count, 0);

  watch_fini();

  ck_assert_int_eq(changed->rec.count, 1);
  ck_assert_int_eq(changed->rec.kind, WATCH_EVENT_MODIFIED);
  ck_assert_int_eq(untouched->rec.count, 1);
  ck_assert_int_eq(untouched->rec.kind, WATCH_EVENT_FINALIZED);
  ck_assert_int_eq(watch_flush(), WATCH_ENOINIT);
  probe_release(changed);
  probe_release(untouched);
  Py_DECREF(d);
}
END_TEST

START_TEST(watch_fini_with_a_host_loop_and_pending_work)
{
  ck_assert_int_eq(watch_init(), 0);
  host_t h;
  host_open(&h);
  ck_assert_int_eq(watch_set_debounce(1000), 0);
  PyObject *d = PY("{'x': 1}");
  PROBE(p);
  DEPEND(p, d, "x");
  ck_assert_int_eq(PyDict_SetItemString(d, "x", Py_None), 0);
  host_run_once(&h, UV_RUN_NOWAIT); /* the timer is running */

  watch_fini();

  ck_assert_int_eq(p->rec.count, 1);
  ck_assert_int_eq(p->rec.kind, WATCH_EVENT_MODIFIED);
  /* libwatch closed its handles; the loop frees them. */
  uv_close((uv_handle_t *)&h.keepalive, NULL);
  uv_run(&h.loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&h.loop), 0);
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

START_TEST(a_pending_call_left_after_watch_fini_is_harmless)
{
  ck_assert_int_eq(watch_init(), 0);
  PyObject *d = PY("{'x': 1}");
  PROBE(p);
  DEPEND(p, d, "x");
  ck_assert_int_eq(PyDict_SetItemString(d, "x", Py_None), 0);
  watch_fini(); /* delivers; the pending call stays queued in CPython */
  ck_assert_int_eq(watch_init(), 0);

  PyObject *g = NS(SAFE_POINTS);

  ck_assert_int_eq(p->rec.count, 1);
  watch_fini();
  probe_release(p);
  Py_DECREF(g);
  Py_DECREF(d);
}
END_TEST

/* A callback that a safe point delivers may take libwatch down and start
 * it again: what it then registers and writes is delivered too, at the
 * next safe point, with no flush. */
static probe_t *restarted;
static PyObject *restart_dict;
static int restart_rc = -1;

static int
restart_cb(watch_dep_t *dep, const watch_event_t *event)
{
  rec_cb(dep, event);
  if (event->kind != WATCH_EVENT_MODIFIED)
    return 0;
  watch_fini();
  PyObject *y = PyUnicode_InternFromString("y");
  restart_rc = y ? watch_init() : -100;
  if (restart_rc == 0)
    restart_rc = watch_dep_new(&restarted->dep, rec_cb, restarted);
  if (restart_rc == 0)
    restart_rc = watch_dep_on_key(restarted->dep, restart_dict, y,
                                  PyDict_GetItem(restart_dict, y));
  if (restart_rc == 0)
    restart_rc = PyDict_SetItem(restart_dict, y, Py_None);
  Py_XDECREF(y);
  return 0;
}

START_TEST(a_callback_at_a_safe_point_may_restart_libwatch)
{
  ck_assert_int_eq(watch_init(), 0);
  PyObject *d = restart_dict = PY("{'x': 1, 'y': 2}");
  probe_t *p = &harness_probes[harness_nprobes++];
  restarted = &harness_probes[harness_nprobes++];
  ck_assert_int_eq(watch_dep_new(&p->dep, restart_cb, p), 0);
  DEPEND(p, d, "x");
  PyObject *g = NS("");
  ck_assert_int_eq(PyDict_SetItemString(g, "d", d), 0);
  expose_probe(g, "first", p);
  expose_probe(g, "second", restarted);

  RUN(g, "d['x'] = 2\n" SAFE_POINTS
         "seen = delivered(first), delivered(second)\n");

  ck_assert_int_eq(restart_rc, 0);
  PyObject *seen = ITEM(g, "seen");
  ck_assert_int_eq(PyLong_AsLong(PyTuple_GET_ITEM(seen, 0)), 1);
  ck_assert_int_eq(PyLong_AsLong(PyTuple_GET_ITEM(seen, 1)), 1);
  ck_assert_int_eq(p->rec.kind, WATCH_EVENT_MODIFIED);
  ck_assert_int_eq(restarted->rec.kind, WATCH_EVENT_MODIFIED);
  ck_assert_int_eq(watch_flush(), 0);
  watch_fini();
  Py_DECREF(g);
  Py_DECREF(d);
}
END_TEST

START_TEST(flush_attach_and_debounce_need_watch_init)
{
  uv_loop_t loop;
  ck_assert_int_eq(watch_flush(), WATCH_ENOINIT);
  ck_assert_int_eq(watch_attach_loop(&loop), WATCH_ENOINIT);
  ck_assert_int_eq(watch_set_debounce(5), WATCH_ENOINIT);
}
END_TEST

static Suite *
make_suite(void)
{
  Suite *s = suite_create("delivery");

  TCase *tc = harness_tcase(s, "after_the_mutation");
  tcase_add_test(tc, the_callback_runs_after_the_store_at_the_next_safe_point);
  tcase_add_test(tc, a_store_from_c_waits_for_a_safe_point_or_a_flush);
  tcase_add_test(tc, a_callback_may_run_python_code_on_the_new_state);
  tcase_add_test(tc, many_stores_from_c_need_one_pending_call);
  tcase_add_test(tc, a_worker_leaves_the_delivery_to_the_main_thread);

  tc = harness_tcase(s, "batches");
  tcase_add_test(tc, a_burst_of_writes_delivers_one_callback_per_dependent);
  tcase_add_test(tc, a_dependent_on_many_changed_keys_is_called_once);

  tc = harness_tcase(s, "callbacks");
  tcase_add_test(tc, a_callback_may_release_itself_and_register_again);
  tcase_add_test(tc, a_callback_may_mutate_and_its_effects_go_to_the_next_batch);
  tcase_add_test(tc, a_dependent_released_before_delivery_is_not_called);

  tc = harness_tcase(s, "location");
  tcase_add_test(tc, a_locating_dependent_is_told_the_file_and_line_of_the_writer);
  tcase_add_test(tc, a_dependent_that_did_not_ask_is_told_no_location);

  tc = harness_tcase(s, "errors");
  tcase_add_test(tc, a_callback_exception_goes_to_the_unraisable_hook);
  tcase_add_test(tc, a_callback_exception_does_not_reach_the_running_code);

  tc = harness_tcase(s, "loops");
  tcase_add_test(tc, an_attached_loop_delivers_when_it_runs);
  tcase_add_test(tc, a_write_in_another_thread_wakes_the_attached_loop);
  tcase_add_test(tc, the_debounce_timer_waits_for_a_quiet_period);
  tcase_add_test(tc, without_a_host_loop_the_debounce_runs_on_a_private_loop);
  tcase_add_test(tc, a_subinterpreter_delivers_at_its_own_safe_points);
  tcase_add_test(tc, a_subinterpreter_debounces_on_its_own_private_loop);
  tcase_add_test(tc, a_subinterpreter_ends_with_its_delivery_outstanding);

  tc = harness_bare_tcase(s, "finalization");
  tcase_add_test(tc, watch_fini_delivers_queued_callbacks_then_finalized);
  tcase_add_test(tc, watch_fini_with_a_host_loop_and_pending_work);
  tcase_add_test(tc, a_pending_call_left_after_watch_fini_is_harmless);
  tcase_add_test(tc, a_callback_at_a_safe_point_may_restart_libwatch);
  tcase_add_test(tc, flush_attach_and_debounce_need_watch_init);
  return s;
}
