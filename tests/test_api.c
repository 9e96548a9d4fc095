/* The API's own rules: callbacks, releasing, manual invalidation, errors,
 * initialization and finalization. */
#include "harness.h"

/* ------------------------------------------------------------------------ */
/* Callbacks and releasing                                                  */

START_TEST(callback_is_given_its_dependent_and_its_data)
{
  PyObject *d = PY("{'x': 1}");
  PROBE(p);
  DEPEND(p, d, "x");

  ck_assert_ptr_eq(watch_dep_data(p->dep), p);
  RUN_WITH("d['x'] = 2", "d", d);

  ck_assert_ptr_eq(p->rec.dep_seen, p->dep);
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

START_TEST(a_dependent_without_callback_is_invalidated)
{
  PyObject *d = PY("{'x': 1}");
  watch_dep_t *dep = NULL;
  ck_assert_int_eq(watch_dep_new(&dep, NULL, NULL), 0);
  ck_assert_ptr_null(watch_dep_data(dep));
  ck_assert_int_eq(watch_dep_on_key(dep, d, key("x"), ITEM(d, "x")), 0);

  RUN_WITH("d['x'] = 2", "d", d);

  ck_assert_int_eq(watch_dep_valid(dep), 0);
  watch_dep_release(dep);
  Py_DECREF(d);
}
END_TEST

START_TEST(a_new_dependent_is_valid)
{
  PROBE(p);

  ck_assert_int_ne(watch_dep_valid(p->dep), 0);
  assert_intact(p);
  probe_release(p);
}
END_TEST

START_TEST(releasing_a_dependent_inside_its_own_callback_is_safe)
{
  PyObject *d = PY("{'x': 1, 'y': 2}");
  PROBE(p);
  p->rec.release_self = 1;
  DEPEND(p, d, "x");
  DEPEND(p, d, "y");

  RUN_WITH("d['x'] = 2", "d", d);
  RUN_WITH("d['x'] = 3\nd['y'] = 3\nd.clear()", "d", d);

  ck_assert_int_eq(p->rec.count, 1);
  watch_counters_t c = COUNTERS();
  ck_assert_uint_eq(c.dependents, 0);
  ck_assert_uint_eq(c.edges, 0);
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

START_TEST(releasing_another_dependent_of_the_same_key_inside_a_callback_is_safe)
{
  PyObject *d = PY("{'x': 1}");
  PROBE(a);
  PROBE(b);
  a->rec.release_other = b;
  b->rec.release_other = a;
  DEPEND(a, d, "x");
  DEPEND(b, d, "x");

  RUN_WITH("d['x'] = 2", "d", d);

  /* Whichever callback ran first released the other, which is then never
   * called. */
  ck_assert_int_eq(a->rec.count + b->rec.count, 1);
  ASSERT_COUNTER(dependents, ==, 1);
  probe_release(a);
  probe_release(b);
  ASSERT_COUNTER(dependents, ==, 0);
  Py_DECREF(d);
}
END_TEST

START_TEST(releasing_another_dependent_of_a_cleared_dict_inside_a_callback_is_safe)
{
  PyObject *d = PY("{'x': 1, 'y': 2}");
  PROBE(a);
  PROBE(b);
  a->rec.release_other = b;
  b->rec.release_other = a;
  DEPEND(a, d, "x");
  DEPEND(b, d, "y");

  RUN_WITH("d.clear()", "d", d);

  ck_assert_int_eq(a->rec.count + b->rec.count, 1);
  probe_release(a);
  probe_release(b);
  ASSERT_COUNTER(dependents, ==, 0);
  Py_DECREF(d);
}
END_TEST

START_TEST(releasing_an_unrelated_dependent_inside_a_callback_is_safe)
{
  PyObject *d = PY("{'x': 1}");
  PyObject *other = PY("{'x': 1}");
  PROBE(a);
  PROBE(c);
  a->rec.release_other = c;
  DEPEND(a, d, "x");
  DEPEND(c, other, "x");

  RUN_WITH("d['x'] = 2", "d", d);
  ck_assert_ptr_null(c->dep);
  RUN_WITH("o['x'] = 2", "o", other);

  assert_invalidated(a, WATCH_EVENT_MODIFIED, d);
  ck_assert_int_eq(c->rec.count, 0);
  probe_release(a);
  probe_release(c);
  ASSERT_COUNTER(edges, ==, 0);
  Py_DECREF(other);
  Py_DECREF(d);
}
END_TEST

START_TEST(a_dependent_on_many_keys_is_invalidated_once)
{
  PyObject *g = NS("ds = [{f'k{i}': i for i in range(100) if i % 3 == j}\n"
                   "      for j in range(3)]\n");
  PyObject *ds = ITEM(g, "ds");
  PROBE(p);
  for (int i = 0; i < 100; i++) {
    char name[16];
    snprintf(name, sizeof name, "k%d", i);
    DEPEND(p, PyList_GET_ITEM(ds, i % 3), name);
  }
  ASSERT_COUNTER(edges, ==, 100);

  RUN(g, "ds[1]['k1'] = 'changed'\n");
  ASSERT_COUNTER(edges, ==, 0);
  RUN(g, "for j, d in enumerate(ds):\n"
         "    for k in list(d):\n"
         "        d[k] = object()\n"
         "    d.clear()\n");

  assert_invalidated(p, WATCH_EVENT_MODIFIED, PyList_GET_ITEM(ds, 1));
  assert_key(p, "k1");
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(registering_on_an_invalidated_dependent_fails)
{
  PyObject *d = PY("{'x': 1, 'y': 2}");
  PROBE(p);
  DEPEND(p, d, "x");
  RUN_WITH("d['x'] = 2", "d", d);
  watch_counters_t before = COUNTERS();

  ck_assert_int_eq(watch_dep_on_key(p->dep, d, key("y"), ITEM(d, "y")),
                   WATCH_EINVALIDATED);
  ck_assert_int_eq(watch_dep_on_namespace(p->dep, d), WATCH_EINVALIDATED);
  ck_assert_int_eq(watch_dep_on_global(p->dep, d, PyEval_GetBuiltins(),
                                       key("y"), ITEM(d, "y")),
                   WATCH_EINVALIDATED);

  assert_no_python_error();
  ASSERT_COUNTER(edges, ==, before.edges);
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

START_TEST(invalidate_calls_the_callback_with_manual)
{
  PROBE(p);

  ck_assert_int_eq(watch_dep_invalidate(p->dep), 0);

  assert_invalidated(p, WATCH_EVENT_MANUAL, NULL);
  probe_release(p);
}
END_TEST

START_TEST(invalidate_drops_the_dependencies)
{
  PyObject *d = PY("{'x': 1, 'y': 2}");
  PROBE(p);
  DEPEND(p, d, "x");
  DEPEND(p, d, "y");

  ck_assert_int_eq(watch_dep_invalidate(p->dep), 0);
  RUN_WITH("d['x'] = 2\nd['y'] = 3", "d", d);

  assert_invalidated(p, WATCH_EVENT_MANUAL, NULL);
  ASSERT_COUNTER(edges, ==, 0);
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

START_TEST(invalidating_twice_calls_the_callback_once)
{
  PROBE(p);

  watch_dep_invalidate(p->dep);
  watch_dep_invalidate(p->dep);

  assert_invalidated(p, WATCH_EVENT_MANUAL, NULL);
  probe_release(p);
}
END_TEST

START_TEST(a_rearmed_dependent_is_valid_and_can_be_invalidated_again)
{
  PyObject *d = PY("{'x': 1}");
  PROBE(p);
  DEPEND(p, d, "x");
  RUN_WITH("d['x'] = 2", "d", d);
  assert_invalidated(p, WATCH_EVENT_MODIFIED, d);

  ck_assert_int_eq(watch_dep_rearm(p->dep), 0);
  ck_assert(watch_dep_valid(p->dep));
  DEPEND(p, d, "x");
  RUN_WITH("d['x'] = 3", "d", d);
  watch_flush();

  ck_assert(!watch_dep_valid(p->dep));
  ck_assert_int_eq(p->rec.count, 2);
  ck_assert_int_eq(p->rec.kind, WATCH_EVENT_MODIFIED);
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

START_TEST(rearming_drops_a_callback_not_yet_delivered)
{
  PyObject *d = PY("{'x': 1}");
  PROBE(p);
  DEPEND(p, d, "x");
  /* A store from C: no safe point runs until the flush. */
  ck_assert_int_eq(PyDict_SetItem(d, key("x"), Py_None), 0);
  ck_assert(!watch_dep_valid(p->dep));

  ck_assert_int_eq(watch_dep_rearm(p->dep), 0);
  watch_flush();

  ck_assert(watch_dep_valid(p->dep));
  ck_assert_int_eq(p->rec.count, 0);
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

START_TEST(rearming_a_valid_dependent_drops_its_dependencies)
{
  PyObject *d = PY("{'x': 1, 'y': 2}");
  watch_counters_t start = COUNTERS();
  PROBE(p);
  DEPEND(p, d, "x");
  ck_assert_int_eq(watch_dep_on_namespace(p->dep, d), 0);

  ck_assert_int_eq(watch_dep_rearm(p->dep), 0);
  RUN_WITH("d['x'] = 2\nd['y'] = 3", "d", d);

  assert_intact(p);
  ASSERT_COUNTER(edges, ==, start.edges);
  ASSERT_COUNTER(dependents, ==, start.dependents + 1);
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

START_TEST(a_rearmed_dependent_keeps_its_callback_and_data)
{
  PROBE(p);
  watch_dep_invalidate(p->dep);
  assert_invalidated(p, WATCH_EVENT_MANUAL, NULL);

  ck_assert_int_eq(watch_dep_rearm(p->dep), 0);
  ck_assert_ptr_eq(watch_dep_data(p->dep), p);
  watch_dep_invalidate(p->dep);

  ck_assert_int_eq(p->rec.count, 2);
  ck_assert_ptr_eq(p->rec.dep_seen, p->dep);
  probe_release(p);
}
END_TEST

START_TEST(rearm_fails_without_a_dependent_or_after_watch_fini)
{
  ck_assert_int_eq(watch_dep_rearm(NULL), WATCH_EINVAL);
  ck_assert_int_eq(watch_init(), 0);
  PROBE(p);
  watch_fini();

  ck_assert_int_eq(watch_dep_rearm(p->dep), WATCH_ENOINIT);
  ck_assert(!watch_dep_valid(p->dep));
  probe_release(p);
}
END_TEST

START_TEST(a_negative_callback_return_does_not_stop_the_store)
{
  PyObject *d = PY("{'x': 1}");
  PROBE(p);
  p->rec.ret = -1;
  DEPEND(p, d, "x");

  RUN_WITH("d['x'] = 2\nassert d['x'] == 2", "d", d);

  assert_invalidated(p, WATCH_EVENT_MODIFIED, d);
  assert_no_python_error();
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

START_TEST(a_negative_callback_return_raises_nothing_in_python)
{
  PyObject *g = NS("import sys\n"
                   "seen = []\n"
                   "old_hook = sys.unraisablehook\n"
                   "sys.unraisablehook = seen.append\n"
                   "d = {'x': 1}\n");
  PyObject *d = ITEM(g, "d");
  PROBE(p);
  p->rec.ret = -1;
  DEPEND(p, d, "x");

  RUN(g, "try:\n"
         "    d['x'] = 2\n"
         "finally:\n"
         "    sys.unraisablehook = old_hook\n"
         "assert not seen, seen\n");

  assert_invalidated(p, WATCH_EVENT_MODIFIED, d);
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_pending_exception_survives_an_event)
{
  PyObject *d = PY("{'x': 1}");
  PROBE(p);
  DEPEND(p, d, "x");

  PyErr_SetString(PyExc_RuntimeError, "pending");
  Py_DECREF(d); /* a DEALLOCATED event while an exception is set */

  ck_assert_msg(PyErr_ExceptionMatches(PyExc_RuntimeError),
                "the pending exception was lost or replaced");
  PyObject *exc = PyErr_GetRaisedException();
  PyObject *msg = PyObject_Str(exc);
  ck_assert_str_eq(PyUnicode_AsUTF8(msg), "pending");
  Py_DECREF(msg);
  Py_DECREF(exc);
  assert_invalidated(p, WATCH_EVENT_DEALLOCATED, NULL);
  probe_release(p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */

static const struct {
  int code;
  const char *name;
  const char *message;
} all_codes[] = {
#define XX(code, value, msg) {value, #code, msg},
  WATCH_ERRNO_MAP(XX)
#undef XX
};
#define N_CODES ((int)(sizeof all_codes / sizeof all_codes[0]))

START_TEST(strerror_gives_each_code_its_message)
{
  for (int i = 0; i < N_CODES; i++) {
    const char *s = watch_strerror(all_codes[i].code);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, all_codes[i].message);
  }
}
END_TEST

START_TEST(strerror_messages_are_distinct)
{
  for (int i = 0; i < N_CODES; i++)
    for (int j = i + 1; j < N_CODES; j++)
      ck_assert_str_ne(watch_strerror(all_codes[i].code),
                       watch_strerror(all_codes[j].code));
}
END_TEST

START_TEST(err_name_names_each_code_distinctly)
{
  for (int i = 0; i < N_CODES; i++) {
    const char *s = watch_err_name(all_codes[i].code);
    ck_assert_ptr_nonnull(s);
    ck_assert_msg(strstr(s, all_codes[i].name) != NULL,
                  "watch_err_name(%d) = \"%s\" does not name %s",
                  all_codes[i].code, s, all_codes[i].name);
    for (int j = 0; j < i; j++)
      ck_assert_str_ne(s, watch_err_name(all_codes[j].code));
  }
}
END_TEST

START_TEST(the_library_is_the_release_of_its_header)
{
  ck_assert_uint_eq(watch_library_version(), WATCH_VERSION_HEX);
  ck_assert_uint_eq(WATCH_VERSION_HEX >> 16, WATCH_VERSION_MAJOR);
  ck_assert_uint_eq((WATCH_VERSION_HEX >> 8) & 0xff, WATCH_VERSION_MINOR);
  ck_assert_uint_eq(WATCH_VERSION_HEX & 0xff, WATCH_VERSION_PATCH);
}
END_TEST

START_TEST(unknown_codes_are_described_as_unknown)
{
  const int unknown[] = {-1000, -100, 1, 42, INT_MIN, INT_MAX};
  for (size_t u = 0; u < sizeof unknown / sizeof unknown[0]; u++) {
    const char *s = watch_strerror(unknown[u]);
    const char *n = watch_err_name(unknown[u]);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(n);
    ck_assert_int_gt(strlen(s), 0);
    ck_assert_int_gt(strlen(n), 0);
    for (int i = 0; i < N_CODES; i++) {
      ck_assert_str_ne(s, watch_strerror(all_codes[i].code));
      ck_assert_str_ne(n, watch_err_name(all_codes[i].code));
    }
  }
}
END_TEST

static const struct {
  watch_event_kind_t kind;
  const char *name;
} all_kinds[] = {
#define XX(kind, value, name, meaning) {WATCH_EVENT_##kind, name},
  WATCH_EVENT_MAP(XX)
#undef XX
};
#define N_KINDS ((int)(sizeof all_kinds / sizeof all_kinds[0]))

START_TEST(event_name_names_each_kind_distinctly)
{
  for (int i = 0; i < N_KINDS; i++) {
    const char *s = watch_event_name(all_kinds[i].kind);
    ck_assert_str_eq(s, all_kinds[i].name);
    for (int j = 0; j < i; j++)
      ck_assert_str_ne(s, watch_event_name(all_kinds[j].kind));
  }
  ck_assert_str_eq(watch_event_name((watch_event_kind_t)0), "unknown");
  ck_assert_str_eq(watch_event_name((watch_event_kind_t)1000), "unknown");
}
END_TEST

/* Values are ABI: a kind keeps its number, and new ones come after. */
START_TEST(event_kinds_keep_their_numbers)
{
  ck_assert_int_eq(WATCH_EVENT_ADDED, 1);
  ck_assert_int_eq(WATCH_EVENT_FINALIZED, 9);
  ck_assert_int_eq(WATCH_EVENT_TYPE, 13);
  for (int i = 0; i < N_KINDS; i++)
    ck_assert_int_eq(all_kinds[i].kind, i + 1);
}
END_TEST

START_TEST(bad_arguments_to_dep_on_key_are_invalid)
{
  PyObject *d = PY("{'x': 1}");
  PyObject *list = PY("[1, 2]");
  PROBE(p);

  ck_assert_int_eq(watch_dep_on_key(p->dep, NULL, key("x"), NULL), WATCH_EINVAL);
  ck_assert_int_eq(watch_dep_on_key(p->dep, list, key("x"), NULL), WATCH_EINVAL);
  ck_assert_int_eq(watch_dep_on_key(p->dep, d, NULL, NULL), WATCH_EINVAL);
  ck_assert_int_eq(watch_dep_on_key(NULL, d, key("x"), ITEM(d, "x")),
                   WATCH_EINVAL);

  assert_no_python_error();
  assert_intact(p);
  probe_release(p);
  Py_DECREF(list);
  Py_DECREF(d);
}
END_TEST

START_TEST(bad_arguments_to_dep_on_namespace_are_invalid)
{
  PyObject *d = PY("{'x': 1}");
  PyObject *list = PY("[1, 2]");
  PROBE(p);

  ck_assert_int_eq(watch_dep_on_namespace(p->dep, NULL), WATCH_EINVAL);
  ck_assert_int_eq(watch_dep_on_namespace(p->dep, list), WATCH_EINVAL);
  ck_assert_int_eq(watch_dep_on_namespace(NULL, d), WATCH_EINVAL);

  assert_no_python_error();
  probe_release(p);
  Py_DECREF(list);
  Py_DECREF(d);
}
END_TEST

START_TEST(bad_arguments_to_dep_on_global_are_invalid)
{
  PyObject *g = NS("x = 1\n");
  PyObject *b = PyEval_GetBuiltins();
  PyObject *list = PY("[1, 2]");
  PyObject *x = ITEM(g, "x");
  PROBE(p);

  ck_assert_int_eq(watch_dep_on_global(p->dep, NULL, b, key("x"), x),
                   WATCH_EINVAL);
  ck_assert_int_eq(watch_dep_on_global(p->dep, g, NULL, key("x"), x),
                   WATCH_EINVAL);
  ck_assert_int_eq(watch_dep_on_global(p->dep, list, b, key("x"), x),
                   WATCH_EINVAL);
  ck_assert_int_eq(watch_dep_on_global(p->dep, g, list, key("x"), x),
                   WATCH_EINVAL);
  ck_assert_int_eq(watch_dep_on_global(p->dep, g, b, NULL, x), WATCH_EINVAL);
  ck_assert_int_eq(watch_dep_on_global(NULL, g, b, key("x"), x), WATCH_EINVAL);

  assert_no_python_error();
  probe_release(p);
  Py_DECREF(list);
  Py_DECREF(g);
}
END_TEST

START_TEST(bad_arguments_to_the_other_calls_are_invalid)
{
  PyObject *list = PY("[1, 2]");
  PyObject *d = PY("{}");
  uint64_t v;

  ck_assert_int_eq(watch_dep_new(NULL, rec_cb, NULL), WATCH_EINVAL);
  ck_assert_int_eq(watch_dep_invalidate(NULL), WATCH_EINVAL);
  ck_assert_int_eq(watch_dict_version(NULL, &v), WATCH_EINVAL);
  ck_assert_int_eq(watch_dict_version(list, &v), WATCH_EINVAL);
  ck_assert_int_eq(watch_dict_version(d, NULL), WATCH_EINVAL);
  ck_assert_int_eq(watch_counters(NULL), WATCH_EINVAL);

  assert_no_python_error();
  ASSERT_COUNTER(dependents, ==, 0);
  Py_DECREF(d);
  Py_DECREF(list);
}
END_TEST

START_TEST(an_unhashable_key_fails_with_a_python_type_error)
{
  PyObject *d = PY("{'x': 1}");
  PyObject *unhashable = PY("['x']");
  PROBE(p);

  ck_assert_int_eq(watch_dep_on_key(p->dep, d, unhashable, NULL), WATCH_EPYTHON);

  ck_assert_ptr_nonnull(PyErr_Occurred());
  ck_assert(PyErr_ExceptionMatches(PyExc_TypeError));
  PyErr_Clear();
  probe_release(p);
  Py_DECREF(unhashable);
  Py_DECREF(d);
}
END_TEST

START_TEST(a_key_whose_hash_raises_fails_with_that_exception)
{
  PyObject *g = NS("class Bad:\n"
                   "    def __hash__(self):\n"
                   "        raise ZeroDivisionError('no hash')\n"
                   "d = {'x': 1}\n"
                   "k = Bad()\n");
  PROBE(p);

  ck_assert_int_eq(watch_dep_on_key(p->dep, ITEM(g, "d"), ITEM(g, "k"), NULL),
                   WATCH_EPYTHON);

  ck_assert(PyErr_ExceptionMatches(PyExc_ZeroDivisionError));
  PyErr_Clear();
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Initialization and finalization (these tests call watch_init themselves) */

START_TEST(calls_before_watch_init_fail_with_enoinit)
{
  PyObject *d = PY("{'x': 1}");
  watch_counters_t c;
  watch_dep_t *dep = NULL;
  uint64_t v;

  ck_assert_int_eq(watch_counters(&c), WATCH_ENOINIT);
  ck_assert_int_eq(watch_dep_new(&dep, NULL, NULL), WATCH_ENOINIT);
  ck_assert_int_eq(watch_dict_version(d, &v), WATCH_ENOINIT);
  ck_assert_int_eq(watch_set_unstable_limit(3), WATCH_ENOINIT);

  assert_no_python_error();
  Py_DECREF(d);
}
END_TEST

START_TEST(calls_after_the_last_watch_fini_fail_with_enoinit)
{
  watch_counters_t c;
  watch_dep_t *dep = NULL;
  ck_assert_int_eq(watch_init(), 0);
  watch_fini();

  ck_assert_int_eq(watch_counters(&c), WATCH_ENOINIT);
  ck_assert_int_eq(watch_dep_new(&dep, NULL, NULL), WATCH_ENOINIT);
}
END_TEST

START_TEST(watch_init_nests)
{
  watch_counters_t c;
  ck_assert_int_eq(watch_init(), 0);
  ck_assert_int_eq(watch_init(), 0);
  PyObject *d = PY("{'x': 1}");
  PROBE(p);
  DEPEND(p, d, "x");

  watch_fini();
  ck_assert_int_eq(watch_counters(&c), 0);
  assert_intact(p);
  RUN_WITH("d['x'] = 2", "d", d);
  assert_invalidated(p, WATCH_EVENT_MODIFIED, d);

  watch_fini();
  ck_assert_int_eq(watch_counters(&c), WATCH_ENOINIT);
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

START_TEST(init_fini_cycles_do_not_use_up_watcher_ids)
{
  for (int i = 0; i < 20; i++) {
    int err = watch_init();
    ck_assert_msg(err == 0, "watch_init() #%d = %d (%s)", i + 1, err,
                  harness_err(err));
    PyObject *d = PY("{'x': 1}");
    PROBE(p);
    DEPEND(p, d, "x");
    watch_fini();
    probe_release(p);
    Py_DECREF(d);
  }
}
END_TEST

static int
idle_watcher(PyDict_WatchEvent event, PyObject *dict, PyObject *key,
             PyObject *value)
{
  (void)event, (void)dict, (void)key, (void)value;
  return 0;
}

START_TEST(watch_init_fails_busy_when_no_watcher_id_is_free)
{
  int ids[16], n = 0;
  for (;;) {
    ck_assert_int_lt(n, 16);
    int id = PyDict_AddWatcher(idle_watcher);
    if (id < 0) {
      PyErr_Clear();
      break;
    }
    ids[n++] = id;
  }

  int err = watch_init();
  assert_no_python_error();
  for (int i = 0; i < n; i++)
    PyDict_ClearWatcher(ids[i]);
  ck_assert_msg(err == WATCH_EBUSY, "watch_init() = %d (%s)", err,
                harness_err(err));

  ck_assert_int_eq(watch_init(), 0);
  watch_fini();
}
END_TEST

START_TEST(watch_fini_invalidates_live_dependents_as_finalized)
{
  ck_assert_int_eq(watch_init(), 0);
  PyObject *ns = NS("d = {'x': 1}\n");
  PyObject *d = ITEM(ns, "d");
  PROBE(on_key);
  PROBE(on_namespace);
  PROBE(on_global);
  PROBE(on_nothing);
  DEPEND(on_key, d, "x");
  ck_assert_int_eq(watch_dep_on_namespace(on_namespace->dep, d), 0);
  ck_assert_int_eq(watch_dep_on_global(on_global->dep, ns, PyEval_GetBuiltins(),
                                       key("len"),
                                       ITEM(PyEval_GetBuiltins(), "len")),
                   0);

  watch_fini();

  assert_invalidated(on_key, WATCH_EVENT_FINALIZED, NULL);
  assert_invalidated(on_namespace, WATCH_EVENT_FINALIZED, NULL);
  assert_invalidated(on_global, WATCH_EVENT_FINALIZED, NULL);
  assert_invalidated(on_nothing, WATCH_EVENT_FINALIZED, NULL);
  probe_release(on_key);
  probe_release(on_namespace);
  probe_release(on_global);
  probe_release(on_nothing);
  Py_DECREF(ns);
}
END_TEST

START_TEST(dependents_can_be_released_after_watch_fini)
{
  ck_assert_int_eq(watch_init(), 0);
  PyObject *d = PY("{'x': 1}");
  PROBE(a);
  PROBE(b);
  DEPEND(a, d, "x");
  DEPEND(b, d, "x");
  watch_fini();

  probe_release(a);
  RUN_WITH("d['x'] = 2\ndel d['x']", "d", d);
  probe_release(b);
  Py_DECREF(d);

  ck_assert_int_eq(a->rec.count, 1);
  ck_assert_int_eq(b->rec.count, 1);
}
END_TEST

START_TEST(an_inner_watch_fini_keeps_dependents_valid)
{
  ck_assert_int_eq(watch_init(), 0);
  ck_assert_int_eq(watch_init(), 0);
  PROBE(p);

  watch_fini();
  assert_intact(p);
  watch_fini();
  assert_invalidated(p, WATCH_EVENT_FINALIZED, NULL);
  probe_release(p);
}
END_TEST

START_TEST(a_dict_watched_before_watch_fini_works_after_a_new_watch_init)
{
  ck_assert_int_eq(watch_init(), 0);
  PyObject *d = PY("{'x': 1}");
  PROBE(old);
  DEPEND(old, d, "x");
  watch_fini();
  probe_release(old);

  ck_assert_int_eq(watch_init(), 0);
  PROBE(p);
  DEPEND(p, d, "x");
  RUN_WITH("d['x'] = 2", "d", d);

  assert_invalidated(p, WATCH_EVENT_MODIFIED, d);
  ck_assert_int_eq(old->rec.count, 1); /* FINALIZED only */
  probe_release(p);
  watch_fini();
  Py_DECREF(d);
}
END_TEST

START_TEST(watch_fini_does_not_call_an_already_invalidated_dependent)
{
  ck_assert_int_eq(watch_init(), 0);
  PyObject *d = PY("{'x': 1}");
  PROBE(p);
  DEPEND(p, d, "x");
  RUN_WITH("d['x'] = 2", "d", d);

  watch_fini();

  assert_invalidated(p, WATCH_EVENT_MODIFIED, d);
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

START_TEST(releasing_dependents_inside_finalized_callbacks_is_safe)
{
  ck_assert_int_eq(watch_init(), 0);
  PyObject *d = PY("{'x': 1}");
  PROBE(self_releasing);
  PROBE(a);
  PROBE(b);
  self_releasing->rec.release_self = 1;
  a->rec.release_other = b;
  b->rec.release_other = a;
  DEPEND(self_releasing, d, "x");
  DEPEND(a, d, "x");
  DEPEND(b, d, "x");

  watch_fini();

  ck_assert_int_eq(self_releasing->rec.count, 1);
  ck_assert_int_eq(self_releasing->rec.kind, WATCH_EVENT_FINALIZED);
  ck_assert_int_eq(a->rec.count + b->rec.count, 1);
  RUN_WITH("d['x'] = 2", "d", d);
  probe_release(a);
  probe_release(b);
  Py_DECREF(d);
}
END_TEST

static const void *watched_target;
static int target_events;

static int
counting_watcher(PyDict_WatchEvent event, PyObject *dict, PyObject *key,
                 PyObject *value)
{
  (void)event, (void)key, (void)value;
  if (dict == watched_target)
    target_events++;
  return 0;
}

START_TEST(watch_fini_unwatches_every_dict)
{
  ck_assert_int_eq(watch_init(), 0);
  PyObject *d = PY("{'x': 1}");
  PyObject *versioned = PY("{'x': 1}");
  PROBE(p);
  DEPEND(p, d, "x");
  uint64_t v;
  ck_assert_int_eq(watch_dict_version(versioned, &v), 0);
  watch_fini();

  /* The id libwatch gave back is the lowest free one: a new watcher gets it
   * and must not receive events for dicts libwatch watched. */
  int id = PyDict_AddWatcher(counting_watcher);
  ck_assert_int_ge(id, 0);
  target_events = 0;
  watched_target = d;
  RUN_WITH("d['x'] = 2", "d", d);
  watched_target = versioned;
  RUN_WITH("d['x'] = 2", "d", versioned);
  watched_target = NULL;
  PyDict_ClearWatcher(id);

  ck_assert_int_eq(target_events, 0);
  probe_release(p);
  Py_DECREF(versioned);
  Py_DECREF(d);
}
END_TEST

START_TEST(watch_fini_unwatches_a_dict_whose_dependents_were_all_invalidated)
{
  ck_assert_int_eq(watch_init(), 0);
  ck_assert_int_eq(watch_set_unstable_limit(0), 0); /* no count to keep */
  PyObject *d = PY("{'x': 1}");
  PROBE(p);
  DEPEND(p, d, "x");
  RUN_WITH("d['x'] = 2", "d", d); /* its last dependent goes */
  assert_invalidated(p, WATCH_EVENT_MODIFIED, d);
  watch_fini();

  int id = PyDict_AddWatcher(counting_watcher);
  ck_assert_int_ge(id, 0);
  target_events = 0;
  watched_target = d;
  RUN_WITH("d['x'] = 3", "d", d);
  watched_target = NULL;
  PyDict_ClearWatcher(id);

  ck_assert_int_eq(target_events, 0);
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

static Suite *
make_suite(void)
{
  Suite *s = suite_create("api");

  TCase *tc = harness_tcase(s, "callbacks");
  tcase_add_test(tc, callback_is_given_its_dependent_and_its_data);
  tcase_add_test(tc, a_dependent_without_callback_is_invalidated);
  tcase_add_test(tc, a_new_dependent_is_valid);
  tcase_add_test(tc, releasing_a_dependent_inside_its_own_callback_is_safe);
  tcase_add_test(
      tc, releasing_another_dependent_of_the_same_key_inside_a_callback_is_safe);
  tcase_add_test(
      tc,
      releasing_another_dependent_of_a_cleared_dict_inside_a_callback_is_safe);
  tcase_add_test(tc, releasing_an_unrelated_dependent_inside_a_callback_is_safe);
  tcase_add_test(tc, a_dependent_on_many_keys_is_invalidated_once);
  tcase_add_test(tc, registering_on_an_invalidated_dependent_fails);
  tcase_add_test(tc, invalidate_calls_the_callback_with_manual);
  tcase_add_test(tc, invalidate_drops_the_dependencies);
  tcase_add_test(tc, invalidating_twice_calls_the_callback_once);
  tcase_add_test(tc, a_negative_callback_return_does_not_stop_the_store);
  tcase_add_test(tc, a_negative_callback_return_raises_nothing_in_python);
  tcase_add_test(tc, a_pending_exception_survives_an_event);

  tc = harness_tcase(s, "rearm");
  tcase_add_test(tc, a_rearmed_dependent_is_valid_and_can_be_invalidated_again);
  tcase_add_test(tc, rearming_drops_a_callback_not_yet_delivered);
  tcase_add_test(tc, rearming_a_valid_dependent_drops_its_dependencies);
  tcase_add_test(tc, a_rearmed_dependent_keeps_its_callback_and_data);

  tc = harness_tcase(s, "errors");
  tcase_add_test(tc, strerror_gives_each_code_its_message);
  tcase_add_test(tc, strerror_messages_are_distinct);
  tcase_add_test(tc, err_name_names_each_code_distinctly);
  tcase_add_test(tc, unknown_codes_are_described_as_unknown);
  tcase_add_test(tc, the_library_is_the_release_of_its_header);
  tcase_add_test(tc, event_name_names_each_kind_distinctly);
  tcase_add_test(tc, event_kinds_keep_their_numbers);
  tcase_add_test(tc, bad_arguments_to_dep_on_key_are_invalid);
  tcase_add_test(tc, bad_arguments_to_dep_on_namespace_are_invalid);
  tcase_add_test(tc, bad_arguments_to_dep_on_global_are_invalid);
  tcase_add_test(tc, bad_arguments_to_the_other_calls_are_invalid);
  tcase_add_test(tc, an_unhashable_key_fails_with_a_python_type_error);
  tcase_add_test(tc, a_key_whose_hash_raises_fails_with_that_exception);

  tc = harness_bare_tcase(s, "lifecycle");
  tcase_add_test(tc, calls_before_watch_init_fail_with_enoinit);
  tcase_add_test(tc, calls_after_the_last_watch_fini_fail_with_enoinit);
  tcase_add_test(tc, watch_init_nests);
  tcase_add_test(tc, init_fini_cycles_do_not_use_up_watcher_ids);
  tcase_add_test(tc, watch_init_fails_busy_when_no_watcher_id_is_free);

  tc = harness_bare_tcase(s, "finalization");
  tcase_add_test(tc, watch_fini_invalidates_live_dependents_as_finalized);
  tcase_add_test(tc, dependents_can_be_released_after_watch_fini);
  tcase_add_test(tc, rearm_fails_without_a_dependent_or_after_watch_fini);
  tcase_add_test(tc, an_inner_watch_fini_keeps_dependents_valid);
  tcase_add_test(tc, watch_fini_does_not_call_an_already_invalidated_dependent);
  tcase_add_test(tc, releasing_dependents_inside_finalized_callbacks_is_safe);
  tcase_add_test(tc,
                 a_dict_watched_before_watch_fini_works_after_a_new_watch_init);
  tcase_add_test(tc, watch_fini_unwatches_every_dict);
  tcase_add_test(
      tc, watch_fini_unwatches_a_dict_whose_dependents_were_all_invalidated);
  return s;
}
