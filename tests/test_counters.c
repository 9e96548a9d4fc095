/* Counters (watch_counters): what libwatch holds and what it has seen. */
#include "harness.h"

START_TEST(fresh_state_holds_nothing_and_has_seen_nothing)
{
  watch_counters_t c = COUNTERS();

  ck_assert_uint_eq(c.events, 0);
  ck_assert_uint_eq(c.misses, 0);
  ck_assert_uint_eq(c.invalidations, 0);
  ck_assert_uint_eq(c.dependents, 0);
  ck_assert_uint_eq(c.edges, 0);
  ck_assert_uint_eq(c.namespaces, 0);
  ck_assert_uint_eq(c.keys, 0);
  ck_assert_uint_eq(c.callback_errors, 0);
}
END_TEST

START_TEST(a_dependent_is_counted_until_released)
{
  watch_counters_t start = COUNTERS();
  PROBE(p);

  watch_counters_t with = COUNTERS();
  ck_assert_uint_eq(with.dependents, start.dependents + 1);
  ck_assert_uint_gt(with.bytes, start.bytes);

  probe_release(p);
  watch_counters_t end = COUNTERS();
  ck_assert_uint_eq(end.dependents, start.dependents);
  ck_assert_uint_eq(end.bytes, start.bytes);
}
END_TEST

