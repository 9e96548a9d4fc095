/* Key dependencies on dicts: every write path invalidates exactly the
 * dependents of the key written, with the right event; whole-dict events;
 * validation at install; namespace dependencies. */
#include "harness.h"

/* ------------------------------------------------------------------------ */
/* Write paths                                                              */

START_TEST(store_global_modifying_a_global_invalidates_only_that_key)
{
  PyObject *g = NS("x = 1\n"
                   "y = 2\n"
                   "def set_x(v):\n"
                   "    global x\n"
                   "    x = v\n");
  PROBE(on_x);
  PROBE(on_y);
  DEPEND(on_x, g, "x");
  DEPEND(on_y, g, "y");

  RUN(g, "set_x(3)");

  assert_invalidated(on_x, WATCH_EVENT_MODIFIED, g);
  assert_key(on_x, "x");
  assert_intact(on_y);
  probe_release(on_x);
  probe_release(on_y);
  Py_DECREF(g);
}
END_TEST

START_TEST(store_global_adding_a_global_invalidates_its_absence)
{
  PyObject *g = NS("y = 2\n"
                   "def set_x(v):\n"
                   "    global x\n"
                   "    x = v\n");
  PROBE(on_x);
  PROBE(on_y);
  DEPEND(on_x, g, "x"); /* absent */
  DEPEND(on_y, g, "y");

  RUN(g, "set_x(3)");

  assert_invalidated(on_x, WATCH_EVENT_ADDED, g);
  assert_key(on_x, "x");
  assert_intact(on_y);
  probe_release(on_x);
  probe_release(on_y);
  Py_DECREF(g);
}
END_TEST

START_TEST(delete_global_invalidates_only_that_key)
{
  PyObject *g = NS("x = 1\n"
                   "y = 2\n"
                   "def del_x():\n"
                   "    global x\n"
                   "    del x\n");
  PROBE(on_x);
  PROBE(on_y);
  DEPEND(on_x, g, "x");
  DEPEND(on_y, g, "y");

  RUN(g, "del_x()");

  assert_invalidated(on_x, WATCH_EVENT_DELETED, g);
  assert_key(on_x, "x");
  assert_intact(on_y);
  probe_release(on_x);
  probe_release(on_y);
  Py_DECREF(g);
}
END_TEST

START_TEST(setattr_adding_a_module_attribute_invalidates_its_absence)
{
  PyObject *m = PyModule_New("watched_mod");
  ck_assert_ptr_nonnull(m);
  PyObject *d = PyModule_GetDict(m);
  RUN_WITH("m.y = 2", "m", m);
  PROBE(on_x);
  PROBE(on_y);
  DEPEND(on_x, d, "x"); /* absent */
  DEPEND(on_y, d, "y");

  RUN_WITH("setattr(m, 'x', 1)", "m", m);

  assert_invalidated(on_x, WATCH_EVENT_ADDED, d);
  assert_key(on_x, "x");
  assert_intact(on_y);
  probe_release(on_x);
  probe_release(on_y);
  Py_DECREF(m);
}
END_TEST

START_TEST(setattr_modifying_a_module_attribute_invalidates_only_that_key)
{
  PyObject *m = PyModule_New("watched_mod");
  ck_assert_ptr_nonnull(m);
  PyObject *d = PyModule_GetDict(m);
  RUN_WITH("m.x = 1\nm.y = 2", "m", m);
  PROBE(on_x);
  PROBE(on_y);
  DEPEND(on_x, d, "x");
  DEPEND(on_y, d, "y");

  RUN_WITH("m.x = 2", "m", m);

  assert_invalidated(on_x, WATCH_EVENT_MODIFIED, d);
  assert_key(on_x, "x");
  assert_intact(on_y);
  probe_release(on_x);
  probe_release(on_y);
  Py_DECREF(m);
}
END_TEST

START_TEST(module_dict_item_store_invalidates_only_that_key)
{
  PyObject *m = PyModule_New("watched_mod");
  ck_assert_ptr_nonnull(m);
  PyObject *d = PyModule_GetDict(m);
  RUN_WITH("m.x = 1\nm.y = 2", "m", m);
  PROBE(on_x);
  PROBE(on_y);
  DEPEND(on_x, d, "x");
  DEPEND(on_y, d, "y");

  RUN_WITH("m.__dict__['x'] = 3", "m", m);

  assert_invalidated(on_x, WATCH_EVENT_MODIFIED, d);
  assert_key(on_x, "x");
  assert_intact(on_y);
  probe_release(on_x);
  probe_release(on_y);
  Py_DECREF(m);
}
END_TEST

