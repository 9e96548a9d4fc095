/* Dict versions (watch_dict_version): change on every modification, unchanged
 * otherwise, unique within the interpreter and never reused. */
#include "harness.h"

static uint64_t
version_at(const char *file, int line, PyObject *d)
{
  uint64_t v = 0;
  int err = watch_dict_version(d, &v);
  if (err != 0)
    _ck_assert_failed(file, line, "watch_dict_version", "watch_dict_version() = %d (%s)",
                      err, harness_err(err));
  return v;
}
#define VERSION(d) version_at(__FILE__, __LINE__, (d))

#define VERSION_CHANGES_TEST(name, initial, src)                              \
  START_TEST(name)                                                            \
  {                                                                           \
    PyObject *d = PY(initial);                                                \
    uint64_t before = VERSION(d);                                             \
                                                                              \
    RUN_WITH(src, "d", d);                                                    \
                                                                              \
    ck_assert_uint_ne(VERSION(d), before);                                    \
    Py_DECREF(d);                                                             \
  }                                                                           \
  END_TEST

VERSION_CHANGES_TEST(version_changes_when_a_key_is_added, "{'x': 1}",
                     "d['y'] = 2")
VERSION_CHANGES_TEST(version_changes_when_a_key_is_modified, "{'x': 1}",
                     "d['x'] = 2")
VERSION_CHANGES_TEST(version_changes_when_a_key_is_deleted, "{'x': 1}",
                     "del d['x']")
VERSION_CHANGES_TEST(version_changes_when_the_dict_is_cleared, "{'x': 1}",
                     "d.clear()")
VERSION_CHANGES_TEST(version_changes_when_an_empty_dict_is_cloned, "{}",
                     "d.update({'a': 1, 'b': 2})")
VERSION_CHANGES_TEST(version_changes_when_a_non_str_key_is_added, "{'x': 1}",
                     "d[42] = 2")

START_TEST(version_changes_on_store_global)
{
  PyObject *g = NS("x = 1\n"
                   "def set_x(v):\n"
                   "    global x\n"
                   "    x = v\n");
  uint64_t before = VERSION(g);

  RUN(g, "set_x(2)");

  ck_assert_uint_ne(VERSION(g), before);
  Py_DECREF(g);
}
END_TEST

START_TEST(version_changes_on_every_modification)
{
  PyObject *d = PY("{'x': 1}");
  uint64_t v0 = VERSION(d);
  RUN_WITH("d['x'] = 2", "d", d);
  uint64_t v1 = VERSION(d);
  RUN_WITH("d['x'] = 3", "d", d);
  uint64_t v2 = VERSION(d);

  ck_assert_uint_ne(v0, v1);
  ck_assert_uint_ne(v1, v2);
  ck_assert_uint_ne(v0, v2);
  Py_DECREF(d);
}
END_TEST

START_TEST(version_is_unchanged_by_an_identical_store)
{
  PyObject *d = PY("{'x': object()}");
  uint64_t before = VERSION(d);

  RUN_WITH("d['x'] = d['x']\nd.update(x=d['x'])\nd.setdefault('x', 0)", "d",
           d);

  ck_assert_uint_eq(VERSION(d), before);
  Py_DECREF(d);
}
END_TEST

START_TEST(version_is_unchanged_by_an_identical_store_into_an_instance_dict)
{
  PyObject *g = NS("class C:\n"
                   "    pass\n"
                   "o = C()\n"
                   "o.x = object()\n"
                   "d = o.__dict__\n");
  PyObject *d = ITEM(g, "d");
  if (harness_inline_stores_unheard()) {
    uint64_t version;
    ck_assert_int_eq(watch_dict_version(d, &version), WATCH_EUNWATCHABLE);
    Py_DECREF(g);
    return;
  }
  uint64_t before = VERSION(d);

  RUN(g, "d['x'] = d['x']\n");

  ck_assert_uint_eq(VERSION(d), before);
  Py_DECREF(g);
}
END_TEST

START_TEST(version_is_unchanged_by_reads)
{
  PyObject *d = PY("{'x': 1, 'y': 2}");
  uint64_t before = VERSION(d);

  RUN_WITH("d['x']; d.get('z'); 'y' in d; list(d.items()); len(d)\n"
           "d.copy(); dict(d); {**d}; d.pop('absent', None)",
           "d", d);

  ck_assert_uint_eq(VERSION(d), before);
  ck_assert_uint_eq(VERSION(d), before);
  Py_DECREF(d);
}
END_TEST

START_TEST(versions_of_two_dicts_differ)
{
  PyObject *a = PY("{}");
  PyObject *b = PY("{}");
  PyObject *c = PY("{'x': 1}");
  PyObject *e = PY("{'x': 1}");

  uint64_t va = VERSION(a), vb = VERSION(b), vc = VERSION(c), ve = VERSION(e);

  ck_assert_uint_ne(va, vb);
  ck_assert_uint_ne(va, vc);
  ck_assert_uint_ne(va, ve);
  ck_assert_uint_ne(vb, vc);
  ck_assert_uint_ne(vb, ve);
  ck_assert_uint_ne(vc, ve);
  Py_DECREF(a);
  Py_DECREF(b);
  Py_DECREF(c);
  Py_DECREF(e);
}
END_TEST