START_TEST(a_key_dependency_counts_an_edge_a_key_and_a_namespace)
{
  PyObject *d = PY("{'x': 1}");
  PROBE(p);
  watch_counters_t start = COUNTERS();

  DEPEND(p, d, "x");

  watch_counters_t c = COUNTERS();
  ck_assert_uint_eq(c.edges, start.edges + 1);
  ck_assert_uint_eq(c.keys, start.keys + 1);
  ck_assert_uint_eq(c.namespaces, start.namespaces + 1);
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

START_TEST(dependents_on_one_key_share_its_key_record)
{
  PyObject *d = PY("{'x': 1}");
  PROBE(a);
  PROBE(b);
  PROBE(c);
  watch_counters_t start = COUNTERS();

  DEPEND(a, d, "x");
  DEPEND(b, d, "x");
  DEPEND(c, d, "x");

  watch_counters_t now = COUNTERS();
  ck_assert_uint_eq(now.edges, start.edges + 3);
  ck_assert_uint_eq(now.keys, start.keys + 1);
  ck_assert_uint_eq(now.namespaces, start.namespaces + 1);
  probe_release(a);
  probe_release(b);
  probe_release(c);
  Py_DECREF(d);
}
END_TEST

START_TEST(keys_of_one_dict_share_its_namespace_record)
{
  PyObject *d = PY("{'x': 1, 'y': 2}");
  PROBE(a);
  PROBE(b);
  watch_counters_t start = COUNTERS();

  DEPEND(a, d, "x");
  DEPEND(b, d, "y");
  DEPEND(b, d, "z");

  watch_counters_t now = COUNTERS();
  ck_assert_uint_eq(now.edges, start.edges + 3);
  ck_assert_uint_eq(now.keys, start.keys + 3);
  ck_assert_uint_eq(now.namespaces, start.namespaces + 1);
  probe_release(a);
  probe_release(b);
  Py_DECREF(d);
}
END_TEST

START_TEST(a_store_to_a_key_nobody_depends_on_is_a_miss)
{
  PyObject *d = PY("{'x': 1, 'y': 2}");
  PROBE(on_x);
  DEPEND(on_x, d, "x");
  watch_counters_t start = COUNTERS();

  RUN_WITH("d['y'] = 3", "d", d);

  watch_counters_t c = COUNTERS();
  ck_assert_uint_eq(c.events, start.events + 1);
  ck_assert_uint_eq(c.misses, start.misses + 1);
  ck_assert_uint_eq(c.invalidations, start.invalidations);
  assert_intact(on_x);
  probe_release(on_x);
  Py_DECREF(d);
}
END_TEST

START_TEST(a_store_to_a_depended_key_counts_one_invalidation_per_dependent)
{
  PyObject *d = PY("{'x': 1}");
  PROBE(a);
  PROBE(b);
  DEPEND(a, d, "x");
  DEPEND(b, d, "x");
  watch_counters_t start = COUNTERS();

  RUN_WITH("d['x'] = 2", "d", d);

  watch_counters_t c = COUNTERS();
  ck_assert_uint_eq(c.events, start.events + 1);
  ck_assert_uint_eq(c.misses, start.misses);
  ck_assert_uint_eq(c.invalidations, start.invalidations + 2);
  probe_release(a);
  probe_release(b);
  Py_DECREF(d);
}
END_TEST

START_TEST(an_invalidated_dependent_loses_its_edges_but_stays_counted)
{
  PyObject *d = PY("{'x': 1, 'y': 2}");
  PROBE(p);
  watch_counters_t start = COUNTERS();
  DEPEND(p, d, "x");
  DEPEND(p, d, "y");

  RUN_WITH("d['x'] = 2", "d", d);

  watch_counters_t c = COUNTERS();
  ck_assert_uint_eq(c.edges, start.edges);
  ck_assert_uint_eq(c.dependents, start.dependents);
  probe_release(p);
  ASSERT_COUNTER(dependents, ==, start.dependents - 1);
  Py_DECREF(d);
}
END_TEST

START_TEST(releasing_a_dependent_removes_its_edges)
{
  PyObject *d = PY("{'x': 1, 'y': 2}");
  PyObject *other = PY("{'x': 1}");
  watch_counters_t start = COUNTERS();
  PROBE(p);
  DEPEND(p, d, "x");
  DEPEND(p, d, "y");
  DEPEND(p, other, "x");
  ck_assert_int_eq(watch_dep_on_namespace(p->dep, other), 0);

  probe_release(p);

  watch_counters_t c = COUNTERS();
  ck_assert_uint_eq(c.edges, start.edges);
  ck_assert_uint_eq(c.dependents, start.dependents);
  Py_DECREF(other);
  Py_DECREF(d);
}
END_TEST

START_TEST(releasing_the_last_dependent_of_an_unmodified_dict_unwatches_it)
{
  PyObject *d = PY("{'x': 1, 'y': 2}");
  watch_counters_t start = COUNTERS();
  PROBE(a);
  PROBE(b);
  DEPEND(a, d, "x");
  DEPEND(b, d, "x");
  DEPEND(b, d, "y");
  ck_assert_int_eq(watch_dep_on_namespace(b->dep, d), 0);

  probe_release(a);
  probe_release(b);

  watch_counters_t c = COUNTERS();
  ck_assert_uint_eq(c.namespaces, start.namespaces);
  ck_assert_uint_eq(c.keys, start.keys);
  ck_assert_uint_eq(c.edges, start.edges);
  /* Unwatched: a store is no event any more. */
  RUN_WITH("d['x'] = 2", "d", d);
  ASSERT_COUNTER(events, ==, c.events);
  Py_DECREF(d);
}
END_TEST

START_TEST(releasing_the_last_dependent_of_an_unmodified_dict_frees_its_memory)
{
  PyObject *d = PY("{'x': 1, 'y': 2}");
  watch_counters_t start = COUNTERS();
  PROBE(a);
  PROBE(b);
  DEPEND(a, d, "x");
  DEPEND(b, d, "x");
  DEPEND(b, d, "y");
  ck_assert_int_eq(watch_dep_on_namespace(b->dep, d), 0);

  probe_release(a);
  probe_release(b);

  ASSERT_COUNTER(bytes, ==, start.bytes);
  Py_DECREF(d);
}
END_TEST

START_TEST(a_deallocated_dict_is_forgotten)
{
  PyObject *d = PY("{'x': 1}");
  PROBE(p);
  watch_counters_t start = COUNTERS();
  DEPEND(p, d, "x");

  Py_DECREF(d);

  watch_counters_t c = COUNTERS();
  ck_assert_uint_eq(c.namespaces, start.namespaces);
  ck_assert_uint_eq(c.keys, start.keys);
  ck_assert_uint_eq(c.edges, start.edges);
  probe_release(p);
}
END_TEST

START_TEST(a_versioned_dict_is_forgotten_when_deallocated)
{
  watch_counters_t start = COUNTERS();
  PyObject *d = PY("{'x': 1}");
  uint64_t v;
  ck_assert_int_eq(watch_dict_version(d, &v), 0);
  RUN_WITH("d['x'] = 2", "d", d);
  ck_assert_int_eq(watch_dict_version(d, &v), 0);

  Py_DECREF(d);

  watch_counters_t c = COUNTERS();
  ck_assert_uint_eq(c.namespaces, start.namespaces);
  ck_assert_uint_eq(c.keys, start.keys);
}
END_TEST

START_TEST(a_versioned_dict_frees_its_memory_when_deallocated)
{
  watch_counters_t start = COUNTERS();
  PyObject *d = PY("{'x': 1}");
  uint64_t v;
  ck_assert_int_eq(watch_dict_version(d, &v), 0);
  RUN_WITH("d['x'] = 2", "d", d);

  Py_DECREF(d);

  ASSERT_COUNTER(bytes, ==, start.bytes);
}
END_TEST

START_TEST(a_negative_callback_return_is_counted)
{
  PyObject *d = PY("{'x': 1}");
  PROBE(p);
  p->rec.ret = -1;
  DEPEND(p, d, "x");
  watch_counters_t start = COUNTERS();

  RUN_WITH("d['x'] = 2", "d", d);

  ASSERT_COUNTER(callback_errors, ==, start.callback_errors + 1);
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

START_TEST(a_successful_callback_is_not_counted_as_an_error)
{
  PyObject *d = PY("{'x': 1}");
  PROBE(p);
  DEPEND(p, d, "x");
  watch_counters_t start = COUNTERS();

  RUN_WITH("d['x'] = 2", "d", d);

  ASSERT_COUNTER(callback_errors, ==, start.callback_errors);
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

START_TEST(counters_start_fresh_after_watch_fini)
{
  PyObject *d = PY("{'x': 1}");
  PROBE(p);
  DEPEND(p, d, "x");
  RUN_WITH("d['y'] = 1\nd['x'] = 2", "d", d);
  probe_release(p);

  watch_fini();
  ck_assert_int_eq(watch_init(), 0);

  watch_counters_t c = COUNTERS();
  ck_assert_uint_eq(c.events, 0);
  ck_assert_uint_eq(c.misses, 0);
  ck_assert_uint_eq(c.invalidations, 0);
  ck_assert_uint_eq(c.dependents, 0);
  ck_assert_uint_eq(c.edges, 0);
  ck_assert_uint_eq(c.namespaces, 0);
  ck_assert_uint_eq(c.keys, 0);
  Py_DECREF(d);
}
END_TEST

START_TEST(keys_of_an_invalidated_dependent_that_never_changed_are_forgotten)
{
  PyObject *d = PY("{'x': 1, 'y': 2, 'z': 3}");
  watch_counters_t start = COUNTERS();
  PROBE(p);
  DEPEND(p, d, "x");
  DEPEND(p, d, "y");
  DEPEND(p, d, "z");

  RUN_WITH("d['x'] = 2", "d", d);

  /* 'x' may stay tracked, for the unstable rule; nobody depends on 'y' and
   * 'z' any more and they never changed. */
  ASSERT_COUNTER(keys, <=, start.keys + 1);
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

START_TEST(a_re_registered_key_s_memory_goes_with_the_dict_s_last_dependent)
{
  /* The cycle of an optimizer that re-guards its code: the key's record
   * may be kept for it, but not past the dict's last dependent. */
  ck_assert_int_eq(watch_set_unstable_limit(0), 0);
  PyObject *d = PY("{'x': 1, 'y': 2}");
  watch_counters_t start = COUNTERS();
  PROBE(p);
  PROBE(other);
  DEPEND(other, d, "y");
  for (int i = 0; i < 3; i++) {
    DEPEND(p, d, "x");
    RUN_WITH("d['x'] = d['x'] + 1", "d", d);
    ck_assert(!watch_dep_valid(p->dep));
    ck_assert_int_eq(watch_dep_rearm(p->dep), 0);
  }

  probe_release(p);
  probe_release(other);

  watch_counters_t c = COUNTERS();
  ck_assert_uint_eq(c.namespaces, start.namespaces);
  ck_assert_uint_eq(c.keys, start.keys);
  ck_assert_uint_eq(c.edges, start.edges);
  ck_assert_uint_eq(c.bytes, start.bytes);
  Py_DECREF(d);
}
END_TEST

START_TEST(a_dict_whose_last_dependent_was_invalidated_is_unwatched)
{
  /* Without the unstable rule no modification count matters, so a dict that
   * nobody depends on any more must not stay watched. */
  ck_assert_int_eq(watch_set_unstable_limit(0), 0);
  PyObject *d = PY("{'x': 1, 'y': 2}");
  watch_counters_t start = COUNTERS();
  PROBE(p);
  DEPEND(p, d, "x");

  RUN_WITH("d['x'] = 2", "d", d);
  watch_counters_t after = COUNTERS();
  RUN_WITH("d['y'] = 3\nd['x'] = 3", "d", d);

  ck_assert_uint_eq(after.namespaces, start.namespaces);
  ck_assert_uint_eq(after.keys, start.keys);
  ASSERT_COUNTER(events, ==, after.events);
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

static Suite *
make_suite(void)
{
  Suite *s = suite_create("counters");

  TCase *tc = harness_tcase(s, "holdings");
  tcase_add_test(tc, fresh_state_holds_nothing_and_has_seen_nothing);
  tcase_add_test(tc, a_dependent_is_counted_until_released);
  tcase_add_test(tc, a_key_dependency_counts_an_edge_a_key_and_a_namespace);
  tcase_add_test(tc, dependents_on_one_key_share_its_key_record);
  tcase_add_test(tc, keys_of_one_dict_share_its_namespace_record);
  tcase_add_test(tc, an_invalidated_dependent_loses_its_edges_but_stays_counted);
  tcase_add_test(tc, releasing_a_dependent_removes_its_edges);
  tcase_add_test(tc,
                 releasing_the_last_dependent_of_an_unmodified_dict_unwatches_it);
  tcase_add_test(
      tc, releasing_the_last_dependent_of_an_unmodified_dict_frees_its_memory);
  tcase_add_test(tc, a_deallocated_dict_is_forgotten);
  tcase_add_test(tc,
                 keys_of_an_invalidated_dependent_that_never_changed_are_forgotten);
  tcase_add_test(tc,
                 a_re_registered_key_s_memory_goes_with_the_dict_s_last_dependent);
  tcase_add_test(tc, a_dict_whose_last_dependent_was_invalidated_is_unwatched);
  tcase_add_test(tc, a_versioned_dict_is_forgotten_when_deallocated);
  tcase_add_test(tc, a_versioned_dict_frees_its_memory_when_deallocated);
  tcase_add_test(tc, counters_start_fresh_after_watch_fini);

  tc = harness_tcase(s, "events");
  tcase_add_test(tc, a_store_to_a_key_nobody_depends_on_is_a_miss);
  tcase_add_test(tc,
                 a_store_to_a_depended_key_counts_one_invalidation_per_dependent);
  tcase_add_test(tc, a_negative_callback_return_is_counted);
  tcase_add_test(tc, a_successful_callback_is_not_counted_as_an_error);
  return s;
}