START_TEST(delattr_on_a_module_invalidates_only_that_key)
{
  PyObject *m = PyModule_New("watched_mod");
  ck_assert_ptr_nonnull(m);
  PyObject *d = PyModule_GetDict(m);
  RUN_WITH("m.x = 1\nm.y = 2", "m", m);
  PROBE(on_x);
  PROBE(on_y);
  DEPEND(on_x, d, "x");
  DEPEND(on_y, d, "y");

  RUN_WITH("del m.x", "m", m);

  assert_invalidated(on_x, WATCH_EVENT_DELETED, d);
  assert_key(on_x, "x");
  assert_intact(on_y);
  probe_release(on_x);
  probe_release(on_y);
  Py_DECREF(m);
}
END_TEST

START_TEST(del_item_invalidates_only_that_key)
{
  PyObject *d = PY("{'x': 1, 'y': 2}");
  PROBE(on_x);
  PROBE(on_y);
  DEPEND(on_x, d, "x");
  DEPEND(on_y, d, "y");

  RUN_WITH("del d['x']", "d", d);

  assert_invalidated(on_x, WATCH_EVENT_DELETED, d);
  assert_key(on_x, "x");
  assert_intact(on_y);
  probe_release(on_x);
  probe_release(on_y);
  Py_DECREF(d);
}
END_TEST

START_TEST(pop_invalidates_only_that_key)
{
  PyObject *d = PY("{'x': 1, 'y': 2}");
  PROBE(on_x);
  PROBE(on_y);
  DEPEND(on_x, d, "x");
  DEPEND(on_y, d, "y");

  RUN_WITH("d.pop('x')", "d", d);

  assert_invalidated(on_x, WATCH_EVENT_DELETED, d);
  assert_key(on_x, "x");
  assert_intact(on_y);
  probe_release(on_x);
  probe_release(on_y);
  Py_DECREF(d);
}
END_TEST

START_TEST(pop_of_a_missing_key_invalidates_nothing)
{
  PyObject *d = PY("{'y': 2}");
  PROBE(on_x);
  PROBE(on_y);
  DEPEND(on_x, d, "x"); /* absent */
  DEPEND(on_y, d, "y");

  RUN_WITH("d.pop('x', None)", "d", d);

  assert_intact(on_x);
  assert_intact(on_y);
  probe_release(on_x);
  probe_release(on_y);
  Py_DECREF(d);
}
END_TEST

START_TEST(popitem_invalidates_only_the_popped_key)
{
  PyObject *d = PY("{'y': 2, 'x': 1}"); /* popitem() takes the last: x */
  PROBE(on_x);
  PROBE(on_y);
  DEPEND(on_x, d, "x");
  DEPEND(on_y, d, "y");

  RUN_WITH("assert d.popitem() == ('x', 1)", "d", d);

  assert_invalidated(on_x, WATCH_EVENT_DELETED, d);
  assert_key(on_x, "x");
  assert_intact(on_y);
  probe_release(on_x);
  probe_release(on_y);
  Py_DECREF(d);
}
END_TEST

START_TEST(setdefault_inserting_invalidates_the_absent_key)
{
  PyObject *d = PY("{'y': 2}");
  PROBE(on_x);
  PROBE(on_y);
  DEPEND(on_x, d, "x"); /* absent */
  DEPEND(on_y, d, "y");

  RUN_WITH("d.setdefault('x', 1)", "d", d);

  assert_invalidated(on_x, WATCH_EVENT_ADDED, d);
  assert_key(on_x, "x");
  assert_intact(on_y);
  probe_release(on_x);
  probe_release(on_y);
  Py_DECREF(d);
}
END_TEST

START_TEST(setdefault_on_an_existing_key_invalidates_nothing)
{
  PyObject *d = PY("{'x': 1, 'y': 2}");
  PROBE(on_x);
  DEPEND(on_x, d, "x");

  RUN_WITH("assert d.setdefault('x', 5) == 1", "d", d);

  assert_intact(on_x);
  probe_release(on_x);
  Py_DECREF(d);
}
END_TEST

START_TEST(update_of_a_non_empty_dict_invalidates_only_the_updated_key)
{
  PyObject *d = PY("{'x': 1, 'y': 2}");
  PROBE(on_x);
  PROBE(on_y);
  DEPEND(on_x, d, "x");
  DEPEND(on_y, d, "y");

  RUN_WITH("d.update({'x': 3})", "d", d);

  assert_invalidated(on_x, WATCH_EVENT_MODIFIED, d);
  assert_key(on_x, "x");
  assert_intact(on_y);
  probe_release(on_x);
  probe_release(on_y);
  Py_DECREF(d);
}
END_TEST

