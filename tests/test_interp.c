/* State is per interpreter; ending an interpreter finalizes libwatch there
 * as watch_fini() would. */
#include "harness.h"

static PyThreadState *
enter_subinterpreter(PyThreadState **main_ts)
{
  *main_ts = PyThreadState_Get();
  PyThreadState *sub = Py_NewInterpreter();
  ck_assert_ptr_nonnull(sub);
  return sub;
}

static void
end_subinterpreter(PyThreadState *sub, PyThreadState *main_ts)
{
  Py_EndInterpreter(sub);
  PyThreadState_Swap(main_ts);
}

START_TEST(a_subinterpreter_starts_uninitialized)
{
  PyThreadState *main_ts;
  PyThreadState *sub = enter_subinterpreter(&main_ts);

  watch_counters_t c;
  int err = watch_counters(&c);

  end_subinterpreter(sub, main_ts);
  ck_assert_int_eq(err, WATCH_ENOINIT);
}
END_TEST

START_TEST(a_subinterpreter_has_its_own_state)
{
  PyObject *d = PY("{'x': 1}");
  PROBE(main_dep);
  DEPEND(main_dep, d, "x");
  watch_counters_t main_before = COUNTERS();

  PyThreadState *main_ts;
  PyThreadState *sub = enter_subinterpreter(&main_ts);
  int init_err = watch_init();
  watch_counters_t sub_counters;
  memset(&sub_counters, 0xab, sizeof sub_counters);
  int counters_err = watch_counters(&sub_counters);
  if (init_err == 0)
    watch_fini();
  end_subinterpreter(sub, main_ts);

  ck_assert_int_eq(init_err, 0);
  ck_assert_int_eq(counters_err, 0);
  ck_assert_uint_eq(sub_counters.dependents, 0);
  ck_assert_uint_eq(sub_counters.edges, 0);
  watch_counters_t main_after = COUNTERS();
  ck_assert_uint_eq(main_after.dependents, main_before.dependents);
  ck_assert_uint_eq(main_after.edges, main_before.edges);
  assert_intact(main_dep);
  RUN_WITH("d['x'] = 2", "d", d);
  assert_invalidated(main_dep, WATCH_EVENT_MODIFIED, d);
  probe_release(main_dep);
  Py_DECREF(d);
}
END_TEST

START_TEST(ending_an_interpreter_finalizes_its_dependents)
{
  PyThreadState *main_ts;
  PyThreadState *sub = enter_subinterpreter(&main_ts);
  int init_err = watch_init();
  /* Created by hand: PROBE() would fail the test inside the subinterpreter. */
  probe_t *idle = &harness_probes[harness_nprobes++];
  probe_t *on_len = &harness_probes[harness_nprobes++];
  int new_err1 = watch_dep_new(&idle->dep, rec_cb, idle);
  int new_err2 = watch_dep_new(&on_len->dep, rec_cb, on_len);
  PyObject *b = PyEval_GetBuiltins();
  int on_err = on_len->dep ? watch_dep_on_key(on_len->dep, b, key("len"),
                                              PyDict_GetItemString(b, "len"))
                           : -100;

  end_subinterpreter(sub, main_ts); /* no watch_fini() */

  /* The keys the callbacks kept belong to the ended interpreter: drop them
   * without touching them. */
  idle->rec.key = NULL;
  on_len->rec.key = NULL;
  ck_assert_int_eq(init_err, 0);
  ck_assert_int_eq(new_err1, 0);
  ck_assert_int_eq(new_err2, 0);
  ck_assert_int_eq(on_err, 0);
  assert_invalidated(idle, WATCH_EVENT_FINALIZED, NULL);
  /* The builtins dict may be torn down before libwatch is: any event. */
  assert_invalidated_once(on_len);
  /* Released after their interpreter is gone. */
  probe_release(idle);
  probe_release(on_len);
}
END_TEST

static Suite *
make_suite(void)
{
  Suite *s = suite_create("interp");

  TCase *tc = harness_tcase(s, "subinterpreters");
  tcase_add_test(tc, a_subinterpreter_starts_uninitialized);
  tcase_add_test(tc, a_subinterpreter_has_its_own_state);
  tcase_add_test(tc, ending_an_interpreter_finalizes_its_dependents);
  return s;
}
