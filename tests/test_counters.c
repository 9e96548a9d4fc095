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

/* ---- taps, counted apart ------------------------------------------------ */

static int
heard(watch_tap_t *tap, const watch_tap_event_t *ev)
{
  (void)ev;
  return watch_tap_data(tap) != NULL;  /* data: ask for phase two */
}

static void
after_that_raises(watch_tap_t *tap)
{
  (void)tap;
  PyErr_SetString(PyExc_RuntimeError, "after");
}

START_TEST(a_tap_is_counted_apart_with_its_namespace_and_events)
{
  PyObject *d = PY("{'x': 1}");
  watch_counters_t c0 = COUNTERS();
  watch_tap_t *tap;
  ck_assert_int_eq(watch_tap_new(&tap, d, heard, NULL, NULL), 0);

  RUN_WITH("d['x'] = 2\nd['y'] = 3", "d", d);

  watch_counters_t c = COUNTERS();
  ck_assert_uint_eq(c.taps, c0.taps + 1);
  ck_assert_uint_eq(c.tap_namespaces, c0.tap_namespaces + 1);
  ck_assert_uint_eq(c.tap_events, c0.tap_events + 2);
  ck_assert_uint_gt(c.tap_bytes, c0.tap_bytes);
  ck_assert_uint_eq(c.namespaces, c0.namespaces);
  ck_assert_uint_eq(c.events, c0.events);
  ck_assert_uint_eq(c.misses, c0.misses);
  ck_assert_uint_eq(c.bytes, c0.bytes);
  watch_tap_free(tap);
  c = COUNTERS();
  ck_assert_uint_eq(c.taps, c0.taps);
  ck_assert_uint_eq(c.tap_namespaces, c0.tap_namespaces);
  ck_assert_uint_eq(c.tap_bytes, c0.tap_bytes);
  Py_DECREF(d);
}
END_TEST

START_TEST(a_type_tap_is_counted_apart)
{
  PyObject *ns = NS("class C: pass\n");
  PyObject *cls = ITEM(ns, "C");
  watch_counters_t c0 = COUNTERS();
  watch_tap_t *tap;
  ck_assert_int_eq(watch_tap_new_type(&tap, (PyTypeObject *)cls, heard, NULL,
                                      NULL),
                   0);

  RUN(ns, "C.x = 1");

  watch_counters_t c = COUNTERS();
  ck_assert_uint_eq(c.taps, c0.taps + 1);
  ck_assert_uint_eq(c.tap_namespaces, c0.tap_namespaces + 1);
  ck_assert_uint_eq(c.tap_events, c0.tap_events + 1);
  ck_assert_uint_eq(c.namespaces, c0.namespaces);
  ck_assert_uint_eq(c.events, c0.events);
  ck_assert_uint_eq(c.bytes, c0.bytes);
  watch_tap_free(tap);
  ASSERT_COUNTER(tap_namespaces, ==, c0.tap_namespaces);
  Py_DECREF(ns);
}
END_TEST

/* A dependent on a tapped dict: the namespace counts as a namespace while
 * the dependent needs it, and its events as events; then apart again. */
START_TEST(a_tapped_namespace_that_a_dependent_needs_is_counted_as_one)
{
  PyObject *d = PY("{'x': 1}");
  watch_tap_t *tap;
  ck_assert_int_eq(watch_tap_new(&tap, d, heard, NULL, NULL), 0);
  watch_counters_t c0 = COUNTERS();
  PROBE(p);

  DEPEND(p, d, "x");
  watch_counters_t with = COUNTERS();
  ck_assert_uint_eq(with.namespaces, c0.namespaces + 1);
  ck_assert_uint_eq(with.tap_namespaces, c0.tap_namespaces - 1);
  RUN_WITH("d['y'] = 2", "d", d);
  watch_counters_t c = COUNTERS();
  ck_assert_uint_eq(c.events, with.events + 1);
  ck_assert_uint_eq(c.misses, with.misses + 1);
  ck_assert_uint_eq(c.tap_events, with.tap_events);

  probe_release(p);
  c = COUNTERS();
  ck_assert_uint_eq(c.namespaces, c0.namespaces);
  ck_assert_uint_eq(c.tap_namespaces, c0.tap_namespaces);
  ck_assert_uint_eq(c.bytes, c0.bytes);
  ck_assert_uint_eq(c.tap_bytes, c0.tap_bytes);
  watch_tap_free(tap);
  Py_DECREF(d);
}
END_TEST

