/* Global dependencies (watch_dep_on_global): what LOAD_GLOBAL of a name
 * gives, with a function's globals and builtins. */
#include "harness.h"
#include "global_env.h"

/* p depends on LOAD_GLOBAL of name giving what it gives now. */
#define DEPEND_GLOBAL(p, e, name)                                             \
  do {                                                                        \
    PyObject *v_ = load_global(&(e), (name));                                 \
    int e_ = watch_dep_on_global((p)->dep, (e).g, (e).b, key(name), v_);      \
    ck_assert_msg(e_ == 0, "watch_dep_on_global(%s) = %d (%s)", (name), e_,   \
                  harness_err(e_));                                           \
    Py_XDECREF(v_);                                                           \
  } while (0)

START_TEST(builtin_is_invalidated_when_globals_shadow_it)
{
  ENV(e);
  PROBE(on_len);
  DEPEND_GLOBAL(on_len, e, "len");

  RUN(e.g, "len = 5\n");

  assert_invalidated(on_len, WATCH_EVENT_ADDED, e.g);
  assert_key(on_len, "len");
  probe_release(on_len);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(builtin_is_invalidated_when_builtins_rebind_it)
{
  ENV(e);
  PROBE(on_len);
  DEPEND_GLOBAL(on_len, e, "len");

  RUN(e.ns, "B['len'] = abs\n");

  assert_invalidated(on_len, WATCH_EVENT_MODIFIED, e.b);
  assert_key(on_len, "len");
  probe_release(on_len);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(builtin_is_invalidated_when_builtins_delete_it)
{
  ENV(e);
  PROBE(on_len);
  DEPEND_GLOBAL(on_len, e, "len");

  RUN(e.ns, "del B['len']\n");

  assert_invalidated(on_len, WATCH_EVENT_DELETED, e.b);
  probe_release(on_len);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(global_shadowing_a_builtin_is_invalidated_when_deleted)
{
  ENV(e);
  PROBE(on_shadowed);
  DEPEND_GLOBAL(on_shadowed, e, "shadowed");

  RUN(e.g, "del shadowed\n");

  assert_invalidated(on_shadowed, WATCH_EVENT_DELETED, e.g);
  assert_key(on_shadowed, "shadowed");
  probe_release(on_shadowed);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(global_is_invalidated_when_rebound_by_store_global)
{
  ENV(e);
  PROBE(on_only_g);
  DEPEND_GLOBAL(on_only_g, e, "only_g");

  RUN(e.g, "store_only_g('new value')\n");

  assert_invalidated(on_only_g, WATCH_EVENT_MODIFIED, e.g);
  probe_release(on_only_g);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(global_found_only_in_globals_is_invalidated_when_deleted)
{
  ENV(e);
  PROBE(on_only_g);
  DEPEND_GLOBAL(on_only_g, e, "only_g");

  RUN(e.g, "del only_g\n");

  assert_invalidated(on_only_g, WATCH_EVENT_DELETED, e.g);
  probe_release(on_only_g);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(globals_are_not_invalidated_by_unrelated_global_writes)
{
  ENV(e);
  PROBE(on_len);
  PROBE(on_shadowed);
  PROBE(on_undefined);
  DEPEND_GLOBAL(on_len, e, "len");
  DEPEND_GLOBAL(on_shadowed, e, "shadowed");
  DEPEND_GLOBAL(on_undefined, e, "undefined");

  RUN(e.g, "other = 2\n"
           "brand_new = 3\n"
           "del other\n");

  assert_intact(on_len);
  assert_intact(on_shadowed);
  assert_intact(on_undefined);
  probe_release(on_len);
  probe_release(on_shadowed);
  probe_release(on_undefined);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(globals_are_not_invalidated_by_unrelated_builtins_writes)
{
  ENV(e);
  PROBE(on_len);
  PROBE(on_only_g);
  DEPEND_GLOBAL(on_len, e, "len");
  DEPEND_GLOBAL(on_only_g, e, "only_g");

  RUN(e.ns, "B['abs'] = len\n"
            "B['brand_new'] = 1\n");

  assert_intact(on_len);
  assert_intact(on_only_g);
  probe_release(on_len);
  probe_release(on_only_g);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(global_shadowing_a_builtin_ignores_changes_to_that_builtin)
{
  ENV(e);
  PROBE(on_shadowed);
  DEPEND_GLOBAL(on_shadowed, e, "shadowed");

  RUN(e.ns, "B['shadowed'] = 'another builtin value'\n"
            "assert G['load_shadowed']() == 'global value'\n");

  assert_intact(on_shadowed);
  probe_release(on_shadowed);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(global_install_fails_stale_unless_assumed_is_what_load_global_sees)
{
  ENV(e);
  PROBE(p);
  PyObject *builtin_value = ITEM(e.b, "shadowed");
  PyObject *abs_ = ITEM(e.b, "abs");

  /* LOAD_GLOBAL sees the global, not the builtin it shadows. */
  ck_assert_int_eq(watch_dep_on_global(p->dep, e.g, e.b, key("shadowed"),
                                       builtin_value),
                   WATCH_ESTALE);
  ck_assert_int_eq(watch_dep_on_global(p->dep, e.g, e.b, key("len"), abs_),
                   WATCH_ESTALE);
  ck_assert_int_eq(watch_dep_on_global(p->dep, e.g, e.b, key("undefined"),
                                       abs_),
                   WATCH_ESTALE);
  assert_no_python_error();
  probe_release(p);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(global_install_fails_stale_when_assuming_a_defined_name_is_missing)
{
  ENV(e);
  PROBE(p);

  ck_assert_int_eq(watch_dep_on_global(p->dep, e.g, e.b, key("len"), NULL),
                   WATCH_ESTALE);
  ck_assert_int_eq(watch_dep_on_global(p->dep, e.g, e.b, key("shadowed"), NULL),
                   WATCH_ESTALE);
  ck_assert_int_eq(watch_dep_on_global(p->dep, e.g, e.b, key("only_g"), NULL),
                   WATCH_ESTALE);
  assert_no_python_error();
  probe_release(p);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(global_install_succeeds_with_what_load_global_sees)
{
  ENV(e);
  PROBE(p);

  ck_assert_int_eq(watch_dep_on_global(p->dep, e.g, e.b, key("len"),
                                       ITEM(e.b, "len")),
                   0);
  ck_assert_int_eq(watch_dep_on_global(p->dep, e.g, e.b, key("shadowed"),
                                       ITEM(e.g, "shadowed")),
                   0);
  ck_assert_int_eq(watch_dep_on_global(p->dep, e.g, e.b, key("undefined"),
                                       NULL),
                   0);
  assert_intact(p);
  probe_release(p);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(name_error_is_invalidated_when_builtins_define_the_name)
{
  ENV(e);
  PROBE(on_undefined);
  DEPEND_GLOBAL(on_undefined, e, "undefined");

  RUN(e.ns, "B['undefined'] = 1\n");

  assert_invalidated(on_undefined, WATCH_EVENT_ADDED, e.b);
  assert_key(on_undefined, "undefined");
  probe_release(on_undefined);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(name_error_is_invalidated_when_globals_define_the_name)
{
  ENV(e);
  PROBE(on_undefined);
  DEPEND_GLOBAL(on_undefined, e, "undefined");

  RUN(e.g, "store_undefined(1)\n");

  assert_invalidated(on_undefined, WATCH_EVENT_ADDED, e.g);
  probe_release(on_undefined);
  Py_DECREF(e.ns);
}
END_TEST

START_TEST(global_dependency_uses_a_function_s_globals_and_builtins)
{
  PyObject *g = NS("def f():\n"
                   "    return len\n");
  PyObject *f = ITEM(g, "f");
  PyObject *globals = PyObject_GetAttrString(f, "__globals__");
  PyObject *builtins = PyObject_GetAttrString(f, "__builtins__");
  PyObject *assumed = PyObject_CallNoArgs(f);
  ck_assert_ptr_nonnull(globals);
  ck_assert_ptr_nonnull(builtins);
  ck_assert_ptr_nonnull(assumed);
  PROBE(on_len);
  ck_assert_int_eq(watch_dep_on_global(on_len->dep, globals, builtins,
                                       key("len"), assumed),
                   0);

  RUN(g, "len = lambda o: 0\n");

  assert_invalidated(on_len, WATCH_EVENT_ADDED, g);
  probe_release(on_len);
  Py_DECREF(assumed);
  Py_DECREF(builtins);
  Py_DECREF(globals);
  Py_DECREF(g);
}
END_TEST

START_TEST(a_shadowed_builtin_is_invalidated_once)
{
  ENV(e);
  PROBE(on_len);
  DEPEND_GLOBAL(on_len, e, "len");

  RUN(e.g, "len = 5\n");
  RUN(e.ns, "B['len'] = abs\n"
            "del G['len']\n");

  assert_invalidated(on_len, WATCH_EVENT_ADDED, e.g);
  probe_release(on_len);
  Py_DECREF(e.ns);
}
END_TEST

static Suite *
make_suite(void)
{
  Suite *s = suite_create("global");

  TCase *tc = harness_tcase(s, "builtins");
  tcase_add_test(tc, builtin_is_invalidated_when_globals_shadow_it);
  tcase_add_test(tc, builtin_is_invalidated_when_builtins_rebind_it);
  tcase_add_test(tc, builtin_is_invalidated_when_builtins_delete_it);
  tcase_add_test(tc, global_shadowing_a_builtin_is_invalidated_when_deleted);
  tcase_add_test(tc, global_shadowing_a_builtin_ignores_changes_to_that_builtin);
  tcase_add_test(tc, global_dependency_uses_a_function_s_globals_and_builtins);
  tcase_add_test(tc, a_shadowed_builtin_is_invalidated_once);

  tc = harness_tcase(s, "globals");
  tcase_add_test(tc, global_is_invalidated_when_rebound_by_store_global);
  tcase_add_test(tc, global_found_only_in_globals_is_invalidated_when_deleted);
  tcase_add_test(tc, globals_are_not_invalidated_by_unrelated_global_writes);
  tcase_add_test(tc, globals_are_not_invalidated_by_unrelated_builtins_writes);

  tc = harness_tcase(s, "validate_at_install");
  tcase_add_test(tc,
                 global_install_fails_stale_unless_assumed_is_what_load_global_sees);
  tcase_add_test(tc,
                 global_install_fails_stale_when_assuming_a_defined_name_is_missing);
  tcase_add_test(tc, global_install_succeeds_with_what_load_global_sees);

  tc = harness_tcase(s, "name_error");
  tcase_add_test(tc, name_error_is_invalidated_when_builtins_define_the_name);
  tcase_add_test(tc, name_error_is_invalidated_when_globals_define_the_name);
  return s;
}
