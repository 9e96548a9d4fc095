/* libwatch's life cycle against callers that do it at the wrong moment:
 * watch_fini() and watch_init() from a callback told FINALIZED, and
 * watch_fini() while a pending call is queued. */
#include "harness.h"

static int init_rc_in_callback;
static int register_rc_in_callback;
static int fini_calls_in_callback;

static int
fini_again(watch_dep_t *dep, const watch_event_t *event)
{
  rec_cb(dep, event);
  if (event->kind == WATCH_EVENT_FINALIZED) {
    watch_fini();
    fini_calls_in_callback++;
    init_rc_in_callback = watch_init();
    watch_dep_t *late = NULL;
    register_rc_in_callback = watch_dep_new(&late, NULL, NULL);
    watch_dep_release(late);
  }
  return 0;
}

/* The shutdown under way is the one asked for: the callback's watch_fini()
 * does nothing, its watch_init() and anything it would register are
 * refused, and libwatch afterwards starts again as new, in this
 * interpreter and beside a subinterpreter. */
START_TEST(fini_and_init_from_a_finalized_callback)
{
  ck_assert_int_eq(watch_init(), 0);
  probe_t *p = &harness_probes[harness_nprobes++];
  ck_assert_int_eq(watch_dep_new(&p->dep, fini_again, p), 0);
  init_rc_in_callback = 0;
  fini_calls_in_callback = 0;

  watch_fini();

  ck_assert_int_eq(fini_calls_in_callback, 1);
  ck_assert_int_eq(init_rc_in_callback, WATCH_ENOINIT);
  ck_assert_int_eq(register_rc_in_callback, WATCH_ENOINIT);
  ck_assert_int_eq(p->rec.kind, WATCH_EVENT_FINALIZED);
  watch_counters_t c;
  ck_assert_int_eq(watch_counters(&c), WATCH_ENOINIT);

  ck_assert_int_eq(watch_init(), 0);
  PyThreadState *main_ts = PyThreadState_Get();
  PyThreadState *sub = Py_NewInterpreter();
  ck_assert_ptr_nonnull(sub);
  int sub_init = watch_init();
  watch_fini();
  Py_EndInterpreter(sub);
  PyThreadState_Swap(main_ts);
  ck_assert_int_eq(sub_init, 0);

  PyObject *d = PY("{'x': 1}");
  PROBE(after);
  DEPEND(after, d, "x");
  RUN_WITH("d['x'] = 2", "d", d);
  assert_invalidated(after, WATCH_EVENT_MODIFIED, d);
  probe_release(after);
  probe_release(p);
  Py_DECREF(d);
  watch_fini();
}
END_TEST

/* A pending call outlives the watch_fini() that made it moot; when it runs
 * with libwatch down, it still clears its flag, so that after the next
 * watch_init() pending calls deliver again. */
START_TEST(fini_while_a_pending_call_is_queued)
{
  ck_assert_int_eq(watch_init(), 0);
  PyObject *d = PY("{'x': 1}");
  PROBE(before);
  DEPEND(before, d, "x");
  RUN_WITH("d['x'] = 2", "d", d);       /* delivered; the call stays queued */
  assert_invalidated(before, WATCH_EVENT_MODIFIED, d);
  watch_fini();
  ck_assert_int_eq(Py_MakePendingCalls(), 0); /* runs with libwatch down */

  ck_assert_int_eq(watch_init(), 0);
  PROBE(again);
  DEPEND(again, d, "x");
  /* Not RUN_WITH(), which would deliver at once. */
  PyObject *g = Py_BuildValue("{sO}", "d", d);
  PyObject *r = PyRun_String("d['x'] = 3", Py_file_input, g, g);
  ck_assert_ptr_nonnull(r);
  Py_DECREF(r);
  Py_DECREF(g);
  ck_assert_int_eq(again->rec.count, 0); /* queued, not delivered yet */
  ck_assert_int_eq(Py_MakePendingCalls(), 0);
  ck_assert_int_eq(again->rec.count, 1);
  ck_assert_int_eq(again->rec.kind, WATCH_EVENT_MODIFIED);
  probe_release(before);
  probe_release(again);
  Py_DECREF(d);
  watch_fini();
}
END_TEST

static Suite *
make_suite(void)
{
  Suite *s = suite_create("lifecycle");
  TCase *tc = harness_bare_tcase(s, "fini");
  tcase_add_test(tc, fini_and_init_from_a_finalized_callback);
  tcase_add_test(tc, fini_while_a_pending_call_is_queued);
  return s;
}