/* The same dependents, cells and versions, with and without taps on the
 * same dicts and on many others (enough to grow libwatch's table of
 * namespaces): every counter but the taps' is the same. */
static void
scenario(PyObject **dicts, watch_counters_t *held, watch_counters_t *seen)
{
  PROBE(a);
  PROBE(b);
  watch_cell_t *cell;
  uint64_t v;
  watch_counters_t c0 = COUNTERS();
  DEPEND(a, dicts[0], "x");
  DEPEND(b, dicts[1], "x");
  ck_assert_int_eq(watch_dep_on_namespace(b->dep, dicts[2]), 0);
  ck_assert_int_eq(watch_cell_new_global(&cell, dicts[3], dicts[4], key("x")),
                   0);
  ck_assert_int_eq(watch_dict_version(dicts[5], &v), 0);
  RUN_WITH("a['x'] = 2\na['y'] = 2\nb['y'] = 2\ng['x'] = 5\nv['x'] = 0",
           "a", dicts[0], "b", dicts[1], "g", dicts[3], "v", dicts[5]);
  watch_counters_t c = COUNTERS();
  *held = c;
  seen->events = c.events - c0.events;
  seen->misses = c.misses - c0.misses;
  seen->invalidations = c.invalidations - c0.invalidations;
  probe_release(a);
  probe_release(b);
  watch_cell_free(cell);
}

START_TEST(taps_leave_the_other_counters_as_they_would_be_without_them)
{
  enum { DICTS = 6, OTHERS = 40 };
  PyObject *dicts[DICTS], *others[OTHERS];
  watch_tap_t *taps[DICTS + OTHERS];
  watch_counters_t held[2], seen[2];
  for (int tapped = 0; tapped < 2; tapped++) {
    for (int i = 0; i < DICTS; i++)
      dicts[i] = PY("{'x': 1}");
    for (int i = 0; i < OTHERS; i++)
      others[i] = PY("{}");
    for (int i = 0; tapped && i < DICTS + OTHERS; i++)
      ck_assert_int_eq(watch_tap_new(&taps[i],
                                     i < DICTS ? dicts[i] : others[i - DICTS],
                                     heard, NULL, NULL),
                       0);
    scenario(dicts, &held[tapped], &seen[tapped]);
    for (int i = 0; tapped && i < DICTS + OTHERS; i++)
      watch_tap_free(taps[i]);
    for (int i = 0; i < DICTS; i++)
      Py_DECREF(dicts[i]);
    for (int i = 0; i < OTHERS; i++)
      Py_DECREF(others[i]);
  }
  ck_assert_uint_eq(held[1].namespaces, held[0].namespaces);
  ck_assert_uint_eq(held[1].keys, held[0].keys);
  ck_assert_uint_eq(held[1].edges, held[0].edges);
  ck_assert_uint_eq(held[1].dependents, held[0].dependents);
  ck_assert_uint_eq(held[1].bytes, held[0].bytes);
  ck_assert_uint_eq(seen[1].events, seen[0].events);
  ck_assert_uint_eq(seen[1].misses, seen[0].misses);
  ck_assert_uint_eq(seen[1].invalidations, seen[0].invalidations);
  ck_assert_uint_eq(held[1].taps, held[0].taps + DICTS + OTHERS);
  ck_assert_uint_eq(held[1].tap_namespaces, held[0].tap_namespaces + OTHERS);
}
END_TEST

/* A cell's taps are libwatch's own: they count with the cell. */
START_TEST(a_cell_s_taps_count_as_namespaces_not_as_taps)
{
  PyObject *g = PY("{'x': 1}"), *b = PY("{}");
  watch_counters_t c0 = COUNTERS();
  watch_cell_t *cell;
  ck_assert_int_eq(watch_cell_new_global(&cell, g, b, key("x")), 0);
  RUN_WITH("g['x'] = 2", "g", g);

  watch_counters_t c = COUNTERS();
  ck_assert_uint_eq(c.namespaces, c0.namespaces + 2);
  ck_assert_uint_eq(c.events, c0.events + 1);
  ck_assert_uint_eq(c.taps, c0.taps);
  ck_assert_uint_eq(c.tap_namespaces, c0.tap_namespaces);
  ck_assert_uint_eq(c.tap_bytes, c0.tap_bytes);
  ck_assert_uint_gt(c.bytes, c0.bytes);
  watch_cell_free(cell);
  c = COUNTERS();
  ck_assert_uint_eq(c.namespaces, c0.namespaces);
  ck_assert_uint_eq(c.bytes, c0.bytes);
  Py_DECREF(g);
  Py_DECREF(b);
}
END_TEST