START_TEST(update_adding_a_key_invalidates_its_absence)
{
  PyObject *d = PY("{'y': 2}");
  PROBE(on_x);
  PROBE(on_y);
  DEPEND(on_x, d, "x"); /* absent */
  DEPEND(on_y, d, "y");

  RUN_WITH("d.update({'x': 3})", "d", d);

  assert_invalidated(on_x, WATCH_EVENT_ADDED, d);
  assert_key(on_x, "x");
  assert_intact(on_y);
  probe_release(on_x);
  probe_release(on_y);
  Py_DECREF(d);
}
END_TEST

START_TEST(inplace_or_invalidates_only_the_merged_key)
{
  PyObject *d = PY("{'x': 1, 'y': 2}");
  PROBE(on_x);
  PROBE(on_y);
  DEPEND(on_x, d, "x");
  DEPEND(on_y, d, "y");

  RUN_WITH("d |= {'x': 3}", "d", d);

  assert_invalidated(on_x, WATCH_EVENT_MODIFIED, d);
  assert_key(on_x, "x");
  assert_intact(on_y);
  probe_release(on_x);
  probe_release(on_y);
  Py_DECREF(d);
}
END_TEST

START_TEST(clear_invalidates_every_dependent_of_the_dict)
{
  PyObject *d = PY("{'x': 1, 'y': 2}");
  PROBE(on_x);
  PROBE(on_y);
  PROBE(on_absent);
  DEPEND(on_x, d, "x");
  DEPEND(on_y, d, "y");
  DEPEND(on_absent, d, "z");

  RUN_WITH("d.clear()", "d", d);

  assert_invalidated(on_x, WATCH_EVENT_CLEARED, d);
  assert_no_key(on_x);
  assert_invalidated(on_y, WATCH_EVENT_CLEARED, d);
  assert_invalidated(on_absent, WATCH_EVENT_CLEARED, d);
  probe_release(on_x);
  probe_release(on_y);
  probe_release(on_absent);
  Py_DECREF(d);
}
END_TEST

START_TEST(clear_does_not_invalidate_dependents_of_another_dict)
{
  PyObject *d = PY("{'x': 1}");
  PyObject *other = PY("{'x': 1}");
  PROBE(on_x);
  PROBE(on_other_x);
  DEPEND(on_x, d, "x");
  DEPEND(on_other_x, other, "x");

  RUN_WITH("d.clear()", "d", d);

  assert_invalidated(on_x, WATCH_EVENT_CLEARED, d);
  assert_intact(on_other_x);
  probe_release(on_x);
  probe_release(on_other_x);
  Py_DECREF(d);
  Py_DECREF(other);
}
END_TEST

START_TEST(clear_of_an_empty_dict_invalidates_nothing)
{
  PyObject *d = PY("{}");
  PROBE(on_x);
  DEPEND(on_x, d, "x"); /* absent */

  RUN_WITH("d.clear()", "d", d);

  assert_intact(on_x);
  probe_release(on_x);
  Py_DECREF(d);
}
END_TEST

START_TEST(every_dependent_of_a_key_is_invalidated)
{
  PyObject *d = PY("{'x': 1}");
  PROBE(a);
  PROBE(b);
  PROBE(c);
  DEPEND(a, d, "x");
  DEPEND(b, d, "x");
  DEPEND(c, d, "x");

  RUN_WITH("d['x'] = 2", "d", d);

  assert_invalidated(a, WATCH_EVENT_MODIFIED, d);
  assert_invalidated(b, WATCH_EVENT_MODIFIED, d);
  assert_invalidated(c, WATCH_EVENT_MODIFIED, d);
  probe_release(a);
  probe_release(b);
  probe_release(c);
  Py_DECREF(d);
}
END_TEST

START_TEST(same_key_in_another_dict_is_not_invalidated)
{
  PyObject *d = PY("{'x': 1}");
  PyObject *other = PY("{'x': 1}");
  PROBE(on_x);
  PROBE(on_other_x);
  DEPEND(on_x, d, "x");
  DEPEND(on_other_x, other, "x");

  RUN_WITH("d['x'] = 2", "d", d);

  assert_invalidated(on_x, WATCH_EVENT_MODIFIED, d);
  assert_intact(on_other_x);
  probe_release(on_x);
  probe_release(on_other_x);
  Py_DECREF(d);
  Py_DECREF(other);
}
END_TEST

START_TEST(storing_the_identical_object_invalidates_nothing)
{
  PyObject *d = PY("{'x': object()}");
  PROBE(on_x);
  DEPEND(on_x, d, "x");

  RUN_WITH("d['x'] = d['x']", "d", d);

  assert_intact(on_x);
  probe_release(on_x);
  Py_DECREF(d);
}
END_TEST