START_TEST(versions_of_two_dicts_differ_after_modifications)
{
  PyObject *a = PY("{'x': 1}");
  PyObject *b = PY("{'x': 1}");
  uint64_t seen[8];
  int n = 0;

  seen[n++] = VERSION(a);
  seen[n++] = VERSION(b);
  for (int i = 0; i < 3; i++) {
    RUN_WITH("a['x'] = object()\nb['x'] = object()", "a", a, "b", b);
    seen[n++] = VERSION(a);
    seen[n++] = VERSION(b);
  }

  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      ck_assert_msg(seen[i] != seen[j], "versions %d and %d are both %llu", i,
                    j, (unsigned long long)seen[i]);
  Py_DECREF(a);
  Py_DECREF(b);
}
END_TEST

START_TEST(version_is_not_reused_when_a_value_is_restored)
{
  PyObject *d = PY("{'x': 1}");
  uint64_t first = VERSION(d);

  RUN_WITH("old = d['x']\nd['x'] = 2\nd['x'] = old", "d", d);

  ck_assert_uint_ne(VERSION(d), first);
  Py_DECREF(d);
}
END_TEST

START_TEST(version_is_not_reused_by_a_dict_allocated_after_another_died)
{
  uint64_t seen[32];
  int n = 0;
  /* A new dict very often takes the address of the one just freed. */
  for (int i = 0; i < 16; i++) {
    PyObject *d = PyDict_New();
    seen[n++] = VERSION(d);
    PyDict_SetItemString(d, "x", Py_None);
    seen[n++] = VERSION(d);
    Py_DECREF(d);
  }

  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      ck_assert_msg(seen[i] != seen[j], "versions %d and %d are both %llu", i,
                    j, (unsigned long long)seen[i]);
}
END_TEST

START_TEST(version_and_dependents_coexist)
{
  PyObject *d = PY("{'x': 1, 'y': 2}");
  uint64_t before = VERSION(d);
  PROBE(on_x);
  DEPEND(on_x, d, "x");

  RUN_WITH("d['y'] = 3", "d", d);
  uint64_t after_y = VERSION(d);
  RUN_WITH("d['x'] = 3", "d", d);

  ck_assert_uint_ne(after_y, before);
  ck_assert_uint_ne(VERSION(d), after_y);
  assert_invalidated(on_x, WATCH_EVENT_MODIFIED, d);
  probe_release(on_x);
  Py_DECREF(d);
}
END_TEST

START_TEST(version_keeps_changing_after_the_last_dependent_is_released)
{
  PyObject *d = PY("{'x': 1}");
  uint64_t before = VERSION(d);
  PROBE(on_x);
  DEPEND(on_x, d, "x");
  probe_release(on_x);

  RUN_WITH("d['x'] = 2", "d", d);

  ck_assert_uint_ne(VERSION(d), before);
  Py_DECREF(d);
}
END_TEST

START_TEST(versions_are_not_reused_after_watch_fini_and_watch_init)
{
  ck_assert_int_eq(watch_init(), 0);
  PyObject *d = PY("{'x': 1}");
  uint64_t first = VERSION(d);
  RUN_WITH("d['x'] = 2", "d", d);
  uint64_t second = VERSION(d);
  watch_fini();
  ck_assert_int_eq(watch_init(), 0);
  PyObject *e = PY("{'x': 1}");

  uint64_t seen[] = {first, second, VERSION(d), VERSION(e)};

  for (int i = 0; i < 4; i++)
    for (int j = i + 1; j < 4; j++)
      ck_assert_msg(seen[i] != seen[j], "versions %d and %d are both %llu", i,
                    j, (unsigned long long)seen[i]);
  watch_fini();
  Py_DECREF(d);
  Py_DECREF(e);
}
END_TEST

static Suite *
make_suite(void)
{
  Suite *s = suite_create("version");

  TCase *tc = harness_tcase(s, "changes");
  tcase_add_test(tc, version_changes_when_a_key_is_added);
  tcase_add_test(tc, version_changes_when_a_key_is_modified);
  tcase_add_test(tc, version_changes_when_a_key_is_deleted);
  tcase_add_test(tc, version_changes_when_the_dict_is_cleared);
  tcase_add_test(tc, version_changes_when_an_empty_dict_is_cloned);
  tcase_add_test(tc, version_changes_when_a_non_str_key_is_added);
  tcase_add_test(tc, version_changes_on_store_global);
  tcase_add_test(tc, version_changes_on_every_modification);
  tcase_add_test(tc, version_and_dependents_coexist);
  tcase_add_test(tc, version_keeps_changing_after_the_last_dependent_is_released);

  tc = harness_tcase(s, "stays");
  tcase_add_test(tc, version_is_unchanged_by_an_identical_store);
  tcase_add_test(tc, version_is_unchanged_by_reads);
  tcase_add_test(
      tc, version_is_unchanged_by_an_identical_store_into_an_instance_dict);

  tc = harness_tcase(s, "unique");
  tcase_add_test(tc, versions_of_two_dicts_differ);
  tcase_add_test(tc, versions_of_two_dicts_differ_after_modifications);
  tcase_add_test(tc, version_is_not_reused_when_a_value_is_restored);
  tcase_add_test(tc,
                 version_is_not_reused_by_a_dict_allocated_after_another_died);

  tc = harness_bare_tcase(s, "lifecycle");
  tcase_add_test(tc, versions_are_not_reused_after_watch_fini_and_watch_init);
  return s;
}
