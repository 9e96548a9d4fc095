/* Unstable keys: a key modified more than the unstable limit times while
 * tracked stops being depended on. */
#include "harness.h"

/* Binds d[name] to a new object: a modification. */
#define MODIFY(d, name)                                                       \
  RUN_WITH("d[" #name "] = object()", "d", (d))

/* Modifies d['x'] n times, each time re-registering p on it first; every
 * invalidation but possibly the last must be MODIFIED. */
static void
modify_x_reregistering(PyObject *d, probe_t *p, int n)
{
  for (int i = 1; i <= n; i++) {
    MODIFY(d, 'x');
    assert_invalidated_once(p);
    if (i < n) {
      ck_assert_msg(p->rec.kind == WATCH_EVENT_MODIFIED,
                    "modification %d: event %s, expected MODIFIED", i,
                    harness_event_name(p->rec.kind));
      probe_release(p);
      probe_init_at(__FILE__, __LINE__, p);
      PyObject *v = ITEM(d, "x");
      int err = watch_dep_on_key(p->dep, d, key("x"), v);
      ck_assert_msg(err == 0, "registration after %d modifications = %d (%s)",
                    i, err, harness_err(err));
    }
  }
}

START_TEST(a_key_modified_up_to_the_limit_stays_stable)
{
  PyObject *d = PY("{'x': 0}");
  PROBE(p);
  DEPEND(p, d, "x");

  modify_x_reregistering(d, p, WATCH_DEFAULT_UNSTABLE_LIMIT);

  ck_assert_int_eq(p->rec.kind, WATCH_EVENT_MODIFIED);
  probe_release(p);
  PROBE(q);
  ck_assert_int_eq(watch_dep_on_key(q->dep, d, key("x"), ITEM(d, "x")), 0);
  probe_release(q);
  Py_DECREF(d);
}
END_TEST

START_TEST(a_key_modified_more_than_the_limit_is_invalidated_as_unstable)
{
  PyObject *d = PY("{'x': 0}");
  PROBE(p);
  DEPEND(p, d, "x");

  modify_x_reregistering(d, p, WATCH_DEFAULT_UNSTABLE_LIMIT + 1);

  assert_invalidated(p, WATCH_EVENT_UNSTABLE, d);
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

START_TEST(registering_on_an_unstable_key_fails)
{
  PyObject *d = PY("{'x': 0}");
  PROBE(p);
  DEPEND(p, d, "x");
  modify_x_reregistering(d, p, WATCH_DEFAULT_UNSTABLE_LIMIT + 1);
  probe_release(p);
  PROBE(q);

  ck_assert_int_eq(watch_dep_on_key(q->dep, d, key("x"), ITEM(d, "x")),
                   WATCH_EUNSTABLE);
  assert_no_python_error();
  probe_release(q);
  Py_DECREF(d);
}
END_TEST

START_TEST(a_key_modified_without_dependents_after_registration_becomes_unstable)
{
  PyObject *d = PY("{'x': 0}");
  PROBE(p);
  DEPEND(p, d, "x");
  MODIFY(d, 'x');
  assert_invalidated(p, WATCH_EVENT_MODIFIED, d);
  probe_release(p);

  for (int i = 2; i <= WATCH_DEFAULT_UNSTABLE_LIMIT + 1; i++)
    MODIFY(d, 'x');

  PROBE(q);
  ck_assert_int_eq(watch_dep_on_key(q->dep, d, key("x"), ITEM(d, "x")),
                   WATCH_EUNSTABLE);
  probe_release(q);
  Py_DECREF(d);
}
END_TEST

START_TEST(another_key_of_the_dict_stays_usable_when_one_is_unstable)
{
  PyObject *d = PY("{'x': 0, 'y': 0}");
  PROBE(p);
  DEPEND(p, d, "x");
  modify_x_reregistering(d, p, WATCH_DEFAULT_UNSTABLE_LIMIT + 1);
  probe_release(p);
  PROBE(on_y);

  ck_assert_int_eq(watch_dep_on_key(on_y->dep, d, key("y"), ITEM(d, "y")), 0);
  MODIFY(d, 'y');

  assert_invalidated(on_y, WATCH_EVENT_MODIFIED, d);
  probe_release(on_y);
  Py_DECREF(d);
}
END_TEST

START_TEST(the_same_key_in_another_dict_stays_usable)
{
  PyObject *d = PY("{'x': 0}");
  PyObject *other = PY("{'x': 0}");
  PROBE(p);
  DEPEND(p, d, "x");
  modify_x_reregistering(d, p, WATCH_DEFAULT_UNSTABLE_LIMIT + 1);
  probe_release(p);
  PROBE(q);

  ck_assert_int_eq(watch_dep_on_key(q->dep, other, key("x"), ITEM(other, "x")),
                   0);
  probe_release(q);
  Py_DECREF(other);
  Py_DECREF(d);
}
END_TEST

START_TEST(modifications_before_any_registration_do_not_count)
{
  PyObject *d = PY("{'x': 0}");
  for (int i = 0; i < 3 * WATCH_DEFAULT_UNSTABLE_LIMIT; i++)
    MODIFY(d, 'x');
  PROBE(p);

  ck_assert_int_eq(watch_dep_on_key(p->dep, d, key("x"), ITEM(d, "x")), 0);
  probe_release(p);
  Py_DECREF(d);
}
END_TEST

START_TEST(writes_after_the_last_dependent_of_a_key_left_unchanged_do_not_count)
{
  /* Another dependent keeps the dict watched while nobody depends on x. */
  PyObject *d = PY("{'x': 0, 'y': 0}");
  PROBE(p);
  PROBE(other);
  DEPEND(p, d, "x");
  DEPEND(other, d, "y");
  probe_release(p);

  for (int i = 0; i < 3 * WATCH_DEFAULT_UNSTABLE_LIMIT; i++)
    MODIFY(d, 'x');
  PROBE(q);

  ck_assert_int_eq(watch_dep_on_key(q->dep, d, key("x"), ITEM(d, "x")), 0);
  assert_intact(other);
  probe_release(q);
  probe_release(other);
  Py_DECREF(d);
}
END_TEST

START_TEST(unstable_limit_zero_never_makes_a_key_unstable)
{
  ck_assert_int_eq(watch_set_unstable_limit(0), 0);
  PyObject *d = PY("{'x': 0}");
  PROBE(p);
  DEPEND(p, d, "x");

  modify_x_reregistering(d, p, 4 * WATCH_DEFAULT_UNSTABLE_LIMIT);

  ck_assert_int_eq(p->rec.kind, WATCH_EVENT_MODIFIED);
  probe_release(p);
  PROBE(q);
  ck_assert_int_eq(watch_dep_on_key(q->dep, d, key("x"), ITEM(d, "x")), 0);
  probe_release(q);
  Py_DECREF(d);
}
END_TEST

START_TEST(unstable_limit_two_makes_the_third_modification_unstable)
{
  ck_assert_int_eq(watch_set_unstable_limit(2), 0);
  PyObject *d = PY("{'x': 0}");
  PROBE(p);
  DEPEND(p, d, "x");

  modify_x_reregistering(d, p, 3);

  assert_invalidated(p, WATCH_EVENT_UNSTABLE, d);
  probe_release(p);
  PROBE(q);
  ck_assert_int_eq(watch_dep_on_key(q->dep, d, key("x"), ITEM(d, "x")),
                   WATCH_EUNSTABLE);
  probe_release(q);
  Py_DECREF(d);
}
END_TEST

START_TEST(unstable_limit_two_keeps_the_second_modification_stable)
{
  ck_assert_int_eq(watch_set_unstable_limit(2), 0);
  PyObject *d = PY("{'x': 0}");
  PROBE(p);
  DEPEND(p, d, "x");

  modify_x_reregistering(d, p, 2);

  assert_invalidated(p, WATCH_EVENT_MODIFIED, d);
  probe_release(p);
  PROBE(q);
  ck_assert_int_eq(watch_dep_on_key(q->dep, d, key("x"), ITEM(d, "x")), 0);
  probe_release(q);
  Py_DECREF(d);
}
END_TEST

START_TEST(global_dependency_on_an_unstable_builtin_fails)
{
  ck_assert_int_eq(watch_set_unstable_limit(2), 0);
  PyObject *ns = NS("B = {'len': len}\n"
                    "G = {'__builtins__': B}\n");
  PyObject *g = ITEM(ns, "G"), *b = ITEM(ns, "B");
  PROBE(p);
  DEPEND(p, b, "len");
  for (int i = 0; i < 3; i++)
    MODIFY(b, 'len');
  assert_invalidated_once(p);
  probe_release(p);
  PROBE(q);

  ck_assert_int_eq(watch_dep_on_global(q->dep, g, b, key("len"), ITEM(b, "len")),
                   WATCH_EUNSTABLE);
  probe_release(q);
  Py_DECREF(ns);
}
END_TEST

START_TEST(writes_of_other_keys_do_not_make_a_key_unstable)
{
  /* A str subclass key may be matched conservatively, so its writes may
   * invalidate the dependent on 'x'; but 'x' itself never changes, so it
   * must never become unstable. */
  PyObject *g = NS("class S(str):\n"
                   "    pass\n"
                   "d = {'x': 1}\n");
  PyObject *d = ITEM(g, "d");
  PROBE(p);
  DEPEND(p, d, "x");

  for (int i = 0; i < 3 * WATCH_DEFAULT_UNSTABLE_LIMIT; i++) {
    char src[64];
    snprintf(src, sizeof src, "d[S('other%d')] = %d\nd[%d.5] = 0\n", i, i, i);
    RUN(g, src);
    ck_assert_msg(p->rec.kind != WATCH_EVENT_UNSTABLE,
                  "write %d of another key made 'x' unstable", i + 1);
    if (!watch_dep_valid(p->dep)) {
      probe_release(p);
      probe_init_at(__FILE__, __LINE__, p);
      int err = watch_dep_on_key(p->dep, d, key("x"), ITEM(d, "x"));
      ck_assert_msg(err == 0, "registration after %d writes of other keys = %d (%s)",
                    i + 1, err, harness_err(err));
    }
  }
  probe_release(p);
  Py_DECREF(g);
}
END_TEST

static Suite *
make_suite(void)
{
  Suite *s = suite_create("unstable");

  TCase *tc = harness_tcase(s, "default_limit");
  tcase_add_test(tc, a_key_modified_up_to_the_limit_stays_stable);
  tcase_add_test(tc, a_key_modified_more_than_the_limit_is_invalidated_as_unstable);
  tcase_add_test(tc, registering_on_an_unstable_key_fails);
  tcase_add_test(
      tc, a_key_modified_without_dependents_after_registration_becomes_unstable);
  tcase_add_test(tc, another_key_of_the_dict_stays_usable_when_one_is_unstable);
  tcase_add_test(tc, the_same_key_in_another_dict_stays_usable);
  tcase_add_test(tc, modifications_before_any_registration_do_not_count);
  tcase_add_test(
      tc, writes_after_the_last_dependent_of_a_key_left_unchanged_do_not_count);
  tcase_add_test(tc, writes_of_other_keys_do_not_make_a_key_unstable);

  tc = harness_tcase(s, "set_limit");
  tcase_add_test(tc, unstable_limit_zero_never_makes_a_key_unstable);
  tcase_add_test(tc, unstable_limit_two_makes_the_third_modification_unstable);
  tcase_add_test(tc, unstable_limit_two_keeps_the_second_modification_stable);
  tcase_add_test(tc, global_dependency_on_an_unstable_builtin_fails);
  return s;
}