START_TEST(storing_the_identical_object_through_a_module_invalidates_nothing)
{
  PyObject *m = PyModule_New("watched_mod");
  ck_assert_ptr_nonnull(m);
  PyObject *d = PyModule_GetDict(m);
  RUN_WITH("m.x = object()", "m", m);
  PROBE(on_x);
  DEPEND(on_x, d, "x");

  RUN_WITH("m.x = m.x\nsetattr(m, 'x', m.x)", "m", m);

  assert_intact(on_x);
  probe_release(on_x);
  Py_DECREF(m);
}
END_TEST

START_TEST(storing_the_identical_object_into_an_instance_dict_invalidates_nothing)
{
  /* An instance __dict__ can share its keys with its class's other
   * instances (a split table); CPython 3.13 reports an identical store into
   * such a dict as MODIFIED, but the value has not changed. */
  PyObject *g = NS("class C:\n"
                   "    pass\n"
                   "o = C()\n"
                   "o.x = object()\n"
                   "o.y = object()\n"
                   "d = o.__dict__\n");
  PyObject *d = ITEM(g, "d");
  PROBE(on_x);
  if (harness_inline_stores_unheard()) {
    ck_assert_int_eq(watch_dep_on_key(on_x->dep, d, key("x"), ITEM(d, "x")),
                     WATCH_EUNWATCHABLE);
    probe_release(on_x);
    Py_DECREF(g);
    return;
  }
  DEPEND(on_x, d, "x");

  RUN(g, "d['x'] = d['x']\n");

  assert_intact(on_x);
  probe_release(on_x);
  Py_DECREF(g);
}
END_TEST

START_TEST(storing_another_object_into_an_instance_dict_invalidates)
{
  PyObject *g = NS("class C:\n"
                   "    pass\n"
                   "o = C()\n"
                   "o.x = object()\n"
                   "o.y = object()\n"
                   "d = o.__dict__\n");
  PyObject *d = ITEM(g, "d");
  PROBE(on_x);
  PROBE(on_y);
  if (harness_inline_stores_unheard()) {
    ck_assert_int_eq(watch_dep_on_key(on_x->dep, d, key("x"), ITEM(d, "x")),
                     WATCH_EUNWATCHABLE);
    probe_release(on_x);
    probe_release(on_y);
    Py_DECREF(g);
    return;
  }
  DEPEND(on_x, d, "x");
  DEPEND(on_y, d, "y");

  RUN(g, "d['x'] = object()\n");

  assert_invalidated(on_x, WATCH_EVENT_MODIFIED, d);
  assert_intact(on_y);
  probe_release(on_x);
  probe_release(on_y);
  Py_DECREF(g);
}
END_TEST

START_TEST(storing_an_equal_but_distinct_object_invalidates)
{
  PyObject *d = PY("{'x': 10 ** 20}");
  PROBE(on_x);
  DEPEND(on_x, d, "x");

  RUN_WITH("v = int('1' + '0' * 20)\n"
           "assert v == d['x'] and v is not d['x']\n"
           "d['x'] = v",
           "d", d);

  assert_invalidated(on_x, WATCH_EVENT_MODIFIED, d);
  probe_release(on_x);
  Py_DECREF(d);
}
END_TEST

static const void *
peek_x(PyObject *d)
{
  static PyObject *x;
  if (x == NULL)
    x = key("x"); /* interned before any watcher runs: see the test below */
  return PyDict_GetItemWithError(d, x);
}

START_TEST(invalid_before_the_store_and_called_after_it)
{
  PyObject *d = PY("{'x': 1}");
  PyObject *old = ITEM(d, "x");
  (void)peek_x(d);
  PROBE(on_x);
  on_x->rec.peek_key = key("x");
  DEPEND(on_x, d, "x");
  WITNESS(on_x, d, peek_x, d);

  RUN_WITH("d['x'] = 2", "d", d);

  assert_invalidated(on_x, WATCH_EVENT_MODIFIED, d);
  assert_witnessed_before(old);
  ck_assert_msg(on_x->rec.peeked == (const void *)ITEM(d, "x"),
                "the callback must see the value stored");
  probe_release(on_x);
  Py_DECREF(d);
}
END_TEST

START_TEST(a_store_after_invalidation_does_not_call_the_callback_again)
{
  PyObject *d = PY("{'x': 1}");
  PROBE(on_x);
  DEPEND(on_x, d, "x");

  RUN_WITH("d['x'] = 2\nd['x'] = 3\ndel d['x']\nd['x'] = 4", "d", d);

  assert_invalidated(on_x, WATCH_EVENT_MODIFIED, d);
  probe_release(on_x);
  Py_DECREF(d);
}
END_TEST