/* A cell on a dict that a tap hears too: the namespace counts while the
 * cell reads it, and goes apart with the cell. */
START_TEST(a_tapped_namespace_goes_apart_with_its_last_cell)
{
  PyObject *g = PY("{'x': 1}"), *b = PY("{}");
  watch_tap_t *tap;
  ck_assert_int_eq(watch_tap_new(&tap, g, heard, NULL, NULL), 0);
  watch_counters_t c0 = COUNTERS();
  watch_cell_t *cell;
  ck_assert_int_eq(watch_cell_new_global(&cell, g, b, key("x")), 0);
  ASSERT_COUNTER(namespaces, ==, c0.namespaces + 2);
  ASSERT_COUNTER(tap_namespaces, ==, c0.tap_namespaces - 1);
  watch_cell_free(cell);
  watch_counters_t c = COUNTERS();
  ck_assert_uint_eq(c.namespaces, c0.namespaces);
  ck_assert_uint_eq(c.tap_namespaces, c0.tap_namespaces);
  ck_assert_uint_eq(c.bytes, c0.bytes);
  ck_assert_uint_eq(c.tap_bytes, c0.tap_bytes);
  watch_tap_free(tap);
  Py_DECREF(g);
  Py_DECREF(b);
}
END_TEST

START_TEST(a_tapped_dict_that_dies_leaves_its_namespace_count)
{
  PyObject *d = PY("{'x': 1}");
  watch_counters_t c0 = COUNTERS();
  watch_tap_t *tap;
  ck_assert_int_eq(watch_tap_new(&tap, d, heard, NULL, NULL), 0);
  Py_DECREF(d);
  watch_counters_t c = COUNTERS();
  ck_assert_uint_eq(c.tap_namespaces, c0.tap_namespaces);
  ck_assert_uint_eq(c.tap_events, c0.tap_events + 1);  /* DEALLOCATED */
  ck_assert_uint_eq(c.events, c0.events);
  ck_assert_uint_eq(c.taps, c0.taps + 1);  /* until freed */
  watch_tap_free(tap);
  c = COUNTERS();
  ck_assert_uint_eq(c.taps, c0.taps);
  ck_assert_uint_eq(c.tap_bytes, c0.tap_bytes);
  ck_assert_uint_eq(c.bytes, c0.bytes);
}
END_TEST

START_TEST(a_tap_s_failed_after_callback_is_counted_apart)
{
  PyObject *d = PY("{'x': 1}");
  watch_tap_t *tap;
  ck_assert_int_eq(watch_tap_new(&tap, d, heard, after_that_raises, d), 0);
  PyObject *g = NS("import sys\n"
                   "old_hook = sys.unraisablehook\n"
                   "sys.unraisablehook = lambda u: None\n");
  watch_counters_t c0 = COUNTERS();

  RUN_WITH("d['x'] = 2", "d", d);
  watch_flush();

  RUN(g, "sys.unraisablehook = old_hook\n");
  Py_DECREF(g);
  watch_counters_t c = COUNTERS();
  ck_assert_uint_eq(c.tap_callback_errors, c0.tap_callback_errors + 1);
  ck_assert_uint_eq(c.callback_errors, c0.callback_errors);
  watch_tap_free(tap);
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

  tc = harness_tcase(s, "taps apart");
  tcase_add_test(tc, a_tap_is_counted_apart_with_its_namespace_and_events);
  tcase_add_test(tc, a_type_tap_is_counted_apart);
  tcase_add_test(tc,
                 a_tapped_namespace_that_a_dependent_needs_is_counted_as_one);
  tcase_add_test(tc,
                 taps_leave_the_other_counters_as_they_would_be_without_them);
  tcase_add_test(tc, a_cell_s_taps_count_as_namespaces_not_as_taps);
  tcase_add_test(tc, a_tapped_namespace_goes_apart_with_its_last_cell);
  tcase_add_test(tc, a_tapped_dict_that_dies_leaves_its_namespace_count);
  tcase_add_test(tc, a_tap_s_failed_after_callback_is_counted_apart);
  return s;
}