START_TEST(a_released_dependent_is_not_called)
{
  PyObject *d = PY("{'x': 1}");
  PROBE(on_x);
  DEPEND(on_x, d, "x");
  probe_release(on_x);

  RUN_WITH("d['x'] = 2", "d", d);

  ck_assert_int_eq(on_x->rec.count, 0);
  Py_DECREF(d);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Whole-dict events                                                        */

START_TEST(update_of_an_empty_dict_from_a_dense_dict_is_cloned)
{
  PyObject *d = PY("{}");
  PyObject *src = PY("{'a': 1, 'b': 2}");
  PROBE(on_x);
  PROBE(on_a);
  DEPEND(on_x, d, "x"); /* absent, and not in src either */
  DEPEND(on_a, d, "a");

  RUN_WITH("d.update(src)", "d", d, "src", src);

  assert_invalidated(on_x, WATCH_EVENT_CLONED, d);
  assert_no_key(on_x);
  assert_invalidated(on_a, WATCH_EVENT_CLONED, d);
  assert_no_key(on_a);
  probe_release(on_x);
  probe_release(on_a);
  Py_DECREF(src);
  Py_DECREF(d);
}
END_TEST

START_TEST(cloned_update_does_not_invalidate_the_source_dict)
{
  PyObject *d = PY("{}");
  PyObject *src = PY("{'a': 1, 'b': 2}");
  PROBE(on_x);
  PROBE(on_src_a);
  DEPEND(on_x, d, "x");
  DEPEND(on_src_a, src, "a");

  RUN_WITH("d.update(src)", "d", d, "src", src);

  assert_invalidated(on_x, WATCH_EVENT_CLONED, d);
  assert_intact(on_src_a);
  probe_release(on_x);
  probe_release(on_src_a);
  Py_DECREF(src);
  Py_DECREF(d);
}
END_TEST

START_TEST(deallocating_a_watched_dict_invalidates_its_dependents)
{
  PyObject *d = PY("{'x': 1}");
  PROBE(on_x);
  PROBE(on_y);
  DEPEND(on_x, d, "x");
  DEPEND(on_y, d, "y"); /* absent */
  ck_assert_int_eq(Py_REFCNT(d), 1);

  Py_DECREF(d);

  /* The callback runs after the dict is gone: the event cannot name it. */
  assert_invalidated(on_x, WATCH_EVENT_DEALLOCATED, NULL);
  ck_assert_ptr_null(on_x->rec.ns);
  assert_no_key(on_x);
  assert_invalidated(on_y, WATCH_EVENT_DEALLOCATED, NULL);
  ck_assert_ptr_null(on_y->rec.ns);
  probe_release(on_x);
  probe_release(on_y);
}
END_TEST

START_TEST(a_dict_collected_in_a_cycle_invalidates_its_dependents)
{
  PyObject *g = NS("import gc\n"
                   "gc.collect()\n"
                   "d = {'x': 1}\n"
                   "d['self'] = d\n");
  PyObject *d = ITEM(g, "d");
  PROBE(on_x);
  DEPEND(on_x, d, "x");

  RUN(g, "del d\n"
         "gc.collect()\n");

  /* CPython clears the dict, then deallocates it: the first event wins. */
  assert_invalidated_once(on_x);
  ck_assert_msg(on_x->rec.kind == WATCH_EVENT_CLEARED
                    || on_x->rec.kind == WATCH_EVENT_DEALLOCATED,
                "event %s, expected CLEARED or DEALLOCATED",
                harness_event_name(on_x->rec.kind));
  probe_release(on_x);
  Py_DECREF(g);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Validation at install                                                    */

START_TEST(install_fails_stale_when_the_dict_holds_another_object)
{
  PyObject *d = PY("{'x': 1}");
  PyObject *other = PY("object()");
  PROBE(p);

  ck_assert_int_eq(watch_dep_on_key(p->dep, d, key("x"), other), WATCH_ESTALE);
  assert_no_python_error();
  probe_release(p);
  Py_DECREF(other);
  Py_DECREF(d);
}
END_TEST

START_TEST(install_compares_identity_not_equality)
{
  PyObject *d = PY("{'x': 10 ** 20}");
  PyObject *equal = PY("int('1' + '0' * 20)");
  ck_assert_int_eq(PyObject_RichCompareBool(equal, ITEM(d, "x"), Py_EQ), 1);
  ck_assert_ptr_ne(equal, ITEM(d, "x"));
  PROBE(p);

  ck_assert_int_eq(watch_dep_on_key(p->dep, d, key("x"), equal), WATCH_ESTALE);
  assert_no_python_error();
  probe_release(p);
  Py_DECREF(equal);
  Py_DECREF(d);
}
END_TEST

START_TEST(install_fails_stale_when_an_assumed_key_is_absent)
{
  PyObject *d = PY("{'y': 1}");
  PyObject *v = PY("object()");
  PROBE(p);

  ck_assert_int_eq(watch_dep_on_key(p->dep, d, key("x"), v), WATCH_ESTALE);
  assert_no_python_error();
  probe_release(p);
  Py_DECREF(v);
  Py_DECREF(d);
}
END_TEST

START_TEST(install_fails_stale_when_an_assumed_absent_key_is_present)
{
  PyObject *d = PY("{'x': 1}");
  PROBE(p);

  ck_assert_int_eq(watch_dep_on_key(p->dep, d, key("x"), NULL), WATCH_ESTALE);
  assert_no_python_error();
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

START_TEST(install_succeeds_on_an_absent_key_and_adding_it_invalidates)
{
  PyObject *d = PY("{'y': 1}");
  PROBE(p);

  ck_assert_int_eq(watch_dep_on_key(p->dep, d, key("x"), NULL), 0);
  ck_assert(watch_dep_valid(p->dep));
  RUN_WITH("d['x'] = 1", "d", d);

  assert_invalidated(p, WATCH_EVENT_ADDED, d);
  assert_key(p, "x");
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

START_TEST(a_stale_install_registers_nothing)
{
  PyObject *d = PY("{'x': 1}");
  PROBE(p);
  watch_counters_t before = COUNTERS();

  ck_assert_int_eq(watch_dep_on_key(p->dep, d, key("x"), NULL), WATCH_ESTALE);

  ASSERT_COUNTER(edges, ==, before.edges);
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Namespace dependencies                                                   */

#define NAMESPACE_TEST(name, src, kind)                                       \
  START_TEST(name)                                                            \
  {                                                                           \
    PyObject *d = PY("{'x': 1, 'y': 2}");                                     \
    PROBE(p);                                                                 \
    ck_assert_int_eq(watch_dep_on_namespace(p->dep, d), 0);                    \
                                                                              \
    RUN_WITH(src, "d", d);                                                    \
                                                                              \
    assert_invalidated(p, kind, d);                                          \
    probe_release(p);                                                        \
    Py_DECREF(d);                                                             \
  }                                                                           \
  END_TEST

NAMESPACE_TEST(namespace_dependency_invalidated_by_adding_a_key, "d['z'] = 3",
               WATCH_EVENT_ADDED)
NAMESPACE_TEST(namespace_dependency_invalidated_by_modifying_a_key,
               "d['y'] = 3", WATCH_EVENT_MODIFIED)
NAMESPACE_TEST(namespace_dependency_invalidated_by_deleting_a_key,
               "del d['y']", WATCH_EVENT_DELETED)
NAMESPACE_TEST(namespace_dependency_invalidated_by_clear, "d.clear()",
               WATCH_EVENT_CLEARED)
NAMESPACE_TEST(namespace_dependency_invalidated_by_a_non_str_key,
               "d[42] = 3", WATCH_EVENT_ADDED)

START_TEST(namespace_dependency_not_invalidated_by_an_identical_store)
{
  PyObject *d = PY("{'x': object(), 'y': 2}");
  PROBE(p);
  ck_assert_int_eq(watch_dep_on_namespace(p->dep, d), 0);

  RUN_WITH("d['x'] = d['x']\nd.update(y=d['y'])", "d", d);

  assert_intact(p);
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

START_TEST(namespace_dependency_not_invalidated_by_reads)
{
  PyObject *d = PY("{'x': 1, 'y': 2}");
  PROBE(p);
  ck_assert_int_eq(watch_dep_on_namespace(p->dep, d), 0);

  RUN_WITH("d['x']; d.get('z'); 'y' in d; list(d.items()); len(d); d.copy()",
           "d", d);

  assert_intact(p);
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

START_TEST(namespace_dependency_not_invalidated_by_another_dict)
{
  PyObject *d = PY("{'x': 1}");
  PyObject *other = PY("{'x': 1}");
  PROBE(p);
  ck_assert_int_eq(watch_dep_on_namespace(p->dep, d), 0);

  RUN_WITH("o['x'] = 2\no['z'] = 3\no.clear()", "o", other);

  assert_intact(p);
  probe_release(p);
  Py_DECREF(other);
  Py_DECREF(d);
}
END_TEST

START_TEST(namespace_dependency_on_an_empty_dict_survives_clear)
{
  PyObject *d = PY("{}");
  PROBE(p);
  ck_assert_int_eq(watch_dep_on_namespace(p->dep, d), 0);

  RUN_WITH("d.clear()", "d", d);

  assert_intact(p);
  probe_release(p);
  Py_DECREF(d);
}
END_TEST


/* ------------------------------------------------------------------------ */
/* watch_dep_on_key_as_is(): the key as the dict holds it, unread           */

START_TEST(as_is_on_a_present_key_is_invalidated_by_its_store_only)
{
  PyObject *g = NS("x = 1\n"
                   "y = 2\n");
  PROBE(on_x);
  ck_assert_int_eq(watch_dep_on_key_as_is(on_x->dep, g, key("x")), 0);

  RUN(g, "y = 3\n");
  assert_intact(on_x);
  RUN(g, "x = 4\n");

  assert_invalidated(on_x, WATCH_EVENT_MODIFIED, g);
  assert_key(on_x, "x");
  probe_release(on_x);
  Py_DECREF(g);
}
END_TEST

START_TEST(as_is_on_an_absent_key_is_invalidated_by_its_addition)
{
  PyObject *g = NS("y = 2\n");
  PROBE(on_x);
  ck_assert_int_eq(watch_dep_on_key_as_is(on_x->dep, g, key("x")), 0);

  RUN(g, "x = 1\n");

  assert_invalidated(on_x, WATCH_EVENT_ADDED, g);
  probe_release(on_x);
  Py_DECREF(g);
}
END_TEST

START_TEST(as_is_takes_an_int_key)
{
  PyObject *g = NS("d = {7: 'a', 8: 'b'}\n");
  PyObject *d = ITEM(g, "d");
  PyObject *seven = PyLong_FromLong(7);
  PROBE(on_7);
  ck_assert_int_eq(watch_dep_on_key_as_is(on_7->dep, d, seven), 0);

  RUN(g, "d[8] = 'c'\n");
  assert_intact(on_7);
  RUN(g, "del d[7]\n");

  assert_invalidated(on_7, WATCH_EVENT_DELETED, d);
  probe_release(on_7);
  Py_DECREF(seven);
  Py_DECREF(g);
}
END_TEST

START_TEST(as_is_refuses_what_it_cannot_follow_and_leaves_the_dependent_as_it_was)
{
  /* A key whose hash and equality may be Python code is refused outright
   * (WATCH_EINVAL), so that the call runs none; so is a non-dict. */
  PyObject *g = NS("class K:\n"
                   "    def __hash__(self):\n"
                   "        return hash('x')\n"
                   "    def __eq__(self, other):\n"
                   "        return other == 'x'\n"
                   "d = {K(): 1, 'y': 2}\n"
                   "t = ('y',)\n"
                   "l = []\n");
  PyObject *d = ITEM(g, "d");
  PROBE(p);
  ck_assert_int_eq(watch_dep_on_key_as_is(p->dep, d, ITEM(g, "t")),
                   WATCH_EINVAL);
  PyObject *half = PyFloat_FromDouble(1.5);
  ck_assert_int_eq(watch_dep_on_key_as_is(p->dep, d, half), WATCH_EINVAL);
  Py_DECREF(half);
  ck_assert_int_eq(watch_dep_on_key_as_is(p->dep, ITEM(g, "l"), key("x")),
                   WATCH_EINVAL);
  ck_assert_int_eq(watch_dep_on_key_as_is(p->dep, NULL, key("x")),
                   WATCH_EINVAL);
  ck_assert_int_eq(watch_dep_on_key_as_is(p->dep, d, NULL), WATCH_EINVAL);
  ck_assert_int_eq(watch_dep_on_key_as_is(NULL, d, key("x")), WATCH_EINVAL);
  /* The lookup of 'x' would call K's __eq__ (watch_dep_on_key()'s rule). */
  ck_assert_int_eq(watch_dep_on_key_as_is(p->dep, d, key("x")),
                   WATCH_EUNWATCHABLE);

  /* No edge was left: a write of 'x' or 'y' reaches nothing. */
  RUN(g, "d['x'] = 3\n"
         "d['y'] = 4\n");
  assert_intact(p);
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

START_TEST(as_is_on_an_invalidated_dependent_fails)
{
  PyObject *g = NS("x = 1\n");
  PROBE(p);
  ck_assert_int_eq(watch_dep_invalidate(p->dep), 0);
  ck_assert_int_eq(watch_dep_on_key_as_is(p->dep, g, key("x")),
                   WATCH_EINVALIDATED);
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

static Suite *
make_suite(void)
{
  Suite *s = suite_create("dict");

  TCase *tc = harness_tcase(s, "write_paths");
  tcase_add_test(tc, store_global_modifying_a_global_invalidates_only_that_key);
  tcase_add_test(tc, store_global_adding_a_global_invalidates_its_absence);
  tcase_add_test(tc, delete_global_invalidates_only_that_key);
  tcase_add_test(tc, setattr_adding_a_module_attribute_invalidates_its_absence);
  tcase_add_test(tc,
                 setattr_modifying_a_module_attribute_invalidates_only_that_key);
  tcase_add_test(tc, module_dict_item_store_invalidates_only_that_key);
  tcase_add_test(tc, delattr_on_a_module_invalidates_only_that_key);
  tcase_add_test(tc, del_item_invalidates_only_that_key);
  tcase_add_test(tc, pop_invalidates_only_that_key);
  tcase_add_test(tc, pop_of_a_missing_key_invalidates_nothing);
  tcase_add_test(tc, popitem_invalidates_only_the_popped_key);
  tcase_add_test(tc, setdefault_inserting_invalidates_the_absent_key);
  tcase_add_test(tc, setdefault_on_an_existing_key_invalidates_nothing);
  tcase_add_test(tc, update_of_a_non_empty_dict_invalidates_only_the_updated_key);
  tcase_add_test(tc, update_adding_a_key_invalidates_its_absence);
  tcase_add_test(tc, inplace_or_invalidates_only_the_merged_key);
  tcase_add_test(tc, clear_invalidates_every_dependent_of_the_dict);
  tcase_add_test(tc, clear_does_not_invalidate_dependents_of_another_dict);
  tcase_add_test(tc, clear_of_an_empty_dict_invalidates_nothing);
  tcase_add_test(tc, every_dependent_of_a_key_is_invalidated);
  tcase_add_test(tc, same_key_in_another_dict_is_not_invalidated);
  tcase_add_test(tc, storing_the_identical_object_invalidates_nothing);
  tcase_add_test(tc,
                 storing_the_identical_object_through_a_module_invalidates_nothing);
  tcase_add_test(
      tc, storing_the_identical_object_into_an_instance_dict_invalidates_nothing);
  tcase_add_test(tc, storing_another_object_into_an_instance_dict_invalidates);
  tcase_add_test(tc, storing_an_equal_but_distinct_object_invalidates);
  tcase_add_test(tc, invalid_before_the_store_and_called_after_it);
  tcase_add_test(tc, a_store_after_invalidation_does_not_call_the_callback_again);
  tcase_add_test(tc, a_released_dependent_is_not_called);

  tc = harness_tcase(s, "as_is");
  tcase_add_test(tc, as_is_on_a_present_key_is_invalidated_by_its_store_only);
  tcase_add_test(tc, as_is_on_an_absent_key_is_invalidated_by_its_addition);
  tcase_add_test(tc, as_is_takes_an_int_key);
  tcase_add_test(
      tc,
      as_is_refuses_what_it_cannot_follow_and_leaves_the_dependent_as_it_was);
  tcase_add_test(tc, as_is_on_an_invalidated_dependent_fails);

  tc = harness_tcase(s, "whole_dict_events");
  tcase_add_test(tc, update_of_an_empty_dict_from_a_dense_dict_is_cloned);
  tcase_add_test(tc, cloned_update_does_not_invalidate_the_source_dict);
  tcase_add_test(tc, deallocating_a_watched_dict_invalidates_its_dependents);
  tcase_add_test(tc, a_dict_collected_in_a_cycle_invalidates_its_dependents);

  tc = harness_tcase(s, "validate_at_install");
  tcase_add_test(tc, install_fails_stale_when_the_dict_holds_another_object);
  tcase_add_test(tc, install_compares_identity_not_equality);
  tcase_add_test(tc, install_fails_stale_when_an_assumed_key_is_absent);
  tcase_add_test(tc, install_fails_stale_when_an_assumed_absent_key_is_present);
  tcase_add_test(tc, install_succeeds_on_an_absent_key_and_adding_it_invalidates);
  tcase_add_test(tc, a_stale_install_registers_nothing);

  tc = harness_tcase(s, "namespace");
  tcase_add_test(tc, namespace_dependency_invalidated_by_adding_a_key);
  tcase_add_test(tc, namespace_dependency_invalidated_by_modifying_a_key);
  tcase_add_test(tc, namespace_dependency_invalidated_by_deleting_a_key);
  tcase_add_test(tc, namespace_dependency_invalidated_by_clear);
  tcase_add_test(tc, namespace_dependency_invalidated_by_a_non_str_key);
  tcase_add_test(tc, namespace_dependency_not_invalidated_by_an_identical_store);
  tcase_add_test(tc, namespace_dependency_not_invalidated_by_reads);
  tcase_add_test(tc, namespace_dependency_not_invalidated_by_another_dict);
  tcase_add_test(tc, namespace_dependency_on_an_empty_dict_survives_clear);
  return s;
}
